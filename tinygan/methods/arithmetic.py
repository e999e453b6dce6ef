"""+, -, *, /, %, **, comparisons and logic: operands of PyTorch's common dtype."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..core.ops import Add, Div, Mul, Neg, Pow, Sub
from ..core.tensor import Tensor
from ..dtypes import get_default_dtype, result_type
from ..ops.arithmetic import IntegerPower, Reciprocal, Remainder
from ..ops.elementwise import Maximum, Minimum
from .args import _cast, _check_broadcast, _new, _number, _operand, _tensor_operand


class Arithmetic:
    """The operators and their method forms, as PyTorch has them."""

    __slots__ = ()

    # --- arithmetic: operands of PyTorch's common dtype ---------------------------------------
    def __add__(self, other): return _binary(Add, self, other)
    def __radd__(self, other): return _binary(Add, other, self)
    def __sub__(self, other): return _binary(Sub, self, other)
    def __rsub__(self, other): return _binary(Sub, other, self)
    def __mul__(self, other): return _binary(Mul, self, other)
    def __rmul__(self, other): return _binary(Mul, other, self)
    def __truediv__(self, other): return _divide(self, other)
    def __rtruediv__(self, other): return _divide(other, self)
    def __mod__(self, other): return _remainder(self, other)
    def __rmod__(self, other): return _remainder(other, self)
    def __pow__(self, other): return _binary(Pow, self, other)
    def __rpow__(self, other): return _binary(Pow, other, self)
    def __neg__(self): return Neg.apply(self)
    def neg(self): return Neg.apply(self)
    def __abs__(self): return self.abs()
    def __matmul__(self, other): return self.matmul(other)
    def __rmatmul__(self, other): return _tensor_operand(other, "matmul").matmul(self)

    # The methods of the operators, as PyTorch has them (x.add(y, alpha=2) is x + 2·y).
    def add(self, other, alpha=1):
        return _binary(Add, self, other, alpha=_alpha(self, other, alpha, "add"))

    def sub(self, other, alpha=1):
        return _binary(Sub, self, other, alpha=_alpha(self, other, alpha, "sub"))

    def mul(self, other): return _binary(Mul, self, other)
    def pow(self, exponent): return _binary(Pow, self, exponent)

    def remainder(self, other):
        """self mod other with the divisor's sign (Python's %, PyTorch's remainder), so that
        -7 % 3 is 2; d/dself = 1, d/dother = -floor(self/other)."""
        return _remainder(self, other)

    def div(self, other, rounding_mode=None):
        """True division (integers give the default float dtype), as ``/``."""
        _check_rounding_mode(rounding_mode)
        return _divide(self, other)

    def square(self):
        """x ** 2 (integers stay integers, as in PyTorch)."""
        return _binary(Pow, self, 2)

    # Comparisons and logic give bool tensors with no gradient.
    def __lt__(self, other): return _compare(self, other, "less")
    def __le__(self, other): return _compare(self, other, "less_equal")
    def __gt__(self, other): return _compare(self, other, "greater")
    def __ge__(self, other): return _compare(self, other, "greater_equal")
    def __eq__(self, other): return _compare(self, other, "equal")
    def __ne__(self, other): return _compare(self, other, "not_equal")
    def __and__(self, other): return _bitwise(self, other, "bitwise_and")
    def __or__(self, other): return _bitwise(self, other, "bitwise_or")
    def __invert__(self): return _bitwise(self, None, "invert")
    def eq(self, other): return _compare(self, other, "equal")
    def ne(self, other): return _compare(self, other, "not_equal")
    def lt(self, other): return _compare(self, other, "less")
    def le(self, other): return _compare(self, other, "less_equal")
    def gt(self, other): return _compare(self, other, "greater")
    def ge(self, other): return _compare(self, other, "greater_equal")

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        """|self - other| <= atol + rtol·|other| elementwise, as a bool tensor; equal values
        (infinities of one sign included) are close, NaNs only with equal_nan."""
        return _isclose(self, other, rtol, atol, equal_nan, "isclose")

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        """Whether every element is close (isclose), as a Python bool (a host read)."""
        return bool(_isclose(self, other, rtol, atol, equal_nan, "allclose")._data.all())

    def equal(self, other):
        """Whether other has the same shape and the same values, as a Python bool (NaN equals
        nothing; dtypes may differ, as torch.equal's)."""
        other = _tensor_operand(other, "equal")
        if self.device != other.device:
            raise RuntimeError(f"equal: expected both tensors on one device, got {self.device} "
                               f"and {other.device}")
        if self._data.shape != other._data.shape:
            return False
        dtype = result_type(self, other)                  # compared as PyTorch promotes them
        a, b = (t._data.astype(dtype, copy=False) for t in (self, other))
        return bool((a == b).all())                       # a host read, as PyTorch's

    def maximum(self, other):
        """Elementwise max; where both are equal each gets half the gradient, as in PyTorch."""
        return _binary(Maximum, self, _tensor_operand(other, "maximum"))

    def minimum(self, other):
        """Elementwise min; where both are equal each gets half the gradient."""
        return _binary(Minimum, self, _tensor_operand(other, "minimum"))


def _binary(function, a, b, **kwargs):
    """``function`` on a and b cast to their common dtype, by PyTorch's promotion."""
    a, b = _operand(a), _operand(b)
    _check_broadcast(a, b)
    dtype = result_type(a, b)
    if function is Pow and dtype.kind in "iu":   # PyTorch's integer powers, negative ones too
        function = IntegerPower
    return function.apply(_cast(a, dtype), _cast(b, dtype), **kwargs)


def _check_rounding_mode(rounding_mode):
    if rounding_mode is not None:
        raise NotImplementedError(f"div: rounding_mode={rounding_mode!r} is not supported by "
                                  "tinygan; only true division (rounding_mode=None)")


def _divide(a, b):
    """True division (integers give the default float). A number over a tensor is the
    tensor's reciprocal times the number, as PyTorch computes it (its rounding, and what
    its backward keeps, are then PyTorch's)."""
    a, b = _operand(a), _operand(b)
    _check_broadcast(a, b)
    dtype = result_type(a, b)
    if dtype.kind != "f":
        dtype = get_default_dtype()
    if not isinstance(a, Tensor):
        return Reciprocal.apply(_cast(b, dtype)) * a
    return Div.apply(_cast(a, dtype), _cast(b, dtype))


def _remainder(a, b):
    """a % b in the common dtype. An integer divisor of 0 is an error on "cpu", as PyTorch's
    (NumPy would give 0 and a warning); checking it on "cuda" would cost a copy to the host."""
    a, b = _operand(a), _operand(b)
    dtype = result_type(a, b)
    if dtype.kind == "b":
        raise NotImplementedError("remainder: not implemented for bool tensors, as in PyTorch; "
                                  "convert with .long() first")
    if dtype.kind in "iu":
        if isinstance(b, Tensor):
            by_zero = backend.device_of(b._data) == backend.CPU and bool((b._data == 0).any())
        else:
            by_zero = b == 0
        if by_zero:
            raise ZeroDivisionError(f"remainder: an integer tensor ({dtype}) modulo 0")
    return _binary(Remainder, a, b)


def _compare(a, b, op):
    """Elementwise comparison ("less", "equal", ...) in the dtype both promote to."""
    b = _operand(b)
    _check_broadcast(a, b)
    dtype = result_type(a, b)
    a_array = _cast(a, dtype)._data
    b_array = _cast(b, dtype)._data if isinstance(b, Tensor) else b
    if isinstance(b, Tensor):
        backend.check_same_device(a_array, b_array, op=op)
    return _new(a, getattr(backend.array_module(a_array), op)(a_array, b_array))


def _isclose(a, b, rtol, atol, equal_nan, name):
    """PyTorch's isclose, step by step: equal, or NaN and NaN (equal_nan), or a finite
    difference within atol + |rtol·b|, computed in a's float dtype (integers and bools
    in the default one) with rtol and atol rounded to it, as PyTorch's kernel does."""
    if not isinstance(b, Tensor):
        raise TypeError(f"{name}(): argument 'other' (position 2) must be Tensor, not "
                        f"{type(b).__name__}")
    if a.dtype != b.dtype:
        raise RuntimeError(f"{name}(): {a.dtype} did not match {b.dtype}")
    for what, value in (("rtol", rtol), ("atol", atol)):
        if value < 0:
            raise RuntimeError(f"{what} must be greater than or equal to zero, but got {value}")
    backend.check_same_device(a._data, b._data, op=name)
    xp = backend.array_module(a._data)
    close = a._data == b._data
    if equal_nan and a.dtype.kind == "f":
        close |= xp.isnan(a._data) & xp.isnan(b._data)
    if rtol == 0 and atol == 0:
        return _new(a, close)
    dtype = a.dtype if a.dtype.kind == "f" else get_default_dtype()
    x, y = a._data.astype(dtype, copy=False), b._data.astype(dtype, copy=False)
    with backend.errstate(invalid="ignore", over="ignore"):   # inf - inf: NaN, not close
        allowed = dtype.type(atol) + xp.abs(dtype.type(rtol) * y)
        actual = xp.abs(x - y)
    return _new(a, close | (xp.isfinite(actual) & (actual <= allowed)))


def _bitwise(a, b, op):
    """&, | and ~: logical on bool tensors, bitwise on integers (no gradient)."""
    if a.dtype.kind == "f" or (isinstance(b, Tensor) and b.dtype.kind == "f"):
        raise TypeError(f"{op} is only supported for integer and bool tensors, got {a.dtype}")
    xp = backend.array_module(a._data)
    if b is None:
        return _new(a, getattr(xp, op)(a._data))
    b = _operand(b)
    b_array = b._data if isinstance(b, Tensor) else b
    return _new(a, getattr(xp, op)(a._data, b_array))



def _alpha(x, other, alpha, op):
    """add/sub's alpha as a Python number, refused where PyTorch refuses its type. The op
    scales other after the cast to the result dtype, as PyTorch computes: int64 [0] scaled
    by 0.5 alone would be float32 and outrank x's float64 if x is 0-d."""
    dtype = result_type(x, _operand(other))
    if isinstance(alpha, (bool, np.bool_)) and dtype.kind != "b":
        raise RuntimeError(f"{op}: Boolean alpha only supported for Boolean results")
    alpha = _number(alpha)
    if dtype.kind in "biu" and isinstance(alpha, float):
        raise RuntimeError(f"{op}: for integral input tensors, argument alpha must not be a "
                           f"floating point number (got alpha={alpha!r})")
    return alpha
