"""The activations beyond the core's: leaky max(x, 0) and softplus."""
from __future__ import annotations

from ..backend import array_module
from ..core.function import Function
from ..core.ops import add, div, exp, mul, where


class LeakyRectify(Function):
    """x for x > 0, slope·x otherwise: what LeakyReLU computes."""

    @staticmethod
    def forward(ctx, x, slope=0.01, in_place=False):        # f(x) = x if x > 0 else a·x
        # f'(x) is 1 above 0 and a elsewhere, and f(x) = x·f'(x) exactly (x·1 and x·a are
        # PyTorch's two branches) for any slope: one select, one multiply
        one, a = x.dtype.type(1), x.dtype.type(slope)       # x's dtype: no float64 result
        local = array_module(x).where(x > 0, one, a)
        # x too, as PyTorch saves it: an in-place write into x before backward is an error
        ctx.save_for_backward(local, x)
        # PyTorch's in-place form reads its result (y > 0) in backward, which with a
        # negative slope no longer tells x's sign: it refuses that backward, so do we
        ctx.refused = in_place and slope < 0
        return x * local

    @staticmethod
    def backward(ctx, grad):
        if ctx.refused:
            raise RuntimeError(
                "In-place leakyReLu backward calculation is triggered with a negative slope "
                "which is not supported. This is caused by calling in-place forward function "
                "with a negative slope, please call out-of-place version instead.")
        local, _ = ctx.saved_tensors                        # 1 for x > 0, else slope
        return mul(grad, local)


class Softplus(Function):
    """log(1 + e^(βx)) / β, linear where βx > threshold (PyTorch's definition)."""

    @staticmethod
    def forward(ctx, x, beta=1.0, threshold=20.0):
        xp = array_module(x)
        bx = x * beta
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        # linear above the threshold; exp never overflows below it
        soft = xp.log1p(xp.exp(xp.minimum(bx, threshold))) / beta
        return xp.where(bx > threshold, x, soft)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors                            # d/dx softplus(x) = σ(βx)
        bx = mul(x, ctx.beta)
        above = bx._data > ctx.threshold
        z = exp(where(above, ctx.threshold, bx))            # clamp(max=threshold), then exp
        return where(above, grad, div(mul(grad, z), add(z, 1)))
