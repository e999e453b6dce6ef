"""Functional forms of the layers and losses (``import tinygan.nn.functional as F``).

The losses and batch norm are single fused Functions with hand-written
backward rules, because the composed versions are either numerically wrong
(BCE through clip or abs has a kink at 0 and caps the loss) or slow.
"""
from __future__ import annotations

import math

from .. import backend
from ..backend import array_module
from ..functional import relu, sigmoid, softplus, tanh  # noqa: F401  (F.relu, as in PyTorch)
from ..ops.activations import LeakyRectify
from ..ops.losses import BinaryCrossEntropy, BinaryCrossEntropyWithLogits
from ..ops.matmul import Affine
from ..ops.normalization import BatchNormalize
from ..tensor import Tensor

__all__ = ["linear", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "dropout",
           "batch_norm", "binary_cross_entropy_with_logits", "binary_cross_entropy", "mse_loss"]


# === linear and leaky_relu ===================================================================

def linear(x, weight, bias=None):
    """x @ weight.T + bias in one op (weight is (out_features, in_features) as in PyTorch)."""
    if x.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but "
                           f"weight expects {weight.shape[1]} (weight shape {weight.shape})")
    if x.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {x.dtype} differs from weight dtype {weight.dtype}")
    if bias is None:
        return Affine.apply(x, weight)
    return Affine.apply(x, weight, bias)


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope·x otherwise (any slope, negative ones included)."""
    return LeakyRectify.apply(x._floating(), slope=negative_slope)


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
        return BatchNormalize.apply(input, weight, bias, running_mean=running_mean.data,
                               running_var=running_var.data, axes=axes, eps=eps)
    stats = {}
    out = BatchNormalize.apply(input, weight, bias, axes=axes, eps=eps, stats=stats)
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


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """BCE of sigmoid(input) against target, in one stable op (input are logits).

    Finite with the right gradient for any logit (±1e4 in float32 included);
    targets may be soft (any value in [0, 1]).
    """
    _check_target(input, target, "binary_cross_entropy_with_logits")
    pos = pos_weight.data if isinstance(pos_weight, Tensor) else pos_weight
    loss = BinaryCrossEntropyWithLogits.apply(input, target, pos_weight=pos)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


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
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def mse_loss(input, target, reduction="mean"):
    """Mean squared error: mean((input - target)²)."""
    _check_target(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")
