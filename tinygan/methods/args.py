"""What the methods share: operands read as PyTorch reads them, dims checked."""
from __future__ import annotations

import numbers

import numpy as np

from ..core.tensor import Tensor
from ..dtypes import is_number


def _new(like, array):
    """A tensor (no graph) holding ``array``, a numpy scalar made a 0-d array: what
    comparisons and any/all give (a plain Tensor even for a Parameter, as in PyTorch)."""
    return like._wrap(np.asarray(array) if isinstance(array, np.generic) else array)


def _check_broadcast(a, b):
    """PyTorch's error when two operands' shapes do not broadcast (NumPy's would name
    neither operand): the first dim, from the right, where the sizes differ and neither is 1."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor) or a.shape == b.shape:
        return
    for i in range(1, min(a.ndim, b.ndim) + 1):
        m, n = a.shape[-i], b.shape[-i]
        if m != n and m != 1 and n != 1:
            raise RuntimeError(f"The size of tensor a ({m}) must match the size of tensor b "
                               f"({n}) at non-singleton dimension {max(a.ndim, b.ndim) - i}")


def _number(value):
    """A numpy number as a Python number (it then counts as PyTorch counts a Python number)."""
    return value.item() if isinstance(value, np.generic) else value


def _operand(value):
    """A Tensor stays a Tensor; a Python or numpy number becomes a Python number."""
    if isinstance(value, Tensor):
        return value
    if is_number(value):
        return _number(value)
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        raise TypeError(f"expected a Tensor or a number, got a {type(value).__name__}: "
                        "wrap it first with tg.tensor(array) or tg.from_numpy(array)")
    raise TypeError(f"expected a Tensor or a number, got {type(value).__name__}")


def _tensor_operand(value, op):
    if not isinstance(value, Tensor):
        hint = f" (with a number use clamp({'min' if op == 'maximum' else 'max'}=...))" if op in (
            "maximum", "minimum") else ""
        if hasattr(value, "dtype") and hasattr(value, "shape"):
            hint = ": wrap an array first with tg.tensor(array) or tg.from_numpy(array)"
        raise TypeError(f"{op}: expected a Tensor, got {type(value).__name__}{hint}")
    return value


def _cast(value, dtype):
    """An operand in the op's dtype. A cast copy shares the original's count of in-place
    changes: PyTorch's op keeps the original itself for backward (it promotes inside the
    kernel), so writing into the original before backward is an error there, and here."""
    if not isinstance(value, Tensor) or value.dtype == dtype:
        return value
    return value.to(dtype=dtype)._stand_in_for(value)


def _check_dim(dim, ndim):
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {dim})")
    return dim % max(ndim, 1)


def _axes(dim, ndim):
    """dim (None, int or tuple) as a sorted tuple of non-negative axes."""
    if dim is None or ndim == 0:  # a 0-d tensor reduces over "dim 0" to itself, as in PyTorch
        if dim is not None:
            for d in ((dim,) if isinstance(dim, numbers.Integral) else dim):
                _check_dim(d, 0)
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    return tuple(sorted({_check_dim(d, ndim) for d in dims}))
