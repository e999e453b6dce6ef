"""Pictures: PNGs that decode back to their pixels, grid layout, and the optional loss curve.

tinygan.utils.images works on host NumPy arrays only (the examples call ``.numpy()``
first), so these tests take no device.
"""
import builtins
import os
import struct
import zlib

import numpy as np
import pytest

from tinygan.utils.images import (fid_label, image_grid, save_image_grid, save_loss_curve,
                                   write_png)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png_chunks(path):
    """[(kind, data)] of a PNG, checking the signature and every chunk's CRC."""
    raw = path.read_bytes()
    assert raw[:8] == PNG_SIGNATURE
    chunks, pos = [], 8
    while pos < len(raw):
        (length,) = struct.unpack(">I", raw[pos:pos + 4])
        kind, body = raw[pos + 4:pos + 8], raw[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", raw[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert pos == len(raw)
    return chunks


def decode_png(path):
    """The (H, W) uint8 pixels of an 8-bit grayscale, non-interlaced PNG, any filter type."""
    chunks = read_png_chunks(path)
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, color, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1])
    assert (depth, color, compression, filtering, interlace) == (8, 0, 0, 0, 0)
    stream = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(stream) == height * (width + 1)
    pixels = np.zeros((height, width), dtype=np.uint8)
    previous = np.zeros(width, dtype=np.int64)
    for y in range(height):
        line = stream[y * (width + 1):(y + 1) * (width + 1)]
        kind, row = line[0], np.frombuffer(line[1:], np.uint8).astype(np.int64)
        out = np.zeros(width, dtype=np.int64)
        for x in range(width):
            left = out[x - 1] if x else 0
            up, up_left = previous[x], previous[x - 1] if x else 0
            if kind == 0:
                predict = 0
            elif kind == 1:
                predict = left
            elif kind == 2:
                predict = up
            elif kind == 3:
                predict = (left + up) // 2
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predict = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
            else:
                raise AssertionError(f"unknown PNG filter {kind}")
            out[x] = (row[x] + predict) % 256
        pixels[y], previous = out, out
    return pixels


# --- write_png ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (28, 28), (17, 40)])
def test_write_png_decodes_back_to_the_same_pixels(tmp_path, shape):
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "image.png"
    write_png(path, pixels)
    assert np.array_equal(decode_png(path), pixels)


def test_write_png_reads_back_with_matplotlib(tmp_path):
    image = pytest.importorskip("matplotlib.image")
    pixels = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    path = tmp_path / "m.png"
    write_png(path, pixels)
    decoded = image.imread(str(path))                # floats in [0, 1] for 8-bit PNGs
    assert decoded.shape == (6, 10)
    assert np.array_equal(np.round(decoded * 255).astype(np.uint8), pixels)


def test_write_png_extremes_and_a_non_contiguous_view(tmp_path):
    pixels = np.array([[0, 255], [255, 0], [128, 1]], dtype=np.uint8)
    path = tmp_path / "v.png"
    write_png(path, pixels.T)                   # a transposed (non-contiguous) view
    assert np.array_equal(decode_png(path), pixels.T)


@pytest.mark.parametrize("shape", [(4,), (2, 2, 3)])
def test_write_png_refuses_non_2d_arrays(tmp_path, shape):
    with pytest.raises(ValueError, match="2-D"):
        write_png(tmp_path / "x.png", np.zeros(shape, dtype=np.uint8))
    assert os.listdir(tmp_path) == []


def test_write_png_replaces_atomically_leaving_no_temp_file(tmp_path):
    path = tmp_path / "p.png"
    write_png(path, np.zeros((2, 2), np.uint8))
    write_png(path, np.full((3, 4), 9, np.uint8))
    assert os.listdir(tmp_path) == ["p.png"]
    assert np.array_equal(decode_png(path), np.full((3, 4), 9, np.uint8))


# --- image_grid --------------------------------------------------------------------------------

def test_image_grid_layout_padding_and_empty_cells():
    h, w, pad = 2, 3, 1
    # 5 images, 3 per row; image i is all (i+1)·20/255, i.e. pixel value (i+1)·20
    images = np.stack([np.full(h * w, (i + 1) * 20 / 255) for i in range(5)])
    grid = image_grid(images, nrow=3, image_shape=(h, w), padding=pad)
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * (h + pad) + pad, 3 * (w + pad) + pad)
    expected = np.zeros(grid.shape, dtype=np.uint8)
    for i in range(5):
        r, c = divmod(i, 3)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        expected[top:top + h, left:left + w] = (i + 1) * 20
    assert np.array_equal(grid, expected)            # padding and the sixth cell stay black


def test_image_grid_keeps_each_images_pixel_order():
    image = np.arange(12) / 11.0                      # one 3x4 image, pixels row by row
    grid = image_grid(image[None], nrow=1, image_shape=(3, 4), padding=2)
    inner = grid[2:5, 2:6]
    assert np.array_equal(inner, (image.reshape(3, 4) * 255 + 0.5).astype(np.uint8))


def test_image_grid_clips_to_the_unit_range():
    images = np.array([[-0.5, 0.0, 1.0, 1.7]])
    grid = image_grid(images, nrow=1, image_shape=(1, 4), padding=0)
    assert grid.tolist() == [[0, 0, 255, 255]]


def test_image_grid_of_mnist_sized_images():
    grid = image_grid(np.ones((64, 784)), nrow=8)
    assert grid.shape == (8 * 30 + 2, 8 * 30 + 2)
    assert grid.sum() == 64 * 784 * 255


def test_save_image_grid_scales_each_pixel(tmp_path):
    images = np.random.default_rng(0).random((6, 784))
    path = tmp_path / "grid.png"
    grid = save_image_grid(images, path, nrow=3, scale=3)
    assert np.array_equal(grid, image_grid(images, 3))
    assert np.array_equal(decode_png(path), np.kron(grid, np.ones((3, 3), np.uint8)))


def test_save_image_grid_without_scaling(tmp_path):
    images = np.random.default_rng(1).random((2, 784))
    path = tmp_path / "grid1.png"
    grid = save_image_grid(images, path, nrow=2, scale=1)
    assert np.array_equal(decode_png(path), grid)


# --- save_loss_curve ---------------------------------------------------------------------------

HISTORY = [{"step": s, "epoch": 1, "d_loss": 0.7 - 0.01 * s, "g_loss": 0.6 + 0.02 * s,
            "d_real": 0.5 + 0.01 * s, "d_fake": 0.5 - 0.01 * s} for s in range(5, 55, 5)]


def test_save_loss_curve_without_matplotlib_returns_false(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    path = tmp_path / "curve.png"
    assert save_loss_curve(HISTORY, path) is False
    assert not path.exists() and os.listdir(tmp_path) == []


def test_save_loss_curve_with_matplotlib_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "out" / "curve.png"
    assert save_loss_curve(HISTORY, path) is True
    kinds = [kind for kind, _ in read_png_chunks(path)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert os.listdir(path.parent) == ["curve.png"]
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    assert width > 100 and height > 100


def test_save_loss_curve_of_many_points(tmp_path):
    pytest.importorskip("matplotlib")
    history = [dict(HISTORY[0], step=s) for s in range(1, 200)]
    assert save_loss_curve(history, tmp_path / "long.png") is True
    assert (tmp_path / "long.png").read_bytes()[:8] == PNG_SIGNATURE


def test_the_fid_panel_says_whose_samples_it_scored():
    # mnist_gan.py's --eval-every records say "generator": "ema" when --ema scored the average
    assert fid_label([{"fid": 9.0, "generator": "ema"}]).startswith("FID of the EMA of G")
    assert fid_label([{"fid": 9.0, "generator": "live"}]).startswith("FID of G (")
    assert fid_label([{"fid": 9.0}]).startswith("FID of G (")    # records written before
