"""``tg.Size``: a tensor's shape, a tuple of ints as ``torch.Size`` is.

>>> import tinygan as tg
>>> tg.zeros(2, 3).shape
tinygan.Size([2, 3])
>>> tg.zeros(2, 3).shape == (2, 3), tg.Size([2, 3]).numel()
(True, 6)
"""
from __future__ import annotations

import operator


class Size(tuple):
    """A shape: a tuple (compares, hashes, unpacks and indexes as one) whose slices and sums
    are shapes again, with ``numel()``; printed ``tinygan.Size([2, 3])`` where PyTorch
    prints ``torch.Size([2, 3])``."""

    __slots__ = ()

    def __new__(cls, sizes=()):
        try:
            sizes = tuple(operator.index(s) for s in sizes)
        except TypeError:
            raise TypeError(f"Size expects an iterable of ints, got {sizes!r}") from None
        return super().__new__(cls, sizes)

    def __repr__(self):
        return f"tinygan.Size({list(self)})"

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(self) + tuple(other))

    def __mul__(self, times):
        return Size(tuple(self) * times)

    __rmul__ = __mul__

    def numel(self) -> int:
        """The number of elements a tensor of this shape holds (1 for ``Size([])``)."""
        n = 1
        for s in self:
            n *= s
        return n
