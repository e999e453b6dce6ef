"""Pooling and the other layers DCGAN-style code uses beside convolutions (F.max_pool2d,
F.avg_pool2d, their modules): gradients against central differences on both devices (second
order where the op is smooth), values, indices and gradients against PyTorch, its errors
and reprs."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import tinygan as tg
import tinygan.nn.functional as F
from tinygan import nn
from strategies import arrays, distinct_arrays, host, to_tensor

torch = pytest.importorskip("torch")


@st.composite
def pool_geometry(draw, dilation=True, max_side=5):
    """(x shape, kwargs) that PyTorch accepts: kernel, stride, padding (at most half the
    kernel), dilation and ceil_mode, differing between height and width."""
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(2))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(2))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilations = tuple(draw(st.integers(1, 2)) for _ in range(2)) if dilation else (1, 1)
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    side = tuple(draw(st.integers(max(1, r - 2 * p), max(1, r - 2 * p) + max_side - 1))
                 for r, p in zip(reach, padding))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + side
    kwargs = dict(kernel_size=kernel, stride=stride, padding=padding,
                  ceil_mode=draw(st.booleans()))
    if dilation:
        kwargs["dilation"] = dilations
    return shape, kwargs


def no_window_all_padding(shape, kwargs):
    """Whether every window meets the input (a dilated window can fall in the padding)."""
    y = torch.nn.functional.max_pool2d(torch.zeros(shape, dtype=torch.float64), **kwargs)
    return bool(np.isfinite(y.numpy()).all())


# --- gradients against central differences ----------------------------------------------------

@given(data=st.data())
def test_max_pool_gradients_against_central_differences(device, data):
    shape, kwargs = data.draw(pool_geometry())
    assume(no_window_all_padding(shape, kwargs))
    x = to_tensor(data.draw(distinct_arrays(shape)), device)   # no ties: one maximum
    assert tg.gradcheck(lambda x: F.max_pool2d(x, **kwargs), [x])


@given(data=st.data())
def test_max_pool_second_order_gradients(device, data):
    # the gradient is linear in the upstream gradient: its own gradient picks again
    shape, kwargs = data.draw(pool_geometry(max_side=2))
    assume(no_window_all_padding(shape, kwargs))
    x = data.draw(distinct_arrays(shape))
    x = to_tensor(x / max(1.0, np.abs(x).max()), device)      # gaps ≥ 0.1/|x|max, |x| ≤ 1

    @tg.enable_grad()
    def squared_gradient(x):
        y = F.max_pool2d(x, **kwargs)
        (gx,) = tg.autograd.grad((y * y * y).sum(), [x], create_graph=True)
        return (gx * gx).sum()
    assert tg.gradcheck(squared_gradient, [x])


@pytest.mark.parametrize("count_include_pad", [True, False])
@given(data=st.data())
def test_avg_pool_gradients_first_and_second_order(device, count_include_pad, data):
    shape, kwargs = data.draw(pool_geometry(dilation=False, max_side=4))
    x = to_tensor(data.draw(arrays(shape)), device)
    kwargs["count_include_pad"] = count_include_pad
    assert tg.gradcheck(lambda x: F.avg_pool2d(x, **kwargs), [x])

    @tg.enable_grad()
    def squared_gradient(x):
        y = F.avg_pool2d(x, **kwargs)
        (gx,) = tg.autograd.grad((y * y * y).sum(), [x], create_graph=True)
        return (gx * gx).sum()
    assert tg.gradcheck(squared_gradient, [x])


# --- values, indices and gradients against PyTorch ---------------------------------------------

def compare(ours, theirs, arrays_, device, rng):
    """Run both on the same float64 inputs with the same upstream gradient: values and input
    gradients to 1e-12."""
    xs = [to_tensor(a, device) for a in arrays_]
    txs = [torch.tensor(a, requires_grad=True) for a in arrays_]
    y, ty = ours(*xs), theirs(*txs)
    assert y.shape == tuple(ty.shape) and y.dtype == tg.float64
    np.testing.assert_allclose(host(y), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    u = rng.standard_normal(ty.shape)
    (y * to_tensor(u, device, requires_grad=False)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    for x, tx in zip(xs, txs):
        np.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@given(data=st.data())
def test_max_pool_matches_pytorch(device, data):
    shape, kwargs = data.draw(pool_geometry(max_side=8))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-3, 4, shape).astype(np.float64)   # many ties: the first maximum wins
    assume(no_window_all_padding(shape, kwargs))   # its index differs (-inf in both)
    compare(lambda x: F.max_pool2d(x, **kwargs),
            lambda x: torch.nn.functional.max_pool2d(x, **kwargs), [x], device, rng)
    y, indices = F.max_pool2d(to_tensor(x, device), return_indices=True, **kwargs)
    _, expected = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **kwargs)
    assert indices.dtype == tg.int64
    np.testing.assert_array_equal(host(indices), expected.numpy())


@pytest.mark.parametrize("count_include_pad", [True, False])
@given(data=st.data())
def test_avg_pool_matches_pytorch(device, count_include_pad, data):
    shape, kwargs = data.draw(pool_geometry(dilation=False, max_side=8))
    kwargs["count_include_pad"] = count_include_pad
    kwargs["divisor_override"] = data.draw(st.sampled_from([None, 3]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    compare(lambda x: F.avg_pool2d(x, **kwargs),
            lambda x: torch.nn.functional.avg_pool2d(x, **kwargs),
            [rng.standard_normal(shape)], device, rng)


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_unbatched_input_and_float32(device, name):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 5)).astype(np.float32)
    y = getattr(F, name)(to_tensor(x, device, requires_grad=False), 2, 1, 1)
    expected = getattr(torch.nn.functional, name)(torch.tensor(x), 2, 1, 1)
    assert y.dtype == tg.float32 and y.shape == tuple(expected.shape)
    np.testing.assert_allclose(host(y), expected.numpy(), rtol=1e-6, atol=1e-6)


def test_a_window_all_padding_is_minus_infinity(device):
    kwargs = dict(kernel_size=(1, 2), stride=1, padding=(0, 1), dilation=(1, 2))
    x = to_tensor(np.ones((1, 1, 1, 1)), device)
    y = F.max_pool2d(x, **kwargs)
    assert host(y).tolist() == [[[[-np.inf]]]]
    y.sum().backward()
    assert host(x.grad).tolist() == [[[[0.0]]]]


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1),
                                    dict(kernel_size=(3, 2), stride=1, padding=(1, 1),
                                         dilation=(2, 1)),
                                    dict(kernel_size=2, padding=1, ceil_mode=True)])
@pytest.mark.filterwarnings("ignore:invalid value")     # (y·u).sum() meets -inf + inf
def test_windows_of_minus_infinity_pick_as_pytorch(device, kwargs):
    # no maximum above -inf: the window's first tap inside the input takes the gradient
    x = np.full((1, 2, 5, 4), -np.inf)
    x[0, 1, 2:, 2:] = np.arange(6.0).reshape(3, 2)
    compare(lambda x: F.max_pool2d(x, **kwargs),
            lambda x: torch.nn.functional.max_pool2d(x, **kwargs), [x], device,
            np.random.default_rng(8))
    _, indices = F.max_pool2d(to_tensor(x, device), return_indices=True, **kwargs)
    _, expected = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **kwargs)
    np.testing.assert_array_equal(host(indices), expected.numpy())


def test_nan_propagates_through_max_pool(device):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 0] = np.nan
    y = F.max_pool2d(to_tensor(x, device, requires_grad=False), 2)
    expected = torch.nn.functional.max_pool2d(torch.tensor(x), 2)
    np.testing.assert_array_equal(host(y), expected.numpy())


# --- errors and modules -------------------------------------------------------------------------

ERRORS = [((1, 2, 3, 3), dict(kernel_size=3, padding=2)),
          ((1, 2, 3, 3), dict(kernel_size=4)),
          ((3, 3), dict(kernel_size=2)),
          ((1, 2, 3, 3), dict(kernel_size=0)),
          ((1, 2, 3, 3), dict(kernel_size=2, stride=0)),
          ((1, 2, 9, 9), dict(kernel_size=3, padding=-1)),
          ((1, 2, 9, 9), dict(kernel_size=(3, 2), padding=(1, 2))),
          ((1, 2, 9, 9), dict(kernel_size=3, stride=-1)),
          ((1, 2, 9, 9), dict(kernel_size=-1, stride=1)),
          ((1, 2, 9, 9), dict(kernel_size=(2, 2, 2)))]


@pytest.mark.pytorch_2_13
@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("shape, kwargs", ERRORS)
def test_errors_are_pytorchs(device, name, shape, kwargs):
    with pytest.raises((RuntimeError, IndexError)) as theirs:   # avg_pool2d of 2-D: IndexError
        getattr(torch.nn.functional, name)(torch.zeros(shape), **kwargs)
    with pytest.raises(RuntimeError) as ours:
        getattr(F, name)(to_tensor(np.zeros(shape), device), **kwargs)
    if theirs.type is RuntimeError:
        assert str(ours.value) == str(theirs.value).replace("max_pool2d", name)


def test_dilation_errors_are_pytorchs(device):
    with pytest.raises(RuntimeError, match="dilation should be greater than zero, but got "
                       "dilationH: 0 dilationW: 0"):
        F.max_pool2d(to_tensor(np.zeros((1, 1, 4, 4)), device), 2, dilation=0)
    with pytest.raises(RuntimeError, match="divisor must be not zero"):
        F.avg_pool2d(to_tensor(np.zeros((1, 1, 4, 4)), device), 2, divisor_override=0)


MODULES = [("MaxPool2d", (2,), {}),
           ("MaxPool2d", ((2, 3),), dict(stride=1, padding=1, dilation=2, ceil_mode=True)),
           ("AvgPool2d", (2,), {}),
           ("AvgPool2d", ((2, 3),), dict(stride=(1, 2), padding=1, ceil_mode=True,
                                         count_include_pad=False))]


@pytest.mark.parametrize("name, args, kwargs", MODULES)
def test_modules_are_pytorchs(device, name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == []
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 6))
    np.testing.assert_allclose(host(ours(to_tensor(x, device))),
                               theirs(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool_module_returns_indices(device):
    x = np.random.default_rng(3).standard_normal((1, 2, 4, 4))
    y, indices = nn.MaxPool2d(2, return_indices=True)(to_tensor(x, device))
    _, expected = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(host(indices), expected.numpy())


# --- F.interpolate and nn.Upsample (mode 'nearest') ----------------------------------------------

@st.composite
def resize(draw, max_side=4):
    """(x shape, kwargs): a size or a scale factor (an int, a float, or one per dim)."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + tuple(
        draw(st.integers(1, max_side)) for _ in range(2))
    factor = st.one_of(st.integers(1, 3), st.floats(0.5, 3.0).filter(lambda f: f > 0))
    if draw(st.booleans()):
        size = st.integers(1, 2 * max_side)
        return shape, dict(size=draw(st.one_of(size, st.tuples(size, size))))
    scale = draw(st.one_of(factor, st.tuples(factor, factor)))
    pair = scale if isinstance(scale, tuple) else (scale, scale)
    if any(int(n * f) < 1 for n, f in zip(shape[2:], pair)):
        scale = 2
    return shape, dict(scale_factor=scale)


@given(data=st.data())
def test_interpolate_gradients_first_and_second_order(device, data):
    shape, kwargs = data.draw(resize(max_side=3))
    x = to_tensor(data.draw(arrays(shape)), device)
    assert tg.gradcheck(lambda x: F.interpolate(x, **kwargs), [x])

    @tg.enable_grad()
    def squared_gradient(x):
        y = F.interpolate(x, **kwargs)
        (gx,) = tg.autograd.grad((y * y * y).sum(), [x], create_graph=True)
        return (gx * gx).sum()
    assert tg.gradcheck(squared_gradient, [x])


@given(data=st.data())
def test_interpolate_matches_pytorch(device, data):
    shape, kwargs = data.draw(resize(max_side=9))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    compare(lambda x: F.interpolate(x, **kwargs),
            lambda x: torch.nn.functional.interpolate(x, **kwargs),
            [rng.standard_normal(shape)], device, rng)


@pytest.mark.parametrize("n, m, factor", [(3, 7, None), (7, 3, None), (10, 23, None), (5, 8, 1.7),
                                          (7, 2, 1 / 3), (6, 13, 2.2), (100, 33, None),
                                          (9, 29, 3.3)])
def test_interpolate_index_rule_is_pytorchs(device, n, m, factor):
    # floor(o · scale) in float32, scale = 1/scale_factor or n/m: rounding decides some pixels
    x = np.arange(float(n)).reshape(1, 1, 1, n)
    kwargs = dict(scale_factor=(1, factor)) if factor else dict(size=(1, m))
    y = F.interpolate(to_tensor(x, device, requires_grad=False), **kwargs)
    expected = torch.nn.functional.interpolate(torch.tensor(x), **kwargs)
    np.testing.assert_array_equal(host(y), expected.numpy())


INTERPOLATE_ERRORS = [(dict(), ValueError), (dict(size=4, scale_factor=2), ValueError),
                      (dict(size=(1, 2, 3)), ValueError),
                      (dict(scale_factor=(1, 2, 3)), ValueError),
                      (dict(size=0), RuntimeError), (dict(scale_factor=0.1), RuntimeError),
                      (dict(size=(2, -1)), RuntimeError),
                      (dict(scale_factor=2, align_corners=True), ValueError)]


@pytest.mark.parametrize("kwargs, error", INTERPOLATE_ERRORS)
def test_interpolate_errors_are_pytorchs(device, kwargs, error):
    with pytest.raises(error) as theirs:
        torch.nn.functional.interpolate(torch.zeros(1, 2, 3, 5), **kwargs)
    with pytest.raises(error) as ours:
        F.interpolate(to_tensor(np.zeros((1, 2, 3, 5)), device), **kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("mode", ["bilinear", "nearest-exact", "bicubic", "area"])
def test_other_modes_are_not_implemented(device, mode):
    with pytest.raises(NotImplementedError, match=f"mode='nearest' only.*{mode}"):
        F.interpolate(to_tensor(np.zeros((1, 1, 2, 2)), device), scale_factor=2, mode=mode)
    with pytest.raises(NotImplementedError, match="4D input only"):
        F.interpolate(to_tensor(np.zeros((1, 1, 2)), device), scale_factor=2)


@pytest.mark.parametrize("kwargs", [dict(scale_factor=2), dict(size=3), dict(size=(3, 4)),
                                    dict(scale_factor=(2, 3)), dict(scale_factor=1.5),
                                    dict(scale_factor=2.0, mode="bilinear")])
def test_upsample_is_pytorchs(device, kwargs):
    ours, theirs = nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs)
    assert repr(ours) == repr(theirs)
    if kwargs.get("mode", "nearest") == "nearest":
        x = np.random.default_rng(4).standard_normal((2, 3, 4, 5))
        np.testing.assert_array_equal(host(ours(to_tensor(x, device))),
                                      theirs(torch.tensor(x)).numpy())


# --- F.dropout2d and nn.Dropout2d ----------------------------------------------------------------

@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout2d_zeroes_whole_channels_and_scales_the_rest(device, p):
    tg.manual_seed(0)
    x = to_tensor(np.random.default_rng(5).uniform(1, 2, (40, 50, 3, 2)), device)
    y = F.dropout2d(x, p)
    ratio = (host(y) / host(x)).reshape(40, 50, -1)
    kept = ratio[..., 0] != 0
    mask = np.where(kept, 1 / (1 - p), 0.0)[:, :, None, None]  # one decision per channel
    np.testing.assert_allclose(host(y), host(x) * mask, rtol=1e-15, atol=0)
    assert abs((~kept).mean() - p) < 0.05                        # 2000 channels
    y.backward(to_tensor(np.ones(x.shape), device, requires_grad=False))
    np.testing.assert_array_equal(host(x.grad), np.broadcast_to(mask, x.shape))   # the mask


def test_dropout2d_gradcheck_with_a_fixed_mask(device):
    x = to_tensor(np.random.default_rng(6).standard_normal((2, 3, 2, 2)), device)

    def dropped(x):
        tg.manual_seed(1)      # the same mask on every call of the central differences
        return F.dropout2d(x, 0.4)
    assert tg.gradcheck(dropped, [x])


def test_dropout2d_follows_the_seed_and_a_generator(device):
    x = to_tensor(np.ones((4, 8, 2, 2)), device, requires_grad=False)
    tg.manual_seed(3)
    first = host(F.dropout2d(x))
    tg.manual_seed(3)
    np.testing.assert_array_equal(host(F.dropout2d(x)), first)
    assert not np.array_equal(host(F.dropout2d(x)), first)       # the stream moved on
    from tinygan import backend
    masks = [host(F.dropout2d(x, generator=backend.RandomStream(9, device))) for _ in range(2)]
    np.testing.assert_array_equal(*masks)                        # its own stream


def test_dropout2d_in_eval_and_at_the_ends_of_p(device):
    x = to_tensor(np.random.default_rng(7).standard_normal((2, 3, 2, 2)), device)
    layer = nn.Dropout2d(0.7).eval()
    assert layer(x) is x and F.dropout2d(x, 0.7, training=False) is x
    assert F.dropout2d(x, 0.0) is x
    assert np.all(host(F.dropout2d(x, 1.0)) == 0)
    assert layer.train()(x).shape == x.shape


def test_dropout2d_inplace(device):
    x = to_tensor(np.ones((3, 4, 2, 2)), device, requires_grad=False)
    tg.manual_seed(2)
    y = F.dropout2d(x, 0.5, inplace=True)
    assert y is x and set(np.unique(host(x))) <= {0.0, 2.0}


def test_dropout2d_of_3d_input_warns_as_pytorch(device):
    x = to_tensor(np.ones((2, 3, 4)), device, requires_grad=False)
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        y = F.dropout2d(x)
    per_channel = host(y)
    assert np.all(per_channel == per_channel[..., :1])           # (N, C, L): one per channel


@pytest.mark.parametrize("args", [(), (0.3,), (0.5, True)])
def test_dropout2d_module_is_pytorchs(args):
    assert repr(nn.Dropout2d(*args)) == repr(torch.nn.Dropout2d(*args))
    with pytest.raises(ValueError) as theirs:
        torch.nn.Dropout2d(1.5)
    with pytest.raises(ValueError) as ours:
        nn.Dropout2d(1.5)
    assert str(ours.value) == str(theirs.value)


def test_interpolate_gives_a_row_major_tensor_as_pytorch(device):
    # NumPy lays out x[:, :, rows, cols] in another order; PyTorch's result is row-major, so
    # .view and a view under no_grad behave as there (the differential test found both)
    x = tg.zeros(1, 2, 2, 3, device=device, requires_grad=True)
    y = F.interpolate(x, size=(1, 2))
    assert y.view(4).shape == (4,)
    with tg.no_grad():
        assert y.reshape(4).requires_grad      # a view of a tensor that requires grad


def test_interpolate_keeps_no_tensor_a_second_backward_would_miss(device):
    """PyTorch's nearest upsampling saves only sizes: a second backward through it works
    without retain_graph (the differential test found tinygan's refusing it)."""
    results = []
    for lib, x in ((tg, to_tensor(np.ones((1, 2, 3, 5)), device)),
                   (torch, torch.ones(1, 2, 3, 5, dtype=torch.float64, requires_grad=True))):
        y = lib.nn.functional.interpolate(x, size=(1, 1))
        (y * 2).sum().backward()
        (y * 3).sum().backward()
        results.append(x.grad)
    np.testing.assert_array_equal(host(results[0]), results[1].numpy())
