"""Optional cross-check against PyTorch (CPU), in float64, to DESIGN's 1e-12.

PyTorch is not a tinygan dependency: without it this whole file is skipped (the
reason shows in the summary). tinygan runs on the ``device`` fixture; its host
copies are compared with torch's CPU results.

Comparisons are relative to 1e-12 per element, with an absolute floor of 1e-12
times the array's largest magnitude for elements that cancel to ~0 (BatchNorm's
input gradient sums to zero per channel).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is optional: the parity checks need it")

import tinygan as tg  # noqa: E402
from tinygan import nn, optim  # noqa: E402
from tinygan.nn import functional as F  # noqa: E402

from strategies import host  # noqa: E402

RTOL = 1e-12


def assert_parity(actual, expected, what="", scale=None):
    """Equal to RTOL per element, or to RTOL·scale (default: the largest |expected|)."""
    expected = np.asarray(expected, dtype=np.float64)
    if scale is None:
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def tt(array, requires_grad=False):
    return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def tgt(array, device, requires_grad=False):
    return tg.tensor(np.asarray(array, dtype=np.float64), device=device,
                     requires_grad=requires_grad)


def tnp(t):
    return t.detach().numpy()


# --- losses -------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weight"])
@pytest.mark.parametrize("with_pos_weight", [False, True], ids=["", "pos_weight"])
def test_bce_with_logits(device, reduction, weighted, with_pos_weight):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal((5, 3)) * 4, [[-1e4, 30.0, 1e4]], [[0.0, -40, 50]]])
    y = np.concatenate([rng.uniform(0, 1, (5, 3)), [[1.0, 0.0, 0.3]], [[0.5, 1.0, 0.0]]])
    w = rng.uniform(0.2, 2.0, (7, 3)) if weighted else None
    pw = rng.uniform(0.3, 3.0, 3) if with_pos_weight else None
    upstream = rng.standard_normal((7, 3)) if reduction == "none" else np.array(1.7)

    tx, ty = tt(x, True), tt(y, True)
    t_loss = torch.nn.BCEWithLogitsLoss(weight=None if w is None else tt(w), reduction=reduction,
                                        pos_weight=None if pw is None else tt(pw))(tx, ty)
    t_loss.backward(tt(upstream))
    gx, gy = tgt(x, device, True), tgt(y, device, True)
    g_loss = nn.BCEWithLogitsLoss(weight=None if w is None else tgt(w, device),
                                  reduction=reduction,
                                  pos_weight=None if pw is None else tgt(pw, device))(gx, gy)
    g_loss.backward(tgt(upstream, device))
    assert_parity(host(g_loss), tnp(t_loss), "loss")
    assert_parity(host(gx.grad), tnp(tx.grad), "d/dinput")
    assert_parity(host(gy.grad), tnp(ty.grad), "d/dtarget")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_values_and_grads(device, reduction):
    rng = np.random.default_rng(1)
    # ordinary values, values near 0 and 1 (above the 1e-12 gradient floor), and the clamp
    p = np.array([0.3, 0.01, 0.99, 1e-6, 1 - 1e-6, 1e-9, 1 - 1e-9, 0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([0.6, 1.0, 0.0, 0.3, 0.3, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.5])
    w = rng.uniform(0.5, 2.0, p.shape)
    upstream = rng.standard_normal(p.shape) if reduction == "none" else np.array(0.9)
    tp = tt(p, True)
    t_loss = torch.nn.BCELoss(weight=tt(w), reduction=reduction)(tp, tt(y))
    t_loss.backward(tt(upstream))
    gp = tgt(p, device, True)
    g_loss = nn.BCELoss(weight=tgt(w, device), reduction=reduction)(gp, tgt(y, device))
    g_loss.backward(tgt(upstream, device))
    assert_parity(host(g_loss), tnp(t_loss), "loss")
    # where p(1-p) < 1e-12 both divide by an EPSILON floor: see the test after the next
    above_floor = p * (1 - p) >= 1e-12
    assert_parity(host(gp.grad)[above_floor], tnp(tp.grad)[above_floor], "d/dinput")


def test_bce_target_grad_away_from_the_clamp(device):
    p = np.array([0.3, 0.01, 0.99, 1e-6, 1 - 1e-6, 0.5])
    y = np.array([0.6, 1.0, 0.0, 0.3, 0.3, 0.2])
    ty = tt(y, True)
    torch.nn.functional.binary_cross_entropy(tt(p), ty, reduction="sum").backward()
    gy = tgt(y, device, True)
    F.binary_cross_entropy(tgt(p, device), gy, reduction="sum").backward()
    assert_parity(host(gy.grad), tnp(ty.grad))


def test_bce_input_grad_below_the_epsilon_floor(device):
    # Where p(1-p) < 1e-12 PyTorch divides by its EPSILON floor; PyTorch's floor is the
    # float literal 1e-12f = 9.99999996e-13, so its gradient there is (p - y)/9.99999996e-13.
    p = np.array([1e-13, 1 - 1e-13, 1e-15, 0.0, 1.0, 0.0])
    y = np.array([0.2, 0.7, 1.0, 1.0, 0.0, 0.5])
    tp = tt(p, True)
    torch.nn.functional.binary_cross_entropy(tp, tt(y), reduction="sum").backward()
    gp = tgt(p, device, True)
    F.binary_cross_entropy(gp, tgt(y, device), reduction="sum").backward()
    assert_parity(host(gp.grad), tnp(tp.grad))


def test_mse(device):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    ta, tb = tt(a, True), tt(b, True)
    torch.nn.functional.mse_loss(ta, tb).backward()
    ga, gb = tgt(a, device, True), tgt(b, device, True)
    loss = F.mse_loss(ga, gb)
    loss.backward()
    assert_parity(loss.item(), torch.nn.functional.mse_loss(tt(a), tt(b)).item())
    assert_parity(host(ga.grad), tnp(ta.grad))
    assert_parity(host(gb.grad), tnp(tb.grad))


# --- layers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3)])
def test_batch_norm_train_three_steps_then_eval(device, shape):
    rng = np.random.default_rng(3)
    t_bn = torch.nn.BatchNorm1d(3).double()
    g_bn = nn.BatchNorm1d(3).to(device, tg.float64)
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    with torch.no_grad():
        t_bn.weight.copy_(tt(w))
        t_bn.bias.copy_(tt(b))
    g_bn.load_state_dict({"weight": w, "bias": b}, strict=False)
    axes = (0,) if len(shape) == 2 else (0, 2)
    per_channel = (1, 3) + (1,) * (len(shape) - 2)
    for step in range(3):
        x = rng.standard_normal(shape) * (step + 1) + step
        upstream = rng.standard_normal(shape)
        tx, gx = tt(x, True), tgt(x, device, True)
        t_out, g_out = t_bn(tx), g_bn(gx)
        t_out.backward(tt(upstream))
        g_out.backward(tgt(upstream, device))
        assert_parity(host(g_out), tnp(t_out), f"output step {step}")
        # d/dx = w/σ·(g - mean(g) - x̂·mean(g·x̂)) cancels (to ~0 when N·L = 2, where x̂ = ±1):
        # compare at the scale of the terms, |g·w/σ|, not of the small result
        terms = np.abs(upstream * w.reshape(per_channel) / np.sqrt(x.var(axis=axes) + 1e-5)
                       .reshape(per_channel))
        assert_parity(host(gx.grad), tnp(tx.grad), f"d/dx step {step}", scale=terms.max())
        assert_parity(host(g_bn.weight.grad), tnp(t_bn.weight.grad), f"d/dweight step {step}")
        assert_parity(host(g_bn.bias.grad), tnp(t_bn.bias.grad), f"d/dbias step {step}")
        assert_parity(host(g_bn.running_mean), tnp(t_bn.running_mean), f"running_mean {step}")
        assert_parity(host(g_bn.running_var), tnp(t_bn.running_var), f"running_var {step}")
        t_bn.zero_grad()
        g_bn.zero_grad()
    assert g_bn.num_batches_tracked.item() == t_bn.num_batches_tracked.item() == 3

    t_bn.eval()
    g_bn.eval()
    x, upstream = rng.standard_normal(shape), rng.standard_normal(shape)
    tx, gx = tt(x, True), tgt(x, device, True)
    t_out, g_out = t_bn(tx), g_bn(gx)
    t_out.backward(tt(upstream))
    g_out.backward(tgt(upstream, device))
    assert_parity(host(g_out), tnp(t_out), "eval output")
    assert_parity(host(gx.grad), tnp(tx.grad), "eval d/dx")
    assert_parity(host(g_bn.weight.grad), tnp(t_bn.weight.grad), "eval d/dweight")
    assert_parity(host(g_bn.bias.grad), tnp(t_bn.bias.grad), "eval d/dbias")


def test_batch_norm_momentum_none(device):
    rng = np.random.default_rng(4)
    t_bn = torch.nn.BatchNorm1d(2, momentum=None).double()
    g_bn = nn.BatchNorm1d(2, momentum=None).to(device, tg.float64)
    for _ in range(3):
        x = rng.standard_normal((5, 2))
        t_bn(tt(x))
        g_bn(tgt(x, device))
    assert_parity(host(g_bn.running_mean), tnp(t_bn.running_mean))
    assert_parity(host(g_bn.running_var), tnp(t_bn.running_var))


@pytest.mark.parametrize("batch", [(), (5,), (2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_with_copied_weights(device, batch, bias):
    rng = np.random.default_rng(5)
    t_lin = torch.nn.Linear(4, 3, bias=bias).double()
    g_lin = nn.Linear(4, 3, bias=bias).to(device, tg.float64)
    g_lin.load_state_dict({k: tnp(v) for k, v in t_lin.state_dict().items()})
    assert list(g_lin.state_dict()) == list(t_lin.state_dict())
    x, upstream = rng.standard_normal(batch + (4,)), rng.standard_normal(batch + (3,))
    tx, gx = tt(x, True), tgt(x, device, True)
    t_out, g_out = t_lin(tx), g_lin(gx)
    t_out.backward(tt(upstream))
    g_out.backward(tgt(upstream, device))
    assert_parity(host(g_out), tnp(t_out), "output")
    assert_parity(host(gx.grad), tnp(tx.grad), "d/dx")
    assert_parity(host(g_lin.weight.grad), tnp(t_lin.weight.grad), "d/dweight")
    if bias:
        assert_parity(host(g_lin.bias.grad), tnp(t_lin.bias.grad), "d/dbias")


def test_state_dict_keys_match_torch(device):
    t_model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                  torch.nn.LeakyReLU(0.2), torch.nn.Linear(4, 1))
    g_model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.LeakyReLU(0.2),
                            nn.Linear(4, 1)).to(device)
    assert list(g_model.state_dict()) == list(t_model.state_dict())
    assert [n for n, _ in g_model.named_parameters()] == [n for n, _ in
                                                          t_model.named_parameters()]
    assert [n for n, _ in g_model.named_buffers()] == [n for n, _ in t_model.named_buffers()]
    assert repr(g_model[:1]) == repr(t_model[:1])


# --- activations and reductions -----------------------------------------------------------------

ACTIVATIONS = {
    "leaky_relu": (lambda t: torch.nn.functional.leaky_relu(t, 0.2),
                   lambda t: F.leaky_relu(t, 0.2)),
    "leaky_relu_default": (torch.nn.functional.leaky_relu, F.leaky_relu),
    "sigmoid": (torch.sigmoid, tg.sigmoid),
    "softplus": (torch.nn.functional.softplus, tg.softplus),
    "softplus_beta": (lambda t: torch.nn.functional.softplus(t, beta=2.0, threshold=10.0),
                      lambda t: tg.softplus(t, beta=2.0, threshold=10.0)),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_values_and_grads(device, name):
    torch_fn, tinygan_fn = ACTIVATIONS[name]
    rng = np.random.default_rng(6)
    # both sides of softplus' threshold (20, and 10/β = 5 for the β=2 case), and far tails
    x = np.concatenate([rng.standard_normal(10) * 4, [-0.5, 0.5, 4.99, 5.01, 19.99, 20.01, 25.0,
                                                      -25.0, 60.0, -60.0, 700.0, -700.0]])
    upstream = rng.standard_normal(x.shape)
    tx, gx = tt(x, True), tgt(x, device, True)
    t_out, g_out = torch_fn(tx), tinygan_fn(gx)
    t_out.backward(tt(upstream))
    g_out.backward(tgt(upstream, device))
    np.testing.assert_allclose(host(g_out), tnp(t_out), rtol=RTOL, atol=1e-300)
    np.testing.assert_allclose(host(gx.grad), tnp(tx.grad), rtol=RTOL, atol=1e-300)


def test_remainder_values_and_grads(device):
    rng = np.random.default_rng(9)
    a = rng.uniform(-6, 6, (5, 4))
    b = rng.choice([-1, 1], (1, 4)) * rng.uniform(0.5, 2.5, (1, 4))    # broadcast over rows
    upstream = rng.standard_normal((5, 4))
    ta, tb, ga, gb = tt(a, True), tt(b, True), tgt(a, device, True), tgt(b, device, True)
    t_out, g_out = torch.remainder(ta, tb), ga % gb
    t_out.backward(tt(upstream))
    g_out.backward(tgt(upstream, device))
    np.testing.assert_allclose(host(g_out), tnp(t_out), rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(host(ga.grad), tnp(ta.grad), rtol=RTOL)
    np.testing.assert_allclose(host(gb.grad), tnp(tb.grad), rtol=RTOL)
    ints = rng.integers(-20, 20, 12)
    assert host(tg.tensor(ints, device=device) % 7).tolist() == \
        torch.remainder(torch.tensor(ints), 7).tolist()
    assert host(tg.tensor(ints, device=device) % -7).tolist() == \
        torch.remainder(torch.tensor(ints), -7).tolist()


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("dim", [None, 0, 1, (0, 2)])
def test_var_and_std_with_correction(device, correction, dim):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 5)) * 3 + 1
    for name in ("var", "std"):
        tx, gx = tt(x, True), tgt(x, device, True)
        t_out = getattr(torch, name)(tx, dim=dim, correction=correction)
        g_out = getattr(tg, name)(gx, dim=dim, correction=correction)
        upstream = rng.standard_normal(tuple(t_out.shape))
        t_out.backward(tt(upstream))
        g_out.backward(tgt(upstream, device))
        assert_parity(host(g_out), tnp(t_out), name)
        assert_parity(host(gx.grad), tnp(tx.grad), f"d {name}/dx")


# --- optimizers -----------------------------------------------------------------------------------

OPTIMIZERS = {
    "adam": (lambda ps: torch.optim.Adam(ps, lr=1e-3),
             lambda ps: optim.Adam(ps, lr=1e-3)),
    "adam_gan": (lambda ps: torch.optim.Adam(ps, lr=2e-4, betas=(0.5, 0.999)),
                 lambda ps: optim.Adam(ps, lr=2e-4, betas=(0.5, 0.999))),
    "adam_wd": (lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                                            weight_decay=0.1),
                lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                                      weight_decay=0.1)),
    "sgd_momentum": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
                     lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)),
    "sgd_dampening": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3),
                      lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3)),
    "sgd_nesterov_wd": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                                   weight_decay=0.01),
                        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                             weight_decay=0.01)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_five_steps(device, name):
    make_torch, make_tinygan = OPTIMIZERS[name]
    rng = np.random.default_rng(8)
    shapes = [(3, 2), (4,)]
    start = [rng.standard_normal(s) for s in shapes]
    t_params = [tt(p, True) for p in start]
    g_params = [nn.Parameter(tgt(p, device)) for p in start]
    t_opt, g_opt = make_torch(t_params), make_tinygan(g_params)
    for _ in range(5):
        for tp, gp, s in zip(t_params, g_params, shapes):
            g = rng.standard_normal(s) * 10.0 ** rng.integers(-3, 3, s)
            tp.grad = tt(g)
            gp.grad = tgt(g, device)
        t_opt.step()
        g_opt.step()
    for tp, gp in zip(t_params, g_params):
        assert_parity(host(gp), tnp(tp))


# --- the GAN loop: GANTrainer against the course's PyTorch loop ---------------------------------

def torch_course_gan(z_dim, hidden, im_dim):
    """The course's G and D, as its PyTorch notebook writes them."""
    from torch import nn as tnn

    def g_block(i, o):
        return tnn.Sequential(tnn.Linear(i, o), tnn.BatchNorm1d(o), tnn.ReLU(inplace=True))

    def d_block(i, o):
        return tnn.Sequential(tnn.Linear(i, o), tnn.LeakyReLU(0.2, inplace=True))

    G = tnn.Sequential(g_block(z_dim, hidden), g_block(hidden, hidden * 2),
                       g_block(hidden * 2, hidden * 4), g_block(hidden * 4, hidden * 8),
                       tnn.Linear(hidden * 8, im_dim), tnn.Sigmoid())
    D = tnn.Sequential(d_block(im_dim, hidden * 4), d_block(hidden * 4, hidden * 2),
                       d_block(hidden * 2, hidden), tnn.Linear(hidden, 1))
    return G.double(), D.double()


def replayed_noise(trainer, rng, device, z_dim):
    """Makes the trainer draw its noise here; returns the list of draws, for PyTorch."""
    noises = []

    def noise(n):
        noises.append(rng.standard_normal((n, z_dim)))
        return tgt(noises[-1], device)
    trainer.noise = noise
    return noises


def torch_course_step(gen, disc, gen_opt, disc_opt, real, fake_noise, gen_noise, real_target=1.0):
    """One step of the course's loop in PyTorch (C1W1; C1W2's is the same with its models):
    D on the detached fakes and on the reals, then G against the updated D. One-sided label
    smoothing sets D's real target. Returns (disc_loss, gen_loss)."""
    criterion = torch.nn.BCEWithLogitsLoss()
    disc_fake_pred = disc(gen(tt(fake_noise)).detach())
    disc_real_pred = disc(tt(real))
    disc_loss = (criterion(disc_fake_pred, torch.zeros_like(disc_fake_pred))
                 + criterion(disc_real_pred, torch.full_like(disc_real_pred, real_target))) / 2
    disc_opt.zero_grad()
    disc_loss.backward()
    disc_opt.step()
    disc_fake_pred = disc(gen(tt(gen_noise)))
    gen_loss = criterion(disc_fake_pred, torch.ones_like(disc_fake_pred))
    gen_opt.zero_grad()
    gen_loss.backward()
    gen_opt.step()
    return disc_loss, gen_loss


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_gan_trainer_is_the_course_loop_in_pytorch(device, smoothing):
    """Twenty steps of GANTrainer (D on real and detached fakes, then the non-saturating G step,
    Adam, BatchNorm in train mode) give the weights and running stats that the course's PyTorch
    loop gives from the same start, noise and batches: the loop, not just each op, is PyTorch's.
    """
    from tinygan.gan import GANTrainer, build_models

    z_dim, hidden, im_dim, batch, steps = 8, 8, 20, 16, 20
    G, D = build_models(z_dim, hidden, im_dim=im_dim)
    G, D = G.double().to(device), D.double().to(device)
    tG, tD = torch_course_gan(z_dim, hidden, im_dim)
    tG.load_state_dict({k: torch.from_numpy(v) for k, v in G.gen.state_dict().items()})
    tD.load_state_dict({k: torch.from_numpy(v) for k, v in D.disc.state_dict().items()})
    adam = {"lr": 2e-3, "betas": (0.5, 0.999)}
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), **adam),
                         optim.Adam(D.parameters(), **adam), z_dim=z_dim, device=device,
                         label_smoothing=smoothing)
    t_opt_g = torch.optim.Adam(tG.parameters(), **adam)
    t_opt_d = torch.optim.Adam(tD.parameters(), **adam)
    rng = np.random.default_rng(5)
    noises = replayed_noise(trainer, rng, device, z_dim)
    for _ in range(steps):
        real = rng.random((batch, im_dim))
        result = trainer.train_step(tgt(real, device))
        d_loss, g_loss = torch_course_step(tG, tD, t_opt_g, t_opt_d, real, *noises[-2:],
                                           real_target=1 - smoothing)
        np.testing.assert_allclose(host(result.d_loss), tnp(d_loss), rtol=1e-9)
        np.testing.assert_allclose(host(result.g_loss), tnp(g_loss), rtol=1e-9)
    # Twenty chaotic steps amplify float64 rounding (a GAN step is not contractive), so 1e-9
    # rather than the per-op 1e-12; a wrong loop (a label, a detach, a stale D) is off by ~1e-2.
    for ours, theirs in ((G.gen, tG), (D.disc, tD)):
        for name, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-9,
                                       atol=1e-9, err_msg=name)


# --- the convolutional loops: weeks 2 and 3 -------------------------------------------------------

Z_CONV = 6    # a small z: the course's shapes otherwise (28×28 images, its kernels and strides)


def torch_course_conv_models(hidden_g=8, hidden_d=4, critic=False, padding=0):
    """The course's week-2 Generator and Discriminator (week 3's Critic: the same layers under
    ``crit``), written in torch.nn here rather than taken from tinygan, in float64; padding=1
    pads D's first convolution, as dcgan.py's default D."""
    from torch import nn as tnn

    def g_block(i, o, k=3, s=2, final=False):
        if final:
            return tnn.Sequential(tnn.ConvTranspose2d(i, o, k, s), tnn.Tanh())
        return tnn.Sequential(tnn.ConvTranspose2d(i, o, k, s), tnn.BatchNorm2d(o),
                              tnn.ReLU(inplace=True))

    def d_block(i, o, final=False, pad=0):
        if final:
            return tnn.Sequential(tnn.Conv2d(i, o, 4, 2))
        return tnn.Sequential(tnn.Conv2d(i, o, 4, 2, pad), tnn.BatchNorm2d(o),
                              tnn.LeakyReLU(0.2, inplace=True))

    class Generator(tnn.Module):
        def __init__(self):
            super().__init__()
            self.gen = tnn.Sequential(
                g_block(Z_CONV, hidden_g * 4), g_block(hidden_g * 4, hidden_g * 2, 4, 1),
                g_block(hidden_g * 2, hidden_g), g_block(hidden_g, 1, 4, final=True))

        def forward(self, noise):
            return self.gen(noise.view(len(noise), Z_CONV, 1, 1))

    class Discriminator(tnn.Module):
        def __init__(self):
            super().__init__()
            layers = tnn.Sequential(d_block(1, hidden_d, pad=padding),
                                    d_block(hidden_d, hidden_d * 2),
                                    d_block(hidden_d * 2, 1, final=True))
            setattr(self, "crit" if critic else "disc", layers)

        def forward(self, image):
            pred = next(self.children())(image)     # disc or crit, its one child
            return pred.view(len(pred), -1)
    return Generator().double(), Discriminator().double()


def conv_models_in_both(device, hidden_g=8, hidden_d=4, critic=False, padding=0):
    """(G, D, G in PyTorch, D in PyTorch): tinygan's DCGANGenerator and DCGANDiscriminator
    (or Critic) with the course's initialisation in float64, their weights copied into the
    PyTorch models."""
    from tinygan.dcgan import Critic, DCGANDiscriminator, DCGANGenerator, weights_init

    tg.manual_seed(3)
    G = DCGANGenerator(Z_CONV, hidden_dim=hidden_g)
    D = (Critic if critic else DCGANDiscriminator)(hidden_dim=hidden_d, padding=padding)
    G.apply(weights_init), D.apply(weights_init)
    G, D = G.double().to(device), D.double().to(device)
    tG, tD = torch_course_conv_models(hidden_g, hidden_d, critic, padding)
    for ours, theirs in ((G, tG), (D, tD)):
        theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return G, D, tG, tD


def assert_same_weights(pairs, tol=1e-9):
    """Each (tinygan module, torch module) pair holds the same parameters and statistics."""
    for ours, theirs in pairs:
        for name, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=tol,
                                       atol=tol, err_msg=name)


def freeze_biases_before_batchnorm(*modules):
    """A convolution's bias just before a BatchNorm has gradient 0 in exact arithmetic (the
    BatchNorm subtracts each channel's mean), so Adam would move it by rounding noise
    (~1e-17) over its eps (1e-8), each library by its own noise, ~1e-9 after a few critic
    steps, and the BatchNorm's running mean with it. Frozen in both, nothing is left to
    chance: every other number is compared."""
    for module in modules:
        for block in module.children():
            for layer, after in zip(block, list(block)[1:]):
                if "BatchNorm" in type(after).__name__:
                    layer.bias.requires_grad_(False)


@pytest.mark.parametrize("padding", [0, 1])
def test_dcgan_trainer_is_the_course_week2_loop_in_pytorch(device, padding):
    """GANTrainer on the course's DCGAN (BatchNorm2d in D, so D sees fakes and reals in two
    passes) takes the steps of the week-2 notebook's PyTorch loop: losses, weights and
    BatchNorm running statistics, in float64. With D's first convolution padded (dcgan.py's
    default D) each image has four logits, and BCE averages all of them."""
    from tinygan.gan import GANTrainer

    batch, steps = 6, 4
    G, D, gen, disc = conv_models_in_both(device, padding=padding)
    adam = {"lr": 2e-3, "betas": (0.5, 0.999)}
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), **adam),
                         optim.Adam(D.parameters(), **adam), z_dim=Z_CONV, device=device)
    assert not trainer.d_one_pass
    gen_opt, disc_opt = (torch.optim.Adam(m.parameters(), **adam) for m in (gen, disc))
    rng = np.random.default_rng(7)
    noises = replayed_noise(trainer, rng, device, Z_CONV)
    for _ in range(steps):
        real = rng.random((batch, 1, 28, 28)) * 2 - 1
        result = trainer.train_step(tgt(real, device))
        disc_loss, gen_loss = torch_course_step(gen, disc, gen_opt, disc_opt, real, *noises[-2:])
        np.testing.assert_allclose(host(result.d_loss), tnp(disc_loss), rtol=1e-9)
        np.testing.assert_allclose(host(result.g_loss), tnp(gen_loss), rtol=1e-9)
    assert_same_weights(((G, gen), (D, disc)))
    D.eval(), G.eval()                                     # no running statistics touched
    assert tuple(D(G(tgt(np.zeros((2, Z_CONV)), device))).shape) == (2, 4 if padding else 1)


class ReplayedUniform:
    """Stands in for the trainer's random stream where it draws ε: records each draw (in
    float32, as the trainer asks) so that the PyTorch loop can use the same ε."""

    def __init__(self, rng, device):
        self.rng, self.device, self.drawn = rng, device, []

    def random(self, shape, dtype=np.float32):
        self.drawn.append(self.rng.random(shape).astype(dtype))
        return tg.tensor(self.drawn[-1], device=self.device).detach()._data


def test_wgan_gp_trainer_is_the_course_week3_loop_in_pytorch(device):
    """WGANGPTrainer takes the steps of the week-3 notebook's loop: five critic updates, each
    with fresh fakes, a fresh ε and the gradient penalty through torch.autograd.grad
    (create_graph=True, through the critic's BatchNorm2d), then one generator update; its
    reported critic loss is the mean over the five. Losses and weights, in float64."""
    from tinygan.wgan import WGANGPTrainer

    batch, steps, c_lambda, repeats = 5, 2, 10.0, 5
    G, C, gen, crit = conv_models_in_both(device, hidden_d=4, critic=True)
    freeze_biases_before_batchnorm(G.gen, C.crit, gen.gen, crit.crit)
    adam = {"lr": 2e-4, "betas": (0.5, 0.999)}
    trainer = WGANGPTrainer(G, C, optim.Adam(G.parameters(), **adam),
                            optim.Adam(C.parameters(), **adam), z_dim=Z_CONV, device=device,
                            c_lambda=c_lambda, crit_repeats=repeats)
    gen_opt, crit_opt = (torch.optim.Adam(m.parameters(), **adam) for m in (gen, crit))
    rng = np.random.default_rng(11)
    noises = replayed_noise(trainer, rng, device, Z_CONV)
    trainer.noise_rng = epsilons = ReplayedUniform(rng, device)
    for _ in range(steps):
        real = rng.random((batch, 1, 28, 28)) * 2 - 1
        result = trainer.train_step(tgt(real, device))
        crit_losses = []
        for k in range(repeats):     # C1W3's critic loop, as the notebook writes it
            fake = gen(tt(noises[-repeats - 1 + k])).detach()
            crit_fake_pred = crit(fake)
            crit_real_pred = crit(tt(real))
            epsilon = tt(epsilons.drawn[-repeats + k], requires_grad=True)
            mixed_images = tt(real) * epsilon + fake * (1 - epsilon)
            mixed_scores = crit(mixed_images)
            gradient = torch.autograd.grad(inputs=mixed_images, outputs=mixed_scores,
                                           grad_outputs=torch.ones_like(mixed_scores),
                                           create_graph=True, retain_graph=True)[0]
            gradient_norm = gradient.view(len(gradient), -1).norm(2, dim=1)
            gp = ((gradient_norm - 1) ** 2).mean()
            crit_loss = crit_fake_pred.mean() - crit_real_pred.mean() + c_lambda * gp
            crit_opt.zero_grad()
            crit_loss.backward(retain_graph=True)
            crit_opt.step()
            crit_losses.append(crit_loss.item())
        gen_loss = -crit(gen(tt(noises[-1]))).mean()
        gen_opt.zero_grad()
        gen_loss.backward()
        gen_opt.step()
        np.testing.assert_allclose(host(result.d_loss), np.mean(crit_losses), rtol=1e-9)
        np.testing.assert_allclose(host(result.g_loss), tnp(gen_loss), rtol=1e-9)
        np.testing.assert_allclose(host(result.d_real), tnp(crit_real_pred), rtol=1e-9)
    assert_same_weights(((G, gen), (C, crit)))
