"""The conditional GAN: G and D take the class (one-hot) beside the noise and the image.

one_hot and Conditional do what they say, on both devices; a conditional trainer asks
for labels; on the ring of 8 Gaussians with class = mode, a conditional GAN trained for
a few seconds puts the samples drawn for class k at mode k; and examples/mnist_gan.py
--conditional draws one grid row per digit, which examples/sample.py continues
(--label picks one digit, and is a one-line error on a non-conditional checkpoint).
"""
from pathlib import Path

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend, nn, optim, toy
from tinygan.gan import Conditional, GANTrainer, build_models, get_noise, one_hot
from tinygan.utils import data
from tinygan.utils.checkpoint import load_checkpoint
from tinygan.utils.training import TrainingRun

from example_programs import GAN_TINY as TINY, load_example, png_size

pytestmark = pytest.mark.usefixtures("isolated")   # conftest: offline, cwd in tmp_path


BACKENDS = {"cpu": "numpy", "cuda": "cupy"}
GRID_COLUMNS, NUM_CLASSES, SCALE = 8, 10, 4                   # examples/mnist_gan.py, images


def host(t):
    """A host copy of a tensor's values (never np.asarray on a device array)."""
    return t.detach().numpy().copy()




mnist_gan = load_example("mnist_gan")
sample = load_example("sample")


# --- one_hot and Conditional ----------------------------------------------------------------------

def test_one_hot_values_dtype_and_device(device):
    labels = tg.tensor(np.array([2, 0, 4, 2, 1]), device=device)
    encoded = one_hot(labels, 5)
    assert encoded.shape == (5, 5) and encoded.device == device
    assert encoded.dtype == np.float32 and not encoded.requires_grad
    np.testing.assert_array_equal(host(encoded), np.eye(5, dtype=np.float32)[[2, 0, 4, 2, 1]])

    wide = one_hot(labels, 7, dtype=np.float64)               # more classes than labels seen
    assert wide.shape == (5, 7) and wide.dtype == np.float64 and wide.device == device
    expected = np.zeros((5, 7))
    expected[np.arange(5), [2, 0, 4, 2, 1]] = 1
    np.testing.assert_array_equal(host(wide), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conditional_passes_the_input_then_the_one_hot_label(device, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(dtype)
    labels = np.array([3, 0, 1, 3])
    joined = Conditional(nn.Identity(), 4)(tg.tensor(x, device=device),
                                           tg.tensor(labels, device=device))
    assert joined.dtype == dtype and joined.device == device  # the one-hot follows x's dtype
    np.testing.assert_array_equal(host(joined),
                                  np.concatenate([x, np.eye(4, dtype=dtype)[labels]], axis=1))


def test_conditional_linear_adds_the_weight_column_of_the_class(device):
    # Linear(3 + 4, 2) on cat([x, one_hot(k)]) = x @ W[:, :3].T + W[:, 3 + k] + b.
    rng = np.random.default_rng(1)
    linear = nn.Linear(3 + 4, 2).to(device)
    w = rng.standard_normal((2, 7)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    with tg.no_grad():
        linear.weight.copy_(tg.tensor(w, device=device))
        linear.bias.copy_(tg.tensor(b, device=device))
    model = Conditional(linear, 4)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 1])
    out = host(model(tg.tensor(x, device=device), tg.tensor(labels, device=device)))
    expected = x.astype(np.float64) @ w[:, :3].T + w[:, 3 + labels].T + b
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_build_models_conditional_widens_the_first_layers():
    G, D = build_models(z_dim=5, hidden_dim=4, num_classes=10)
    assert isinstance(G, Conditional) and isinstance(D, Conditional)
    assert G.num_classes == D.num_classes == 10
    assert G.net.gen[0][0].in_features == 5 + 10             # noise, then the class
    assert D.net.disc[0][0].in_features == 784 + 10          # image, then the class
    G, D = build_models(z_dim=5, hidden_dim=4, arch="vanilla", num_classes=10)
    assert G.net.gen[0].in_features == 15 and D.net.disc[0].in_features == 794
    G, D = build_models(z_dim=5, hidden_dim=4)               # num_classes 0: unconditional
    assert not isinstance(G, Conditional) and G.gen[0][0].in_features == 5


def test_conditional_generator_output_depends_on_the_label(device):
    tg.manual_seed(0)
    G, D = build_models(z_dim=4, hidden_dim=4, num_classes=10)
    G.to(device).eval(), D.to(device).eval()
    z = get_noise(6, 4, device, generator=backend.RandomStream(0, device))
    images = {k: host(G(z, tg.tensor(np.full(6, k), device=device))) for k in (0, 1, 7)}
    assert images[0].shape == (6, 784)
    assert not np.allclose(images[0], images[1]) and not np.allclose(images[1], images[7])
    np.testing.assert_array_equal(images[7],
                                  host(G(z, tg.tensor(np.full(6, 7), device=device))))
    x = tg.tensor(images[0], device=device)
    d0 = host(D(x, tg.tensor(np.zeros(6, np.int64), device=device)))
    d3 = host(D(x, tg.tensor(np.full(6, 3), device=device)))
    assert d0.shape == (6, 1) and not np.allclose(d0, d3)


def conditional_ring_models(z_dim, hidden, num_classes=toy.NUM_MODES):
    """examples/toy_gan.py's MLPs, with the class one-hot beside the noise and the point."""
    G = nn.Sequential(nn.Linear(z_dim + num_classes, hidden), nn.ReLU(),
                      nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    D = nn.Sequential(nn.Linear(2 + num_classes, hidden), nn.LeakyReLU(0.2),
                      nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
    return Conditional(G, num_classes), Conditional(D, num_classes)


def conditional_ring_trainer(device, z_dim=2, hidden=32, lr=2e-3, seed=0):
    tg.manual_seed(seed)
    G, D = conditional_ring_models(z_dim, hidden)
    G.to(device), D.to(device)
    return GANTrainer(G, D, optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999)),
                      optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999)), z_dim=z_dim,
                      device=device, seed=seed, conditional=True)


def test_train_step_of_a_conditional_trainer_needs_labels(device):
    trainer = conditional_ring_trainer(device)
    points = tg.tensor(toy.sample_ring(8, np.random.default_rng(0))[0], device=device)
    with pytest.raises(ValueError, match="labels"):
        trainer.train_step(points)
    assert trainer.step == 0
    # fit with a loader that yields no labels (a DataLoader given none) fails the same way
    images = np.random.default_rng(0).integers(0, 256, (8, 1, 2), dtype=np.uint8)
    with pytest.raises(ValueError, match="labels"):
        TrainingRun(trainer).fit(data.DataLoader(images, 4, device=device), 1)
    trainer.train_step(points, tg.tensor(np.arange(8), device=device))
    assert trainer.step == 1                                # with labels it trains


# --- the matching-aware discriminator (mismatched_reals) ------------------------------------

def test_wrong_labels_are_every_other_class_never_the_right_one(device):
    trainer = conditional_ring_trainer(device)
    trainer.mismatched_reals = True
    labels = np.arange(8_000) % toy.NUM_MODES
    wrong = host(trainer.wrong_labels(tg.tensor(labels, device=device)))
    assert wrong.dtype == labels.dtype and not np.any(wrong == labels)
    assert wrong.min() >= 0 and wrong.max() < toy.NUM_MODES
    # for each class, the 7 others equally often: 1,000 draws each, 143 ± 11 per cell
    counts = np.zeros((toy.NUM_MODES, toy.NUM_MODES))
    np.add.at(counts, (labels, wrong), 1)
    off_diagonal = counts[~np.eye(toy.NUM_MODES, dtype=bool)]
    assert off_diagonal.min() > 100 and off_diagonal.max() < 190   # ± 4 sigma


def test_mismatched_reals_d_loss_adds_real_images_under_wrong_labels_as_fakes(device):
    """L_D = ½·[BCE(D(x, y), 1 - s) + ½·(BCE(D(G(z, y), y), 0) + BCE(D(x, ŷ), 0))], ŷ ≠ y,
    the fakes and ŷ drawn from the trainer's stream in that order."""
    smoothing = 0.1
    trainer = conditional_ring_trainer(device)
    trainer.real_label = 1 - smoothing
    trainer.mismatched_reals = True
    rng = np.random.default_rng(3)
    real = tg.tensor(rng.standard_normal((16, 2)), device=device, dtype=tg.float32)
    labels = tg.tensor(rng.integers(0, toy.NUM_MODES, 16), device=device)
    replay = backend.RandomStream(device=device)
    replay.set_state(trainer.noise_rng.get_state())
    G, D = trainer.generator, trainer.discriminator

    def bce(logits, target):
        return tg.nn.functional.binary_cross_entropy_with_logits(logits, tg.full_like(logits, target))

    with tg.no_grad():       # the expected loss, from D before its update
        z = get_noise(16, trainer.z_dim, device, generator=replay)
        shift = tg.randint(1, toy.NUM_MODES, (16,), generator=replay, device=device)
        wrong = tg.tensor((host(labels) + host(shift)) % toy.NUM_MODES, device=device)
        expected = (bce(D(real, labels), 1 - smoothing)
                    + (bce(D(G(z, labels), labels), 0.0) + bce(D(real, wrong), 0.0)) / 2) / 2
    d_loss, _, _ = trainer.d_step(real, labels)
    np.testing.assert_allclose(host(d_loss), host(expected), rtol=1e-6)


def test_mismatched_reals_needs_a_conditional_d_with_num_classes(device):
    G, D = conditional_ring_models(2, 8)
    opts = optim.SGD(G.parameters(), lr=0.1), optim.SGD(D.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="needs conditional=True"):
        GANTrainer(G, D, *opts, z_dim=2, mismatched_reals=True)
    with pytest.raises(ValueError, match="no integer num_classes"):
        GANTrainer(G, D.net, *opts, z_dim=2, conditional=True, mismatched_reals=True)


def test_a_matching_aware_d_puts_each_class_at_its_mode(device):
    """The ring of 8 Gaussians as in the plain conditional test below, with mismatched_reals."""
    trainer = conditional_ring_trainer(device)
    trainer.mismatched_reals = True
    TrainingRun(trainer, log_every=100).fit(toy.RingLoader(64, 600, seed=0, device=device), 1)
    shares = per_class_accuracy(trainer.generator, 2, device)
    assert all(share >= 0.9 for share in shares), shares


def per_class_accuracy(G, z_dim, device, n=500, seed=7):
    """For each mode k: the share of G(z, k) nearest to mode k (the same z for every k)."""
    z = get_noise(n, z_dim, device, generator=backend.RandomStream(seed, device))
    shares = []
    with tg.no_grad():
        for k in range(toy.NUM_MODES):
            points = host(G(z, tg.tensor(np.full(n, k), device=device)))
            nearest, _ = toy.nearest_mode(points)
            shares.append(float((nearest == k).mean()))
    return shares


def test_conditional_gan_puts_each_class_at_its_mode(device):
    # The ring of 8 Gaussians with class = mode. 600 steps of batch 64 (seeded): every
    # class lands 100% on its own mode, on "cpu" and on the stand-in "cuda" (seeds 0-4
    # all do), in about 0.7 s and 1.7 s. An unconditional generator would score about
    # 1/8 per class; one that ignored the label or read it in the wrong place, as badly.
    trainer = conditional_ring_trainer(device)
    before = per_class_accuracy(trainer.generator, 2, device)
    assert min(before) < 0.9, before                  # untrained: not already at the modes
    TrainingRun(trainer, log_every=100).fit(toy.RingLoader(64, 600, seed=0, device=device), 1)
    shares = per_class_accuracy(trainer.generator, 2, device)
    assert all(share >= 0.9 for share in shares), shares


# --- examples/mnist_gan.py --conditional and examples/sample.py -----------------------------------





def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def grid_size(rows, columns=GRID_COLUMNS):
    """utils.images.save_image_grid's (width, height) for 28x28 images, padding 2, scale 4."""
    return ((columns * (28 + 2) + 2) * SCALE, (rows * (28 + 2) + 2) * SCALE)


def run_gan(args, data_dir, out=None, device="cpu"):
    argv = [*args, "--backend", BACKENDS[device], "--data-dir", str(data_dir)]
    if out is not None:
        argv += ["--out", str(out)]
    return mnist_gan.main(argv)


def test_conditional_dry_run_trains_and_writes_nothing(device, fake_mnist, tmp_path, capsys):
    before = files_under(tmp_path)
    code = run_gan(["--conditional", "--dry-run", "--batch-size", "16", "--z-dim", "4",
                    "--hidden-dim", "4"], fake_mnist, device=device)
    out = capsys.readouterr().out
    assert code == 0
    assert f"training on {device}" in out and "dry run finished: 4 steps" in out
    assert "--arch course --conditional:" in out
    assert files_under(tmp_path) == before


@pytest.fixture
def conditional_run(fake_mnist, tmp_path):
    out = tmp_path / "cgan"
    assert run_gan(["--conditional", "--epochs", "1", *TINY], fake_mnist, out) == 0
    return out


def test_conditional_run_draws_one_grid_row_per_class(conditional_run):
    assert png_size(conditional_run / "samples" / "epoch_001.png") == grid_size(NUM_CLASSES)
    checkpoint = load_checkpoint(conditional_run / "checkpoint.npz")
    assert checkpoint.meta["args"]["conditional"] is True
    # The saved generator is the conditional one: its first layer takes z and the class.
    assert checkpoint._arrays["generator/net.gen.0.0.weight"].shape == (4, 4 + NUM_CLASSES)
    assert checkpoint._arrays["discriminator/net.disc.0.0.weight"].shape == (16, 784 + 10)


def test_sample_of_a_conditional_run_has_one_row_per_class(device, conditional_run, tmp_path,
                                                           capsys):
    grid = tmp_path / "grid.png"
    assert sample.main([str(conditional_run / "checkpoint.npz"), "--out", str(grid),
                        "--backend", BACKENDS[device]]) == 0
    assert png_size(grid) == grid_size(NUM_CLASSES)
    assert "10x8 samples" in capsys.readouterr().out


def test_sample_label_draws_an_ordinary_grid_of_that_class(device, conditional_run, tmp_path):
    checkpoint = str(conditional_run / "checkpoint.npz")
    drawn = {}
    for name, label in (("a", 3), ("b", 3), ("c", 5)):
        grid = tmp_path / f"{name}.png"
        assert sample.main([checkpoint, "--out", str(grid), "--label", str(label), "--npy",
                            str(tmp_path / f"{name}.npy"), "-n", "12",
                            "--backend", BACKENDS[device]]) == 0
        assert png_size(grid) == grid_size(8)                 # --grid 8: 8 rows of 8
        drawn[name] = np.load(tmp_path / f"{name}.npy")
    assert drawn["a"].shape == (12, 784) and 0 <= drawn["a"].min() and drawn["a"].max() <= 1
    np.testing.assert_array_equal(drawn["a"], drawn["b"])     # same seed, same class
    assert not np.array_equal(drawn["a"], drawn["c"])         # same noise, another class


@pytest.mark.parametrize("label", [-1, 10])
def test_sample_label_out_of_range_is_one_line_and_exit_2(conditional_run, tmp_path, capsys,
                                                          label):
    with pytest.raises(SystemExit) as info:
        sample.main([str(conditional_run / "checkpoint.npz"), "--out",
                     str(tmp_path / "x.png"), "--label", str(label)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: --label")
    assert not (tmp_path / "x.png").exists()


def test_sample_label_on_an_unconditional_checkpoint_is_one_line_and_exit_2(fake_mnist,
                                                                            tmp_path, capsys):
    out = tmp_path / "plain"
    assert run_gan(["--epochs", "1", *TINY], fake_mnist, out) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        sample.main([str(out / "checkpoint.npz"), "--out", str(tmp_path / "x.png"),
                     "--label", "3"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: --label") and "--conditional" in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_a_conditional_checkpoint_from_before_mismatched_reals_resumes_without_it(
        conditional_run, fake_mnist, monkeypatch):
    """A 0.2.0 checkpoint has no "mismatched_reals" setting: it trained without, and goes on so."""
    import json
    path = conditional_run / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as saved:
        arrays = {key: saved[key] for key in saved.files}
    info = json.loads(str(arrays["meta"]))
    assert info["meta"]["args"].pop("mismatched_reals") is True   # the default now
    arrays["meta"] = np.array(json.dumps(info))
    np.savez(path, **arrays)
    seen, original = [], GANTrainer.__init__

    def recording_init(self, *args, **kwargs):
        seen.append(kwargs["mismatched_reals"])
        original(self, *args, **kwargs)

    monkeypatch.setattr(mnist_gan.GANTrainer, "__init__", recording_init)
    assert run_gan(["--epochs", "2", "--resume"], fake_mnist, conditional_run) == 0
    assert seen == [False]
