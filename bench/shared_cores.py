"""Two training runs on the same cores: how much does each slow down, by BLAS thread count?

    python bench/shared_cores.py --data-dir ~/data/mnist                 # --threads 2 1
    python bench/shared_cores.py --data-dir ~/data/mnist --threads 4 2 1 --limit 25600
    python bench/shared_cores.py --program course_loop --threads default 2 1

--program mnist_gan (the default): for each thread count, examples/mnist_gan.py alone, then
two copies started together, each for 2 epochs of --limit images; the time of the second
epoch (the first has the start-up in it) as mnist_gan.py prints it, and the ratio of together
to alone. The epoch includes the per-epoch grid, curve and checkpoint, as a user's run does.

--program course_loop: bench/course_loop.py, a learner's own loop that only imports tinygan
and chooses no threads, alone and two at once; its ms per step (--steps steps, a median of
blocks). "default" runs it as a learner would, with no thread setting anywhere; a number N
runs it with OPENBLAS_NUM_THREADS=N in its environment (N = the cores: what it ran with
before tinygan chose a default on import).

Run it on an otherwise idle machine: the point is the slowdown the two runs cause each
other. The load average before each row is printed with it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
EXAMPLE = BENCH.parent / "examples" / "mnist_gan.py"
COURSE_LOOP = BENCH / "course_loop.py"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--program", choices=("mnist_gan", "course_loop"), default="mnist_gan")
    p.add_argument("--data-dir", help="the MNIST folder (mnist_gan only)")
    p.add_argument("--threads", nargs="+", default=None,
                   help="thread counts; course_loop also 'default' (default: 2 1, and for "
                        "course_loop default 2 1)")
    p.add_argument("--limit", type=int, default=12_800, help="images per epoch (batch 64)")
    p.add_argument("--steps", type=int, default=60, help="course_loop's timed steps")
    args = p.parse_args()
    if args.threads is None:
        args.threads = ["2", "1"] if args.program == "mnist_gan" else ["default", "2", "1"]
    if args.program == "mnist_gan" and not args.data_dir:
        p.error("--data-dir is required for mnist_gan")
    return args


def start(args, threads, out):
    if args.program == "course_loop":
        env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
        if threads != "default":
            env["OPENBLAS_NUM_THREADS"] = threads
        command = [sys.executable, str(COURSE_LOOP), "--steps", str(args.steps)]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=env)
    command = [sys.executable, str(EXAMPLE), "--epochs", "2", "--limit", str(args.limit),
               "--threads", str(threads), "--data-dir", args.data_dir, "--out", str(out)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def measure(args, process):
    """mnist_gan: the "epoch 2: 9.5 s, ..." line it prints after its second epoch (s);
    course_loop: its ms per step."""
    output, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{args.program} failed (exit {process.returncode}):\n{output[-2000:]}")
    if args.program == "course_loop":
        return json.loads(output.strip().splitlines()[-1])["ms_per_step"]
    return float(re.search(r"^epoch 2: ([\d.]+) s", output, re.MULTILINE).group(1))


def main():
    args = parse_args()
    unit = "ms/step" if args.program == "course_loop" else "s/epoch"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            load = os.getloadavg()[0]
            alone = measure(args, start(args, threads, Path(tmp, f"alone{threads}")))
            pair = [start(args, threads, Path(tmp, f"pair{threads}{i}")) for i in range(2)]
            together = [measure(args, p) for p in pair]
            row = {"program": args.program, "threads": threads, "alone": alone,
                   "together": together, "unit": unit,
                   "slowdown": round(max(together) / alone, 2), "load_before": round(load, 2),
                   "machine": f"{platform.node()}, {platform.processor() or platform.machine()}"}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n| BLAS threads | one run alone ({unit}) | two at once ({unit}) | slowdown | "
          "load average before |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['alone']} | {' and '.join(map(str, r['together']))} "
              f"| {r['slowdown']}x | {r['load_before']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
