"""Convolutions (F.conv2d, F.conv_transpose2d, nn.Conv2d, nn.ConvTranspose2d), nn.BatchNorm2d
and the course's DCGAN shapes: gradients (first and second order) against central
differences on both devices, values against PyTorch, PyTorch's errors and initialisation."""
import math

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import tinygan as tg
import tinygan.nn.functional as F
from tinygan import nn
from tinygan.ops import convolution
from strategies import arrays, host as _host, to_tensor

torch = pytest.importorskip("torch")


def host(value):
    """Host values of a tensor, or of a state_dict entry (already an array)."""
    return value if isinstance(value, np.ndarray) else _host(value)


# --- geometry drawn by hypothesis ------------------------------------------------------------

@st.composite
def conv_geometry(draw, transposed=False, max_side=5, groups=1, depthwise=False):
    """(x shape, weight shape, stride, padding, dilation, output_padding) that PyTorch accepts:
    small, with strides, paddings and dilations that differ between height and width; channel
    counts multiples of ``groups`` (one input channel a group when ``depthwise``)."""
    most = 3 if groups == 1 else 2
    n = draw(st.integers(1, 2))
    c = groups * (1 if depthwise else draw(st.integers(1, most)))
    o = groups * draw(st.integers(1, most))
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
        return (n, c) + side, (c, o // groups) + kernel, stride, padding, dilation, output_padding
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    side = tuple(draw(st.integers(max(1, r - 2 * p), max(r - 2 * p, 1) + max_side - 1))
                 for r, p in zip(reach, padding))
    return (n, c) + side, (o, c // groups) + kernel, stride, padding, dilation, (0, 0)


# groups=1, the plain convolution, or a grouped one: 2 or 3 groups, depthwise (one input
# channel a group) or not, drawn by hypothesis so that the grouped cases cost one run.
GROUPED = pytest.mark.parametrize("grouped", [False, True], ids=["groups=1", "grouped"])


def draw_groups(data, grouped):
    """(groups, depthwise) for a test's convolution."""
    if not grouped:
        return 1, False
    return data.draw(st.sampled_from([2, 3]), label="groups"), data.draw(st.booleans(),
                                                                        label="depthwise")


def out_channels(weight_shape, transposed, groups=1):
    return weight_shape[1] * groups if transposed else weight_shape[0]


def conv(transposed, groups=1):
    def run(x, w, b, stride, padding, dilation, output_padding):
        if transposed:
            return F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups,
                                      dilation)
        return F.conv2d(x, w, b, stride, padding, dilation, groups)
    return run


def torch_conv(transposed, groups=1):
    def run(x, w, b, stride, padding, dilation, output_padding):
        if transposed:
            return torch.nn.functional.conv_transpose2d(x, w, b, stride, padding,
                                                        output_padding, groups, dilation)
        return torch.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups)
    return run


# --- gradients: first and second order -------------------------------------------------------

@GROUPED
@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@given(data=st.data())
def test_gradients_against_central_differences(device, transposed, grouped, data):
    groups, depthwise = draw_groups(data, grouped)
    xs, ws, *geometry = data.draw(conv_geometry(transposed, groups=groups, depthwise=depthwise))
    x, w = data.draw(arrays(xs)), data.draw(arrays(ws))
    b = data.draw(arrays((out_channels(ws, transposed, groups),)))
    tensors = [to_tensor(a, device) for a in (x, w, b)]
    op = conv(transposed, groups)
    assert tg.gradcheck(lambda x, w, b: op(x, w, b, *geometry), tensors)


@GROUPED
@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@given(data=st.data())
def test_second_order_gradients_against_central_differences(device, transposed, grouped, data):
    groups, depthwise = draw_groups(data, grouped)
    xs, ws, *geometry = data.draw(conv_geometry(transposed, max_side=3, groups=groups,
                                                depthwise=depthwise))
    x, w = data.draw(arrays(xs)), data.draw(arrays(ws))
    b = data.draw(arrays((out_channels(ws, transposed, groups),)))
    tensors = [to_tensor(a, device) for a in (x, w, b)]
    op = conv(transposed, groups)

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

@GROUPED
@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@given(data=st.data())
def test_values_and_gradients_match_pytorch(device, transposed, dtype, grouped, data):
    """Batched or unbatched input, with a bias or without."""
    groups, depthwise = draw_groups(data, grouped)
    xs, ws, *geometry = data.draw(conv_geometry(transposed, max_side=8, groups=groups,
                                                depthwise=depthwise))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(out_channels(ws, transposed, groups))
    x = x[0] if data.draw(st.booleans(), label="unbatched") else x
    arrays_ = (x, w, b) if data.draw(st.booleans(), label="bias") else (x, w)
    ours = [to_tensor(a.astype(dtype), device) for a in arrays_]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays_]
    y = conv(transposed, groups)(*(ours + [None])[:3], *geometry)
    ty = torch_conv(transposed, groups)(*(theirs + [None])[:3], *geometry)
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
    ("conv_transpose2d", (2, 0, 5, 5), (0, 2, 3, 3), None, {}),
    # groups: the channel counts, the weight's dim 0, the bias
    ("conv2d", (2, 4, 5, 5), (6, 2, 3, 3), None, {"groups": 3}),
    ("conv2d", (2, 6, 5, 5), (6, 3, 3, 3), None, {"groups": 3}),
    ("conv2d", (5, 5, 5), (6, 2, 3, 3), None, {"groups": 2}),
    ("conv2d", (2, 6, 5, 5), (4, 2, 3, 3), None, {"groups": 3}),
    ("conv2d", (2, 4, 5, 5), (4, 1, 3, 3), None, {"groups": 8}),
    ("conv2d", (2, 4, 5, 5), (6, 2, 3, 3), (3,), {"groups": 2}),
    ("conv2d", (2, 4, 5, 5), (6, 2, 3, 3), None, {"groups": -1}),
    ("conv_transpose2d", (2, 6, 5, 5), (4, 3, 3, 3), None, {"groups": 2}),
    ("conv_transpose2d", (5, 5, 5), (4, 3, 3, 3), None, {"groups": 2}),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), None, {"groups": 3}),
    ("conv_transpose2d", (2, 3, 5, 5), (3, 3, 3, 3), None, {"groups": 4}),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), (3,), {"groups": 2}),
    ("conv_transpose2d", (2, 4, 5, 5), (4, 3, 3, 3), None, {"groups": 0}),
]


@pytest.mark.parametrize("name, xs, ws, bs, kwargs", BAD_CALLS)
def test_errors_are_pytorchs(device, name, xs, ws, bs, kwargs):
    args = [np.ones(xs), np.ones(ws)] + ([np.ones(bs)] if bs else [])
    with pytest.raises(RuntimeError) as theirs:
        getattr(torch.nn.functional, name)(*[torch.tensor(a) for a in args], **kwargs)
    with pytest.raises(RuntimeError) as ours:
        getattr(F, name)(*[to_tensor(a, device) for a in args], **kwargs)
    assert str(ours.value) == str(theirs.value)


def test_a_weight_without_channels_is_refused_in_one_line(device):
    for op, xs, ws in ((F.conv2d, (2, 0, 5, 5), (3, 0, 3, 3)),
                       (F.conv_transpose2d, (2, 4, 5, 5), (4, 0, 3, 3))):
        with pytest.raises(RuntimeError, match=r"weight of size \[.*\] has no channels"):
            op(to_tensor(np.ones(xs), device), to_tensor(np.ones(ws), device))


def test_dtype_mismatch(device):
    x = to_tensor(np.ones((1, 2, 4, 4)), device)
    with pytest.raises(RuntimeError, match="should be the same"):
        F.conv2d(x, to_tensor(np.ones((3, 2, 2, 2)), device, dtype=tg.float32))
    with pytest.raises(RuntimeError, match="should be the same"):
        F.conv2d(x, to_tensor(np.ones((2, 1, 2, 2)), device, dtype=tg.float32), groups=2)


# --- the modules: initialisation, repr, state_dict --------------------------------------------

MODULES = [("Conv2d", (16, 32, 4), {}), ("Conv2d", (3, 8, (3, 5)), {"stride": 2, "bias": False}),
           ("ConvTranspose2d", (64, 32, 4), {"stride": 2}),
           ("ConvTranspose2d", (8, 3, (2, 3)), {"output_padding": 1, "stride": 2,
                                                "padding": (1, 0)}),
           ("Conv2d", (2, 4, 3), {"padding": "same", "dilation": 2}),
           ("Conv2d", (4, 6, 3), {"groups": 2}), ("ConvTranspose2d", (4, 6, 3), {"groups": 2}),
           ("Conv2d", (8, 16, 3), {"groups": 8, "padding": 1, "bias": False}),
           ("ConvTranspose2d", (6, 3, (2, 3)), {"groups": 3, "stride": 2}),
           ("Conv2d", (64, 128, 4), {"groups": 4}), ("ConvTranspose2d", (128, 64, 4),
                                                     {"groups": 4, "stride": 2})]


@pytest.mark.parametrize("name, args, kwargs", MODULES)
def test_modules_start_as_pytorchs(name, args, kwargs):
    tg.manual_seed(0)
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (key, value), (_, expected) in zip(ours.state_dict().items(),
                                           theirs.state_dict().items()):
        assert value.shape == tuple(expected.shape) and value.dtype == tg.float32, key
        # U(±1/√fan_in), fan_in as PyTorch computes it (weight.shape[1]·kH·kW)
        bound = 1 / math.sqrt(theirs.weight.shape[1] * math.prod(theirs.weight.shape[2:]))
        values = host(value)
        assert np.abs(values).max() <= bound
        if values.size > 1000:
            assert abs(values.std() - bound / math.sqrt(3)) < 0.05 * bound
            assert abs(values.mean()) < 0.05 * bound
            assert np.abs(values).max() > 0.95 * bound


def test_module_errors_are_pytorchs():
    for name, args, kwargs in [("Conv2d", (2, 4, 3), {"groups": 0}),
                               ("Conv2d", (2, 4, 3), {"padding": "same", "stride": 2}),
                               ("Conv2d", (2, 4, 3), {"groups": 4}),
                               ("Conv2d", (4, 6, 3), {"groups": 4}),
                               ("ConvTranspose2d", (6, 4, 3), {"groups": 3})]:
        with pytest.raises(ValueError) as theirs:
            getattr(torch.nn, name)(*args, **kwargs)
        with pytest.raises(ValueError) as ours:
            getattr(nn, name)(*args, **kwargs)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="padding_mode must be one of .* but got padding_mode='foo'"):
        nn.Conv2d(2, 4, 3, padding_mode="foo")      # (PyTorch prints a set: its order varies)
    with pytest.raises(ValueError, match="Invalid padding string 'foo', should be one of"):
        nn.Conv2d(2, 4, 3, padding="foo")
    with pytest.raises(ValueError, match='Only "zeros" padding mode'):
        nn.ConvTranspose2d(2, 4, 3, padding_mode="reflect")


@pytest.mark.parametrize("name, shape", [("Conv2d", (6, 2, 3, 3)),
                                         ("ConvTranspose2d", (4, 3, 3, 3))])
def test_grouped_modules_equal_pytorchs(device, name, shape):
    tg.manual_seed(1)
    ours = getattr(nn, name)(4, 6, 3, groups=2).to(device)
    theirs = copy_into_torch(ours, getattr(torch.nn, name)(4, 6, 3, groups=2))
    assert ours.weight.shape == shape and ours.bias.shape == (6,)
    assert repr(ours) == repr(theirs) == (
        f"{name}(4, 6, kernel_size=(3, 3), stride=(1, 1), groups=2)")
    x = np.random.default_rng(2).standard_normal((2, 4, 5, 6)).astype(np.float32)
    y, ty = ours(to_tensor(x, device)), theirs(torch.tensor(x))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(host(y), ty.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_conv_transpose_output_size(device):
    up, reference = nn.ConvTranspose2d(3, 2, 3, 2).to(device), torch.nn.ConvTranspose2d(3, 2, 3, 2)
    for size in ([9, 10], [2, 3, 10, 9]):
        assert up(tg.zeros(2, 3, 4, 4, device=device), output_size=size).shape == tuple(
            reference(torch.zeros(2, 3, 4, 4), output_size=size).shape)
    with pytest.raises(ValueError, match="valid sizes range from"):
        up(tg.zeros(2, 3, 4, 4, device=device), output_size=[12, 9])


# --- BatchNorm2d -------------------------------------------------------------------------------

def copy_into_torch(ours, theirs):
    theirs.load_state_dict({k: torch.tensor(host(v)) for k, v in ours.state_dict().items()})
    return theirs


@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"affine": False},
                                    {"track_running_stats": False}, {"momentum": 0.3},
                                    {"fused": False}])
def test_batch_norm_2d_matches_pytorch_in_train_and_eval(device, kwargs):
    rng = np.random.default_rng(5)
    fused = kwargs.pop("fused", True)
    ours = nn.BatchNorm2d(3, fused=fused, **kwargs).to(device, tg.float64)
    theirs = torch.nn.BatchNorm2d(3, **kwargs).double()
    if ours.affine:
        with tg.no_grad():
            ours.weight.copy_(tg.tensor([0.5, 2.0, -1.0], device=device))
            ours.bias.copy_(tg.tensor([0.1, 0.0, 0.3], device=device))
    copy_into_torch(ours, theirs)
    for step, train in enumerate([True, True, True, False, True, False]):
        ours.train(train), theirs.train(train)
        x = rng.standard_normal((4, 3, 5, 2)) * (step + 1) + step
        u = rng.standard_normal(x.shape)
        tx, gx = torch.tensor(x, requires_grad=True), to_tensor(x, device)
        y, ty = ours(gx), theirs(tx)
        (y * to_tensor(u, device, requires_grad=False)).sum().backward()
        (ty * torch.tensor(u)).sum().backward()
        np.testing.assert_allclose(host(y), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(host(gx.grad), tx.grad.numpy(), rtol=1e-11, atol=1e-11)
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(host(ours.state_dict()[key]), value.numpy(),
                                       rtol=1e-12, atol=1e-12, err_msg=key)
        if ours.affine:
            np.testing.assert_allclose(host(ours.weight.grad), theirs.weight.grad.numpy(),
                                       rtol=1e-11, atol=1e-11)


def test_batch_norm_2d_errors():
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        bn(tg.zeros(2, 3, 4))
    with pytest.raises(RuntimeError, match="running_mean should contain 4 elements not 3"):
        bn(tg.zeros(2, 4, 2, 2))
    assert repr(bn) == "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, " \
                       "track_running_stats=True)"


# --- the course's DCGAN, and WGAN-GP's gradient penalty -----------------------------------------

def generator(lib, z_dim=64, hidden=64):
    m = lib.nn
    return m.Sequential(
        m.ConvTranspose2d(z_dim, hidden * 4, 3, 2), m.BatchNorm2d(hidden * 4), m.ReLU(True),
        m.ConvTranspose2d(hidden * 4, hidden * 2, 4, 1), m.BatchNorm2d(hidden * 2), m.ReLU(True),
        m.ConvTranspose2d(hidden * 2, hidden, 3, 2), m.BatchNorm2d(hidden), m.ReLU(True),
        m.ConvTranspose2d(hidden, 1, 4, 2), m.Tanh())


def discriminator(lib, hidden=16, **bn):
    m = lib.nn
    return m.Sequential(
        m.Conv2d(1, hidden, 4, 2), m.BatchNorm2d(hidden, **bn), m.LeakyReLU(0.2),
        m.Conv2d(hidden, hidden * 2, 4, 2), m.BatchNorm2d(hidden * 2, **bn), m.LeakyReLU(0.2),
        m.Conv2d(hidden * 2, 1, 4, 2))


def test_the_course_dcgan_shapes(device):
    tg.manual_seed(0)
    gen, disc = generator(tg).to(device), discriminator(tg).to(device)
    fake = gen(tg.randn(5, 64, device=device).view(5, 64, 1, 1))
    assert fake.shape == (5, 1, 28, 28) and fake.dtype == tg.float32
    score = disc(fake)
    assert score.shape == (5, 1, 1, 1)
    score.mean().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in gen.parameters())
    assert [tuple(t.shape) for t in discriminator(torch).state_dict().values()] == [
        t.shape for t in disc.state_dict().values()]


@pytest.mark.parametrize("model", ["DCGANDiscriminator", "Critic"])
def test_the_course_discriminator_sees_only_the_top_left_22x22(device, model):
    """Kernels of 4 at stride 2 without padding drop a border at each layer (13 → 5 uses
    rows 0–11, 5 → 1 rows 0–3), so one image's score depends on rows and columns 0–21 of
    its 28×28 alone; the bottom and right six reach D only through BatchNorm's batch
    statistics, in train mode."""
    from tinygan import dcgan
    tg.manual_seed(0)
    D = getattr(dcgan, model)().to(device)
    x = tg.randn(2, 1, 28, 28, device=device, requires_grad=True)
    for train, hidden_border in ((False, True), (True, False)):
        D.train(train)
        (grad,) = tg.autograd.grad(D(x)[0].sum(), x)
        seen = host(grad)[0, 0] != 0
        assert seen[:22, :22].all()
        assert seen[22:].any() == seen[:, 22:].any() == (not hidden_border)
        assert host(grad)[1].any() == train     # the other image counts through the statistics


@pytest.mark.parametrize("model", ["DCGANDiscriminator", "Critic"])
def test_padding_1_lets_the_course_discriminator_see_every_pixel(device, model):
    from tinygan import dcgan
    tg.manual_seed(0)
    D, course = getattr(dcgan, model)(padding=1).to(device), getattr(dcgan, model)()
    assert [(k, v.shape) for k, v in D.state_dict().items()] == \
        [(k, v.shape) for k, v in course.state_dict().items()]
    D.eval()
    x = tg.randn(1, 1, 28, 28, device=device, requires_grad=True)
    scores = D(x)
    assert scores.shape == (1, 4)
    windows = []
    for j in range(4):
        (grad,) = tg.autograd.grad(scores[0, j], x, retain_graph=True)
        seen = np.argwhere(host(grad)[0, 0] != 0)
        windows.append((*seen.min(0), *seen.max(0)))
    assert windows == [(0, 0, 20, 20), (0, 7, 20, 27), (7, 0, 27, 20), (7, 7, 27, 27)]


def test_a_critic_without_batch_norm_scores_each_image_alone(device):
    from tinygan import dcgan
    tg.manual_seed(0)
    C = dcgan.Critic(padding=1, batch_norm=False).to(device).train()
    course = dcgan.Critic()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in C.modules())
    convs = [k for k in course.state_dict() if k.split(".")[2] == "0"]   # crit.i.0.*
    assert list(C.state_dict()) == convs                  # the course's convolutions' names
    x = tg.randn(2, 1, 28, 28, device=device, requires_grad=True)
    (grad,) = tg.autograd.grad(C(x)[0].sum(), x)
    assert host(grad)[0].any() and not host(grad)[1].any()   # in train mode too


def test_the_course_dcgan_matches_pytorch_in_float32(device):
    tg.manual_seed(1)
    gen = generator(tg, hidden=8).to(device)
    reference = copy_into_torch(gen, generator(torch, hidden=8))
    z = np.random.default_rng(0).standard_normal((4, 64, 1, 1)).astype(np.float32)
    fake, expected = gen(to_tensor(z, device, False)), reference(torch.tensor(z))
    np.testing.assert_allclose(host(fake), expected.detach().numpy(), rtol=1e-4, atol=2e-5)
    fake.sum().backward(), expected.sum().backward()
    # (a bias before BatchNorm has gradient 0: float32 noise, so the scale is the model's)
    scale = max(np.abs(q.grad.numpy()).max() for q in reference.parameters())
    for (name, p), q in zip(gen.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(host(p.grad), q.grad.numpy(), rtol=1e-3,
                                   atol=1e-4 * scale, err_msg=name)


def gradient_penalty_step(lib, crit, real, fake, epsilon):
    """The course's WGAN-GP critic loss: -E[D(real)] + E[D(fake)] + 10·E[(‖∇D(mixed)‖ - 1)²]."""
    mixed_images = real * epsilon + fake * (1 - epsilon)
    mixed_scores = crit(mixed_images)
    gradient = lib.autograd.grad(inputs=mixed_images, outputs=mixed_scores,
                                 grad_outputs=lib.ones_like(mixed_scores),
                                 create_graph=True, retain_graph=True)[0]
    gradient = gradient.view(len(gradient), -1)
    penalty = ((gradient.norm(2, dim=1) - 1) ** 2).mean()
    loss = -crit(real).mean() + crit(fake).mean() + 10 * penalty
    loss.backward()
    return [loss, penalty, gradient] + [p.grad for p in crit.parameters()]


@pytest.mark.parametrize("fused", [True, False])
def test_a_gradient_penalty_through_batch_norm_matches_pytorch(device, fused):
    # fused: the fast op, whose backward under create_graph is its twin made of ops
    tg.manual_seed(2)
    crit = discriminator(tg, hidden=4, fused=fused).to(device, tg.float64)
    reference = copy_into_torch(crit, discriminator(torch, hidden=4).double())
    rng = np.random.default_rng(4)
    real, fake = rng.standard_normal((3, 1, 28, 28)), rng.standard_normal((3, 1, 28, 28))
    epsilon = rng.uniform(size=(3, 1, 1, 1))
    ours = gradient_penalty_step(tg, crit, *[to_tensor(a, device) for a in (real, fake)],
                                 to_tensor(epsilon, device))
    theirs = gradient_penalty_step(torch, reference, torch.tensor(real), torch.tensor(fake),
                                   torch.tensor(epsilon, requires_grad=True))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(host(a), b.detach().numpy(), rtol=1e-9, atol=1e-11)
    for key, value in reference.state_dict().items():
        np.testing.assert_allclose(host(crit.state_dict()[key]), value.numpy(), rtol=1e-12,
                                   err_msg=key)


@pytest.mark.parametrize("train", [True, False])
def test_a_gradient_penalty_through_the_fused_batch_norm_equals_the_reference(device, train):
    tg.manual_seed(3)
    fused = discriminator(tg, hidden=2).to(device, tg.float64)
    plain = discriminator(tg, hidden=2, fused=False).to(device, tg.float64)
    plain.load_state_dict(fused.state_dict())
    x = tg.randn(2, 1, 28, 28, device=device, dtype=tg.float64)
    results = []
    for crit in (fused, plain):
        crit.train(train)
        xi = x.detach().requires_grad_()
        (g,) = tg.autograd.grad(crit(xi).sum(), xi, create_graph=True)
        g.pow(2).sum().backward()                       # second derivatives, through BatchNorm
        results.append([host(g)] + [None if p.grad is None else host(p.grad)
                                    for p in crit.parameters()])
    for a, b in zip(*results):
        assert (a is None) == (b is None)        # (the last bias moves no gradient of x)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# --- memory: one convolution's peak -------------------------------------------------------------

def test_one_convolutions_peak_memory_is_its_columns_and_three_copies():
    """The bound convolution.py's docstring gives: the columns (C·kH·kW·Ho·Wo·N numbers), plus
    x̃ or the canvas in (C, H, W, N) order, one copy into or out of that order, and the result:
    at most the columns and three arrays the size of the op's larger side. NumPy reports its
    allocations to tracemalloc, so the peak is measured, forward and backward."""
    import tracemalloc
    n, c, size, o, k = 64, 16, 13, 32, 4
    x = tg.randn(n, c, size, size, requires_grad=True)
    w = tg.randn(o, c, k, k, requires_grad=True)
    F.conv2d(x, w, stride=2).sum().backward()             # any first-call caches, outside
    x.grad = w.grad = None
    tracemalloc.start()
    try:
        y = F.conv2d(x, w, stride=2)
        forward = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        y.sum().backward()
        backward = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        z = F.conv_transpose2d(y.detach(), w.detach(), stride=2)
        transposed = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    columns = c * k * k * y.shape[2] * y.shape[3] * n * 4          # float32 bytes
    side = max(x.numel(), y.numel()) * 4
    assert forward <= columns + 3 * side, (forward, columns, side)
    assert backward <= columns + 3 * side + y.numel() * 4, (backward, columns, side)  # + dy
    assert transposed <= columns + 3 * max(z.numel(), y.numel()) * 4 + 16 * n * c * 4, \
        (transposed, columns)                                      # + the canvas' margin


@given(kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       positions=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       extra=st.tuples(st.integers(0, 3), st.integers(0, 3)), seed=st.integers(0, 2**31))
def test_col2im_by_tap_group_equals_tap_by_tap_bit_for_bit(device, kernel, stride, positions,
                                                          extra, seed):
    """The grouped col2im (one add per group of taps that reach disjoint rows) sums the same
    numbers in the same order as one add per tap, so the canvases are equal bit for bit; a
    canvas taller than the taps reach (output_padding) included."""
    from tinygan import backend
    c, n = 2, 3
    rng = np.random.default_rng(seed)
    columns = rng.standard_normal((c,) + kernel + positions + (n,)).astype(np.float32)
    columns = backend.to_device(columns, device)
    canvas = tuple(s * (p - 1) + k + e for s, p, k, e in zip(stride, positions, kernel, extra))
    grouped = convolution._col2im_by_tap_group(columns, canvas, stride)
    by_tap = convolution._col2im_by_tap(columns, canvas, stride, (1, 1))
    assert grouped.shape == by_tap.shape
    assert backend.to_numpy(grouped).tobytes() == backend.to_numpy(by_tap).tobytes()


def special_values(shape, dtype, seed):
    """Random values with 0, -0, ±inf, NaN, ±1e4 and subnormals among them."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e4, -1e4, 1e-40, -1e-40], dtype)
    picked = rng.choice(x.size, size=min(x.size, 3 * special.size), replace=False)
    x.reshape(-1)[picked] = np.resize(special, picked.size)
    return x


@given(kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       positions=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       extra=st.tuples(st.integers(0, 3), st.integers(0, 3)),
       crop=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
       dtype=st.sampled_from([np.float32, np.float64]), bias=st.booleans(),
       seed=st.integers(0, 2**31))
def test_col2im_gathered_equals_tap_by_tap_bit_for_bit(device, kernel, stride, dilation,
                                                      positions, extra, crop, dtype, bias, seed):
    """The gathered col2im (every tap reaching an output element taken in one gather, added in
    one fused kernel) is tap by tap's canvas, cropped, made (N, C, H, W) and + bias, bit for
    bit: 0, -0, ±inf and NaN among the columns, crops and output_padding's extra rows."""
    from tinygan import backend
    c, n = 2, 3
    columns = special_values((c,) + kernel + positions + (n,), dtype, seed)
    b = special_values((c,), dtype, seed + 1) if bias else None
    canvas = tuple(s * (p - 1) + d * (k - 1) + 1 + e
                   for s, p, d, k, e in zip(stride, positions, dilation, kernel, extra))
    start = tuple(int(f * (m - 1)) for f, m in zip(crop[:2], canvas))
    size = tuple(1 + int(f * (m - a - 1)) for f, m, a in zip(crop[2:], canvas, start))
    columns = backend.to_device(columns, device)
    with np.errstate(invalid="ignore"):                 # inf - inf
        y = convolution._col2im_by_tap(columns, canvas, stride, dilation)
        y = y[:, start[0]:start[0] + size[0], start[1]:start[1] + size[1]]
        expected = np.ascontiguousarray(backend.to_numpy(y).transpose(3, 0, 1, 2))
        if bias:
            expected += b.reshape(1, -1, 1, 1)
        gathered = convolution._col2im_gathered(
            columns, canvas, stride, dilation, start, size,
            None if b is None else backend.to_device(b, device))
    assert gathered.flags.c_contiguous
    gathered = backend.to_numpy(gathered)
    assert gathered.dtype == expected.dtype and gathered.shape == expected.shape
    assert gathered.tobytes() == expected.tobytes()


@given(geometry=conv_geometry(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**31), transposed_input=st.booleans())
def test_im2col_gathered_equals_the_strided_slices_bit_for_bit(device, geometry, dtype, seed,
                                                               transposed_input):
    """im2col as one gather (unpadded x, on a GPU) and as strided slices stacked take the
    same values to the same places, from a contiguous x or a transposed view of one."""
    from tinygan import backend
    xs, ws, stride, padding, dilation, _ = geometry
    x = special_values(xs[:2] + xs[2:][::-1] if transposed_input else xs, dtype, seed)
    x = backend.to_device(x, device)
    x = x.transpose(0, 1, 3, 2) if transposed_input else x
    size = convolution.output_size(xs[2:], ws[2:], stride, ((0, 0), (0, 0)), dilation)
    assume(min(size) > 0)                               # unpadded: the kernel fits
    args = (x, ws[2:], stride, ((0, 0), (0, 0)), dilation, size)
    flag = convolution.uses_gathers
    try:
        convolution.uses_gathers = lambda xp: True
        gathered = convolution._columns(*args)
        convolution.uses_gathers = lambda xp: False
        sliced = convolution._columns(*args)
    finally:
        convolution.uses_gathers = flag
    assert gathered.shape == sliced.shape and gathered.dtype == sliced.dtype
    assert backend.to_numpy(gathered).tobytes() == backend.to_numpy(sliced).tobytes()


@pytest.mark.parametrize("limit", [convolution.GATHER_INDEX_LIMIT, 10])
@pytest.mark.parametrize("bias", [True, False])
def test_convolutions_gather_on_cuda_and_slice_on_the_cpu_alike(device, bias, limit,
                                                                 monkeypatch):
    """Each device its own im2col and col2im (the gathers: fewest kernels; the strided
    slices and adds: fastest on the CPU; the slices too above the gathers' index limit),
    equal bit for bit: a conv2d and a transpose, with their gradients, through either."""
    monkeypatch.setattr(convolution, "GATHER_INDEX_LIMIT", limit)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 3, 5, 6)), rng.standard_normal((3, 2, 4, 3))
    b = rng.standard_normal(2 if bias else 0)
    assert convolution.uses_gathers(tg.backend.xp_for(device)) == (device == "cuda")

    def run():
        ts = [tg.tensor(a, device=device, dtype=tg.float32, requires_grad=True)
              for a in (x, w, b)]
        y = F.conv_transpose2d(ts[0], ts[1], ts[2] if bias else None, stride=2, padding=1,
                               output_padding=1)
        z = F.conv2d(y, ts[1], None, stride=(1, 2))
        z.backward(tg.ones_like(z))
        return [y, z] + [t.grad for t in ts[:2 + bias]]

    ours = run()
    flipped = convolution.uses_gathers
    monkeypatch.setattr(convolution, "uses_gathers", lambda xp: not flipped(xp))
    for a, b in zip(ours, run()):
        assert host(a).tobytes() == host(b).tobytes()


def test_batch_norm_2d_output_is_no_view_and_equals_its_3d_form(device):
    """BatchNorm2d normalises its 4-D input as one op, so an in-place ReLU after it is a plain
    in-place op; its values and gradients are BatchNorm1d's on the (N, C, H·W) view, bit for
    bit, in float32 and float64, train and eval."""
    rng = np.random.default_rng(3)
    for dtype in (tg.float32, tg.float64):
        two, one = nn.BatchNorm2d(3).to(device, dtype), nn.BatchNorm1d(3).to(device, dtype)
        with tg.no_grad():
            for m in (two, one):
                m.weight.copy_(tg.tensor([0.5, 2.0, -1.0], device=device))
                m.bias.copy_(tg.tensor([0.1, 0.0, 0.3], device=device))
        for train in (True, False):
            two.train(train), one.train(train)
            x = rng.standard_normal((4, 3, 5, 2)) * 3 + 1
            g = rng.standard_normal(x.shape)
            x4 = tg.tensor(x, device=device, dtype=dtype, requires_grad=True)
            x3 = tg.tensor(x.reshape(4, 3, 10), device=device, dtype=dtype, requires_grad=True)
            y4, y3 = two(x4), one(x3)
            assert y4._view is None and y4.grad_fn.__class__.__name__.startswith("BatchNorm")
            nn.ReLU(inplace=True)(y4)
            y3 = nn.ReLU()(y3)
            y4.backward(tg.tensor(g, device=device, dtype=dtype))
            y3.backward(tg.tensor(g.reshape(4, 3, 10), device=device, dtype=dtype))
            for a, b in [(y4, y3), (x4.grad, x3.grad), (two.running_var, one.running_var),
                         (two.running_mean, one.running_mean)]:
                assert host(a).tobytes() == host(b).tobytes()


# --- InstanceNorm2d: batch_norm over one batch of N·C channels --------------------------------

@pytest.mark.parametrize("affine, bias", [(False, True), (True, True), (True, False)])
def test_instance_norm_matches_pytorch_to_second_order(device, affine, bias):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5, 6))
    ours = nn.InstanceNorm2d(4, affine=affine, bias=bias).to(device, tg.float64)
    theirs = torch.nn.InstanceNorm2d(4, affine=affine, bias=bias).double()
    assert repr(ours) == repr(theirs)
    if affine:
        w = rng.standard_normal(4)
        ours.weight.data, theirs.weight.data = to_tensor(w, device, False), torch.tensor(w)
    u = rng.standard_normal(x.shape)
    results = []
    for lib, model, xs, us in ((tg, ours, to_tensor(x, device), to_tensor(u, device, False)),
                               (torch, theirs, torch.tensor(x, requires_grad=True),
                                torch.tensor(u))):
        y = model(xs)
        (g,) = lib.autograd.grad((y * us).sum(), xs, create_graph=True)
        (g ** 2).sum().backward()          # a penalty on the input gradient, as WGAN-GP's
        results.append([y, g, xs.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(*results):
        assert (a is None) == (b is None)       # β moves no input gradient: no grad in both
        if a is not None:
            np.testing.assert_allclose(host(a), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    unbatched = ours(to_tensor(x[0], device, False))
    np.testing.assert_allclose(host(unbatched), host(ours(to_tensor(x[:1], device, False)))[0])


def test_instance_norm_keeps_copies_of_its_weight_as_pytorch(device):
    # PyTorch repeats γ and β per sample before its batch_norm: an in-place change to the
    # weight after the forward leaves backward's copy alone (found by the differential test)
    results = []
    for lib, dev in ((tg, device), (torch, "cpu")):
        x = lib.tensor([[[0.5, -1.0, 2.0, 0.0]], [[1.0, 3.0, -2.0, 0.5]]], device=dev,
                       requires_grad=True)
        weight, bias = lib.tensor([2.0], device=dev), lib.tensor([0.5], device=dev)
        y = F.instance_norm(x, weight=weight, bias=bias) if lib is tg else \
            torch.nn.functional.instance_norm(x, weight=weight, bias=bias)
        weight.mul_(-1)
        (y * lib.arange(8.0, device=dev).reshape(2, 1, 4)).sum().backward()
        results.append((host(y) if lib is tg else y.detach().numpy(),
                        host(x.grad) if lib is tg else x.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_instance_norm_errors_are_pytorchs():
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.InstanceNorm2d(4)(tg.zeros(2, 3))
    with pytest.raises(ValueError, match="to match num_features \\(4\\), but got: 3"):
        nn.InstanceNorm2d(4, affine=True)(tg.zeros(2, 3, 4, 4))
    with pytest.raises(NotImplementedError, match="track_running_stats=True is not supported"):
        nn.InstanceNorm2d(4, track_running_stats=True)
