"""Gradients of every differentiable op against central differences (``tg.gradcheck``).

Hypothesis draws shapes (size-1 dims, differing ranks and broadcasting
included) and float64 values; ``gradcheck`` contracts the output with a random
upstream gradient, so every output element matters. Inputs stay a margin away
from kinks and ties (see ``strategies``), where a one-sided derivative would be
legitimately different from the central difference. Each test runs on "cpu"
and "cuda" through the ``device`` fixture.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygan as tg
from tinygan.nn import functional as F
from strategies import (SAFE, advanced_indices, arrays, arrays_away_from, basic_indices,
                        broadcastable_shapes, distinct_arrays, floats, matmul_shapes,
                        nonzero_arrays, numel, positive_arrays, reduced_count, separated_pair,
                        shape_and_dim, shapes, softplus_values, to_tensor)


def gradcheck(fn, hosts, device):
    """gradcheck ``fn`` on float64 tensors made on ``device`` from host arrays."""
    tensors = [to_tensor(h, device) for h in hosts]
    assert tg.gradcheck(fn, tensors)


# --- arithmetic with broadcasting --------------------------------------------------------------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": tg.maximum,
    "minimum": tg.minimum,
    "pow": lambda a, b: a ** b,
}


@st.composite
def binary_inputs(draw, op):
    """Host arrays of two broadcast-compatible shapes, valid for ``op`` away from its kinks."""
    shape_a, shape_b = draw(broadcastable_shapes())
    if op in ("maximum", "minimum"):
        a, b = draw(separated_pair(shape_a, shape_b))
        return (a, b) if draw(st.booleans()) else (b, a)
    if op == "div":
        return draw(arrays(shape_a)), draw(nonzero_arrays(shape_b, margin=0.5))
    if op == "pow":                                     # positive base: d/db a^b = a^b ln a
        return draw(positive_arrays(shape_a, 0.5, 2.5)), draw(arrays(shape_b, -2.0, 2.0))
    return draw(arrays(shape_a)), draw(arrays(shape_b))


@pytest.mark.parametrize("op", list(BINARY))
@given(data=st.data())
def test_binary_op_gradients_broadcast(device, op, data):
    a, b = data.draw(binary_inputs(op))
    gradcheck(BINARY[op], [a, b], device)


# Broadcasting cases named explicitly, so they are checked whatever hypothesis draws:
# size-1 against n in both operands, differing ranks, a 0-d operand.
BROADCAST_CASES = [((3, 1), (1, 4)), ((2, 3), (3,)), ((3,), (2, 3)), ((), (2, 2)),
                   ((2, 2), ()), ((4, 1, 3), (2, 1)), ((1, 3), (2, 1, 1))]


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("shape_a,shape_b", BROADCAST_CASES)
def test_binary_op_gradients_named_broadcasts(device, op, shape_a, shape_b):
    rng = np.random.default_rng(7)
    a = rng.uniform(-2, 2, shape_a)
    b = rng.uniform(-2, 2, shape_b)
    if op in ("maximum", "minimum"):
        a = np.floor(a) + rng.uniform(0.05, 0.45, shape_a)
        b = np.floor(b) + rng.uniform(0.55, 0.95, shape_b)
    elif op == "div":
        b = np.sign(b + 1e-9) * rng.uniform(0.5, 2, shape_b)
    elif op == "pow":
        a = rng.uniform(0.5, 2.5, shape_a)
    gradcheck(BINARY[op], [a, b], device)


@given(data=st.data())
def test_remainder_gradients_away_from_its_jumps(device, data):
    """d(a % b)/da = 1, d(a % b)/db = -floor(a/b), checked where a/b is at least 0.1 from an
    integer (a % b jumps there, and a central difference across a jump means nothing)."""
    shape = data.draw(shapes())
    quotient = np.floor(data.draw(arrays(shape, -4, 4))) + data.draw(arrays(shape, 0.1, 0.9))
    b = data.draw(nonzero_arrays(shape, margin=0.5))
    gradcheck(lambda x, y: x % y, [b * quotient, b], device)
    gradcheck(lambda x: x % 1.75, [1.75 * quotient], device)          # tensor % number
    gradcheck(lambda y: 2.5 % y, [2.5 / quotient], device)            # number % tensor


def test_remainder_gradients_broadcast(device):
    a = np.array([[0.3], [1.2], [-0.7]])                  # a/b at least 0.1 from an integer
    b = np.array([[0.5, -0.5, 1.0, 2.0]])                 # for every pair
    gradcheck(lambda x, y: x.remainder(y), [a, b], device)
    gradcheck(lambda x, y: tg.remainder(y, x), [b.T, a.T], device)


SCALAR_OPS = {
    "t + s": lambda t, s: t + s,
    "s + t": lambda t, s: s + t,
    "t - s": lambda t, s: t - s,
    "s - t": lambda t, s: s - t,
    "t * s": lambda t, s: t * s,
    "s * t": lambda t, s: s * t,
    "t / s": lambda t, s: t / s,
    "s / t": lambda t, s: s / t,
    "np.float64(s) * t": lambda t, s: np.float64(s) * t,
    "t - np.float64(s)": lambda t, s: t - np.float64(s),
}


@pytest.mark.parametrize("expr", list(SCALAR_OPS))
@given(x=shapes().flatmap(lambda s: nonzero_arrays(s, margin=0.5)),
       s=st.one_of(floats(-3, -0.5), floats(0.5, 3)))
def test_scalar_operand_gradients(device, expr, x, s):
    gradcheck(lambda t: SCALAR_OPS[expr](t, s), [x], device)


@given(x=shapes().flatmap(nonzero_arrays), exponent=st.integers(-2, 3))
def test_pow_tensor_scalar_integer_exponent(device, x, exponent):
    gradcheck(lambda t: t ** exponent, [x], device)


@given(x=shapes().flatmap(positive_arrays), exponent=floats(-2.5, 2.5))
def test_pow_tensor_scalar_float_exponent(device, x, exponent):
    gradcheck(lambda t: t ** exponent, [x], device)


@given(x=shapes().flatmap(lambda s: arrays(s, -2, 2)), base=floats(0.5, 3.0))
def test_pow_scalar_tensor(device, x, base):
    gradcheck(lambda t: base ** t, [x], device)


@given(x=shapes().flatmap(arrays))
def test_neg(device, x):
    gradcheck(lambda t: -t, [x], device)


# --- matrix products -------------------------------------------------------------------------

@pytest.mark.parametrize("shape_a,shape_b", [
    ((3,), (3,)),             # 1-D · 1-D: a scalar
    ((3,), (3, 2)),           # 1-D · 2-D
    ((2, 3), (3,)),           # 2-D · 1-D
    ((2, 3), (3, 4)),         # 2-D · 2-D
    ((2, 2, 3), (3, 4)),      # batched 3-D · 2-D: b broadcast over the batch
    ((2, 3), (4, 3, 2)),      # 2-D · batched 3-D: a broadcast over the batch
    ((3,), (2, 3, 2)),        # 1-D · batched
    ((2, 2, 3), (3,)),        # batched · 1-D
    ((2, 1, 2, 3), (3, 3, 1)),  # batch dims broadcast against each other
])
def test_matmul_named_cases(device, shape_a, shape_b):
    rng = np.random.default_rng(3)
    gradcheck(lambda a, b: a @ b, [rng.normal(size=shape_a), rng.normal(size=shape_b)], device)


@given(pair=matmul_shapes().flatmap(lambda s: st.tuples(arrays(s[0]), arrays(s[1]))))
def test_matmul_drawn_shapes(device, pair):
    gradcheck(tg.matmul, list(pair), device)


@st.composite
def linear_inputs(draw):
    lead = draw(shapes(min_dims=0, max_dims=2, max_side=3))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x = draw(arrays(lead + (n_in,)))
    w = draw(arrays((n_out, n_in)))
    b = draw(arrays((n_out,)))
    return x, w, b


@given(inputs=linear_inputs())
def test_linear_with_bias(device, inputs):
    gradcheck(F.linear, list(inputs), device)


@given(inputs=linear_inputs())
def test_linear_without_bias(device, inputs):
    x, w, _ = inputs
    gradcheck(F.linear, [x, w], device)


def test_linear_matches_matmul_plus_bias(device):
    """linear(x, W, b) is x @ W.T + b: W is (out, in) as in PyTorch."""
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(5, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2,))
    out = F.linear(*(to_tensor(v, device, requires_grad=False) for v in (x, w, b)))
    assert out.shape == (5, 2)
    np.testing.assert_allclose(out.numpy(), x @ w.T + b, rtol=1e-12)


# --- reductions -----------------------------------------------------------------------------

@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean"])
@given(case=shape_and_dim(), data=st.data())
def test_sum_mean(device, op, keepdim, case, data):
    shape, dim = case
    x = data.draw(arrays(shape))
    gradcheck(lambda t: getattr(t, op)(dim=dim, keepdim=keepdim), [x], device)


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("dim", [0, -1, (0, 2), (-1, 0), (1, -3)])
def test_sum_mean_named_dims(device, op, dim):
    x = np.random.default_rng(1).normal(size=(2, 3, 4))
    for keepdim in (False, True):
        gradcheck(lambda t: getattr(tg, op)(t, dim, keepdim), [x], device)


CORRECTIONS = [dict(), dict(unbiased=True), dict(unbiased=False),
               dict(correction=0), dict(correction=1), dict(correction=2)]


def _ddof(kwargs):
    if "correction" in kwargs:
        return kwargs["correction"]
    return 0 if kwargs.get("unbiased") is False else 1


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("kwargs", CORRECTIONS, ids=str)
@given(case=shape_and_dim(), keepdim=st.booleans(), data=st.data())
def test_var_std(device, op, kwargs, case, keepdim, data):
    shape, dim = case
    ddof = _ddof(kwargs)
    # var needs N > correction; std also needs N > 1, for a variance above 0 (sqrt's kink)
    smallest = ddof + 1 if op == "var" else max(ddof + 1, 2)
    if reduced_count(shape, dim) < smallest:
        shape, dim = (smallest,), 0
    x = data.draw(distinct_arrays(shape))      # distinct values: each variance well above 0
    gradcheck(lambda t: getattr(t, op)(dim=dim, keepdim=keepdim, **kwargs), [x], device)


@pytest.mark.parametrize("op", ["max", "min"])
@given(x=shapes().flatmap(distinct_arrays))
def test_max_min_full(device, op, x):
    gradcheck(lambda t: getattr(t, op)(), [x], device)


@pytest.mark.parametrize("op", ["max", "min"])
@given(x=shapes(min_dims=1).flatmap(distinct_arrays), keepdim=st.booleans(), data=st.data())
def test_max_min_dim(device, op, x, keepdim, data):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    gradcheck(lambda t: getattr(t, op)(dim, keepdim).values, [x], device)


# --- elementwise math and activations -----------------------------------------------------

UNARY = {
    "exp": (lambda t: t.exp(), arrays),
    "log": (lambda t: t.log(), positive_arrays),
    "log1p": (lambda t: t.log1p(), lambda s: arrays(s, -0.5, SAFE)),
    "sqrt": (lambda t: t.sqrt(), positive_arrays),
    "abs": (lambda t: t.abs(), nonzero_arrays),
    "abs()": (lambda t: abs(t), nonzero_arrays),
    "relu": (lambda t: t.relu(), nonzero_arrays),
    "F.relu": (F.relu, nonzero_arrays),
    "leaky_relu default": (F.leaky_relu, nonzero_arrays),
    "sigmoid": (lambda t: t.sigmoid(), arrays),
    "tanh": (lambda t: t.tanh(), arrays),
    "softplus": (F.softplus, lambda s: hnp.arrays(np.float64, s, elements=softplus_values())),
}


@pytest.mark.parametrize("op", list(UNARY))
@given(data=st.data())
def test_unary(device, op, data):
    fn, values = UNARY[op]
    x = data.draw(shapes().flatmap(values))
    gradcheck(fn, [x], device)


def test_softplus_on_both_sides_of_threshold(device):
    """Values well inside the linear region (x > 20) and the soft one, in one tensor."""
    x = np.array([-30.0, -5.0, 0.3, 5.0, 19.5, 20.5, 25.0, 40.0])
    gradcheck(F.softplus, [x], device)


@given(x=shapes().flatmap(nonzero_arrays), slope=floats(0.0, 0.9))
def test_leaky_relu_slope(device, x, slope):
    gradcheck(lambda t: F.leaky_relu(t, slope), [x], device)


@st.composite
def clamp_case(draw):
    low = draw(floats(-2.0, 1.5))
    high = draw(floats(low + 0.3, 2.5))
    mode = draw(st.sampled_from(["min", "max", "both"]))
    x = draw(shapes().flatmap(lambda s: arrays_away_from(s, (low, high))))
    kwargs = {"min": dict(min=low), "max": dict(max=high), "both": dict(min=low, max=high)}[mode]
    return x, kwargs


@given(case=clamp_case())
def test_clamp(device, case):
    x, kwargs = case
    gradcheck(lambda t: t.clamp(**kwargs), [x], device)
    gradcheck(lambda t: tg.clamp(t, **kwargs), [x], device)


@given(data=st.data())
def test_where(device, data):
    shape_c, shape_a, shape_b = data.draw(broadcastable_shapes(num_shapes=3))
    condition = data.draw(hnp.arrays(np.bool_, shape_c))
    a, b = data.draw(arrays(shape_a)), data.draw(arrays(shape_b))
    cond = to_tensor(condition, device, requires_grad=False)
    gradcheck(lambda x, y: tg.where(cond, x, y), [a, b], device)
    gradcheck(lambda x: tg.where(cond, x, 0.5), [a], device)     # a number as one branch
    gradcheck(lambda y: tg.where(cond, -1.0, y), [b], device)


# --- shapes ----------------------------------------------------------------------------------

def _reshape_targets(shape):
    n = numel(shape)
    targets = [(n,), (-1,), (1, n), (n, 1), (1, -1, 1)]
    targets += [(d, n // d) for d in range(1, n + 1) if n % d == 0]
    targets += [(d, -1) for d in range(1, n + 1) if n % d == 0]
    if n == 1:
        targets.append(())
    return targets


@pytest.mark.parametrize("method", ["reshape", "view"])
@given(data=st.data())
def test_reshape_view(device, method, data):
    x = data.draw(shapes().flatmap(arrays))
    target = data.draw(st.sampled_from(_reshape_targets(x.shape)))
    gradcheck(lambda t: getattr(t, method)(target), [x], device)
    if target:
        gradcheck(lambda t: getattr(t, method)(*target), [x], device)


@given(data=st.data())
def test_flatten(device, data):
    x = data.draw(shapes().flatmap(arrays))
    ndim = max(x.ndim, 1)
    start = data.draw(st.integers(0, ndim - 1))
    end = data.draw(st.integers(start, ndim - 1))
    start -= ndim * data.draw(st.booleans())      # the same dims, counted from the end
    end -= ndim * data.draw(st.booleans())
    gradcheck(lambda t: t.flatten(start, end), [x], device)
    gradcheck(lambda t: tg.flatten(t), [x], device)


@given(data=st.data())
def test_transpose(device, data):
    x = data.draw(shapes(min_dims=1).flatmap(arrays))
    d0 = data.draw(st.integers(-x.ndim, x.ndim - 1))
    d1 = data.draw(st.integers(-x.ndim, x.ndim - 1))
    gradcheck(lambda t: t.transpose(d0, d1), [x], device)


@given(x=shapes().flatmap(arrays))
def test_T(device, x):
    gradcheck(lambda t: t.T, [x], device)


@given(data=st.data())
def test_permute(device, data):
    x = data.draw(shapes().flatmap(arrays))
    order = data.draw(st.permutations(range(x.ndim)))
    gradcheck(lambda t: t.permute(*order), [x], device)
    gradcheck(lambda t: tg.permute(t, tuple(order)), [x], device)


@pytest.mark.parametrize("order", [(1, 2, 0), (2, 0, 1), (0, 2, 1), (2, 1, 0), (-1, 0, -2)])
def test_permute_named_cases(device, order):
    """3-cycles included: their inverse is not themselves, unlike every 2-D permutation."""
    x = np.random.default_rng(5).normal(size=(2, 3, 4))
    gradcheck(lambda t: t.permute(order), [x], device)


@given(data=st.data())
def test_unsqueeze(device, data):
    x = data.draw(shapes().flatmap(arrays))
    dim = data.draw(st.integers(-x.ndim - 1, x.ndim))
    gradcheck(lambda t: t.unsqueeze(dim), [x], device)


@given(data=st.data())
def test_squeeze(device, data):
    x = data.draw(shapes(min_side=1, max_side=2).flatmap(arrays))
    gradcheck(lambda t: t.squeeze(), [x], device)
    if x.ndim:
        dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
        gradcheck(lambda t: t.squeeze(dim), [x], device)


# --- indexing ----------------------------------------------------------------------------------

@given(data=st.data())
def test_getitem_basic(device, data):
    x = data.draw(shapes(min_dims=1).flatmap(arrays))
    index = data.draw(basic_indices(x.shape))
    gradcheck(lambda t: t[index], [x], device)


@given(data=st.data())
def test_getitem_int_arrays_with_repeats(device, data):
    x = data.draw(shapes(min_dims=1).flatmap(arrays))
    index = data.draw(advanced_indices(x.shape))
    gradcheck(lambda t: t[index], [x], device)


@given(data=st.data())
def test_getitem_tensor_index_with_repeats(device, data):
    x = data.draw(shapes(min_dims=1).flatmap(arrays))
    rows = data.draw(st.lists(st.integers(-x.shape[0], x.shape[0] - 1), min_size=1, max_size=5))
    index = tg.tensor(rows + rows[:1], device=device)        # an int64 tensor on the device
    gradcheck(lambda t: t[index], [x], device)


def test_getitem_named_cases(device):
    x = np.random.default_rng(2).normal(size=(4, 3, 2))
    for index in [1, -1, slice(None, None, 2), (slice(1, 4, 2), 0), (Ellipsis, 1),
                  (None, 2), [0, 0, 3, 3, -1], ([0, 0, 2], slice(None), [1, 1, 0]),
                  (slice(1, None), [2, 2, 2]), (-2, [0, -3, 0], slice(None, None, 2))]:
        gradcheck(lambda t: t[index], [x], device)


# --- joining -----------------------------------------------------------------------------------

@given(data=st.data())
def test_cat(device, data):
    base = data.draw(shapes(min_dims=1))
    dim = data.draw(st.integers(-len(base), len(base) - 1))
    count = data.draw(st.integers(2, 3))
    pieces = []
    for _ in range(count):
        shape = list(base)
        shape[dim] = data.draw(st.integers(1, 3))
        pieces.append(data.draw(arrays(tuple(shape))))
    gradcheck(lambda *ts: tg.cat(ts, dim=dim), pieces, device)


@given(data=st.data())
def test_stack(device, data):
    shape = data.draw(shapes())
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    count = data.draw(st.integers(2, 3))
    pieces = [data.draw(arrays(shape)) for _ in range(count)]
    gradcheck(lambda *ts: tg.stack(list(ts), dim), pieces, device)


# --- dtypes and devices ------------------------------------------------------------------------

@given(x=shapes().flatmap(lambda s: hnp.arrays(np.float64, s, elements=st.integers(-1024, 1024)
                                               .map(lambda k: k / 256))))
def test_to_dtype_round_trip(device, x):
    """float64 -> float32 -> float64 is the identity on these values, so its gradient is too.

    The values are multiples of 1/256 in [-4, 4] and eps is 2**-10: x ± eps is exact in
    float32, so the central differences see no rounding (the function is linear).
    """
    t = to_tensor(x, device)
    assert tg.gradcheck(lambda v: v.to(tg.float32).to(tg.float64) * 3.0, [t], eps=2.0 ** -10)
    assert tg.gradcheck(lambda v: v.float().double() * 3.0, [t], eps=2.0 ** -10)


def test_to_float32_gradient_comes_back_float64(device):
    x = to_tensor(np.array([1.0, 2.0, 3.0]), device)
    y = x.to(tg.float32)
    assert y.dtype == tg.float32 and y.requires_grad
    upstream = np.array([0.5, -1.25, 2.0], dtype=np.float32)
    y.backward(tg.tensor(upstream, device=device))
    assert x.grad.dtype == tg.float64 and x.grad.device == device
    np.testing.assert_array_equal(x.grad.numpy(), upstream.astype(np.float64))


@given(x=shapes().flatmap(arrays))
def test_to_other_device_and_back(device, x):
    other = "cpu" if device == "cuda" else "cuda"
    gradcheck(lambda t: (t.to(other) * 2.0).to(device), [x], device)


# --- a tensor used more than once --------------------------------------------------------------

USED_TWICE = {
    "x * x": lambda x: x * x,
    "x + x": lambda x: x + x,
    "x - x * x": lambda x: x - x * x,
    "two branches": lambda x: x.tanh() * x.sigmoid() + x.exp(),
    "x @ x.T": lambda x: x @ x.T,
    "x[0] + x.sum(0)": lambda x: x[0] + x.sum(0),
}


@pytest.mark.parametrize("name", list(USED_TWICE))
@given(x=shapes(min_dims=2, max_dims=2).flatmap(arrays))
def test_tensor_used_twice_gradcheck(device, name, x):
    gradcheck(USED_TWICE[name], [x], device)


def test_tensor_used_twice_accumulates(device):
    x = to_tensor(np.array([1.0, -2.0, 3.0]), device)
    (x + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])
    x.grad = None
    a, b = x.exp(), x * 3.0                      # two branches from one leaf, joined at the end
    (a + b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, -2.0, 3.0]) + 3.0, rtol=1e-15)
