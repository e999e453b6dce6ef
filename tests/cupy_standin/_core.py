"""The heart of the stand-in: CuPy's name lists, the transfer and device-op counters,
the memory pool, moving values in and out of numpy, and the ``ndarray`` and ``ufunc``
types. The indexing and writing rules it enforces are in ``_rules``."""
import collections
import contextlib
import inspect
import json
import operator
import os
import sys
import weakref

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _rules

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cupy_names.json")) as _f:
    NAMES = {k: frozenset(v) if isinstance(v, list) else v for k, v in json.load(_f).items()}

# What CuPy kernels accept besides device arrays (its ``_scalar.scalar_type_set``).
SCALARS = (bool, int, float, complex, np.generic)


def package():
    """The ``cupy_standin`` module itself (for lookups by name)."""
    return sys.modules[__package__]


def missing(where, name):
    """The AttributeError for a name: absent from real CuPy, or just not mirrored here."""
    if name not in NAMES[where]:
        label = "cupy" if where == "module" else f"cupy.{where}"
        return AttributeError(f"cupy_standin: {label} has no attribute {name!r} "
                              "(real CuPy does not export it)")
    label = "" if where == "module" else f"{where}."
    return AttributeError(f"cupy_standin does not implement cupy.{label}{name} "
                          "(real CuPy has it; add it to the stand-in if the library needs it)")


def mixing_error(obj):
    # CuPy's own text starts "Unsupported type <class 'numpy.ndarray'>".
    return TypeError(f"Unsupported type {type(obj)}: a numpy.ndarray met a cupy.ndarray. CuPy never "
                     "copies host arrays implicitly; use cupy.asarray(x) or x.get() first")


# --- transfers -------------------------------------------------------------------

class TransferCounter:
    """Counts copies between host and device.

    ``device_to_host``: .get(), asnumpy, .item(), .tolist(), float()/int()/bool(),
    repr()/str()/format() (CuPy prints through .get()), pickling, tobytes/tofile.
    ``host_to_device``: asarray/array of host data, .set(), unpickling.
    ``counting()`` yields a fresh counter for the block; ``forbid()`` makes any
    device-to-host copy in the block raise, with a traceback to the culprit.
    """

    def __init__(self):
        self.device_to_host = 0
        self.host_to_device = 0
        self._children = []
        self._forbidden = 0

    def reset(self):
        self.device_to_host = self.host_to_device = 0

    @contextlib.contextmanager
    def counting(self):
        child = TransferCounter()
        self._children.append(child)
        try:
            yield child
        finally:
            self._children.remove(child)

    @contextlib.contextmanager
    def forbid(self):
        self._forbidden += 1
        try:
            yield
        finally:
            self._forbidden -= 1

    def record(self, kind, what, op=True):
        if kind == "device_to_host" and self._forbidden:
            raise RuntimeError(f"cupy_standin: device-to-host transfer ({what}) inside transfers.forbid()")
        setattr(self, kind, getattr(self, kind) + 1)
        for child in self._children:
            child.record(kind, what, op=False)
        if op:  # a copy is a device op too (once, not once per counter)
            device_ops.record(f"{'to host' if kind == 'device_to_host' else 'to device'}: {what}")


transfers = TransferCounter()


# --- device ops ------------------------------------------------------------------------

class OpCounter:
    """Counts device ops: the calls that launch a kernel (or a copy) on real CuPy.

    One per call, named in ``by_name`` (a Counter): a ufunc, operator or ufunc method
    (``cupy.exp``, ``a + b``, ``a += b``, ``cupy.add.at``); a function or method whose
    result is new memory (reductions, matmul, ``zeros``, ``arange``, random draws,
    ``concatenate``, ``astype``/``copy`` that copy, a fancy-index gather); a write
    (``a[i] = v``, ``out=``, ``fill``, ``copyto``, ``put``...); a host<->device copy (also
    in ``transfers``); a ``cupy.fuse`` function (one kernel, whatever it holds). Free:
    views (basic slicing, reshape/ravel without a copy, transpose, ``.T``,
    ``broadcast_to``, ``expand_dims``), ``empty``/``empty_like`` (an allocation, no
    kernel), and results that are an input (``asarray(a)``, ``astype`` to the same dtype
    with copy=False). A call CuPy runs as a few kernels (``var``, ``linalg.norm``, a
    boolean-mask gather) counts one, so the count is a floor.
    """

    def __init__(self):
        self.count = 0
        self.by_name = collections.Counter()
        self._children = []
        self._muted = 0   # inside a fused function: its ops are the one kernel

    def reset(self):
        self.count = 0
        self.by_name.clear()

    @contextlib.contextmanager
    def counting(self):
        child = OpCounter()
        self._children.append(child)
        try:
            yield child
        finally:
            self._children.remove(child)

    def record(self, name):
        if self._muted:
            return
        self.count += 1
        self.by_name[name] += 1
        for child in self._children:
            child.record(name)

    @contextlib.contextmanager
    def one_op(self, name):
        """What runs inside counts as the one op ``name`` (cupy.fuse: one kernel)."""
        self.record(name)
        self._muted += 1
        try:
            yield
        finally:
            self._muted -= 1


device_ops = OpCounter()


def root(a):
    """The numpy array that owns the memory behind ``a`` (``a`` itself unless a view)."""
    while True:
        base = a.base
        if not isinstance(base, np.ndarray):
            base = getattr(base, "base", None)  # as_strided's DummyArray keeps the array
            if not isinstance(base, np.ndarray):
                return a
        a = base


def new_memory(result, memo):
    """Whether a numpy result holds memory that no input (``memo``'s arrays) owns:
    then a kernel wrote it. Views of an input, and an input itself, are free."""
    parts = result if type(result) in (list, tuple) else (result,)
    arrays = [r for r in parts if isinstance(r, (np.ndarray, np.generic))]
    if not arrays:
        return False
    inputs = {id(root(x._a)) for x in memo.values()}
    return any(isinstance(r, np.generic) or id(root(r)) not in inputs for r in arrays)


class MemoryPool:
    """cupy.cuda.MemoryPool stand-in. used_bytes() is the size of the distinct numpy
    buffers behind live stand-in arrays (a view counts its base once); CuPy's pool
    also rounds each block up to 512 bytes, which this does not."""

    def __init__(self):
        self._live = {}  # id(buffer) -> nbytes, dropped by a finalizer when the buffer dies

    def track(self, a):
        owner = root(a)
        key = id(owner)
        if key not in self._live:
            self._live[key] = owner.nbytes
            weakref.finalize(owner, self._live.pop, key, None)

    def used_bytes(self):
        return sum(self._live.values())

    def total_bytes(self):
        return self.used_bytes()  # nothing is cached...

    def free_all_blocks(self, stream=None):
        pass  # ...so there is nothing to free


memory_pool = MemoryPool()


# --- moving values in and out of numpy ---------------------------------------------

def from_device(obj, memo, host_ok=False):
    """``obj`` with stand-in arrays (also inside lists, tuples, dicts) replaced by their
    numpy data; a raw numpy array is a TypeError unless ``host_ok``. ``memo`` records
    id(numpy data) -> stand-in, so a result that *is* an input comes back as that input."""
    if isinstance(obj, ndarray):
        memo[id(obj._a)] = obj
        return obj._a
    if isinstance(obj, np.ndarray) and not host_ok:
        raise mixing_error(obj)
    if type(obj) in (list, tuple):
        return type(obj)(from_device(x, memo, host_ok) for x in obj)
    if type(obj) is dict:
        return {k: from_device(v, memo, host_ok) for k, v in obj.items()}
    return obj


def elementwise_arg(x, memo):
    """An operand of a ufunc or operator: only device arrays and scalars, as in CuPy."""
    if isinstance(x, ndarray):
        memo[id(x._a)] = x
        return x._a
    if isinstance(x, np.ndarray):
        raise mixing_error(x)
    if not isinstance(x, SCALARS):
        raise TypeError(f"Unsupported type {type(x)}")
    return x


def to_device(obj, memo=None):
    """Wrap numpy results; numpy scalars become 0-d arrays (CuPy never returns scalars)."""
    if isinstance(obj, np.ndarray):
        if memo and id(obj) in memo:
            return memo[id(obj)]
        return ndarray._wrap(obj)
    if isinstance(obj, np.generic):
        return ndarray._wrap(np.asarray(obj))
    if type(obj) in (list, tuple):
        return type(obj)(to_device(x, memo) for x in obj)
    return obj


def call_numpy(func, args, kwargs, memo=None, op=None, writes=False):
    """``func`` on the numpy data; with ``op``, a device op of that name when the call
    writes (``writes``, or ``out=``) or its result is new memory (see ``OpCounter``)."""
    memo = {} if memo is None else memo
    result = func(*from_device(args, memo), **from_device(kwargs, memo))
    if op is not None and (writes or kwargs.get("out") is not None or new_memory(result, memo)):
        device_ops.record(op)
    return to_device(result, memo)


# --- ndarray -----------------------------------------------------------------------

# Methods that hand data to the host; each call counts one device-to-host transfer.
_HOST_METHODS = {"item", "tolist", "tobytes", "tofile", "dump", "dumps"}
# numpy has these but they would expose host memory (CuPy's are device objects).
_NOT_MIRRORED = {"data", "flat"}


class _Flags:
    """cupy.ndarray.flags: c_contiguous, f_contiguous and owndata, and nothing else."""

    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, c_contiguous, f_contiguous, owndata):
        self.c_contiguous, self.f_contiguous, self.owndata = c_contiguous, f_contiguous, owndata

    def __getitem__(self, key):   # CuPy also answers flags["C_CONTIGUOUS"]
        return getattr(self, {"C_CONTIGUOUS": "c_contiguous", "F_CONTIGUOUS": "f_contiguous",
                              "OWNDATA": "owndata"}[key])


class ndarray:
    """A device array: numpy data in ``_a`` that only leaves through counted transfers.
    Not a numpy subclass, so numpy cannot read it without asking."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100  # as CuPy's
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("cupy_standin: ndarray(memptr=, strides=) is not mirrored")
        self._a = np.empty(shape, dtype, order=order)
        memory_pool.track(self._a)

    @classmethod
    def _wrap(cls, a):
        self = object.__new__(cls)
        self._a = a
        memory_pool.track(a)
        return self

    def _host(self, what):
        transfers.record("device_to_host", what)
        return self._a

    # Everything numpy has under a name CuPy's ndarray also has.
    def __getattr__(self, name):
        if (name not in NAMES["ndarray"] or name.startswith("_") or name in _NOT_MIRRORED
                or not hasattr(self._a, name)):
            raise missing("ndarray", name)  # says whether real CuPy has the name
        if name in _HOST_METHODS:
            return lambda *args, **kwargs: getattr(self._host(f".{name}()"), name)(*args, **kwargs)
        value = getattr(self._a, name)
        if callable(value):
            check = _METHOD_CHECKS.get(name)

            def method(*args, **kwargs):
                if check is not None:
                    check(name, self, args, kwargs)
                if kwargs.get("out") is not None:
                    _rules.check_outputs(from_device(kwargs["out"], {}), f".{name}(out=)")
                return call_numpy(value, args, kwargs, {id(self._a): self}, op=f"ndarray.{name}",
                                  writes=name in _WRITING_METHODS)
            return method
        return to_device(value)

    # CuPy-specific or CuPy-flavoured attributes.
    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    @property
    def flags(self):
        """CuPy's flags hold only these three (no ``writeable``, ``aligned`` ...)."""
        a = self._a
        return _Flags(a.flags.c_contiguous, a.flags.f_contiguous, a.base is None)

    @property
    def T(self):
        return self if self._a.ndim < 2 else ndarray._wrap(self._a.T)  # CuPy returns self below 2-d

    @property
    def device(self):
        from .cuda import Device
        return Device(0)

    def get(self, stream=None, order="C", out=None, blocking=True):
        a = self._host(".get()")
        if out is None:
            return np.array(a, order=order, copy=True)
        if not isinstance(out, np.ndarray):
            raise TypeError("Only numpy.ndarray can be obtained from cupy.ndarray")
        out[...] = a
        return out

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if arr.dtype != self._a.dtype or arr.shape != self._a.shape:
            raise ValueError(f"cannot set {arr.dtype}{arr.shape} into {self._a.dtype}{self._a.shape}")
        _rules.check_writable(self._a, ".set()")
        transfers.record("host_to_device", ".set()")
        self._a[...] = arr

    # Conversions (more below): each one is a copy to the host.
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __format__(self, spec):
        return format(self._host("format()"), spec)

    def __reduce__(self):
        return _unpickle, (np.array(self._host("pickle"), copy=True),)

    def __copy__(self):
        device_ops.record("copy.copy")
        return ndarray._wrap(self._a.copy())

    def __deepcopy__(self, memo):
        device_ops.record("copy.deepcopy")
        return ndarray._wrap(self._a.copy())

    # Containers: iteration yields device sub-arrays, as in CuPy; no transfer.
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __getitem__(self, key):
        key = from_device(key, {})
        _rules.index_arrays(key, self._a.shape, "a[index]")  # CuPy wraps out-of-bounds indices
        result = self._a[key]
        if isinstance(result, np.generic):  # CuPy returns a 0-d view; Ellipsis makes numpy do so too
            result = self._a[(key if isinstance(key, tuple) else (key,)) + (Ellipsis,)]
        if root(result) is not root(self._a):  # an index array or mask: a gather kernel
            device_ops.record("ndarray.__getitem__")
        return ndarray._wrap(result)

    def __setitem__(self, key, value):
        # Stricter than CuPy, which accepts `a[:] = host_array` of equal shape and dtype.
        key, value = from_device(key, {}), elementwise_arg(value, {})
        _rules.check_setitem(self._a, key, value)  # bounds, broadcast views, repeated elements
        self._a[key] = value
        device_ops.record("ndarray.__setitem__")  # a copy, fill or scatter kernel

    # numpy protocols: np.exp(a), np.sum(a) run the stand-in's function, as in CuPy.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":  # CuPy forwards plain calls only (np.add.at(a, ...) fails there)
            return NotImplemented
        out = kwargs.get("out", ())
        if out:
            if len(out) != 1:
                raise ValueError("The 'out' parameter must have exactly one array value")
            kwargs["out"] = out[0]
        try:
            func = getattr(package(), ufunc.__name__)
        except AttributeError:
            return NotImplemented
        if not all(isinstance(x, (ndarray, np.ndarray) + SCALARS) for x in inputs + tuple(out)):
            return NotImplemented
        return func(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        module = package()
        parts = func.__module__.split(".")[1:]  # "numpy.linalg" -> cupy_standin.linalg
        if any(part.startswith("_") for part in parts):
            return NotImplemented
        try:
            for part in parts:
                module = getattr(module, part)
            implementation = getattr(module, func.__name__)
        except AttributeError:
            return NotImplemented
        if not all(issubclass(t, (ndarray, np.ndarray)) for t in types):
            return NotImplemented
        return implementation(*args, **kwargs)

    def __pos__(self):
        return self  # as CuPy


def _unpickle(a):
    transfers.record("host_to_device", "unpickle")
    return ndarray._wrap(a)


def _host_conversion(convert):
    def method(self):
        return convert(self._host(f"{convert.__name__}()"))
    return method


# ufunc.at exists in CuPy only for the ufuncs created with a scatter op: ufunc.at raises
# NotImplementedError unless self._scatter_op (cupy/_core/_kernel.pyx, class ufunc). Those
# are add and subtract (cupy/_core/_routines_math.pyx, create_arithmetic(...,
# scatter_op='add'/'sub')), bitwise_and/or/xor (_routines_binary.pyx, 'and'/'or'/'xor'),
# maximum and minimum ('max'/'min'; CuPy's tests/cupy_tests/core_tests/
# test_ufunc_methods.py TestUfuncAtAtomicOps covers all seven). The integer-array path runs
# CUDA atomics, which take only these dtypes, tested as issubclass(dtype.type, ...)
# (cupy/_core/_routines_indexing.pyx, _scatter_op_single; CuPy 14). So int64 is refused
# for add.at (numpy.int64 is numpy.long, not numpy.longlong) but allowed for the bitwise ones.
_SCATTER_TYPES = {
    "add": (np.int32, np.float16, np.float32, np.float64, np.uint32, np.uint64,
            np.intc, np.uintc, np.ulonglong),
    "subtract": (np.int32, np.uint32, np.intc, np.uintc),
    "maximum": (np.int32, np.float32, np.float64, np.uint32, np.uint64,
                np.intc, np.uintc, np.ulonglong),
    "bitwise_and": (np.int32, np.int64, np.uint32, np.uint64,
                    np.intc, np.uintc, np.longlong, np.ulonglong),
}
_SCATTER_TYPES["minimum"] = _SCATTER_TYPES["maximum"]
_SCATTER_TYPES["bitwise_or"] = _SCATTER_TYPES["bitwise_xor"] = _SCATTER_TYPES["bitwise_and"]
_SCATTER_TYPE_NAMES = {name: ", ".join(dict.fromkeys(np.dtype(t).name for t in types))
                       for name, types in _SCATTER_TYPES.items()}


def scatter(target, name, indices, value, what):
    """``cupy.<name>.at(target, indices, value)`` (also ``target.scatter_<op>``), by CuPy's rules."""
    if isinstance(target, np.ndarray):
        raise mixing_error(target)
    if not isinstance(target, ndarray):
        raise TypeError(f"{what}: the target must be a cupy.ndarray, got {type(target)}")
    a = target._a
    _rules.check_writable(a, what)
    key = from_device(indices, {})
    arrays = _rules.index_arrays(key, a.shape, what)
    # CuPy's integer-array path (not a lone boolean mask, not basic indexing) is atomic.
    if (arrays and not _rules.single_mask(arrays)
            and not issubclass(a.dtype.type, _SCATTER_TYPES[name])):
        raise TypeError(f"cupy.{name}.at only supports {_SCATTER_TYPE_NAMES[name]} "
                        f"as data type (CUDA atomics), got {a.dtype}")
    getattr(np, name).at(a, key, None if value is None else elementwise_arg(value, {}))
    device_ops.record(f"{name}.at")  # a.scatter_add is add.at in CuPy too


def _scatter(name):
    def method(self, slices, value):  # CuPy's a.scatter_add(slices, v) is add.at(a, slices, v)
        scatter(self, name, slices, value, f".scatter_{name[:3]}()")
    return method


def _unary(op):
    def method(self):
        device_ops.record(f"ndarray.__{op.__name__}__")
        return to_device(op(self._a))
    return method


for _convert in (float, int, complex, bool, bytes, repr, str):
    setattr(ndarray, f"__{_convert.__name__}__", _host_conversion(_convert))
for _op in (operator.neg, operator.abs, operator.invert):
    setattr(ndarray, f"__{_op.__name__}__", _unary(_op))
for _name in ("add", "maximum", "minimum"):
    setattr(ndarray, f"scatter_{_name[:3]}", _scatter(_name))


def _binary(op, reflected):
    def method(self, other):
        if isinstance(other, np.ndarray):
            raise mixing_error(other)
        if not isinstance(other, (ndarray,) + SCALARS):
            return NotImplemented
        memo = {}
        other = elementwise_arg(other, memo)
        result = op(other, self._a) if reflected else op(self._a, other)
        device_ops.record(f"ndarray.__{'r' if reflected else ''}{op.__name__.strip('_')}__")
        return to_device(result, memo)
    return method


def _inplace(op):
    def method(self, other):
        other = elementwise_arg(other, {})
        _rules.check_writable(self._a, f"__{op.__name__}__")
        op(self._a, other)  # numpy's in-place operators write into _a
        device_ops.record(f"ndarray.__{op.__name__}__")
        return self
    return method


_OPERATORS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
              "truediv": operator.truediv, "floordiv": operator.floordiv, "mod": operator.mod,
              "pow": operator.pow, "matmul": operator.matmul, "and": operator.and_,
              "or": operator.or_, "xor": operator.xor, "lshift": operator.lshift,
              "rshift": operator.rshift, "divmod": divmod, "lt": operator.lt, "le": operator.le,
              "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge}

# Only the operators CuPy's ndarray has: e.g. no __imatmul__, so `a @= b` rebinds a.
for _name, _op in _OPERATORS.items():
    if f"__{_name}__" in NAMES["ndarray"]:
        setattr(ndarray, f"__{_name}__", _binary(_op, reflected=False))
    if f"__r{_name}__" in NAMES["ndarray"]:
        setattr(ndarray, f"__r{_name}__", _binary(_op, reflected=True))
    if f"__i{_name}__" in NAMES["ndarray"]:
        setattr(ndarray, f"__i{_name}__", _inplace(getattr(operator, f"i{_name}")))


# --- ufuncs and functions ------------------------------------------------------------

class ufunc:
    """cupy.ufunc stand-in: numpy's ufunc of the same name, on device arrays and scalars only.

    Its methods are CuPy 14's (cupy/_core/_kernel.pyx, ``class ufunc``): ``outer`` for
    every ufunc; ``at`` only for the ufuncs with a scatter op (add, subtract, maximum,
    minimum, bitwise_and/or/xor; see ``scatter``); ``reduce`` and ``accumulate`` only for
    add and multiply (CuPy runs sum/prod and cumsum/cumprod); ``reduceat`` only for add.
    The others raise CuPy's NotImplementedError (CuPy names the ufunc ``cupy_<name>``).
    """

    def __init__(self, np_ufunc):
        self._f = np_ufunc
        self.__name__ = self.name = np_ufunc.__name__
        self.nin, self.nout, self.nargs, self.types = (
            np_ufunc.nin, np_ufunc.nout, np_ufunc.nargs, np_ufunc.types)

    def __repr__(self):
        return f"<ufunc '{self.name}' (cupy_standin)>"

    def __call__(self, *args, **kwargs):
        memo = {}
        args = [elementwise_arg(x, memo) for x in args]
        kwargs = from_device(kwargs, memo)
        if len(args) > self.nin:  # positional outputs
            _rules.check_outputs(tuple(args[self.nin:]), f"cupy.{self.name}(out=)")
        if kwargs.get("out") is not None:
            _rules.check_outputs(kwargs["out"], f"cupy.{self.name}(out=)")
        result = self._f(*args, **kwargs)
        device_ops.record(self.name)  # every ufunc call is one elementwise kernel
        return to_device(result, memo)

    def _unsupported(self, method):  # CuPy's message, with CuPy's name for the ufunc
        name = "true_divide" if self.name == "divide" else self.name   # cupy.divide is it
        return NotImplementedError(f"`cupy_{name}.{method}` is not supported yet")

    def at(self, a, indices, b=None):
        if self.name not in _SCATTER_TYPES:
            raise self._unsupported("at")
        scatter(a, self.name, indices, b, f"cupy.{self.name}.at")

    def reduce(self, array, axis=0, dtype=None, out=None, keepdims=False):
        if self.name not in ("add", "multiply"):
            raise self._unsupported("reduce")
        method = "sum" if self.name == "add" else "prod"
        return getattr(_device_operand(array, self.name), method)(
            axis=axis, dtype=dtype, out=out, keepdims=keepdims)

    def accumulate(self, array, axis=0, dtype=None, out=None):
        if self.name not in ("add", "multiply"):
            raise self._unsupported("accumulate")
        method = "cumsum" if self.name == "add" else "cumprod"
        return getattr(_device_operand(array, self.name), method)(axis=axis, dtype=dtype, out=out)

    def reduceat(self, array, indices, axis=0, dtype=None, out=None):
        if self.name != "add":
            raise self._unsupported("reduceat")
        a = _device_operand(array, self.name)._a
        n = a.shape[axis] if isinstance(axis, int) and -a.ndim <= axis < a.ndim else None
        if n is not None:  # CuPy gathers with array.take(indices): wrapped
            _rules.check_bounds(_index_argument(indices), n, axis, "cupy.add.reduceat")
        if out is not None:
            _rules.check_outputs(from_device(out, {}), "cupy.add.reduceat(out=)")
        return call_numpy(self._f.reduceat, (array, indices, axis, dtype, out), {},
                          op="add.reduceat", writes=True)

    def outer(self, A, B, **kwargs):
        if kwargs.get("out") is not None:
            _rules.check_outputs(from_device(kwargs["out"], {}), f"cupy.{self.name}.outer(out=)")
        return call_numpy(self._f.outer, (A, B), kwargs, op=f"{self.name}.outer", writes=True)


def _device_operand(array, name):
    if isinstance(array, ndarray):
        return array
    if isinstance(array, np.ndarray):
        raise mixing_error(array)
    raise TypeError(f"cupy_standin: cupy.{name} methods take a cupy.ndarray, got {type(array)}")


def _index_argument(x):
    """An index argument as numpy data: a device array, or host ints CuPy copies over."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise mixing_error(x)
    return np.asarray(from_device(x, {}))


# --- rule checks for the functions and methods that take index arrays or write ------

_SIGNATURES = {}


def _arguments(np_func, args, kwargs):
    """The arguments passed (no defaults filled in), by name, as numpy's function binds them."""
    if np_func not in _SIGNATURES:
        _SIGNATURES[np_func] = inspect.signature(np_func)
    try:
        return _SIGNATURES[np_func].bind(*args, **kwargs).arguments
    except TypeError:
        return None  # numpy raises its own error for the call


def _axis_size(a, axis):
    """(size, axis for the message) of ``axis`` of numpy data ``a``; None: flattened."""
    if axis is None:
        return a.size, 0
    try:
        return a.shape[axis], axis
    except (IndexError, TypeError):
        return None, None  # numpy raises AxisError


def _check_take(name, args, kwargs):
    """take(a, indices, axis=None, ...): CuPy's take kernel wraps (it has no mode=)."""
    bound = _arguments(np.take, args, kwargs)
    if (bound is None or not isinstance(bound.get("a"), ndarray)
            or bound.get("mode", "raise") != "raise"):
        return
    size, axis = _axis_size(bound["a"]._a, bound.get("axis"))
    if size is not None:
        _rules.check_bounds(_index_argument(bound["indices"]), size, axis, f"{name}()")


def _check_take_along_axis(name, args, kwargs):
    """take_along_axis(arr, indices, axis): CuPy indexes arr[fancy index]: wrapped."""
    bound = _arguments(np.take_along_axis, args, kwargs)
    if bound is None or not isinstance(bound.get("arr"), ndarray):
        return
    size, axis = _axis_size(bound["arr"]._a, bound.get("axis", -1))
    if size is not None:
        _rules.check_bounds(_index_argument(bound["indices"]), size, axis, f"{name}()")


def _check_put_along_axis(name, args, kwargs):
    """put_along_axis(arr, indices, values, axis): CuPy 14 runs arr[fancy index] = values,
    so all three setitem rules apply; a repeat is an index repeated along ``axis``."""
    bound = _arguments(np.put_along_axis, args, kwargs)
    if bound is None or not isinstance(bound.get("arr"), ndarray):
        return
    a = bound["arr"]._a
    _rules.check_writable(a, f"{name}()")
    size, axis = _axis_size(a, bound.get("axis"))
    if size is None:
        return
    indices = _index_argument(bound["indices"])
    _rules.check_bounds(indices, size, axis, f"{name}()")
    if _rules.single_value(_value_argument(bound.get("values"))) or indices.ndim == 0:
        return
    if bound.get("axis") is None:
        indices, axis = indices.ravel(), 0
    normal = np.sort(np.where(indices < 0, indices + size, indices), axis=axis)
    repeats = np.moveaxis(normal, axis, -1)
    where = np.argwhere(repeats[..., 1:] == repeats[..., :-1])
    if where.size:
        index = int(repeats[tuple(where[0])])
        raise _rules.repeated_write(f"{name}()", f"index {index} along axis {axis}")


def _check_put(name, args, kwargs):
    """put(a, ind, v, mode): CuPy's default mode is 'wrap' (numpy's is 'raise'), and its
    kernel stores in parallel, so a repeated index with differing values is undefined."""
    bound = _arguments(np.put, args, kwargs)
    if bound is None or not isinstance(bound.get("a"), ndarray):
        return
    a = bound["a"]._a
    _rules.check_writable(a, f"{name}()")
    indices, mode = _index_argument(bound["ind"]).ravel(), bound.get("mode")
    if mode is None:  # an explicit 'raise', 'wrap' or 'clip' means the same on CuPy
        _rules.check_bounds(indices, a.size, 0, f"{name}()")
    if a.size and not _rules.single_value(_value_argument(bound.get("v"))):
        flat = np.clip(indices, 0, a.size - 1) if mode == "clip" else indices % a.size
        element = _rules.first_repeat([(flat, 0)], (a.size,))
        if element is not None:
            raise _rules.repeated_write(f"{name}()", f"flat element {element[0]}")


def _check_compress(name, args, kwargs):
    """compress(condition, a, axis=None): CuPy takes a.take(nonzero(condition)), so a
    condition longer than the axis with a True past its end wraps."""
    bound = _arguments(np.compress, args, kwargs)
    if bound is None or not isinstance(bound.get("a"), ndarray):
        return
    size, axis = _axis_size(bound["a"]._a, bound.get("axis"))
    condition = _index_argument(bound["condition"])
    if size is not None and condition.ndim == 1 and condition.size > size:
        _rules.check_bounds(np.flatnonzero(condition), size, axis, f"{name}()")


def _value_argument(value):
    return value._a if isinstance(value, ndarray) else value


def _check_destination(name, args, kwargs):
    """Functions that write into their first argument (copyto, place, putmask, ...)."""
    dst = args[0] if args else kwargs.get("dst", kwargs.get("arr", kwargs.get("a")))
    if isinstance(dst, ndarray):
        _rules.check_writable(dst._a, f"{name}()")


_FUNCTION_CHECKS = {
    "take": _check_take, "take_along_axis": _check_take_along_axis,
    "put_along_axis": _check_put_along_axis, "put": _check_put, "compress": _check_compress,
    "copyto": _check_destination, "place": _check_destination,
    "putmask": _check_destination, "fill_diagonal": _check_destination,
}
# cupy.choose is not here: its default mode='raise' checks the indices on the device too.


def _check_writing_method(name, self, args, kwargs):
    _rules.check_writable(self._a, f".{name}()")


def _as_function(check, parameters, renames=None):
    """A method's check through its function's: ``a.take(i, ...)`` is ``take(a, i, ...)``.
    ``parameters``: the method's, in order; ``renames``: method name -> function name."""
    renames = renames or {}

    def method_check(name, self, args, kwargs):
        named = dict(zip(parameters, args), **kwargs)
        named = {renames.get(k, k): v for k, v in named.items()}
        named["a"] = self
        check(f".{name}", (), named)
    return method_check


_METHOD_CHECKS = {
    "take": _as_function(_check_take, ("indices", "axis", "out", "mode")),
    # CuPy's ndarray.put(indices, values, mode='wrap') is numpy's put(a, ind, v, mode).
    "put": _as_function(_check_put, ("indices", "values", "mode"), {"indices": "ind", "values": "v"}),
    "compress": _as_function(_check_compress, ("condition", "axis", "out")),
    "fill": _check_writing_method, "sort": _check_writing_method,
    "partition": _check_writing_method,
}


def _writable_views(sources, views):
    """numpy's broadcast views are read-only (broadcast_arrays' warn on write); CuPy's are
    writable views, and a write into one is refused by the broadcast-view rule instead."""
    out = []
    for src, view in zip(sources, views):
        if isinstance(src, ndarray) and src._a.flags.writeable and view is not src._a:
            view = as_strided(src._a, view.shape, view.strides, writeable=True)
        out.append(view)
    return out


def broadcast_to(array, shape):  # CuPy's signatures: no subok
    view = np.broadcast_to(from_device(array, {}), shape)
    return ndarray._wrap(_writable_views([array], [view])[0])


def broadcast_arrays(*args):
    memo = {}
    views = np.broadcast_arrays(*from_device(args, memo))
    return to_device(type(views)(_writable_views(args, views)), memo)


def byte_bounds(a):
    """cupy.byte_bounds (numpy 2 moved its own to numpy.lib.array_utils)."""
    if not isinstance(a, ndarray):
        raise TypeError(f"cupy.byte_bounds takes a cupy.ndarray, got {type(a)}")
    return np.lib.array_utils.byte_bounds(a._a)


_OVERRIDES = {"broadcast_to": broadcast_to, "broadcast_arrays": broadcast_arrays,
              "byte_bounds": byte_bounds}

# numpy returns Python values here where CuPy returns 0-d device arrays.
_DEVICE_SCALAR_RESULTS = {"allclose", "array_equal", "array_equiv", "count_nonzero"}
# numpy functions that read the data on the host (CuPy's copy it there first).
_HOST_FUNCTIONS = {"save", "savez", "savez_compressed", "savetxt", "array2string",
                   "array_repr", "array_str"}
# Device ops (see OpCounter): these write into an argument and return None, so they count
# though no new memory comes back; empty/empty_like allocate without a kernel, so they don't.
_WRITING_FUNCTIONS = {"copyto", "place", "putmask", "fill_diagonal", "put", "put_along_axis"}
_WRITING_METHODS = {"fill", "sort", "partition", "put"}
_NO_KERNEL = {"empty", "empty_like"}


def device_function(np_func, name):
    """The stand-in version of a numpy function: device arrays in, device arrays out."""
    check = _FUNCTION_CHECKS.get(name)

    def function(*args, **kwargs):
        if name in _HOST_FUNCTIONS:
            transfers.record("device_to_host", f"{name}()")
        if check is not None:
            check(name, args, kwargs)
        if kwargs.get("out") is not None:
            _rules.check_outputs(from_device(kwargs["out"], {}), f"{name}(out=)")
        result = call_numpy(np_func, args, kwargs, op=None if name in _NO_KERNEL else name,
                            writes=name in _WRITING_FUNCTIONS)
        if name in _DEVICE_SCALAR_RESULTS and isinstance(result, (bool, int, float)):
            device_ops.record(name)  # a reduction kernel on CuPy
            result = ndarray._wrap(np.asarray(result))
        return result
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"cupy_standin: numpy.{name} on device arrays."
    return function


def mirror(np_namespace, name, where):
    """The stand-in's value for a name CuPy exports (``where``: "module", "linalg", ...)."""
    obj = getattr(np_namespace, name, None)
    if obj is None and where == "module":
        obj = getattr(np.exceptions, name, None)  # AxisError & co. moved there in numpy 2
    if isinstance(obj, np.ufunc) and name in NAMES["ufuncs"] and where == "module":
        return ufunc(obj)
    if where == "module" and name in _OVERRIDES:
        return _OVERRIDES[name]
    if isinstance(obj, type):
        # dtypes, scalar types and exceptions are shared with numpy in CuPy too. Other
        # classes (flatiter, vectorize, poly1d, broadcast) would work on the host: left out.
        if issubclass(obj, (np.generic, np.dtype, BaseException)) or obj in (np.finfo, np.iinfo, np.ndindex):
            return obj
        raise missing(where, name)
    if callable(obj):
        return device_function(obj, name)
    if isinstance(obj, (int, float)) or (obj is None and name == "newaxis") or name in ("s_", "index_exp"):
        return obj  # constants, and index helpers that build plain tuples
    raise missing(where, name)  # r_, c_, mgrid, ogrid, submodules, CuPy-only names
