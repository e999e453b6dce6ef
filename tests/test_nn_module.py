"""nn.Module, nn.Parameter and nn.Sequential behave as PyTorch's do.

Registration order, tree walking, modes, grads, devices, state_dict round trips,
the printed form, Sequential indexing, and two mistakes the from-scratch peers
make: activations kept on the layer object, and shared tensors counted twice.
"""
import numpy as np
import pytest

import tinygan as tg
from tinygan import nn
from tinygan.nn import functional as F

from strategies import host


# --- helpers -------------------------------------------------------------------------

class Net(nn.Module):
    """Parameters, a buffer and submodules interleaved in a known order."""

    def __init__(self):
        super().__init__()
        self.z = nn.Parameter(tg.zeros(2))
        self.enc = nn.Linear(2, 3)
        self.register_buffer("count", tg.zeros(1))
        self.scale = 2.0                                   # a plain attribute: not registered
        self.a = nn.Parameter(tg.ones(1))
        self.dec = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))

    def forward(self, x):
        return self.dec(self.enc(x) * self.scale + self.a) + self.z.sum()


NET_PARAMETERS = ["z", "a", "enc.weight", "enc.bias",
                  "dec.0.weight", "dec.0.bias", "dec.2.weight", "dec.2.bias"]
NET_STATE = ["z", "a", "count", "enc.weight", "enc.bias",
             "dec.0.weight", "dec.0.bias", "dec.2.weight", "dec.2.bias"]


def small_model():
    """Linear -> BatchNorm1d -> LeakyReLU -> Linear: parameters and buffers."""
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.LeakyReLU(0.2), nn.Linear(4, 1))


def batch(device, seed=0, shape=(5, 3)):
    return tg.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32),
                     device=device)


# --- registration order and names ------------------------------------------------------------

def test_named_parameters_follow_definition_order_with_dotted_names(device):
    net = Net().to(device)
    assert [name for name, _ in net.named_parameters()] == NET_PARAMETERS
    assert [name for name, _ in net.named_buffers()] == ["count"]
    params = list(net.parameters())
    assert params[0] is net.z and params[1] is net.a and params[2] is net.enc.weight
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert "scale" not in dict(net.named_parameters()) and net.scale == 2.0


def test_named_parameters_of_a_sequential_use_indices(device):
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).to(device)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias",
                                                        "2.weight", "2.bias"]


def test_reassigning_a_parameter_keeps_its_place(device):
    # PyTorch assigns into the existing slot of _parameters, so the order (and thus the
    # optimizer's state list and the state_dict key order) does not change.
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(tg.zeros(2))
            self.b = nn.Parameter(tg.zeros(2))

    m = Two().to(device)
    new_a = nn.Parameter(tg.ones(2, device=device))
    m.a = new_a
    assert [n for n, _ in m.named_parameters()] == ["a", "b"]
    assert list(m.state_dict()) == ["a", "b"]
    assert m.a is new_a


def test_assigning_a_plain_tensor_to_a_parameter_name_is_an_error(device):
    # The manual-SGD slip `layer.weight = layer.weight - lr * grad`: PyTorch refuses it
    # (TypeError "cannot assign ... as parameter 'weight'"); silently unregistering the
    # weight would leave it out of parameters(), state_dict() and every optimizer.
    layer = nn.Linear(2, 3).to(device)
    with pytest.raises(TypeError, match="weight"):
        layer.weight = layer.weight * 2.0
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]


def test_assignment_before_init_is_a_clear_error():
    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tg.zeros(1))

    with pytest.raises(AttributeError, match="__init__"):
        Forgot()


def test_children_and_modules(device):
    net = Net().to(device)
    assert list(net.children()) == [net.enc, net.dec]
    assert [n for n, _ in net.named_children()] == ["enc", "dec"]
    modules = list(net.modules())
    assert modules == [net, net.enc, net.dec, net.dec[0], net.dec[1], net.dec[2]]
    assert [n for n, _ in net.named_modules()] == ["", "enc", "dec", "dec.0", "dec.1", "dec.2"]


# --- modes and gradients -----------------------------------------------------------------------

def test_train_and_eval_propagate_and_return_self(device):
    net = Net().to(device)
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net
    assert all(m.training for m in net.modules())
    assert net.train(False) is net
    assert not any(m.training for m in net.modules())
    net.dec.train()                                  # a subtree alone
    assert net.dec[0].training and net.dec.training and not net.training and not net.enc.training


def test_zero_grad_on_a_module(device):
    net = Net().to(device)
    net(batch(device, shape=(4, 2))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.device == device
        assert not np.any(host(p.grad))
    net.zero_grad()                                  # PyTorch's default: set_to_none=True
    assert all(p.grad is None for p in net.parameters())


def test_requires_grad_false_freezes_every_parameter(device):
    net = Net().to(device)
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    out = net(batch(device, shape=(4, 2)))
    assert not out.requires_grad
    net.requires_grad_(True)
    assert all(p.requires_grad for p in net.parameters())
    assert net(batch(device, shape=(4, 2))).requires_grad


# --- devices -------------------------------------------------------------------------------------

def test_to_moves_parameters_buffers_and_grads_in_place(device):
    model = small_model()
    model(batch("cpu")).sum().backward()
    params_before = {name: p for name, p in model.named_parameters()}
    buffers_before = {name: b for name, b in model.named_buffers()}
    values = model.state_dict()

    assert model.to(device) is model
    for name, p in model.named_parameters():
        assert p is params_before[name]              # the same Parameter objects
        assert p.device == device and p.grad.device == device
    for name, b in model.named_buffers():
        assert b is buffers_before[name]
        assert b.device == device
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, values[key])
    out = model(batch(device))
    assert out.device == device

    assert model.to("cpu") is model
    assert all(t.device == "cpu" for t in list(model.parameters()) + list(model.buffers()))


def test_to_dtype_casts_floating_tensors_only(device):
    model = small_model().to(device)
    model.to(dtype=tg.float64)
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model[1].running_mean.dtype == np.float64
    assert model[1].num_batches_tracked.dtype.kind == "i"      # the counter stays an int
    out = model(tg.tensor(np.ones((3, 3)), device=device, dtype=tg.float64))
    assert out.dtype == np.float64 and out.device == device


# --- state_dict --------------------------------------------------------------------------------

def test_state_dict_keys_are_pytorch_dotted_names_with_buffers(device):
    net = Net().to(device)
    assert list(net.state_dict()) == NET_STATE
    keys = list(small_model().to(device).state_dict())
    assert keys == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                    "1.running_var", "1.num_batches_tracked", "3.weight", "3.bias"]


def test_state_dict_values_are_host_numpy_copies(device):
    model = small_model().to(device)
    state = model.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    np.testing.assert_array_equal(state["0.weight"], host(model[0].weight))
    np.testing.assert_array_equal(state["1.running_var"], host(model[1].running_var))
    before = host(model[0].weight).copy()
    state["0.weight"][...] = 123.0
    state["1.running_var"][...] = -1.0
    np.testing.assert_array_equal(host(model[0].weight), before)
    np.testing.assert_array_equal(host(model[1].running_var), np.ones(4, np.float32))


def test_load_state_dict_round_trip_gives_identical_outputs(device):
    tg.manual_seed(0)
    source = small_model().to(device)
    for step in range(3):                            # non-trivial running stats
        source(batch(device, seed=step))
    source.eval()
    tg.manual_seed(1)
    target = small_model().to(device).eval()
    x = batch(device, seed=10)
    assert not np.array_equal(host(source(x)), host(target(x)))

    params = list(target.parameters())
    missing, unexpected = target.load_state_dict(source.state_dict())
    assert list(missing) == [] and list(unexpected) == []
    np.testing.assert_array_equal(host(target(x)), host(source(x)))
    assert target[1].num_batches_tracked.item() == 3
    assert all(a is b for a, b in zip(target.parameters(), params))   # loaded in place
    assert all(p.device == device for p in target.parameters())


def test_strict_load_lists_missing_unexpected_and_misshaped_keys(device):
    model = small_model().to(device)
    state = model.state_dict()
    del state["3.bias"]
    state["9.weight"] = np.zeros(2, np.float32)
    state["0.weight"] = np.zeros((5, 3), np.float32)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "3.bias" in message and "missing" in message.lower()
    assert "9.weight" in message and "unexpected" in message.lower()
    assert "0.weight" in message and "(5, 3)" in message and "(4, 3)" in message


def test_non_strict_load_returns_missing_and_unexpected(device):
    source, model = small_model(), small_model().to(device)
    state = source.state_dict()
    del state["3.bias"]
    state["extra.weight"] = np.zeros(2, np.float32)
    bias_before = host(model[3].bias).copy()
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert list(missing) == ["3.bias"] and list(unexpected) == ["extra.weight"]
    np.testing.assert_array_equal(host(model[0].weight), state["0.weight"])
    np.testing.assert_array_equal(host(model[3].bias), bias_before)


# --- printing and Sequential ----------------------------------------------------------------------

def test_repr_like_pytorch():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    assert repr(model) == ("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                           "  (1): ReLU()\n)")
    nested = nn.Sequential(nn.Sequential(nn.Linear(2, 2, bias=False)), nn.LeakyReLU(0.2))
    assert repr(nested) == ("Sequential(\n  (0): Sequential(\n"
                            "    (0): Linear(in_features=2, out_features=2, bias=False)\n  )\n"
                            "  (1): LeakyReLU(negative_slope=0.2)\n)")
    assert repr(nn.BatchNorm1d(3)) == ("BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, "
                                       "track_running_stats=True)")


def test_sequential_indexing_iteration_and_len(device):
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1), nn.Sigmoid()]
    model = nn.Sequential(*layers).to(device)
    assert len(model) == 4
    assert list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[3] and model[-2] is layers[2]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    assert list(model[::2]) == [layers[0], layers[2]]
    with pytest.raises(IndexError):
        model[4]
    x = batch(device, shape=(4, 2))
    np.testing.assert_array_equal(host(model[2:](model[:2](x))), host(model(x)))
    with pytest.raises(TypeError):
        nn.Sequential(nn.Linear(2, 2), lambda x: x)


def test_sequential_setitem_delitem_insert_pop_extend_as_pytorch():
    # A learner swaps a layer in place (``D.disc[0][1] = nn.Identity()``) or deletes one;
    # PyTorch keeps the replaced module's name and renumbers after a deletion.
    torch = pytest.importorskip("torch")

    def build(lib):
        return lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.ReLU(), lib.nn.Linear(3, 1),
                                 lib.nn.Sigmoid())

    import tinygan
    ours, theirs = build(tinygan), build(torch)
    for model, lib in ((ours, tinygan), (theirs, torch)):
        model[1] = lib.nn.Tanh()
        model[-1] = lib.nn.Identity()
        del model[2]
        model.insert(0, lib.nn.Flatten())
        model.extend(lib.nn.Sequential(lib.nn.Linear(3, 2)))
        popped = model.pop(1)
        assert type(popped).__name__ == "Linear"
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["3.weight", "3.bias"]
    del ours[1:3], theirs[1:3]
    assert repr(ours) == repr(theirs)
    for bad in (5, -6):
        with pytest.raises(IndexError, match="out of range"):
            ours[bad] = nn.ReLU()
    with pytest.raises(TypeError, match="Module"):
        ours[0] = lambda x: x
    with pytest.raises(IndexError, match="out of range"):
        ours.insert(7, nn.ReLU())


def test_sequential_slice_keeps_the_original_names():
    # PyTorch's Sequential[slice] keeps the keys of the modules it takes, so a slice's
    # state_dict lines up with the full model's: Sequential(A, B, C)[1:] has "2.weight".
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert list(model[1:].state_dict()) == ["2.weight", "2.bias"]


# --- mistakes the peers make -------------------------------------------------------------------

def test_two_forwards_before_backward_use_each_batch_activations(device):
    """Real then fake through one D, one backward: grads equal the sum of separate passes."""
    tg.manual_seed(0)
    D = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.LeakyReLU(0.2),
                      nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 1)).to(device, tg.float64)
    rng = np.random.default_rng(1)
    real = tg.tensor(rng.standard_normal((6, 3)) + 2.0, device=device)
    fake = tg.tensor(rng.standard_normal((6, 3)) * 3.0 - 1.0, device=device)
    ones = tg.ones(6, 1, dtype=tg.float64, device=device)
    zeros = tg.zeros(6, 1, dtype=tg.float64, device=device)

    def grads():
        return [host(p.grad) for p in D.parameters()]

    pred_real = D(real)
    pred_fake = D(fake)
    (F.binary_cross_entropy_with_logits(pred_real, ones)
     + F.binary_cross_entropy_with_logits(pred_fake, zeros)).backward()
    together = grads()

    D.zero_grad()
    F.binary_cross_entropy_with_logits(D(real), ones).backward()
    real_only = grads()
    D.zero_grad()
    F.binary_cross_entropy_with_logits(D(fake), zeros).backward()
    fake_only = grads()

    for g, r, f in zip(together, real_only, fake_only):
        np.testing.assert_allclose(g, r + f, rtol=1e-12, atol=1e-14)
    assert not np.allclose(real_only[0], fake_only[0])      # the two batches do differ


def test_a_shared_parameter_is_listed_once_and_gets_both_gradients(device):
    first, second = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
    second.weight = first.weight
    model = nn.Sequential(first, nn.Tanh(), second).to(device, tg.float64)
    assert [n for n, _ in model.named_parameters()] == ["0.weight"]
    assert len(list(model.parameters())) == 1

    w = host(first.weight)
    x_host = np.array([[0.3, -0.7], [1.1, 0.2]])
    model(tg.tensor(x_host, device=device)).sum().backward()
    # y = tanh(x Wᵀ) Wᵀ, so dΣy/dW = hᵀ-term + x-term with h = tanh(x Wᵀ)
    h = np.tanh(x_host @ w.T)
    upstream_h = np.ones((2, 2)) @ w * (1 - h * h)
    expected = np.ones((2, 2)).T @ h + upstream_h.T @ x_host
    np.testing.assert_allclose(host(first.weight.grad), expected, rtol=1e-12)


def test_a_shared_module_is_listed_once():
    # PyTorch's modules()/named_modules() skip a module already seen (a memo set).
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, nn.Tanh(), layer)
    assert len(list(model.parameters())) == 2
    assert [type(m).__name__ for m in model.modules()] == ["Sequential", "Linear", "Tanh"]


def test_load_state_dict_takes_device_arrays_too(device):
    # A state dict built from another module's tensors (not its numpy state_dict) may
    # hold device arrays; loading must move them, never np.asarray them.
    source = nn.Linear(3, 2).to(device)
    target = nn.Linear(3, 2)
    target.load_state_dict({name: p.data for name, p in source.named_parameters()})
    assert target.weight.device == "cpu"
    assert np.array_equal(target.weight.detach().numpy(), source.weight.detach().numpy())
