"""What the example programs share: the --backend choice and one-line errors."""
from __future__ import annotations

import sys

from .. import backend

DEVICES = {"numpy": "cpu", "cupy": "cuda"}  # --backend name -> tinygan device


def fail(message):
    """One line on stderr and exit code 2: a problem the user can fix, so no traceback."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def choose_device(backend_name):
    """The device for --backend, or a one-line error saying why "cuda" cannot be used."""
    device = DEVICES[backend_name]
    if device == "cuda" and not backend.cuda_available():
        fail(f"--backend cupy: {backend.cuda_unavailable_reason()}")
    return device
