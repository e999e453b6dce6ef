"""Optimizers: Adam and SGD against numpy float64 reimplementations of their updates.

Adam's first step, its bias correction and the double-precision (1-β2); SGD's
momentum (first buffer = g, PyTorch's convention), dampening, Nesterov and
weight decay; parameters without a gradient are skipped; zero_grad; state_dict
round trips that resume bit for bit; and a smoke test: an MLP learns XOR.
"""
import copy

import numpy as np
import pytest

import tinygan as tg
from tinygan import nn, optim

from strategies import host


def param(values, device, dtype=tg.float64):
    return nn.Parameter(tg.tensor(np.asarray(values), device=device, dtype=dtype))


def set_grad(p, g):
    p.grad = tg.tensor(np.asarray(g), device=p.device, dtype=p.dtype)


def grads_for(shape, steps, seed=0):
    """Gradients of mixed magnitudes (1e-3 .. 1e2) and both signs, one array per step."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 3, shape) for _ in range(steps)]


def adam_reference(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """DESIGN's Adam in numpy float64, Python-float constants."""
    beta1, beta2 = betas
    p = np.array(p, dtype=np.float64)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return p


def sgd_reference(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p = np.array(p, dtype=np.float64)
    buf = None
    for g in grads:
        d = g + weight_decay * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p


def assert_same_tree(actual, expected):
    """Nested dicts/lists/tuples of arrays and numbers, equal element for element."""
    if isinstance(expected, dict):
        assert list(actual) == list(expected)
        for key in expected:
            assert_same_tree(actual[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_same_tree(a, e)
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(actual, expected)
    else:
        assert actual == expected


def run(opt, p, grads):
    for g in grads:
        set_grad(p, g)
        opt.step()
    return host(p)


# --- Adam ------------------------------------------------------------------------------------

def test_adam_first_step_is_lr_g_over_abs_g_plus_eps(device):
    p0 = np.random.default_rng(1).standard_normal((3, 4))
    (g,) = grads_for((3, 4), 1)
    p = param(p0, device)
    lr, eps = 0.01, 1e-8
    run(optim.Adam([p], lr=lr, eps=eps), p, [g])
    # m̂ = g and √v̂ = |g| after one step, so the move is lr·g/(|g| + eps)
    np.testing.assert_allclose(host(p), p0 - lr * g / (np.abs(g) + eps), rtol=1e-12, atol=1e-15)


def test_adam_first_step_moves_float32_params_by_about_lr(device):
    p0 = np.random.default_rng(2).standard_normal(50).astype(np.float32)
    (g,) = grads_for((50,), 1, seed=2)
    p = param(p0, device, dtype=tg.float32)
    run(optim.Adam([p], lr=0.01), p, [g.astype(np.float32)])
    assert p.dtype == np.float32
    moved = p0.astype(np.float64) - host(p).astype(np.float64)
    np.testing.assert_allclose(moved, 0.01 * np.sign(g), rtol=0, atol=1e-6)


@pytest.mark.parametrize("config", [
    dict(),
    dict(lr=0.05, betas=(0.5, 0.999)),
    dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
])
def test_adam_three_steps_match_numpy(device, config):
    p0 = np.random.default_rng(3).standard_normal((2, 3))
    grads = grads_for((2, 3), 3, seed=3)
    p = param(p0, device)
    got = run(optim.Adam([p], **config), p, grads)
    np.testing.assert_allclose(got, adam_reference(p0, grads, **config), rtol=1e-12, atol=1e-15)


def test_adam_one_minus_beta2_is_not_rounded_to_float32(device):
    # float32's 1 - 0.999 is 0.0009999871; computed that way the second moment drifts
    # ~1e-5 relative from PyTorch's after the first step. float64 params expose it.
    p0 = np.array([0.5, -1.0, 2.0, 0.0])
    grads = [np.array([1.0, -2.0, 0.5, 3.0]), np.array([-0.1, 4.0, 0.5, -3.0]),
             np.array([2.0, 0.01, -5.0, 1.0]), np.array([0.3, -0.3, 0.3, 10.0])]
    p = param(p0, device)
    got = run(optim.Adam([p], lr=0.1, betas=(0.5, 0.999)), p, grads)
    np.testing.assert_allclose(got, adam_reference(p0, grads, lr=0.1, betas=(0.5, 0.999)),
                               rtol=1e-12)


def test_adam_param_groups_have_their_own_lr(device):
    p0 = np.array([1.0, -1.0])
    grads = grads_for((2,), 2, seed=4)
    a, b = param(p0, device), param(p0, device)
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.1}], lr=0.01)
    for g in grads:
        set_grad(a, g)
        set_grad(b, g)
        opt.step()
    np.testing.assert_allclose(host(a), adam_reference(p0, grads, lr=0.01), rtol=1e-12)
    np.testing.assert_allclose(host(b), adam_reference(p0, grads, lr=0.1), rtol=1e-12)


# --- SGD ----------------------------------------------------------------------------------------

SGD_CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.1, momentum=0.8, nesterov=True),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
]


@pytest.mark.parametrize("config", SGD_CONFIGS)
def test_sgd_three_steps_match_numpy(device, config):
    p0 = np.random.default_rng(5).standard_normal((3, 2))
    grads = grads_for((3, 2), 3, seed=5)
    p = param(p0, device)
    got = run(optim.SGD([p], **config), p, grads)
    np.testing.assert_allclose(got, sgd_reference(p0, grads, **config), rtol=1e-12, atol=1e-15)


def test_sgd_momentum_first_step_uses_the_gradient_undampened(device):
    p = param([1.0, 2.0], device)
    set_grad(p, [0.5, -1.0])
    optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5).step()
    assert host(p).tolist() == [1.0 - 0.1 * 0.5, 2.0 + 0.1 * 1.0]     # buf = g, not 0.5·g


def test_sgd_rejects_nesterov_without_momentum(device):
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([param([1.0], device)], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([param([1.0], device)], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)


# --- shared behaviour -------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda ps: optim.Adam(ps, lr=0.1),
                                  lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)],
                         ids=["adam", "sgd"])
def test_parameters_without_grad_are_skipped(device, make):
    a, b = param([1.0, 2.0], device), param([3.0, 4.0], device)
    opt = make([a, b])
    set_grad(a, [0.5, -0.5])
    opt.step()
    opt.step()
    assert b.grad is None and host(b).tolist() == [3.0, 4.0]
    assert host(a).tolist() != [1.0, 2.0]
    assert opt.state_dict()["state"].keys() == {0}               # no state made for b
    # b's first gradient arrives at the third step: its update is a first step
    set_grad(b, [2.0, -0.25])
    opt.step()
    if isinstance(opt, optim.Adam):
        expected = adam_reference([3.0, 4.0], [np.array([2.0, -0.25])], lr=0.1)
    else:
        expected = sgd_reference([3.0, 4.0], [np.array([2.0, -0.25])], lr=0.1, momentum=0.9)
    np.testing.assert_allclose(host(b), expected, rtol=1e-12)


def test_zero_grad_set_to_none_and_to_zeros(device):
    a, b = param([1.0, 2.0], device), param([[3.0]], device)
    opt = optim.SGD([a, b], lr=0.1)
    set_grad(a, [1.0, 1.0])
    set_grad(b, [[2.0]])
    opt.zero_grad(set_to_none=False)
    assert host(a.grad).tolist() == [0.0, 0.0] and host(b.grad).tolist() == [[0.0]]
    assert a.grad.device == device
    opt.zero_grad(set_to_none=True)
    assert a.grad is None and b.grad is None
    set_grad(a, [1.0, 1.0])
    opt.zero_grad()                                      # PyTorch's default: None
    assert a.grad is None


def test_optimizer_rejects_bad_parameter_lists(device):
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    computed = param([1.0], device) * 2            # frozen parameters are fine (PyTorch's rule)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([computed], lr=0.1)
    with pytest.raises(ValueError):
        optim.Adam([param([1.0], device)], betas=(1.0, 0.999))


# --- state_dict round trips ----------------------------------------------------------------------

def tiny_model(device):
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1)).to(device)


def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = nn.BCEWithLogitsLoss()(model(x), y)
    loss.backward()
    opt.step()


@pytest.mark.parametrize("make", [lambda ps, lr: optim.Adam(ps, lr=lr, betas=(0.5, 0.999)),
                                  lambda ps, lr: optim.SGD(ps, lr=lr, momentum=0.9,
                                                           nesterov=True)],
                         ids=["adam", "sgd"])
def test_optimizer_state_dict_round_trip_resumes_exactly(device, make):
    rng = np.random.default_rng(6)
    batches = [(tg.tensor(rng.standard_normal((6, 3)).astype(np.float32), device=device),
                tg.tensor(rng.integers(0, 2, (6, 1)).astype(np.float32), device=device))
               for _ in range(3)]
    tg.manual_seed(0)
    model = tiny_model(device)
    opt = make(model.parameters(), 0.05)
    for x, y in batches[:2]:
        train_step(model, opt, x, y)
    model_state, opt_state = model.state_dict(), opt.state_dict()
    assert all(isinstance(v, np.ndarray) for s in opt_state["state"].values()
               for v in s.values() if not isinstance(v, (int, float)))

    tg.manual_seed(1)
    restored = tiny_model(device)
    restored_opt = make(restored.parameters(), 0.5)     # a different lr: restored from the dict
    restored.load_state_dict(model_state)
    restored_opt.load_state_dict(opt_state)
    assert restored_opt.param_groups[0]["lr"] == 0.05

    saved = copy.deepcopy((model_state, opt_state))
    train_step(model, opt, *batches[2])
    train_step(restored, restored_opt, *batches[2])
    assert_same_tree((model_state, opt_state), saved)      # loading copied, never aliased
    for (name, a), b in zip(model.state_dict().items(), restored.state_dict().values()):
        np.testing.assert_array_equal(b, a, err_msg=name)
    for a, b in zip(opt.state_dict()["state"].values(), restored_opt.state_dict()["state"].values()):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(b[key], a[key], err_msg=key)


def test_optimizer_state_dict_is_a_copy(device):
    p = param([1.0, -1.0], device)
    opt = optim.Adam([p], lr=0.1)
    set_grad(p, [1.0, 1.0])
    opt.step()
    saved = opt.state_dict()
    saved["state"][0]["exp_avg"][...] = 1e6
    saved["param_groups"][0]["lr"] = 99.0
    assert opt.param_groups[0]["lr"] == 0.1
    np.testing.assert_allclose(opt.state_dict()["state"][0]["exp_avg"], [0.1, 0.1], rtol=1e-12)


def test_loading_optimizer_state_with_a_different_parameter_count_is_an_error(device):
    big = optim.Adam(tiny_model(device).parameters())
    small = optim.Adam(nn.Linear(2, 1).to(device).parameters())
    with pytest.raises(ValueError, match="parameters"):
        small.load_state_dict(big.state_dict())


# --- Adam's flat buffers: one update for the whole group, whoever moves the tensors --------

def adam_run(params, grads_per_step, **kwargs):
    """Adam over params with these gradients (None: no gradient that step)."""
    opt = optim.Adam(params, lr=0.1, **kwargs)
    for grads in grads_per_step:
        opt.zero_grad()
        for p, g in zip(params, grads):
            if g is not None:
                set_grad(p, g)
        opt.step()
    return opt


def test_adam_on_a_group_equals_adam_on_each_parameter_alone(device):
    # Laid out in one buffer or not, the arithmetic is the same: bit for bit.
    shapes = [(3, 2), (4,), (1,)]
    grads = [[g[t] for g in (grads_for(s, 3, seed=i) for i, s in enumerate(shapes))]
             for t in range(3)]
    start = [np.random.default_rng(9).standard_normal(s) for s in shapes]
    together = [param(v, device) for v in start]
    adam_run(together, grads)
    for i, v in enumerate(start):
        alone = param(v, device)
        adam_run([alone], [[g[i]] for g in grads])
        np.testing.assert_array_equal(host(together[i]), host(alone))


def test_adam_with_a_parameter_that_misses_steps_counts_its_own_steps(device):
    # PyTorch skips a parameter without a gradient and counts steps per parameter: b's
    # second update is its first, with the bias correction of step 1.
    a, b = param([1.0, 2.0], device), param([3.0], device)
    adam_run([a, b], [[[1.0, 1.0], None], [[1.0, -1.0], [2.0]], [[0.5, 0.5], [1.0]]])
    np.testing.assert_allclose(host(a), adam_reference([1.0, 2.0], [np.array([1.0, 1.0]),
                               np.array([1.0, -1.0]), np.array([0.5, 0.5])], lr=0.1), rtol=1e-12)
    np.testing.assert_allclose(host(b), adam_reference([3.0], [np.array([2.0]), np.array([1.0])],
                                                       lr=0.1), rtol=1e-12)


def test_adam_keeps_training_a_model_moved_or_reloaded_around_its_steps(device):
    # The flat buffers are made at the first step, so .to() before it is free; loading a
    # model copies into its parameters, loading the optimizer replaces its averages (laid
    # out again): the step repeated from a reload is bit for bit the first one.
    tg.manual_seed(0)
    model = tiny_model("cpu")
    opt = optim.Adam(model.parameters(), lr=0.05)
    model.to(device)                                  # after the optimizer, as users do
    rng = np.random.default_rng(2)
    x, y = (tg.tensor(rng.standard_normal((6, 3)).astype(np.float32), device=device),
            tg.tensor(rng.integers(0, 2, (6, 1)).astype(np.float32), device=device))
    train_step(model, opt, x, y)
    saved = copy.deepcopy((model.state_dict(), opt.state_dict()))
    train_step(model, opt, x, y)
    after = model.state_dict()
    model.load_state_dict(saved[0])
    opt.load_state_dict(saved[1])
    train_step(model, opt, x, y)
    for (name, a), b in zip(model.state_dict().items(), after.values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert not np.array_equal(after["0.weight"], saved[0]["0.weight"])   # it did train


def test_adam_lays_a_group_out_flat_on_a_gpu_only(device, monkeypatch):
    # On a GPU one flat buffer saves hundreds of launches a step; on the CPU the gather of
    # the gradients costs more than it saves, so the parameters stay where they are there
    # (adam.FLAT_ON_CPU, which bench/tricks.py sets to measure that, says otherwise).
    from tinygan.optim import adam
    for flat_on_cpu in (False, True):
        monkeypatch.setattr(adam, "FLAT_ON_CPU", flat_on_cpu)
        a, b = param([1.0, 2.0], device), param([3.0], device)
        adam_run([a, b], [[[1.0, 1.0], [2.0]], [[0.5, -1.0], [1.0]]])
        laid_out = a._data.base is not None and b._data.base is not None   # views of a buffer
        assert laid_out == (device != "cpu" or flat_on_cpu)
        np.testing.assert_allclose(host(b), adam_reference([3.0], [np.array([2.0]),
                                   np.array([1.0])], lr=0.1), rtol=1e-12)


def test_adam_with_an_empty_parameter_group(device):
    w = param([1.0, 2.0], device)
    opt = optim.Adam([{"params": [w]}, {"params": []}], lr=0.1)   # PyTorch allows it too
    set_grad(w, [1.0, -1.0])
    opt.step()
    np.testing.assert_allclose(host(w), [0.9, 2.1], rtol=1e-6)


def test_adam_updates_tied_parameters_in_place(device):
    # b is a view of a's memory: the two must stay tied, so neither moves to a flat buffer.
    a = param([1.0, 2.0, 3.0, 4.0], device)
    b = nn.Parameter(tg.Tensor(a._data[2:]))
    adam_run([a, b], [[[1.0, 1.0, 1.0, 1.0], [1.0, 1.0]]])
    np.testing.assert_array_equal(host(a)[2:], host(b))
    assert host(a)[0] == pytest.approx(0.9)


# --- smoke test ---------------------------------------------------------------------------------------

def test_mlp_learns_xor_with_adam(device):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).to(device)
    opt = optim.Adam(model.parameters(), lr=0.05)
    x = tg.tensor(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32), device=device)
    labels = np.array([[0], [1], [1], [0]], np.float32)
    y = tg.tensor(labels, device=device)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    predictions = (host(model(x)) > 0).astype(np.float32)
    np.testing.assert_array_equal(predictions, labels)
    assert loss.item() < 0.1
