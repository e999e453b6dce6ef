"""var, std's square root, max/min over all elements or along a dim, and prod."""
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


class Prod(Function):
    """The product of the elements, over all (``axis=None``) or along one axis."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdim=False):
        ctx.shape, ctx.axis = x.shape, axis
        y = array_module(x).asarray(x.prod(axis=axis, keepdims=keepdim))   # 0-d: an array
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors                            # d/dx_i Πx = Π_{j≠i} x_j
        if x.ndim == 0:
            return grad
        axis = ctx.axis
        if axis is None:                                    # over the flattened input
            axis, x, keep = 0, reshape(x, shape=(-1,)), (1,)
        else:
            keep = x.shape[:axis] + (1,) + x.shape[axis + 1:]
        grad, y = reshape(grad, shape=keep), reshape(y, shape=keep)
        if not (x._data == 0).any():                        # PyTorch's two branches: Πx / x_i,
            others = div(y, x)
        else:                                               # or the products of the others
            others = ProductOfOthers.apply(x, axis=axis)
        return reshape(mul(grad, others), shape=ctx.shape)


class ProductOfOthers(Function):
    """Π_{j≠i} x_j along ``axis`` for each i, without dividing (so right with zeros): the
    products before i times those after i, two running products, as PyTorch's
    prod backward computes them when x holds a zero."""

    @staticmethod
    def forward(ctx, x, axis=0):
        ctx.axis = axis
        xp = array_module(x)
        v = xp.moveaxis(x, axis, -1)
        if v.shape[-1] == 0:
            return xp.ones_like(x)
        one = xp.ones(v.shape[:-1] + (1,), dtype=x.dtype)
        before = xp.cumprod(xp.concatenate([one, v[..., :-1]], axis=-1), axis=-1)
        after = xp.cumprod(xp.concatenate([one, v[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        ctx.save_for_backward(x)
        return xp.ascontiguousarray(xp.moveaxis(before * after, -1, axis))

    @staticmethod
    def backward(ctx, grad):
        # d/dx_k Σ_i g_i Π_{j≠i} x_j = Σ_{i≠k} g_i Π_{j∉{i,k}} x_j: row i of ``rows`` is x
        # with x_i set to 1, so the products of the others along it give Π_{j∉{i,k}} x_j
        (x,) = ctx.saved_tensors
        a, n = ctx.axis, x.shape[ctx.axis]
        xp = array_module(x._data)
        eye = xp.eye(n, dtype=bool).reshape((1,) * a + (n, n) + (1,) * (x.ndim - a - 1))
        rows = where(eye, 1.0, reshape(x, shape=x.shape[:a] + (1,) + x.shape[a:]))
        others = ProductOfOthers.apply(rows, axis=a + 1)      # [.., i, k, ..]
        column = reshape(grad, shape=grad.shape[:a + 1] + (1,) + grad.shape[a + 1:])
        return sum_(where(eye, 0.0, mul(column, others)), axes=(a,))
