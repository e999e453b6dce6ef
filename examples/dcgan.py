"""Train the course's week-2 DCGAN on MNIST (or Fashion-MNIST).

It is mnist_gan.py's program with the convolutional generator and discriminator of
tinygan.dcgan:

    python examples/dcgan.py --data-dir ~/data/mnist
    python examples/dcgan.py --backend cupy --epochs 20 --out runs/dcgan-gpu
    python examples/dcgan.py --preset course          # the course notebook's settings
                                                       # (lr 2e-4, batch 128, no EMA, G's
                                                       # width 64 and its unpadded D)

Everything else is mnist_gan.py's (see its --help): samples/epoch_NNN.png, loss_curve.png,
metrics.jsonl, checkpoint.npz with generator.safetensors and discriminator.safetensors
under PyTorch's names (the course's Generator and Discriminator load them), Ctrl-C and
--resume, --eval-every, --tensorboard. sample.py and evaluate.py take its checkpoints.
"""
from __future__ import annotations

import signal
if __name__ == "__main__":   # Ctrl-C while the imports below run: stop quietly
    signal.signal(signal.SIGINT, signal.SIG_DFL)

import sys
from pathlib import Path

from tinygan.utils.cli import run_script

sys.path.insert(0, str(Path(__file__).resolve().parent))   # mnist_gan.py, beside this file
from mnist_gan import Program, main as run_program  # noqa: E402

# --preset tinygan was chosen by measurement (README, "examples/dcgan.py and
# examples/wgan_gp.py"), its D padded so that it sees the whole image (tinygan.dcgan) and as
# wide as week 3's critic, batch 32 for twice batch 64's updates in an epoch at about the same
# cost, G twice the course's width for the shapes of whole digits; --preset course is the
# notebook's, its G and D too.
PRESETS = {
    "tinygan": {"lr": 2e-3, "beta1": 0.5, "beta2": 0.999, "batch_size": 32,
                "label_smoothing": 0.0, "mismatched_reals": False, "d_steps": 1, "ema": 0.999,
                "arch": "dcgan-wide", "hidden_dim": 128},
    "course": {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "batch_size": 128,
               "label_smoothing": 0.0, "mismatched_reals": False, "d_steps": 1, "ema": 0.0,
               "arch": "dcgan", "hidden_dim": 64},
}
DCGAN = Program(description=__doc__.split("\n")[0],
                archs={"dcgan-wide": "dcgan-padded with D at week 3's critic's width (64, "
                                     "128 channels) whatever G's, not a quarter of G's",
                       "dcgan-padded": "dcgan with D's first convolution padded by 1, so that "
                                       "D sees all 28x28 pixels (four logits an image)",
                       "dcgan": "the course's: ConvTranspose2d G (256, 128, 64 channels) and "
                                "Conv2d D (16, 32), BatchNorm2d, Tanh images, N(0, 0.02) "
                                "weights; D sees the top-left 22x22 of an image"},
                presets=PRESETS, out="runs/dcgan", hidden_dim=64)


def main(argv=None):
    return run_program(argv, DCGAN)


if __name__ == "__main__":
    run_script(main)
