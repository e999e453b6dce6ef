"""cupy.random stand-in.

``default_rng(seed)`` gives a Generator with only the methods of
cupy.random.Generator (so no ``normal``, ``permutation``, ``choice``). The numbers
come from numpy's PCG64, not CuPy's XORWOW: the same seed gives different draws on
a real GPU, so tests must not compare values across the two. Legacy functions
(``seed``, ``rand``, ``randn``, ``normal``, ...) draw from one numpy RandomState.
"""
import functools as _functools
import inspect as _inspect

import numpy as _np

from . import _core


@_functools.lru_cache(maxsize=None)
def _takes_dtype(cls, name):
    return "dtype" in _inspect.signature(getattr(cls, name)).parameters


def _draw(owner, name, args, kwargs):
    # CuPy's samplers take dtype= more often than numpy's (uniform, beta, normal, rand):
    # where numpy lacks it, draw in float64 and cast.
    dtype = None
    if "dtype" in kwargs and not _takes_dtype(type(owner), name):
        dtype = kwargs.pop("dtype")
    memo = {}
    result = getattr(owner, name)(*_core.from_device(args, memo), **_core.from_device(kwargs, memo))
    if isinstance(result, (int, float, _np.generic)):
        result = _np.asarray(result)  # CuPy draws arrays, never scalars
    if dtype is not None:
        result = result.astype(dtype, copy=False)
    if isinstance(result, _np.ndarray):  # a draw is one kernel (seed() returns None)
        _core.device_ops.record(f"random.{name}")
    return _core.to_device(result, memo)


class Generator:
    """cupy.random.Generator stand-in over numpy's default generator."""

    def __init__(self, bit_generator=None):
        self._g = _np.random.default_rng(bit_generator)


def _generator_method(name):
    def method(self, *args, **kwargs):
        return _draw(self._g, name, args, kwargs)
    method.__name__ = name
    return method


for _name in _core.NAMES["generator"]:
    if hasattr(_np.random.Generator, _name):
        setattr(Generator, _name, _generator_method(_name))


def default_rng(seed=None):
    return Generator(seed)


_legacy = _np.random.RandomState()


def _legacy_function(name):
    def function(*args, **kwargs):
        return _draw(_legacy, name, args, kwargs)
    function.__name__ = name
    return function


for _name in _core.NAMES["random"]:
    if _name.islower() and _name not in globals() and hasattr(_np.random.RandomState, _name):
        globals()[_name] = _legacy_function(_name)


def __getattr__(name):
    if name.startswith("_"):
        raise AttributeError(name)
    raise _core.missing("random", name)
