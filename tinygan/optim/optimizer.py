"""The Optimizer base: parameter groups, zero_grad, and state you can save and resume.

State lives in a list with one dict per parameter, in parameter order (never
keyed by ``id()``, which changes between runs), so ``state_dict()`` maps cleanly
onto a checkpoint and back onto a fresh model.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import zero_grads
from ..tensor import Tensor


class Optimizer:
    def __init__(self, params, defaults):
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = dict(defaults)
        self.param_groups = []
        for group in groups:
            group = {**self.defaults, **group, "params": list(group["params"])}
            for p in group["params"]:
                if not isinstance(p, Tensor):
                    raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
                if not p.is_leaf:    # a frozen parameter (requires_grad=False) is fine:
                    raise ValueError("can't optimize a non-leaf Tensor (one computed from "
                                     "others); pass the parameters themselves")  # it never gets a grad
            self.param_groups.append(group)
        seen = set()
        for group in self.param_groups:
            ids = {id(p) for p in group["params"]}
            if ids & seen:      # PyTorch's error: such a parameter would be updated twice
                raise ValueError("some parameters appear in more than one parameter group")
            seen |= ids
        self.state = [{} for _ in self._params()]

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def _each_param(self):
        """(group, param, state) for every parameter that has a gradient."""
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    yield group, p, self.state[index]
                index += 1

    def zero_grad(self, set_to_none=True):
        zero_grads(self._params(), set_to_none)

    def step(self):
        raise NotImplementedError

    # --- saving and resuming -----------------------------------------------------------
    def state_dict(self):
        """{"state": {index: {name: numpy array or number}}, "param_groups": [...]}.

        Arrays are host copies; hyper-parameters are plain numbers; "params" holds
        parameter indices, as in PyTorch.
        """
        state = {i: {k: (backend.to_numpy(v).copy() if hasattr(v, "dtype") and not
                         isinstance(v, np.generic) else v) for k, v in s.items()}
                 for i, s in enumerate(self.state) if s}
        groups, start = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": list(range(start, start + n))})
            start += n
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and per-parameter state onto this optimizer's params."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        for saved, group in zip(groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"loaded state dict has a group of {len(saved['params'])} "
                                 f"parameters where this optimizer has {len(group['params'])}")
            group.update({k: v for k, v in saved.items() if k != "params"})
        params = self._params()
        self.state = [{} for _ in params]
        for index, saved in state_dict["state"].items():
            p = params[int(index)]
            restored = {}
            for key, value in saved.items():
                if isinstance(value, numbers.Number):       # e.g. Adam's step count
                    restored[key] = value
                    continue
                if not _numeric(value):    # strings would be parsed by astype, or fail half-way
                    raise ValueError(f"optimizer state '{key}' of parameter {index} is an "
                                     f"array of {value.dtype}; expected numbers")
                if tuple(np.shape(value)) != p.shape:
                    raise ValueError(f"optimizer state '{key}' of parameter {index} has shape "
                                     f"{tuple(np.shape(value))}; the parameter has "
                                     f"{tuple(p.shape)}")
                # a row-major copy of our own: never the caller's array, never column-major
                restored[key] = backend.to_device(value, p.device).astype(
                    p.dtype, order="C", copy=True)
            self.state[int(index)] = restored

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in group.items() if k != "params"]
        return "\n".join(lines + [")"])


def _numeric(value):
    """Whether an array (or a list) holds numbers: bool, int or float."""
    dtype = getattr(value, "dtype", None)
    return dtype is None or np.dtype(dtype).kind in "biuf"
