"""The GAN of the course: models, noise, and a trainer whose steps read like its pseudo-code.

    D step: z → G → fake;  D(fake, detached) labelled 0,  D(real) labelled 1;
            loss = mean of the two;  update D only.
    G step: fresh z → G → fake;  D(fake) labelled 1 (non-saturating);  update G only.

The generator step recomputes D(G(z)) with the discriminator as it is after its
update; nothing from the D step is reused.

What a long run adds around these steps (epochs, logging, checkpoints) is not here:
see ``tinygan.utils.training``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import backend, nn
from .dcgan import Critic, DCGANDiscriminator, DCGANGenerator, weights_init
from .nn import functional as F
from .functional import cat
from .factories import full, randint
from .tensor import Tensor, no_grad


# === the models =================================================================================

def generator_block(in_dim, out_dim):
    """Linear → BatchNorm1d → ReLU: one widening step of the generator."""
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim), nn.ReLU())


def discriminator_block(in_dim, out_dim):
    """Linear → LeakyReLU(0.2): one narrowing step of the discriminator."""
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.LeakyReLU(0.2))


class Generator(nn.Module):
    """z (z_dim) → 128 → 256 → 512 → 1024 → image (im_dim) in [0, 1] (for hidden_dim 128)."""

    def __init__(self, z_dim=64, im_dim=784, hidden_dim=128):
        super().__init__()
        self.z_dim, self.im_dim = z_dim, im_dim
        self.gen = nn.Sequential(
            generator_block(z_dim, hidden_dim),
            generator_block(hidden_dim, hidden_dim * 2),
            generator_block(hidden_dim * 2, hidden_dim * 4),
            generator_block(hidden_dim * 4, hidden_dim * 8),
            nn.Linear(hidden_dim * 8, im_dim),
            nn.Sigmoid(),
        )

    def forward(self, noise):
        return self.gen(noise)


class Discriminator(nn.Module):
    """image (im_dim) → 512 → 256 → 128 → one logit (for hidden_dim 128)."""

    def __init__(self, im_dim=784, hidden_dim=128):
        super().__init__()
        self.disc = nn.Sequential(
            discriminator_block(im_dim, hidden_dim * 4),
            discriminator_block(hidden_dim * 4, hidden_dim * 2),
            discriminator_block(hidden_dim * 2, hidden_dim),
            nn.Linear(hidden_dim, 1),
        )

    def forward(self, image):
        return self.disc(image)


class VanillaGenerator(nn.Module):
    """The seed tutorial's generator: z (100) → 256 → 512 → 1024 → image in [-1, 1] (Tanh)."""

    def __init__(self, z_dim=100, im_dim=784, hidden_dim=128):
        super().__init__()
        h = hidden_dim
        self.gen = nn.Sequential(
            nn.Linear(z_dim, 2 * h), nn.LeakyReLU(0.2),
            nn.Linear(2 * h, 4 * h), nn.LeakyReLU(0.2),
            nn.Linear(4 * h, 8 * h), nn.LeakyReLU(0.2),
            nn.Linear(8 * h, im_dim), nn.Tanh(),
        )

    def forward(self, noise):
        return self.gen(noise)


class VanillaDiscriminator(nn.Module):
    """The seed tutorial's discriminator: image → 1024 → 512 → 256 → probability (Sigmoid),
    each hidden layer LeakyReLU(0.2) then Dropout(0.3); trained with BCELoss."""

    def __init__(self, im_dim=784, hidden_dim=128):
        super().__init__()
        h = hidden_dim
        self.disc = nn.Sequential(
            nn.Linear(im_dim, 8 * h), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(8 * h, 4 * h), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(4 * h, 2 * h), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(2 * h, 1), nn.Sigmoid(),
        )

    def forward(self, image):
        return self.disc(image)


def one_hot(labels, num_classes, dtype=np.float32):
    """Rows of the identity picked by integer labels: (N,) → (N, num_classes) floats.

    F.one_hot's rows (it builds them), with another contract, for a model's input: rows in
    the model's dtype, labels of any integer dtype, and no device-to-host read on "cuda"
    (F.one_hot reads the labels' min and max, as PyTorch's does: a wait every step).
    Labels on the host are checked here; on "cuda" they are checked where they enter (the
    data loader checks the dataset's once, on the host); unchecked, one out of range
    would give a row of zeros.
    """
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
    if labels.device == backend.CPU and labels.numel():
        check_labels(labels._data, num_classes)
    return F._one_hot_rows(labels, num_classes, dtype)


def check_labels(labels, num_classes, where="labels"):
    """Raise ValueError unless every label (a host array) is in [0, num_classes)."""
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ValueError(f"{where} must be in [0, {num_classes}); got {bad}")


class Conditional(nn.Module):
    """``net(cat([x, one_hot(label)]))``: the course's conditional GAN, where the
    generator takes the class beside the noise and the discriminator beside the image."""

    def __init__(self, net, num_classes):
        super().__init__()
        self.net, self.num_classes = net, num_classes

    def forward(self, x, labels):
        return self.net(cat([x, one_hot(labels, self.num_classes, x.dtype)], dim=1))


# Modules whose output row i depends on input row i alone (no BatchNorm, no minibatch
# features), matched by exact type: a subclass may have a forward of its own.
ROW_WISE = (nn.Linear, nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Dropout, nn.Identity,
            nn.Flatten, nn.Sequential, Discriminator, VanillaDiscriminator, Conditional)


def rows_independent(module):
    """Whether ``module`` treats each row of its input on its own, so that one pass over
    two batches stacked gives what two passes give (Dropout: the same distribution)."""
    return all(type(m) in ROW_WISE for m in module.modules())


def dcgan_generator(in_dim, im_dim, hidden_dim):
    """The course's DCGAN generator (week 2), for ``build_models``: images (1, 28, 28)."""
    if im_dim != 784:
        raise ValueError(f"the DCGAN generator makes 1×28×28 images (784 values), not {im_dim}")
    return DCGANGenerator(in_dim, 1, hidden_dim)


def dcgan_discriminator(in_dim, hidden_dim):
    """The course's DCGAN discriminator at a quarter of G's width (G 64, D 16, as the course)."""
    return DCGANDiscriminator(1, max(1, hidden_dim // 4))


def padded_dcgan_discriminator(in_dim, hidden_dim):
    """The course's DCGAN discriminator with its first convolution padded by 1, so that it
    sees every pixel, not only the top-left 22×22 (tinygan.dcgan); four logits an image."""
    return DCGANDiscriminator(1, max(1, hidden_dim // 4), padding=1)


WIDE_D_WIDTH = 64   # dcgan-wide's D: week 3's critic's width, whatever G's hidden_dim


def wide_dcgan_discriminator(in_dim, hidden_dim):
    """The padded DCGAN discriminator at week 3's critic's width (64 and 128 channels)
    whatever G's width, not a quarter of it: as wide as the course's G (``hidden_dim`` 64),
    half as wide as examples/dcgan.py's default G (128)."""
    return DCGANDiscriminator(1, WIDE_D_WIDTH, padding=1)


def critic(in_dim, hidden_dim):
    """Week 3's critic, as wide as G (64 and 64, as the course)."""
    return Critic(1, hidden_dim)


def padded_critic(in_dim, hidden_dim):
    """Week 3's critic with its first convolution padded by 1, as dcgan-padded's D: it
    scores every pixel (four scores an image)."""
    return Critic(1, hidden_dim, padding=1)


def plain_critic(in_dim, hidden_dim):
    """The padded critic without its BatchNorm2d layers (tinygan.dcgan.Critic)."""
    return Critic(1, hidden_dim, padding=1, batch_norm=False)


ARCHITECTURES = {
    # arch: (generator, discriminator, D's output, image range, default z_dim)
    "course": (Generator, Discriminator, "logits", "unit", 64),
    "vanilla": (VanillaGenerator, VanillaDiscriminator, "probs", "symmetric", 100),
    "dcgan": (dcgan_generator, dcgan_discriminator, "logits", "symmetric", 64),
    "dcgan-padded": (dcgan_generator, padded_dcgan_discriminator, "logits", "symmetric", 64),
    "dcgan-wide": (dcgan_generator, wide_dcgan_discriminator, "logits", "symmetric", 64),
    "wgan-gp": (dcgan_generator, critic, "scores", "symmetric", 64),   # WGANGPTrainer's
    "wgan-gp-padded": (dcgan_generator, padded_critic, "scores", "symmetric", 64),
    "wgan-gp-padded-nobn": (dcgan_generator, plain_critic, "scores", "symmetric", 64),
}
# Architectures whose networks take images as (N, 1, 28, 28) rather than rows of 784.
CONVOLUTIONAL = ("dcgan", "dcgan-padded", "dcgan-wide", "wgan-gp", "wgan-gp-padded",
                 "wgan-gp-padded-nobn")
IMAGE_SHAPE = (1, 28, 28)


def build_models(z_dim=None, hidden_dim=128, im_dim=784, arch="course", num_classes=0):
    """(G, D) for an architecture; ``num_classes`` > 0 makes both conditional.

    ``ARCHITECTURES[arch]`` also says whether D ends in logits, probabilities or a critic's
    scores (which trainer, and GANTrainer's ``d_outputs``) and the image range the data must
    be scaled to. The convolutional ones (``CONVOLUTIONAL``) take and make images of shape
    ``IMAGE_SHAPE``, with the course's N(0, 0.02) initialisation.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}: expected one of {sorted(ARCHITECTURES)}")
    if arch in CONVOLUTIONAL and num_classes:
        raise ValueError(f"arch {arch!r} is unconditional here: the conditional GAN is an MLP "
                         "(arch 'course' or 'vanilla')")
    make_g, make_d, _, _, default_z = ARCHITECTURES[arch]
    z_dim = default_z if z_dim is None else z_dim
    G = make_g(z_dim + num_classes, im_dim, hidden_dim)
    D = make_d(im_dim + num_classes, hidden_dim)
    if arch in CONVOLUTIONAL:
        G.apply(weights_init), D.apply(weights_init)
    if num_classes:
        G, D = Conditional(G, num_classes), Conditional(D, num_classes)
    return G, D


def get_noise(n_samples, z_dim, device="cpu", truncation=None, generator=None):
    """z ~ N(0, I) of shape (n_samples, z_dim); with ``truncation`` t, every value with
    |z| > t is drawn again until none is (the truncation trick: less variety, better images).

    >>> z = get_noise(1000, 64, truncation=1.5)
    >>> z.shape, bool(z.abs().max() <= 1.5)
    (tinygan.Size([1000, 64]), True)
    """
    if truncation is not None and truncation <= 0:
        raise ValueError(f"truncation must be positive, got {truncation}")
    rng = generator if generator is not None else backend.default_generator(device)
    z = rng.standard_normal((n_samples, z_dim), np.float32)
    if truncation is not None:
        z = _redraw_outside(z, float(truncation), rng)
    return Tensor(z)


def _redraw_outside(z, t, rng):
    """Redraw every |z| > t from N(0, 1) restricted to [-t, t], exactly.

    For t ≥ 1 a fresh normal often lands inside. For a small t it seldom does, so there a
    candidate is uniform on [-t, t], kept with probability exp(-x²/2) (at least e^(-1/2)):
    the kept ones are N(0, 1) given |x| ≤ t.
    """
    xp = backend.array_module(z)
    for _ in range(200):     # far more than needed: each round settles most of what is left
        outside = xp.abs(z) > t
        # One bool read per round; only truncated sampling pays it, never training.
        if not bool(outside.any()):
            return z
        if t >= 1:
            candidate = rng.standard_normal(z.shape, np.float32)
        else:
            x = (2 * rng.random(z.shape, np.float32) - 1) * np.float32(t)
            keep = rng.random(z.shape, np.float32) < xp.exp(-x * x / 2)
            candidate = xp.where(keep, x, xp.float32(xp.inf))    # rejected: drawn again
        z = xp.where(outside, candidate, z)
    raise RuntimeError(f"truncated noise: values beyond {t} remain after 200 rounds")


# === the trainer ===============================================================================

class StepResult(NamedTuple):
    """What :meth:`GANTrainer.train_step` returns: the step's losses and what D said.

    All detached (the step's graphs are spent); ``d_real`` and ``d_fake`` are D's
    probabilities that each image is real, shape (N, 1), from the last D update.
    """
    d_loss: Tensor   # ½·[BCE(D(x), 1) + BCE(D(G(z)), 0)]
    g_loss: Tensor   # the generator's loss, after D's update
    d_real: Tensor   # D(x) for the real batch
    d_fake: Tensor   # D(G(z)) for the fakes of D's step


class GANTrainer:
    """Alternating D and G updates, as the course teaches.

    ``d_outputs="logits"`` (the course's discriminator) trains with
    BCEWithLogitsLoss and reports σ(D(x)); ``"probs"`` (a discriminator ending in
    Sigmoid) trains with BCELoss. ``g_loss="non_saturating"`` minimises
    -log D(G(z)); ``"minimax"`` minimises log(1 - D(G(z))), the original form,
    whose gradient vanishes while D still wins easily.

    ``label_smoothing`` s > 0 is one-sided label smoothing (Salimans et al., 2016): D's
    target for real images is 1 - s instead of 1, so D cannot push its real outputs to
    certainty; fakes keep the target 0 and G's loss is unchanged.

    ``mismatched_reals=True`` (conditional only) makes D matching-aware (Reed et al.,
    2016): D also sees each real image under a wrong label, drawn uniformly from the other
    classes, labelled fake, so it must check that image and label agree, not only that the
    image looks real; D's fake term becomes the mean of the fakes' and the mismatches' loss.
    G's loss is unchanged, but the D it fools now punishes a digit of the wrong class.

    ``d_one_pass`` chooses how the D step runs. False: the course's form, one pass of D
    over the fakes and one over the reals (and one over the mismatches). True: the fast
    path, one pass over all of them stacked, with the same loss; it needs a D that treats
    each row on its own (``rows_independent``): a BatchNorm in D would normalise fakes and
    reals as one batch, a different loss, so True is refused there. None (the default):
    True where D's rows are independent, else False. (With Dropout in D the two forms
    draw the masks in another order: the same step in distribution, not draw for draw.)

    ``step`` counts generator updates and ``epoch`` finished epochs (whoever loops
    over the data advances it); :meth:`state` and :meth:`load_state` carry them and
    the random states across a checkpoint.
    """

    def __init__(self, generator, discriminator, opt_g, opt_d, *, z_dim, device="cpu",
                 g_loss="non_saturating", d_steps_per_g=1, d_outputs="logits", seed=0,
                 conditional=False, label_smoothing=0.0, mismatched_reals=False,
                 d_one_pass=None):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if g_loss not in ("non_saturating", "minimax"):
            raise ValueError(f"g_loss must be 'non_saturating' or 'minimax', got {g_loss!r}")
        if d_outputs not in ("logits", "probs"):
            raise ValueError(f"d_outputs must be 'logits' or 'probs', got {d_outputs!r}")
        if d_steps_per_g < 1:
            raise ValueError(f"d_steps_per_g must be at least 1, got {d_steps_per_g}")
        self.generator, self.discriminator = generator, discriminator
        self.opt_g, self.opt_d = opt_g, opt_d
        self.z_dim, self.device = z_dim, backend.normalize_device(device)
        self.g_loss, self.d_steps_per_g, self.d_outputs = g_loss, d_steps_per_g, d_outputs
        self.conditional = conditional   # G and D take the class labels too
        if mismatched_reals and not conditional:
            raise ValueError("mismatched_reals needs conditional=True: real images are "
                             "shown under wrong labels")
        if mismatched_reals and not isinstance(getattr(discriminator, "num_classes", None), int):
            raise ValueError("mismatched_reals draws wrong labels from range(D.num_classes), "
                             f"but the discriminator ({type(discriminator).__name__}) has no "
                             "integer num_classes")
        self.mismatched_reals = mismatched_reals
        self.d_one_pass = d_one_pass
        self._bce = F.binary_cross_entropy_with_logits if d_outputs == "logits" else \
            F.binary_cross_entropy
        self._constants = {}   # the losses' constant targets and weights, per shape
        self.real_label = 1.0 - label_smoothing
        self.criterion = nn.BCEWithLogitsLoss() if d_outputs == "logits" else nn.BCELoss()
        self.noise_rng = backend.RandomStream([seed, 1], self.device)
        self.step = 0          # generator updates so far
        self.epoch = 0         # epochs finished so far

    @property
    def d_one_pass(self):
        """Whether d_step takes the one-pass fast path (see the class docstring)."""
        return self._d_one_pass

    @d_one_pass.setter
    def d_one_pass(self, on):
        independent = rows_independent(self.discriminator)
        if on and not independent:
            raise ValueError("d_one_pass=True needs a discriminator that treats each row on its "
                             "own (no BatchNorm): one pass would normalise fakes and reals as "
                             "one batch, which changes the loss")
        self._d_one_pass = independent if on is None else bool(on)

    d_rows_independent = d_one_pass    # its former name, still set by bench/tricks.py

    def noise(self, n):
        """n noise vectors from the trainer's own random stream (saved in :meth:`state`)."""
        return get_noise(n, self.z_dim, self.device, generator=self.noise_rng)

    def _G(self, z, labels):
        return self.generator(z, labels) if self.conditional else self.generator(z)

    def _D(self, x, labels):
        return self.discriminator(x, labels) if self.conditional else self.discriminator(x)

    def _probabilities(self, pred_real, pred_fake):
        """D(x) and D(G(z)) as probabilities, detached: to look at, not to train on. Logits go
        through one σ together (fewer kernels than two)."""
        pred_real, pred_fake = pred_real.detach(), pred_fake.detach()
        if self.d_outputs != "logits":
            return pred_real, pred_fake
        n = pred_real.shape[0]
        both = cat([pred_real, pred_fake]).sigmoid()
        return both[:n], both[n:]

    # --- the two steps ----------------------------------------------------------------------
    def d_step(self, real, labels=None):
        """One discriminator update; returns (loss, D(real), D(fake)) as Tensors.

        Conditional: the fakes are made for the real batch's labels.
        """
        # L_D = ½·[BCE(D(x), 1 - s) + BCE(D(G(z)), 0)], no gradient into G (s: label_smoothing)
        n = real.shape[0]
        with no_grad():                     # the same as fake.detach(): D's loss stops at the fake
            fake = self._G(self.noise(n), labels)
        if not self.d_one_pass:             # the course's form: one pass of D per batch
            pred_fake = self._D(fake, labels)
            pred_real = self._D(real, labels)
            # targets in D's dtype, as the course's zeros_like (0.9 in float32 is not 0.9)
            loss_fake = self.criterion(pred_fake, self._filled(pred_fake, 0.0))
            loss_real = self.criterion(pred_real, self._filled(pred_real, self.real_label))
            if self.mismatched_reals:        # a real image under a wrong label is fake too
                pred_wrong = self._D(real, self.wrong_labels(labels))
                wrong = self.criterion(pred_wrong, self._filled(pred_wrong, 0.0))
                loss_fake = (loss_fake + wrong) / 2
            d_loss = (loss_fake + loss_real) / 2
        else:                               # the fast path: the same loss, one pass of D
            d_loss, pred_real, pred_fake = self._d_loss_in_one_pass(fake, real, labels)
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        return d_loss, pred_real, pred_fake

    def _d_loss_in_one_pass(self, fake, real, labels):
        """d_step's loss from one pass of D over the fakes, the reals (and the mismatches)
        stacked: the same loss as separate passes when no row of D's input sees another (no
        BatchNorm in D), with fewer kernel launches (bench/tricks.py measures the gain).
        The mean of each group's BCE becomes one weighted sum: ½·mean_real + ½·mean_fake
        (+ mismatches: ½·mean_real + ¼·mean_fake + ¼·mean_wrong)."""
        n = real.shape[0]
        images, d_labels = [fake, real], [labels, labels]
        if self.mismatched_reals:
            images.append(real)
            d_labels.append(self.wrong_labels(labels))
        pred = self._D(cat(images), cat(d_labels) if self.conditional else None)
        target, weight = self._d_targets(n, len(images), pred.dtype)
        d_loss = self._bce(pred, target, weight=weight, reduction="sum")
        return d_loss, pred[n:2 * n], pred[:n]

    def _d_targets(self, n, groups, dtype):
        """D's targets (0 for fakes and mismatches, 1 - s for reals) and each row's weight in
        the loss, made once per batch size, on the device (no host copy): constants need no
        kernel every step."""
        key = (n, groups, dtype)
        if key not in self._constants:
            real_weight = 1 / (2 * n)                     # ½ · mean over the reals
            fake_weight = real_weight / (groups - 1)      # ½ · mean over fakes (and mismatches)
            rows = {"target": (0.0, self.real_label, 0.0), "weight": (fake_weight, real_weight,
                                                                        fake_weight)}
            self._constants[key] = tuple(
                cat([full((n, 1), value, dtype=dtype, device=self.device)
                     for value in values[:groups]]) for values in rows.values())
        return self._constants[key]

    def _filled(self, like, value):
        """A constant target shaped like ``like``, made once per shape on the device (no
        fill kernel every step). Nobody writes into it: the losses only read their target."""
        key = ("filled", like.shape, like.dtype, value)
        if key not in self._constants:
            self._constants[key] = full(like.shape, value, dtype=like.dtype, device=self.device)
        return self._constants[key]

    def wrong_labels(self, labels):
        """Each label moved to one of the other classes, uniformly: (y + k) mod C, k in [1, C)."""
        classes = self.discriminator.num_classes
        shift = randint(1, classes, (labels.shape[0],), generator=self.noise_rng,
                        device=self.device, dtype=labels.dtype)
        return (labels + shift) % classes

    def g_step(self, n, labels=None):
        """One generator update on n fresh samples; returns the loss."""
        # L_G = BCE(D(G(z)), 1) with D after its update, D's weights frozen
        fake = self._G(self.noise(n), labels)
        self.discriminator.requires_grad_(False)   # D is fixed here: skip its weight gradients
        try:
            pred = self._D(fake, labels)           # D as it is after its update
            if self.g_loss == "non_saturating":    # minimise -log D(G(z))
                g_loss = self.criterion(pred, self._filled(pred, 1.0))
            else:                                  # minimise log(1 - D(G(z))) = -BCE(D(G(z)), 0)
                g_loss = -self.criterion(pred, self._filled(pred, 0.0))
            self.opt_g.zero_grad()
            g_loss.backward()
        finally:
            self.discriminator.requires_grad_(True)
        self.opt_g.step()
        return g_loss

    def train_step(self, real, labels=None):
        """d_steps_per_g D updates on the same real batch, then one G update.

        Returns a :class:`StepResult`: the losses, D(x) and D(G(z)).
        """
        if self.conditional and labels is None:
            raise ValueError("a conditional GAN needs the labels of the real batch")
        for _ in range(self.d_steps_per_g):
            d_loss, pred_real, pred_fake = self.d_step(real, labels)
        g_loss = self.g_step(real.shape[0], labels)
        self.step += 1
        d_real, d_fake = self._probabilities(pred_real, pred_fake)
        return StepResult(d_loss.detach(), g_loss.detach(), d_real, d_fake)

    # --- state for checkpoints ------------------------------------------------------------------
    def state(self):
        """Counters and random states (JSON-friendly) that a resumed run needs."""
        return {"step": self.step, "epoch": self.epoch,
                "noise_rng": self.noise_rng.get_state(),
                "dropout_rng": backend.default_generator(self.device).get_state()}

    def load_state(self, state):
        """Restore what :meth:`state` returned (other keys, e.g. an old checkpoint's
        "metrics", are left to whoever saved them)."""
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.noise_rng.set_state(state["noise_rng"])
        backend.default_generator(self.device).set_state(state["dropout_rng"])
