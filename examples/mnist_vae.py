"""Train a variational autoencoder on MNIST, with the GAN example's conventions.

    python examples/mnist_vae.py --backend numpy --data-dir ../shared/data/mnist

Writes to --out: samples/epoch_NNN.png (decoded from the same prior draws every epoch),
metrics.jsonl (loss, reconstruction and KL terms per logging interval) and
checkpoint.npz (each epoch; --resume continues up to --epochs). --dry-run runs a few
steps and writes nothing; --tensorboard DIR also writes TensorBoard events.
"""
from __future__ import annotations

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
from tinygan.utils.cli import DEVICES, choose_device, fail
from tinygan.utils.metrics import DeviceMetrics, TrainingDiverged, read_metrics_upto
from tinygan.utils.tensorboard import TensorBoardLogger, TensorBoardUnavailable
from tinygan.vae import VAE, vae_loss

METRICS = ("loss", "reconstruction", "kl")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--backend", choices=DEVICES, default="numpy")
    p.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--z-dim", type=int, default=20)
    p.add_argument("--hidden-dim", type=int, default=400)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="runs/mnist_vae")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--tensorboard", default=None, metavar="DIR")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    device = choose_device(args.backend)
    out = Path(args.out)
    checkpoint = None
    if args.resume:
        try:
            checkpoint = load_checkpoint(out / "checkpoint.npz")
        except (FileNotFoundError, ValueError) as exc:
            fail(f"--resume: {exc}")
        for key in ("dataset", "batch_size", "lr", "z_dim", "hidden_dim", "log_every", "seed",
                    "limit"):
            setattr(args, key, checkpoint.meta["args"][key])
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
        print(f"dry run: {args.dataset} not found, using random images instead")
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
        checkpoint.restore(modules={"vae": model}, optimizers={"opt": optimizer})
        step, epoch = checkpoint.meta["step"], checkpoint.meta["epoch"]
        noise_rng.set_state(checkpoint.meta["noise_rng"])
        loader.load_state_dict(checkpoint.meta["loader"])
        read_metrics_upto(out / "metrics.jsonl", step)
        print(f"resuming {out / 'checkpoint.npz'} at epoch {epoch + 1}")
    save = not args.dry_run
    if save:
        out.mkdir(parents=True, exist_ok=True)
        if checkpoint is None:
            (out / "metrics.jsonl").write_text("")

    epochs_left = 1 if args.dry_run else args.epochs - epoch
    print(f"training a VAE on {device} ({args.backend}): {loader.num_examples} images, "
          f"{len(loader)} steps per epoch, {max(epochs_left, 0)} epoch(s)")
    record = None
    try:
        for _ in range(epochs_left):
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", unit="step",
                       dynamic_ncols=True)
            for x, _ in bar:
                reconstruction, mean, logvar = model(x, generator=noise_rng)
                loss, recon, kl = vae_loss(reconstruction, x, mean, logvar)
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
        print(f"\ninterrupted: the checkpoint of the last finished epoch is kept in {out}")
        return 130
    except TrainingDiverged as exc:
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
    print(f"  checkpoint:  {out / 'checkpoint.npz'}")
    if tensorboard:
        print(f"  tensorboard: tensorboard --logdir {args.tensorboard}")
    return 0


def log(record, out, save, tensorboard, bar):
    """Write one metrics record wherever it goes; returns it."""
    if record is None:
        return None
    bar.set_postfix(loss=f"{record['loss']:.1f}", kl=f"{record['kl']:.1f}")
    if save:
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
    if tensorboard:
        tensorboard.scalars({f"vae/{k}": record[k] for k in METRICS}, record["step"])
    return record


if __name__ == "__main__":
    sys.exit(main())
