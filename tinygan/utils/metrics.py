"""Per-step training metrics that stay on the device until a log interval.

Reading a loss with ``.item()`` every step forces the GPU to finish and copies to
the host each time. Instead each step writes its scalars into a small device
buffer; once per interval the whole buffer is copied at once (one transfer),
checked for NaN/inf, and averaged into one record.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .. import backend
from ..tensor import no_grad
from .files import atomic_write


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step and the values."""


class DeviceMetrics:
    """A device buffer of ``every`` rows, one per step, of the scalars ``names``."""

    def __init__(self, names, every, device):
        if every < 1:
            raise ValueError(f"log interval must be at least 1 step, got {every}")
        self.names, self.every = tuple(names), every
        self._rows = backend.xp_for(device).zeros((every, len(self.names)), np.float32)
        self._filled = 0

    def __len__(self):
        """How many steps are buffered (flush empties it)."""
        return self._filled

    def add(self, *values):
        """One step's scalars (0-d Tensors on the device), in ``names`` order.

        Returns True when the buffer is full and should be flushed.
        """
        with no_grad():
            row = self._rows[self._filled]
            for i, value in enumerate(values):
                row[i] = value._data       # device to device: no host copy
        self._filled += 1
        return self._filled == self.every

    def flush(self, step, epoch):
        """Copy the buffered rows to the host, check them, and return their mean as a record
        (None when nothing is buffered). ``step`` is the step of the last row."""
        if self._filled == 0:
            return None
        rows = backend.to_numpy(self._rows[:self._filled])   # the one transfer per interval
        first_step = step - self._filled + 1
        self._filled = 0
        bad = ~np.isfinite(rows).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            values = ", ".join(f"{name} {v:.4g}" for name, v in zip(self.names, rows[i]))
            raise TrainingDiverged(f"training diverged at step {first_step + i} (epoch {epoch}): "
                                   f"{values}; the last checkpoint is unchanged. "
                                   "Try a smaller --lr.")
        return {"step": step, "epoch": epoch,
                **{name: float(v) for name, v in zip(self.names, rows.mean(axis=0))}}

    def state_dict(self):
        """The rows of the interval in progress (a host copy), so a resumed run logs the
        same records as one never stopped."""
        return {"rows": backend.to_numpy(self._rows[:self._filled]).tolist()}

    def load_state_dict(self, state):
        """Put back the rows :meth:`state_dict` returned."""
        rows = np.asarray(state["rows"], dtype=np.float32).reshape(-1, len(self.names))
        self._filled = len(rows)
        if self._filled:
            self._rows[:self._filled] = backend.to_device(rows, backend.device_of(self._rows))


def read_metrics_upto(path, step, rewrite=True, warn=None):
    """The records of a metrics.jsonl file up to ``step``, dropping later lines from the
    file too (unless ``rewrite`` is False): a run killed after its last checkpoint wrote
    lines its resumed run rewrites.

    A last line cut short (a run killed while appending it) is dropped, with a one-line
    warning through ``warn`` (default: stderr); an unreadable line before the last one
    raises ValueError naming the file and the line number.
    """
    path = Path(path)
    if not path.exists():
        return []
    # bytes that are not UTF-8 make their line unreadable, reported below with its number
    lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    records = []
    for i, (n, line) in enumerate(numbered):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError("no integer 'step'")
        except ValueError as exc:
            if i < len(numbered) - 1:
                raise ValueError(f"{path}, line {n}: expected a JSON record with a 'step', "
                                 f"got {_shorten(line)} ({exc})") from None
            (warn or _warn)(f"warning: {path}, line {n}: dropped the last line, cut short "
                            f"(a run killed while writing it?): {_shorten(line)}")
            continue
        records.append(record)
    kept = [r for r in records if r["step"] <= step]
    if rewrite:
        with atomic_write(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)
    return kept


def _shorten(text, width=60):
    return repr(text if len(text) <= width else text[:width] + "...")


def _warn(message):
    print(message, file=sys.stderr)
