"""``Variable``, from PyTorch before 0.4, when tensors did not record gradients themselves.

Tutorials of that time still run: ``from torch.autograd.variable import Variable`` then
``Variable(x)`` or ``Variable(x, requires_grad=True)``. Since 0.4 PyTorch returns the tensor
itself, and so does tinygan.

>>> import tinygan as tg
>>> from tinygan.autograd.variable import Variable
>>> x = tg.ones(2)
>>> Variable(x) is x, Variable(x, requires_grad=True).requires_grad, isinstance(x, Variable)
(True, True, True)
"""
from __future__ import annotations

from ..core.tensor import Tensor


class _VariableMeta(type):
    def __instancecheck__(cls, other):      # isinstance(t, Variable): any tensor, as in PyTorch
        return isinstance(other, Tensor)


class Variable(metaclass=_VariableMeta):
    """``Variable(x)`` is x itself (``requires_grad=True`` sets it on x, as PyTorch does), and
    every tensor is a Variable to ``isinstance``."""

    def __new__(cls, data, requires_grad=False, volatile=False):
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        if requires_grad:
            data.requires_grad_(True)
        return data
