"""``tg.cuda``: PyTorch's questions about the GPU, answered by the backend.

>>> import tinygan as tg
>>> tg.cuda.is_available() in (True, False)
True
>>> tg.cuda.device_count() == (1 if tg.cuda.is_available() else 0)
True
"""
from __future__ import annotations

from . import backend


def is_available() -> bool:
    """True when device "cuda" works: CuPy installed, a driver and a GPU
    (``backend.cuda_unavailable_reason()`` says why not)."""
    return backend.cuda_available()


def device_count() -> int:
    """How many GPUs tinygan can use: 1 when "cuda" works, else 0.

    tinygan drives one GPU ("cuda", the same as "cuda:0"), so a machine with
    several still counts 1 here, where torch.cuda.device_count() counts them all.
    """
    return 1 if backend.cuda_available() else 0


def synchronize() -> None:
    """Wait until the GPU has finished the work queued so far (for timing)."""
    backend.synchronize(backend.CUDA)
