"""Views (reshape, permute, expand, slicing), indexing, writes, and joining."""
from __future__ import annotations

import builtins

from .. import backend
from ..backend import array_module
from ..function import Function


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.shape = x.shape
        y = x.reshape(shape)
        # a view where the strides allow one, else a copy (PyTorch's reshape does the same);
        # an empty tensor is always a view (no memory to share, so NumPy cannot tell)
        ctx.is_view = y.size == 0 or array_module(x).may_share_memory(x, y)
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
        inverse = sorted(range(len(ctx.dims)), key=ctx.dims.__getitem__)
        return grad.permute(tuple(inverse))


class Expand(Function):
    """x broadcast to ``shape`` without a copy (size-1 dims stretched, new leading dims)."""

    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.shape = x.shape
        ctx.is_view = True
        return array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):                                # sum over what was stretched
        return sum_to(grad, ctx.shape)


def sum_to(grad, shape):
    """``grad`` summed over the dims broadcasting added or stretched to reach ``shape``."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    if grad.ndim < len(shape):    # t[i] = v with v of shape (1, n): leading 1s were dropped
        return grad.reshape(shape)
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(stretched, keepdim=True)
    return grad.reshape(shape)


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index=None):
        ctx.shape, ctx.index = x.shape, index
        ctx.is_view = not is_array_index(index)    # slicing views; array indexing copies
        if not ctx.is_view:   # kept for backward, as PyTorch keeps an array index: a second
            ctx.save_for_backward(index)    # backward then needs retain_graph in both
        out = x[index]
        parts = _index_parts(index)
        if ctx.is_view and out.ndim == 0 and not builtins.any(p is Ellipsis for p in parts):
            out = x[parts + (Ellipsis,)]            # x[1, 2]: a 0-d view, not a numpy scalar
        return out

    @staticmethod
    def backward(ctx, grad):                                # the gradient goes back where it came from;
        zeros = grad.new_zeros(ctx.shape)                   # repeated indices sum their gradients
        if is_array_index(ctx.index) and not _is_mask(ctx.index):
            return IndexAdd.apply(zeros, grad, index=ctx.index)
        return SetItem.apply(zeros, grad, index=ctx.index)  # slices and masks never repeat


class Gather(Function):
    """x at ``picks`` (the integer arrays x.gather(dim, index) builds from index). Backward
    reads neither x nor index, but both are saved, as PyTorch saves them (x when it needs a
    gradient): writing into either before backward is then an error in both (the
    differential test found cross_entropy's target, then gather's input)."""

    @staticmethod
    def forward(ctx, x, index, picks=None):
        ctx.save_for_backward(index, x if ctx.needs_input_grad[0] else None)
        ctx.shape, ctx.picks = x.shape, picks
        return x[picks]

    @staticmethod
    def backward(ctx, grad):                                # repeated picks sum their gradients
        return IndexAdd.apply(grad.new_zeros(ctx.shape), grad, index=ctx.picks), None


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
        grad_x = SetItem.apply(grad, 0, index=ctx.index) if need_x else None
        grad_value = GetItem.apply(grad, index=ctx.index) if need_value else None
        return grad_x, grad_value


class IndexAdd(Function):
    """x with value added at x[index], repeated indices adding up (NumPy's add.at)."""

    @staticmethod
    def forward(ctx, x, value, index=None):
        ctx.index = index
        out = x.copy()
        backend.scatter_add(out, index, value)
        return out

    @staticmethod
    def backward(ctx, grad):                                # d/dx = 1; d/dvalue = grad[index]
        need_x, need_value = ctx.needs_input_grad
        return (grad if need_x else None), (GetItem.apply(grad, index=ctx.index)
                                            if need_value else None)


class CopySlices(Function):
    """``base`` with the region a chain of view ops picks replaced by ``value``: how a
    write through a view is recorded on the view's base (PyTorch's CopySlices).

    Forward writes into base's memory (the write the user asked for); backward finds
    the region by running the same view ops on the flat positions of base.
    """

    @staticmethod
    def forward(ctx, base, value, steps=()):
        positions = array_module(base).arange(base.size).reshape(base.shape)
        region = base
        for function, kwargs in steps:
            positions = function.forward(_Scratch(), positions, **kwargs)
            region = function.forward(_Scratch(), region, **kwargs)
        region[...] = value
        # saved, not kept on ctx: a backward frees them, so a second one through this node
        # is PyTorch's "backward through the graph a second time" error (the differential
        # test found PyTorch raising there)
        ctx.region_shape = positions.shape
        ctx.save_for_backward(positions.reshape(-1))
        return base

    @staticmethod
    def backward(ctx, grad):                                # the region's gradient goes to value,
        need_base, need_value = ctx.needs_input_grad        # the rest to the old base
        (positions,) = ctx.saved_arrays
        flat = grad.reshape(-1)
        grad_base = grad_value = None
        if need_base:
            grad_base = SetItem.apply(flat, 0, index=positions).reshape(grad.shape)
        if need_value:
            grad_value = GetItem.apply(flat, index=positions).reshape(ctx.region_shape)
        return grad_base, grad_value


class _Scratch:
    """A throwaway context for running a view op's forward outside the graph."""
    is_view = False
    needs_input_grad = ()

    def save_for_backward(self, *arrays):
        pass


def _index_parts(index):
    return index if isinstance(index, tuple) else (index,)


def is_array_index(index):
    """Integer or boolean arrays in the index: numpy's advanced indexing, which copies."""
    return builtins.any(hasattr(p, "dtype") and p.ndim > 0 for p in _index_parts(index))


def _is_mask(index):
    return builtins.any(hasattr(p, "dtype") and p.dtype.kind == "b" for p in _index_parts(index))


class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.skipped = [_legacy_empty(a) for a in arrays]
        if builtins.all(ctx.skipped):
            ctx.skipped = [False] * len(arrays)
        kept = [a for a, skip in zip(arrays, ctx.skipped) if not skip]
        ctx.sizes = [a.shape[axis] for a in kept]
        return array_module(arrays[0]).concatenate(kept, axis=axis)

    @staticmethod
    def backward(ctx, grad):                                # each input gets its own slice back
        grads, start, sizes = [], 0, iter(ctx.sizes)
        for skipped in ctx.skipped:
            if skipped:
                grads.append(grad.new_zeros((0,)))
                continue
            size = next(sizes)
            grads.append(GetItem.apply(grad, index=(slice(None),) * ctx.axis
                                       + (slice(start, start + size),)))
            start += size
        return tuple(grads)


def _legacy_empty(a):
    """A 1-D empty array: PyTorch's cat skips these, whatever the other tensors' shapes."""
    return a.ndim == 1 and a.shape[0] == 0


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis, ctx.count = axis, len(arrays)
        return array_module(arrays[0]).stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):                                # each input gets its own slice back
        return tuple(GetItem.apply(grad, index=(slice(None),) * ctx.axis + (i,))
                     for i in range(ctx.count))
