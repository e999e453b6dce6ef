"""Moving between devices and dtypes, and copies."""
from __future__ import annotations

from .. import backend
from ..function import Function


class To(Function):
    @staticmethod
    def forward(ctx, x, device=None, dtype=None):
        ctx.device, ctx.dtype = backend.device_of(x), x.dtype
        return backend.to_device(x, device).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):                                # the gradient goes back where x lives
        return grad.to(device=ctx.device, dtype=ctx.dtype)


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad
