"""A learner's own training loop: ``import tinygan`` and nothing else chosen (no --threads,
no set_num_threads), the course's MLP GAN written out as a notebook writes it, on random
images (no data files, so that two copies start alike). bench/shared_cores.py runs two at
once against one alone.

    python bench/course_loop.py --steps 60        # prints {"ms_per_step": ...} as JSON

The time is the median step after 5 warm-up steps, in 10 blocks of steps // 10: a median
of block means, so that a step that waited on the other program counts as it did.
"""
import argparse
import json
import statistics
import time

import tinygan as tg
from tinygan import nn, optim

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--steps", type=int, default=60)
p.add_argument("--batch", type=int, default=128)
args = p.parse_args()

z_dim, lr, betas = 64, 2e-4, (0.5, 0.999)


def g_block(i, o):
    return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU()]


def d_block(i, o):
    return [nn.Linear(i, o), nn.LeakyReLU(0.2)]


tg.manual_seed(0)
gen = nn.Sequential(*g_block(z_dim, 128), *g_block(128, 256), *g_block(256, 512),
                    *g_block(512, 1024), nn.Linear(1024, 784), nn.Sigmoid())
disc = nn.Sequential(*d_block(784, 512), *d_block(512, 256), *d_block(256, 128),
                     nn.Linear(128, 1))
gen_opt = optim.Adam(gen.parameters(), lr=lr, betas=betas)
disc_opt = optim.Adam(disc.parameters(), lr=lr, betas=betas)
criterion = nn.BCEWithLogitsLoss()
real = tg.rand(args.batch, 784)


def step():
    fake = gen(tg.randn(args.batch, z_dim)).detach()
    disc_fake_pred, disc_real_pred = disc(fake), disc(real)
    disc_loss = (criterion(disc_fake_pred, tg.zeros_like(disc_fake_pred))
                 + criterion(disc_real_pred, tg.ones_like(disc_real_pred))) / 2
    disc_opt.zero_grad()
    disc_loss.backward()
    disc_opt.step()
    disc_fake_pred = disc(gen(tg.randn(args.batch, z_dim)))
    gen_loss = criterion(disc_fake_pred, tg.ones_like(disc_fake_pred))
    gen_opt.zero_grad()
    gen_loss.backward()
    gen_opt.step()
    return gen_loss.item()


for _ in range(5):
    step()
blocks = []
per_block = max(1, args.steps // 10)
for _ in range(10):
    t = time.perf_counter()
    for _ in range(per_block):
        step()
    blocks.append((time.perf_counter() - t) / per_block)
print(json.dumps({"ms_per_step": round(statistics.median(blocks) * 1000, 1),
                  "blas_threads": tg.get_num_threads()}), flush=True)
