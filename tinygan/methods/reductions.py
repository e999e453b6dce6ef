"""sum, prod, mean, var, std, norm, max/min, any/all, and softmax along a dim."""
from __future__ import annotations

import collections
import numbers

import numpy as np

from .. import backend
from ..core.ops import Mean, Sum
from ..dtypes import int64, is_number
from ..ops.reductions import MaxAll, MaxAlong, Prod, SqrtOfVar, Var
from ..ops.softmax import LogNormalizedExp, LogSumExp, NormalizedExp
from .args import _axes, _check_dim, _new

MaxResult = collections.namedtuple("MaxResult", ["values", "indices"])


class Reductions:
    """Reductions over dims, and the softmax family (normalised along a dim)."""

    __slots__ = ()

    def softmax(self, dim, dtype=None):
        """exp(x) / Σ exp(x) along dim, computed from x - max (exp never overflows).

        >>> import tinygan as tg
        >>> tg.tensor([1.0, 2.0, 1000.0]).softmax(0)
        tensor([0., 0., 1.])
        """
        x = _softmax_input(self, dtype, "softmax")
        return NormalizedExp.apply(x, axis=_check_dim(dim, x.ndim))

    def log_softmax(self, dim, dtype=None):
        """x - logsumexp(x) along dim: the log of softmax, without log(0) where it underflows.

        >>> import tinygan as tg
        >>> tg.tensor([0.0, 200.0]).log_softmax(0)
        tensor([-200.,    0.])
        """
        x = _softmax_input(self, dtype, "log_softmax")
        return LogNormalizedExp.apply(x, axis=_check_dim(dim, x.ndim))

    def logsumexp(self, dim, keepdim=False):
        """log Σ exp(x) over dim (an int or a tuple), as max + log Σ exp(x - max);
        integers are summed in the default float dtype.

        >>> import tinygan as tg
        >>> tg.tensor([1000.0, 1000.0]).logsumexp(0)     # 1000 + log 2, no overflow
        tensor(1000.6932)
        """
        x = self._floating()
        return LogSumExp.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)

    # --- reductions ------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        """Sum over ``dim`` (an int, a tuple, or None for all)."""
        return Sum.apply(self, axes=_axes(dim, self.ndim), keepdim=keepdim)

    def prod(self, dim=None, keepdim=False, dtype=None):
        """The product over all elements, or along ``dim`` (one int, as PyTorch); integers
        and bools multiply in int64 unless ``dtype`` (a cast first) says otherwise. The
        gradient Π_{j≠i} x_j is right with zeros in x (computed without dividing then).

        >>> import tinygan as tg
        >>> tg.tensor([[1.0, 2.0], [3.0, 0.0]]).prod(1)
        tensor([2., 0.])
        """
        if dim is None and keepdim:
            raise TypeError("prod(): keepdim needs a dim (prod(dim, keepdim=True))")
        if dim is not None and not isinstance(dim, numbers.Integral):
            raise TypeError(f"prod(): argument 'dim' must be int, not {type(dim).__name__}")
        x = self
        if dtype is not None:
            x = x.to(dtype=dtype)
        elif x.dtype.kind in "biu":
            x = x.to(dtype=int64)
        axis = None if dim is None or x.ndim == 0 else _check_dim(dim, x.ndim)
        if dim is not None and x.ndim == 0:
            _check_dim(dim, 0)
        return Prod.apply(x, axis=axis, keepdim=keepdim)

    def mean(self, dim=None, keepdim=False):
        if self.dtype.kind != "f":
            raise TypeError(f"mean: expected a floating point tensor, got dtype {self.dtype}")
        return Mean.apply(self, axes=_axes(dim, self.ndim), keepdim=keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Variance, divided by N - correction (correction 1, unbiased, by default; as PyTorch)."""
        if self.dtype.kind != "f":
            raise TypeError(f"std and var only support floating point dtypes, got {self.dtype}")
        return Var.apply(self, axes=_axes(dim, self.ndim), keepdim=keepdim,
                         correction=_correction(unbiased, correction))

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """sqrt(var(...)), with var's dim and correction (gradient 0 where std is 0)."""
        return SqrtOfVar.apply(self.var(dim, unbiased, keepdim, correction=correction))

    def norm(self, p="fro", dim=None, keepdim=False, dtype=None):
        """The vector norm over ``dim`` (None: all elements): p=2 or "fro" is √Σx² (its
        gradient is 0 at x = 0, as PyTorch's), p=1 is Σ|x|; ``dtype`` casts first (a
        float dtype no narrower than x's).

        >>> import tinygan as tg
        >>> tg.tensor([[3.0, 4.0], [0.0, 0.0]]).norm(dim=1)
        tensor([5., 0.])
        """
        x = self
        if x.dtype.kind != "f":
            raise RuntimeError(f"norm(): input dtype should be floating point, got {x.dtype}")
        if dtype is not None:
            if np.dtype(dtype).kind != "f":
                raise RuntimeError(f"norm: dtype should be floating point, but got {dtype}")
            if np.dtype(dtype).itemsize < x.dtype.itemsize:
                raise RuntimeError(f"norm: the dtype of the input ({x.dtype}) should be "
                                   f"convertible without narrowing to the specified dtype "
                                   f"({dtype})")
            x = x.to(dtype=dtype)
        if p == "fro" and dim is not None and not isinstance(dim, numbers.Integral) \
                and len(dim) > 2:
            raise RuntimeError(f"norm: p='fro' takes at most 2 dims, got dim={dim}")
        if p == "fro" or (is_number(p) and not isinstance(p, bool) and p == 2):
            return SqrtOfVar.apply((x * x).sum(dim, keepdim))   # √ with gradient 0 at 0
        if is_number(p) and not isinstance(p, bool) and p == 1:
            return x.abs().sum(dim, keepdim)
        raise NotImplementedError(f"norm: p={p!r} is not supported by tinygan; "
                                  "use p=2 (or 'fro') or p=1")

    def max(self, dim=None, keepdim=False):
        """The largest value, or (values, indices) along ``dim``, as in PyTorch."""
        return _max_or_min(self, dim, keepdim, smallest=False)

    def min(self, dim=None, keepdim=False):
        """The smallest value, or (values, indices) along ``dim``."""
        return _max_or_min(self, dim, keepdim, smallest=True)

    def argmax(self, dim=None, keepdim=False):
        """The index of the (first) largest value: in the flattened tensor when dim is None
        (keepdim then keeps every dim, of size 1), else along dim."""
        if dim is None:
            return _flat_index(self, self._data.argmax(), keepdim)
        return self.max(dim, keepdim).indices

    def argmin(self, dim=None, keepdim=False):
        if dim is None:
            return _flat_index(self, self._data.argmin(), keepdim)
        return self.min(dim, keepdim).indices

    def any(self, dim=None, keepdim=False):
        """True where any element along ``dim`` is nonzero (a bool tensor, no gradient;
        uint8 in, uint8 out, as PyTorch keeps)."""
        return _logical_reduction(self, self._data.any, dim, keepdim)

    def all(self, dim=None, keepdim=False):
        """True where every element along ``dim`` is nonzero (a bool tensor, no gradient;
        uint8 in, uint8 out)."""
        return _logical_reduction(self, self._data.all, dim, keepdim)


def _logical_reduction(x, reduce, dim, keepdim):
    out = reduce(axis=_axes(dim, x.ndim), keepdims=keepdim)
    return _new(x, out.astype(np.uint8) if x.dtype == np.uint8 else out)


def _correction(unbiased, correction):
    if correction is not None and unbiased is not None:
        raise ValueError("give either unbiased or correction, not both")
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def _max_or_min(x, dim, keepdim, smallest):
    if dim is None:
        return MaxAll.apply(x, smallest=smallest)
    axis = _check_dim(dim, x.ndim)
    xp = backend.array_module(x._data)
    if x.ndim == 0:  # the value itself, at index 0
        return MaxResult(x.clone(), x._wrap(xp.zeros((), dtype=np.int64)))
    pick = xp.argmin if smallest else xp.argmax
    indices = xp.expand_dims(pick(x._data, axis=axis), axis)
    values = MaxAlong.apply(x, axis=axis, keepdim=keepdim, indices=indices)
    indices = x._wrap(indices if keepdim else indices.squeeze(axis))
    return MaxResult(values._keeps(indices), indices)   # backward reads the indices



def _softmax_input(x, dtype, op):
    """softmax's input: cast to dtype first when given; floating point only (PyTorch has
    no integer kernel)."""
    if dtype is not None:
        x = x.to(dtype=dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got dtype {x.dtype} "
                        f"(pass dtype=tg.float32 to convert)")
    return x


def _flat_index(x, index, keepdim):
    """argmax/argmin over all elements: an int64 tensor, 0-d or (keepdim) all dims 1."""
    array = backend.array_module(x._data).asarray(index).astype(np.int64)
    return x._wrap(array.reshape((1,) * x.ndim if keepdim else ()))
