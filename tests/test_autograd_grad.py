"""tg.autograd.grad against torch.autograd.grad: results, what it leaves in .grad, the
graph it keeps or frees, second derivatives, and its errors."""
import numpy as np
import pytest

import tinygan as tg
from tinygan import backend

torch = pytest.importorskip("torch")


def run(lib, program, device="cpu"):
    """``program(lib, tensor)`` on tinygan or torch: its result as host arrays (None kept),
    or the error's type and first words."""
    def tensor(values, requires_grad=False):
        array = np.asarray(values, dtype=np.float64)
        if lib is torch:
            return torch.tensor(array, requires_grad=requires_grad)
        return tg.tensor(array, requires_grad=requires_grad, device=device)
    try:
        result = program(lib, tensor)
    except (RuntimeError, ValueError, TypeError) as e:
        return type(e).__name__, str(e).split(".")[0]
    return _host(result)


def _host(value):
    if isinstance(value, (tuple, list)):
        return tuple(_host(v) for v in value)
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return backend.to_numpy(value.detach()._data)


def same(a, b):
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=1e-12)
    return a == b


def check(program, device):
    ours, theirs = run(tg, program, device), run(torch, program)
    assert same(ours, theirs), f"tinygan {ours} != torch {theirs}"
    return ours


def test_returns_a_tuple_and_writes_no_grad(device):
    def program(lib, tensor):
        x = tensor([1.0, 2.0, 3.0], requires_grad=True)
        w = x * 2
        g = lib.autograd.grad((w * w).sum(), [w, x])
        return g, x.grad, isinstance(g, tuple)
    check(program, device)


def test_outputs_weighted_by_grad_outputs(device):
    def program(lib, tensor):
        x = tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
        y = tensor([2.0, 1.0], requires_grad=True)
        outs = [x * y, (x ** 2).sum(1), y.exp().sum()]
        return lib.autograd.grad(outs, (x, y), [tensor([[1.0, 2.0], [3.0, 4.0]]),
                                                tensor([0.5, -1.0]), None])
    check(program, device)


@pytest.mark.pytorch_2_13
def test_allow_unused_and_materialize_grads(device):
    def unused(lib, tensor):
        x, y = tensor([1.0], requires_grad=True), tensor([2.0], requires_grad=True)
        return lib.autograd.grad((x * 3).sum(), [x, y])

    def allowed(lib, tensor):
        x, y = tensor([1.0], requires_grad=True), tensor([2.0], requires_grad=True)
        return lib.autograd.grad((x * 3).sum(), [x, y], allow_unused=True)

    def materialized(lib, tensor):
        x, y = tensor([1.0], requires_grad=True), tensor([2.0, 5.0], requires_grad=True)
        return lib.autograd.grad((x * 3).sum(), [x, y], materialize_grads=True)

    assert check(unused, device)[0] == "RuntimeError"
    assert check(allowed, device)[1] is None
    check(materialized, device)


@pytest.mark.parametrize("case", ["input_without_grad", "output_without_grad", "not_scalar",
                                  "shape_mismatch",
                                  pytest.param("no_inputs", marks=pytest.mark.pytorch_2_13),
                                  "count_mismatch",
                                  "materialize_and_not_allow_unused"])
def test_errors_as_pytorch(case, device):
    def program(lib, tensor):
        x, c = tensor([1.0, 2.0], requires_grad=True), tensor([1.0, 2.0])
        if case == "input_without_grad":
            return lib.autograd.grad((x * c).sum(), [x, c])
        if case == "output_without_grad":
            return lib.autograd.grad((c * 2).sum(), x)
        if case == "not_scalar":
            return lib.autograd.grad(x * 2, x)
        if case == "shape_mismatch":
            return lib.autograd.grad(x * 2, x, tensor([1.0]))
        if case == "no_inputs":
            return lib.autograd.grad((x * 2).sum(), [])
        if case == "count_mismatch":
            return lib.autograd.grad([x.sum(), (x * 2).sum()], x, [tensor(1.0)])
        return lib.autograd.grad(x.sum(), x, allow_unused=False, materialize_grads=True)
    assert check(program, device)[0] in ("RuntimeError", "ValueError")


def test_the_graph_is_freed_unless_retained(device):
    def freed(lib, tensor):
        x = tensor([1.0, 2.0], requires_grad=True)
        loss = (x.exp() * x).sum()
        lib.autograd.grad(loss, x)
        return lib.autograd.grad(loss, x)

    def retained(lib, tensor):
        x = tensor([1.0, 2.0], requires_grad=True)
        loss = (x.exp() * x).sum()
        first = lib.autograd.grad(loss, x, retain_graph=True)
        loss.backward()
        return first, x.grad

    assert check(freed, device)[0] == "RuntimeError"
    check(retained, device)


def test_only_the_nodes_leading_to_the_inputs_run(device):
    # grad with respect to a tensor made by an op leaves that op's graph (and .grad) alone
    def program(lib, tensor):
        x = tensor([1.0, 2.0], requires_grad=True)
        h = x.exp()
        loss = (h * h).sum()
        g = lib.autograd.grad(loss, h)
        loss2 = h.sum()
        pre = x.grad
        loss2.backward()
        return g, pre, x.grad
    check(program, device)


def test_create_graph_gives_second_derivatives(device):
    def program(lib, tensor):
        x = tensor([0.5, -1.0, 2.0], requires_grad=True)
        w = tensor([1.5, 0.3, -0.7], requires_grad=True)
        y = (x.tanh() * w).sum() + (x ** 3).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        hx, hw = lib.autograd.grad((g * g).sum(), [x, w])
        return g, g.requires_grad, hx, hw, x.grad, w.grad
    check(program, device)


def test_a_gradient_penalty_trains_through_backward(device):
    # WGAN-GP's shape: the penalty's gradient lands in .grad of the critic's weights
    def program(lib, tensor):
        weight = tensor([[0.3, -0.5, 0.8], [0.1, 0.4, -0.2]], requires_grad=True)
        real, fake = tensor([[1.0, 2.0], [-1.0, 0.5]]), tensor([[0.2, -0.3], [0.7, 0.1]])
        epsilon = tensor([[0.25], [0.6]], requires_grad=True)
        mixed = real * epsilon + fake * (1 - epsilon)
        scores = (mixed @ weight).tanh().sum(1)
        gradient = lib.autograd.grad(inputs=mixed, outputs=scores,
                                     grad_outputs=lib.ones_like(scores),
                                     create_graph=True, retain_graph=True)[0]
        norm = gradient.reshape(len(gradient), -1).norm(2, dim=1)
        penalty = ((norm - 1) ** 2).mean()
        penalty.backward()
        return gradient, penalty, weight.grad, epsilon.grad
    check(program, device)


def test_a_leaf_output_and_a_float32_gradient(device):
    def program(lib, tensor):
        x = tensor([1.0, 2.0], requires_grad=True)
        return lib.autograd.grad(x, x, tensor([3.0, 4.0]).float())
    check(program, device)
