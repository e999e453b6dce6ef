"""What each speed trick of the GAN step buys: CPU time and device ops, with it and without.

    python bench/tricks.py                       # batch 128, 30 rounds
    python bench/tricks.py --batch 64 128 512 --rounds 50

For each trick, two trainers that differ only in it, stepped in turns (ABAB...) in one
process, so that a busy or throttled machine slows both alike: the median CPU ms per step
of each, their ratio, and the device ops per step on the cuda path (counted on the CuPy
stand-in in tests/, as bench/gan_step.py does). The tricks:

- flat_adam: Adam over one flat buffer per parameter group (tinygan/optim/flat.py), against
  Adam over each parameter on its own (Adam uses it on a GPU only; here on the CPU too,
  through adam.FLAT_ON_CPU, to measure what it would cost there);
- d_one_pass: D over fakes and reals stacked in one pass (GANTrainer._d_loss_in_one_pass),
  against one pass each;
- adam_blocks: Adam's update on the CPU in cache-sized blocks (tinygan/optim/adam.py),
  against each pass over a whole parameter at once;
- batchnorm_fused: BatchNorm as one Function with its backward by hand
  (tinygan/ops/normalization.py), against the composed form a learner writes (mean, var,
  normalise) that autograd differentiates op by op.

A trick is switched off by swapping in its plain form only while its own trainer steps, so
both trainers share the process and the machine.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(BENCH), "tests")
if BENCH not in sys.path:              # gan_step, beside this file, when loaded from elsewhere
    sys.path.append(BENCH)


TRICKS = ("flat_adam", "d_one_pass", "adam_blocks", "batchnorm_fused")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[128])
    p.add_argument("--rounds", type=int, default=30, help="timed steps of each variant, taken in turns")
    p.add_argument("--tricks", nargs="+", choices=TRICKS, default=list(TRICKS))
    return p.parse_args()


# --- the plain forms ------------------------------------------------------------------------

def composed_batch_norm(input, running_mean, running_var, weight=None, bias=None,
                        training=False, momentum=0.1, eps=1e-5, _running_rows=None):
    """F.batch_norm (training, (N, C) input) from tensor ops, as a learner writes it."""
    from tinygan.tensor import no_grad
    assert training and input.ndim == 2, "the GAN step trains on (N, C) input"
    mean = input.mean(0)
    centred = input - mean
    var = (centred * centred).mean(0)
    out = centred / (var + eps).sqrt() * weight + bias
    n = input.shape[0]
    with no_grad():                                   # the variance unbiased: n/(n-1)
        for buffer, value, rate in ((running_mean, mean, momentum),
                                    (running_var, var, momentum * n / (n - 1))):
            buffer._data *= 1.0 - momentum
            buffer._data += rate * value._data
    return out


@contextlib.contextmanager
def plain_form(trick):
    """While inside, the library runs ``trick``'s plain form (tricks switched per trainer,
    flat_adam and d_one_pass, need nothing here)."""
    from tinygan.nn import functional as F
    from tinygan.optim import adam
    if trick == "adam_blocks":
        saved = adam, "CPU_BLOCK", adam.CPU_BLOCK
        adam.CPU_BLOCK = 1 << 62                      # one block: the whole array
    elif trick == "batchnorm_fused":
        saved = F, "batch_norm", F.batch_norm
        F.batch_norm = composed_batch_norm
    else:
        yield
        return
    try:
        yield
    finally:
        setattr(*saved)


def trainer(device, batch, trick, on):
    """mnist_gan.py's default GAN and recipe (gan_step.default_trainer), with ``trick`` on or
    off; returns its step."""
    from gan_step import default_trainer

    t, real = default_trainer(device, batch)
    if trick == "flat_adam" and not on:
        for opt in (t.opt_g, t.opt_d):
            opt._flatten = lambda *args: False      # every parameter on its own
    if trick == "d_one_pass":
        t.d_rows_independent = on
    if on and trick == "flat_adam":
        def flat_step():
            from tinygan.optim import adam
            adam.FLAT_ON_CPU = True
            try:
                return t.train_step(real)
            finally:
                adam.FLAT_ON_CPU = False
        return flat_step
    if on:
        return lambda: t.train_step(real)

    def plain_step():
        with plain_form(trick):
            return t.train_step(real)
    return plain_step


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
        for trick in args.tricks:
            ms, ops = cpu_ms(batch, trick, args.rounds), device_ops(batch, trick)
            print(f"| {trick} | {batch} | {ms[True]:.2f} | {ms[False]:.2f} | "
                  f"{ms[True] / ms[False]:.3f} | {ops[True]} | {ops[False]} |", flush=True)
            print(json.dumps({"trick": trick, "batch": batch, "cpu_ms_with": ms[True],
                              "cpu_ms_without": ms[False], "ops_with": ops[True],
                              "ops_without": ops[False], "machine": machine}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
