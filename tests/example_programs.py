"""Helpers for tests that run the example programs in-process."""
import importlib.util
import struct
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# Tiny runs of mnist_gan.py and mnist_vae.py: 64 images in batches of 16, 4 steps per epoch.
GAN_TINY = ["--limit", "64", "--batch-size", "16", "--log-every", "2", "--z-dim", "4",
            "--hidden-dim", "4"]
VAE_TINY = ["--limit", "64", "--batch-size", "16", "--log-every", "2", "--z-dim", "4",
            "--hidden-dim", "8"]


def load_example(name):
    """examples/<name>.py as a module, so a test can call its main(argv) in this process
    (where conftest's device set-up, e.g. the CuPy stand-in, applies). The programs draw
    progress bars with tqdm, a declared dependency: where it is missing (a bare interpreter),
    the tests that run them are skipped instead of failing to collect."""
    pytest.importorskip("tqdm", reason="the example programs need tqdm (pip install -e .)")
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_size(path):
    """(width, height) from a PNG's IHDR, after checking the signature."""
    raw = Path(path).read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    return struct.unpack(">II", raw[16:24])
