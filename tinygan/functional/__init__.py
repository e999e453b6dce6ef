"""The differentiable ops: each Function's forward beside its backward.

Forward and backward work on raw arrays (numpy on "cpu", cupy on "cuda"); the
array module is always taken from the array (``xp = array_module(x)``), never
assumed to be numpy. Broadcasting is undone once, by the autograd engine
(:func:`tinygan.autograd.unbroadcast`), so a backward returns gradients of the
broadcast shape. Each backward carries its math in one comment line.

One module per kind of op: arithmetic, elementwise, activations, reductions,
shapes (indexing and joining too), matmul, conversions (devices, dtypes,
comparisons). This package re-exports them all: ``tinygan.functional.sigmoid``.
"""
from .activations import (LeakyReLU, ReLU, Sigmoid, Softplus, Tanh, leaky_relu, relu, sigmoid,
                          softplus, stable_sigmoid, tanh)
from .arithmetic import Add, Div, Mul, Neg, Pow, Sub, add, div, mul, neg, pow, sub
from .conversions import Clone, To, clone, to
from .elementwise import (Abs, Clamp, Exp, Log, Log1p, Maximum, Minimum, Sqrt, Where, abs, clamp,
                          clip, compare, exp, log, log1p, maximum, minimum, sqrt, where)
from .matmul import Linear, MatMul, linear, matmul
from .reductions import (MaxAll, MaxDim, MaxResult, Mean, SqrtOfVar, Sum, Var, all, any, argmax,
                         argmin, max, mean, min, std, sum, var)
from .shapes import (Cat, CopySlices, GetItem, Permute, Reshape, SetItem, Stack, cat, device_index,
                     flatten, getitem, is_array_index, permute, reshape, squeeze, stack,
                     transpose, unsqueeze, view)

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "log1p", "sqrt", "abs", "clamp",
    "maximum", "minimum", "where", "relu", "leaky_relu", "sigmoid", "tanh", "softplus",
    "sum", "mean", "var", "std", "max", "min", "argmax", "argmin", "any", "all", "reshape", "view",
    "flatten", "transpose", "permute", "unsqueeze", "squeeze", "getitem", "cat", "stack",
    "matmul", "linear", "clone", "to", "compare",
]
