"""The course's convolutional GANs (weeks 2 and 3): the DCGAN generator, its discriminator and
the WGAN-GP critic, with the course's names, shapes and N(0, 0.02) initialisation.

    G:  z (64) → view (64, 1, 1) → ConvT 256 (3×3) → 128 (6×6) → 64 (13×13) → 1×28×28, Tanh
        each hidden block ConvTranspose2d → BatchNorm2d → ReLU
    D:  1×28×28 → Conv 16 (13×13) → 32 (5×5) → 1 (1×1) → one logit per image
        each hidden block Conv2d → BatchNorm2d → LeakyReLU(0.2)
    critic (WGAN-GP): D's shape with hidden 64 (64, 128, 1), a score, not a probability

Unpadded kernels of 4 at stride 2 drop a border at each of D's layers, so an image's logit
(or score) depends on rows and columns 0-21 of its 28x28 only: the bottom and right six
reach D only through its BatchNorm's batch statistics (in train mode). ``padding=1`` pads
the image by a pixel first, so that D sees all of it (arch ``dcgan-padded`` in tinygan.gan;
``dcgan-wide``, examples/dcgan.py's default, is that D at week 3's critic's width).
``Critic(batch_norm=False)`` drops the critic's BatchNorm2d layers (arch
``wgan-gp-padded-nobn``).

Images are (N, 1, 28, 28) in [-1, 1]. Training loops: ``tinygan.gan.GANTrainer`` for the
DCGAN, ``tinygan.wgan.WGANGPTrainer`` for the critic.
"""
from __future__ import annotations

from . import nn


class DCGANGenerator(nn.Module):
    """z (z_dim) → image (im_chan × 28 × 28) in [-1, 1], through four transposed convolutions
    (``hidden_dim`` 64: 256, 128, 64 channels)."""

    def __init__(self, z_dim=64, im_chan=1, hidden_dim=64):
        super().__init__()
        self.z_dim = z_dim
        self.gen = nn.Sequential(
            self.make_gen_block(z_dim, hidden_dim * 4),
            self.make_gen_block(hidden_dim * 4, hidden_dim * 2, kernel_size=4, stride=1),
            self.make_gen_block(hidden_dim * 2, hidden_dim),
            self.make_gen_block(hidden_dim, im_chan, kernel_size=4, final_layer=True),
        )

    def make_gen_block(self, input_channels, output_channels, kernel_size=3, stride=2,
                       final_layer=False):
        """ConvTranspose2d → BatchNorm2d → ReLU, or ConvTranspose2d → Tanh for the image."""
        if not final_layer:
            return nn.Sequential(
                nn.ConvTranspose2d(input_channels, output_channels, kernel_size, stride),
                nn.BatchNorm2d(output_channels),
                nn.ReLU(inplace=True),
            )
        return nn.Sequential(
            nn.ConvTranspose2d(input_channels, output_channels, kernel_size, stride),
            nn.Tanh(),
        )

    def forward(self, noise):
        return self.gen(noise.view(len(noise), self.z_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """image (im_chan × 28 × 28) → one logit, through three strided convolutions
    (``hidden_dim`` 16: 16, 32, 1 channels); the output is (N, 1).

    ``padding=1`` (not the course's) pads the image by one pixel before the first
    convolution: D then sees every pixel, as four 21×21 windows, and gives four logits an
    image, (N, 4). The weights keep their shapes and names.
    """

    def __init__(self, im_chan=1, hidden_dim=16, padding=0):
        super().__init__()
        self.disc = nn.Sequential(
            self.make_disc_block(im_chan, hidden_dim, padding=padding),
            self.make_disc_block(hidden_dim, hidden_dim * 2),
            self.make_disc_block(hidden_dim * 2, 1, final_layer=True),
        )

    def make_disc_block(self, input_channels, output_channels, kernel_size=4, stride=2,
                        final_layer=False, padding=0, batch_norm=True):
        """Conv2d → BatchNorm2d → LeakyReLU(0.2), or Conv2d alone for the logit
        (``batch_norm=False``, not the course's: Conv2d → LeakyReLU)."""
        if not final_layer:
            return nn.Sequential(
                nn.Conv2d(input_channels, output_channels, kernel_size, stride, padding),
                *([nn.BatchNorm2d(output_channels)] if batch_norm else []),
                nn.LeakyReLU(0.2, inplace=True),
            )
        return nn.Sequential(nn.Conv2d(input_channels, output_channels, kernel_size, stride))

    def forward(self, image):
        disc_pred = self.disc(image)
        return disc_pred.view(len(disc_pred), -1)


class Critic(nn.Module):
    """Week 3's critic: the discriminator's layers under the name ``crit``, ``hidden_dim`` 64
    (64, 128, 1 channels); its output is a score, with no sigmoid to read it as a
    probability. ``padding=1``: as DCGANDiscriminator's, four scores an image.

    ``batch_norm=False`` (not the course's) drops the two BatchNorm2d layers, as the WGAN-GP
    paper advises: the penalty is on each image's gradient, and BatchNorm makes an image's
    score depend on the rest of its batch (the convolutions keep their names)."""

    def __init__(self, im_chan=1, hidden_dim=64, padding=0, batch_norm=True):
        super().__init__()
        self.crit = nn.Sequential(
            self.make_crit_block(im_chan, hidden_dim, padding=padding, batch_norm=batch_norm),
            self.make_crit_block(hidden_dim, hidden_dim * 2, batch_norm=batch_norm),
            self.make_crit_block(hidden_dim * 2, 1, final_layer=True),
        )

    make_crit_block = DCGANDiscriminator.make_disc_block

    def forward(self, image):
        crit_pred = self.crit(image)
        return crit_pred.view(len(crit_pred), -1)


def weights_init(m):
    """The course's initialisation, for ``model.apply(weights_init)``: convolution weights
    and BatchNorm scales N(0, 0.02), BatchNorm shifts 0 (convolution biases keep PyTorch's)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    if isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.constant_(m.bias, 0)
