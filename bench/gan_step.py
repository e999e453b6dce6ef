"""How fast is one GAN training step (one D step + one G step), against the hardware and PyTorch?

    python bench/gan_step.py                      # numpy, and cupy when a GPU works
    python bench/gan_step.py --batch 128 --steps 200 --memory-steps 2000 --profile

For each backend and batch size, in one run on one machine:
- ms per step (median of --steps timed steps after --warmup, device synchronised), tinygan,
  PyTorch and the GEMM floor timed in turns (6 rounds of each) and each ratio the median
  of its rounds' ratios, so that the machine's drift in speed cancels out;
- GEMM FLOPs per step counted from the layer shapes, the GFLOP/s achieved, and the
  fraction of the sgemm peak measured on the same device in the same run;
- the same step in PyTorch (same shapes, hyper-parameters, dtype) when torch imports,
  and the ratio tinygan / PyTorch;
- peak memory (RSS on the CPU, the pool on the GPU) and its growth over --memory-steps;
- with --profile, where the time goes (GEMM, elementwise, Adam, the rest);
- device ops per step on the cuda path (kernel launches and copies, counted on the CuPy
  stand-in in tests/) beside PyTorch's ATen op count for the same step (--count-ops).

A user's machine has no OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE; this program drops both
(re-executing itself before numpy loads) unless --keep-openblas-env, and reports the
BLAS kernel that ran and the sgemm rate it measured.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["numpy", "cupy", "all"], default="all")
    p.add_argument("--batch", type=int, nargs="+", default=[64, 128, 512])
    p.add_argument("--steps", type=int, default=100, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--memory-steps", type=int, default=0, help="steps for the memory-growth check")
    p.add_argument("--profile", action="store_true", help="per-op time breakdown (batch 128)")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--keep-openblas-env", action="store_true")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="CPU threads for numpy's BLAS (and tinygan's pool) and for PyTorch "
                        "alike (default: one per core, PyTorch's default; import tinygan and "
                        "mnist_gan.py take half the cores)")
    p.add_argument("--count-ops", choices=["on", "off", "only"], default="on",
                   help="device ops per step beside PyTorch's ATen ops: a few steps, so on by "
                        "default; 'only' skips the timings")
    return p.parse_args()


# --- FLOPs, from the layer shapes --------------------------------------------------------------

def gemm_flops_per_step(batch, z_dim=64, hidden=128, im_dim=784):
    """Multiply-adds x 2 of every GEMM in one D step + one G step, as GANTrainer runs them.

    A Linear(in, out) on N rows costs 2·N·in·out forward, the same again for the input
    gradient and again for the weight gradient, each only when needed:
      D step: G forward (no graph); D forward on fake and real; D backward on both with
              weight gradients, input gradients except at D's first layer (images need none).
      G step: G forward; D forward; D backward with input gradients only (D is frozen);
              G backward with weight gradients, input gradients except at G's first layer.
    """
    g = [(z_dim, hidden), (hidden, 2 * hidden), (2 * hidden, 4 * hidden),
         (4 * hidden, 8 * hidden), (8 * hidden, im_dim)]
    d = [(im_dim, 4 * hidden), (4 * hidden, 2 * hidden), (2 * hidden, hidden), (hidden, 1)]

    def cost(layers):
        return sum(2 * batch * i * o for i, o in layers)

    g_all, d_all = cost(g), cost(d)
    d_step = g_all + 2 * d_all + 2 * d_all + 2 * cost(d[1:])
    g_step = g_all + d_all + d_all + g_all + cost(g[1:])
    return d_step + g_step


# --- the sgemm ceiling --------------------------------------------------------------------------

def sgemm_peak(xp, sync, n=1024, repeats=20):
    """GFLOP/s of a square float32 matmul: the ceiling the step's GEMMs aim at."""
    a = xp.ones((n, n), dtype=xp.float32)
    b = xp.ones((n, n), dtype=xp.float32)
    for _ in range(3):
        a @ b
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times) / 1e9


LAYERS = [(64, 128), (128, 256), (256, 512), (512, 1024), (1024, 784),   # G
          (784, 512), (512, 256), (256, 128)]                             # D (without the last)


def layer_gemms_ms(batch, use_torch):
    """The three GEMMs of each Linear (y = x Wᵀ, dx = g W, dW = gᵀ x) at the step's shapes,
    once each, summed: the same work through numpy's BLAS or PyTorch's."""
    import numpy as np
    total = 0.0
    rng = np.random.default_rng(0)
    for i, o in LAYERS:
        x, w, g = (rng.random(shape, dtype=np.float32) for shape in ((batch, i), (o, i), (batch, o)))
        if use_torch:
            import torch
            x, w, g = (torch.from_numpy(a) for a in (x, w, g))
        for f in (lambda: x @ w.T, lambda: g @ w, lambda: g.T @ x):
            total += time_steps(f, lambda: None, 3, 30)
    return total


def gemm_floor(device, batch):
    """The step's GEMM floor: every matrix product one GANTrainer.train_step runs (Affine's
    x·Wᵀ and each MatMul of the backwards), recorded with its operands in their own layouts
    (a transposed view stays one), to be replayed alone with the same BLAS: what the step
    would cost if everything else were free. Returns (replay, sync, number of GEMMs)."""
    from tinygan import backend
    from tinygan.core import ops as core_ops

    recorded = []
    affine, matmul_ = core_ops.Affine.forward, core_ops.MatMul.forward

    def recording_affine(ctx, x, weight, bias=None):
        recorded.append((x.copy(), weight.copy().T))          # x · Wᵀ, Wᵀ a transposed view
        return affine(ctx, x, weight, bias)

    def recording_matmul(ctx, a, b):
        recorded.append((keep_layout(a), keep_layout(b)))
        return matmul_(ctx, a, b)

    def keep_layout(a):   # a copy with the same strides' order (row- or column-major)
        return a.copy() if a.flags.c_contiguous or not a.flags.f_contiguous else a.T.copy().T

    step, sync = tinygan_step(device, batch, metrics=False)
    step()                                    # Adam's state is made in the first step
    core_ops.Affine.forward, core_ops.MatMul.forward = (staticmethod(recording_affine),
                                                    staticmethod(recording_matmul))
    try:
        step()
    finally:
        core_ops.Affine.forward, core_ops.MatMul.forward = (staticmethod(affine),
                                                        staticmethod(matmul_))
    xp = backend.xp_for(device)

    def gemms():
        for a, b in recorded:
            xp.matmul(a, b)
    return gemms, sync, len(recorded)


# --- the step in tinygan and in PyTorch -----------------------------------------------------------

def default_trainer(device, batch):
    """examples/mnist_gan.py's default GAN and recipe (its "tinygan" preset, read from the
    example itself, unconditional) on ``device``, and a batch of random images: the step that
    every program here times and tests/test_device_ops.py counts."""
    import importlib.util

    import tinygan as tg
    from tinygan import optim
    from tinygan.gan import GANTrainer, build_models

    example = os.environ.get("TINYGAN_EXAMPLE") or os.path.join(   # compare_commits: each
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),   # tree's own example,
        "examples", "mnist_gan.py")                                     # which its library runs
    spec = importlib.util.spec_from_file_location("mnist_gan", example)
    mnist_gan = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mnist_gan)
    recipe = mnist_gan.PRESETS["tinygan"]

    tg.manual_seed(0)
    G, D = build_models(64, 128)                 # z_dim and hidden_dim: the example's defaults
    G.to(device), D.to(device)
    adam = dict(lr=recipe["lr"], betas=(recipe["beta1"], recipe["beta2"]))
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), **adam),
                         optim.Adam(D.parameters(), **adam), z_dim=64, device=device,
                         label_smoothing=recipe["label_smoothing"])
    return trainer, tg.rand(batch, 784, device=device)


def tinygan_step(device, batch, metrics=True):
    from tinygan import backend
    from tinygan.utils.training import TrainingRun

    trainer, real = default_trainer(device, batch)
    run = TrainingRun(trainer, log_every=50)   # a step as a training run makes it: metrics too
    train = run.train_step if metrics else trainer.train_step   # the latter: torch_step's work

    def step():
        train(real)

    return step, lambda: backend.synchronize(device)


def torch_step(device, batch):
    """The same step, written the way GANTrainer does it, in PyTorch eager."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    def g_block(i, o):
        return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU()]

    def d_block(i, o):
        return [nn.Linear(i, o), nn.LeakyReLU(0.2)]

    G = nn.Sequential(*g_block(64, 128), *g_block(128, 256), *g_block(256, 512),
                      *g_block(512, 1024), nn.Linear(1024, 784), nn.Sigmoid()).to(device)
    D = nn.Sequential(*d_block(784, 512), *d_block(512, 256), *d_block(256, 128),
                      nn.Linear(128, 1)).to(device)
    # PyTorch's default Adam for the device: a loop over parameters on the CPU, foreach
    # kernels on CUDA
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    criterion = nn.BCEWithLogitsLoss()
    real = torch.rand(batch, 784, device=device)
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)

    def step():
        with torch.no_grad():
            fake = G(torch.randn(batch, 64, device=device))
        d_loss = (criterion(D(fake), zeros) + criterion(D(real), ones)) / 2
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        fake = G(torch.randn(batch, 64, device=device))
        D.requires_grad_(False)
        g_loss = criterion(D(fake), ones)
        opt_g.zero_grad()
        g_loss.backward()
        D.requires_grad_(True)
        opt_g.step()

    sync = (lambda: torch.cuda.synchronize()) if device == "cuda" else (lambda: None)
    return step, sync


def time_in_turns(runs, warmup, steps, rounds=6):
    """Each of ``runs`` ({name: (step, sync)}) timed in turns: ``rounds`` rounds, each timing
    steps // rounds calls of every one in a row, so that the machine's drift in speed (this
    VM's drifts up to 1.5x within minutes) falls on all of them alike. Returns {name: median
    ms per call over all rounds} and {name: the median over rounds of its ratio to the first
    run's median in the same round}."""
    for step, sync in runs.values():
        for _ in range(warmup):
            step()
        sync()
    samples = {name: [] for name in runs}
    per_round = []
    for _ in range(rounds):
        medians = {}
        for name, (step, sync) in runs.items():
            times = []
            for _ in range(max(1, steps // rounds)):
                t = time.perf_counter()
                step()
                sync()
                times.append(time.perf_counter() - t)
            samples[name] += times
            medians[name] = statistics.median(times)
        per_round.append(medians)
    first = next(iter(runs))
    ms = {name: statistics.median(times) * 1000 for name, times in samples.items()}
    ratios = {name: statistics.median(r[name] / r[first] for r in per_round) for name in runs}
    return ms, ratios


def time_steps(step, sync, warmup, steps):
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


# --- memory ------------------------------------------------------------------------------------

def rss_mib():
    """The resident set size now (Linux /proc), in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def memory_growth(device, steps):
    """Memory in use after 10% of the steps and after all of them (MiB), and the peak."""
    from tinygan import backend
    step, sync = tinygan_step(device, 128)
    read = (rss_mib if device == "cpu"
            else lambda: backend.memory_in_use(device) / 2 ** 20)
    early = None
    for i in range(steps):
        step()
        if i == steps // 10:
            sync()
            early = read()
    sync()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if device == "cpu" else None
    return {"after_10pct_mib": round(early, 1), "after_all_mib": round(read(), 1),
            "peak_rss_mib": None if peak is None else round(peak, 1), "steps": steps}


# --- where the time goes ------------------------------------------------------------------------

def profile(device, steps=50, batch=128):
    """Seconds per step in GEMM ops, elementwise ops, Adam, and everything else (Python).

    Every op's ``forward`` is timed, and the ``backward``s written on raw arrays
    (``@once_differentiable``). The other backwards are made of ops (``grad @ weight``
    runs MatMul's forward), so timing them too would count their ops twice.
    """
    from tinygan import backend, optim
    from tinygan.core.function import Function
    from tinygan.core import ops as core_ops

    totals = {"gemm (Affine, MatMul)": 0.0, "elementwise and reductions": 0.0, "Adam": 0.0}
    originals = []

    def timed(owner, name, bucket):
        original = getattr(owner, name)
        originals.append((owner, name, owner.__dict__[name]))  # raw: staticmethod or function

        def wrapper(*args, **kwargs):
            backend.synchronize(device)
            t = time.perf_counter()
            out = original(*args, **kwargs)
            backend.synchronize(device)
            totals[bucket] += time.perf_counter() - t
            return out
        if getattr(original, "once_differentiable", False):
            wrapper.once_differentiable = True
        setattr(owner, name, staticmethod(wrapper) if name in ("forward", "backward") else wrapper)

    functions = set()
    stack = [Function]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            functions.add(sub)
            stack.append(sub)
    for cls in functions:
        bucket = ("gemm (Affine, MatMul)" if cls in (core_ops.Affine, core_ops.MatMul)
                  else "elementwise and reductions")
        if "forward" in cls.__dict__:
            timed(cls, "forward", bucket)
        if "backward" in cls.__dict__ and getattr(cls.backward, "once_differentiable", False):
            timed(cls, "backward", bucket)
    timed(optim.Adam, "step", "Adam")
    try:
        step, sync = tinygan_step(device, batch)
        for _ in range(5):
            step()
        for key in totals:
            totals[key] = 0.0
        sync()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        total = time.perf_counter() - t
    finally:
        for owner, name, raw in originals:
            setattr(owner, name, raw)
    result = {k: v / steps * 1000 for k, v in totals.items()}
    result["Python and the rest"] = total / steps * 1000 - sum(result.values())
    result["total"] = total / steps * 1000
    return {k: round(v, 2) for k, v in result.items()}


# --- ops per step ------------------------------------------------------------------------------

TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")


def device_ops_per_step(batch):
    """Device ops (kernels and copies, see cupy_standin.OpCounter) in one GANTrainer.train_step
    on the cuda path: the fewest of 3 steps after 2 warm-up steps (as tests/test_device_ops.py:
    a few gradient copies come and go from step to step); None without the stand-in.

    Counted on the CuPy stand-in, even with a GPU: real CuPy has no launch counter, and the
    count belongs to tinygan's code, not to the hardware. The stand-in replaces "cuda" through
    the backend's test hook (as tests/conftest.py does) for this function only.
    """
    from tinygan import backend
    if TESTS not in sys.path:
        sys.path.append(TESTS)   # appended: nothing of the bench's own is shadowed
    try:
        import cupy_standin
    except ImportError:
        return None
    previous = backend._cuda_module, backend._cuda_reason, backend._cuda_probed
    backend._use_cuda_module(cupy_standin)
    try:
        step, _ = tinygan_step("cuda", batch, metrics=False)
        step(), step()   # Adam's state and work buffers are made in the first step
        counts = []
        for _ in range(3):
            with cupy_standin.device_ops.counting() as ops:
                step()
            counts.append(ops.by_name)
    finally:
        # "cuda" as it was: real CuPy, or nothing, or (under pytest) the stand-in
        backend._cuda_module, backend._cuda_reason, backend._cuda_probed = previous
    return min(counts, key=lambda c: sum(c.values()))


# ATen ops that make no kernel: views and detach (the stand-in counts views as free too).
ATEN_VIEWS = {"aten::t", "aten::view", "aten::detach", "aten::transpose", "aten::expand",
              "aten::as_strided", "aten::alias", "aten::unsqueeze", "aten::squeeze",
              "aten::permute", "aten::slice", "aten::select", "aten::_reshape_alias"}


def aten_ops_per_step(batch):
    """The ATen ops PyTorch eager dispatches in one torch_step on the CPU (top_level_aten_ops).
    Views count here (ATEN_VIEWS: the caller also reports the count without)."""
    step, _ = torch_step("cpu", batch)
    return top_level_aten_ops(step)


def top_level_aten_ops(step):
    """The ATen ops of one call of ``step`` after 2 warm-up calls, by torch.profiler: the
    events named "aten::*" with no "aten::" event above them, i.e. the ops called from Python,
    the optimizer and autograd's backward nodes, not the ops those run inside (aten::linear's
    aten::addmm). The profiler's own events are not "aten::" ones."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    step(), step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        step()

    def top_level(event):
        parent = event.cpu_parent
        while parent is not None:
            if parent.name.startswith("aten::"):
                return False
            parent = parent.cpu_parent
        return True

    return collections.Counter(e.name for e in prof.events()
                               if e.name.startswith("aten::") and top_level(e))


def count_ops(batches, have_torch):
    """One row per batch size: tinygan's device ops and PyTorch's ATen ops, with the top 15."""
    rows = []
    for batch in batches:
        row = {"batch": batch}
        ours = device_ops_per_step(batch)
        if ours is None:
            print(f"device ops not counted: no CuPy stand-in in {TESTS}")
        else:
            row.update(tinygan_device_ops=sum(ours.values()),
                       tinygan_top=dict(ours.most_common(15)))
        if have_torch:
            aten = aten_ops_per_step(batch)
            row.update(torch_aten_ops=sum(aten.values()),
                       torch_aten_ops_without_views=sum(n for k, n in aten.items()
                                                        if k not in ATEN_VIEWS),
                       torch_top=dict(aten.most_common(15)))
        rows.append(row)
        print(json.dumps(row))
    return rows


# --- the run ------------------------------------------------------------------------------------

def machine_facts():
    import numpy as np
    facts = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
             "numpy": np.__version__, "cpu": platform.processor() or platform.machine(),
             "cores": os.cpu_count(),
             "openblas_env": {k: os.environ.get(k) for k in OPENBLAS_VARS},
             "openblas_env_dropped": os.environ.get("TINYGAN_BENCH_DROPPED", "")}
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            facts["cpu"] = names[0]
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info
        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        facts["blas"] = [{k: i.get(k) for k in ("internal_api", "version", "architecture",
                                                "num_threads")} for i in blas]
    except ImportError:
        facts["blas"] = "threadpoolctl not installed (pip install threadpoolctl)"
    try:
        import torch
        facts["torch"] = torch.__version__
        facts["torch_threads"] = torch.get_num_threads()
    except ImportError:
        facts["torch"] = None
    return facts



def serve(step, steps, warmup, info=None):
    """The child's side of Pipe: run ``step`` ``warmup`` times, say ready (with ``info``), then
    answer each line on stdin: "time" with the median ms of ``steps`` steps, "peak" with the
    process's peak RSS."""
    for _ in range(warmup):
        step()
    print(json.dumps(dict(info or {}, ready=True)), flush=True)
    for line in sys.stdin:
        if line.strip() == "time":
            times = []
            for _ in range(steps):
                t = time.perf_counter()
                step()
                times.append(time.perf_counter() - t)
            print(json.dumps({"ms": statistics.median(times) * 1000}), flush=True)
        elif line.strip() == "peak":
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(json.dumps({"peak_rss_mib": round(peak, 1)}), flush=True)


class Pipe:
    """A child process that answers each request (a line on its stdin) with one JSON line:
    dcgan_step.py's and mlp_step.py's children, each library in its own process."""

    def __init__(self, argv, env):
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env)

    def read(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a child ended early (exit {self.process.wait()})")
        return json.loads(line)

    def ask(self, request):
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self):
        self.process.stdin.close()
        self.process.wait()

def main():
    args = parse_args()
    if not args.keep_openblas_env and any(k in os.environ for k in OPENBLAS_VARS):
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        env["TINYGAN_BENCH_DROPPED"] = ",".join(k for k in OPENBLAS_VARS if k in os.environ)
        os.execve(sys.executable, [sys.executable] + sys.argv, env)  # before numpy loads BLAS

    from tinygan import backend

    if args.threads is not None:   # both alike: import tinygan alone would take half the cores
        backend.set_num_threads(args.threads)
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    devices = []   # to time; none with --count-ops only (the counts need no GPU)
    if args.backend in ("numpy", "all") and args.count_ops != "only":
        devices.append("cpu")
    if args.backend in ("cupy", "all") and args.count_ops != "only":
        if backend.cuda_available():
            devices.append("cuda")
        elif args.backend == "cupy":
            sys.exit(f"error: {backend.cuda_unavailable_reason()}")
    have_torch = False
    if not args.no_torch:
        try:
            import torch  # noqa: F401
            have_torch = True
        except ImportError:
            print("torch is not importable: PyTorch columns left out")

    results = {"machine": machine_facts(), "runs": []}
    print(json.dumps(results["machine"], indent=1))
    for device in devices:
        xp = backend.xp_for(device)
        peak = sgemm_peak(xp, lambda: backend.synchronize(device))
        print(f"\n[{device}] sgemm peak (1024^3, float32): {peak:.1f} GFLOP/s")
        for batch in args.batch:
            row = {"device": device, "batch": batch, "sgemm_peak_gflops": round(peak, 1)}
            flops = gemm_flops_per_step(batch)
            replay, sync, count = gemm_floor(device, batch)
            runs = {"tinygan": tinygan_step(device, batch), "gemm_floor": (replay, sync)}
            if have_torch:
                runs["torch"] = torch_step(device, batch)
            times, ratios = time_in_turns(runs, args.warmup, args.steps)
            ms, floor = times["tinygan"], times["gemm_floor"]
            row.update(tinygan_ms=round(ms, 2), gflop_per_step=round(flops / 1e9, 3),
                       tinygan_gflops=round(flops / ms / 1e6, 1),
                       tinygan_peak_fraction=round(flops / ms / 1e6 / peak, 3))
            if have_torch:
                tms = times["torch"]
                row.update(torch_ms=round(tms, 2),
                           ratio_tinygan_over_torch=round(1 / ratios["torch"], 3),
                           torch_peak_fraction=round(flops / tms / 1e6 / peak, 3))
            row.update(gemm_floor_ms=round(floor, 2), gemms_per_step=count,
                       ratio_tinygan_over_gemm_floor=round(1 / ratios["gemm_floor"], 3))
            if have_torch and device == "cpu":  # the BLAS underneath each: numpy's vs PyTorch's
                row.update(layer_gemms_numpy_ms=round(layer_gemms_ms(batch, False), 2),
                               layer_gemms_torch_ms=round(layer_gemms_ms(batch, True), 2))
            results["runs"].append(row)
            print(json.dumps(row))
        if args.memory_steps:
            mem = memory_growth(device, args.memory_steps)
            results[f"memory_{device}"] = mem
            print(f"[{device}] memory: {json.dumps(mem)}")
        if args.profile:
            prof = profile(device)
            results[f"profile_{device}_ms_per_step"] = prof
            print(f"[{device}] profile, ms per step at batch 128: {json.dumps(prof)}")
    if args.count_ops != "off":
        print("\n[ops] per step: tinygan's device ops on the cuda path (CuPy stand-in), "
              "PyTorch's top-level ATen ops (CPU)")
        results["ops_per_step"] = count_ops(args.batch, have_torch)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
