"""torchvision.transforms' names: Compose, ToTensor, Normalize, Resize, CenterCrop, Lambda.

An image, before ToTensor, is what tinygan.vision's datasets give where torchvision's give
a PIL image: a uint8 NumPy array of shape (H, W) or (H, W, C) (a PIL image, if you have
one, is read as ``np.asarray`` reads it). ToTensor makes it a float32 Tensor (C, H, W) in
[0, 1]; Normalize works on such tensors; Resize and CenterCrop take either form and give
the same form back, as torchvision's take a PIL image or a tensor.

>>> import numpy as np
>>> t = Compose([ToTensor(), Normalize((0.5,), (0.5,))])
>>> t
Compose(
    ToTensor()
    Normalize(mean=(0.5,), std=(0.5,))
)
>>> x = t(np.array([[0, 255], [51, 102]], dtype=np.uint8))
>>> x.shape, x.dtype
(tinygan.Size([1, 2, 2]), dtype('float32'))
>>> x
tensor([[[-1.0000,  1.0000],
         [-0.6000, -0.2000]]])

Every transform here but Lambda also takes a whole batch (one more leading dimension)
through ``_apply(x, batched=True)`` and gives exactly the stacked results of its items:
that is how a dataset hands its DataLoader a batch in a few array ops
(:func:`batchable`, tinygan.vision.datasets). Only Normalize records autograd history
(its ops are the Tensor's own); the others make new tensors from arrays.
"""
from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence
from enum import Enum

import numpy as np

from .. import backend
from ..dtypes import get_default_dtype
from ..factories import as_tensor
from ..tensor import Tensor


class Compose:
    """Apply transforms one after the other: ``Compose([ToTensor(), Normalize(...)])``."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def _apply(self, img, batched):
        for t in self.transforms:
            img = t._apply(img, batched)
        return img

    def __repr__(self):
        return (f"{type(self).__name__}("
                + "".join(f"\n    {t}" for t in self.transforms) + "\n)")


class _Transform:
    """A transform of one image, or of a batch of images when ``batched``."""

    def __call__(self, img):
        return self._apply(img, batched=False)

    def _apply(self, img, batched):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class ToTensor(_Transform):
    """uint8 image (H, W) or (H, W, C) -> float32 Tensor (C, H, W) divided by 255, as
    torchvision's. Other dtypes keep their values and dtype (torchvision's rule too)."""

    def _apply(self, pic, batched):
        if isinstance(pic, Tensor) or not (isinstance(pic, np.ndarray) or _is_pil(pic)):
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        pic = _pil_to_array(pic) if _is_pil(pic) else pic
        if pic.ndim - batched not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim - batched} "
                             "dimensions.")
        if pic.ndim - batched == 2:
            pic = pic[..., None]
        chw = np.moveaxis(pic, -1, -3)                     # (..., C, H, W)
        if chw.dtype == np.uint8:
            array = chw.astype(get_default_dtype())        # a contiguous copy
            array /= 255                                   # in that dtype, as torch's div(255)
        else:
            array = np.array(chw, order="C")
        return Tensor(array)


class Normalize(_Transform):
    """(x - mean[c]) / std[c] for each channel c of a float tensor (..., C, H, W), in the
    tensor's dtype, as torchvision's; ``inplace=True`` writes into the input."""

    def __init__(self, mean, std, inplace=False):
        self.mean, self.std, self.inplace = mean, std, inplace

    def _apply(self, tensor, batched):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
        if tensor.dtype.kind != "f":
            raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
        if tensor.ndim < 3:
            raise ValueError("Expected tensor to be a tensor image of size (..., C, H, W). "
                             f"Got tensor.size() = {tuple(tensor.shape)}")
        if (np.asarray(self.std, dtype=tensor.dtype) == 0).any():
            raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, "
                             "leading to division by zero.")
        mean = as_tensor(self.mean, dtype=tensor.dtype, device=tensor.device)
        std = as_tensor(self.std, dtype=tensor.dtype, device=tensor.device)
        mean = mean.reshape(-1, 1, 1) if mean.ndim == 1 else mean
        std = std.reshape(-1, 1, 1) if std.ndim == 1 else std
        if not self.inplace:
            tensor = tensor.clone()
        return tensor.sub_(mean).div_(std)

    def __repr__(self):
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


class InterpolationMode(Enum):
    """torchvision's names; tinygan's Resize implements BILINEAR only."""
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


class Resize(_Transform):
    """Resize to ``size``: (h, w), or an int for the shorter edge (the longer one keeps
    the aspect ratio, truncated, as torchvision's; ``max_size`` caps it). Bilinear only.

    uint8 images (arrays or tensors) are resized as PIL resizes them, which is what
    torchvision does to the PIL images of its datasets: a triangle filter widened when
    shrinking, weights in 22-bit fixed point, the width pass then the height pass, each
    rounded to uint8 (Pillow 13 sometimes does the height pass first when an edge
    shrinks, which moves a few pixels by 1; enlarging is the same). Float tensors are resized as ``torch.nn.functional.interpolate``
    with ``mode="bilinear", align_corners=False`` and ``antialias`` as given, the width
    pass then the height pass in the tensor's dtype (within a few ulps of PyTorch's). When
    enlarging, as from 28 to 64, both are plain bilinear; the same size returns the input.
    """

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias=True):
        if not isinstance(size, (int, Sequence)):
            raise TypeError(f"Size should be int or sequence. Got {type(size)}")
        if isinstance(size, Sequence) and len(size) not in (1, 2):
            raise ValueError("If size is a sequence, it should have 1 or 2 values")
        interpolation = InterpolationMode(getattr(interpolation, "value", interpolation))
        if interpolation is not InterpolationMode.BILINEAR:
            raise NotImplementedError(f"Resize: only bilinear interpolation, not "
                                      f"{interpolation.value}")
        self.size, self.interpolation = size, interpolation
        self.max_size, self.antialias = max_size, antialias

    def output_size(self, height, width):
        """(new height, new width) for an image of that size, as torchvision computes it."""
        size = [self.size] if isinstance(self.size, int) else list(self.size)
        if self.max_size is not None and len(size) != 1:
            raise ValueError("max_size should only be passed if size specifies the length "
                             "of the smaller edge, i.e. size should be an int or a sequence "
                             "of length 1 in torchscript mode.")
        if len(size) == 2:
            return size[0], size[1]
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = size[0], int(size[0] * long / short)
        if self.max_size is not None:
            if self.max_size <= size[0]:
                raise ValueError(f"max_size = {self.max_size} must be strictly greater than "
                                 f"the requested size for the smaller edge size = {self.size}")
            if new_long > self.max_size:
                new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
        return new_h, new_w

    def _apply(self, img, batched):
        tensor = isinstance(img, Tensor)
        array = img.detach()._data if tensor else _image_array(img, batched)
        if array.dtype != np.uint8 and array.dtype.kind != "f":
            raise TypeError(f"Resize takes uint8 or floating images, got {array.dtype}")
        h_axis = array.ndim - 2 if tensor else int(batched)   # (..., H, W) or (H, W, [C])
        h, w = array.shape[h_axis:h_axis + 2]
        new_h, new_w = self.output_size(h, w)
        if (new_h, new_w) == (h, w):
            return img
        xp = backend.array_module(array)
        out = array
        for axis, size in ((h_axis + 1, new_w), (h_axis, new_h)):   # width first, as PIL
            if out.shape[axis] != size:
                out = _resample(out, axis, size, self.antialias, xp)
        return Tensor(out) if tensor else out

    def __repr__(self):
        return (f"{type(self).__name__}(size={self.size}, interpolation="
                f"{self.interpolation.value}, max_size={self.max_size}, "
                f"antialias={self.antialias})")


class CenterCrop(_Transform):
    """The central (h, w) of an image (``size`` an int for a square), as torchvision's:
    the offsets are ``round((H - h) / 2)`` (Python's round, half to even), and an image
    smaller than the crop is first padded with zeros."""

    def __init__(self, size):
        if isinstance(size, numbers.Number):
            size = (int(size), int(size))
        elif isinstance(size, Sequence) and len(size) == 1:
            size = (size[0], size[0])
        elif len(size) != 2:
            raise ValueError("Please provide only two dimensions (h, w) for size.")
        self.size = size

    def _apply(self, img, batched):
        tensor = isinstance(img, Tensor)
        array = img.detach()._data if tensor else _image_array(img, batched)
        xp = backend.array_module(array)
        h_axis = array.ndim - 2 if tensor else int(batched)
        (h, w), (crop_h, crop_w) = array.shape[h_axis:h_axis + 2], self.size
        if crop_h > h or crop_w > w:
            pads = [(0, 0)] * array.ndim
            pads[h_axis] = ((crop_h - h) // 2, (crop_h - h + 1) // 2) if crop_h > h else (0, 0)
            pads[h_axis + 1] = ((crop_w - w) // 2, (crop_w - w + 1) // 2) if crop_w > w else (0, 0)
            array = xp.pad(array, pads)
            h, w = array.shape[h_axis:h_axis + 2]
        top, left = int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0))
        index = [slice(None)] * array.ndim
        index[h_axis], index[h_axis + 1] = slice(top, top + crop_h), slice(left, left + crop_w)
        out = array[tuple(index)].copy()
        return Tensor(out) if tensor else out

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size})"


class Lambda:
    """A function of one image as a transform (it cannot take a batch, so a dataset with
    a Lambda in its transform is read item by item)."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got "
                            f"{repr(type(lambd).__name__)}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"{type(self).__name__}()"


_BATCHABLE = (ToTensor, Normalize, Resize, CenterCrop)


def batchable(transform) -> bool:
    """Whether ``transform._apply(batch, batched=True)`` gives exactly the stacked items:
    None, one of this module's transforms but Lambda, or a Compose of them (exactly these
    classes: a subclass may have changed what an item becomes)."""
    if transform is None:
        return True
    if type(transform) is Compose:
        return all(batchable(t) for t in transform.transforms)
    return type(transform) in _BATCHABLE


# --- images as arrays ---------------------------------------------------------------------

def _is_pil(img) -> bool:
    return hasattr(img, "getbands") and hasattr(img, "mode")   # no PIL import needed


def _pil_to_array(img) -> np.ndarray:
    array = np.array(img)
    return array.astype(np.uint8) * 255 if img.mode == "1" else array   # 1-bit: 0 or 255


def _image_array(img, batched) -> np.ndarray:
    """An image before ToTensor as an array (H, W) or (H, W, C) (a batch: one more dim)."""
    array = _pil_to_array(img) if _is_pil(img) else img
    if not isinstance(array, np.ndarray) or array.ndim - batched not in (2, 3):
        raise TypeError("expected an image: a Tensor (..., C, H, W), or a NumPy array "
                        f"(H, W) or (H, W, C) (or a PIL image), got {type(img).__name__}"
                        + (f" of shape {array.shape}" if hasattr(array, "shape") else ""))
    return array


# --- resampling ------------------------------------------------------------------------------
# One output pixel is a weighted sum of a few input pixels (its taps) along one axis.
# The weights are PIL's (Resample.c, precompute_coeffs), which PyTorch's antialiased
# interpolate also uses: a triangle of half-width 1, or of `scale` when shrinking.

PRECISION_BITS = 32 - 8 - 2   # PIL's fixed point for 8-bit images


@functools.lru_cache(maxsize=64)
def _taps(in_size, out_size, antialias):
    """(index, weight), each (out_size, k): the input pixels each output pixel sums (cached:
    read them, never write them)."""
    scale = in_size / out_size
    if not antialias and scale > 1:   # PyTorch's plain bilinear: two neighbours
        src = np.maximum((np.arange(out_size) + 0.5) * scale - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
        hi = np.minimum(lo + 1, in_size - 1)
        frac = src - lo
        return np.stack([lo, hi], 1), np.stack([1 - frac, frac], 1)
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale
    k = int(math.ceil(support)) * 2 + 1
    index, weight = np.zeros((out_size, k), np.int64), np.zeros((out_size, k))
    for out in range(out_size):
        center = (out + 0.5) * scale
        first = max(int(center - support + 0.5), 0)
        count = min(int(center + support + 0.5), in_size) - first
        x = np.arange(count)
        w = np.maximum(1.0 - np.abs((x + first - center + 0.5) / filterscale), 0.0)
        index[out, :count] = first + x
        weight[out, :count] = w / w.sum() if w.sum() != 0 else w
    return index, weight


def _resample(array, axis, size, antialias, xp):
    """The array resized along one axis; uint8 in PIL's fixed point, floats in their dtype."""
    index, weight = _taps(array.shape[axis], size, antialias or array.dtype == np.uint8)
    moved = xp.moveaxis(array, axis, -1)
    if array.dtype == np.uint8:
        fixed = np.where(weight < 0, np.trunc(-0.5 + weight * (1 << PRECISION_BITS)),
                         np.trunc(0.5 + weight * (1 << PRECISION_BITS)))
        matrix = np.zeros((size, array.shape[axis]))
        np.add.at(matrix, (np.arange(size)[:, None], index), fixed)
        # Integers below 2**53 in float64: the product is exact whatever the order of the
        # sums, so a batch gives its items' values exactly, and BLAS does the work.
        total = moved.astype(np.float64) @ xp.asarray(matrix.T) + (1 << (PRECISION_BITS - 1))
        out = xp.clip(xp.floor(total / (1 << PRECISION_BITS)), 0, 255).astype(np.uint8)
    else:
        weight, index = xp.asarray(weight.astype(array.dtype)), xp.asarray(index)
        out = moved[..., index[:, 0]] * weight[:, 0]
        for j in range(1, index.shape[1]):
            out += moved[..., index[:, j]] * weight[:, j]
    return xp.ascontiguousarray(xp.moveaxis(out, -1, axis))
