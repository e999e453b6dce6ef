"""The elementary ops: each forward (on raw arrays) beside its backward (on Tensors).

Forward takes the array module from its input (``xp = array_module(x)``), so one op
runs on numpy ("cpu") and cupy ("cuda"). Backward returns the gradient of each input,
its math in one comment line, made of these same ops called directly (``mul(grad, b)``
is ``Mul.apply(grad, b)``): no checks or type promotion run inside a backward, and a
backward can be differentiated again. Masks (``y > 0``) are taken on the arrays: their
gradient is zero, so they stay off the graph.

Operands arrive checked and of one dtype: the PyTorch layer (tinygan/methods/) does
that before it applies an op. A backward may return a gradient of the broadcast shape;
the walk sums it back (``sum_to``). The ops ``nn`` needs beyond these (losses,
normalisation, softmax, ...) are in tinygan/ops/, written the same way.
"""
from __future__ import annotations

import builtins
import math
import numbers

from .. import backend
from ..backend import array_module, errstate, fuse
from .function import Function

# --- arithmetic --------------------------------------------------------------------------


class Add(Function):
    """a + α·b; α, a number (``add(alpha=)``), is all backward keeps, as in PyTorch."""

    @staticmethod
    def forward(ctx, a, b, alpha=1):
        ctx.alpha = alpha
        return a + b if alpha == 1 else a + b * alpha

    @staticmethod
    def backward(ctx, grad):                                # d(a+αb)/da = 1, d(a+αb)/db = α
        return grad, (grad if ctx.alpha == 1 else mul(grad, ctx.alpha))


class Sub(Function):
    """a - α·b, as Add."""

    @staticmethod
    def forward(ctx, a, b, alpha=1):
        ctx.alpha = alpha
        return a - b if alpha == 1 else a - b * alpha

    @staticmethod
    def backward(ctx, grad):                                # d(a-αb)/db = -α
        return grad, (neg(grad) if ctx.alpha == 1 else mul(neg(grad), ctx.alpha))


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors                            # d(ab)/da = b, d(ab)/db = a
        need_a, need_b = ctx.needs_input_grad
        return (mul(grad, b) if need_a else None), (mul(grad, a) if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors                            # d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        need_a, need_b = ctx.needs_input_grad
        return ((div(grad, b) if need_a else None),
                (div(mul(neg(grad), a), mul(b, b)) if need_b else None))


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):                                # d(-x)/dx = -1
        return neg(grad)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a ** b                                        # (integers: ops/arithmetic.py)
        ctx.save_for_backward(a, b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors                       # d(a^b)/da = b·a^(b-1), d/db = a^b·ln a
        need_a, need_b = ctx.needs_input_grad
        zero = grad.new_zeros(())
        grad_a = grad_b = None
        if need_a:   # 0 where b == 0, as in PyTorch (not 0·a^-1, NaN at a = 0)
            if isinstance(b, numbers.Number):
                grad_a = (grad.new_zeros(grad.shape) if b == 0
                          else mul(mul(grad, b), pow_(a, b - 1)))
            else:
                grad_a = where(b._data == 0, zero, mul(mul(grad, b), pow_(a, sub(b, 1))))
        if need_b:   # 0 where a == 0 and b ≥ 0, where a^b·ln a tends to 0
            if isinstance(a, numbers.Number):   # a number base stays a number: no upcast
                log_a = math.log(a) if a > 0 else (-math.inf if a == 0 else math.nan)
                grad_b = mul(mul(grad, out), log_a)
                if a == 0:
                    grad_b = where(b._data >= 0, zero, grad_b)
            else:
                grad_b = where((a._data == 0) & (b._data >= 0), zero,
                               mul(mul(grad, out), log(a)))
        return grad_a, grad_b


# --- elementwise functions ---------------------------------------------------------------

class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return mul(grad, y)                                 # d/dx exp(x) = exp(x)


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return div(grad, x)                                 # d/dx ln(x) = 1/x


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        y = array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return div(grad, mul(y, 2))                         # d/dx √x = 1/(2√x)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return mul(grad, sign(x))                           # d/dx |x| = sign(x), 0 at 0


class Sign(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return array_module(x).sign(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.new_zeros(ctx.shape)                    # flat between the jumps


class Where(Function):
    """a where condition holds, else b (condition: a bool array or tensor, no gradient)."""

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        return array_module(condition).where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors                    # grad flows to the branch picked
        zero = grad.new_zeros(())
        return None, where(condition, grad, zero), where(condition, zero, grad)


# --- activations ---------------------------------------------------------------------------

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
        # a select, not grad·(y > 0): 0 where x ≤ 0 even for an inf gradient, as PyTorch
        return where(y._data > 0, grad, 0.0)


def sigmoid(x):
    """σ(x) = 1/(1 + e^-x) on a raw array, as PyTorch computes it (the same values in
    float32 and float64, 0 where e^-x overflows); one fused kernel on a GPU."""
    y = array_module(x).empty_like(x)                      # a 0-d result stays an array
    _sigmoid_into(x, y)
    return y


@fuse
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
        return mul(mul(grad, y), sub(1, y))                 # σ'(x) = σ(x)(1 - σ(x))


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
        return mul(grad, sub(1, mul(y, y)))                 # tanh'(x) = 1 - tanh²(x)


# --- reductions ----------------------------------------------------------------------------

class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):                                # d/dx_i Σ x = 1
        return expand_back(grad, ctx.shape, ctx.axes, ctx.keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes=(), keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.count = math.prod(x.shape[a] for a in axes)
        return x.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):                                # d/dx_i mean(x) = 1/N
        return expand_back(div(grad, ctx.count), ctx.shape, ctx.axes, ctx.keepdim)


def expand_back(grad, shape, axes, keepdim):
    """A reduced gradient broadcast back to the input's shape (a view, no copy)."""
    if not keepdim:
        kept = list(shape)
        for axis in axes:
            kept[axis] = 1
        grad = reshape(grad, shape=tuple(kept))
    return expand(grad, shape=shape)


def sum_to(grad, shape):
    """``grad`` summed over the dims broadcasting added or stretched to reach ``shape``."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    if grad.ndim < len(shape):    # t[i] = v with v of shape (1, n): leading 1s were dropped
        return reshape(grad, shape=shape)
    extra = grad.ndim - len(shape)
    if extra:
        grad = sum_(grad, axes=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = sum_(grad, axes=stretched, keepdim=True)
    return reshape(grad, shape=shape)


# --- views, indexing and writes -------------------------------------------------------------

class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.shape = x.shape
        y = x.reshape(shape)
        # a view where the strides allow one, else a copy (PyTorch's reshape does the same);
        # an empty tensor is always a view (no memory to share, so NumPy cannot tell)
        ctx.is_view = y.size == 0 or array_module(x).may_share_memory(x, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        return reshape(grad, shape=ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims=()):
        ctx.dims = dims
        ctx.is_view = True
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad):                                # undo the permutation
        inverse = sorted(range(len(ctx.dims)), key=ctx.dims.__getitem__)
        return permute(grad, dims=tuple(inverse))


class Expand(Function):
    """x broadcast to ``shape`` without a copy (size-1 dims stretched, new leading dims)."""

    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.shape = x.shape
        ctx.is_view = True
        return array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):                                # sum over what was stretched
        return sum_to(grad, ctx.shape)


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index=None):
        ctx.shape, ctx.index = x.shape, index
        ctx.is_view = not is_array_index(index)    # slicing views; array indexing copies
        if not ctx.is_view:   # kept, as PyTorch keeps an array index: a second backward
            ctx.save_for_backward(index)    # then needs retain_graph in both
        out = x[index]
        parts = _index_parts(index)
        if ctx.is_view and out.ndim == 0 and not builtins.any(p is Ellipsis for p in parts):
            out = x[parts + (Ellipsis,)]            # x[1, 2]: a 0-d view, not a numpy scalar
        return out

    @staticmethod
    def backward(ctx, grad):                                # back where it came from;
        zeros = grad.new_zeros(ctx.shape)                   # repeated indices sum their gradients
        if is_array_index(ctx.index) and not _is_mask(ctx.index):
            return IndexAdd.apply(zeros, grad, index=ctx.index)
        return SetItem.apply(zeros, grad, index=ctx.index)  # slices and masks never repeat


class SetItem(Function):
    """x with x[index] = value, out of place (a write into a tensor stores it back)."""

    @staticmethod
    def forward(ctx, x, value, index=None):
        ctx.index = index
        out = x.copy()
        out[index] = value
        return out

    @staticmethod
    def backward(ctx, grad):                                # the overwritten part's gradient
        need_x, need_value = ctx.needs_input_grad           # goes to value, the rest to x
        grad_x = SetItem.apply(grad, 0, index=ctx.index) if need_x else None
        grad_value = GetItem.apply(grad, index=ctx.index) if need_value else None
        return grad_x, grad_value


class IndexAdd(Function):
    """x with value added at x[index], repeated indices adding up (NumPy's add.at)."""

    @staticmethod
    def forward(ctx, x, value, index=None):
        ctx.index = index
        out = x.copy()
        backend.scatter_add(out, index, value)
        return out

    @staticmethod
    def backward(ctx, grad):                                # d/dx = 1; d/dvalue = grad[index]
        need_x, need_value = ctx.needs_input_grad
        return (grad if need_x else None), (GetItem.apply(grad, index=ctx.index)
                                            if need_value else None)


def _index_parts(index):
    return index if isinstance(index, tuple) else (index,)


def is_array_index(index):
    """Integer or boolean arrays in the index: numpy's advanced indexing, which copies."""
    return builtins.any(hasattr(p, "dtype") and p.ndim > 0 for p in _index_parts(index))


def _is_mask(index):
    return builtins.any(hasattr(p, "dtype") and p.dtype.kind == "b" for p in _index_parts(index))


# --- matrix products -------------------------------------------------------------------------

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
            return (mul(grad, b) if need_a else None), (mul(grad, a) if need_b else None)
        if a_ndim == 1:                                     # (n) @ (..., n, m) -> (..., m)
            ga = _drop_last(matmul(b, _column(grad))) if need_a else None
            gb = mul(_column(a), reshape(grad, shape=grad.shape[:-1] + (1, grad.shape[-1]))
                     ) if need_b else None
            return ga, gb
        if b_ndim == 1:                                     # (..., n, m) @ (m) -> (..., n)
            ga = mul(_column(grad), b) if need_a else None
            gb = _drop_last(matmul(_transposed(a), _column(grad))) if need_b else None
            return ga, gb
        return ((matmul(grad, _transposed(b)) if need_a else None),
                (matmul(_transposed(a), grad) if need_b else None))


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
        grad_x = matmul(grad, weight) if need_x else None
        if grad._data.ndim != 2:                            # (..., out): rows of a matrix
            grad, x = _rows(grad), (_rows(x) if need_w else None)
        grad_w = matmul(_transposed(grad), x) if need_w else None
        grad_b = sum_(grad, axes=(0,)) if need_b else None
        return grad_x, grad_w, grad_b


def _rows(t):
    """t as a matrix: every leading dim folded into the rows (reshape(-1, n) fails for n = 0)."""
    return reshape(t, shape=(math.prod(t.shape[:-1]), t.shape[-1]))


def _transposed(t):
    """The last two dims swapped (a batch of matrices, each transposed)."""
    dims = list(range(t._data.ndim))
    dims[-2], dims[-1] = dims[-1], dims[-2]
    return permute(t, dims=tuple(dims))


def _column(t):
    return reshape(t, shape=t.shape + (1,))


def _drop_last(t):
    return reshape(t, shape=t.shape[:-1])


# --- copies ----------------------------------------------------------------------------------

class To(Function):
    """x on ``device`` (None: where it is) with ``dtype`` (None: its own)."""

    @staticmethod
    def forward(ctx, x, device=None, dtype=None):
        ctx.device, ctx.dtype = backend.device_of(x), x.dtype
        if device is not None:
            x = backend.to_device(x, device)
        return x if dtype is None else x.astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):                                # the gradient goes back where x lives
        return To.apply(grad, device=ctx.device, dtype=ctx.dtype)


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


# The ops as functions, for backwards to read like the math: mul(grad, b) is Mul.apply(grad, b).
add, sub, mul, div, neg, pow_ = Add.apply, Sub.apply, Mul.apply, Div.apply, Neg.apply, Pow.apply
exp, log, sign, where = Exp.apply, Log.apply, Sign.apply, Where.apply
sum_, mean, reshape, permute, expand = (Sum.apply, Mean.apply, Reshape.apply, Permute.apply,
                                      Expand.apply)
matmul, to = MatMul.apply, To.apply
