"""Batch normalisation as one fused op, with a hand-written backward: fewer passes over the
activations than the composed form (mean, variance, normalise, each differentiated by
autograd), whose numbers are in bench/README.md."""
from __future__ import annotations

from ..backend import array_module
from ..core.function import Function, once_differentiable


def _per_channel_dot(a, b):
    """Σ a·b over every axis but the channel axis (1), in one pass with no temporary."""
    subscripts = "nc,nc->c" if a.ndim == 2 else "ncl,ncl->c"
    return array_module(a).einsum(subscripts, a, b)


class BatchNormalize(Function):
    """y = γ·x̂ + β with x̂ = (x - μ)/√(σ² + eps), per channel of (N, C[, L]) input.

    With ``stats`` (a dict), μ and σ² are this batch's mean and biased variance,
    and forward reports them there as the two rows of one (2, C) array,
    ``stats["mean_var"]`` (for the running averages: one update moves both); without,
    they are the given running statistics.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, axes=(0,),
                eps=1e-5, stats=None):
        xp = array_module(x)
        shape = [1] * x.ndim
        shape[1] = x.shape[1]                               # broadcast per channel
        if stats is not None:
            mean_var = xp.empty((2, x.shape[1]), dtype=x.dtype)   # written by the next two
            mean = x.mean(axis=axes, out=mean_var[0])
            x_hat = x - mean.reshape(shape)                 # centred now, scaled below
            var = xp.divide(_per_channel_dot(x_hat, x_hat), x.size // x.shape[1],
                            out=mean_var[1])
            stats["mean_var"] = mean_var
        else:
            mean, var = running_mean, running_var
            x_hat = x - mean.reshape(shape)
        inv_std = 1.0 / xp.sqrt(var + eps)
        x_hat *= inv_std.reshape(shape)
        # x itself too, as PyTorch saves it: an in-place write into x before backward is
        # then the same error in both (backward reads x̂, which the write would make stale)
        ctx.save_for_backward(x_hat, inv_std, weight, x)
        ctx.axes, ctx.shape, ctx.batch_stats = axes, shape, stats is not None
        out = x_hat * weight.reshape(shape) if weight is not None else x_hat.copy()
        if bias is not None:
            out += bias.reshape(shape)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x_hat, inv_std, weight, _ = ctx.saved_arrays
        axes, shape = ctx.axes, ctx.shape
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        sum_g = grad.sum(axis=axes)                         # dβ = Σ g
        sum_gx = _per_channel_dot(grad, x_hat)              # dγ = Σ g·x̂
        grad_x = None
        if need_x:
            scale = inv_std if weight is None else weight * inv_std
            if ctx.batch_stats:
                # μ and σ² depend on x: dx = γ/√(σ²+eps) · (g - mean(g) - x̂·mean(g·x̂))
                count = grad.size // grad.shape[1]
                grad_x = x_hat * (sum_gx * (-1.0 / count)).reshape(shape)   # scalars folded:
                grad_x += grad                                            # one op, not two
                grad_x -= (sum_g * (1.0 / count)).reshape(shape)
                grad_x *= scale.reshape(shape)
            else:
                grad_x = grad * scale.reshape(shape)        # running stats are constants
        return grad_x, (sum_gx if need_w else None), (sum_g if need_b else None)
