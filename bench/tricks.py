"""What each speed trick of the GAN step buys: CPU time and device ops, with it and without.

    python bench/tricks.py                       # batch 128, 30 rounds
    python bench/tricks.py --batch 64 128 512 --rounds 50

For each trick, two trainers that differ only in it, stepped in turns (ABAB...) in one
process, so that a busy or throttled machine slows both alike: the median CPU ms per step
of each, their ratio, and the device ops per step on the cuda path (counted on the CuPy
stand-in in tests/, as bench/gan_step.py does). The tricks:

- flat_adam: Adam over one flat buffer per parameter group (tinygan/optim/flat.py), against
  Adam over each parameter on its own;
- d_one_pass: D over fakes and reals stacked in one pass (GANTrainer._d_loss_in_one_pass),
  against one pass each.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[128])
    p.add_argument("--rounds", type=int, default=30, help="timed steps of each variant, taken in turns")
    return p.parse_args()


def trainer(device, batch, trick, on):
    """mnist_gan.py's default GAN and recipe, with ``trick`` on or off."""
    import numpy as np
    import tinygan as tg
    from tinygan import optim
    from tinygan.gan import GANTrainer, build_models

    tg.manual_seed(0)
    G, D = build_models(64, 128)
    G.to(device), D.to(device)
    adam = dict(lr=2e-3, betas=(0.5, 0.999))
    opt_g, opt_d = optim.Adam(G.parameters(), **adam), optim.Adam(D.parameters(), **adam)
    if trick == "flat_adam" and not on:
        for opt in (opt_g, opt_d):
            opt._flatten = lambda *args: False      # every parameter on its own
    t = GANTrainer(G, D, opt_g, opt_d, z_dim=64, device=device)
    if trick == "d_one_pass":
        t.d_rows_independent = on
    real = tg.tensor(np.random.default_rng(0).random((batch, 784), dtype=np.float32),
                     device=device)
    return lambda: t.train_step(real)


def cpu_ms(batch, trick, rounds):
    steps = {on: trainer("cpu", batch, trick, on) for on in (True, False)}
    for step in steps.values():
        step(), step()
    times = {True: [], False: []}
    for _ in range(rounds):
        for on, step in steps.items():
            start = time.perf_counter()
            step()
            times[on].append((time.perf_counter() - start) * 1000)
    return {on: statistics.median(t) for on, t in times.items()}


def device_ops(batch, trick):
    from tinygan import backend
    if TESTS not in sys.path:
        sys.path.append(TESTS)
    import cupy_standin
    previous = backend._cuda_module, backend._cuda_reason, backend._cuda_probed
    backend._use_cuda_module(cupy_standin)
    try:
        counts = {}
        for on in (True, False):
            step = trainer("cuda", batch, trick, on)
            step(), step()
            with cupy_standin.device_ops.counting() as ops:
                step()
            counts[on] = ops.count
    finally:
        backend._cuda_module, backend._cuda_reason, backend._cuda_probed = previous
    return counts


def main():
    args = parse_args()
    machine = f"{platform.node()}, {platform.processor() or platform.machine()}"
    print("| trick | batch | CPU ms with | without | with / without | device ops with | without |")
    print("|---|---|---|---|---|---|---|")
    for batch in args.batch:
        for trick in ("flat_adam", "d_one_pass"):
            ms, ops = cpu_ms(batch, trick, args.rounds), device_ops(batch, trick)
            print(f"| {trick} | {batch} | {ms[True]:.2f} | {ms[False]:.2f} | "
                  f"{ms[True] / ms[False]:.3f} | {ops[True]} | {ops[False]} |", flush=True)
            print(json.dumps({"trick": trick, "batch": batch, "cpu_ms_with": ms[True],
                              "cpu_ms_without": ms[False], "ops_with": ops[True],
                              "ops_without": ops[False], "machine": machine}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
