"""A tiny course GAN and a loader of tiny images, for the tests of the trainer and its loop."""
import numpy as np

import tinygan as tg
from tinygan import optim
from tinygan.gan import GANTrainer, build_models
from tinygan.utils import data

IM_DIM, Z_DIM = 16, 4


def course_trainer(device, seed=0, **kwargs):
    """The course's G (with BatchNorm) and D at a tiny size, on ``device``."""
    tg.manual_seed(seed)
    G, D = build_models(z_dim=Z_DIM, hidden_dim=4, im_dim=IM_DIM)
    G.to(device), D.to(device)
    opt_g = optim.Adam(G.parameters(), lr=1e-2, betas=(0.5, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.999))
    return GANTrainer(G, D, opt_g, opt_d, z_dim=Z_DIM, device=device, seed=seed, **kwargs)


def image_loader(device, n=30, batch_size=3, seed=0):
    """n random 4x4 uint8 "images" (16 pixels) as a DataLoader on ``device``."""
    images = np.random.default_rng(seed).integers(0, 256, (n, 4, 4), dtype=np.uint8)
    return data.DataLoader(images, batch_size, device=device, seed=seed)


def record_steps(trainer):
    """Wrap ``trainer.d_step`` and ``g_step`` to keep what each step returned, as host
    values: one dict per D step (d_loss, pred_real, pred_fake), g_loss added by the G step."""
    steps = []
    d_step, g_step = trainer.d_step, trainer.g_step

    def recording_d_step(real, labels=None):
        out = d_step(real, labels)
        loss, pred_real, pred_fake = out
        steps.append({"d_loss": loss.item(), "pred_real": pred_real.detach().numpy().copy(),
                      "pred_fake": pred_fake.detach().numpy().copy()})
        return out

    def recording_g_step(n, labels=None):
        loss = g_step(n, labels)
        steps[-1]["g_loss"] = loss.item()
        return loss

    trainer.d_step, trainer.g_step = recording_d_step, recording_g_step
    return steps
