"""Losses: gradchecks (hypothesis, float64) and values against independent numpy formulas.

BCEWithLogitsLoss (reductions, weight, pos_weight, soft targets; grads wrt input
and target), BCELoss (log clamp at -100), MSELoss; the stable BCE at ±1e4 in
float32, and the errors (input range, shape mismatch, unknown reduction).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import nn
from tinygan.nn import functional as F

from strategies import arrays, floats, host, shapes, to_tensor

REDUCTIONS = ["mean", "sum", "none"]
ULPS = 4 * np.finfo(np.float64).eps


def reduce_host(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](loss)


def sigmoid_host(x):
    return 1 / (1 + np.exp(-x))


# --- gradchecks -------------------------------------------------------------------------------

@st.composite
def bce_logits_cases(draw):
    shape = draw(shapes())
    x = draw(arrays(shape))
    y = draw(arrays(shape, 0.0, 1.0))                      # soft targets
    reduction = draw(st.sampled_from(REDUCTIONS))
    weight = draw(st.none() | arrays(draw(st.sampled_from([shape, shape[-1:]])), 0.1, 2.0))
    pos_weight = draw(st.none() | arrays(shape[-1:], 0.1, 3.0))
    return x, y, reduction, weight, pos_weight


@given(case=bce_logits_cases())
def test_bce_with_logits_gradcheck_input_and_target(device, case):
    x_host, y_host, reduction, weight, pos_weight = case
    loss_fn = nn.BCEWithLogitsLoss(
        weight=None if weight is None else to_tensor(weight, device, requires_grad=False),
        reduction=reduction,
        pos_weight=None if pos_weight is None else to_tensor(pos_weight, device,
                                                             requires_grad=False))
    x, y = to_tensor(x_host, device), to_tensor(y_host, device)
    assert tg.gradcheck(loss_fn, [x, y])

    # the value, against -(pw·y·log σ(x) + (1-y)·log(1-σ(x)))·w (|x| <= 3: the naive form is fine)
    pw = 1.0 if pos_weight is None else pos_weight
    w = 1.0 if weight is None else weight
    s = sigmoid_host(x_host)
    expected = -(pw * y_host * np.log(s) + (1 - y_host) * np.log(1 - s)) * w
    np.testing.assert_allclose(host(loss_fn(x, y)), reduce_host(expected, reduction),
                               rtol=1e-12, atol=1e-14)


@given(data=st.data(), reduction=st.sampled_from(REDUCTIONS), weighted=st.booleans())
def test_bce_gradcheck_input_and_target(device, data, reduction, weighted):
    shape = data.draw(shapes())
    p_host = data.draw(arrays(shape, 0.05, 0.95))
    y_host = data.draw(arrays(shape, 0.0, 1.0))
    w_host = data.draw(arrays(shape, 0.1, 2.0)) if weighted else None
    loss_fn = nn.BCELoss(weight=None if w_host is None else to_tensor(w_host, device, False),
                         reduction=reduction)
    p, y = to_tensor(p_host, device), to_tensor(y_host, device)
    assert tg.gradcheck(loss_fn, [p, y])
    expected = -(y_host * np.log(p_host) + (1 - y_host) * np.log(1 - p_host))
    expected = expected * (1.0 if w_host is None else w_host)
    np.testing.assert_allclose(host(loss_fn(p, y)), reduce_host(expected, reduction),
                               rtol=1e-12, atol=1e-14)


@given(data=st.data(), reduction=st.sampled_from(REDUCTIONS))
def test_mse_gradcheck_input_and_target(device, data, reduction):
    shape = data.draw(shapes())
    a_host, b_host = data.draw(arrays(shape)), data.draw(arrays(shape))
    a, b = to_tensor(a_host, device), to_tensor(b_host, device)
    loss_fn = nn.MSELoss(reduction=reduction)
    assert tg.gradcheck(loss_fn, [a, b])
    np.testing.assert_allclose(host(loss_fn(a, b)), reduce_host((a_host - b_host) ** 2, reduction),
                               rtol=1e-12, atol=1e-14)


# --- BCE with logits: values ---------------------------------------------------------------------

@given(data=st.data())
def test_bce_with_logits_matches_the_naive_formula_where_safe(device, data):
    shape = data.draw(shapes(min_dims=1))
    x_host = data.draw(arrays(shape, -9.99, 9.99))
    y_host = data.draw(arrays(shape, 0.0, 1.0))
    x, y = to_tensor(x_host, device), to_tensor(y_host, device, requires_grad=False)
    s = sigmoid_host(x_host)
    naive = -(y_host * np.log(s) + (1 - y_host) * np.log(1 - s))
    # Two roundings bound the comparison: 1 - σ(x) in the naive form at |x| < 10 loses up to
    # e^10·2^-53 ≈ 2.5e-12 relative (rtol 1e-10), and the stable form (1-y)·x + softplus(-x)
    # cancels for x < 0 and small y, to a few ulps of |x| in absolute terms (atol).
    got = host(F.binary_cross_entropy_with_logits(x, y, reduction="none"))
    error, bound = np.abs(got - naive), 1e-10 * np.abs(naive) + ULPS * (np.abs(x_host) + 1)
    assert np.all(error <= bound), (got, naive)
    loss = F.binary_cross_entropy_with_logits(x, y)
    assert abs(loss.item() - naive.mean()) <= bound.mean()
    loss.backward()
    np.testing.assert_allclose(host(x.grad), (s - y_host) / x_host.size, rtol=1e-12, atol=1e-15)


@given(x=floats(-60.0, 60.0), y=floats(0.0, 1.0))
def test_bce_with_logits_matches_logaddexp_everywhere(device, x, y):
    # an independent stable form: y·softplus(-x) + (1-y)·softplus(x)
    expected = y * np.logaddexp(0.0, -x) + (1 - y) * np.logaddexp(0.0, x)
    xt = tg.tensor(np.array([x]), device=device, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(xt, tg.tensor(np.array([y]), device=device),
                                              reduction="sum")
    # (1-y)·x + softplus(-x) cancels for x < 0 and small y: a few ulps of |x| absolute
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12, atol=ULPS * (abs(x) + 1))
    loss.backward()
    np.testing.assert_allclose(xt.grad.item(), sigmoid_host(x) - y, rtol=1e-12, atol=1e-15)


def test_bce_with_logits_is_exact_at_extreme_float32_logits(device):
    x = tg.tensor(np.array([-1e4, 1e4, -1e4, 1e4], np.float32), device=device, requires_grad=True)
    y = tg.tensor(np.array([1.0, 1.0, 0.0, 0.0], np.float32), device=device)
    per_element = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    assert per_element.dtype == np.float32
    assert per_element.tolist() == [1e4, 0.0, 0.0, 1e4]         # not capped at 16.1, not inf
    loss = nn.BCEWithLogitsLoss()(x, y)
    assert loss.dtype == np.float32 and loss.item() == 5000.0
    loss.backward()
    assert x.grad.tolist() == [-0.25, 0.0, 0.0, 0.25]           # (σ(x) - y)/N, not vanishing


def test_bce_with_logits_single_confidently_wrong_logit(device):
    x = tg.tensor(np.array([-1e4], np.float32), device=device, requires_grad=True)
    y = tg.tensor(np.array([1.0], np.float32), device=device)
    loss = nn.BCEWithLogitsLoss()(x, y)
    assert loss.item() == 1e4
    loss.backward()
    assert x.grad.tolist() == [-1.0]
    x.grad = None
    right = tg.tensor(np.array([1e4], np.float32), device=device, requires_grad=True)
    loss = nn.BCEWithLogitsLoss()(right, y)
    assert loss.item() == 0.0
    loss.backward()
    assert right.grad.tolist() == [0.0]


def test_bce_with_logits_pos_weight_broadcasts_over_columns(device):
    x_host = np.array([[0.5, -1.0, 2.0], [-0.3, 0.8, -2.5]])
    y_host = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.3]])
    pw = np.array([2.0, 0.5, 3.0])
    loss = nn.BCEWithLogitsLoss(pos_weight=tg.tensor(pw, device=device), reduction="sum")(
        tg.tensor(x_host, device=device), tg.tensor(y_host, device=device))
    s = sigmoid_host(x_host)
    expected = -(pw * y_host * np.log(s) + (1 - y_host) * np.log(1 - s)).sum()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)


# --- BCELoss: values and clamp --------------------------------------------------------------------

def test_bce_clamps_each_log_at_minus_100(device):
    p = tg.tensor(np.array([0.0, 1.0, 0.0, 1.0]), device=device)
    y = tg.tensor(np.array([1.0, 0.0, 0.0, 1.0]), device=device)
    assert F.binary_cross_entropy(p, y, reduction="none").tolist() == [100.0, 100.0, 0.0, 0.0]
    one = nn.BCELoss()(tg.tensor(np.array([0.0]), device=device),
                       tg.tensor(np.array([1.0]), device=device))
    assert one.item() == 100.0


def test_bce_float32_clamp_and_finite_gradient(device):
    p = tg.tensor(np.array([0.0, 1.0, 0.25], np.float32), device=device, requires_grad=True)
    y = tg.tensor(np.array([1.0, 0.0, 1.0], np.float32), device=device)
    loss = nn.BCELoss(reduction="sum")(p, y)
    assert loss.dtype == np.float32
    assert loss.item() == pytest.approx(200.0 - np.log(0.25), rel=1e-6)
    loss.backward()
    grad = host(p.grad)
    assert np.all(np.isfinite(grad))
    assert grad[2] == pytest.approx((0.25 - 1) / (0.25 * 0.75), rel=1e-6)


def test_bce_input_gradient_matches_formula(device):
    p_host = np.array([0.1, 0.5, 0.9, 0.999, 1e-4])
    y_host = np.array([0.0, 1.0, 0.3, 1.0, 0.0])
    p = tg.tensor(p_host, device=device, requires_grad=True)
    nn.BCELoss(reduction="sum")(p, tg.tensor(y_host, device=device)).backward()
    np.testing.assert_allclose(host(p.grad), (p_host - y_host) / (p_host * (1 - p_host)),
                               rtol=1e-12)


def test_bce_rejects_input_outside_unit_interval(device):
    bad = tg.tensor(np.array([1.5, -0.5, 0.5]), device=device)
    target = tg.tensor(np.array([1.0, 0.0, 1.0]), device=device)
    if device == "cpu":
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.BCELoss()(bad, target)
    else:  # documented: no device-to-host check on "cuda"; the loss is NaN there
        assert np.isnan(nn.BCELoss()(bad, target).item())


# --- errors shared by the three losses --------------------------------------------------------------

LOSSES = [nn.BCEWithLogitsLoss, nn.BCELoss, nn.MSELoss]


@pytest.mark.parametrize("loss_cls", LOSSES)
def test_shape_mismatch_is_an_error_naming_both_shapes(device, loss_cls):
    x = tg.full((3, 1), 0.5, device=device)
    y = tg.full((3,), 1.0, device=device)
    with pytest.raises(ValueError) as info:
        loss_cls()(x, y)
    assert "(3, 1)" in str(info.value) and "(3,)" in str(info.value)


@pytest.mark.parametrize("loss_cls", LOSSES)
def test_unknown_reduction_is_an_error(device, loss_cls):
    x, y = tg.full((2,), 0.5, device=device), tg.full((2,), 1.0, device=device)
    with pytest.raises(ValueError, match="foo"):
        loss_cls(reduction="foo")(x, y)


@pytest.mark.parametrize("loss_cls", LOSSES)
def test_losses_default_to_mean_and_keep_float32(device, loss_cls):
    rng = np.random.default_rng(0)
    x_host = rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32)
    y_host = rng.uniform(0.0, 1.0, (4, 3)).astype(np.float32)
    x, y = tg.tensor(x_host, device=device), tg.tensor(y_host, device=device)
    mean = loss_cls()(x, y)
    total = loss_cls(reduction="sum")(x, y)
    each = loss_cls(reduction="none")(x, y)
    assert mean.shape == () and total.shape == () and each.shape == (4, 3)
    assert mean.dtype == np.float32 and each.dtype == np.float32
    np.testing.assert_allclose(mean.item(), host(each).astype(np.float64).mean(), rtol=1e-6)
    np.testing.assert_allclose(total.item(), host(each).astype(np.float64).sum(), rtol=1e-6)


def test_target_must_be_a_tensor(device):
    with pytest.raises(TypeError, match="target"):
        nn.MSELoss()(tg.ones(2, device=device), np.ones(2, np.float32))
