"""torchvision.datasets' MNIST and FashionMNIST, read by tinygan.utils.data.

``MNIST(root, train=True, transform=None, target_transform=None, download=False)``: item
``i`` is ``(transform(image), target_transform(label))`` with ``image`` a uint8 NumPy
array (28, 28) where torchvision gives a PIL image (ToTensor takes either), and ``label``
an int. ``data`` is a uint8 Tensor (N, 28, 28) and ``targets`` an int64 Tensor (N,), as
torchvision's.

The files are looked for in torchvision's layout, ``root/MNIST/raw`` (the four ``.gz``
files, checked against tinygan's SHA-256 table, or else the split's two files it
extracted from them), then in tinygan's, ``root`` or ``root/mnist`` (checked).
``download=True`` fetches what is missing into ``root/MNIST/raw`` with tinygan's
downloader, which checks every file. FashionMNIST is the same under ``FashionMNIST``,
``fashion-mnist`` or ``fashion``.

A DataLoader reads a batch in one go (:meth:`MNIST.get_batch`) when the transform is
None or made of ToTensor, Normalize, Resize and CenterCrop: the same batch, value for
value, as the items one by one, at the cost of a few array ops.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..factories import from_numpy
from ..tensor import Tensor
from ..utils import data
from . import transforms as T


class DatasetNotFoundError(data.DatasetNotFound, RuntimeError):
    """The files are not there: a FileNotFoundError as tinygan's, and a RuntimeError as
    torchvision's ("Dataset not found. You can use download=True to download it")."""


class MNIST(data.Dataset):
    """The MNIST digits, as ``torchvision.datasets.MNIST`` (see the module's docstring)."""

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    _dataset = "mnist"   # tinygan.utils.data's name

    def __init__(self, root, train=True, transform=None, target_transform=None,
                 download=False):
        self.root = os.path.expanduser(root) if isinstance(root, str) else root
        self.train = train
        self.transform, self.target_transform = transform, target_transform
        images_path, labels_path = self._find_files(download)
        images, labels = data.read_images_and_labels(images_path, labels_path)
        self.data = from_numpy(images)
        self.targets = from_numpy(labels.astype(np.int64))

    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    def _find_files(self, download):
        """(images file, labels file) of the split: torchvision's layout, tinygan's, or a
        download into torchvision's."""
        split = data.SPLIT_FILES["train" if self.train else "test"]
        raw, root = Path(self.raw_folder), Path(self.root)
        for folder in (raw, root):
            try:
                found = data.find_dataset_dir(self._dataset, data_dir=folder, download=False)
                return [found / name for name in split]
            except data.DatasetNotFound:   # a ChecksumError is not this: it goes up
                pass
            extracted = [folder / name.removesuffix(".gz") for name in split]
            if folder == raw and all(p.is_file() for p in extracted):
                return extracted   # what torchvision extracts: read as it reads them
        if download:
            found = data.download_into(self._dataset, raw)
            return [found / name for name in split]
        subs = " or ".join(str(root / s) for s in data.SUBFOLDERS[self._dataset])
        raise DatasetNotFoundError(
            f"{data.TITLES[self._dataset]}: looked for {', '.join(split)} in {raw} "
            f"(torchvision's layout; the four .gz files, or those two without .gz) and "
            f"in {root} or {subs} (tinygan's; the four .gz files). Dataset not found. "
            "You can use download=True to download it")

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        image = self.data.numpy()[index].copy()
        target = int(self.targets.numpy()[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices):
        """The DataLoader's batch of these examples in one go, exactly what
        ``default_collate`` of the items gives: ``[images, labels]``. None (read item by
        item) when a transform is not one that takes batches (see transforms.batchable)."""
        if self.target_transform is not None or not T.batchable(self.transform):
            return None
        images = self.data.numpy()[indices]        # a copy: (n, 28, 28) uint8
        if self.transform is not None:
            images = self.transform._apply(images, batched=True)
        images = images if isinstance(images, Tensor) else from_numpy(images)
        return [images, from_numpy(self.targets.numpy()[indices])]

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train is True else 'Test'}"

    def __repr__(self):
        body = [f"Number of datapoints: {len(self)}", f"Root location: {self.root}",
                *self.extra_repr().splitlines()]
        if self.transform is not None or self.target_transform is not None:
            lines = ["StandardTransform"]
            for head, t in (("Transform: ", self.transform),
                            ("Target transform: ", self.target_transform)):
                if t is not None:
                    first, *rest = repr(t).splitlines()
                    lines += [head + first] + [" " * len(head) + line for line in rest]
            body.append("\n".join(lines))
        return "\n".join([f"Dataset {type(self).__name__}"] + ["    " + b for b in body])


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST, as ``torchvision.datasets.FashionMNIST``."""

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
    _dataset = "fashion"


class FakeData(data.Dataset):
    """Random images, as ``torchvision.datasets.FakeData`` (pytorch/examples' ``--dataset
    fake``): item ``i`` is a uint8 image (H, W, C) from ``image_size`` (C, H, W) and an int
    label below ``num_classes``, the same every time it is read (drawn from a generator
    seeded with ``i + random_offset``; torchvision's pixels come from torch's generator, so
    the values differ)."""

    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None,
                 target_transform=None, random_offset=0):
        image_size = tuple(int(s) for s in image_size)
        if len(image_size) != 3 or min(image_size) < 1 or int(size) < 0:
            raise ValueError("FakeData expects size >= 0 and image_size (C, H, W) of positive "
                             f"sizes, got size={size}, image_size={image_size}")
        self.size, self.image_size = int(size), image_size
        self.num_classes, self.random_offset = int(num_classes), int(random_offset)
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        if not -self.size <= index < self.size:
            raise IndexError(f"{type(self).__name__} index {index} out of range for size "
                             f"{self.size}")
        rng = np.random.default_rng(index % self.size + self.random_offset)
        channels, height, width = self.image_size
        image = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
        target = int(rng.integers(0, self.num_classes))
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __repr__(self):
        return f"Dataset {type(self).__name__}\n    Number of datapoints: {self.size}"


class CelebA(data.Dataset):
    """``torchvision.datasets.CelebA``'s name, so that a notebook importing it (the course's
    week 4B) imports; making one raises NotImplementedError: its 202,599 JPEG images would
    need an image decoder, which tinygan does not depend on."""

    def __init__(self, root, split="train", target_type="attr", transform=None,
                 target_transform=None, download=False):
        raise NotImplementedError(
            "tinygan.vision.datasets.CelebA: tinygan reads MNIST and Fashion-MNIST only (no "
            "JPEG decoder); load CelebA with torchvision and hand its batches over as arrays")
