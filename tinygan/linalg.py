"""torch.linalg's norms, for the cases the course uses: ``tg.linalg.norm(x)`` and
``tg.linalg.vector_norm(x, ord, dim)``, vector norms of order 2 (√Σx², gradient 0 at 0, as
PyTorch's) and 1 (Σ|x|) over all elements or some dims; Frobenius is the 2-norm over two
dims. Other orders and the matrix norms (spectral, nuclear, ...) are not supported.
"""
from __future__ import annotations

import numbers

from .dtypes import is_number
from .tensor import Tensor

__all__ = ["norm", "vector_norm"]


def vector_norm(x, ord=2, dim=None, keepdim=False, *, out=None, dtype=None):
    """(Σ|x|^ord)^(1/ord) over ``dim`` (None: every element), ord 2 or 1; with ``dtype``
    the input is cast first.

    >>> import tinygan as tg
    >>> tg.linalg.vector_norm(tg.tensor([[3.0, 4.0], [0.0, 1.0]]), dim=1)
    tensor([5., 1.])
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"linalg_vector_norm(): argument 'input' (position 1) must be Tensor, "
                        f"not {type(x).__name__}")
    if not is_number(ord) or isinstance(ord, bool):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' must be Number, not "
                        f"{type(ord).__name__}")
    if out is not None:
        raise NotImplementedError("linalg.vector_norm: out= is not supported by tinygan; "
                                  "assign the result")
    if x.dtype.kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor "
                           f"as input. Got {x.dtype}")
    if ord not in (1, 2):
        raise NotImplementedError(f"linalg.vector_norm: ord={ord!r} is not supported by "
                                  "tinygan; use ord=2 or ord=1")
    return x.norm(ord, dim, keepdim, dtype)   # dtype: a cast first, checked there


def norm(A, ord=None, dim=None, keepdim=False, *, out=None, dtype=None):
    """The 2-norm of every element (ord None, dim None, any number of dims), a vector norm
    over one dim, or the Frobenius norm over two (ord None or 'fro'), as torch.linalg.norm.

    >>> import tinygan as tg
    >>> tg.linalg.norm(tg.tensor([[3.0, 4.0], [0.0, 0.0]]))
    tensor(5.)
    """
    if isinstance(dim, numbers.Integral):
        dim = (dim,)
    if dim is not None and len(dim) not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. "
                           f"Got {list(dim)}")
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, out=out, dtype=dtype)
    if dim is None:
        if A.ndim not in (1, 2):
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input "
                               f"must be 1D or 2D. Got {A.ndim}D.")
        dim = tuple(range(A.ndim))
    if len(dim) == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"linalg.norm: ord={ord!r} is a matrix norm: it takes 2 dims "
                               f"(a 2-D input, or dim=(d0, d1))")
        return vector_norm(A, ord, dim, keepdim, out=out, dtype=dtype)
    if ord == "fro":
        return vector_norm(A, 2, dim, keepdim, out=out, dtype=dtype)
    raise NotImplementedError(f"linalg.norm: the matrix norm ord={ord!r} is not supported by "
                              "tinygan; use ord=None or 'fro' (√Σx² over the two dims)")
