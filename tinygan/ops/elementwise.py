"""exp, log, log1p, sqrt, abs, sign, clamp, maximum/minimum and where."""
from __future__ import annotations

from ..backend import array_module
from ..function import Function


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y                                     # d/dx exp(x) = exp(x)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / x                                     # d/dx ln(x) = 1/x


class Log1p(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log1p(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + x)                               # d/dx ln(1+x) = 1/(1+x)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad / (2 * y)                               # d/dx √x = 1/(2√x)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x.sign()                              # d/dx |x| = sign(x), 0 at 0


class Sign(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return array_module(x).sign(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.new_zeros(ctx.shape)                    # flat between the jumps


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, low=None, high=None):
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return array_module(x).clip(x, low, high)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors                            # 1 inside [low, high] (ends included), else 0
        inside = x == x                                     # all True (NaN aside, as PyTorch)
        if ctx.low is not None:
            inside = inside & (x >= ctx.low)
        if ctx.high is not None:
            inside = inside & (x <= ctx.high)
        return Where.apply(inside, grad, grad.new_zeros(()))   # a select: inf·0 gives no NaN


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors                            # to the larger; ties split half-half
        return _split(grad, a > b, a == b)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors                            # to the smaller; ties split half-half
        return _split(grad, a < b, a == b)


def _split(grad, a_wins, tie):
    """The gradients of a and b when a's wins are ``a_wins``: all of it to the winner, half
    each on a tie (selects, as PyTorch's, so an inf gradient gives no NaN to the loser)."""
    zero = grad.new_zeros(())
    shared = Where.apply(tie, grad / 2, grad)
    return Where.apply(a_wins | tie, shared, zero), Where.apply(a_wins, zero, shared)


class Where(Function):
    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        return array_module(condition).where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors                    # grad flows to the branch that was picked
        zero = grad.new_zeros(())
        return None, Where.apply(condition, grad, zero), Where.apply(condition, zero, grad)
