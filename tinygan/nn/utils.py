"""Gradient clipping, as ``torch.nn.utils``: ``clip_grad_norm_`` and ``clip_grad_value_``.

Both change the gradients in place and run on the gradients' device: the total norm
stays a device tensor and the clip factor is applied whatever its value (a multiply by
min(1, max_norm / norm), never a Python ``if`` on the norm), so clipping every step
copies nothing to the host.
"""
from __future__ import annotations

import math

from ..functional import stack
from ..factories import tensor
from ..tensor import Tensor, no_grad


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _norm(x, norm_type):
    """The vector norm of all of x's elements (as torch.linalg.vector_norm)."""
    if norm_type == math.inf:
        return x.abs().max()
    if norm_type == 2:
        return (x * x).sum().sqrt()
    if norm_type == 1:
        return x.abs().sum()
    return (x.abs() ** norm_type).sum() ** (1.0 / norm_type)


@no_grad()
def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients together so that their joint norm is at most ``max_norm``.

    The norm is taken over all the gradients as if they were one vector; each
    gradient is multiplied by min(1, max_norm / (norm + 1e-6)). Returns that total
    norm (before clipping) as a tensor on the gradients' device. ``norm_type`` is a
    positive number or ``math.inf`` (the largest absolute value).

    >>> import tinygan as tg
    >>> w = tg.nn.Parameter(tg.zeros(2))
    >>> w.grad = tg.tensor([3.0, 4.0])
    >>> tg.nn.utils.clip_grad_norm_([w], max_norm=1.0)
    tensor(5.)
    >>> w.grad
    tensor([0.6000, 0.8000])
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not (norm_type > 0):   # NaN too
        raise ValueError(f"clip_grad_norm_: norm_type must be a positive number or math.inf, "
                         f"got {norm_type}")
    if not grads:
        return tensor(0.0)
    total = _norm(stack([_norm(g, norm_type) for g in grads]), norm_type)
    # The one host read, and only on request (PyTorch's check, with its message).
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm "
                           "anyway, set `error_if_nonfinite=False`")
    factor = (float(max_norm) / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(factor)
    return total


@no_grad()
def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into [-clip_value, clip_value], in place.

    >>> import tinygan as tg
    >>> w = tg.nn.Parameter(tg.zeros(3))
    >>> w.grad = tg.tensor([-2.0, 0.5, 3.0])
    >>> tg.nn.utils.clip_grad_value_([w], 1.0)
    >>> w.grad
    tensor([-1.0000,  0.5000,  1.0000])
    """
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.copy_(g.clamp(-clip_value, clip_value))
