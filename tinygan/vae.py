"""A variational autoencoder (Kingma & Welling, 2014), the other generative model of the course.

    encoder: x → h → (μ, log σ²);  z = μ + σ·ε, ε ~ N(0, I)  (the reparameterisation trick);
    decoder: z → h → x̂ in [0, 1];
    loss = BCE(x̂, x) summed over pixels + KL(N(μ, σ²) ‖ N(0, I)), both averaged over the batch.
"""
from __future__ import annotations

from . import backend, nn
from .nn import functional as F
from .tensor import Tensor


class VAE(nn.Module):
    def __init__(self, im_dim=784, hidden_dim=400, z_dim=20):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(nn.Linear(im_dim, hidden_dim), nn.ReLU())
        self.to_mean = nn.Linear(hidden_dim, z_dim)
        self.to_logvar = nn.Linear(hidden_dim, z_dim)
        self.decoder = nn.Sequential(nn.Linear(z_dim, hidden_dim), nn.ReLU(),
                                     nn.Linear(hidden_dim, im_dim), nn.Sigmoid())

    def encode(self, x):
        h = self.encoder(x)
        return self.to_mean(h), self.to_logvar(h)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x, generator=None):
        """(reconstruction, μ, log σ²) for a batch of images."""
        mean, logvar = self.encode(x)
        return self.decode(reparameterize(mean, logvar, generator)), mean, logvar


def reparameterize(mean, logvar, generator=None):
    """z = μ + exp(½ log σ²)·ε with ε ~ N(0, I): random, yet differentiable in μ and log σ²."""
    rng = generator if generator is not None else backend.default_generator(mean.device)
    eps = Tensor(rng.standard_normal(mean.shape, mean.dtype))
    return mean + (logvar * 0.5).exp() * eps


def kl_divergence(mean, logvar):
    """KL(N(μ, σ²) ‖ N(0, I)) = -½ Σ (1 + log σ² - μ² - σ²), summed over z, averaged over the batch."""
    per_sample = -0.5 * (1 + logvar - mean * mean - logvar.exp()).sum(dim=1)
    return per_sample.mean()


def vae_loss(reconstruction, x, mean, logvar):
    """(total, reconstruction term, KL term): BCE summed over pixels, each averaged over the batch."""
    n = x.shape[0]
    recon = F.binary_cross_entropy(reconstruction, x, reduction="sum") / n
    kl = kl_divergence(mean, logvar)
    return recon + kl, recon, kl

