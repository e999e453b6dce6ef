"""An exponential moving average (EMA) of a model's weights, with BatchNorm statistics of its own.

    ema = EMA(G, decay=0.999)        # a copy of G: arrays of its own
    ema.update(G)                    # after each G step
    ema.recompute_batch_norm(batches)    # before sampling: statistics for the averaged weights
    ema.averaged.eval()(z)           # samples, as from G

The average of the last few thousand steps' weights often samples better than the weights of
the last step, which oscillate with the game. BatchNorm's running statistics belong to the
weights that produced them: the averaged weights, sampled in eval mode with the live model's
statistics, see activations of other means and scales. So they get their own, as PyTorch's
``torch.optim.swa_utils.update_bn`` computes them: forward passes in train mode.
"""
from __future__ import annotations

import copy
import math

from . import nn
from .tensor import Tensor, no_grad


class EMA:
    """θ_ema ← decay·θ_ema + (1 − decay)·θ at each :meth:`update`, as PyTorch's
    ``AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))`` (default
    ``use_buffers=False``) computes it:

    - the first update copies the model's parameters (PyTorch's ``n_averaged == 0``): the
      average starts from the weights after the first step, not from the initial ones;
    - each later one moves an averaged parameter toward the model's as PyTorch's lerp does,
      θ_ema + (1 − decay)·(θ − θ_ema), with (1 − decay) in the parameter's dtype;
    - buffers are not averaged: each update copies the model's (BatchNorm's running
      statistics), as AveragedModel does, and :meth:`recompute_batch_norm` replaces them
      with the averaged weights' own before sampling.

    ``averaged`` is the averaged module (a deep copy of ``model``, no gradients);
    ``n_averaged`` the updates so far. :meth:`state` and :meth:`load_state` carry both
    numbers across a checkpoint; the module's arrays go as any module's do.

    >>> import tinygan as tg
    >>> net = tg.nn.Linear(1, 1, bias=False)
    >>> ema = EMA(net, decay=0.5)
    >>> for w in (4.0, 0.0, 2.0):
    ...     _ = net.weight.data.fill_(w)
    ...     ema.update(net)
    >>> ema.averaged.weight.item()       # 4, then ½·4 + ½·0 = 2, then ½·2 + ½·2
    2.0
    """

    def __init__(self, model, decay):
        if not 0 < decay < 1:                  # nan fails too
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay, self.n_averaged = float(decay), 0
        self.averaged = copy.deepcopy(model)
        self.averaged.requires_grad_(False)
        for p in self.averaged.parameters():
            p.grad = None
        self.batch_norm_current = False        # whether BatchNorm's statistics are its own

    @no_grad()
    def update(self, model):
        """Average ``model``'s current parameters in (and copy its buffers)."""
        pairs = list(zip(self.averaged.parameters(), model.parameters(), strict=True))
        for mine, theirs in pairs:
            if self.n_averaged == 0:
                mine.copy_(theirs)
            else:                              # lerp: mine + w·(theirs − mine), w = 1 − decay
                mine.add_((theirs - mine) * (1 - self.decay))
        for mine, theirs in zip(self.averaged.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)
        self.n_averaged += 1
        self.batch_norm_current = False

    @no_grad()
    def recompute_batch_norm(self, batches):
        """Running statistics for the averaged weights, as PyTorch's ``update_bn``: each
        BatchNorm's reset (mean 0, variance 1, count 0) with momentum None (a cumulative
        average), then the averaged model in train mode over ``batches``, each a Tensor or
        a tuple of the model's inputs; momentum and mode are restored after. A model without
        BatchNorm is left as it is, its batches never drawn."""
        norms = [m for m in self.averaged.modules()
                 if isinstance(m, nn.BatchNorm1d) and m.track_running_stats]   # and 2d
        if norms:
            momenta = [m.momentum for m in norms]
            for m in norms:
                m.running_mean.zero_(), m.running_var.fill_(1), m.num_batches_tracked.zero_()
                m.momentum = None
            was_training = self.averaged.training
            self.averaged.train()
            try:
                for inputs in batches:
                    self.averaged(*(inputs,) if isinstance(inputs, Tensor) else inputs)
            finally:
                for m, momentum in zip(norms, momenta):
                    m.momentum = momentum
                self.averaged.train(was_training)
        self.batch_norm_current = True

    def state(self):
        """The decay and the count of updates (JSON-friendly), beside the module's arrays."""
        return {"decay": self.decay, "n_averaged": self.n_averaged}

    def load_state(self, state):
        """Restore what :meth:`state` returned; ValueError for values it could not hold."""
        decay, count = state.get("decay"), state.get("n_averaged")
        if not (isinstance(decay, float) and 0 < decay < 1 and math.isfinite(decay)
                and type(count) is int and count >= 0):
            raise ValueError(f"an EMA's state holds decay in (0, 1) and a count of updates; "
                             f"got decay {repr(decay):.40}, n_averaged {repr(count):.40}")
        self.decay, self.n_averaged = decay, count
        self.batch_norm_current = False
