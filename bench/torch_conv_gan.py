"""The course's DCGAN (week 2) or WGAN-GP (week 3) trained by PyTorch on the same work as
examples/dcgan.py and examples/wgan_gp.py, for a quality comparison scored by tinygan's own
evaluator:

    python bench/torch_conv_gan.py --model dcgan --epochs 5 --seed 0 --data-dir ~/data/mnist \
        --npy /tmp/torch-dcgan-s0.npy
    python examples/evaluate.py /tmp/torch-dcgan-s0.npy --data-dir ~/data/mnist

The models are tinygan/dcgan.py's source run under PyTorch (that file is the course's code),
the loop the course's (for WGAN-GP: 5 critic steps with fresh fakes and ε, λ = 10), the data
MNIST scaled to [-1, 1] in shuffled batches of --batch-size (last short batch dropped, as
dcgan.py's loader does), Adam at the course's lr 2e-4, betas (0.5, 0.999). At the end,
--samples images from G in eval mode, mapped to [0, 1], are saved as float32 (N, 784).
--lr, --beta1, --beta2 and --batch-size change the recipe, as dcgan.py's flags of the same
names do;
--padding 1 pads D's first convolution, as dcgan.py's --arch dcgan-padded does;
--d-hidden 64 with it makes D as wide as week 3's critic, as dcgan.py's default D (--arch
dcgan-wide) is;
--g-hidden sets G's width (the course's 64), as dcgan.py's --hidden-dim does.
For WGAN-GP, --d-steps sets the critic steps per G step (the course's 5) and --no-batch-norm
drops the critic's BatchNorm2d (with --padding 1: wgan_gp.py's --arch wgan-gp-padded-nobn).
With --ema DECAY the run also keeps PyTorch's AveragedModel with get_ema_multi_avg_fn(DECAY),
updated after each G step, its BatchNorm statistics recomputed by update_bn from 10 batches of
500 noise vectors (as examples/mnist_gan.py recomputes its EMA's), and --ema-npy gets its
samples, drawn from the same noise as the live G's.
PyTorch is needed here only (not a dependency of tinygan).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["dcgan", "wgan-gp"], default="dcgan")
    p.add_argument("--padding", type=int, choices=[0, 1], default=0,
                   help="1 pads D's first convolution, as dcgan.py's --arch dcgan-padded")
    p.add_argument("--d-hidden", type=int, default=None,
                   help="D's (or the critic's) first width; default the course's (16; 64)")
    p.add_argument("--g-hidden", type=int, default=64,
                   help="G's width, as dcgan.py's --hidden-dim (the course's 64)")
    p.add_argument("--d-steps", type=int, default=5, help="wgan-gp: critic steps per G step")
    p.add_argument("--no-batch-norm", action="store_true",
                   help="wgan-gp: the critic without its BatchNorm2d layers")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--ema", type=float, default=None, metavar="DECAY")
    p.add_argument("--ema-npy", default=None, help="where to save the EMA's samples")
    p.add_argument("--limit", type=int, default=None, help="the first N training images only")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--npy", required=True, help="where to save the samples")
    args = p.parse_args()
    if (args.ema is None) != (args.ema_npy is None):
        p.error("--ema and --ema-npy go together")
    return args


def course_models(torch):
    """tinygan/dcgan.py's classes, executed with torch.nn as nn."""
    source = (ROOT / "tinygan" / "dcgan.py").read_text().split("from . import nn\n")[1]
    namespace = {}
    exec("import torch\nfrom torch import nn\n" + source, namespace)
    return namespace


def main():
    args = parse_args()
    import torch
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    sys.path.insert(0, str(ROOT))
    from tinygan.utils import data
    images, _ = data.load_mnist("mnist", train=True, data_dir=args.data_dir)
    images = images[:args.limit]
    x_all = torch.tensor(images, dtype=torch.float32).div(255).mul(2).sub(1).view(-1, 1, 28, 28)
    m = course_models(torch)
    gen = m["DCGANGenerator"](hidden_dim=args.g_hidden).apply(m["weights_init"])
    options = {"hidden_dim": args.d_hidden} if args.d_hidden else {}
    if args.no_batch_norm:
        options["batch_norm"] = False
    disc = (m["DCGANDiscriminator"] if args.model == "dcgan" else m["Critic"])(
        padding=args.padding, **options).apply(m["weights_init"])
    betas = (args.beta1, args.beta2)
    gen_opt = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=betas)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=betas)
    average = (AveragedModel(gen, multi_avg_fn=get_ema_multi_avg_fn(args.ema))
               if args.ema is not None else None)
    criterion = torch.nn.BCEWithLogitsLoss()
    n, batch = len(x_all), args.batch_size
    for epoch in range(args.epochs):
        start = time.perf_counter()
        order = torch.randperm(n)
        for i in range(n // batch):
            real = x_all[order[i * batch:(i + 1) * batch]]
            if args.model == "dcgan":
                disc_opt.zero_grad()
                fake = gen(torch.randn(batch, 64))
                pred_fake, pred_real = disc(fake.detach()), disc(real)
                loss = (criterion(pred_fake, torch.zeros_like(pred_fake))
                        + criterion(pred_real, torch.ones_like(pred_real))) / 2
                loss.backward()
                disc_opt.step()
            else:
                for _ in range(args.d_steps):
                    disc_opt.zero_grad()
                    fake = gen(torch.randn(batch, 64))
                    pred_fake, pred_real = disc(fake.detach()), disc(real)
                    epsilon = torch.rand(batch, 1, 1, 1, requires_grad=True)
                    mixed = real * epsilon + fake.detach() * (1 - epsilon)
                    scores = disc(mixed)
                    gradient = torch.autograd.grad(inputs=mixed, outputs=scores,
                                                   grad_outputs=torch.ones_like(scores),
                                                   create_graph=True, retain_graph=True)[0]
                    gp = ((gradient.view(batch, -1).norm(2, dim=1) - 1) ** 2).mean()
                    loss = pred_fake.mean() - pred_real.mean() + 10 * gp
                    loss.backward(retain_graph=True)
                    disc_opt.step()
            gen_opt.zero_grad()
            pred = disc(gen(torch.randn(batch, 64)))
            g_loss = criterion(pred, torch.ones_like(pred)) if args.model == "dcgan" \
                else -pred.mean()
            g_loss.backward()
            gen_opt.step()
            if average is not None:
                average.update_parameters(gen)
        print(f"epoch {epoch + 1}: {time.perf_counter() - start:.1f} s, d_loss {loss.item():.3f}, "
              f"g_loss {g_loss.item():.3f}", flush=True)
    noise = torch.randn(args.samples, 64)
    save_samples(torch, gen, noise, args.npy)
    if average is not None:
        update_bn([torch.randn(500, 64) for _ in range(10)], average)
        save_samples(torch, average, noise, args.ema_npy)


def save_samples(torch, model, noise, path):
    """G's eval-mode images of the noise, mapped to [0, 1], saved as float32 (N, 784)."""
    model.eval()
    with torch.no_grad():
        pictures = torch.cat([model(z) for z in noise.split(1000)])
    np.save(path, ((pictures.view(len(pictures), -1) + 1) / 2).numpy().astype(np.float32))
    print(f"wrote {path}: {len(pictures)} samples")


if __name__ == "__main__":
    main()
