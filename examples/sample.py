"""Draw samples from a checkpoint written by mnist_gan.py.

    python examples/sample.py runs/mnist_gan/checkpoint.npz --grid 10 --out samples.png
    python examples/sample.py runs/mnist_gan/checkpoint.npz --npy samples.npy -n 10000
    python examples/sample.py runs/mnist_gan/checkpoint.npz --truncation 0.7
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import tinygan as tg
from tinygan import backend, viz
from tinygan.checkpoint import load_checkpoint
from tinygan.fileio import atomic_write
from tinygan.gan import build_models, get_noise

DEVICES = {"numpy": "cpu", "cupy": "cuda"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", help="checkpoint.npz from mnist_gan.py")
    p.add_argument("--out", default="samples.png", help="grid PNG to write")
    p.add_argument("--grid", type=int, default=8, help="the grid is GRID x GRID images")
    p.add_argument("--npy", default=None, help="also write N samples as float32 (N, 784) in [0, 1]")
    p.add_argument("-n", "--num-samples", type=int, default=1000, help="how many for --npy")
    p.add_argument("--truncation", type=float, default=None,
                   help="redraw noise values beyond ±T: less variety, cleaner digits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", choices=DEVICES, default="numpy")
    return p.parse_args(argv)


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


@tg.no_grad()
def generate(G, n, z_dim, device, truncation, rng, batch=1000):
    """n images as a host float32 (n, 784) array, made in batches."""
    parts = []
    for start in range(0, n, batch):
        z = get_noise(min(batch, n - start), z_dim, device, truncation, generator=rng)
        parts.append(G(z).numpy())
    return np.concatenate(parts)


def main(argv=None):
    args = parse_args(argv)
    device = DEVICES[args.backend]
    if device == "cuda" and not backend.cuda_available():
        fail(f"--backend cupy: {backend.cuda_unavailable_reason()}")
    try:
        checkpoint = load_checkpoint(args.checkpoint)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    settings = checkpoint.meta["args"]
    G, _ = build_models(settings["z_dim"], settings["hidden_dim"])
    G.load_state_dict(checkpoint.state_dict("generator"))
    G.to(device).eval()  # running BatchNorm stats: each sample independent of its batch
    rng = backend.Generator(args.seed, device)

    grid = generate(G, args.grid * args.grid, settings["z_dim"], device, args.truncation, rng)
    viz.save_image_grid(grid, args.out, nrow=args.grid)
    print(f"wrote {args.out} ({args.grid}x{args.grid} samples, epoch "
          f"{checkpoint.meta['trainer']['epoch']}, truncation {args.truncation})")
    if args.npy:
        samples = generate(G, args.num_samples, settings["z_dim"], device, args.truncation, rng)
        with atomic_write(args.npy) as f:
            np.save(f, samples.astype(np.float32))
        print(f"wrote {args.npy}: {samples.shape[0]} samples, float32 (N, 784) in [0, 1]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
