"""The Tensor's own state, and ``backward()``: the walk that applies the chain rule.

A Tensor is an array (numpy on "cpu", cupy on "cuda") plus its place in the graph:
``grad_fn``, the node of the op that made it (None for a leaf, a tensor made by the
user), ``requires_grad``, and ``grad``, where backward leaves d(loss)/d(this leaf).

    loss.backward():  nodes in reverse topological order, each after every node it feeds;
                      node.gradients(g) gives its inputs' gradients (their op's backward),
                      summed back over broadcast dims, added up where an input is used
                      twice, and added into each leaf's .grad at the end of the line.

Everything a user calls by PyTorch's names (``x * y``, ``x.sum(1)``, ``t[0] = 1``) is
the PyTorch layer around this class (tinygan/tensor.py and tinygan/methods/).
"""
from __future__ import annotations

import collections

import numpy as np

from .. import backend
from ..dtypes import get_default_dtype
from .function import Function, Variable, is_grad_enabled
from .function import _state as grad_mode
from .ops import add, sum_to, to


class Tensor(Variable):
    """An n-dimensional array that records the ops applied to it for autograd."""

    __slots__ = ("_data", "_requires_grad", "_grad", "_grad_fn", "_versions", "_view",
                 "__weakref__")

    def __init__(self, data, requires_grad=False):
        """Wrap a numpy/cupy array as it is (no copy)."""
        self._data = data                 # numpy.ndarray or cupy.ndarray, used as is
        self._grad = None                 # .grad: a Tensor after backward, or None
        self._grad_fn = None              # the node (a Function) that made this tensor
        self._requires_grad = False
        # [in-place changes, recorded writes], shared by views and detached copies (which
        # share the memory): the first catches stale saved values, the second stale views
        self._versions = [0, 0]
        self._view = None                 # a ViewOf, for a view of another tensor
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array):
        """A tensor holding ``array`` (no copy, no graph), of this class."""
        t = object.__new__(cls)
        t._data, t._grad, t._grad_fn, t._requires_grad = array, None, None, False
        t._versions, t._view = [0, 0], None
        return t

    grad = property(lambda self: self._grad, lambda self, value: setattr(self, "_grad", value),
                    doc="d(loss)/d(this leaf) after backward, else None (the layer checks it).")

    @property
    def shape(self):
        return tuple(self._data.shape)

    @property
    def ndim(self):
        return self._data.ndim

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self):
        return backend.TENSOR_DEVICES[backend.device_of(self._data)]

    # --- the graph ------------------------------------------------------------------------
    @property
    def grad_fn(self):
        """The node that made this tensor (None for a leaf)."""
        if self._view is not None and self._view.stale(self):
            self._refresh_view()
        return self._grad_fn

    @property
    def requires_grad(self):
        if self._view is not None and self._view.stale(self):
            self._refresh_view()
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(f"only floating point tensors can require gradients, "
                               f"got dtype {self._data.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; "
                               "use detach() to cut a tensor from the graph")
        self._requires_grad = bool(requires_grad)
        return self

    def _set_graph(self, node):
        """Make ``node`` this tensor's history (None: a leaf that needs no gradient)."""
        self._grad_fn = node
        self._requires_grad = node is not None
        return self

    def _edge(self):
        """Where this tensor's gradient goes: its node, or itself when it is a leaf; with
        the shape and dtype the gradient is summed and cast back to."""
        node = self.grad_fn
        return (self if node is None else node), self._data.shape, self._data.dtype

    def detach(self):
        """The same array, cut from the graph (shares memory, as in PyTorch)."""
        detached = self._wrap(self._data)
        detached._versions = self._versions
        return detached

    def new_zeros(self, size):
        """Zeros of ``size`` with this tensor's dtype and device."""
        xp = backend.array_module(self._data)
        return self._wrap(xp.zeros(size, dtype=self._data.dtype))

    def _checked_gradient(self, gradient):
        """backward's ``gradient``: a Tensor (or a list or array, read as tg.Tensor reads it)
        on this tensor's device, of its shape, cast to its dtype."""
        if not isinstance(gradient, Tensor):
            array = gradient if hasattr(gradient, "shape") and not isinstance(
                gradient, np.generic) else np.asarray(gradient, dtype=get_default_dtype())
            gradient = self._wrap(array)
        backend.check_same_device(self._data, gradient._data, op="backward")
        if gradient.shape != self.shape:
            raise RuntimeError(f"backward: gradient has shape {tuple(gradient.shape)} but the "
                               f"tensor has shape {tuple(self.shape)}")
        return gradient if gradient.dtype == self.dtype else to(gradient, dtype=self.dtype)

    # --- views: a view remembers its base and the ops that made it --------------------------
    def _make_view_of(self, source, function, kwargs):
        self._versions = source._versions
        made_in_no_grad = not is_grad_enabled()
        base, steps = source, ()
        if source._view is not None:
            base, steps = source._view.base, source._view.steps
            made_in_no_grad = made_in_no_grad or source._view.made_in_no_grad
        self._view = ViewOf(base, steps + ((function, kwargs),), tuple(self._versions),
                            made_in_no_grad, source._view and source._view.one_of_many)
        if not is_grad_enabled() and source.requires_grad:
            # PyTorch's rule: a view of a tensor that requires grad requires grad, even
            # when made under no_grad; it has no history, and backward puts nothing in it
            self._requires_grad = True

    def _refresh_view(self):
        """Remake this view's history from its base, after a recorded write into the base."""
        view = self._view
        self._view = view._replace(versions_seen=tuple(self._versions))
        fresh = view.base
        for function, kwargs in view.steps:
            fresh = function.apply(fresh, **kwargs)
        self._grad_fn, self._requires_grad = fresh._grad_fn, fresh._requires_grad

    # --- backward -------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate the gradient of this tensor into every leaf's ``.grad``.

        ``gradient`` is d(something)/d(self); it may be omitted only for a scalar.
        ``create_graph=True`` records the backward pass too, so the gradients can be
        differentiated again (the graph is then kept).
        """
        node = self.grad_fn                  # (a stale view remakes its history first)
        no_grad_view = self._view is not None and self._view.made_in_no_grad
        if not self._requires_grad or (no_grad_view and node is None):
            raise RuntimeError("element 0 of tensors does not require grad and does not "
                               "have a grad_fn: nothing to differentiate")
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                                   f"this tensor has shape {tuple(self.shape)}: pass "
                                   "backward(gradient) with a tensor of that shape")
            gradient = self._wrap(backend.array_module(self._data).ones_like(self._data))
        else:
            gradient = self._checked_gradient(gradient)
        run_backward((self,), (gradient,), retain_graph=retain_graph, create_graph=create_graph)


class ViewOf(collections.namedtuple("ViewOf", "base steps versions_seen made_in_no_grad "
                                                "one_of_many", defaults=(None,))):
    """What a view remembers: its base, the view ops that made it from the base, the memory's
    counts of changes when its history was made, whether it was made under no_grad, and
    ``one_of_many``: for a piece of split, chunk or unbind (or a view of one), the op's name
    and the piece's place, which PyTorch refuses to write into when a gradient is involved
    (one node made all the pieces: it cannot take a write into one of them)."""

    __slots__ = ()

    def stale(self, view):
        """True when a recorded write changed the memory's history since view's was made."""
        changes, writes = view._versions
        if self.made_in_no_grad or self.one_of_many:
            # refused once the memory changed under it (any change if it requires grad, else
            # a recorded write), as in PyTorch
            if writes != self.versions_seen[1] or (
                    view._requires_grad and changes != self.versions_seen[0]):
                raise RuntimeError(self.refusal("its base or another view of its base has "
                                                "been modified inplace"))
            return False
        return writes != self.versions_seen[1]

    def refusal(self, what):
        """The error for a write that reaches this view, ``what`` saying which write."""
        if self.made_in_no_grad:
            return (f"A view was created in no_grad mode and {what}: which history it has is "
                    "ambiguous, so it is refused (as in PyTorch). Take the view and write both "
                    "inside tg.no_grad(), or both outside it.")
        name, place = self.one_of_many
        return (f"Output {place} of {name} is a view and {what}. This view is one of several "
                f"that {name} returns, which may not be modified inplace (as in PyTorch): "
                "write into an out-of-place copy (.clone()) instead.")


# --- the walk ------------------------------------------------------------------------------

def _topological_order(roots):
    """Nodes reachable from the roots, each after every node that feeds into it (iterative,
    so a chain of 10,000 ops is fine); the roots come last."""
    order, visited = [], set()
    stack = []
    for root in roots:
        stack.append((root, False))
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
            if edge is not None and isinstance(edge[0], Function) and edge[0] not in visited:
                stack.append((edge[0], False))
    return order


def run_backward(tensors, grads, retain_graph=None, create_graph=False, inputs=None):
    """Add d(tensors)/d(leaf) · grads into every leaf's ``.grad`` (grads: a Tensor for each).

    With ``create_graph`` the backward pass is itself recorded, so the gradients it
    leaves can be differentiated again (a gradient penalty); the graph is then kept.
    With ``inputs``, tensors (autograd.grad), it returns the gradient reaching each of them
    (None where none does) instead: no ``.grad`` is written, and only the nodes that lead to
    one of them run.
    """
    # The chain rule: ∂L/∂x = Σ over uses of x of (∂L/∂y)·(∂y/∂x), in reverse topological order
    retain_graph = create_graph if retain_graph is None else retain_graph
    # Arrays others hold, by id *with* the array (so no id is reused while the pass runs): a
    # leaf copies these for its .grad, never keeps them.
    handed_out, pending, edges = {}, {}, []
    if inputs is not None:         # where their gradients arrive: their nodes, or leaves
        wanted = inputs
        inputs = {id(t.grad_fn or t): None for t in wanted}
    for tensor, grad in zip(tensors, grads):
        handed_out[id(grad._data)] = grad._data
        edges.append((tensor.grad_fn or tensor, tensor._data.shape, tensor._data.dtype))
    _pass_on(edges, grads, pending, handed_out, create_graph, inputs)   # a leaf root: its .grad
    order = _topological_order(pending)
    leading = None if inputs is None else _leading_to(order, inputs)
    recording, grad_mode.enabled = is_grad_enabled(), create_graph   # record the pass, or not
    try:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):   # (CuPy never warns)
            for node in reversed(order):
                if leading is not None:   # autograd.grad: collect, and run only what leads on
                    if id(node) in inputs:
                        inputs[id(node)] = pending.get(node)
                    if id(node) not in leading:
                        continue
                if node.released:
                    raise RuntimeError(
                        "Trying to backward through the graph a second time (or directly "
                        "access saved tensors after they have already been freed). Saved "
                        "intermediate values of the graph are freed when you call .backward(). "
                        "Specify retain_graph=True if you need to backward through the graph "
                        "a second time.")
                node_grad = pending.pop(node, None)
                if node_grad is None:  # nothing flowed here (e.g. an unused output branch)
                    continue
                node.check_versions()
                grads = node.gradients(node_grad, create_graph)
                _pass_on(node.edges, grads, pending, handed_out, create_graph, inputs)
                if not retain_graph:
                    node.free()
    finally:
        grad_mode.enabled = recording
    if inputs is not None:
        return tuple(inputs[id(t.grad_fn or t)] for t in wanted)


def _leading_to(order, inputs):
    """The ids of the nodes in ``order`` from which a gradient flows to one of ``inputs``."""
    leading = set()
    for node in order:             # each node after every node that feeds into it
        for edge in node.edges:
            if edge is not None and (id(edge[0]) in inputs or id(edge[0]) in leading):
                leading.add(id(node))
                break
    return leading


def _pass_on(edges, grads, pending, handed_out, create_graph, inputs=None):
    """Send each input's gradient down its edge: summed back to the input's shape and cast
    to its dtype, into a leaf's .grad (or ``inputs``) or added to what its node already has
    pending."""
    if len(grads) > 1:             # one array sent down two edges (Add: grad, grad) is shared
        seen = set()
        for g in grads:
            if g is not None:
                if id(g._data) in seen:
                    handed_out[id(g._data)] = g._data
                seen.add(id(g._data))
    for edge, g in zip(edges, grads):
        if edge is None or g is None:
            continue
        target, shape, dtype = edge
        if g._data.shape != shape:     # broadcast in forward: sum back to the input's shape
            g = sum_to(g, shape)
        if g._data.dtype != dtype:     # e.g. a float64 0-d tensor met a float32 one
            g = to(g, dtype=dtype)
        if not isinstance(target, Function):
            if inputs is not None:     # autograd.grad: collected, out of place
                if id(target) in inputs:
                    held = inputs[id(target)]
                    inputs[id(target)] = g if held is None else add(held, g)
            # (PyTorch fills no .grad of a view made under no_grad)
            elif target._view is None or not target._view.made_in_no_grad:
                _accumulate(target, g, handed_out, create_graph)
        elif target in pending:        # out of place: g may be held elsewhere
            pending[target] = add(pending[target], g)
        else:
            pending[target] = g
            handed_out[id(g._data)] = g._data


def _accumulate(leaf, g, handed_out, create_graph):
    """leaf.grad += g. The first gradient becomes the leaf's own array, copied unless no
    one else can hold it (a view of another gradient or of a broadcast, or an array
    handed out elsewhere); later ones are added in place, as PyTorch does."""
    if g._data.dtype != leaf._data.dtype:
        g = to(g, dtype=leaf._data.dtype)
    if create_graph:               # keep the history: out of place, differentiable
        leaf._grad = g if leaf._grad is None else add(leaf._grad, g)
        return
    if leaf._grad is None:
        array = g._data
        owned = id(array) not in handed_out and array.base is None and array.flags.c_contiguous
        leaf._grad = g._wrap(array if owned else array.copy())   # a plain Tensor, as g
        handed_out[id(leaf._grad._data)] = leaf._grad._data
    else:
        leaf._grad._data += g._data
