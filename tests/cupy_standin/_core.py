"""The heart of the stand-in: CuPy's name lists, the transfer counter, the memory
pool, moving values in and out of numpy, and the ``ndarray`` and ``ufunc`` types."""
import contextlib
import json
import operator
import os
import sys
import weakref

import numpy as np

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

    def record(self, kind, what):
        if kind == "device_to_host" and self._forbidden:
            raise RuntimeError(f"cupy_standin: device-to-host transfer ({what}) inside transfers.forbid()")
        setattr(self, kind, getattr(self, kind) + 1)
        for child in self._children:
            child.record(kind, what)


transfers = TransferCounter()


class MemoryPool:
    """cupy.cuda.MemoryPool stand-in. used_bytes() is the size of the distinct numpy
    buffers behind live stand-in arrays (a view counts its base once); CuPy's pool
    also rounds each block up to 512 bytes, which this does not."""

    def __init__(self):
        self._live = {}  # id(buffer) -> nbytes, dropped by a finalizer when the buffer dies

    def track(self, a):
        root = a
        while isinstance(root.base, np.ndarray):
            root = root.base
        key = id(root)
        if key not in self._live:
            self._live[key] = root.nbytes
            weakref.finalize(root, self._live.pop, key, None)

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


def call_numpy(func, args, kwargs, memo=None):
    memo = {} if memo is None else memo
    return to_device(func(*from_device(args, memo), **from_device(kwargs, memo)), memo)


# --- ndarray -----------------------------------------------------------------------

# Methods that hand data to the host; each call counts one device-to-host transfer.
_HOST_METHODS = {"item", "tolist", "tobytes", "tofile", "dump", "dumps"}
# numpy has these but they would expose host memory (CuPy's are device objects).
_NOT_MIRRORED = {"data", "flat"}


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
            return lambda *args, **kwargs: call_numpy(value, args, kwargs, {id(self._a): self})
        return to_device(value)

    # CuPy-specific or CuPy-flavoured attributes.
    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, value):
        self._a.shape = value

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
        return ndarray._wrap(self._a.copy())

    def __deepcopy__(self, memo):
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
        result = self._a[key]
        if isinstance(result, np.generic):  # CuPy returns a 0-d view; Ellipsis makes numpy do so too
            result = self._a[(key if isinstance(key, tuple) else (key,)) + (Ellipsis,)]
        return ndarray._wrap(result)

    def __setitem__(self, key, value):
        # Stricter than CuPy, which accepts `a[:] = host_array` of equal shape and dtype.
        self._a[from_device(key, {})] = elementwise_arg(value, {})

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


def _scatter(np_ufunc):
    def method(self, slices, value):  # CuPy's a.scatter_add(slices, v) is add.at(a, slices, v)
        np_ufunc.at(self._a, from_device(slices, {}), elementwise_arg(value, {}))
    return method


for _convert in (float, int, complex, bool, bytes, repr, str):
    setattr(ndarray, f"__{_convert.__name__}__", _host_conversion(_convert))
for _name, _op in (("neg", operator.neg), ("abs", operator.abs), ("invert", operator.invert)):
    setattr(ndarray, f"__{_name}__", lambda self, op=_op: to_device(op(self._a)))
for _name, _ufunc in (("add", np.add), ("max", np.maximum), ("min", np.minimum)):
    setattr(ndarray, f"scatter_{_name}", _scatter(_ufunc))


def _binary(op, reflected):
    def method(self, other):
        if isinstance(other, np.ndarray):
            raise mixing_error(other)
        if not isinstance(other, (ndarray,) + SCALARS):
            return NotImplemented
        memo = {}
        other = elementwise_arg(other, memo)
        return to_device(op(other, self._a) if reflected else op(self._a, other), memo)
    return method


def _inplace(op):
    def method(self, other):
        op(self._a, elementwise_arg(other, {}))  # numpy's in-place operators write into _a
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
    """cupy.ufunc stand-in: numpy's ufunc of the same name, on device arrays and scalars only."""

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
        return to_device(self._f(*args, **from_device(kwargs, memo)), memo)


def _ufunc_method(name):
    def method(self, *args, **kwargs):  # at() writes into its first argument's numpy data
        return call_numpy(getattr(self._f, name), args, kwargs)
    method.__name__ = name
    return method


for _name in ("at", "reduce", "accumulate", "reduceat", "outer"):
    if _name in NAMES["ufunc"]:
        setattr(ufunc, _name, _ufunc_method(_name))

# numpy returns Python values here where CuPy returns 0-d device arrays.
_DEVICE_SCALAR_RESULTS = {"allclose", "array_equal", "array_equiv", "count_nonzero"}
# numpy functions that read the data on the host (CuPy's copy it there first).
_HOST_FUNCTIONS = {"save", "savez", "savez_compressed", "savetxt", "array2string",
                   "array_repr", "array_str"}


def device_function(np_func, name):
    """The stand-in version of a numpy function: device arrays in, device arrays out."""
    def function(*args, **kwargs):
        if name in _HOST_FUNCTIONS:
            transfers.record("device_to_host", f"{name}()")
        result = call_numpy(np_func, args, kwargs)
        if name in _DEVICE_SCALAR_RESULTS and isinstance(result, (bool, int, float)):
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
