"""The functions of ``tinygan`` itself, as in ``torch``: ``tg.exp(x)`` is ``x.exp()``.

Most are the Tensor's methods in function form. The ones that take several tensors
(cat, stack, where) check them and settle their common dtype here.
"""
from __future__ import annotations

import numpy as np

from .dtypes import promote_types, result_type
from .core.ops import Add, Mul, Pow, Sub, Where
from .methods.args import _check_dim, _operand
from .methods.arithmetic import _alpha, _binary, _check_rounding_mode, _divide
from .ops.activations import Softplus
from .ops.shapes import Cat, Stack
from .tensor import Tensor


def _tensor(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    return x


def exp(x): return _tensor(x, "exp").exp()
def log(x): return _tensor(x, "log").log()
def log1p(x): return _tensor(x, "log1p").log1p()
def sqrt(x): return _tensor(x, "sqrt").sqrt()
def abs(x): return _tensor(x, "abs").abs()
def relu(x): return _tensor(x, "relu").relu()
def relu_(x): return _tensor(x, "relu_").relu_()
def sigmoid(x): return _tensor(x, "sigmoid").sigmoid()
def tanh(x): return _tensor(x, "tanh").tanh()
def clamp(x, min=None, max=None): return _tensor(x, "clamp").clamp(min, max)


clip = clamp


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(βx)) / β, linear where βx > threshold (PyTorch's definition)."""
    return Softplus.apply(_tensor(x, "softplus")._floating(), beta=beta, threshold=threshold)


def sum(x, dim=None, keepdim=False): return _tensor(x, "sum").sum(dim, keepdim)


def prod(x, dim=None, keepdim=False, *, dtype=None):
    """The product over all elements or along dim (its gradient right with zeros in x)."""
    return _tensor(x, "prod").prod(dim, keepdim, dtype=dtype)


def mean(x, dim=None, keepdim=False): return _tensor(x, "mean").mean(dim, keepdim)


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _tensor(x, "var").var(dim, unbiased, keepdim, correction=correction)


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _tensor(x, "std").std(dim, unbiased, keepdim, correction=correction)


def softmax(x, dim, dtype=None):
    """exp(x) / Σ exp(x) along dim, stable for any x (computed from x - max)."""
    return _tensor(x, "softmax").softmax(dim, dtype)


def log_softmax(x, dim, dtype=None):
    """x - logsumexp(x) along dim (finite where log(softmax(x)) would give -inf)."""
    return _tensor(x, "log_softmax").log_softmax(dim, dtype)


def logsumexp(x, dim, keepdim=False):
    """log Σ exp(x) over dim, as max + log Σ exp(x - max).

    >>> import tinygan as tg
    >>> tg.logsumexp(tg.tensor([[0.0, 0.0], [1e4, 1e4]]), dim=1)
    tensor([6.9315e-01, 1.0001e+04])
    """
    return _tensor(x, "logsumexp").logsumexp(dim, keepdim)


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """x.norm(p, dim, keepdim, dtype): p 2 / 'fro' or 1 (no ``out``)."""
    if out is not None:
        raise NotImplementedError("norm: out= is not supported by tinygan; assign the result")
    return _tensor(input, "norm").norm(p, dim, keepdim, dtype)


def all(x, dim=None, keepdim=False): return _tensor(x, "all").all(dim, keepdim)
def any(x, dim=None, keepdim=False): return _tensor(x, "any").any(dim, keepdim)


# Comparisons as functions (bool tensors, no gradient); the first operand is a Tensor.
def eq(input, other): return _tensor(input, "eq").eq(other)
def ne(input, other): return _tensor(input, "ne").ne(other)
def lt(input, other): return _tensor(input, "lt").lt(other)
def le(input, other): return _tensor(input, "le").le(other)
def gt(input, other): return _tensor(input, "gt").gt(other)
def ge(input, other): return _tensor(input, "ge").ge(other)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol·|other| elementwise (same dtypes), as a bool tensor.

    >>> import tinygan as tg
    >>> tg.isclose(tg.tensor([1.0, 1.0, float("nan")]), tg.tensor([1.0 + 1e-6, 1.1, float("nan")]))
    tensor([ True, False, False])
    """
    return _tensor(input, "isclose").isclose(other, rtol, atol, equal_nan)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether isclose holds everywhere: a Python bool."""
    return _tensor(input, "allclose").allclose(other, rtol, atol, equal_nan)


def equal(input, other):
    """Same shape and values: a Python bool (see Tensor.equal)."""
    return _tensor(input, "equal").equal(other)


def argmax(x, dim=None, keepdim=False): return _tensor(x, "argmax").argmax(dim, keepdim)
def argmin(x, dim=None, keepdim=False): return _tensor(x, "argmin").argmin(dim, keepdim)
def max(x, dim=None, keepdim=False): return _tensor(x, "max").max(dim, keepdim)
def min(x, dim=None, keepdim=False): return _tensor(x, "min").min(dim, keepdim)
def remainder(a, b):
    """a % b with the divisor's sign, as torch.remainder (a may be a number)."""
    return _tensor(b, "remainder").__rmod__(a) if not isinstance(a, Tensor) else a % b


def _one_tensor(a, b, name):
    """torch.add(2, t) is fine, torch.add(2, 3) is not: one of the two must be a Tensor."""
    if not isinstance(a, Tensor):
        _tensor(b, name)


def add(input, other, *, alpha=1):
    """input + alpha·other, as torch.add (either may be a number)."""
    _one_tensor(input, other, "add")
    return _binary(Add, input, other, alpha=_alpha(input, other, alpha, "add"))


def sub(input, other, *, alpha=1):
    """input - alpha·other, as torch.sub (either may be a number)."""
    _one_tensor(input, other, "sub")
    return _binary(Sub, input, other, alpha=_alpha(input, other, alpha, "sub"))


def mul(input, other):
    _one_tensor(input, other, "mul")
    return _binary(Mul, input, other)


def div(input, other, *, rounding_mode=None):
    """True division, as torch.div (either may be a number; no rounding_mode)."""
    _one_tensor(input, other, "div")
    _check_rounding_mode(rounding_mode)
    return _divide(input, other)


def pow(input, exponent):
    _one_tensor(input, exponent, "pow")
    return _binary(Pow, input, exponent)


def neg(x): return -_tensor(x, "neg")
def sign(x): return _tensor(x, "sign").sign()
def clone(x): return _tensor(x, "clone").clone()


def maximum(a, b): return _tensor(a, "maximum").maximum(b)
def minimum(a, b): return _tensor(a, "minimum").minimum(b)
def matmul(a, b): return _tensor(a, "matmul").matmul(b)
def reshape(x, shape): return _tensor(x, "reshape").reshape(shape)
def flatten(x, start_dim=0, end_dim=-1): return _tensor(x, "flatten").flatten(start_dim, end_dim)
def permute(x, dims): return _tensor(x, "permute").permute(dims)
def transpose(x, dim0, dim1): return _tensor(x, "transpose").transpose(dim0, dim1)
def unsqueeze(x, dim): return _tensor(x, "unsqueeze").unsqueeze(dim)
def squeeze(x, dim=None): return _tensor(x, "squeeze").squeeze(dim)
def narrow(x, dim, start, length): return _tensor(x, "narrow").narrow(dim, start, length)
def split(x, split_size_or_sections, dim=0):
    return _tensor(x, "split").split(split_size_or_sections, dim)
def chunk(x, chunks, dim=0): return _tensor(x, "chunk").chunk(chunks, dim)
def unbind(x, dim=0): return _tensor(x, "unbind").unbind(dim)


def where(condition, a, b):
    """a where condition holds, else b; condition is a bool Tensor, a and b Tensors or
    numbers of any dtypes (they meet in PyTorch's common dtype)."""
    condition = condition if isinstance(condition, Tensor) else Tensor(condition)
    if condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {condition.dtype}")
    a, b = _operand(a), _operand(b)
    dtype = result_type(a, b)
    a, b = (_as_tensor(v, dtype, condition) for v in (a, b))
    return Where.apply(condition, a, b)


def _as_tensor(value, dtype, like):
    """value as a Tensor of dtype on like's device (a number becomes a 0-d array: CuPy's
    where takes arrays only)."""
    if isinstance(value, Tensor):
        return value.to(dtype=dtype)
    return Tensor(like.new_zeros(())._data.astype(dtype) + value)


def _joinable(tensors, name):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{name}: expected a non-empty list of Tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected Tensors, got {type(t).__name__}")
    dtype = promote_types(*(t.dtype for t in tensors))   # cat([ones(2), arange(2)]): float32
    return [t.to(dtype=dtype) for t in tensors]


def cat(tensors, dim=0):
    """Join tensors along an existing dim (1-D empty tensors are skipped, as in PyTorch)."""
    tensors = _joinable(tensors, "cat")
    shaped = [t for t in tensors if t.shape != (0,)] or tensors[:1]
    if shaped[0].ndim == 0:
        raise RuntimeError("zero-dimensional tensor cannot be concatenated")
    axis = _check_dim(dim, shaped[0].ndim)
    for t in shaped[1:]:
        if t.ndim != shaped[0].ndim or _mismatch(t.shape, shaped[0].shape, axis):
            raise RuntimeError(f"cat: sizes must match except in dimension {axis}; got "
                               f"{tuple(shaped[0].shape)} and {tuple(t.shape)}")
    return Cat.apply(*tensors, axis=axis)


def _mismatch(a, b, skip):
    """Whether shapes a and b differ anywhere but at dim ``skip``."""
    return len(a) != len(b) or bool([i for i in range(len(a)) if i != skip and a[i] != b[i]])


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dim."""
    tensors = _joinable(tensors, "stack")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{tuple(tensors[0].shape)} and {tuple(t.shape)}")
    return Stack.apply(*tensors, axis=_check_dim(dim, tensors[0].ndim + 1))
