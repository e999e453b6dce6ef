"""The activations beyond the core's: leaky max(x, 0) and softplus."""
from __future__ import annotations

from ..backend import array_module, fuse
from ..core.function import Function, once_differentiable
from ..core.ops import add, div, exp, mul, where


class LeakyRectify(Function):
    """x for x > 0, slope·x otherwise: what LeakyReLU computes."""

    @staticmethod
    def forward(ctx, x, slope=0.01, in_place=False):        # f(x) = x if x > 0 else a·x
        # x, as PyTorch saves it: an in-place write into x before backward is an error
        ctx.save_for_backward(x)
        ctx.slope = float(slope)                            # a float: x's dtype in the kernel
        # PyTorch's in-place form reads its result (y > 0) in backward, which with a
        # negative slope no longer tells x's sign: it refuses that backward, so do we
        ctx.refused = in_place and slope < 0
        return _leaky_rectify(x, ctx.slope)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        _refuse_in_place_negative_slope(ctx)
        (x,) = ctx.saved_arrays                             # f'(x) = 1 above 0, else a
        return _leaky_rectify_grad(x, grad, ctx.slope)

    @staticmethod
    def backward_on_graph(ctx, grad):
        """The same gradient as an op on the graph, for ``create_graph`` (a gradient penalty
        through LeakyReLU): g·f'(x), f'(x) a constant (its own derivative is 0)."""
        _refuse_in_place_negative_slope(ctx)
        x = ctx.saved_tensors[0]._data
        one, a = x.dtype.type(1), x.dtype.type(ctx.slope)   # x's dtype: no float64 result
        return mul(grad, grad._wrap(array_module(x).where(x > 0, one, a)))


def _refuse_in_place_negative_slope(ctx):
    if ctx.refused:
        raise RuntimeError(
            "In-place leakyReLu backward calculation is triggered with a negative slope "
            "which is not supported. This is caused by calling in-place forward function "
            "with a negative slope, please call out-of-place version instead.")


# One kernel each on a GPU (backend.fuse). f(x) = x·f'(x) exactly (x·1 and x·a are PyTorch's
# two branches), so the selects equal x·where(x > 0, 1, a) and g·where(x > 0, 1, a).

@fuse
def _leaky_rectify(xp, x, slope):
    return xp.where(x > 0, x, x * slope)


@fuse
def _leaky_rectify_grad(xp, x, grad, slope):
    return xp.where(x > 0, grad, grad * slope)


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
