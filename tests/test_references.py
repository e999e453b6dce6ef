"""Each fast path beside its plain reference, shown equal (issue 24).

- BatchNorm: F.batch_norm's fused op (fused=True) and its reference in tensor ops
  (fused=False): outputs, gradients, running stats; the reference differentiates twice.
- The running statistics: the fast in-place update (one array, folded rates) and the
  formula running ← (1 - m)·running + m·batch.
- The GAN D step: one pass of D over fakes and reals stacked (d_one_pass=True) and the
  course's form (d_one_pass=False), on examples/mnist_gan.py's trainer.
- one_hot: tinygan.gan's builds F.one_hot's rows, with its own contract.

float64 is compared to ~1e-12 (only rounding differs: the paths sum in other orders),
float32 to ~1e-5.
"""
import numpy as np
import pytest

import bench_programs
import tinygan as tg
from tinygan import nn, optim
from tinygan.gan import GANTrainer, build_models, one_hot
from tinygan.nn import functional as F
from tinygan.tensor import Tensor

from strategies import host

TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}


def assert_close(fast, reference, dtype, what=""):
    np.testing.assert_allclose(host(fast), host(reference), err_msg=what, **TOLERANCE[dtype])


# --- BatchNorm: the fused op and its reference ---------------------------------------------------

def twin_batch_norms(device, dtype, **kwargs):
    """Two BatchNorm1d(3) alike but for ``fused``, with random γ and β."""
    rng = np.random.default_rng(0)
    weight, bias = rng.standard_normal(3), rng.standard_normal(3)
    pair = []
    for fused in (True, False):
        bn = nn.BatchNorm1d(3, fused=fused, **kwargs).to(device, dtype)
        if bn.affine:
            bn.load_state_dict({"weight": weight, "bias": bias}, strict=False)
        pair.append(bn)
    return pair


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"momentum": None},
                                    {"track_running_stats": False}],
                         ids=["default", "no_affine", "cumulative", "no_running_stats"])
def test_batch_norm_reference_equals_the_fused_op(device, dtype, shape, kwargs):
    """Three training steps then one eval step: the same outputs, input and parameter
    gradients, running stats and counter."""
    rng = np.random.default_rng(1)
    fused, reference = twin_batch_norms(device, dtype, **kwargs)
    for step in range(4):
        if step == 3:
            fused.eval(), reference.eval()
        x_host = (rng.standard_normal(shape) * (step + 1) + step).astype(dtype)
        upstream = tg.tensor(rng.standard_normal(shape).astype(dtype), device=device)
        results = []
        for bn in (fused, reference):
            x = tg.tensor(x_host, device=device, requires_grad=True)
            out = bn(x)
            out.backward(upstream)
            results.append([out, x.grad] + [p.grad for p in bn.parameters()])
            for p in bn.parameters():
                p.grad = None
        assert results[0][0].grad_fn.name() == "BatchNormalizeBackward"
        assert results[1][0].grad_fn.name() != "BatchNormalizeBackward"
        for what, a, b in zip(["out", "x.grad", "weight.grad", "bias.grad"], *results):
            # x's gradient sums to 0 per channel: compared relative to its largest element
            scale = float(np.abs(host(b)).max()) if what == "x.grad" else 1.0
            np.testing.assert_allclose(host(a), host(b), rtol=TOLERANCE[dtype]["rtol"],
                                       atol=TOLERANCE[dtype]["atol"] * max(scale, 1.0),
                                       err_msg=f"step {step}: {what}")
        for name, buffer in fused.named_buffers():
            other = dict(reference.named_buffers())[name]
            if name == "num_batches_tracked":
                assert buffer.item() == other.item() == min(step + 1, 3)
            else:
                assert_close(buffer, other, dtype, f"step {step}: {name}")


def test_batch_norm_reference_differentiates_twice(device):
    """A gradient penalty through BatchNorm: ‖∂(Σ u·BN(x))/∂x‖² differentiated again w.r.t.
    γ and β, checked by central differences (w.r.t. x: against PyTorch, below); the fused
    op's backward, under create_graph, is its twin made of ops: the same check passes."""
    rng = np.random.default_rng(2)
    x = tg.tensor(rng.standard_normal((5, 3)), device=device)
    u = tg.tensor(rng.standard_normal((5, 3)) ** 2, device=device)   # not uniform per channel
    bn = nn.BatchNorm1d(3, fused=False).to(device, tg.float64)
    bn.load_state_dict({"weight": rng.standard_normal(3)}, strict=False)

    def penalty():
        inputs = x.detach().requires_grad_()
        with tg.enable_grad():               # gradcheck's differences run under no_grad
            (bn(inputs) * u).sum().backward(create_graph=True)
            return (inputs.grad * inputs.grad).sum()

    # one parameter a check: the inner backward also adds into the parameters' .grad
    for fused in (False, True):
        bn.fused = fused
        assert tg.gradcheck(lambda w: penalty(), [bn.weight])
        assert tg.gradcheck(lambda b: penalty(), [bn.bias])


def test_batch_norm_reference_second_derivatives_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x_host, w_host, b_host, u_host = (rng.standard_normal(s) for s in
                                      [(6, 3), (3,), (3,), (6, 3)])
    u_host = u_host ** 2

    def gradients(lib, fn, tensor):
        x, w, b, u = (tensor(a) for a in (x_host, w_host, b_host, u_host))
        for t in (x, w, b):
            t.requires_grad_()
        out = (fn(x, None, None, w, b, training=True) * u).sum()
        if lib is torch:
            (gx,) = torch.autograd.grad(out, x, create_graph=True)
            (gx * gx).sum().backward()
        else:
            out.backward(create_graph=True)
            gx = x.grad
            x.grad = w.grad = b.grad = None
            (gx * gx).sum().backward()
        return [t.grad.detach().numpy() if lib is torch else host(t.grad) for t in (x, w)]

    ours = gradients(tg, lambda *a, **k: F.batch_norm(*a, **k, fused=False),
                     lambda a: tg.tensor(a))
    theirs = gradients(torch, torch.nn.functional.batch_norm, torch.tensor)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * np.abs(b).max())


def test_batch_norm_reference_keeps_pytorchs_write_rules(device):
    """As the fused op: a second forward of the layer before the first's backward is fine
    (its own running-stat update is no in-place write); writing into a running stat before
    backward is an error (PyTorch keeps them for backward)."""
    for fused in (True, False):
        bn = nn.BatchNorm1d(2, fused=fused).to(device)
        x = tg.randn(4, 2, device=device, requires_grad=True)
        first = bn(x)
        bn(x)
        first.sum().backward()
        out = bn(x)
        with tg.no_grad():
            bn.running_var.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()


# --- the running statistics: the fast update and the formula -------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["one_array", "two_buffers"])
def test_running_stats_update_equals_its_formula(device, dtype, layout):
    """F._update_running_stats (the fast path: in place, rates folded, optionally one (2, C)
    array) against F._update_running_stats_reference, given the same batch statistics."""
    rng = np.random.default_rng(4)
    start = rng.standard_normal((2, 5)).astype(dtype) ** 2
    fast = (tg.tensor(start[0], device=device), tg.tensor(start[1], device=device))
    reference = (tg.tensor(start[0], device=device), tg.tensor(start[1], device=device))
    rows = tg.tensor(start, device=device)._data if layout == "one_array" else None
    for momentum, n in ((0.1, 7), (0.5, 2), (1 / 3, 64)):
        batch = rng.standard_normal((2, 5)).astype(dtype) ** 2     # mean, biased variance
        F._update_running_stats(*fast, tg.tensor(batch, device=device)._data, n, momentum, rows)
        F._update_running_stats_reference(*reference, tg.tensor(batch[0], device=device),
                                          tg.tensor(batch[1], device=device), n, momentum)
        updated = fast if rows is None else (Tensor(rows[0]), Tensor(rows[1]))   # the stats
        for a, b in zip(updated, reference):
            assert_close(a, b, dtype)
            assert a.dtype == b.dtype == dtype


def test_running_stats_reference_is_the_formula(device):
    rng = np.random.default_rng(5)
    mean, var = tg.zeros(3, dtype=tg.float64, device=device), tg.ones(3, dtype=tg.float64,
                                                                         device=device)
    batch_mean, batch_var = rng.standard_normal(3), rng.random(3)
    F._update_running_stats_reference(mean, var, tg.tensor(batch_mean, device=device),
                                      tg.tensor(batch_var, device=device), 10, 0.25)
    np.testing.assert_allclose(host(mean), 0.25 * batch_mean, rtol=1e-15)
    np.testing.assert_allclose(host(var), 0.75 + 0.25 * batch_var * 10 / 9, rtol=1e-15)


# --- num_batches_tracked -------------------------------------------------------------------------

@pytest.mark.parametrize("fused", [True, False])
def test_num_batches_tracked_stays_a_0d_array(device, fused):
    bn = nn.BatchNorm1d(2, fused=fused).to(device)
    xp = type(bn.num_batches_tracked._data)
    for step in (1, 2):
        bn(tg.randn(4, 2, device=device))
        data = bn.num_batches_tracked._data
        assert type(data) is xp and data.shape == () and data.dtype == np.int64
        assert bn.num_batches_tracked.item() == step
    assert bn.state_dict()["num_batches_tracked"].shape == ()


# --- the GAN's D step: one pass of D, and the course's form --------------------------------------

def mnist_trainer(device, dtype, d_one_pass, batch=16):
    """examples/mnist_gan.py's default GAN and recipe (as bench/gan_step.py builds it), in
    ``dtype``, with the D step chosen; and its real batch."""
    trainer, real = bench_programs.load("gan_step").default_trainer(device, batch)
    trainer.d_one_pass = d_one_pass
    trainer.generator.to(dtype=dtype), trainer.discriminator.to(dtype=dtype)
    noise = trainer.noise
    trainer.noise = lambda n: noise(n).to(dtype=dtype)
    return trainer, real.to(dtype=dtype)


def d_step_results(trainer, real, steps):
    """Each step's D-step outputs and D's gradients after it, and G's loss; then all
    weights and buffers."""
    per_step = []
    for _ in range(steps):
        d_loss, pred_real, pred_fake = trainer.d_step(real)
        per_step += [d_loss, pred_real, pred_fake]
        per_step += [p.grad for p in trainer.discriminator.parameters()]
        per_step += [trainer.g_step(real.shape[0])]
    after = [t for model in (trainer.discriminator, trainer.generator)
             for t in list(model.parameters()) + list(model.buffers())]
    return per_step, after


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_d_step_in_one_pass_equals_the_courses_form(device, dtype):
    """On examples/mnist_gan.py's trainer (D: Linear and LeakyReLU, no BatchNorm), the
    default takes one pass; two steps of it and of the course's form give the same losses,
    D's outputs and gradients, and the same weights after Adam."""
    default, _ = mnist_trainer(device, dtype, None)
    assert default.d_one_pass is True
    (fast, fast_after), (reference, reference_after) = (
        d_step_results(*mnist_trainer(device, dtype, on), steps=2) for on in (True, False))
    for i, (a, b) in enumerate(zip(fast, reference)):
        assert_close(a, b, dtype, f"result {i}")
    # Adam moves a weight by about lr·g/(|g| + eps): where g is ~eps (1e-8) its float32
    # rounding, in another order of sums, changes that move by up to a tenth of lr
    lr = default.opt_d.param_groups[0]["lr"]
    tolerance = TOLERANCE[dtype] if dtype == np.float64 else dict(rtol=0, atol=0.25 * lr)
    for i, (a, b) in enumerate(zip(fast_after, reference_after)):
        np.testing.assert_allclose(host(a), host(b), err_msg=f"tensor {i}", **tolerance)


def test_d_step_in_one_pass_equals_the_courses_form_for_probabilities_and_mismatches(device):
    """The vanilla D (Sigmoid, BCELoss; its Dropout at p=0, so the masks agree), conditional
    and matching-aware, float64."""
    results = []
    for on in (True, False):
        tg.manual_seed(0)
        G, D = build_models(4, 8, im_dim=12, arch="vanilla", num_classes=3)
        for m in D.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        G.to(device, tg.float64), D.to(device, tg.float64)
        trainer = GANTrainer(G, D, optim.Adam(G.parameters()), optim.Adam(D.parameters()),
                             z_dim=4, device=device, d_outputs="probs", conditional=True,
                             mismatched_reals=True, label_smoothing=0.1, d_one_pass=on)
        noise = trainer.noise
        trainer.noise = lambda n, noise=noise: noise(n).double()
        real = tg.tensor(np.random.default_rng(6).random((6, 12)) * 2 - 1, device=device)
        labels = tg.tensor(np.arange(6) % 3, device=device)
        out = []
        for _ in range(2):
            out += list(trainer.d_step(real, labels)) + [p.grad for p in D.parameters()]
        results.append(out + list(D.parameters()))
    for i, (a, b) in enumerate(zip(*results)):
        assert_close(a, b, np.float64, f"result {i}")


def test_one_pass_is_refused_where_d_has_batchnorm(device):
    """With a BatchNorm in D the one pass is not the same step (one batch's statistics over
    fakes and reals together), so the default is the course's form and True is an error."""
    tg.manual_seed(0)
    G = nn.Sequential(nn.Linear(3, 5))
    D = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.LeakyReLU(0.2), nn.Linear(4, 1))
    G.to(device, tg.float64), D.to(device, tg.float64)
    trainer = GANTrainer(G, D, optim.SGD(G.parameters(), lr=0.1),
                         optim.SGD(D.parameters(), lr=0.1), z_dim=3, device=device)
    assert trainer.d_one_pass is False and trainer.d_rows_independent is False
    with pytest.raises(ValueError, match="BatchNorm"):
        trainer.d_one_pass = True
    with pytest.raises(ValueError, match="BatchNorm"):
        GANTrainer(G, D, trainer.opt_g, trainer.opt_d, z_dim=3, device=device, d_one_pass=True)

    # what the trick would compute there: another loss
    rng = np.random.default_rng(7)
    fake = tg.tensor(rng.standard_normal((6, 5)), device=device)
    real = tg.tensor(rng.standard_normal((6, 5)) + 3, device=device)
    one_pass, _, _ = trainer._d_loss_in_one_pass(fake, real, None)
    pred_fake, pred_real = D(fake), D(real)
    course = (trainer.criterion(pred_fake, tg.zeros_like(pred_fake))
              + trainer.criterion(pred_real, tg.ones_like(pred_real))) / 2
    assert abs(one_pass.item() - course.item()) > 1e-3


# --- one_hot: tinygan.gan's builds on F's --------------------------------------------------------

def test_gan_one_hot_is_f_one_hot_in_the_models_dtype(device):
    labels = tg.tensor(np.array([2, 0, 4, 2, 1]), device=device)
    for dtype in (np.float32, np.float64):
        ours = one_hot(labels, 6, dtype)
        assert ours.dtype == dtype and ours.device == device
        np.testing.assert_array_equal(host(ours), host(F.one_hot(labels, 6)).astype(dtype))
    # the contracts differ: gan's takes any integer dtype and checks the range on the host
    # (ValueError); F's, PyTorch's, wants int64 and infers num_classes
    small = tg.tensor(np.array([1, 0], dtype=np.int32), device=device)
    assert host(one_hot(small, 2)).tolist() == [[0, 1], [1, 0]]
    with pytest.raises(RuntimeError, match="int64"):
        F.one_hot(small)
    assert F.one_hot(labels).shape == (5, 5)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        one_hot(tg.tensor([1, 4]), 4)
    with pytest.raises(TypeError, match="integers"):
        one_hot(tg.tensor([1.0]), 4)
