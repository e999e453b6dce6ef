"""Helpers shared by the op modules: operands, and PyTorch's type promotion.

PyTorch promotes differently from NumPy, and learners meet the difference at once
(``torch.arange(3) * 0.5`` is float32; NumPy's answer is float64, which then flows
silently through a float32 model). The rule, as ``torch.result_type`` applies it:

1. Operands fall in three groups: tensors with dimensions, 0-d tensors, and Python
   numbers (a Python float counts as the default dtype, float32; an int as int64).
2. Each group promotes within itself; a float beats an int whatever their sizes
   (int64 with float16 gives float16), and an int beats bool.
3. A group of lower priority only matters when it is of a higher category
   (bool < int < float): ``ones(2) * tensor(2.0, dtype=float64)`` stays float32,
   ``arange(3) * tensor(2.0, dtype=float64)`` becomes float64.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor, _operand_array, get_default_dtype
from .conversions import to


def _operand(value):
    """A Tensor stays a Tensor; a Python or numpy number becomes a Python number."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (numbers.Number, np.generic)) and not isinstance(value, complex):
        return _operand_array(value)
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        raise TypeError(f"expected a Tensor or a number, got a {type(value).__name__}: "
                        "wrap it first with tg.tensor(array)")
    raise TypeError(f"expected a Tensor or a number, got {type(value).__name__}")


def _promote(a, b):
    """Two dtypes of one group: the float wins over int and bool, else NumPy's rule."""
    if a is None:
        return b
    if a.kind == "f" and b.kind != "f":
        return a
    if b.kind == "f" and a.kind != "f":
        return b
    return np.promote_types(a, b)


def _number_dtype(value):
    if isinstance(value, bool):
        return np.dtype(np.bool_)
    if isinstance(value, numbers.Integral):
        return np.dtype(np.int64)
    return get_default_dtype()


def _combine(higher, lower):
    """torch's combine_categories: the lower-priority group counts only if of a higher kind."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return _promote(higher, lower)
    return higher


def result_type(*operands):
    """The dtype PyTorch computes ``a op b`` in (Tensors and Python numbers)."""
    dims = zero_dims = numbers_ = None
    for value in operands:
        if isinstance(value, Tensor):
            if value.ndim:
                dims = _promote(dims, value.dtype)
            else:
                zero_dims = _promote(zero_dims, value.dtype)
        elif value is not None:
            numbers_ = _promote(numbers_, _number_dtype(value))
    return _combine(dims, _combine(zero_dims, numbers_))


def cast(value, dtype):
    """A Tensor in ``dtype`` (through the differentiable ``to``); numbers stay numbers."""
    if isinstance(value, Tensor) and value.dtype != dtype:
        return to(value, dtype=dtype)
    return value


def floating(x):
    """x itself if floating, else x in the default float dtype (exp(arange(3)) is float32)."""
    return x if x.dtype.kind == "f" else cast(x, get_default_dtype())


def _binary(function, a, b, to_float=False):
    """``function`` on a and b cast to their common dtype (the default float for division)."""
    a, b = _operand(a), _operand(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{function.__name__}: at least one operand must be a Tensor")
    dtype = result_type(a, b)
    if to_float and dtype.kind != "f":
        dtype = get_default_dtype()
    return function.apply(cast(a, dtype), cast(b, dtype))
