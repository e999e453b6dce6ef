"""Batch normalisation as one fused op, with a hand-written backward: fewer passes over the
activations than the composed form (mean, variance, normalise, each differentiated by
autograd), whose numbers are in bench/README.md."""
from __future__ import annotations

from ..backend import array_module, fuse
from ..core.function import Function, once_differentiable
from ..core.ops import Sqrt, add, div, mean, mul, reshape, sub, sum_


def _per_channel_dot(a, b):
    """Σ a·b over every axis but the channel axis (1), in one pass with no temporary."""
    subscripts = "nc,nc->c" if a.ndim == 2 else "ncl,ncl->c"
    return array_module(a).einsum(subscripts, a, b)


def _one_dtype(*arrays):
    """Whether every array is there and of one dtype: the fused kernels' case (the op-by-op
    lines beside each keep NumPy's promotion for the rest)."""
    return all(a is not None and a.dtype == arrays[0].dtype for a in arrays)


# One kernel each on a GPU (backend.fuse), the same ops in the same order as the op-by-op
# lines beside their calls, which tests/test_fused.py checks bit for bit on the CPU.

@fuse
def _variance_and_inv_std(xp, sum_sq, count, eps, var):
    """σ² = Σ(x - μ)²/n into ``var``; returns 1/√(σ² + eps)."""
    xp.divide(sum_sq, count, out=var)
    return 1.0 / xp.sqrt(var + eps)


@fuse
def _normalize_affine(xp, x_hat, inv_std, weight, bias, out):
    """x̂ ← x̂·(1/σ) in place (backward reads it), and out = γ·x̂ + β."""
    xp.multiply(x_hat, inv_std, out=x_hat)
    xp.multiply(x_hat, weight, out=out)
    xp.add(out, bias, out=out)


@fuse
def _normalize_grad(xp, x_hat, grad, sum_gx, sum_g, weight, inv_std, minus_inv_count,
                    inv_count, out):
    """out = γ/σ·(g - Σg/n - x̂·Σ(g·x̂)/n), as batch statistics make dx."""
    xp.multiply(x_hat, sum_gx * minus_inv_count, out=out)
    xp.add(out, grad, out=out)
    xp.subtract(out, sum_g * inv_count, out=out)
    xp.multiply(out, weight * inv_std, out=out)


class BatchNormalize(Function):
    """y = γ·x̂ + β with x̂ = (x - μ)/√(σ² + eps), per channel of (N, C[, L]) input; (N, C,
    H, W, ...) is normalised as (N, C, H·W·...), its output and gradient given back 4-D.

    With ``stats`` (a dict), μ and σ² are this batch's mean and biased variance,
    and forward reports them there as the two rows of one (2, C) array,
    ``stats["mean_var"]`` (for the running averages: one update moves both); without,
    they are the given running statistics.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, axes=(0,),
                eps=1e-5, stats=None):
        xp = array_module(x)
        # (N, C, H, W, ...) normalised as its (N, C, L) view: the sums of BatchNorm1d's, and
        # a 4-D output of its own, no view that an in-place op after it writes through
        input, ctx.input_shape = x, x.shape
        if x.ndim > 3:
            x, axes = x.reshape(x.shape[:2] + (-1,)), (0, 2)
        shape = [1] * x.ndim
        shape[1] = x.shape[1]                               # broadcast per channel
        if stats is not None:
            mean_var = xp.empty((2, x.shape[1]), dtype=x.dtype)   # written by the next two
            mean = x.mean(axis=axes, out=mean_var[0])
            x_hat = x - mean.reshape(shape)                 # centred now, scaled below
            # σ² into the second row and 1/√(σ² + eps) in one kernel (float(): an int would
            # be int64 in CuPy's fused kernel)
            inv_std = _variance_and_inv_std(_per_channel_dot(x_hat, x_hat),
                                            float(x.size // x.shape[1]), eps, mean_var[1])
            stats["mean_var"] = mean_var
        else:
            mean, var = running_mean, running_var
            x_hat = x - mean.reshape(shape)
            inv_std = 1.0 / xp.sqrt(var + eps)
        # x itself too, as PyTorch saves it: an in-place write into x before backward is
        # then the same error in both (backward reads x̂, which the write would make stale)
        ctx.save_for_backward(x_hat, inv_std, weight, input)
        ctx.axes, ctx.shape, ctx.batch_stats = axes, shape, stats is not None
        ctx.eps, ctx.running_mean = eps, running_mean
        if _one_dtype(x_hat, inv_std, weight, bias):                # x̂ and y in one kernel
            out = xp.empty(ctx.input_shape, dtype=x_hat.dtype)
            _normalize_affine(x_hat, inv_std.reshape(shape), weight.reshape(shape),
                              bias.reshape(shape), out.reshape(x_hat.shape))
            return out
        x_hat *= inv_std.reshape(shape)                     # the same, op by op
        out = x_hat * weight.reshape(shape) if weight is not None else x_hat.copy()
        if bias is not None:
            out += bias.reshape(shape)
        return out.reshape(ctx.input_shape) if input.ndim > 3 else out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x_hat, inv_std, weight, _ = ctx.saved_arrays
        axes, shape = ctx.axes, ctx.shape
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad = grad.reshape(x_hat.shape)                    # (N, C, L), as forward's x̂
        sum_g = grad.sum(axis=axes)                         # dβ = Σ g
        sum_gx = _per_channel_dot(grad, x_hat)              # dγ = Σ g·x̂
        grad_x = None
        if need_x:
            count = grad.size // grad.shape[1]
            if ctx.batch_stats and _one_dtype(grad, x_hat, inv_std, weight):   # in one kernel
                grad_x = array_module(grad).empty(ctx.input_shape, dtype=x_hat.dtype)
                _normalize_grad(x_hat, grad, sum_gx.reshape(shape), sum_g.reshape(shape),
                                weight.reshape(shape), inv_std.reshape(shape), -1.0 / count,
                                1.0 / count, grad_x.reshape(x_hat.shape))
            elif ctx.batch_stats:
                # μ and σ² depend on x: dx = γ/√(σ²+eps) · (g - mean(g) - x̂·mean(g·x̂))
                scale = inv_std if weight is None else weight * inv_std
                grad_x = x_hat * (sum_gx * (-1.0 / count)).reshape(shape)   # scalars folded:
                grad_x += grad                                            # one op, not two
                grad_x -= (sum_g * (1.0 / count)).reshape(shape)
                grad_x *= scale.reshape(shape)
            else:
                scale = inv_std if weight is None else weight * inv_std
                grad_x = grad * scale.reshape(shape)        # running stats are constants
        if grad_x is not None and grad_x.ndim != len(ctx.input_shape):
            grad_x = grad_x.reshape(ctx.input_shape)
        return grad_x, (sum_gx if need_w else None), (sum_g if need_b else None)

    @staticmethod
    def backward_on_graph(ctx, grad):
        """The same gradients as ops on the graph, for ``create_graph`` (a gradient penalty
        through BatchNorm): x̂ is computed again from x, so that its dependence on x is
        differentiated too."""
        _, inv_std, weight, x = ctx.saved_tensors
        axes, shape = ctx.axes, tuple(ctx.shape)
        if x.ndim > 3:                                      # on x as it came, (N, C, H, W...)
            axes, shape = (0,) + tuple(range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if ctx.batch_stats:                                 # x̂ = (x - μ)/√(σ² + eps), μ and σ² of x
            centred = sub(x, mean(x, axes=axes, keepdim=True))
            variance = mean(mul(centred, centred), axes=axes, keepdim=True)
            inv_std = div(1.0, Sqrt.apply(add(variance, ctx.eps)))
        else:                                               # the running stats: constants
            inv_std = reshape(inv_std, shape=shape)
            centred = sub(x, grad._wrap(ctx.running_mean.reshape(shape)))
        x_hat = mul(centred, inv_std)
        grad_w = sum_(mul(grad, x_hat), axes=axes)          # dγ = Σ g·x̂, dβ = Σ g
        grad_b = sum_(grad, axes=axes)
        scale = inv_std if weight is None else mul(reshape(weight, shape=shape), inv_std)
        grad_x = grad
        if ctx.batch_stats:                                 # dx = γ/σ·(g - mean(g) - x̂·mean(g·x̂))
            grad_x = sub(sub(grad, mean(grad, axes=axes, keepdim=True)),
                         mul(x_hat, mean(mul(grad, x_hat), axes=axes, keepdim=True)))
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        return ((mul(grad_x, scale) if need_x else None), (grad_w if need_w else None),
                (grad_b if need_b else None))
