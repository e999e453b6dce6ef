"""sum, mean, var, std, max, min, argmax, argmin over dims."""
from __future__ import annotations

import builtins
import collections
import math
import numbers

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor, _check_dim
from .conversions import clone


def _axes(dim, ndim):
    """dim (None, int or tuple) as a sorted tuple of non-negative axes."""
    if dim is None or ndim == 0:  # a 0-d tensor reduces over "dim 0" to itself, as in PyTorch
        if dim is not None:
            for d in ((dim,) if isinstance(dim, numbers.Integral) else dim):
                _check_dim(d, 0)
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    return tuple(sorted({_check_dim(d, ndim) for d in dims}))


def _expand_back(grad, shape, axes, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    xp = array_module(grad)
    if not keepdim:
        grad = xp.expand_dims(grad, axes) if axes else grad
    return xp.broadcast_to(grad, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):                                # d/dx_i Σ x = 1
        return _expand_back(grad, ctx.shape, ctx.axes, ctx.keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.count = math.prod(x.shape[a] for a in axes)
        return x.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):                                # d/dx_i mean(x) = 1/N
        return _expand_back(grad / ctx.count, ctx.shape, ctx.axes, ctx.keepdim)


class Var(Function):
    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False, correction=1):
        count = math.prod(x.shape[a] for a in axes)
        with backend.errstate(divide="ignore", invalid="ignore"):   # empty: mean is NaN
            centered = x - x.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centered)
        # PyTorch divides by max(0, N - correction): 0 gives inf, or NaN for 0/0
        ctx.axes, ctx.keepdim, ctx.divisor = axes, keepdim, builtins.max(0, count - correction)
        squares = (centered * centered).sum(axis=axes, keepdims=keepdim)
        with backend.errstate(divide="ignore", invalid="ignore"):
            return squares / array_module(x).asarray(ctx.divisor, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved_arrays                      # d var/dx_i = 2(x_i - mean)/(N - correction)
        grad = _expand_back(grad, centered.shape, ctx.axes, ctx.keepdim)
        factor = 2 / ctx.divisor if ctx.divisor else math.inf
        with backend.errstate(invalid="ignore"):
            return grad * centered * factor


class SqrtOfVar(Function):
    """std = √var, whose gradient is 0 where std is 0 (all values equal), as PyTorch's
    std: plain √ would give grad/(2·0) = inf, times the 0 from var, NaN."""

    @staticmethod
    def forward(ctx, v):
        y = array_module(v).sqrt(v)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_arrays                             # d/dv √v = 1/(2√v); 0 where √v = 0
        xp = array_module(y)
        with backend.errstate(divide="ignore", invalid="ignore"):
            return xp.where(y == 0, xp.zeros((), dtype=grad.dtype), grad / (2 * y))


def sum(x, dim=None, keepdim=False):
    """Sum over ``dim`` (an int, a tuple, or None for all)."""
    return Sum.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    if x.dtype.kind != "f":
        raise TypeError(f"mean: expected a floating point tensor, got dtype {x.dtype}")
    return Mean.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def _correction(unbiased, correction):
    if correction is not None and unbiased is not None:
        raise ValueError("give either unbiased or correction, not both")
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance, divided by N - correction (correction 1, unbiased, by default; as PyTorch)."""
    if x.dtype.kind != "f":
        raise TypeError(f"std and var only support floating point dtypes, got {x.dtype}")
    return Var.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim,
                     correction=_correction(unbiased, correction))


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """sqrt(var(...)), with var's dim and correction (gradient 0 where std is 0)."""
    return SqrtOfVar.apply(var(x, dim, unbiased, keepdim, correction=correction))


class MaxAll(Function):
    @staticmethod
    def forward(ctx, x, smallest=False):
        # an array, not numpy's scalar: the saved value must be the output itself, so that
        # an in-place change of the output is caught at backward
        value = array_module(x).asarray(x.min() if smallest else x.max())
        ctx.save_for_backward(x, value)
        return value

    @staticmethod
    def backward(ctx, grad):
        x, value = ctx.saved_arrays                         # shared evenly among tied maxima
        ties = x == value
        return grad * ties / ties.sum().astype(grad.dtype)


class MaxDim(Function):
    @staticmethod
    def forward(ctx, x, axis=0, keepdim=False, indices=None):
        ctx.shape, ctx.axis, ctx.keepdim = x.shape, axis, keepdim
        ctx.save_for_backward(indices)                       # keepdims=True form
        values = array_module(x).take_along_axis(x, indices, axis=axis)
        return values if keepdim else values.squeeze(axis)

    @staticmethod
    def backward(ctx, grad):                                # all to the first max along dim
        (indices,) = ctx.saved_arrays
        xp = array_module(grad)
        if not ctx.keepdim:
            grad = xp.expand_dims(grad, ctx.axis)
        out = xp.zeros(ctx.shape, dtype=grad.dtype)
        xp.put_along_axis(out, indices, grad, axis=ctx.axis)
        return out


MaxResult = collections.namedtuple("MaxResult", ["values", "indices"])


def _max_or_min(x, dim, keepdim, smallest):
    if dim is None:
        return MaxAll.apply(x, smallest=smallest)
    axis = _check_dim(dim, x.ndim)
    if x.ndim == 0:  # the value itself, at index 0
        return MaxResult(clone(x), Tensor(array_module(x.data).zeros((), dtype=np.int64)))
    xp = array_module(x.data)
    pick = xp.argmin if smallest else xp.argmax
    indices = xp.expand_dims(pick(x.data, axis=axis), axis)
    values = MaxDim.apply(x, axis=axis, keepdim=keepdim, indices=indices)
    indices = Tensor(indices if keepdim else indices.squeeze(axis))
    if values.grad_fn is not None:   # backward reads the indices: writing them is caught
        node = values.grad_fn
        node.saved_versions = node.saved_versions + ((indices, indices._version),)
    return MaxResult(values, indices)


def max(x, dim=None, keepdim=False):
    """The largest value, or (values, indices) along ``dim``, as in PyTorch."""
    return _max_or_min(x, dim, keepdim, smallest=False)


def min(x, dim=None, keepdim=False):
    """The smallest value, or (values, indices) along ``dim``."""
    return _max_or_min(x, dim, keepdim, smallest=True)


def any(x, dim=None, keepdim=False):
    """True where any element along ``dim`` is nonzero (a bool tensor, no gradient)."""
    return Tensor(x.data.any(axis=_axes(dim, x.ndim), keepdims=keepdim))


def all(x, dim=None, keepdim=False):
    """True where every element along ``dim`` is nonzero (a bool tensor, no gradient)."""
    return Tensor(x.data.all(axis=_axes(dim, x.ndim), keepdims=keepdim))


def argmax(x, dim=None, keepdim=False):
    if dim is None:
        return Tensor(x.data.argmax())
    return max(x, dim, keepdim).indices


def argmin(x, dim=None, keepdim=False):
    if dim is None:
        return Tensor(x.data.argmin())
    return min(x, dim, keepdim).indices
