"""Train a variational autoencoder on MNIST, with the GAN example's conventions.

    python examples/mnist_vae.py --backend numpy --data-dir ~/data/mnist

Writes to --out: samples/epoch_NNN.png (decoded from the same prior draws every epoch),
metrics.jsonl (loss, reconstruction and KL terms per logging interval) and
checkpoint.npz (each epoch; --resume continues up to --epochs). --dry-run runs a few
steps and writes nothing; --tensorboard DIR also writes TensorBoard events.
"""
from __future__ import annotations

import signal
if __name__ == "__main__":   # Ctrl-C while the imports below run: stop quietly
    signal.signal(signal.SIGINT, signal.SIG_DFL)

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

import tinygan as tg
from tinygan import backend, optim
from tinygan.utils import data, images
from tinygan.utils.checkpoint import load_checkpoint, save_checkpoint
from tinygan.utils.weights import model_spec
from tinygan.utils.cli import (DEVICES, CtrlC, HelpFormatter, add_threads_option, check_new_run,
                                run_in_own_folder,
                                check_resume_settings, check_saved_settings, use_threads,
                                choose_device, fail, given_options, one_line, positive_float,
                                positive_int, run_script)
from tinygan.utils.files import (append_text, atomic_write, explain_os_error,
                                 remove_stale_temp_files)
from tinygan.utils.metrics import DeviceMetrics, TrainingDiverged, read_metrics_upto
from tinygan.utils.tensorboard import TensorBoardLogger, TensorBoardUnavailable
from tinygan.vae import VAE, vae_loss

METRICS = ("loss", "reconstruction", "kl")


# With --resume the run keeps the settings saved in its checkpoint (see RESUME_NOTE).
RUN_SETTINGS = ("dataset", "batch_size", "lr", "z_dim", "hidden_dim", "log_every", "seed", "limit")
RESUME_NOTE = """--resume continues the run in --out with the settings saved in its checkpoint
(sizes, learning rate, data, seed). Giving one of them again with the same value is fine;
with another value it is an error (exit code 2), since the run could not continue as it
began. What a resumed run takes from the command line: --epochs (the total), --out,
--backend, --data-dir, --tensorboard and --dry-run."""


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=RESUME_NOTE,
                                formatter_class=HelpFormatter)
    p.add_argument("--backend", choices=DEVICES, default="numpy",
                   help="numpy runs on the CPU, cupy on an NVIDIA GPU")
    p.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist",
                   help="MNIST digits or Fashion-MNIST clothes")
    p.add_argument("--epochs", type=positive_int, default=5,
                   help="total epochs (with --resume too)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="images per step")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam's learning rate (> 0)")
    p.add_argument("--z-dim", type=positive_int, default=20, help="size of the latent code z")
    p.add_argument("--hidden-dim", type=positive_int, default=400,
                   help="width of the encoder's and decoder's hidden layer")
    p.add_argument("--log-every", type=positive_int, default=50, help="steps per metrics line")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, data order and noise")
    add_threads_option(p)
    p.add_argument("--data-dir", default=None, help="folder with the four MNIST .gz files")
    p.add_argument("--out", default="runs/mnist_vae", help="folder for samples and checkpoints")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out (see below)")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in an --out that holds another run's checkpoint, "
                        "replacing it (without it, such an --out is refused)")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="use only the first N images (None: all)")
    p.add_argument("--dry-run", action="store_true", help="a few steps, no files written")
    p.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also log to TensorBoard event files in DIR (needs tensorboardX)")
    return p


def parse_args(argv=None):
    """(the arguments, the ``dest`` names of the options written on the command line)."""
    parser = build_parser()
    return parser.parse_args(argv), given_options(parser, argv)


def main(argv=None):
    args, given = parse_args(argv)
    return run_in_own_folder(args, given, train)


def train(args, given, lock):
    device = choose_device(args.backend)
    use_threads(args)
    out = Path(args.out)
    checkpoint = None
    check_new_run(args, out, lock, written=("checkpoint.npz",))
    if args.resume:
        try:
            checkpoint = load_checkpoint(out / "checkpoint.npz")
        except (FileNotFoundError, ValueError) as exc:
            fail(f"--resume: {exc}")
        if "vae" not in checkpoint.modules():
            fail(f"--resume: {out / 'checkpoint.npz'} is not a checkpoint of mnist_vae.py "
                 f"(it has {', '.join(checkpoint.modules())})")
        saved = check_saved_settings(build_parser(), checkpoint.meta.get("args"), RUN_SETTINGS,
                                     out / "checkpoint.npz")
        check_resume_settings(given, args, saved, RUN_SETTINGS, may_change=())
        for key in RUN_SETTINGS:
            setattr(args, key, saved.get(key, getattr(args, key)))
        try:   # its arrays against the sizes its metadata gives, before the model is built
            checkpoint.check_module("vae", model_spec("vae", im_dim=784,
                                                      hidden_dim=args.hidden_dim,
                                                      z_dim=args.z_dim))
        except ValueError as exc:
            fail(f"--resume: {exc}")
    tensorboard = None
    if args.tensorboard and not args.dry_run:
        try:
            tensorboard = TensorBoardLogger(args.tensorboard)
        except TensorBoardUnavailable as exc:
            fail(str(exc))

    tg.manual_seed(args.seed)
    try:
        train_images, _ = data.load_mnist(args.dataset, train=True, data_dir=args.data_dir,
                                    download=not args.dry_run)   # a dry run writes no files
    except (data.DatasetNotFound, data.ChecksumError, ValueError) as exc:
        if not args.dry_run:
            fail(str(exc))
        print(f"dry run: {args.dataset} not found, using random images instead "
              f"({one_line(exc)})")
        train_images = np.random.default_rng(args.seed).integers(0, 256, (512, 28, 28),
                                                                 dtype=np.uint8)
    try:
        loader = data.DataLoader(train_images, args.batch_size, seed=args.seed, device=device,
                                 limit=8 * args.batch_size if args.dry_run else args.limit)
    except ValueError as exc:  # e.g. --batch-size larger than --limit
        fail(str(exc))
    model = VAE(784, args.hidden_dim, args.z_dim).to(device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    noise_rng = backend.RandomStream([args.seed, 1], device)   # the reparameterisation's ε
    metrics = DeviceMetrics(METRICS, 2 if args.dry_run else args.log_every, device)
    grid_rng = backend.RandomStream([args.seed, 2], device)     # the same prior draws each epoch
    fixed_z = tg.Tensor(grid_rng.standard_normal((64, args.z_dim), np.float32))
    step, epoch = 0, 0
    if checkpoint is not None:
        try:
            checkpoint.restore(modules={"vae": model}, optimizers={"opt": optimizer})
        except ValueError as exc:
            fail(f"--resume: {exc}")
        step, epoch = checkpoint.meta["step"], checkpoint.meta["epoch"]
        noise_rng.set_state(checkpoint.meta["noise_rng"])
        loader.load_state_dict(checkpoint.meta["loader"])
        try:
            read_metrics_upto(out / "metrics.jsonl", step, rewrite=not args.dry_run)
        except ValueError as exc:   # a corrupt line in the middle: say which
            fail(f"--resume: {exc}")
        print(f"resuming {out / 'checkpoint.npz'} at epoch {epoch + 1}")
    save = not args.dry_run
    epochs_left = 1 if args.dry_run else args.epochs - epoch
    if save and epochs_left > 0:
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

    print(f"training a VAE on {device} ({args.backend}): {loader.num_examples} images, "
          f"{len(loader)} steps per epoch, {max(epochs_left, 0)} epoch(s)")
    record, bar = None, None
    # Ctrl-C stops at once (the checkpoint of the last finished epoch stays); a press after
    # that one is ignored, so the stop ends with its one line, never a traceback.
    # Overflow on the way to divergence is for the NaN checks to report, in one line.
    with CtrlC(), np.errstate(over="ignore", invalid="ignore"):
        try:
            for _ in range(epochs_left):
                bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", unit="step",
                           dynamic_ncols=True)
                for x, _ in bar:
                    reconstruction, mean, logvar = model(x, generator=noise_rng)
                    loss, recon, kl = checked_loss(reconstruction, x, mean, logvar,
                                                   step + 1, epoch + 1)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    step += 1
                    if metrics.add(loss, recon, kl):
                        record = log(metrics.flush(step, epoch + 1), out, save, tensorboard, bar)
                record = log(metrics.flush(step, epoch + 1), out, save, tensorboard, bar) or record
                bar.close()
                epoch += 1
                if save:
                    with tg.no_grad():
                        pixels = images.save_image_grid(model.decode(fixed_z).numpy(),
                                                        out / "samples" / f"epoch_{epoch:03d}.png")
                    save_checkpoint(out / "checkpoint.npz", modules={"vae": model},
                                    optimizers={"opt": optimizer},
                                    meta={"args": vars(args), "step": step, "epoch": epoch,
                                          "noise_rng": noise_rng.get_state(),
                                          "loader": loader.state_dict()})
                    if tensorboard:
                        tensorboard.image("samples", pixels, step)
                        tensorboard.flush()
        except KeyboardInterrupt:
            if bar is not None:
                bar.close()
            print(f"\ninterrupted: the checkpoint of the last finished epoch is kept in {out}"
                  if (out / "checkpoint.npz").exists() and save else
                  "\ninterrupted before the first checkpoint: nothing saved")
            return 130
        except (TrainingDiverged, OSError) as exc:
            if bar is not None:
                bar.close()
            if isinstance(exc, OSError):
                raise
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            if tensorboard:
                tensorboard.close()

    if args.dry_run:
        print(f"dry run finished: {step} steps, last loss {record['loss']:.2f} "
              f"(reconstruction {record['reconstruction']:.2f}, KL {record['kl']:.2f})")
        return 0
    print("done. Everything is in", out)
    print(f"  samples:     {out / 'samples'}/epoch_{epoch:03d}.png (decoded prior draws)")
    print(f"  metrics:     {out / 'metrics.jsonl'}")
    print(f"  checkpoint:  {out / 'checkpoint.npz'} "
          f"(sample with: python examples/sample.py {out / 'checkpoint.npz'})")
    if tensorboard:
        print(f"  tensorboard: tensorboard --logdir {args.tensorboard}")
    return 0


def checked_loss(reconstruction, x, mean, logvar, step, epoch):
    """vae_loss, or TrainingDiverged when the weights have left their range: the decoder's
    NaN output then fails BCE's range check, which is the run diverging, not a bug."""
    try:
        return vae_loss(reconstruction, x, mean, logvar)
    except ValueError:
        if np.isfinite(reconstruction.detach().numpy()).all():
            raise
        raise TrainingDiverged(f"training diverged at step {step} (epoch {epoch}): the "
                               "decoder's output is NaN (its weights left their range); the "
                               "last checkpoint is unchanged. Try a smaller --lr.") from None


def log(record, out, save, tensorboard, bar):
    """Write one metrics record wherever it goes; returns it."""
    if record is None:
        return None
    bar.set_postfix(loss=f"{record['loss']:.1f}", kl=f"{record['kl']:.1f}")
    if save:
        append_text(out / "metrics.jsonl", json.dumps(record) + "\n")
    if tensorboard:
        tensorboard.scalars({f"vae/{k}": record[k] for k in METRICS}, record["step"])
    return record


if __name__ == "__main__":
    run_script(main)
