"""Adam's fast path against its plain reference, and the reference against PyTorch.

tinygan/optim/adam.py has two implementations of one formula, chosen by PyTorch's flags:
the fused fast path (the default, also ``fused=True``; ``foreach=True`` lays each group out
flat on the CPU too) and ``_single_tensor_adam``, the reference (``foreach=False`` or
``fused=False``). Here: the flags pick the implementation they name; over several steps the
two agree to rounding (the averages m and v bit for bit where the weight decay does not feed
p back into the gradient); a state_dict saved from one continues on the other exactly as a
switch in place would; and the reference equals torch.optim.Adam and AdamW.
"""
import copy

import numpy as np
import pytest

import tinygan as tg
from tinygan import nn, optim
from tinygan.optim import adam

from strategies import host

CONFIGS = [
    (optim.Adam, dict()),
    (optim.Adam, dict(lr=0.05, betas=(0.5, 0.999))),              # the GAN recipe's betas
    (optim.Adam, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    (optim.Adam, dict(lr=0.01, weight_decay=0.1)),                # L2, into the gradient
    (optim.Adam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    (optim.AdamW, dict()),                                        # decoupled, wd 0.01
    (optim.AdamW, dict(lr=0.05, weight_decay=0.3)),
]
CONFIG_IDS = ["adam", "adam-gan-betas", "adam-eps", "adam-l2", "adam-decoupled", "adamw",
              "adamw-wd"]

FAST = {"default": {}, "fused": dict(fused=True), "foreach": dict(foreach=True)}
REFERENCE = dict(foreach=False)

SHAPES = [(4, 3), (7,), (1,), (40, 30)]
STEPS = 8
SKIPS = {(2, 1)}       # (step, parameter): no gradient then, after the flat buffers are made


def gradients(dtype, seed=0):
    """Per step, one gradient per parameter: mixed magnitudes (1e-3 .. 1e2), both signs, an
    element that is always 0 (v stays 0: the update is 0/eps)."""
    rng = np.random.default_rng(seed)
    steps = []
    for _ in range(STEPS):
        grads = [rng.standard_normal(s) * 10.0 ** rng.integers(-3, 3, s) for s in SHAPES]
        grads[0][0, 0] = 0.0
        steps.append([g.astype(dtype) for g in grads])
    return steps


def set_grad(p, g):
    if g.ndim == 2:      # column-major, as x @ W.T leaves a Linear weight's gradient
        p.grad = tg.tensor(np.ascontiguousarray(g.T), device=p.device, dtype=p.dtype).T
        assert p.grad._data.flags.f_contiguous
    else:
        p.grad = tg.tensor(g, device=p.device, dtype=p.dtype)


def train(make, config, flags, device, dtype):
    """The parameters and make(params, **config, **flags) after STEPS steps on
    gradients(dtype)."""
    rng = np.random.default_rng(1)
    params = [nn.Parameter(tg.tensor(rng.standard_normal(s), device=device, dtype=dtype))
              for s in SHAPES]
    opt = make(params, **config, **flags)
    for t, grads in enumerate(gradients(dtype)):
        opt.zero_grad()
        for i, (p, g) in enumerate(zip(params, grads)):
            if (t, i) not in SKIPS:
                set_grad(p, g)
        opt.step()
    return params, opt


def assert_rounding_close(actual, expected, what, ulps=4):
    """|actual - expected| <= ulps · eps · max|expected|: rounding at the array's scale (an
    element near 0 has moved by lr-sized steps, whose rounding is not its own ulp's)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, what
    atol = ulps * np.finfo(expected.dtype).eps * np.abs(expected).max()
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, err_msg=what)


def bit_for_bit(device, cuda_kind):
    """The two paths run the same float ops on the CPU and on the stand-in; cupy.fuse's kernel
    may contract a multiply and an add into one fma, rounded once."""
    return device == "cpu" or cuda_kind != "cupy"


# --- the flags ------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, reference, flat_on_cpu", [
    (dict(), False, False),
    (dict(fused=True), False, False),
    (dict(foreach=True), False, True),
    (dict(foreach=False), True, False),
    (dict(fused=False), True, False),
    (dict(foreach=False, fused=True), False, False),      # PyTorch: fused wins
    (dict(foreach=True, fused=False), False, True),
], ids=str)
def test_the_flags_choose_the_implementation(device, monkeypatch, flags, reference, flat_on_cpu):
    calls = []
    plain = adam._single_tensor_adam
    monkeypatch.setattr(adam, "_single_tensor_adam",
                        lambda *args, **kwargs: calls.append(1) or plain(*args, **kwargs))
    a = nn.Parameter(tg.tensor([1.0, 2.0], device=device))
    b = nn.Parameter(tg.tensor([3.0], device=device))
    opt = optim.Adam([a, b], lr=0.1, **flags)
    for _ in range(2):
        a.grad, b.grad = tg.ones_like(a), tg.ones_like(b)
        opt.step()
    assert len(calls) == (4 if reference else 0)
    laid_out_flat = a._data.base is not None and b._data.base is not None
    assert laid_out_flat == (not reference and (flat_on_cpu or device != "cpu"))
    np.testing.assert_allclose(host(a), [0.8, 1.8], rtol=1e-6)


@pytest.mark.parametrize("make", [optim.Adam, optim.AdamW])
def test_foreach_and_fused_both_true_is_an_error(device, make):
    p = nn.Parameter(tg.tensor([1.0], device=device))
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
        make([p], foreach=True, fused=True)
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        make([{"params": [p], "foreach": True}], fused=True)
    opt = make([p])
    opt.param_groups[0].update(foreach=True, fused=True)
    p.grad = tg.ones_like(p)
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        opt.step()


def test_the_flags_are_per_group_and_saved_with_it(device, monkeypatch):
    calls = []
    plain = adam._single_tensor_adam
    monkeypatch.setattr(adam, "_single_tensor_adam", lambda *args, **kwargs:
                        calls.append(args[0].shape) or plain(*args, **kwargs))
    a = nn.Parameter(tg.tensor([1.0, 2.0], device=device))
    b = nn.Parameter(tg.tensor([3.0], device=device))
    opt = optim.Adam([{"params": [a], "foreach": False}, {"params": [b]}], lr=0.1)
    a.grad, b.grad = tg.ones_like(a), tg.ones_like(b)
    opt.step()
    assert calls == [(2,)]                                  # a by the reference, b not
    groups = opt.state_dict()["param_groups"]
    assert [(g["foreach"], g["fused"]) for g in groups] == [(False, None), (None, None)]
    assert "foreach: False" in repr(opt)


# --- the fast path equals the reference -------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("fast", list(FAST))
@pytest.mark.parametrize("make, config", CONFIGS, ids=CONFIG_IDS)
def test_the_fast_path_equals_the_reference(device, cuda_kind, monkeypatch, make, config,
                                            fast, dtype):
    # Blocks of 64 elements: the 40x30 parameter runs through the CPU's blocked update in
    # 19 blocks, the last one partial.
    monkeypatch.setattr(adam, "CPU_BLOCK", 64)
    fast_params, fast_opt = train(make, config, FAST[fast], device, dtype)
    ref_params, ref_opt = train(make, config, REFERENCE, device, dtype)
    # m and v see p only through Adam's L2 decay, which adds λ·p to the gradient
    l2 = config.get("weight_decay", 0) and make is optim.Adam and \
        not config.get("decoupled_weight_decay")
    exact = bit_for_bit(device, cuda_kind) and not l2
    fast_state, ref_state = fast_opt.state_dict()["state"], ref_opt.state_dict()["state"]
    assert fast_state.keys() == ref_state.keys() == set(range(len(SHAPES)))
    for i, (p, q) in enumerate(zip(fast_params, ref_params)):
        assert p.dtype == q.dtype == dtype
        assert_rounding_close(host(p), host(q), f"parameter {i}")
        f, r = fast_state[i], ref_state[i]
        assert f.keys() == r.keys() == {"step", "exp_avg", "exp_avg_sq"}
        assert f["step"] == r["step"] == STEPS - sum(j == i for _, j in SKIPS)
        for key in ("exp_avg", "exp_avg_sq"):
            if exact:
                np.testing.assert_array_equal(f[key], r[key], err_msg=f"{key} of {i}")
            else:
                assert_rounding_close(f[key], r[key], f"{key} of {i}")


@pytest.mark.parametrize("flags", [dict(), dict(foreach=True), dict(foreach=False)], ids=str)
def test_a_parameter_that_misses_a_step_keeps_its_own_bias_correction(device, flags):
    # b has no gradient at the second step, after the group was laid out flat (on a GPU, or
    # with foreach=True): its next update is its second, with 1-β^2, not the group's 1-β^3.
    a = nn.Parameter(tg.tensor([1.0], device=device, dtype=tg.float64))
    b = nn.Parameter(tg.tensor([1.0], device=device, dtype=tg.float64))
    opt = optim.Adam([a, b], lr=0.1, **flags)
    for b_has_grad in (True, False, True):
        opt.zero_grad()
        a.grad = tg.ones_like(a)
        if b_has_grad:
            b.grad = tg.ones_like(b)
        opt.step()
    # two steps on g = 1: m̂ = v̂ = 1, so each moves b by lr/(1 + eps)
    np.testing.assert_allclose(host(b), [1.0 - 2 * 0.1 / (1 + 1e-8)], rtol=1e-15)
    np.testing.assert_allclose(host(a), [1.0 - 3 * 0.1 / (1 + 1e-8)], rtol=1e-15)
    assert [s["step"] for s in opt.state] == [3, 2]


def test_both_false_flags_are_one_reference(device):
    # foreach=False and fused=False are two spellings of PyTorch's for-loop: one path here.
    (a, _), (b, _) = (train(optim.Adam, {}, flags, device, np.float32)
                      for flags in (dict(foreach=False), dict(fused=False)))
    for p, q in zip(a, b):
        np.testing.assert_array_equal(host(p), host(q))


def test_the_reference_computes_one_minus_beta2_in_double_precision(device):
    # After one step v = (1-β2)·g² with (1-β2) = 0.001 rounded once to float32, never
    # float32's 1 - 0.999 (0.0009999871, 1.3e-5 off).
    g = np.array([3.0, -0.5, 1e-3], np.float32)
    p = nn.Parameter(tg.tensor([1.0, 1.0, 1.0], device=device))
    opt = optim.Adam([p], foreach=False)
    p.grad = tg.tensor(g, device=device)
    opt.step()
    v = opt.state_dict()["state"][0]["exp_avg_sq"]
    np.testing.assert_array_equal(v, np.float32(0.001) * (g * g))
    assert not np.array_equal(v, (np.float32(1) - np.float32(0.999)) * (g * g))


# --- state moves between the paths --------------------------------------------------------------

def tiny_model(device):
    # no BatchNorm after a biased Linear: that bias's gradient is rounding noise, which Adam
    # scales up to ±lr, so two paths that round differently would part by lr, not by rounding
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to(device)


def train_step(model, opt, x, y):
    opt.zero_grad()
    nn.BCEWithLogitsLoss()(model(x), y).backward()
    opt.step()


@pytest.mark.parametrize("saved_on, loaded_on", [
    ("default", "reference"), ("reference", "default"),
    ("foreach", "reference"), ("reference", "foreach"), ("fused", "foreach"),
])
@pytest.mark.parametrize("make", [lambda ps, **f: optim.Adam(ps, lr=0.05, betas=(0.5, 0.999),
                                                             weight_decay=0.01, **f),
                                  lambda ps, **f: optim.AdamW(ps, lr=0.05, **f)],
                         ids=["adam-l2", "adamw"])
def test_a_state_dict_from_one_path_continues_on_the_other(device, make, saved_on, loaded_on):
    flags = {**FAST, "reference": REFERENCE}
    on = {name: {"foreach": None, "fused": None, **f} for name, f in flags.items()}
    rng = np.random.default_rng(6)
    batches = [(tg.tensor(rng.standard_normal((6, 3)).astype(np.float32), device=device),
                tg.tensor(rng.integers(0, 2, (6, 1)).astype(np.float32), device=device))
               for _ in range(6)]
    tg.manual_seed(0)
    model = tiny_model(device)
    opt = make(model.parameters(), **flags[saved_on])
    for x, y in batches[:3]:
        train_step(model, opt, x, y)
    saved = copy.deepcopy((model.state_dict(), opt.state_dict()))

    # the same optimizer switched to the other path in place: what loading must reproduce
    opt.param_groups[0].update(on[loaded_on])
    for x, y in batches[3:]:
        train_step(model, opt, x, y)

    tg.manual_seed(1)
    restored = tiny_model(device)
    restored_opt = make(restored.parameters(), **flags[loaded_on])
    restored.load_state_dict(saved[0])
    restored_opt.load_state_dict(saved[1])
    group = restored_opt.param_groups[0]
    assert {k: group[k] for k in ("foreach", "fused")} == on[saved_on]   # PyTorch: they travel
    group.update(on[loaded_on])
    for x, y in batches[3:]:
        train_step(restored, restored_opt, x, y)

    for (name, a), b in zip(model.state_dict().items(), restored.state_dict().values()):
        np.testing.assert_array_equal(b, a, err_msg=name)
    ours, theirs = opt.state_dict(), restored_opt.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    for index, state in ours["state"].items():
        assert state.keys() == theirs["state"][index].keys()
        for key, value in state.items():
            np.testing.assert_array_equal(theirs["state"][index][key], value,
                                          err_msg=f"{index}.{key}")

    # and both are where six steps on the first path lead, but for rounding (which three
    # steps carry through the loss's gradients: a few ulp more than one update)
    tg.manual_seed(0)
    stayed = tiny_model(device)
    stayed_opt = make(stayed.parameters(), **flags[saved_on])
    for x, y in batches:
        train_step(stayed, stayed_opt, x, y)
    for (name, a), b in zip(stayed.state_dict().items(), restored.state_dict().values()):
        assert_rounding_close(b, a, name, ulps=8)
    for index, state in stayed_opt.state_dict()["state"].items():
        assert state["step"] == theirs["state"][index]["step"] == 6
        for key in ("exp_avg", "exp_avg_sq"):
            assert_rounding_close(theirs["state"][index][key], state[key], f"{index}.{key}",
                                  ulps=8)


# --- the reference against PyTorch ------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("make, config", CONFIGS, ids=CONFIG_IDS)
def test_the_reference_matches_pytorch(device, make, config, dtype):
    # PyTorch's for-loop (foreach=False). Its m is a lerp, m + (1-β1)·(g - m), which rounds
    # unlike β1·m + (1-β1)·g: the two stay within a couple of eps at the array's scale.
    torch = pytest.importorskip("torch")
    params, opt = train(make, config, REFERENCE, device, dtype)
    rng = np.random.default_rng(1)
    theirs = [torch.nn.Parameter(torch.tensor(rng.standard_normal(s).astype(dtype)))
              for s in SHAPES]
    torch_opt = getattr(torch.optim, make.__name__)(theirs, **config, foreach=False)
    for t, grads in enumerate(gradients(dtype)):
        torch_opt.zero_grad()
        for i, (p, g) in enumerate(zip(theirs, grads)):
            if (t, i) not in SKIPS:
                p.grad = torch.tensor(g)
        torch_opt.step()
    state = opt.state_dict()["state"]
    for i, (p, q) in enumerate(zip(params, theirs)):
        assert_rounding_close(host(p), q.detach().numpy(), f"parameter {i}")
        expected = torch_opt.state[q]
        assert state[i]["step"] == int(expected["step"])
        for key in ("exp_avg", "exp_avg_sq"):
            assert_rounding_close(state[i][key], expected[key].numpy(), f"{key} of {i}")
