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


class Tensor:
    """An n-dimensional array that records the ops applied to it for autograd."""

    __slots__ = ("_data", "requires_grad", "grad", "grad_fn", "_versions", "__weakref__")
    __array_priority__ = 1000  # numpy_scalar * tensor calls Tensor.__rmul__

    def __init__(self, data, requires_grad=False):
        """Wrap a numpy/cupy array as is (no copy). Python numbers and nested lists become
        a float32 array, as ``torch.Tensor([[1, 2], [3, 4]])`` does."""
        if isinstance(data, Tensor):
            raise TypeError("Tensor(t) with a Tensor: use t.detach() or t.clone()")
        if not hasattr(data, "dtype"):
            data = np.array(data, dtype=_default_dtype)
        self._data = data                 # numpy.ndarray or cupy.ndarray, used as is
        self.grad = None                  # a Tensor after backward, or None
        self.grad_fn = None               # the autograd Node that made this tensor
        self._versions = [0]              # bumped by in-place changes; shared with views
        self.requires_grad = False
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
    def requires_grad_(self, requires_grad=True):
        if requires_grad and self._data.dtype.kind != "f":
            raise RuntimeError(f"only floating point tensors can require gradients, "
                               f"got dtype {self._data.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self):
        """The same array, cut from the graph (shares memory, as in PyTorch)."""
        return Tensor(self._data)._share_version(self)

    def clone(self):
        return F.clone(self)

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate the gradient of this tensor into every leaf's ``.grad``.

        ``gradient`` is d(something)/d(self); it may be omitted only for a scalar.
        """
        if not self.requires_grad:
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

    # --- in place (bump the version so saved copies are known stale) ------------
    @property
    def _version(self):
        """How many in-place changes this tensor's memory has seen (views and detached
        copies share the count, as in PyTorch, since they share the memory)."""
        return self._versions[0]

    def _bump_version(self):
        self._versions[0] += 1

    def _share_version(self, other):
        """Make this tensor a view of ``other``'s memory for in-place checks."""
        self._versions = other._versions
        return self

    def _check_inplace(self):
        if not (self.requires_grad and autograd.is_grad_enabled()):
            return
        if self.grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an "
                               "in-place operation; wrap it in tg.no_grad()")
        # tinygan's graph does not record in-place ops, so the gradient would silently
        # ignore this change: refuse it rather than differentiate the wrong function.
        raise RuntimeError("in-place operation on a tensor that is part of the autograd graph "
                           f"(grad_fn=<{self.grad_fn.name()}>): tinygan does not record in-place "
                           "ops; write it out of place (y = y * 3) or under tg.no_grad()")

    def _inplace(self, value_array):
        self._check_inplace()
        self._data[...] = value_array
        self._bump_version()
        return self

    def zero_(self):
        self._check_inplace()
        self._data.fill(0)
        self._bump_version()
        return self

    def fill_(self, value):
        self._check_inplace()
        self._data.fill(value)
        self._bump_version()
        return self

    def copy_(self, src):
        src = src.data if isinstance(src, Tensor) else src
        backend.check_same_device(self._data, src, op="copy_")
        return self._inplace(src)

    def add_(self, other, alpha=1):
        other = _operand_array(other)
        return self._inplace(self._data + other * alpha if alpha != 1 else self._data + other)

    def sub_(self, other, alpha=1):
        return self.add_(other, alpha=-alpha)

    def mul_(self, other):
        return self._inplace(self._data * _operand_array(other))

    def __setitem__(self, index, value):
        self._check_inplace()
        value = _operand_array(value)
        self._data[_index_arrays(index)] = value
        self._bump_version()

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
    def view(self, *shape): return F.reshape(self, _shape_args(shape))
    def flatten(self, start_dim=0, end_dim=-1): return F.flatten(self, start_dim, end_dim)
    def transpose(self, dim0, dim1): return F.transpose(self, dim0, dim1)
    def permute(self, *dims): return F.permute(self, _shape_args(dims))
    def unsqueeze(self, dim): return F.unsqueeze(self, dim)
    def squeeze(self, dim=None): return F.squeeze(self, dim)
    def any(self): return Tensor(self._data.any())
    def all(self): return Tensor(self._data.all())

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


def _index_arrays(index):
    """An index with Tensors replaced by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


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
        data = np.asarray(data)
        if data.dtype.kind == "f":
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
