"""Helpers shared by the op modules: turning operands into Tensors or numbers."""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor, _operand_array


def _operand(value):
    """A Tensor stays a Tensor; a Python or numpy number becomes a Python number."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (numbers.Number, np.generic)):
        return _operand_array(value)
    raise TypeError(f"expected a Tensor or a number, got {type(value).__name__}")


def _binary(function, a, b):
    a, b = _operand(a), _operand(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{function.__name__}: at least one operand must be a Tensor")
    return function.apply(a, b)
