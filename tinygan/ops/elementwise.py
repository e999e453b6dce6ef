"""log1p, clamp, and elementwise maximum/minimum."""
from __future__ import annotations

from ..backend import array_module
from ..core.function import Function
from ..core.ops import add, div, where


class Log1p(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log1p(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return div(grad, add(x, 1))                         # d/dx ln(1+x) = 1/(1+x)


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, low=None, high=None):
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return array_module(x).clip(x, low, high)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors                            # 1 inside [low, high] (ends included), else 0
        inside = x._data == x._data                         # all True (NaN aside, as PyTorch)
        if ctx.low is not None:
            inside = inside & (x._data >= ctx.low)
        if ctx.high is not None:
            inside = inside & (x._data <= ctx.high)
        return where(inside, grad, grad.new_zeros(()))      # a select: inf·0 gives no NaN


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors                            # to the larger; ties split half-half
        return _split(grad, a._data > b._data, a._data == b._data)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors                            # to the smaller; ties split half-half
        return _split(grad, a._data < b._data, a._data == b._data)


def _split(grad, a_wins, tie):
    """The gradients of a and b when a's wins are ``a_wins``: all of it to the winner, half
    each on a tie (selects, as PyTorch's, so an inf gradient gives no NaN to the loser)."""
    zero = grad.new_zeros(())
    shared = where(tie, div(grad, 2), grad)
    return where(a_wins | tie, shared, zero), where(a_wins, zero, shared)
