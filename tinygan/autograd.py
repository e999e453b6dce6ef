"""Reverse-mode automatic differentiation: grad mode, the graph, and the backward pass.

When an op runs on tensors that require grad, the Tensor records a :class:`Node`:
the op's Function, its context (what forward saved), and an *edge* per input saying
where that input's gradient goes (the input's own Node, or the input itself when it
is a leaf). :func:`run_backward` walks those nodes from the output back to the
leaves, each after every node that feeds into it (an iterative topological sort,
so a chain of 10,000 ops is fine), calls each op's backward, sums gradients that
arrive from several uses, sums broadcast gradients back to each input's shape
(once, here, for every op), and adds the result into each leaf's ``.grad``.

This file never imports the Tensor: it asks the tensors it is given (``t._wrap(a)``
makes a Tensor of an array, ``t.grad_fn``, ``t.grad``).
"""
from __future__ import annotations

import contextlib
import threading

from . import backend
from .function import Context, Function
from .ops.shapes import sum_to

# --- grad mode -----------------------------------------------------------------

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


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


class _GradMode(contextlib.ContextDecorator):
    """Sets grad mode on enter and restores it on exit (no_grad, enable_grad)."""

    def __init__(self, mode):
        self.mode = mode

    def _recreate_cm(self):
        return _GradMode(self.mode)

    def __enter__(self):
        self.previous = is_grad_enabled()
        _state.enabled = self.mode

    def __exit__(self, *exc):
        _state.enabled = self.previous
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


# --- the graph -----------------------------------------------------------------

_OUTPUT = "output"      # how a saved array is given back to backward (see Node.saved_tensors)
_CONSTANT = "constant"


class Node:
    """One recorded op: the Function, its context, and where each input's gradient goes.

    ``edges[i]`` is None when input i needs no gradient, else ``(target, shape, dtype)``:
    the target is the input's own Node, or the input itself when it is a leaf, and
    shape and dtype are the input's (gradients are summed and cast back to them).
    The graph keeps edges, not the input tensors, so it holds no array that backward
    does not need, and a later in-place write that gives a tensor a new history does
    not change what this op was computed from.
    """

    __slots__ = ("function", "ctx", "edges", "saved", "versions", "released", "__weakref__")

    def __init__(self, function, ctx, edges, args, output):
        self.function, self.ctx, self.edges = function, ctx, edges
        self.released = False          # True once a backward freed what forward saved
        # For each saved array: the input's edge or _OUTPUT (then backward gets it back
        # connected to the graph) or _CONSTANT; and the version of every saved tensor,
        # so that an in-place change before backward is caught.
        self.saved, self.versions = [], []
        for value in ctx.saved_arrays:
            recipe = None
            if value is output.data:
                recipe = _OUTPUT
                self.watch(output)
            elif hasattr(value, "dtype"):
                recipe = _CONSTANT
                for arg, edge in zip(args, edges):
                    if hasattr(arg, "_versions") and arg.data is value:
                        recipe = edge if edge is not None else _CONSTANT
                        self.watch(arg)
                        break
            self.saved.append(recipe)

    def watch(self, tensor):
        """Make a change to ``tensor``'s memory before backward an error (its count of
        changes now is remembered, with its dtype and shape for the message, not the
        tensor itself)."""
        no_grad_view = (tensor._requires_grad and tensor._view is not None
                        and tensor._view.made_in_no_grad)
        self.versions.append((tensor._versions, tensor._version,
                              (tensor._data.dtype, tensor._data.shape), no_grad_view))

    def name(self):
        return f"{self.function.__name__}Backward"

    def __repr__(self):
        return f"<{self.name()}>"

    def check_versions(self):
        for counts, seen, (dtype, shape), made_in_no_grad in self.versions:
            if counts[0] == seen:
                continue
            what = f"[{dtype} tensor of shape {tuple(shape)}]"
            if made_in_no_grad:   # PyTorch's words for this case
                raise RuntimeError(
                    f"A view was created in no_grad mode and its base or another view of its "
                    f"base has been modified inplace: {what}, saved by {self.name()}, is at "
                    f"version {counts[0]}; expected version {seen}. Take the view and write "
                    "both inside tg.no_grad(), or both outside it.")
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: {what}, saved by {self.name()}, is at version "
                f"{counts[0]}; expected version {seen} instead. Compute the loss again after "
                "the in-place change (e.g. after optimizer.step()).")

    def saved_tensors(self, like):
        """What forward saved, as Tensors (``like._wrap``); inputs and the output come back
        on the graph, so that a backward made of Tensor ops can itself be differentiated."""
        tensors = []
        for value, recipe in zip(self.ctx.saved_arrays, self.saved):
            if recipe is None:                       # a number, or None
                tensors.append(value)
            elif recipe is _CONSTANT:
                tensors.append(like._wrap(value))
            elif recipe is _OUTPUT:
                tensors.append(like._wrap(value)._set_graph(self))
            elif not isinstance(recipe[0], Node):   # a leaf input: the leaf itself
                tensors.append(recipe[0])
            else:
                tensors.append(like._wrap(value)._set_graph(recipe[0]))
        return tuple(tensors)

    def free(self):
        """Drop the saved values. The edges stay: a node that saved nothing can be
        walked again by a later backward, as in PyTorch (``y = x + 1`` used twice)."""
        self.released = self.released or any(v is not None for v in self.ctx.saved_arrays)
        self.ctx.saved_arrays = ()
        self.saved, self.versions = [], []


def edge_to(tensor):
    """Where the gradient of an input goes: its Node, or itself when it is a leaf."""
    target = tensor if tensor.grad_fn is None else tensor.grad_fn
    return (target, tensor.shape, tensor.dtype)


class NotTwiceDifferentiable(Function):
    """Stands for the backward of a once-differentiable op inside a graph made with
    ``create_graph=True``: differentiating through it again is an error."""

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(f"{ctx.op}'s backward is written on raw arrays (marked "
                           "once_differentiable): it cannot be differentiated a second time")


# --- the backward pass -----------------------------------------------------------

def _topological_order(root):
    """Nodes reachable from root, each after every node that feeds into it."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
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


def run_backward(tensor, grad, retain_graph=None, create_graph=False):
    """Add d(tensor)/d(leaf) · grad into every leaf's ``.grad`` (grad: a Tensor).

    With ``create_graph`` the backward pass is itself recorded, so the gradients it
    leaves can be differentiated again (a gradient penalty); the graph is then kept.
    """
    # The chain rule: ∂L/∂x = Σ over uses of x of (∂L/∂y)·(∂y/∂x), in reverse topological order
    retain_graph = create_graph if retain_graph is None else retain_graph
    # Arrays others hold: a leaf copies these, never keeps them. Kept by id *with* the array,
    # so that no id is reused by a new array while the pass runs (a stale id would make a
    # leaf copy a gradient it could keep: 0-13 needless copies a GAN step, varying).
    handed_out = {id(grad.data): grad.data}
    root = tensor.grad_fn
    with _GradMode(create_graph), backend.errstate(divide="ignore", invalid="ignore",
                                                  over="ignore"):
        if root is None:           # a leaf: its gradient is the upstream gradient itself
            _accumulate(tensor, grad, handed_out, create_graph)
            return
        pending = {root: grad}
        for node in reversed(_topological_order(root)):
            if node.released:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Saved intermediate "
                    "values of the graph are freed when you call .backward(). Specify "
                    "retain_graph=True if you need to backward through the graph a second time.")
            node_grad = pending.pop(node, None)
            if node_grad is None:  # nothing flowed here (e.g. an unused output branch)
                continue
            node.check_versions()
            grads = _call_backward(node, node_grad, create_graph)
            outgoing = [(edge, g) for edge, g in zip(node.edges, grads)
                        if edge is not None and g is not None]
            if len(outgoing) > 1:  # one array sent down two edges (Add: grad, grad) is shared
                ids = [id(g.data) for _, g in outgoing]
                handed_out.update((id(g.data), g.data) for _, g in outgoing
                                  if ids.count(id(g.data)) > 1)
            for (target, shape, dtype), g in outgoing:
                g = sum_to(g, shape)
                if g.dtype != dtype:   # e.g. a float64 0-d tensor promoted to float32 in the op
                    g = g.to(dtype=dtype)
                if not isinstance(target, Node):
                    if target._view is None or not target._view.made_in_no_grad:
                        _accumulate(target, g, handed_out, create_graph)  # (PyTorch fills no
                elif target in pending:                                    # no_grad view)
                    pending[target] = pending[target] + g   # out of place: g may be held elsewhere
                else:
                    pending[target] = g
                    handed_out[id(g.data)] = g.data
            if not retain_graph:
                node.free()


def _call_backward(node, grad, create_graph):
    """The node's backward on Tensors (or on arrays, for a once-differentiable op)."""
    backward = node.function.backward
    if getattr(backward, "once_differentiable", False):
        grads = backward(node.ctx, grad.data)
        grads = grads if isinstance(grads, tuple) else (grads,)
        grads = tuple(None if g is None else grad._wrap(g) for g in grads)
        if create_graph:
            ctx = Context(())
            ctx.op = node.function.__name__
            stop = Node(NotTwiceDifferentiable, ctx, (), (), grad)
            grads = tuple(None if g is None else g._set_graph(stop) for g in grads)
        return grads
    node.ctx.saved_tensors = node.saved_tensors(grad)
    try:
        grads = backward(node.ctx, grad)
    finally:
        node.ctx.saved_tensors = ()    # the node keeps arrays, not Tensors on the graph
    return grads if isinstance(grads, tuple) else (grads,)


def _accumulate(leaf, g, handed_out, create_graph):
    """leaf.grad += g. The first gradient becomes the leaf's own array, copied unless no
    one else can hold it (a view of another gradient or of a broadcast, or an array
    handed out elsewhere); later ones are added in place, as PyTorch does."""
    if g.dtype != leaf.dtype:
        g = g.to(dtype=leaf.dtype)
    if create_graph:               # keep the history: out of place, differentiable
        leaf.grad = g if leaf.grad is None else leaf.grad + g
        return
    if leaf.grad is None:
        array = g.data
        owned = id(array) not in handed_out and array.base is None and array.flags.c_contiguous
        leaf.grad = leaf._wrap(array if owned else array.copy())
        handed_out[id(leaf.grad.data)] = leaf.grad.data
    else:
        leaf.grad.data += g.data
