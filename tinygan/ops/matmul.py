"""Matrix products: matmul with NumPy's (and PyTorch's) rules, and x·Wᵀ + b in one op."""
from __future__ import annotations

import math

from ..function import Function


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        ctx.ndims = (a.ndim, b.ndim)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors                            # d(AB)/dA = G Bᵀ, d(AB)/dB = Aᵀ G
        need_a, need_b = ctx.needs_input_grad
        a_ndim, b_ndim = ctx.ndims
        if a_ndim == 1 and b_ndim == 1:
            return (grad * b if need_a else None), (grad * a if need_b else None)
        if a_ndim == 1:                                     # (n) @ (..., n, m) -> (..., m)
            ga = (b @ grad.unsqueeze(-1)).squeeze(-1) if need_a else None
            gb = a.unsqueeze(-1) * grad.unsqueeze(-2) if need_b else None
            return ga, gb
        if b_ndim == 1:                                     # (..., n, m) @ (m) -> (..., n)
            ga = grad.unsqueeze(-1) * b if need_a else None
            gb = (a.mT @ grad.unsqueeze(-1)).squeeze(-1) if need_b else None
            return ga, gb
        return (grad @ b.mT if need_a else None), (a.mT @ grad if need_b else None)


class Affine(Function):
    """y = x·Wᵀ + b, with W of shape (out_features, in_features): what Linear computes."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        need_x, need_w = ctx.needs_input_grad[:2]
        ctx.save_for_backward(x if need_w else None, weight if need_x else None)
        out = x @ weight.T
        if bias is not None:
            out += bias                                     # in place: out is ours
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors                       # dx = G W, dW = Gᵀ x, db = Σ G
        need_x, need_w, need_b = (ctx.needs_input_grad + (False,))[:3]
        grad_x = grad @ weight if need_x else None
        grad_w = _rows(grad).T @ _rows(x) if need_w else None
        grad_b = _rows(grad).sum(0) if need_b else None
        return grad_x, grad_w, grad_b


def _rows(t):
    """t as a matrix: every leading dim folded into the rows (reshape(-1, n) fails for n = 0)."""
    return t.reshape(math.prod(t.shape[:-1]), t.shape[-1])
