"""A GAN on the ring of 8 Gaussians in 2-D: watch it find (or drop) the modes. Under a minute on a CPU.

    python examples/toy_gan.py --out runs/toy

Prints, every epoch, how many of the 8 modes the generator covers (≥ 1% of samples
within 3σ) and the share of high-quality samples (within 3σ of some mode), and
draws real vs generated points over training in toy_gan.png (needs matplotlib).
"""
from __future__ import annotations

import signal
if __name__ == "__main__":   # Ctrl-C while the imports below run: stop quietly
    signal.signal(signal.SIGINT, signal.SIG_DFL)

import argparse
from pathlib import Path

import numpy as np

import tinygan as tg
from tinygan import backend, nn, optim, toy
from tinygan.gan import GANTrainer, get_noise
from tinygan.utils.cli import (DEVICES, HelpFormatter, choose_device, fail, positive_int,
                                run_script)
from tinygan.utils.files import atomic_write, explain_os_error
from tinygan.utils.training import Callback, TrainingRun


def build_models(z_dim=2, hidden=128):
    G = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                      nn.Linear(hidden, 2))
    D = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                      nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
    return G, D


@tg.no_grad()
def generate(G, n, z_dim, device, seed=1234):
    return G(get_noise(n, z_dim, device, generator=backend.RandomStream(seed, device))).numpy()


class Snapshots(Callback):
    """Keep a sample cloud and the mode report after each epoch."""

    def __init__(self, z_dim, device, verbose=True):
        self.z_dim, self.device, self.verbose = z_dim, device, verbose
        self.clouds, self.reports = [], []

    def on_epoch_end(self, run, epoch):
        points = generate(run.trainer.generator, 2000, self.z_dim, self.device)
        report = toy.mode_report(points)
        self.clouds.append((epoch, points))
        self.reports.append(report)
        if self.verbose:
            print(f"epoch {epoch:2d}: {report['modes_covered']}/8 modes covered, "
                  f"{report['high_quality']:.0%} high-quality samples")


def train(epochs=10, steps_per_epoch=200, batch_size=256, lr=1e-3, z_dim=2, seed=0,
          device="cpu", verbose=True):
    """Train the toy GAN; returns (the final mode report, the Snapshots callback)."""
    tg.manual_seed(seed)
    G, D = build_models(z_dim)
    G.to(device), D.to(device)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999)),
                         optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999)),
                         z_dim=z_dim, device=device, seed=seed)
    snapshots = Snapshots(z_dim, device, verbose)
    run = TrainingRun(trainer, log_every=steps_per_epoch)
    run.fit(toy.RingLoader(batch_size, steps_per_epoch, seed, device), epochs, [snapshots])
    return snapshots.reports[-1], snapshots


def figure(snapshots, plt):
    """Real against generated points at four epochs, first to last: one square panel each,
    titled with its epoch. Constrained layout, and a figure tall enough for a square panel
    plus its title, so no title is clipped (tests/test_examples.py checks the extents)."""
    real, _ = toy.sample_ring(2000, np.random.default_rng(0))
    picks = sorted(set(np.linspace(0, len(snapshots.clouds) - 1, 4).round().astype(int)))
    shown = [snapshots.clouds[i] for i in picks]  # first to last epoch
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.8),
                             layout="constrained")
    for ax, (epoch, points) in zip(np.atleast_1d(axes), shown):
        ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:blue", label="real")
        ax.scatter(points[:, 0], points[:, 1], s=2, c="tab:orange", label="generated")
        ax.set(title=f"epoch {epoch}", xlim=(-3, 3), ylim=(-3, 3), aspect="equal")
        ax.set_xticks([]), ax.set_yticks([])
    np.atleast_1d(axes)[0].legend(loc="lower left", fontsize=7)
    return fig


def plot(snapshots, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no plot: pip install matplotlib")
        return
    fig = figure(snapshots, plt)
    try:
        with atomic_write(path) as f:
            fig.savefig(f, format="png")
    finally:
        plt.close(fig)
    print(f"wrote {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--epochs", type=positive_int, default=10, help="epochs to train")
    p.add_argument("--steps", type=positive_int, default=200, help="steps per epoch")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, data and noise")
    p.add_argument("--backend", choices=DEVICES, default="numpy",
                   help="numpy runs on the CPU, cupy on an NVIDIA GPU")
    p.add_argument("--out", default="runs/toy", help="folder for toy_gan.png")
    args = p.parse_args(argv)
    device = choose_device(args.backend)
    report, snapshots = train(args.epochs, args.steps, seed=args.seed, device=device)
    print(f"final: {report['modes_covered']}/8 modes covered, "
          f"{report['high_quality']:.0%} high-quality samples, per mode {report['per_mode']}")
    try:
        plot(snapshots, Path(args.out) / "toy_gan.png")
    except OSError as exc:   # a full disk, a read-only --out: one line
        fail(explain_os_error(exc))
    return 0


if __name__ == "__main__":
    run_script(main)
