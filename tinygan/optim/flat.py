"""Many arrays as views into one flat buffer, so an update is one pass for a whole model
instead of one per parameter.

On a GPU every elementwise op is a kernel launch of a few microseconds, whatever its size;
Adam's 13 ops for each of the MNIST GAN's 26 parameters were 340 launches a step. With the
parameters (and Adam's averages) laid end to end in one buffer, the same 13 ops update all
of them at once, and backend.fuse makes the 13 one kernel: a gather of the gradients and one
update per optimizer. PyTorch gets there with its foreach and fused kernels. Measured with
bench/tricks.py (2-core VM, 2026-11-30): 639 → 329 device ops per GAN step before the
fusion, 312 → 290 with it (7% of a step's launches), which is the point on a GPU. On the
CPU it made a step 1 to 3% slower in five of seven measurements at batch 64, 128 and 512
(the update already ran in cache-sized blocks, and the one gather of the gradients cost more
than the calls it saved), so Adam uses it on a GPU only.

The views are handed back to their owners (``p.data = view``). Whoever replaces one later
(``module.to(device)``, ``optimizer.load_state_dict``) breaks the link; :meth:`holds` sees
that, and the optimizer lays the arrays out again from their new values.
"""
from __future__ import annotations

from ..backend import array_module


class FlatBuffer:
    """One contiguous buffer holding copies of ``arrays`` end to end, and a view per array."""

    def __init__(self, arrays):
        xp = array_module(arrays[0])
        self.buffer = xp.concatenate([a.reshape(-1) for a in arrays])   # one copy of each
        self.views, start = [], 0
        for a in arrays:
            self.views.append(self.buffer[start:start + a.size].reshape(a.shape))
            start += a.size

    def holds(self, arrays):
        """True while every array is still the view handed out (nobody rebound it)."""
        return len(arrays) == len(self.views) and all(a is v for a, v in zip(arrays, self.views))


def can_flatten(arrays, previous=None):
    """Arrays that may move into one buffer: one device and dtype, each row-major and its own
    memory or a view ``previous`` handed out (a parameter that is a view of another, as in
    weight tying, would lose the tie), so that copying them out and pointing them at the
    copies changes nothing but where they live."""
    first, ours = arrays[0], {id(v) for v in previous.views} if previous else set()
    xp = array_module(first)
    return (len({id(a) for a in arrays}) == len(arrays)     # a parameter given twice: no
            and all(array_module(a) is xp and a.dtype == first.dtype and a.flags.c_contiguous
                    and (a.base is None or id(a) in ours) for a in arrays))
