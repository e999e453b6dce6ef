"""The one place that knows NumPy from CuPy.

Every other module asks this one for the array module of a device (``xp``) or of
an array, and moves arrays between devices through it. Devices are named like
PyTorch's: ``"cpu"`` (NumPy arrays) and ``"cuda"`` (CuPy arrays; ``"cuda:0"``
is accepted and means the same).

CuPy is imported lazily, the first time someone asks for ``"cuda"``. Importing
it can fail for several reasons (not installed, no driver, no GPU); the reason
is kept and shown in :class:`CudaUnavailableError`, so a user who asked for the
GPU learns which of these it was instead of seeing a raw CUDA error on the first
operation.

Where CuPy differs from NumPy, the choice is made here and nowhere else:

1. Host copies: NumPy arrays are already on the host; CuPy arrays are copied
   with ``xp.asnumpy`` (CuPy refuses ``np.asarray`` on a device array).
2. Random numbers: ``cupy.random.Generator`` has no ``normal``, ``permutation``
   or state you can save. tinygan's :class:`RandomStream` draws from
   ``standard_normal`` / ``random`` only, and on "cuda" seeds a device generator
   from a host NumPy generator, whose state is what checkpoints save.
3. Synchronisation: NumPy is synchronous; CuPy work is queued on a stream and
   must be waited for before reading a clock (:func:`synchronize`).
4. ``errstate``: NumPy's floating-point error context does not exist in CuPy
   (device kernels never warn); :func:`errstate` is a no-op there.
5. Memory accounting: the GPU's is CuPy's memory pool (:func:`memory_in_use`).
6. Kernel fusion: ``cupy.fuse`` compiles a chain of elementwise ops into one kernel;
   NumPy runs the same function op by op (:func:`fuse`).

Tests replace CuPy with a strict stand-in through :func:`_use_cuda_module`; that
hook is for the test suite, not a user option.
"""
from __future__ import annotations

import functools

import numpy as np

from . import threads

CPU = "cpu"
CUDA = "cuda"


class CudaUnavailableError(RuntimeError):
    """Raised when "cuda" is asked for but CuPy cannot be used; says why."""


# --- devices -----------------------------------------------------------------

class device(str):
    """A device, as ``torch.device``: ``tg.device("cpu")``, ``tg.device("cuda")`` or
    ``tg.device("cuda", 0)``. It is the string "cpu" or "cuda" too, so it goes wherever a
    device name goes, with PyTorch's ``.type``, ``.index`` and repr.

    >>> import tinygan as tg
    >>> tg.device("cuda:0"), tg.device("cpu").type, tg.device("cpu") == "cpu"
    (device(type='cuda', index=0), 'cpu', True)
    """

    def __new__(cls, type, index=None):
        name = str(type) if index is None else f"{type}:{index}"
        made = super().__new__(cls, normalize_device(name))
        made._index = 0 if made == CUDA and (index is not None or ":" in str(type)) else None
        return made

    @property
    def type(self):
        return str.__str__(self)

    @property
    def index(self):
        return self._index

    def __repr__(self):
        index = "" if self._index is None else f", index={self._index}"
        return f"device(type='{str.__str__(self)}'{index})"

    def __str__(self):
        return str.__str__(self) if self._index is None else f"{str.__str__(self)}:{self._index}"


def normalize_device(device) -> str:
    """Return "cpu" or "cuda" for any accepted spelling, or raise ValueError."""
    if device is None:
        return CPU
    name = str(device).strip().lower()
    if name == CPU:
        return CPU
    if name == CUDA or name == "cuda:0" or name == "gpu":
        return CUDA
    if name.startswith("cuda:"):
        raise ValueError(f"tinygan uses one GPU, 'cuda' or 'cuda:0'; got device {device!r}")
    raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")


# --- the CuPy module, found once -----------------------------------------------

_cuda_module = None          # cupy, or the test stand-in
_cuda_reason = None          # why cupy cannot be used, when it cannot
_cuda_probed = False


def _probe_cupy():
    """Import cupy and touch the device once; keep the reason if either fails."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA library underneath
        return None, (f"CuPy is not installed ({type(exc).__name__}: {exc}). "
                      "Install the wheel for your CUDA version, e.g. "
                      "pip install cupy-cuda12x (CUDA 12) or cupy-cuda13x (CUDA 13)")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            return None, "CuPy is installed but no CUDA device was found"
        cupy.zeros(1, dtype=cupy.float32)  # the first allocation is where a bad driver shows
    except Exception as exc:
        text = str(exc).strip() or type(exc).__name__
        if "Driver" in text or "driver" in text:
            return None, f"CuPy is installed but the NVIDIA driver cannot be used: {text}"
        if "NoDevice" in text or "no CUDA-capable device" in text:
            return None, f"CuPy is installed but no CUDA device was found: {text}"
        return None, f"CuPy is installed but the GPU cannot be used: {text}"
    return cupy, None


def _cuda():
    global _cuda_module, _cuda_reason, _cuda_probed
    if not _cuda_probed:
        _cuda_module, _cuda_reason = _probe_cupy()
        _cuda_probed = True
    if _cuda_module is None:
        raise CudaUnavailableError(f"device 'cuda' is not available: {_cuda_reason}. "
                                   "Use device 'cpu' (--backend numpy) instead.")
    return _cuda_module


def _use_cuda_module(module):
    """Test hook: make ``module`` the array module of "cuda" (None: probe CuPy again)."""
    global _cuda_module, _cuda_reason, _cuda_probed
    _cuda_module, _cuda_reason, _cuda_probed = module, None, module is not None


def cuda_available() -> bool:
    """True when device "cuda" can be used."""
    try:
        _cuda()
    except CudaUnavailableError:
        return False
    return True


def cuda_unavailable_reason():
    """Why "cuda" cannot be used, or None when it can."""
    try:
        _cuda()
    except CudaUnavailableError as exc:
        return str(exc)
    return None


def xp_for(device):
    """The array module (numpy, or cupy) that holds arrays of ``device``."""
    return np if normalize_device(device) == CPU else _cuda()


TENSOR_DEVICES = {CPU: device(CPU), CUDA: device(CUDA, 0)}   # what Tensor.device gives


# --- arrays ------------------------------------------------------------------

def device_of(array) -> str:
    """The device an array lives on: numpy arrays and scalars are on "cpu"."""
    if isinstance(array, (np.ndarray, np.generic)):
        return CPU
    if _cuda_module is not None and isinstance(array, _cuda_module.ndarray):
        return CUDA
    raise TypeError(f"expected a numpy or cupy array, got {type(array).__name__}")


def array_module(array):
    """numpy for a numpy array, cupy for a cupy array."""
    if isinstance(array, (np.ndarray, np.generic)):
        return np
    device_of(array)                       # a cupy array, or the error naming what came
    return _cuda_module


def to_device(array, device):
    """``array`` (any device, or a Python/numpy value) as an array on ``device``."""
    device = normalize_device(device)
    if device == CPU:
        return to_numpy(array)
    xp = _cuda()
    if isinstance(array, xp.ndarray):
        return array
    return xp.asarray(array)  # host -> device copy


def to_numpy(array) -> np.ndarray:
    """A host numpy copy (or the array itself if it is already on the host)."""
    if isinstance(array, (np.ndarray, np.generic)):
        return np.asarray(array)
    if _cuda_module is not None and isinstance(array, _cuda_module.ndarray):
        return _cuda_module.asnumpy(array)  # device -> host copy
    return np.asarray(array)


def check_same_device(*arrays, op="operation"):
    """Raise a clear error when arrays of different devices meet in one op."""
    devices = {device_of(a) for a in arrays}
    if len(devices) > 1:
        raise RuntimeError(f"{op}: expected all tensors on the same device, but found "
                           f"tensors on {' and '.join(sorted(devices))}; "
                           "move them with .to(device) first")


def overlap(a, b, broadcast=False):
    """How two arrays' memory overlaps, by PyTorch's rule: "none"; "full" (both dense, the
    same byte range, the same shape and the same strides, those of dims of size 1 aside:
    they are never stepped, and NumPy gives them other strides than PyTorch); "partial"
    (dense, intersecting otherwise: PyTorch refuses to write between these); "unknown" (one
    is strided with gaps: PyTorch does not check). ``broadcast``: b is broadcast to a first,
    as setitem broadcasts its value (a[None, :] = a is full there; a.unsqueeze(0).copy_(a)
    is partial, in PyTorch as here)."""
    xp = array_module(a)
    if not xp.may_share_memory(a, b):
        return "none"
    bounds_a, bounds_b = _byte_bounds(a), _byte_bounds(b)
    dense = all(high - low == x.size * x.itemsize
                for x, (low, high) in ((a, bounds_a), (b, bounds_b)))
    if not dense:
        return "unknown"
    alike = _layout(a) == _layout(b) and (broadcast or a.shape == b.shape)
    return "full" if bounds_a == bounds_b and alike else "partial"


def _layout(a):
    return [(n, stride) for n, stride in zip(a.shape, a.strides) if n != 1]


def _byte_bounds(a):
    if device_of(a) == CPU:
        return np.lib.array_utils.byte_bounds(a)
    return _cuda_module.byte_bounds(a)


def scatter_add(target, index, values):
    """target[index] += values, summing where an index repeats (in place)."""
    array_module(target).add.at(target, index, values)


FUSED = []   # every function made with fuse(), for the test that traces them through CuPy

# From this many elements in its first argument a fused call on the CPU is split among the
# pool's threads (tg.set_num_threads); below it the wake-ups cost more than they save
# (bench/chunk_threshold.py).
CHUNK_MIN = 1 << 21


def fuse(function=None, *, chunk=True):
    """``function(xp, *args)``, called as ``fused(*args)``: one kernel on a GPU, op by op on
    the CPU. The first argument must be an array; xp is its array module.

    On a GPU each elementwise op is a kernel launch of a few microseconds, whatever its size,
    so a chain of them on small arrays costs its launches; ``cupy.fuse`` traces the function
    once per argument dtypes and compiles the chain into one kernel. NumPy has nothing like
    it, and there the function runs as written (its ``out=`` arguments keep it from making
    temporaries). The function keeps to what cupy.fuse traces: ufuncs of ``xp`` and
    operators on its arguments, ``out=`` an argument to update it in place, and no
    arithmetic between two numbers (the tracer would do it in float16: pass 1 - β in,
    computed by the caller). tests/test_fused.py traces every fused function of a GAN step
    through CuPy's own tracer and checks the kernel's types.

    On the CPU, with a pool (``tg.set_num_threads(n)``, n > 1) and a first argument of at
    least ``CHUNK_MIN`` elements, the call runs on row blocks of its arrays (the first axis),
    one block per thread, when that is provably the same computation (:func:`_plan_pieces`):
    the arrays of the first's shape are cut, those that broadcast along the first axis
    (per-channel values) and numbers go whole to every block, and no two cut arrays overlap
    unless they are the same array. Whether the function works element by element is
    learned from its first plain call with each layout of arguments: it must return None
    (``out=`` only) or new arrays of the first argument's shape, C- or F-ordered, and leave
    the arguments that go whole unwritten; a function that reduces, returns an argument or
    updates a per-channel one is never split. ``chunk=False`` keeps a function whole anyway
    (``@fuse(chunk=False)``): for one whose blocks would not be independent in a way these
    checks cannot see (indexing; a write that happened to leave the same bytes the first
    time). tests/test_chunked.py proves the split calls bit for bit equal to the whole.
    """
    if function is None:
        return functools.partial(fuse, chunk=chunk)
    kernels = {}   # array module -> its fused kernel, made on first use
    learned = {}   # layout of the arguments -> what a plain call returned (see _plan_pieces)

    @functools.wraps(function)
    def fused(*args):
        first = args[0]
        if isinstance(first, (np.ndarray, np.generic)):
            if chunk and first.size >= CHUNK_MIN and threads.pool_size() > 1:
                return _in_pieces(function, learned, args)
            return function(np, *args)
        xp = array_module(first)
        kernel = kernels.get(xp)
        if kernel is None:
            kernel = kernels[xp] = xp.fuse(kernel_name=function.__name__)(
                functools.partial(function, xp))
        return kernel(*args)

    fused.chunk = chunk
    FUSED.append(fused)
    return fused


def _plan_pieces(args):
    """Which arguments to cut into row blocks, and a key of the arguments' layout; None when
    the call must run whole. The first argument's shape is the call's: every array must
    broadcast to it; one with its first dimension (and all of its dimensions) is cut, one
    that broadcasts along the first axis goes whole. Two arrays sharing memory must be the
    same array (ptr, shape, strides) and both cut, so that a block reads and writes only
    its own rows of each; a cut array never steps by 0 along the first axis."""
    first = args[0]
    shape = first.shape
    if first.ndim == 0 or shape[0] < 2:
        return None
    cut, key, arrays = [], [], []
    for a in args:
        if not isinstance(a, np.ndarray):
            cut.append(False)
            key.append(a.dtype if isinstance(a, np.generic) else type(a))
            continue
        if a.ndim > first.ndim or any(d != 1 and d != s
                                      for d, s in zip(a.shape[::-1], shape[::-1])):
            return None
        whole = a.ndim < first.ndim or a.shape[0] == 1
        if not whole and a.strides[0] == 0:
            return None
        layout = "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else tuple(
            _compare(abs(a.strides[i]), abs(a.strides[j]))    # NumPy orders a result's
            for i in range(a.ndim) for j in range(i + 1, a.ndim))   # axes by these
        cut.append(not whole)
        key.append((not whole, a.dtype, a.ndim, layout))
        arrays.append((a, not whole))
    for i, (a, a_cut) in enumerate(arrays):
        for b, b_cut in arrays[i + 1:]:
            if (a_cut or b_cut) and np.may_share_memory(a, b) and not (
                    a_cut and b_cut and a.shape == b.shape and a.strides == b.strides
                    and _address(a) == _address(b)):
                return None
    return tuple(cut), tuple(key)


def _compare(x, y):
    return (x > y) - (x < y)


def _address(a):
    return a.__array_interface__["data"][0]


def _returns(result, args, shape):
    """What a plain call gave, as a later split call will rebuild it: () for None, else
    (is_tuple, ((dtype, order), ...)); False when it cannot be rebuilt from blocks (a
    reduction, a number, another shape, an argument or a view of one, a strided layout)."""
    if result is None:
        return ()
    many = isinstance(result, tuple)
    outputs = []
    for r in result if many else (result,):
        if not isinstance(r, np.ndarray) or r.shape != shape or any(
                isinstance(a, np.ndarray) and np.may_share_memory(r, a) for a in args):
            return False
        if r.flags.c_contiguous:
            outputs.append((r.dtype, "C"))
        elif r.flags.f_contiguous:
            outputs.append((r.dtype, "F"))
        else:
            return False
    return many, tuple(outputs)


def _in_pieces(function, learned, args):
    """``function(np, *args)`` on row blocks, one per pool thread (see fuse)."""
    plan = _plan_pieces(args)
    if plan is None:
        return function(np, *args)
    cut, key = plan
    shape = args[0].shape
    spec = learned.get(key)
    if spec is None:                         # the first call of this layout: learn, whole
        kept = [(a, a.tobytes()) for a, c in zip(args, cut) if isinstance(a, np.ndarray)
                and not c and a.flags.writeable]
        result = function(np, *args)
        written = any(a.tobytes() != before for a, before in kept)   # every block would
        learned[key] = False if written else _returns(result, args, shape)   # write it again
        return result
    if spec is False:
        return function(np, *args)
    many, outputs = spec if spec else (False, ())
    results = [np.empty(shape, dtype, order=order) for dtype, order in outputs]
    count = min(threads.pool_size(), shape[0])
    bounds = [shape[0] * i // count for i in range(count + 1)]

    def piece(i):
        low, high = bounds[i], bounds[i + 1]
        got = function(np, *(a[low:high] if c else a for a, c in zip(args, cut)))
        got = () if got is None else got if many else (got,)
        if len(got) != len(results):
            raise RuntimeError(f"{function.__name__}: a block returned other results than the "
                               "whole call; mark it @fuse(chunk=False)")
        for whole, part in zip(results, got):
            if not isinstance(part, np.ndarray) or part.dtype != whole.dtype or (
                    part.shape != whole[low:high].shape):
                raise RuntimeError(f"{function.__name__}: a block returned another shape or "
                                   "dtype than the whole call; mark it @fuse(chunk=False)")
            whole[low:high] = part

    threads.run(piece, count)
    if not outputs:
        return None
    return tuple(results) if many else results[0]


def synchronize(device=CPU):
    """Wait for queued device work (a no-op on "cpu")."""
    if normalize_device(device) == CUDA:
        _cuda().cuda.get_current_stream().synchronize()


def errstate(**kwargs):
    """numpy.errstate on the host; CuPy kernels never warn, so a no-op there."""
    return np.errstate(**kwargs)


# The CPU's threads (BLAS's and the elementwise pool's) live in tinygan.threads; tinygan and
# its programs reach them here, with the rest of what differs between devices.
set_num_threads, get_num_threads = threads.set_num_threads, threads.get_num_threads
default_threads = threads.default_threads


def memory_in_use(device=CPU):
    """Bytes held by the device's memory pool (None on "cpu": read RSS instead)."""
    if normalize_device(device) == CPU:
        return None
    return _cuda().get_default_memory_pool().used_bytes()


# --- random numbers ----------------------------------------------------------

class RandomStream:
    """A seeded source of random arrays on one device, with a state you can save.

    The host part is a NumPy PCG64 generator. On "cpu" it draws everything; on
    "cuda" it only seeds a device generator (CuPy's cannot save its state), so
    :meth:`get_state` / :meth:`set_state` round-trip exactly on "cpu", and on
    "cuda" they restore the stream from the next reseed on.
    """

    def __init__(self, seed=None, device=CPU):
        self.device = normalize_device(device)
        self._host = np.random.default_rng(seed)
        self._device_rng = None

    def _rng(self):
        if self.device == CPU:
            return self._host
        if self._device_rng is None:
            xp = _cuda()
            self._device_rng = xp.random.default_rng(int(self._host.integers(2**63)))
        return self._device_rng

    def standard_normal(self, shape, dtype=np.float32):
        return self._rng().standard_normal(size=tuple(shape), dtype=dtype)

    def random(self, shape, dtype=np.float32):
        """Uniform on [0, 1)."""
        return self._rng().random(size=tuple(shape), dtype=dtype)

    def permutation(self, n):
        """A permutation of range(n) on the host (data order is decided there)."""
        return self._host.permutation(n)

    def manual_seed(self, seed):
        self._host = np.random.default_rng(seed)
        self._device_rng = None
        return self

    def get_state(self) -> dict:
        """The host generator's state (JSON-friendly; see PCG64.state)."""
        return self._host.bit_generator.state

    def set_state(self, state):
        self._host.bit_generator.state = state
        self._device_rng = None


_default_generators = {}


def default_generator(device=CPU) -> "RandomStream":
    device = normalize_device(device)
    if device not in _default_generators:
        _default_generators[device] = RandomStream(None, device)
    return _default_generators[device]


def manual_seed(seed):
    """Seed the default generators of every device (as torch.manual_seed)."""
    for device in (CPU, CUDA):
        default_generator(device).manual_seed([seed, 0 if device == CPU else 1])


threads.use_default_threads()   # half the cores unless the environment chose (tinygan.threads)
