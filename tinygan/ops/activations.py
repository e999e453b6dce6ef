"""The activations: max(x, 0), its leaky form, the logistic σ, tanh and softplus."""
from __future__ import annotations

from ..backend import array_module, errstate, fuse
from ..function import Function
from .elementwise import Where


class Rectify(Function):
    """max(x, 0): what ReLU computes."""

    @staticmethod
    def forward(ctx, x):
        y = array_module(x).maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors                            # 1 for x > 0, else 0 (0 at x = 0)
        # A select, not grad·(y > 0): 0 where x ≤ 0 even for an inf upstream gradient
        # (inf · 0 is NaN), as PyTorch. Against grad·(y > 0), NumPy's where cost 0.3%, 1.9%
        # and -1.3% of a CPU GAN step at batch 64, 128 and 512 (2-core VM, 2026-11-30).
        return Where.apply(y > 0, grad, 0.0)               # 0.0: no zeros array to make


class LeakyRectify(Function):
    """x for x > 0, slope·x otherwise: what LeakyReLU computes."""

    @staticmethod
    def forward(ctx, x, slope=0.01):                        # f(x) = x if x > 0 else a·x
        # f'(x) is 1 above 0 and a elsewhere, and f(x) = x·f'(x) exactly (x·1 and x·a are
        # PyTorch's two branches) for any slope. NumPy's select is slow, but two multiplies
        # and an add in its place saved only 0.9% of a CPU GAN step at batch 128 (and lost
        # 2% at 512) for 12 more device ops (bench/tricks.py), so f' is a select.
        one, a = x.dtype.type(1), x.dtype.type(slope)       # x's dtype: no float64 result
        local = array_module(x).where(x > 0, one, a)
        # x too, as PyTorch saves it: an in-place write into x before backward is then the
        # same error in both (the differential test found PyTorch raising where we did not)
        ctx.save_for_backward(local, x)
        return x * local

    @staticmethod
    def backward(ctx, grad):
        local, _ = ctx.saved_tensors                        # 1 for x > 0, else slope
        return grad * local


def sigmoid(x):
    """σ(x) = 1/(1 + e^-x) on a raw array, as PyTorch computes it (the same values in float32
    and float64, 0 where e^-x overflows, x < -88 in float32), in 4 device ops; the
    select between 1/(1+e^-|x|) and e^-|x|/(1+e^-|x|) took 11 and kept values PyTorch
    rounds to 0 (σ(-100) in float32). On a GPU the 4 are one fused kernel."""
    y = array_module(x).empty_like(x)                      # a 0-d result stays an array
    _sigmoid_into(x, y)
    return y


@fuse   # one kernel on a GPU, not 4: 15 device ops fewer a GAN step (5 sigmoids)
def _sigmoid_into(xp, x, y):
    xp.negative(x, out=y)
    with errstate(over="ignore"):                           # e^-x = inf: σ = 1/inf = 0
        xp.exp(y, out=y)
    xp.add(y, 1, out=y)
    xp.reciprocal(y, out=y)


class Logistic(Function):
    """σ(x) = 1 / (1 + e^-x): what Sigmoid computes."""

    @staticmethod
    def forward(ctx, x):
        y = sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y * (1 - y)                           # σ'(x) = σ(x)(1 - σ(x))


class HyperbolicTangent(Function):
    """tanh(x): what Tanh computes."""

    @staticmethod
    def forward(ctx, x):
        y = array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)                           # tanh'(x) = 1 - tanh²(x)


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
        bx = x * ctx.beta
        z = bx.clamp(max=ctx.threshold).exp()
        return Where.apply(bx > ctx.threshold, grad, grad * z / (z + 1))
