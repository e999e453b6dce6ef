"""Is commit B's CPU training step slower than commit A's? Both timed in turns, one run.

    python bench/compare_commits.py HEAD~1 HEAD                   # batch 2 and 128, 1 thread
    python bench/compare_commits.py 4ba2d45 main --batch 2 64 128 --rounds 8 --threads 2

Each commit is checked out with ``git worktree add --detach`` into a temporary folder
(removed afterwards) and gets its own process, started with ``PYTHONPATH=<that tree>``: the
library under test is that commit's, the step around it is this file's ``gan_step.py``
(``tinygan_step``: one D step and one G step of the default MNIST GAN as a training run
makes it, on random images). Both processes build their trainers and warm up, then the
rounds alternate A, B, A, B, ...: in each, a process takes 2 untimed steps and then times
``--steps`` steps at every batch size, while the other waits. Reported per batch: each
commit's median ms per step over all rounds, and the median over rounds of B's round median
over A's (B / A < 1: B is faster). The machine's speed drifts by up to 1.5x within minutes
(bench/README.md), so only the ratio within one run means anything.

The step needs of the library only what ``gan_step.tinygan_step`` and the example it reads
its recipe from import: ``tinygan``, ``tinygan.nn``, ``tinygan.optim``, ``tinygan.gan``,
``tinygan.backend`` and ``tinygan.utils``; so any two commits with those public modules
compare, whatever their core looks like inside.

Both processes run with the same BLAS threads (``--threads``, default 1, set through
threadpoolctl as ``tg.set_num_threads`` does) and, as the other bench programs, without
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (unless --keep-openblas-env): a user's machine has
neither. The header shows the machine and the BLAS kernel each process loaded.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
HERE = os.path.dirname(os.path.abspath(__file__))
ROUND_WARMUP = 2   # untimed steps per batch at the start of each round: the other process
                   # has just had the caches


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("a", nargs="?", help="the old commit (anything git rev-parse takes)")
    p.add_argument("b", nargs="?", help="the new commit")
    p.add_argument("--batch", type=int, nargs="+", default=[2, 128])
    p.add_argument("--rounds", type=int, default=6, help="rounds of A then B (5 or more)")
    p.add_argument("--steps", type=int, default=30, help="timed steps per batch per round")
    p.add_argument("--warmup", type=int, default=10, help="steps per batch before round 1")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads, the same for both")
    p.add_argument("--keep-openblas-env", action="store_true")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)   # the tree under test
    args = p.parse_args(argv)
    if args.child is None and (args.a is None or args.b is None):
        p.error("give two commits: A (old) and B (new)")
    return args


# --- the child: one commit's library, timed on request -----------------------------------------

def child(args):
    """Build a trainer per batch size on the library found on PYTHONPATH, warm them up,
    say what was loaded, then answer each "run" line on stdin with one JSON line of
    per-step seconds ({batch: [seconds, ...]})."""
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    import gan_step   # beside this file: the same step code for both commits
    import tinygan

    threadpool_limits(limits=args.threads, user_api="blas")   # numpy's BLAS is loaded now
    steps = {}
    for batch in args.batch:
        step, _ = gan_step.tinygan_step("cpu", batch)
        for _ in range(args.warmup):
            step()
        steps[batch] = step
    # Every tinygan module from the tree under test: an editable install elsewhere (a
    # setuptools finder on sys.meta_path) would otherwise fill in the modules it lacks.
    tree = os.path.realpath(args.child) + os.sep
    strays = sorted(f"{name} ({module.__file__})" for name, module in list(sys.modules.items())
                    if name.split(".")[0] == "tinygan"
                    and not os.path.realpath(getattr(module, "__file__", None) or "")
                    .startswith(tree))
    if strays:
        sys.exit(f"compare_commits: not from {args.child}: " + ", ".join(strays))
    where = os.path.realpath(tinygan.__file__)
    blas = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info() if i.get("user_api") == "blas"]
    say({"tinygan": where, "numpy": np.__version__, "blas": blas})
    for line in sys.stdin:
        if line.strip() != "run":
            break
        times = {}
        for batch, step in steps.items():
            for _ in range(ROUND_WARMUP):
                step()
            times[batch] = []
            for _ in range(args.steps):
                t = time.perf_counter()
                step()
                times[batch].append(time.perf_counter() - t)
        say(times)


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# --- the parent: two worktrees, two children, rounds in turns ----------------------------------

def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class Child:
    """One commit's process: started, then asked for one round at a time."""

    def __init__(self, label, tree, args, env):
        command = [sys.executable, os.path.abspath(__file__), "--child", tree,
                   "--batch", *map(str, args.batch), "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--threads", str(args.threads)]
        self.label = label
        self.process = subprocess.Popen(command, cwd=tree, env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.facts = self.read()

    def read(self):
        line = self.process.stdout.readline()
        if not line:
            rc = self.process.wait()
            sys.exit(f"compare_commits: the process for {self.label} ended (exit {rc}); "
                     "its error is above")
        return json.loads(line)

    def round(self):
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return {int(batch): times for batch, times in self.read().items()}

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


def compare(args):
    repo = git(HERE, "rev-parse", "--show-toplevel")
    commits = {}
    for label, name in (("A", args.a), ("B", args.b)):
        try:
            sha = git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
        except subprocess.CalledProcessError:
            sys.exit(f"compare_commits: {name!r} is not a commit of {repo}")
        commits[label] = {"given": name, "commit": sha,
                          "subject": git(repo, "log", "-1", "--format=%h %s", sha)[:100]}
    env = dict(os.environ)
    dropped = []
    if not args.keep_openblas_env:
        dropped = [k for k in OPENBLAS_VARS if env.pop(k, None) is not None]
    work = tempfile.mkdtemp(prefix="tinygan-compare-")
    trees, children = [], {}
    try:
        for label in commits:
            tree = os.path.join(work, label)
            git(repo, "worktree", "add", "--quiet", "--detach", tree, commits[label]["commit"])
            trees.append(tree)
            example = os.path.join(tree, "examples", "mnist_gan.py")   # its imports are its own
            children[label] = Child(label, tree, args, {**env, "PYTHONPATH": tree,
                                                        "TINYGAN_EXAMPLE": example})
        header = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu_model(),
                  "cores": os.cpu_count(), "python": platform.python_version(),
                  "threads": args.threads, "openblas_env_dropped": dropped,
                  "batch": args.batch, "rounds": args.rounds, "steps": args.steps,
                  "warmup": args.warmup}
        for label, c in children.items():
            commits[label].update(c.facts)
        print_header(header, commits)
        times = {label: {b: [] for b in args.batch} for label in commits}
        ratios = {b: [] for b in args.batch}
        for r in range(args.rounds):
            medians = {}
            for label, c in children.items():     # A, then B
                got = c.round()
                for b in args.batch:
                    times[label][b] += got[b]
                medians[label] = {b: statistics.median(got[b]) for b in args.batch}
            for b in args.batch:
                ratios[b].append(medians["B"][b] / medians["A"][b])
            print(f"round {r + 1}/{args.rounds}: " + "  ".join(
                f"batch {b}: A {medians['A'][b] * 1e3:.2f} ms, B {medians['B'][b] * 1e3:.2f} ms"
                for b in args.batch), flush=True)
    finally:
        for c in children.values():
            c.close()
        for tree in trees:
            subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", tree],
                           capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for b in args.batch:
        rows.append({"batch": b,
                     "a_ms": round(statistics.median(times["A"][b]) * 1e3, 3),
                     "b_ms": round(statistics.median(times["B"][b]) * 1e3, 3),
                     "ratio_b_over_a": round(statistics.median(ratios[b]), 4),
                     "round_ratios": [round(x, 4) for x in ratios[b]]})
    print("\n| batch | A ms/step | B ms/step | B / A (median of rounds) | rounds' B / A |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['batch']} | {row['a_ms']:.2f} | {row['b_ms']:.2f} | "
              f"{row['ratio_b_over_a']:.3f} | "
              + ", ".join(f"{x:.3f}" for x in row["round_ratios"]) + " |")
    result = {"machine": header, "commits": commits, "rows": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


def print_header(header, commits):
    print(f"machine: {header['cpu']}, {header['cores']} cores, Python {header['python']}, "
          f"{header['date']}")
    print(f"BLAS threads {header['threads']} for both; OPENBLAS_* dropped: "
          f"{', '.join(header['openblas_env_dropped']) or 'none were set'}")
    for label, c in commits.items():
        blas = "; ".join(f"{i['internal_api']} {i['version']} ({i['architecture']}, "
                         f"threads {i['num_threads']})" for i in c["blas"]) or "none found"
        print(f"{label}: {c['subject']}\n   numpy {c['numpy']}, BLAS {blas}")
    print(f"rounds {header['rounds']} (A then B), {header['steps']} timed steps per batch "
          f"each, after {header['warmup']} warm-up steps per batch\n", flush=True)


def main(argv=None):
    args = parse_args(argv)
    if args.child is not None:
        return child(args)
    if args.rounds < 5:
        print(f"note: {args.rounds} rounds; 5 or more for a ratio to report", file=sys.stderr)
    return compare(args)


if __name__ == "__main__":
    main()
