"""Layers: Linear, Embedding, activations, Softmax, Dropout, BatchNorm1d, Flatten,
Unflatten, Identity."""
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
    ((2, 3), (5, 2))
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
    (2, 2, 3)
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
    (3, 2, 5)
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
                             f"got {x.shape}")
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
