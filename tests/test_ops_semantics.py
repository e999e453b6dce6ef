"""Values and gradients that must match PyTorch's conventions, checked against hand-computed numpy.

Central differences cannot check these: they sit exactly on kinks and ties
(relu at 0, clamp at its bounds, tied maxima), where PyTorch picks a convention,
or they are about dtypes and extreme values rather than derivatives.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan.nn import functional as F
from strategies import arrays, host, shape_and_dim, to_tensor


def leaf(values, device, dtype=np.float64):
    return to_tensor(np.asarray(values, dtype=dtype), device)


def grad_of(t):
    assert t.grad is not None, "no gradient reached this leaf"
    return t.grad.numpy()


# --- variance and standard deviation: N - correction ----------------------------------------

VAR_CASES = [(dict(), 1), (dict(unbiased=True), 1), (dict(unbiased=False), 0),
             (dict(correction=0), 0), (dict(correction=1), 1), (dict(correction=2), 2)]


@pytest.mark.parametrize("kwargs,ddof", VAR_CASES, ids=str)
@given(case=shape_and_dim(min_dims=1), keepdim=st.booleans(), data=st.data())
def test_var_std_match_numpy_ddof(device, kwargs, ddof, case, keepdim, data):
    shape, dim = case
    x = data.draw(arrays(shape))
    axis = dim if dim is None or isinstance(dim, int) else tuple(dim)
    count = x.size if dim is None else int(np.prod([x.shape[a] for a in np.atleast_1d(axis)]))
    if count <= ddof:
        x, axis, dim = np.concatenate([x.ravel(), [0.5, -1.5, 2.0]]), None, None
    t = to_tensor(x, device, requires_grad=False)
    expected = np.var(x, axis=axis, ddof=ddof, keepdims=keepdim)
    np.testing.assert_allclose(t.var(dim, keepdim=keepdim, **kwargs).numpy(), expected,
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tg.std(t, dim, keepdim=keepdim, **kwargs).numpy(),
                               np.std(x, axis=axis, ddof=ddof, keepdims=keepdim),
                               rtol=1e-12, atol=1e-14)


def test_var_by_hand(device):
    x = to_tensor(np.array([1.0, 2.0, 3.0, 6.0]), device, requires_grad=False)
    # mean 3, squared deviations 4 + 1 + 0 + 9 = 14
    assert x.var().item() == pytest.approx(14 / 3, rel=1e-15)             # unbiased by default
    assert x.var(unbiased=False).item() == pytest.approx(14 / 4, rel=1e-15)
    assert x.var(correction=2).item() == pytest.approx(14 / 2, rel=1e-15)
    assert x.std().item() == pytest.approx(np.sqrt(14 / 3), rel=1e-15)
    assert x.std(correction=0).item() == pytest.approx(np.sqrt(14 / 4), rel=1e-15)


def test_var_gradient_by_hand(device):
    x = leaf([1.0, 2.0, 3.0, 6.0], device)
    x.var(correction=2).backward()          # d/dx_i = 2 (x_i - mean) / (N - 2)
    np.testing.assert_allclose(grad_of(x), 2 * np.array([-2.0, -1.0, 0.0, 3.0]) / 2, rtol=1e-15)


def test_var_unbiased_and_correction_together_is_an_error(device):
    x = leaf([1.0, 2.0], device)
    with pytest.raises(ValueError, match="correction"):
        x.var(unbiased=True, correction=1)


# --- ties -------------------------------------------------------------------------------------

def test_full_max_splits_gradient_evenly_among_ties(device):
    x = leaf([1.0, 3.0, 3.0, 2.0, 3.0], device)
    m = x.max()
    assert m.shape == () and m.item() == 3.0
    m.backward()
    np.testing.assert_allclose(grad_of(x), [0, 1 / 3, 1 / 3, 0, 1 / 3], rtol=1e-15)


def test_full_min_splits_gradient_evenly_among_ties(device):
    x = leaf([[0.0, 5.0], [-1.0, -1.0]], device)
    (x.min() * 4.0).backward()
    np.testing.assert_allclose(grad_of(x), [[0, 0], [2.0, 2.0]], rtol=1e-15)


def test_max_over_dim_gives_gradient_to_first_tied_index(device):
    x = leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0], [4.0, 4.0, 4.0]], device)
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(host(values), [3.0, 2.0, 4.0])
    assert indices.dtype == tg.int64
    np.testing.assert_array_equal(indices.numpy(), [1, 0, 0])
    values.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[0, 1, 0], [1, 0, 0], [1, 0, 0]])


def test_min_over_negative_dim_keepdim_first_tied_index(device):
    x = leaf([[1.0, 0.0, 0.0], [2.0, -1.0, -1.0]], device)
    result = x.min(dim=-1, keepdim=True)
    assert result.values.shape == (2, 1) and result.indices.shape == (2, 1)
    np.testing.assert_array_equal(result.indices.numpy(), [[1], [1]])
    result.values.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[0, 1, 0], [0, 1, 0]])


def test_max_over_dim0_with_ties(device):
    x = leaf([[5.0, 1.0], [5.0, 2.0]], device)
    values, indices = x.max(0)
    np.testing.assert_array_equal(indices.numpy(), [0, 1])
    (values * leaf([10.0, 20.0], device).detach()).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[10, 0], [0, 20]])


def test_maximum_of_equal_values_gives_half_to_each(device):
    a = leaf([1.0, 2.0, 3.0], device)
    b = leaf([1.0, 0.0, 3.0], device)
    tg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(grad_of(a), [0.5, 1.0, 0.5])
    np.testing.assert_array_equal(grad_of(b), [0.5, 0.0, 0.5])


def test_minimum_of_equal_values_gives_half_to_each(device):
    a = leaf([1.0, 2.0, 3.0], device)
    b = leaf([1.0, 0.0, 3.0], device)
    tg.minimum(a, b).sum().backward()
    np.testing.assert_array_equal(grad_of(a), [0.5, 0.0, 0.5])
    np.testing.assert_array_equal(grad_of(b), [0.5, 1.0, 0.5])


def test_maximum_of_a_tensor_with_itself(device):
    a = leaf([1.0, -2.0], device)
    out = tg.maximum(a, a)                  # 0.5 through each operand: 1 in all
    np.testing.assert_array_equal(host(out), [1.0, -2.0])
    out.sum().backward()
    np.testing.assert_array_equal(grad_of(a), [1.0, 1.0])


def test_maximum_with_a_zero_tensor_tie(device):
    a = leaf([0.0, 1.0, -1.0], device)
    tg.maximum(a, tg.zeros((), dtype=tg.float64, device=device)).sum().backward()
    np.testing.assert_array_equal(grad_of(a), [0.5, 1.0, 0.0])


def test_maximum_of_a_number_is_refused_as_in_pytorch(device):
    with pytest.raises(TypeError, match=r"maximum: expected a Tensor.*clamp\(min="):
        tg.maximum(leaf([1.0], device), 0.0)


# --- kinks: PyTorch's conventions ---------------------------------------------------------------

def test_relu_value_and_gradient_at_zero(device):
    x = leaf([-1.0, 0.0, 2.0], device)
    y = x.relu()
    np.testing.assert_array_equal(host(y), [0.0, 0.0, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [0.0, 0.0, 1.0])


def test_abs_gradient_at_zero_is_zero(device):
    x = leaf([-1.5, 0.0, 2.0], device)
    x.abs().sum().backward()
    np.testing.assert_array_equal(grad_of(x), [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_leaky_relu_value_and_gradient_at_zero_is_slope(device, slope):
    x = leaf([-2.0, 0.0, 3.0], device)
    y = F.leaky_relu(x, slope) if slope != 0.01 else F.leaky_relu(x)   # 0.01 is the default
    np.testing.assert_allclose(host(y), [-2.0 * slope, 0.0, 3.0], rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), [slope, slope, 1.0], rtol=1e-15)   # x > 0 ? 1 : slope


def test_clamp_gradient_is_one_at_the_bounds(device):
    values = [-1.0, 0.0, 0.5, 1.0, 2.0]
    for kwargs, expected_value, expected_grad in [
        (dict(min=0.0, max=1.0), [0.0, 0.0, 0.5, 1.0, 1.0], [0, 1, 1, 1, 0]),
        (dict(min=0.0), [0.0, 0.0, 0.5, 1.0, 2.0], [0, 1, 1, 1, 1]),
        (dict(max=1.0), [-1.0, 0.0, 0.5, 1.0, 1.0], [1, 1, 1, 1, 0]),
    ]:
        x = leaf(values, device)
        y = x.clamp(**kwargs)
        np.testing.assert_array_equal(host(y), expected_value)
        y.sum().backward()
        np.testing.assert_array_equal(grad_of(x), expected_grad, err_msg=str(kwargs))


def test_clamp_needs_a_bound(device):
    with pytest.raises(ValueError, match="min or max"):
        leaf([1.0], device).clamp()


# --- scatter of repeated indices and broadcast reductions ---------------------------------------

def test_repeated_index_gradients_add_up(device):
    x = leaf([1.0, 2.0, 3.0, 4.0], device)
    y = x[[0, 0, 1]]
    np.testing.assert_array_equal(host(y), [1.0, 1.0, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(grad_of(x), [2.0, 1.0, 0.0, 0.0])


def test_repeated_tensor_index_with_weights(device):
    x = leaf([1.0, 2.0, 3.0], device)
    index = tg.tensor([2, -1, 0, 2], device=device)        # -1 and 2 are the same element
    (x[index] * leaf([1.0, 10.0, 100.0, 1000.0], device).detach()).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [100.0, 0.0, 1011.0])


def test_repeated_rows_and_mixed_index(device):
    x = leaf(np.arange(6.0).reshape(3, 2), device)
    x[[1, 1, 2], 1].sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[0, 0], [0, 2], [0, 1]])
    x.grad = None
    x[[0, 0], :].sum().backward()
    np.testing.assert_array_equal(grad_of(x), [[2, 2], [0, 0], [0, 0]])


def test_boolean_mask_index(device):
    x = leaf([-1.0, 2.0, -3.0, 4.0], device)
    y = x[x > 0]
    np.testing.assert_array_equal(host(y), [2.0, 4.0])
    (y * 3.0).sum().backward()
    np.testing.assert_array_equal(grad_of(x), [0.0, 3.0, 0.0, 3.0])


@pytest.mark.parametrize("b_shape", [(1, 3), (3,)])
def test_broadcast_sum_gradient_has_operand_shape(device, b_shape):
    a = leaf(np.arange(12.0).reshape(4, 3), device)
    b = leaf(np.ones(b_shape), device)
    (a + b).sum().backward()
    assert b.grad.shape == b_shape and a.grad.shape == (4, 3)
    np.testing.assert_array_equal(grad_of(b), np.full(b_shape, 4.0))    # a.shape[0] * ones
    np.testing.assert_array_equal(grad_of(a), np.ones((4, 3)))


def test_broadcast_product_gradient_sums_over_stretched_dims(device):
    a_host = np.arange(12.0).reshape(4, 3)
    a = leaf(a_host, device)
    b = leaf([[2.0], [3.0], [4.0], [5.0]], device)         # (4, 1), stretched along dim 1
    c = leaf(7.0, device)                                  # 0-d, stretched along everything
    (a * b * c).sum().backward()
    np.testing.assert_allclose(grad_of(b), 7.0 * a_host.sum(axis=1, keepdims=True), rtol=1e-15)
    np.testing.assert_allclose(grad_of(c), (a_host * [[2], [3], [4], [5]]).sum(), rtol=1e-15)
    assert c.grad.shape == ()


# --- extreme values -----------------------------------------------------------------------------

def test_sigmoid_of_huge_values_in_float32_is_exact_and_warns_nothing(device):
    x = leaf([-1e4, -100.0, 0.0, 100.0, 1e4], device, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # an overflow in exp would warn on "cpu"
        y = x.sigmoid()
        y.sum().backward()
    values = host(y)
    assert y.dtype == tg.float32
    assert np.all(np.isfinite(values))
    assert values[0] == 0.0 and values[-1] == 1.0 and values[2] == 0.5
    assert np.all(np.isfinite(grad_of(x)))
    assert grad_of(x)[0] == 0.0 and grad_of(x)[-1] == 0.0 and grad_of(x)[2] == 0.25


def test_softplus_beyond_threshold_is_identity(device):
    big = np.array([20.5, 30.0, 100.0, 1e4], dtype=np.float32)
    x = leaf(big, device, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.softplus(x)
        y.sum().backward()
    np.testing.assert_array_equal(host(y), big)            # exactly x, not log1p(exp(x))
    np.testing.assert_array_equal(grad_of(x), np.ones(4, dtype=np.float32))


def test_softplus_below_threshold_is_log1p_exp(device):
    values = np.array([-30.0, -2.0, 0.0, 1.5, 19.0])
    x = leaf(values, device)
    y = F.softplus(x)
    np.testing.assert_allclose(host(y), np.log1p(np.exp(values)), rtol=1e-14)
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), 1 / (1 + np.exp(-values)), rtol=1e-14)


# --- dtypes -------------------------------------------------------------------------------------

W32 = np.arange(6, dtype=np.float32).reshape(2, 3) / 10


FLOAT32_OPS = {
    "t + t": lambda t, d: t + t,
    "t * 2.5": lambda t, d: t * 2.5,
    "2.5 * t": lambda t, d: 2.5 * t,
    "t + 1": lambda t, d: t + 1,
    "2.5 - t": lambda t, d: 2.5 - t,
    "t - 0.5": lambda t, d: t - 0.5,
    "t / 3": lambda t, d: t / 3,
    "3.0 / t": lambda t, d: 3.0 / t,
    "t ** 2": lambda t, d: t ** 2,
    "t ** 0.5": lambda t, d: t ** 0.5,
    "2.0 ** t": lambda t, d: 2.0 ** t,
    "t ** t": lambda t, d: t ** t,
    "-t": lambda t, d: -t,
    "np.float64(2) * t": lambda t, d: np.float64(2) * t,
    "t * np.float64(2)": lambda t, d: t * np.float64(2),
    "t - np.float64(0.5)": lambda t, d: t - np.float64(0.5),
    "np.float64(1) / t": lambda t, d: np.float64(1) / t,
    "t + np.int64(3)": lambda t, d: t + np.int64(3),
    "t @ t.T": lambda t, d: t @ t.T,
    "exp": lambda t, d: t.exp(),
    "log": lambda t, d: t.log(),
    "log1p": lambda t, d: t.log1p(),
    "sqrt": lambda t, d: t.sqrt(),
    "abs": lambda t, d: t.abs(),
    "clamp": lambda t, d: t.clamp(0.5, 1.5),
    "clamp np.float64": lambda t, d: t.clamp(min=np.float64(0.5)),
    "maximum 0-d": lambda t, d: tg.maximum(t, tg.tensor(1.5, dtype=tg.float64, device=d)),
    "minimum 0-d": lambda t, d: tg.minimum(t, tg.tensor(1.5, dtype=tg.float64, device=d)),
    "maximum": lambda t, d: tg.maximum(t, t * 0.5),
    "where scalar": lambda t, d: tg.where(t > 1, t, 0.0),
    "where": lambda t, d: tg.where(t > 1, t, t * 2),
    "relu": lambda t, d: t.relu(),
    "leaky_relu": lambda t, d: F.leaky_relu(t, 0.2),
    "sigmoid": lambda t, d: t.sigmoid(),
    "tanh": lambda t, d: t.tanh(),
    "softplus": lambda t, d: F.softplus(t),
    "sum": lambda t, d: t.sum(),
    "sum dim": lambda t, d: t.sum(1),
    "mean": lambda t, d: t.mean(0),
    "var": lambda t, d: t.var(),
    "std": lambda t, d: t.std(1),
    "max": lambda t, d: t.max(),
    "max dim": lambda t, d: t.max(1).values,
    "min dim": lambda t, d: t.min(0).values,
    "reshape": lambda t, d: t.reshape(3, 2),
    "flatten": lambda t, d: t.flatten(),
    "transpose": lambda t, d: t.transpose(0, 1),
    "T": lambda t, d: t.T,
    "permute": lambda t, d: t.permute(1, 0),
    "unsqueeze": lambda t, d: t.unsqueeze(0),
    "squeeze": lambda t, d: t.unsqueeze(1).squeeze(),
    "getitem": lambda t, d: t[1, ::2],
    "getitem repeats": lambda t, d: t[[0, 0]],
    "cat": lambda t, d: tg.cat([t, t * 2]),
    "stack": lambda t, d: tg.stack([t, t], dim=1),
    "linear": lambda t, d: F.linear(t, tg.tensor(W32, device=d), tg.tensor(W32[0, :2], device=d)),
    "clone": lambda t, d: t.clone(),
}


@pytest.mark.parametrize("name", list(FLOAT32_OPS))
def test_float32_in_float32_out(device, name):
    """Python and numpy scalars never upcast a float32 tensor, in forward or in the gradient."""
    x = leaf([[0.25, 0.5, 1.0], [1.25, 1.75, 2.0]], device, dtype=np.float32)
    y = FLOAT32_OPS[name](x, device)
    assert y.dtype == tg.float32, f"{name} gives {y.dtype}"
    y.sum().backward()
    assert x.grad.dtype == tg.float32, f"the gradient of {name} is {x.grad.dtype}"
    assert x.grad.device == device


def test_float64_stays_float64_with_python_scalars(device):
    x = leaf([1.0, 2.0], device, dtype=np.float64)
    for y in (x * 2.5, 2.5 - x, x ** 2, x / 3, np.float32(2) * x):
        assert y.dtype == tg.float64


def test_comparisons_return_bool_tensors_without_grad(device):
    x = leaf([-1.0, 0.0, 2.0], device)
    other = leaf([0.0, 0.0, 0.0], device)
    cases = {
        "x < 0": (x < 0, [True, False, False]),
        "x <= 0": (x <= 0, [True, True, False]),
        "x > 0": (x > 0, [False, False, True]),
        "x >= 0": (x >= 0, [False, True, True]),
        "x == 0": (x == 0, [False, True, False]),
        "x != 0": (x != 0, [True, False, True]),
        "0 < x": (0 < x, [False, False, True]),
        "x > other": (x > other, [False, False, True]),
        "x == other": (x == other, [False, True, False]),
    }
    for name, (result, expected) in cases.items():
        assert result.dtype == tg.bool_, name
        assert not result.requires_grad and result.grad_fn is None, name
        assert result.device == device, name
        assert result.tolist() == expected, name


def test_integer_and_default_float_dtypes(device):
    assert tg.arange(5, device=device).dtype == tg.int64
    assert tg.arange(5, device=device).tolist() == [0, 1, 2, 3, 4]
    assert tg.arange(0, 1, 0.25, device=device).dtype == tg.float32
    assert tg.tensor([1, 2], device=device).dtype == tg.int64
    assert tg.tensor([1.0], device=device).dtype == tg.float32
    assert tg.tensor(3.5, device=device).dtype == tg.float32
    assert tg.tensor([[1, 2.5]], device=device).dtype == tg.float32
    assert tg.tensor([True, False], device=device).dtype == tg.bool_
    assert tg.tensor(np.zeros(2), device=device).dtype == tg.float64      # arrays keep theirs
    assert tg.tensor(np.zeros(2, np.int32), device=device).dtype == tg.int32
    assert tg.tensor([1, 2], dtype=tg.float64, device=device).dtype == tg.float64


def test_integer_tensor_cannot_require_grad(device):
    with pytest.raises(RuntimeError, match="floating point"):
        tg.tensor([1, 2], device=device, requires_grad=True)


# --- 0-d tensors reduce over dim 0 / -1, as in PyTorch ---------------------------------------------

@pytest.mark.parametrize("dim", [0, -1])
def test_reductions_of_a_0d_tensor_over_its_dim(device, dim):
    """PyTorch treats a 0-d tensor as having one dim for reductions: t.sum(0) is t."""
    x = leaf(2.5, device)
    for y in (x.sum(dim), x.mean(dim), x.max(dim).values, x.sum((dim,)), x.sum(dim, keepdim=True)):
        assert y.shape == () and y.item() == 2.5
    assert x.max(dim).indices.item() == 0
    x.sum(dim).backward()
    assert x.grad.item() == 1.0


# --- cpu/cuda parity in float32 ---------------------------------------------------------------

PARITY_OPS = {
    "matmul": lambda x, w: x @ w,
    "sigmoid": lambda x, w: (x * 4.0).sigmoid(),
    "softplus": lambda x, w: F.softplus(x * 12.0),       # reaches the linear part (> 20) too
    "sum": lambda x, w: x.sum(1),
    "var": lambda x, w: x.var(0),
    "getitem repeats": lambda x, w: x[[0, 2, 2, -1, 2], 1:],
    "chain": lambda x, w: F.softplus(x @ w).sigmoid()[[1, 1, 0, 4]].var(dim=0) * w.sum(),
}


def _assert_float32_close(got, want, what):
    """Equal to a float32 tolerance: 16 ulps (2e-6) of the result's own scale.

    The same float32 inputs go through the same formulas on both devices; what
    may differ on a real GPU is the order of summation (cuBLAS, CuPy's reductions)
    and the last ulp or two of exp/log1p. Each op adds at most a few ulps of
    float32 (eps 1.2e-7) relative to the magnitude of the terms it sums, and the
    deepest chain here is four ops over at most 5 terms, hence rtol 2e-6 with an
    absolute floor of 2e-6 × the largest magnitude (a variance or a dot product
    can land near 0 by cancellation, where a relative bound means nothing).
    A wrong op (a missed broadcast, a dropped repeat) is off by far more.
    """
    assert got.dtype == np.float32 and want.dtype == np.float32, what
    assert got.shape == want.shape, what
    scale = float(np.abs(want).max()) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6 * scale, err_msg=what)


@pytest.mark.parametrize("name", list(PARITY_OPS))
def test_cpu_cuda_parity_float32(name):
    """Same seeded host inputs on "cpu" and "cuda": same values and gradients (float32)."""
    rng = np.random.default_rng(2024)
    x_host = rng.standard_normal((5, 4)).astype(np.float32)
    w_host = rng.standard_normal((4, 3)).astype(np.float32)
    results = {}
    for device in ("cpu", "cuda"):
        x = tg.tensor(x_host, device=device, requires_grad=True)
        w = tg.tensor(w_host, device=device, requires_grad=True)
        out = PARITY_OPS[name](x, w)
        assert out.device == device and out.dtype == tg.float32
        upstream = np.random.default_rng(7).standard_normal(out.shape).astype(np.float32)
        out.backward(tg.tensor(upstream, device=device))
        assert x.grad.device == device
        results[device] = [out.detach().numpy(), x.grad.numpy(),
                           None if w.grad is None else w.grad.numpy()]
    cpu, cuda = results["cpu"], results["cuda"]
    _assert_float32_close(cuda[0], cpu[0], f"{name}: values")
    _assert_float32_close(cuda[1], cpu[1], f"{name}: x.grad")
    assert (cpu[2] is None) == (cuda[2] is None)
    if cpu[2] is not None:
        _assert_float32_close(cuda[2], cpu[2], f"{name}: w.grad")
    assert np.any(cpu[1] != 0), "the test needs a gradient that is not all zeros"
