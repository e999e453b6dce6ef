"""In-place writes and views: how ``t[0] = v``, ``x.add_(1)`` and ``+=`` stay correct for autograd.

Four pieces of state, all on the core's Tensor, do it:

- ``_versions = [changes, recorded writes]``, one list shared by every tensor that
  shares the memory (views, ``detach()``). Each write adds to ``changes``.
- A node watches what it saved (``Function.watch``): it remembers the count of changes
  then, and backward refuses a saved tensor whose count moved (PyTorch's "modified by
  an inplace operation"). ``t._keeps(u)`` watches ``u`` for a tensor ``t`` whose op
  computed without saving ``u`` where PyTorch's op saves it: the one mechanism for
  "PyTorch's op keeps this tensor", so a write into ``u`` is the same error in both.
- A view (``ViewOf``, core/tensor.py) remembers its base and the view ops that made it.
- ``recorded writes`` counts the writes that changed the memory's *history*; a view
  whose count is stale remakes its history from its base (``_refresh_view``).

A write under grad mode, when something involved requires grad::

    base ──[view op]── v          v[0] = w   (v a view of base)

    1. old = a copy of v's values, with v's history          (what v was)
    2. new = SetItem(old, w, index=0)                        (out of place, on the graph)
    3. base's history becomes CopySlices(base before, new, steps=v's view ops):
       the region v picks gets new's gradient, the rest flows to base before
    4. the memory is written once; changes += 1, recorded writes += 1,
       so v (and every other view of base) remakes its history on next use

Without grad (or when nothing requires grad) a write is the array write and a
``changes += 1``. PyTorch's refusals are kept: a leaf that requires grad, a view made
under no_grad written with grad on, and partial overlap between source and target.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import backend
from ..core.function import is_grad_enabled, no_grad
from ..core.ops import SetItem, is_array_index
from ..core.tensor import Tensor
from ..dtypes import can_cast, is_number
from ..ops.shapes import CopySlices
from .shapes import _basic_part, _device_index


class InPlace:
    """Writes into a tensor's memory (``add_``, ``t[i] = v``, ``+=``), recorded in the
    graph as PyTorch records them, also through views."""

    __slots__ = ()

    def _keeps(self, *tensors):
        """Make a write into any of ``tensors`` before this tensor's backward an error, as
        if the op that made it had saved them: PyTorch's saves them where ours computes
        without (None and numbers are skipped). Returns self."""
        if self.grad_fn is not None:
            for t in tensors:
                if isinstance(t, Tensor):
                    self.grad_fn.watch(t)
        return self

    def _stand_in_for(self, original):
        """Make this copy share ``original``'s count of in-place changes, and return it: an
        op that saves the copy (a cast, a cleaned-up index) then refuses a write into the
        original before backward, as PyTorch's op, which saves the original itself."""
        self._versions = original._versions
        return self

    # --- in place ------------------------------------------------------------------------
    @property
    def _version(self):
        """How many in-place changes this tensor's memory has seen (views and detached
        copies share the count, as in PyTorch, since they share the memory)."""
        return self._versions[0]

    def _bump_version(self):
        self._versions[0] += 1

    def _records_write(self, operands):
        """Whether an in-place write with these operands goes into the graph."""
        return is_grad_enabled() and (self.requires_grad or builtins.any(
            isinstance(o, Tensor) and o.requires_grad for o in operands))

    def _write(self, compute, operands=(), check_cast=True, check_overlap=True):
        """self ← compute(self), in place; recorded in the graph as PyTorch records it.

        ``compute`` builds the new value out of place from a tensor holding the old one.
        When grad mode is on and self or an operand requires grad, the old value
        becomes the input of the recorded op and self takes the op's history (a
        write into a view is recorded on the view's base); otherwise the array is
        simply overwritten.
        """
        for o in operands if check_overlap else ():
            if isinstance(o, Tensor) and backend.overlap(self._data, o._data) == "partial":
                raise _overlap_error()
        if not self._records_write(operands):
            with no_grad():
                new = compute(self)
            self._data[...] = self._checked_result(new, check_cast)._data
            self._bump_version()
            return self
        base = self if self._view is None else self._view.base
        if self._view is not None and self._view.made_in_no_grad:
            raise RuntimeError("A view was created in no_grad mode and is being modified "
                               "inplace with grad mode enabled: take the view outside "
                               "tg.no_grad(), or write under tg.no_grad() too")
        if self._view is not None and self._view.one_of_many:
            raise RuntimeError(self._view.refusal("is being modified inplace"))
        if base.requires_grad and base.grad_fn is None:
            which = "a leaf Variable" if base is self else "a view of a leaf Variable"
            raise RuntimeError(f"{which} that requires grad is being used in an in-place "
                               "operation; do it under tg.no_grad() (as optimizers do) or "
                               "on a copy (x = x.clone())")
        old = self._wrap(self._data.copy())._set_graph(self.grad_fn)   # the old value, with
        old._requires_grad = self.requires_grad                    # self's history
        new = self._checked_result(compute(old), check_cast)
        if new.dtype != self.dtype:
            new = new.to(dtype=self.dtype)
        if base is self:
            self._data[...] = new._data
            self._set_graph(new.grad_fn)
        else:   # base ← base with the view's region replaced by new (written through self)
            before = self._wrap(base._data)._set_graph(base.grad_fn)
            before._requires_grad = base.requires_grad
            base._set_graph(CopySlices.apply(before, new, steps=self._view.steps).grad_fn)
        self._bump_version()
        self._versions[1] += 1           # views of this memory must rebuild their history
        if base is not self:
            self._refresh_view()
        return self

    def _checked_result(self, new, check_cast):
        if new.shape != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape {list(new.shape)}")
        if check_cast and not can_cast(new.dtype, self.dtype):
            raise RuntimeError(f"result type {new.dtype} can't be cast to the desired output "
                               f"type {self.dtype}")
        return new

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        """Set every element to value (a number or a 0-d tensor)."""
        if isinstance(value, Tensor) and value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions")
        self[...] = value
        return self

    def copy_(self, src):
        """Copy src's values (broadcast to this shape, cast to this dtype) into self."""
        if isinstance(src, Tensor) and _broadcast_shape(src.shape, self.shape) != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape {list(_broadcast_shape(src.shape, self.shape))}")
        # src as it is, not broadcast first as setitem does: x.unsqueeze(0).copy_(x) is a
        # partial overlap in PyTorch
        self._assign(..., src, broadcast=False)
        return self

    def add_(self, other, alpha=1):
        """self += alpha * other, in place."""
        return self._write(lambda old: old.add(other, alpha=alpha), (other,))

    def sub_(self, other, alpha=1):
        return self._write(lambda old: old.sub(other, alpha=alpha), (other,))

    def mul_(self, other):
        return self._write(lambda old: old * other, (other,))

    def div_(self, other):
        return self._write(lambda old: old / other, (other,))

    def clamp_(self, min=None, max=None):
        """clamp in place (recorded in the graph like add_); clip_ is the same."""
        return self._write(lambda old: old.clamp(min, max), ())

    clip_ = clamp_

    def relu_(self):
        """max(x, 0) written into x and returned (torch.relu_, F.relu(x, inplace=True),
        nn.ReLU(inplace=True)); as PyTorch's, its backward reads x as written."""
        return self._write_keeping_result(lambda old: old.relu())

    def _write_keeping_result(self, compute):
        """``_write`` for an op whose PyTorch backward reads its result, which an in-place
        op writes into self (relu_, leaky_relu_): the node that computed the new value
        keeps self as written, so a later write into self before backward is an error."""
        made = []

        def computed(old):
            made.append(compute(old))
            return made[-1]
        self._write(computed)
        if made and made[-1].grad_fn is not None:
            made[-1].grad_fn.watch(self)     # after the write: its count of changes now
        return self

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __setitem__(self, index, value):
        """``t[index] = value``: a number or a tensor (broadcast, cast to t's dtype).

        Recorded in the graph when value or t requires grad, as in PyTorch.
        """
        self._assign(index, value)

    def _assign(self, index, value, broadcast=True):
        """setitem, and copy_ with ``broadcast=False``: value's overlap with t is then judged
        on value as it is, not broadcast to the region first."""
        index = _device_index(self, index)
        if isinstance(value, Tensor):
            backend.check_same_device(self._data, value._data, op="setitem")
            value = self._fit_value(index, value, broadcast)
        elif not is_number(value):
            raise TypeError(f"can only assign a number or a Tensor to a Tensor, "
                            f"got {type(value).__name__}")
        if not self._records_write((value,)):   # a plain write into the array
            self._data[index] = value._data if isinstance(value, Tensor) else value
            self._bump_version()
            return
        self._write(lambda old: SetItem.apply(old, value, index=index), (value,),
                    check_cast=False, check_overlap=False)   # _fit_value checked it

    def _fit_value(self, index, value, broadcast=True):
        """value for self[index] = value: leading size-1 dims dropped (as PyTorch does), and
        refused when it overlaps the memory it is written into."""
        advanced = is_array_index(index)
        region = self._data[_basic_part(index) if advanced else index]
        while value.ndim > region.ndim and value.shape[0] == 1 and not advanced:
            value = value.reshape(value.shape[1:])
        if value.ndim == 0 and broadcast and not advanced:   # setitem fills: nothing to check
            return value
        memory = backend.overlap(region, value._data, broadcast=broadcast)
        if memory == "partial" or (advanced and memory == "full"):
            raise _overlap_error()
        return value


def _overlap_error():
    return RuntimeError("unsupported operation: some elements of the input tensor and the "
                        "written-to tensor refer to a single memory location. Please clone() "
                        "the tensor before performing the operation.")


def _broadcast_shape(*shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None
