"""Loss modules: thin wrappers over tinygan.nn.functional, with PyTorch's arguments."""
from __future__ import annotations

from . import functional as F
from .module import Module


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy on logits, in one numerically stable op.

    ℓ(x, y) = max(x, 0) - x·y + log(1 + exp(-|x|))  (= -[y log σ(x) + (1-y) log(1-σ(x))])

    >>> import tinygan as tg
    >>> logits = tg.tensor([0.0, 1e4, -1e4])
    >>> tg.nn.BCEWithLogitsLoss(reduction="none")(logits, tg.tensor([1.0, 1.0, 1.0]))
    tensor([6.9315e-01, 0.0000e+00, 1.0000e+04])
    """

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__()
        self.weight, self.reduction, self.pos_weight = weight, reduction, pos_weight

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)


class BCELoss(Module):
    """Binary cross-entropy on probabilities; each log is clamped at -100 as in PyTorch."""

    def __init__(self, weight=None, reduction="mean"):
        super().__init__()
        self.weight, self.reduction = weight, reduction

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class MSELoss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class NLLLoss(Module):
    """-input[target] on log-probabilities (class dim 1), with weight and ignore_index."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__()
        F._no_legacy(size_average, reduce, "NLLLoss")
        self.register_buffer("weight", weight)       # a buffer, as in PyTorch
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(Module):
    """Cross-entropy of softmax(logits) (class dim 1) against class indices (int64) or
    class probabilities: log_softmax then nll_loss, never log of an underflowed 0.

    >>> import tinygan as tg
    >>> logits = tg.tensor([[1e4, 0.0], [0.0, 0.0]])
    >>> tg.nn.CrossEntropyLoss(reduction="none")(logits, tg.tensor([1, 0]))
    tensor([1.0000e+04, 6.9315e-01])
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__()
        F._no_legacy(size_average, reduce, "CrossEntropyLoss")
        self.register_buffer("weight", weight)
        self.ignore_index, self.reduction = ignore_index, reduction
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)
