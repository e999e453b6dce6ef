"""Functional forms of the layers and losses (``import tinygan.nn.functional as F``).

The losses and batch norm are single fused Functions with hand-written
backward rules, because the composed versions are either numerically wrong
(BCE through clip or abs has a kink at 0 and caps the loss) or slow.
"""
from __future__ import annotations

import math
import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ..functional import leaky_relu, linear, relu, sigmoid, softplus, stable_sigmoid, tanh
from ..tensor import Tensor

__all__ = ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "dropout",
           "batch_norm", "binary_cross_entropy_with_logits", "binary_cross_entropy", "mse_loss"]


# === dropout ===================================================================================

def dropout(x, p=0.5, training=True, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout).

    The identity when not training or p == 0, so evaluation needs no rescaling.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    rng = generator if generator is not None else backend.default_generator(x.device)
    keep = rng.random(x.shape, x.dtype) >= p
    scale = array_module(x.data).asarray(1.0 / (1.0 - p), dtype=x.dtype)
    return x * Tensor(keep * scale)


# === batch norm ================================================================================

def _per_channel_dot(a, b):
    """Σ a·b over every axis but the channel axis (1), in one pass with no temporary."""
    subscripts = "nc,nc->c" if a.ndim == 2 else "ncl,ncl->c"
    return array_module(a).einsum(subscripts, a, b)


class BatchNorm(Function):
    """y = γ·x̂ + β with x̂ = (x - μ)/√(σ² + eps), per channel of (N, C[, L]) input.

    With ``stats`` (a dict), μ and σ² are this batch's mean and biased variance,
    and forward reports them there (for the running averages); without, they are
    the given running statistics.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, axes=(0,),
                eps=1e-5, stats=None):
        xp = array_module(x)
        shape = [1] * x.ndim
        shape[1] = x.shape[1]                               # broadcast per channel
        if stats is not None:
            mean = x.mean(axis=axes)
            x_hat = x - mean.reshape(shape)                 # centred now, scaled below
            var = _per_channel_dot(x_hat, x_hat) / (x.size // x.shape[1])
            stats["mean"], stats["var"] = mean, var
        else:
            mean, var = running_mean, running_var
            x_hat = x - mean.reshape(shape)
        inv_std = 1.0 / xp.sqrt(var + eps)
        x_hat *= inv_std.reshape(shape)
        ctx.save_for_backward(x_hat, inv_std, weight)
        ctx.axes, ctx.shape, ctx.batch_stats = axes, shape, stats is not None
        out = x_hat * weight.reshape(shape) if weight is not None else x_hat.copy()
        if bias is not None:
            out += bias.reshape(shape)
        return out

    @staticmethod
    def backward(ctx, grad):
        x_hat, inv_std, weight = ctx.saved_arrays
        axes, shape = ctx.axes, ctx.shape
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        sum_g = grad.sum(axis=axes)                         # dβ = Σ g
        sum_gx = _per_channel_dot(grad, x_hat)              # dγ = Σ g·x̂
        grad_x = None
        if need_x:
            scale = inv_std if weight is None else weight * inv_std
            if ctx.batch_stats:
                # μ and σ² depend on x: dx = γ/√(σ²+eps) · (g - mean(g) - x̂·mean(g·x̂))
                count = grad.size // grad.shape[1]
                grad_x = x_hat * (-sum_gx / count).reshape(shape)
                grad_x += grad
                grad_x -= (sum_g / count).reshape(shape)
                grad_x *= scale.reshape(shape)
            else:
                grad_x = grad * scale.reshape(shape)        # running stats are constants
        return grad_x, (sum_gx if need_w else None), (sum_g if need_b else None)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation of (N, C) or (N, C, L) input, with PyTorch's signature.

    Training: normalise with the batch mean and biased variance and, when running
    stats are given, update them in place with momentum (the variance unbiased,
    n/(n-1)). Evaluation: normalise with the running stats; still differentiable.
    ``momentum=None`` means a cumulative average, as in PyTorch.
    """
    if input.ndim not in (2, 3):
        raise ValueError(f"batch_norm: expected 2D (N, C) or 3D (N, C, L) input, "
                         f"got {input.ndim}D input of shape {input.shape}")
    axes = (0,) if input.ndim == 2 else (0, 2)
    count = math.prod(input.shape[a] for a in axes)
    use_batch_stats = training or running_mean is None
    if use_batch_stats and count <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, "
                         f"got input size {list(input.shape)}")
    if not use_batch_stats:
        return BatchNorm.apply(input, weight, bias, running_mean=running_mean.data,
                               running_var=running_var.data, axes=axes, eps=eps)
    stats = {}
    out = BatchNorm.apply(input, weight, bias, axes=axes, eps=eps, stats=stats)
    if training and running_mean is not None:
        _update_running_stats(running_mean, running_var, stats["mean"],
                              stats["var"] * (count / (count - 1)), momentum)
    return out


def _update_running_stats(running_mean, running_var, mean, unbiased_var, momentum):
    """running = (1 - m)·running + m·batch, in place (momentum None: cumulative average)."""
    if momentum is None:
        raise ValueError("momentum=None needs the module's num_batches_tracked; "
                         "use nn.BatchNorm1d(momentum=None)")
    for buffer, value in ((running_mean, mean), (running_var, unbiased_var)):
        data = buffer.data
        data *= 1.0 - momentum
        data += momentum * value.astype(data.dtype, copy=False)
        buffer._bump_version()


# === losses ====================================================================================

def _check_target(input, target, name):
    if not isinstance(target, Tensor):
        raise TypeError(f"{name}: target must be a Tensor, got {type(target).__name__}")
    if target.shape != input.shape:
        raise ValueError(f"{name}: using a target size {target.shape} that is different to the "
                         f"input size {input.shape}; this is likely an error (reshape one of them)")


def _reduce(loss, reduction, name):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class BCEWithLogits(Function):
    """ℓ(x, y) = max(x, 0) - x·y + log(1 + exp(-|x|)), weighted by pos_weight on positives."""

    @staticmethod
    def forward(ctx, x, y, pos_weight=None):
        xp = array_module(x)
        # softplus(-x) = log(1 + e^(-x)) = max(-x, 0) + log1p(e^(-|x|)): e^(-|x|) ≤ 1 never overflows
        softplus_neg = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
        ctx.save_for_backward(x, y, pos_weight, softplus_neg)
        if pos_weight is None:
            return (1 - y) * x + softplus_neg
        return (1 - y) * x + (1 + (pos_weight - 1) * y) * softplus_neg

    @staticmethod
    def backward(ctx, grad):
        x, y, pos_weight, softplus_neg = ctx.saved_arrays
        need_x, need_y = ctx.needs_input_grad[:2]
        sig = stable_sigmoid(x)
        if pos_weight is None:
            grad_x = grad * (sig - y) if need_x else None               # dℓ/dx = σ(x) - y
            grad_y = grad * -x if need_y else None                      # dℓ/dy = -x
        else:
            weight = 1 + (pos_weight - 1) * y                           # dℓ/dx = (1-y) - w(1-σ(x))
            grad_x = grad * ((1 - y) - weight * (1 - sig)) if need_x else None
            grad_y = grad * (-x + (pos_weight - 1) * softplus_neg) if need_y else None
        return grad_x, grad_y, None


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """BCE of sigmoid(input) against target, in one stable op (input are logits).

    Finite with the right gradient for any logit (±1e4 in float32 included);
    targets may be soft (any value in [0, 1]).
    """
    _check_target(input, target, "binary_cross_entropy_with_logits")
    pos = pos_weight.data if isinstance(pos_weight, Tensor) else pos_weight
    loss = BCEWithLogits.apply(input, target, pos_weight=pos)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


_LOG_FLOOR = -100.0   # PyTorch clamps each log at -100 so that log(0) gives a finite loss
_EPSILON = float(np.float32(1e-12))  # PyTorch's floor on p(1-p) in the gradient (a float32 constant)


class BCE(Function):
    """ℓ(p, y) = -(y·max(log p, -100) + (1-y)·max(log(1-p), -100))."""

    @staticmethod
    def forward(ctx, p, y):
        xp = array_module(p)
        with backend.errstate(divide="ignore", invalid="ignore"):
            log_p = xp.maximum(xp.log(p), _LOG_FLOOR)
            log_1mp = xp.maximum(xp.log(1 - p), _LOG_FLOOR)
        ctx.save_for_backward(p, y)
        return -(y * log_p + (1 - y) * log_1mp)

    @staticmethod
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


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """BCE on probabilities (input already through a sigmoid), logs clamped at -100.

    Input outside [0, 1] is an error on "cpu". On "cuda" the check would cost a
    device-to-host copy every step, so it is skipped: such input gives a NaN
    loss there, which the GAN trainer's health check reports.
    """
    _check_target(input, target, "binary_cross_entropy")
    if input.device == backend.CPU:
        data = input.data
        if data.size and not (data.min() >= 0 and data.max() <= 1):
            raise ValueError("binary_cross_entropy: all elements of input should be between 0 "
                             f"and 1 (got min {data.min():.4g}, max {data.max():.4g}); for "
                             "logits use binary_cross_entropy_with_logits")
    loss = BCE.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def mse_loss(input, target, reduction="mean"):
    """Mean squared error: mean((input - target)²)."""
    _check_target(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")
