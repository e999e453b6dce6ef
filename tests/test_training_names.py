"""The PyTorch training-side names: nn.ModuleList, nn.utils.clip_grad_norm_ and
clip_grad_value_, optim.AdamW, Adam's argument checks, optim.lr_scheduler, inference_mode,
set_grad_enabled in its three forms, and tg.cuda.

Values are checked against formulas here; where PyTorch is installed, against PyTorch too.
"""
import math

import numpy as np
import pytest

import tinygan as tg
from tinygan import nn, optim
from tinygan.optim import lr_scheduler


def param(values, device, dtype=tg.float64):
    return nn.Parameter(tg.tensor(np.asarray(values), device=device, dtype=dtype))


def set_grad(p, g):
    p.grad = tg.tensor(np.asarray(g), device=p.device, dtype=p.dtype)


# --- nn.ModuleList ------------------------------------------------------------------------

def test_module_list_registers_indexes_and_counts(device):
    layers = nn.ModuleList([nn.Linear(2, 3), nn.ReLU()]).to(device)
    layers.append(nn.Linear(3, 1).to(device))
    layers.extend([nn.Tanh()])
    assert len(layers) == 4
    assert [type(m).__name__ for m in layers] == ["Linear", "ReLU", "Linear", "Tanh"]
    assert layers[-1] is layers[3] and layers[-4] is layers[0]
    assert len(list(layers.parameters())) == 4                      # two Linears
    assert list(layers.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    part = layers[1:3]
    assert isinstance(part, nn.ModuleList) and part[0] is layers[1] and part[1] is layers[2]
    assert list(part.state_dict()) == ["1.weight", "1.bias"]        # renumbered from 0
    with pytest.raises(IndexError, match="out of range"):
        layers[4]
    with pytest.raises(IndexError):
        layers[-5]


def test_module_list_insert_renumbers_and_delete_too():
    a, b, c = nn.Linear(1, 1), nn.Linear(1, 2), nn.Linear(2, 2)
    layers = nn.ModuleList([a, c])
    layers.insert(1, b)
    assert list(layers) == [a, b, c]
    assert list(layers.state_dict())[2:4] == ["1.weight", "1.bias"]
    del layers[0]
    assert list(layers) == [b, c] and list(layers._modules) == ["0", "1"]
    assert layers.pop() is c and list(layers) == [b]


def test_module_list_inside_a_module_trains(device):
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(nn.Linear(3, 3) for _ in range(2))

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    model = Stack().to(device)
    assert list(model.state_dict()) == ["blocks.0.weight", "blocks.0.bias",
                                        "blocks.1.weight", "blocks.1.bias"]
    model(tg.randn(4, 3, device=device)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_module_list_refuses_what_is_not_a_module():
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        nn.ModuleList([nn.ReLU(), 3])
    with pytest.raises(TypeError, match="iterable"):
        nn.ModuleList().extend(nn.ReLU())
    with pytest.raises(TypeError, match="integers or slices"):
        nn.ModuleList([nn.ReLU()])["0"]


def test_module_list_matches_pytorch_keys_and_repr():
    torch = pytest.importorskip("torch")
    ours = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)])
    theirs = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2),
                                  torch.nn.ReLU(), torch.nn.Linear(2, 1)])
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())
    assert list(ours[1:].state_dict()) == list(theirs[1:].state_dict())


# --- clipping -----------------------------------------------------------------------------

def test_clip_grad_norm_scales_all_gradients_together(device):
    a, b = param([0.0, 0.0], device), param([0.0], device)
    set_grad(a, [3.0, 0.0])
    set_grad(b, [4.0])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=2.5)
    assert isinstance(total, tg.Tensor) and total.device == device and total.shape == ()
    assert total.item() == pytest.approx(5.0, abs=1e-12)
    factor = 2.5 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [3 * factor, 0.0], rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), [4 * factor], rtol=1e-12)


def test_clip_grad_norm_leaves_small_gradients_and_skips_missing_ones(device):
    a, b = param([1.0, 2.0], device), param([1.0], device)
    set_grad(a, [0.3, -0.4])
    total = nn.utils.clip_grad_norm_(iter([a, b]), max_norm=1.0)   # b has no grad
    assert total.item() == pytest.approx(0.5, abs=1e-12)
    np.testing.assert_array_equal(a.grad.numpy(), [0.3, -0.4])     # factor clamped at 1
    assert b.grad is None
    assert nn.utils.clip_grad_norm_(b, 1.0).item() == 0.0          # a single tensor; no grads


@pytest.mark.parametrize("norm_type, expected", [(1, 7.0), (2, 5.0), (3, (27 + 64) ** (1 / 3)),
                                                 (math.inf, 4.0), ("inf", 4.0)])
def test_clip_grad_norm_types(device, norm_type, expected):
    a, b = param([0.0], device), param([0.0], device)
    set_grad(a, [-3.0])
    set_grad(b, [4.0])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=100.0, norm_type=norm_type)
    assert total.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")  # inf * 0
def test_clip_grad_norm_nonfinite(device):
    a = param([0.0, 0.0], device)
    set_grad(a, [math.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    assert math.isinf(nn.utils.clip_grad_norm_([a], 1.0).item())   # scaled by 0, as PyTorch
    with pytest.raises(ValueError, match="norm_type"):
        nn.utils.clip_grad_norm_([a], 1.0, norm_type=0)


def test_clip_grad_norm_copies_nothing_to_the_host(device, cuda_kind):
    if device == "cpu" or cuda_kind != "stand-in":
        pytest.skip("transfers are counted by the CuPy stand-in on 'cuda'")
    import cupy_standin
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).to(device)
    model(tg.randn(5, 4, device=device)).sum().backward()
    with cupy_standin.transfers.forbid():
        total = nn.utils.clip_grad_norm_(model.parameters(), 0.01)
        nn.utils.clip_grad_value_(model.parameters(), 0.001)
    assert total.device == "cuda"


def test_clip_grad_value(device):
    a = param([0.0, 0.0, 0.0], device)
    set_grad(a, [-2.0, 0.5, 3.0])
    assert nn.utils.clip_grad_value_([a], 1.0) is None
    np.testing.assert_array_equal(a.grad.numpy(), [-1.0, 0.5, 1.0])


def test_clip_grad_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (4,), (2, 2))]
    for norm_type in (2.0, 1.0, 3.5, math.inf):
        for max_norm in (0.1, 1e3):
            ours = [nn.Parameter(tg.zeros(*g.shape)) for g in grads]
            theirs = [torch.zeros(g.shape, requires_grad=True) for g in grads]
            for p, q, g in zip(ours, theirs, grads):
                p.grad, q.grad = tg.tensor(g), torch.tensor(g)
            total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
            expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
            np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-6)
            for p, q in zip(ours, theirs):
                np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7)


# --- Adam's checks, AdamW ------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1), "Invalid learning rate: -1"),
    (dict(lr=-1, betas=(2.0, 0.999)), "Invalid learning rate: -1"),     # lr is checked first
    (dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (dict(weight_decay=-0.5), "Invalid weight_decay value: -0.5"),
])
@pytest.mark.parametrize("kind", ["Adam", "AdamW"])
def test_adam_names_the_bad_hyper_parameter(kind, kwargs, message):
    with pytest.raises(ValueError) as info:
        getattr(optim, kind)([param([1.0], "cpu")], **kwargs)
    assert str(info.value) == message


def test_adam_messages_are_pytorchs():
    torch = pytest.importorskip("torch")
    for kwargs in (dict(lr=-1), dict(eps=-1.0), dict(betas=(1.0, 0.5)), dict(betas=(0.5, 1.0)),
                   dict(weight_decay=-1.0)):
        for ours, theirs in ((optim.Adam, torch.optim.Adam), (optim.AdamW, torch.optim.AdamW),
                             (optim.SGD, torch.optim.SGD)):
            if ours is optim.SGD and set(kwargs) - {"lr", "weight_decay"}:
                continue
            with pytest.raises(ValueError) as mine:
                ours([param([1.0], "cpu")], **kwargs)
            with pytest.raises(ValueError) as reference:
                theirs([torch.zeros(1, requires_grad=True)], **kwargs)
            assert str(mine.value) == str(reference.value)


def adamw_reference(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    beta1, beta2 = betas
    p = np.array(p, dtype=np.float64)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        p = p * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return p


def test_adamw_is_decoupled_weight_decay(device):
    rng = np.random.default_rng(1)
    start = rng.standard_normal(6)
    grads = [rng.standard_normal(6) for _ in range(5)]
    p = param(start, device)
    opt = optim.AdamW([p], lr=0.05, weight_decay=0.3)
    assert opt.defaults["weight_decay"] == 0.3 and optim.AdamW([p]).defaults["weight_decay"] == 0.01
    for g in grads:
        set_grad(p, g)
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), adamw_reference(start, grads, lr=0.05,
                                                          weight_decay=0.3), rtol=1e-12)
    adam = param(start, device)                   # Adam's L2 decay is a different update
    opt = optim.Adam([adam], lr=0.05, weight_decay=0.3)
    for g in grads:
        set_grad(adam, g)
        opt.step()
    assert np.abs(adam.detach().numpy() - p.detach().numpy()).max() > 1e-4


def test_adamw_state_dict_round_trip(device):
    p = param([1.0, 2.0], device)
    opt = optim.AdamW([p], lr=0.1)
    set_grad(p, [0.5, -0.5])
    opt.step()
    fresh = optim.AdamW([param([1.0, 2.0], device)], lr=0.5)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.param_groups[0]["lr"] == 0.1
    assert fresh.param_groups[0]["decoupled_weight_decay"] is True
    assert fresh.state[0]["step"] == 1


def test_an_adam_state_dict_without_the_decoupled_flag_still_loads():
    p = param([1.0], "cpu")
    saved = optim.Adam([p], lr=0.2).state_dict()
    del saved["param_groups"][0]["decoupled_weight_decay"]       # as 0.2.0 wrote it
    opt = optim.Adam([param([1.0], "cpu")])
    opt.load_state_dict(saved)
    assert opt.param_groups[0]["lr"] == 0.2
    assert opt.param_groups[0]["decoupled_weight_decay"] is False


@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-6), ("float64", 1e-12)])
def test_adamw_matches_pytorch(dtype, rtol):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    start = rng.standard_normal((3, 4)).astype(dtype)
    ours = nn.Parameter(tg.tensor(start))
    theirs = torch.tensor(start, requires_grad=True)
    opt = optim.AdamW([ours], lr=0.01, betas=(0.5, 0.99), weight_decay=0.1)
    ref = torch.optim.AdamW([theirs], lr=0.01, betas=(0.5, 0.99), weight_decay=0.1)
    for _ in range(10):
        g = (rng.standard_normal((3, 4)) * 10.0 ** rng.integers(-3, 3, (3, 4))).astype(dtype)
        ours.grad, theirs.grad = tg.tensor(g), torch.tensor(g)
        opt.step()
        ref.step()
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=rtol)


# --- learning-rate schedules ---------------------------------------------------------------

def make_opt(lr=0.1, groups=1):
    params = [{"params": [param([1.0], "cpu")], "lr": lr * (i + 1)} for i in range(groups)]
    return optim.SGD(params, lr=lr)


def rates(schedule, epochs):
    seen = []
    for _ in range(epochs):
        schedule.optimizer.step()
        schedule.step()
        seen.append(schedule.get_last_lr())
    return seen


def test_step_lr():
    opt = make_opt(0.1)
    schedule = lr_scheduler.StepLR(opt, step_size=3)             # gamma 0.1 by default
    assert schedule.last_epoch == 0 and schedule.get_last_lr() == [0.1]
    assert opt.param_groups[0]["initial_lr"] == 0.1
    seen = [r[0] for r in rates(schedule, 7)]
    np.testing.assert_allclose(seen, [0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001], rtol=1e-12)
    assert schedule.last_epoch == 7 and opt.param_groups[0]["lr"] == seen[-1]


def test_exponential_and_lambda_lr_per_group():
    opt = make_opt(1.0, groups=2)
    schedule = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    assert rates(schedule, 3) == [[0.5, 1.0], [0.25, 0.5], [0.125, 0.25]]
    opt = make_opt(1.0, groups=2)
    schedule = lr_scheduler.LambdaLR(opt, [lambda e: 1 / (e + 1), lambda e: e])
    assert schedule.get_last_lr() == [1.0, 0.0]
    assert rates(schedule, 2) == [[0.5, 2.0], [1 / 3, 4.0]]
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])


def test_scheduler_state_dict_resumes():
    opt = make_opt(0.1)
    schedule = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    rates(schedule, 3)
    saved_opt, saved = opt.state_dict(), schedule.state_dict()
    assert saved["last_epoch"] == 3 and "optimizer" not in saved
    later = rates(schedule, 3)

    opt2 = make_opt(0.1)
    opt2.load_state_dict(saved_opt)
    schedule2 = lr_scheduler.StepLR(opt2, step_size=7)
    schedule2.load_state_dict(saved)
    assert schedule2.step_size == 2 and schedule2.last_epoch == 3
    assert rates(schedule2, 3) == later


def test_scheduler_checks_its_arguments():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR("sgd", 2)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(make_opt(), 2, last_epoch=4)


def test_lambda_lr_saves_no_function():
    class Warmup:
        def __init__(self):
            self.length = 4

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.length)

    warmup = Warmup()
    schedule = lr_scheduler.LambdaLR(make_opt(), [warmup])
    warmup.length = 10
    saved = schedule.state_dict()
    assert saved["lr_lambdas"] == [{"length": 10}]
    lambda_saved = lr_scheduler.LambdaLR(make_opt(), lambda e: 1.0).state_dict()
    assert lambda_saved["lr_lambdas"] == [None]
    warmup.length = 2
    schedule.load_state_dict(saved)
    assert warmup.length == 10


@pytest.mark.parametrize("name, kwargs", [("StepLR", dict(step_size=3, gamma=0.3)),
                                          ("ExponentialLR", dict(gamma=0.9)),
                                          ("LambdaLR", dict(lr_lambda=lambda e: 0.95 ** e))])
def test_schedules_match_pytorch(name, kwargs):
    torch = pytest.importorskip("torch")
    opt = optim.SGD([{"params": [param([1.0], "cpu")]},
                     {"params": [param([1.0], "cpu")], "lr": 0.02}], lr=0.1)
    ref = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)]},
                           {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.02}], lr=0.1)
    ours = getattr(lr_scheduler, name)(opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(ref, **kwargs)
    for _ in range(8):
        assert ours.last_epoch == theirs.last_epoch
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
        opt.step()
        ref.step()
        ours.step()
        theirs.step()
    saved = theirs.state_dict()
    assert {k: v for k, v in ours.state_dict().items() if k in saved and k != "lr_lambdas"} == \
        {k: v for k, v in saved.items() if k in ours.state_dict() and k != "lr_lambdas"}


# --- grad modes ------------------------------------------------------------------------------

def test_inference_mode_as_context_and_decorator(device):
    x = tg.ones(2, device=device, requires_grad=True)
    with tg.inference_mode():
        y = x * 2
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @tg.inference_mode()
    def twice(t):
        return t * 2

    @tg.inference_mode
    def thrice(t):
        return t * 3

    assert not twice(x).requires_grad and not thrice(x).requires_grad
    assert tg.is_grad_enabled()
    with tg.no_grad(), tg.inference_mode(False):
        assert tg.is_grad_enabled() and (x * 2).requires_grad       # PyTorch's, too
    assert tg.is_grad_enabled()


def test_inference_mode_restores_the_mode_after_an_error():
    with pytest.raises(ZeroDivisionError):
        with tg.inference_mode():
            1 / 0
    assert tg.is_grad_enabled()


def test_set_grad_enabled_in_its_three_forms(device):
    x = tg.ones(2, device=device, requires_grad=True)
    with tg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert tg.is_grad_enabled()

    @tg.set_grad_enabled(False)
    def no_record(t):
        return t * 2

    assert tg.is_grad_enabled()                   # building the decorator changed nothing
    assert not no_record(x).requires_grad and tg.is_grad_enabled()

    try:
        tg.set_grad_enabled(False)                # a plain call sets the mode
        assert not tg.is_grad_enabled() and not (x * 2).requires_grad
        tg.set_grad_enabled(True)
        assert tg.is_grad_enabled() and (x * 2).requires_grad
    finally:
        tg.set_grad_enabled(True)
    with tg.no_grad():
        with tg.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not tg.is_grad_enabled()


# --- tg.cuda --------------------------------------------------------------------------------

def test_cuda_module_answers_like_the_backend(cuda_kind):
    assert tg.cuda.is_available() is tg.backend.cuda_available() is tg.cuda_is_available()
    assert tg.cuda.device_count() == (1 if tg.cuda.is_available() else 0)
    assert tg.cuda.is_available()                 # the suite always has a "cuda" (or stand-in)


def test_cuda_unavailable_is_false_and_zero(monkeypatch):
    for name in ("_cuda_module", "_cuda_reason", "_cuda_probed"):
        monkeypatch.setattr(tg.backend, name, getattr(tg.backend, name))
    tg.backend._cuda_module, tg.backend._cuda_reason, tg.backend._cuda_probed = \
        None, "no device (test)", True
    assert tg.cuda.is_available() is False and tg.cuda.device_count() == 0
