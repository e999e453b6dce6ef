"""1/x and a mod b: the arithmetic beyond the core's + - * / **."""
from __future__ import annotations

from ..backend import errstate
from ..core.function import Function
from ..core.ops import mul, neg


class Reciprocal(Function):
    """1/x: how PyTorch computes a number over a tensor (2 / t is reciprocal(t) * 2)."""

    @staticmethod
    def forward(ctx, x):
        y = 1 / x
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return mul(grad, neg(mul(y, y)))                    # d/dx 1/x = -1/x²


class Remainder(Function):
    """a mod b with the divisor's sign (Python's %, torch.remainder): a - ⌊a/b⌋·b."""

    @staticmethod
    def forward(ctx, a, b):
        with errstate(divide="ignore", invalid="ignore"):   # x % 0.0 is nan, silently
            if ctx.needs_input_grad[1]:
                ctx.save_for_backward(-(a // b))
            return a % b

    @staticmethod
    def backward(ctx, grad):
        # d/da = 1, d/db = -⌊a/b⌋ (a step function of a and b: a constant in the graph)
        need_a, need_b = ctx.needs_input_grad
        return (grad if need_a else None), (mul(grad, ctx.saved_tensors[0]) if need_b else None)
