"""Reverse-mode automatic differentiation: the graph and the backward pass.

A differentiable op is a :class:`Function` subclass with two static methods on
raw arrays (numpy or cupy)::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = array_module(x).exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_arrays
            return grad * y                    # d/dx exp(x) = exp(x)

``Exp.apply(tensor)`` runs ``forward`` on the tensor's array and, when grad mode
is on and an input requires grad, records a :class:`Node` on the result's
``grad_fn``. :func:`run_backward` walks those nodes from the output back to the
leaves in topological order (iteratively, so a chain of 10,000 ops is fine),
sums gradients that arrive from several uses, sums broadcast gradients back to
each input's shape (:func:`unbroadcast`, once, here, for every op) and
accumulates into the leaves' ``.grad``. The graph's saved arrays are freed
afterwards unless ``retain_graph=True``.

Every Tensor carries a version counter bumped by in-place changes. A saved
tensor whose version changed between forward and backward raises the same
error PyTorch does, instead of silently giving a wrong gradient.
"""
from __future__ import annotations

import contextlib
import threading
import weakref

import numpy as np

from . import backend

# --- grad mode -----------------------------------------------------------------

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


def set_grad_enabled(mode: bool):
    _state.enabled = bool(mode)


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator that sets grad mode and restores it after."""

    def __init__(self, mode):
        self.mode = mode

    def _recreate_cm(self):  # each decorated call gets its own saved mode (recursion-safe)
        return _GradMode(self.mode)

    def __enter__(self):
        self.previous = is_grad_enabled()
        set_grad_enabled(self.mode)

    def __exit__(self, *exc):
        set_grad_enabled(self.previous)
        return False


def no_grad():
    """Ops run inside record no graph: ``with tg.no_grad(): ...`` or ``@tg.no_grad()``.

    >>> import tinygan as tg
    >>> x = tg.ones(2, requires_grad=True)
    >>> with tg.no_grad():
    ...     y = x * 2
    >>> y.requires_grad, y.grad_fn
    (False, None)
    """
    return _GradMode(False)


def enable_grad():
    """Turn recording back on inside a no_grad block."""
    return _GradMode(True)


# --- the graph -----------------------------------------------------------------

class Context:
    """What forward leaves for backward: saved arrays and plain attributes.

    ``needs_input_grad[i]`` says whether input i wants a gradient, so backward
    can skip work nobody will use (e.g. the image gradient of D's first layer).
    """

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved_arrays = ()
        self.is_view = False   # forward sets True when its output shares the input's memory

    def save_for_backward(self, *arrays):
        self.saved_arrays = arrays


class Node:
    """One recorded op: the Function, its context and the inputs it came from."""

    __slots__ = ("function", "ctx", "inputs", "saved_versions", "freed", "__weakref__")

    def __init__(self, function, ctx, inputs):
        self.function = function
        self.ctx = ctx
        self.inputs = inputs              # Tensors and non-tensor arguments, in call order
        self.saved_versions = ()          # (tensor or weakref to it, version at save time)
        self.freed = False

    def name(self):
        return f"{self.function.__name__}Backward"

    def __repr__(self):
        return f"<{self.name()}>"

    def check_versions(self):
        for ref, version in self.saved_versions:
            tensor = ref() if isinstance(ref, weakref.ref) else ref
            if tensor is not None and tensor._version != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been "
                    f"modified by an inplace operation: [{tensor.dtype} tensor of shape "
                    f"{tuple(tensor.shape)}], which is output 0 of {self.name()}'s inputs or "
                    f"output, is at version {tensor._version}; expected version {version} "
                    "instead. Compute the loss again after the in-place change "
                    "(e.g. after optimizer.step()).")

    def free(self):
        self.ctx = None
        self.inputs = ()
        self.saved_versions = ()
        self.freed = True


_tensor_type = None


def register_tensor_type(cls):
    """tensor.py registers its Tensor class so Function.apply can build outputs."""
    global _tensor_type
    _tensor_type = cls


class Function:
    """Base class of differentiable ops: subclass and write forward and backward.

    ``backward`` returns one gradient per positional input of ``forward`` (a
    single array when there is one input); ``None`` where no gradient flows.
    Keyword arguments of ``apply`` are passed to ``forward`` and never get one.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        Tensor = _tensor_type
        tensors = [a for a in args if isinstance(a, Tensor)]
        if len(tensors) > 1:
            backend.check_same_device(*(t.data for t in tensors), op=cls.__name__)
        arrays = [a.data if isinstance(a, Tensor) else a for a in args]
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = any(needs) and is_grad_enabled()

        ctx = Context(needs)
        out = cls.forward(ctx, *arrays, **kwargs)
        if isinstance(out, np.generic):  # numpy gives scalars for full reductions; keep arrays
            out = np.asarray(out)
        result = Tensor(out)
        if ctx.is_view:  # in-place changes through the view count against the input too
            result._share_version(args[0])
        if record:
            node = Node(cls, ctx, args)
            node.saved_versions = _versions_of_saved(ctx.saved_arrays, args, result)
            result.requires_grad = True
            result.grad_fn = node
        return result


def _versions_of_saved(saved, args, result):
    """Which tensors' arrays were saved, with their versions now (for in-place checks)."""
    Tensor = _tensor_type
    versions = []
    for array in saved:
        if array is result.data:   # weak: no cycle out -> node -> out
            versions.append((weakref.ref(result), result._version))
            continue
        for a in args:
            if isinstance(a, Tensor) and a.data is array:
                versions.append((a, a._version))
                break
    return tuple(versions)


# --- the backward pass -----------------------------------------------------------

def unbroadcast(grad, shape):
    """Sum ``grad`` over the dimensions broadcasting added or stretched to reach ``shape``."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def _topological_order(root_node):
    """Nodes reachable from root_node, each after every node that feeds into it."""
    Tensor = _tensor_type
    order, visited = [], set()
    stack = [(root_node, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for inp in node.inputs:
            if isinstance(inp, Tensor) and inp.grad_fn is not None and inp.grad_fn not in visited:
                stack.append((inp.grad_fn, False))
    return order  # leaves-side first; the root is last


def run_backward(tensor, grad, retain_graph=False):
    """Accumulate d(tensor)/d(leaf) · grad into every leaf's ``.grad``."""
    # The chain rule: ∂L/∂x = Σ over uses of x of (∂L/∂y)·(∂y/∂x), in reverse topological order
    Tensor = _tensor_type
    root = tensor.grad_fn
    if root is None:  # a leaf: its gradient is the upstream gradient itself
        _accumulate(tensor, grad)
        return
    order = _topological_order(root)
    pending = {root: grad}
    with no_grad():
        for node in reversed(order):
            if node.freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Saved intermediate "
                    "values of the graph are freed when you call .backward(). Specify "
                    "retain_graph=True if you need to backward through the graph a second time.")
            node_grad = pending.pop(node, None)
            if node_grad is None:  # nothing flowed here (e.g. an unused output branch)
                continue
            node.check_versions()
            grads = node.function.backward(node.ctx, node_grad)
            if not isinstance(grads, tuple):
                grads = (grads,)
            for inp, g in zip(node.inputs, grads):
                if g is None or not isinstance(inp, Tensor) or not inp.requires_grad:
                    continue
                g = unbroadcast(g, inp.shape)
                if inp.grad_fn is None:
                    _accumulate(inp, g)
                elif inp.grad_fn in pending:
                    pending[inp.grad_fn] = pending[inp.grad_fn] + g  # out of place: g may alias
                else:
                    pending[inp.grad_fn] = g
            if not retain_graph:
                node.free()


def _accumulate(leaf, g):
    """leaf.grad += g, out of place (g may be shared with another leaf's gradient)."""
    Tensor = _tensor_type
    if g.dtype != leaf.data.dtype:
        g = g.astype(leaf.data.dtype)
    if leaf.grad is None:
        leaf.grad = Tensor(g)
    else:
        leaf.grad = Tensor(leaf.grad.data + g)
