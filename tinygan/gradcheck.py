"""Check autograd against central differences, in float64."""
from __future__ import annotations

import numpy as np

from . import autograd, backend
from .tensor import Tensor, no_grad


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Compare the gradients autograd gives for ``fn(*inputs)`` with finite differences.

    ``inputs`` are float64 Tensors; those with ``requires_grad`` are checked. The
    output is contracted with a random upstream gradient ``u`` (so every output
    element matters), and for each input element x_i the numeric derivative of
    ``sum(u * fn(...))`` is ``(f(x_i + eps) - f(x_i - eps)) / (2 eps)``.

    Returns True, or raises AssertionError naming the input and the worst element.

    >>> import tinygan as tg
    >>> x = tg.randn(3, 4, dtype=tg.float64, requires_grad=True)
    >>> tg.gradcheck(lambda t: (t * t).sum(dim=1), [x])
    True
    """
    inputs = list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64, since "
                            "float32 central differences are too coarse to check against")

    output = fn(*inputs)
    rng = np.random.default_rng(seed)
    upstream_host = rng.standard_normal(output.shape)
    upstream = backend.to_device(upstream_host, output.device)
    # autograd.grad, not backward: the inputs' .grad stay as they were, as in PyTorch
    analytics = autograd.grad(output, [inputs[i] for i in checked], Tensor(upstream),
                              allow_unused=True)

    def contracted():
        with no_grad():
            return float((backend.to_numpy(fn(*inputs)._data) * upstream_host).sum())

    for i, gradient in zip(checked, analytics):
        x = inputs[i]
        analytic = np.zeros(x.shape) if gradient is None else backend.to_numpy(gradient._data)
        numeric = np.zeros(x.shape)
        host = backend.to_numpy(x._data).copy()
        for flat in range(host.size):
            position = np.unravel_index(flat, host.shape)
            original = host[position]
            for sign in (+1, -1):
                host[position] = original + sign * eps
                x._data = backend.to_device(host, x.device)
                numeric[position] += sign * contracted() / (2 * eps)
            host[position] = original
        x._data = backend.to_device(host, x.device)
        error = np.abs(analytic - numeric)
        bound = atol + rtol * np.abs(numeric)
        if np.any(error > bound) or not np.all(np.isfinite(analytic)):
            worst = np.unravel_index(np.argmax(error - bound), error.shape)
            raise AssertionError(
                f"gradcheck failed for input {i} of shape {tuple(x.shape)}: at index {worst} "
                f"autograd gives {analytic[worst]:.10g} but central differences give "
                f"{numeric[worst]:.10g} (|difference| {error[worst]:.3g} > "
                f"atol + rtol·|numeric| = {bound[worst]:.3g})")
    return True
