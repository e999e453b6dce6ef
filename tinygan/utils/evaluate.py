"""How good are a generator's digits? Scores from an MNIST classifier tinygan trains itself.

:func:`evaluate` takes N generated images (float, (N, 784), (N, 28, 28) or a DCGAN's
(N, 1, 28, 28), in [0, 1]) and returns, as a JSON-ready dict:

- ``fid``: the Fréchet distance between Gaussians fitted to the classifier's penultimate
  features (128 numbers per image) of the samples and of the 10,000 MNIST test images.
  Lower is better. This is **not** the Inception FID of the papers (that uses an ImageNet
  network on 299×299 colour images): its numbers are only comparable within tinygan, with
  the same classifier (:data:`DEFAULT_CONFIG`).
- ``inception_score``: exp E_x[KL(p(y|x) || p(y))] with the classifier's softmax; 1 (one
  class, or no confident class) to 10 (each sample sure of its digit, the ten equally often).
- ``confident``: the share of samples whose largest softmax probability is at least
  :data:`CONFIDENCE` (0.9): those that look like one digit, not a blotch.
- ``digit_shares``: the share of each digit 0-9 among the confident samples;
  ``digits_covered``: how many digits make at least :data:`COVERED` (1%) of them.
- ``conditional_accuracy`` (when the classes the samples were drawn for are given): the
  share of all samples classified as their class.

The classifier is a small CNN (:func:`build_classifier`): two 5×5 convolutions of stride 2
(32 and 64 channels, ReLU; 28 → 14 → 7), a fully connected layer of 128 ReLUs (the features)
and the ten logits. Convolutional features see what an MLP's barely do: speckle, stray
pixels, broken strokes. It is trained with tinygan (Adam, cross-entropy, random one-pixel
shifts) on the 60,000 training images the first time it is needed, seeded (run again, it
trains the same weights), and must reach 99.2% on MNIST's test set (the README gives its
accuracy, time and scale). It is cached with a SHA-256 of its weights beside the data
(``tinygan_classifier.npz`` in the folder holding the MNIST files, or in
``~/.cache/tinygan/mnist`` when that folder is read-only) and trained again when the cache
is missing, corrupt or of another config or format (the first evaluator's MLP included).
Fashion-MNIST (``dataset="fashion"``) gets its own classifier, the same way.

The matrix square root in the Fréchet distance needs no SciPy: ``tr sqrt(Σ1 Σ2)`` equals
``tr sqrt(A Σ2 A)`` with ``A = sqrt(Σ1)``, and both are square roots of symmetric PSD
matrices, taken by eigendecomposition (:func:`sqrtm_psd`). The statistics are float64.
The classifier runs on the given device; its features are copied to the host once and the
statistics computed there with NumPy (10,000 × 128 numbers: a few milliseconds to copy, and
the same numbers on every device). :func:`frechet_distance` and :func:`sqrtm_psd` accept
CuPy arrays and copy them to the host.

>>> import numpy as np
>>> frechet_distance(np.zeros(2), np.eye(2), np.array([3.0, 4.0]), 4 * np.eye(2))
27.0
>>> p = np.eye(10)                       # ten samples, each sure of another digit
>>> round(inception_score(p), 6), digit_coverage(p)["digits_covered"]
(10.0, 10)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time

import numpy as np

from .. import backend, nn, optim
from ..nn import functional as F
from ..factories import tensor
from ..tensor import Tensor, no_grad
from . import data
from .files import WriteError, atomic_write

NUM_CLASSES = 10
CONFIDENCE = 0.9    # a sample counts as a digit when the classifier gives it ≥ 90%
COVERED = 0.01      # a digit is covered when it makes ≥ 1% of the confident samples
CACHE_NAME = "tinygan_classifier.npz"
FORMAT = "tinygan-classifier-2"   # 1 was the MLP: never read as a CNN


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """How the classifier is built and trained; a cache of another config is retrained."""
    channels: tuple = (32, 64)   # each conv halves the image: 28 -> 14 -> 7
    kernel: int = 5              # the convolutions' kernel size (odd: padding keeps the centre)
    hidden: int = 128            # the fully connected layer's width: the feature size
    epochs: int = 4
    batch_size: int = 128
    lr: float = 2e-3             # Adam's, decayed to 0 along a cosine
    shift: int = 1               # each epoch, every image moved by up to this many pixels
    seed: int = 0
    limit: int | None = None     # train on the first `limit` images only (tests)

    def as_dict(self):
        return {**dataclasses.asdict(self), "channels": list(self.channels)}


DEFAULT_CONFIG = ClassifierConfig()


# --- the statistics ------------------------------------------------------------------------

def sqrtm_psd(a):
    """The symmetric square root of a symmetric positive semi-definite matrix, by
    eigendecomposition: ``V diag(sqrt(λ)) Vᵀ``, tiny negative eigenvalues (round-off)
    clipped to 0. A float64 NumPy array (a CuPy input is copied to the host first).

    >>> sqrtm_psd(np.array([[4.0, 0.0], [0.0, 9.0]]))
    array([[2., 0.],
           [0., 3.]])
    """
    a = np.asarray(backend.to_numpy(a), dtype=np.float64)
    a = (a + a.T) / 2                        # symmetric to the last bit: eigh reads one half
    values, vectors = np.linalg.eigh(a)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def gaussian_stats(features):
    """(mean, covariance) of the rows of ``features``, in float64 (covariance over N - 1)."""
    xp = backend.array_module(features)
    x = xp.asarray(features, dtype=xp.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"gaussian_stats needs (N, D) features with N ≥ 2, got shape {x.shape}")
    mu = x.mean(axis=0)
    centred = x - mu
    return mu, centred.T @ centred / (x.shape[0] - 1)


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """The Fréchet (2-Wasserstein) distance² between N(mu1, sigma1) and N(mu2, sigma2):
    ``|mu1 - mu2|² + tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2))``, a Python float ≥ 0.

    ``tr sqrt(sigma1 sigma2)`` is taken as ``tr sqrt(A sigma2 A)`` with ``A = sqrt(sigma1)``:
    the two products are similar (``A⁻¹ (A sigma2 A) A = sigma1 sigma2``), and ``A sigma2 A``
    is symmetric PSD, so :func:`sqrtm_psd` applies; no general matrix square root needed.
    """
    mu1, sigma1, mu2, sigma2 = (np.asarray(backend.to_numpy(v), dtype=np.float64)
                                for v in (mu1, sigma1, mu2, sigma2))   # on the host, once
    root1 = sqrtm_psd(sigma1)
    cross = sqrtm_psd(root1 @ sigma2 @ root1)
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(cross)
    return max(float(value), 0.0)   # ≥ 0; equal inputs give -1e-13 or so


def inception_score(probs):
    """exp of the mean over samples of KL(p(y|x) || p(y)), p(y) the mean of the rows of
    ``probs`` (N, classes), float64 on the host. 1 when all rows are equal; the number of
    classes when each row is one-hot and the classes are equally frequent."""
    p = np.asarray(backend.to_numpy(probs), dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)  # 0 log 0 = 0
    return float(np.exp(terms.sum(axis=1).mean()))


def digit_coverage(probs, threshold=CONFIDENCE, covered=COVERED):
    """Which digits the samples show: ``confident`` (share of rows whose largest
    probability is ≥ threshold), ``digit_shares`` (each class's share among those rows;
    all 0 when none is confident) and ``digits_covered`` (classes with a share ≥ covered)."""
    p = np.asarray(backend.to_numpy(probs), dtype=np.float64)
    sure = p.max(axis=1) >= threshold
    counts = np.bincount(p.argmax(axis=1)[sure], minlength=p.shape[1])
    shares = counts / max(int(sure.sum()), 1)
    return {"confident": float(sure.mean()), "digits_covered": int((shares >= covered).sum()),
            "digit_shares": [float(s) for s in shares]}


def conditional_accuracy(probs, labels):
    """The share of samples whose most likely class is the one they were drawn for."""
    p = backend.to_numpy(probs)
    labels = np.asarray(backend.to_numpy(labels)).reshape(-1)
    if labels.shape[0] != p.shape[0]:
        raise ValueError(f"{p.shape[0]} samples but {labels.shape[0]} labels")
    return float((p.argmax(axis=1) == labels).mean())


# --- the classifier --------------------------------------------------------------------------

def build_classifier(config=DEFAULT_CONFIG):
    """The CNN, on (N, 784) rows: convolutions of stride 2 (one per entry of
    ``config.channels``, each with a ReLU), a fully connected layer of ``config.hidden``
    units (ReLU: the features) and the ten logits. Its weights are drawn from the config's
    seed with PyTorch's default init's bounds, from its own generator (the global one is left
    alone)."""
    size, channels = 28, (1, *config.channels)
    layers = [nn.Unflatten(1, (1, 28, 28))]  # it takes (N, 784) rows, as steer() feeds it
    default = backend.default_generator("cpu")
    state = default.get_state()   # the layers draw their first weights from the default
    try:                          # stream: give them back, so a program's draws are not shifted
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, config.kernel, stride=2,
                                 padding=config.kernel // 2), nn.ReLU()]
            size = (size - 1) // 2 + 1       # stride 2 with "same" padding: ceil(size / 2)
        model = nn.Sequential(*layers, nn.Flatten(),
                              nn.Linear(channels[-1] * size * size, config.hidden), nn.ReLU(),
                              nn.Linear(config.hidden, NUM_CLASSES))
    finally:
        default.set_state(state)
    rng = backend.RandomStream([config.seed, 1])
    for layer in model:
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            bound = 1.0 / math.sqrt(layer.weight[0].numel())     # 1/sqrt(fan_in), PyTorch's
            nn.init.uniform_(layer.weight, -bound, bound, generator=rng)
            nn.init.uniform_(layer.bias, -bound, bound, generator=rng)
    return model


def _unit_rows(images):
    """uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1]."""
    return (images.reshape(len(images), -1) / np.float32(255)).astype(np.float32)


def _shifted(images, shift, rng):
    """Each image moved by a random whole number of pixels in [-shift, shift] along each
    axis (MNIST's borders are blank, so rolling loses nothing)."""
    if shift == 0:
        return images
    moves = rng.integers(-shift, shift + 1, size=(len(images), 2))
    out = np.empty_like(images)
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            chosen = (moves[:, 0] == dy) & (moves[:, 1] == dx)
            out[chosen] = np.roll(images[chosen], (dy, dx), axis=(1, 2))
    return out


def train_classifier(images, labels, config=DEFAULT_CONFIG, device="cpu", log=None):
    """Train :func:`build_classifier` on uint8 images (N, 28, 28) and their labels; the
    model is returned in eval mode. ``log(text)`` hears one line per epoch."""
    images, labels = images[:config.limit], labels[:config.limit]
    model = build_classifier(config).to(device)
    optimizer = optim.Adam(model.parameters(), lr=config.lr)
    steps = config.epochs * math.ceil(len(images) / config.batch_size)
    schedule = optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)))
    criterion = nn.CrossEntropyLoss()
    targets = tensor(labels.astype(np.int64), device=device)
    rng = np.random.default_rng([config.seed, 2])
    start = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        x = tensor(_unit_rows(_shifted(images, config.shift, rng)), device=device)
        loader = data.DataLoader(data.TensorDataset(x, targets), batch_size=config.batch_size,
                                 shuffle=True, seed=[config.seed, 3, epoch])
        for batch, target in loader:
            loss = criterion(model(batch), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if log:
            log(f"  epoch {epoch + 1}/{config.epochs}: last loss {loss.item():.4f} "
                f"({time.perf_counter() - start:.0f} s)")
    return model.eval()


class Classifier:
    """A trained classifier and the statistics of the MNIST test set it scores against.

    ``model``: the nn.Sequential; ``accuracy``: on the test set; ``reference``: (mean,
    covariance) of the test images' features, float64 on the host; ``path``: its cache
    file (None when it could not be cached).
    """

    def __init__(self, model, device, test_images, test_labels, path=None):
        self.model, self.device, self.path = model.eval(), backend.normalize_device(device), path
        features, probs = self.features_and_probs(_unit_rows(test_images))
        self.accuracy = conditional_accuracy(probs, test_labels)
        self.reference = gaussian_stats(features)

    @no_grad()
    def features_and_probs(self, samples, batch_size=500):
        """(penultimate features, softmax probabilities) of float (N, 784) host samples,
        both float64 host arrays: each batch's are copied off the device once (a batch of
        500 keeps the convolutions' unfolded inputs under a hundred megabytes)."""
        body, head = self.model[:-1], self.model[-1]
        features, probs = [], []
        for start in range(0, len(samples), batch_size):
            x = tensor(np.asarray(samples[start:start + batch_size], dtype=np.float32),
                       device=self.device)
            h = body(x)
            features.append(backend.to_numpy(h._data).astype(np.float64))
            probs.append(backend.to_numpy(F.softmax(head(h), dim=1)._data).astype(np.float64))
        return np.concatenate(features), np.concatenate(probs)


def _digest(arrays):
    """SHA-256 over the names, shapes, dtypes and bytes of the arrays, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _expected_meta(config, dataset):
    return {"format": FORMAT, "config": config.as_dict(), "dataset": dataset,
            "train_images_sha256": data.SHA256[dataset][data.SPLIT_FILES["train"][0]]}


def _read_cache(path, expected):
    """(weights, None) from a valid cache file, else (None, why it is not used)."""
    if not path.is_file():
        return None, "missing"
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(str(arrays.pop("meta")))
    except Exception as exc:     # a torn zip, a bad CRC, no meta, not JSON: all corrupt
        return None, f"unreadable ({type(exc).__name__}: {exc})"
    if meta.get("sha256") != _digest(arrays):
        return None, "its checksum does not match its weights (corrupt)"
    if {k: meta.get(k) for k in expected} != expected:
        return None, "made for another config or dataset"
    return arrays, None


def _write_cache(path, weights, expected):
    meta = {**expected, "sha256": _digest(weights)}
    with atomic_write(path) as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **weights)


def _say(text):
    print(text, file=sys.stderr, flush=True)


def load_classifier(data_dir=None, device="cpu", config=DEFAULT_CONFIG, dataset="mnist",
                    download=True, log=_say):
    """The evaluator's :class:`Classifier`: read from its cache, or trained (a few
    minutes on two CPU cores; ``log`` says so, on stderr by default) and cached.

    The data are found as :func:`tinygan.utils.data.find_dataset_dir` finds them. The cache
    is ``tinygan_classifier.npz`` in the data folder, else in ``data.cache_dir(dataset)``
    when the data folder cannot be written; a file that is unreadable, fails its SHA-256 or
    was made for another config is trained again and replaced.
    """
    dataset = data.dataset_name(dataset)
    folder = data.find_dataset_dir(dataset, data_dir=data_dir, download=download)
    places = [folder / CACHE_NAME, data.cache_dir(dataset) / CACHE_NAME]
    expected = _expected_meta(config, dataset)
    test_images, test_labels = data.load_mnist(dataset, train=False, data_dir=folder)
    model = build_classifier(config)
    for path in dict.fromkeys(places):
        weights, why = _read_cache(path, expected)
        if weights is not None:
            model.load_state_dict(weights)
            return Classifier(model.to(device), device, test_images, test_labels, path)
        if why != "missing":
            log(f"the evaluator's classifier in {path} is {why}: training it again")

    log(f"training the evaluator's {data.TITLES[dataset]} classifier (once, then cached; "
        f"a few minutes on 2 CPU cores)")
    start = time.perf_counter()
    images, labels = data.load_mnist(dataset, train=True, data_dir=folder)
    model = train_classifier(images, labels, config, device, log=log)
    classifier = Classifier(model, device, test_images, test_labels)
    weights = model.state_dict()
    for i, path in enumerate(dict.fromkeys(places)):
        try:
            _write_cache(path, weights, expected)
        except (WriteError, OSError) as exc:
            log(f"cannot cache the classifier in {path.parent} ({exc})"
                + ("; trying the cache folder instead" if i + 1 < len(set(places)) else ""))
            continue
        classifier.path = path
        break
    log(f"trained in {time.perf_counter() - start:.0f} s: test accuracy "
        f"{100 * classifier.accuracy:.2f}%"
        + (f"; cached in {classifier.path}" if classifier.path else "; not cached"))
    return classifier


# --- the scores ------------------------------------------------------------------------------

def as_samples(samples):
    """Samples as a float (N, 784) host array, checked: finite, in [0, 1], N ≥ 2. A DCGAN's
    images, (N, 1, 28, 28), are taken as they come."""
    if isinstance(samples, Tensor):
        samples = backend.to_numpy(samples.detach()._data)
    x = np.asarray(backend.to_numpy(samples))
    if x.dtype.kind != "f":
        raise ValueError(f"samples must be floats in [0, 1], got dtype {x.dtype}")
    if x.shape[1:] not in ((784,), (28, 28), (1, 28, 28)) or len(x) < 2:
        raise ValueError(f"samples must have shape (N, 784), (N, 28, 28) or (N, 1, 28, 28) "
                         f"with N ≥ 2, got {x.shape}")
    x = x.reshape(len(x), 784)
    if not np.isfinite(x).all():
        raise ValueError("samples hold NaN or infinite values")
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 1:
        hint = " (Tanh images in [-1, 1]? use (x + 1) / 2)" if low >= -1 and high <= 1 else ""
        raise ValueError(f"samples must be in [0, 1], found values in [{low:.3g}, {high:.3g}]"
                         + hint)
    return x


def evaluate(samples, labels=None, *, classifier=None, data_dir=None, device="cpu",
             threshold=CONFIDENCE):
    """Score samples (float (N, 784), (N, 28, 28) or (N, 1, 28, 28) in [0, 1]; N = 10,000 is
    the usual) against the MNIST test set; ``labels``: the class each was drawn for
    (conditional generators). Returns a dict: samples, fid, inception_score, confident,
    digits_covered, digit_shares (ten floats) and, with labels, conditional_accuracy (see the
    module's docstring). ``classifier`` defaults to :func:`load_classifier` (data_dir, device)."""
    x = as_samples(samples)
    if classifier is None:
        classifier = load_classifier(data_dir, device)
    features, probs = classifier.features_and_probs(x)
    scores = {"samples": len(x),
              "fid": frechet_distance(*gaussian_stats(features), *classifier.reference),
              "inception_score": inception_score(probs),
              **digit_coverage(probs, threshold)}
    if labels is not None:
        scores["conditional_accuracy"] = conditional_accuracy(probs, labels)
    return scores


def class_noun(dataset, plural=False):
    """What a data set's classes are called in printed scores: digits, or (Fashion-MNIST)
    classes; the score keys stay ``digits_covered`` and ``digit_shares``."""
    noun = "class" if dataset == "fashion" else "digit"
    return noun + ("es" if noun.endswith("s") else "s") if plural else noun


def format_scores(scores, dataset="mnist"):
    """The scores as a few aligned lines (for the example programs)."""
    noun = class_noun(dataset)
    rows = [("samples", scores["samples"]),
            ("FID (tinygan's)", f"{scores['fid']:.2f}"),
            ("inception score", f"{scores['inception_score']:.2f}"),
            (f"confident (≥{CONFIDENCE:.0%})", f"{100 * scores['confident']:.1f}%"),
            (f"{class_noun(dataset, plural=True)} covered", f"{scores['digits_covered']}/10"),
            (f"{noun} shares", " ".join(f"{d}:{100 * s:.0f}%"
                                        for d, s in enumerate(scores["digit_shares"])))]
    if "conditional_accuracy" in scores:
        rows.append(("conditional accuracy", f"{100 * scores['conditional_accuracy']:.1f}%"))
    lines = [f"{label:<21}{value}" for label, value in rows]
    return "\n".join(lines)
