"""Moving between devices and dtypes, and copies."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function


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
