"""+, -, *, /, ** and negation, with broadcasting."""
from __future__ import annotations

import math
import numbers

from ..autograd import Function
from ..backend import array_module
from ._common import _binary


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
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # d(ab)/da = b, d(ab)/db = a
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        need_a, need_b = ctx.needs_input_grad
        return (grad / b if need_a else None), (-grad * a / (b * b) if need_b else None)


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
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_arrays                        # d(a^b)/da = b·a^(b-1), d/db = a^b·ln a
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad * b * a ** (b - 1) if need_a else None
        grad_b = None
        if need_b:  # a Python-number base stays a Python number: no float64 upcast
            log_a = math.log(a) if isinstance(a, numbers.Number) else array_module(out).log(a)
            grad_b = grad * out * log_a
        return grad_a, grad_b


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
    """a / b with broadcasting (true division)."""
    return _binary(Div, a, b)


def neg(x):
    return Neg.apply(x)


def pow(a, b):
    """a ** b; either may be a number (the gradient w.r.t. b needs a > 0)."""
    return _binary(Pow, a, b)
