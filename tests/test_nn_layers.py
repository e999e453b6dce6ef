"""Layers: gradchecks (hypothesis, float64) and values against numpy formulas.

Linear, the activations, Dropout and BatchNorm1d. BatchNorm1d's running stats
are recomputed here in numpy (momentum 0.1, unbiased variance n/(n-1)).
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import nn
from tinygan.nn import functional as F

from strategies import (arrays, distinct_arrays, host, nonzero_arrays, shapes, to_tensor)


def f64(module, device):
    return module.to(device, tg.float64)


def load(module, **arrays_by_name):
    """Set some of a module's tensors from host arrays (strict=False: the rest stay)."""
    missing, unexpected = module.load_state_dict(arrays_by_name, strict=False)
    assert not unexpected
    return module


# --- Linear --------------------------------------------------------------------------------

@st.composite
def linear_cases(draw):
    batch = draw(st.sampled_from([(), (1,), (3,), (2, 2)]))   # () is a 1-D input
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    return (draw(arrays(batch + (n_in,))), draw(arrays((n_out, n_in))), draw(arrays((n_out,))),
            draw(st.booleans()))


@given(case=linear_cases())
def test_linear_gradcheck_input_weight_bias(device, case):
    x_host, w_host, b_host, bias = case
    n_out, n_in = w_host.shape
    layer = f64(nn.Linear(n_in, n_out, bias=bias), device)
    load(layer, weight=w_host, **({"bias": b_host} if bias else {}))
    x = to_tensor(x_host, device)
    inputs = [x, layer.weight] + ([layer.bias] if bias else [])
    assert tg.gradcheck(lambda *args: layer(args[0]), inputs)

    expected = x_host @ w_host.T + (b_host if bias else 0.0)
    np.testing.assert_allclose(host(layer(x)), expected, rtol=1e-12, atol=1e-12)


def test_linear_without_bias_has_one_parameter(device):
    layer = nn.Linear(3, 2, bias=False).to(device)
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]


def test_linear_init_shape_bounds_and_uniformity(device):
    tg.manual_seed(0)
    layer = nn.Linear(400, 300).to(device)
    assert layer.weight.shape == (300, 400) and layer.bias.shape == (300,)
    assert layer.weight.dtype == np.float32 and layer.weight.device == device
    bound = 1 / math.sqrt(400)
    w, b = host(layer.weight).astype(np.float64).ravel(), host(layer.bias).astype(np.float64)
    assert np.all(np.abs(w) <= bound) and np.all(np.abs(b) <= bound)
    assert w.max() > 0.99 * bound and w.min() < -0.99 * bound
    assert b.max() > 0.5 * bound and b.min() < -0.5 * bound
    assert abs(w.mean()) < 0.02 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    counts, _ = np.histogram(w, bins=10, range=(-bound, bound))
    np.testing.assert_allclose(counts, w.size / 10, rtol=0.05)     # flat, not bell-shaped


def test_linear_init_is_reproducible_with_manual_seed(device):
    tg.manual_seed(7)
    a = nn.Linear(5, 4).to(device)
    tg.manual_seed(7)
    b = nn.Linear(5, 4).to(device)
    tg.manual_seed(8)
    c = nn.Linear(5, 4).to(device)
    np.testing.assert_array_equal(host(a.weight), host(b.weight))
    np.testing.assert_array_equal(host(a.bias), host(b.bias))
    assert not np.array_equal(host(a.weight), host(c.weight))


def test_linear_rejects_wrong_feature_count(device):
    layer = nn.Linear(3, 2).to(device)
    with pytest.raises(RuntimeError, match="3"):
        layer(tg.ones(4, 5, device=device))


# --- activations ------------------------------------------------------------------------------

@given(data=st.data())
def test_relu_gradcheck_and_values(device, data):
    x_host = data.draw(nonzero_arrays(data.draw(shapes())))
    x = to_tensor(x_host, device)
    assert tg.gradcheck(nn.ReLU(), [x])
    np.testing.assert_array_equal(host(nn.ReLU()(x)), np.maximum(x_host, 0))


@given(data=st.data(), slope=st.sampled_from([0.01, 0.2, 0.5]))
def test_leaky_relu_gradcheck_and_values(device, data, slope):
    x_host = data.draw(nonzero_arrays(data.draw(shapes())))
    x = to_tensor(x_host, device)
    layer = nn.LeakyReLU(slope)
    assert tg.gradcheck(layer, [x])
    np.testing.assert_allclose(host(layer(x)), np.where(x_host > 0, x_host, slope * x_host),
                               rtol=1e-15)


@given(data=st.data())
def test_sigmoid_and_tanh_gradcheck_and_values(device, data):
    x_host = data.draw(arrays(data.draw(shapes())))
    x = to_tensor(x_host, device)
    assert tg.gradcheck(nn.Sigmoid(), [x])
    assert tg.gradcheck(nn.Tanh(), [x])
    np.testing.assert_allclose(host(nn.Sigmoid()(x)), 1 / (1 + np.exp(-x_host)), rtol=1e-14)
    np.testing.assert_allclose(host(nn.Tanh()(x)), np.tanh(x_host), rtol=1e-14, atol=1e-300)


def test_relu_gradient_at_zero_is_zero_and_leaky_default_slope(device):
    x = tg.tensor(np.array([-2.0, 0.0, 3.0]), device=device, requires_grad=True)
    nn.ReLU()(x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]
    x.grad = None
    out = nn.LeakyReLU()(x)
    assert out.tolist() == [-0.02, 0.0, 3.0]
    out.sum().backward()
    assert x.grad.tolist()[0] == 0.01 and x.grad.tolist()[2] == 1.0


def test_sigmoid_is_finite_at_extreme_logits(device):
    x = tg.tensor(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], np.float32), device=device)
    out = host(nn.Sigmoid()(x))
    assert np.all(np.isfinite(out))
    assert out[0] == 0.0 and out[2] == 0.5 and out[4] == 1.0


# --- Dropout --------------------------------------------------------------------------------------

@given(data=st.data(), p=st.sampled_from([0.2, 0.5, 0.8]))
def test_dropout_gradcheck_with_a_fixed_mask(device, data, p):
    x_host = data.draw(arrays(data.draw(shapes(min_dims=1))))
    x = to_tensor(x_host, device)
    drop = nn.Dropout(p)
    assert drop.training
    assert tg.gradcheck(lambda t: (tg.manual_seed(0), drop(t))[1], [x])

    tg.manual_seed(0)
    out = host(drop(x))
    kept = out != 0
    np.testing.assert_allclose(out[kept], x_host[kept] / (1 - p), rtol=1e-15)


def test_dropout_statistics_in_training(device):
    p = 0.3
    tg.manual_seed(0)
    x = tg.ones(100000, device=device, requires_grad=True)
    out = nn.Dropout(p)(x)
    values = host(out)
    assert abs(values.mean() - 1.0) < 0.01                    # inverted dropout: E[out] = x
    assert abs(np.mean(values == 0) - p) < 0.01
    np.testing.assert_allclose(values[values != 0], 1 / (1 - p), rtol=1e-6)
    out.sum().backward()
    np.testing.assert_array_equal(host(x.grad), values)       # d out/d x is the scaled mask


def test_dropout_is_reproducible_with_manual_seed(device):
    x = tg.ones(64, device=device)
    drop = nn.Dropout(0.5)
    tg.manual_seed(3)
    first = host(drop(x))
    tg.manual_seed(3)
    np.testing.assert_array_equal(host(drop(x)), first)
    assert not np.array_equal(host(drop(x)), first)           # the stream moves on


def test_dropout_identity_in_eval_and_edge_probabilities(device):
    x_host = np.random.default_rng(0).standard_normal((20, 30)).astype(np.float32)
    x = tg.tensor(x_host, device=device)
    drop = nn.Dropout(0.5).eval()
    np.testing.assert_array_equal(host(drop(x)), x_host)
    np.testing.assert_array_equal(host(nn.Dropout(0.0)(x)), x_host)
    assert not np.any(host(nn.Dropout(1.0)(x)))
    assert not np.any(host(F.dropout(x, 1.0, training=True)))
    np.testing.assert_array_equal(host(F.dropout(x, 0.5, training=False)), x_host)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_invalid_probability(device, p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(tg.ones(3, device=device), p)


# --- BatchNorm1d ------------------------------------------------------------------------------------

@st.composite
def batch_norm_cases(draw):
    n, c = draw(st.integers(2, 5)), draw(st.integers(1, 3))
    length = draw(st.sampled_from([None, 1, 2, 3]))
    shape = (n, c) if length is None else (n, c, length)
    # distinct values: the batch variance is never near 0 (a badly conditioned normalisation)
    return draw(distinct_arrays(shape)), draw(arrays((c,))), draw(arrays((c,)))


@given(case=batch_norm_cases())
def test_batch_norm_train_gradcheck_through_batch_stats(device, case):
    x_host, w_host, b_host = case
    bn = load(f64(nn.BatchNorm1d(x_host.shape[1]), device), weight=w_host, bias=b_host)
    x = to_tensor(x_host, device)
    assert tg.gradcheck(lambda t, w, b: bn(t), [x, bn.weight, bn.bias])


@given(case=batch_norm_cases(), seed=st.integers(0, 2**16))
def test_batch_norm_eval_gradcheck_with_running_stats(device, case, seed):
    x_host, w_host, b_host = case
    bn = load(f64(nn.BatchNorm1d(x_host.shape[1]), device), weight=w_host, bias=b_host)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        bn(to_tensor(rng.standard_normal(x_host.shape) * 2 + 1, device, requires_grad=False))
    bn.eval()
    running = bn.state_dict()
    x = to_tensor(x_host, device)
    assert tg.gradcheck(lambda t, w, b: bn(t), [x, bn.weight, bn.bias])
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_array_equal(bn.state_dict()[key], running[key])  # eval: untouched


def _axes(shape):
    return (0,) if len(shape) == 2 else (0, 2)


def _per_channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batch_norm_running_stats_after_three_steps(device, shape):
    rng = np.random.default_rng(0)
    bn = f64(nn.BatchNorm1d(3), device)
    w_host, b_host = rng.standard_normal(3), rng.standard_normal(3)
    load(bn, weight=w_host, bias=b_host)
    axes, ndim = _axes(shape), len(shape)
    n = int(np.prod([shape[a] for a in axes]))
    running_mean, running_var = np.zeros(3), np.ones(3)
    for step in range(3):
        x_host = rng.standard_normal(shape) * (step + 1) + step
        out = host(bn(to_tensor(x_host, device, requires_grad=False)))
        mean, biased = x_host.mean(axis=axes), x_host.var(axis=axes)
        expected = ((x_host - _per_channel(mean, ndim)) / np.sqrt(_per_channel(biased, ndim) + 1e-5)
                    * _per_channel(w_host, ndim) + _per_channel(b_host, ndim))
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
        running_mean = 0.9 * running_mean + 0.1 * mean
        running_var = 0.9 * running_var + 0.1 * biased * n / (n - 1)   # unbiased
    np.testing.assert_allclose(host(bn.running_mean), running_mean, rtol=1e-12)
    np.testing.assert_allclose(host(bn.running_var), running_var, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 3

    bn.eval()
    x_host = rng.standard_normal(shape)
    x = to_tensor(x_host, device)
    out = bn(x)
    scale = _per_channel(w_host / np.sqrt(running_var + 1e-5), ndim)
    expected = (x_host - _per_channel(running_mean, ndim)) * scale + _per_channel(b_host, ndim)
    np.testing.assert_allclose(host(out), expected, rtol=1e-12, atol=1e-12)
    # eval backpropagates through the running stats only (constants), never the last batch's
    upstream = rng.standard_normal(shape)
    out.backward(to_tensor(upstream, device, requires_grad=False))
    np.testing.assert_allclose(host(x.grad), upstream * np.broadcast_to(scale, shape), rtol=1e-12)
    assert bn.num_batches_tracked.item() == 3


def test_batch_norm_float32_running_stats(device):
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm1d(2).to(device)
    running_mean, running_var = np.zeros(2), np.ones(2)
    for _ in range(3):
        x_host = rng.standard_normal((8, 2)).astype(np.float32)
        bn(tg.tensor(x_host, device=device))
        running_mean = 0.9 * running_mean + 0.1 * x_host.mean(axis=0, dtype=np.float64)
        running_var = 0.9 * running_var + 0.1 * x_host.astype(np.float64).var(axis=0, ddof=1)
    assert bn.running_mean.dtype == np.float32
    np.testing.assert_allclose(host(bn.running_mean), running_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(bn.running_var), running_var, rtol=1e-5)


def test_batch_norm_running_stats_in_one_array_update_as_two_buffers_would(device):
    # BatchNorm1d keeps running_mean and running_var as the rows of one array (one update
    # for both); F.batch_norm on two separate buffers must give the very same numbers.
    rng = np.random.default_rng(3)
    bn = nn.BatchNorm1d(4).to(device)
    mean, var = tg.zeros(4, device=device), tg.ones(4, device=device)
    for _ in range(3):
        x = tg.tensor(rng.standard_normal((6, 4)).astype(np.float32), device=device)
        bn(x)
        F.batch_norm(x, mean, var, training=True)
    assert np.array_equal(host(bn.running_mean), host(mean))
    assert np.array_equal(host(bn.running_var), host(var))


def test_batch_norm_running_stats_survive_rebinding_moving_and_deep_copies(device):
    """Whoever replaces a running stat's array (an assignment, .to(), a deep copy, a state
    dict) gets a module whose own running stats keep updating, and only its own."""
    import copy
    rng = np.random.default_rng(4)
    batches = [tg.tensor(rng.standard_normal((6, 3)).astype(np.float32), device=device)
               for _ in range(3)]

    def assert_stats(module, steps):              # as two plain buffers after those batches
        mean, var = tg.zeros(3, device=device), tg.ones(3, device=device)
        for x in batches[:steps]:
            F.batch_norm(x, mean, var, training=True)
        assert np.array_equal(host(module.running_mean), host(mean))
        assert np.array_equal(host(module.running_var), host(var))
        assert module.num_batches_tracked.item() == steps

    bn = nn.BatchNorm1d(3).to(device)
    bn(batches[0])
    twin = copy.deepcopy(bn)                      # arrays of its own, not views of bn's
    twin(batches[1])
    assert_stats(bn, 1)
    assert_stats(twin, 2)

    bn.running_var.data = bn.running_var.data.clone()    # no longer a row of bn's array
    bn(batches[1])
    assert_stats(bn, 2)
    bn = bn.to("cpu").to(device)                        # new arrays for every buffer
    bn(batches[2])
    assert_stats(bn, 3)
    bn.load_state_dict(twin.state_dict())               # copied into bn's own arrays
    assert_stats(bn, 2)
    bn(batches[2])
    assert_stats(bn, 3)
    assert_stats(twin, 2)


def test_batch_norm_running_stats_of_two_dtypes_update_one_by_one(device):
    bn = nn.BatchNorm1d(2).to(device)
    bn.running_var.data = bn.running_var.data.double()    # cannot share one array
    x = tg.tensor([[1.0, 10.0], [3.0, 30.0]], device=device)
    bn(x)
    assert bn.running_var.dtype == np.float64 and bn.running_mean.dtype == np.float32
    np.testing.assert_allclose(host(bn.running_mean), [0.2, 2.0], rtol=1e-6)
    np.testing.assert_allclose(host(bn.running_var), [0.9 + 0.1 * 2, 0.9 + 0.1 * 200], rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1)])
def test_batch_norm_one_value_per_channel_in_training_is_an_error(device, shape):
    bn = nn.BatchNorm1d(3).to(device)
    with pytest.raises(ValueError, match="more than 1 value"):
        bn(tg.ones(*shape, device=device))
    bn.eval()                                             # eval with one sample is fine
    assert bn(tg.ones(*shape, device=device)).shape == shape


def test_batch_norm_one_sample_with_length_trains(device):
    bn = nn.BatchNorm1d(2).to(device)
    out = bn(tg.tensor(np.arange(6, dtype=np.float32).reshape(1, 2, 3), device=device))
    assert out.shape == (1, 2, 3)


def test_batch_norm_stats_are_buffers_not_parameters(device):
    bn = nn.BatchNorm1d(4).to(device)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert len(list(bn.parameters())) == 2
    buffers = dict(bn.named_buffers())
    assert list(buffers) == ["running_mean", "running_var", "num_batches_tracked"]
    assert buffers["running_mean"].tolist() == [0.0] * 4
    assert buffers["running_var"].tolist() == [1.0] * 4
    assert buffers["num_batches_tracked"].item() == 0
    assert not any(b.requires_grad for b in buffers.values())
    assert all(b.device == device for b in buffers.values())


def test_batch_norm_momentum_none_is_a_cumulative_average(device):
    rng = np.random.default_rng(2)
    bn = f64(nn.BatchNorm1d(3, momentum=None), device)
    batches = [rng.standard_normal((5, 3)) * s + s for s in (1.0, 2.0, 3.0)]
    for x_host in batches:
        bn(to_tensor(x_host, device, requires_grad=False))
    np.testing.assert_allclose(host(bn.running_mean),
                               np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(host(bn.running_var),
                               np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0),
                               rtol=1e-12)
    assert bn.num_batches_tracked.item() == 3


def test_batch_norm_without_affine(device):
    bn = f64(nn.BatchNorm1d(2, affine=False), device)
    assert list(bn.parameters()) == [] and bn.weight is None and bn.bias is None
    x_host = np.array([[1.0, -2.0], [3.0, 0.0], [2.0, 5.0]])
    x = to_tensor(x_host, device)
    out = bn(x)
    expected = (x_host - x_host.mean(0)) / np.sqrt(x_host.var(0) + 1e-5)
    np.testing.assert_allclose(host(out), expected, rtol=1e-12)
    assert tg.gradcheck(bn, [x])


def test_batch_norm_without_running_stats_uses_batch_stats_in_eval(device):
    bn = f64(nn.BatchNorm1d(2, track_running_stats=False), device)
    assert dict(bn.named_buffers()) == {}
    assert bn.running_mean is None and bn.running_var is None
    x_host = np.array([[1.0, -2.0], [3.0, 0.0], [2.0, 5.0], [0.5, 0.5]])
    x = to_tensor(x_host, device)
    train_out = host(bn(x))
    bn.eval()
    eval_out = host(bn(x))
    expected = (x_host - x_host.mean(0)) / np.sqrt(x_host.var(0) + 1e-5)
    np.testing.assert_allclose(eval_out, expected, rtol=1e-12)
    np.testing.assert_array_equal(eval_out, train_out)
    assert tg.gradcheck(lambda t, w, b: bn(t), [x, bn.weight, bn.bias])
    with pytest.raises(ValueError, match="more than 1 value"):
        bn(tg.ones(1, 2, device=device, dtype=tg.float64))


def test_batch_norm_rejects_wrong_shapes(device):
    bn = nn.BatchNorm1d(3).to(device)
    with pytest.raises(ValueError, match="3"):
        bn(tg.ones(4, 2, device=device))
    with pytest.raises(ValueError):
        bn(tg.ones(4, 3, 2, 2, device=device))


# --- Flatten and Identity -----------------------------------------------------------------------

def test_flatten_and_identity(device):
    x_host = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = tg.tensor(x_host, device=device)
    assert nn.Flatten()(x).shape == (2, 12)
    np.testing.assert_array_equal(host(nn.Flatten(0)(x)), x_host.ravel())
    assert nn.Identity()(x) is x
