"""Adam alone: tinygan's update of the MNIST GAN's parameters beside PyTorch's, and the memory
floor under both.

    python bench/adam_step.py [--threads N]

Adam reads p, g, m and v and writes p, m and v: 28 bytes per float32 parameter, whatever the
batch. The GAN's 2.07M parameters (33 MB with their averages) do not fit in a core's cache,
so however the update is written, one step of it moves 58 MB through memory. The floor here
is that traffic at the bandwidth of one streaming op (c = a + b over arrays 8 times the
parameters' size), measured in the same run: numpy's (one thread) and PyTorch's (its
threads). tinygan's update (both optimizers, as the trainer steps them) and
torch.optim.Adam's (PyTorch's default for the CPU, 2 threads unless --threads) are timed in
turns with it (gan_step.time_in_turns), on the same gradients.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gan_step  # noqa: E402  (this folder's)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=None,
                   help="threads for numpy's BLAS and PyTorch (default: one per core)")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--keep-openblas-env", action="store_true")
    args = p.parse_args()
    if not args.keep_openblas_env and any(k in os.environ for k in gan_step.OPENBLAS_VARS):
        # as gan_step.py: a user's machine has neither; dropped before numpy loads BLAS
        env = {k: v for k, v in os.environ.items() if k not in gan_step.OPENBLAS_VARS}
        os.execve(sys.executable, [sys.executable] + sys.argv, env)

    import numpy as np
    import torch
    from tinygan import backend
    if args.threads is not None:
        backend.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)

    trainer, real = gan_step.default_trainer("cpu", 128)
    trainer.train_step(real)          # the gradients of one step; Adam's state made
    params = [q for opt in (trainer.opt_g, trainer.opt_d) for q in opt.param_groups[0]["params"]]
    n = sum(q.numel() for q in params)
    copies = [torch.nn.Parameter(torch.from_numpy(q.detach().numpy().copy())) for q in params]
    for copy, q in zip(copies, params):
        copy.grad = torch.from_numpy(q.grad.numpy().copy())
    torch_adam = torch.optim.Adam(copies, lr=2e-3, betas=(0.5, 0.999))

    def tinygan_adam():
        trainer.opt_g.step()
        trainer.opt_d.step()

    a, b = np.ones(8 * n, np.float32), np.ones(8 * n, np.float32)
    c = np.empty_like(a)
    ta, tb, tc = (torch.from_numpy(x) for x in (a, b, c))
    runs = {"tinygan": (tinygan_adam, lambda: None), "torch": (torch_adam.step, lambda: None),
            "stream": (lambda: np.add(a, b, out=c), lambda: None),
            "stream_torch": (lambda: torch.add(ta, tb, out=tc), lambda: None)}
    ms, ratios = gan_step.time_in_turns(runs, warmup=3, steps=args.steps)
    result = {"parameters": n, "threads_numpy": backend.get_num_threads(),
              "threads_torch": torch.get_num_threads(),
              "tinygan_adam_ms": round(ms["tinygan"], 2), "torch_adam_ms": round(ms["torch"], 2),
              "ratio_tinygan_over_torch": round(1 / ratios["torch"], 3)}
    # the floor at one thread's bandwidth (numpy's add) and at PyTorch's threads' (its add)
    for stream, label in (("stream", "one_thread"), ("stream_torch", "torch_threads")):
        bandwidth = 12 * a.size / (ms[stream] / 1e3)         # bytes/s: read a, b; write c
        result[f"stream_gb_per_s_{label}"] = round(bandwidth / 1e9, 1)
        result[f"memory_floor_ms_{label}"] = round(28 * n / bandwidth * 1e3, 2)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
