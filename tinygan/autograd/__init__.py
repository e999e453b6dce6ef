"""PyTorch's ``torch.autograd`` names: ``grad`` (gradients returned, not accumulated), grad
mode as a call, a context manager or a decorator, ``Variable`` (a name from before PyTorch 0.4), ``graph.increment_version``. The
mode itself, and everything backward does, is the core's (tinygan/core/function.py and
tinygan/core/tensor.py)."""
from __future__ import annotations

import contextlib

from ..core.function import (Function, _GradMode, _state, enable_grad,  # noqa: F401
                            is_grad_enabled, no_grad, once_differentiable)
from . import graph, variable  # noqa: F401  (tg.autograd.graph, tg.autograd.variable)
from .gradients import grad  # noqa: F401
from .graph import increment_version  # noqa: F401
from .variable import Variable  # noqa: F401


class set_grad_enabled(contextlib.ContextDecorator):
    """Turn recording on or off: ``tg.set_grad_enabled(False)`` as a call, a context
    manager or a decorator, as in PyTorch; the previous mode comes back on exit."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self.previous = is_grad_enabled()
        _state.enabled = self.mode

    def _recreate_cm(self):  # each decorated call gets its own saved mode (recursion-safe)
        return _GradMode(self.mode)

    def __call__(self, function):
        # As a decorator, building it must not change the mode (PyTorch restores it here)
        _state.enabled = self.previous
        return super().__call__(function)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self.previous
        return False


def zero_grads(tensors, set_to_none=True):
    """Clear the ``.grad`` of each tensor: None (the default), or zeros written into the
    gradient's own memory. What Module.zero_grad and Optimizer.zero_grad both do."""
    for t in tensors:
        if t.grad is not None:
            t.grad = None if set_to_none else t.grad.detach().zero_()


def inference_mode(mode=True):
    """PyTorch's name for evaluation code: here the same as no_grad (``mode=False``
    turns recording on). A context manager or a decorator, with or without ``()``.

    PyTorch's inference tensors, which autograd later refuses, have no counterpart:
    what is made inside is an ordinary tensor that records no graph.

    >>> import tinygan as tg
    >>> x = tg.ones(2, requires_grad=True)
    >>> with tg.inference_mode():
    ...     y = x * 2
    >>> y.requires_grad
    False
    >>> @tg.inference_mode
    ... def evaluate(x):
    ...     return x * 2
    >>> evaluate(x).requires_grad
    False
    """
    if callable(mode):   # @tg.inference_mode, without parentheses
        return _GradMode(False)(mode)
    return _GradMode(not mode)
