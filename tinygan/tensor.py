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
One difference: ``Tensor.data`` is the raw numpy/cupy array.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .core.function import enable_grad, is_grad_enabled, no_grad  # noqa: F401
from .core.ops import Clone, To
from .core.tensor import Tensor as CoreTensor
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

    def __init__(self, data, requires_grad=False):
        """Wrap a numpy/cupy array as is (no copy). Python numbers and nested lists become
        a float32 array, as ``torch.Tensor([[1, 2], [3, 4]])`` does."""
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
