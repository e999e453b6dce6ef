"""cupy.cuda stand-in: one device, whose work is always finished already (the
stand-in computes eagerly), so every synchronize() returns at once."""
import time as _time
import types as _types

from . import _core
from ._core import MemoryPool  # noqa: F401  (cupy.cuda.MemoryPool)


class _CUDARuntimeError(RuntimeError):
    pass


runtime = _types.SimpleNamespace(
    getDeviceCount=lambda: 1, getDevice=lambda: 0, deviceSynchronize=lambda: None,
    CUDARuntimeError=_CUDARuntimeError)


class _NeverWaits:
    done = True

    def synchronize(self):
        pass

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Device(_NeverWaits):
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise _CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return self.id


class Stream(_NeverWaits):
    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.ptr = 0 if null else id(self)


Stream.null = Stream(null=True)


def get_current_stream(device_id=None):
    return Stream.null


class Event(_NeverWaits):
    """Records the wall clock: the stand-in's work is done when it is queued."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self._time = None

    def record(self, stream=None):
        self._time = _time.perf_counter()


def get_elapsed_time(start_event, end_event):
    """Milliseconds between two recorded events, as CUDA reports them."""
    return (end_event._time - start_event._time) * 1000.0


def is_available():
    return True


def get_device_id():
    return 0


# Keep only what real cupy.cuda exports.
for _name in [n for n in globals() if not n.startswith("_")]:
    if _name not in _core.NAMES["cuda"]:
        del globals()[_name]


def __getattr__(name):
    if name.startswith("_"):
        raise AttributeError(name)
    raise _core.missing("cuda", name)
