"""Stochastic gradient descent with momentum, dampening, weight decay and Nesterov (PyTorch's)."""
from __future__ import annotations

from ..autograd import increment_version
from ..tensor import no_grad
from .optimizer import Optimizer


class SGD(Optimizer):
    """p ← p - lr·d, where d = g + wd·p, or with momentum μ: b ← μ·b + (1 - dampening)·d,
    d ← b (or d + μ·b with Nesterov). The first step sets b = d, as PyTorch does."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        if lr < 0.0:                          # PyTorch's checks and words
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    @no_grad()
    def step(self):
        for group, p, state in self._each_param():
            d = p.grad._data
            if group["weight_decay"]:
                d = d + group["weight_decay"] * p._data
            momentum = group["momentum"]
            if momentum:
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = d.copy()
                else:
                    buf = state["momentum_buffer"]
                    buf *= momentum
                    buf += (1 - group["dampening"]) * d
                buf = state["momentum_buffer"]
                d = d + momentum * buf if group["nesterov"] else buf
            p._data -= group["lr"] * d
            increment_version(p)      # a graph that saved p must see the change
