"""``tg.accelerator``: PyTorch's device-neutral questions (``torch.accelerator``), which
scripts such as pytorch/examples' ask before choosing where to run. tinygan's one
accelerator is "cuda".

>>> import tinygan as tg
>>> tg.accelerator.is_available() == tg.cuda.is_available()
True
"""
from __future__ import annotations

from . import backend


def is_available() -> bool:
    """True when device "cuda" works (see ``tg.cuda.is_available``)."""
    return backend.cuda_available()


def current_accelerator(check_available: bool = False):
    """``tg.device("cuda")`` when a GPU works, else None. PyTorch names the accelerator its
    build was compiled for (None on a CPU build); tinygan has no such build, so it answers as
    a CUDA build where "cuda" works and as a CPU build elsewhere, whatever check_available."""
    return backend.device(backend.CUDA) if is_available() else None


def device_count() -> int:
    """1 when "cuda" works, else 0 (tinygan drives one GPU)."""
    return 1 if backend.cuda_available() else 0


def synchronize(device=None) -> None:
    """Wait for the queued GPU work (a no-op without one)."""
    if backend.cuda_available():
        backend.synchronize(backend.CUDA)
