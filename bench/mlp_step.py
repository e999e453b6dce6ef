"""The MNIST GAN step (gan_step.py's: the course's MLPs, mnist_gan.py's recipe) against
PyTorch, each library in its own process, with the elementwise pool off and on.

    python bench/mlp_step.py --threads 2 --batch 128 512 --rounds 5
    python bench/mlp_step.py --threads 1

Three children per batch, started one at a time and then timed in turns (--rounds rounds of
--steps steps each, the order reversed every other round, so that the machine's drift falls
on all alike): "tinygan" (tg.set_num_threads(--threads): BLAS and the pool), "no_pool"
(BLAS on --threads, the pool at 1: every fused call whole on the calling thread, as before
the pool) and "torch" (torch.set_num_threads(--threads)). Each time is the median step of
its round; each ratio the median of the rounds' ratios. The load average is printed before
and after: this VM is shared, and a busy second core is what the threads meet.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
if BENCH not in sys.path:
    sys.path.append(BENCH)
import gan_step  # noqa: E402  (the step itself, in tinygan and in PyTorch; the machine facts)

CHILDREN = ("tinygan", "no_pool", "torch")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[128, 512])
    p.add_argument("--threads", type=int, default=2, help="for both libraries")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=10, help="timed steps per child per round")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--child", choices=CHILDREN, help=argparse.SUPPRESS)
    p.add_argument("--one-batch", type=int, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def child(args):
    """Build the step, warm it up, then answer "time" lines with {"ms": median step}."""
    if args.child == "torch":
        import torch
        torch.set_num_threads(args.threads)
        step, _ = gan_step.torch_step("cpu", args.one_batch)
    else:
        from tinygan import backend, threads
        backend.set_num_threads(args.threads)
        if args.child == "no_pool":
            threads._size = 1                  # BLAS keeps its threads; fused calls stay whole
        step, _ = gan_step.tinygan_step("cpu", args.one_batch, metrics=False)
    gan_step.serve(step, args.steps, args.warmup)


class Child(gan_step.Pipe):
    """A child process running one step; one JSON line back per request."""

    def __init__(self, name, args, batch):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
        argv = [sys.executable, os.path.abspath(__file__), "--child", name, "--one-batch",
                str(batch), "--threads", str(args.threads), "--steps", str(args.steps),
                "--warmup", str(args.warmup)]
        super().__init__(argv, env)
        self.read()



def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child(args)
    results = {"machine": gan_step.machine_facts(), "runs": []}
    for batch in args.batch:
        load_before = os.getloadavg()
        children = {}
        try:
            for name in CHILDREN:
                children[name] = Child(name, args, batch)
            per_round = []
            for r in range(args.rounds):
                order = CHILDREN if r % 2 == 0 else CHILDREN[::-1]
                per_round.append({name: children[name].ask("time")["ms"] for name in order})
        finally:
            for c in children.values():
                c.close()
        row = {"batch": batch, "threads": args.threads, "rounds": args.rounds,
               "steps_per_round": args.steps}
        for name in CHILDREN:
            row[f"{name}_ms"] = round(statistics.median(r[name] for r in per_round), 2)
        for name in ("tinygan", "no_pool"):
            row[f"{name}_over_torch"] = round(statistics.median(
                r[name] / r["torch"] for r in per_round), 3)
        row["tinygan_over_no_pool"] = round(statistics.median(
            r["tinygan"] / r["no_pool"] for r in per_round), 3)
        row["load_before"] = [round(x, 2) for x in load_before]
        row["load_after"] = [round(x, 2) for x in os.getloadavg()]
        row["rounds_ms"] = [{k: round(v, 1) for k, v in r.items()} for r in per_round]
        results["runs"].append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
