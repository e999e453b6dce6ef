"""Week 4 of the GAN course (conditional and controllable generation) on tinygan: the graded
pieces that need no convolution, written as the notebooks' solutions write them with the
library's names only, and the notebooks' unit checks restated in our own words. Each runs on
tinygan and, where torch is installed, on PyTorch."""
import math

import pytest



# --- conditional generation (4A) -------------------------------------------------------------

def one_hot_labels(torch, labels, n_classes):
    return torch.nn.functional.one_hot(labels, n_classes)


def combine_vectors(torch, x, y):
    return torch.cat([x.float(), y.float()], 1)


def test_one_hot_labels_keep_the_batch_shape(torch):
    labels = torch.Tensor([[0, 2, 1]]).long()
    assert one_hot_labels(torch, labels, 3).tolist() == [[[1, 0, 0], [0, 0, 1], [0, 1, 0]]]


def test_combined_vectors_are_floats_in_order(torch):
    combined = combine_vectors(torch, torch.tensor([[1, 2], [3, 4]]),
                               torch.tensor([[5, 6], [7, 8]]))
    assert torch.all(combined == torch.tensor([[1, 2, 5, 6], [3, 4, 7, 8]]))
    assert type(combined[0][0].item()) is float
    floats = combine_vectors(torch, torch.randn(1, 4, 5), torch.randn(1, 8, 5))
    assert tuple(floats.shape) == (1, 12, 5)
    longs = combine_vectors(torch, torch.randn(1, 10, 12).long(), torch.randn(1, 20, 12).long())
    assert tuple(longs.shape) == (1, 30, 12)


def test_a_label_image_is_the_one_hot_repeated_over_the_pixels(torch):
    # the training loop's image_one_hot_labels: one_hot[:, :, None, None].repeat(1, 1, 28, 28)
    labels = one_hot_labels(torch, torch.tensor([3, 0]), 10)
    images = labels[:, :, None, None].repeat(1, 1, 28, 28)
    assert tuple(images.shape) == (2, 10, 28, 28)
    assert images[0, 3].sum().item() == 28 * 28 and images[0, 2].sum().item() == 0


def test_interpolated_labels_mix_two_classes(torch):
    first = one_hot_labels(torch, torch.Tensor([1]).long(), 10)
    second = one_hot_labels(torch, torch.Tensor([5]).long(), 10)
    share = torch.linspace(0, 1, 9)[:, None]
    mixed = first * (1 - share) + second * share
    assert tuple(mixed.shape) == (9, 10)
    assert mixed[4, 1].item() == pytest.approx(0.5) and mixed[4, 5].item() == pytest.approx(0.5)


# --- controllable generation (4B) ------------------------------------------------------------

def updated_noise(noise, weight):
    return noise + noise.grad * weight


def score(torch, current, original, target, others, penalty_weight):
    change = current[:, others] - original[:, others]
    penalty = -(torch.norm(change, dim=1).mean() * penalty_weight)
    return current[:, target].mean() + penalty


def test_the_noise_climbs_its_gradient(torch):
    noise = torch.ones(20, 20) * 2
    noise.requires_grad_()
    (noise ** 2).mean().backward()                     # d/dz mean(z²) = 2z/400 = 0.01
    new = updated_noise(noise, 0.1)
    assert type(new) == torch.Tensor and tuple(new.shape) == (20, 20)
    assert new.max() == 2.0010 and new.min() == 2.0010
    assert torch.isclose(new.sum(), torch.tensor(0.4) + 20 * 20 * 2)


def test_noise_data_takes_the_step_and_the_score_rises(torch):
    # the notebook's loop: noise.data = calculate_updated_noise(noise, 1 / grad_steps)
    w = torch.tensor([[1.0, -2.0, 0.5]])
    noise = torch.randn(8, 3).requires_grad_()
    for _ in range(3):
        before = (noise @ w.T)[:, 0]
        if noise.grad is not None:
            noise.grad = None
        before.mean().backward()
        noise.data = updated_noise(noise, 1.0)
        after = (noise @ w.T)[:, 0]
        assert torch.all(after > before) and noise.requires_grad and noise.grad_fn is None


def test_the_score_pays_for_changing_other_classes(torch):
    got = score(torch, torch.ones(4, 3), torch.zeros(4, 3), [0], [1, 2], 0.2)
    assert torch.isclose(got, 1 - torch.sqrt(torch.tensor(2.0)) * 0.2)
    rows = 10
    current = torch.tensor([[1] * rows, [2] * rows, [3] * rows, [4] * rows]).T.float()
    assert score(torch, current, current.clone(), [1, 3], [0, 2], 0.2).item() == 3
    original = torch.tensor([[4] * rows, [4] * rows, [2] * rows, [1] * rows]).T.float()
    assert torch.isclose(score(torch, current, original, [1, 3], [0, 2], 0.2),
                         -torch.sqrt(torch.tensor(10.0)) * 0.2 + 3)
    others = [i != 1 for i in range(4)]                # a boolean mask, as the notebook's loop
    assert math.isclose(score(torch, current, original, [1], others, 0.0).item(), 2.0)
