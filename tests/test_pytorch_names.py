"""The PyTorch names a learner reaches for: softmax and friends, cross_entropy, one_hot,
Embedding, the creation functions and the Tensor methods (issue: "PyTorch names").

Gradients in float64 against central differences; values against formulas written here
(and against torch where it is installed: those tests import it themselves); errors where
PyTorch raises. Every test runs on "cpu" and "cuda" (the device fixture).
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import nn
from tinygan.nn import functional as F
from strategies import arrays, host, shapes, to_tensor


def gradcheck(fn, hosts, device):
    assert tg.gradcheck(fn, [to_tensor(h, device) for h in hosts])


@st.composite
def shape_and_axis(draw, min_dims=1):
    shape = draw(shapes(min_dims=min_dims))
    if not shape:
        return shape, draw(st.sampled_from([0, -1]))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return shape, axis


def softmax_reference(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# --- softmax, log_softmax, logsumexp ---------------------------------------------------------

SOFTMAXES = {
    "softmax": lambda x, d: tg.softmax(x, d),
    "log_softmax": lambda x, d: tg.log_softmax(x, d),
    "F.softmax": lambda x, d: F.softmax(x, dim=d),
    "F.log_softmax": lambda x, d: F.log_softmax(x, dim=d),
    "nn.Softmax": lambda x, d: nn.Softmax(d)(x),
    "nn.LogSoftmax": lambda x, d: nn.LogSoftmax(dim=d)(x),
    "method softmax": lambda x, d: x.softmax(d),
    "method log_softmax": lambda x, d: x.log_softmax(d),
}


@pytest.mark.parametrize("name", list(SOFTMAXES))
@given(data=st.data())
def test_softmax_family_gradients_and_values(device, name, data):
    shape, axis = data.draw(shape_and_axis(min_dims=0))
    x = data.draw(arrays(shape))
    gradcheck(lambda t: SOFTMAXES[name](t, axis), [x], device)
    expected = softmax_reference(x, axis if x.ndim else None)
    if "log" in name.lower():
        expected = np.log(expected)
    got = SOFTMAXES[name](to_tensor(x, device, requires_grad=False), axis)
    np.testing.assert_allclose(host(got), expected, rtol=1e-12, atol=1e-14)


@given(data=st.data())
def test_logsumexp_gradients_and_values(device, data):
    shape, axis = data.draw(shape_and_axis(min_dims=0))
    keepdim = data.draw(st.booleans())
    dim = data.draw(st.sampled_from([axis, tuple(range(len(shape))) or axis]))
    x = data.draw(arrays(shape))
    gradcheck(lambda t: tg.logsumexp(t, dim, keepdim), [x], device)
    axes = None if not shape else (dim if isinstance(dim, tuple) else dim % len(shape))
    top = x.max(axis=axes, keepdims=True)                      # (log∘exp of a subnormal is 0)
    expected = top + np.log(np.exp(x - top).sum(axis=axes, keepdims=True))
    expected = expected if keepdim else expected.reshape(np.sum(x, axis=axes).shape)
    got = to_tensor(x, device, requires_grad=False).logsumexp(dim, keepdim=keepdim)
    assert got.shape == expected.shape
    np.testing.assert_allclose(host(got), expected, rtol=1e-12)


def test_softmax_family_second_derivative(device):
    """Backward is made of Tensor ops: the gradient of a gradient is right (create_graph)."""
    x0 = np.array([[0.3, -1.2, 2.0], [0.5, 0.5, -0.7]])
    for fn in (lambda t: t.softmax(1), lambda t: t.log_softmax(1), lambda t: t.logsumexp(1)):
        # the first derivative, as a function of x, checked against its central differences
        assert tg.gradcheck(lambda t: _first_derivative(fn, t, device), [to_tensor(x0, device)])


def _first_derivative(fn, t, device):
    with tg.enable_grad():
        leaf = t if t.requires_grad else t.detach().requires_grad_(True)
        out = fn(leaf)
        u = tg.linspace(-1.0, 2.0, out.numel(), dtype=tg.float64, device=device)
        y = (out * u.reshape(out.shape)).sum()
        leaf.grad = None
        y.backward(create_graph=True)
        g = leaf.grad
        leaf.grad = None
    return g


def test_softmax_is_stable_at_large_logits(device):
    x = tg.tensor([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]], device=device)
    np.testing.assert_allclose(host(x.softmax(1)), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    np.testing.assert_allclose(host(x.log_softmax(1)), [[0, -1e4, -2e4], [-math.log(3)] * 3],
                               rtol=1e-6)
    np.testing.assert_allclose(host(x.logsumexp(1)), [1e4, -1e4 + math.log(3)], rtol=1e-6)
    ninf = tg.tensor([-math.inf, -math.inf], device=device)
    assert host(ninf.logsumexp(0)) == -math.inf                 # not NaN: PyTorch's answer
    assert host(tg.tensor([math.inf, 1.0], device=device).logsumexp(0)) == math.inf
    assert np.isnan(host(ninf.softmax(0))).all()                # PyTorch: NaN too


def test_softmax_family_dtypes_and_errors(device):
    ints = tg.arange(3, device=device)
    assert ints.logsumexp(0).dtype == tg.float32                # integers: the default float
    assert tg.softmax(ints, 0, dtype=tg.float64).dtype == tg.float64
    with pytest.raises(TypeError, match="floating point"):
        tg.softmax(ints, 0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        tg.softmax(tg.ones(2, 3, device=device), 2)
    assert host(tg.softmax(tg.tensor(2.0, device=device), 0)) == 1.0
    assert tg.logsumexp(tg.zeros(0, device=device), 0).item() == -math.inf
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = F.softmax(tg.zeros(2, 4, device=device))           # legacy: dim 1 for 2-D
    np.testing.assert_allclose(host(out), np.full((2, 4), 0.25))


def test_softmax_grad_fn_names_what_it_computes(device):
    x = tg.ones(2, device=device, requires_grad=True)
    assert repr(x.softmax(0).grad_fn) == "<NormalizedExpBackward>"
    assert repr(x.log_softmax(0).grad_fn) == "<LogNormalizedExpBackward>"
    assert repr(x.logsumexp(0).grad_fn) == "<LogSumExpBackward>"


# --- argmax -----------------------------------------------------------------------------------

def test_argmax_function(device):
    x = tg.tensor([[1, 3], [4, 0]], device=device)
    assert tg.argmax(x).item() == 2 and tg.argmax(x).dtype == tg.int64
    assert tg.argmax(x, keepdim=True).shape == (1, 1)
    assert host(tg.argmax(x, dim=1)).tolist() == [1, 0]
    assert host(tg.argmin(x, 0, keepdim=True)).tolist() == [[0, 1]]


# --- nll_loss and cross_entropy ----------------------------------------------------------------

def nll_reference(logp, target, weight=None, ignore_index=-100, reduction="mean"):
    """Written out: logp (N, C, *) and target (N, *)."""
    C = logp.shape[1]
    w = np.ones(C) if weight is None else weight
    moved = np.moveaxis(logp, 1, -1).reshape(-1, C)
    t = target.reshape(-1)
    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    per = -moved[np.arange(len(t)), safe] * w[safe] * keep
    if reduction == "none":
        return per.reshape(target.shape)
    if reduction == "sum":
        return per.sum()
    return per.sum() / (w[safe] * keep).sum()


@st.composite
def class_problem(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=1)))
    x = draw(arrays((n, c) + extra))
    target = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n * math.prod(extra),
                                    max_size=n * math.prod(extra)))).reshape((n,) + extra)
    if draw(st.booleans()) and target.size > 1:
        target.reshape(-1)[0] = -100                            # one ignored target
    weight = np.array(draw(st.lists(st.floats(0.5, 2.0), min_size=c, max_size=c))) \
        if draw(st.booleans()) else None
    return x, target, weight


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(problem=class_problem(), smoothing=st.sampled_from([0.0, 0.0, 0.25]))
def test_cross_entropy_and_nll_loss_values_and_gradients(device, reduction, problem, smoothing):
    x, target, weight = problem
    t = tg.tensor(target, device=device)
    w = None if weight is None else tg.tensor(weight, device=device)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    expected = nll_reference(logp, target, weight, reduction=reduction)
    if smoothing:
        wc = np.ones(x.shape[1]) if weight is None else weight
        smooth = -(logp * wc.reshape((-1,) + (1,) * (x.ndim - 2))).sum(axis=1) * (target != -100)
        keep = target != -100
        if reduction == "mean":
            smooth = smooth.sum() / (wc[np.where(keep, target, 0)] * keep).sum()
        elif reduction == "sum":
            smooth = smooth.sum()
        expected = (1 - smoothing) * expected + smooth * smoothing / x.shape[1]
    if (target == -100).all() and reduction == "mean":
        return                                                  # 0/0: NaN, checked below
    got = F.cross_entropy(to_tensor(x, device, requires_grad=False), t, w,
                          reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(host(got), expected, rtol=1e-10, atol=1e-12)
    module = nn.CrossEntropyLoss(weight=w, reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(host(module(to_tensor(x, device), t)), expected, rtol=1e-10,
                               atol=1e-12)
    gradcheck(lambda v: F.cross_entropy(v, t, w, reduction=reduction,
                                        label_smoothing=smoothing), [x], device)
    got_nll = nn.NLLLoss(weight=w, reduction=reduction)(to_tensor(logp, device), t)
    np.testing.assert_allclose(host(got_nll), nll_reference(logp, target, weight,
                                                           reduction=reduction), rtol=1e-10,
                               atol=1e-12)
    gradcheck(lambda v: F.nll_loss(v, t, w, reduction=reduction), [logp], device)


def test_cross_entropy_with_class_probabilities(device):
    x = np.array([[1.0, -0.5, 2.0], [0.0, 0.3, -1.0]])
    p = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    got = F.cross_entropy(tg.tensor(x, device=device), tg.tensor(p, device=device))
    np.testing.assert_allclose(host(got), -(p * logp).sum() / 2, rtol=1e-12)
    gradcheck(lambda v: F.cross_entropy(v, tg.tensor(p, device=device), label_smoothing=0.1),
              [x], device)


def test_cross_entropy_of_one_sample_and_ignored_targets(device):
    x = tg.tensor([2.0, 0.0, 0.0], dtype=tg.float64, device=device)
    np.testing.assert_allclose(host(F.cross_entropy(x, tg.tensor(0, device=device))),
                               math.log(1 + 2 * math.exp(-2)), rtol=1e-12)
    all_ignored = F.cross_entropy(tg.zeros(2, 3, device=device),
                                  tg.tensor([-100, -100], device=device))
    assert np.isnan(host(all_ignored))                          # 0/0, as in PyTorch


def test_cross_entropy_errors(device):
    x = tg.zeros(3, 4, device=device)
    with pytest.raises(RuntimeError, match="int64"):
        F.cross_entropy(x, tg.tensor([0, 1, 2], dtype=tg.int32, device=device))
    with pytest.raises(ValueError, match="batch_size"):
        F.cross_entropy(x, tg.tensor([0, 1], device=device))
    with pytest.raises(RuntimeError, match="weight tensor should be defined"):
        F.cross_entropy(x, tg.tensor([0, 1, 2], device=device), weight=tg.ones(3, device=device))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, tg.tensor([0, 1, 2], device=device), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="shape"):
        F.cross_entropy(x, tg.zeros(3, 3, device=device))       # probabilities: wrong shape


def test_out_of_range_targets_are_refused_on_cpu():
    x = tg.zeros(2, 3)
    for bad in (3, -1):
        with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
            F.nll_loss(x, tg.tensor([0, bad]))


# --- one_hot and Embedding ------------------------------------------------------------------------

def test_one_hot(device):
    out = F.one_hot(tg.tensor([[0, 2], [1, 1]], device=device))
    assert out.dtype == tg.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(host(out), np.eye(3, dtype=np.int64)[[[0, 2], [1, 1]]])
    assert F.one_hot(tg.tensor([1], device=device), num_classes=4).shape == (1, 4)
    assert F.one_hot(tg.zeros(0, dtype=tg.int64, device=device), 5).shape == (0, 5)
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(tg.tensor([-1, 0], device=device))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(tg.tensor([3], device=device), num_classes=3)
    with pytest.raises(RuntimeError, match="empty tensor"):
        F.one_hot(tg.zeros(0, dtype=tg.int64, device=device))
    with pytest.raises(RuntimeError, match="int64"):
        F.one_hot(tg.tensor([1.0], device=device))


def test_embedding_picks_rows_and_accumulates_repeated_gradients(device):
    tg.manual_seed(0)
    emb = nn.Embedding(5, 3, device=device)
    idx = tg.tensor([[1, 4], [1, 1]], device=device)
    out = emb(idx)
    np.testing.assert_array_equal(host(out), host(emb.weight)[[[1, 4], [1, 1]]])
    out.sum().backward()
    np.testing.assert_array_equal(host(emb.weight.grad)[:, 0], [0, 3, 0, 0, 1])
    assert repr(emb) == "Embedding(5, 3)"


def test_embedding_gradient_in_float64(device):
    weight = np.random.default_rng(0).standard_normal((4, 2))
    idx = tg.tensor([3, 0, 3, 2], device=device)
    gradcheck(lambda w: F.embedding(idx, w), [weight], device)
    # (with padding_idx the padding row's gradient is 0 by definition, not the derivative)


def test_embedding_init_padding_and_errors(device):
    tg.manual_seed(1)
    big = nn.Embedding(400, 50)
    values = host(big.weight)
    assert abs(values.mean()) < 0.02 and abs(values.std() - 1) < 0.02     # N(0, 1)
    emb = nn.Embedding(4, 2, padding_idx=-1, device=device)
    assert emb.padding_idx == 3 and not host(emb.weight)[3].any()
    emb(tg.tensor([3, 3, 1], device=device)).sum().backward()
    assert not host(emb.weight.grad)[3].any() and host(emb.weight.grad)[1].tolist() == [1, 1]
    with pytest.raises(RuntimeError, match="int64 or int32"):
        emb(tg.tensor([1.0], device=device))
    if device == "cpu":
        with pytest.raises(IndexError, match="index out of range"):
            emb(tg.tensor([4]))
        with pytest.raises(IndexError, match="index out of range"):
            emb(tg.tensor([-1]))
    assert emb(tg.tensor(2, device=device)).shape == (2,)


def test_unflatten(device):
    x = tg.arange(12, device=device).reshape(2, 6)
    assert nn.Unflatten(1, (2, 3))(x).shape == (2, 2, 3)
    assert nn.Unflatten(-1, (3, -1))(x).shape == (2, 3, 2)
    assert repr(nn.Unflatten(1, (2, 3))) == "Unflatten(dim=1, unflattened_size=(2, 3))"
    with pytest.raises(RuntimeError, match="multiply up"):
        nn.Unflatten(1, (4, 2))(x)
    with pytest.raises(TypeError, match="tuple of ints"):
        nn.Unflatten(1, 6)


def test_split_chunk_unbind_and_narrow_are_views_with_pytorchs_sizes(device):
    x = tg.arange(10.0, device=device).reshape(2, 5)
    assert [p.shape for p in x.split(2, 1)] == [(2, 2), (2, 2), (2, 1)]
    assert [p.shape for p in tg.split(x, [1, 0, 4], dim=-1)] == [(2, 1), (2, 0), (2, 4)]
    assert [p.shape for p in x.chunk(3, 1)] == [(2, 2), (2, 2), (2, 1)]
    assert [p.shape for p in x.chunk(4, 1)] == [(2, 2), (2, 2), (2, 1)]   # fewer, as PyTorch
    assert [p.shape for p in tg.chunk(x, 9, 0)] == [(1, 5), (1, 5)]
    assert [p.shape for p in tg.empty(0, device=device).chunk(3)] == [(0,)] * 3
    assert [p.shape for p in tg.empty(0, 2, device=device).split(2)] == [(0, 2)]
    assert [host(p).tolist() for p in x.unbind(1)][4] == [4.0, 9.0]
    assert host(x.narrow(1, -2, 2)).tolist() == [[3.0, 4.0], [8.0, 9.0]]
    assert host(tg.narrow(x, 0, tg.tensor(1), 1)).tolist() == [[5, 6, 7, 8, 9]]
    assert isinstance(x.split(2), tuple) and isinstance(x.unbind(), tuple)
    with tg.no_grad():
        x.narrow(1, 0, 1).fill_(-1)            # a view: the write reaches x
    assert host(x)[:, 0].tolist() == [-1.0, -1.0]
    for call, error, message in [
            (lambda: x.split(0, 1), RuntimeError, "split_size can only be 0"),
            (lambda: x.split(-1), RuntimeError, "non-negative"),
            (lambda: x.split([2, 2], 1), RuntimeError, "sum exactly to 5"),
            (lambda: x.split(2.0), TypeError, "split_size must be an int, got float"),
            (lambda: x.chunk(0), RuntimeError, "greater than 0"),
            (lambda: x.narrow(1, 4, 2), RuntimeError, r"start \(4\) \+ length \(2\) exceeds"),
            (lambda: x.narrow(1, -6, 1), IndexError, "start out of range"),
            (lambda: x.narrow(1, 0, -1), RuntimeError, "length must be non-negative"),
            (lambda: x.unbind(2), IndexError, "Dimension out of range"),
            (lambda: tg.tensor(1.0).chunk(1), RuntimeError, "at least a 1-dimensional"),
            (lambda: tg.tensor(1.0).unbind(), IndexError, "no dimensions")]:
        with pytest.raises(error, match=message):
            call()


def test_split_chunk_and_unbind_gradients(device):
    x = tg.randn(3, 4, device=device, dtype=tg.float64, requires_grad=True)
    assert tg.gradcheck(lambda t: t.split([1, 3], 1)[1] * t.chunk(4, 1)[3], (x,))
    assert tg.gradcheck(lambda t: t.unbind(1)[2].exp()[:, None] + t.narrow(1, 1, 2), (x,))
    a, b = x.unbind(0)[:2]
    (a * 2 + b).sum().backward()
    assert host(x.grad).tolist() == [[2.0] * 4, [1.0] * 4, [0.0] * 4]


def test_a_piece_of_split_chunk_or_unbind_refuses_writes_that_pytorch_refuses(device):
    """One node makes all the pieces, so PyTorch refuses a write into a piece, or reading a
    piece whose base was written, where a gradient is involved; without one, it writes."""
    base = tg.ones(4, device=device, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="Output 1 of chunk is a view and is being modified"):
        base.chunk(2)[1].mul_(3)
    piece = base.unbind()[0]
    with pytest.raises(RuntimeError, match="Output 0 of split .* modified inplace"):
        base.split(1)[0][:1].add_(1)          # a view of a piece is one too
    base.add_(1)
    with pytest.raises(RuntimeError, match="Output 0 of unbind is a view and its base"):
        piece.grad_fn
    plain = tg.zeros(4, device=device)
    plain.split(2)[1].add_(5)                 # nothing requires grad: written, as in PyTorch
    assert host(plain).tolist() == [0.0, 0.0, 5.0, 5.0]


# --- creation -------------------------------------------------------------------------------------

def test_from_numpy_shares_memory_and_keeps_the_dtype():
    a = np.arange(4, dtype=np.int32)
    t = tg.from_numpy(a)
    assert t.dtype == tg.int32 and t.device == "cpu"
    a[0] = 9
    t[1] = 7
    assert t.tolist() == [9, 7, 2, 3] and a.tolist() == [9, 7, 2, 3]
    with pytest.raises(TypeError, match="expected np.ndarray"):
        tg.from_numpy([1, 2])
    with pytest.raises(TypeError, match="can't convert"):
        tg.from_numpy(np.array(["a"]))


def test_as_tensor(device):
    a = np.arange(3.0)
    shared = tg.as_tensor(a)
    a[0] = 5.0
    assert shared.dtype == tg.float64 and shared.tolist()[0] == 5.0     # no copy
    copied = tg.as_tensor(a, dtype=tg.float32)
    a[1] = 6.0
    assert copied.dtype == tg.float32 and copied.tolist()[1] == 1.0
    t = tg.ones(2, device=device)
    assert tg.as_tensor(t) is t
    assert tg.as_tensor([1, 2], device=device).dtype == tg.int64
    assert tg.as_tensor(a, device=device).device == device


def test_empty_eye_linspace(device):
    assert tg.empty(2, 3, device=device).shape == (2, 3)
    assert tg.empty((0,), dtype=tg.int64, device=device).dtype == tg.int64
    np.testing.assert_array_equal(host(tg.eye(2, 3, device=device)), np.eye(2, 3))
    assert tg.eye(3, dtype=tg.int64, device=device).dtype == tg.int64
    with pytest.raises(RuntimeError, match="non-negative"):
        tg.eye(-1)
    np.testing.assert_array_equal(host(tg.linspace(-1, 1, 5, device=device)),
                                  [-1, -0.5, 0, 0.5, 1])
    assert tg.linspace(0, 1, 3).dtype == tg.float32
    assert host(tg.linspace(0, 10, 4, dtype=tg.int64, device=device)).tolist() == [0, 3, 6, 10]
    assert tg.linspace(2, 3, 1).tolist() == [2.0] and tg.linspace(2, 3, 0).shape == (0,)
    with pytest.raises(RuntimeError, match="non-negative"):
        tg.linspace(0, 1, -1)


LINSPACES = [(0, 1, 7), (-3.3, 10.1, 50), (1e-3, 5, 33), (5, -5, 11)]


def test_linspace_is_pytorchs_formula_to_the_bit(device):
    """start + i·step for the first half, end - (steps-1-i)·step for the second, in the
    dtype (PyTorch's CUDA kernel and its scalar CPU path)."""
    for start, end, steps in LINSPACES:
        for dtype in (np.float32, np.float64):
            first, last = dtype(start), dtype(end)
            step = (last - first) / dtype(steps - 1)
            i = np.arange(steps, dtype=dtype)
            expected = np.where(i < steps // 2, first + step * i, last - step * (steps - 1 - i))
            got = host(tg.linspace(start, end, steps, dtype=np.dtype(dtype), device=device))
            np.testing.assert_array_equal(got, expected)


def test_linspace_matches_pytorch_cpu_to_its_rounding():
    """PyTorch's vectorised CPU path starts each SIMD chunk at start + step·idx and adds
    step·k to it: one more rounding, at most 2 ulp of the larger of start and end away."""
    torch = pytest.importorskip("torch")
    for start, end, steps in LINSPACES:
        for dtype in ("float32", "float64"):
            ours = tg.linspace(start, end, steps, dtype=np.dtype(dtype)).numpy()
            theirs = torch.linspace(start, end, steps, dtype=getattr(torch, dtype)).numpy()
            ulp = np.spacing(np.dtype(dtype).type(max(abs(start), abs(end))))
            np.testing.assert_array_less(np.abs(ours.astype(float) - theirs), 2 * ulp + 1e-300)


def test_randint_follows_manual_seed_and_its_range(device):
    tg.manual_seed(3)
    a = tg.randint(2, 7, (200,), device=device)
    tg.manual_seed(3)
    b = tg.randint(2, 7, size=(200,), device=device)
    assert a.dtype == tg.int64 and host(a).tolist() == host(b).tolist()
    assert set(host(a).tolist()) == {2, 3, 4, 5, 6}
    assert host(tg.randint(3, (4, 2), device=device)).max() < 3
    assert tg.randint(0, 2, (3,), dtype=tg.float32).dtype == tg.float32
    with pytest.raises(RuntimeError, match="from=5 >= to=5"):
        tg.randint(5, 5, (2,))
    with pytest.raises(TypeError, match="size"):
        tg.randint(5)


# --- Tensor methods -------------------------------------------------------------------------------

def test_t_and_mm(device):
    x = tg.tensor([[1.0, 2.0, 3.0]], device=device)
    assert x.t().shape == (3, 1) and tg.ones(3, device=device).t().shape == (3,)
    with pytest.raises(RuntimeError, match="<= 2 dimensions"):
        tg.ones(1, 2, 3).t()
    np.testing.assert_array_equal(host(x.mm(x.t())), [[14.0]])
    with pytest.raises(RuntimeError, match="must be a matrix"):
        x.mm(tg.ones(3, device=device))
    gradcheck(lambda a, b: a.mm(b.t()), [np.ones((2, 3)) * 0.5, np.arange(12.0).reshape(4, 3)],
              device)


def test_arithmetic_methods(device):
    x = tg.tensor([1.0, 2.0], device=device)
    y = tg.tensor([3.0, 5.0], device=device)
    assert host(x.add(y, alpha=2)).tolist() == [7.0, 12.0]
    assert host(x.sub(y, alpha=0.5)).tolist() == [-0.5, -0.5]
    assert host(x.mul(y)).tolist() == [3.0, 10.0] and host(y.div(2)).tolist() == [1.5, 2.5]
    assert host(x.pow(2)).tolist() == [1.0, 4.0] and host(y.square()).tolist() == [9.0, 25.0]
    ints = tg.tensor([1, 2], device=device)
    assert ints.square().dtype == tg.int64 and ints.div(2).dtype == tg.float32
    assert ints.add(ints, alpha=3).tolist() == [4, 8]
    with pytest.raises(RuntimeError, match="alpha must not be a floating point"):
        ints.add(ints, alpha=0.5)
    # alpha scales other in the result's dtype: a 0-d float64 plus int64 [1] is float64, as
    # without alpha (the differential test found float32 here)
    scalar = tg.tensor(1.0, dtype=tg.float64, device=device)
    assert scalar.add(ints, alpha=0.5).dtype == tg.float64 == (scalar + ints).dtype
    assert scalar.sub(ints, alpha=0.5).tolist() == [0.5, 0.0]
    with pytest.raises(NotImplementedError, match="rounding_mode"):
        y.div(2, rounding_mode="floor")
    gradcheck(lambda a, b: a.add(b, alpha=-1.5) * a.sub(b, alpha=2) + a.div(b).pow(2),
              [np.array([0.5, -1.0, 2.0]), np.array([1.5, 2.0, -0.75])], device)


def test_remainder_takes_the_divisors_sign_as_python_and_pytorch(device):
    a = [-7.5, 7.5, -7.0, 7.0, 0.0, 5.25, 1e-3, -1e-3]
    b = [2.0, -2.0, 3.0, -3.0, 3.0, 1.5, 4.0, 4.0]
    expected = [x % y for x, y in zip(a, b)]             # Python's float %
    x, y = tg.tensor(a, device=device), tg.tensor(b, device=device)
    assert host(x % y).tolist() == pytest.approx(expected, rel=1e-6)
    assert host(x.remainder(y)).tolist() == host(tg.remainder(x, y)).tolist()
    labels = tg.tensor([-3, 0, 9, 12], device=device)   # integers stay integers
    shifted = labels % 10
    assert shifted.dtype == tg.int64 and host(shifted).tolist() == [7, 0, 9, 2]
    assert host(17 % tg.tensor([5, -5], device=device)).tolist() == [2, -3]
    assert host(tg.remainder(7, tg.tensor([2.0], device=device))).tolist() == [1.0]
    mixed = tg.tensor([5, -5], device=device) % 1.5      # int % float: the default float
    assert mixed.dtype == tg.float32 and host(mixed).tolist() == [0.5, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # nan, and no NumPy warning
        assert np.isnan(host(x % 0.0)).all()
    assert (x % 2.0).grad_fn is None and (x.requires_grad_() % 2.0).grad_fn.name() == \
        "RemainderBackward"


def test_integer_remainder_by_zero_is_an_error_on_cpu():
    with pytest.raises(ZeroDivisionError, match="int64.*modulo 0"):
        tg.tensor([1, 2]) % tg.tensor([1, 0])
    with pytest.raises(ZeroDivisionError, match="modulo 0"):
        tg.tensor([1, 2]) % 0
    with pytest.raises(NotImplementedError, match="bool"):
        tg.tensor([True, False]) % tg.tensor([True, True])
    assert (tg.tensor([True, False]) % 2).tolist() == [1, 0]     # bool and int: int64


@given(data=st.data())
def test_norm_values_and_gradients(device, data):
    shape = data.draw(shapes(min_dims=1))
    x = data.draw(arrays(shape)).astype(np.float64)
    dim = data.draw(st.sampled_from([None, 0, -1]))
    keepdim = data.draw(st.booleans()) and dim is not None
    axis = None if dim is None else dim
    t = to_tensor(x, device, requires_grad=False)
    np.testing.assert_allclose(host(t.norm(dim=dim, keepdim=keepdim)),
                               np.sqrt((x * x).sum(axis=axis, keepdims=keepdim)), rtol=1e-12)
    np.testing.assert_allclose(host(t.norm(1, dim, keepdim)),
                               np.abs(x).sum(axis=axis, keepdims=keepdim), rtol=1e-12)
    x = np.where(np.abs(x) < 0.1, 0.5, x)                       # away from |x|'s kink
    gradcheck(lambda v: v.norm(p=2, dim=dim, keepdim=keepdim), [x], device)
    gradcheck(lambda v: v.norm(p=1, dim=dim), [x], device)


def test_norm_gradient_at_zero_is_zero_and_errors(device):
    x = tg.zeros(3, dtype=tg.float64, device=device, requires_grad=True)
    x.norm().backward()
    assert host(x.grad).tolist() == [0.0, 0.0, 0.0]            # PyTorch's subgradient, no NaN
    with pytest.raises(RuntimeError, match="floating point"):
        tg.arange(3).norm()
    with pytest.raises(NotImplementedError, match="p=3"):
        tg.ones(2).norm(p=3)


@given(shape=shapes(), data=st.data())
def test_repeat_values_and_gradients(device, shape, data):
    sizes = tuple(data.draw(st.lists(st.integers(1, 3), min_size=len(shape),
                                     max_size=len(shape) + 1)))
    x = data.draw(arrays(shape))
    got = to_tensor(x, device, requires_grad=False).repeat(*sizes)
    np.testing.assert_array_equal(host(got), np.tile(x, sizes))
    gradcheck(lambda v: v.repeat(sizes), [x], device)


def test_repeat_copies_and_refuses_too_few_sizes(device):
    x = tg.ones(2, device=device)
    y = x.repeat(1)
    y[0] = 5.0
    assert host(x).tolist() == [1.0, 1.0]                         # a copy, even with all 1s
    empty = tg.zeros(0, device=device, requires_grad=True)
    with tg.no_grad():
        assert not empty.repeat(2).requires_grad                  # a copy of nothing, no view
    with pytest.raises(RuntimeError, match="can not be smaller"):
        tg.ones(2, 2).repeat(2)


@given(data=st.data())
def test_gather_values_and_gradients(device, data):
    shape, axis = data.draw(shape_and_axis(min_dims=1))
    x = data.draw(arrays(shape))
    ishape = tuple(data.draw(st.integers(1, 4)) if d == axis % len(shape) else
                   data.draw(st.integers(1, n)) for d, n in enumerate(shape))
    index = np.array(data.draw(st.lists(st.integers(0, shape[axis] - 1),
                                        min_size=math.prod(ishape), max_size=math.prod(ishape))),
                     dtype=np.int64).reshape(ishape)
    idx = tg.tensor(index, device=device)
    got = to_tensor(x, device, requires_grad=False).gather(axis, idx)
    np.testing.assert_array_equal(host(got), np.take_along_axis(
        x[tuple(slice(0, n) for n in ishape[:axis % len(shape)])
          + (slice(None),) + tuple(slice(0, n) for n in ishape[axis % len(shape) + 1:])],
        index, axis=axis))
    gradcheck(lambda v: v.gather(axis, idx), [x], device)       # repeats add up


def test_gather_errors(device):
    x = tg.ones(2, 3, device=device)
    with pytest.raises(RuntimeError, match="int64"):
        x.gather(1, tg.tensor([[0]], dtype=tg.int32, device=device))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(1, tg.tensor([0], device=device))
    with pytest.raises(RuntimeError, match="size does not match"):
        x.gather(1, tg.zeros(3, 1, dtype=tg.int64, device=device))
    if device == "cpu":
        with pytest.raises(RuntimeError, match="out of bounds"):
            x.gather(1, tg.tensor([[3]]))
        with pytest.raises(RuntimeError, match="out of bounds"):
            x.gather(1, tg.tensor([[-1]]))
    assert tg.tensor(4.0, device=device).gather(0, tg.tensor(0, device=device)).item() == 4.0


def test_contiguous_long_int(device):
    x = tg.arange(6.0, device=device).reshape(2, 3)
    assert x.contiguous() is x
    c = x.T.contiguous()
    assert c is not x and host(c).tolist() == host(x.T).tolist()
    c[0, 0] = 100.0
    assert host(x)[0, 0] == 0.0                                   # a copy, as in PyTorch
    w = tg.ones(2, 3, dtype=tg.float64, device=device, requires_grad=True)
    (w.T.contiguous() * 2).sum().backward()
    assert host(w.grad).tolist() == [[2.0] * 3] * 2
    assert x.long().dtype == tg.int64 and x.int().dtype == tg.int32
    assert host(tg.tensor([1.7, -1.7], device=device).long()).tolist() == [1, -1]


def test_clamp_in_place_is_recorded(device):
    w = tg.tensor([-2.0, 0.5, 3.0], dtype=tg.float64, device=device, requires_grad=True)
    y = w * 1.0
    y.clamp_(min=-1.0, max=1.0)
    assert host(y).tolist() == [-1.0, 0.5, 1.0] and y._version == 1
    y.sum().backward()
    assert host(w.grad).tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(RuntimeError, match="leaf"):
        w.clamp_(0.0)
    ints = tg.tensor([-3, 5], device=device)
    assert host(ints.clamp_(0, 2)).tolist() == [0, 2] and ints.dtype == tg.int64
    with pytest.raises(RuntimeError, match="can't be cast"):
        ints.clamp_(0.5)
    with pytest.raises(ValueError, match="at least one"):
        ints.clamp_()


def test_format_of_tensors(device):
    loss = tg.tensor(0.123456, device=device)
    assert f"{loss:.3f}" == "0.123" and f"{tg.tensor(7, device=device):d}" == "7"
    assert f"{loss}" == str(loss.item())                         # PyTorch: the number, not repr
    with pytest.raises(TypeError, match="unsupported format string"):
        f"{tg.tensor([0.5], device=device):.3f}"                  # PyTorch: 0-d only
    assert f"{tg.tensor([0.5])}" == "tensor([0.5000])"


def test_numpy_arrays_are_refused_as_operands_with_a_hint(device):
    """PyTorch 2.13 has no numpy-array operands of its own: ``ndarray + tensor`` is a
    TypeError there, and ``tensor + ndarray`` only works by NumPy computing it through
    ``__array__`` (NumPy's dtype rules, no autograd, an error once the tensor requires
    grad). tinygan refuses both with a message that says how to convert."""
    t = tg.ones(2, device=device)
    a = np.ones(2)
    for fn in (lambda: a + t, lambda: a - t, lambda: a * t, lambda: a / t, lambda: a @ t,
               lambda: t + a, lambda: t * a, lambda: a < t, lambda: t.add(a)):
        with pytest.raises(TypeError, match="tg.tensor"):
            fn()
    assert (np.float64(2.0) * t).dtype == tg.float32            # numpy scalars: numbers


def test_arithmetic_as_functions_equals_the_operators(device):
    # torch.add(x, y, alpha=2), torch.mul(2, x), torch.neg(x)...: a number may come first
    x = tg.tensor([1.5, -2.0, 0.25], device=device, dtype=tg.float64)
    y = tg.tensor([0.5, 3.0, -1.0], device=device, dtype=tg.float64)
    pairs = [(tg.add(x, y, alpha=2), x + 2 * y), (tg.add(2, x), 2 + x),
             (tg.sub(x, y, alpha=3), x - 3 * y), (tg.sub(1, x), 1 - x),
             (tg.mul(x, y), x * y), (tg.mul(3, x), 3 * x), (tg.div(x, y), x / y),
             (tg.div(1, x), 1 / x), (tg.pow(x, 2), x ** 2), (tg.pow(2, x), 2 ** x),
             (tg.neg(x), -x), (x.neg(), -x), (tg.sign(x), x.sign()), (tg.clone(x), x)]
    for got, expected in pairs:
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(host(got), host(expected))
    assert tg.add(tg.tensor([1, 2], device=device), 3).dtype == tg.int64
    gradcheck(lambda a, b: tg.sub(a, b, alpha=0.5) * tg.div(2, b), [host(x), host(y) + 3], device)
    with pytest.raises(TypeError, match="add: expected a Tensor, got int"):
        tg.add(1, 2)
    with pytest.raises(NotImplementedError, match="rounding_mode"):
        tg.div(x, 2, rounding_mode="floor")


# --- against PyTorch ------------------------------------------------------------------------------

def test_new_names_match_pytorch_in_float64():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 2))
    ours, theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    target = rng.integers(0, 4, (3, 2))
    pairs = [
        (lambda m, v: m.softmax(v, 1), None),
        (lambda m, v: m.log_softmax(v, 2), None),
        (lambda m, v: m.logsumexp(v, (0, 2)), None),
        (lambda m, v: v.norm(), None),
        (lambda m, v: v.norm(p=1, dim=1, keepdim=True), None),
        (lambda m, v: v.repeat(2, 1, 1, 3), None),
        (lambda m, v: v.gather(1, m.tensor(rng.integers(0, 4, (2, 6, 2)))), "rng"),
        (lambda m, v: v.reshape(12, 2).t().mm(v.reshape(12, 2)), None),
        (lambda m, v: m.add(m.mul(2, v), m.pow(v, 2), alpha=0.5) - m.div(1, v + 9), None),
    ]
    for fn, uses_rng in pairs:
        state = rng.bit_generator.state
        a = fn(tg, ours)
        rng.bit_generator.state = state
        b = fn(torch, theirs)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
        w = rng.standard_normal(b.shape)
        ours.grad, theirs.grad = None, None
        (a * tg.tensor(w)).sum().backward()
        (b * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10,
                                   atol=1e-14)
    tnn = torch.nn.functional
    for kwargs in ({}, {"label_smoothing": 0.1}, {"reduction": "sum"}, {"ignore_index": 1}):
        a = F.cross_entropy(tg.tensor(x), tg.tensor(target), weight=tg.tensor([1.0, 2, 0.5, 1]),
                            **kwargs)
        b = tnn.cross_entropy(torch.tensor(x), torch.tensor(target),
                              weight=torch.tensor([1.0, 2, 0.5, 1], dtype=torch.float64),
                              **kwargs)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
