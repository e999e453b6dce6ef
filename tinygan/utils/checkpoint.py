"""Checkpoints: one ``.npz`` with models, optimizers, counters and random states.

Arrays are stored under ``<name>/<key>`` (e.g. ``generator/gen.0.0.weight``,
``opt_g/state/3/exp_avg``); everything else (epoch, step, hyper-parameters,
random-generator states, the run's settings) is one JSON string under
``meta``. Reading uses ``allow_pickle=False``: a checkpoint can hold numbers and
text, never code. Writing goes to a temporary file in the same folder and is
then renamed over the old one (``os.replace``), so a run killed mid-write leaves
the previous checkpoint whole.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .files import atomic_write

FORMAT = "tinygan-checkpoint-1"


def save_checkpoint(path, *, modules=None, optimizers=None, meta=None):
    """Write modules' and optimizers' state_dicts and ``meta`` (JSON-friendly) atomically."""
    arrays, info = {}, {"format": FORMAT, "meta": meta or {}, "optimizers": {}}
    for name, module in (modules or {}).items():
        for key, value in module.state_dict().items():
            arrays[f"{name}/{key}"] = value
    for name, optimizer in (optimizers or {}).items():
        state = optimizer.state_dict()
        scalars = {}
        for index, entries in state["state"].items():
            for key, value in entries.items():
                if isinstance(value, np.ndarray):
                    arrays[f"{name}/state/{index}/{key}"] = value
                else:
                    scalars.setdefault(str(index), {})[key] = value
        info["optimizers"][name] = {"param_groups": state["param_groups"], "scalars": scalars}
    arrays["meta"] = np.array(json.dumps(info))
    write_npz_atomically(path, arrays)


def write_npz_atomically(path, arrays):
    with atomic_write(path) as f:
        np.savez(f, **arrays)


class Checkpoint:
    """A loaded checkpoint: ``meta`` (dict) and ``restore(modules=..., optimizers=...)``."""

    def __init__(self, path, arrays, info):
        self.path, self._arrays, self._info = path, arrays, info
        self.meta = info["meta"]

    def modules(self):
        """The names of what it holds: modules and optimizers (e.g. generator, opt_g)."""
        return sorted({key.split("/")[0] for key in self._arrays} | set(self._info["optimizers"]))

    def state_dict(self, name):
        prefix = f"{name}/"
        found = {k[len(prefix):]: v for k, v in self._arrays.items()
                 if k.startswith(prefix) and not k.startswith(f"{name}/state/")}
        if not found:
            raise KeyError(f"checkpoint {self.path} has no module '{name}'; it has "
                           f"{sorted({k.split('/')[0] for k in self._arrays})}")
        return found

    def optimizer_state_dict(self, name):
        if name not in self._info["optimizers"]:
            raise KeyError(f"checkpoint {self.path} has no optimizer '{name}'")
        saved = self._info["optimizers"][name]
        state = {}
        prefix = f"{name}/state/"
        for key, value in self._arrays.items():
            if key.startswith(prefix):
                index, entry = key[len(prefix):].split("/", 1)
                state.setdefault(int(index), {})[entry] = value
        for index, entries in saved["scalars"].items():
            state.setdefault(int(index), {}).update(entries)
        return {"state": state, "param_groups": saved["param_groups"]}

    def restore(self, modules=None, optimizers=None):
        for name, module in (modules or {}).items():
            module.load_state_dict(self.state_dict(name))
        for name, optimizer in (optimizers or {}).items():
            optimizer.load_state_dict(self.optimizer_state_dict(name))


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint` (never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with open(path, "rb") as f:
        head = f.read(6)
    if head[:2] != b"PK":                      # an .npz is a zip archive
        kind = "an .npy array" if head == b"\x93NUMPY" else "not a zip archive"
        raise ValueError(f"{path} is not a tinygan checkpoint (.npz): it is {kind}; "
                         "expected the checkpoint.npz a training run wrote")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:    # numpy's message for object arrays talks of allow_pickle
        if "pickle" in str(exc):
            raise ValueError(f"{path} is an .npz file but not a tinygan checkpoint: it holds "
                             "pickled (object) arrays, which tinygan never loads") from exc
        raise ValueError(f"{path} is not a readable tinygan checkpoint (.npz): {exc}") from exc
    except Exception as exc:
        raise ValueError(f"{path} is not a readable tinygan checkpoint (.npz): {exc}") from exc
    if "meta" not in arrays:
        raise ValueError(f"{path} is an .npz file but not a tinygan checkpoint (no 'meta')")
    info = json.loads(str(arrays.pop("meta")))
    if info.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown checkpoint format {info.get('format')!r}, "
                         f"expected {FORMAT!r}")
    return Checkpoint(path, arrays, info)
