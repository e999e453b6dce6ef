"""+, -, *, /, ** and negation, with broadcasting."""
from __future__ import annotations

import math
import numbers

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor, get_default_dtype
from ._common import _binary, _operand, cast, result_type


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad                                   # d(a+b)/da = d(a+b)/db = 1


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad                                  # d(a-b)/db = -1


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # d(ab)/da = b, d(ab)/db = a
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        need_a, need_b = ctx.needs_input_grad
        return (grad / b if need_a else None), (-grad * a / (b * b) if need_b else None)


class Reciprocal(Function):
    @staticmethod
    def forward(ctx, x):
        y = 1 / x
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_arrays
        return grad * -(y * y)                              # d/dx 1/x = -1/x²


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = _integer_power(a, b) if _is_integer(a) and _is_integer(b) else a ** b
        ctx.save_for_backward(a, b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_arrays                        # d(a^b)/da = b·a^(b-1), d/db = a^b·ln a
        need_a, need_b = ctx.needs_input_grad
        xp = array_module(grad)
        zero = xp.zeros((), dtype=grad.dtype)
        grad_a = grad_b = None
        with backend.errstate(divide="ignore", invalid="ignore"):
            if need_a:   # 0 where b == 0, as in PyTorch (not 0·a^-1, NaN at a = 0)
                if isinstance(b, numbers.Number):
                    grad_a = xp.zeros_like(grad) if b == 0 else grad * b * a ** (b - 1)
                else:
                    grad_a = xp.where(b == 0, zero, grad * b * a ** (b - 1))
            if need_b:   # 0 where a == 0 and b ≥ 0, where a^b·ln a tends to 0
                if isinstance(a, numbers.Number):  # a number base stays a number: no upcast
                    log_a = math.log(a) if a > 0 else (-math.inf if a == 0 else math.nan)
                    grad_b = grad * out * log_a
                    if a == 0:
                        grad_b = xp.where(b >= 0, zero, grad_b)
                else:
                    grad_b = xp.where((a == 0) & (b >= 0), zero, grad * out * xp.log(a))
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
    if not hasattr(b, "dtype"):
        b = xp.asarray(b, dtype=a.dtype)
    negative = b < 0
    out = a ** xp.where(negative, 0, b)
    inverse = xp.where(a == 1, 1, xp.where(a == -1, 1 - 2 * (b % 2), 0))
    return xp.where(negative, inverse.astype(out.dtype), out)


def add(a, b):
    """a + b with broadcasting."""
    return _binary(Add, a, b)


def sub(a, b):
    """a - b with broadcasting."""
    return _binary(Sub, a, b)


def mul(a, b):
    """a * b with broadcasting."""
    return _binary(Mul, a, b)


def div(a, b):
    """a / b with broadcasting (true division: integers give the default float dtype).

    A number over a tensor is the tensor's reciprocal times the number, as PyTorch
    computes it (so its rounding, and what its backward keeps, are PyTorch's).
    """
    if not isinstance(a, Tensor) and isinstance(b, Tensor):
        a = _operand(a)
        dtype = result_type(a, b)
        return mul(Reciprocal.apply(cast(b, get_default_dtype() if dtype.kind != "f" else dtype)), a)
    return _binary(Div, a, b, to_float=True)


def neg(x):
    return Neg.apply(x)


def pow(a, b):
    """a ** b; either may be a number (the gradient w.r.t. b needs a > 0)."""
    return _binary(Pow, a, b)
