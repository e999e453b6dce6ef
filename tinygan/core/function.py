"""What an op is, and how running one records it in the graph.

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):                  # a, b: raw arrays (numpy; cupy on "cuda")
            ctx.save_for_backward(a, b)          # what backward will read
            return a * b

        @staticmethod
        def backward(ctx, grad):                 # grad: a Tensor
            a, b = ctx.saved_tensors             # Tensors again, on the graph
            return mul(grad, b), mul(grad, a)    # d(ab)/da = b, d(ab)/db = a

``Mul.apply(x, y)`` runs it on tensors. One object per op: the instance of the Function
that ``apply`` makes is the op's *context* (what forward saved for backward) and its
*node* in the graph (where each input's gradient goes), as in tinygrad.

    x ──┐                             forward runs left to right and records a node per op;
        ├─[Mul]── z ──[Sum]── loss    loss.backward() (tensor.py) walks the nodes right to
    y ──┘                             left, each one's backward giving its inputs' gradients

Forward works on raw arrays, because that is where the numbers are computed. Backward
works on Tensors, with the same ops (``mul``, not the ``*`` of the PyTorch layer, which
checks and promotes), so that a backward can itself be differentiated
(``create_graph=True``, which a gradient penalty needs). A backward written on raw arrays
for speed is marked ``@once_differentiable``.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from .. import backend

# --- grad mode: whether ops record the graph -----------------------------------------------

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


class _GradMode(contextlib.ContextDecorator):
    """Sets grad mode on enter and restores it on exit (no_grad, enable_grad, backward)."""

    def __init__(self, mode):
        self.mode = mode

    def _recreate_cm(self):            # each decorated call saves its own previous mode
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


class Variable:
    """What the graph needs of a tensor (tensor.py's Tensor is one): ``_data``, ``_grad_fn``,
    ``_requires_grad``, ``_versions``, ``_view`` and ``_wrap(array)``."""

    __slots__ = ()


# --- the op: forward, backward, and its node in the graph ----------------------------------

class Function:
    """Base class of differentiable ops: subclass it and write forward and backward.

    ``backward`` returns one gradient per positional input of ``forward`` (a single value
    when there is one input), ``None`` where no gradient flows, of the input's shape or
    one that broadcasts to it (the walk sums it back). It must not write into the
    gradient it is given (other nodes may hold it too). Keyword arguments of ``apply`` go
    to ``forward`` and never get a gradient.

    In forward, ``ctx.needs_input_grad[i]`` says whether input i will want a gradient
    (forward keeps only what those backwards read, as PyTorch does), and ``ctx.is_view =
    True`` says the output shares the first input's memory. Plain attributes
    (``ctx.axis = 1``) carry the rest; ``edges``, ``saved``, ``versions`` and ``released``
    are the node's own.
    """

    is_view = False
    saved = ()            # what backward reads: (how to give it back, value) pairs
    released = False      # True once a backward freed what forward saved

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run this op on Tensors (and numbers); record it when a gradient will be wanted."""
        # 1. The context: which inputs want a gradient (none while grad mode is off).
        ctx = cls()
        recording = is_grad_enabled()
        first, arrays, needs, requires = None, [], [], False
        for a in args:
            if isinstance(a, Variable):
                if first is None:
                    first = a
                elif type(a._data) is not type(first._data):
                    backend.check_same_device(first._data, a._data, op=cls.__name__)
                arrays.append(a._data)
                wants = recording and a.requires_grad
                requires = requires or wants
                # a view made under no_grad requires grad but takes none (PyTorch's rule)
                needs.append(wants and (a._grad_fn is not None or a._view is None
                                        or not a._view.made_in_no_grad))
            else:
                arrays.append(a)
                needs.append(False)
        if first is None:
            raise TypeError(f"{cls.__name__}.apply needs at least one Tensor argument, got "
                            f"{', '.join(type(a).__name__ for a in args) or 'none'}")
        ctx.needs_input_grad = tuple(needs)
        ctx._inputs = arrays
        # 2. Forward, on the arrays (NumPy gives a scalar for a 0-d result: made an array).
        raw = ctx.forward(ctx, *arrays, **kwargs)
        out = first._wrap(np.asarray(raw) if isinstance(raw, np.generic) else raw)
        del ctx._inputs
        if ctx.is_view:   # the output shares args[0]'s memory: a view, as in PyTorch
            out._make_view_of(args[0], cls, kwargs)
        # 3. The history: a node for the output when an input requires a gradient
        #    (integer and bool results never require one).
        if requires and out._data.dtype.kind == "f":
            ctx.edges = tuple(a._edge() if need else None for a, need in zip(args, needs))
            ctx._wrap = first._wrap
            ctx._settle_saved(args, raw, out)
            out._grad_fn, out._requires_grad = ctx, True
        return out

    # --- what forward keeps for backward ---------------------------------------------------

    def save_for_backward(self, *values):
        """Keep what backward reads: arrays, numbers or None. An input or the output comes
        back in ``saved_tensors`` as a Tensor on the graph (so that a backward made of ops
        is differentiable again); any other array as a constant Tensor."""
        inputs = self._inputs
        saved = []
        for value in values:
            for i, array in enumerate(inputs):
                if value is array and hasattr(value, "dtype"):
                    saved.append((i, value))     # input i
                    break
            else:
                saved.append((_CONSTANT if hasattr(value, "dtype") else None, value))
        self.saved = saved

    def _settle_saved(self, args, raw, out):
        """Resolve the saved values once the output exists (``raw``, as forward returned it),
        and watch every saved tensor, so that an in-place change to one before backward is
        an error."""
        self.versions = []
        saved = []
        for how, value in self.saved:
            if how is _CONSTANT and value is raw:
                how, value = _OUTPUT, out._data
                self.watch(out)
            elif isinstance(how, int):
                if isinstance(args[how], Variable):
                    self.watch(args[how])
                if self.edges[how] is None:      # an input needing no gradient: a constant
                    how = _CONSTANT
            saved.append((how, value))
        self.saved = saved

    @property
    def saved_tensors(self):
        """What forward saved, as Tensors: an input or the output on the graph, so that a
        backward made of ops can be differentiated again; numbers and None as they are."""
        wrap = self._wrap
        tensors = []
        for how, value in self.saved:
            if how is None:                                  # a number, or None
                tensors.append(value)
            elif how is _CONSTANT:
                tensors.append(wrap(value))
            elif how is not _OUTPUT and not isinstance(self.edges[how][0], Function):
                tensors.append(self.edges[how][0])           # an input leaf: the leaf itself
            else:                                            # the output, or an input made
                t = wrap(value)                              # by an op: on its node
                t._grad_fn = self if how is _OUTPUT else self.edges[how][0]
                t._requires_grad = True
                tensors.append(t)
        return tuple(tensors)

    def watch(self, tensor):
        """Make a change to ``tensor``'s memory before backward an error: remember its
        count of changes now (with its dtype and shape for the message, not the tensor)."""
        no_grad_view = (tensor._requires_grad and tensor._view is not None
                        and tensor._view.made_in_no_grad)
        self.versions.append((tensor._versions, tensor._versions[0],
                              (tensor._data.dtype, tensor._data.shape), no_grad_view))

    def check_versions(self):
        for counts, seen, (dtype, shape), made_in_no_grad in getattr(self, "versions", ()):
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

    def free(self):
        """Drop the saved values; the edges stay (a node that saved nothing can be walked
        again, as in PyTorch: ``y = x + 1`` used twice)."""
        for _, value in self.saved:
            if value is not None:
                self.released = True
        self.saved, self.versions = (), ()

    # --- backward, as the walk (tensor.py) calls it ----------------------------------------

    def gradients(self, grad, create_graph):
        """The gradients of this node's inputs, given the gradient of its output."""
        backward = self.backward
        if getattr(backward, "once_differentiable", False):
            if not create_graph or not hasattr(self, "backward_on_graph"):
                return _array_backward(self, grad, create_graph)
            backward = self.backward_on_graph       # its twin made of ops, for create_graph
        grads = backward(self, grad)
        return grads if isinstance(grads, tuple) else (grads,)

    def name(self):
        return f"{type(self).__name__}Backward"

    def __repr__(self):
        return f"<{self.name()}>"


_OUTPUT = "output"       # how a saved value comes back: the output, on the graph;
_CONSTANT = "constant"   # an array, off the graph; an int: that input, on the graph


def once_differentiable(backward):
    """Mark a backward written on raw arrays: fast, but not differentiable again.

    It receives the gradient as an array and reads ``ctx.saved_arrays``; the engine
    wraps what it returns. Under ``create_graph=True`` its results carry a node that
    refuses a second backward, as PyTorch's ``@once_differentiable`` does.
    """
    backward.once_differentiable = True
    return backward


def _array_backward(node, grad, create_graph):
    node.saved_arrays = tuple(value for _, value in node.saved)
    grads = node.backward(node, grad._data)
    grads = grads if isinstance(grads, tuple) else (grads,)
    grads = tuple(None if g is None else grad._wrap(g) for g in grads)
    if create_graph:
        stop = NotTwiceDifferentiable()
        stop.op, stop.edges = type(node).__name__, ()
        grads = tuple(None if g is None else g._set_graph(stop) for g in grads)
    return grads


class NotTwiceDifferentiable(Function):
    """Stands for the backward of a once-differentiable op inside a graph made with
    ``create_graph=True``: differentiating through it again is an error."""

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(f"{ctx.op}'s backward is written on raw arrays (marked "
                           "once_differentiable): it cannot be differentiated a second time")
