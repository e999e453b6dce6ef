"""The Tensor API and the factories, PyTorch's names and behaviour, on "cpu" and "cuda"."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import backend
from strategies import advanced_indices, arrays, basic_indices, shapes, to_tensor


def other_device(device):
    return "cpu" if device == "cuda" else "cuda"


# --- attributes -------------------------------------------------------------------------------

def test_shape_ndim_dtype_device(device):
    t = tg.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4), device=device)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.ndim == 3 and t.dim() == 3
    assert t.dtype == tg.float32
    assert t.device == device
    assert backend.device_of(t._data) == device
    assert t.numel() == 24 and len(t) == 2
    assert t.size() == (2, 3, 4)
    assert [t.size(d) for d in (0, 1, 2, -1, -2, -3)] == [2, 3, 4, 4, 3, 2]


def test_zero_dim_tensor(device):
    t = tg.tensor(4.5, device=device)
    assert t.shape == () and t.ndim == 0 and t.numel() == 1
    assert t.item() == 4.5 and t.tolist() == 4.5
    with pytest.raises(TypeError, match="0-d"):
        len(t)


@pytest.mark.parametrize("dim", [3, -4, 10])
def test_size_of_a_dim_out_of_range(device, dim):
    t = tg.zeros(2, 3, 4, device=device)
    with pytest.raises(IndexError, match=r"(?i)dimension out of range.*-3, 2"):
        t.size(dim)


def test_item(device):
    t = tg.tensor([[2.5]], device=device)
    value = t.item()
    assert value == 2.5 and type(value) is float
    assert type(tg.tensor([7], device=device).item()) is int
    assert float(t) == 2.5 and int(tg.tensor(3, device=device)) == 3


def test_item_of_several_elements_is_an_error(device):
    with pytest.raises((ValueError, RuntimeError), match="2 elements"):
        tg.tensor([1.0, 2.0], device=device).item()


def test_bool_of_several_elements_is_an_error(device):
    assert bool(tg.tensor([1.0], device=device))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(tg.tensor([1.0, 2.0], device=device))


def test_numpy_and_tolist(device):
    values = np.array([[1.5, -2.0], [0.25, 3.0]], dtype=np.float32)
    t = tg.tensor(values, device=device)
    out = t.numpy()
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, values)
    assert t.tolist() == values.tolist()


def test_numpy_on_cpu_shares_memory():
    """As in PyTorch (on "cuda" numpy() is a host copy, so this is a cpu-only property)."""
    t = tg.zeros(3)
    t.numpy()[1] = 5.0
    assert t.tolist() == [0.0, 5.0, 0.0]


def test_numpy_of_a_tensor_that_requires_grad(device):
    t = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"requires grad.*detach\(\)"):
        t.numpy()
    with pytest.raises(RuntimeError, match="detach"):
        (t * 2).numpy()
    np.testing.assert_array_equal(t.detach().numpy(), [1.0, 2.0])
    assert t.tolist() == [1.0, 2.0]                   # tolist is fine, as in PyTorch


def test_requires_grad_and_grad(device):
    t = tg.tensor([1.0, 2.0], device=device)
    assert not t.requires_grad and t.grad is None and t.is_leaf
    assert t.requires_grad_() is t and t.requires_grad
    (t * t).sum().backward()
    assert isinstance(t.grad, tg.Tensor)
    assert t.grad.device == device and t.grad.dtype == t.dtype and t.grad.shape == t.shape
    assert not t.grad.requires_grad
    assert t.grad.tolist() == [2.0, 4.0]


def test_requires_grad_false_on_a_non_leaf(device):
    y = tg.tensor([1.0], device=device, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad_(False)


def test_tensor_of_a_tensor_is_an_error(device):
    t = tg.zeros(2, device=device)
    with pytest.raises(TypeError, match="detach"):
        tg.Tensor(t)


# --- indexing ----------------------------------------------------------------------------------

@given(data=st.data())
def test_getitem_basic_matches_numpy(device, data):
    values = data.draw(shapes(min_dims=1).flatmap(arrays))
    index = data.draw(basic_indices(values.shape))
    t = to_tensor(values, device, requires_grad=False)
    out = t[index]
    assert out.device == device
    np.testing.assert_array_equal(out.numpy(), values[index])


@given(data=st.data())
def test_getitem_advanced_matches_numpy(device, data):
    values = data.draw(shapes(min_dims=1).flatmap(arrays))
    index = data.draw(advanced_indices(values.shape))
    t = to_tensor(values, device, requires_grad=False)
    np_index = tuple(np.array(p) if isinstance(p, list) else p for p in index) \
        if isinstance(index, tuple) else np.array(index)
    np.testing.assert_array_equal(t[index].numpy(), values[np_index])


def test_getitem_named_cases(device):
    values = np.arange(24.0).reshape(2, 3, 4)
    t = to_tensor(values, device, requires_grad=False)
    for index in [0, -1, (1, 2), (1, 2, 3), (slice(None), 0), (Ellipsis, -1), (None, 0),
                  (slice(None, None, 2), slice(1, None, 2)), [1, 1, 0], ([0, 1], [2, 0]),
                  (0, [2, 2, 1]), (0, slice(None), [3, 3, 1]), ([1, 1], slice(None), [0, 3])]:
        np_index = tuple(np.array(p) if isinstance(p, list) else p for p in index) \
            if isinstance(index, tuple) else (np.array(index) if isinstance(index, list) else index)
        np.testing.assert_array_equal(t[index].numpy(), values[np_index], err_msg=str(index))
    index = tg.tensor([2, 0, 2], device=device)
    np.testing.assert_array_equal(t[:, index].numpy(), values[:, [2, 0, 2]])
    mask = t > 10
    assert mask.dtype == tg.bool_
    np.testing.assert_array_equal(t[mask].numpy(), values[values > 10])


def test_setitem_bumps_values(device):
    t = tg.zeros(2, 3, device=device)
    t[0, 1] = 5.0
    t[1] = tg.ones(3, device=device)
    assert t.tolist() == [[0.0, 5.0, 0.0], [1.0, 1.0, 1.0]]


# --- devices and dtypes ---------------------------------------------------------------------

def test_to_device_round_trip_keeps_values(device):
    values = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    t = tg.tensor(values, device=device)
    moved = t.to(other_device(device))
    assert moved.device == other_device(device) and moved.dtype == tg.float32
    back = moved.to(device)
    assert back.device == device
    np.testing.assert_array_equal(back.numpy(), values)
    np.testing.assert_array_equal(moved.numpy(), values)
    assert t.to(device) is t                                    # nothing to change: itself
    assert t.cpu().device == "cpu" and t.cuda().device == "cuda"
    assert t.to("cuda:0").device == "cuda"


def test_to_dtype(device):
    t = tg.tensor([1.5, -2.25], device=device)
    d = t.to(tg.float64)
    assert d.dtype == tg.float64 and d.device == device and d.tolist() == [1.5, -2.25]
    assert t.to(dtype=tg.float64).dtype == tg.float64
    assert t.double().dtype == tg.float64 and d.float().dtype == tg.float32
    assert t.to(dtype=tg.int64).tolist() == [1, -2]
    assert t.to(dtype=tg.float32) is t
    both = t.to(other_device(device), tg.float64)
    assert both.device == other_device(device) and both.dtype == tg.float64
    assert both.tolist() == [1.5, -2.25]


def test_to_keeps_the_graph(device):
    t = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    u = t.to(tg.float64).to(other_device(device))
    assert u.requires_grad and u.grad_fn is not None
    (u * 3).sum().backward()
    assert t.grad.dtype == tg.float32 and t.grad.device == device
    assert t.grad.tolist() == [3.0, 3.0]


def test_detach(device):
    t = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    d = (t * 2).detach()
    assert not d.requires_grad and d.grad_fn is None and d.device == device
    assert d.tolist() == [2.0, 4.0]


def test_repr(device):
    t = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    leaf_text = repr(t)
    assert leaf_text.startswith("tensor([1., 2.]") and "requires_grad=True" in leaf_text
    text = repr(t * 2)
    assert "2., 4." in text and "grad_fn=<MulBackward" in text
    plain = repr(tg.tensor([0.5], device=device))
    assert "0.5" in plain and "grad_fn" not in plain and "requires_grad" not in plain
    assert "dtype=tinygan.float64" in repr(tg.zeros(1, dtype=tg.float64, device=device))
    if device == "cuda":
        assert "device='cuda:0'" in text and "device='cuda:0'" in plain   # PyTorch's words
    else:
        assert "device" not in text and "device" not in plain


def test_unknown_device_is_an_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        tg.zeros(2, device="tpu")
    with pytest.raises(ValueError, match="unknown device"):
        tg.tensor([1.0]).to("gpu0")


def test_second_gpu_is_an_error():
    with pytest.raises(ValueError, match="'cuda:1'"):
        tg.zeros(2, device="cuda:1")
    with pytest.raises(ValueError, match="'cuda:1'"):
        tg.randn(2, device="cuda:1")


# --- factories -------------------------------------------------------------------------------

FACTORIES = {
    "zeros": (lambda **kw: tg.zeros(2, 3, **kw), np.zeros((2, 3))),
    "zeros tuple": (lambda **kw: tg.zeros((2, 3), **kw), np.zeros((2, 3))),
    "ones": (lambda **kw: tg.ones(3, **kw), np.ones(3)),
    "full": (lambda **kw: tg.full((2, 2), 1.5, **kw), np.full((2, 2), 1.5)),
    "full int size": (lambda **kw: tg.full(3, 0.5, **kw), np.full(3, 0.5)),
    "tensor": (lambda **kw: tg.tensor([[1.0, 2.0]], **kw), np.array([[1.0, 2.0]])),
    "arange": (lambda **kw: tg.arange(0.0, 2.0, 0.5, **kw), np.arange(0.0, 2.0, 0.5)),
    "randn": (lambda **kw: tg.randn(4, 5, **kw), None),
    "rand": (lambda **kw: tg.rand(4, 5, **kw), None),
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_factory_default_float32_and_device(device, name):
    make, expected = FACTORIES[name]
    t = make(device=device)
    assert t.dtype == tg.float32, name
    assert t.device == device
    assert not t.requires_grad
    if expected is not None:
        np.testing.assert_array_equal(t.numpy(), expected.astype(np.float32))
    d = make(device=device, dtype=tg.float64)
    assert d.dtype == tg.float64 and d.device == device
    r = make(device=device, requires_grad=True)
    assert r.requires_grad and r.is_leaf


def test_factories_default_to_cpu():
    for t in (tg.zeros(2), tg.ones(2), tg.randn(2), tg.rand(2), tg.arange(3), tg.tensor([1.0]),
              tg.full((2,), 1.0)):
        assert t.device == "cpu"


def test_arange_forms(device):
    assert tg.arange(4, device=device).tolist() == [0, 1, 2, 3]
    assert tg.arange(2, 8, 3, device=device).tolist() == [2, 5]
    assert tg.arange(5, dtype=tg.float32, device=device).dtype == tg.float32
    assert tg.arange(3, device=device).dtype == tg.int64


@pytest.mark.parametrize("like", ["zeros_like", "ones_like", "randn_like", "rand_like", "full_like"])
def test_like_factories(device, like):
    base = tg.tensor(np.zeros((2, 3), dtype=np.float64), device=device)
    make = getattr(tg, like)
    args = (base, 2.5) if like == "full_like" else (base,)
    t = make(*args)
    assert t.shape == (2, 3) and t.dtype == tg.float64 and t.device == device
    assert make(*args, dtype=tg.float32).dtype == tg.float32
    moved = make(*args, device=other_device(device))
    assert moved.device == other_device(device) and moved.shape == (2, 3)
    if like == "zeros_like":
        assert t.tolist() == [[0.0] * 3] * 2
    if like == "ones_like":
        assert t.tolist() == [[1.0] * 3] * 2
    if like == "full_like":
        assert t.tolist() == [[2.5] * 3] * 2


def test_tensor_copies_its_input(device):
    values = np.array([1.0, 2.0], dtype=np.float32)
    t = tg.tensor(values, device=device)
    values[0] = 9.0
    assert t.tolist() == [1.0, 2.0]
    u = tg.tensor(t)
    assert u.device == device and u.tolist() == [1.0, 2.0]
    assert u._data is not t._data


def test_bad_sizes_are_errors(device):
    with pytest.raises(ValueError, match="non-negative"):
        tg.zeros(-1, device=device)
    with pytest.raises(ValueError, match="non-negative"):
        tg.ones(2.5, device=device)


# --- random numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize("factory", ["randn", "rand"])
def test_manual_seed_makes_draws_reproducible(device, factory):
    make = getattr(tg, factory)
    tg.manual_seed(0)
    first = make(3, 4, device=device).numpy()
    again = make(3, 4, device=device).numpy()
    tg.manual_seed(0)
    repeat = make(3, 4, device=device).numpy()
    np.testing.assert_array_equal(first, repeat)
    assert not np.array_equal(first, again)        # the stream moves on between draws
    tg.manual_seed(1)
    assert not np.array_equal(first, make(3, 4, device=device).numpy())


def test_manual_seed_covers_float64_and_like(device):
    tg.manual_seed(3)
    a = tg.randn(5, dtype=tg.float64, device=device).numpy()
    tg.manual_seed(3)
    b = tg.randn_like(tg.zeros(5, dtype=tg.float64, device=device)).numpy()
    np.testing.assert_array_equal(a, b)


def test_randn_statistics(device):
    tg.manual_seed(1234)
    x = tg.randn(10_000, device=device).numpy().astype(np.float64)
    # standard errors: 0.01 for the mean, about 0.007 for the std; 5 of them allowed
    assert abs(x.mean()) < 0.05
    assert abs(x.std() - 1.0) < 0.035
    assert 0.45 < np.mean(x > 0) < 0.55


def test_rand_in_unit_interval(device):
    tg.manual_seed(99)
    for dtype in (tg.float32, tg.float64):
        x = tg.rand(10_000, device=device, dtype=dtype).numpy()
        assert x.dtype == dtype
        assert x.min() >= 0.0 and x.max() < 1.0
        assert abs(x.mean() - 0.5) < 0.015             # standard error 0.0029
        assert abs(np.mean(x < 0.25) - 0.25) < 0.025


# --- errors named by their message ---------------------------------------------------------------

def test_matmul_shape_mismatch_names_both_shapes(device):
    a, b = tg.ones(2, 3, device=device), tg.ones(4, 5, device=device)
    with pytest.raises(RuntimeError, match=r"2x3.*4x5"):
        a @ b
    with pytest.raises(RuntimeError, match=r"3.*2x2"):
        tg.ones(3, device=device) @ tg.ones(2, 2, device=device)


def test_matmul_of_0d_is_an_error(device):
    with pytest.raises(RuntimeError, match="1 dimension"):
        tg.tensor(1.0, device=device) @ tg.ones(2, device=device)


@pytest.mark.parametrize("shape", [(4, 4), (5,), (-1, 4), (0, -1)])
def test_reshape_to_an_invalid_shape(device, shape):
    t = tg.zeros(2, 3, device=device)
    with pytest.raises(RuntimeError, match=r"invalid for input of size 6"):
        t.reshape(shape)


def test_reshape_with_minus_one(device):
    t = tg.arange(6, device=device)
    assert t.reshape(-1, 2).shape == (3, 2) and t.view(2, -1).shape == (2, 3)


def test_permute_and_cat_and_stack_errors(device):
    t = tg.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match="permutation"):
        t.permute(0, 0)
    with pytest.raises(RuntimeError, match=r"\(2, 3\).*\(2, 4\)"):
        tg.cat([t, tg.zeros(2, 4, device=device)])
    with pytest.raises(RuntimeError, match=r"\(2, 3\).*\(3, 2\)"):
        tg.stack([t, tg.zeros(3, 2, device=device)])
    with pytest.raises(ValueError, match="non-empty"):
        tg.cat([])


def test_linear_feature_mismatch(device):
    x = tg.zeros(4, 3, device=device)
    w = tg.zeros(2, 5, device=device)
    with pytest.raises(RuntimeError, match=r"3 features.*5"):
        tg.nn.functional.linear(x, w)


@pytest.mark.parametrize("op", [lambda t: -t, lambda t: t * 2, lambda t: t.exp(), lambda t: t + t,
                                lambda t: t.relu(), lambda t: t.sigmoid(), lambda t: abs(t)])
def test_an_op_on_a_0d_tensor_holds_a_0d_array_that_takes_writes(device, op):
    # NumPy's ufuncs give a scalar for 0-d operands; the op's result must stay an array,
    # or a later in-place write fails inside NumPy (as `with no_grad(): (-x).zero_()` did)
    x = tg.tensor(1.5, device=device)
    with tg.no_grad():
        y = op(x)
    assert y.shape == () and not isinstance(y._data, np.generic)
    y.zero_()
    assert y.item() == 0.0
