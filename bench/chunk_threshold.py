"""From what size does splitting a fused function over two threads pay? (backend.CHUNK_MIN)

    python bench/chunk_threshold.py                       # BLAS on 2 threads, as in a step
    python bench/chunk_threshold.py --sizes 16384 65536 262144 --rounds 9

For each of four fused functions of a GAN step (Adam's update, BatchNorm's normalisation
forward and backward, LeakyReLU) and each size (elements of the first argument; rows of
1,024 for the 2-D ones), the call timed whole (pool off) and split (pool on) in turns:
--rounds rounds of --calls calls each, a median per round, the ratio split / whole the
median of the rounds' ratios. Every call follows a 128x784x1024 matrix product, as the
elementwise work of a step follows one: BLAS's threads are then awake and spinning, which
is what the pool's second thread meets in training. Below 1.0 the split call pays.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from tinygan import backend, threads
from tinygan.ops import activations, normalization
from tinygan.optim import adam


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+",
                   default=[16384, 32768, 65536, 131072, 262144, 524288, 1048576])
    p.add_argument("--threads", type=int, default=2, help="BLAS threads and the pool's size")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--calls", type=int, default=30)
    return p.parse_args()


def cases(size, rng):
    """name -> the fused function's call on arrays of ``size`` elements (float32)."""
    def r(*shape):
        return rng.random(shape, dtype=np.float32) + 0.5
    rows = max(2, size // 1024)
    flat = [r(size) for _ in range(5)]
    x, g, out = r(rows, 1024), r(rows, 1024) - 1, np.empty((rows, 1024), np.float32)
    per_channel = [r(1, 1024) for _ in range(4)]
    numbers = (0.5, 0.5, 0.999, 0.001, 2e-3, 1.2, 1e-8)
    return {
        "adam_update": lambda: adam._adam_update(*flat, *numbers),
        "batchnorm_forward": lambda: normalization._normalize_affine(
            x, *per_channel[:3], out),
        "batchnorm_backward": lambda: normalization._normalize_grad(
            x, g, *per_channel, -1 / rows, 1 / rows, out),
        "leaky_relu": lambda: activations._leaky_rectify(g, 0.2),
    }


def main():
    args = parse_args()
    backend.set_num_threads(args.threads)
    backend.CHUNK_MIN = 1                            # every size may split; the pool decides
    rng = np.random.default_rng(0)
    a, b = rng.random((128, 784), dtype=np.float32), rng.random((784, 1024), dtype=np.float32)
    rows = []
    for size in args.sizes:
        for name, call in cases(size, rng).items():
            call()                                   # the first call of a layout is whole
            per_round = []
            for _ in range(args.rounds):
                medians = {}
                for pool in (1, args.threads):
                    threads._size = pool             # the pool alone; BLAS keeps its threads
                    times = []
                    for _ in range(args.calls):
                        a @ b
                        t = time.perf_counter()
                        call()
                        times.append(time.perf_counter() - t)
                    medians[pool] = statistics.median(times)
                per_round.append(medians)
            threads._size = args.threads
            row = {"function": name, "size": size,
                   "whole_us": round(statistics.median(r[1] for r in per_round) * 1e6, 1),
                   "split_us": round(statistics.median(r[args.threads] for r in per_round)
                                     * 1e6, 1),
                   "split_over_whole": round(statistics.median(
                       r[args.threads] / r[1] for r in per_round), 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\nload average {os.getloadavg()}")
    print("\n| size | " + " | ".join(sorted({r['function'] for r in rows})) + " |")
    print("|---" * (1 + len({r['function'] for r in rows})) + "|")
    for size in args.sizes:
        cells = [f"{r['split_over_whole']}" for r in sorted(rows, key=lambda r: r["function"])
                 if r["size"] == size]
        print(f"| {size:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
