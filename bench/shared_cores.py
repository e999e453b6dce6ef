"""Two training runs on the same cores: how much does each slow down, by BLAS thread count?

    python bench/shared_cores.py --data-dir ~/data/mnist                 # --threads 2 1
    python bench/shared_cores.py --data-dir ~/data/mnist --threads 4 2 1 --limit 25600

For each thread count: examples/mnist_gan.py alone, then two copies started together, each for
2 epochs of --limit images; the time of the second epoch (the first has the start-up in it)
as mnist_gan.py prints it, and the ratio of together to alone. The epoch includes the
per-epoch grid, curve and checkpoint, as a user's run does. Run it on an otherwise idle
machine: the point is the slowdown the two runs cause each other.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mnist_gan.py"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", required=True, help="the MNIST folder")
    p.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    p.add_argument("--limit", type=int, default=12_800, help="images per epoch (batch 64)")
    return p.parse_args()


def start(args, threads, out):
    command = [sys.executable, str(EXAMPLE), "--epochs", "2", "--limit", str(args.limit),
               "--threads", str(threads), "--data-dir", args.data_dir, "--out", str(out)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def epoch_seconds(process):
    """The "epoch 2: 9.5 s, ..." line mnist_gan.py prints after its second epoch."""
    output, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"mnist_gan.py failed (exit {process.returncode}):\n{output[-2000:]}")
    return float(re.search(r"^epoch 2: ([\d.]+) s", output, re.MULTILINE).group(1))


def main():
    args = parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            alone = epoch_seconds(start(args, threads, Path(tmp, f"alone{threads}")))
            pair = [start(args, threads, Path(tmp, f"pair{threads}{i}")) for i in range(2)]
            together = [epoch_seconds(p) for p in pair]
            row = {"threads": threads, "alone_s": alone, "together_s": together,
                   "slowdown": round(max(together) / alone, 2),
                   "machine": f"{platform.node()}, {platform.processor() or platform.machine()}"}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| BLAS threads | one run alone (s/epoch) | two at once (s/epoch) | slowdown |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['alone_s']} | {' and '.join(map(str, r['together_s']))} "
              f"| {r['slowdown']}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
