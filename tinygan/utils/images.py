"""Pictures: sample grids as PNG (no dependency) and loss curves (matplotlib, optional)."""
from __future__ import annotations

import struct
import zlib

import numpy as np

from .files import atomic_write


def image_grid(images, nrow, image_shape=(28, 28), padding=2):
    """Tile (N, H*W) images in [0, 1] into one (rows·(H+p)+p, nrow·(W+p)+p) uint8 picture."""
    images = np.asarray(images, dtype=np.float64).reshape((-1,) + tuple(image_shape))
    n, h, w = images.shape
    ncol = nrow
    nrows = -(-n // ncol)
    grid = np.zeros((nrows * (h + padding) + padding, ncol * (w + padding) + padding))
    for i, img in enumerate(images):
        r, c = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top:top + h, left:left + w] = img
    return (np.clip(grid, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


# PNG colour type by channels: grey, grey + alpha, RGB, RGBA.
PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}


def png_bytes(pixels) -> bytes:
    """A uint8 image as the bytes of a PNG file: (H, W) grey, or (H, W, C) with C = 1
    (grey), 2 (grey and alpha), 3 (RGB) or 4 (RGBA)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in PNG_COLOUR_TYPES:
        raise ValueError("a PNG holds a 2-D grayscale array or (H, W, C) with C in 1-4, "
                         f"got shape {pixels.shape}")
    h, w, channels = pixels.shape

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(h))  # filter 0 per row
    header = struct.pack(">IIBBBBB", w, h, 8, PNG_COLOUR_TYPES[channels], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def write_png(path, pixels):
    """Write a grayscale (H, W) uint8 array as a PNG file, atomically."""
    if np.ndim(pixels) != 2:
        raise ValueError(f"write_png expects a 2-D grayscale array, got shape "
                         f"{np.shape(pixels)}")
    png = png_bytes(pixels)
    with atomic_write(path) as f:
        f.write(png)


def save_image_grid(images, path, nrow=8, image_shape=(28, 28), scale=4):
    """Save images (N, H*W) in [0, 1] as a grid PNG, each pixel drawn scale×scale.

    Returns the grid (before scaling) as a uint8 array, e.g. for TensorBoard.
    """
    grid = image_grid(images, nrow, image_shape)
    write_png(path, np.kron(grid, np.ones((scale, scale), dtype=np.uint8)) if scale > 1 else grid)
    return grid


def fid_label(scores):
    """The FID panel's legend: whose samples were scored (records say "ema" or "live")."""
    which = "the EMA of G" if scores and scores[-1].get("generator") == "ema" else "G"
    return f"FID of {which} (tinygan's classifier; lower is better)"


def save_loss_curve(history, path):
    """Plot d_loss and g_loss (and D(x), D(G(z))) against step; False without matplotlib.

    ``history`` is a list of metrics records (as in metrics.jsonl). Records with a
    ``d_loss`` are the losses; records with a ``fid`` (the evaluator's, see
    tinygan.utils.evaluate) add a third panel, FID against step. Other records are ignored.
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    losses = [r for r in history if "d_loss" in r]
    scores = [r for r in history if "fid" in r]
    steps = [r["step"] for r in losses]
    style = dict(marker="o", markersize=3) if len(steps) < 20 else {}  # a few points stay visible
    fig, axes = plt.subplots(3 if scores else 2, 1, figsize=(7, 8.5 if scores else 6),
                             sharex=True)
    top, bottom = axes[0], axes[1]
    top.plot(steps, [r["d_loss"] for r in losses], label="discriminator loss", **style)
    top.plot(steps, [r["g_loss"] for r in losses], label="generator loss", **style)
    top.set_ylabel("loss")
    top.legend()
    bottom.plot(steps, [r["d_real"] for r in losses], label="mean D(x)", **style)
    bottom.plot(steps, [r["d_fake"] for r in losses], label="mean D(G(z))", **style)
    bottom.set_ylabel("probability real")
    bottom.set_ylim(0, 1)
    bottom.legend()
    if scores:
        fid = axes[2]
        fid.plot([r["step"] for r in scores], [r["fid"] for r in scores], marker="o",
                 markersize=3, color="tab:green",
                 label=fid_label(scores))
        fid.set_ylabel("FID")
        if min(r["fid"] for r in scores) > 0:
            fid.set_yscale("log")   # from hundreds (noise) down to a few (real digits)
        fid.legend()
    axes[-1].set_xlabel("generator step")
    fig.tight_layout()
    try:
        with atomic_write(path) as f:
            fig.savefig(f, format="png")
    finally:
        plt.close(fig)
    return True
