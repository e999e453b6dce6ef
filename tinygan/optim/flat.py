"""Many arrays as views into one flat buffer, so an update is one pass for a whole model
instead of one per parameter.

On a GPU every elementwise op is a kernel launch that costs about the same whatever its
size. With the parameters (and Adam's averages) laid end to end in one buffer, each op of the
update covers all of them at once, and backend.fuse makes the update one kernel: a gather of
the gradients and one update per group, where PyTorch uses its foreach and fused kernels. On
the CPU the gather costs more than the calls it saves, so Adam's default uses it on a GPU only
(bench/tricks.py's flat_adam measures both).

The views are handed back to their owners (``p._data = view``). Whoever replaces one later
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
