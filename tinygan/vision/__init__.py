"""torchvision's names for the course's notebooks: a notebook changes only its imports.

=====================================================  ==========================================
torchvision                                            tinygan
=====================================================  ==========================================
``from torchvision import transforms``                 ``from tinygan.vision import transforms``
``from torchvision.datasets import MNIST``             ``from tinygan.vision.datasets import MNIST``
``from torchvision.utils import make_grid``            ``from tinygan.vision.utils import make_grid``
``import torchvision.utils as vutils``                 ``import tinygan.vision.utils as vutils``
``import torchvision.datasets as dset``                ``import tinygan.vision.datasets as dset``
``import torchvision``                                 ``import tinygan.vision as torchvision``
=====================================================  ==========================================

- ``transforms``: Compose, ToTensor, Normalize, Resize (bilinear), CenterCrop, Lambda.
- ``datasets``: MNIST and FashionMNIST over tinygan.utils.data (its files, checks and
  downloader), and FakeData (random images); an image is a uint8 NumPy array where
  torchvision gives a PIL image. CelebA is there to be imported; making one raises.
- ``utils``: make_grid and save_image (PNG, through tinygan.utils.images).

It sits above ``tinygan.utils`` and uses it; nothing below imports it.
"""
from . import datasets, transforms, utils  # noqa: F401
