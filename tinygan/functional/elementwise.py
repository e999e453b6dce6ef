"""exp, log, log1p, sqrt, abs, clamp, maximum/minimum, where, and comparisons (no gradient)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor, _operand_array
from ._common import _binary, _operand, cast, floating, result_type


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
        xp = array_module(x)
        inside = xp.ones(x.shape, dtype=bool)
        if ctx.low is not None:
            inside &= x >= ctx.low
        if ctx.high is not None:
            inside &= x <= ctx.high
        return xp.where(inside, grad, xp.zeros((), dtype=grad.dtype))   # a select, as PyTorch


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # to the larger; ties split half-half
        return _split(grad, a > b, a == b)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # to the smaller; ties split half-half
        return _split(grad, a < b, a == b)


def _split(grad, a_wins, tie):
    """The gradients of a and b when a's wins are ``a_wins``: all of it to the winner, half
    each on a tie (selects, as PyTorch's, so an inf gradient gives no NaN to the loser)."""
    xp = array_module(grad)
    zero = xp.zeros((), dtype=grad.dtype)
    shared = xp.where(tie, grad / 2, grad)
    return xp.where(a_wins | tie, shared, zero), xp.where(a_wins, zero, shared)


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
    return Exp.apply(floating(x))


def log(x):
    return Log.apply(floating(x))


def log1p(x):
    """log(1 + x), accurate for small x."""
    return Log1p.apply(floating(x))


def sqrt(x):
    return Sqrt.apply(floating(x))


def abs(x):
    return Abs.apply(x)


def clamp(x, min=None, max=None):
    """Limit values to [min, max]; the gradient is 1 inside (ends included), 0 outside."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min or max must be given")
    for bound in (min, max):
        if isinstance(bound, Tensor):
            raise TypeError("clamp: min and max must be numbers (tensor bounds: use "
                            "tg.maximum / tg.minimum)")
    x = cast(x, result_type(x, _operand_array(min), _operand_array(max)))
    return Clamp.apply(x, low=_operand_array(min), high=_operand_array(max))


clip = clamp


def maximum(a, b):
    """Elementwise max; where a == b each gets half the gradient, as in PyTorch."""
    return _binary(Maximum, a, b)


def minimum(a, b):
    """Elementwise min; where a == b each gets half the gradient, as in PyTorch."""
    return _binary(Minimum, a, b)


def where(condition, a, b):
    """a where condition holds, else b; condition is a boolean Tensor."""
    condition = condition if isinstance(condition, Tensor) else Tensor(condition)
    if condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be a boolean tensor, got dtype {condition.dtype}")
    a, b = _operand(a), _operand(b)
    dtype = result_type(a, b)
    if not isinstance(a, Tensor):   # a number: a 0-d array of the result's dtype (CuPy's where
        a = Tensor(array_module(condition.data).asarray(a, dtype=dtype))   # takes arrays only)
    if not isinstance(b, Tensor):
        b = Tensor(array_module(condition.data).asarray(b, dtype=dtype))
    return Where.apply(condition, cast(a, dtype), cast(b, dtype))


def compare(a, b, op):
    """Elementwise comparison ("less", "equal", ...) as a boolean Tensor without a graph,
    made in the dtype both promote to (PyTorch's rule, as for arithmetic)."""
    a, b = _operand(a), _operand(b)
    dtype = result_type(a, b)
    a_array, b_array = (_in_dtype(v, dtype) for v in (a, b))
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        backend.check_same_device(a_array, b_array, op=op)
    xp = array_module(a_array if isinstance(a, Tensor) else b_array)
    return Tensor(getattr(xp, op)(a_array, b_array))


def _in_dtype(value, dtype):
    if isinstance(value, Tensor):
        return value.data if value.dtype == dtype else value.data.astype(dtype)
    return value
