"""exp, log, log1p, sqrt, abs, clamp, maximum/minimum and where."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor, _operand_array
from ._common import _binary, _operand


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_arrays
        return grad * y                                     # d/dx exp(x) = exp(x)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return grad / x                                     # d/dx ln(x) = 1/x


class Log1p(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log1p(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return grad / (1 + x)                               # d/dx ln(1+x) = 1/(1+x)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_arrays
        return grad / (2 * y)                               # d/dx √x = 1/(2√x)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return grad * array_module(x).sign(x)               # d/dx |x| = sign(x), 0 at 0


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, low=None, high=None):
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return array_module(x).clip(x, low, high)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays                             # 1 inside [low, high] (ends included), else 0
        inside = True
        if ctx.low is not None:
            inside = inside & (x >= ctx.low)
        if ctx.high is not None:
            inside = inside & (x <= ctx.high)
        return grad * inside


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # to the larger; ties split half-half
        share_a = ((a > b).astype(grad.dtype) + (a >= b).astype(grad.dtype)) * 0.5  # 1, ½ or 0
        return grad * share_a, grad * (1 - share_a)


class Where(Function):
    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        xp = array_module(condition)
        return xp.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_arrays                     # grad flows to the branch that was picked
        xp = array_module(condition)
        zero = xp.zeros((), dtype=grad.dtype)
        return None, xp.where(condition, grad, zero), xp.where(condition, zero, grad)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def log1p(x):
    """log(1 + x), accurate for small x."""
    return Log1p.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def clamp(x, min=None, max=None):
    """Limit values to [min, max]; the gradient is 1 inside (ends included), 0 outside."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min or max must be given")
    return Clamp.apply(x, low=_operand_array(min), high=_operand_array(max))


clip = clamp


def maximum(a, b):
    """Elementwise max; where a == b each gets half the gradient, as in PyTorch."""
    return _binary(Maximum, a, b)


def minimum(a, b):
    """Elementwise min (built on maximum, so ties split the gradient alike)."""
    return -maximum(-_operand(a), -_operand(b))


def where(condition, a, b):
    """a where condition holds, else b; condition is a boolean Tensor."""
    condition = condition if isinstance(condition, Tensor) else Tensor(condition)
    if condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be a boolean tensor, got dtype {condition.dtype}")
    return Where.apply(condition, _operand(a), _operand(b))
