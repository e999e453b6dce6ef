"""Adam (Kingma & Ba, 2015) with PyTorch's update: eps added after the bias-corrected root."""
from __future__ import annotations

import math

from ..autograd import no_grad
from ..backend import array_module
from .optimizer import Optimizer


class Adam(Optimizer):
    """m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;
    p ← p - lr · (m / (1-β1^t)) / (√(v / (1-β2^t)) + eps).

    ``weight_decay`` adds wd·p to g (L2, as torch.optim.Adam; not AdamW). The
    constants are Python floats (double precision), so (1-β2) is exactly 0.001,
    not float32's 0.0009999871.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        beta1, beta2 = betas
        if lr < 0 or eps < 0 or weight_decay < 0 or not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam: invalid hyper-parameters lr={lr}, betas={betas}, eps={eps}, "
                             f"weight_decay={weight_decay} (betas must be in [0, 1))")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    @no_grad()
    def step(self):
        for group, p, state in self._each_param():
            g = p.grad.data
            if group["weight_decay"]:
                g = g + group["weight_decay"] * p.data
            if not state:
                state["step"] = 0
                xp = array_module(g)
                state["exp_avg"] = xp.zeros_like(g)
                state["exp_avg_sq"] = xp.zeros_like(g)
            beta1, beta2 = group["betas"]
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * (g * g)
            step_size = group["lr"] / (1 - beta1 ** t)
            denom = (v ** 0.5) / math.sqrt(1 - beta2 ** t) + group["eps"]
            p.data -= step_size * (m / denom)
