"""The names the course notebooks and pytorch/examples' dcgan reach for (issue 25): in-place
ReLU and LeakyReLU, Module.apply, prod (with its gradient), all/any, isclose/allclose, the
comparison functions, norm and tg.linalg, tg.backends.cudnn and nn.parallel.

Gradients in float64 against central differences (second derivatives too); values against
numbers written here, and against torch where it is installed (those tests import it
themselves); errors where PyTorch raises. Every test runs on "cpu" and "cuda".
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygan as tg
from tinygan import nn
from tinygan.nn import functional as F
from strategies import arrays, host, nonzero_arrays, shape_and_dim, shapes, to_tensor


def gradcheck(fn, hosts, device):
    assert tg.gradcheck(fn, [to_tensor(h, device) for h in hosts])


def first_derivative(fn, t, device):
    """d/dt Σ u·fn(t), with the backward recorded (create_graph): a function of t whose
    own gradient, checked by gradcheck, is the second derivative."""
    with tg.enable_grad():
        leaf = t if t.requires_grad else t.detach().requires_grad_(True)
        out = fn(leaf)
        u = tg.linspace(-1.0, 2.0, max(out.numel(), 1), dtype=tg.float64, device=device)
        leaf.grad = None
        (out * u[:out.numel()].reshape(out.shape)).sum().backward(create_graph=True)
        g = leaf.grad
        leaf.grad = None
    return g


# --- prod ---------------------------------------------------------------------------------

@st.composite
def prod_case(draw, zeros=False, min_dims=0):
    """(host array, dim or None, keepdim); with ``zeros``, some elements exactly 0. The
    others are at least 0.1 in size: without zeros the gradient is Πx / x_i, as PyTorch's,
    which loses precision where x_i is subnormal (Πx rounds before the division)."""
    shape, dim = draw(shape_and_dim(min_dims=min_dims))
    if not isinstance(dim, (int, type(None))):
        dim = dim[0]
    x = draw(nonzero_arrays(shape, margin=0.1, high=2.0))
    if zeros and x.size:
        mask = np.array(draw(st.lists(st.booleans(), min_size=x.size, max_size=x.size)))
        x = np.where(mask.reshape(shape), 0.0, x)
    keepdim = dim is not None and draw(st.booleans())
    return x, dim, keepdim


def _prod(dim, keepdim):
    return (lambda t: t.prod()) if dim is None else (lambda t: t.prod(dim, keepdim))


@given(case=prod_case())
def test_prod_gradients(device, case):
    x, dim, keepdim = case
    gradcheck(_prod(dim, keepdim), [x], device)


@given(case=prod_case(zeros=True))
def test_prod_gradients_with_zeros(device, case):
    """One zero in a product: only its own derivative is nonzero; two: none is. Dividing
    Πx by x_i would give NaN there: the products of the others are taken instead."""
    x, dim, keepdim = case
    gradcheck(_prod(dim, keepdim), [x], device)


@given(case=prod_case(zeros=True, min_dims=1))
def test_prod_second_derivatives_with_zeros(device, case):
    """(A 0-d product is x itself: its first derivative is a constant, off the graph.)"""
    x, dim, keepdim = case
    fn = _prod(dim, keepdim)
    assert tg.gradcheck(lambda t: first_derivative(fn, t, device), [to_tensor(x, device)])


def test_prod_gradient_values_at_zeros(device):
    x = to_tensor([[2.0, 3.0, 4.0], [0.0, 5.0, 6.0], [0.0, 0.0, 7.0]], device)
    x.prod(1).sum().backward()
    assert host(x.grad).tolist() == [[12.0, 8.0, 6.0], [30.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    x.grad = None
    y = to_tensor([2.0, 0.0, 3.0], device)
    y.prod().backward()
    assert host(y.grad).tolist() == [0.0, 6.0, 0.0]
    # third order through the products of the others: d³/dx0 dx1 dx2 of x0·x1·x2 is 1
    z = to_tensor([0.0, 0.0, 0.0], device)
    (g,) = [first_derivative(lambda t: t.prod(), z, device)]
    with tg.enable_grad():
        h = tg.tensor([1.0, 0.0, 0.0], dtype=tg.float64, device=device)
        z.grad = None
        (g * h).sum().backward(create_graph=True)   # d/dz of ∂Π/∂z0 = (0, z2, z1)
    assert host(z.grad).tolist() == [0.0, 0.0, 0.0]


def test_prod_values_dtypes_and_errors(device):
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    assert x.prod().item() == 24.0 and tg.prod(x, 0).tolist() == [3.0, 8.0]
    assert x.prod(1, True).shape == (2, 1) and tg.prod(x, dim=-1, keepdim=True).shape == (2, 1)
    assert x.prod(dtype=tg.float64).dtype == tg.float64
    ints = tg.tensor([[1, 2], [3, 4]], dtype=tg.int32, device=device)
    assert ints.prod().dtype == tg.int64 and ints.prod().item() == 24
    assert tg.tensor([[1, 2], [3, 4]], dtype=tg.uint8, device=device).prod().dtype == tg.int64
    assert tg.tensor([True, False], device=device).prod().tolist() == 0
    assert tg.prod(tg.tensor([1, 2], device=device), dtype=tg.float64).dtype == tg.float64
    assert tg.tensor(3.0, device=device).prod(0).item() == 3.0            # 0-d: dim 0 or -1
    assert tg.tensor([], device=device).prod().item() == 1.0
    assert tg.zeros(1, 0, device=device).prod(1).tolist() == [1.0]
    assert "Prod" in repr(tg.ones(2, requires_grad=True, device=device).prod().grad_fn)
    with pytest.raises(IndexError):
        tg.tensor(3.0, device=device).prod(1)
    with pytest.raises(IndexError):
        x.prod(2)
    with pytest.raises(TypeError):
        x.prod(dim=(0, 1))       # one dim, as PyTorch's
    with pytest.raises(TypeError):
        x.prod(keepdim=True)     # keepdim needs a dim


def test_prod_matches_torch(device):
    torch = pytest.importorskip("torch")
    values = [[2.0, -3.0, 0.5], [0.0, 5.0, 6.0], [0.0, 0.0, 7.0]]
    for dim in (None, 0, 1):
        ours = tg.tensor(values, dtype=tg.float64, device=device, requires_grad=True)
        theirs = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        a = ours.prod() if dim is None else ours.prod(dim)
        b = theirs.prod() if dim is None else theirs.prod(dim)
        w = np.arange(1.0, 1.0 + b.numel()).reshape(tuple(b.shape))
        (a * tg.tensor(w, device=device)).sum().backward()
        (b * torch.tensor(w)).sum().backward()
        assert np.array_equal(host(a), b.detach().numpy())
        assert np.array_equal(host(ours.grad), theirs.grad.numpy())


# --- in-place ReLU and LeakyReLU ------------------------------------------------------------

INPLACE = {
    "x.relu_()": lambda t: t.relu_(),
    "tg.relu_": tg.relu_,
    "F.relu_": F.relu_,
    "F.relu(inplace=True)": lambda t: F.relu(t, inplace=True),
    "nn.ReLU(True)": nn.ReLU(True),
    "F.leaky_relu(0.2, inplace=True)": lambda t: F.leaky_relu(t, 0.2, inplace=True),
    "F.leaky_relu_": lambda t: F.leaky_relu_(t, 0.2),
    "nn.LeakyReLU(0.2, inplace=True)": nn.LeakyReLU(0.2, inplace=True),
}


def _slope(name):
    return 0.2 if "leaky" in name.lower() else 0.0


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_activation_writes_its_input_and_returns_it(device, name):
    x = tg.tensor([1.5, -2.0, 0.0, 3.0], requires_grad=True, device=device)
    y = x * 1
    version = y._version
    out = INPLACE[name](y)
    slope = _slope(name)
    assert out is y and y._version == version + 1
    assert y.tolist() == [1.5, -2.0 * np.float32(slope), 0.0, 3.0]
    (y * tg.tensor([1.0, 2.0, 3.0, 4.0], device=device)).sum().backward()
    assert host(x.grad).tolist() == [1.0, 2.0 * np.float32(slope), 3.0 * np.float32(slope), 4.0]


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_activation_keeps_pytorch_refusals(device, name):
    fn = INPLACE[name]
    leaf = tg.tensor([1.0, -2.0], requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        fn(leaf)
    with tg.no_grad():                      # as an optimizer would: allowed
        assert fn(leaf) is leaf
    # x saved by an earlier op (x * x keeps x): its backward now sees a changed x
    y = tg.tensor([1.0, -2.0], requires_grad=True, device=device) * 1
    z = y * y
    fn(y)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    # the in-place op's backward reads its result: a later write into it is an error too
    y = tg.tensor([1.0, -2.0], requires_grad=True, device=device) * 1
    fn(y)
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_activation_on_a_view_reaches_its_base(device):
    x = tg.tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True, device=device)
    y = x * 1
    nn.LeakyReLU(0.5, inplace=True)(y[:, 0])
    assert y.tolist() == [[1.0, -2.0], [-1.5, 4.0]]
    y.sum().backward()
    assert host(x.grad).tolist() == [[1.0, 1.0], [0.5, 1.0]]
    # a second write into the same memory changes what the first one's backward reads:
    # PyTorch refuses that backward (the views share one count of changes), and so do we
    y = tg.tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True, device=device) * 1
    F.relu(y[0], inplace=True)
    nn.LeakyReLU(0.5, inplace=True)(y[:, 0])
    assert y.tolist() == [[1.0, 0.0], [-1.5, 4.0]]
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_leaky_relu_with_a_negative_slope_refuses_backward(device):
    """PyTorch's in-place backward reads the result, whose sign no longer tells x's."""
    y = tg.tensor([1.0, -2.0], requires_grad=True, device=device) * 1
    F.leaky_relu_(y, -0.5)
    assert y.tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="negative slope"):
        y.sum().backward()
    y = tg.tensor([1.0, -2.0], requires_grad=True, device=device) * 1
    F.leaky_relu(y, -0.5).sum().backward()           # out of place: fine


def test_inplace_activations_without_grad_and_on_integers(device):
    t = tg.tensor([3, -1, 0], device=device)
    assert t.relu_() is t and t.tolist() == [3, 0, 0] and t.dtype == tg.int64
    with pytest.raises(RuntimeError):
        F.leaky_relu_(tg.tensor([1, -2], device=device))   # PyTorch has no integer kernel


def test_activation_modules_repr_and_arguments():
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.ReLU(inplace=False)) == "ReLU()"
    assert repr(nn.ReLU(True)) == "ReLU(inplace=True)" and nn.ReLU(True).inplace
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.LeakyReLU(0.2, inplace=True)) == \
        "LeakyReLU(negative_slope=0.2, inplace=True)"
    assert repr(nn.LeakyReLU(0.2, True)) == "LeakyReLU(negative_slope=0.2, inplace=True)"
    assert nn.LeakyReLU(inplace=True).negative_slope == 0.01


def test_inplace_relu_after_linear_and_batchnorm_trains_as_out_of_place(device):
    """DCGAN's blocks: Linear → BatchNorm → ReLU(True); the same gradients as ReLU()."""
    grads = []
    for inplace in (False, True):
        tg.manual_seed(3)
        net = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU(inplace),
                            nn.Linear(5, 3), nn.LeakyReLU(0.2, inplace), nn.Linear(3, 1))
        net.to(device)
        x = tg.randn(6, 4, device=device)
        net(x).sum().backward()
        grads.append([host(p.grad) for p in net.parameters()])
    for a, b in zip(*grads):
        assert np.array_equal(a, b)


def test_inplace_activations_match_torch(device):
    torch = pytest.importorskip("torch")
    values = [[1.5, -2.0, 0.0], [-0.25, 3.0, -1.0]]
    for name, ours_fn, theirs_fn in [
            ("relu_", lambda t: t.relu_(), lambda t: t.relu_()),
            ("leaky", lambda t: F.leaky_relu(t, 0.2, inplace=True),
             lambda t: torch.nn.functional.leaky_relu(t, 0.2, inplace=True))]:
        a = tg.tensor(values, dtype=tg.float64, requires_grad=True, device=device)
        b = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        ya, yb = a * 2, b * 2
        ours_fn(ya[1])
        theirs_fn(yb[1])
        w = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
        (ya * tg.tensor(w, dtype=tg.float64, device=device)).sum().backward()
        (yb * torch.tensor(w, dtype=torch.float64)).sum().backward()
        assert np.array_equal(host(ya), yb.detach().numpy()), name
        assert np.array_equal(host(a.grad), b.grad.numpy()), name


# --- Module.apply -----------------------------------------------------------------------------

def test_module_apply_visits_children_first_then_self_and_returns_self():
    inner = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    net = nn.Sequential(inner, nn.Linear(3, 1))
    seen = []
    assert net.apply(lambda m: seen.append(m)) is net
    assert seen == [inner[0], inner[1], inner, net[1], net]


def test_module_apply_runs_dcgans_weights_init():
    def weights_init(m):                       # pytorch/examples dcgan/main.py
        classname = m.__class__.__name__
        if classname.find("Linear") != -1:
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.constant_(m.bias, 0)
        elif classname.find("BatchNorm") != -1:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.constant_(m.bias, 0)
    tg.manual_seed(0)
    net = nn.Sequential(nn.Linear(100, 200), nn.BatchNorm1d(200), nn.ReLU(True))
    net.apply(weights_init)
    w, bn = host(net[0].weight), host(net[1].weight)
    assert abs(w.std() - 0.02) < 0.002 and abs(w.mean()) < 0.002
    assert abs(bn.mean() - 1.0) < 0.01 and abs(bn.std() - 0.02) < 0.005
    assert not host(net[0].bias).any() and not host(net[1].bias).any()


# --- all, any, comparisons, isclose, allclose ---------------------------------------------------

def test_all_and_any_functions(device):
    x = tg.tensor([[1.0, 2.0], [3.0, 0.0]], device=device)
    assert tg.all(x).tolist() is False and tg.any(x).tolist() is True
    assert tg.all(x, 1).tolist() == [True, False] and tg.any(x, dim=0).tolist() == [True, True]
    assert tg.all(x, 1, keepdim=True).shape == (2, 1) and tg.all(x, keepdim=True).shape == (1, 1)
    assert tg.all(x, dim=(0, 1)).tolist() is False
    assert tg.any(tg.zeros(0, device=device)).tolist() is False
    assert tg.all(tg.zeros(0, device=device)).tolist() is True
    u8 = tg.tensor([[1, 2], [3, 0]], dtype=tg.uint8, device=device)
    assert tg.all(u8).dtype == tg.uint8 and u8.any(0).tolist() == [1, 1]   # as PyTorch
    assert tg.all(tg.tensor([1, 2], device=device)).dtype == tg.bool_


COMPARISONS = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
               "gt": np.greater, "ge": np.greater_equal}


@pytest.mark.parametrize("name", list(COMPARISONS))
def test_comparison_functions_and_methods(device, name):
    a = tg.tensor([[1.0, 2.0, 3.0]], device=device)
    b = tg.tensor([[2.0], [2.0]], dtype=tg.float64, device=device)
    expected = COMPARISONS[name](np.array([[1.0, 2.0, 3.0]]), np.array([[2.0], [2.0]]))
    for result in (getattr(tg, name)(a, b), getattr(a, name)(b)):
        assert result.dtype == tg.bool_ and host(result).tolist() == expected.tolist()
    assert getattr(tg, name)(tg.tensor([1, 2], device=device), 2).tolist() == \
        COMPARISONS[name](np.array([1, 2]), 2).tolist()
    with pytest.raises(TypeError):
        getattr(tg, name)(1, a)                   # PyTorch: the first operand is a Tensor


def test_isclose_and_allclose(device):
    inf, nan = math.inf, math.nan
    a = tg.tensor([nan, inf, -inf, 1.0, 1.0, 0.0], device=device)
    b = tg.tensor([nan, inf, inf, 1.0 + 1e-6, 1.1, 1e-9], device=device)
    assert tg.isclose(a, b).tolist() == [False, True, False, True, False, True]
    assert tg.isclose(a, b, equal_nan=True).tolist()[0] is True
    assert a.isclose(b, rtol=0.2).tolist()[4] is True
    assert tg.isclose(a, b, rtol=0, atol=0).tolist() == [False, True, False, False, False, False]
    # the boundary itself is close: |1 - 1.25| <= 0.25
    one, five_quarters = tg.tensor([1.0], device=device), tg.tensor([1.25], device=device)
    assert tg.isclose(one, five_quarters, rtol=0, atol=0.25).tolist() == [True]
    assert tg.isclose(tg.tensor([1.0], device=device), tg.tensor([[1.0], [2.0]], device=device)) \
        .tolist() == [[True], [False]]
    # integers are compared in the default float (2**24 + 1 is 2**24 in float32), bools too
    big = tg.tensor([2 ** 24 + 1], device=device)
    assert tg.isclose(big, tg.tensor([2 ** 24], device=device), rtol=0, atol=0.5).tolist() == [True]
    assert tg.isclose(tg.tensor([True], device=device), tg.tensor([False], device=device),
                      rtol=0.5, atol=1).tolist() == [True]
    assert tg.allclose(one, one) is True and tg.allclose(a, b) is False
    assert one.allclose(five_quarters, atol=0.25) is True
    with pytest.raises(RuntimeError, match="did not match"):
        tg.isclose(tg.tensor([1], device=device), one)
    with pytest.raises(RuntimeError, match="rtol must be greater than or equal to zero"):
        tg.isclose(one, one, rtol=-1)
    with pytest.raises(RuntimeError, match="atol must be greater than or equal to zero"):
        tg.allclose(one, one, atol=-1)
    with pytest.raises(TypeError):
        tg.isclose(one, 1.0)


def test_isclose_matches_torch_at_float32_rounding():
    """Values a few ulp either side of the tolerance: PyTorch's rounding of atol + rtol·|b|."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        b = rng.uniform(-4, 4, 4000).astype(dtype)
        tol = (np.asarray(1e-8, dtype) + np.abs(np.asarray(1e-5, dtype) * b))
        steps = rng.integers(-3, 4, b.size)
        a = (b + tol + steps * np.spacing(tol)).astype(dtype)
        for rtol, atol in ((1e-5, 1e-8), (0.1, 0.0), (0.0, 0.25)):
            ours = tg.isclose(tg.from_numpy(a), tg.from_numpy(b), rtol=rtol, atol=atol)
            theirs = torch.isclose(torch.from_numpy(a), torch.from_numpy(b), rtol=rtol, atol=atol)
            assert np.array_equal(host(ours), theirs.numpy()), (dtype, rtol, atol)


# --- norm and tg.linalg -----------------------------------------------------------------------

NORMS = {
    "tg.norm": lambda t, dim: tg.norm(t, dim=dim),
    "tg.norm p=1": lambda t, dim: tg.norm(t, 1, dim),
    "linalg.norm": lambda t, dim: tg.linalg.norm(t, dim=dim),
    "linalg.vector_norm": lambda t, dim: tg.linalg.vector_norm(t, dim=dim),
    "linalg.vector_norm ord=1": lambda t, dim: tg.linalg.vector_norm(t, 1, dim),
}


@pytest.mark.parametrize("name", list(NORMS))
@given(data=st.data())
def test_norm_functions_gradients(device, name, data):
    shape = data.draw(shapes(min_dims=1))
    dim = data.draw(st.sampled_from([None, 0, -1]))
    x = data.draw(arrays(shape).filter(lambda a: np.all(np.abs(a) > 0.1)))
    gradcheck(lambda t: NORMS[name](t, dim), [x], device)


def test_norm_functions_values_and_errors(device):
    x = tg.tensor([[3.0, 4.0], [1.0, 1.0]], device=device)
    assert tg.norm(x).item() == pytest.approx(math.sqrt(27))
    assert tg.norm(x, dim=1, keepdim=True).shape == (2, 1)
    assert tg.norm(x, dtype=tg.float64).dtype == tg.float64
    assert tg.linalg.norm(x).item() == pytest.approx(math.sqrt(27))
    assert tg.linalg.norm(x, ord="fro").item() == pytest.approx(math.sqrt(27))
    assert tg.linalg.norm(x, dim=(0, 1)).item() == pytest.approx(math.sqrt(27))
    assert tg.linalg.norm(x.reshape(1, 2, 2)).item() == pytest.approx(math.sqrt(27))
    assert host(tg.linalg.norm(x, dim=1)) == pytest.approx([5.0, math.sqrt(2)])
    assert host(tg.linalg.vector_norm(x, ord=1, dim=-1, keepdim=True)).tolist() == [[7.0], [2.0]]
    assert tg.linalg.vector_norm(x, dim=None, keepdim=True).shape == (1, 1)
    assert tg.linalg.vector_norm(tg.tensor(3.0, device=device), dim=0).item() == 3.0
    z = tg.zeros(3, requires_grad=True, device=device)         # gradient 0 at 0, as PyTorch
    tg.linalg.norm(z).backward()
    assert host(z.grad).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(RuntimeError, match="floating point"):
        tg.linalg.norm(tg.tensor([3, 4], device=device))
    with pytest.raises(RuntimeError, match="floating point"):
        tg.norm(tg.tensor([3, 4], device=device))
    with pytest.raises(RuntimeError, match="narrowing"):
        tg.linalg.vector_norm(x.double(), dtype=tg.float32)
    with pytest.raises(RuntimeError, match="length 1 or 2"):
        tg.linalg.norm(x, dim=(0, 1, 0))
    with pytest.raises(RuntimeError, match="1D or 2D"):
        tg.linalg.norm(x.reshape(1, 2, 2), ord=2)
    with pytest.raises(TypeError):
        tg.linalg.vector_norm(x, ord="fro")
    with pytest.raises(NotImplementedError):
        tg.linalg.vector_norm(x, ord=3)
    with pytest.raises(NotImplementedError):
        tg.linalg.norm(x, ord="nuc")


def test_norms_match_torch(device):
    torch = pytest.importorskip("torch")
    values = [[3.0, -4.0, 0.5], [1.0, 0.0, -2.0]]
    cases = [("linalg.norm", {}), ("linalg.norm", {"dim": 1}), ("linalg.norm", {"ord": "fro"}),
             ("linalg.norm", {"dim": (0, 1), "keepdim": True}),
             ("linalg.vector_norm", {"ord": 1, "dim": 0}), ("linalg.vector_norm", {"dim": -1}),
             ("norm", {}), ("norm", {"p": 1, "dim": 1, "keepdim": True})]
    for name, kwargs in cases:
        a = tg.tensor(values, dtype=tg.float64, requires_grad=True, device=device)
        b = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        ours = (tg.norm if name == "norm" else getattr(tg.linalg, name.split(".")[1]))(a, **kwargs)
        theirs = (torch.norm if name == "norm" else getattr(torch.linalg, name.split(".")[1]))(
            b, **kwargs)
        ours.sum().backward()
        theirs.sum().backward()
        assert ours.shape == tuple(theirs.shape), (name, kwargs)
        np.testing.assert_allclose(host(ours), theirs.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(host(a.grad), b.grad.numpy(), rtol=1e-12, atol=1e-15)


# --- backends.cudnn and nn.parallel ---------------------------------------------------------------

def test_cudnn_settings_are_accepted_and_change_nothing():
    import tinygan.backends.cudnn as cudnn
    assert (cudnn.benchmark, cudnn.deterministic, cudnn.enabled) == (False, False, True)
    tg.backends.cudnn.benchmark = True
    try:
        assert cudnn.benchmark is True and cudnn.is_available() is False
    finally:
        tg.backends.cudnn.benchmark = False


def test_data_parallel_calls_the_module(device):
    import tinygan.nn.parallel   # noqa: F401  (dcgan/main.py's import torch.nn.parallel)
    tg.manual_seed(0)
    layer = nn.Linear(3, 2).to(device)
    x = tg.randn(4, 3, device=device)
    out = nn.parallel.data_parallel(layer, x, range(1))
    assert np.array_equal(host(out), host(layer(x)))
    both = nn.parallel.data_parallel(lambda a, b: a + b, (x, x))
    assert np.array_equal(host(both), host(x + x))
