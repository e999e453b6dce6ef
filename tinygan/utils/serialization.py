"""``tg.save`` and ``tg.load``: a state_dict (or any tree of them) in one ``.npz``, never pickled.

What can be saved: Tensors, NumPy (or CuPy) arrays and scalars, Python numbers, strings,
booleans and None, in dicts (string or integer keys), lists and tuples, nested at will:
a module's ``state_dict()``, an optimizer's, a scheduler's, or a dict holding all three.
Each array is one entry of the ``.npz``; the tree, with each array's place, is one JSON
string under ``meta`` (the convention of :mod:`tinygan.utils.checkpoint`). Reading uses
``allow_pickle=False``, so a file can hold numbers and text, never code, and an object
of any other type is refused when saving rather than pickled. The file is written
atomically (a temporary file beside it, then renamed).

>>> import tempfile, os
>>> import tinygan as tg
>>> model = tg.nn.Linear(3, 2)
>>> opt = tg.optim.Adam(model.parameters(), lr=1e-3)
>>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
>>> tg.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3}, path)
>>> saved = tg.load(path)
>>> sorted(saved["model"]), saved["epoch"], saved["opt"]["param_groups"][0]["betas"]
(['bias', 'weight'], 3, (0.9, 0.999))
>>> model.load_state_dict(saved["model"])
([], [])
"""
from __future__ import annotations

import json
import numbers
import os
import zipfile
from pathlib import Path

import numpy as np

from .. import backend
from ..nn import Parameter
from ..tensor import Tensor
from .checkpoint import inspect_npz, read_members, write_npz_atomically
from .cli import printable

FORMAT = "tinygan-save-1"
META = "meta"
MAX_LOAD_BYTES = 1 << 30   # the largest array tg.load reads; its header is checked first

_SAVABLE = ("Tensors, NumPy/CuPy arrays, numbers, strings, booleans and None, in dicts "
            "(str or int keys), lists and tuples")


# --- saving -------------------------------------------------------------------------------

def save(obj, f):
    """Write ``obj`` (a state_dict, or a tree of them) to the file ``f`` as one ``.npz``.

    Raises TypeError, naming the type and where it sits, for anything that would need
    pickling: tinygan refuses to pickle on purpose (loading a pickle can run code).
    """
    path = _path(f, "save")
    arrays = {}
    tree = _encode(obj, arrays, "obj")
    arrays[META] = np.array(json.dumps({"format": FORMAT, "object": tree}))
    write_npz_atomically(path, arrays)


def _encode(value, arrays, where):
    """The JSON form of value; arrays go into ``arrays`` under "a0", "a1", ..."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Tensor):
        return {"type": "parameter" if isinstance(value, Parameter) else "tensor",
                "key": _store(value._data, arrays, where), "device": value.device,
                "requires_grad": value.requires_grad}
    if isinstance(value, np.generic):          # a NumPy scalar keeps its dtype
        return {"type": "scalar", "key": _store(np.asarray(value), arrays, where)}
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "dtype") and hasattr(value, "shape"):   # numpy or cupy array
        return {"type": "array", "key": _store(value, arrays, where),
                "device": backend.device_of(value)}
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"tg.save: the dict at {where} has a key {key!r} of type "
                                f"{type(key).__name__}; only str and int keys can be saved")
            items.append([key, _encode(item, arrays, f"{where}[{key!r}]")])
        return {"type": "dict", "items": items}
    if isinstance(value, (list, tuple)):
        return {"type": type(value).__name__,
                "items": [_encode(item, arrays, f"{where}[{i}]") for i, item in enumerate(value)]}
    hint = (" (save its state_dict(): tg.save(model.state_dict(), path))"
            if hasattr(value, "state_dict") else "")
    raise TypeError(f"tg.save cannot store {where}, an object of type "
                    f"{type(value).__module__}.{type(value).__qualname__}{hint}. It saves "
                    f"{_SAVABLE}. Anything else would need pickling, which tinygan refuses "
                    "on purpose: loading a pickle can run arbitrary code.")


def _store(array, arrays, where):
    host = backend.to_numpy(array)
    if host.dtype.hasobject:
        raise TypeError(f"tg.save cannot store {where}, an array of dtype object: it would "
                        "need pickling, which tinygan refuses on purpose")
    key = f"a{len(arrays)}"
    arrays[key] = host
    return key


# --- loading ------------------------------------------------------------------------------

def load(f, map_location=None):
    """Read what :func:`save` wrote (never unpickles).

    Tensors come back on the device they were saved from, or on ``map_location``
    ("cpu" or "cuda") when given; arrays come back as NumPy arrays, or CuPy arrays
    where they were CuPy's (also moved by ``map_location``).
    """
    path = _path(f, "load")
    if not path.exists():
        raise FileNotFoundError(f"tg.load: no such file: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"tg.load: {path} is a folder, not a file written by tg.save")
    device = None if map_location is None else backend.normalize_device(map_location)
    if _is_pytorch_pickle(path):
        raise ValueError(f"tg.load: {path} is a PyTorch pickle (torch.save's format), which "
                         "tinygan never unpickles; convert it once where PyTorch runs: "
                         "safetensors.torch.save_file(torch.load(path), 'weights.safetensors'), "
                         "then tinygan.utils.weights.load_weights(model, 'weights.safetensors')")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"tg.load: {path} is not an .npz file written by tg.save "
                         "(not a zip archive)")
    try:
        members = inspect_npz(path, "file written by tg.save", MAX_LOAD_BYTES)
        arrays = read_members(path, members, list(members))
    except ValueError as exc:
        raise ValueError(f"tg.load: {exc} (not an .npz file written by tg.save as it "
                         "wrote it)") from None
    except Exception as exc:
        raise ValueError(f"tg.load: {path} is not an .npz file written by tg.save "
                         f"({type(exc).__name__}: {printable(str(exc))})") from None
    if META not in arrays:
        raise ValueError(f"tg.load: {path} is an .npz file but not one written by tg.save "
                         f"(it has no '{META}' entry; its entries: {sorted(arrays)[:8]})")
    try:
        info = json.loads(str(arrays[META]))
        found = info.get("format")
    except (ValueError, AttributeError, RecursionError) as exc:
        raise ValueError(f"tg.load: {path} has a '{META}' entry that is not tg.save's "
                         "JSON") from exc
    if found != FORMAT:
        hint = (" It is a training checkpoint: read it with "
                "tinygan.utils.checkpoint.load_checkpoint." if found == "tinygan-checkpoint-1"
                else "")
        raise ValueError(f"tg.load: {path} has format {found!r}, expected {FORMAT!r}.{hint}")
    if not isinstance(info, dict) or "object" not in info:
        raise ValueError(f"tg.load: {path}: its '{META}' has no 'object' (the saved tree)")
    try:
        return _decode(info["object"], arrays, device)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        if isinstance(exc, RecursionError):
            reason = "nested too deeply"
        elif isinstance(exc, KeyError):      # its message would be the bare key
            reason = f"an entry of its '{META}' lacks the field {printable(repr(exc.args[0]))}"
        else:
            reason = printable(exc.args[0] if exc.args else exc)
        raise ValueError(f"tg.load: {path} was altered after tg.save wrote it: "
                         f"{reason}") from None


def _is_pytorch_pickle(path) -> bool:
    """torch.save's files: a zip holding ``<name>/data.pkl``, or (before PyTorch 1.6) a bare
    pickle, which starts with the PROTO opcode 0x80. Only names and two bytes are read."""
    with open(path, "rb") as file:
        if file.read(1) == b"\x80":
            return True
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


_ARRAY_KINDS = ("scalar", "array", "tensor", "parameter")


def _decode(node, arrays, device):
    if not isinstance(node, dict):
        return node          # None, bool, int, float, str
    kind = node.get("type")
    if kind == "dict":
        return {key: _decode(item, arrays, device) for key, item in node["items"]}
    if kind in ("list", "tuple"):
        items = [_decode(item, arrays, device) for item in node["items"]]
        return items if kind == "list" else tuple(items)
    if kind not in _ARRAY_KINDS:
        raise ValueError(f"an entry of unknown type {kind!r}")
    key = node.get("key")
    if key == META or key not in arrays:
        raise ValueError(f"an entry points at {key!r}, which is not one of its arrays")
    array = arrays[key]
    if kind in ("tensor", "parameter") and array.dtype.kind not in "biuf":
        raise ValueError(f"the tensor at {key!r} is an array of {array.dtype}, which no "
                         "Tensor holds")
    if kind == "scalar":
        return array[()]
    target = device or node["device"]
    if kind == "array":
        return array if target == backend.CPU else backend.to_device(array, target)
    kind = Parameter if kind == "parameter" else Tensor
    return kind(backend.to_device(array, target), requires_grad=node["requires_grad"])


def _path(f, verb):
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(f"tg.{verb} takes a file path (str or pathlib.Path), "
                        f"got {type(f).__name__}")
    return Path(f).expanduser()
