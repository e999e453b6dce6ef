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
    can skip work nobody will use (e.g. the image gradient of D's first layer),
    and forward can save only what that backward will read (as PyTorch does:
    ``x * w`` with only ``w`` requiring grad keeps ``x``, not ``w``).
    """

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved_arrays = ()
        self.is_view = False   # forward sets True when its output shares the input's memory

    def save_for_backward(self, *arrays):
        """Keep these (arrays, numbers or None) for backward; freed after backward."""
        self.saved_arrays = arrays


class Node:
    """One recorded op: the Function, its context, and where each input's gradient goes.

    ``edges[i]`` is None when input i needs no gradient, else ``(target, shape, dtype)``:
    the target is the input's own Node, or the input itself when it is a leaf, and
    the shape and dtype are the input's (gradients are summed and cast back to them).
    Edges, not the input Tensors, are kept, so the graph holds no array that
    backward does not need, and a later in-place write that gives a tensor a new
    ``grad_fn`` does not change what this op was computed from.
    """

    __slots__ = ("function", "ctx", "edges", "saved_versions", "released", "__weakref__")

    def __init__(self, function, ctx, edges):
        self.function = function
        self.ctx = ctx
        self.edges = edges
        self.saved_versions = ()          # (tensor or weakref to it, version at save time)
        self.released = False             # True once saved values were freed by a backward

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
        """Drop the saved values. The edges stay: a node that saved nothing can be
        walked again by a later backward, as in PyTorch (``y = x + 1`` used twice)."""
        self.released = self.released or any(item is not None for item in self.ctx.saved_arrays)
        self.ctx.saved_arrays = ()
        self.saved_versions = ()


_tensor_type = None


def register_tensor_type(cls):
    """tensor.py registers its Tensor class so Function.apply can build outputs."""
    global _tensor_type
    _tensor_type = cls


class Function:
    """Base class of differentiable ops: subclass and write forward and backward.

    ``backward`` returns one gradient per positional input of ``forward`` (a
    single array when there is one input); ``None`` where no gradient flows. It
    must not modify the gradient it is given (other inputs may hold it too).
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
        result = Tensor(out)
        if ctx.is_view:  # the output shares args[0]'s memory: a view, as in PyTorch
            result._make_view_of(args[0], cls, kwargs)
        if record and result.dtype.kind == "f":   # integer and bool results have no gradient
            edges = tuple(_edge(a) if need else None for a, need in zip(args, needs))
            node = Node(cls, ctx, edges)
            node.saved_versions = _versions_of_saved(ctx.saved_arrays, args, result)
            result._set_graph(node)
        return result


def _edge(tensor):
    target = tensor if tensor.grad_fn is None else tensor.grad_fn
    return (target, tensor.shape, tensor.dtype)


def _versions_of_saved(saved, args, result):
    """Which tensors' arrays were saved, with their versions now (for in-place checks)."""
    Tensor = _tensor_type
    versions = []
    for array in saved:
        if array is None:
            continue
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
    if grad.ndim < len(shape):    # t[i] = v with v of shape (1, n): leading 1s numpy dropped
        return grad.reshape(shape)
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def _topological_order(root_node):
    """Nodes reachable from root_node, each after every node that feeds into it."""
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
        for edge in node.edges:
            if edge is not None and isinstance(edge[0], Node) and edge[0] not in visited:
                stack.append((edge[0], False))
    return order  # leaves-side first; the root is last


def run_backward(tensor, grad, retain_graph=False):
    """Accumulate d(tensor)/d(leaf) · grad into every leaf's ``.grad``."""
    # The chain rule: ∂L/∂x = Σ over uses of x of (∂L/∂y)·(∂y/∂x), in reverse topological order
    root = tensor.grad_fn
    handed_out = {id(grad)}   # arrays someone else holds: a leaf must copy these, not keep them
    if root is None:          # a leaf: its gradient is the upstream gradient itself
        _accumulate(tensor, grad, handed_out)
        return
    order = _topological_order(root)
    pending = {root: grad}
    with no_grad():
        for node in reversed(order):
            if node.released:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Saved intermediate "
                    "values of the graph are freed when you call .backward(). Specify "
                    "retain_graph=True if you need to backward through the graph a second time.")
            node_grad = pending.pop(node, None)
            if node_grad is None:  # nothing flowed here (e.g. an unused output branch)
                continue
            if isinstance(node_grad, np.generic):   # NumPy's 0-d sums are scalars; backward
                node_grad = np.asarray(node_grad)   # rules may index their gradient arrays
            node.check_versions()
            grads = node.function.backward(node.ctx, node_grad)
            if not isinstance(grads, tuple):
                grads = (grads,)
            outgoing = [(edge, g) for edge, g in zip(node.edges, grads)
                        if edge is not None and g is not None]
            if len(outgoing) > 1:  # one array sent down two edges (Add: grad, grad) is shared
                ids = [id(g) for _, g in outgoing]
                handed_out.update(i for i in ids if ids.count(i) > 1)
            for (target, shape, dtype), g in outgoing:
                g = unbroadcast(g, shape)
                if g.dtype != dtype:   # e.g. a float64 0-d tensor promoted to float32 in the op
                    g = g.astype(dtype)
                if isinstance(g, np.generic):   # a leaf's .grad is an array, never a scalar
                    g = np.asarray(g)
                if not isinstance(target, Node):
                    if target._view is None or not target._view.made_in_no_grad:
                        _accumulate(target, g, handed_out)   # (PyTorch fills no no_grad view)
                elif target in pending:
                    pending[target] = pending[target] + g  # out of place: g may be held elsewhere
                else:
                    pending[target] = g
                    handed_out.add(id(g))
            if not retain_graph:
                node.free()


def _accumulate(leaf, g, handed_out):
    """leaf.grad += g; the first gradient becomes the leaf's own array (copied unless no one
    else can hold it: a view (of a broadcast, of another gradient) or one handed out elsewhere)."""
    Tensor = _tensor_type
    if g.dtype != leaf.data.dtype:
        g = g.astype(leaf.data.dtype)
    if leaf.grad is None:
        owned = id(g) not in handed_out and g.base is None and g.flags.c_contiguous
        leaf.grad = Tensor(g if owned else g.copy())
        handed_out.add(id(leaf.grad.data))
    else:
        leaf.grad.data += g   # in place, as PyTorch: a reference to .grad sees the sum
