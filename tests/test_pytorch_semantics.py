"""PyTorch's semantics on the paths learners write (issue 12), one test per way it went wrong.

Each expected value here is PyTorch 2.13's answer for the same lines (checked by hand;
tests/test_torch_differential.py compares against torch itself over random programs).
The numbers are worked out in the comments so the tests stand without torch installed.
"""
import numpy as np
import pytest

import tinygan as tg
from tinygan import backend, nn, optim
from strategies import host


def t(values, device, dtype=tg.float32, requires_grad=False):
    return tg.tensor(np.asarray(values), device=device, dtype=dtype, requires_grad=requires_grad)


# --- 1. Adam on a gradient that is not row-major ---------------------------------------------------

def test_adam_updates_its_averages_when_the_gradient_is_column_major(device):
    """((x @ w.T) ** 2).sum(): dL/dw = (2 x wᵀ)ᵀ x comes out of the matmul column-major."""
    rng = np.random.default_rng(0)
    w0, x = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    w = nn.Parameter(t(w0, device, tg.float64))
    opt = optim.Adam([w], lr=0.1)
    grads = []
    for _ in range(3):
        opt.zero_grad()
        loss = ((t(x, device, tg.float64) @ w.T) ** 2).sum()
        loss.backward()
        grads.append(host(w.grad).copy())
        opt.step()
    # Adam written out from the paper, with the gradient 2 (x wᵀ)ᵀ x worked out by hand
    w_ref, grads_ref = w0.copy(), []
    m = v = np.zeros_like(w0)
    for step in range(1, 4):
        g = 2 * (x @ w_ref.T).T @ x
        grads_ref.append(g)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w_ref = w_ref - 0.1 * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    np.testing.assert_allclose(grads[0], grads_ref[0], rtol=1e-12)
    np.testing.assert_allclose(host(w), w_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(backend.to_numpy(opt.state[0]["exp_avg"]), m, rtol=1e-12)


def test_adam_resumes_from_state_saved_in_fortran_order(device):
    """Two steps after loading: a lost update of m and v shows in the second."""
    rng = np.random.default_rng(1)
    w0, g = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    a = nn.Parameter(t(w0, device, tg.float64))
    opt_a = optim.Adam([a], lr=0.05)
    a.grad = t(g, device, tg.float64)
    opt_a.step()
    state = opt_a.state_dict()
    for key in ("exp_avg", "exp_avg_sq"):       # as a checkpoint written from x.T might hold them
        state["state"][0][key] = np.asfortranarray(state["state"][0][key])
    b = nn.Parameter(t(host(a), device, tg.float64))
    opt_b = optim.Adam([b], lr=0.05)
    opt_b.load_state_dict(state)
    for _ in range(2):
        for p, opt in ((a, opt_a), (b, opt_b)):
            p.grad = t(g, device, tg.float64)
            opt.step()
    np.testing.assert_array_equal(host(a), host(b))


def test_adam_and_sgd_update_a_parameter_that_is_not_contiguous(device):
    base = np.arange(6, dtype=np.float64).reshape(2, 3)
    for make in (lambda p: optim.Adam([p], lr=0.5),
                 lambda p: optim.SGD([p], lr=0.5, momentum=0.9)):
        w = nn.Parameter(t(base, device, tg.float64).T)  # a transposed view as the parameter
        opt = make(w)
        w.grad = tg.ones(3, 2, dtype=tg.float64, device=device)
        opt.step()
        opt.step()
        assert np.all(host(w) < base.T), "the update was lost in a copy"


# --- 2. a leaf's .grad is its own writable array ---------------------------------------------------

def test_leaf_grads_do_not_alias_each_other_or_the_gradient_given(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    b = t([3.0, 4.0], device, requires_grad=True)
    g = t([1.0, 1.0], device)
    (a + b).backward(g)
    a.grad.mul_(10)
    assert a.grad.tolist() == [10.0, 10.0]
    assert b.grad.tolist() == [1.0, 1.0]
    assert g.tolist() == [1.0, 1.0]


def test_a_broadcast_gradient_lands_in_a_writable_grad(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    b = t([3.0, 4.0], device, requires_grad=True)
    (a + b).sum().backward()                   # d sum/da is ones broadcast from a 0-d array
    a.grad.mul_(0.5)
    assert a.grad.tolist() == [0.5, 0.5] and b.grad.tolist() == [1.0, 1.0]


def test_grads_accumulate_into_the_same_tensor(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    (a * 3).sum().backward()
    first = a.grad
    (a * a).sum().backward()
    assert a.grad is first                     # PyTorch accumulates in place
    assert first.tolist() == [5.0, 7.0]        # 3 + 2a


def test_reshape_of_a_leaf_gives_a_grad_of_its_own(device):
    a = t([[1.0, 2.0]], device, requires_grad=True)
    g = t([5.0, 6.0], device)
    a.reshape(2).backward(g)                   # the gradient comes back as a view of g
    a.grad.zero_()
    assert a.grad.tolist() == [[0.0, 0.0]] and g.tolist() == [5.0, 6.0]


# --- 3. leaky_relu with any slope -------------------------------------------------------------------

@pytest.mark.parametrize("slope", [-0.5, 0.0, 0.01, 0.2, 1.0, 2.0])
def test_leaky_relu_is_x_above_zero_and_slope_times_x_below(device, slope):
    x = t([1.0, -1.0, 0.0, 3.0, -2.0], device, tg.float64, requires_grad=True)
    y = tg.nn.functional.leaky_relu(x, slope)
    assert y.tolist() == [1.0, -slope, 0.0, 3.0, -2.0 * slope]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, slope, slope, 1.0, slope]   # slope at exactly 0, as PyTorch


def test_leaky_relu_negative_slope_from_the_issue(device):
    x = t([1.0, -1.0], device)
    assert tg.nn.functional.leaky_relu(x, -0.5).tolist() == [1.0, 0.5]
    assert nn.LeakyReLU(-0.5)(x).tolist() == [1.0, 0.5]


# --- 4. writes into tensors are recorded in the graph ------------------------------------------------

def test_setitem_of_a_value_that_requires_grad(device):
    w = t([1.0], device, requires_grad=True)
    v = t([2.0, 5.0, 7.0], device)
    buf = tg.zeros(3, device=device)
    buf[0:1] = w * 3
    assert buf.requires_grad and buf.tolist() == [3.0, 0.0, 0.0]
    (buf * v).sum().backward()
    assert w.grad.tolist() == [6.0]            # d/dw (3w·2) = 6


def test_setitem_into_a_graph_tensor_cuts_the_overwritten_part(device):
    x = t([1.0, 2.0, 3.0], device, requires_grad=True)
    w = t(10.0, device, requires_grad=True)
    y = x * 2
    y[1] = w                                    # y = [2x0, w, 2x2]
    (y * y).sum().backward()
    assert y.tolist() == [2.0, 10.0, 6.0]
    assert x.grad.tolist() == [8.0, 0.0, 24.0]  # d/dx (2x)² = 8x; x1 was overwritten
    assert w.grad.tolist() == 20.0


def test_inplace_arithmetic_on_a_graph_tensor_is_recorded(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    y = x * 2
    y.mul_(3)
    y += x                                      # y = 6x + x
    y.sub_(1)
    y.sum().backward()
    assert x.grad.tolist() == [7.0, 7.0]


def test_inplace_with_an_operand_that_requires_grad(device):
    w = t([2.0], device, requires_grad=True)
    a = tg.ones(3, device=device)
    a.mul_(w)                                   # a's old value (ones) is what d/dw needs
    a.sum().backward()
    assert w.grad.tolist() == [3.0]


def test_inplace_through_a_view_reaches_the_base(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    y = x * 1
    y[0:1].mul_(3)                              # y = [3x0, x1]
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 1.0]


def test_a_view_taken_before_a_write_sees_the_new_graph(device):
    w = t([1.0], device, requires_grad=True)
    buf = tg.zeros(3, device=device)
    view = buf[0:2]
    buf[0:1] = w * 3
    (view * 2).sum().backward()                 # view = [3w, 0]
    assert w.grad.tolist() == [6.0]


def test_write_through_a_transposed_view(device):
    x = t([[1.0, 2.0], [3.0, 4.0]], device, requires_grad=True)
    w = t([5.0, 6.0], device, requires_grad=True)
    y = x * 1
    y.T[0] = w * 2                              # the first column of y
    (y * y).sum().backward()
    assert y.tolist() == [[10.0, 2.0], [12.0, 4.0]]
    assert x.grad.tolist() == [[0.0, 4.0], [0.0, 8.0]]
    assert w.grad.tolist() == [40.0, 48.0]      # d/dw (2w)² = 8w


def test_masked_write(device):
    x = t([1.0, -2.0, 3.0], device, requires_grad=True)
    y = x * 3
    y[y < 0] = 0
    y.sum().backward()
    assert y.tolist() == [3.0, 0.0, 9.0] and x.grad.tolist() == [3.0, 0.0, 3.0]


def test_fill_and_copy_are_recorded(device):
    x = t([1.0, 2.0, 3.0], device, requires_grad=True)
    s = t(7.0, device, requires_grad=True)
    y = x * 1
    y.fill_(s)
    z = x * 1
    z.copy_(s * x)
    (y + z).sum().backward()
    assert y.tolist() == [7.0] * 3 and z.tolist() == [7.0, 14.0, 21.0]
    assert x.grad.tolist() == [7.0] * 3 and s.grad.item() == 9.0   # 3 + (1 + 2 + 3)


def test_a_sibling_view_sees_a_write_through_another_view(device):
    x = t([[1.0, 2.0], [3.0, 4.0]], device, requires_grad=True)
    y = x * 1
    row, column = y[0], y[:, 1]
    row.mul_(10)                                # y[0, 1] is in both views
    (column * 3).sum().backward()
    assert column.tolist() == [20.0, 4.0]
    assert x.grad.tolist() == [[0.0, 30.0], [0.0, 3.0]]


def test_inplace_on_a_leaf_that_requires_grad_is_refused_as_in_pytorch(device):
    w = t([1.0, 2.0], device, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.mul_(2)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w[0:1].mul_(2)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w[0] = 5.0


def test_augmented_assignment_is_in_place_as_in_pytorch(device):
    a = tg.zeros(2, device=device)
    alias = a
    a += 1
    a *= 3
    assert alias is a and alias.tolist() == [3.0, 3.0]


def test_inplace_result_that_cannot_be_cast_back_is_refused(device):
    n = tg.arange(3, device=device)
    with pytest.raises(RuntimeError, match="can't be cast"):
        n.add_(1.5)
    with pytest.raises(RuntimeError, match="can't be cast"):
        n += tg.ones(3, device=device)


def test_a_write_that_changes_a_saved_value_is_caught_at_backward(device):
    x = t([0.0, 1.0], device, requires_grad=True)
    y = x.exp()                                 # exp saves its output
    y.mul_(2)
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        y.sum().backward()


# --- 5. type promotion is PyTorch's --------------------------------------------------------------

PROMOTIONS = {
    "arange(3) * 0.5": (lambda d: tg.arange(3, device=d) * 0.5, tg.float32),
    "arange(3) / 2": (lambda d: tg.arange(3, device=d) / 2, tg.float32),
    "ones(2) * tensor([1, 2])": (lambda d: tg.ones(2, device=d) * tg.tensor([1, 2], device=d),
                                 tg.float32),
    "tensor(3) * ones(2)": (lambda d: tg.tensor(3, device=d) * tg.ones(2, device=d), tg.float32),
    "ones(2) * tensor(2.0, float64)": (
        lambda d: tg.ones(2, device=d) * tg.tensor(2.0, dtype=tg.float64, device=d), tg.float32),
    "arange(3) * tensor(2.0, float64)": (
        lambda d: tg.arange(3, device=d) * tg.tensor(2.0, dtype=tg.float64, device=d), tg.float64),
    "ones(2, float64) * ones(2)": (
        lambda d: tg.ones(2, dtype=tg.float64, device=d) * tg.ones(2, device=d), tg.float64),
    "arange(3) + True": (lambda d: tg.arange(3, device=d) + True, tg.int64),
    "tensor([True]) + tensor([True])": (
        lambda d: tg.tensor([True], device=d) + tg.tensor([True], device=d), tg.bool_),
    "tensor([True]) * 2.5": (lambda d: tg.tensor([True], device=d) * 2.5, tg.float32),
    "arange(3) ** 0.5": (lambda d: tg.arange(3, device=d) ** 0.5, tg.float32),
    "2 ** arange(3)": (lambda d: 2 ** tg.arange(3, device=d), tg.int64),
    "2.0 ** arange(3)": (lambda d: 2.0 ** tg.arange(3, device=d), tg.float32),
    "exp(arange(3))": (lambda d: tg.exp(tg.arange(3, device=d)), tg.float32),
    "sigmoid(arange(3))": (lambda d: tg.arange(3, device=d).sigmoid(), tg.float32),
    "relu(arange(3))": (lambda d: tg.arange(3, device=d).relu(), tg.int64),
    "where(mask, arange(2), 0.5)": (
        lambda d: tg.where(tg.tensor([True, False], device=d), tg.arange(2, device=d), 0.5),
        tg.float32),
    "cat([ones(2), arange(2)])": (
        lambda d: tg.cat([tg.ones(2, device=d), tg.arange(2, device=d)]), tg.float32),
    "maximum(arange(2), ones(2))": (
        lambda d: tg.maximum(tg.arange(2, device=d), tg.ones(2, device=d)), tg.float32),
}


@pytest.mark.parametrize("case", list(PROMOTIONS))
def test_type_promotion_follows_pytorch(device, case):
    make, dtype = PROMOTIONS[case]
    assert make(device).dtype == dtype


def test_float64_does_not_leak_into_a_float32_graph(device):
    w = t([1.0, 2.0], device, requires_grad=True)
    scale = tg.tensor(0.5, dtype=tg.float64, device=device)
    loss = (w * scale * 3).sum()
    assert loss.dtype == tg.float32
    loss.backward()
    assert w.grad.dtype == tg.float32 and w.grad.tolist() == [1.5, 1.5]


def test_a_0d_float64_leaf_gets_a_float64_grad(device):
    w = t([1.0, 2.0], device, requires_grad=True)
    s = tg.tensor(3.0, dtype=tg.float64, device=device, requires_grad=True)
    (w * s).sum().backward()
    assert s.grad.dtype == tg.float64 and s.grad.shape == () and s.grad.item() == 3.0


def test_matmul_of_two_dtypes_is_an_error_as_in_pytorch(device):
    with pytest.raises(RuntimeError, match="same dtype"):
        tg.ones(2, 2, device=device) @ tg.ones(2, 2, dtype=tg.float64, device=device)


# --- 6. a second backward is refused only where saved values were freed ---------------------------

def test_second_backward_through_nodes_that_saved_nothing(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    y = x + 1
    y.sum().backward()
    (y * 2).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_second_backward_through_a_node_that_saved_values_is_refused(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    y = x * x
    y.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (y + 1).sum().backward()


def test_the_graph_does_not_keep_intermediate_tensors_alive(device):
    """A graph (e.g. a loss kept in a list) holds what backward needs, not every tensor:
    h + 1 saves nothing, so h goes when the user lets go of it."""
    import weakref
    x = t(np.ones((4, 4)), device, requires_grad=True)
    h = x * 2
    probe = weakref.ref(h)
    loss = (h + 1).sum()
    del h
    assert probe() is None
    loss.backward()
    assert x.grad.tolist() == [[2.0] * 4] * 4


# --- 7. optimizers take frozen parameters and skip them ------------------------------------------

@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1), lambda ps: optim.Adam(ps, lr=0.1)],
                         ids=["SGD", "Adam"])
def test_optimizer_accepts_and_skips_a_frozen_parameter(device, make):
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1)).to(device)
    model[0].requires_grad_(False)
    frozen = host(model[0].weight).copy()
    opt = make(model.parameters())
    model(tg.ones(3, 2, device=device)).sum().backward()
    opt.step()
    np.testing.assert_array_equal(host(model[0].weight), frozen)
    assert model[0].weight.grad is None and model[1].weight.grad is not None


def test_optimizer_refuses_a_non_leaf(device):
    w = t([1.0], device, requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)


# --- 8. module attributes -------------------------------------------------------------------------

def test_a_tensor_over_a_submodule_is_a_type_error():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="child module '0'"):
        setattr(model, "0", tg.ones(2))
    assert isinstance(model[0], nn.Linear)


def test_a_numpy_array_over_a_buffer_is_a_type_error():
    bn = nn.BatchNorm1d(2)
    with pytest.raises(TypeError, match="buffer 'running_mean'.*Tensor or None"):
        bn.running_mean = np.zeros(2, dtype=np.float32)
    assert isinstance(bn.running_mean, tg.Tensor)
    bn.running_mean = tg.ones(2)               # a Tensor stays a buffer
    assert "running_mean" in dict(bn.named_buffers())


def test_none_keeps_a_parameter_registered():
    layer = nn.Linear(2, 3)
    layer.bias = None
    assert "bias" in layer._parameters and layer._parameters["bias"] is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    layer.bias = nn.Parameter(tg.zeros(3))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer(tg.ones(1, 2)).shape == (1, 3)


def test_none_keeps_a_submodule_and_a_buffer_registered():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    setattr(model, "1", None)
    assert "1" in model._modules and len(list(model.children())) == 1
    bn = nn.BatchNorm1d(2)
    bn.running_var = None
    assert "running_var" in bn._buffers and "running_var" not in bn.state_dict()


# --- 9. results are arrays, never NumPy scalars -------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda x: x.argmax(), lambda x: x.argmin(), lambda x: x.any(), lambda x: x.all(),
    lambda x: x[0] < x[1], lambda x: x.sum() == 3,
], ids=["argmax", "argmin", "any", "all", "0-d <", "0-d =="])
def test_scalar_results_are_0d_arrays(device, make):
    x = tg.tensor([1.0, 2.0, 0.0], device=device)
    result = make(x)
    assert result.shape == () and not isinstance(result._data, np.generic)
    assert result.device == device
    result.clone()                              # usable like any tensor


# --- 10. labels are checked where they enter --------------------------------------------------------

def test_one_hot_refuses_a_label_out_of_range():
    from tinygan.gan import one_hot
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\).*got 10"):
        one_hot(tg.tensor([1, 10]), 10)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\).*got -1"):
        one_hot(tg.tensor([-1, 2]), 10)
    assert one_hot(tg.tensor([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]


# --- views and copies where PyTorch has them ------------------------------------------------------

def test_negative_slice_steps_are_refused_as_in_pytorch(device):
    with pytest.raises(ValueError, match="step must be greater than zero"):
        tg.ones(3, device=device)[::-1]


def test_view_refuses_what_only_a_copy_can_do(device):
    x = tg.zeros(2, 3, device=device)
    with pytest.raises(RuntimeError, match="Use .reshape"):
        x.T.view(6)
    assert x.T.reshape(6).shape == (6,)          # reshape copies instead


def test_a_0d_integer_tensor_indexes_like_an_int(device):
    a = t([[1.0, 2.0], [3.0, 4.0]], device)
    row = a[t([1.0, 3.0], device).argmax()]       # a view, as a[1] is
    a.zero_()
    assert row.tolist() == [0.0, 0.0]


def test_integer_results_never_require_grad(device):
    x = t([1.5, -2.0], device, requires_grad=True)
    assert not x.to(tg.int64).requires_grad and not (x > 0).requires_grad
    assert not x.argmax().requires_grad


def test_reshaping_an_empty_tensor_makes_a_view(device):
    # PyTorch's reshape of an empty tensor is always a view; NumPy cannot say whether an
    # empty array shares memory (the differential test found one taken for a copy)
    x = t([], device, requires_grad=True)
    with tg.no_grad():
        views = (x.reshape(0), x.reshape(1, 0), tg.zeros(0, 3, device=device).T.reshape(-1))
    assert views[0].requires_grad and views[1].requires_grad   # views of x: they require grad
    assert all(v._view is not None for v in views)


def test_a_view_made_under_no_grad_is_refused_for_a_recorded_write(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    with tg.no_grad():
        v = x[0:1]
    assert v.requires_grad and v.is_leaf         # PyTorch's rule for such views
    with pytest.raises(RuntimeError, match="created in no_grad mode"):
        v.copy_(t([5.0], device, requires_grad=True))


def test_a_view_made_under_no_grad_takes_no_gradient_and_is_kept_only_when_needed(device):
    # PyTorch gives such a view no grad accumulator: ops on it record a graph that ends
    # there and keep its value only for another input's gradient; a write into its base
    # before backward is an error only where that value is read
    x = t([1.0, 2.0], device, tg.float64, requires_grad=True)
    with tg.no_grad():
        v = x[0:1]
    w = t([3.0], device, tg.float64, requires_grad=True)
    y, z = (v * v).sum(), (v * w).sum()           # z: w's gradient reads v
    nll = tg.nn.functional.nll_loss(v.reshape(1, 1), tg.tensor([0], device=device))
    assert y.requires_grad and y.grad_fn is not None
    with tg.no_grad():
        x.mul_(2)
    y.backward()                                  # nothing read v: no error, no gradient
    assert v.grad is None and x.grad is None
    with pytest.raises(RuntimeError, match="created in no_grad mode"):
        z.backward()
    with pytest.raises(RuntimeError, match="created in no_grad mode"):
        nll.backward()                            # PyTorch's nll_loss keeps its input always
    with pytest.raises(RuntimeError, match="created in no_grad mode"):
        v * w                                     # and so is a new use of v


def test_std_of_equal_values_has_a_zero_gradient(device):
    x = t([1.0, 1.0], device, requires_grad=True)
    x.std().backward()
    assert x.grad.tolist() == [0.0, 0.0]


def test_variance_with_too_few_values_is_nan_or_inf(device):
    assert np.isnan(t(0.5, device).var(correction=2).item())
    x = t([1.0, 2.0], device, tg.float64, requires_grad=True)
    v = x.var(correction=2)
    v.backward()
    assert v.item() == np.inf and host(x.grad).tolist() == [-np.inf, np.inf]


def test_integer_power_with_negative_exponents(device):
    assert (2 ** tg.tensor([-1, 2], device=device)).tolist() == [0, 4]
    base = tg.tensor([-1, 1, 2, 0, -1], device=device)
    assert (base ** tg.tensor([-1, -3, -2, -1, -2], device=device)).tolist() == [-1, 1, 0, 0, 1]


def test_writes_refuse_overlapping_memory(device):
    a = tg.arange(4.0, device=device)
    with pytest.raises(RuntimeError, match="single memory location"):
        a[1:] = a[:-1]
    a[...] = a                                   # the same memory, laid out alike: fine
    a[None, :] = a                               # a dim of size 1 more changes nothing
    a.reshape(1, 4)[:] = a                       # (PyTorch agrees; the differential test)
    with pytest.raises(RuntimeError, match="single memory location"):
        a[None, 1:] = a[:-1]
    with pytest.raises(RuntimeError, match="single memory location"):
        a.unsqueeze(0).copy_(a)                  # copy_ does not broadcast first: partial
    a.unsqueeze(0).copy_(a.reshape(1, 4))        # the same view twice: full
    with pytest.raises(RuntimeError, match="single memory location"):
        a[[0, 1]] = a[2:]
    a[0] = a[3]                                  # a 0-d value through a plain index: a fill
    with pytest.raises(RuntimeError, match="single memory location"):
        a[[0, 1]] = a[3]                         # through an advanced index: checked too
    with pytest.raises(RuntimeError, match="single memory location"):
        a.reshape(2, 2)[0, [0]] = a[0]           # (the differential test's program, reduced)
    a[[0, 1]] = a[3].clone()
    assert a.tolist() == [3.0, 3.0, 2.0, 3.0]
    square = a.reshape(2, 2)                     # what an advanced write covers: its slices
    square[[0], 1:] = square[0, 0]               # columns 1: do not hold [0, 0]: fine
    square[[0], 2:] = square[0, 0]               # nothing written: fine (PyTorch too)
    assert a.tolist() == [3.0, 3.0, 2.0, 3.0]


def test_setitem_drops_leading_unit_dims_and_copy_does_not(device):
    a = tg.zeros(3, device=device)
    a[0] = tg.tensor([5.0], device=device)
    a[1:2] = tg.ones(1, 1, device=device)
    assert a.tolist() == [5.0, 1.0, 0.0]
    with pytest.raises(RuntimeError, match="broadcast shape"):
        tg.zeros(3, device=device).copy_(tg.ones(1, 3, device=device))
    with pytest.raises(RuntimeError, match="0-dimension"):
        tg.zeros(2, device=device).fill_(tg.ones(1, device=device))


def test_any_and_all_along_a_dim(device):
    m = tg.tensor([[True, False], [False, False]], device=device)
    assert m.any(dim=1).tolist() == [True, False]
    assert m.all(0, keepdim=True).tolist() == [[False, False]]
