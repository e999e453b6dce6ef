"""Week 1 of the GAN course ("Your First GAN") on tinygan, as a learner runs it: the notebook's
graded pieces are written here the way its solution writes them, with the library's names
only (``torch`` is whichever module the test is given), and its unit checks are restated in
our own words. Each check runs on tinygan and, where torch is installed, on PyTorch, so a
difference between the two is a failure here before a learner meets it."""
import inspect

import numpy as np
import pytest

import tinygan


# --- the learner's solution, written once for any library with PyTorch's names --------------

def generator_block(torch, n_in, n_out):
    nn = torch.nn
    return nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU(inplace=True))


def generator(torch, z_dim=10, im_dim=784, hidden=128):
    nn = torch.nn
    return nn.Sequential(generator_block(torch, z_dim, hidden),
                         generator_block(torch, hidden, hidden * 2),
                         generator_block(torch, hidden * 2, hidden * 4),
                         generator_block(torch, hidden * 4, hidden * 8),
                         nn.Linear(hidden * 8, im_dim), nn.Sigmoid())


def discriminator_block(torch, n_in, n_out):
    nn = torch.nn
    return nn.Sequential(nn.Linear(n_in, n_out), nn.LeakyReLU(0.2, inplace=True))


def discriminator(torch, im_dim=784, hidden=128):
    nn = torch.nn
    return nn.Sequential(discriminator_block(torch, im_dim, hidden * 4),
                         discriminator_block(torch, hidden * 4, hidden * 2),
                         discriminator_block(torch, hidden * 2, hidden),
                         nn.Linear(hidden, 1))


def noise(torch, n, z_dim, device="cpu"):
    return torch.randn(n, z_dim, device=device)


def disc_loss(torch, gen, disc, criterion, real, n, z_dim, device="cpu"):
    fake = gen(noise(torch, n, z_dim, device))
    fake_pred = disc(fake.detach())
    real_pred = disc(real)
    return (criterion(fake_pred, torch.zeros_like(fake_pred))
            + criterion(real_pred, torch.ones_like(real_pred))) / 2


def gen_loss(torch, gen, disc, criterion, n, z_dim, device="cpu"):
    pred = disc(gen(noise(torch, n, z_dim, device)))
    return criterion(pred, torch.ones_like(pred))


# --- the notebook's checks, restated --------------------------------------------------------

@pytest.mark.parametrize("n_in, n_out", [(25, 12), (15, 28)])
def test_a_generator_block_is_linear_batchnorm_relu(torch, n_in, n_out):
    block = generator_block(torch, n_in, n_out)
    assert len(block) == 3 and [type(m) for m in block] == [
        torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU]
    out = block(torch.randn(1000, n_in))
    assert tuple(out.shape) == (1000, n_out)
    assert 0.55 < out.std() < 0.65           # ReLU of a unit normal: std √(1/2 - 1/2π) ≈ 0.58


@pytest.mark.parametrize("z_dim, im_dim, hidden", [(5, 10, 20), (20, 8, 24)])
def test_the_generator_ends_in_a_sigmoid_of_a_linear_map(torch, z_dim, im_dim, hidden):
    gen = generator(torch, z_dim, im_dim, hidden)
    assert len(gen) == 6
    out = gen(torch.randn(10000, z_dim))
    assert tuple(out.shape) == (10000, im_dim)
    assert 0 < out.min() < 0.5 and out.max() < 1
    assert 0.05 < out.std() < 0.15           # no BatchNorm after the last Linear


def test_noise_is_a_standard_normal_on_the_asked_device(torch):
    z = noise(torch, 1000, 100, "cpu")
    assert tuple(z.shape) == (1000, 100)
    assert torch.abs(z.std() - torch.tensor(1.0)) < 0.01
    assert str(z.device).startswith("cpu")


@pytest.mark.parametrize("n_in, n_out", [(25, 12), (15, 28)])
def test_a_discriminator_block_leaks_a_fifth(torch, n_in, n_out):
    block = discriminator_block(torch, n_in, n_out)
    assert len(block) == 2
    out = block(torch.randn(10000, n_in))
    assert tuple(out.shape) == (10000, n_out)
    assert 0.1 < -out.min() / out.max() < 0.3
    assert 0.3 < out.std() < 0.5


def test_the_discriminator_ends_in_one_logit(torch):
    for im_dim, hidden in ((5, 10), (20, 8)):
        disc = discriminator(torch, im_dim, hidden)
        assert len(disc) == 4 and not isinstance(disc[-1], torch.nn.Sequential)
        assert tuple(disc(torch.randn(100, im_dim)).shape) == (100, 1)


def test_the_disc_loss_averages_its_two_halves(torch):
    n, z_dim = 10, 64
    mean_of_rows = lambda x: x.mean(1)[:, None]                       # noqa: E731
    loss = disc_loss(torch, torch.zeros_like, mean_of_rows, torch.mul, torch.ones(n, z_dim), n,
                     z_dim)
    assert torch.all(torch.abs(loss.mean() - 0.5) < 1e-5)   # fakes at 0, reals at 1: half of 1
    loss = disc_loss(torch, torch.ones_like, mean_of_rows, torch.mul, torch.zeros(n, z_dim), n,
                     z_dim)
    assert torch.all(torch.abs(loss) < 1e-5)
    disc = torch.nn.Linear(64, 1, bias=False)
    disc.weight.data = torch.ones_like(disc.weight.data) * 0.5
    summed = lambda x, y: torch.sum(x) + torch.sum(y)                 # noqa: E731
    disc_loss(torch, torch.ones_like, disc, summed, torch.ones(n, 64) * 0.5, n, z_dim).mean() \
        .backward()
    # each input row adds itself to the weight's gradient: the fakes' 1s and the reals' 0.5s,
    # halved: 10·(1 + 0.5)/2 = 7.5, and |7.5 - 11.25| = 3.75
    assert torch.isclose(torch.abs(disc.weight.grad.mean() - 11.25), torch.tensor(3.75))


def test_the_disc_loss_stops_at_the_fakes_and_a_step_moves_d(torch):
    z_dim, n = 64, 32
    gen, disc = generator(torch, z_dim), discriminator(torch)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-5)
    real = torch.rand(n, 784)
    for _ in range(3):
        opt.zero_grad()
        loss = disc_loss(torch, gen, disc, torch.nn.BCEWithLogitsLoss(), real, n, z_dim)
        assert (loss - 0.69).abs() < 0.05     # a fresh D guesses: log 2
        loss.backward(retain_graph=True)
        assert gen[0][0].weight.grad is None  # fake.detach(): nothing reached G
        old = disc[0][0].weight.data.clone()
        opt.step()
        assert not torch.all(torch.eq(old, disc[0][0].weight.data))


def test_the_gen_loss_calls_the_fakes_real(torch):
    n, z_dim = 10, 64
    out = gen_loss(torch, torch.zeros_like, torch.nn.Identity(), torch.mul, n, z_dim)
    assert torch.all(torch.abs(out) < 1e-5) and tuple(out.shape) == (n, z_dim)
    out = gen_loss(torch, torch.ones_like, torch.nn.Identity(), torch.mul, n, z_dim)
    assert torch.all(torch.abs(out - 1) < 1e-5) and tuple(out.shape) == (n, z_dim)
    gen, disc = generator(torch, z_dim), discriminator(torch)
    opt = torch.optim.Adam(gen.parameters(), lr=1e-5)
    loss = gen_loss(torch, gen, disc, torch.nn.BCEWithLogitsLoss(), 18, z_dim)
    assert (loss - 0.7).abs() < 0.1
    loss.backward()
    old = gen[0][0].weight.clone()
    opt.step()
    assert not torch.all(torch.eq(old, gen[0][0].weight))


def test_the_training_loops_runtime_check_passes(torch):
    # The notebook's loop checks after each G step that G's first weights moved, under a
    # bare `except:` that prints "Runtime tests have failed": any missing name fails it
    z_dim, n = 64, 16
    gen, disc = generator(torch, z_dim), discriminator(torch)
    gen_opt = torch.optim.Adam(gen.parameters(), lr=1e-5)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=1e-5)
    criterion = torch.nn.BCEWithLogitsLoss()
    for _ in range(2):
        real = torch.rand(n, 784)
        disc_opt.zero_grad()
        disc_loss(torch, gen, disc, criterion, real, n, z_dim).backward(retain_graph=True)
        disc_opt.step()
        old = gen[0][0].weight.detach().clone()
        gen_opt.zero_grad()
        gen_loss(torch, gen, disc, criterion, n, z_dim).backward()
        gen_opt.step()
        assert torch.any(gen[0][0].weight.detach().clone() != old)


def test_no_solution_here_casts_to_cuda_by_hand():
    # the notebook greps the learner's functions for .cuda() and .to('cuda')
    for function in (disc_loss, gen_loss, noise):
        source = inspect.getsource(function)
        assert ".cuda()" not in source and "to('cuda')" not in source


def test_the_images_shown_are_a_grid_of_25(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    from tinygan.vision.utils import make_grid
    images = tinygan.rand(128, 784)
    grid = make_grid(images.detach().cpu().view(-1, *(1, 28, 28))[:25], nrow=5)
    try:
        shown = plt.imshow(grid.permute(1, 2, 0).squeeze())
        assert np.asarray(shown.get_array()).shape == (152, 152, 3)
    finally:
        plt.close("all")
