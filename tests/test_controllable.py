"""Controllable generation (week 4B): tinygan.controllable's functions equal the notebook's on
PyTorch, the steered score climbs, the penalty holds the other classes, and
examples/controllable.py refuses bad input in one line. No MNIST files, no network."""
import numpy as np
import pytest

import tinygan as tg
from tinygan import nn
from tinygan.controllable import calculate_updated_noise, get_score, steer
from tinygan.gan import build_models
from tinygan.utils.checkpoint import save_checkpoint

from example_programs import load_example, png_size
from exits import one_line_exit_2


# --- the course's functions, transcribed in PyTorch ----------------------------------------

def course_updated_noise(noise, weight):
    return noise + (noise.grad * weight)


def course_score(torch, current, original, target_indices, other_indices, penalty_weight):
    distances = current[:, other_indices] - original[:, other_indices]
    other_class_penalty = -(torch.norm(distances, dim=1).mean() * penalty_weight)
    target_score = current[:, target_indices].mean()
    return target_score + other_class_penalty


def test_the_functions_equal_the_notebooks_on_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    current, original = rng.normal(size=(6, 10)), rng.normal(size=(6, 10))
    others = [i != 3 for i in range(10)]
    for target, other in ((3, others), ([1, 3], [0, 2, 5])):
        mine = tg.tensor(current, requires_grad=True)
        theirs = torch.tensor(current, requires_grad=True)
        got = get_score(mine, tg.tensor(original), target, other, 0.3)
        want = course_score(torch, theirs, torch.tensor(original), target, other, 0.3)
        assert got.item() == pytest.approx(want.item(), abs=1e-12)
        got.backward()
        want.backward()
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(calculate_updated_noise(mine, 0.7).detach().numpy(),
                                   course_updated_noise(theirs, 0.7).detach().numpy(),
                                   atol=1e-12)


def test_the_notebooks_score_checks():
    got = get_score(tg.ones(4, 3), tg.zeros(4, 3), [0], [1, 2], 0.2)
    assert got.item() == pytest.approx(1 - np.sqrt(2) * 0.2)
    current = tg.tensor([[1.0] * 10, [2.0] * 10, [3.0] * 10, [4.0] * 10]).T
    original = tg.tensor([[4.0] * 10, [4.0] * 10, [2.0] * 10, [1.0] * 10]).T
    assert get_score(current, current, [1, 3], [0, 2], 0.2).item() == 3
    assert get_score(current, original, [1, 3], [0, 2], 0.2).item() == pytest.approx(
        3 - 0.2 * np.sqrt(10))


def test_get_score_gradient_in_float64():
    rng = np.random.default_rng(1)
    current = tg.tensor(rng.normal(size=(5, 4)), dtype=tg.float64, requires_grad=True)
    original = tg.tensor(rng.normal(size=(5, 4)), dtype=tg.float64)
    assert tg.gradcheck(lambda c: get_score(c, original, 2, [0, 1, 3], 0.5), [current])


# --- the loop ---------------------------------------------------------------------------------

def tiny_models(seed=0):
    """A random generator (z 4 → 9 pixels in [0, 1]) and a linear 3-class classifier."""
    tg.manual_seed(seed)
    G = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 9), nn.Sigmoid())
    C = nn.Sequential(nn.Linear(9, 3))
    return G.eval(), C.eval()


def target_logit(C, pictures, target):
    with tg.no_grad():
        return [C(p)[:, target].mean().item() for p in pictures]


def test_the_target_score_rises_step_by_step():
    G, C = tiny_models()
    noise = tg.randn(6, 4)
    history, pictures = steer(G, C, noise, 1, 5, 0.5, return_images=True)
    assert len(history) == len(pictures) == 6
    assert not any(z.requires_grad for z in history)
    np.testing.assert_array_equal(history[0].numpy(), noise.numpy())   # step 0: the start
    scores = target_logit(C, pictures, 1)
    assert all(b > a for a, b in zip(scores, scores[1:])), scores
    assert noise.grad is None and not noise.requires_grad   # the caller's noise untouched


def test_the_penalty_holds_the_other_classes():
    G, C = tiny_models()
    noise = tg.randn(6, 4)
    with tg.no_grad():
        start = C(G(noise)).numpy()

    def moved(penalty):
        z = steer(G, C, noise, 0, 8, 2.0, penalty)[-1]
        with tg.no_grad():
            out = C(G(z)).numpy()
        change = np.linalg.norm(out[:, 1:] - start[:, 1:], axis=1).mean()
        return out[:, 0].mean(), change

    free_target, free_change = moved(0.0)
    held_target, held_change = moved(1.0)
    assert held_change < free_change              # the others move less with λ > 0
    assert held_target <= free_target + 1e-6      # at the price of the target's rise
    assert held_target > start[:, 0].mean()


def test_penalty_zero_is_the_plain_ascent():
    # λ = 0: the step is the gradient of the target's mean logit alone
    G, C = tiny_models()
    noise = tg.randn(3, 4)
    z = noise.detach().requires_grad_()
    C(G(z))[:, 2].mean().backward()
    want = (noise + z.grad * 0.25).numpy()
    np.testing.assert_allclose(steer(G, C, noise, 2, 1, 0.25, 0.0)[1].numpy(), want,
                               rtol=1e-6)


# --- examples/controllable.py ---------------------------------------------------------------

controllable = load_example("controllable")


@pytest.fixture
def gan_checkpoint(tmp_path):
    def write(conditional=False):
        classes = 10 if conditional else 0
        G, D = build_models(4, 4, num_classes=classes)
        path = tmp_path / ("cgan.npz" if conditional else "gan.npz")
        save_checkpoint(path, modules={"generator": G, "discriminator": D},
                        meta={"args": {"z_dim": 4, "hidden_dim": 4, "arch": "course",
                                       "conditional": conditional}})
        return str(path)
    return write


@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize("extra, says", [
    (["--target", "10"], "--target must be a digit in 0..9"),
    (["--target", "-1"], "--target must be a digit in 0..9"),
    (["--target", "3", "--steps", "0"], "--steps"),
    (["--target", "3", "--step-size", "-0.1"], "--step-size"),
    (["--target", "3", "--penalty", "-1"], "--penalty"),
])
def test_bad_arguments_are_one_line(capsys, gan_checkpoint, extra, says):
    line = one_line_exit_2(capsys, controllable.main, [gan_checkpoint(), *extra])
    assert says in line


@pytest.mark.usefixtures("isolated")
def test_a_missing_file_is_one_line(capsys, tmp_path):
    line = one_line_exit_2(capsys, controllable.main, [str(tmp_path / "nope.npz"),
                                                       "--target", "3"], alone=True)
    assert "nope.npz" in line


@pytest.mark.usefixtures("isolated")
def test_a_conditional_checkpoint_is_one_line(capsys, gan_checkpoint):
    line = one_line_exit_2(capsys, controllable.main, [gan_checkpoint(conditional=True),
                                                       "--target", "3"], alone=True)
    assert "conditional" in line


@pytest.mark.usefixtures("isolated")
def test_no_mnist_files_is_one_line(capsys, gan_checkpoint, tmp_path):
    line = one_line_exit_2(capsys, controllable.main,
                           [gan_checkpoint(), "--target", "3", "--data-dir",
                            str(tmp_path / "empty")])
    assert line.startswith("error:")


@pytest.mark.usefixtures("isolated")
def test_the_program_writes_one_figure_and_a_table(capsys, gan_checkpoint, fake_mnist,
                                                   tmp_path):
    out = tmp_path / "steer.png"
    assert controllable.main([gan_checkpoint(), "--target", "3", "--steps", "2", "--n", "3",
                              "--data-dir", str(fake_mnist), "--out", str(out)]) == 0
    width, height = png_size(out)
    assert (width, height) == (2 * (3 * 30 + 2), 2 * (3 * 30 + 2))   # 3 steps x 3 rows
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("step") and [line.split()[0] for line in lines[1:4]] == \
        ["0", "1", "2"]
