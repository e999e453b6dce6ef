"""The tensor names the course's notebooks use, with PyTorch's meaning (issue 25): ``.data`` as a
Tensor outside autograd, ``np.asarray(t)``, ``torch.Tensor(3, 4)``, devices, the dtype
aliases and ``Variable``. Each is checked against what PyTorch does, by hand and, where
torch is installed, side by side."""
import numpy as np
import pytest

import tinygan as tg
from tinygan import nn


def test_data_is_a_tensor_sharing_memory_outside_autograd(device):
    w = tg.zeros(3, device=device, requires_grad=True)
    data = w.data
    assert isinstance(data, tg.Tensor) and not data.requires_grad and data.grad_fn is None
    data.fill_(0.5)                                  # the course's w.data.fill_(0.5)
    assert w.tolist() == [0.5] * 3 and w.requires_grad
    saved = w.data.clone()                           # a copy, not a view
    w.data.mul_(2)
    assert saved.tolist() == [0.5] * 3 and w.tolist() == [1.0] * 3


def test_a_write_through_data_is_not_seen_by_autograd(device):
    # PyTorch: .data has its own version counter, so a graph that saved w does not notice
    w = tg.ones(2, device=device, requires_grad=True)
    loss = (w * w).sum()
    w.data.mul_(3)
    loss.backward()                                  # no error, as in PyTorch
    assert w.grad.tolist() == [6.0, 6.0]             # 2·w with w as it is now


def test_assigning_data_takes_the_other_tensors_memory(device):
    layer = nn.Linear(4, 1, bias=False).to(device)
    layer.weight.data = tg.ones_like(layer.weight.data) * 0.5     # the week-1 test cell
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.requires_grad
    assert layer.weight.tolist() == [[0.5] * 4]
    out = layer(tg.ones(2, 4, device=device)).sum()
    out.backward()
    assert layer.weight.grad.tolist() == [[2.0] * 4]
    noise = tg.randn(3, 2, device=device, requires_grad=True)
    updated = noise + 1.0
    noise.data = updated                             # week 4's noise.data = updated_noise
    assert noise.requires_grad and noise.grad_fn is None
    np.testing.assert_array_equal(noise.detach().cpu().numpy(), updated.detach().cpu().numpy())
    with pytest.raises(TypeError, match="Tensor.data must be set to a Tensor"):
        noise.data = [1.0, 2.0]


def test_data_of_a_parameter_is_a_plain_tensor_and_moves_to_the_host(device):
    p = nn.Parameter(tg.ones(2, device=device))
    assert type(p.data) is tg.Tensor
    assert p.data.cpu().device == "cpu" and p.data.cpu().tolist() == [1.0, 1.0]


def test_numpy_asarray_converts_a_cpu_tensor_as_pytorch_does():
    t = tg.arange(6.0).reshape(2, 3)
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 3)
    a[0, 0] = 9.0                                    # shares memory, as torch's __array__
    assert t[0, 0].item() == 9.0
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(RuntimeError, match="requires grad.*detach"):
        np.asarray(tg.ones(2, requires_grad=True))


def test_numpy_asarray_refuses_a_cuda_tensor_with_the_way_out():
    with pytest.raises(TypeError, match=r"cuda.*Tensor\.cpu\(\)"):
        np.asarray(tg.ones(2, device="cuda"))


def test_imshow_of_a_tensor_draws_its_values(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    image = tg.rand(4, 5)
    drawn = plt.imshow(image)
    assert np.array_equal(np.asarray(drawn.get_array()), image.numpy())
    plt.close("all")


def test_tensor_with_sizes_is_uninitialised_float32():
    t = tg.Tensor(3, 4)
    assert t.shape == (3, 4) and t.dtype == tg.float32 and not t.requires_grad
    assert tg.Tensor().shape == (0,) and tg.Tensor(5).shape == (5,)
    assert tg.Tensor([1, 2]).tolist() == [1.0, 2.0]          # data, not sizes
    with pytest.raises(TypeError, match="integer sizes"):
        tg.Tensor(3, 4.0)


def test_devices_as_pytorch_names_them(device):
    t = tg.ones(1, device=device)
    assert t.device.type == device and str(t.device).startswith(device)
    assert t.is_cuda == (device == "cuda")
    assert repr(tg.device("cpu")) == "device(type='cpu')"
    assert repr(tg.device("cuda", 0)) == "device(type='cuda', index=0)"
    assert tg.zeros(1, device=tg.device(device)).device == device
    with pytest.raises(ValueError, match="unknown device"):
        tg.device("tpu")


def test_dtype_aliases_are_pytorchs():
    assert (tg.float, tg.double, tg.half, tg.long, tg.int, tg.bool) == (
        tg.float32, tg.float64, tg.float16, tg.int64, tg.int32, tg.bool_)
    assert tg.zeros(2, dtype=tg.long).dtype == tg.int64
    assert tg.ones(2).to(tg.double).dtype == tg.float64


def test_variable_returns_the_tensor_itself():
    from tinygan.autograd.variable import Variable
    x = tg.ones(2)
    assert Variable(x) is x and not x.requires_grad
    assert Variable(x, requires_grad=True) is x and x.requires_grad
    assert tg.autograd.Variable is Variable
    with pytest.raises(TypeError, match="has to be a tensor"):
        Variable(np.ones(2))


def test_the_names_match_pytorch_side_by_side():
    torch = pytest.importorskip("torch")
    t, w = tg.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    for x in (t, w):
        x.data.fill_(0.25)
    assert t.tolist() == w.tolist()
    assert type(t.data).__name__ == type(w.data).__name__ == "Tensor"
    assert t.data.requires_grad == w.data.requires_grad is False
    assert tg.Tensor(3, 4).shape == tuple(torch.Tensor(3, 4).shape)
    assert repr(tg.device("cpu")) == repr(torch.device("cpu"))
    assert repr(tg.device("cuda:0")) == repr(torch.device("cuda:0"))
    assert str(tg.float) == str(torch.float).replace("torch.", "")


@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a / b,
                                lambda a, b: a - b, lambda a, b: a == b, lambda a, b: a < b])
def test_shapes_that_do_not_broadcast_get_pytorchs_error(device, op):
    a, b = tg.ones(9, 2, device=device), tg.ones(9, 6, device=device)
    with pytest.raises(RuntimeError, match=r"size of tensor a \(2\) must match the size of "
                                           r"tensor b \(6\) at non-singleton dimension 1"):
        op(a, b)
    assert op(tg.ones(9, 1, device=device), b).shape == (9, 6)     # these broadcast


def test_the_broadcast_error_is_pytorchs_word_for_word():
    torch = pytest.importorskip("torch")
    for shapes in (((9, 2), (9, 6)), ((3, 4, 5), (4, 6)), ((2, 3), (4, 2, 5))):
        with pytest.raises(RuntimeError) as theirs:
            torch.ones(*shapes[0]) + torch.ones(*shapes[1])
        with pytest.raises(RuntimeError) as ours:
            tg.ones(*shapes[0]) + tg.ones(*shapes[1])
        assert str(ours.value) == str(theirs.value)


def test_every_tensor_is_a_variable_to_isinstance():
    # the seed tutorial's logger asks isinstance(d_error, torch.autograd.Variable)
    assert isinstance(tg.ones(1), tg.autograd.Variable)
    assert not isinstance(np.ones(1), tg.autograd.Variable)


def test_assigning_a_grad_checks_it_as_pytorch_does(device):
    w = tg.zeros(3, 4, device=device, requires_grad=True)
    w.grad = tg.ones(3, 4, device=device)                 # the right one is taken as it is
    assert w.grad.tolist() == [[1.0] * 4] * 3
    with pytest.raises(TypeError, match="Tensor or None but got grad of type list"):
        w.grad = [[1.0] * 4] * 3
    with pytest.raises(RuntimeError, match=r"size '\[4\]' to a tensor of size '\[3, 4\]'"):
        w.grad = tg.ones(4, device=device)                # would broadcast: refused
    with pytest.raises(RuntimeError, match="float64"):
        w.grad = tg.ones(3, 4, dtype=tg.float64, device=device)
    w.grad = None
    assert w.grad is None


def test_a_numpy_integer_is_a_value_not_a_size():
    # tg.where(mask, 2, t) builds its 2 as Tensor(numpy_zero + 2): a value, 0-d
    t = tg.Tensor(np.int64(2))
    assert t.shape == () and t.item() == 2
    assert tg.where(tg.tensor([True, False]), 2, tg.tensor(0)).tolist() == [2, 0]
