"""How good are the digits? The course's GAN trained by tinygan and by PyTorch, one recipe each,
scored by tinygan's evaluator (FID of its MNIST classifier's features, digits covered).

    python bench/quality.py --data-dir ~/data/mnist                       # all recipes, 5 epochs
    python bench/quality.py --recipes tinygan --frameworks tinygan torch --epochs 5 20 --seeds 0 1
    python bench/quality.py --recipes tinygan --frameworks tinygan torch --ema 0.999
    python bench/quality.py --table                                       # the results so far

A recipe is the course's architecture (G: 64 → 128 → 256 → 512 → 1024 → 784 with BatchNorm,
D: 784 → 512 → 256 → 128 → 1 with LeakyReLU 0.2, BCEWithLogitsLoss, the non-saturating G
loss) with its hyper-parameters; the training loop is the course's (a D step on real and
detached fakes, then a G step) in both frameworks. After each epoch in --epochs, 10,000
samples from G in eval mode are scored. Results are appended, one JSON line per score, to
--results (default bench/results-quality.jsonl) with the machine and the evaluator (its cache
format: "tinygan-classifier-2" is the CNN; rows without one were scored by the MLP classifier,
"tinygan-classifier-1"), and printed as a table; --table shows one evaluator's rows.
PyTorch (not a dependency of tinygan) is needed for --frameworks torch only.

--threads N (default 1) is each framework's CPU threads (tg.set_num_threads, and
torch.set_num_threads once PyTorch is loaded), so that two runs side by side on two cores each
keep one: PyTorch otherwise takes a thread per core, and beside another busy program its
OpenMP threads spin against it (bench/README.md).

--ema DECAY: the same run also keeps an exponential moving average of G's weights, updated after
each G step (tinygan.ema.EMA; in PyTorch AveragedModel with get_ema_multi_avg_fn), and each
scoring epoch scores both the live G (JSON "ema": null) and the EMA (its decay), on the same
noise. The EMA's BatchNorm statistics are recomputed for the averaged weights before it samples,
as mnist_gan.py does: 10 batches of 500 noise vectors from a stream of their own, the statistics
reset and averaged cumulatively (momentum None) in train mode (tinygan's recompute_batch_norm,
PyTorch's update_bn). The EMA only reads G: the live G trains and scores as without it.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tinygan.utils.cli import open_unit_interval, positive_int
from tinygan.utils.evaluate import FORMAT as EVALUATOR

MLP_EVALUATOR = "tinygan-classifier-1"     # the rows written before the CNN record no evaluator

# lr, Adam's betas, batch, one-sided label smoothing. From "course" to "tinygan" (mnist_gan.py's
# default) one change at a time: the ablation in the README. "smoothing-0.1" was tried on top
# and dropped; "old-defaults" is mnist_gan.py's default before 0.2.
RECIPES = {
    "course": {"lr": 1e-5, "betas": (0.9, 0.999), "batch": 128, "smoothing": 0.0},
    "course-lr-2e-3": {"lr": 2e-3, "betas": (0.9, 0.999), "batch": 128, "smoothing": 0.0},
    "beta1-0.5": {"lr": 2e-3, "betas": (0.5, 0.999), "batch": 128, "smoothing": 0.0},
    "tinygan": {"lr": 2e-3, "betas": (0.5, 0.999), "batch": 64, "smoothing": 0.0},
    "smoothing-0.1": {"lr": 2e-3, "betas": (0.5, 0.999), "batch": 64, "smoothing": 0.1},
    "old-defaults": {"lr": 2e-4, "betas": (0.5, 0.999), "batch": 64, "smoothing": 0.0},
}
Z_DIM, SAMPLES = 64, 10_000
# The EMA's BatchNorm statistics: mnist_gan.py's EMA_BN_BATCHES batches of EMA_BN_BATCH noise.
EMA_BN_BATCHES, EMA_BN_BATCH = 10, 500


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    p.add_argument("--frameworks", nargs="+", choices=["tinygan", "torch"], default=["tinygan"])
    p.add_argument("--epochs", type=int, nargs="+", default=[5], help="score after these")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--lr", type=float, default=None,
                   help="override the recipes' learning rate (to find a recipe's best lr)")
    p.add_argument("--ema", type=open_unit_interval, default=None, metavar="DECAY",
                   help="also keep an EMA of G with this decay and score it beside the live G")
    p.add_argument("--data-dir", default=None, help="the MNIST folder (also caches the classifier)")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="CPU threads for each framework (default 1)")
    p.add_argument("--results", default=str(Path(__file__).with_name("results-quality.jsonl")))
    p.add_argument("--table", action="store_true",
                   help="train nothing: print --results as a table, one column per seed (the "
                        "latest score of each recipe, framework, lr, EMA, seed and epoch)")
    p.add_argument("--evaluator", default=EVALUATOR,
                   help=f"--table: the rows scored by this evaluator (default {EVALUATOR}, the "
                        f"CNN; {MLP_EVALUATOR}: the MLP classifier's)")
    return p.parse_args(argv)


def table(path, evaluator=EVALUATOR):
    """The README's table: FID (digits covered, smallest digit share) per seed, of the rows
    scored by ``evaluator``."""
    latest = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("evaluator", MLP_EVALUATOR) != evaluator:
                continue
            lr = r.get("lr", RECIPES.get(r["recipe"], {}).get("lr"))
            ema = r.get("ema")
            latest[(r["recipe"], r["framework"], lr, r["epoch"], ema or 0.0, r["seed"])] = r
    seeds = sorted({key[-1] for key in latest})
    rows = sorted({key[:-1] for key in latest},
                  key=lambda k: (list(RECIPES).index(k[0]) if k[0] in RECIPES else 99, k[1], -k[2],
                                 k[3], k[4]))
    lines = ["| recipe | framework | lr | epochs | G | " + " | ".join(f"seed {s}" for s in seeds)
             + " |", "|---|---|---|---|---|" + "---|" * len(seeds)]
    for row in rows:
        cells = []
        for seed in seeds:
            r = latest.get(row + (seed,))
            cells.append(f"{r['fid']:.1f} ({r['digits_covered']}, "
                         f"{100 * r['min_digit_share']:.1f}%)" if r else "")
        which = f"EMA {row[4]:g}" if row[4] else "live"
        lines.append(f"| {row[0]} | {row[1]} | {row[2]:g} | {row[3]} | {which} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def train_tinygan(images, recipe, seed, score_at, ema=None, samples=SAMPLES, threads=None):
    """The recipe with tinygan's GANTrainer; yields (epoch, {None: G's samples}) at score_at,
    with ema (a decay) also {decay: its EMA's samples}, BatchNorm statistics recomputed."""
    import tinygan as tg
    from tinygan import optim
    from tinygan.ema import EMA
    from tinygan.gan import GANTrainer, build_models, get_noise
    from tinygan.utils import data

    if threads is not None:
        tg.set_num_threads(threads)
    tg.manual_seed(seed)
    loader = data.DataLoader(images, recipe["batch"], seed=seed)
    G, D = build_models(Z_DIM)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), lr=recipe["lr"], betas=recipe["betas"]),
                         optim.Adam(D.parameters(), lr=recipe["lr"], betas=recipe["betas"]),
                         z_dim=Z_DIM, seed=seed, label_smoothing=recipe["smoothing"])
    noise = get_noise(samples, Z_DIM, generator=tg.backend.RandomStream([seed, 9]))
    average = EMA(G, ema) if ema is not None else None

    @tg.no_grad()
    def sample(model):
        model.eval()
        pictures = model(noise).numpy()
        model.train()
        return pictures

    for epoch in range(1, max(score_at) + 1):
        for real, _ in loader:
            trainer.train_step(real)
            if average is not None:
                average.update(G)
        if epoch in score_at:
            scored = {None: sample(G)}
            if average is not None:     # the same noise each time, a stream of its own
                rng = tg.backend.RandomStream([seed, 4])
                average.recompute_batch_norm(get_noise(EMA_BN_BATCH, Z_DIM, generator=rng)
                                             for _ in range(EMA_BN_BATCHES))
                scored[ema] = sample(average.averaged)
            yield epoch, scored


def train_torch(images, recipe, seed, score_at, ema=None, samples=SAMPLES, threads=None):
    """The same recipe and loop in PyTorch eager (the course's code); the EMA is PyTorch's
    AveragedModel with get_ema_multi_avg_fn, its BatchNorm statistics from update_bn."""
    import torch
    from torch import nn
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)

    def g_block(i, o):
        return nn.Sequential(nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(inplace=True))

    def d_block(i, o):
        return nn.Sequential(nn.Linear(i, o), nn.LeakyReLU(0.2, inplace=True))

    G = nn.Sequential(g_block(Z_DIM, 128), g_block(128, 256), g_block(256, 512),
                      g_block(512, 1024), nn.Linear(1024, 784), nn.Sigmoid())
    D = nn.Sequential(d_block(784, 512), d_block(512, 256), d_block(256, 128), nn.Linear(128, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=recipe["lr"], betas=recipe["betas"])
    opt_d = torch.optim.Adam(D.parameters(), lr=recipe["lr"], betas=recipe["betas"])
    criterion = nn.BCEWithLogitsLoss()
    x = torch.from_numpy(images.reshape(len(images), 784).astype(np.float32) / 255)
    noise = torch.randn(samples, Z_DIM, generator=torch.Generator().manual_seed(seed + 9))
    batch, real_label = recipe["batch"], 1.0 - recipe["smoothing"]
    average = (AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(ema)) if ema is not None
               else None)

    @torch.no_grad()
    def sample(model):
        model.eval()
        pictures = model(noise).numpy()
        model.train()
        return pictures

    for epoch in range(1, max(score_at) + 1):
        for idx in torch.randperm(len(x)).split(batch):
            real = x[idx]
            fake = G(torch.randn(len(real), Z_DIM))
            pred_fake, pred_real = D(fake.detach()), D(real)
            d_loss = (criterion(pred_fake, torch.zeros_like(pred_fake))
                      + criterion(pred_real, torch.full_like(pred_real, real_label))) / 2
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            pred = D(G(torch.randn(len(real), Z_DIM)))
            g_loss = criterion(pred, torch.ones_like(pred))
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            if average is not None:
                average.update_parameters(G)
        if epoch in score_at:
            scored = {None: sample(G)}
            if average is not None:     # the same noise each time, a generator of its own
                rng = torch.Generator().manual_seed(seed + 4)
                update_bn([torch.randn(EMA_BN_BATCH, Z_DIM, generator=rng)
                           for _ in range(EMA_BN_BATCHES)], average)
                scored[ema] = sample(average)
            yield epoch, scored


def main():
    args = parse_args()
    if args.table:
        print(table(args.results, args.evaluator))
        return 0
    from tinygan.utils import data
    from tinygan.utils.evaluate import evaluate, load_classifier   # as of EVALUATOR

    images, _ = data.load_mnist(data_dir=args.data_dir)
    classifier = load_classifier(args.data_dir)
    machine = f"{platform.node()}, {platform.processor() or platform.machine()}"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip() or None
    train = {"tinygan": train_tinygan, "torch": train_torch}
    rows = []
    for recipe in args.recipes:
        for framework in args.frameworks:
            for seed in args.seeds:
                settings = dict(RECIPES[recipe], **({"lr": args.lr} if args.lr else {}))
                started = time.perf_counter()
                for epoch, scored in train[framework](images, settings, seed,
                                                      set(args.epochs), args.ema,
                                                      threads=args.threads):
                    for ema, samples in scored.items():
                        scores = evaluate(samples, classifier=classifier)
                        seconds = round(time.perf_counter() - started, 1)
                        row = {"recipe": recipe, "framework": framework, "seed": seed,
                               "epoch": epoch, "lr": settings["lr"], "ema": ema,
                               "seconds": seconds, "fid": round(scores["fid"], 2),
                               "digits_covered": scores["digits_covered"],
                               "min_digit_share": round(min(scores["digit_shares"]), 3),
                               "inception_score": round(scores["inception_score"], 2),
                               "threads": args.threads,
                               "evaluator": EVALUATOR, "machine": machine, "commit": commit}
                        rows.append(row)
                        with open(args.results, "a") as f:
                            f.write(json.dumps(row) + "\n")
                        print(json.dumps(row), flush=True)
    print("\n| recipe | framework | lr | G | seed | epoch | FID | digits covered | min share |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        which = f"EMA {r['ema']:g}" if r["ema"] else "live"
        print(f"| {r['recipe']} | {r['framework']} | {r['lr']:g} | {which} | {r['seed']} "
              f"| {r['epoch']} | {r['fid']} | {r['digits_covered']} | {r['min_digit_share']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
