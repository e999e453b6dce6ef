"""Checkpoints: one ``.npz`` with models, optimizers, counters and random states.

Arrays are stored under ``<name>/<key>`` (e.g. ``generator/gen.0.0.weight``,
``opt_g/state/3/exp_avg``); everything else (epoch, step, hyper-parameters,
random-generator states, the run's settings) is one JSON string under
``meta``. Reading uses ``allow_pickle=False``: a checkpoint can hold numbers and
text, never code. Writing goes to a temporary file in the same folder and is
then renamed over the old one (``os.replace``), so a run killed mid-write leaves
the previous checkpoint whole.

Reading checks before it allocates: each member's header (shape and dtype) is read first and
must declare exactly the bytes the member holds, within a bound no tinygan checkpoint comes
near, so a small crafted file cannot make the reader inflate or allocate gigabytes. Arrays are
read only when asked for (``state_dict``), after the caller has compared their shapes with the
model the metadata describes (``check_module``).
"""
from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.lib.format as npy_format

from .cli import printable
from .files import atomic_write

FORMAT = "tinygan-checkpoint-1"
# The largest array a checkpoint may hold: the course's models at hidden_dim 1024 need
# 128 MiB for their largest layer; hidden_dim 128 (the default) 3 MiB.
MAX_ARRAY_BYTES = 256 << 20
MAX_META_BYTES = 16 << 20          # the JSON of settings, counters and random states
MAX_DEFLATE_RATIO = 50             # float weights deflate less than 2:1; a zip bomb by 1000:1


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


# === an .npz read header first =================================================================

class Member(NamedTuple):
    """One array of an .npz as its header declares it (read before any data)."""
    shape: tuple
    dtype: np.dtype
    member: str          # its name in the zip archive


def inspect_npz(path, what="tinygan checkpoint", limit=MAX_ARRAY_BYTES):
    """name -> :class:`Member` for each array of the .npz at ``path``, from the headers only.

    Raises ValueError naming the file and the member when one is not an array, is
    pickled, is named twice, declares other bytes than it holds, or more than ``limit``
    (or inflates at a zip bomb's ratio): nothing of its data has been read or allocated.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members, seen = {}, set()
            for info in archive.infolist():
                name = info.filename
                if name in seen:
                    raise ValueError(f"{path}: the member {printable(name)} is in it twice "
                                     f"(a tampered {what}: which one counts is ambiguous)")
                seen.add(name)
                members[name[:-4] if name.endswith(".npy") else name] = _member(
                    path, archive, info, what, limit)
            return members
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path} is not a readable {what} (.npz): {exc}") from None


def _member(path, archive, info, what, limit):
    name = printable(info.filename)
    if not info.filename.endswith(".npy"):
        raise ValueError(f"{path}: the member {name} is not an array (.npy); a {what} "
                         "holds arrays only")
    bound = MAX_META_BYTES if info.filename == "meta.npy" else limit
    if info.file_size > bound:
        raise ValueError(f"{path}: the member {name} declares {info.file_size} bytes, more "
                         f"than a {what} needs (at most {bound}); not read")
    if (info.compress_type != zipfile.ZIP_STORED and info.file_size > 1 << 20
            and info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1)):
        raise ValueError(f"{path}: the member {name} inflates {info.compress_size} bytes to "
                         f"{info.file_size} (a zip bomb's ratio); not read")
    try:
        with archive.open(info) as f:
            version = npy_format.read_magic(f)
            read_header = (npy_format.read_array_header_1_0 if version == (1, 0)
                           else npy_format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
            header = f.tell()
    except Exception as exc:      # numpy's and zipfile's reasons for a bad header
        raise ValueError(f"{path}: the member {name} is not a readable array: "
                         f"{printable(str(exc))}") from None
    if dtype.hasobject:
        raise ValueError(f"{path} holds pickled (object) arrays ({name}), which tinygan "
                         "never loads")
    declared = math.prod(shape) * dtype.itemsize
    if header + declared != info.file_size:
        raise ValueError(f"{path}: the member {name} declares shape {shape} of {dtype} "
                         f"({declared} bytes) but holds {info.file_size - header} bytes; "
                         "not read")
    return Member(tuple(shape), dtype, info.filename)


def read_members(path, members, names):
    """name -> array for ``names``, checked against the headers :func:`inspect_npz` read."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in names:
                member = members[name]
                with archive.open(member.member) as f:
                    array = npy_format.read_array(f, allow_pickle=False)
                if array.shape != member.shape or array.dtype != member.dtype:
                    raise ValueError(f"{path} changed while it was read ({printable(name)})")
                arrays[name] = array
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read its arrays: {printable(str(exc))}") from None
    return arrays


class Checkpoint:
    """A loaded checkpoint: ``meta`` (dict) and ``restore(modules=..., optimizers=...)``.
    Arrays are read from the file when asked for; their shapes are known at once."""

    def __init__(self, path, members, info):
        self.path, self._members, self._info = path, members, info
        self.meta = info["meta"]

    @property
    def _arrays(self):
        return read_members(self.path, self._members, list(self._members))

    def modules(self):
        """The names of what it holds: modules and optimizers (e.g. generator, opt_g)."""
        return sorted({key.split("/")[0] for key in self._members} | set(self._info["optimizers"]))

    def shapes(self, name):
        """key -> :class:`Member` (shape, dtype) of module ``name``'s arrays, none read."""
        prefix = f"{name}/"
        return {k[len(prefix):]: v for k, v in self._members.items()
                if k.startswith(prefix) and not k.startswith(f"{name}/state/")}

    def check_module(self, name, expected, described="its metadata"):
        """ValueError unless module ``name``'s arrays are exactly ``expected`` (key ->
        (shape, dtype)): run it before the model is built, so that sizes read from the
        metadata are never allocated unless the file holds arrays of those sizes."""
        from .weights import first_mismatch
        problem = first_mismatch(expected, self.shapes(name))
        if problem:
            raise ValueError(f"{self.path}: its {name} does not match the model "
                             f"{described} describes: {printable(problem, 400)}")

    def state_dict(self, name):
        found = self.shapes(name)
        if not found:
            raise KeyError(f"checkpoint {self.path} has no module '{name}'; it has "
                           f"{printable(sorted({k.split('/')[0] for k in self._members}))}")
        arrays = read_members(self.path, self._members, [f"{name}/{k}" for k in found])
        return {k: arrays[f"{name}/{k}"] for k in found}

    def optimizer_state_dict(self, name):
        if name not in self._info["optimizers"]:
            raise KeyError(f"checkpoint {self.path} has no optimizer '{name}'")
        saved = self._info["optimizers"][name]
        state = {}
        prefix = f"{name}/state/"
        keys = [key for key in self._members if key.startswith(prefix)]
        for key, value in read_members(self.path, self._members, keys).items():
            if key.startswith(prefix):
                index, entry = key[len(prefix):].split("/", 1)
                state.setdefault(int(index), {})[entry] = value
        for index, entries in saved["scalars"].items():
            state.setdefault(int(index), {}).update(entries)
        return {"state": state, "param_groups": saved["param_groups"]}

    def restore(self, modules=None, optimizers=None):
        """Load each module's and optimizer's state; a state that does not fit (a shape, a
        dtype) is a ValueError naming the file and the module or optimizer."""
        for name, module in (modules or {}).items():
            try:
                module.load_state_dict(self.state_dict(name))
            except (RuntimeError, ValueError, TypeError) as exc:
                raise ValueError(f"{self.path}: its {name} does not fit the model: "
                                 f"{printable(str(exc), 400)}") from None
        for name, optimizer in (optimizers or {}).items():
            try:
                optimizer.load_state_dict(self.optimizer_state_dict(name))
            except (RuntimeError, ValueError, TypeError, KeyError) as exc:
                raise ValueError(f"{self.path}: its optimizer {name} does not fit the model: "
                                 f"{printable(str(exc), 400)}") from None


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
    members = inspect_npz(path)
    if "meta" not in members:
        raise ValueError(f"{path} is an .npz file but not a tinygan checkpoint (no 'meta')")
    meta = read_members(path, members, ["meta"]).pop("meta")
    del members["meta"]
    if meta.dtype.kind != "U" or meta.shape != ():
        raise ValueError(f"{path}: its 'meta' is {meta.dtype} {meta.shape}, expected one "
                         "JSON string")
    try:
        info = json.loads(str(meta))
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ValueError(f"{path}: its 'meta' is not readable JSON ({reason})") from None
    if not isinstance(info, dict):
        raise ValueError(f"{path}: its 'meta' is a JSON {type(info).__name__}, expected an "
                         "object with the checkpoint's format")
    if info.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown checkpoint format "
                         f"{printable(repr(info.get('format')))}, expected {FORMAT!r}")
    if not isinstance(info.get("meta"), dict) or not isinstance(info.get("optimizers"), dict):
        raise ValueError(f"{path}: its 'meta' lacks the sections 'meta' and 'optimizers' "
                         "(objects) a checkpoint has")
    return Checkpoint(path, members, info)
