"""The Tensor: an array (numpy on "cpu", cupy on "cuda") plus its place in the graph.

Names and behaviour follow PyTorch, so code from a PyTorch course reads the same:

>>> import tinygan as tg
>>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
tensor([[2., 4.],
        [6., 8.]])

One difference: ``Tensor.data`` is the raw numpy/cupy array, not another Tensor.
Every operator maps to a function of :mod:`tinygan.functional`, where each
forward sits beside its backward.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import autograd, backend
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

_default_dtype = float32


def get_default_dtype():
    return _default_dtype


def set_default_dtype(dtype):
    """Floating dtype of new tensors from Python floats (float32 unless changed)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"default dtype must be a floating type, got {dtype}")
    _default_dtype = dtype


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
            data = np.array(data, dtype=_default_dtype)
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

    # --- the array underneath -------------------------------------------------
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

    # --- graph ---------------------------------------------------------------------
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

    def _set_graph(self, node):
        """Make ``node`` this tensor's history (None: a leaf that needs no gradient)."""
        self._grad_fn = node
        self._requires_grad = node is not None

    def detach(self):
        """The same array, cut from the graph (shares memory, as in PyTorch)."""
        detached = Tensor(self._data)
        detached._versions = self._versions
        return detached

    def clone(self):
        return F.clone(self)

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate the gradient of this tensor into every leaf's ``.grad``.

        ``gradient`` is d(something)/d(self); it may be omitted only for a scalar.
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
            grad = backend.array_module(self._data).ones_like(self._data)
        else:
            grad = gradient.data if isinstance(gradient, Tensor) else gradient
            backend.check_same_device(self._data, grad, op="backward")
            if tuple(grad.shape) != self.shape:
                raise RuntimeError(f"backward: gradient has shape {tuple(grad.shape)} but the "
                                   f"tensor has shape {self.shape}")
            grad = grad.astype(self._data.dtype, copy=False)
        autograd.run_backward(self, grad, retain_graph=retain_graph)

    # --- views -----------------------------------------------------------------------
    # A view (slice, transpose, reshape that numpy did without a copy) remembers its
    # base and the ops that made it from the base, so that a write through it can be
    # recorded on the base, and so that it can remake its own history when the base
    # was written after the view was taken (PyTorch does the same).

    def _make_view_of(self, source, function, kwargs):
        self._versions = source._versions
        made_in_no_grad = not autograd.is_grad_enabled()
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

    # --- in place ----------------------------------------------------------------------
    @property
    def _version(self):
        """How many in-place changes this tensor's memory has seen (views and detached
        copies share the count, as in PyTorch, since they share the memory)."""
        return self._versions[0]

    def _bump_version(self):
        self._versions[0] += 1

    def _records_write(self, operands):
        """Whether an in-place write with these operands goes into the graph."""
        return autograd.is_grad_enabled() and (self.requires_grad or any(
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
            with autograd.no_grad():
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
        old = Tensor(self._data.copy())   # the old value, with self's history
        old._set_graph(self.grad_fn)
        old._requires_grad = self.requires_grad
        new = self._checked_result(compute(old), check_cast)
        if new.dtype != self.dtype:
            new = F.to(new, dtype=self.dtype)
        if base is self:
            self._data[...] = new.data
            self._set_graph(new.grad_fn)
        else:   # base ← base with the view's region replaced by new (written through self)
            before = Tensor(base._data)
            before._set_graph(base.grad_fn)
            before._requires_grad = base.requires_grad
            base._set_graph(F.CopySlices.apply(before, new, steps=self._view.steps).grad_fn)
        self._bump_version()
        self._versions[1] += 1           # views of this memory must rebuild their history
        if base is not self:
            self._refresh_view()
        return self

    def _checked_result(self, new, check_cast):
        if new.shape != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape {list(new.shape)}")
        if check_cast and not _can_cast(new.dtype, self.dtype):
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
        self[...] = src
        return self

    def add_(self, other, alpha=1):
        """self += alpha * other, in place."""
        return self._write(lambda old: F.add(old, _scaled(other, alpha)), (other,))

    def sub_(self, other, alpha=1):
        return self._write(lambda old: F.sub(old, _scaled(other, alpha)), (other,))

    def mul_(self, other):
        return self._write(lambda old: F.mul(old, other), (other,))

    def div_(self, other):
        return self._write(lambda old: F.div(old, other), (other,))

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
        index = F.device_index(self, index)
        if isinstance(value, Tensor):
            backend.check_same_device(self._data, value.data, op="setitem")
            value = self._fit_value(index, value)
        elif not isinstance(value, (numbers.Number, np.generic)):
            raise TypeError(f"can only assign a number or a Tensor to a Tensor, "
                            f"got {type(value).__name__}")
        if not self._records_write((value,)):   # a plain write into the array
            self._data[index] = value.data if isinstance(value, Tensor) else value
            self._bump_version()
            return
        self._write(lambda old: F.SetItem.apply(old, value, index=index), (value,),
                    check_cast=False, check_overlap=False)   # _fit_value checked it

    def _fit_value(self, index, value):
        """value for self[index] = value: leading size-1 dims dropped (as PyTorch does), and
        refused when it overlaps the memory it is written into."""
        advanced = F.is_array_index(index)
        region = self._data if advanced else self._data[index]
        while value.ndim > region.ndim and value.shape[0] == 1 and not advanced:
            value = value.reshape(value.shape[1:])
        if value.ndim == 0:     # PyTorch fills with a 0-d value: no overlap to check
            return value
        memory = backend.overlap(region, value.data)
        if memory == "partial" or (advanced and memory == "full"):
            raise _overlap_error()
        return value

    # --- devices and dtypes ------------------------------------------------------
    def to(self, device=None, dtype=None):
        """A tensor on ``device`` with ``dtype``; ``self`` when nothing changes.

        Like PyTorch, ``t.to(tg.float64)`` works too (a dtype as first argument).
        """
        if device is not None and not isinstance(device, str):
            try:
                dtype, device = np.dtype(device), None
            except TypeError:
                pass
        return F.to(self, device=device, dtype=dtype)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=float32)

    def double(self):
        return self.to(dtype=float64)

    def type(self, dtype):
        return self.to(dtype=dtype)

    # --- printing -----------------------------------------------------------------
    def __repr__(self):
        host = backend.to_numpy(self._data)
        # PyTorch's look: "1." when every value is whole, else four fixed decimals ("0.6931").
        whole = host.dtype.kind != "f" or not np.all(np.isfinite(host)) or np.all(host == np.round(host))
        values = np.array2string(host, separator=", ", precision=4, prefix="tensor(",
                                 floatmode="maxprec" if whole else "fixed")
        extras = []
        if self.device != backend.CPU:
            extras.append(f"device='{self.device}'")
        if self.dtype != _default_dtype and self.dtype.kind == "f":
            extras.append(f"dtype=tinygan.{self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([values] + extras) + ")"

    __hash__ = object.__hash__

    # --- operators: each maps to a differentiable function in tinygan.functional ----
    def __add__(self, other): return F.add(self, other)
    def __radd__(self, other): return F.add(other, self)
    def __sub__(self, other): return F.sub(self, other)
    def __rsub__(self, other): return F.sub(other, self)
    def __mul__(self, other): return F.mul(self, other)
    def __rmul__(self, other): return F.mul(other, self)
    def __truediv__(self, other): return F.div(self, other)
    def __rtruediv__(self, other): return F.div(other, self)
    def __pow__(self, other): return F.pow(self, other)
    def __rpow__(self, other): return F.pow(other, self)
    def __neg__(self): return F.neg(self)
    def __abs__(self): return F.abs(self)
    def __matmul__(self, other): return F.matmul(self, other)
    def __rmatmul__(self, other): return F.matmul(other, self)
    def __getitem__(self, index): return F.getitem(self, index)

    # Comparisons give boolean tensors with no gradient.
    def __lt__(self, other): return F.compare(self, other, "less")
    def __le__(self, other): return F.compare(self, other, "less_equal")
    def __gt__(self, other): return F.compare(self, other, "greater")
    def __ge__(self, other): return F.compare(self, other, "greater_equal")
    def __eq__(self, other): return F.compare(self, other, "equal")
    def __ne__(self, other): return F.compare(self, other, "not_equal")

    # --- methods, PyTorch style ------------------------------------------------------
    def sum(self, dim=None, keepdim=False): return F.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return F.mean(self, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return F.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return F.std(self, dim, unbiased, keepdim, correction=correction)

    def max(self, dim=None, keepdim=False): return F.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return F.min(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return F.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return F.argmin(self, dim, keepdim)
    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def log1p(self): return F.log1p(self)
    def sqrt(self): return F.sqrt(self)
    def abs(self): return F.abs(self)
    def clamp(self, min=None, max=None): return F.clamp(self, min, max)
    clip = clamp
    def relu(self): return F.relu(self)
    def sigmoid(self): return F.sigmoid(self)
    def tanh(self): return F.tanh(self)
    def matmul(self, other): return F.matmul(self, other)
    def reshape(self, *shape): return F.reshape(self, _shape_args(shape))
    def view(self, *shape): return F.view(self, _shape_args(shape))
    def flatten(self, start_dim=0, end_dim=-1): return F.flatten(self, start_dim, end_dim)
    def transpose(self, dim0, dim1): return F.transpose(self, dim0, dim1)
    def permute(self, *dims): return F.permute(self, _shape_args(dims))
    def unsqueeze(self, dim): return F.unsqueeze(self, dim)
    def squeeze(self, dim=None): return F.squeeze(self, dim)
    def any(self, dim=None, keepdim=False): return F.any(self, dim, keepdim)
    def all(self, dim=None, keepdim=False): return F.all(self, dim, keepdim)

    @property
    def T(self):
        return F.permute(self, tuple(reversed(range(self.ndim))))


autograd.register_tensor_type(Tensor)


# --- helpers shared with functional ---------------------------------------------------

def _check_dim(dim, ndim):
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {dim})")
    return dim % max(ndim, 1)


def _shape_args(args):
    """Accept both t.reshape(2, 3) and t.reshape((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _operand_array(value):
    """The array of a Tensor, or a Python number left as is (it never upcasts)."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.generic):
        return value.item()
    return value


def _overlap_error():
    return RuntimeError("unsupported operation: some elements of the input tensor and the "
                        "written-to tensor refer to a single memory location. Please clone() "
                        "the tensor before performing the operation.")


def _scaled(other, alpha):
    """alpha * other for add_/sub_: a number stays a number."""
    if alpha == 1:
        return other
    return F.mul(other, alpha) if isinstance(other, Tensor) else other * alpha


def _broadcast_shape(*shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def _can_cast(source, target):
    """PyTorch's rule for in-place results: no float into int, nothing else into bool."""
    if source.kind == "f" and target.kind in "biu":
        return False
    return not (target.kind == "b" and source.kind != "b")


# --- factories ---------------------------------------------------------------------------

def _resolve_dtype(dtype):
    return _default_dtype if dtype is None else np.dtype(dtype)


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
            data = data.astype(_default_dtype)
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
        all_ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = int64 if all_ints else _default_dtype
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


from . import functional as F  # noqa: E402  (functional builds on Tensor, defined above)
