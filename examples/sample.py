"""Draw samples from a checkpoint written by mnist_gan.py.

    python examples/sample.py runs/mnist_gan/checkpoint.npz --grid 10 --out samples.png
    python examples/sample.py runs/mnist_gan/checkpoint.npz --npy samples.npy -n 10000
    python examples/sample.py runs/mnist_gan/checkpoint.npz --truncation 0.7
    python examples/sample.py runs/cgan/checkpoint.npz --label 3     # conditional runs: one digit

A conditional run's grid has one row per class unless --label picks one.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import tinygan as tg
from tinygan import backend
from tinygan.gan import ARCHITECTURES, build_models, get_noise
from tinygan.utils import images
from tinygan.utils.checkpoint import load_checkpoint
from tinygan.utils.cli import DEVICES, choose_device, fail
from tinygan.utils.files import atomic_write

NUM_CLASSES = 10


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", help="checkpoint.npz from mnist_gan.py")
    p.add_argument("--out", default="samples.png", help="grid PNG to write")
    p.add_argument("--grid", type=int, default=8, help="the grid is GRID x GRID images")
    p.add_argument("--npy", default=None, help="also write N samples as float32 (N, 784) in [0, 1]")
    p.add_argument("-n", "--num-samples", type=int, default=1000, help="how many for --npy")
    p.add_argument("--truncation", type=float, default=None,
                   help="redraw noise values beyond ±T: less variety, cleaner digits")
    p.add_argument("--label", type=int, default=None, help="conditional runs: draw only this class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=DEVICES, default="numpy")
    return p.parse_args(argv)


@tg.no_grad()
def generate(G, n, z_dim, device, truncation, rng, labels=None, batch=1000):
    """n images as a host float32 (n, 784) array, made in batches (labels: host ints, or None)."""
    parts = []
    for start in range(0, n, batch):
        z = get_noise(min(batch, n - start), z_dim, device, truncation, generator=rng)
        if labels is None:
            parts.append(G(z).numpy())
        else:
            parts.append(G(z, tg.tensor(labels[start:start + batch], device=device)).numpy())
    return np.concatenate(parts)


def labels_for(n, settings, label, rows_of=None):
    """Class labels for a conditional run: all ``label``, or class k on row k of the grid."""
    if not settings.get("conditional"):
        if label is not None:
            fail("--label needs a checkpoint of a conditional run (--conditional)")
        return None
    if label is not None:
        if not 0 <= label < NUM_CLASSES:
            fail(f"--label must be in 0..{NUM_CLASSES - 1}, got {label}")
        return np.full(n, label)
    if rows_of:
        return np.repeat(np.arange(NUM_CLASSES), rows_of)[:n]
    return np.arange(n) % NUM_CLASSES


def main(argv=None):
    args = parse_args(argv)
    device = choose_device(args.backend)
    try:
        checkpoint = load_checkpoint(args.checkpoint)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    settings = checkpoint.meta["args"]
    arch = settings.get("arch", "course")
    conditional = settings.get("conditional", False)
    G, _ = build_models(settings["z_dim"], settings["hidden_dim"], arch=arch,
                        num_classes=NUM_CLASSES if conditional else 0)
    G.load_state_dict(checkpoint.state_dict("generator"))
    G.to(device).eval()  # running BatchNorm stats: each sample independent of its batch
    rng = backend.RandomStream(args.seed, device)
    symmetric = ARCHITECTURES[arch][3] == "symmetric"  # Tanh images in [-1, 1]

    def draw(n, labels):
        pictures = generate(G, n, settings["z_dim"], device, args.truncation, rng, labels)
        return (pictures + 1) / 2 if symmetric else pictures

    rows = NUM_CLASSES if conditional and args.label is None else args.grid
    n = rows * args.grid
    grid = draw(n, labels_for(n, settings, args.label, rows_of=args.grid))
    images.save_image_grid(grid, args.out, nrow=args.grid)
    print(f"wrote {args.out} ({rows}x{args.grid} samples, epoch "
          f"{checkpoint.meta['trainer']['epoch']}, truncation {args.truncation})")
    if args.npy:
        samples = draw(args.num_samples, labels_for(args.num_samples, settings, args.label))
        with atomic_write(args.npy) as f:
            np.save(f, samples.astype(np.float32))
        print(f"wrote {args.npy}: {samples.shape[0]} samples, float32 (N, 784) in [0, 1]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
