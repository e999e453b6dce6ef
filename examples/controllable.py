"""Steer a trained GAN toward a chosen digit: gradient ascent on its noise (course week 4B).

    python examples/controllable.py runs/mnist_gan/checkpoint.npz --target 3 --out steer.png
    python examples/controllable.py runs/mnist_gan/checkpoint.npz --target 7 --penalty 0.1

The generator of an unconditional mnist_gan.py run (either --arch) is left as it is; its
noise z is moved, step by step, up the gradient of tinygan's MNIST classifier's logit for
--target (tinygan.controllable: the course's get_score and calculate_updated_noise). With
--penalty λ > 0 the score also pays λ times how far the other nine logits moved.

The figure has one row per sample and one column per step, step 0 being the samples before
any step. The table on stdout gives, per step, the classifier's mean P(target) and the share
of samples it classifies as the target. The classifier is the one examples/evaluate.py uses,
trained the first time (a few minutes on two CPU cores) and cached beside the MNIST files.
"""
from __future__ import annotations

import signal
if __name__ == "__main__":   # Ctrl-C while the imports below run: stop quietly
    signal.signal(signal.SIGINT, signal.SIG_DFL)

import argparse
import sys
from pathlib import Path

import numpy as np

import tinygan as tg
from tinygan import backend
from tinygan.controllable import steer
from tinygan.gan import ARCHITECTURES, build_models, get_noise
from tinygan.nn import functional as F
from tinygan.utils import images
from tinygan.utils.checkpoint import load_checkpoint
from tinygan.utils.cli import (DEVICES, HelpFormatter, choose_device, fail, one_line,
                               positive_float, positive_int, printable, run_script)
from tinygan.utils.evaluate import load_classifier
from tinygan.utils.files import explain_os_error
from tinygan.utils.weights import gan_specs

sys.path.insert(0, str(Path(__file__).resolve().parent))   # sample.py, beside this file,
from sample import (check_module, is_safetensors, saved_epoch,  # noqa: E402  checks the
                    saved_settings, usable)                   # checkpoint as it does

NUM_CLASSES = 10


def non_negative_float(text):
    """A finite float ≥ 0 (argparse type): the penalty's weight."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {value}")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=HelpFormatter)
    p.add_argument("checkpoint", help="checkpoint.npz of an unconditional mnist_gan.py run")
    p.add_argument("--target", type=int, required=True, help="the digit to steer toward (0-9)")
    p.add_argument("--steps", type=positive_int, default=10, help="gradient-ascent steps")
    p.add_argument("--step-size", type=positive_float, default=0.3,
                   help="each sample's noise moves by STEP_SIZE × the gradient of its own "
                        "score (the course's weight is this over --n: its score is a mean)")
    p.add_argument("--penalty", type=non_negative_float, default=0.0,
                   help="λ: the score loses λ × the L2 change of the other nine logits")
    p.add_argument("--n", type=positive_int, default=8, help="samples, one row each")
    p.add_argument("--out", default="steer.png", help="the figure (PNG) to write")
    p.add_argument("--seed", type=int, default=0, help="seeds the noise")
    p.add_argument("--data-dir", default=None,
                   help="folder with the four MNIST .gz files (the classifier is cached there)")
    p.add_argument("--backend", choices=DEVICES, default="numpy",
                   help="numpy runs on the CPU, cupy on an NVIDIA GPU")
    args = p.parse_args(argv)
    if not 0 <= args.target < NUM_CLASSES:
        fail(f"--target must be a digit in 0..{NUM_CLASSES - 1}, got {args.target}")
    return args


def load_gan_generator(path, device):
    """(G: z -> images in [0, 1], z_dim, epoch) from a checkpoint of an unconditional
    mnist_gan.py run, in eval mode; checked as sample.py checks it, before it is built."""
    if is_safetensors(path):
        fail(f"{path}: a .safetensors file; give the checkpoint.npz of an mnist_gan.py run")
    try:
        checkpoint = load_checkpoint(path)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    held = checkpoint.modules()
    if "generator" not in held:
        kind = "a VAE's" if "vae" in held else "not an mnist_gan.py run's"
        fail(f"{checkpoint.path} is {kind} checkpoint: steering needs a GAN's generator")
    s = saved_settings(checkpoint, gan=True)
    if s["conditional"]:
        fail(f"{checkpoint.path} is a conditional GAN's: it draws a digit by its label "
             "already (sample.py --label); steering is for an unconditional generator")
    spec, _ = gan_specs(s["arch"], s["z_dim"], s["hidden_dim"], 0)
    check_module(checkpoint, "generator", spec)
    G, _ = build_models(s["z_dim"], s["hidden_dim"], arch=s["arch"])
    G.load_state_dict(usable(checkpoint.path, checkpoint.state_dict("generator")))
    G.to(device).eval()   # running BatchNorm stats: each sample steered on its own
    if ARCHITECTURES[s["arch"]][3] == "symmetric":   # Tanh images in [-1, 1]; the
        def unit(z):                                 # classifier reads [0, 1]
            return (G(z) + 1) / 2
        return unit, s["z_dim"], saved_epoch(checkpoint, "trainer", "epoch")
    return G, s["z_dim"], saved_epoch(checkpoint, "trainer", "epoch")


@tg.no_grad()
def target_stats(model, pictures, target):
    """(mean P(target), share classified as target, host bool per sample) for each step."""
    stats = []
    for batch in pictures:
        probs = backend.to_numpy(F.softmax(model(batch), dim=1)._data)
        hit = probs.argmax(axis=1) == target
        stats.append((float(probs[:, target].mean()), float(hit.mean()), hit))
    return stats


def first_hits(stats):
    """Per sample: the first step from which it stays classified as the target, or None."""
    hits = np.stack([hit for _, _, hit in stats])          # (steps + 1, n)
    firsts = []
    for column in hits.T:
        misses = np.flatnonzero(~column)
        first = 0 if misses.size == 0 else int(misses[-1]) + 1
        firsts.append(first if first < len(column) else None)
    return firsts


def main(argv=None):
    args = parse_args(argv)
    device = choose_device(args.backend)
    G, z_dim, epoch = load_gan_generator(args.checkpoint, device)
    try:
        classifier = load_classifier(args.data_dir, device)
    except (FileNotFoundError, OSError, ValueError) as exc:   # no MNIST files, no network
        fail(one_line(exc))
    model = classifier.model.eval()
    noise = get_noise(args.n, z_dim, device, generator=backend.RandomStream(args.seed, device))
    # steer's score is a mean over the n rows: × n gives each row its own step_size
    _, pictures = steer(G, model, noise, args.target, args.steps, args.step_size * args.n,
                        args.penalty, return_images=True)
    stats = target_stats(model, pictures, args.target)
    grid = np.stack([backend.to_numpy(p._data) for p in pictures], axis=1)  # (n, steps+1, 784)
    if not np.isfinite(grid).all():
        fail("the steered images are not finite (NaN or inf): try a smaller --step-size")
    try:
        images.save_image_grid(grid.reshape(-1, 784), args.out, nrow=args.steps + 1, scale=2)
    except OSError as exc:   # a full disk, a read-only folder: one line
        fail(explain_os_error(exc))

    print(f"step  mean P({args.target})  classified as {args.target}")
    for step, (p, share, _) in enumerate(stats):
        print(f"{step:>4}  {p:>11.3f}  {100 * share:>13.0f}%")
    firsts = first_hits(stats)
    turned = sum(f is not None for f in firsts)
    print(f"{turned} of {args.n} samples end as a {args.target}; from step: "
          + " ".join("-" if f is None else str(f) for f in firsts))
    print(f"wrote {printable(args.out)}: {args.n} samples (rows) x {args.steps + 1} steps "
          f"(columns), generator of epoch {epoch}, step size {args.step_size}, "
          f"penalty {args.penalty}")
    return 0


if __name__ == "__main__":
    run_script(main)
