"""Layers: Linear, Conv2d, ConvTranspose2d, Embedding, activations, Softmax, Dropout,
Dropout2d, MaxPool2d, AvgPool2d, Upsample, BatchNorm1d, BatchNorm2d, Flatten, Unflatten,
Identity."""
from __future__ import annotations

import math

from ..backend import array_module
from ..factories import ones, tensor, zeros
from ..tensor import no_grad
from . import functional as F
from . import init
from .module import Module, Parameter


class Identity(Module):
    def forward(self, x):
        return x


class Linear(Module):
    """y = x Wᵀ + b, with W of shape (out_features, in_features) as in PyTorch.

    W and b start uniform on ±1/√in_features (PyTorch's default init).

    >>> import tinygan as tg
    >>> layer = tg.nn.Linear(3, 2)
    >>> layer.weight.shape, layer(tg.ones(5, 3)).shape
    (tinygan.Size([2, 3]), tinygan.Size([5, 2]))
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, int) or n <= 0:
                raise ValueError(f"Linear: {name} must be a positive int, got {n!r}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(zeros(out_features, in_features, dtype=dtype))
        self.bias = Parameter(zeros(out_features, dtype=dtype)) if bias else None
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.in_features)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class ReLU(Module):
    """max(x, 0); ``inplace=True`` writes it into the input (PyTorch's memory saving, as
    in DCGAN's ``nn.ReLU(True)``), which is then an error where the input is still needed."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x, inplace=self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Softmax(Module):
    """softmax along ``dim`` (PyTorch's legacy choice, with a warning, when dim is None)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log_softmax along ``dim``: log-probabilities for nn.NLLLoss."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, looked up by
    integer index; the weight starts N(0, 1) (PyTorch's init), the ``padding_idx`` row
    at zero and without gradient.

    >>> import tinygan as tg
    >>> emb = tg.nn.Embedding(10, 3)
    >>> emb(tg.tensor([[1, 2], [1, 9]])).shape
    tinygan.Size([2, 2, 3])
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, device=None, dtype=None):
        super().__init__()
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse are "
                                      "not supported by tinygan")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = padding_idx % num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(zeros(num_embeddings, embedding_dim, dtype=dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, "
                                 f"expected {(num_embeddings, embedding_dim)}")
            self.weight = Parameter(_weight.detach(), requires_grad=not _freeze)
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self):
        extra = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{extra}"


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Dim ``dim`` split into ``unflattened_size`` (Flatten's inverse).

    >>> import tinygan as tg
    >>> tg.nn.Unflatten(1, (2, 5))(tg.zeros(3, 10)).shape
    tinygan.Size([3, 2, 5])
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(n, int) for n in unflattened_size):
            raise TypeError(f"unflattened_size must be a tuple of ints, but found "
                            f"{unflattened_size!r}")
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        return x.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout(Module):
    """Inverted dropout: drops with probability p in training, the identity in eval."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Dropout2d(Module):
    """Channel dropout (F.dropout2d): whole channels zeroed with probability p in training,
    the rest scaled by 1/(1-p); the identity in eval."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class MaxPool2d(Module):
    """The maximum of each kernel_size window (F.max_pool2d); stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """The mean of each kernel_size window (F.avg_pool2d); stride defaults to kernel_size."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Upsample(Module):
    """F.interpolate as a layer: nearest-neighbour resizing to ``size`` or by ``scale_factor``."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.scale_factor = (tuple(float(f) for f in scale_factor)
                             if isinstance(scale_factor, (tuple, list))
                             else float(scale_factor) if scale_factor else None)
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        what = (f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None
                else f"size={self.size!r}")
        return f"{what}, mode={self.mode!r}"


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: the sizes as (height, width) pairs, PyTorch's
    checks, its initialisation and its repr."""

    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, padding_mode, output_padding, device, dtype):
        super().__init__()
        name = type(self).__name__
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 "{'valid', 'same'}")
            if padding == "same" and _pair(stride) != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError("padding_mode must be one of {'reflect', 'circular', 'zeros', "
                             f"'replicate'}}, but got padding_mode={padding_mode!r}")
        if padding_mode != "zeros":
            if self.transposed:
                raise ValueError(f'Only "zeros" padding mode is supported for {name}')
            raise NotImplementedError(f"{name}: tinygan supports padding_mode='zeros' only")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.dilation, self.output_padding = _pair(dilation), _pair(output_padding)
        self.padding_mode = padding_mode
        channels = (in_channels, out_channels // groups) if self.transposed else (
            out_channels, in_channels // groups)
        self.weight = Parameter(zeros(*channels, *self.kernel_size, dtype=dtype))
        self.bias = Parameter(zeros(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        # PyTorch's: kaiming_uniform_(a=√5), i.e. U(±1/√fan_in), fan_in = weight.shape[1]·kH·kW
        # (in_channels/groups for Conv2d, out_channels/groups for ConvTranspose2d); the bias
        # the same
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


def _pair(value):
    return tuple(value) * (2 // len(value)) if isinstance(value, (tuple, list)) else (
        value, value)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W) input; weight (out_channels, in_channels/groups, kH,
    kW), ``groups`` convolving that many equal slices of the channels apart.

    >>> import tinygan as tg
    >>> conv = tg.nn.Conv2d(1, 16, 4, 2)
    >>> conv, conv(tg.zeros(8, 1, 28, 28)).shape
    (Conv2d(1, 16, kernel_size=(4, 4), stride=(2, 2)), tinygan.Size([8, 16, 13, 13]))
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """The transpose of Conv2d (a DCGAN generator's upsampling); weight (in_channels,
    out_channels/groups, kH, kW), ``groups`` transposing that many equal slices of the
    channels apart. ``forward(input, output_size)`` picks the output_padding that gives that
    size, as PyTorch does.

    >>> import tinygan as tg
    >>> up = tg.nn.ConvTranspose2d(64, 256, 3, 2)
    >>> up, up(tg.zeros(8, 64, 1, 1)).shape
    (ConvTranspose2d(64, 256, kernel_size=(3, 3), stride=(2, 2)), tinygan.Size([8, 256, 3, 3]))
    """

    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def forward(self, input, output_size=None):
        output_padding = self.output_padding
        if output_size is not None:
            output_padding = self._output_padding(input, list(output_size)[-2:])
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)

    def _output_padding(self, input, size):
        smallest = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in zip(
            input.shape[-2:], self.stride, self.padding, self.dilation, self.kernel_size)]
        largest = [m + s - 1 for m, s in zip(smallest, self.stride)]
        if not all(lo <= n <= hi for lo, n, hi in zip(smallest, size, largest)):
            raise ValueError(f"requested an output size of {size}, but valid sizes range from "
                             f"{smallest} to {largest} (for an input of "
                             f"{list(input.shape[-2:])})")
        return tuple(n - lo for n, lo in zip(size, smallest))


class BatchNorm1d(Module):
    """Batch normalisation over (N, C) or (N, C, L) input.

    Training normalises with the batch's mean and biased variance and moves the
    running stats (buffers, not parameters) by ``momentum``, the variance
    unbiased; eval normalises with the running stats and is still differentiable.
    ``fused=False`` (or setting ``bn.fused = False``) runs F.batch_norm's reference,
    plain tensor ops that can be differentiated twice (a gradient penalty needs that).

    >>> import tinygan as tg
    >>> bn = tg.nn.BatchNorm1d(2)
    >>> y = bn(tg.tensor([[1.0, 10.0], [3.0, 30.0]]))
    >>> y                                      # each column: mean 0, (biased) variance 1
    tensor([[-1.0000, -1.0000],
            [ 1.0000,  1.0000]], grad_fn=<BatchNormalizeBackward>)
    >>> bn.running_mean                        # 0.9·0 + 0.1·batch mean
    tensor([0.2000, 2.0000])
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, fused=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.fused = fused   # F.batch_norm's fast path; False: its reference
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        if device is not None:
            self.to(device)

    def forward(self, x):
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d({self.num_features}): expected input of shape "
                             f"(N, {self.num_features}) or (N, {self.num_features}, L), "
                             f"got {tuple(x.shape)}")
        return self._normalize(x)

    def _normalize(self, x):
        """F.batch_norm with this layer's statistics, after the subclass checked x."""
        momentum, updates = self.momentum, self.training and self.track_running_stats
        if updates:
            count = self.num_batches_tracked._data
            # asarray: NumPy's 0-d array + 1 is a NumPy scalar, not an array
            self.num_batches_tracked._data = array_module(count).asarray(count + 1)
            if momentum is None:  # a cumulative average, as in PyTorch
                momentum = 1.0 / self.num_batches_tracked.item()
        training = self.training or not self.track_running_stats
        if not self.fused:       # the reference (the fused call below stays as bench/ swaps it)
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                training=training, momentum=momentum, eps=self.eps, fused=False)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=training, momentum=momentum, eps=self.eps,
                            _running_rows=self._running_rows() if updates else None)

    def _running_rows(self):
        """running_mean and running_var as the two rows of one array, so that one update moves
        both (the fused path's). Laid out on first use, and again whenever either is no
        longer a row of it (``.to()``, an assignment, a deep copy); the values stay."""
        mean, var = self.running_mean._data, self.running_var._data
        xp, rows = array_module(mean), getattr(self, "_rows", None)
        if (rows is None or array_module(rows) is not xp or rows.dtype != mean.dtype
                or not (xp.may_share_memory(rows, mean) and xp.may_share_memory(rows, var))):
            if array_module(var) is not xp or var.dtype != mean.dtype:
                return None                  # cannot share one array: update them one by one
            rows = self._rows = xp.stack([mean, var])
            self.running_mean._data, self.running_var._data = rows[0], rows[1]
        return rows

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class InstanceNorm2d(Module):
    """Instance normalisation over (N, C, H, W) or unbatched (C, H, W) input: each sample's
    channels with their own mean and variance (F.instance_norm), and with ``affine`` a
    learned γ and β per channel (ones and zeros, as PyTorch; ``bias=False``: γ alone).
    PyTorch's defaults: no affine, no running statistics (``track_running_stats=True`` is not
    supported here).

    >>> import tinygan as tg
    >>> tg.nn.InstanceNorm2d(3)(tg.randn(2, 3, 4, 4)).shape
    tinygan.Size([2, 3, 4, 4])
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None, *, bias=True):
        super().__init__()
        if track_running_stats:
            raise NotImplementedError("InstanceNorm2d: track_running_stats=True is not "
                                      "supported; tinygan uses each sample's own statistics")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(zeros(num_features, dtype=dtype)) if affine and bias else None
        if device is not None:
            self.to(device)

    def forward(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"expected 3D or 4D input (got {x.ndim}D input)")
        if x.ndim == 3:     # unbatched (C, H, W)
            return self.forward(x.unsqueeze(0)).squeeze(0)
        if self.affine and x.shape[1] != self.num_features:
            raise ValueError(f"expected input's size at dim=1 to match num_features "
                             f"({self.num_features}), but got: {x.shape[1]}.")
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm2d(BatchNorm1d):
    """Batch normalisation over (N, C, H, W) input, per channel: BatchNorm1d's on the input
    viewed as (N, C, H·W) (statistics over N, H and W; running stats, momentum, eval alike).

    Both its fast op and ``fused=False`` (the reference in tensor ops) can be differentiated
    twice, as a gradient penalty through a WGAN-GP critic with BatchNorm needs.

    >>> import tinygan as tg
    >>> bn = tg.nn.BatchNorm2d(16)
    >>> bn(tg.randn(8, 16, 5, 5)).shape, bn.running_mean.shape
    (tinygan.Size([8, 16, 5, 5]), tinygan.Size([16]))
    """

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"expected 4D input (got {x.ndim}D input)")
        if x.shape[1] != self.num_features:
            raise RuntimeError(f"running_mean should contain {x.shape[1]} elements not "
                               f"{self.num_features}")
        return self._normalize(x)     # 4-D: F.batch_norm takes it so, as its (N, C, H·W) view
