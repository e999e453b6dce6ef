"""Moving between devices and dtypes, copies, and comparisons (no gradient)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor, _operand_array


class To(Function):
    @staticmethod
    def forward(ctx, x, device=None, dtype=None):
        ctx.device, ctx.dtype = backend.device_of(x), x.dtype
        return backend.to_device(x, device).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):                                # the gradient goes back where x lives
        return backend.to_device(grad, ctx.device).astype(ctx.dtype, copy=False)


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


def to(x, device=None, dtype=None):
    """x on ``device`` as ``dtype`` (x itself when nothing changes, as in PyTorch)."""
    device = x.device if device is None else backend.normalize_device(device)
    dtype = x.dtype if dtype is None else np.dtype(dtype)
    if device == x.device and dtype == x.dtype:
        return x
    return To.apply(x, device=device, dtype=dtype)


def clone(x):
    return Clone.apply(x)


def compare(a, b, op):
    """Elementwise comparison ("less", "equal", ...) as a boolean Tensor without a graph."""
    a_array, b_array = _operand_array(a), _operand_array(b)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        backend.check_same_device(a_array, b_array, op=op)
    xp = array_module(a_array if isinstance(a, Tensor) else b_array)
    return Tensor(getattr(xp, op)(a_array, b_array))
