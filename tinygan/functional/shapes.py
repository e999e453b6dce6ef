"""reshape, flatten, transpose, permute, (un)squeeze, indexing, cat and stack."""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import array_module
from ..tensor import Tensor, _check_dim, _index_arrays


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.shape = x.shape
        ctx.is_view = True   # a view where numpy can make one; counted as one either way
        return x.reshape(shape)

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
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        out = xp.zeros(ctx.shape, dtype=grad.dtype)
        if _is_array_index(ctx.index) and not _is_mask(ctx.index):
            backend.scatter_add(out, ctx.index, grad)       # repeated indices sum their grads
        else:
            out[ctx.index] = grad                           # slices and masks never repeat
        return out


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


view = reshape


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = _check_dim(start_dim, x.ndim), _check_dim(end_dim, x.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape[:start] + (-1,) + x.shape[end + 1:]
    return reshape(x, shape) if x.numel() else reshape(x, x.shape[:start] + (0,) + x.shape[end + 1:])


def permute(x, dims):
    dims = tuple(_check_dim(d, x.ndim) for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} dims")
    return Permute.apply(x, dims=dims)


def transpose(x, dim0, dim1):
    """Swap two dims."""
    dims = list(range(x.ndim))
    a, b = _check_dim(dim0, x.ndim), _check_dim(dim1, x.ndim)
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
    if x.shape[dim] != 1:
        return x
    return reshape(x, x.shape[:dim] + x.shape[dim + 1:])


def getitem(x, index):
    """x[index]: basic slicing and integer-array indexing; repeated indices sum their grads."""
    index = _index_arrays(index)
    xp = array_module(x.data)
    parts = index if isinstance(index, tuple) else (index,)
    for p in parts:  # device arrays must meet device arrays
        if hasattr(p, "dtype") and not isinstance(p, np.generic):
            backend.check_same_device(x.data, p, op="indexing")
    # Lists index like arrays (t[[0, 2, 2]] as in PyTorch); make them device arrays.
    if isinstance(index, list):
        index = xp.asarray(index)
    elif isinstance(index, tuple):
        index = tuple(xp.asarray(p) if isinstance(p, list) else p for p in index)
    return GetItem.apply(x, index=index)


class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.sizes = [a.shape[axis] for a in arrays]
        return array_module(arrays[0]).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):                                # each input gets its own slice back
        xp = array_module(grad)
        cuts = np.cumsum(ctx.sizes)[:-1].tolist()
        return tuple(xp.split(grad, cuts, axis=ctx.axis))


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
    axis = _check_dim(dim, tensors[0].ndim)
    for t in tensors[1:]:
        if t.ndim != tensors[0].ndim or builtins.any(
                t.shape[i] != tensors[0].shape[i] for i in range(t.ndim) if i != axis):
            raise RuntimeError(f"cat: sizes must match except in dimension {axis}; got "
                               f"{tensors[0].shape} and {t.shape}")
    return Cat.apply(*tensors, axis=axis)


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dim."""
    tensors = list(tensors)
    _check_join(tensors, "stack")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{tensors[0].shape} and {t.shape}")
    return Stack.apply(*tensors, axis=_check_dim(dim, tensors[0].ndim + 1))
