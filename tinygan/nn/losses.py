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
