"""How tensors are made: tg.tensor, zeros, ones, randn, arange, ... (PyTorch's factories)."""
from __future__ import annotations

import builtins
import numbers

import numpy as np

from . import backend
from .dtypes import bool_, float64, get_default_dtype, int64
from .methods.args import _number
from .tensor import Tensor


def _resolve_dtype(dtype):
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor (always a copy) from nested lists, numbers, arrays or a Tensor.

    Python floats become float32 (the default dtype) and Python ints int64, as in
    PyTorch; numpy and cupy arrays keep their dtype unless ``dtype`` is given.
    """
    if isinstance(data, Tensor):
        data = data._data
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
    return Tensor(xp.zeros(_size(size), dtype=_resolve_dtype(dtype)),
                  requires_grad=requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    xp = backend.xp_for(device)
    return Tensor(xp.ones(_size(size), dtype=_resolve_dtype(dtype)),
                  requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """Filled with fill_value; its dtype follows the value (int64, bool, float32) as in PyTorch."""
    if dtype is None and isinstance(fill_value, (bool, np.bool_)):
        dtype = bool_
    elif dtype is None and isinstance(fill_value, numbers.Integral):
        dtype = int64
    xp = backend.xp_for(device)
    return Tensor(xp.full(_size((size,)), fill_value, dtype=_resolve_dtype(dtype)),
                  requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Like torch.arange: integers give int64, any float gives the default dtype."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        all_ints = builtins.all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = int64 if all_ints else get_default_dtype()
    xp = backend.xp_for(device)
    return Tensor(xp.arange(start, end, step, dtype=np.dtype(dtype)),
                  requires_grad=requires_grad)


def _generator(generator, device):
    return generator if generator is not None else backend.default_generator(device)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard normal samples (float32 unless dtype says otherwise)."""
    device = backend.normalize_device(device)
    backend.xp_for(device)  # fail early with the reason if "cuda" is unusable
    array = _generator(generator, device).standard_normal(_size(size), _resolve_dtype(dtype))
    return Tensor(array, requires_grad=requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform samples on [0, 1)."""
    device = backend.normalize_device(device)
    backend.xp_for(device)
    array = _generator(generator, device).random(_size(size), _resolve_dtype(dtype))
    return Tensor(array, requires_grad=requires_grad)


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
    return Tensor(xp.empty(_size(size), dtype=_resolve_dtype(dtype)),
                  requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n×m identity matrix (m = n by default)."""
    m = n if m is None else m
    for name, value in (("n", n), ("m", m)):
        if not isinstance(value, numbers.Integral) or value < 0:
            raise RuntimeError(f"eye: {name} must be a non-negative integer, got {value!r}")
    xp = backend.xp_for(device)
    return Tensor(xp.eye(int(n), int(m), dtype=_resolve_dtype(dtype)),
                  requires_grad=requires_grad)


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
    return Tensor(values.astype(dtype), requires_grad=requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad=False):
    """Integers drawn uniformly from [low, high): ``randint(high, size)`` or
    ``randint(low, high, size)``; int64 unless dtype says otherwise. tg.manual_seed sets
    the stream, as for tg.randn.

    >>> import tinygan as tg
    >>> tg.randint(3, 6, (2, 4)).shape
    tinygan.Size([2, 4])
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
    xp = backend.xp_for(device)
    # uniform floats in [0, 1) scaled to the range: unbiased to 2**-53 of a draw
    u = _generator(generator, device).random(_size((size,)), float64)
    values = xp.minimum(xp.floor(u * (high - low)), high - low - 1).astype(np.int64) + low
    return Tensor(values.astype(_resolve_dtype(int64 if dtype is None else dtype)),
                  requires_grad=requires_grad)
