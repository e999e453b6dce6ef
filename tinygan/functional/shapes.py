"""reshape, flatten, transpose, permute, (un)squeeze, indexing, cat and stack."""
from __future__ import annotations

import builtins
import functools
import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor, _check_dim
from ._common import _promote, cast


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.shape = x.shape
        y = x.reshape(shape)
        # a view where the strides allow one, else a copy (PyTorch's reshape does the same)
        ctx.is_view = array_module(x).may_share_memory(x, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims=()):
        ctx.dims = dims
        ctx.is_view = True
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad):                                # undo the permutation
        return grad.transpose(np.argsort(ctx.dims).tolist())


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index=None):
        ctx.shape, ctx.index = x.shape, index
        ctx.is_view = not _is_array_index(index)   # slicing views; array indexing copies
        out = x[index]
        parts = _index_parts(index)
        if ctx.is_view and out.ndim == 0 and not builtins.any(p is Ellipsis for p in parts):
            out = x[parts + (Ellipsis,)]            # x[1, 2]: a 0-d view, not a numpy scalar
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        out = xp.zeros(ctx.shape, dtype=grad.dtype)
        if _is_array_index(ctx.index) and not _is_mask(ctx.index):
            backend.scatter_add(out, ctx.index, grad)       # repeated indices sum their grads
        else:
            out[ctx.index] = grad                           # slices and masks never repeat
        return out


class SetItem(Function):
    """x with x[index] = value, out of place (Tensor.__setitem__ stores it back in x)."""

    @staticmethod
    def forward(ctx, x, value, index=None):
        ctx.index = index
        out = x.copy()
        out[index] = value
        return out

    @staticmethod
    def backward(ctx, grad):                                # the overwritten part's gradient
        need_x, need_value = ctx.needs_input_grad           # goes to value, the rest to x
        grad_x = None
        if need_x:
            grad_x = grad.copy()
            grad_x[ctx.index] = 0
        return grad_x, (grad[ctx.index] if need_value else None)


class CopySlices(Function):
    """``base`` with the region a chain of view ops picks replaced by ``value``: how a
    write through a view is recorded on the view's base (PyTorch's CopySlices).

    Forward writes into base's memory (the write the user asked for); backward finds
    the region by running the same view ops on the flat positions of base.
    """

    @staticmethod
    def forward(ctx, base, value, steps=()):
        xp = array_module(base)
        positions = xp.arange(base.size).reshape(base.shape)
        region = base
        for function, kwargs in steps:
            positions = function.forward(_Scratch(), positions, **kwargs)
            region = function.forward(_Scratch(), region, **kwargs)
        region[...] = value
        ctx.region_shape, ctx.positions = positions.shape, positions.reshape(-1)
        return base

    @staticmethod
    def backward(ctx, grad):                                # the region's gradient goes to value,
        need_base, need_value = ctx.needs_input_grad        # the rest to the old base
        flat = grad.reshape(-1)
        grad_value = flat[ctx.positions] if need_value else None
        grad_base = None
        if need_base:
            grad_base = grad.copy()
            grad_base.reshape(-1)[ctx.positions] = 0
        if grad_value is not None:
            grad_value = grad_value.reshape(ctx.region_shape)
        return grad_base, grad_value


class _Scratch:
    """A throwaway context for running a view op's forward outside the graph."""
    is_view = False
    needs_input_grad = ()

    def save_for_backward(self, *arrays):
        pass


def _index_parts(index):
    return index if isinstance(index, tuple) else (index,)


def _is_array_index(index):
    """Integer or boolean arrays in the index: numpy's advanced indexing, which copies."""
    return builtins.any(hasattr(p, "dtype") and p.ndim > 0 for p in _index_parts(index))


def _is_mask(index):
    return builtins.any(hasattr(p, "dtype") and p.dtype.kind == "b" for p in _index_parts(index))


def reshape(x, shape):
    """The same values in a new shape (one dim may be -1)."""
    shape = tuple(shape)
    size = math.prod(n for n in shape if n != -1)
    if (-1 not in shape and size != x.numel()) or (-1 in shape and (size == 0 or x.numel() % size)):
        raise RuntimeError(f"shape {list(shape)} is invalid for input of size {x.numel()}")
    return Reshape.apply(x, shape=shape)


def view(x, shape):
    """reshape that must not copy: an error where the strides allow no view, as in PyTorch
    (``x.T.view(6)``); reshape copies there instead."""
    out = reshape(x, shape)
    if x.numel() and not array_module(x.data).may_share_memory(x.data, out.data):
        raise RuntimeError("view size is not compatible with input tensor's size and stride "
                           "(at least one dimension spans across two contiguous subspaces). "
                           "Use .reshape(...) instead.")
    return out


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one (x itself when that is one dim already)."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = _check_dim(start_dim, x.ndim), _check_dim(end_dim, x.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    if start == end:
        return x
    shape = x.shape[:start] + (-1,) + x.shape[end + 1:]
    return reshape(x, shape) if x.numel() else reshape(x, x.shape[:start] + (0,) + x.shape[end + 1:])


def permute(x, dims):
    dims = tuple(_check_dim(d, x.ndim) for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} dims")
    return Permute.apply(x, dims=dims)


def transpose(x, dim0, dim1):
    """Swap two dims (a 0-d tensor accepts dims 0 and -1 and stays as it is)."""
    dims = list(range(x.ndim))
    a, b = _check_dim(dim0, x.ndim), _check_dim(dim1, x.ndim)
    if dims:
        dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, dims=tuple(dims))


def unsqueeze(x, dim):
    """Insert a dim of size 1 at ``dim``."""
    dim = _check_dim(dim, x.ndim + 1)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def squeeze(x, dim=None):
    """Drop dims of size 1 (only ``dim`` when given and of size 1)."""
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    dim = _check_dim(dim, x.ndim)
    if x.ndim == 0 or x.shape[dim] != 1:
        return reshape(x, x.shape)             # a new view of the same shape, as in PyTorch
    return reshape(x, x.shape[:dim] + x.shape[dim + 1:])


def device_index(x, index):
    """An index for x's array: Tensors replaced by their arrays, lists by device arrays
    (t[[0, 2, 2]] as in PyTorch), and index arrays checked to be on x's device.

    As in PyTorch, a 0-d integer tensor indexes like an int (a view, where NumPy would
    copy), and slices must step forward.
    """
    parts = []
    for p in _index_parts(index):
        if isinstance(p, Tensor):
            if p.ndim == 0 and p.dtype.kind in "iu":
                p = int(p.item())               # a device-to-host copy on "cuda", as in PyTorch
            else:
                backend.check_same_device(x.data, p.data, op="indexing")
                p = p.data
        elif isinstance(p, list):
            p = array_module(x.data).asarray(p)
        elif isinstance(p, slice) and p.step is not None and p.step <= 0:
            raise ValueError("step must be greater than zero")
        elif hasattr(p, "dtype") and not isinstance(p, np.generic):
            backend.check_same_device(x.data, p, op="indexing")
        parts.append(p)
    return tuple(parts) if isinstance(index, tuple) else parts[0]


def is_array_index(index):
    """Integer or boolean arrays in the index: numpy's advanced indexing, which copies."""
    return _is_array_index(index)


def getitem(x, index):
    """x[index]: basic slicing and integer-array indexing; repeated indices sum their grads."""
    return GetItem.apply(x, index=device_index(x, index))


class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.skipped = [_legacy_empty(a) for a in arrays]
        if all(ctx.skipped):
            ctx.skipped = [False] * len(arrays)
        kept = [a for a, skip in zip(arrays, ctx.skipped) if not skip]
        ctx.sizes = [a.shape[axis] for a in kept]
        return array_module(arrays[0]).concatenate(kept, axis=axis)

    @staticmethod
    def backward(ctx, grad):                                # each input gets its own slice back
        xp = array_module(grad)
        cuts = np.cumsum(ctx.sizes)[:-1].tolist()
        pieces = iter(xp.split(grad, cuts, axis=ctx.axis))
        return tuple(xp.zeros((0,), dtype=grad.dtype) if skip else next(pieces)
                     for skip in ctx.skipped)


def _legacy_empty(a):
    """A 1-D empty array: PyTorch's cat skips these, whatever the other tensors' shapes."""
    return a.ndim == 1 and a.shape[0] == 0


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        return array_module(arrays[0]).stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        return tuple(xp.moveaxis(grad, ctx.axis, 0))


def _check_join(tensors, name):
    if not tensors:
        raise ValueError(f"{name}: expected a non-empty list of Tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected Tensors, got {type(t).__name__}")


def cat(tensors, dim=0):
    """Join tensors along an existing dim."""
    tensors = list(tensors)
    _check_join(tensors, "cat")
    shaped = [t for t in tensors if t.shape != (0,)] or tensors[:1]  # (0,) ones are skipped,
    axis = _check_dim(dim, shaped[0].ndim)                          # as in PyTorch
    for t in shaped[1:]:
        if t.ndim != shaped[0].ndim or builtins.any(
                t.shape[i] != shaped[0].shape[i] for i in range(t.ndim) if i != axis):
            raise RuntimeError(f"cat: sizes must match except in dimension {axis}; got "
                               f"{shaped[0].shape} and {t.shape}")
    if shaped[0].ndim == 0:
        raise RuntimeError("zero-dimensional tensor cannot be concatenated")
    return Cat.apply(*_common_dtype(tensors), axis=axis)


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dim."""
    tensors = list(tensors)
    _check_join(tensors, "stack")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{tensors[0].shape} and {t.shape}")
    return Stack.apply(*_common_dtype(tensors), axis=_check_dim(dim, tensors[0].ndim + 1))


def _common_dtype(tensors):
    """The tensors cast to the dtype they promote to (cat([ones(2), arange(2)]) is float32)."""
    dtype = functools.reduce(_promote, [t.dtype for t in tensors])
    return [cast(t, dtype) for t in tensors]
