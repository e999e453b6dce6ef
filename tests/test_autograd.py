"""The autograd engine: grad mode, accumulation, graph lifetime, in-place checks, custom Functions."""
import numpy as np
import pytest

import tinygan as tg
from tinygan import backend
from strategies import host, to_tensor


def leaf(values, device, dtype=np.float64):
    return to_tensor(np.asarray(values, dtype=dtype), device)


# --- grad mode -------------------------------------------------------------------------------

def test_no_grad_context_records_no_graph(device):
    x = leaf([1.0, 2.0], device)
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = (x * 2).exp().sum()
    assert tg.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_decorator_records_no_graph(device):
    x = leaf([1.0, 2.0], device)

    @tg.no_grad()
    def step(t):
        assert not tg.is_grad_enabled()
        return t * 3 + 1

    y = step(x)
    assert y.grad_fn is None and not y.requires_grad
    assert tg.is_grad_enabled()
    z = x * 3                                  # recording is back on after the call
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_restores_mode_after_exception(device):
    x = leaf([1.0], device)
    with pytest.raises(ValueError):
        with tg.no_grad():
            raise ValueError("boom")
    assert tg.is_grad_enabled()

    @tg.no_grad()
    def fails():
        raise KeyError("boom")

    with pytest.raises(KeyError):
        fails()
    assert tg.is_grad_enabled()
    assert (x * 2).grad_fn is not None


def test_no_grad_decorator_is_reentrant(device):
    """A decorated function that calls itself must leave grad mode as it found it.

    torch.no_grad makes a fresh context per call; one shared context object would
    save "disabled" as the previous mode in the inner call and restore that at the end.
    """
    x = leaf([1.0], device)

    @tg.no_grad()
    def countdown(n):
        assert not tg.is_grad_enabled()
        return countdown(n - 1) if n else x * 2

    try:
        assert countdown(2).grad_fn is None
        assert tg.is_grad_enabled(), "grad mode left disabled after a nested call"
        assert (x * 2).grad_fn is not None
    finally:
        tg.set_grad_enabled(True)        # never leak a disabled mode into later tests


def test_enable_grad_inside_no_grad(device):
    x = leaf([1.0, 2.0], device)
    with tg.no_grad():
        with tg.enable_grad():
            y = x * 2
        z = x * 2
    assert y.grad_fn is not None and z.grad_fn is None
    tg.set_grad_enabled(False)
    try:
        assert (x * 2).grad_fn is None
    finally:
        tg.set_grad_enabled(True)


def test_no_graph_when_no_input_requires_grad(device):
    x = to_tensor(np.array([1.0, 2.0]), device, requires_grad=False)
    y = x.exp() * 2
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    w = leaf([3.0, 4.0], device)
    z = x * w
    assert z.requires_grad and not z.is_leaf and w.is_leaf


# --- accumulation --------------------------------------------------------------------------

def test_grads_accumulate_across_backward_calls_until_reset(device):
    x = leaf([1.0, -2.0], device)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    (x * x).sum().backward()                      # a fresh graph: adds 2x
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, -1.0])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    assert isinstance(x.grad, tg.Tensor) and x.grad.device == device


def test_two_forwards_before_backward_keep_their_own_activations(device):
    """One weight through two inputs (real batch, then fake batch): each graph keeps its own."""
    w = leaf([1.0, 2.0], device)
    a = to_tensor(np.array([3.0, 4.0]), device, requires_grad=False)
    b = to_tensor(np.array([5.0, 6.0]), device, requires_grad=False)
    out_a = (w * a).sigmoid().sum()
    out_b = (w * b).sigmoid().sum()
    out_a.backward()
    s = 1 / (1 + np.exp(-np.array([3.0, 8.0])))
    np.testing.assert_allclose(w.grad.numpy(), s * (1 - s) * [3.0, 4.0], rtol=1e-14)
    w.grad = None
    out_b.backward()
    s = 1 / (1 + np.exp(-np.array([5.0, 12.0])))
    np.testing.assert_allclose(w.grad.numpy(), s * (1 - s) * [5.0, 6.0], rtol=1e-14)


def test_long_chain_backward_needs_no_recursion(device):
    x = leaf([0.5], device)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000], rtol=1e-9)


def test_diamond_graph(device):
    values = np.array([0.3, -1.2, 2.0])
    x = leaf(values, device)
    a = x * 2
    b = x.exp()
    (a + b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 + np.exp(values), rtol=1e-14)


def test_diamond_through_a_shared_intermediate(device):
    values = np.array([0.5, 1.5])
    x = leaf(values, device)
    a = x * x                 # a feeds two branches; its gradient must be summed before going on
    b = a * 3
    c = a.exp()
    (b + c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (3 + np.exp(values ** 2)) * 2 * values, rtol=1e-14)


def test_unused_output_branch_does_not_break_backward(device):
    x = leaf([1.0, 2.0], device)
    h = x * 2
    unused = h.exp()                             # in the graph of h, but not of the loss
    values, indices = (h * 1.0).reshape(1, 2).max(dim=1)   # indices are never used
    loss = h.sum() + values.sum()
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert unused.grad_fn is not None


class _FirstOnly(tg.Function):
    """f(a, b) = a * 2; claims no gradient for b (returns None), though b requires one."""

    @staticmethod
    def forward(ctx, a, b):
        return a * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2, None


def test_node_that_receives_no_gradient_is_skipped(device):
    w = leaf([1.0, 2.0], device)
    x = leaf([3.0, 4.0], device)
    branch = x.exp()                   # reachable from the loss, but no gradient flows to it
    loss = _FirstOnly.apply(w, branch).sum()
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0])
    assert x.grad is None


# --- graph lifetime ----------------------------------------------------------------------------

def test_backward_twice_without_retain_graph_raises(device):
    x = leaf([1.0, 2.0], device)
    loss = (x.exp() * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


def test_backward_twice_with_retain_graph_doubles_the_grad(device):
    values = np.array([1.0, 2.0])
    x = leaf(values, device)
    loss = (x.exp() * 2).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(values), rtol=1e-15)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp(values), rtol=1e-15)


def test_saved_buffers_are_freed_after_backward(device):
    x = leaf([1.0, 2.0], device)
    h = x.sigmoid()
    loss = (h * h).sum()
    assert h.grad_fn.saved and (h * h).grad_fn.saved
    product = loss.grad_fn.edges[0][0]
    loss.backward()
    assert product.saved == ()                   # h, saved twice by the product
    assert h.grad_fn.saved == ()                 # the intermediate's saved output too
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 2).sum().backward()                 # a new head over the freed part


def test_a_write_through_a_view_is_freed_by_backward_as_in_pytorch(device):
    # The write is recorded on the base (CopySlices); a second backward through it without
    # retain_graph raises in PyTorch, here too (the differential test found it walked again).
    base = tg.zeros(1, 3, 4, dtype=tg.float64, device=device)
    value = leaf(0.5, device)
    base.permute(0, 1, 2).copy_(value)
    (base * 1.0).sum().backward()
    np.testing.assert_allclose(host(value.grad), 12.0)
    with pytest.raises(RuntimeError, match="retain_graph"):
        (base * 1.0).sum().backward()
    kept = tg.zeros(2, dtype=tg.float64, device=device)
    kept[:1] = value
    (kept * 1.0).sum().backward(retain_graph=True)
    (kept * 1.0).sum().backward()                   # kept: walked twice
    np.testing.assert_allclose(host(value.grad), 14.0)


def test_add_with_alpha_keeps_nothing_so_it_can_be_walked_twice(device):
    # PyTorch's add/sub keep only the number alpha, so a second backward through them
    # works without retain_graph; x * 2.0 keeps the 2.0 as a tensor, and raises (the
    # differential test found add(alpha=) raising here)
    x = leaf([1.0, 2.0], device)
    for y, slope in ((x.add(x, alpha=2), 3.0), (x.sub(x, alpha=3), -2.0), (x + x, 2.0)):
        x.grad = None
        y.sum().backward()
        y.sum().backward()                       # walked twice: twice the gradient
        assert host(x.grad).tolist() == [2 * slope, 2 * slope]
    y = x * 2.0
    y.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.sum().backward()


@pytest.mark.parametrize("index", ["[0, 0]", "tensor", "mask", "None, [0]"])
def test_an_array_index_is_kept_so_a_second_backward_needs_retain_graph(device, index):
    # PyTorch's indexing with arrays keeps the index for backward; slicing keeps nothing
    # (the differential test found x[[0, 0]] walked twice here)
    x = leaf([1.0, 2.0], device)
    picked = {"[0, 0]": lambda: x[[0, 0]], "tensor": lambda: x[tg.tensor([0, 0], device=device)],
              "mask": lambda: x[tg.tensor([True, False], device=device)],
              "None, [0]": lambda: x[None, [0]]}[index]()
    (picked * 1.0).sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (picked * 1.0).sum().backward()
    sliced = x[0:1]
    (sliced * 1.0).sum().backward()
    (sliced * 1.0).sum().backward()


def test_a_write_into_an_index_tensor_before_backward_is_detected(device):
    # as in PyTorch, for an index of one dim or more (a 0-d one indexes like a number)
    x = leaf([[1.0, 2.0], [3.0, 4.0]], device)
    for index, caught in ((tg.tensor([1, 0], device=device), True),
                          (tg.tensor([True, False], device=device), True),
                          (tg.tensor(1, device=device), False)):
        y = (x[index, [0, 1]] if index.ndim == 0 else x[index]).sum()
        index.copy_(index.clone())                   # the same values, one more version
        if caught:
            with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
                y.backward()
        else:
            y.backward()


def test_backward_on_non_scalar_needs_a_gradient(device):
    x = leaf([[1.0, 2.0, 3.0]], device)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()


def test_backward_with_a_gradient(device):
    x = leaf([[1.0, 2.0, 3.0]], device)
    (x * 2).backward(tg.tensor([[1.0, 10.0, 100.0]], device=device, dtype=tg.float64))
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 20.0, 200.0]])


def test_backward_with_wrong_gradient_shape_names_both(device):
    x = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2, 3\)|\(2, 3\).*\(3,\)"):
        y.backward(tg.ones(3, device=device, dtype=tg.float64))


def test_backward_of_a_leaf_scalar(device):
    x = leaf(2.0, device)
    x.backward()
    assert x.grad.item() == 1.0


# --- in-place changes --------------------------------------------------------------------------

def test_inplace_change_of_a_saved_intermediate_is_detected(device):
    x = leaf([0.0, 1.0], device)
    y = x.sigmoid()                      # sigmoid saves its output y for backward
    z = y * 2                            # mul saves its input y too
    with tg.no_grad():
        y.add_(1)
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        z.sum().backward()


def test_inplace_change_of_a_saved_output_is_detected(device):
    x = leaf([0.0, 1.0], device)
    y = x.exp()
    loss = y.sum()
    with tg.no_grad():
        y.mul_(3)
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        loss.backward()


def test_leaf_modified_in_place_after_use_is_detected(device):
    w = leaf([1.0, 2.0], device)
    x = leaf([3.0, 4.0], device)
    loss = (w * x).sum()                 # saves w's array for x's gradient
    with tg.no_grad():
        w.sub_(1)                        # an optimizer step before backward
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        loss.backward()


def test_inplace_change_of_a_leaky_relu_input_is_detected(device):
    # PyTorch's LeakyReLU saves its input (ours keeps only f'(x), which the change cannot
    # touch), so writing into the input before backward is an error there; here too (the
    # differential test found a program where PyTorch raised and tinygan did not).
    x = leaf([-1.0, 2.0], device)
    h = x * 1.0
    y = tg.nn.functional.leaky_relu(h, 0.2)
    with tg.no_grad():
        h.mul_(2)
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        y.sum().backward()


def test_inplace_change_of_a_gather_index_or_a_class_target_is_detected(device):
    # PyTorch's gather and nll_loss save the index / target: writing into it before
    # backward is an error there, here too (the differential test found cross_entropy's).
    x = leaf([[0.5, 1.5], [2.5, 3.5]], device)
    index = tg.tensor([[1], [0]], device=device)
    picked = x.gather(1, index)
    index.mul_(0)
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        picked.sum().backward()
    target = tg.tensor([1, -100], device=device)
    loss = tg.nn.functional.cross_entropy(x, target)
    target.add_(0)
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        loss.backward()
    weight = tg.tensor([0.25, 0.75], dtype=tg.float64, device=device)
    loss = tg.nn.functional.cross_entropy(x, target, weight=weight)
    weight.mul_(2)                                     # the class weights: saved as well
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        loss.backward()
    loss = tg.nn.functional.cross_entropy(x, target, weight=weight)   # untouched: fine
    loss.backward()


@pytest.mark.parametrize("written", ["input", "target", "both"])
def test_inplace_change_of_an_mse_loss_operand_is_detected(device, written):
    # PyTorch's mse_loss keeps input and target (the differential test found mse_loss(x, x))
    x = leaf([1.0, 2.0], device)
    target = tg.tensor([0.5, 0.5], device=device)
    loss = tg.nn.functional.mse_loss(x, x if written == "both" else target)
    with tg.no_grad():
        (target if written == "target" else x).mul_(2)
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        loss.backward()


@pytest.mark.parametrize("written", ["target", "weight", "pos_weight"])
def test_a_write_into_a_bce_with_logits_operand_before_backward_is_detected(device, written):
    # PyTorch keeps target, weight and pos_weight for backward (found by looking for more
    # of what the differential test found in mse_loss and batch_norm)
    x = leaf([0.5, -1.0], device)
    operands = {name: tg.tensor(values, device=device) for name, values in
                (("target", [1.0, 0.0]), ("weight", [2.0, 3.0]), ("pos_weight", [1.5, 0.5]))}
    loss = tg.nn.functional.binary_cross_entropy_with_logits(x, **operands)
    operands[written].mul_(2)
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        loss.backward()


@pytest.mark.parametrize("training", [False, True])
def test_a_write_into_batch_norm_running_stats_before_backward_is_detected(device, training):
    # PyTorch's batch_norm keeps the running stats for backward, in training too, but does
    # not count its own update of them as a write: a user's write is an error, a second
    # forward of the layer is not (the differential test found the eval-mode write)
    bn = tg.nn.BatchNorm1d(2, device=device).train(training)
    x = leaf([[1.0, 2.0], [3.0, 5.0], [0.0, 1.0]], device)
    y1, y2 = bn(x), bn(x * 2.0)
    (y1 + y2).sum().backward()
    for stat in (bn.running_mean, bn.running_var):
        y = bn(x)
        with tg.no_grad():
            stat.add_(0.5)
        with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
            y.sum().backward()


@pytest.mark.parametrize("pick", ["gather", "nll_loss 2-D", "nll_loss 1-D"])
def test_inplace_change_of_a_gather_or_nll_loss_input_is_detected(device, pick):
    # PyTorch's gather and nll_loss save their input too (nll_loss a (1, C) view of a (C,)
    # one), though backward reads only its shape: writing into it before backward is an
    # error there, here too (the differential test found nll_loss's)
    h = leaf([[0.5, 1.5]], device) * 1.0
    if pick == "gather":
        y = h.gather(1, tg.tensor([[1]], device=device)).sum()
    elif pick == "nll_loss 2-D":
        y = tg.nn.functional.nll_loss(h, tg.tensor([1], device=device))
    else:
        y = tg.nn.functional.nll_loss(h[0], tg.tensor(1, device=device))
    with tg.no_grad():
        h.mul_(2)
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        y.backward()


def test_inplace_change_of_an_operand_cast_for_the_op_is_detected(device):
    # int * float: the op computes on a float copy of the int, but the original is what
    # PyTorch saves, so changing it before backward is an error there. It must be here too
    # (the differential test found the copy hiding the change).
    ints = tg.tensor([1, 2], device=device)
    w = leaf([3.0, 4.0], device, dtype=np.float32)
    product = ints * w                   # saves the ints (as float32) for w's gradient
    ints.add_(2)
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        product.sum().backward()
    total = ints + w                     # add saves nothing: a later change is harmless
    ints.add_(2)
    total.sum().backward()
    np.testing.assert_array_equal(host(w.grad), [1.0, 1.0])


def test_inplace_on_a_leaf_that_requires_grad_needs_no_grad(device):
    w = leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="leaf"):
        w.add_(1)
    with tg.no_grad():
        w.add_(1)
    np.testing.assert_array_equal(host(w), [2.0, 3.0])


def test_inplace_change_not_needed_by_backward_is_fine(device):
    x = leaf([1.0, 2.0], device)
    y = x + 1                            # add saves nothing
    z = y * 3.0                          # mul by a number saves y, but needs only the number
    loss = z.sum()
    with tg.no_grad():
        z.add_(5)                        # z itself is saved by nobody
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


ALIASES = {
    "detach": lambda y: y.detach(),
    "reshape": lambda y: y.reshape(2, 1),
    "slice": lambda y: y[0:1],
}


@pytest.mark.parametrize("alias", list(ALIASES))
def test_inplace_change_through_an_alias_is_detected(device, alias):
    """detach() and views share memory with y; writing through them changes what backward reads.

    PyTorch shares the version counter among a tensor, its detached copies and its
    views, so this raises there instead of giving a silently wrong gradient.
    """
    x = leaf([0.0, 1.0], device)
    y = x.sigmoid()                      # backward reads y: sigma'(x) = y (1 - y)
    loss = y.sum()
    with tg.no_grad():
        ALIASES[alias](y).zero_()
    with pytest.raises(RuntimeError, match=r"(?s)inplace.*version"):
        loss.backward()


# --- detach ---------------------------------------------------------------------------------------

def test_detach_shares_data_and_has_no_grad(device):
    x = leaf([1.0, 2.0], device)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.grad is None and d.is_leaf
    assert d._data is y._data
    with tg.no_grad():
        d.add_(1)                        # the same memory: y sees it
    np.testing.assert_array_equal(host(y), [3.0, 5.0])
    (d * x).sum().backward()             # d is a constant: x gets d's values, nothing flows to y
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 5.0])


def test_detach_of_a_leaf(device):
    x = leaf([1.0, 2.0], device)
    d = x.detach()
    assert not d.requires_grad and d.device == device and d.dtype == x.dtype
    assert d.tolist() == [1.0, 2.0]


# --- custom Functions ----------------------------------------------------------------------------

class Cube(tg.Function):
    """x³ with its derivative 3x², saved input and all."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors                   # a Tensor, on the graph
        return grad * 3 * x * x                    # d/dx x³ = 3x²


class ScaledAdd(tg.Function):
    """a + alpha * b, with a keyword argument that gets no gradient."""

    @staticmethod
    def forward(ctx, a, b, alpha=1.0):
        ctx.alpha = alpha
        return a + alpha * b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad * ctx.alpha


def test_custom_function(device):
    values = np.array([-1.0, 0.5, 2.0])
    x = leaf(values, device)
    y = Cube.apply(x)
    assert y.grad_fn is not None and "Cube" in repr(y.grad_fn)
    np.testing.assert_allclose(host(y), values ** 3, rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * values ** 2, rtol=1e-15)
    assert tg.gradcheck(lambda t: Cube.apply(t * 2.0) + t, [leaf(values, device)])


def test_custom_function_with_keyword_and_broadcasting(device):
    a = leaf([[1.0, 2.0], [3.0, 4.0]], device)
    b = leaf([10.0, 20.0], device)
    out = ScaledAdd.apply(a, b, alpha=0.5)
    np.testing.assert_array_equal(host(out), [[6.0, 12.0], [8.0, 14.0]])
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((2, 2)))
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])    # summed back to b's shape


def test_custom_function_under_no_grad(device):
    x = leaf([1.0], device)
    with tg.no_grad():
        y = Cube.apply(x)
    assert y.grad_fn is None and not y.requires_grad


# --- devices meet ------------------------------------------------------------------------------------

def _pair():
    a = tg.tensor([1.0, 2.0], device="cpu", requires_grad=True)
    b = tg.tensor([3.0, 4.0], device="cuda", requires_grad=True)
    return a, b


MIXED = {
    "add": lambda a, b: a + b,
    "reflected sub": lambda a, b: b - a,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
    "matmul": lambda a, b: a @ b,
    "maximum": lambda a, b: tg.maximum(a, b),
    "where": lambda a, b: tg.where(a > 0, a, b),
    "cat": lambda a, b: tg.cat([a, b]),
    "stack": lambda a, b: tg.stack([b, a]),
    "compare": lambda a, b: a < b,
    "index": lambda a, b: a[tg.tensor([0, 1], device="cuda")],
    "linear": lambda a, b: tg.nn.functional.linear(a, b.reshape(1, 2)),
    "copy_": lambda a, b: b.detach().copy_(a.detach()),
    "backward gradient": lambda a, b: (a * 2).backward(tg.ones(2, device="cuda")),
}


@pytest.mark.parametrize("op", list(MIXED))
def test_mixing_devices_names_both(op):
    """Not parametrized by the device fixture: it needs a cpu and a cuda tensor at once."""
    a, b = _pair()
    with pytest.raises((RuntimeError, TypeError), match=r"(?s)(cpu.*cuda|cuda.*cpu)"):
        MIXED[op](a, b)


def test_mixing_devices_error_comes_from_the_backend_check():
    a, b = _pair()
    with pytest.raises(RuntimeError, match="same device"):
        a + b
    with pytest.raises(RuntimeError, match=r"\.to\(device\)"):
        a * b


def test_gradient_crosses_devices_through_to():
    a = tg.tensor([1.0, 2.0], device="cpu", dtype=tg.float64, requires_grad=True)
    b = a.to("cuda")
    assert b.device == "cuda" and b.requires_grad
    (b * b).sum().backward()
    assert a.grad.device == "cpu"
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 4.0])
    assert backend.device_of(a.grad._data) == "cpu"


def test_inplace_on_a_graph_tensor_is_recorded(device):
    # y.mul_(3) is recorded as PyTorch records it: y's history becomes "y_old * 3",
    # so backward gives d(6x)/dx = 6. On a leaf that requires grad it is refused.
    x = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2
    y.mul_(3)
    assert y.grad_fn.name() == "MulBackward"
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x.add_(1)
    (y * 3).sum().backward()
    assert x.grad.tolist() == [18.0, 18.0]


# --- differentiating a gradient (create_graph) ----------------------------------------------------

def test_second_derivative(device):
    x = leaf([1.0, 2.0, -0.5], device)
    (x ** 3).sum().backward(create_graph=True)
    first = x.grad                                 # 3x², itself on the graph
    assert first.requires_grad
    x.grad = None
    first.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.array([1.0, 2.0, -0.5]), rtol=1e-15)


def gradient_penalty(weight, x):
    """WGAN-GP's term: (‖∂D/∂x‖ - 1)² for D(x) = Σ leaky_relu(x Wᵀ)², built with create_graph."""
    x = x.detach().requires_grad_()
    with tg.enable_grad():      # gradcheck's finite differences run under no_grad
        critic = (tg.nn.functional.leaky_relu(tg.nn.functional.linear(x, weight), 0.2) ** 2).sum()
        critic.backward(create_graph=True)
        return ((x.grad * x.grad).sum().sqrt() - 1) ** 2


def test_a_gradient_penalty_differentiates_through_linear_and_leaky_relu(device):
    rng = np.random.default_rng(0)
    weight = leaf(rng.standard_normal((3, 4)), device)
    x = leaf(rng.standard_normal((2, 4)), device)
    assert tg.gradcheck(lambda w: gradient_penalty(w, x), [weight])


def test_a_once_differentiable_backward_refuses_a_second_one(device):
    x = leaf([0.5, -1.0], device)
    target = tg.tensor([1.0, 0.0], dtype=tg.float64, device=device)
    tg.nn.functional.binary_cross_entropy_with_logits(x, target).backward(create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        x.grad.sum().backward()


@pytest.mark.parametrize("op, second", [
    (lambda x: x.exp(), lambda v: np.exp(v)),
    (lambda x: x.sigmoid(), lambda v: (s := 1 / (1 + np.exp(-v))) * (1 - s) * (1 - 2 * s)),
    (lambda x: x.tanh(), lambda v: -2 * np.tanh(v) * (1 - np.tanh(v) ** 2)),
    (lambda x: x.sqrt(), lambda v: -0.25 * v ** -1.5),
])
def test_second_derivative_of_an_op_on_a_0d_tensor(device, op, second):
    # NumPy gives a scalar for a 0-d result; the op saves that scalar as its output, which
    # must still come back on the graph (it came back as a constant: no second derivative)
    x = tg.tensor(0.5, dtype=tg.float64, device=device, requires_grad=True)
    op(x).backward(create_graph=True)
    first, x.grad = x.grad, None
    first.backward()
    np.testing.assert_allclose(host(x.grad), second(0.5), rtol=1e-12)


def test_gradcheck_leaves_the_inputs_grad_as_it_was(device):
    """As torch.autograd.gradcheck: it takes its gradients with autograd.grad, so a .grad
    accumulated before it is neither overwritten nor added to."""
    x = tg.tensor([1.0, 2.0, 3.0], dtype=tg.float64, device=device, requires_grad=True)
    y = tg.tensor([0.5, 0.5, 0.5], dtype=tg.float64, device=device, requires_grad=True)
    (x * 3).sum().backward()
    assert tg.gradcheck(lambda a, b: a * a * b, [x, y])
    assert host(x.grad).tolist() == [3.0, 3.0, 3.0] and y.grad is None
    assert tg.gradcheck(lambda a, b: a.exp(), [x, y])        # b unused: its gradient is 0
