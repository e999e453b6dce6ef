"""The course's GAN training loop written out with tinygan, top to bottom: no trainer, no callbacks.
python examples/course_gan.py --epochs 5 --data-dir DIR [--backend cupy]; --dry-run: a few steps."""
import signal
if __name__ == "__main__":   # Ctrl-C while the imports below run: stop quietly
    signal.signal(signal.SIGINT, signal.SIG_DFL)
import argparse
import tempfile

import numpy as np

import tinygan as tg
from tinygan import nn, optim
from tinygan.gan import Discriminator, Generator, get_noise
from tinygan.utils import data, images
from tinygan.utils.cli import (DEVICES, choose_device, fail, ignore_relative_cache_home,
                               positive_int)

p = argparse.ArgumentParser(description="The course's GAN on MNIST, its loop written out.")
p.add_argument("--epochs", type=positive_int, default=5)
p.add_argument("--data-dir", help="the folder of the four MNIST .gz files")
p.add_argument("--backend", choices=DEVICES, default="numpy")
p.add_argument("--dry-run", action="store_true", help="a few steps; no download")
p.add_argument("--out", help="the sample grid (course_gan.png; dry run: in the temp folder)")
args = p.parse_args()
ignore_relative_cache_home()   # the XDG spec: a relative $XDG_CACHE_HOME is ignored
device = choose_device(args.backend)
z_dim, batch_size, lr, betas = 64, 128, 2e-4, (0.5, 0.999)   # the course's z, batch; DCGAN's Adam
tg.manual_seed(0)
try:
    mnist, _ = data.load_mnist(data_dir=args.data_dir, download=not args.dry_run)
except (data.DatasetNotFound, data.ChecksumError) as exc:
    if not args.dry_run:
        fail(str(exc))
    mnist = np.random.default_rng(0).integers(0, 256, (3 * batch_size, 28, 28), np.uint8)
dataloader = data.DataLoader(mnist[:3 * batch_size] if args.dry_run else mnist, batch_size,
                             device=device)

gen = Generator(z_dim).to(device)
gen_opt = optim.Adam(gen.parameters(), lr=lr, betas=betas)
disc = Discriminator().to(device)
disc_opt = optim.Adam(disc.parameters(), lr=lr, betas=betas)
criterion = nn.BCEWithLogitsLoss()

for epoch in range(1 if args.dry_run else args.epochs):
    for real, _ in dataloader:
        # Discriminator: real images labelled 1, fakes 0; detached, so G gets no gradient.
        fake = gen(get_noise(len(real), z_dim, device)).detach()
        disc_fake_pred, disc_real_pred = disc(fake), disc(real)
        disc_loss = (criterion(disc_fake_pred, tg.zeros_like(disc_fake_pred))
                     + criterion(disc_real_pred, tg.ones_like(disc_real_pred))) / 2
        disc_opt.zero_grad()
        disc_loss.backward()
        disc_opt.step()
        # Generator: fresh fakes through D as just updated, labelled 1 (non-saturating).
        disc_fake_pred = disc(gen(get_noise(len(real), z_dim, device)))
        gen_loss = criterion(disc_fake_pred, tg.ones_like(disc_fake_pred))
        gen_opt.zero_grad()
        gen_loss.backward()
        gen_opt.step()
    print(f"epoch {epoch + 1}: gen_loss {gen_loss.item():.4f}, disc_loss {disc_loss.item():.4f}")

# A dry run's grid: one file in the temp folder, replaced by the next dry run (not one per run).
out = args.out or f"{tempfile.gettempdir() if args.dry_run else '.'}/course_gan.png"
with tg.no_grad():  # eval: BatchNorm's running statistics, so each sample stands alone
    images.save_image_grid(gen.eval()(get_noise(64, z_dim, device)).numpy(), out)
print(f"wrote {out}")
