"""Tiny synthetic MNIST files for tests that run the example programs.

``write_fake_mnist(folder)`` writes the four canonical gzip IDX files with a few
random images and returns ``{file name: SHA-256}``; a test points the checksum
table at them with ``monkeypatch.setitem(tinygan.utils.data.SHA256, "mnist", hashes)``
(the real table only accepts the real files, as it should).
"""
import gzip
import hashlib
from pathlib import Path

import numpy as np

TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


def idx_bytes(array):
    """An uint8 array as IDX: magic 0x000008NN, big-endian int32 dims, then the payload."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    return header + array.tobytes()


def fake_mnist_arrays(n=64, n_test=8, seed=0):
    """{file name: uint8 array}: n training and n_test test images (28x28) with labels."""
    rng = np.random.default_rng(seed)
    return {
        TRAIN_IMAGES: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        TRAIN_LABELS: rng.integers(0, 10, n, dtype=np.uint8),
        TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        TEST_LABELS: rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_fake_mnist(folder, n=64, n_test=8, seed=0):
    """Write the four gzip IDX files into ``folder``; return {file name: SHA-256 hex}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for name, array in fake_mnist_arrays(n, n_test, seed).items():
        # mtime=0: the same arrays always give the same bytes, hence the same hash.
        body = gzip.compress(idx_bytes(array), mtime=0)
        (folder / name).write_bytes(body)
        hashes[name] = hashlib.sha256(body).hexdigest()
    return hashes
