"""Shapes and views: reshape, permute, expand, indexing, gather, and matrix products."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend
from ..core.ops import Clone, Expand, GetItem, MatMul, Permute, Reshape, _index_parts
from ..core.tensor import Tensor
from ..dtypes import int64
from ..ops.shapes import Gather
from .args import _check_dim, _tensor_operand


class Shapes:
    """The same values seen in another shape (a view where PyTorch makes one), picked
    values, and matrix products."""

    __slots__ = ()

    # --- shapes and views ---------------------------------------------------------------------
    def reshape(self, *shape):
        """The same values in a new shape (one dim may be -1); a view where possible."""
        shape = _shape_args(shape)
        size = math.prod(n for n in shape if n != -1)
        if ((-1 not in shape and size != self.numel())
                or (-1 in shape and (size == 0 or self.numel() % size))):
            raise RuntimeError(f"shape {list(shape)} is invalid for input of size {self.numel()}")
        return Reshape.apply(self, shape=shape)

    def view(self, *shape):
        """reshape that must not copy: an error where the strides allow no view, as in
        PyTorch (``x.T.view(6)``); reshape copies there instead."""
        out = self.reshape(*shape)
        if self.numel() and not backend.array_module(self._data).may_share_memory(
                self._data, out._data):
            raise RuntimeError("view size is not compatible with input tensor's size and stride "
                               "(at least one dimension spans across two contiguous subspaces). "
                               "Use .reshape(...) instead.")
        return out

    def flatten(self, start_dim=0, end_dim=-1):
        """Merge dims start_dim..end_dim into one (the tensor itself when that is one dim)."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = _check_dim(start_dim, self.ndim), _check_dim(end_dim, self.ndim)
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        if start == end:
            return self
        merged = math.prod(self.shape[start:end + 1])
        return self.reshape(self.shape[:start] + (merged,) + self.shape[end + 1:])

    def unflatten(self, dim, sizes):
        """Dim ``dim`` split into ``sizes`` (one of them may be -1); flatten's inverse."""
        axis = _check_dim(dim, self.ndim)
        sizes = tuple(sizes)
        if not sizes:
            raise RuntimeError("unflatten: sizes must be non-empty")
        known = math.prod(n for n in sizes if n != -1)
        if (-1 not in sizes and known != self.shape[axis]) or (
                -1 in sizes and (known == 0 or self.shape[axis] % known)):
            raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to "
                               f"the size of dim {dim} ({self.shape[axis]}) in the input tensor")
        return self.reshape(self.shape[:axis] + sizes + self.shape[axis + 1:])

    def permute(self, *dims):
        dims = tuple(_check_dim(d, self.ndim) for d in _shape_args(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of the {self.ndim} dims")
        return Permute.apply(self, dims=dims)

    def transpose(self, dim0, dim1):
        """Swap two dims (a 0-d tensor accepts dims 0 and -1 and stays as it is)."""
        dims = list(range(self.ndim))
        a, b = _check_dim(dim0, self.ndim), _check_dim(dim1, self.ndim)
        if dims:
            dims[a], dims[b] = dims[b], dims[a]
        return Permute.apply(self, dims=tuple(dims))

    def t(self):
        """The transpose of a matrix; a 0-d or 1-D tensor comes back as it is (a view)."""
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self.ndim}D (use transpose(dim0, dim1) or .mT)")
        return Permute.apply(self, dims=tuple(reversed(range(self.ndim))))

    def repeat(self, *sizes):
        """The tensor tiled ``sizes[i]`` times along dim i (extra leading sizes add dims);
        always a copy, as in PyTorch.

        >>> import tinygan as tg
        >>> tg.tensor([1, 2]).repeat(2, 2)
        tensor([[1, 2, 1, 2],
                [1, 2, 1, 2]])
        """
        sizes = _shape_args(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(f"Number of dimensions of repeat dims ({len(sizes)}) can not be "
                               f"smaller than number of dimensions of tensor ({self.ndim})")
        for n in sizes:
            if not isinstance(n, numbers.Integral) or n < 0:
                raise RuntimeError(f"repeat: sizes must be non-negative integers, got "
                                   f"{list(sizes)}")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        # tile = each dim n seen as (1, n), broadcast to (r, n), merged into r·n
        paired = tuple(d for n in shape for d in (1, n))
        stretched = tuple(d for r, n in zip(sizes, shape) for d in (r, n))
        out = self.reshape(paired).expand(stretched).reshape(
            tuple(r * n for r, n in zip(sizes, shape)))
        if out._view is not None:        # all sizes 1, or empty: the reshapes made a view,
            out = Clone.apply(out)       # and repeat copies
        return out

    def gather(self, dim, index):
        """out[i][j][k] = self[index[i][j][k]][j][k] for dim 0 (and so on): values picked
        along dim by an int64 index of the same number of dims; repeated picks add up their
        gradients.

        >>> import tinygan as tg
        >>> tg.tensor([[1.0, 2.0], [3.0, 4.0]]).gather(1, tg.tensor([[1], [0]]))
        tensor([[2.],
                [3.]])
        """
        index = _tensor_operand(index, "gather")
        if self.ndim == 0 and index.ndim == 0:     # PyTorch treats a 0-d tensor as 1-D here
            return self.reshape(1).gather(dim, index.reshape(1)).reshape(())
        return Gather.apply(self, index, picks=_gather_index(self, dim, index, "gather"))

    @property
    def T(self):
        """All dims reversed (the transpose of a matrix)."""
        return Permute.apply(self, dims=tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        """The last two dims swapped: a batch of matrices, each transposed."""
        return self.transpose(-2, -1)

    def unsqueeze(self, dim):
        """Insert a dim of size 1 at ``dim``."""
        dim = _check_dim(dim, self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim=None):
        """Drop dims of size 1 (only ``dim`` when given and of size 1)."""
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dim = _check_dim(dim, self.ndim)
        if self.ndim == 0 or self.shape[dim] != 1:
            return self.reshape(self.shape)          # a new view of the same shape, as PyTorch
        return self.reshape(self.shape[:dim] + self.shape[dim + 1:])

    def expand(self, *sizes):
        """A view with size-1 dims stretched (and new leading dims); -1 keeps a size."""
        sizes = _shape_args(sizes)
        extra = len(sizes) - self.ndim
        if extra < 0:
            raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be "
                               f"greater or equal to the number of dimensions ({self.ndim})")
        shape = []
        for i, n in enumerate(sizes):
            old = self.shape[i - extra] if i >= extra else None
            if n == -1:
                if old is None:
                    raise RuntimeError("expand: -1 is not allowed for a new leading dim")
                n = old
            if old is not None and old != 1 and old != n:
                raise RuntimeError(f"The expanded size of the tensor ({n}) must match the "
                                   f"existing size ({old}) at non-singleton dimension {i}. "
                                   f"Target sizes: {list(sizes)}. Tensor sizes: {list(self.shape)}")
            shape.append(n)
        return Expand.apply(self, shape=tuple(shape))

    # --- pieces along one dim: views, as PyTorch's ----------------------------------------------
    def narrow(self, dim, start, length):
        """The ``length`` entries from ``start`` (negative counts from the end) along ``dim``."""
        if self.ndim == 0:
            raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
        axis = _check_dim(dim, self.ndim)
        size, start, length = self.shape[axis], _whole(start, "start"), _whole(length, "length")
        if not -size <= start <= size:
            raise IndexError(f"start out of range (expected to be in range of [{-size}, "
                             f"{size}], but got {start})")
        if length < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
        start = start + size if start < 0 else start
        if start + length > size:
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size "
                               f"({size}).")
        return self[(slice(None),) * axis + (slice(start, start + length),)]

    def split(self, split_size_or_sections, dim=0):
        """A tuple of views along ``dim``: pieces of ``split_size`` (the last may be shorter),
        or of the sizes in a list, which must add up to the dim's size."""
        if self.ndim == 0:
            raise RuntimeError("split expects at least a 1-dimensional tensor")
        axis = _check_dim(dim, self.ndim)
        size = self.shape[axis]
        if isinstance(split_size_or_sections, (list, tuple)):
            sizes = [_whole(n, "split_sizes") for n in split_size_or_sections]
            if any(n < 0 for n in sizes):
                raise RuntimeError("split_with_sizes expects split_sizes have only non-negative "
                                   f"entries, but got split_sizes={sizes}")
            if sum(sizes) != size:
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to "
                                   f"{size} (input tensor's size at dimension {axis}), but got "
                                   f"split_sizes={sizes}")
        else:
            step = _whole(split_size_or_sections, "split_size")
            if step < 0:
                raise RuntimeError(f"split expects split_size be non-negative, but got "
                                   f"split_size={step}")
            if step == 0 and size:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                                   f"dimension size of {size}")
            sizes = _runs(size, step)
        return self._split(axis, sizes, "split")

    def _split(self, axis, sizes, name):
        """The pieces of the given sizes along ``axis``, as ``name`` returns them."""
        starts = np.cumsum([0] + sizes[:-1])
        return _pieces(name, [self.narrow(axis, int(a), n) for a, n in zip(starts, sizes)])

    def chunk(self, chunks, dim=0):
        """``split`` into ``chunks`` pieces of ceil(size / chunks): fewer pieces where the
        size does not allow them, ``chunks`` empty ones for a dim of size 0."""
        if self.ndim == 0:
            raise RuntimeError("chunk expects at least a 1-dimensional tensor")
        chunks = _whole(chunks, "chunks")
        if chunks <= 0:
            raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
        axis = _check_dim(dim, self.ndim)
        size = self.shape[axis]
        sizes = _runs(size, -(-size // chunks)) if size else [0] * chunks
        return self._split(axis, sizes, "chunk")

    def unbind(self, dim=0):
        """The slices at each index along ``dim``, that dim removed: a tuple of views."""
        if self.ndim == 0:
            raise IndexError("Dimension specified as 0 but tensor has no dimensions")
        axis = _check_dim(dim, self.ndim)
        return _pieces("unbind", [self[(slice(None),) * axis + (i,)]
                                  for i in range(self.shape[axis])])

    def __getitem__(self, index):
        """Basic slicing (a view) and integer-array indexing (a copy; repeated indices sum
        their gradients)."""
        out = GetItem.apply(self, index=_device_index(self, index))
        if out._view is None:   # an array index: PyTorch keeps its tensors (a 0-d one acts
            parts = index if isinstance(index, tuple) else (index,)     # as a number)
            out._keeps(*(p for p in parts if isinstance(p, Tensor) and p.ndim > 0))
        return out

    def mm(self, mat2):
        """The product of two matrices (2-D only; matmul takes any rank)."""
        mat2 = _tensor_operand(mat2, "mm")
        for name, t in (("self", self), ("mat2", mat2)):
            if t.ndim != 2:
                raise RuntimeError(f"mm: {name} must be a matrix, got a {t.ndim}-D tensor of "
                                   f"shape {tuple(t.shape)}")
        return self.matmul(mat2)

    def matmul(self, other):
        """Matrix product with NumPy's rules (1-D operands, batched broadcasting)."""
        other = _tensor_operand(other, "matmul")
        if self.ndim == 0 or other.ndim == 0:
            raise RuntimeError("matmul: both arguments need at least 1 dimension, got 0-d")
        if self.dtype != other.dtype:
            raise RuntimeError(f"expected both matmul operands to have the same dtype, but got "
                               f"{self.dtype} and {other.dtype}: convert one with .to(dtype)")
        inner_a = self.shape[-1]
        inner_b = other.shape[-2] if other.ndim > 1 else other.shape[0]
        if inner_a != inner_b:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                               f"({'x'.join(map(str, self.shape))} and "
                               f"{'x'.join(map(str, other.shape))}): inner dimensions "
                               f"{inner_a} and {inner_b} differ")
        return MatMul.apply(self, other)


def _pieces(name, views):
    """The views as the tuple split, chunk and unbind return, each marked as one of several
    made by one op (ViewOf.one_of_many), so that a write into one is refused, as in PyTorch."""
    for place, view in enumerate(views):
        view._view = view._view._replace(one_of_many=(name, place))
    return tuple(views)


def _runs(size, step):
    """``size`` cut into pieces of ``step``, the last one shorter; one empty piece for 0."""
    if size == 0:
        return [0]
    pieces = -(-size // step)
    return [step] * (pieces - 1) + [size - step * (pieces - 1)]


def _whole(value, what):
    """An int argument (a 0-d integer Tensor counts, a bool or a float does not)."""
    if isinstance(value, Tensor) and value.ndim == 0 and value.dtype.kind in "iu":
        return int(value.item())
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    return int(value)


def _shape_args(args):
    """Accept both t.reshape(2, 3) and t.reshape((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)



def _basic_part(index):
    """The index with each index array replaced by whole slices over the dims it indexes: the
    view PyTorch writes into (index_put_), after the ints and slices, and checks for overlap."""
    parts = []
    for p in _index_parts(index):
        if hasattr(p, "dtype") and p.ndim > 0:
            parts.extend([slice(None)] * (p.ndim if p.dtype.kind == "b" else 1))
        else:
            parts.append(p)
    return tuple(parts)


def _device_index(x, index):
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
                backend.check_same_device(x._data, p._data, op="indexing")
                p = p._data
        elif isinstance(p, list):
            p = backend.array_module(x._data).asarray(p)
        elif isinstance(p, slice) and p.step is not None and p.step <= 0:
            raise ValueError("step must be greater than zero")
        elif hasattr(p, "dtype") and not isinstance(p, np.generic):
            backend.check_same_device(x._data, p, op="indexing")
        parts.append(p)
    return tuple(parts) if isinstance(index, tuple) else parts[0]


def _gather_index(x, dim, index, op):
    """The integer-array index that picks gather's values: index along dim, and along
    every other dim d the positions 0..index.shape[d]-1 (PyTorch's rules checked)."""
    if index.dtype != int64:
        raise RuntimeError(f"{op}(): Expected dtype int64 for index, got {index.dtype}")
    backend.check_same_device(x._data, index._data, op=op)
    axis = _check_dim(dim, x.ndim)
    if index.ndim != x.ndim:
        raise RuntimeError(f"{op}: index tensor must have the same number of dimensions as "
                           f"input tensor: index has shape {tuple(index.shape)}, "
                           f"input {tuple(x.shape)}")
    for d, (i, n) in enumerate(zip(index.shape, x.shape)):
        if d != axis and i > n:
            raise RuntimeError(f"{op}: size does not match at dimension {d}: expected index "
                               f"{list(index.shape)} to be no larger than self "
                               f"{list(x.shape)} apart from dimension {axis}")
    size = x.shape[axis]
    if index.device == backend.CPU and index.numel():
        # (on "cuda" this check would copy to the host at every call: it is skipped there)
        bad = index._data[(index._data < 0) | (index._data >= size)]
        if bad.size:
            raise RuntimeError(f"{op}: index {bad.flat[0]} is out of bounds for dimension "
                               f"{axis} with size {size}")
    xp = backend.array_module(index._data)
    return tuple(index._data if d == axis else
                 xp.arange(n).reshape([-1 if k == d else 1 for k in range(index.ndim)])
                 for d, n in enumerate(index.shape))
