"""torchvision.utils' make_grid and save_image, with torchvision's layout and rounding.

>>> import tinygan as tg
>>> grid = make_grid(tg.ones(5, 1, 28, 28), nrow=3)      # 5 one-channel images
>>> grid.shape                                            # 3 channels, 2 rows of 3 cells
tinygan.Size([3, 62, 92])
>>> grid.shape == (3, 2 * (28 + 2) + 2, 3 * (28 + 2) + 2)
True
"""
from __future__ import annotations

import math
from pathlib import Path

from .. import backend
from ..functional import stack
from ..tensor import Tensor
from ..utils.files import atomic_write
from ..utils.images import png_bytes


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None,
              scale_each=False, pad_value=0.0, **kwargs):
    """A batch of images (B, C, H, W) (or a list of (C, H, W)) tiled into one image, as
    torchvision's: ``nrow`` images a row, ``padding`` pixels of ``pad_value`` around each;
    one-channel images become three (the channel repeated); a single image comes back as
    it is, unpadded. ``normalize=True`` shifts and scales to [0, 1] by ``value_range``
    (min, max) or else the batch's own min and max (each image's with ``scale_each``).
    The grid is a new Tensor of the input's dtype and device, with no autograd history.
    """
    if isinstance(tensor, list):
        for t in tensor:
            if not isinstance(t, Tensor):
                raise TypeError(f"tensor or list of tensors expected, got a list containing "
                                f"{type(t)}")
        tensor = stack(tensor)
    if not isinstance(tensor, Tensor):
        raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    images = tensor.detach()._data
    xp = backend.array_module(images)
    if images.ndim == 2:             # one image, H x W
        images = images[None]
    if images.ndim == 3:             # one image, C x H x W
        if images.shape[0] == 1:
            images = xp.concatenate((images, images, images), 0)
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"make_grid takes images (B, C, H, W), (C, H, W) or (H, W), "
                         f"got shape {tuple(tensor.shape)}")
    if images.shape[1] == 1:         # one-channel images: repeated into three
        images = xp.concatenate((images, images, images), 1)
    if normalize is True:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and "
                            "max are numbers")
        if scale_each is True:
            images = xp.stack([_normalized(image, value_range) for image in images])
        else:
            images = _normalized(images, value_range)
    if images.shape[0] == 1:
        return Tensor(xp.array(images[0]))
    count = images.shape[0]
    columns = min(nrow, count)
    rows = int(math.ceil(float(count) / columns))
    height, width = images.shape[2] + padding, images.shape[3] + padding
    grid = xp.full((images.shape[1], height * rows + padding, width * columns + padding),
                   pad_value, dtype=images.dtype)
    for k in range(count):
        y, x = divmod(k, columns)
        grid[:, y * height + padding:(y + 1) * height, x * width + padding:(x + 1) * width] \
            = images[k]
    return Tensor(grid)


def _normalized(images, value_range):
    """Clamped to (low, high), then (x - low) / (high - low), in the images' dtype."""
    if value_range is None:
        low, high = float(images.min().item()), float(images.max().item())
    else:
        low, high = value_range
    xp = backend.array_module(images)
    return (xp.clip(images, low, high) - low) / max(high - low, 1e-5)


def save_image(tensor, fp, format=None, **kwargs):
    """Save ``make_grid(tensor, **kwargs)`` as a PNG (8-bit, RGB for one or three channels),
    rounding as torchvision does: ``uint8(clamp(x * 255 + 0.5, 0, 255))``. ``fp`` is a path
    (written atomically) or a binary file object. Only PNG: another ``format`` or file
    suffix is a ValueError."""
    if format is not None and str(format).lower() != "png":
        raise ValueError(f"save_image writes PNG only, not {format!r}")
    if format is None and not hasattr(fp, "write") and Path(fp).suffix.lower() != ".png":
        raise ValueError(f"save_image writes PNG only: {fp} does not end in .png")
    grid = make_grid(tensor, **kwargs)._data
    xp = backend.array_module(grid)
    pixels = xp.clip(grid * 255 + 0.5, 0, 255).transpose(1, 2, 0).astype("uint8")
    png = png_bytes(backend.to_numpy(pixels))
    if hasattr(fp, "write"):
        fp.write(png)
    else:
        with atomic_write(fp) as f:
            f.write(png)
