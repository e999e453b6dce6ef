"""+, -, *, /, %, ** and negation, with broadcasting (operands already of one dtype)."""
from __future__ import annotations

import math
import numbers

from ..backend import array_module, errstate
from ..function import Function
from .elementwise import Where


class Add(Function):
    """a + α·b; α, a number (``add(alpha=)``), is all backward keeps, as in PyTorch."""

    @staticmethod
    def forward(ctx, a, b, alpha=1):
        ctx.alpha = alpha
        return a + b if alpha == 1 else a + b * alpha

    @staticmethod
    def backward(ctx, grad):                                # d(a+αb)/da = 1, d(a+αb)/db = α
        return grad, (grad if ctx.alpha == 1 else grad * ctx.alpha)


class Sub(Function):
    """a - α·b, as Add."""

    @staticmethod
    def forward(ctx, a, b, alpha=1):
        ctx.alpha = alpha
        return a - b if alpha == 1 else a - b * alpha

    @staticmethod
    def backward(ctx, grad):                                # d(a-αb)/db = -α
        return grad, (-grad if ctx.alpha == 1 else -grad * ctx.alpha)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors                            # d(ab)/da = b, d(ab)/db = a
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors                            # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        need_a, need_b = ctx.needs_input_grad
        return (grad / b if need_a else None), (-grad * a / (b * b) if need_b else None)


class Reciprocal(Function):
    """1/x: how PyTorch computes a number over a tensor (2 / t is reciprocal(t) * 2)."""

    @staticmethod
    def forward(ctx, x):
        y = 1 / x
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * -(y * y)                              # d/dx 1/x = -1/x²


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Remainder(Function):
    """a mod b with the divisor's sign (Python's %, torch.remainder): a - ⌊a/b⌋·b."""

    @staticmethod
    def forward(ctx, a, b):
        with errstate(divide="ignore", invalid="ignore"):   # x % 0.0 is nan, silently
            if ctx.needs_input_grad[1]:
                ctx.save_for_backward(-(a // b))
            return a % b

    @staticmethod
    def backward(ctx, grad):
        # d/da = 1, d/db = -⌊a/b⌋ (a step function of a and b: a constant in the graph)
        need_a, need_b = ctx.needs_input_grad
        return (grad if need_a else None), (grad * ctx.saved_tensors[0] if need_b else None)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = _integer_power(a, b) if _is_integer(a) and _is_integer(b) else a ** b
        ctx.save_for_backward(a, b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors                       # d(a^b)/da = b·a^(b-1), d/db = a^b·ln a
        need_a, need_b = ctx.needs_input_grad
        zero = grad.new_zeros(())
        grad_a = grad_b = None
        if need_a:   # 0 where b == 0, as in PyTorch (not 0·a^-1, NaN at a = 0)
            if isinstance(b, numbers.Number):
                grad_a = grad.new_zeros(grad.shape) if b == 0 else grad * b * a ** (b - 1)
            else:
                grad_a = Where.apply(b == 0, zero, grad * b * a ** (b - 1))
        if need_b:   # 0 where a == 0 and b ≥ 0, where a^b·ln a tends to 0
            if isinstance(a, numbers.Number):   # a number base stays a number: no upcast
                log_a = math.log(a) if a > 0 else (-math.inf if a == 0 else math.nan)
                grad_b = grad * out * log_a
                if a == 0:
                    grad_b = Where.apply(b >= 0, zero, grad_b)
            else:
                grad_b = Where.apply((a == 0) & (b >= 0), zero, grad * out * a.log())
        return grad_a, grad_b


def _is_integer(v):
    return v.dtype.kind in "iu" if hasattr(v, "dtype") else isinstance(v, numbers.Integral)


def _integer_power(a, b):
    """a ** b on integers, as PyTorch: a negative exponent gives 1 for a = 1, ±1 for
    a = -1 and 0 otherwise (the integer part of 1/a^|b|); NumPy refuses it instead."""
    if isinstance(b, numbers.Integral):   # a number exponent: PyTorch refuses b < 0 here
        if b < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        return a ** b
    xp = array_module(a if hasattr(a, "dtype") else b)
    if not hasattr(a, "dtype"):
        a = xp.asarray(a, dtype=b.dtype)
    negative = b < 0
    out = a ** xp.where(negative, 0, b)
    inverse = xp.where(a == 1, 1, xp.where(a == -1, 1 - 2 * (b % 2), 0))
    return xp.where(negative, inverse.astype(out.dtype), out)
