"""softmax, log_softmax and logsumexp along a dim, each computed after subtracting the max.

exp(x) overflows float32 from x ≈ 88, but exp(x - max) ≤ 1 never does, and the shift
cancels: softmax(x) = softmax(x - c) and logsumexp(x) = c + logsumexp(x - c) for any c.
The names say what is computed (``NormalizedExp`` is exp(x)/Σexp(x)), so they never
clash with ``nn.Softmax`` and ``nn.LogSoftmax``, which are built on them.

``axis`` is a non-negative dim (checked by the caller); a 0-d input has the one
"dim 0" (PyTorch's rule), reduced over with ``axis=None`` on the raw array.
"""
from __future__ import annotations

from .. import backend
from ..backend import array_module
from ..core.function import Function
from ..core.ops import exp, mul, reshape, sub, sum_


class NormalizedExp(Function):
    """softmax: exp(x_i - max) / Σ_j exp(x_j - max) along ``axis``."""

    @staticmethod
    def forward(ctx, x, axis=0):
        ctx.axis = axis
        axis = axis if x.ndim else None
        with backend.errstate(invalid="ignore"):       # a row with +inf: NaN, as in PyTorch
            e = array_module(x).exp(x - x.max(axis=axis, keepdims=True)) if x.size else x.copy()
            y = e / e.sum(axis=axis, keepdims=True) if x.size else e
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors                            # dy_i/dx_j = y_i (δ_ij - y_j)
        return mul(y, sub(grad, sum_(mul(grad, y), axes=_axes(y, ctx.axis), keepdim=True)))


class LogNormalizedExp(Function):
    """log_softmax: x_i - logsumexp(x) along ``axis``, never log of an underflowed 0."""

    @staticmethod
    def forward(ctx, x, axis=0):
        ctx.axis = axis
        axis = axis if x.ndim else None
        xp = array_module(x)
        with backend.errstate(invalid="ignore", divide="ignore"):
            if x.size:
                shifted = x - x.max(axis=axis, keepdims=True)
                y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
            else:
                y = x.copy()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors                            # dy_i/dx_j = δ_ij - softmax_j
        return sub(grad, mul(exp(y), sum_(grad, axes=_axes(y, ctx.axis), keepdim=True)))


class LogSumExp(Function):
    """log Σ exp(x) over ``axes`` (a tuple), as max + log Σ exp(x - max)."""

    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        xp = array_module(x)
        ctx.axes, ctx.keepdim = axes, keepdim
        with backend.errstate(divide="ignore", invalid="ignore"):
            if x.size == 0:                                 # an empty sum: log 0 = -inf
                y = xp.log(xp.zeros_like(x).sum(axis=axes, keepdims=True))
            else:
                top = x.max(axis=axes, keepdims=True)
                top = xp.where(xp.isinf(top), xp.zeros((), dtype=x.dtype), top)
                y = top + xp.log(xp.exp(x - top).sum(axis=axes, keepdims=True))
        ctx.kept_shape = y.shape                            # the shape that broadcasts against x
        if not keepdim:
            y = y.reshape([n for i, n in enumerate(y.shape) if i not in axes])
        ctx.save_for_backward(x, y)                         # the output itself: on the graph
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors                            # d/dx_i logsumexp(x) = softmax_i
        y, grad = reshape(y, shape=ctx.kept_shape), reshape(grad, shape=ctx.kept_shape)
        return mul(grad, exp(sub(x, y)))


def _axes(t, axis):
    """The axes to reduce for ``axis`` (a 0-d tensor has none: its one "dim 0" is itself)."""
    return (axis,) if t.ndim else ()
