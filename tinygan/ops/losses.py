"""Binary cross-entropy, on logits and on probabilities, each one fused op.

Composed from smaller ops these are numerically wrong: through clip or abs the
gradient has a kink at 0, and a probability clipped to [1e-7, 1 - 1e-7] caps the
loss at 16.1 where the truth is 1e4. Their backward is written on raw arrays
(once-differentiable): no GAN loss here is differentiated twice.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import array_module
from ..core.function import Function, once_differentiable
from ..core.ops import sigmoid


class BinaryCrossEntropyWithLogits(Function):
    """ℓ(x, y) = (1 - y)·x + log(1 + e^-x), weighted by pos_weight on positives."""

    @staticmethod
    def forward(ctx, x, y, pos_weight=None):
        xp = array_module(x)
        if pos_weight is None and x.dtype == y.dtype:
            ctx.save_for_backward(x, y, None, None)
            return _bce_with_logits(x, y)                   # one kernel on a GPU
        # softplus(-x) = log(1 + e^-x) = logaddexp(0, -x): one ufunc that never overflows
        # (it is max(-x, 0) + log1p(e^-|x|) inside, in one pass)
        with backend.errstate(invalid="ignore"):   # a NaN logit gives a NaN loss, silently
            softplus_neg = xp.logaddexp(0, -x)
        ctx.save_for_backward(x, y, pos_weight, softplus_neg)
        if pos_weight is None:
            return (1 - y) * x + softplus_neg
        return (1 - y) * x + (1 + (pos_weight - 1) * y) * softplus_neg

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, y, pos_weight, softplus_neg = ctx.saved_arrays
        need_x, need_y = ctx.needs_input_grad[:2]
        if pos_weight is None and x.dtype == y.dtype == grad.dtype:   # one kernel on a GPU
            grad_x = _bce_with_logits_grad(x, y, grad) if need_x else None
            return grad_x, (grad * -x if need_y else None), None
        sig = sigmoid(x)
        if pos_weight is None:
            grad_x = grad * (sig - y) if need_x else None               # dℓ/dx = σ(x) - y
            grad_y = grad * -x if need_y else None                      # dℓ/dy = -x
        else:
            weight = 1 + (pos_weight - 1) * y                           # dℓ/dx = (1-y) - w(1-σ(x))
            grad_x = grad * ((1 - y) - weight * (1 - sig)) if need_x else None
            grad_y = grad * (-x + (pos_weight - 1) * softplus_neg) if need_y else None
        return grad_x, grad_y, None


# One kernel each on a GPU (backend.fuse): the op-by-op lines beside their calls, in the
# same order (tests/test_fused.py checks them bit for bit on the CPU).

@backend.fuse
def _bce_with_logits(xp, x, y):
    with backend.errstate(invalid="ignore"):   # a NaN logit gives a NaN loss, silently
        return (1 - y) * x + xp.logaddexp(0, -x)


@backend.fuse
def _bce_with_logits_grad(xp, x, y, grad):
    with backend.errstate(over="ignore"):      # e^-x = inf: σ = 1/inf = 0, as sigmoid()
        sig = xp.reciprocal(xp.exp(-x) + 1)
    return grad * (sig - y)


LOG_FLOOR = -100.0   # PyTorch clamps each log at -100 so that log(0) gives a finite loss
_EPSILON = float(np.float32(1e-12))  # PyTorch's floor on p(1-p) in the gradient (a float32 constant)


class BinaryCrossEntropy(Function):
    """ℓ(p, y) = -(y·max(log p, -100) + (1-y)·max(log(1-p), -100))."""

    @staticmethod
    def forward(ctx, p, y):
        xp = array_module(p)
        with backend.errstate(divide="ignore", invalid="ignore"):
            log_p = xp.maximum(xp.log(p), LOG_FLOOR)
            log_1mp = xp.maximum(xp.log(1 - p), LOG_FLOOR)
        ctx.save_for_backward(p, y)
        return -(y * log_p + (1 - y) * log_1mp)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        p, y = ctx.saved_arrays
        need_p, need_y = ctx.needs_input_grad
        xp = array_module(p)
        grad_p = grad * (p - y) / xp.maximum(p * (1 - p), _EPSILON) if need_p else None
        grad_y = None
        if need_y:   # dℓ/dy = log(1-p) - log p = -logit(p), unclamped as PyTorch's (±inf at 0, 1)
            with backend.errstate(divide="ignore", invalid="ignore"):
                grad_y = grad * -xp.log(p / (1 - p))
        return grad_p, grad_y
