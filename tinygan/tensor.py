"""The Tensor users see: the core's Tensor with PyTorch's methods around it.

Names and behaviour follow PyTorch, so code from a PyTorch course reads the same:

>>> import tinygan as tg
>>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
tensor([[2., 4.],
        [6., 8.]])

The core (tinygan/core/) holds what autograd needs: the state, the ops, the walk.
Each group of methods here checks its arguments, settles the dtype by PyTorch's rules
(tinygan/dtypes.py) and applies a core op: arithmetic, elementwise, reductions,
shapes, and in-place writes through views (tinygan/methods/inplace.py explains those).
"""
from __future__ import annotations

import numpy as np

from . import backend
from .core.function import enable_grad, is_grad_enabled, no_grad  # noqa: F401
from .core.ops import Clone, To
from .core.tensor import Tensor as CoreTensor
from .size import Size
from .dtypes import float32, float64, get_default_dtype, int32, int64
from .methods.args import _check_dim
from .methods.arithmetic import Arithmetic
from .methods.elementwise import Elementwise
from .methods.inplace import InPlace
from .methods.reductions import Reductions
from .methods.shapes import Shapes


class Tensor(Arithmetic, Elementwise, Reductions, Shapes, InPlace, CoreTensor):
    """An n-dimensional array that records the ops applied to it for autograd."""

    __slots__ = ()
    __array_priority__ = 1000  # numpy_scalar * tensor calls Tensor.__rmul__

    def __init__(self, *data, requires_grad=False):
        """As ``torch.Tensor``: ``Tensor(3, 4)`` is an uninitialised 3×4 float32 tensor (its
        values are whatever the memory held), ``Tensor()`` an empty one; ``Tensor([[1, 2],
        [3, 4]])`` makes float32 values of nested lists or numbers. A numpy/cupy array is
        wrapped as it is (no copy)."""
        if not data or all(type(n) is int for n in data):  # sizes (Python ints: a NumPy
            # integer is a value, as the library's own Tensor(xp_result) calls pass them)
            data = np.empty(tuple(int(n) for n in data) or (0,), dtype=get_default_dtype())
        elif len(data) > 1:
            raise TypeError(f"Tensor(*sizes) takes integer sizes, got "
                            f"{', '.join(type(n).__name__ for n in data)}")
        else:
            data = data[0]
        if isinstance(data, CoreTensor):
            raise TypeError("Tensor(t) with a Tensor: use t.detach() or t.clone()")
        if isinstance(data, np.generic):  # numpy gives scalars for 0-d results; keep arrays
            data = np.asarray(data)
        elif not hasattr(data, "dtype"):
            data = np.array(data, dtype=get_default_dtype())
        super().__init__(data, requires_grad)

    # --- the array underneath ----------------------------------------------------------
    @property
    def data(self):
        """The same memory as a Tensor outside autograd, as PyTorch's ``.data``: no grad, no
        history, and writes into it (``w.data.fill_(0.5)``) change this tensor unseen by
        autograd. ``detach()`` is the safer twin: autograd checks writes into that.

        >>> import tinygan as tg
        >>> w = tg.zeros(2, requires_grad=True)
        >>> w.data.fill_(0.5)
        tensor([0.5000, 0.5000])
        >>> w
        tensor([0.5000, 0.5000], requires_grad=True)
        """
        return self._wrap(self._data)

    @data.setter
    def data(self, value):
        """``t.data = other``: t now holds other's memory (a Tensor's, or an array), any
        shape, dtype or device, as PyTorch's; its graph and requires_grad stay."""
        array = value._data if isinstance(value, CoreTensor) else value
        if not (hasattr(array, "dtype") and hasattr(array, "shape")) or isinstance(
                array, np.generic):
            raise TypeError(f"Tensor.data must be set to a Tensor, got {type(value).__name__}")
        backend.device_of(array)          # a numpy or cupy array, or the error naming it
        self._data = array

    @property
    def grad(self):
        """d(loss)/d(this tensor) after backward (a leaf's), else None."""
        return self._grad

    @grad.setter
    def grad(self, value):
        """``t.grad = g``: None, or a Tensor of t's shape, dtype and device (PyTorch's checks
        and words: a gradient is never broadcast into its tensor)."""
        if value is not None:
            if not isinstance(value, CoreTensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad "
                                f"of type {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(f"attempting to assign a gradient of size "
                                   f"'{list(value.shape)}' to a tensor of size "
                                   f"'{list(self.shape)}'. Please ensure that the gradient and "
                                   "the tensor are the same size")
            if value.dtype != self.dtype or value.device != self.device:
                raise RuntimeError(f"attempting to assign a gradient of {value.dtype} on "
                                   f"{value.device} to a {self.dtype} tensor on "
                                   f"{self.device}: convert it with .to() first")
        self._grad = value

    @property
    def shape(self):
        """The sizes of the dimensions, a tg.Size (a tuple)."""
        return tuple.__new__(Size, self._data.shape)   # NumPy's sizes are ints already

    @property
    def is_cuda(self):
        return self.device == backend.CUDA

    @property
    def is_cpu(self):
        return self.device == backend.CPU

    # PyTorch's other device kinds, which tinygan never holds (scripts ask before choosing)
    is_xpu = is_mps = is_meta = property(lambda self: False)

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``, ``plt.imshow(t)``: the values as a NumPy array, shared with t
        (PyTorch's rules: a tensor that requires grad, or one on "cuda", is refused with the
        way out)."""
        if self.device != backend.CPU:
            raise TypeError("can't convert cuda:0 device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        array = self._data if dtype is None else self._data.astype(dtype, copy=False)
        return array.copy() if copy else array

    def dim(self):
        return self._data.ndim

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
    def clone(self):
        """A copy that stays on the graph (its gradient flows back to self)."""
        return Clone.apply(self)

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
