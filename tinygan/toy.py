"""The 2-D toy problem of GAN papers: a ring of 8 Gaussians, and how to score a generator on it.

A generator that collapses onto a few modes is easy to see here and to count:
a mode is *covered* when at least 1% of the samples fall within 3σ of it, and a
sample is *high quality* when it lies within 3σ of some mode.
"""
from __future__ import annotations

import math

import numpy as np

from . import backend
from .tensor import Tensor

RADIUS = 2.0
SIGMA = 0.05
NUM_MODES = 8


def ring_modes(num_modes=NUM_MODES, radius=RADIUS):
    """The (num_modes, 2) centres, evenly spaced on a circle."""
    angles = 2 * math.pi * np.arange(num_modes) / num_modes
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def sample_ring(n, rng, num_modes=NUM_MODES, radius=RADIUS, sigma=SIGMA):
    """n points (float32, host) and their mode index: a centre plus N(0, σ²) noise."""
    modes = ring_modes(num_modes, radius)
    labels = rng.integers(0, num_modes, n)
    points = modes[labels] + sigma * rng.standard_normal((n, 2))
    return points.astype(np.float32), labels


def nearest_mode(points, num_modes=NUM_MODES, radius=RADIUS):
    """(index of the nearest mode, distance to it) for each point."""
    distances = np.linalg.norm(points[:, None, :] - ring_modes(num_modes, radius)[None], axis=2)
    return distances.argmin(axis=1), distances.min(axis=1)


def mode_report(points, num_modes=NUM_MODES, radius=RADIUS, sigma=SIGMA):
    """{"modes_covered": k, "high_quality": share in [0, 1], "per_mode": counts}."""
    nearest, distance = nearest_mode(points, num_modes, radius)
    close = distance <= 3 * sigma
    per_mode = np.bincount(nearest[close], minlength=num_modes)
    covered = int((per_mode >= 0.01 * len(points)).sum())
    return {"modes_covered": covered, "high_quality": float(close.mean()),
            "per_mode": per_mode.tolist()}


class RingLoader:
    """Fresh ring samples each epoch, as (Tensor, labels Tensor) batches on a device.

    It has the DataLoader's interface (len, iteration, state_dict), so the training
    loop (``tinygan.utils.training.TrainingRun.fit``) takes it as it is.
    """

    def __init__(self, batch_size, steps_per_epoch, seed=0, device="cpu"):
        self.batch_size, self.steps = batch_size, steps_per_epoch
        self.device = backend.normalize_device(device)
        self._rng = np.random.default_rng(seed)

    def __len__(self):
        return self.steps

    def __iter__(self):
        points, labels = sample_ring(self.batch_size * self.steps, self._rng)
        points = backend.to_device(points, self.device)   # one copy per epoch
        labels = backend.to_device(labels, self.device)
        for i in range(self.steps):
            batch = slice(i * self.batch_size, (i + 1) * self.batch_size)
            yield Tensor(points[batch]), Tensor(labels[batch])

    def state_dict(self):
        return {"generator": self._rng.bit_generator.state}

    def load_state_dict(self, state):
        self._rng.bit_generator.state = state["generator"]
