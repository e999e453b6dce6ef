"""gather, joining (cat, stack), and a write through a view recorded on its base."""
from __future__ import annotations

import builtins

from ..backend import array_module
from ..core.function import Function
from ..core.ops import GetItem, IndexAdd, SetItem, reshape


class Gather(Function):
    """x at ``picks`` (the integer arrays x.gather(dim, index) builds from index). Backward
    reads neither x nor index, but both are saved, as PyTorch saves them (x when it needs a
    gradient): writing into either before backward is then an error in both."""

    @staticmethod
    def forward(ctx, x, index, picks=None):
        ctx.save_for_backward(index, x if ctx.needs_input_grad[0] else None)
        ctx.shape, ctx.picks = x.shape, picks
        return x[picks]

    @staticmethod
    def backward(ctx, grad):                                # repeated picks sum their gradients
        return IndexAdd.apply(grad.new_zeros(ctx.shape), grad, index=ctx.picks), None


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
        # is PyTorch's "backward through the graph a second time" error
        ctx.region_shape = positions.shape
        ctx.save_for_backward(positions.reshape(-1))
        return base

    @staticmethod
    def backward(ctx, grad):                                # the region's gradient goes to value,
        need_base, need_value = ctx.needs_input_grad        # the rest to the old base
        (positions,) = ctx.saved_tensors
        positions = positions._data
        flat = reshape(grad, shape=(grad._data.size,))
        grad_base = grad_value = None
        if need_base:
            grad_base = reshape(SetItem.apply(flat, 0, index=positions), shape=grad.shape)
        if need_value:
            grad_value = reshape(GetItem.apply(flat, index=positions), shape=ctx.region_shape)
        return grad_base, grad_value


class _Scratch:
    """A throwaway context for running a view op's forward outside the graph."""
    is_view = False
    needs_input_grad = ()

    def save_for_backward(self, *arrays):
        pass


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
