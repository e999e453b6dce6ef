"""The GAN trainer does what the course's pseudo-code says, and the toy GAN finds its modes.

D step: only D moves, and the fakes it sees carry no gradient back to G. G step: only
G moves, D's weights get no gradient and are trainable again afterwards, and the loss
is the one asked for (non-saturating or minimax), checked against its formula on
linear models whose gradients can be written down by hand. Then noise, d_steps_per_g,
what train_step returns, and the 8-Gaussians toy problem. The loop around the trainer
(epochs, logging, divergence) is tested in test_training.py.
"""

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend, nn, optim, toy
from tinygan.gan import GANTrainer, get_noise
from example_programs import load_example
from tiny_gan import IM_DIM, course_trainer, record_steps


# --- helpers -----------------------------------------------------------------------------------

def host(t):
    """A host copy of a tensor's values (a device-to-host copy on "cuda", never np.asarray)."""
    return t.detach().numpy().copy()


def param_values(module):
    return {name: host(p) for name, p in module.named_parameters()}


def same_values(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def changed_names(before, after):
    return [k for k in before if not np.array_equal(before[k], after[k])]


def same_optimizer_state(a, b):
    """Two optimizer state_dicts (host copies) hold the same numbers."""
    if a["param_groups"] != b["param_groups"] or a["state"].keys() != b["state"].keys():
        return False
    for index, entries in a["state"].items():
        other = b["state"][index]
        if entries.keys() != other.keys():
            return False
        if not all(np.array_equal(entries[k], other[k]) for k in entries):
            return False
    return True


def real_batch(device, n=8, dim=IM_DIM, seed=0):
    rng = np.random.default_rng(seed)
    return tg.tensor(rng.random((n, dim), dtype=np.float32), device=device)


def set_weights(linear, rng, scale=1.0):
    """Give a Linear known (random, well spread) weights, on its device."""
    with tg.no_grad():
        for p in (linear.weight, linear.bias):
            values = (scale * rng.standard_normal(p.shape)).astype(np.float32)
            p.copy_(tg.tensor(values, device=p.device))


def linear_trainer(device, d_outputs="logits", g_loss="non_saturating", z_dim=3, im_dim=5,
                   label_smoothing=0.0):
    """G = one Linear, D = one Linear (then Sigmoid for "probs"): gradients by hand are easy."""
    rng = np.random.default_rng(7)
    G = nn.Linear(z_dim, im_dim).to(device)
    d_linear = nn.Linear(im_dim, 1).to(device)
    set_weights(G, rng)
    set_weights(d_linear, rng, scale=0.8)
    D = d_linear if d_outputs == "logits" else nn.Sequential(d_linear, nn.Sigmoid())
    trainer = GANTrainer(G, D, optim.SGD(G.parameters(), lr=0.1),
                         optim.SGD(D.parameters(), lr=0.1), z_dim=z_dim, device=device,
                         d_outputs=d_outputs, g_loss=g_loss, seed=3,
                         label_smoothing=label_smoothing)
    return trainer, G, d_linear


def record_noise(trainer):
    """Keep every noise batch the trainer draws (in order) without changing it."""
    drawn, draw = [], trainer.noise

    def noise(n):
        z = draw(n)
        drawn.append(host(z))
        return z

    trainer.noise = noise
    return drawn


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.logaddexp(0, x)


def linear_np(x, weight, bias):
    return x.astype(np.float64) @ weight.T.astype(np.float64) + bias.astype(np.float64)


# --- the D step --------------------------------------------------------------------------------

def test_d_step_changes_only_the_discriminator(device):
    trainer = course_trainer(device)
    real = real_batch(device)
    trainer.train_step(real)            # both optimizers now hold Adam state
    G, D = trainer.generator, trainer.discriminator
    g_before, d_before = param_values(G), param_values(D)
    opt_g_before = trainer.opt_g.state_dict()
    trainer.opt_g.zero_grad()           # G's grads are None: the D step must leave them so

    trainer.d_step(real)

    # Only parameters are compared for G: its BatchNorm running statistics (buffers) DO
    # change in a D step, because G makes the fakes in train mode; that is expected.
    assert same_values(param_values(G), g_before)
    assert same_optimizer_state(trainer.opt_g.state_dict(), opt_g_before)
    assert all(p.grad is None for p in G.parameters()), "the fakes D sees must not reach G"
    assert changed_names(d_before, param_values(D)) == list(d_before)  # every D tensor moved
    assert all(s["step"] == 2 for s in trainer.opt_d.state)


def test_g_step_changes_only_the_generator_and_d_is_trainable_again(device):
    trainer = course_trainer(device)
    real = real_batch(device)
    trainer.train_step(real)
    G, D = trainer.generator, trainer.discriminator
    g_before, d_before = param_values(G), param_values(D)
    opt_d_before = trainer.opt_d.state_dict()
    trainer.opt_d.zero_grad()

    trainer.g_step(real.shape[0])

    assert same_values(param_values(D), d_before)
    assert same_optimizer_state(trainer.opt_d.state_dict(), opt_d_before)
    assert all(p.grad is None for p in D.parameters()), "D's weights need no gradient in a G step"
    assert all(p.requires_grad for p in D.parameters())
    assert changed_names(g_before, param_values(G)) == list(g_before)
    assert all(s["step"] == 2 for s in trainer.opt_g.state)


def test_d_requires_grad_is_restored_when_the_g_step_raises(device):
    trainer = course_trainer(device)

    def broken_criterion(pred, target):
        raise RuntimeError("boom in the loss")

    trainer.criterion = broken_criterion
    with pytest.raises(RuntimeError, match="boom in the loss"):
        trainer.g_step(4)
    assert all(p.requires_grad for p in trainer.discriminator.parameters())


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_d_loss_is_the_mean_of_real_and_fake_bce_with_its_gradient(device, smoothing):
    # With one-sided label smoothing s, the real target is t = 1 - s (fakes keep 0).
    trainer, G, d_lin = linear_trainer(device, label_smoothing=smoothing)
    t = 1 - smoothing
    drawn = record_noise(trainer)
    wg, bg = host(G.weight), host(G.bias)
    wd, bd = host(d_lin.weight), host(d_lin.bias)
    real = real_batch(device, n=6, dim=5, seed=1)
    x_real = host(real)

    d_loss, pred_real, pred_fake = trainer.d_step(real)

    n = x_real.shape[0]
    x_fake = linear_np(drawn[0], wg, bg)
    l_fake, l_real = linear_np(x_fake, wd, bd), linear_np(x_real, wd, bd)
    np.testing.assert_allclose(host(pred_fake), l_fake, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(pred_real), l_real, rtol=1e-5, atol=1e-6)
    # BCE(l, t) = softplus(l) - t·l, BCE(l, 0) = softplus(l); the D loss is their mean.
    expected = (softplus(l_real) - t * l_real).mean() / 2 + softplus(l_fake).mean() / 2
    assert d_loss.item() == pytest.approx(expected, rel=1e-5)
    # d/dl of that loss: (σ(l) - t)/(2N) for real rows, σ(l)/(2N) for fake rows.
    g_real, g_fake = (sigmoid(l_real) - t) / (2 * n), sigmoid(l_fake) / (2 * n)
    np.testing.assert_allclose(host(d_lin.weight.grad), g_real.T @ x_real + g_fake.T @ x_fake,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(host(d_lin.bias.grad), (g_real + g_fake).sum(axis=0),
                               rtol=1e-4, atol=1e-6)
    assert G.weight.grad is None and G.bias.grad is None


@pytest.mark.parametrize("d_outputs", ["logits", "probs"])
@pytest.mark.parametrize("g_loss", ["non_saturating", "minimax"])
def test_generator_loss_and_gradient_follow_their_formulas(device, g_loss, d_outputs):
    trainer, G, d_lin = linear_trainer(device, d_outputs, g_loss)
    drawn = record_noise(trainer)
    wg, bg = host(G.weight), host(G.bias)
    wd, bd = host(d_lin.weight), host(d_lin.bias)

    loss = trainer.g_step(6)

    z = drawn[0]
    n = z.shape[0]
    logits = linear_np(linear_np(z, wg, bg), wd, bd)       # l = D's logit of G(z), (N, 1)
    s = sigmoid(logits)
    assert np.ptp(logits) > 1.0, "the check needs logits spread over a range"
    if g_loss == "non_saturating":
        expected = -np.log(s).mean()                       # -mean log σ(l)
        dloss_dlogit = (s - 1) / n                         # d/dl -log σ(l) = σ(l) - 1
    else:
        expected = np.log(1 - s).mean()                    # mean log(1 - σ(l))
        dloss_dlogit = -s / n                              # d/dl log(1 - σ(l)) = -σ(l)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    dloss_dx = dloss_dlogit @ wd.astype(np.float64)        # through D's linear layer
    np.testing.assert_allclose(host(G.weight.grad), dloss_dx.T @ z, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(host(G.bias.grad), dloss_dx.sum(axis=0), rtol=1e-4, atol=1e-6)
    assert d_lin.weight.grad is None and d_lin.bias.grad is None


def test_the_two_generator_losses_differ_where_d_is_confident(device):
    # Where D rejects the fakes (σ(l) ≈ 0) the minimax gradient vanishes, the other does not.
    grads = {}
    for g_loss in ("non_saturating", "minimax"):
        trainer, G, d_lin = linear_trainer(device, g_loss=g_loss)
        with tg.no_grad():
            d_lin.bias.fill_(-12.0)                        # every logit far below 0
        trainer.g_step(6)
        grads[g_loss] = np.abs(host(G.weight.grad)).max()
    assert grads["minimax"] < 1e-4 * grads["non_saturating"]
    assert grads["non_saturating"] > 1e-2


def test_g_step_in_train_step_uses_d_after_its_update(device):
    trainer, G, d_lin = linear_trainer(device)
    drawn = record_noise(trainer)
    wg, bg = host(G.weight), host(G.bias)
    wd_before = host(d_lin.weight)

    trainer.train_step(real_batch(device, n=6, dim=5))

    wd_after, bd_after = host(d_lin.weight), host(d_lin.bias)   # the G step leaves D alone
    assert len(drawn) == 2, "the G step draws fresh noise"
    z = drawn[1]
    s = sigmoid(linear_np(linear_np(z, wg, bg), wd_after, bd_after))
    expected = ((s - 1) / len(z) @ wd_after.astype(np.float64)).T @ z
    np.testing.assert_allclose(host(G.weight.grad), expected, rtol=1e-4, atol=1e-6)
    assert not np.allclose(wd_before, wd_after, rtol=1e-3, atol=1e-3), "D must have moved"


# --- noise -------------------------------------------------------------------------------------

def test_get_noise_shape_dtype_device(device):
    z = get_noise(5, 3, device, generator=backend.RandomStream(0, device))
    assert z.shape == (5, 3) and z.dtype == np.float32 and z.device == device
    assert not z.requires_grad


def test_get_noise_is_reproducible_with_a_generator(device):
    a = host(get_noise(16, 4, device, generator=backend.RandomStream(11, device)))
    b = host(get_noise(16, 4, device, generator=backend.RandomStream(11, device)))
    c = host(get_noise(16, 4, device, generator=backend.RandomStream(12, device)))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_truncated_noise_is_redrawn_inside_the_threshold(device):
    t = 0.5
    z = host(get_noise(2048, 2, device, truncation=t, generator=backend.RandomStream(0, device)))
    plain = host(get_noise(2048, 2, device, generator=backend.RandomStream(0, device)))
    assert (np.abs(plain) > t).mean() > 0.5            # so truncation had work to do
    assert np.abs(z).max() <= t
    # Redrawn, not clipped: no pile-up at ±t, and the spread of N(0,1) truncated at
    # ±0.5 (std 0.2836), not of a clipped normal (about 0.45).
    assert (np.abs(z) == t).mean() < 0.01
    assert 0.26 < z.std() < 0.31


@pytest.mark.parametrize("t", [0.01, 0.2])
def test_a_small_truncation_is_met_exactly(device, t):
    # A fresh normal lands inside ±0.01 with probability 0.8%: redrawing normals would
    # leave values outside after any fixed number of rounds. Inside, N(0, 1) restricted
    # to ±t is nearly uniform: std t/√3 (up to a factor 1 - t²/10).
    z = host(get_noise(4096, 4, device, truncation=t, generator=backend.RandomStream(1, device)))
    assert np.abs(z).max() <= t
    assert abs(z.std() / (t / np.sqrt(3)) - 1) < 0.03
    assert abs(z.mean()) < 0.03 * t


def test_truncated_noise_is_reproducible(device):
    a = get_noise(64, 3, device, truncation=0.7, generator=backend.RandomStream(5, device))
    b = get_noise(64, 3, device, truncation=0.7, generator=backend.RandomStream(5, device))
    assert np.array_equal(host(a), host(b))


@pytest.mark.parametrize("t", [0, 0.0, -1.0])
def test_truncation_must_be_positive(device, t):
    with pytest.raises(ValueError, match="truncation"):
        get_noise(4, 2, device, truncation=t)


# --- a whole step -------------------------------------------------------------------------------

@pytest.mark.parametrize("smoothing", [-0.1, 1.0])
def test_label_smoothing_outside_0_1_is_refused(device, smoothing):
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        linear_trainer(device, label_smoothing=smoothing)


def test_two_d_steps_per_g_step(device):
    trainer = course_trainer(device, d_steps_per_g=2)
    real = real_batch(device)
    for steps in (1, 2, 3):
        trainer.train_step(real)
        assert {s["step"] for s in trainer.opt_d.state} == {2 * steps}
        assert {s["step"] for s in trainer.opt_g.state} == {steps}
    assert trainer.step == 3


@pytest.mark.parametrize("kwargs", [dict(d_steps_per_g=0), dict(g_loss="wasserstein"),
                                    dict(d_outputs="scores")])
def test_trainer_rejects_bad_settings(device, kwargs):
    with pytest.raises(ValueError):
        course_trainer(device, **kwargs)


@pytest.mark.parametrize("d_outputs", ["logits", "probs"])
def test_train_step_returns_its_losses_and_d_probabilities(device, d_outputs):
    trainer, G, d_lin = linear_trainer(device, d_outputs)
    steps = record_steps(trainer)

    out = trainer.train_step(real_batch(device, n=6, dim=5))

    (step,) = steps
    assert out._fields == ("d_loss", "g_loss", "d_real", "d_fake")
    assert [out.d_loss.item(), out.g_loss.item()] == [step["d_loss"], step["g_loss"]]
    to_prob = sigmoid if d_outputs == "logits" else (lambda p: p)   # D's outputs in its step
    np.testing.assert_allclose(host(out.d_real), to_prob(step["pred_real"]), rtol=1e-6)
    np.testing.assert_allclose(host(out.d_fake), to_prob(step["pred_fake"]), rtol=1e-6)
    assert out.d_real.shape == out.d_fake.shape == (6, 1)
    assert all(not t.requires_grad and t.grad_fn is None for t in out)   # nothing to train on
    assert trainer.step == 1


# --- the toy problem ---------------------------------------------------------------------------

def test_mode_report_all_points_on_one_mode():
    points = np.repeat(toy.ring_modes()[:1], 200, axis=0)
    report = toy.mode_report(points)
    assert report["modes_covered"] == 1
    assert report["high_quality"] == 1.0
    assert report["per_mode"] == [200] + [0] * 7


def test_mode_report_points_on_every_mode():
    rng = np.random.default_rng(0)
    points, labels = toy.sample_ring(4000, rng)
    report = toy.mode_report(points)
    assert report["modes_covered"] == 8
    # In 2-D, P(|x - centre| <= 3σ) = 1 - exp(-9/2) = 0.9889 (not 1-D's 0.9973).
    close = np.linalg.norm(points - toy.ring_modes()[labels], axis=1) <= 3 * toy.SIGMA
    assert report["high_quality"] == pytest.approx(close.mean())
    assert report["high_quality"] == pytest.approx(1 - np.exp(-4.5), abs=0.006)
    assert report["per_mode"] == np.bincount(labels[close], minlength=8).tolist()


def test_mode_report_far_points_are_not_high_quality():
    rng = np.random.default_rng(1)
    far = rng.uniform(-0.5, 0.5, (300, 2))                # near the centre: 1.5 from every mode
    report = toy.mode_report(far)
    assert report == {"modes_covered": 0, "high_quality": 0.0, "per_mode": [0] * 8}


def test_mode_report_thresholds():
    modes = toy.ring_modes()
    direction = np.array([[1.0, 0.0]])
    inside = modes[:1] + 2.9 * toy.SIGMA * direction      # within 3σ of mode 0
    outside = modes[:1] + 3.1 * toy.SIGMA * direction     # just beyond
    points = np.concatenate([np.repeat(inside, 980, axis=0), np.repeat(modes[1:2], 10, axis=0),
                             np.repeat(modes[2:3], 9, axis=0), outside])
    report = toy.mode_report(points)                      # 1000 points; 1% is 10
    assert report["per_mode"][:3] == [980, 10, 9]
    assert report["modes_covered"] == 2                   # mode 2 has only 9 < 10
    assert report["high_quality"] == pytest.approx(999 / 1000)




def test_toy_gan_covers_most_modes(device):
    # 3 epochs x 200 steps (batch 256, seeded): 8/8 modes on "cpu" and on the stand-in
    # "cuda" (whose noise stream differs), after 4/8 and 0/8 at the first epoch; about 2-3 s
    # per device, so both devices run.
    toy_gan = load_example("toy_gan")
    report, snapshots = toy_gan.train(epochs=3, steps_per_epoch=200, device=device,
                                      verbose=False)
    assert report["modes_covered"] >= 6, report
    assert report["high_quality"] > 0.2, report
    assert len(snapshots.reports) == 3


# --- D over fakes and reals in one pass --------------------------------------------------------

@pytest.mark.parametrize("mismatched", [False, True], ids=["plain", "mismatched_reals"])
def test_one_pass_of_d_gives_the_loss_and_gradients_of_separate_passes(device, mismatched):
    """GANTrainer stacks fakes, reals (and mismatches) into one D pass when D's rows are
    independent; the loss, D's outputs and D's update equal those of separate passes."""
    from tinygan.gan import Conditional, rows_independent
    results = []
    for one_pass in (True, False):
        tg.manual_seed(0)
        G = Conditional(nn.Sequential(nn.Linear(3 + 4, 6), nn.ReLU(), nn.Linear(6, 5)), 4)
        D = Conditional(nn.Sequential(nn.Linear(5 + 4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)), 4)
        G.to(device), D.to(device)
        assert rows_independent(D)
        G.double(), D.double()
        trainer = GANTrainer(G, D, optim.SGD(G.parameters(), lr=0.1),
                             optim.SGD(D.parameters(), lr=0.1), z_dim=3, device=device,
                             conditional=True, label_smoothing=0.1, mismatched_reals=mismatched)
        trainer.d_rows_independent = one_pass
        trainer.noise = lambda n: tg.tensor(np.random.default_rng(1).standard_normal((n, 3)),
                                            device=device)
        real = tg.tensor(np.random.default_rng(2).random((6, 5)), device=device)
        labels = tg.tensor(np.arange(6) % 4, device=device)
        d_loss, pred_real, pred_fake = trainer.d_step(real, labels)
        results.append([host(d_loss), host(pred_real), host(pred_fake)]
                       + [host(p) for p in D.parameters()])
    for ours, separate in zip(*results):
        np.testing.assert_allclose(ours, separate, rtol=1e-13, atol=1e-15)


def test_a_d_with_batch_statistics_sees_fakes_and_reals_apart():
    from tinygan.gan import build_models, rows_independent

    class MinibatchFeatures(nn.Linear):      # a subclass may mix rows in its own forward
        pass

    _, D = build_models(4, 8)
    assert rows_independent(D)
    assert not rows_independent(nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)))
    assert not rows_independent(nn.Sequential(MinibatchFeatures(5, 1)))
