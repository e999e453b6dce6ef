"""tinygan.nn.init: in-place initialisers, as torch.nn.init.

Statistics on large tensors, exact bounds, reproducibility with tg.manual_seed,
in-place (the same object comes back), dtype kept, both devices.
"""
import math

import numpy as np
import pytest

import tinygan as tg
from tinygan import nn

from strategies import host

NAMES = ["normal_", "uniform_", "zeros_", "ones_", "constant_", "kaiming_uniform_",
         "xavier_uniform_", "calculate_gain"]


def big(device, dtype=tg.float32, shape=(300, 400)):
    return nn.Parameter(tg.zeros(*shape, device=device, dtype=dtype))


def values(t):
    return host(t).astype(np.float64).ravel()


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=["float32", "float64"])
def test_normal_statistics(device, dtype):
    tg.manual_seed(0)
    t = big(device, dtype)
    out = nn.init.normal_(t, mean=0.5, std=0.02)
    assert out is t and t.dtype == dtype and t.device == device and t.requires_grad
    v = values(t)
    n = v.size
    assert abs(v.mean() - 0.5) < 5 * 0.02 / math.sqrt(n)
    assert v.std() == pytest.approx(0.02, rel=0.01)
    assert abs(np.mean(np.abs(v - 0.5) < 0.02) - 0.6827) < 0.01     # bell-shaped, not flat


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=["float32", "float64"])
def test_uniform_bounds_and_statistics(device, dtype):
    tg.manual_seed(0)
    t = big(device, dtype)
    assert nn.init.uniform_(t, -2.0, 3.0) is t
    assert t.dtype == dtype
    v = values(t)
    assert v.min() >= -2.0 and v.max() <= 3.0
    assert v.min() < -1.99 and v.max() > 2.99
    assert abs(v.mean() - 0.5) < 0.02
    assert v.std() == pytest.approx(5 / math.sqrt(12), rel=0.01)


def test_uniform_default_is_unit_interval(device):
    tg.manual_seed(1)
    v = values(nn.init.uniform_(big(device, shape=(50, 50))))
    assert v.min() >= 0.0 and v.max() < 1.0 and abs(v.mean() - 0.5) < 0.02


def test_zeros_ones_constant_are_exact_and_in_place(device):
    t = nn.Parameter(tg.randn(3, 4, device=device))
    assert nn.init.zeros_(t) is t and not np.any(host(t))
    assert nn.init.ones_(t) is t and np.all(host(t) == 1.0)
    assert nn.init.constant_(t, -0.25) is t and np.all(host(t) == -0.25)
    assert t.dtype == np.float32 and t.device == device and t.requires_grad and t.is_leaf


@pytest.mark.parametrize("fan_in,fan_out", [(400, 300), (50, 800)])
def test_kaiming_uniform_bound(device, fan_in, fan_out):
    tg.manual_seed(0)
    t = big(device, shape=(fan_out, fan_in))
    assert nn.init.kaiming_uniform_(t) is t                # a=0, leaky_relu: gain √2
    bound = math.sqrt(2.0) * math.sqrt(3.0 / fan_in)
    v = values(t)
    assert np.all(np.abs(v) <= bound * (1 + 1e-6))
    assert v.max() > 0.99 * bound and v.min() < -0.99 * bound
    assert v.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)

    nn.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / fan_out)
    v = values(t)
    assert np.all(np.abs(v) <= bound * (1 + 1e-6)) and v.max() > 0.99 * bound

    nn.init.kaiming_uniform_(t, a=math.sqrt(5))            # PyTorch's nn.Linear recipe
    assert np.abs(values(t)).max() == pytest.approx(1 / math.sqrt(fan_in), rel=0.01)


def test_xavier_uniform_bound(device):
    tg.manual_seed(0)
    t = big(device, shape=(300, 100))
    assert nn.init.xavier_uniform_(t, gain=2.0) is t
    bound = 2.0 * math.sqrt(6.0 / (100 + 300))
    v = values(t)
    assert np.all(np.abs(v) <= bound * (1 + 1e-6))
    assert v.max() > 0.99 * bound and v.min() < -0.99 * bound
    assert v.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_fans_need_two_dims(device):
    with pytest.raises(ValueError, match="2 dims"):
        nn.init.xavier_uniform_(nn.Parameter(tg.zeros(5, device=device)))
    with pytest.raises(ValueError, match="2 dims"):
        nn.init.kaiming_uniform_(nn.Parameter(tg.zeros(5, device=device)))


def test_calculate_gain_table():
    assert nn.init.calculate_gain("linear") == 1.0
    assert nn.init.calculate_gain("sigmoid") == 1.0
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert nn.init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError):
        nn.init.calculate_gain("swish")


@pytest.mark.parametrize("fill", [
    lambda t: nn.init.normal_(t, 0.0, 0.02),
    lambda t: nn.init.uniform_(t, -1.0, 1.0),
    lambda t: nn.init.kaiming_uniform_(t),
    lambda t: nn.init.xavier_uniform_(t),
], ids=["normal", "uniform", "kaiming", "xavier"])
def test_random_initialisers_are_reproducible(device, fill):
    def draw(seed):
        tg.manual_seed(seed)
        return values(fill(nn.Parameter(tg.zeros(8, 6, device=device))))
    first = draw(3)
    np.testing.assert_array_equal(draw(3), first)
    assert not np.array_equal(draw(4), first)
    tg.manual_seed(3)
    t = nn.Parameter(tg.zeros(8, 6, device=device))
    fill(t)
    assert not np.array_equal(values(fill(t)), first)       # the stream moves on


def test_init_of_a_model_parameter_keeps_the_parameter(device):
    layer = nn.Linear(4, 3).to(device)
    weight = layer.weight
    nn.init.normal_(layer.weight, 0.0, 0.02)
    nn.init.zeros_(layer.bias)
    assert layer.weight is weight and list(layer.parameters())[0] is weight
    assert not np.any(host(layer.bias))
    out = layer(tg.ones(2, 4, device=device))
    out.sum().backward()                                    # still a leaf that gets a grad
    assert layer.weight.grad is not None and layer.weight.grad.shape == (3, 4)
