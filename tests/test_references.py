"""Each fast path beside its plain reference, shown equal (issue 24).

- BatchNorm: F.batch_norm's fused op (fused=True) and its reference in tensor ops
  (fused=False): outputs, gradients, running stats; the reference differentiates twice.
- The running statistics: the fast in-place update (one array, folded rates) and the
  formula running ← (1 - m)·running + m·batch.

float64 is compared to ~1e-12 (only rounding differs: the paths sum in other orders),
float32 to ~1e-5.
"""
import numpy as np
import pytest

import tinygan as tg
from tinygan import nn
from tinygan.nn import functional as F
from tinygan.tensor import Tensor

from strategies import host

TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}


def assert_close(fast, reference, dtype, what=""):
    np.testing.assert_allclose(host(fast), host(reference), err_msg=what, **TOLERANCE[dtype])


# --- BatchNorm: the fused op and its reference --------------------------------------------------

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
    op refuses the second backward."""
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
    assert tg.gradcheck(lambda w: penalty(), [bn.weight])
    assert tg.gradcheck(lambda b: penalty(), [bn.bias])

    bn.fused = True
    with pytest.raises(RuntimeError, match="once_differentiable"):
        penalty().backward()


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


# --- the running statistics: the fast update and the formula --------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["one_array", "two_buffers"])
def test_running_stats_update_equals_its_formula(device, dtype, layout):
    """F._update_running_stats (the fast path: in place, rates folded, optionally one (2, C)
    array) against F._update_running_stats_reference, given the same batch statistics."""
    rng = np.random.default_rng(4)
    start = rng.standard_normal((2, 5)).astype(dtype) ** 2
    fast = (tg.tensor(start[0], device=device), tg.tensor(start[1], device=device))
    reference = (tg.tensor(start[0], device=device), tg.tensor(start[1], device=device))
    rows = tg.tensor(start, device=device).data if layout == "one_array" else None
    for momentum, n in ((0.1, 7), (0.5, 2), (1 / 3, 64)):
        batch = rng.standard_normal((2, 5)).astype(dtype) ** 2     # mean, biased variance
        F._update_running_stats(*fast, tg.tensor(batch, device=device).data, n, momentum, rows)
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


# --- num_batches_tracked ----------------------------------------------------------------------------

@pytest.mark.parametrize("fused", [True, False])
def test_num_batches_tracked_stays_a_0d_array(device, fused):
    bn = nn.BatchNorm1d(2, fused=fused).to(device)
    xp = type(bn.num_batches_tracked.data)
    for step in (1, 2):
        bn(tg.randn(4, 2, device=device))
        data = bn.num_batches_tracked.data
        assert type(data) is xp and data.shape == () and data.dtype == np.int64
        assert bn.num_batches_tracked.item() == step
    assert bn.state_dict()["num_batches_tracked"].shape == ()
