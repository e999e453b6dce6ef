"""Train the course's GAN on MNIST (or Fashion-MNIST) and watch it learn.

    python examples/mnist_gan.py --backend numpy --data-dir ~/data/mnist
    python examples/mnist_gan.py --backend cupy --epochs 20 --out runs/gpu
    python examples/mnist_gan.py --arch vanilla          # the seed tutorial's Tanh/Dropout GAN
    python examples/mnist_gan.py --conditional           # one grid row per digit

Writes to --out: samples/epoch_NNN.png (the same fixed noise every epoch), loss_curve.png,
metrics.jsonl (one JSON line per logging interval) and checkpoint.npz (each epoch and on
Ctrl-C), with generator.safetensors and discriminator.safetensors beside it (the weights under
PyTorch's names). --resume continues that run from its checkpoint up to --epochs in total.
The default recipe (unconditional) also keeps an exponential moving average of G's weights
(--ema 0.999; generator_ema in the checkpoint, generator_ema.safetensors), which the grids and
--eval-every sample; --ema 0 turns it off.
--tensorboard DIR also writes the losses, D(x), D(G(z)) and the grid as TensorBoard events.
--eval-every K scores --eval-samples images every K epochs and after the last (FID, inception
score, digits covered: tinygan.utils.evaluate) into metrics.jsonl, TensorBoard and the curve.
A run whose losses or weights leave their range, or whose D stays saturated, stops with one
line and exit code 1, keeping the last checkpoint (--no-divergence-check trains on).
"""
from __future__ import annotations

import signal
if __name__ == "__main__":   # Ctrl-C while the imports below run: stop quietly
    signal.signal(signal.SIGINT, signal.SIG_DFL)

import argparse
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

import tinygan as tg
from tinygan import backend, nn, optim
from tinygan.ema import EMA
from tinygan.gan import (ARCHITECTURES, CONVOLUTIONAL, IMAGE_SHAPE, GANTrainer, build_models,
                         get_noise)
from tinygan.utils import data, images
from tinygan.utils.checkpoint import load_checkpoint, save_checkpoint
from tinygan.utils.evaluate import class_noun, evaluate, load_classifier
from tinygan.utils.cli import (DEVICES, CtrlC, HelpFormatter, add_threads_option, check_new_run,
                                run_in_own_folder,
                                check_resume_settings, check_saved_settings, choose_device, fail,
                                given_options, non_negative_float, one_line, positive_float,
                                positive_int, printable,
                                run_script, unit_interval, use_threads)
from tinygan.utils.files import (append_text, atomic_write, explain_os_error,
                                 remove_stale_temp_files)
from tinygan.utils.metrics import TrainingDiverged, read_metrics_upto
from tinygan.utils.tensorboard import TensorBoardLogger, TensorBoardUnavailable
from tinygan.utils.training import Callback, DivergenceCheck, TrainingRun
from tinygan.utils.weights import gan_specs, save_weights
from tinygan.wgan import WGANGPTrainer

GRID_COLUMNS = 8  # samples per grid row; 8 rows, or one row per class when conditional
NUM_CLASSES = 10


# The recipes --preset names; a flag given on the command line overrides its value.
# "tinygan" was chosen by measurement (README, "Choosing the defaults" and "--ema DECAY"; the
# numbers are there): beta1 0.5 is what lets lr 2e-3 learn, batch 64 gives twice the updates
# an epoch, label smoothing made no difference, so it is off. The EMA of G scores better
# except with --conditional, so there it stays off. mismatched_reals (a matching-aware D,
# --conditional only) makes samples match the class asked for, for one more D pass a step.
PRESETS = {
    "tinygan": {"lr": 2e-3, "beta1": 0.5, "beta2": 0.999, "batch_size": 64,
                "label_smoothing": 0.0, "mismatched_reals": True, "d_steps": 1, "ema": 0.999},
    "course": {"lr": 1e-5, "beta1": 0.9, "beta2": 0.999, "batch_size": 128,
               "label_smoothing": 0.0, "mismatched_reals": False, "d_steps": 1, "ema": 0.0},
}
# --arch vanilla keeps the seed tutorial's values under the default preset (not tuned here).
VANILLA = {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "batch_size": 64, "label_smoothing": 0.0,
           "mismatched_reals": False, "d_steps": 1, "ema": 0.0}


class Program(NamedTuple):
    """What differs between this program and the ones built on it (dcgan.py, wgan_gp.py):
    the same loop, files and flags, another model and recipe."""
    description: str     # --help's first line
    archs: dict          # --arch: name -> help text; the first is the default unless the
                         # preset names one
    presets: dict        # --preset: name -> settings, the first the default; an "arch"
                         # in them is --arch's default under that preset
    out: str             # --out's default
    hidden_dim: int      # --hidden-dim's default


MLP = Program(description=__doc__.split("\n")[0],
              archs={"course": "BatchNorm MLP with Sigmoid images and a logit D",
                     "vanilla": "LeakyReLU/Tanh G, Dropout D with Sigmoid and BCELoss"},
              presets=PRESETS, out="runs/mnist_gan", hidden_dim=128)

# With --resume the run keeps the settings saved in its checkpoint; these are the ones that
# may be given again (the same value is fine, another one is refused: see --help).
RUN_SETTINGS = ("dataset", "batch_size", "lr", "beta1", "beta2", "z_dim", "hidden_dim", "g_loss",
                "d_steps", "log_every", "seed", "limit", "arch", "conditional", "preset",
                "label_smoothing", "mismatched_reals", "gp_weight", "ema")
# What a checkpoint written before a setting existed ran with.
BEFORE_0_2 = {"preset": None, "label_smoothing": 0.0, "mismatched_reals": False,
              "gp_weight": 10.0, "ema": 0.0}
RESUME_NOTE = """--resume continues the run in --out with the settings saved in its checkpoint
(architecture, sizes, optimizer, data, seed). Giving one of them again with the same value is
fine; with another value it is an error (exit code 2), since the run could not continue as it
began. What a resumed run takes from the command line: --epochs (the total), --out,
--backend, --data-dir, --tensorboard and --dry-run."""


def build_parser(program=MLP):
    p = argparse.ArgumentParser(description=program.description, epilog=RESUME_NOTE,
                                formatter_class=HelpFormatter)
    p.add_argument("--backend", choices=DEVICES, default="numpy",
                   help="numpy runs on the CPU, cupy on an NVIDIA GPU")
    p.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist",
                   help="MNIST digits or Fashion-MNIST clothes")
    p.add_argument("--epochs", type=positive_int, default=5,
                   help="total epochs (with --resume too)")
    p.add_argument("--preset", choices=list(program.presets), default=next(iter(program.presets)),
                   help="the recipe: " + "; ".join(
                       f"{name} ({recipe_text(recipe)})" for name, recipe in
                       program.presets.items()) + ". The flags below override it"
                   + (". --arch vanilla keeps its own values under tinygan (lr 2e-4)"
                      if "vanilla" in program.archs else ""))
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="images per step (default: from --preset)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="Adam's learning rate, > 0, for G and D (default: from --preset)")
    p.add_argument("--beta1", type=unit_interval, default=None,
                   help="Adam's first-moment decay, in [0, 1) (default: from --preset)")
    p.add_argument("--beta2", type=unit_interval, default=None,
                   help="Adam's second-moment decay, in [0, 1) (default: from --preset)")
    p.add_argument("--label-smoothing", type=unit_interval, default=None,
                   help="one-sided: D's target for real images is 1 - s, s in [0, 1) "
                        "(default: from --preset)")
    p.add_argument("--arch", choices=list(program.archs), default=None,
                   help="; ".join(f"{name}: {text}" for name, text in program.archs.items())
                   + (" (default: from --preset)" if all("arch" in recipe for recipe in
                                                           program.presets.values())
                      else f" (default: {next(iter(program.archs))})"))
    p.add_argument("--conditional", action="store_true",
                   help="G and D also take the digit's class (one-hot; the MLP archs)")
    p.add_argument("--mismatched-reals", action=argparse.BooleanOptionalAction, default=None,
                   help="with --conditional: D also sees real images under wrong labels, "
                        "labelled fake, so it checks the class (default: from --preset)")
    p.add_argument("--z-dim", type=positive_int, default=None,
                   help="noise size; None: 64 for course, 100 for vanilla")
    p.add_argument("--hidden-dim", type=positive_int, default=None,
                   help="the width of the narrowest hidden layer (of G for the convolutional "
                        "archs: dcgan's D is a quarter as wide, dcgan-wide's 64 whatever G's) "
                        + ("(default: from --preset)"
                           if all("hidden_dim" in recipe for recipe in program.presets.values())
                           else f"(default: {program.hidden_dim})"))
    p.add_argument("--g-loss", choices=["non_saturating", "minimax"], default="non_saturating",
                   help="the generator's loss")
    p.add_argument("--d-steps", type=positive_int, default=None,
                   help="discriminator (critic) steps per generator step (default: from "
                        "--preset)")
    p.add_argument("--gp-weight", type=non_negative_float, default=10.0,
                   help="wgan-gp: the gradient penalty's weight λ")
    p.add_argument("--ema", type=unit_interval, default=None, metavar="DECAY",
                   help="also keep an exponential moving average of G's weights, updated "
                        "after each G step with this decay in (0, 1), e.g. 0.999; the grids, "
                        "--eval-every, sample.py and evaluate.py then use it; 0 turns it off "
                        "(default: from --preset)")
    p.add_argument("--log-every", type=positive_int, default=50, help="steps per metrics line")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, data order and noise")
    add_threads_option(p)
    p.add_argument("--data-dir", default=None, help="folder with the four MNIST .gz files")
    p.add_argument("--out", default=program.out, help="folder for samples, curves, checkpoints")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out (see below)")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in an --out that holds another run's checkpoint, "
                        "replacing it (without it, such an --out is refused)")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="use only the first N images (None: all)")
    p.add_argument("--dry-run", action="store_true", help="a few steps, no files written")
    p.add_argument("--no-divergence-check", action="store_true",
                   help="train on when a loss or weight is far out of range or D stays "
                        "saturated (tinygan.utils.training.DivergenceCheck); a NaN or inf "
                        "loss still stops the run; a resumed run takes it too")
    p.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also log to TensorBoard event files in DIR (needs tensorboardX)")
    p.add_argument("--eval-every", type=int, default=0, metavar="K",
                   help="score samples after every K-th epoch and the last (FID, inception "
                        "score, digits covered; 0: never). The first time trains the "
                        "evaluator's classifier (a few minutes; cached beside the data). "
                        "A resumed run takes it from the command line, as --eval-samples")
    p.add_argument("--eval-samples", type=positive_int, default=10_000,
                   help="how many samples --eval-every scores")
    return p


def recipe_text(recipe):
    """A preset as --help says it, e.g. "lr 2e-3, betas 0.5/0.999, batch 64"."""
    lr = f"{recipe['lr']:.0e}".replace("e-0", "e-")
    return (f"lr {lr}, betas {recipe['beta1']:g}/{recipe['beta2']:g}, "
            f"batch {recipe['batch_size']}" + (f", {recipe['d_steps']} critic steps"
                                               if recipe["d_steps"] > 1 else "")
            + (f", --arch {recipe['arch']}" if "arch" in recipe else "")
            + (f", --hidden-dim {recipe['hidden_dim']}" if "hidden_dim" in recipe else ""))


def parse_args(argv=None, program=MLP):
    """(the arguments, the ``dest`` names of the options written on the command line); the
    settings not given come from --preset (or, for --arch vanilla, its own values)."""
    parser = build_parser(program)
    args = parser.parse_args(argv)
    if args.arch is None:
        args.arch = program.presets[args.preset].get("arch", next(iter(program.archs)))
    recipe = VANILLA if args.arch == "vanilla" and args.preset == "tinygan" else \
        program.presets[args.preset]
    for key, value in recipe.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.hidden_dim is None:     # the MLP's presets and wgan_gp.py's hold no width
        args.hidden_dim = program.hidden_dim
    given = given_options(parser, argv)
    if args.conditional and "ema" not in given:   # measured to score worse there (PRESETS)
        args.ema = 0.0
    return args, given


def load_images(args):
    """(images, labels) of the training split; random ones for a dry run without the files."""
    try:
        return data.load_mnist(args.dataset, train=True, data_dir=args.data_dir,
                               download=not args.dry_run)   # a dry run writes no files
    except (data.DatasetNotFound, data.ChecksumError, ValueError) as exc:
        if not args.dry_run:
            fail(str(exc))
        print(f"dry run: {args.dataset} not found, using random images instead "
              f"({one_line(exc)})")
        rng = np.random.default_rng(args.seed)
        return (rng.integers(0, 256, (512, 28, 28), dtype=np.uint8),
                rng.integers(0, NUM_CLASSES, 512, dtype=np.uint8))


def grid_inputs(args, device):
    """Fixed noise (and labels) for the per-epoch grid: the same digits every epoch."""
    rows = NUM_CLASSES if args.conditional else GRID_COLUMNS
    noise = get_noise(rows * GRID_COLUMNS, args.z_dim, device,
                      generator=backend.RandomStream([args.seed, 2], device))
    labels = None
    if args.conditional:  # row k shows class k
        labels = tg.tensor(np.repeat(np.arange(NUM_CLASSES), GRID_COLUMNS), device=device)
    return noise, labels


class Reporter(Callback):
    """Progress bar, metrics.jsonl, sample grid and checkpoint: what a person watches."""

    def __init__(self, args, out, loader, grid, image_range, save, tensorboard=None,
                 classifier=None, evals=(), ema=None):
        self.args, self.out, self.loader, self.grid = args, out, loader, grid
        self.ema = ema                  # --ema: the grids and scores are its samples
        self.image_range, self.save, self.tensorboard = image_range, save, tensorboard
        self.classifier, self.evals = classifier, list(evals)   # --eval-every: its records
        self.bar = None

    def on_epoch_start(self, run, epoch):
        self.bar = tqdm(total=len(self.loader), desc=f"epoch {epoch}/{self.total_epochs}",
                        unit="step", leave=True, dynamic_ncols=True)

    def on_step(self, run, step):
        self.bar.update(1)

    def on_log(self, run, record):
        self.bar.set_postfix(d_loss=f"{record['d_loss']:.3f}", g_loss=f"{record['g_loss']:.3f}",
                             D_x=f"{record['d_real']:.2f}", D_G_z=f"{record['d_fake']:.2f}")
        if self.save:
            append_text(self.out / "metrics.jsonl", json.dumps(record) + "\n")
        if self.tensorboard:
            self.tensorboard.scalars({"loss/discriminator": record["d_loss"],
                                      "loss/generator": record["g_loss"],
                                      "D/mean_D_x": record["d_real"],       # TensorBoard tags
                                      "D/mean_D_G_z": record["d_fake"]},    # allow no "()"
                                     record["step"])

    def on_epoch_end(self, run, epoch):
        self.bar.close()
        tqdm.write(f"epoch {epoch}: {run.speed()}")
        every = self.args.eval_every
        if self.classifier is not None and (epoch % every == 0 or epoch == self.total_epochs):
            self.evaluate(run, epoch)   # before the checkpoint: a resumed run keeps its record
        if self.save:
            path = self.out / "samples" / f"epoch_{epoch:03d}.png"
            pictures = samples(sampled_generator(run, self.ema, self.args), *self.grid,
                               self.image_range)
            pixels = images.save_image_grid(pictures, path, nrow=GRID_COLUMNS)
            images.save_loss_curve(run.history + self.evals, self.out / "loss_curve.png")
            save_run(self.out, self.args, run, self.loader, self.ema)
            if self.tensorboard:
                self.tensorboard.image("samples", pixels, run.trainer.step)
                self.tensorboard.flush()


    def evaluate(self, run, epoch):
        """Score --eval-samples images of G (eval mode, the same noise each time; with --ema
        the EMA's) and write the record to metrics.jsonl and TensorBoard."""
        start = time.perf_counter()
        scores = score_generator(sampled_generator(run, self.ema, self.args), self.args,
                                 run.trainer.device, self.image_range, self.classifier)
        which = "ema" if self.ema is not None else "live"
        record = {"step": run.trainer.step, "epoch": epoch, "generator": which, **scores}
        self.evals.append(record)
        tqdm.write(f"epoch {epoch}{', EMA of G' if self.ema is not None else ''}: "
                   f"FID {scores['fid']:.1f}, inception score "
                   f"{scores['inception_score']:.2f}, {scores['digits_covered']}/10 "
                   f"{class_noun(self.args.dataset, plural=True)}, "
                   f"{100 * scores['confident']:.0f}% confident"
                   + (f", {100 * scores['conditional_accuracy']:.1f}% of the class drawn for"
                      if "conditional_accuracy" in scores else "")
                   + f" ({scores['samples']} samples, {time.perf_counter() - start:.1f} s)")
        if self.save:
            append_text(self.out / "metrics.jsonl", json.dumps(record) + "\n")
        if self.tensorboard:
            self.tensorboard.scalars({f"eval/{key}": value for key, value in scores.items()
                                      if isinstance(value, (int, float))}, record["step"])


# The EMA's BatchNorm statistics: 10 batches of 500 fresh noise vectors (5,000 samples, the
# mean of each feature to within 1.5% of its spread), batches large enough that train mode's
# batch statistics are close to the population's the eval-mode samples will use.
EMA_BN_BATCHES, EMA_BN_BATCH = 10, 500


class UpdateEMA(Callback):
    """--ema: after each G step the average follows G, inside the step (see on_train_step)."""

    def __init__(self, ema):
        self.ema = ema

    def on_train_step(self, run, step):
        self.ema.update(run.trainer.generator)


def sampled_generator(run, ema, args):
    """The generator the grids and scores sample: G, or with --ema its average, with its
    BatchNorm statistics recomputed for the averaged weights when they moved (the live G's
    belong to the live weights). The noise is its own seeded stream: the same each time."""
    if ema is None:
        return run.trainer.generator
    if not ema.batch_norm_current:
        device = run.trainer.device
        rng = backend.RandomStream([args.seed, 4], device)
        labels = (tg.tensor(np.arange(EMA_BN_BATCH) % NUM_CLASSES, device=device)
                  if args.conditional else None)
        ema.recompute_batch_norm(
            (get_noise(EMA_BN_BATCH, args.z_dim, device, generator=rng),)
            + ((labels,) if labels is not None else ()) for _ in range(EMA_BN_BATCHES))
    return ema.averaged


def score_generator(G, args, device, image_range, classifier, batch=1000):
    """tinygan.utils.evaluate's scores of args.eval_samples images of G, drawn in batches from
    fixed noise (its own stream: training's random numbers are untouched); a conditional G
    draws the ten classes equally."""
    n, rng = args.eval_samples, backend.RandomStream([args.seed, 3], device)
    labels = np.arange(n) % NUM_CLASSES if args.conditional else None
    parts = []
    for start in range(0, n, batch):
        size = min(batch, n - start)
        noise = get_noise(size, args.z_dim, device, generator=rng)
        part = None if labels is None else tg.tensor(labels[start:start + size], device=device)
        parts.append(samples(G, noise, part, image_range))
    return evaluate(np.concatenate(parts), labels, classifier=classifier)


class StopOnCtrlC(CtrlC, Callback):
    """The first Ctrl-C stops the run after the step in progress, so the checkpoint it
    saves is consistent; a second one stops at once, and the last checkpoint is kept.
    Any later press is ignored (see tinygan.utils.cli.CtrlC): the stop is under way."""

    def __init__(self):
        super().__init__(graceful=True, write=tqdm.write,
                         message="stopping after this step (press Ctrl-C again to stop at once)")

    def on_step(self, run, step):
        if self.requested:
            raise KeyboardInterrupt


@tg.no_grad()
def samples(G, noise, labels, image_range):
    """The generator's images for fixed inputs, as host float32 in [0, 1]."""
    G.eval()  # BatchNorm with running stats: samples do not depend on the batch
    pictures = (G(noise, labels) if labels is not None else G(noise)).numpy()
    pictures = pictures.reshape(len(pictures), -1)     # a convolutional G's (N, 1, 28, 28)
    G.train()
    return to_unit_range(pictures, image_range)


def to_unit_range(pictures, image_range):
    """Tanh generators make [-1, 1]; pictures want [0, 1]."""
    return (pictures + 1) / 2 if image_range == "symmetric" else pictures


def save_run(out, args, run, loader, ema=None):
    """Checkpoint everything a resumed run needs (atomically). Between epochs the loader's
    own state is the resume point; inside one, its state at the epoch's start (the order)
    plus the batches already done. With --ema, its module (its own BatchNorm statistics)
    and state too."""
    trainer, inside = run.trainer, run.batch_in_epoch > 0
    modules = {"generator": trainer.generator, "discriminator": trainer.discriminator}
    meta = {"args": vars(args), "trainer": trainer.state(), "run": run.state(),
            "loader": run.epoch_loader_state if inside else loader.state_dict(),
            "batch_in_epoch": run.batch_in_epoch}
    if ema is not None:
        modules["generator_ema"] = sampled_generator(run, ema, args)
        meta["ema"] = ema.state()
    save_checkpoint(out / "checkpoint.npz", modules=modules,
                    optimizers={"opt_g": trainer.opt_g, "opt_d": trainer.opt_d}, meta=meta)
    save_weights_for_pytorch(out, args, trainer, ema)


def save_weights_for_pytorch(out, args, trainer, ema=None):
    """generator.safetensors and discriminator.safetensors (and generator_ema.safetensors
    with --ema, its BatchNorm statistics recomputed) beside the checkpoint, under
    PyTorch's names: ``G.load_state_dict(safetensors.torch.load_file(path))`` in the course's
    code. A conditional model's file is its network (the course's G or D, taking the one-hot
    class after the noise or the image); its metadata says how many classes."""
    info = {"arch": args.arch, "num_classes": NUM_CLASSES if args.conditional else 0,
            "epoch": trainer.epoch, "step": trainer.step}
    models = [("generator", trainer.generator, info), ("discriminator", trainer.discriminator,
                                                        info)]
    if ema is not None:   # save_run recomputed its BatchNorm statistics
        models.append(("generator_ema", ema.averaged, {**info, "ema_decay": ema.decay}))
    for name, model, metadata in models:
        save_weights(model.net if args.conditional else model, out / f"{name}.safetensors",
                     metadata)


def main(argv=None, program=MLP):
    args, given = parse_args(argv, program)
    return run_in_own_folder(args, given, lambda *a: train(*a, program=program))


def train(args, given, lock, program=MLP):
    device = choose_device(args.backend)
    use_threads(args)
    out = Path(args.out)
    checkpoint = None
    if args.eval_every < 0:     # the arguments first, before any file is touched
        fail(f"--eval-every: expected 0 (off) or a number of epochs, got {args.eval_every}")
    check_new_run(args, out, lock, written=("checkpoint.npz", "generator.safetensors",
                                            "discriminator.safetensors",
                                            "generator_ema.safetensors"))
    if args.resume:
        try:
            checkpoint = load_checkpoint(out / "checkpoint.npz")
        except (FileNotFoundError, ValueError) as exc:
            fail(f"--resume: {exc}")
        if "trainer" not in checkpoint.meta:
            fail(f"--resume: {out / 'checkpoint.npz'} is not a checkpoint of mnist_gan.py "
                 f"(it has {', '.join(checkpoint.modules())})")
        saved = check_saved_settings(build_parser(program), checkpoint.meta.get("args"),
                                     RUN_SETTINGS, out / "checkpoint.npz",  # only --epochs may grow
                                     required={key for recipe in (*program.presets.values(),
                                                                  VANILLA) for key in recipe
                                               if key != "ema"})
        if saved.get("ema", 0.0) is None:   # off, as runs wrote it before presets held a decay
            saved["ema"] = 0.0
        check_resume_settings(given, args, saved, RUN_SETTINGS, may_change=())
        for key in RUN_SETTINGS:
            setattr(args, key, saved.get(key, BEFORE_0_2.get(key)))

    _, _, d_outputs, image_range, default_z = ARCHITECTURES[args.arch]
    if args.z_dim is None:
        args.z_dim = default_z
    tensorboard = None
    if args.tensorboard and not args.dry_run:
        try:
            tensorboard = TensorBoardLogger(args.tensorboard)
        except TensorBoardUnavailable as exc:
            fail(str(exc))

    tg.manual_seed(args.seed)
    train_images, labels = load_images(args)
    try:
        loader = data.DataLoader(train_images, args.batch_size, labels=labels, seed=args.seed,
                                 device=device, scale=image_range,
                                 limit=8 * args.batch_size if args.dry_run else args.limit,
                                 image_shape=IMAGE_SHAPE if args.arch in CONVOLUTIONAL else None)
    except ValueError as exc:  # e.g. --batch-size larger than --limit
        fail(str(exc))
    if "mismatched_reals" in given and args.mismatched_reals and not args.conditional:
        fail("--mismatched-reals needs --conditional: it shows D real images under wrong labels")
    if args.conditional and args.arch in CONVOLUTIONAL:
        fail(f"--conditional: the conditional GAN is an MLP here (--arch course or vanilla); "
             f"--arch {args.arch} is unconditional")
    if "gp_weight" in given and d_outputs != "scores":
        fail(f"--gp-weight: --arch {args.arch} has no gradient penalty (wgan-gp has)")
    for flag in ("g_loss", "label_smoothing"):
        if flag in given and d_outputs == "scores":
            fail(f"--{flag.replace('_', '-')}: the WGAN-GP losses are the critic's scores, "
                 "with no labels to smooth and one generator loss")
    if checkpoint is not None:   # its arrays against the sizes its metadata gives, unbuilt
        specs = gan_specs(args.arch, args.z_dim, args.hidden_dim,
                          NUM_CLASSES if args.conditional else 0)
        try:
            for name, spec in zip(("generator", "discriminator"), specs):
                checkpoint.check_module(name, spec)
            if args.ema:                                 # the EMA of G: G's arrays
                checkpoint.check_module("generator_ema", specs[0])
        except ValueError as exc:
            fail(f"--resume: {exc}")
    G, D = build_models(args.z_dim, args.hidden_dim, arch=args.arch,
                        num_classes=NUM_CLASSES if args.conditional else 0)
    if args.batch_size == 1 and any(isinstance(m, nn.BatchNorm1d)   # BatchNorm2d is one
                                    for model in (G, D) for m in model.modules()):
        fail(f"--batch-size 1: --arch {args.arch} has BatchNorm, which needs more than 1 "
             "value per channel when training (PyTorch refuses it too); expected 2 or more")
    G.to(device), D.to(device)
    opt_g = optim.Adam(G.parameters(), lr=args.lr, betas=(args.beta1, args.beta2))
    opt_d = optim.Adam(D.parameters(), lr=args.lr, betas=(args.beta1, args.beta2))
    if d_outputs == "scores":    # a critic: WGAN-GP's loop, which has no probabilities
        trainer = WGANGPTrainer(G, D, opt_g, opt_d, z_dim=args.z_dim, device=device,
                                c_lambda=args.gp_weight, crit_repeats=args.d_steps, seed=args.seed)
        divergence = DivergenceCheck(outputs=())   # no saturation test: scores are unbounded
    else:
        trainer = GANTrainer(G, D, opt_g, opt_d, z_dim=args.z_dim, device=device,
                             g_loss=args.g_loss, d_steps_per_g=args.d_steps,
                             d_outputs=d_outputs, seed=args.seed, conditional=args.conditional,
                             label_smoothing=args.label_smoothing,
                             mismatched_reals=args.conditional and args.mismatched_reals)
        divergence = DivergenceCheck()
    run = TrainingRun(trainer, log_every=min(args.log_every, 2) if args.dry_run else args.log_every,
                      divergence=None if args.no_divergence_check else divergence)

    ema = EMA(G, args.ema) if args.ema else None          # --ema 0: off

    skip, evals = 0, []
    if checkpoint is not None:
        try:     # e.g. Adam state of another shape than its parameter: one line, untrained
            checkpoint.restore(modules={"generator": G, "discriminator": D,
                                        **({"generator_ema": ema.averaged} if ema else {})},
                               optimizers={"opt_g": opt_g, "opt_d": opt_d})
        except ValueError as exc:
            fail(f"--resume: {exc}")
        if ema is not None:
            try:
                ema.load_state(checkpoint.meta.get("ema", {}))
            except (ValueError, AttributeError) as exc:
                fail(f"--resume: {out / 'checkpoint.npz'}: {exc}")
        trainer.load_state(checkpoint.meta["trainer"])
        # Checkpoints written before the loop left GANTrainer have no "run": their log
        # interval in progress is in the trainer's state, which load_state takes as it is.
        run.load_state(checkpoint.meta.get("run", checkpoint.meta["trainer"]))
        loader.load_state_dict(checkpoint.meta["loader"])
        skip = checkpoint.meta.get("batch_in_epoch")
        if not (type(skip) is int and 0 <= skip <= len(loader)):   # a crafted or damaged file
            fail(f"--resume: {out / 'checkpoint.npz'}: its metadata says batch_in_epoch: "
                 f"{printable(repr(skip), 40)}; expected 0 to {len(loader)} (the batches "
                 "of an epoch)")
        try:
            records = read_metrics_upto(out / "metrics.jsonl", trainer.step,
                                        rewrite=not args.dry_run)
        except ValueError as exc:   # a corrupt line in the middle: say which
            fail(f"--resume: {exc}")
        run.history = [r for r in records if "fid" not in r]   # the losses
        evals = [r for r in records if "fid" in r]             # --eval-every's scores
        print(f"resuming {out / 'checkpoint.npz'} at epoch {trainer.epoch + 1}, step {trainer.step}")

    save = not args.dry_run
    epochs_left = 1 if args.dry_run else args.epochs - trainer.epoch
    if epochs_left <= 0:
        print(f"nothing to do: the run in {out} already has {trainer.epoch} epochs "
              f"(ask for more with --epochs)")
        return 0
    if save:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"--out {out}: {explain_os_error(exc, 'create the folder')}")
        lock.acquire()
        for folder in (out, out / "samples"):    # temp files of writes killed by kill -9
            remove_stale_temp_files(folder)
        if checkpoint is None:
            with atomic_write(out / "metrics.jsonl", "w"):
                pass                                    # a new run starts an empty file
    if args.eval_every < 0:
        fail(f"--eval-every: expected 0 (off) or a number of epochs, got {args.eval_every}")
    classifier = None
    if args.eval_every > 0 and not args.dry_run:   # a dry run writes no files: no classifier
        try:
            classifier = load_classifier(args.data_dir, device, dataset=args.dataset)
        except (data.DatasetNotFound, data.ChecksumError, ValueError) as exc:
            fail(f"--eval-every: {one_line(exc)}")
    reporter = Reporter(args, out, loader, grid_inputs(args, device), image_range, save,
                        tensorboard, classifier, evals, ema)
    reporter.total_epochs = trainer.epoch + epochs_left
    print(f"training on {device} ({args.backend}), --arch {args.arch}"
          + (" --conditional" if args.conditional else "") + f": {len(loader.images)} images, "
          f"{len(loader)} steps per epoch, {epochs_left} epoch(s)"
          + (f"; grids and scores from the EMA of G (decay {ema.decay:g})" if ema else ""))
    try:
        # Overflow on the way to divergence is for the rules to report, in one line.
        with StopOnCtrlC() as stopper, np.errstate(over="ignore", invalid="ignore"):
            try:
                run.fit(loader, epochs_left, skip_batches=skip, callbacks=[reporter, stopper]
                        + ([UpdateEMA(ema)] if ema is not None else []))
            except KeyboardInterrupt:
                # Inside the handler's context: a press from here on stops at once (once);
                # any later one is ignored, so this part ends with its one line every time.
                return stop(args, out, run, loader, reporter, save, stopper)
            except (TrainingDiverged, OSError):
                if reporter.bar is not None:
                    reporter.bar.close()
                raise
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if tensorboard:
            tensorboard.close()

    if args.dry_run:
        print(f"dry run finished: {trainer.step} steps, last d_loss "
              f"{run.history[-1]['d_loss']:.4f}, g_loss {run.history[-1]['g_loss']:.4f}")
        return 0
    print("done. Everything is in", out)
    print(f"  samples:      {out / 'samples'}/epoch_{trainer.epoch:03d}.png (one grid per epoch"
          + (f", from the EMA of G, decay {ema.decay:g})" if ema is not None else ")"))
    curve = out / "loss_curve.png"
    print(f"  loss curve:   {curve}" if curve.exists() else
          "  loss curve:   not drawn (pip install matplotlib)")
    print(f"  metrics:      {out / 'metrics.jsonl'}")
    if tensorboard:
        print(f"  tensorboard:  tensorboard --logdir {args.tensorboard}")
    print(f"  checkpoint:   {out / 'checkpoint.npz'} "
          f"(sample with: python examples/sample.py {out / 'checkpoint.npz'})")
    print(f"  for PyTorch:  {out / 'generator.safetensors'}, {out / 'discriminator.safetensors'}"
          + (f", {out / 'generator_ema.safetensors'}" if ema is not None else "")
          + " (G.load_state_dict(safetensors.torch.load_file(path)))")
    return 0


def stop(args, out, run, loader, reporter, save, stopper):
    """After Ctrl-C: save the state between two steps (unless cut inside one), one line, 130.
    A press while that checkpoint is written abandons it (atomic_write removes the temporary
    file): the previous checkpoint is kept. Presses after that one are ignored (CtrlC)."""
    path, said = out / "checkpoint.npz", False
    try:
        if reporter.bar is not None:
            reporter.bar.close()
        if not save:
            return 130
        if run.in_step:  # cut inside a step: D may be updated and G not; don't save that
            said = True
            print(f"\ninterrupted inside a step: kept the last checkpoint, {path}; "
                  "continue with --resume" if path.exists() else
                  "\ninterrupted inside a step, before the first checkpoint: nothing saved")
            return 130
        save_run(out, args, run, loader, reporter.ema)
        said = True
        print(f"\ninterrupted: saved {path} (epoch {run.trainer.epoch + 1}, "
              f"batch {run.batch_in_epoch}); continue with --resume")
    except KeyboardInterrupt:      # the press that stops at once; later ones are ignored
        if not said:
            print(f"\ninterrupted again: kept the last checkpoint, {path}; continue with "
                  "--resume" if path.exists() else
                  "\ninterrupted again before the first checkpoint was written: nothing saved")
    return 130


if __name__ == "__main__":
    run_script(main)
