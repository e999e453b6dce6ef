"""Matrix products: matmul with numpy's rules, and linear (x Wᵀ + b) fused."""
from __future__ import annotations

import math

from ..autograd import Function
from ..tensor import Tensor


def _swap_last(a):
    return a.swapaxes(-1, -2)


def _rows(a):
    """a as a matrix: every leading dim folded into the rows (reshape(-1, n) fails for n = 0)."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        ctx.ndims = (a.ndim, b.ndim)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # d(AB)/dA = G Bᵀ, d(AB)/dB = Aᵀ G
        need_a, need_b = ctx.needs_input_grad
        a_ndim, b_ndim = ctx.ndims
        if a_ndim == 1 and b_ndim == 1:
            return (grad * b if need_a else None), (grad * a if need_b else None)
        if a_ndim == 1:                                     # (n) @ (..., n, m) -> (..., m)
            ga = (b @ grad[..., None])[..., 0] if need_a else None
            gb = a[:, None] * grad[..., None, :] if need_b else None
            return ga, gb
        if b_ndim == 1:                                     # (..., n, m) @ (m) -> (..., n)
            ga = grad[..., None] * b if need_a else None
            gb = (_swap_last(a) @ grad[..., None])[..., 0] if need_b else None
            return ga, gb
        return ((grad @ _swap_last(b)) if need_a else None,
                (_swap_last(a) @ grad) if need_b else None)


class Linear(Function):
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
        x, weight = ctx.saved_arrays                        # y = x Wᵀ + b: dx = G W, dW = Gᵀ x, db = Σ G
        need_x, need_w, need_b = (ctx.needs_input_grad + (False,))[:3]
        grad_x = grad @ weight if need_x else None
        grad_w = _rows(grad).T @ _rows(x) if need_w else None
        grad_b = _rows(grad).sum(axis=0) if need_b else None
        return grad_x, grad_w, grad_b


def matmul(a, b):
    """Matrix product with numpy's rules (1-D operands, batched broadcasting)."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both operands must be Tensors")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError("matmul: both arguments need at least 1 dimension, got 0-d")
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected both matmul operands to have the same dtype, but got "
                           f"{a.dtype} and {b.dtype}: convert one with .to(dtype)")
    inner_a = a.shape[-1]
    inner_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if inner_a != inner_b:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({_shape_str(a)} and "
                           f"{_shape_str(b)}): inner dimensions {inner_a} and {inner_b} differ")
    return MatMul.apply(a, b)


def linear(x, weight, bias=None):
    """x @ weight.T + bias in one op (weight is (out_features, in_features) as in PyTorch)."""
    if x.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but "
                           f"weight expects {weight.shape[1]} (weight shape {weight.shape})")
    if x.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {x.dtype} differs from weight dtype {weight.dtype}")
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)


def _shape_str(t):
    return "x".join(str(n) for n in t.shape)
