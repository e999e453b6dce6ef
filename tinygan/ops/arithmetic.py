"""1/x and a mod b: the arithmetic beyond the core's + - * / **."""
from __future__ import annotations

import numbers

from ..backend import array_module, errstate
from ..core.function import Function
from ..core.ops import mul, neg


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
        return mul(grad, neg(mul(y, y)))                    # d/dx 1/x = -1/x²


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
        return (grad if need_a else None), (mul(grad, ctx.saved_tensors[0]) if need_b else None)


class IntegerPower(Function):
    """a ** b on integers, as PyTorch: a negative exponent gives 1 for a = 1, ±1 for
    a = -1 and 0 otherwise (the integer part of 1/a^|b|); NumPy refuses it instead. No
    gradient: integers never require one."""

    @staticmethod
    def forward(ctx, a, b):
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
