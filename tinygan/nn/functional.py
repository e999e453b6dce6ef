"""Functional forms of the layers and losses (``import tinygan.nn.functional as F``).

The losses and batch norm are single fused Functions with hand-written
backward rules, because the composed versions are either numerically wrong
(BCE through clip or abs has a kink at 0 and caps the loss) or slow.
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from .. import backend
from ..backend import array_module
from ..dtypes import int32, int64
from ..functional import cat as _cat
from ..functional import relu_, sigmoid, softplus, tanh, where  # noqa: F401  (F.relu_, as PyTorch)
from ..core.ops import Affine
from ..ops.activations import LeakyRectify
from ..ops.convolution import convolve, transpose as transpose_convolve
from ..ops.losses import BinaryCrossEntropy, BinaryCrossEntropyWithLogits
from ..ops.normalization import BatchNormalize
from ..ops import pooling
from ..tensor import Tensor, no_grad

__all__ = ["linear", "relu", "relu_", "leaky_relu", "leaky_relu_", "sigmoid", "tanh",
           "softplus", "softmax", "log_softmax", "dropout", "dropout2d", "conv2d",
           "conv_transpose2d", "max_pool2d", "avg_pool2d", "interpolate",
           "batch_norm", "embedding", "one_hot",
           "binary_cross_entropy_with_logits", "binary_cross_entropy", "mse_loss", "nll_loss",
           "cross_entropy"]


# === linear, relu and leaky_relu =============================================================

def linear(x, weight, bias=None):
    """x @ weight.T + bias in one op (weight is (out_features, in_features) as in PyTorch)."""
    if x.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"linear: input has {x.shape[-1]} features (shape {tuple(x.shape)}) but "
                           f"weight expects {weight.shape[1]} (weight shape {tuple(weight.shape)})")
    if x.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {x.dtype} differs from weight dtype {weight.dtype}")
    if bias is None:
        return Affine.apply(x, weight)
    return Affine.apply(x, weight, bias)


def relu(input, inplace=False):
    """max(x, 0); with ``inplace=True`` written into x, which is returned (as x.relu_())."""
    _check_tensor(input, "relu")
    return input.relu_() if inplace else input.relu()


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x for x > 0, negative_slope·x otherwise (any slope, negative ones included); with
    ``inplace=True`` written into x, which is returned (PyTorch then refuses a negative
    slope at backward: its backward reads the result, whose sign no longer tells x's)."""
    _check_tensor(input, "leaky_relu")
    if inplace:
        return input._write_keeping_result(
            lambda old: LeakyRectify.apply(old._floating(), slope=negative_slope, in_place=True))
    return LeakyRectify.apply(input._floating(), slope=negative_slope)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def _check_tensor(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")


# === softmax and log_softmax ====================================================================

def _softmax_dim(input, dim, name):
    """PyTorch's legacy choice when dim is not given (with its deprecation warning)."""
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the "
                      "call to include dim=X as an argument.", UserWarning, stacklevel=3)
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return dim


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / Σ exp(x) along dim, computed from x - max (stable for any x).

    >>> import tinygan as tg
    >>> import tinygan.nn.functional as F
    >>> F.softmax(tg.tensor([[0.0, 0.0], [0.0, 1e4]]), dim=1)
    tensor([[0.5000, 0.5000],
            [0.0000, 1.0000]])
    """
    return input.softmax(_softmax_dim(input, dim, "softmax"), dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """x - logsumexp(x) along dim: log-probabilities, finite where softmax underflows."""
    return input.log_softmax(_softmax_dim(input, dim, "log_softmax"), dtype)


# === embedding and one_hot =======================================================================

def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """The rows of ``weight`` picked by the integer tensor ``input`` (output shape
    input.shape + (embedding_dim,)); a row picked twice gets both gradients, and the row
    ``padding_idx`` gets none.
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not "
                                  "supported by tinygan")
    if not isinstance(input, Tensor):
        raise TypeError(f"embedding: input must be a Tensor of indices, got "
                        f"{type(input).__name__}")
    if input.dtype not in (int64, int32):
        raise RuntimeError(f"embedding: expected indices of dtype int64 or int32, got "
                           f"{input.dtype}")
    backend.check_same_device(weight._data, input._data, op="embedding")
    count = weight.shape[0]
    if input.device == backend.CPU and input.numel():   # (a host copy on "cuda": skipped)
        data = input._data
        if data.min() < 0 or data.max() >= count:
            raise IndexError(f"embedding: index out of range in self: indices must be in "
                             f"[0, {count}), got values from {data.min()} to {data.max()}")
    if input.ndim == 0:
        return embedding(input.reshape(1), weight, padding_idx).reshape(weight.shape[1:])
    rows = weight[input]         # an integer-array index: a copy; repeats sum their gradients
    if padding_idx is None:
        return rows
    padding_idx = padding_idx + count if padding_idx < 0 else padding_idx
    # the same values, with the padding row's gradient cut (PyTorch's embedding_backward)
    return where((input != padding_idx).unsqueeze(-1), rows, rows.detach())


def one_hot(tensor, num_classes=-1):
    """int64 one-hot rows: shape tensor.shape + (num_classes,), num_classes = max + 1 when
    -1. Reads the min and max (a device-to-host copy on "cuda"), as PyTorch does.

    >>> import tinygan as tg
    >>> import tinygan.nn.functional as F
    >>> F.one_hot(tg.tensor([0, 2]))
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"one_hot: expected a Tensor, got {type(tensor).__name__}")
    if tensor.dtype != int64:
        raise RuntimeError(f"one_hot is only applicable to index tensor of type int64 "
                           f"(LongTensor), got {tensor.dtype}")
    if tensor.numel() == 0:
        if num_classes == -1:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
    else:
        low, high = int(tensor._data.min()), int(tensor._data.max())
        if low < 0:
            raise RuntimeError(f"one_hot: class values must be non-negative, got {low}")
        if num_classes == -1:
            num_classes = high + 1
        elif high >= num_classes:
            raise RuntimeError(f"one_hot: class values must be smaller than num_classes "
                               f"({num_classes}), got {high}")
    if num_classes < 0:
        raise RuntimeError(f"one_hot: num_classes must be -1 or non-negative, got {num_classes}")
    return _one_hot_rows(tensor, num_classes, np.int64)


def _one_hot_rows(labels, num_classes, dtype):
    """The one-hot rows of integer labels in ``dtype``, unchecked (no host read): a label
    outside [0, num_classes) gives a row of zeros. one_hot's, and tinygan.gan.one_hot's."""
    xp = array_module(labels._data)
    return Tensor((labels._data[..., None] == xp.arange(num_classes)).astype(dtype))


# === dropout ===================================================================================

def dropout(x, p=0.5, training=True, generator=None):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout).

    The identity when not training or p == 0, so evaluation needs no rescaling.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return x * _kept_and_scaled(x, x.shape, p, generator)


def dropout2d(input, p=0.5, training=True, inplace=False, generator=None):
    """Zero whole channels of (N, C, H, W) input with probability p each (a mask of shape
    (N, C, 1, 1)), scale the rest by 1/(1-p); the identity when not training. 3-D input is
    read as (N, C, L), with PyTorch's warning."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    _check_tensor(input, "dropout2d")
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim. This behavior will change in a future release "
                      "to interpret the input as one without a batch dimension, i.e. shape "
                      "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch "
                      "to using dropout1d instead.", stacklevel=2)
    elif input.ndim != 4:
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
                      "deprecated and will result in an error in a future release. To retain the "
                      "behavior and silence this warning, please use dropout instead. Note that "
                      "dropout2d exists to provide channel-wise dropout on inputs with 2 spatial "
                      "dimensions, a channel dimension, and an optional batch dimension (i.e. 3D "
                      "or 4D inputs).", stacklevel=2)
    if not training or p == 0.0:
        return input
    mask = (input.new_zeros(()) if p == 1.0 else
            _kept_and_scaled(input, input.shape[:2] + (1,) * (input.ndim - 2), p, generator))
    return input.mul_(mask) if inplace else input * mask


def _kept_and_scaled(x, shape, p, generator):
    """A mask of ``shape``: 1/(1-p) with probability 1 - p, else 0 (tg.manual_seed's stream
    unless a generator is given)."""
    rng = generator if generator is not None else backend.default_generator(x.device)
    keep = rng.random(shape, x.dtype) >= p
    scale = array_module(x._data).asarray(1.0 / (1.0 - p), dtype=x.dtype)
    return Tensor(keep * scale)


# === convolutions ==============================================================================

def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as PyTorch's) of (N, C, H, W) or unbatched
    (C, H, W) input with weight (out_channels, C/groups, kH, kW); sizes are ints or (h, w)
    pairs, ``padding`` also 'valid' or 'same' (zeros, extra on the bottom and right when
    uneven). ``groups`` convolves each of that many equal slices of the channels apart.
    The op and its memory cost: tinygan/ops/convolution.py."""
    _check_tensor(input, "conv2d")
    stride = _conv_pair(stride, "stride", "conv2d")
    dilation = _conv_pair(dilation, "dilation", "conv2d")
    kernel = tuple(weight.shape[2:]) if weight.ndim == 4 else None
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if padding == "same" and stride != (1, 1):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        total = ([d * (k - 1) for k, d in zip(kernel, dilation)] if padding == "same" and kernel
                 else [0, 0])
        sides = tuple((t // 2, t - t // 2) for t in total)
    else:
        sides = tuple((p, p) for p in _conv_pair(padding, "padding", "conv2d"))
    x, batched = _conv_input(input, weight, bias, groups, "conv2d", transposed=False)
    for n, k, (before, after), d in zip(x.shape[2:], kernel, sides, dilation):
        if n + before + after < d * (k - 1) + 1:
            padded = " x ".join(str(m + b + a) for m, (b, a) in zip(x.shape[2:], sides))
            reach = " x ".join(str(dd * (kk - 1) + 1) for kk, dd in zip(kernel, dilation))
            raise RuntimeError(f"Calculated padded input size per channel: ({padded}). Kernel "
                               f"size: ({reach}). Kernel size can't be greater than actual "
                               "input size")
    out = _per_group(convolve, groups, x, weight, bias, stride=stride, padding=sides,
                     dilation=dilation)
    return out if batched else out.squeeze(0)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """The transpose of conv2d (its gradient with respect to the input, a "deconvolution") of
    (N, C, H, W) or unbatched (C, H, W) input with weight (C, out_channels/groups, kH, kW):
    output side (H - 1)·stride - 2·padding + dilation·(k - 1) + output_padding + 1.
    ``groups`` transposes each of that many equal slices of the channels apart."""
    _check_tensor(input, "conv_transpose2d")
    name = "conv_transpose2d"
    if isinstance(padding, str):
        raise TypeError("conv_transpose2d(): argument 'padding' must be tuple of ints, not str")
    stride, dilation = _conv_pair(stride, "stride", name), _conv_pair(dilation, "dilation", name)
    padding = _conv_pair(padding, "padding", name)
    output_padding = _conv_pair(output_padding, "output_padding", name, least=0)
    x, batched = _conv_input(input, weight, bias, groups, name, transposed=True)
    if any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding_height: {output_padding[0]} output_padding_width: "
            f"{output_padding[1]} stride_height: {stride[0]} stride_width: {stride[1]} "
            f"dilation_height: {dilation[0]} dilation_width: {dilation[1]}")
    size = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, s, p, d, k, o in zip(
        x.shape[2:], stride, padding, dilation, weight.shape[2:], output_padding))
    if min(size) <= 0:   # (PyTorch's float32 kernel gives an empty tensor for 0, float64 this)
        raise RuntimeError(
            f"Given input size per channel: ({' x '.join(map(str, x.shape[2:]))}). Calculated "
            f"output size per channel: ({' x '.join(map(str, size))}). Output size is too small")
    out = _per_group(transpose_convolve, groups, x, weight, bias, stride=stride,
                     dilation=dilation, size=size, padding=tuple((p, p) for p in padding))
    return out if batched else out.squeeze(0)


def _per_group(op, groups, x, weight, bias, **geometry):
    """op on each of ``groups`` equal slices of x's channels, of the weight's dim 0 and of the
    bias, the outputs joined along the channels (PyTorch's CPU kernels' way); groups=1: op."""
    if groups == 1:
        return op(x, weight, bias, **geometry)

    def part(t, g, dim):   # the g-th of ``groups`` equal slices of t along dim (None: None)
        if t is None:
            return None
        n = t.shape[dim] // groups
        return t[(slice(None),) * dim + (slice(g * n, (g + 1) * n),)]

    return _cat([op(part(x, g, 1), part(weight, g, 0), part(bias, g, 0), **geometry)
                 for g in range(groups)], 1)


def _conv_pair(value, name, op, least=None):
    """An int or a list of 1 or 2 ints as (height, width), with PyTorch's checks."""
    if isinstance(value, (tuple, list)):
        if len(value) not in (1, 2):
            raise RuntimeError(f"expected {name} to be a single integer value or a list of 2 "
                               "values to match the convolution dimensions, but got "
                               f"{name}={list(value)}")
        pair = tuple(value) * (2 // len(value))
    else:
        pair = (value, value)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{op}(): argument '{name}' must be tuple of ints, not "
                        f"{type(value).__name__}")
    pair = tuple(int(v) for v in pair)
    least = {"stride": 1, "dilation": 1}.get(name, 0) if least is None else least
    if min(pair) < least and name == "dilation":
        raise RuntimeError(f"dilation should be greater than zero, but got {list(pair)}")
    if min(pair) < least:
        raise RuntimeError(f"non-positive {name} is not supported" if least else
                           f"negative {name} is not supported")
    return pair


def _conv_input(input, weight, bias, groups, name, transposed):
    """The checks PyTorch makes of a convolution's tensors (in its words), and the input as
    a batch: (input or input[None], whether it was batched)."""
    if input.ndim not in (3, 4):
        raise RuntimeError(f"Expected 3D (unbatched) or 4D (batched) input to {name}, but got "
                           f"input of size: {list(input.shape)}")
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise RuntimeError(f"{name}: expected a 4-D weight (channels, channels, kH, kW), got "
                           f"{list(weight.shape) if isinstance(weight, Tensor) else weight}")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if input.dtype.kind != "f" or input.dtype != weight.dtype:
        raise RuntimeError(f"Input type ({input.dtype}) and weight type ({weight.dtype}) "
                           "should be the same, and floating point")
    x = input if input.ndim == 4 else input.unsqueeze(0)
    size = list(weight.shape)
    if size[0] < groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be at least {groups} at "
                           f"dimension 0, but got weight of size {size} instead")
    if size[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size [{size}] instead")
    if min(size[2:]) == 0:
        raise RuntimeError(f"{name}: the kernel is empty (weight of size {size})")
    if size[1] == 0:   # (PyTorch's kernels fail inside oneDNN or return a misshapen result)
        raise RuntimeError(f"{name}: the weight of size {size} has no channels at dimension 1")
    given = f"Given transposed=1, weight of size {size}" if transposed else (
        f"Given groups={groups}, weight of size {size}")
    channels_in, channels_out = (size[0], size[1] * groups) if transposed else (
        size[1] * groups, size[0])
    if x.shape[1] != channels_in:
        raise RuntimeError(f"{given}, expected input{list(x.shape)} to have {channels_in} "
                           f"channels, but got {x.shape[1]} channels instead")
    if bias is not None:
        if bias.ndim != 1 or bias.shape[0] != channels_out:
            given = given if transposed else f"Given weight of size {size}"
            raise RuntimeError(f"{given}, expected bias to be 1-dimensional with "
                               f"{channels_out} elements, but got bias of size "
                               f"{list(bias.shape)} instead")
        if bias.dtype != input.dtype:
            raise RuntimeError(f"Input type ({input.dtype}) and bias type ({bias.dtype}) "
                               "should be the same")
    return x, input.ndim == 4


# === pooling ===================================================================================

def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """The maximum of each window of (N, C, H, W) or unbatched (C, H, W) input (padding -inf);
    the gradient goes to each window's first maximum, as PyTorch's. ``return_indices`` also
    gives each maximum's flat index into H·W (int64). The op: tinygan/ops/pooling.py."""
    x, batched, geometry = _pool_input(input, kernel_size, stride, padding, dilation, ceil_mode,
                                       "max_pool2d")
    kernel, stride, padding, dilation, size = geometry
    sides = _pool_sides(x.shape[2:], geometry)
    choice = pooling.choices(x._data, kernel, stride, sides, dilation, size)
    out = pooling.pick(x, choice=choice, geometry=(kernel, stride, sides, dilation, x.shape),
                       fill=-math.inf)
    if not batched:
        out = out.squeeze(0)
    if not return_indices:
        return out
    xp = array_module(choice)     # the row and column each choice names, in x's own frame
    rows = (xp.arange(size[0]).reshape(-1, 1) * stride[0] - padding[0]
            + (choice // kernel[1]) * dilation[0])
    cols = xp.arange(size[1]) * stride[1] - padding[1] + (choice % kernel[1]) * dilation[1]
    indices = Tensor((rows * x.shape[3] + cols).astype(xp.int64))
    return out, (indices if batched else indices.squeeze(0))


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """The mean of each window of (N, C, H, W) or unbatched (C, H, W) input, zero-padded,
    divided by PyTorch's count: the window's size within the padded input
    (``count_include_pad``) or within the input, or ``divisor_override``. Differentiable
    twice (tinygan/ops/pooling.py)."""
    x, batched, geometry = _pool_input(input, kernel_size, stride, padding, 1, ceil_mode,
                                       "avg_pool2d")
    kernel, stride, padding, _, size = geometry
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    xp = array_module(x._data)
    counts = []
    for n, k, s, p, m in zip(x.shape[2:], kernel, stride, padding, size):
        start = xp.arange(m) * s - p
        end = xp.minimum(start + k, n + p)
        counts.append(end - start if count_include_pad else
                      xp.minimum(end, n) - xp.maximum(start, 0))
    divisor = (counts[0].reshape(-1, 1) * counts[1] if divisor_override is None
               else xp.full((1, 1), divisor_override)).astype(x.dtype)
    out = pooling.average(x, kernel=kernel, stride=stride, divisor=divisor, size=size,
                          padding=_pool_sides(x.shape[2:], geometry))
    return out if batched else out.squeeze(0)


def _pool_input(input, kernel_size, stride, padding, dilation, ceil_mode, name):
    """PyTorch's checks of a pooling's input and sizes (in its words); the input as a batch,
    whether it was batched, and (kernel, stride, padding, dilation, output size)."""
    _check_tensor(input, name)
    if input.ndim not in (3, 4):
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    kernel = _pool_pair(kernel_size, "kernel_size", name)
    stride = kernel if stride is None or len(np.atleast_1d(stride)) == 0 else _pool_pair(
        stride, "stride", name)
    padding, dilation = _pool_pair(padding, "padding", name), _pool_pair(dilation, "dilation",
                                                                          name)
    for pair, least, message in (
            (stride, 1, "stride should be greater than zero, but got dH: {} dW: {}"),
            (kernel, 1, "kernel size should be greater than zero, but got kH: {} kW: {}"),
            (padding, 0, "pad must be non-negative, but got pad: {}"),
            (dilation, 1, "dilation should be greater than zero, but got dilationH: {} "
                          "dilationW: {}")):
        if 0 in stride:
            raise RuntimeError("stride should not be zero")
        if min(pair) < least:
            raise RuntimeError(message.format(*pair))
    for p, k, d in zip(padding, kernel, dilation):     # (output sizes first, then the shape)
        if p > (d * (k - 1) + 1) // 2:
            raise RuntimeError("pad should be at most half of effective kernel size, but got "
                               f"pad={p}, kernel_size={k} and dilation={d}")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise RuntimeError("pad should be smaller than or equal to half of kernel size, but got "
                           f"padW = {padding[1]}, padH = {padding[0]}, kW = {kernel[1]}, "
                           f"kH = {kernel[0]}")
    size = []
    for n, k, s, p, d in zip(input.shape[-2:], kernel, stride, padding, dilation):
        m = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (m - 1) * s >= n + p:   # a last window that starts in the padding
            m -= 1
        size.append(m)
    if min(size) < 1:
        c, h, w = input.shape[-3:]
        raise RuntimeError(f"Given input size: ({c}x{h}x{w}). Calculated output size: "
                           f"({c}x{size[0]}x{size[1]}). Output size is too small")
    x = input if input.ndim == 4 else input.unsqueeze(0)
    return x, input.ndim == 4, (kernel, stride, padding, dilation, tuple(size))


def _pool_pair(value, name, op):
    """An int or a tuple of 1 or 2 ints as (height, width)."""
    pair = tuple(value) * (2 // len(value)) if isinstance(value, (tuple, list)) and len(
        value) in (1, 2) else (value, value)
    if isinstance(value, (tuple, list)) and len(value) not in (1, 2) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise RuntimeError(f"{op}: {name} must either be a single int, or a tuple of two ints")
    return tuple(int(v) for v in pair)


def _pool_sides(side, geometry):
    """The padding per side: ``padding`` above and to the left; below and to the right also
    what the last window of ceil_mode reaches past it."""
    kernel, stride, padding, dilation, size = geometry
    return tuple((p, max(p, (m - 1) * s + d * (k - 1) + 1 - n - p))
                 for n, k, s, p, d, m in zip(side, kernel, stride, padding, dilation, size))


# === interpolation ===============================================================================

def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """(N, C, H, W) resized to ``size`` or by ``scale_factor``; mode 'nearest' only: output
    pixel o copies input pixel min(floor(o · scale), n - 1), scale = 1/scale_factor when
    given (and not recomputed), else n/size, in float32 as PyTorch's kernel. An array
    index, so the gradient sums each pixel's copies (and differentiates again)."""
    _check_tensor(input, "interpolate")
    if mode != "nearest" or antialias:
        raise NotImplementedError(f"interpolate: tinygan supports mode='nearest' only (without "
                                  f"antialias), got mode={mode!r}")
    if align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if input.ndim != 4:
        raise NotImplementedError(f"interpolate: tinygan supports 4D input only (got "
                                  f"{input.ndim}D)")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined" if size is not None
                         else "either size or scale_factor should be defined")
    given = size if size is not None else scale_factor
    if isinstance(given, (tuple, list)) and len(given) != 2:
        what, of, o = ("output", "output size of", "o") if size is not None else (
            "scale_factor", "scale_factor of shape", "s")
        raise ValueError(f"Input and {what} must have the same number of spatial dimensions, "
                         f"but got input with spatial dimensions of {list(input.shape[2:])} and "
                         f"{of} {tuple(given)}. Please provide input tensor in (N, C, d1, d2, "
                         f"...,dK) format and {of.rsplit(' of', 1)[0]} in ({o}1, {o}2, "
                         f"...,{o}K) format.")
    pair = tuple(given) if isinstance(given, (tuple, list)) else (given, given)
    if size is not None:
        out, scales = tuple(int(n) for n in pair), (None, None)
    else:
        out = tuple(math.floor(float(n) * float(f)) for n, f in zip(input.shape[2:], pair))
        scales = (None, None) if recompute_scale_factor else tuple(float(f) for f in pair)
    if min(out) <= 0 or min(input.shape[2:]) <= 0:
        raise RuntimeError("Input and output sizes should be greater than 0, but got input (H: "
                           f"{input.shape[2]}, W: {input.shape[3]}) output (H: {out[0]}, "
                           f"W: {out[1]})")
    xp = array_module(input._data)
    rows, cols = (_nearest_sources(xp, n, m, s) for n, m, s in zip(input.shape[2:], out, scales))
    return pooling.nearest(input, rows=rows, cols=cols)


def _nearest_sources(xp, n, m, scale_factor):
    """The input index each of m output indices copies: PyTorch's nearest_idx."""
    if m == n:
        return xp.arange(m)
    if m == 2 * n:
        return xp.arange(m) // 2
    scale = xp.float32(1.0 / scale_factor if scale_factor else xp.float32(n) / xp.float32(m))
    return xp.minimum(xp.floor(xp.arange(m, dtype=xp.float32) * scale).astype(xp.int64), n - 1)


# === batch norm ================================================================================

def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Instance normalisation, PyTorch's signature: each sample's channels normalised over
    their own positions, y = γ·(x − μ_nc)/√(σ²_nc + ε) + β, μ and σ² over H·W of sample n,
    channel c. That is ``batch_norm`` in training of the input viewed as one batch of N·C
    channels, (1, N·C, H·W), so it is differentiated twice as batch_norm is. Running
    statistics (``track_running_stats=True``) are not supported.
    """
    if running_mean is not None or running_var is not None or not use_input_stats:
        raise NotImplementedError("instance_norm: tinygan normalises with each sample's own "
                                  "statistics only (no running_mean/running_var, "
                                  "use_input_stats=True)")
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected input of at least 3 dimensions (N, C, ...), "
                         f"got {input.ndim}D input")
    n, c = input.shape[:2]
    # γ and β repeated per sample, as PyTorch's: copies, so a later in-place change to the
    # layer's weight does not reach what backward saved
    out = batch_norm(input.reshape(1, n * c, -1), None, None,
                     weight=None if weight is None else weight.repeat(n),
                     bias=None if bias is None else bias.repeat(n), training=True, eps=eps)
    return out.reshape(input.shape)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, *, fused=True, _running_rows=None):
    """Batch normalisation of (N, C, ...) input per channel C, with PyTorch's signature.

    Training: normalise with the batch mean and biased variance and, when running
    stats are given, update them in place with momentum (the variance unbiased,
    n/(n-1)). Evaluation: normalise with the running stats; still differentiable.
    ``momentum=None`` means a cumulative average, as in PyTorch (nn.BatchNorm1d computes it).

    ``fused=True`` (the default) runs one op with its backward written by hand, which
    cannot be differentiated again; ``fused=False`` runs the reference,
    ``_batch_norm_reference``, the formula in tensor ops that autograd differentiates
    (twice too, as a gradient penalty through BatchNorm needs). Both give the same values.
    (``_running_rows``: BatchNorm1d's (2, C) array whose rows are running_mean and running_var.)
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of at least 2 dimensions (N, C, ...), "
                         f"got {input.ndim}D input of shape {tuple(input.shape)}")
    axes = (0,) + tuple(range(2, input.ndim))                # all but the channel dim
    count = math.prod(input.shape[a] for a in axes)
    use_batch_stats = training or running_mean is None
    if use_batch_stats and count <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, "
                         f"got input size {list(input.shape)}")
    if training and running_mean is not None and momentum is None:
        raise ValueError("momentum=None needs the module's num_batches_tracked; "
                         "use nn.BatchNorm1d(momentum=None)")
    if not fused and input.ndim > 3:    # (N, C, H, W, ...) as its (N, C, L) view
        out = _batch_norm_reference(input.reshape(input.shape[:2] + (-1,)), running_mean,
                                    running_var, weight, bias, training, momentum,
                                    eps).reshape(input.shape)
    elif not fused:
        out = _batch_norm_reference(input, running_mean, running_var, weight, bias, training,
                                    momentum, eps)
    elif not use_batch_stats:
        out = BatchNormalize.apply(input, weight, bias, running_mean=running_mean._data,
                                   running_var=running_var._data, axes=axes, eps=eps)
    else:
        stats = {}
        out = BatchNormalize.apply(input, weight, bias, axes=axes, eps=eps, stats=stats)
        if training and running_mean is not None:
            _update_running_stats(running_mean, running_var, stats["mean_var"], count,
                                  momentum, _running_rows)
    # PyTorch keeps the running stats for backward, in training too: a write into one
    # before backward is an error there, here too (its own update is no such write)
    return out._keeps(running_mean, running_var)


def _batch_norm_reference(input, running_mean, running_var, weight=None, bias=None,
                          training=False, momentum=0.1, eps=1e-5):
    """batch_norm as its formula, in differentiable tensor ops (no checks: batch_norm's).

        μ, σ² = the batch's mean and biased variance per channel (training, or no running
                stats), else running_mean and running_var (constants);
        x̂ = (x - μ) / √(σ² + eps);   y = γ·x̂ + β.
    """
    axes = (0,) if input.ndim == 2 else (0, 2)               # all but the channel dim
    per_channel = (1, -1) + (1,) * (input.ndim - 2)          # a (C,) vector along dim 1
    if training or running_mean is None:
        mean = input.mean(axes)
        centred = input - mean.reshape(per_channel)
        var = (centred * centred).mean(axes)                 # biased: divided by n
        if training and running_mean is not None:
            n = input.numel() // input.shape[1]
            _update_running_stats_reference(running_mean, running_var, mean, var, n, momentum)
    else:
        centred = input - running_mean.detach().reshape(per_channel)
        var = running_var.detach()
    x_hat = centred / (var.reshape(per_channel) + eps).sqrt()
    out = x_hat if weight is None else x_hat * weight.reshape(per_channel)
    return out if bias is None else out + bias.reshape(per_channel)


def _update_running_stats_reference(running_mean, running_var, mean, var, n, momentum):
    """running ← (1 - m)·running + m·batch, with the batch variance unbiased: σ²·n/(n-1).

    Written into the buffers' own arrays, and not counted as an in-place change, as
    PyTorch's kernel does not count it (see _update_running_stats).
    """
    with no_grad():
        new_mean = (1 - momentum) * running_mean + momentum * mean
        new_var = (1 - momentum) * running_var + momentum * n / (n - 1) * var
    running_mean._data[...] = new_mean._data
    running_var._data[...] = new_var._data


def _update_running_stats(running_mean, running_var, mean_var, count, momentum, rows=None):
    """``_update_running_stats_reference``'s fast path: the same update, in place, from the
    batch's mean and biased variance as the rows of one array, the factor n/(n-1) folded
    into the variance's rate. When ``rows`` holds the running stats the same way, one
    update moves both (fewer kernel launches on a GPU)."""
    xp = array_module(mean_var)
    if rows is not None:
        rates = _running_rates(xp, rows.dtype, count, momentum)
        _move_running_stats(rows, 1.0 - momentum, rates, mean_var.astype(rows.dtype, copy=False))
    else:                                     # two separate buffers: one update each
        for row, (buffer, value) in enumerate(zip((running_mean, running_var), mean_var)):
            data = buffer._data
            rate = _running_rates(xp, data.dtype, count, momentum)[row]
            data *= 1.0 - momentum
            data += rate * value.astype(data.dtype, copy=False)
    # not counted as an in-place change (no _bump_version), as PyTorch's kernel does not
    # count it: a forward of the same layer between another forward and its backward is fine


@backend.fuse   # one kernel on a GPU
def _move_running_stats(xp, rows, keep, rates, batch):
    """rows ← keep·rows + rates·batch in place (keep = 1 - m, from the caller: see fuse)."""
    xp.multiply(rows, keep, out=rows)
    xp.add(rows, rates * batch, out=rows)


@functools.lru_cache(maxsize=32)
def _running_rates(xp, dtype, count, momentum):
    """(2, 1): the running mean's rate m, then the running variance's m·n/(n-1), made once
    per batch size and dtype, by two fills on the device (a copy from the host would make
    the GPU wait)."""
    rates = xp.empty((2, 1), dtype=dtype)
    rates[0], rates[1] = momentum, momentum * count / (count - 1)
    return rates


# === losses ====================================================================================

def _check_target(input, target, name):
    if not isinstance(target, Tensor):
        raise TypeError(f"{name}: target must be a Tensor, got {type(target).__name__}")
    if target.shape != input.shape:
        raise ValueError(f"{name}: using a target size {tuple(target.shape)} that is different "
                         f"to the input size {tuple(input.shape)}; this is likely an error "
                         "(reshape one of them)")


def _reduce(loss, reduction, name):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """BCE of sigmoid(input) against target, in one stable op (input are logits).

    Finite with the right gradient for any logit (±1e4 in float32 included);
    targets may be soft (any value in [0, 1]).
    """
    _check_target(input, target, "binary_cross_entropy_with_logits")
    pos = pos_weight._data if isinstance(pos_weight, Tensor) else pos_weight
    loss = BinaryCrossEntropyWithLogits.apply(input, target, pos_weight=pos)
    loss._keeps(pos_weight)   # as PyTorch keeps it: a write into it before backward is an error
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """BCE on probabilities (input already through a sigmoid), logs clamped at -100.

    Input outside [0, 1] is an error on "cpu". On "cuda" the check would cost a
    device-to-host copy every step, so it is skipped: such input gives a NaN
    loss there, which the GAN trainer's health check reports.
    """
    _check_target(input, target, "binary_cross_entropy")
    if input.device == backend.CPU:
        data = input._data
        if data.size and not (data.min() >= 0 and data.max() <= 1):
            raise ValueError("binary_cross_entropy: all elements of input should be between 0 "
                             f"and 1 (got min {data.min():.4g}, max {data.max():.4g}); for "
                             "logits use binary_cross_entropy_with_logits")
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def mse_loss(input, target, reduction="mean"):
    """Mean squared error: mean((input - target)²)."""
    _check_target(input, target, "mse_loss")
    diff = input - target
    # PyTorch's mse_loss keeps input and target for backward: a write into either before it
    # is an error there, here too (mse_loss(x, x) included)
    diff._keeps(input, target)
    return _reduce(diff * diff, reduction, "mse_loss")


def _no_legacy(size_average, reduce, name):
    if size_average is not None or reduce is not None:
        raise ValueError(f"{name}: size_average and reduce are deprecated in PyTorch and not "
                         "supported by tinygan; use reduction='mean', 'sum' or 'none'")


def _class_targets(input, target, weight, ignore_index, name):
    """Check class-index targets (PyTorch's rules); return, per target element, the input
    at its class (gathered along the class dim), its weight (0 where the target is
    ignore_index) and the mask of ignored targets."""
    if not isinstance(target, Tensor):
        raise TypeError(f"{name}: target must be a Tensor, got {type(target).__name__}")
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have a class dim: (C,) or (N, C, ...), got a "
                         "0-d tensor")
    if target.dtype != int64:
        raise RuntimeError(f"{name}: expected class-index targets of dtype int64, got "
                           f"{target.dtype} (class probabilities need a target of the input's "
                           "shape and a float dtype)")
    backend.check_same_device(input._data, target._data, op=name)
    expected = () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]
    if target.shape != expected:
        if input.ndim >= 2 and target.ndim >= 1 and target.shape[0] != input.shape[0]:
            raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                             f"batch_size ({target.shape[0]}).")
        raise RuntimeError(f"{name}: input of shape {tuple(input.shape)} needs a target of shape "
                           f"{expected}, got {tuple(target.shape)}")
    classes = input.shape[0 if input.ndim == 1 else 1]
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != classes):
        raise RuntimeError(f"{name}: weight tensor should be defined either for all {classes} "
                           f"classes or no classes but got weight tensor of shape: "
                           f"{list(weight.shape)}")
    xp = array_module(target._data)
    ignored = target._data == ignore_index
    if target.device == backend.CPU and target.numel():   # (a host copy on "cuda": skipped)
        bad = target._data[((target._data < 0) | (target._data >= classes)) & ~ignored]
        if bad.size:
            raise IndexError(f"{name}: Target {bad.flat[0]} is out of bounds (there are "
                             f"{classes} classes)")
    # ignored targets pick class 0; gather saves safe, and a write into the target before
    # backward is an error, as in PyTorch (its nll_loss saves the target)
    safe = Tensor(xp.where(ignored, 0, target._data))._stand_in_for(target)
    if input.ndim == 1:
        picked = input.gather(0, safe.reshape(1)).reshape(())
    else:
        picked = input.gather(1, safe.unsqueeze(1)).squeeze(1)
    # the input kept for backward whether or not it needs a gradient, as PyTorch's nll_loss
    # keeps it: writing into it before backward is then an error in both
    picked._keeps(input)
    kept = Tensor((~ignored).astype(input.dtype))
    if weight is None:
        return picked, kept, Tensor(ignored)
    w = (weight[safe] * kept)._stand_in_for(weight)   # saved by the loss's product, as PyTorch
                                                      # saves weight
    return picked, w, Tensor(ignored)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-input[target] (input are log-probabilities, class dim 1, or 0 for a (C,) input);
    'mean' divides by the summed weights of the targets not ignored, as PyTorch does."""
    _no_legacy(size_average, reduce, "nll_loss")
    picked, w, _ = _class_targets(input, target, weight, ignore_index, "nll_loss")
    loss = -picked * w
    if reduction == "mean":
        with backend.errstate(invalid="ignore"):        # all ignored: 0/0 = NaN, silently
            return loss.sum() / w.sum()
    return _reduce(loss, reduction, "nll_loss")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """The cross-entropy of softmax(input) (logits, class dim 1) against class indices
    (int64) or class probabilities (a float target of input's shape): nll_loss of
    log_softmax, with PyTorch's weight, ignore_index and label_smoothing.

    >>> import tinygan as tg
    >>> import tinygan.nn.functional as F
    >>> F.cross_entropy(tg.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), tg.tensor([0, 2]))
    tensor(0.6691)
    """
    _no_legacy(size_average, reduce, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got "
                         f"{reduction!r}")
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must have a class dim: (C,) or (N, C, ...), "
                         "got a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != classes):
        raise RuntimeError(f"cross_entropy: weight tensor should be defined either for all "
                           f"{classes} classes or no classes but got weight tensor of shape: "
                           f"{list(weight.shape)}")
    logp = input.log_softmax(class_dim)
    # weight laid along the class dim, to broadcast against input
    w_along = None if weight is None else weight.reshape(
        (classes,) + (1,) * (input.ndim - class_dim - 1))
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        return _cross_entropy_probabilities(logp, target, w_along, ignore_index, reduction,
                                            label_smoothing, class_dim)
    nll = nll_loss(logp, target, weight, None, ignore_index, None, reduction)
    if label_smoothing == 0.0:
        return nll
    # PyTorch's smoothing: (1 - ε)·nll + ε/C · Σ_c -w_c log p_c (0 where ignored)
    smooth = -(logp if w_along is None else logp * w_along).sum(class_dim)
    _, w, ignored = _class_targets(logp, target, weight, ignore_index, "cross_entropy")
    smooth = where(ignored, 0.0, smooth)
    if reduction == "mean":
        with backend.errstate(invalid="ignore"):
            smooth = smooth.sum() / w.sum()
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / classes)


def _cross_entropy_probabilities(logp, target, w_along, ignore_index, reduction,
                                 label_smoothing, class_dim):
    """-Σ_c target_c · w_c · log p_c; 'mean' divides by the number of rows, unweighted."""
    if target.shape != logp.shape:
        raise RuntimeError(f"cross_entropy: class-probability targets must have the input's "
                           f"shape {tuple(logp.shape)}, got {tuple(target.shape)}")
    if ignore_index >= 0:
        raise ValueError("cross_entropy: ignore_index is not supported for floating point "
                         "target")
    classes = logp.shape[class_dim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    product = logp * target if w_along is None else logp * target * w_along
    if reduction == "none":
        return -product.sum(class_dim)
    if reduction == "sum":
        return -product.sum()
    return -product.sum() / (logp.numel() / classes)
