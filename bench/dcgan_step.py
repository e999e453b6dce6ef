"""How fast is one step of the course's week-2 DCGAN (one D step + one G step), against PyTorch?

    python bench/dcgan_step.py                    # batch 128, one thread per core
    python bench/dcgan_step.py --threads 2 --rounds 7 --wgan --json dcgan.json
    python bench/dcgan_step.py --ops-by-site [--wgan]   # one step's device ops, by where

The step is tinygan.dcgan's DCGANGenerator and DCGANDiscriminator (weights_init) trained by
GANTrainer (BCEWithLogits, Adam 2e-4, betas (0.5, 0.999)), on a batch of random images; the
same step written in PyTorch eager; with --wgan also week 3's WGAN-GP step (WGANGPTrainer:
5 critic steps, each with a gradient penalty through autograd.grad(create_graph=True), then
a G step) beside its PyTorch form. In one run on one machine:
- ms per step for tinygan and PyTorch, each library in its own process (a child of this
  one) with the same thread count, timed in turns: --rounds rounds, each timing --steps
  steps of every child in a row (the order reversed every other round), so that the
  machine's drift in speed falls on both alike; each time a median over its round, each
  ratio the median of the rounds' ratios;
- the GEMM floor: every matrix product the step's convolutions run (recorded from one
  tinygan step, as its (M, K, N)), replayed alone with NumPy's sgemm at those shapes on
  contiguous operands, in a third child timed in the same turns: what the step would
  cost if everything but the convolutions' products were free; and its FLOPs counted;
- device ops per step on the cuda path (counted on the CuPy stand-in in tests/) beside
  PyTorch's top-level ATen ops for the same step (torch.profiler), as gan_step.py counts;
- peak memory (RSS) of each child after its timings.

A user's machine has no OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE; this program drops both
(re-executing itself before numpy loads) unless --keep-openblas-env, and reports the
BLAS kernel that ran.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
if BENCH not in sys.path:
    sys.path.append(BENCH)
import gan_step  # noqa: E402  (this folder's: the machine facts, the op counts' conventions)

LIBRARIES = ("tinygan", "torch", "floor")
Z_DIM, LR, BETAS = 64, 2e-4, (0.5, 0.999)          # the course's notebooks


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="CPU threads for numpy's BLAS and for PyTorch alike")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10, help="timed steps per child per round")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--wgan", action="store_true", help="also the WGAN-GP step (5 critic steps)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-count-ops", action="store_true")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--keep-openblas-env", action="store_true")
    p.add_argument("--child", choices=LIBRARIES + ("count",), help=argparse.SUPPRESS)
    p.add_argument("--kind", choices=("dcgan", "wgan"), default="dcgan", help=argparse.SUPPRESS)
    p.add_argument("--ops-by-site", action="store_true",
                   help="only count the device ops of one step (--wgan: WGAN-GP's), each by "
                        "its name and where in tinygan it was launched, most first")
    return p.parse_args(argv)


# --- the step in tinygan and in PyTorch -----------------------------------------------------------

def tinygan_step(device, batch, kind="dcgan"):
    """The course's DCGAN (or, kind "wgan", its WGAN-GP critic and loop) on ``device``."""
    import tinygan as tg
    from tinygan import backend, optim
    from tinygan.dcgan import Critic, DCGANDiscriminator, DCGANGenerator, weights_init
    from tinygan.gan import GANTrainer
    from tinygan.wgan import WGANGPTrainer

    tg.manual_seed(0)
    G, D = DCGANGenerator(Z_DIM), Critic() if kind == "wgan" else DCGANDiscriminator()
    G.apply(weights_init), D.apply(weights_init)
    G.to(device), D.to(device)
    opts = (optim.Adam(G.parameters(), lr=LR, betas=BETAS),
            optim.Adam(D.parameters(), lr=LR, betas=BETAS))
    trainer = (WGANGPTrainer if kind == "wgan" else GANTrainer)(G, D, *opts, z_dim=Z_DIM,
                                                                device=device)
    real = tg.rand(batch, 1, 28, 28, device=device) * 2 - 1

    def step():
        trainer.train_step(real)
    return step, lambda: backend.synchronize(device)


def torch_step(batch, kind="dcgan"):
    """The same step in PyTorch eager, written the way GANTrainer / WGANGPTrainer run it."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    def g_block(i, o, k=3, s=2, final=False):
        if final:
            return nn.Sequential(nn.ConvTranspose2d(i, o, k, s), nn.Tanh())
        return nn.Sequential(nn.ConvTranspose2d(i, o, k, s), nn.BatchNorm2d(o), nn.ReLU(True))

    def d_block(i, o, final=False):
        if final:
            return nn.Sequential(nn.Conv2d(i, o, 4, 2))
        return nn.Sequential(nn.Conv2d(i, o, 4, 2), nn.BatchNorm2d(o), nn.LeakyReLU(0.2, True))

    def init(m):   # the course's weights_init
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.bias, 0)

    h = 64 if kind == "wgan" else 16
    G = nn.Sequential(g_block(Z_DIM, 256), g_block(256, 128, 4, 1), g_block(128, 64),
                      g_block(64, 1, 4, final=True))
    D = nn.Sequential(d_block(1, h), d_block(h, 2 * h), d_block(2 * h, 1, final=True))
    G.apply(init), D.apply(init)
    opt_g = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    criterion = nn.BCEWithLogitsLoss()
    real = torch.rand(batch, 1, 28, 28) * 2 - 1
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def noise():
        return torch.randn(batch, Z_DIM).view(batch, Z_DIM, 1, 1)

    def disc(x):
        return D(x).view(batch, -1)

    def g_step(loss):
        fake = G(noise())
        D.requires_grad_(False)
        g_loss = loss(disc(fake))
        opt_g.zero_grad()
        g_loss.backward()
        D.requires_grad_(True)
        opt_g.step()

    def dcgan_step():
        with torch.no_grad():
            fake = G(noise())
        d_loss = (criterion(disc(fake), zeros) + criterion(disc(real), ones)) / 2
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_step(lambda pred: criterion(pred, ones))

    def wgan_step():
        for _ in range(5):
            with torch.no_grad():
                fake = G(noise())
            fake_pred, real_pred = disc(fake), disc(real)
            epsilon = torch.rand(batch, 1, 1, 1, requires_grad=True)
            mixed = real * epsilon + fake * (1 - epsilon)
            gradient, = torch.autograd.grad(disc(mixed), mixed, torch.ones(batch, 1),
                                            create_graph=True, retain_graph=True)
            gp = ((gradient.view(batch, -1).norm(2, dim=1) - 1) ** 2).mean()
            loss = fake_pred.mean() - real_pred.mean() + 10.0 * gp
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
        g_step(lambda pred: -pred.mean())

    return wgan_step if kind == "wgan" else dcgan_step


# --- the GEMM floor -----------------------------------------------------------------------------

def convolution_gemms(kind, batch):
    """(M, K, N) of every matrix product the convolutions run in one tinygan step on the CPU,
    after a first step: conv2d (O, C·kH·kW, N·Ho·Wo), its transpose (C·kH·kW, O, N·Ho·Wo) and
    the weight gradient (A, N·Ho·Wo, B·kH·kW), as tinygan/ops/convolution.py multiplies."""
    from tinygan.ops import convolution as conv

    def shape(name, a, b, y):
        if name == "Convolve":
            return y.shape[1], math.prod(b.shape[1:]), y.shape[0] * math.prod(y.shape[2:])
        if name == "ConvolveTransposed":
            return math.prod(b.shape[1:]), b.shape[0], a.shape[0] * math.prod(a.shape[2:])
        return y.shape[0], b.shape[0] * math.prod(b.shape[2:]), math.prod(y.shape[1:])

    step, _ = tinygan_step("cpu", batch, kind)
    step()
    recorded, originals = [], []
    for cls in (conv.Convolve, conv.ConvolveTransposed, conv.Correlate):
        original = cls.__dict__["forward"]
        originals.append((cls, original))

        def forward(ctx, a, b, *args, _forward=original.__func__, _name=cls.__name__, **kw):
            y = _forward(ctx, a, b, *args, **kw)
            recorded.append(shape(_name, a, b, y))
            return y
        cls.forward = staticmethod(forward)
    try:
        step()
    finally:
        for cls, original in originals:
            cls.forward = original
    return recorded


def floor_step(kind, batch):
    """The recorded products replayed with numpy's sgemm; and their FLOPs."""
    import numpy as np
    rng = np.random.default_rng(0)
    gemms = convolution_gemms(kind, batch)
    operands = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32))
                for m, k, n in gemms]

    def step():
        for a, b in operands:
            a @ b
    return step, sum(2 * m * k * n for m, k, n in gemms), len(gemms)


# --- a child: one library, timed on request -------------------------------------------------------

def child(args):
    """Set the threads, build the step, warm it up, then answer the parent's lines on stdin:
    "time" -> {"ms": median over --steps steps}; "peak" -> {"peak_rss_mib": ...}."""
    info = {}
    if args.child == "torch":
        import torch
        torch.set_num_threads(args.threads)
        step = torch_step(args.batch, args.kind)
    else:
        from tinygan import backend
        backend.set_num_threads(args.threads)
        if args.child == "tinygan":
            step, _ = tinygan_step("cpu", args.batch, args.kind)
        else:
            step, flops, count = floor_step(args.kind, args.batch)
            info = {"gflop_per_step": round(flops / 1e9, 3), "gemms_per_step": count}
    gan_step.serve(step, args.steps, args.warmup, info)


class Child(gan_step.Pipe):
    """A child process running one library's step; one JSON line back per request."""

    def __init__(self, library, args, kind):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
        argv = [sys.executable, os.path.abspath(__file__), "--child", library, "--kind", kind,
                "--keep-openblas-env"]
        for name in ("batch", "threads", "steps", "warmup"):
            argv += [f"--{name}", str(getattr(args, name))]
        super().__init__(argv, env)
        self.info = self.read()



def time_in_turns(libraries, args, kind):
    """Each library's child timed in turns; {library: ms}, {library: ratio to tinygan}."""
    children = {}
    try:
        for library in libraries:                   # one at a time: startups do not overlap
            children[library] = Child(library, args, kind)
        per_round = []
        for r in range(args.rounds):
            order = libraries if r % 2 == 0 else libraries[::-1]
            per_round.append({library: children[library].ask("time")["ms"] for library in order})
        peaks = {library: children[library].ask("peak")["peak_rss_mib"]
                 for library in libraries if library != "floor"}   # the floor's: a tinygan step
        info = {k: v for c in children.values() for k, v in c.info.items() if k != "ready"}
    finally:
        for c in children.values():
            c.close()
    row = {"kind": kind, "batch": args.batch, "threads": args.threads, "rounds": args.rounds,
           "steps_per_round": args.steps}
    for library in libraries:
        row[f"{library}_ms"] = round(statistics.median(r[library] for r in per_round), 2)
        if library in peaks:
            row[f"{library}_peak_rss_mib"] = peaks[library]
        if library != "tinygan":
            row[f"tinygan_over_{library}"] = round(statistics.median(
                r["tinygan"] / r[library] for r in per_round), 3)
    row.update(info)
    if "gflop_per_step" in info:
        row["floor_gflops"] = round(info["gflop_per_step"] / row["floor_ms"] * 1000, 1)
    row["rounds_ms"] = [{k: round(v, 1) for k, v in r.items()} for r in per_round]
    return row


# --- ops per step ------------------------------------------------------------------------------

def launch_site(depth=2):
    """Where in tinygan the op being recorded was launched: the innermost ``depth`` frames
    in the tinygan package, "file:function:line" each, innermost first."""
    package = os.path.join(ROOT, "tinygan") + os.sep
    frame, sites = sys._getframe(2), []
    while frame is not None and len(sites) < depth:
        name = frame.f_code.co_filename
        if name.startswith(package) and not name.endswith("backend.py"):
            sites.append(f"{os.path.relpath(name, package)}:{frame.f_code.co_name}:"
                         f"{frame.f_lineno}")
        frame = frame.f_back
    return " < ".join(sites)


def device_ops_per_step(batch, kind, by_site=None):
    """Device ops in one step on the cuda path, counted on the CuPy stand-in (as
    gan_step.device_ops_per_step): the fewest of 3 steps after 2 warm-up steps. With
    ``by_site`` (a Counter), also each op of the last step by (name, launch_site())."""
    from tinygan import backend
    if gan_step.TESTS not in sys.path:
        sys.path.append(gan_step.TESTS)
    try:
        import cupy_standin
    except ImportError:
        return None
    previous = backend._cuda_module, backend._cuda_reason, backend._cuda_probed
    backend._use_cuda_module(cupy_standin)
    try:
        step, _ = tinygan_step("cuda", batch, kind)
        step(), step()
        counts = []
        for _ in range(3):
            with cupy_standin.device_ops.counting() as ops:
                step()
            counts.append(ops.by_name)
        if by_site is not None:
            counter, record = cupy_standin.device_ops, type(cupy_standin.device_ops).record

            def recorded(self, name):
                if self is counter and not self._muted:
                    by_site[name, launch_site()] += 1
                record(self, name)
            type(counter).record = recorded
            try:
                step()
            finally:
                type(counter).record = record
    finally:
        backend._cuda_module, backend._cuda_reason, backend._cuda_probed = previous
    return min(counts, key=lambda c: sum(c.values()))


def aten_ops_per_step(batch, kind):
    """PyTorch's top-level ATen ops in one step, counted as gan_step.py counts them."""
    return gan_step.top_level_aten_ops(torch_step(batch, kind))


def count_child(args):
    """One JSON line: the op counts, computed in a process of their own."""
    row = {}
    ours = device_ops_per_step(args.batch, args.kind)
    if ours is not None:
        row.update(tinygan_device_ops=sum(ours.values()), tinygan_top=dict(ours.most_common(10)))
    aten = None
    if not os.environ.get("TINYGAN_BENCH_NO_TORCH"):    # the parent's --no-torch
        try:
            aten = aten_ops_per_step(args.batch, args.kind)
        except ImportError:
            pass
    if aten is not None:
        row.update(torch_aten_ops=sum(aten.values()),
                   torch_aten_ops_without_views=sum(n for k, n in aten.items()
                                                    if k not in gan_step.ATEN_VIEWS),
                   torch_top=dict(aten.most_common(10)))
    print(json.dumps(row), flush=True)


# --- the run ------------------------------------------------------------------------------------

def print_ops_by_site(batch, kind):
    """--ops-by-site: one step's device ops by name and launch site, most first."""
    import collections
    by_site = collections.Counter()
    total = sum(device_ops_per_step(batch, kind, by_site).values())
    print(f"{kind}, batch {batch}: {total} device ops per step (the fewest of 3 steps); "
          f"the last step's by launch site ({sum(by_site.values())}):")
    for (name, site), count in by_site.most_common():
        print(f"{count:5d}  {name:30s} {site}")


def main(argv=None):
    args = parse_args(argv)
    if args.ops_by_site:
        return print_ops_by_site(args.batch, "wgan" if args.wgan else args.kind)
    if args.child == "count":
        return count_child(args)
    if args.child:
        return child(args)
    if not args.keep_openblas_env and any(k in os.environ for k in gan_step.OPENBLAS_VARS):
        env = {k: v for k, v in os.environ.items() if k not in gan_step.OPENBLAS_VARS}
        env["TINYGAN_BENCH_DROPPED"] = ",".join(k for k in gan_step.OPENBLAS_VARS
                                                if k in os.environ)
        os.execve(sys.executable, [sys.executable] + sys.argv, env)  # before numpy loads BLAS

    import importlib.util
    have_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
    if not args.no_torch and not have_torch:
        print("torch is not importable: PyTorch columns left out")
    results = {"machine": gan_step.machine_facts(), "runs": []}   # threads: the children's
    print(json.dumps(results["machine"], indent=1))
    libraries = ("tinygan", "torch", "floor") if have_torch else ("tinygan", "floor")
    for kind in ("dcgan", "wgan") if args.wgan else ("dcgan",):
        row = time_in_turns(libraries, args, kind)
        if not args.no_count_ops:
            argv = [sys.executable, os.path.abspath(__file__), "--child", "count", "--kind",
                    kind, "--batch", str(args.batch), "--keep-openblas-env"]
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
            if not have_torch:
                env["TINYGAN_BENCH_NO_TORCH"] = "1"
            out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
            row["ops_per_step"] = json.loads(out.stdout.strip().splitlines()[-1])
        results["runs"].append(row)
        print(json.dumps(row))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
