"""The differentiable ops: each Function's forward beside its backward.

Forward and backward work on raw arrays (numpy on "cpu", cupy on "cuda"); the
array module is always taken from the array (``xp = array_module(x)``), never
assumed to be numpy. Broadcasting is undone once, by the autograd engine
(:func:`tinygan.autograd.unbroadcast`), so a backward returns gradients of the
broadcast shape. Each backward carries its math in one comment line.

Sections: arithmetic, elementwise math, activations, reductions, shapes and
indexing, joining, matrix products, devices, comparisons.
"""
from __future__ import annotations

import builtins
import collections
import math
import numbers

import numpy as np

from . import backend
from .autograd import Function
from .backend import array_module
from .tensor import Tensor, _check_dim, _index_arrays, _operand_array

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "log1p", "sqrt", "abs", "clamp",
    "maximum", "minimum", "where", "relu", "leaky_relu", "sigmoid", "tanh", "softplus",
    "sum", "mean", "var", "std", "max", "min", "argmax", "argmin", "reshape", "view",
    "flatten", "transpose", "permute", "unsqueeze", "squeeze", "getitem", "cat", "stack",
    "matmul", "linear", "clone", "to", "compare",
]


def _operand(value):
    """A Tensor stays a Tensor; a Python or numpy number becomes a Python number."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (numbers.Number, np.generic)):
        return _operand_array(value)
    raise TypeError(f"expected a Tensor or a number, got {type(value).__name__}")


def _binary(function, a, b):
    a, b = _operand(a), _operand(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{function.__name__}: at least one operand must be a Tensor")
    return function.apply(a, b)


# === arithmetic ============================================================================

class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad                                   # d(a+b)/da = d(a+b)/db = 1


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad                                  # d(a-b)/db = -1


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # d(ab)/da = b, d(ab)/db = a
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        need_a, need_b = ctx.needs_input_grad
        return (grad / b if need_a else None), (-grad * a / (b * b) if need_b else None)


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_arrays                        # d(a^b)/da = b·a^(b-1), d/db = a^b·ln a
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad * b * a ** (b - 1) if need_a else None
        grad_b = None
        if need_b:  # a Python-number base stays a Python number: no float64 upcast
            log_a = math.log(a) if isinstance(a, numbers.Number) else array_module(out).log(a)
            grad_b = grad * out * log_a
        return grad_a, grad_b


def add(a, b):
    """a + b with broadcasting."""
    return _binary(Add, a, b)


def sub(a, b):
    """a - b with broadcasting."""
    return _binary(Sub, a, b)


def mul(a, b):
    """a * b with broadcasting."""
    return _binary(Mul, a, b)


def div(a, b):
    """a / b with broadcasting (true division)."""
    return _binary(Div, a, b)


def neg(x):
    return Neg.apply(x)


def pow(a, b):
    """a ** b; either may be a number (the gradient w.r.t. b needs a > 0)."""
    return _binary(Pow, a, b)


# === elementwise math =========================================================================

class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_arrays
        return grad * y                                     # d/dx exp(x) = exp(x)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return grad / x                                     # d/dx ln(x) = 1/x


class Log1p(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log1p(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return grad / (1 + x)                               # d/dx ln(1+x) = 1/(1+x)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_arrays
        return grad / (2 * y)                               # d/dx √x = 1/(2√x)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return grad * array_module(x).sign(x)               # d/dx |x| = sign(x), 0 at 0


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, low=None, high=None):
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return array_module(x).clip(x, low, high)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays                             # 1 inside [low, high] (ends included), else 0
        inside = True
        if ctx.low is not None:
            inside = inside & (x >= ctx.low)
        if ctx.high is not None:
            inside = inside & (x <= ctx.high)
        return grad * inside


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # to the larger; ties split half-half
        share_a = ((a > b).astype(grad.dtype) + (a >= b).astype(grad.dtype)) * 0.5  # 1, ½ or 0
        return grad * share_a, grad * (1 - share_a)


class Where(Function):
    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        xp = array_module(condition)
        return xp.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_arrays                     # grad flows to the branch that was picked
        xp = array_module(condition)
        zero = xp.zeros((), dtype=grad.dtype)
        return None, xp.where(condition, grad, zero), xp.where(condition, zero, grad)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def log1p(x):
    """log(1 + x), accurate for small x."""
    return Log1p.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def clamp(x, min=None, max=None):
    """Limit values to [min, max]; the gradient is 1 inside (ends included), 0 outside."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min or max must be given")
    return Clamp.apply(x, low=_operand_array(min), high=_operand_array(max))


clip = clamp


def maximum(a, b):
    """Elementwise max; where a == b each gets half the gradient, as in PyTorch."""
    return _binary(Maximum, a, b)


def minimum(a, b):
    """Elementwise min (built on maximum, so ties split the gradient alike)."""
    return -maximum(-_operand(a), -_operand(b))


def where(condition, a, b):
    """a where condition holds, else b; condition is a boolean Tensor."""
    condition = condition if isinstance(condition, Tensor) else Tensor(condition)
    if condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be a boolean tensor, got dtype {condition.dtype}")
    return Where.apply(condition, _operand(a), _operand(b))


# === activations ===============================================================================

class ReLU(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_arrays
        return grad * (y > 0)                               # 1 for x > 0, else 0 (0 at x = 0)


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, x, slope=0.01):                        # f(x) = x if x > 0 else a·x
        ctx.save_for_backward(x)
        ctx.slope = slope
        xp = array_module(x)
        # max(x, a·x) is x for x > 0 and a·x below when 0 ≤ a ≤ 1 (the usual slopes);
        # two cheap passes where xp.where is many times slower on the CPU.
        if 0 <= slope <= 1:
            return xp.maximum(x, x * slope)
        return xp.minimum(x, x * slope)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays                             # 1 for x > 0, else slope
        local = (x > 0).astype(grad.dtype)
        local *= 1 - ctx.slope
        local += ctx.slope
        return grad * local


def stable_sigmoid(x):
    """σ(x) on a raw array, never overflowing: with e = exp(-|x|) ≤ 1,
    σ(x) = 1/(1+e) for x ≥ 0 and e/(1+e) for x < 0."""
    xp = array_module(x)
    e, y = xp.empty_like(x), xp.empty_like(x)               # out= keeps 0-d results arrays
    xp.abs(x, out=e)
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    xp.add(e, 1, out=y)
    xp.reciprocal(y, out=y)                                 # 1/(1+e): σ where x ≥ 0
    xp.multiply(e, y, out=e)                                # e/(1+e): σ where x < 0
    positive = x >= 0                                       # pick by multiplying with 1 or 0,
    xp.multiply(y, positive, out=y)                         # which is exact (xp.where is
    xp.multiply(e, ~positive, out=e)                        # several times slower on the CPU)
    xp.add(y, e, out=y)
    return y


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        y = stable_sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_arrays
        return grad * y * (1 - y)                           # σ'(x) = σ(x)(1 - σ(x))


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_arrays
        return grad * (1 - y * y)                           # tanh'(x) = 1 - tanh²(x)


class Softplus(Function):
    @staticmethod
    def forward(ctx, x, beta=1.0, threshold=20.0):
        xp = array_module(x)
        bx = x * beta
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        # PyTorch's formula: linear above the threshold; exp never overflows below it.
        soft = xp.log1p(xp.exp(xp.minimum(bx, threshold))) / beta
        return xp.where(bx > threshold, x, soft)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays                             # d/dx softplus(x) = sigmoid(βx)
        xp = array_module(x)
        bx = x * ctx.beta
        z = xp.exp(xp.minimum(bx, ctx.threshold))
        return xp.where(bx > ctx.threshold, grad, grad * z / (z + 1))


def relu(x):
    """max(x, 0); its gradient at exactly 0 is 0, as in PyTorch."""
    return ReLU.apply(x)


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope·x otherwise."""
    return LeakyReLU.apply(x, slope=negative_slope)


def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow for any x."""
    return Sigmoid.apply(x)


def tanh(x):
    return Tanh.apply(x)


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(βx)) / β, linear where βx > threshold (PyTorch's definition)."""
    return Softplus.apply(x, beta=beta, threshold=threshold)


# === reductions ================================================================================

def _axes(dim, ndim):
    """dim (None, int or tuple) as a sorted tuple of non-negative axes."""
    if dim is None or ndim == 0:  # a 0-d tensor reduces over "dim 0" to itself, as in PyTorch
        if dim is not None:
            for d in ((dim,) if isinstance(dim, numbers.Integral) else dim):
                _check_dim(d, 0)
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    return tuple(sorted({_check_dim(d, ndim) for d in dims}))


def _expand_back(grad, shape, axes, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    xp = array_module(grad)
    if not keepdim:
        grad = xp.expand_dims(grad, axes) if axes else grad
    return xp.broadcast_to(grad, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):                                # d/dx_i Σ x = 1
        return _expand_back(grad, ctx.shape, ctx.axes, ctx.keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.count = math.prod(x.shape[a] for a in axes)
        return x.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):                                # d/dx_i mean(x) = 1/N
        return _expand_back(grad / ctx.count, ctx.shape, ctx.axes, ctx.keepdim)


class Var(Function):
    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False, correction=1):
        count = math.prod(x.shape[a] for a in axes)
        centered = x - x.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centered)
        ctx.axes, ctx.keepdim, ctx.divisor = axes, keepdim, count - correction
        return (centered * centered).sum(axis=axes, keepdims=keepdim) / ctx.divisor

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved_arrays                      # d var/dx_i = 2(x_i - mean)/(N - correction)
        grad = _expand_back(grad, centered.shape, ctx.axes, ctx.keepdim)
        return grad * centered * (2 / ctx.divisor)


def sum(x, dim=None, keepdim=False):
    """Sum over ``dim`` (an int, a tuple, or None for all)."""
    return Sum.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    if x.dtype.kind != "f":
        raise TypeError(f"mean: expected a floating point tensor, got dtype {x.dtype}")
    return Mean.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim)


def _correction(unbiased, correction):
    if correction is not None and unbiased is not None:
        raise ValueError("give either unbiased or correction, not both")
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance, divided by N - correction (correction 1, unbiased, by default; as PyTorch)."""
    return Var.apply(x, axes=_axes(dim, x.ndim), keepdim=keepdim,
                     correction=_correction(unbiased, correction))


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """sqrt(var(...)), with var's dim and correction."""
    return sqrt(var(x, dim, unbiased, keepdim, correction=correction))


class MaxAll(Function):
    @staticmethod
    def forward(ctx, x, smallest=False):
        value = x.min() if smallest else x.max()
        ctx.save_for_backward(x, value)
        return value

    @staticmethod
    def backward(ctx, grad):
        x, value = ctx.saved_arrays                         # shared evenly among tied maxima
        ties = x == value
        return grad * ties / ties.sum().astype(grad.dtype)


class MaxDim(Function):
    @staticmethod
    def forward(ctx, x, axis=0, keepdim=False, indices=None):
        ctx.shape, ctx.axis, ctx.keepdim = x.shape, axis, keepdim
        ctx.indices = indices                                # keepdims=True form
        values = array_module(x).take_along_axis(x, indices, axis=axis)
        return values if keepdim else values.squeeze(axis)

    @staticmethod
    def backward(ctx, grad):                                # all to the first max along dim
        xp = array_module(grad)
        if not ctx.keepdim:
            grad = xp.expand_dims(grad, ctx.axis)
        out = xp.zeros(ctx.shape, dtype=grad.dtype)
        xp.put_along_axis(out, ctx.indices, grad, axis=ctx.axis)
        return out


MaxResult = collections.namedtuple("MaxResult", ["values", "indices"])


def _max_or_min(x, dim, keepdim, smallest):
    if dim is None:
        return MaxAll.apply(x, smallest=smallest)
    axis = _check_dim(dim, x.ndim)
    if x.ndim == 0:  # the value itself, at index 0
        return MaxResult(clone(x), Tensor(array_module(x.data).zeros((), dtype=np.int64)))
    xp = array_module(x.data)
    pick = xp.argmin if smallest else xp.argmax
    indices = xp.expand_dims(pick(x.data, axis=axis), axis)
    values = MaxDim.apply(x, axis=axis, keepdim=keepdim, indices=indices)
    return MaxResult(values, Tensor(indices if keepdim else indices.squeeze(axis)))


def max(x, dim=None, keepdim=False):
    """The largest value, or (values, indices) along ``dim``, as in PyTorch."""
    return _max_or_min(x, dim, keepdim, smallest=False)


def min(x, dim=None, keepdim=False):
    """The smallest value, or (values, indices) along ``dim``."""
    return _max_or_min(x, dim, keepdim, smallest=True)


def argmax(x, dim=None, keepdim=False):
    if dim is None:
        return Tensor(x.data.argmax())
    return max(x, dim, keepdim).indices


def argmin(x, dim=None, keepdim=False):
    if dim is None:
        return Tensor(x.data.argmin())
    return min(x, dim, keepdim).indices


# === shapes and indexing =======================================================================

class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.shape = x.shape
        ctx.is_view = True   # a view where numpy can make one; counted as one either way
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims=()):
        ctx.dims = dims
        ctx.is_view = True
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad):                                # undo the permutation
        return grad.transpose(np.argsort(ctx.dims).tolist())


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index=None):
        ctx.shape, ctx.index = x.shape, index
        ctx.is_view = not _is_array_index(index)   # slicing views; array indexing copies
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        out = xp.zeros(ctx.shape, dtype=grad.dtype)
        if _is_array_index(ctx.index) and not _is_mask(ctx.index):
            backend.scatter_add(out, ctx.index, grad)       # repeated indices sum their grads
        else:
            out[ctx.index] = grad                           # slices and masks never repeat
        return out


def _index_parts(index):
    return index if isinstance(index, tuple) else (index,)


def _is_array_index(index):
    """Integer or boolean arrays in the index: numpy's advanced indexing, which copies."""
    return builtins.any(hasattr(p, "dtype") and p.ndim > 0 for p in _index_parts(index))


def _is_mask(index):
    return builtins.any(hasattr(p, "dtype") and p.dtype.kind == "b" for p in _index_parts(index))


def reshape(x, shape):
    """The same values in a new shape (one dim may be -1)."""
    shape = tuple(shape)
    size = math.prod(n for n in shape if n != -1)
    if (-1 not in shape and size != x.numel()) or (-1 in shape and (size == 0 or x.numel() % size)):
        raise RuntimeError(f"shape {list(shape)} is invalid for input of size {x.numel()}")
    return Reshape.apply(x, shape=shape)


view = reshape


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = _check_dim(start_dim, x.ndim), _check_dim(end_dim, x.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape[:start] + (-1,) + x.shape[end + 1:]
    return reshape(x, shape) if x.numel() else reshape(x, x.shape[:start] + (0,) + x.shape[end + 1:])


def permute(x, dims):
    dims = tuple(_check_dim(d, x.ndim) for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {x.ndim} dims")
    return Permute.apply(x, dims=dims)


def transpose(x, dim0, dim1):
    """Swap two dims."""
    dims = list(range(x.ndim))
    a, b = _check_dim(dim0, x.ndim), _check_dim(dim1, x.ndim)
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, dims=tuple(dims))


def unsqueeze(x, dim):
    """Insert a dim of size 1 at ``dim``."""
    dim = _check_dim(dim, x.ndim + 1)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def squeeze(x, dim=None):
    """Drop dims of size 1 (only ``dim`` when given and of size 1)."""
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    dim = _check_dim(dim, x.ndim)
    if x.shape[dim] != 1:
        return x
    return reshape(x, x.shape[:dim] + x.shape[dim + 1:])


def getitem(x, index):
    """x[index]: basic slicing and integer-array indexing; repeated indices sum their grads."""
    index = _index_arrays(index)
    xp = array_module(x.data)
    parts = index if isinstance(index, tuple) else (index,)
    for p in parts:  # device arrays must meet device arrays
        if hasattr(p, "dtype") and not isinstance(p, np.generic):
            backend.check_same_device(x.data, p, op="indexing")
    # Lists index like arrays (t[[0, 2, 2]] as in PyTorch); make them device arrays.
    if isinstance(index, list):
        index = xp.asarray(index)
    elif isinstance(index, tuple):
        index = tuple(xp.asarray(p) if isinstance(p, list) else p for p in index)
    return GetItem.apply(x, index=index)


# === joining ===================================================================================

class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.sizes = [a.shape[axis] for a in arrays]
        return array_module(arrays[0]).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):                                # each input gets its own slice back
        xp = array_module(grad)
        cuts = np.cumsum(ctx.sizes)[:-1].tolist()
        return tuple(xp.split(grad, cuts, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        return array_module(arrays[0]).stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        return tuple(xp.moveaxis(grad, ctx.axis, 0))


def _check_join(tensors, name):
    if not tensors:
        raise ValueError(f"{name}: expected a non-empty list of Tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected Tensors, got {type(t).__name__}")


def cat(tensors, dim=0):
    """Join tensors along an existing dim."""
    tensors = list(tensors)
    _check_join(tensors, "cat")
    axis = _check_dim(dim, tensors[0].ndim)
    for t in tensors[1:]:
        if t.ndim != tensors[0].ndim or builtins.any(
                t.shape[i] != tensors[0].shape[i] for i in range(t.ndim) if i != axis):
            raise RuntimeError(f"cat: sizes must match except in dimension {axis}; got "
                               f"{tensors[0].shape} and {t.shape}")
    return Cat.apply(*tensors, axis=axis)


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dim."""
    tensors = list(tensors)
    _check_join(tensors, "stack")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{tensors[0].shape} and {t.shape}")
    return Stack.apply(*tensors, axis=_check_dim(dim, tensors[0].ndim + 1))


# === matrix products ===========================================================================

def _swap_last(a):
    return a.swapaxes(-1, -2)


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays                             # d(AB)/dA = G Bᵀ, d(AB)/dB = Aᵀ G
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:
            return (grad * b if need_a else None), (grad * a if need_b else None)
        if a.ndim == 1:                                     # (n) @ (..., n, m) -> (..., m)
            ga = (b @ grad[..., None])[..., 0] if need_a else None
            gb = a[:, None] * grad[..., None, :] if need_b else None
            return ga, gb
        if b.ndim == 1:                                     # (..., n, m) @ (m) -> (..., n)
            ga = grad[..., None] * b if need_a else None
            gb = (_swap_last(a) @ grad[..., None])[..., 0] if need_b else None
            return ga, gb
        return ((grad @ _swap_last(b)) if need_a else None,
                (_swap_last(a) @ grad) if need_b else None)


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias                                     # in place: out is ours
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_arrays                        # y = x Wᵀ + b: dx = G W, dW = Gᵀ x, db = Σ G
        need_x, need_w, need_b = (ctx.needs_input_grad + (False,))[:3]
        grad_x = grad @ weight if need_x else None
        grad_w = grad.reshape(-1, grad.shape[-1]).T @ x.reshape(-1, x.shape[-1]) if need_w else None
        grad_b = grad.reshape(-1, grad.shape[-1]).sum(axis=0) if need_b else None
        return grad_x, grad_w, grad_b


def matmul(a, b):
    """Matrix product with numpy's rules (1-D operands, batched broadcasting)."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both operands must be Tensors")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError("matmul: both arguments need at least 1 dimension, got 0-d")
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


# === devices, dtypes, copies ===================================================================

class To(Function):
    @staticmethod
    def forward(ctx, x, device=None, dtype=None):
        ctx.device, ctx.dtype = backend.device_of(x), x.dtype
        return backend.to_device(x, device).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):                                # the gradient goes back where x lives
        return backend.to_device(grad, ctx.device).astype(ctx.dtype, copy=False)


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


def to(x, device=None, dtype=None):
    """x on ``device`` as ``dtype`` (x itself when nothing changes, as in PyTorch)."""
    device = x.device if device is None else backend.normalize_device(device)
    dtype = x.dtype if dtype is None else np.dtype(dtype)
    if device == x.device and dtype == x.dtype:
        return x
    return To.apply(x, device=device, dtype=dtype)


def clone(x):
    return Clone.apply(x)


# === comparisons (no gradient) =================================================================

def compare(a, b, op):
    """Elementwise comparison ("less", "equal", ...) as a boolean Tensor without a graph."""
    a_array, b_array = _operand_array(a), _operand_array(b)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        backend.check_same_device(a_array, b_array, op=op)
    xp = array_module(a_array if isinstance(a, Tensor) else b_array)
    return Tensor(getattr(xp, op)(a_array, b_array))
