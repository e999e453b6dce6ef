"""The Tensor: an array (numpy on "cpu", cupy on "cuda") plus its place in the graph.

Names and behaviour follow PyTorch, so code from a PyTorch course reads the same:

>>> import tinygan as tg
>>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
tensor([[2., 4.],
        [6., 8.]])

Every method that computes something checks its arguments, settles the dtype by
PyTorch's rules (:mod:`tinygan.dtypes`) and applies an op of :mod:`tinygan.ops`
(``Exp.apply(x)``); :meth:`Tensor.apply_function` runs the op and records it in the
graph (:mod:`tinygan.autograd`) when a gradient will be wanted. In-place changes
(``add_``, ``t[i] = v``, ``+=``) are recorded too, also through views, as PyTorch
records them. One difference: ``Tensor.data`` is the raw numpy/cupy array.
"""
from __future__ import annotations

import builtins
import collections
import math
import numbers

import numpy as np

from . import backend
from .autograd import (Node, edge_to, enable_grad, is_grad_enabled, no_grad,  # noqa: F401
                       run_backward, set_grad_enabled)
from .dtypes import (bool_, can_cast, float16, float32, float64, get_default_dtype,  # noqa: F401
                     int32, int64, is_number, promote_types, result_type, set_default_dtype,
                     uint8)
from .function import Context
from .ops.activations import HyperbolicTangent, Logistic, Rectify
from .ops.arithmetic import Add, Div, Mul, Neg, Pow, Reciprocal, Remainder, Sub
from .ops.conversions import Clone, To
from .ops.elementwise import Abs, Clamp, Exp, Log, Log1p, Maximum, Minimum, Sign, Sqrt
from .ops.matmul import MatMul
from .ops.reductions import MaxAll, MaxAlong, Mean, SqrtOfVar, Sum, Var
from .ops.shapes import (CopySlices, Expand, Gather, GetItem, Permute, Reshape, SetItem,
                         is_array_index)
from .ops.softmax import LogNormalizedExp, LogSumExp, NormalizedExp

MaxResult = collections.namedtuple("MaxResult", ["values", "indices"])


class Tensor:
    """An n-dimensional array that records the ops applied to it for autograd."""

    __slots__ = ("_data", "_requires_grad", "grad", "_grad_fn", "_versions", "_view",
                 "__weakref__")
    __array_priority__ = 1000  # numpy_scalar * tensor calls Tensor.__rmul__

    def __init__(self, data, requires_grad=False):
        """Wrap a numpy/cupy array as is (no copy). Python numbers and nested lists become
        a float32 array, as ``torch.Tensor([[1, 2], [3, 4]])`` does."""
        if isinstance(data, Tensor):
            raise TypeError("Tensor(t) with a Tensor: use t.detach() or t.clone()")
        if isinstance(data, np.generic):  # numpy gives scalars for 0-d results; keep arrays
            data = np.asarray(data)
        elif not hasattr(data, "dtype"):
            data = np.array(data, dtype=get_default_dtype())
        self._data = data                 # numpy.ndarray or cupy.ndarray, used as is
        self.grad = None                  # a Tensor after backward, or None
        self._grad_fn = None              # the autograd Node that made this tensor
        self._requires_grad = False
        # [in-place changes, recorded writes]: shared by views and detached copies, which
        # share the memory. The first catches stale saved values; the second stale views.
        self._versions = [0, 0]
        self._view = None                 # a ViewOf, for a view of another tensor
        if requires_grad:
            self.requires_grad_(True)

    # --- the array underneath ----------------------------------------------------------
    @property
    def data(self):
        """The underlying numpy or cupy array (no copy)."""
        return self._data

    @data.setter
    def data(self, array):
        if tuple(array.shape) != tuple(self._data.shape):
            raise ValueError(f"data of shape {tuple(array.shape)} cannot replace "
                             f"data of shape {tuple(self._data.shape)}")
        backend.check_same_device(self._data, array, op="Tensor.data assignment")
        self._data = array
        self._bump_version()

    @property
    def shape(self):
        return tuple(self._data.shape)

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self):
        return backend.device_of(self._data)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def size(self, dim=None):
        """The shape, or the length of one dimension (negative dims count from the end)."""
        if dim is None:
            return self.shape
        return self.shape[_check_dim(dim, self.ndim)]

    def numel(self):
        return int(self._data.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def item(self):
        """The single value as a Python number (a device-to-host copy on "cuda")."""
        if self._data.size != 1:
            raise ValueError(f"a Tensor with {self._data.size} elements cannot be converted "
                             "to a Python scalar; item() needs exactly one element")
        return self._data.item()

    def numpy(self):
        """A numpy array; on "cpu" it shares memory with the tensor, as in PyTorch."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return backend.to_numpy(self._data)

    def tolist(self):
        return backend.to_numpy(self._data).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of a Tensor with {self._data.size} elements is "
                               "ambiguous; use .any() or .all()")
        return bool(self.item())

    def __repr__(self):
        host = backend.to_numpy(self._data)
        # PyTorch's look: "1." when every value is whole, else four fixed decimals ("0.6931").
        whole = (host.dtype.kind != "f" or not np.all(np.isfinite(host))
                 or np.all(host == np.round(host)))
        values = np.array2string(host, separator=", ", precision=4, prefix="tensor(",
                                 floatmode="maxprec" if whole else "fixed")
        extras = []
        if self.device != backend.CPU:
            extras.append(f"device='{self.device}'")
        if self.dtype != get_default_dtype() and self.dtype.kind == "f":
            extras.append(f"dtype=tinygan.{self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([values] + extras) + ")"

    def __format__(self, format_spec):
        """``f"{loss:.3f}"``: a 0-d tensor formats as its number, as in PyTorch; any other
        tensor only with an empty spec (then it is ``str(t)``)."""
        if self.ndim == 0:
            return self.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    __hash__ = object.__hash__

    # --- the graph -----------------------------------------------------------------------
    @property
    def grad_fn(self):
        """The Node that made this tensor (None for a leaf)."""
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

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(f"only floating point tensors can require gradients, "
                               f"got dtype {self._data.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables; "
                               "use detach() to cut a tensor from the graph")
        self._requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate the gradient of this tensor into every leaf's ``.grad``.

        ``gradient`` is d(something)/d(self); it may be omitted only for a scalar.
        ``create_graph=True`` records the backward pass too, so the gradients can be
        differentiated again (the graph is then kept).
        """
        no_grad_view = self._view is not None and self._view.made_in_no_grad
        if not self.requires_grad or (no_grad_view and self.grad_fn is None):
            raise RuntimeError("element 0 of tensors does not require grad and does not "
                               "have a grad_fn: nothing to differentiate")
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                                   f"this tensor has shape {self.shape}: pass "
                                   "backward(gradient) with a tensor of that shape")
            gradient = Tensor(backend.array_module(self._data).ones_like(self._data))
        elif not isinstance(gradient, Tensor):
            gradient = Tensor(gradient)
        backend.check_same_device(self._data, gradient.data, op="backward")
        if gradient.shape != self.shape:
            raise RuntimeError(f"backward: gradient has shape {gradient.shape} but the "
                               f"tensor has shape {self.shape}")
        if gradient.dtype != self.dtype:
            gradient = gradient.to(dtype=self.dtype)
        run_backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self):
        """The same array, cut from the graph (shares memory, as in PyTorch)."""
        detached = Tensor(self._data)
        detached._versions = self._versions
        return detached

    def clone(self):
        """A copy that stays on the graph (its gradient flows back to self)."""
        return Clone.apply(self)

    @staticmethod
    def apply_function(function, args, kwargs):
        """Run ``function`` (an op) on these arguments; record it when a gradient will be
        wanted. ``Function.apply`` comes here (tinygan.function)."""
        tensors = [a for a in args if isinstance(a, Tensor)]
        if len(tensors) > 1:
            backend.check_same_device(*(t.data for t in tensors), op=function.__name__)
        requires = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        # A view made under no_grad of a tensor that requires grad requires grad too, but
        # no gradient goes into it (PyTorch gives it no grad accumulator): its input needs
        # none, so its value is not kept and a later write into its base is no error.
        needs = tuple(r and (a._grad_fn is not None or a._view is None
                             or not a._view.made_in_no_grad) for a, r in zip(args, requires))
        ctx = Context(needs)
        out = function.forward(ctx, *[a._data if isinstance(a, Tensor) else a for a in args],
                               **kwargs)
        result = Tensor(out)
        if ctx.is_view:  # the output shares args[0]'s memory: a view, as in PyTorch
            result._make_view_of(args[0], function, kwargs)
        if any(requires) and is_grad_enabled() and result.dtype.kind == "f":
            edges = tuple(edge_to(a) if need else None for a, need in zip(args, needs))
            result._set_graph(Node(function, ctx, edges, args, result))
        return result     # (integer and bool results never require grad)

    def _keeps(self, *tensors):
        """Make a write into any of ``tensors`` before this tensor's backward an error, as
        if the op that made it had saved them: PyTorch's saves them where ours computes
        without (None and numbers are skipped). Returns self."""
        if self.grad_fn is not None:
            for t in tensors:
                if isinstance(t, Tensor):
                    self.grad_fn.watch(t)
        return self

    def _set_graph(self, node):
        """Make ``node`` this tensor's history (None: a leaf that needs no gradient)."""
        self._grad_fn = node
        self._requires_grad = node is not None
        return self

    @staticmethod
    def _wrap(array):
        """A Tensor holding ``array`` (no copy, no graph): how the engine and the ops'
        backward rules make tensors without importing this module."""
        return Tensor(array)

    def new_zeros(self, size):
        """Zeros of ``size`` with this tensor's dtype and device."""
        return Tensor(backend.array_module(self._data).zeros(_size((size,)), dtype=self.dtype))

    # --- views ---------------------------------------------------------------------------
    # A view (slice, transpose, reshape that numpy did without a copy) remembers its
    # base and the ops that made it from the base, so that a write through it can be
    # recorded on the base, and so that it can remake its own history when the base
    # was written after the view was taken (PyTorch does the same).

    def _make_view_of(self, source, function, kwargs):
        self._versions = source._versions
        made_in_no_grad = not is_grad_enabled()
        if source._view is None:
            self._view = ViewOf(source, ((function, kwargs),), self._versions, made_in_no_grad)
        else:
            base, steps = source._view.base, source._view.steps
            self._view = ViewOf(base, steps + ((function, kwargs),), self._versions,
                                made_in_no_grad or source._view.made_in_no_grad)
        if made_in_no_grad and source.requires_grad:
            # PyTorch's rule: a view of a tensor that requires grad requires grad, even
            # when made under no_grad; it has no history, and backward puts nothing in it
            self._requires_grad = True

    def _refresh_view(self):
        """Rebuild this view's history from its base, after a recorded write into the base."""
        view = self._view
        self._view = ViewOf(view.base, view.steps, self._versions, view.made_in_no_grad)
        fresh = view.base
        for function, kwargs in view.steps:
            fresh = function.apply(fresh, **kwargs)
        self._grad_fn, self._requires_grad = fresh._grad_fn, fresh._requires_grad

    # --- in place ------------------------------------------------------------------------
    @property
    def _version(self):
        """How many in-place changes this tensor's memory has seen (views and detached
        copies share the count, as in PyTorch, since they share the memory)."""
        return self._versions[0]

    def _bump_version(self):
        self._versions[0] += 1

    def _records_write(self, operands):
        """Whether an in-place write with these operands goes into the graph."""
        return is_grad_enabled() and (self.requires_grad or builtins.any(
            isinstance(o, Tensor) and o.requires_grad for o in operands))

    def _write(self, compute, operands=(), check_cast=True, check_overlap=True):
        """self ← compute(self), in place; recorded in the graph as PyTorch records it.

        ``compute`` builds the new value out of place from a tensor holding the old one.
        When grad mode is on and self or an operand requires grad, the old value
        becomes the input of the recorded op and self takes the op's history (a
        write into a view is recorded on the view's base); otherwise the array is
        simply overwritten.
        """
        for o in operands if check_overlap else ():
            if isinstance(o, Tensor) and backend.overlap(self._data, o.data) == "partial":
                raise _overlap_error()
        if not self._records_write(operands):
            with no_grad():
                new = compute(self)
            self._data[...] = self._checked_result(new, check_cast).data
            self._bump_version()
            return self
        base = self if self._view is None else self._view.base
        if self._view is not None and self._view.made_in_no_grad:
            raise RuntimeError("A view was created in no_grad mode and is being modified "
                               "inplace with grad mode enabled: take the view outside "
                               "tg.no_grad(), or write under tg.no_grad() too")
        if base.requires_grad and base.grad_fn is None:
            which = "a leaf Variable" if base is self else "a view of a leaf Variable"
            raise RuntimeError(f"{which} that requires grad is being used in an in-place "
                               "operation; do it under tg.no_grad() (as optimizers do) or "
                               "on a copy (x = x.clone())")
        old = Tensor(self._data.copy())._set_graph(self.grad_fn)   # the old value, with
        old._requires_grad = self.requires_grad                    # self's history
        new = self._checked_result(compute(old), check_cast)
        if new.dtype != self.dtype:
            new = new.to(dtype=self.dtype)
        if base is self:
            self._data[...] = new.data
            self._set_graph(new.grad_fn)
        else:   # base ← base with the view's region replaced by new (written through self)
            before = Tensor(base._data)._set_graph(base.grad_fn)
            before._requires_grad = base.requires_grad
            base._set_graph(CopySlices.apply(before, new, steps=self._view.steps).grad_fn)
        self._bump_version()
        self._versions[1] += 1           # views of this memory must rebuild their history
        if base is not self:
            self._refresh_view()
        return self

    def _checked_result(self, new, check_cast):
        if new.shape != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape {list(new.shape)}")
        if check_cast and not can_cast(new.dtype, self.dtype):
            raise RuntimeError(f"result type {new.dtype} can't be cast to the desired output "
                               f"type {self.dtype}")
        return new

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        """Set every element to value (a number or a 0-d tensor)."""
        if isinstance(value, Tensor) and value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions")
        self[...] = value
        return self

    def copy_(self, src):
        """Copy src's values (broadcast to this shape, cast to this dtype) into self."""
        if isinstance(src, Tensor) and _broadcast_shape(src.shape, self.shape) != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape {list(_broadcast_shape(src.shape, self.shape))}")
        # src as it is, not broadcast first as setitem does: x.unsqueeze(0).copy_(x) is a
        # partial overlap in PyTorch (found by the differential test)
        self._assign(..., src, broadcast=False)
        return self

    def add_(self, other, alpha=1):
        """self += alpha * other, in place."""
        return self._write(lambda old: old.add(other, alpha=alpha), (other,))

    def sub_(self, other, alpha=1):
        return self._write(lambda old: old.sub(other, alpha=alpha), (other,))

    def mul_(self, other):
        return self._write(lambda old: old * other, (other,))

    def div_(self, other):
        return self._write(lambda old: old / other, (other,))

    def clamp_(self, min=None, max=None):
        """clamp in place (recorded in the graph like add_); clip_ is the same."""
        return self._write(lambda old: old.clamp(min, max), ())

    clip_ = clamp_

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __setitem__(self, index, value):
        """``t[index] = value``: a number or a tensor (broadcast, cast to t's dtype).

        Recorded in the graph when value or t requires grad, as in PyTorch.
        """
        self._assign(index, value)

    def _assign(self, index, value, broadcast=True):
        """setitem, and copy_ with ``broadcast=False``: value's overlap with t is then judged
        on value as it is, not broadcast to the region first."""
        index = _device_index(self, index)
        if isinstance(value, Tensor):
            backend.check_same_device(self._data, value.data, op="setitem")
            value = self._fit_value(index, value, broadcast)
        elif not is_number(value):
            raise TypeError(f"can only assign a number or a Tensor to a Tensor, "
                            f"got {type(value).__name__}")
        if not self._records_write((value,)):   # a plain write into the array
            self._data[index] = value.data if isinstance(value, Tensor) else value
            self._bump_version()
            return
        self._write(lambda old: SetItem.apply(old, value, index=index), (value,),
                    check_cast=False, check_overlap=False)   # _fit_value checked it

    def _fit_value(self, index, value, broadcast=True):
        """value for self[index] = value: leading size-1 dims dropped (as PyTorch does), and
        refused when it overlaps the memory it is written into."""
        advanced = is_array_index(index)
        region = self._data[_basic_part(index) if advanced else index]
        while value.ndim > region.ndim and value.shape[0] == 1 and not advanced:
            value = value.reshape(value.shape[1:])
        if value.ndim == 0 and broadcast and not advanced:   # setitem fills: nothing to check
            return value
        memory = backend.overlap(region, value.data, broadcast=broadcast)
        if memory == "partial" or (advanced and memory == "full"):
            raise _overlap_error()
        return value

    # --- devices and dtypes ----------------------------------------------------------------
    def to(self, device=None, dtype=None):
        """A tensor on ``device`` with ``dtype``; ``self`` when nothing changes.

        Like PyTorch, ``t.to(tg.float64)`` works too (a dtype as first argument).
        """
        if device is not None and not isinstance(device, str):
            try:
                dtype, device = np.dtype(device), None
            except TypeError:
                pass
        device = self.device if device is None else backend.normalize_device(device)
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        if device == self.device and dtype == self.dtype:
            return self
        return To.apply(self, device=device, dtype=dtype)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=float32)

    def double(self):
        return self.to(dtype=float64)

    def long(self):
        return self.to(dtype=int64)

    def int(self):
        return self.to(dtype=int32)

    def type(self, dtype):
        return self.to(dtype=dtype)

    def contiguous(self):
        """self when its memory is already row-major (PyTorch's contiguous), else a
        row-major copy that stays on the graph (a write into it does not reach self).

        >>> import tinygan as tg
        >>> x = tg.zeros(2, 3)
        >>> x.contiguous() is x, x.T.contiguous() is x.T
        (True, False)
        """
        return self if self._data.flags.c_contiguous else Clone.apply(self)

    def _floating(self):
        """self, or self in the default float dtype if it holds integers or bools: what
        exp, log, sigmoid... compute in (PyTorch gives float32 for exp(arange(3)))."""
        return self if self.dtype.kind == "f" else self.to(dtype=get_default_dtype())

    # --- arithmetic: operands of PyTorch's common dtype ---------------------------------------
    def __add__(self, other): return _binary(Add, self, other)
    def __radd__(self, other): return _binary(Add, other, self)
    def __sub__(self, other): return _binary(Sub, self, other)
    def __rsub__(self, other): return _binary(Sub, other, self)
    def __mul__(self, other): return _binary(Mul, self, other)
    def __rmul__(self, other): return _binary(Mul, other, self)
    def __truediv__(self, other): return _divide(self, other)
    def __rtruediv__(self, other): return _divide(other, self)
    def __mod__(self, other): return _remainder(self, other)
    def __rmod__(self, other): return _remainder(other, self)
    def __pow__(self, other): return _binary(Pow, self, other)
    def __rpow__(self, other): return _binary(Pow, other, self)
    def __neg__(self): return Neg.apply(self)
    def neg(self): return Neg.apply(self)
    def __abs__(self): return self.abs()
    def __matmul__(self, other): return self.matmul(other)
    def __rmatmul__(self, other): return _tensor_operand(other, "matmul").matmul(self)

    # The methods of the operators, as PyTorch has them (x.add(y, alpha=2) is x + 2·y).
    def add(self, other, alpha=1):
        return _binary(Add, self, other, alpha=_alpha(self, other, alpha, "add"))

    def sub(self, other, alpha=1):
        return _binary(Sub, self, other, alpha=_alpha(self, other, alpha, "sub"))

    def mul(self, other): return _binary(Mul, self, other)
    def pow(self, exponent): return _binary(Pow, self, exponent)

    def remainder(self, other):
        """self mod other with the divisor's sign (Python's %, PyTorch's remainder), so that
        -7 % 3 is 2; d/dself = 1, d/dother = -floor(self/other)."""
        return _remainder(self, other)

    def div(self, other, rounding_mode=None):
        """True division (integers give the default float dtype), as ``/``."""
        _check_rounding_mode(rounding_mode)
        return _divide(self, other)

    def square(self):
        """x ** 2 (integers stay integers, as in PyTorch)."""
        return _binary(Pow, self, 2)

    # Comparisons and logic give bool tensors with no gradient.
    def __lt__(self, other): return _compare(self, other, "less")
    def __le__(self, other): return _compare(self, other, "less_equal")
    def __gt__(self, other): return _compare(self, other, "greater")
    def __ge__(self, other): return _compare(self, other, "greater_equal")
    def __eq__(self, other): return _compare(self, other, "equal")
    def __ne__(self, other): return _compare(self, other, "not_equal")
    def __and__(self, other): return _bitwise(self, other, "bitwise_and")
    def __or__(self, other): return _bitwise(self, other, "bitwise_or")
    def __invert__(self): return _bitwise(self, None, "invert")

    def maximum(self, other):
        """Elementwise max; where both are equal each gets half the gradient, as in PyTorch."""
        return _binary(Maximum, self, _tensor_operand(other, "maximum"))

    def minimum(self, other):
        """Elementwise min; where both are equal each gets half the gradient."""
        return _binary(Minimum, self, _tensor_operand(other, "minimum"))

    # --- elementwise math ---------------------------------------------------------------------
    def exp(self): return Exp.apply(self._floating())
    def log(self): return Log.apply(self._floating())

    def log1p(self):
        """log(1 + x), accurate for small x."""
        return Log1p.apply(self._floating())

    def sqrt(self): return Sqrt.apply(self._floating())
    def abs(self): return Abs.apply(self)
    def sign(self): return Sign.apply(self)

    def relu(self):
        """max(x, 0); its gradient at exactly 0 is 0, as in PyTorch."""
        return Rectify.apply(self)

    def sigmoid(self):
        """1 / (1 + exp(-x)), computed without overflow for any x."""
        return Logistic.apply(self._floating())

    def tanh(self): return HyperbolicTangent.apply(self._floating())

    def softmax(self, dim, dtype=None):
        """exp(x) / Σ exp(x) along dim, computed from x - max (exp never overflows).

        >>> import tinygan as tg
        >>> tg.tensor([1.0, 2.0, 1000.0]).softmax(0)
        tensor([0., 0., 1.])
        """
        x = _softmax_input(self, dtype, "softmax")
        return NormalizedExp.apply(x, axis=_check_dim(dim, x.ndim))

    def log_softmax(self, dim, dtype=None):
        """x - logsumexp(x) along dim: the log of softmax, without log(0) where it underflows.

        >>> import tinygan as tg
        >>> tg.tensor([0.0, 200.0]).log_softmax(0)
        tensor([-200.,    0.])
        """
        x = _softmax_input(self, dtype, "log_softmax")
        return LogNormalizedExp.apply(x, axis=_check_dim(dim, x.ndim))

    def logsumexp(self, dim, keepdim=False):
        """log Σ exp(x) over dim (an int or a tuple), as max + log Σ exp(x - max);
        integers are summed in the default float dtype.

        >>> import tinygan as tg
        >>> tg.tensor([1000.0, 1000.0]).logsumexp(0)     # 1000 + log 2, no overflow
        tensor(1000.6932)
        """
        x = self._floating()
        return LogSumExp.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)

    def clamp(self, min=None, max=None):
        """Limit values to [min, max]; the gradient is 1 inside (ends included), 0 outside."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min or max must be given")
        bounds = [_number(b) for b in (min, max)]
        for b in (min, max):
            if isinstance(b, Tensor):
                raise TypeError("clamp: min and max must be numbers (tensor bounds: use "
                                "tg.maximum / tg.minimum)")
        x = self.to(dtype=result_type(self, *bounds))
        return Clamp.apply(x, low=bounds[0], high=bounds[1])

    clip = clamp

    # --- reductions ------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        """Sum over ``dim`` (an int, a tuple, or None for all)."""
        return Sum.apply(self, axes=_axes(dim, self.ndim), keepdim=keepdim)

    def mean(self, dim=None, keepdim=False):
        if self.dtype.kind != "f":
            raise TypeError(f"mean: expected a floating point tensor, got dtype {self.dtype}")
        return Mean.apply(self, axes=_axes(dim, self.ndim), keepdim=keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Variance, divided by N - correction (correction 1, unbiased, by default; as PyTorch)."""
        if self.dtype.kind != "f":
            raise TypeError(f"std and var only support floating point dtypes, got {self.dtype}")
        return Var.apply(self, axes=_axes(dim, self.ndim), keepdim=keepdim,
                         correction=_correction(unbiased, correction))

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """sqrt(var(...)), with var's dim and correction (gradient 0 where std is 0)."""
        return SqrtOfVar.apply(self.var(dim, unbiased, keepdim, correction=correction))

    def norm(self, p="fro", dim=None, keepdim=False):
        """The vector norm over ``dim`` (None: all elements): p=2 or "fro" is √Σx² (its
        gradient is 0 at x = 0, as PyTorch's), p=1 is Σ|x|.

        >>> import tinygan as tg
        >>> tg.tensor([[3.0, 4.0], [0.0, 0.0]]).norm(dim=1)
        tensor([5., 0.])
        """
        if self.dtype.kind != "f":
            raise RuntimeError(f"norm(): input dtype should be floating point, got {self.dtype}")
        if p == "fro" and dim is not None and not isinstance(dim, numbers.Integral) \
                and len(dim) > 2:
            raise RuntimeError(f"norm: p='fro' takes at most 2 dims, got dim={dim}")
        if p == "fro" or (is_number(p) and not isinstance(p, bool) and p == 2):
            return SqrtOfVar.apply((self * self).sum(dim, keepdim))   # √ with gradient 0 at 0
        if is_number(p) and not isinstance(p, bool) and p == 1:
            return self.abs().sum(dim, keepdim)
        raise NotImplementedError(f"norm: p={p!r} is not supported by tinygan; "
                                  "use p=2 (or 'fro') or p=1")

    def max(self, dim=None, keepdim=False):
        """The largest value, or (values, indices) along ``dim``, as in PyTorch."""
        return _max_or_min(self, dim, keepdim, smallest=False)

    def min(self, dim=None, keepdim=False):
        """The smallest value, or (values, indices) along ``dim``."""
        return _max_or_min(self, dim, keepdim, smallest=True)

    def argmax(self, dim=None, keepdim=False):
        """The index of the (first) largest value: in the flattened tensor when dim is None
        (keepdim then keeps every dim, of size 1), else along dim."""
        if dim is None:
            return _flat_index(self, self._data.argmax(), keepdim)
        return self.max(dim, keepdim).indices

    def argmin(self, dim=None, keepdim=False):
        if dim is None:
            return _flat_index(self, self._data.argmin(), keepdim)
        return self.min(dim, keepdim).indices

    def any(self, dim=None, keepdim=False):
        """True where any element along ``dim`` is nonzero (a bool tensor, no gradient)."""
        return Tensor(self._data.any(axis=_axes(dim, self.ndim), keepdims=keepdim))

    def all(self, dim=None, keepdim=False):
        """True where every element along ``dim`` is nonzero (a bool tensor, no gradient)."""
        return Tensor(self._data.all(axis=_axes(dim, self.ndim), keepdims=keepdim))

    # --- shapes and views ---------------------------------------------------------------------
    def reshape(self, *shape):
        """The same values in a new shape (one dim may be -1); a view where possible."""
        shape = _shape_args(shape)
        size = math.prod(n for n in shape if n != -1)
        if ((-1 not in shape and size != self.numel())
                or (-1 in shape and (size == 0 or self.numel() % size))):
            raise RuntimeError(f"shape {list(shape)} is invalid for input of size {self.numel()}")
        return Reshape.apply(self, shape=shape)

    def view(self, *shape):
        """reshape that must not copy: an error where the strides allow no view, as in
        PyTorch (``x.T.view(6)``); reshape copies there instead."""
        out = self.reshape(*shape)
        if self.numel() and not backend.array_module(self._data).may_share_memory(
                self._data, out.data):
            raise RuntimeError("view size is not compatible with input tensor's size and stride "
                               "(at least one dimension spans across two contiguous subspaces). "
                               "Use .reshape(...) instead.")
        return out

    def flatten(self, start_dim=0, end_dim=-1):
        """Merge dims start_dim..end_dim into one (the tensor itself when that is one dim)."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = _check_dim(start_dim, self.ndim), _check_dim(end_dim, self.ndim)
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        if start == end:
            return self
        merged = math.prod(self.shape[start:end + 1])
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1:])

    def unflatten(self, dim, sizes):
        """Dim ``dim`` split into ``sizes`` (one of them may be -1); flatten's inverse."""
        axis = _check_dim(dim, self.ndim)
        sizes = tuple(sizes)
        if not sizes:
            raise RuntimeError("unflatten: sizes must be non-empty")
        known = math.prod(n for n in sizes if n != -1)
        if (-1 not in sizes and known != self.shape[axis]) or (
                -1 in sizes and (known == 0 or self.shape[axis] % known)):
            raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to "
                               f"the size of dim {dim} ({self.shape[axis]}) in the input tensor")
        return self.reshape(self.shape[:axis] + sizes + self.shape[axis + 1:])

    def permute(self, *dims):
        dims = tuple(_check_dim(d, self.ndim) for d in _shape_args(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of the {self.ndim} dims")
        return Permute.apply(self, dims=dims)

    def transpose(self, dim0, dim1):
        """Swap two dims (a 0-d tensor accepts dims 0 and -1 and stays as it is)."""
        dims = list(range(self.ndim))
        a, b = _check_dim(dim0, self.ndim), _check_dim(dim1, self.ndim)
        if dims:
            dims[a], dims[b] = dims[b], dims[a]
        return Permute.apply(self, dims=tuple(dims))

    def t(self):
        """The transpose of a matrix; a 0-d or 1-D tensor comes back as it is (a view)."""
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self.ndim}D (use transpose(dim0, dim1) or .mT)")
        return Permute.apply(self, dims=tuple(reversed(range(self.ndim))))

    def repeat(self, *sizes):
        """The tensor tiled ``sizes[i]`` times along dim i (extra leading sizes add dims);
        always a copy, as in PyTorch.

        >>> import tinygan as tg
        >>> tg.tensor([1, 2]).repeat(2, 2)
        tensor([[1, 2, 1, 2],
                [1, 2, 1, 2]])
        """
        sizes = _shape_args(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"Number of dimensions of repeat dims ({len(sizes)}) can not be "
                               f"smaller than number of dimensions of tensor ({self.ndim})")
        for n in sizes:
            if not isinstance(n, numbers.Integral) or n < 0:
                raise RuntimeError(f"repeat: sizes must be non-negative integers, got "
                                   f"{list(sizes)}")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        # tile = each dim n seen as (1, n), broadcast to (r, n), merged into r·n
        paired = tuple(d for n in shape for d in (1, n))
        stretched = tuple(d for r, n in zip(sizes, shape) for d in (r, n))
        out = self.reshape(paired).expand(stretched).reshape(
            tuple(r * n for r, n in zip(sizes, shape)))
        if out._view is not None:        # all sizes 1, or empty: the reshapes made a view,
            out = Clone.apply(out)       # and repeat copies
        return out

    def gather(self, dim, index):
        """out[i][j][k] = self[index[i][j][k]][j][k] for dim 0 (and so on): values picked
        along dim by an int64 index of the same number of dims; repeated picks add up their
        gradients.

        >>> import tinygan as tg
        >>> tg.tensor([[1.0, 2.0], [3.0, 4.0]]).gather(1, tg.tensor([[1], [0]]))
        tensor([[2.],
                [3.]])
        """
        index = _tensor_operand(index, "gather")
        if self.ndim == 0 and index.ndim == 0:     # PyTorch treats a 0-d tensor as 1-D here
            return self.reshape(1).gather(dim, index.reshape(1)).reshape(())
        return Gather.apply(self, index, picks=_gather_index(self, dim, index, "gather"))

    @property
    def T(self):
        """All dims reversed (the transpose of a matrix)."""
        return Permute.apply(self, dims=tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        """The last two dims swapped: a batch of matrices, each transposed."""
        return self.transpose(-2, -1)

    def unsqueeze(self, dim):
        """Insert a dim of size 1 at ``dim``."""
        dim = _check_dim(dim, self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim=None):
        """Drop dims of size 1 (only ``dim`` when given and of size 1)."""
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dim = _check_dim(dim, self.ndim)
        if self.ndim == 0 or self.shape[dim] != 1:
            return self.reshape(self.shape)          # a new view of the same shape, as PyTorch
        return self.reshape(self.shape[:dim] + self.shape[dim + 1:])

    def expand(self, *sizes):
        """A view with size-1 dims stretched (and new leading dims); -1 keeps a size."""
        sizes = _shape_args(sizes)
        extra = len(sizes) - self.ndim
        if extra < 0:
            raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be "
                               f"greater or equal to the number of dimensions ({self.ndim})")
        shape = []
        for i, n in enumerate(sizes):
            old = self.shape[i - extra] if i >= extra else None
            if n == -1:
                if old is None:
                    raise RuntimeError("expand: -1 is not allowed for a new leading dim")
                n = old
            if old is not None and old != 1 and old != n:
                raise RuntimeError(f"The expanded size of the tensor ({n}) must match the "
                                   f"existing size ({old}) at non-singleton dimension {i}. "
                                   f"Target sizes: {list(sizes)}. Tensor sizes: {list(self.shape)}")
            shape.append(n)
        return Expand.apply(self, shape=tuple(shape))

    def __getitem__(self, index):
        """Basic slicing (a view) and integer-array indexing (a copy; repeated indices sum
        their gradients)."""
        out = GetItem.apply(self, index=_device_index(self, index))
        if out._view is None:   # an array index: PyTorch keeps its tensors (a 0-d one acts
            parts = index if isinstance(index, tuple) else (index,)     # as a number)
            out._keeps(*(p for p in parts if isinstance(p, Tensor) and p.ndim > 0))
        return out

    def mm(self, mat2):
        """The product of two matrices (2-D only; matmul takes any rank)."""
        mat2 = _tensor_operand(mat2, "mm")
        for name, t in (("self", self), ("mat2", mat2)):
            if t.ndim != 2:
                raise RuntimeError(f"mm: {name} must be a matrix, got a {t.ndim}-D tensor of "
                                   f"shape {t.shape}")
        return self.matmul(mat2)

    def matmul(self, other):
        """Matrix product with NumPy's rules (1-D operands, batched broadcasting)."""
        other = _tensor_operand(other, "matmul")
        if self.ndim == 0 or other.ndim == 0:
            raise RuntimeError("matmul: both arguments need at least 1 dimension, got 0-d")
        if self.dtype != other.dtype:
            raise RuntimeError(f"expected both matmul operands to have the same dtype, but got "
                               f"{self.dtype} and {other.dtype}: convert one with .to(dtype)")
        inner_a = self.shape[-1]
        inner_b = other.shape[-2] if other.ndim > 1 else other.shape[0]
        if inner_a != inner_b:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                               f"({'x'.join(map(str, self.shape))} and "
                               f"{'x'.join(map(str, other.shape))}): inner dimensions "
                               f"{inner_a} and {inner_b} differ")
        return MatMul.apply(self, other)


class ViewOf:
    """What a view remembers: its base, the view ops that made it from the base, the
    memory's counts of changes (see Tensor._versions) when its history was made, and
    whether it was made under no_grad (PyTorch then refuses to remake that history)."""

    __slots__ = ("base", "steps", "versions_seen", "made_in_no_grad")

    def __init__(self, base, steps, versions_seen, made_in_no_grad):
        self.base, self.steps = base, steps
        self.versions_seen, self.made_in_no_grad = tuple(versions_seen), made_in_no_grad

    def stale(self, view):
        """True when a recorded write changed the memory's history since view's was made."""
        changes, writes = view._versions
        if self.made_in_no_grad:   # refused once the memory changed under it (any change if
            # it requires grad, else a recorded write), as in PyTorch
            if writes != self.versions_seen[1] or (
                    view._requires_grad and changes != self.versions_seen[0]):
                raise RuntimeError(
                    "A view was created in no_grad mode and its base or another view of its "
                    "base has been modified inplace: which history it has is ambiguous, so "
                    "it is refused (as in PyTorch). Take the view and write both inside "
                    "tg.no_grad(), or both outside it.")
            return False
        return writes != self.versions_seen[1]


# --- what the methods share -------------------------------------------------------------------

def _number(value):
    """A numpy number as a Python number (it then counts as PyTorch counts a Python number)."""
    return value.item() if isinstance(value, np.generic) else value


def _operand(value):
    """A Tensor stays a Tensor; a Python or numpy number becomes a Python number."""
    if isinstance(value, Tensor):
        return value
    if is_number(value):
        return _number(value)
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        raise TypeError(f"expected a Tensor or a number, got a {type(value).__name__}: "
                        "wrap it first with tg.tensor(array) or tg.from_numpy(array)")
    raise TypeError(f"expected a Tensor or a number, got {type(value).__name__}")


def _tensor_operand(value, op):
    if not isinstance(value, Tensor):
        hint = f" (with a number use clamp({'min' if op == 'maximum' else 'max'}=...))" if op in (
            "maximum", "minimum") else ""
        if hasattr(value, "dtype") and hasattr(value, "shape"):
            hint = ": wrap an array first with tg.tensor(array) or tg.from_numpy(array)"
        raise TypeError(f"{op}: expected a Tensor, got {type(value).__name__}{hint}")
    return value


def _cast(value, dtype):
    """An operand in the op's dtype. A cast copy shares the original's count of in-place
    changes: PyTorch's op keeps the original itself for backward (it promotes inside the
    kernel), so writing into the original before backward is an error there, and here."""
    if not isinstance(value, Tensor) or value.dtype == dtype:
        return value
    cast = value.to(dtype=dtype)
    cast._versions = value._versions
    return cast


def _binary(function, a, b, **kwargs):
    """``function`` on a and b cast to their common dtype, by PyTorch's promotion."""
    a, b = _operand(a), _operand(b)
    dtype = result_type(a, b)
    return function.apply(_cast(a, dtype), _cast(b, dtype), **kwargs)


def _check_rounding_mode(rounding_mode):
    if rounding_mode is not None:
        raise NotImplementedError(f"div: rounding_mode={rounding_mode!r} is not supported by "
                                  "tinygan; only true division (rounding_mode=None)")


def _divide(a, b):
    """True division (integers give the default float). A number over a tensor is the
    tensor's reciprocal times the number, as PyTorch computes it (its rounding, and what
    its backward keeps, are then PyTorch's)."""
    a, b = _operand(a), _operand(b)
    dtype = result_type(a, b)
    if dtype.kind != "f":
        dtype = get_default_dtype()
    if not isinstance(a, Tensor):
        return Reciprocal.apply(_cast(b, dtype)) * a
    return Div.apply(_cast(a, dtype), _cast(b, dtype))


def _remainder(a, b):
    """a % b in the common dtype. An integer divisor of 0 is an error on "cpu", as PyTorch's
    (NumPy would give 0 and a warning); checking it on "cuda" would cost a copy to the host."""
    a, b = _operand(a), _operand(b)
    dtype = result_type(a, b)
    if dtype.kind == "b":
        raise NotImplementedError("remainder: not implemented for bool tensors, as in PyTorch; "
                                  "convert with .long() first")
    if dtype.kind in "iu":
        if isinstance(b, Tensor):
            by_zero = backend.device_of(b.data) == backend.CPU and bool((b.data == 0).any())
        else:
            by_zero = b == 0
        if by_zero:
            raise ZeroDivisionError(f"remainder: an integer tensor ({dtype}) modulo 0")
    return _binary(Remainder, a, b)


def _compare(a, b, op):
    """Elementwise comparison ("less", "equal", ...) in the dtype both promote to."""
    b = _operand(b)
    dtype = result_type(a, b)
    a_array = _cast(a, dtype).data
    b_array = _cast(b, dtype).data if isinstance(b, Tensor) else b
    if isinstance(b, Tensor):
        backend.check_same_device(a_array, b_array, op=op)
    return Tensor(getattr(backend.array_module(a_array), op)(a_array, b_array))


def _bitwise(a, b, op):
    """&, | and ~: logical on bool tensors, bitwise on integers (no gradient)."""
    if a.dtype.kind == "f" or (isinstance(b, Tensor) and b.dtype.kind == "f"):
        raise TypeError(f"{op} is only supported for integer and bool tensors, got {a.dtype}")
    xp = backend.array_module(a.data)
    if b is None:
        return Tensor(getattr(xp, op)(a.data))
    b = _operand(b)
    b_array = b.data if isinstance(b, Tensor) else b
    return Tensor(getattr(xp, op)(a.data, b_array))


def _check_dim(dim, ndim):
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {dim})")
    return dim % max(ndim, 1)


def _axes(dim, ndim):
    """dim (None, int or tuple) as a sorted tuple of non-negative axes."""
    if dim is None or ndim == 0:  # a 0-d tensor reduces over "dim 0" to itself, as in PyTorch
        if dim is not None:
            for d in ((dim,) if isinstance(dim, numbers.Integral) else dim):
                _check_dim(d, 0)
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    return tuple(sorted({_check_dim(d, ndim) for d in dims}))


def _correction(unbiased, correction):
    if correction is not None and unbiased is not None:
        raise ValueError("give either unbiased or correction, not both")
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def _max_or_min(x, dim, keepdim, smallest):
    if dim is None:
        return MaxAll.apply(x, smallest=smallest)
    axis = _check_dim(dim, x.ndim)
    xp = backend.array_module(x.data)
    if x.ndim == 0:  # the value itself, at index 0
        return MaxResult(x.clone(), Tensor(xp.zeros((), dtype=np.int64)))
    pick = xp.argmin if smallest else xp.argmax
    indices = xp.expand_dims(pick(x.data, axis=axis), axis)
    values = MaxAlong.apply(x, axis=axis, keepdim=keepdim, indices=indices)
    indices = Tensor(indices if keepdim else indices.squeeze(axis))
    return MaxResult(values._keeps(indices), indices)   # backward reads the indices


def _shape_args(args):
    """Accept both t.reshape(2, 3) and t.reshape((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _index_parts(index):
    return index if isinstance(index, tuple) else (index,)


def _basic_part(index):
    """The index with each index array replaced by whole slices over the dims it indexes: the
    view PyTorch writes into (index_put_), after the ints and slices, and checks for overlap."""
    parts = []
    for p in _index_parts(index):
        if hasattr(p, "dtype") and p.ndim > 0:
            parts.extend([slice(None)] * (p.ndim if p.dtype.kind == "b" else 1))
        else:
            parts.append(p)
    return tuple(parts)


def _device_index(x, index):
    """An index for x's array: Tensors replaced by their arrays, lists by device arrays
    (t[[0, 2, 2]] as in PyTorch), and index arrays checked to be on x's device.

    As in PyTorch, a 0-d integer tensor indexes like an int (a view, where NumPy would
    copy), and slices must step forward.
    """
    parts = []
    for p in _index_parts(index):
        if isinstance(p, Tensor):
            if p.ndim == 0 and p.dtype.kind in "iu":
                p = int(p.item())               # a device-to-host copy on "cuda", as in PyTorch
            else:
                backend.check_same_device(x.data, p.data, op="indexing")
                p = p.data
        elif isinstance(p, list):
            p = backend.array_module(x.data).asarray(p)
        elif isinstance(p, slice) and p.step is not None and p.step <= 0:
            raise ValueError("step must be greater than zero")
        elif hasattr(p, "dtype") and not isinstance(p, np.generic):
            backend.check_same_device(x.data, p, op="indexing")
        parts.append(p)
    return tuple(parts) if isinstance(index, tuple) else parts[0]


def _overlap_error():
    return RuntimeError("unsupported operation: some elements of the input tensor and the "
                        "written-to tensor refer to a single memory location. Please clone() "
                        "the tensor before performing the operation.")


def _alpha(x, other, alpha, op):
    """add/sub's alpha as a Python number, refused where PyTorch refuses its type. The op
    scales other after the cast to the result dtype, as PyTorch computes: int64 [0] scaled
    by 0.5 alone would be float32 and outrank x's float64 if x is 0-d."""
    dtype = result_type(x, _operand(other))
    if isinstance(alpha, (bool, np.bool_)) and dtype.kind != "b":
        raise RuntimeError(f"{op}: Boolean alpha only supported for Boolean results")
    alpha = _number(alpha)
    if dtype.kind in "biu" and isinstance(alpha, float):
        raise RuntimeError(f"{op}: for integral input tensors, argument alpha must not be a "
                           f"floating point number (got alpha={alpha!r})")
    return alpha


def _softmax_input(x, dtype, op):
    """softmax's input: cast to dtype first when given; floating point only (PyTorch has
    no integer kernel)."""
    if dtype is not None:
        x = x.to(dtype=dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got dtype {x.dtype} "
                        f"(pass dtype=tg.float32 to convert)")
    return x


def _flat_index(x, index, keepdim):
    """argmax/argmin over all elements: an int64 tensor, 0-d or (keepdim) all dims 1."""
    array = backend.array_module(x.data).asarray(index).astype(np.int64)
    return Tensor(array.reshape((1,) * x.ndim if keepdim else ()))


def _gather_index(x, dim, index, op):
    """The integer-array index that picks gather's values: index along dim, and along
    every other dim d the positions 0..index.shape[d]-1 (PyTorch's rules checked)."""
    if index.dtype != int64:
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {index.dtype}")
    backend.check_same_device(x.data, index.data, op=op)
    axis = _check_dim(dim, x.ndim)
    if index.ndim != x.ndim:
        raise RuntimeError(f"{op}: index tensor must have the same number of dimensions as "
                           f"input tensor: index has shape {index.shape}, input {x.shape}")
    for d, (i, n) in enumerate(zip(index.shape, x.shape)):
        if d != axis and i > n:
            raise RuntimeError(f"{op}: size does not match at dimension {d}: expected index "
                               f"{list(index.shape)} to be no larger than self "
                               f"{list(x.shape)} apart from dimension {axis}")
    size = x.shape[axis]
    if index.device == backend.CPU and index.numel():
        # (on "cuda" this check would copy to the host at every call: it is skipped there)
        bad = index.data[(index.data < 0) | (index.data >= size)]
        if bad.size:
            raise RuntimeError(f"{op}: index {bad.flat[0]} is out of bounds for dimension "
                               f"{axis} with size {size}")
    xp = backend.array_module(index.data)
    return tuple(index.data if d == axis else
                 xp.arange(n).reshape([-1 if k == d else 1 for k in range(index.ndim)])
                 for d, n in enumerate(index.shape))


def _broadcast_shape(*shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


# --- factories ---------------------------------------------------------------------------------

def _resolve_dtype(dtype):
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor (always a copy) from nested lists, numbers, arrays or a Tensor.

    Python floats become float32 (the default dtype) and Python ints int64, as in
    PyTorch; numpy and cupy arrays keep their dtype unless ``dtype`` is given.
    """
    if isinstance(data, Tensor):
        data = data.data
    if not hasattr(data, "dtype"):  # Python numbers and (nested) lists
        data = np.asarray(data, dtype=dtype)   # straight to dtype: 0.1 as float64 stays 0.1
        if dtype is None and data.dtype.kind == "f":
            data = data.astype(get_default_dtype())
    if device is None:
        device = backend.device_of(data)
    array = backend.to_device(data, device)
    array = array.astype(array.dtype if dtype is None else np.dtype(dtype), copy=True)
    return Tensor(array, requires_grad=requires_grad)


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for n in size:
        if not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"sizes must be non-negative integers, got {tuple(size)}")
    return tuple(int(n) for n in size)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    xp = backend.xp_for(device)
    return Tensor(xp.zeros(_size(size), dtype=_resolve_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    xp = backend.xp_for(device)
    return Tensor(xp.ones(_size(size), dtype=_resolve_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """Filled with fill_value; its dtype follows the value (int64, bool, float32) as in PyTorch."""
    if dtype is None and isinstance(fill_value, (bool, np.bool_)):
        dtype = bool_
    elif dtype is None and isinstance(fill_value, numbers.Integral):
        dtype = int64
    xp = backend.xp_for(device)
    return Tensor(xp.full(_size((size,)), fill_value, dtype=_resolve_dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Like torch.arange: integers give int64, any float gives the default dtype."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        all_ints = builtins.all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = int64 if all_ints else get_default_dtype()
    xp = backend.xp_for(device)
    return Tensor(xp.arange(start, end, step, dtype=np.dtype(dtype)), requires_grad)


def _generator(generator, device):
    return generator if generator is not None else backend.default_generator(device)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard normal samples (float32 unless dtype says otherwise)."""
    device = backend.normalize_device(device)
    backend.xp_for(device)  # fail early with the reason if "cuda" is unusable
    array = _generator(generator, device).standard_normal(_size(size), _resolve_dtype(dtype))
    return Tensor(array, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform samples on [0, 1)."""
    device = backend.normalize_device(device)
    backend.xp_for(device)
    array = _generator(generator, device).random(_size(size), _resolve_dtype(dtype))
    return Tensor(array, requires_grad)


def _like(t, dtype, device):
    return (t.dtype if dtype is None else dtype), (t.device if device is None else device)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return zeros(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return ones(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return randn(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(t, dtype, device)
    return rand(t.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def from_numpy(ndarray):
    """A tensor sharing ``ndarray``'s memory (a write through either shows in the other),
    with its dtype, on "cpu"; as ``torch.from_numpy``.

    >>> import numpy as np, tinygan as tg
    >>> a = np.arange(3.0)
    >>> t = tg.from_numpy(a)
    >>> a[0] = 7.0
    >>> t
    tensor([7., 1., 2.], dtype=tinygan.float64)
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype.kind not in "biuf":
        raise TypeError(f"can't convert np.ndarray of type {ndarray.dtype}: the supported "
                        "types are floating point, integer and bool")
    return Tensor(ndarray)


def as_tensor(data, dtype=None, device=None):
    """``data`` as a tensor, sharing memory where no conversion is needed (a tensor, or a
    numpy/cupy array already of that dtype and device), else a copy as ``tg.tensor``."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    if hasattr(data, "dtype") and hasattr(data, "shape") and not isinstance(data, np.generic):
        same_device = device is None or backend.normalize_device(device) == backend.device_of(data)
        if same_device and (dtype is None or np.dtype(dtype) == data.dtype):
            return Tensor(data)
    return tensor(data, dtype=dtype, device=device)


def empty(*size, dtype=None, device=None, requires_grad=False):
    """A tensor whose values are whatever the memory held (uninitialised, as in PyTorch)."""
    xp = backend.xp_for(device)
    return Tensor(xp.empty(_size(size), dtype=_resolve_dtype(dtype)), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n×m identity matrix (m = n by default)."""
    m = n if m is None else m
    for name, value in (("n", n), ("m", m)):
        if not isinstance(value, numbers.Integral) or value < 0:
            raise RuntimeError(f"eye: {name} must be a non-negative integer, got {value!r}")
    xp = backend.xp_for(device)
    return Tensor(xp.eye(int(n), int(m), dtype=_resolve_dtype(dtype)), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` values from start to end, both included, by PyTorch's formula: the first
    half as start + i·step, the second half as end - (steps-1-i)·step, in the result's
    dtype (PyTorch's vectorised CPU path rounds once more: within 2 ulp of this).

    >>> import tinygan as tg
    >>> tg.linspace(0, 1, 5)
    tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    """
    start, end = (_number(v.item() if isinstance(v, Tensor) else v) for v in (start, end))
    if not isinstance(steps, numbers.Integral) or steps < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {steps!r}")
    dtype = _resolve_dtype(dtype)
    xp = backend.xp_for(device)
    # integers are stepped in float64 and truncated, as PyTorch does
    work = dtype if dtype.kind == "f" else float64
    first, last = work.type(start), work.type(end)
    step = (last - first) / work.type(max(steps - 1, 1))
    i = xp.arange(steps, dtype=work)
    values = xp.where(i < steps // 2, first + step * i, last - step * (steps - 1 - i))
    if steps == 1:
        values = xp.full((1,), first, dtype=work)               # start, as PyTorch gives
    return Tensor(values.astype(dtype), requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad=False):
    """Integers drawn uniformly from [low, high): ``randint(high, size)`` or
    ``randint(low, high, size)``; int64 unless dtype says otherwise. tg.manual_seed sets
    the stream, as for tg.randn.

    >>> import tinygan as tg
    >>> tg.randint(3, 6, (2, 4)).shape
    (2, 4)
    """
    if size is None and isinstance(high, (tuple, list)):    # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:                                      # randint(high, size=...)
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing 1 required argument: 'size' (a tuple)")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint(): size must be a tuple of ints, got {type(size).__name__}")
    low, high = int(low), int(high)
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got "
                           f"from={low} >= to={high}")
    device = backend.normalize_device(device)
    backend.xp_for(device)
    xp = backend.xp_for(device)
    # uniform floats in [0, 1) scaled to the range: unbiased to 2**-53 of a draw
    u = _generator(generator, device).random(_size((size,)), float64)
    values = xp.minimum(xp.floor(u * (high - low)), high - low - 1).astype(np.int64) + low
    return Tensor(values.astype(_resolve_dtype(int64 if dtype is None else dtype)),
                  requires_grad)
