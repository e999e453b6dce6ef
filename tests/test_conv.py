"""Convolutions (F.conv2d, F.conv_transpose2d, nn.Conv2d, nn.ConvTranspose2d), nn.BatchNorm2d
and the course's DCGAN shapes: gradients (first and second order) against central
differences on both devices, values against PyTorch, PyTorch's errors and initialisation."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygan as tg
import tinygan.nn.functional as F
from tinygan import nn
from tinygan.ops import convolution
from strategies import arrays, host, to_tensor

torch = pytest.importorskip("torch")


# --- geometry drawn by hypothesis ------------------------------------------------------------

@st.composite
def conv_geometry(draw, transposed=False, max_side=5):
    """(x shape, weight shape, stride, padding, dilation, output_padding) that PyTorch accepts:
    small, with strides, paddings and dilations that differ between height and width."""
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(2))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(2))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(2))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(2))
    if transposed:
        side = tuple(draw(st.integers(1, 3)) for _ in range(2))
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1))
                               for s, d in zip(stride, dilation))
        for n_in, s, p, d, k, op in zip(side, stride, padding, dilation, kernel, output_padding):
            if (n_in - 1) * s - 2 * p + d * (k - 1) + op + 1 <= 0:
                padding = (0, 0)
        return (n, c) + side, (c, o) + kernel, stride, padding, dilation, output_padding
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    side = tuple(draw(st.integers(max(1, r - 2 * p), max(r - 2 * p, 1) + max_side - 1))
                 for r, p in zip(reach, padding))
    return (n, c) + side, (o, c) + kernel, stride, padding, dilation, (0, 0)


def conv(transposed):
    def run(x, w, b, stride, padding, dilation, output_padding):
        if transposed:
            return F.conv_transpose2d(x, w, b, stride, padding, output_padding, 1, dilation)
        return F.conv2d(x, w, b, stride, padding, dilation)
    return run


def torch_conv(transposed):
    def run(x, w, b, stride, padding, dilation, output_padding):
        if transposed:
            return torch.nn.functional.conv_transpose2d(x, w, b, stride, padding,
                                                        output_padding, 1, dilation)
        return torch.nn.functional.conv2d(x, w, b, stride, padding, dilation)
    return run


# --- gradients: first and second order -------------------------------------------------------

@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@given(data=st.data())
def test_gradients_against_central_differences(device, transposed, data):
    xs, ws, *geometry = data.draw(conv_geometry(transposed))
    x, w = data.draw(arrays(xs)), data.draw(arrays(ws))
    b = data.draw(arrays((ws[1] if transposed else ws[0],)))
    tensors = [to_tensor(a, device) for a in (x, w, b)]
    op = conv(transposed)
    assert tg.gradcheck(lambda x, w, b: op(x, w, b, *geometry), tensors)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@given(data=st.data())
def test_second_order_gradients_against_central_differences(device, transposed, data):
    xs, ws, *geometry = data.draw(conv_geometry(transposed, max_side=3))
    x, w = data.draw(arrays(xs)), data.draw(arrays(ws))
    b = data.draw(arrays((ws[1] if transposed else ws[0],)))
    tensors = [to_tensor(a, device) for a in (x, w, b)]
    op = conv(transposed)

    @tg.enable_grad()     # (gradcheck's central differences run under no_grad)
    def first_gradients_squared(x, w, b):
        y = op(x, w, b, *geometry)
        gx, gw, gb = tg.autograd.grad((y * y).sum(), [x, w, b], create_graph=True)
        return (gx * gx).sum() + (gw * gw).sum() + (gb * gb).sum() + (gx.sum() * gw.sum())
    assert tg.gradcheck(first_gradients_squared, tensors)


def test_the_weight_correlation_twice_differentiated(device):
    # Correlate (the weight gradient) has its own backward: checked directly, to second order
    rng = np.random.default_rng(3)
    x = to_tensor(rng.standard_normal((2, 2, 5, 4)), device)
    g = to_tensor(rng.standard_normal((2, 3, 2, 2)), device)
    geometry = dict(stride=(2, 1), padding=((1, 0), (0, 1)), dilation=(1, 2), kernel=(2, 2))
    assert tg.gradcheck(lambda x, g: convolution.correlate(x, g, **geometry), [x, g])

    @tg.enable_grad()
    def squared(x, g):
        dw = convolution.correlate(x, g, **geometry)
        gx, gg = tg.autograd.grad((dw * dw).sum(), [x, g], create_graph=True)
        return (gx * gx).sum() + (gg ** 3).sum()
    assert tg.gradcheck(squared, [x, g])


# --- values against PyTorch ------------------------------------------------------------------

@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@given(data=st.data())
def test_values_and_gradients_match_pytorch(device, transposed, dtype, data):
    xs, ws, *geometry = data.draw(conv_geometry(transposed, max_side=8))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[1] if transposed else ws[0])
    ours = [to_tensor(a.astype(dtype), device) for a in (x, w, b)]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b)]
    y, ty = conv(transposed)(*ours, *geometry), torch_conv(transposed)(*theirs, *geometry)
    u = rng.standard_normal(ty.shape).astype(dtype)
    (y * to_tensor(u, device, requires_grad=False)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=1e-5, atol=1e-5)
    assert y.dtype == ty.detach().numpy().dtype and y.shape == tuple(ty.shape)
    np.testing.assert_allclose(host(y), ty.detach().numpy(), **tol)
    for t, tt in zip(ours, theirs):
        np.testing.assert_allclose(host(t.grad), tt.grad.numpy(), **tol)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
def test_second_derivatives_match_pytorch(device, transposed):
    rng = np.random.default_rng(7)
    xs, ws = ((2, 3, 3, 4), (3, 2, 3, 2)) if transposed else ((2, 3, 7, 6), (2, 3, 3, 2))
    geometry = ((2, 1), (1, 0), (1, 2), (1, 0) if transposed else (0, 0))
    arrays_ = [rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(2)]

    def second(lib, op, tensors):
        x, w, b = tensors
        y = op(x, w, b, *geometry)
        gx, gw = lib.autograd.grad((y.tanh()).sum(), [x, w], create_graph=True)
        ((gx ** 2).sum() + (gw ** 2).sum()).backward()
        return [y, gx, gw] + [t.grad for t in tensors]

    ours = second(tg, conv(transposed), [to_tensor(a, device) for a in arrays_])
    theirs = second(torch, torch_conv(transposed),
                    [torch.tensor(a, requires_grad=True) for a in arrays_])
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(host(a), b.detach().numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_unbatched_input_and_padding_strings(device):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 6, 5)), rng.standard_normal((4, 3, 2, 3))
    for kwargs in [{}, {"padding": "same"}, {"padding": "valid"},
                   {"padding": "same", "dilation": (2, 1)}, {"stride": [2]}]:
        y = F.conv2d(to_tensor(x, device), to_tensor(w, device), **kwargs)
        ty = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), **kwargs)
        np.testing.assert_allclose(host(y), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    y = F.conv_transpose2d(to_tensor(x, device), to_tensor(w.transpose(1, 0, 2, 3), device),
                           stride=2)
    ty = torch.nn.functional.conv_transpose2d(torch.tensor(x),
                                              torch.tensor(w.transpose(1, 0, 2, 3)), stride=2)
    np.testing.assert_allclose(host(y), ty.numpy(), rtol=1e-12, atol=1e-12)


BAD_CALLS = [
    ("conv2d", (2, 3, 5, 5), (4, 2, 3, 3), None, {}),
    ("conv2d", (2, 3, 5, 5), (4, 3, 7, 3), None, {}),
    ("conv2d", (5, 5), (4, 3, 3, 3), None, {}),
    ("conv2d", (1, 2, 3, 5, 5), (4, 3, 3, 3), None, {}),
    ("conv2d", (2, 3, 5), (4, 3, 3, 3), None, {}),
    ("conv2d", (2, 3, 5, 5), (4, 3, 3, 3), (3,), {}),
    ("conv2d", (2, 3, 5, 5), (4, 3, 3, 3), None, {"stride": 0}),
    ("conv2d", (2, 3, 5, 5), (4, 3, 3, 3), None, {"padding": -1}),
    ("conv2d", (2, 3, 5, 5), (4, 3, 3, 3), None, {"dilation": 0}),
    ("conv2d", (2, 3, 5, 5), (4, 3, 3, 3), None, {"stride": (1, 2, 3)}),
    ("conv2d", (2, 3, 5, 5), (4, 3, 3, 3), None, {"padding": "same", "stride": 2}),
    ("conv2d", (2, 3, 5, 5), (4, 3, 3, 3), None, {"padding": "foo"}),
    ("conv2d", (2, 3, 2, 2), (4, 3, 3, 3), None, {"dilation": 2, "padding": 1}),
    ("conv2d", (2, 3, 5, 5), (4, 3, 3, 3), None, {"groups": 0}),
    ("conv2d", (2, 3, 5, 5), (0, 3, 3, 3), None, {}),
    ("conv_transpose2d", (2, 3, 5, 5), (4, 2, 3, 3), None, {}),
    ("conv_transpose2d", (5, 5), (3, 2, 3, 3), None, {}),
    ("conv_transpose2d", (2, 3, 5, 5), (3, 2, 3, 3), (3,), {}),
    ("conv_transpose2d", (2, 3, 5, 5), (3, 2, 3, 3), None, {"stride": 2, "output_padding": 2}),
    ("conv_transpose2d", (2, 3, 5, 5), (3, 2, 3, 3), None, {"output_padding": 1}),
    ("conv_transpose2d", (2, 3, 5, 5), (3, 2, 3, 3), None, {"padding": -1}),
    ("conv_transpose2d", (2, 3, 5, 5), (3, 2, 3, 3), None, {"output_padding": -1}),
    ("conv_transpose2d", (2, 3, 5, 5), (3, 2, 3, 3), None, {"stride": 0}),
    ("conv_transpose2d", (2, 3, 5, 5), (3, 2, 3, 3), None, {"padding": (1, 2, 3)}),
]


@pytest.mark.parametrize("name, xs, ws, bs, kwargs", BAD_CALLS)
def test_errors_are_pytorchs(device, name, xs, ws, bs, kwargs):
    args = [np.ones(xs), np.ones(ws)] + ([np.ones(bs)] if bs else [])
    with pytest.raises(RuntimeError) as theirs:
        getattr(torch.nn.functional, name)(*[torch.tensor(a) for a in args], **kwargs)
    with pytest.raises(RuntimeError) as ours:
        getattr(F, name)(*[to_tensor(a, device) for a in args], **kwargs)
    assert str(ours.value) == str(theirs.value)


def test_dtype_mismatch_and_groups(device):
    x = to_tensor(np.ones((1, 2, 4, 4)), device)
    with pytest.raises(RuntimeError, match="should be the same"):
        F.conv2d(x, to_tensor(np.ones((3, 2, 2, 2)), device, dtype=tg.float32))
    with pytest.raises(NotImplementedError, match="groups=1"):
        F.conv2d(x, to_tensor(np.ones((2, 1, 2, 2)), device), groups=2)
    with pytest.raises(NotImplementedError, match="groups=1"):
        F.conv_transpose2d(x, to_tensor(np.ones((2, 1, 2, 2)), device), groups=2)
