"""Controllable generation (the course's week 4B): steer a trained generator's noise z by
gradient ascent on a classifier's score for one feature, the generator left as it is.

    z ← z + η · ∂score/∂z,    score = mean_i c_t(G(z_i)) − λ · mean_i ‖Δc_others(z_i)‖₂

c = classifier(G(z)): its logits, one per class; t the target class; Δc_others the change of
the other classes' logits since step 0. The names are the notebook's (``get_score``,
``calculate_updated_noise``); on MNIST the feature is a digit class.

>>> import tinygan as tg
>>> z = tg.ones(2, 2, requires_grad=True)
>>> (z * 3).sum().backward()
>>> calculate_updated_noise(z, 0.1)
tensor([[1.3000, 1.3000],
        [1.3000, 1.3000]], grad_fn=<AddBackward>)
"""
from __future__ import annotations

from .tensor import no_grad


def calculate_updated_noise(noise, weight):
    """One step of gradient ascent: ``noise + noise.grad · weight`` (the course's function;
    ``score.backward()`` must have filled ``noise.grad``)."""
    return noise + noise.grad * weight


def get_score(current_classifications, original_classifications, target_indices,
              other_indices, penalty_weight):
    """The score to climb, the course's: target − penalty.

    target = mean over images (and target columns) of current[:, target_indices];
    penalty = penalty_weight · mean over images of ‖current[:, others] − original[:, others]‖₂,
    which keeps the other classes where they started. ``other_indices``: column indices or a
    boolean mask, as in the notebook. A scalar Tensor; its gradient flows through ``current``.
    """
    current, original = current_classifications, original_classifications
    change = current[:, other_indices] - original[:, other_indices]
    other_class_penalty = -(change.norm(dim=1).mean() * penalty_weight)
    target_score = current_classifications[:, target_indices].mean()
    return target_score + other_class_penalty


def steer(generator, classifier_model, noise, target, steps, step_size, penalty_weight=0.0,
          return_images=False):
    """The course's loop: ``steps`` gradient-ascent steps on ``noise`` toward class ``target``.

    Returns the noise before and after each step (steps + 1 Tensors, none requiring grad),
    and with ``return_images`` also the images G made from each of them (no grad).

    ``generator``: z → images in the range ``classifier_model`` was trained on (put both in
    eval mode first: BatchNorm's running statistics keep each image independent of the
    others in the batch). ``classifier_model``: images → logits (N, classes).

    The score reads the logits, as the course reads its classifier's outputs (logits of a
    BCE-trained network). Not the softmax: its gradient p(1 − p) vanishes for an image the
    classifier is sure is another digit (p ≈ 0), the very images there are to steer. A logit
    can rise while the others rise too; the penalty (λ > 0) is what holds the others still.

    The score is a mean over the N images, so each image's noise moves by
    ``step_size / N · ∂(its own term)/∂z``: pass ``step_size · N`` for a step per image.
    """
    noise = noise.detach()
    with no_grad():
        original_classifications = classifier_model(generator(noise))
    classes = original_classifications.shape[1]
    other_indices = [i != target for i in range(classes)]   # the notebook's boolean mask
    history, images = [noise], []
    for _ in range(steps):
        noise = noise.detach().requires_grad_()   # history keeps the tensors without grad
        fake = generator(noise)
        images.append(fake.detach())
        score = get_score(classifier_model(fake), original_classifications, target,
                          other_indices, penalty_weight)
        score.backward()
        with no_grad():   # the step itself is no part of any graph: a fresh leaf each time
            noise = calculate_updated_noise(noise, step_size)
        history.append(noise)
    if not return_images:
        return history
    with no_grad():
        images.append(generator(noise))
    return history, images
