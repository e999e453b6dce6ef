"""A strict stand-in for the ``cupy`` module, for testing the "cuda" code path on a CPU.

Use it in tests as ``tinygan.backend._use_cuda_module(cupy_standin)``. Arrays hold
numpy data, so results equal numpy's, but the rules are CuPy's, and code that
breaks them fails here as it would on a GPU:

* Only names real CuPy exports exist: ``cupy_names.json`` lists them (written by
  ``dump_names.py`` from a real install), for the module, ``random``, Generator
  methods, ``ndarray`` attributes, ``cuda``, ``linalg``, ``fft`` and ufunc methods.
  A numpy-only name raises AttributeError (``cupy_standin.errstate``), as does a
  CuPy name the stand-in does not mirror (the message says which of the two).
* ``ndarray`` is not a numpy subclass. ``np.asarray(a)`` raises CuPy's TypeError.
* A raw ``numpy.ndarray`` meeting a device array (operator, function, ufunc,
  method argument, index, ``out=``, assigned value) is a TypeError. Python and
  numpy scalars, and dtypes, are fine. Ufuncs and operators take only device
  arrays and scalars (a list is "Unsupported type", as in CuPy).
* ``np.exp(a)``, ``np.sum(a)`` dispatch to the stand-in (``__array_ufunc__`` /
  ``__array_function__``), returning device arrays, as CuPy does.
* Reductions and full integer indexing give 0-d device arrays, never scalars.
* Data reaches the host only through counted transfers (see ``transfers``):
  ``.get()``, ``asnumpy``, ``.item()``, ``.tolist()``, ``float/int/bool/complex()``,
  ``repr/str/format`` (CuPy prints through ``.get()``, so these count too) and
  pickling. There is no ``__index__`` (CuPy has none). Iterating yields device
  sub-arrays without a transfer.
* Integer-array indices out of bounds are an IndexError (``a[idx]``, ``a[idx] = v``,
  ``take``, ``take_along_axis``, ``put_along_axis``, ``put``, ``compress``,
  ``ufunc.at``, ``scatter_*``, ``add.reduceat``): real CuPy wraps them silently
  (``i % n``), so a bad label picks a wrong row on a GPU. Negative indices in
  [-n, n) are fine; boolean masks are masks.
* A write into a broadcast view (an axis of stride 0 and length > 1) is a
  ValueError: ``broadcast_to`` views are writable in CuPy and such a write races.
  Covered: ``__setitem__``, in-place operators, ``out=`` of ufuncs, functions and
  methods, ``fill``, ``sort``, ``copyto``, ``put``, ``put_along_axis``, ``ufunc.at``,
  ``scatter_*`` (and ``.set()``).
* ``a[idx] = v`` where the integer-array index selects one element twice, with
  an array of values, is a ValueError (CuPy leaves the winner undefined; numpy
  keeps the last): use ``cupy.add.at`` to accumulate. Repeats in ``put`` and
  ``put_along_axis`` count too; reading with repeats and ``ufunc.at`` are fine.
* ufunc methods are CuPy 14's: ``at`` only for add, subtract, maximum, minimum
  and the bitwise and/or/xor, on the dtypes CUDA atomics take; ``reduce`` and
  ``accumulate`` only for add and multiply; ``reduceat`` only for add; ``outer``
  for all. Others raise CuPy's NotImplementedError.
* ``random.default_rng(seed)`` has only cupy.random.Generator's methods (no
  ``normal``, no ``permutation``); ``cuda`` has streams, devices and events that
  never wait; ``get_default_memory_pool().used_bytes()`` sums live array buffers.

Stand-in-only API (real CuPy has none of it)::

    cupy_standin.transfers.device_to_host    # counts since import / reset()
    cupy_standin.transfers.host_to_device
    cupy_standin.transfers.reset()
    with cupy_standin.transfers.counting() as n:   # n.device_to_host, n.host_to_device
        ...                                        # count this block only
    with cupy_standin.transfers.forbid():          # any device-to-host copy raises
        ...

    cupy_standin.fused_calls                       # fused function -> its calls' argument types

    cupy_standin.device_ops.count                  # device ops since import / reset()
    cupy_standin.device_ops.by_name                # collections.Counter: op name -> count
    cupy_standin.device_ops.reset()
    with cupy_standin.device_ops.counting() as n:  # n.count, n.by_name: this block only
        ...

A device op is a call that launches a kernel (or a copy) on real CuPy, one per call:
every ufunc, operator and ufunc method (``a + b``, ``a *= 2``, ``cupy.exp``,
``cupy.add.at``); every function or method whose result is new memory (reductions,
``matmul``/``dot``/``einsum``, ``zeros``/``ones``/``full``/``arange``/``eye``, random
draws, ``concatenate``/``stack``, ``astype``/``copy``/``ascontiguousarray`` that copy,
``take`` and fancy-index or mask gathers, ``where``, ``clip``); every write (``a[i] = v``,
``out=``, ``fill``, ``copyto``, ``put``, ``scatter_add``); a host<->device copy (counted
in ``transfers`` as well); a call of a ``cupy.fuse`` function (one kernel). Free: views
(basic slicing, ``reshape``/``ravel`` without a copy, ``transpose``, ``.T``,
``broadcast_to``, ``expand_dims``, ``squeeze``), ``empty``/``empty_like`` (memory, no
kernel), and a result that is an input (``asarray(a)``, ``astype(same, copy=False)``).
Names: ``"exp"`` (a function or ufunc), ``"ndarray.sum"`` (a method),
``"ndarray.__mul__"`` (an operator), ``"random.standard_normal"``, ``"to host: .get()"``.
Where CuPy runs one call as a few kernels (``var``, ``linalg.norm``, a mask gather),
it counts one: the count is a floor.
"""
import functools as _functools
import sys as _sys
import types as _types

import numpy as _np

from . import _core
from ._core import NAMES as _NAMES, device_ops, ndarray, transfers, ufunc


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    """Device -> host copy (counted); a host value comes back as a numpy array."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return _np.asarray(a, order=order)


def _host_to_device(np_func, name):
    def function(obj, dtype=None, **kwargs):
        if _all_device(obj):  # numpy's copy rules: asarray(a) is a, array(a) copies
            return _core.call_numpy(np_func, (obj, dtype), kwargs, op=name)
        transfers.record("host_to_device", f"{name}()")
        kwargs.pop("copy", None)  # a host -> device copy never aliases the host data
        host = _core.from_device(obj, {}, host_ok=True)
        return ndarray._wrap(_np.array(host, dtype, copy=True, **kwargs))
    function.__name__ = name
    return function


def _all_device(obj):
    if isinstance(obj, ndarray):
        return True
    return type(obj) in (list, tuple) and len(obj) > 0 and all(_all_device(x) for x in obj)


asarray = _host_to_device(_np.asarray, "asarray")
array = _host_to_device(_np.array, "array")
asanyarray = _host_to_device(_np.asanyarray, "asanyarray")


def get_array_module(*args):
    """This module if any argument is a device array, else numpy."""
    return _sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else _np


def get_default_memory_pool():
    return _core.memory_pool


def is_available():
    return True


# Stand-in only: the function of every cupy.fuse kernel called so far -> the argument types
# of its calls (("array", dtype, ndim) or the number's type), for tests/test_fused.py, which
# traces each through real CuPy's fusion.
fused_calls = {}

# What CuPy's Fusion.__call__ accepts (a numpy array too, but meeting a device array it is
# the host/device mix the stand-in refuses everywhere).
_FUSE_ARGUMENTS = (ndarray, _np.generic, int, float, complex, bool, type(None))


def fuse(*args, **kwargs):
    """CuPy compiles the function into one kernel; here it runs as written, and a call
    counts as one device op, whatever ops it holds (named as CuPy names the kernel:
    ``kernel_name``, else the function's name). As CuPy, the kernel takes positional
    arguments only, each a device array, a number or None."""
    def fused(function):
        name = kwargs.get("kernel_name") or function.__name__

        @_functools.wraps(function)
        def call(*a, **k):
            if k:
                raise TypeError(f"{name}() takes positional arguments only (a cupy.fuse "
                                f"kernel), got keywords {sorted(k)}")
            wrong = [type(x).__name__ for x in a if not isinstance(x, _FUSE_ARGUMENTS)]
            if wrong:
                raise TypeError(f"Invalid argument type for '{name}': ({', '.join(wrong)})")
            fused_calls.setdefault(function, set()).add(tuple(
                ("array", x.dtype.str, x.ndim) if isinstance(x, ndarray) else type(x)
                for x in a))
            with device_ops.one_op(f"fuse({name})"):
                return function(*a)
        return call
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return fused(args[0])
    return fused


class _Submodule(_types.ModuleType):
    """cupy.linalg / cupy.fft: numpy's functions of the names CuPy exports there."""

    def __init__(self, where, np_module):
        super().__init__(f"{__name__}.{where}")
        self._where, self._np_module = where, np_module

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        value = _core.mirror(self._np_module, name, self._where)
        setattr(self, name, value)
        return value


linalg = _Submodule("linalg", _np.linalg)
fft = _Submodule("fft", _np.fft)

from . import cuda, random  # noqa: E402  (they import _core, which must exist first)


def __getattr__(name):
    """Every other name CuPy exports: numpy's, made to work on device arrays."""
    if name.startswith("__"):
        raise AttributeError(name)
    if name not in _NAMES["module"]:
        raise _core.missing("module", name)
    value = _core.mirror(_np, name, "module")
    globals()[name] = value  # cached: cupy_standin.add is cupy_standin.add
    return value
