"""Dtypes: their names, the default float dtype, and PyTorch's type promotion.

tinygan's dtypes are NumPy's (``tg.float32 is numpy.dtype("float32")``), but which dtype
an operation gives follows PyTorch, not NumPy, because learners meet the difference at
once: ``torch.arange(3) * 0.5`` is float32, where NumPy gives float64 (which would then
flow silently through a float32 model). The rule, as ``torch.result_type`` applies it:

1. Operands fall in three groups: tensors with dimensions, 0-d tensors, and Python
   numbers (a Python float counts as the default dtype, float32; an int as int64).
2. Each group promotes within itself; a float beats an int whatever their sizes
   (int64 with float16 gives float16), and an int beats bool.
3. A group of lower priority matters only when it is of a higher kind (bool < int <
   float): ``ones(2) * tensor(2.0, dtype=float64)`` stays float32, while
   ``arange(3) * tensor(2.0, dtype=float64)`` becomes float64.
"""
from __future__ import annotations

import numbers

import numpy as np

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

_default_dtype = float32


def get_default_dtype():
    """The floating dtype of new tensors from Python floats (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype):
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"default dtype must be a floating type, got {dtype}")
    _default_dtype = dtype


def is_number(value):
    """A Python or NumPy number (not complex): what ops accept beside tensors."""
    return isinstance(value, (numbers.Number, np.generic)) and not isinstance(value, complex)


def _promote(a, b):
    """Two dtypes of one group: a float wins over int and bool, else NumPy's rule."""
    if a is None:
        return b
    if a.kind == "f" and b.kind != "f":
        return a
    if b.kind == "f" and a.kind != "f":
        return b
    return np.promote_types(a, b)


def promote_types(*dtypes):
    """The dtype tensors of these dtypes meet in (cat, stack: all count as dimensioned)."""
    result = None
    for dtype in dtypes:
        result = _promote(result, np.dtype(dtype))
    return result


def _number_dtype(value):
    if isinstance(value, (bool, np.bool_)):
        return bool_
    if isinstance(value, numbers.Integral):
        return int64
    return _default_dtype


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
    """The dtype PyTorch computes ``a op b`` in: operands are tensors (anything with a
    ``dtype`` and ``ndim``) and Python numbers; None is skipped."""
    dims = zero_dims = numbers_ = None
    for value in operands:
        if value is None:
            continue
        if hasattr(value, "ndim") and not isinstance(value, np.generic):
            if value.ndim:
                dims = _promote(dims, value.dtype)
            else:
                zero_dims = _promote(zero_dims, value.dtype)
        else:
            numbers_ = _promote(numbers_, _number_dtype(value))
    return _combine(dims, _combine(zero_dims, numbers_))


def can_cast(source, target):
    """PyTorch's rule for an in-place result: no float into an int, nothing else into bool."""
    if source.kind == "f" and target.kind in "biu":
        return False
    return not (target.kind == "b" and source.kind != "b")
