"""The scale of tinygan's evaluator: its floor, its ceiling and some bad generators, on MNIST.

    python bench/evaluator_scale.py --data-dir ~/data/mnist

Each row scores 10,000 images with tinygan.utils.evaluate (the cached, seeded classifier):
real training images (the floor: what a perfect generator would score against the test
set), uniform noise (the ceiling), and the failures a GAN shows (noise on real digits, some
digits missing, one digit, blank images, one image repeated). The README's table "What the
numbers mean" comes from this program.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


def cases(train, labels, rng):
    def unit(a):
        return a.reshape(len(a), -1).astype(np.float32) / 255

    noisy = unit(train[:10_000]) + rng.normal(0, 0.1, (10_000, 784)).astype(np.float32)
    return {
        "10,000 MNIST training images (the floor)": unit(train[:10_000]),
        "another 10,000 training images": unit(train[50_000:]),
        "training images + N(0, 0.1) pixel noise": np.clip(noisy, 0, 1),
        "training images of 0-4 only": unit(train[np.flatnonzero(labels < 5)[:10_000]]),
        "training images of 1 only": unit(train[rng.choice(np.flatnonzero(labels == 1), 10_000)]),
        "blank images": np.zeros((10_000, 784), np.float32),
        "uniform noise U(0, 1) (the ceiling)": rng.random((10_000, 784), dtype=np.float32),
        "one training image repeated 10,000 times": np.repeat(unit(train[:1]), 10_000, axis=0),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None, help="the MNIST folder (also caches the classifier)")
    args = p.parse_args()
    from tinygan.utils import data
    from tinygan.utils.evaluate import evaluate, load_classifier

    classifier = load_classifier(args.data_dir)
    train, labels = data.load_mnist("mnist", True, args.data_dir)
    print(f"classifier test accuracy {100 * classifier.accuracy:.2f}%\n")
    print("| samples | FID | inception score | confident | digits covered |")
    print("|---|---|---|---|---|")
    for name, images in cases(train, labels, np.random.default_rng(0)).items():
        s = evaluate(images, classifier=classifier)
        print(f"| {name} | {s['fid']:.2f} | {s['inception_score']:.2f} | "
              f"{100 * s['confident']:.1f}% | {s['digits_covered']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
