"""``torch.autograd.grad``: the gradients of outputs with respect to chosen tensors, returned
rather than accumulated into ``.grad``; the core's walk (core/tensor.py ``run_backward``)
collects them for it.

>>> import tinygan as tg
>>> x = tg.tensor([1.0, 2.0], requires_grad=True)
>>> (g,) = tg.autograd.grad((x ** 3).sum(), x, create_graph=True)
>>> g, x.grad is None
(tensor([ 3., 12.], grad_fn=<MulBackward>), True)
>>> tg.autograd.grad(g.sum(), x)                       # d²/dx² of x³ is 6x
(tensor([ 6., 12.]),)
"""
from __future__ import annotations

from .. import backend
from ..core.ops import to
from ..core.tensor import Tensor, run_backward


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """The gradient of ``outputs`` (weighted by ``grad_outputs``) with respect to each of
    ``inputs``, as a tuple; no ``.grad`` is written, as in PyTorch.

    ``create_graph=True`` records the backward pass, so the gradients can be differentiated
    again (WGAN-GP's gradient penalty); ``retain_graph`` defaults to it. An input the
    outputs do not depend on is an error unless ``allow_unused=True`` (its gradient is then
    None) or ``materialize_grads=True`` (zeros).
    """
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when "
                         "materialize_grads=True, but got: allow_unused=False.")
    if not inputs:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    grad_outputs = (None,) * len(outputs) if grad_outputs is None else _as_tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(grad_outputs)} gradients")
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = tuple(_output_gradient(i, out, g)
                  for i, (out, g) in enumerate(zip(outputs, grad_outputs)))
    found = run_backward(outputs, grads, retain_graph=retain_graph,
                         create_graph=create_graph, inputs=inputs)
    result = []
    for i, (t, g) in enumerate(zip(inputs, found)):
        if g is None and materialize_grads:
            g = t.detach().new_zeros(t.shape)
        elif g is None and not allow_unused:
            raise RuntimeError(f"The differentiated Tensor at index {i} appears to not have "
                               "been used in the graph. Set allow_unused=True if this is the "
                               "desired behavior.")
        result.append(g)
    return tuple(result)


def _as_tuple(tensors):
    """A tensor, or a sequence of them, as a tuple (PyTorch's TypeError for anything else)."""
    if isinstance(tensors, Tensor) or tensors is None:
        return (tensors,)
    try:
        return tuple(tensors)
    except TypeError:
        raise TypeError(f"'{type(tensors).__name__}' object is not iterable") from None


def _output_gradient(i, output, gradient):
    """The gradient that starts the walk at ``output``: ``gradient`` checked and cast to the
    output's dtype, or ones for a scalar output."""
    if not isinstance(output, Tensor):
        raise TypeError(f"grad: outputs must be Tensors, got {type(output).__name__}")
    if not output.requires_grad or (output.grad_fn is None and output._view is not None
                                    and output._view.made_in_no_grad):
        raise RuntimeError(f"element {i} of tensors does not require grad and does not "
                           "have a grad_fn")
    if gradient is None:
        if output.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        return output._wrap(backend.array_module(output._data).ones_like(output._data))
    if not isinstance(gradient, Tensor):
        raise TypeError(f"grad: grad_outputs must be Tensors or None, got "
                        f"{type(gradient).__name__}")
    backend.check_same_device(output._data, gradient._data, op="autograd.grad")
    if gradient.shape != output.shape:
        raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                           f"torch.Size({list(gradient.shape)}) and output[{i}] has a shape "
                           f"of torch.Size({list(output.shape)}).")
    return gradient if gradient.dtype == output.dtype else to(gradient, dtype=output.dtype)

