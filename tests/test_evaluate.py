"""The evaluator (tinygan.utils.evaluate), examples/evaluate.py and mnist_gan.py --eval-every.

The statistics against closed forms and independent computations; the classifier's cache
(trained, reused, retrained when corrupt or of another config, moved to the cache folder
when the data folder cannot be written) with a tiny config on tiny fake MNIST files, so no
test trains for more than a second or two. The real classifier (a CNN, ≥ 99.2% on MNIST, a
few minutes to train) is checked only with TINYGAN_SLOW_TESTS=1 and the MNIST files present.
"""
import dataclasses
import errno
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinygan import backend
from tinygan.utils import data, evaluate as E
from tinygan.utils.files import WriteError

from example_programs import load_example
from exits import one_line_exit_2
from idx_files import fake_mnist_arrays, write_fake_mnist

TINY = E.ClassifierConfig(channels=(4, 8), kernel=3, hidden=8, epochs=2, batch_size=16)


def on(device, array):
    return backend.to_device(np.asarray(array, dtype=np.float64), device)


def random_spd(rng, d, scale=1.0):
    a = rng.normal(size=(d, d))
    return scale * (a @ a.T / d + 0.1 * np.eye(d))


# --- the statistics -----------------------------------------------------------------------

def test_sqrtm_psd_squares_back_and_tolerates_singular_matrices(device):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 3))
    sigma = a @ a.T                          # rank 3: eigenvalues ~ 0, some slightly negative
    root = backend.to_numpy(E.sqrtm_psd(on(device, sigma)))
    assert np.isfinite(root).all()
    np.testing.assert_allclose(root, root.T, atol=1e-12)
    np.testing.assert_allclose(root @ root, sigma, atol=1e-10)
    assert np.linalg.eigvalsh(root).min() > -1e-7      # the PSD root, not another one


def test_sqrtm_psd_clips_round_off_negative_eigenvalues_to_zero(device):
    q, _ = np.linalg.qr(np.random.default_rng(8).normal(size=(3, 3)))
    almost = q @ np.diag([4.0, 1.0, -1e-9]) @ q.T      # a covariance after round-off
    np.testing.assert_allclose(backend.to_numpy(E.sqrtm_psd(on(device, almost))),
                               q @ np.diag([2.0, 1.0, 0.0]) @ q.T, atol=1e-12)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form(device):
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    a, b = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = E.frechet_distance(on(device, mu1), on(device, np.diag(a)),
                             on(device, mu2), on(device, np.diag(b)))
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_of_commuting_covariances_is_the_closed_form(device):
    """Σ1 = Q diag(a) Qᵀ and Σ2 = Q diag(b) Qᵀ share eigenvectors: FD = |Δμ|² + Σ(√a - √b)²."""
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.normal(size=(7, 7)))
    a, b = rng.uniform(0.05, 4, 7), rng.uniform(0.05, 4, 7)
    mu1, mu2 = rng.normal(size=7), rng.normal(size=7)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = E.frechet_distance(on(device, mu1), on(device, q @ np.diag(a) @ q.T),
                             on(device, mu2), on(device, q @ np.diag(b) @ q.T))
    assert got == pytest.approx(expected, rel=1e-10)


def denman_beavers_sqrtm(m, iterations=60):
    """A square root of a (non-symmetric) matrix with no eigenvalue on (-∞, 0], by the
    Denman–Beavers iteration: no eigendecomposition, so independent of sqrtm_psd."""
    y, z = m.copy(), np.eye(len(m))
    for _ in range(iterations):
        y, z = (y + np.linalg.inv(z)) / 2, (z + np.linalg.inv(y)) / 2
    return y


def test_frechet_distance_of_non_commuting_covariances_matches_an_independent_root(device):
    rng = np.random.default_rng(3)
    s1, s2 = random_spd(rng, 8), random_spd(rng, 8, scale=2.0)
    assert not np.allclose(s1 @ s2, s2 @ s1)            # the easy formula does not apply
    root = denman_beavers_sqrtm(s1 @ s2)
    np.testing.assert_allclose(root @ root, s1 @ s2, rtol=1e-10, atol=1e-10)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
    got = E.frechet_distance(on(device, mu1), on(device, s1), on(device, mu2), on(device, s2))
    assert got == pytest.approx(expected, rel=1e-10)
    # and the eigenvalues of Σ1Σ2 (real, ≥ 0) by a general eigensolver
    values = np.linalg.eigvals(s1 @ s2)
    assert np.trace(root) == pytest.approx(np.sqrt(values.real).sum(), rel=1e-10)


def test_frechet_distance_of_a_gaussian_to_itself_is_zero_and_symmetric(device):
    rng = np.random.default_rng(4)
    s1, s2, mu = random_spd(rng, 6), random_spd(rng, 6), rng.normal(size=6)
    assert E.frechet_distance(on(device, mu), on(device, s1), on(device, mu), on(device, s1)) \
        == pytest.approx(0.0, abs=1e-10)
    forth = E.frechet_distance(on(device, mu), on(device, s1), on(device, 0 * mu), on(device, s2))
    back = E.frechet_distance(on(device, 0 * mu), on(device, s2), on(device, mu), on(device, s1))
    assert forth == pytest.approx(back, rel=1e-10) and forth > 0.1


def test_gaussian_stats_are_numpys_mean_and_unbiased_covariance(device):
    x = np.random.default_rng(5).normal(size=(50, 4)).astype(np.float32)
    mu, sigma = E.gaussian_stats(backend.to_device(x, device))
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(backend.to_numpy(mu), x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(sigma), np.cov(x.astype(np.float64).T),
                               rtol=1e-10, atol=1e-14)


def test_inception_score_on_known_distributions():
    confident_uniform = np.eye(10)[np.arange(1000) % 10]
    assert E.inception_score(confident_uniform) == pytest.approx(10.0, rel=1e-12)
    assert E.inception_score(np.eye(10)[np.full(1000, 3)]) == pytest.approx(1.0, rel=1e-12)
    assert E.inception_score(np.full((100, 10), 0.1)) == pytest.approx(1.0, rel=1e-12)
    half = np.array([[1.0, 0.0], [0.5, 0.5]])          # p(y) = (0.75, 0.25)
    kl = [math.log(1 / 0.75), 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)]
    assert E.inception_score(half) == pytest.approx(math.exp(sum(kl) / 2), rel=1e-12)


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_digit_shares_and_coverage_on_synthetic_logits():
    # 1000 samples: 600 sure 7s, 390 sure 2s, 10 sure 5s (1.0% of the confident: covered),
    # and 200 blotches (near-uniform logits: not confident, not counted)
    classes = np.repeat([7, 2, 5], [600, 390, 10])
    logits = np.full((1000, 10), 0.0)
    logits[np.arange(1000), classes] = 8.0             # softmax ≈ 0.997: confident
    blotches = np.random.default_rng(6).normal(0, 0.1, (200, 10))
    probs = softmax(np.concatenate([logits, blotches]))
    result = E.digit_coverage(probs)
    assert result["confident"] == pytest.approx(1000 / 1200)
    shares = result["digit_shares"]
    assert shares[7] == pytest.approx(0.6) and shares[2] == pytest.approx(0.39)
    assert shares[5] == pytest.approx(0.01) and sum(shares) == pytest.approx(1.0)
    assert result["digits_covered"] == 3
    fewer = E.digit_coverage(np.delete(probs, 999, axis=0))   # 9 fives of 999: below 1%
    assert fewer["digit_shares"][5] == pytest.approx(9 / 999)
    assert fewer["digits_covered"] == 2


def test_the_confidence_threshold_is_inclusive_and_nothing_confident_gives_zero_shares():
    p = np.array([[0.9, 0.1] + [0.0] * 8, [0.89, 0.11] + [0.0] * 8])
    result = E.digit_coverage(p)
    assert result["confident"] == 0.5 and result["digit_shares"][0] == 1.0
    none = E.digit_coverage(np.full((5, 10), 0.1))
    assert none == {"confident": 0.0, "digits_covered": 0, "digit_shares": [0.0] * 10}


def test_conditional_accuracy():
    probs = np.eye(10)[[0, 1, 2, 3, 3]]
    assert E.conditional_accuracy(probs, [0, 1, 2, 3, 4]) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="5 samples but 4 labels"):
        E.conditional_accuracy(probs, [0, 1, 2, 3])


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 784), np.uint8), "floats"),
    (np.zeros((4, 28, 27)), "shape"),
    (np.zeros((4, 3, 28, 28)), "shape"),
    (np.zeros(()), "shape"),
    (np.zeros((1, 784)), "N ≥ 2"),
    (np.full((4, 784), np.nan), "NaN"),
    (np.full((4, 784), -1.0), r"\(x \+ 1\) / 2"),
    (np.full((4, 784), 2.0), r"in \[0, 1\]"),
])
def test_bad_samples_are_refused_with_a_reason(bad, message):
    with pytest.raises(ValueError, match=message):
        E.as_samples(bad)


def test_a_dcgans_images_are_taken_in_their_own_shape():
    x = np.random.default_rng(0).random((3, 784))
    for shape in ((3, 784), (3, 28, 28), (3, 1, 28, 28)):
        np.testing.assert_array_equal(E.as_samples(x.reshape(shape)), x)


# --- the classifier and its cache ------------------------------------------------------------

@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    """64 random training and 32 test images in tmp_path/data, accepted by the checksums;
    the download cache in tmp_path/cache; no network."""
    folder = tmp_path / "data"
    monkeypatch.setitem(data.SHA256, "mnist", write_fake_mnist(folder, n=64, n_test=32))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYGAN_DATA", raising=False)
    return folder


def weights_of(classifier):
    return classifier.model.state_dict()


def test_the_classifier_is_trained_once_then_read_from_its_cache(fake_data, capsys, device):
    first = E.load_classifier(fake_data, device, TINY)
    said = capsys.readouterr()
    assert "training the evaluator's MNIST classifier" in said.err and said.out == ""
    assert first.path == fake_data / E.CACHE_NAME and first.path.is_file()
    again = E.load_classifier(fake_data, device, TINY)
    assert capsys.readouterr().err == ""               # read, not trained
    for key, value in weights_of(first).items():
        np.testing.assert_array_equal(weights_of(again)[key], value)
    assert again.accuracy == first.accuracy
    assert len(again.reference[0]) == TINY.hidden


def test_training_is_deterministic_and_leaves_the_global_stream_alone(fake_data, tmp_path):
    backend.manual_seed(7)
    before = backend.default_generator("cpu").get_state()
    one = E.train_classifier(*data.load_mnist(data_dir=fake_data), TINY)
    assert backend.default_generator("cpu").get_state() == before
    two = E.train_classifier(*data.load_mnist(data_dir=fake_data), TINY)
    for key, value in one.state_dict().items():
        np.testing.assert_array_equal(two.state_dict()[key], value)
    other = E.train_classifier(*data.load_mnist(data_dir=fake_data),
                               dataclasses.replace(TINY, seed=1))
    assert not np.array_equal(other.state_dict()["1.weight"], one.state_dict()["1.weight"])


def test_the_cnn_takes_rows_and_gives_its_features_and_ten_probabilities():
    model = E.build_classifier(TINY)
    assert any(isinstance(layer, E.nn.Conv2d) for layer in model)
    assert model(E.tensor(np.zeros((3, 784), np.float32))).shape == (3, 10)   # rows, as steer's
    rows = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    classifier = E.Classifier(model, "cpu", (rows[:4] * 255).astype(np.uint8).reshape(4, 28, 28),
                              np.arange(4))
    features, probs = classifier.features_and_probs(rows, batch_size=2)   # batches agree
    assert features.shape == (5, TINY.hidden) and probs.shape == (5, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    whole, _ = classifier.features_and_probs(rows)
    np.testing.assert_allclose(features, whole, rtol=1e-5, atol=1e-6)


def test_a_cache_of_the_old_mlp_classifier_is_trained_again(fake_data, capsys):
    """The first evaluator cached an MLP under format 1: its weights must never load as a CNN."""
    old = {"format": "tinygan-classifier-1",
           "config": {"hidden": [512, 256], "epochs": 5, "batch_size": 256, "lr": 2e-3,
                      "shift": 1, "seed": 0, "limit": None},
           "dataset": "mnist", "train_images_sha256": E._expected_meta(TINY, "mnist")[
               "train_images_sha256"]}
    weights = {"0.weight": np.zeros((16, 784), np.float32), "0.bias": np.zeros(16, np.float32)}
    path = fake_data / E.CACHE_NAME
    E._write_cache(path, weights, old)
    assert E._read_cache(path, old)[0] is not None          # a valid file, of the old kind
    classifier = E.load_classifier(fake_data, "cpu", TINY)
    said = capsys.readouterr().err
    assert "made for another config" in said and "training it again" in said
    assert classifier.path == path
    assert E._read_cache(path, E._expected_meta(TINY, "mnist"))[0] is not None


def corrupt_in_the_middle(path):
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + 16] = bytes(255 - b for b in raw[middle:middle + 16])
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", ["flipped bytes", "truncated", "weights changed",
                                    "pickled", "another config"])
def test_a_damaged_or_foreign_cache_is_trained_again(fake_data, capsys, damage):
    good = E.load_classifier(fake_data, "cpu", TINY)
    path = good.path
    capsys.readouterr()
    if damage == "flipped bytes":
        corrupt_in_the_middle(path)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "weights changed":      # a valid .npz whose weights no longer match
        with np.load(path) as archive:
            arrays = {k: archive[k] for k in archive.files}
        arrays["1.weight"] = arrays["1.weight"] + 1
        np.savez(path, **arrays)
    elif damage == "pickled":
        np.savez(path, meta=np.array([{"format": E.FORMAT}], dtype=object))
    config = TINY
    if damage == "another config":
        config = dataclasses.replace(TINY, epochs=1)
    again = E.load_classifier(fake_data, "cpu", config)
    said = capsys.readouterr().err
    assert f"classifier in {path} is" in said and "training it again" in said
    assert "training the evaluator's MNIST classifier" in said
    assert again.path == path
    assert E._read_cache(path, E._expected_meta(config, "mnist"))[0] is not None  # now valid
    if damage != "another config":
        for key, value in weights_of(good).items():
            np.testing.assert_array_equal(weights_of(again)[key], value)


def test_a_read_only_data_folder_caches_in_the_cache_folder(fake_data, tmp_path, capsys,
                                                            monkeypatch):
    real = E.atomic_write

    def refuse_the_data_folder(path, *args, **kwargs):
        if Path(path).parent == fake_data:
            raise WriteError(errno.EROFS, f"cannot write {path}: the file system is read-only")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(E, "atomic_write", refuse_the_data_folder)
    first = E.load_classifier(fake_data, "cpu", TINY)
    said = capsys.readouterr().err
    expected = tmp_path / "cache" / "tinygan" / "mnist" / E.CACHE_NAME
    assert first.path == expected and expected.is_file()
    assert not (fake_data / E.CACHE_NAME).exists()
    assert f"cannot cache the classifier in {fake_data}" in said and "read-only" in said
    assert f"cached in {expected}" in said
    E.load_classifier(fake_data, "cpu", TINY)
    assert capsys.readouterr().err == ""               # found in the cache folder


def test_evaluate_end_to_end_on_the_tiny_classifier(fake_data, device):
    classifier = E.load_classifier(fake_data, device, TINY)
    test_images = fake_mnist_arrays(64, 32)["t10k-images-idx3-ubyte.gz"]
    itself = E.evaluate(test_images / 255.0, classifier=classifier)
    assert itself["fid"] == pytest.approx(0.0, abs=1e-9)    # the reference is the test set
    noise = np.random.default_rng(0).random((40, 28, 28))
    scores = E.evaluate(noise, labels=np.arange(40) % 10, classifier=classifier)
    assert scores["fid"] > 0 and scores["samples"] == 40
    assert set(scores) == {"samples", "fid", "inception_score", "confident", "digits_covered",
                           "digit_shares", "conditional_accuracy"}
    json.dumps(scores)                                        # a metrics.jsonl record
    assert "FID (tinygan's)" in E.format_scores(scores)


# --- the programs ------------------------------------------------------------------------------

@pytest.fixture
def tiny_run(fake_data, tmp_path):
    """A one-epoch mnist_gan.py run on the fake data with --eval-every 1 (64 samples)."""
    gan = load_example("mnist_gan")
    out = tmp_path / "run"
    args = ["--limit", "64", "--batch-size", "16", "--log-every", "2", "--z-dim", "4",
            "--hidden-dim", "4", "--epochs", "2", "--data-dir", str(fake_data), "--out", str(out)]
    return gan, args, out


def test_mnist_gan_eval_every_writes_records_the_curve_and_survives_resume(tiny_run, capsys):
    gan, args, out = tiny_run
    assert gan.main([*args, "--epochs", "1", "--eval-every", "1", "--eval-samples", "64"]) == 0
    said = capsys.readouterr()
    assert "epoch 1, EMA of G: FID" in said.out + said.err      # the default keeps one
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    scored = [r for r in records if "fid" in r]
    assert len(scored) == 1 and scored[0]["epoch"] == 1 and scored[0]["samples"] == 64
    assert scored[0]["step"] == 4 and len(scored[0]["digit_shares"]) == 10
    # the resumed run reads them back (losses and scores apart) and adds epoch 2's
    assert gan.main([*args, "--resume", "--eval-every", "2", "--eval-samples", "64"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if "fid" in r] == [1, 2]
    assert all("d_loss" in r for r in records if "fid" not in r)


def test_mnist_gan_without_eval_every_trains_no_classifier(tiny_run):
    gan, args, out = tiny_run
    assert gan.main([*args, "--epochs", "1"]) == 0
    assert not any("fid" in line for line in (out / "metrics.jsonl").read_text().splitlines())
    assert not list(Path(args[args.index("--data-dir") + 1]).glob("tinygan_classifier*"))


def test_the_loss_curve_gains_an_fid_panel(tmp_path):
    pytest.importorskip("matplotlib")
    from tinygan.utils.images import save_loss_curve
    losses = [{"step": s, "epoch": 1, "d_loss": 0.7, "g_loss": 0.8, "d_real": 0.5,
               "d_fake": 0.4} for s in range(10, 60, 10)]
    scores = [{"step": 30, "epoch": 1, "fid": 300.0}, {"step": 50, "epoch": 2, "fid": 80.0}]
    assert save_loss_curve(losses, tmp_path / "plain.png")
    assert save_loss_curve(losses + scores, tmp_path / "fid.png")
    height = lambda p: int.from_bytes((tmp_path / p).read_bytes()[20:24], "big")  # noqa: E731
    assert height("fid.png") > height("plain.png")


def test_examples_evaluate_scores_a_checkpoint_and_an_npy(tiny_run, capsys, tmp_path):
    gan, args, out = tiny_run
    assert gan.main([*args, "--epochs", "1", "--conditional"]) == 0
    program = load_example("evaluate")
    capsys.readouterr()
    data_dir = args[args.index("--data-dir") + 1]
    assert program.main([str(out / "checkpoint.npz"), "-n", "50", "--data-dir", data_dir,
                         "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["samples"] == 50 and scores["epoch"] == 1
    assert 0 <= scores["conditional_accuracy"] <= 1 and scores["fid"] > 0
    npy = tmp_path / "samples.npy"
    np.save(npy, np.random.default_rng(0).random((30, 784)).astype(np.float32))
    assert program.main([str(npy), "--data-dir", data_dir]) == 0
    table = capsys.readouterr().out
    assert "samples              30" in table and "digits covered" in table
    assert "conditional" not in table
    assert program.main([str(npy), "--data-dir", data_dir, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset"] == "mnist"   # a .npy: MNIST's


def test_examples_evaluate_scores_a_fashion_run_by_its_own_classifier(tmp_path, monkeypatch,
                                                                       capsys):
    # A run with --dataset fashion is scored by the Fashion-MNIST classifier (it was scored
    # by MNIST's before); a --dataset that contradicts the run is a one-line error.
    folder = tmp_path / "fashion"
    monkeypatch.setitem(data.SHA256, "fashion", write_fake_mnist(folder, n=64, n_test=32, seed=1))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYGAN_DATA", raising=False)
    out = tmp_path / "run"
    assert load_example("mnist_gan").main([
        "--dataset", "fashion", "--limit", "64", "--batch-size", "16", "--z-dim", "4",
        "--hidden-dim", "4", "--epochs", "1", "--data-dir", str(folder), "--out", str(out),
        "--eval-every", "1", "--eval-samples", "64"]) == 0
    said = capsys.readouterr()
    assert "/10 classes" in said.out + said.err        # not "digits": these are clothes
    program, checkpoint = load_example("evaluate"), str(out / "checkpoint.npz")
    assert program.main([checkpoint, "-n", "40", "--data-dir", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset"] == "fashion"
    assert (folder / "tinygan_classifier.npz").exists()   # its own cache, beside its files
    assert program.main([checkpoint, "-n", "40", "--data-dir", str(folder)]) == 0
    table = capsys.readouterr().out
    assert "classes covered" in table and "class shares" in table
    line = one_line_exit_2(capsys, program.main, [checkpoint, "--dataset", "mnist",
                                                  "--data-dir", str(folder)])
    assert "--dataset mnist, but" in line and "trained on fashion" in line


def test_examples_evaluate_scores_the_safetensors_file_as_the_checkpoint(tiny_run, capsys):
    # The run writes generator_ema.safetensors (the default keeps an EMA of G) beside its
    # checkpoint: the same generator, so the same samples from the same seed and scores.
    gan, args, out = tiny_run
    assert gan.main([*args, "--epochs", "1"]) == 0
    program = load_example("evaluate")
    data_dir = args[args.index("--data-dir") + 1]
    scores = {}
    for name in ("checkpoint.npz", "generator_ema.safetensors"):
        capsys.readouterr()
        assert program.main([str(out / name), "-n", "40", "--data-dir", data_dir, "--json"]) == 0
        scores[name] = json.loads(capsys.readouterr().out)
    ours, theirs = scores["checkpoint.npz"], scores["generator_ema.safetensors"]
    assert ours["fid"] == theirs["fid"] and ours["digit_shares"] == theirs["digit_shares"]


@pytest.mark.parametrize("name, make, message", [
    ("tanh.npy", lambda p: np.save(p, np.full((5, 784), -1.0)), "Tanh images"),
    ("shape.npy", lambda p: np.save(p, np.zeros((5, 10))), "shape"),
    ("torn.npy", lambda p: p.write_bytes(b"\x93NUMPY garbage"), "not a readable .npy"),
    ("text.npz", lambda p: p.write_text("hello"), "not a tinygan checkpoint"),
    ("missing.npy", None, "no such file"),
    ("missing.npz", None, "no checkpoint at"),
])
def test_examples_evaluate_bad_input_is_one_line_and_exit_2(fake_data, tmp_path, capsys, name,
                                                            make, message):
    program = load_example("evaluate")
    path = tmp_path / name
    if make is not None:
        make(path)
    with pytest.raises(SystemExit) as stop:
        program.main([str(path), "--data-dir", str(fake_data)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


# --- the real thing (slow: minutes of training) -------------------------------------------------

MNIST = Path(os.environ.get("TINYGAN_MNIST", Path(__file__).resolve().parents[2] / "shared"
                            / "data" / "mnist"))


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TINYGAN_SLOW_TESTS"),
                    reason="trains the real classifier (minutes): set TINYGAN_SLOW_TESTS=1")
def test_the_real_classifier_floor_and_ceiling(tmp_path, monkeypatch):
    if not (MNIST / data.SPLIT_FILES["train"][0]).is_file():
        pytest.skip(f"no MNIST in {MNIST} (set TINYGAN_MNIST)")
    folder = tmp_path / "mnist"
    shutil.copytree(MNIST, folder)           # the cache is written beside the copy
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    classifier = E.load_classifier(folder)
    assert classifier.accuracy >= 0.992
    train, _ = data.load_mnist(data_dir=folder)
    floor = E.evaluate(train[:10_000] / 255.0, classifier=classifier)
    assert floor["fid"] < 10 and floor["digits_covered"] == 10 and floor["inception_score"] > 9
    noise = np.random.default_rng(0).random((10_000, 784))
    assert E.evaluate(noise, classifier=classifier)["fid"] > 1000


FASHION = MNIST.parent / "fashion-mnist"


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TINYGAN_SLOW_TESTS"),
                    reason="trains the real classifier (minutes): set TINYGAN_SLOW_TESTS=1")
def test_the_real_fashion_classifier_floor_and_ceiling(tmp_path, monkeypatch):
    if not (FASHION / data.SPLIT_FILES["train"][0]).is_file():
        pytest.skip(f"no Fashion-MNIST in {FASHION}")
    folder = tmp_path / "fashion-mnist"
    shutil.copytree(FASHION, folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    classifier = E.load_classifier(folder, dataset="fashion")
    assert classifier.accuracy >= 0.89
    train, _ = data.load_mnist("fashion", data_dir=folder)
    assert E.evaluate(train[:10_000] / 255.0, classifier=classifier)["fid"] < 2
    noise = np.random.default_rng(0).random((10_000, 784))
    assert E.evaluate(noise, classifier=classifier)["fid"] > 300
