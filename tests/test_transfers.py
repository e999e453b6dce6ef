"""GPU-friendliness: training makes no device-to-host copy per step, and data crosses once.

Counted with the CuPy stand-in's transfer counter (``cupy_standin.transfers``), so these
tests run on "cuda" with the stand-in only: on "cpu" there is no host/device boundary to
count, and real CuPy has no counter.

Measured: one device-to-host transfer per logged interval (the metrics buffer), none
in between; one host-to-device copy per epoch (the shuffled order) and one for the
dataset when the DataLoader is built.
"""
import math

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend, optim, toy
from tinygan.ema import EMA
from tinygan.gan import CONVOLUTIONAL, GANTrainer, build_models
from tinygan.utils import data
from tinygan.utils.training import TrainingRun

Z_DIM = 4


@pytest.fixture
def counter(device, cuda_kind):
    if device == "cpu":
        pytest.skip("transfers are counted on 'cuda' only: 'cpu' arrays never leave the host")
    if cuda_kind != "stand-in":
        pytest.skip("the transfer counter belongs to the CuPy stand-in, not real CuPy")
    import cupy_standin
    assert backend.xp_for("cuda") is cupy_standin
    return cupy_standin.transfers


def tiny_run(device, log_every, d_steps_per_g=1):
    tg.manual_seed(0)
    G, D = build_models(z_dim=Z_DIM, hidden_dim=4, im_dim=16)
    G.to(device), D.to(device)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), lr=1e-3),
                         optim.Adam(D.parameters(), lr=1e-3), z_dim=Z_DIM, device=device,
                         d_steps_per_g=d_steps_per_g)
    return TrainingRun(trainer, log_every=log_every)


def images(n=30):
    return np.random.default_rng(0).integers(0, 256, (n, 4, 4), dtype=np.uint8)


@pytest.mark.parametrize("steps, log_every", [(10, 3), (9, 3), (10, 10), (10, 1), (10, 25)])
def test_an_epoch_makes_one_device_to_host_transfer_per_logged_interval(device, counter, steps,
                                                                        log_every):
    loader = data.DataLoader(images(3 * steps), 3, device=device, seed=0)   # `steps` batches
    run = tiny_run(device, log_every)
    with counter.counting() as n:
        run.fit(loader, epochs=1)
    intervals = math.ceil(steps / log_every)        # full intervals, then the epoch's short one
    assert run.trainer.step == steps
    assert len(run.history) == intervals
    assert n.device_to_host == intervals            # i.e. 1 per logged interval, 0 per step
    assert n.host_to_device == 1                    # the epoch's shuffled order


def test_two_epochs_with_two_d_steps_per_g_step(device, counter):
    loader = data.DataLoader(images(24), 4, device=device, seed=1)         # 6 batches
    run = tiny_run(device, log_every=4, d_steps_per_g=2)
    with counter.counting() as n:
        run.fit(loader, epochs=2)
    assert [r["step"] for r in run.history] == [4, 6, 10, 12]
    assert n.device_to_host == len(run.history) == 4
    assert n.host_to_device == 2


def test_steps_between_logs_never_copy_to_the_host(device, counter):
    run = tiny_run(device, log_every=5)
    real = tg.tensor(np.random.default_rng(0).random((6, 16), dtype=np.float32), device=device)
    with counter.forbid():                          # any device-to-host copy raises here
        for _ in range(4):
            assert run.train_step(real) is None
    with counter.counting() as n:
        record = run.train_step(real)               # the fifth step closes the interval
    assert record is not None and record["step"] == 5
    assert n.device_to_host == 1 and n.host_to_device == 0


@pytest.mark.parametrize("arch", CONVOLUTIONAL)
def test_the_convolutional_steps_never_copy_to_the_host_between_logs(device, counter, arch):
    from tinygan.gan import ARCHITECTURES
    from tinygan.wgan import WGANGPTrainer
    tg.manual_seed(0)
    G, D = build_models(z_dim=Z_DIM, hidden_dim=4, arch=arch)
    G.to(device), D.to(device)
    opts = optim.Adam(G.parameters(), lr=1e-3), optim.Adam(D.parameters(), lr=1e-3)
    if ARCHITECTURES[arch][2] == "scores":
        trainer = WGANGPTrainer(G, D, *opts, z_dim=Z_DIM, device=device, crit_repeats=2)
    else:
        trainer = GANTrainer(G, D, *opts, z_dim=Z_DIM, device=device)
    run, ema = TrainingRun(trainer, log_every=3), EMA(G, decay=0.999)   # dcgan.py's EMA
    real = tg.tensor(np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32) * 2 - 1,
                     device=device)
    with counter.forbid():                          # any device-to-host copy raises here
        for _ in range(2):
            assert run.train_step(real) is None
            ema.update(G)
    with counter.counting() as n:
        record = run.train_step(real)               # the third step closes the interval
    assert record is not None and record["step"] == 3
    assert n.device_to_host == 1 and n.host_to_device == 0


def test_the_dataset_goes_to_the_device_once(device, counter):
    pictures = images(40)
    labels = np.arange(40, dtype=np.uint8) % 10
    with counter.counting() as built:
        loader = data.DataLoader(pictures, 8, labels=labels, device=device, seed=0)
    assert built.host_to_device == 2 and built.device_to_host == 0   # images, labels
    assert backend.device_of(loader.images) == "cuda"
    assert backend.device_of(loader.labels) == "cuda"
    stored = loader.images
    for epoch in range(2):
        with counter.counting() as n:
            batches = list(loader)
        assert len(batches) == 5
        assert n.host_to_device == 1 and n.device_to_host == 0       # the order only
        assert all(x.device == "cuda" and y.device == "cuda" for x, y in batches)
    assert loader.images is stored                  # never rebuilt


def test_the_ring_loader_copies_once_per_epoch(device, counter):
    loader = toy.RingLoader(batch_size=16, steps_per_epoch=5, seed=0, device=device)
    with counter.counting() as n:
        batches = list(loader)
    assert len(batches) == 5 and all(x.device == "cuda" for x, _ in batches)
    assert n.host_to_device == 2 and n.device_to_host == 0           # points, labels
