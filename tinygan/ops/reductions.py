"""var, std's square root, and max/min over all elements or along a dim."""
from __future__ import annotations

import math

from .. import backend
from ..backend import array_module
from ..core.function import Function
from ..core.ops import div, expand_back, mean, mul, reshape, sub, sum_, where


class Var(Function):
    """Σ(x - mean)² / (N - correction); PyTorch divides by max(0, N - correction), so too
    few values give inf, or NaN for 0/0."""

    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False, correction=1):
        count = math.prod(x.shape[a] for a in axes)
        with backend.errstate(divide="ignore", invalid="ignore"):   # empty: the mean is NaN
            centered = x - x.mean(axis=axes, keepdims=True)
            squares = (centered * centered).sum(axis=axes, keepdims=keepdim)
            ctx.save_for_backward(x)
            ctx.axes, ctx.keepdim, ctx.divisor = axes, keepdim, max(0, count - correction)
            return squares / array_module(x).asarray(ctx.divisor, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors                            # d var/dx_i = 2(x_i - mean)/(N - correction)
        centered = sub(x, mean(x, axes=ctx.axes, keepdim=True))
        factor = 2 / ctx.divisor if ctx.divisor else math.inf
        return mul(mul(expand_back(grad, x.shape, ctx.axes, ctx.keepdim), centered), factor)


class SqrtOfVar(Function):
    """std = √var, whose gradient is 0 where std is 0 (all values equal), as PyTorch's
    std: plain √ would give grad/(2·0) = inf, times the 0 from var: NaN."""

    @staticmethod
    def forward(ctx, v):
        y = array_module(v).sqrt(v)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors                            # d/dv √v = 1/(2√v); 0 where √v = 0
        return where(y._data == 0, grad.new_zeros(()), div(grad, mul(y, 2)))


class MaxAll(Function):
    """The largest (or smallest) element; its gradient is shared evenly among ties."""

    @staticmethod
    def forward(ctx, x, smallest=False):
        # an array, not numpy's scalar: the saved value must be the output itself, so
        # that an in-place change of the output is caught at backward
        value = array_module(x).asarray(x.min() if smallest else x.max())
        ctx.save_for_backward(x, value)
        return value

    @staticmethod
    def backward(ctx, grad):
        x, value = ctx.saved_tensors                        # 1/(number of ties) at each tie
        ties = (x._data == value._data).astype(grad.dtype)
        count = array_module(ties).asarray(ties.sum())
        return div(mul(grad, grad._wrap(ties)), grad._wrap(count))


class MaxAlong(Function):
    """The values at ``indices`` (the first max or min) along ``axis``."""

    @staticmethod
    def forward(ctx, x, axis=0, keepdim=False, indices=None):
        ctx.shape, ctx.axis, ctx.keepdim = x.shape, axis, keepdim
        ctx.save_for_backward(indices)                       # keepdims=True form
        values = array_module(x).take_along_axis(x, indices, axis=axis)
        return values if keepdim else values.squeeze(axis)

    @staticmethod
    def backward(ctx, grad):                                # all to the index it returned
        (indices,) = ctx.saved_tensors
        xp = array_module(indices._data)
        positions = xp.arange(ctx.shape[ctx.axis]).reshape(
            [-1 if a == ctx.axis else 1 for a in range(len(ctx.shape))])
        picked = positions == indices._data                 # True where the max was taken
        if not ctx.keepdim:
            grad = reshape(grad, shape=grad.shape[:ctx.axis] + (1,) + grad.shape[ctx.axis:])
        return where(picked, grad, grad.new_zeros(()))
