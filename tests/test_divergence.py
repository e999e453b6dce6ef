"""Divergence as a training rule (tinygan.utils.training.DivergenceCheck): a loss or weight far
out of range, or D saturated for many steps, stops mnist_gan.py with one line and exit code 1,
the last checkpoint kept and resumable; --no-divergence-check trains on; a normal run never
trips it. mnist_vae.py's divergence ends in the same one-line message, not a traceback."""
import warnings

import pytest

import tinygan as tg
from tinygan.gan import GANTrainer
from tinygan.utils.metrics import TrainingDiverged
from tinygan.utils.training import DivergenceCheck

from example_programs import GAN_TINY as TINY, VAE_TINY, load_example

pytestmark = pytest.mark.usefixtures("isolated")   # conftest: offline, cwd in tmp_path

mnist_gan = load_example("mnist_gan")
mnist_vae = load_example("mnist_vae")
BACKENDS = {"cpu": "numpy", "cuda": "cupy"}


def run(main, args, data_dir, out, device="cpu"):
    """``main``'s exit code; NumPy's overflow warnings on the way to divergence would be
    lines before the one line: here they are errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return main([*args, "--backend", BACKENDS[device], "--data-dir", str(data_dir),
                     "--out", str(out)])


def last_error_line(capsys):
    """stderr's one error line (its last), after checking it is the only one."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert [line for line in lines if "error" in line.lower()] == lines[-1:], err
    return lines[-1]


# --- the rule ---------------------------------------------------------------------------------

def record(step, d_loss=0.7, g_loss=1.5, d_real=0.6, d_fake=0.4):
    return {"step": step, "epoch": 1, "d_loss": d_loss, "g_loss": g_loss, "d_real": d_real,
            "d_fake": d_fake}


def test_a_loss_far_out_of_range_trips_either_sign():
    with pytest.raises(TrainingDiverged, match=r"step 50 .*g_loss 1\.5e\+30"):
        DivergenceCheck().check(record(50, g_loss=1.5e30), [], first_step=1)
    with pytest.raises(TrainingDiverged, match=r"g_loss -6\.9e\+29"):   # minimax goes negative
        DivergenceCheck().check(record(50, g_loss=-6.9e29), [], first_step=1)
    DivergenceCheck().check(record(50, g_loss=17.0), [], first_step=1)   # a bad but live run


def test_a_weight_far_out_of_range_trips():
    net = tg.nn.Linear(3, 2)
    DivergenceCheck().check(record(10), [net], first_step=1)
    with tg.no_grad():
        net.weight[0, 1] = -2e12
    with pytest.raises(TrainingDiverged, match=r"a weight of size 2e\+12.*--no-divergence-check"):
        DivergenceCheck().check(record(10), [net], first_step=1)


def test_d_saturated_trips_only_after_patience_steps_running():
    check = DivergenceCheck(patience=500)
    check.check(record(300, d_real=1.0, d_fake=0.0), [], first_step=1)
    check.check(record(400, d_real=0.6, d_fake=0.4), [], first_step=301)   # the count restarts
    check.check(record(800, d_real=1.0, d_fake=1.0), [], first_step=401)
    with pytest.raises(TrainingDiverged, match=r"D saturated for 500 steps"):
        check.check(record(900, d_real=1.0, d_fake=0.9999), [], first_step=801)


# --- mnist_gan.py -----------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [[], ["--arch", "vanilla"], ["--conditional"],
                                   ["--g-loss", "minimax"]])
def test_lr_1e6_stops_with_one_line_and_exit_1(fake_mnist, tmp_path, capsys, extra):
    out = tmp_path / "run"
    assert run(mnist_gan.main, ["--epochs", "2", "--lr", "1e6", *TINY, *extra],
               fake_mnist, out) == 1
    line = last_error_line(capsys)
    assert line.startswith("error: training diverged by step 2 (epoch 1): ")
    assert "--no-divergence-check" in line
    assert not (out / "checkpoint.npz").exists()       # nothing good to keep


def poison_at(monkeypatch, step, value=1e6):
    """From ``step`` on, one of D's weights is ``value`` (finite): the run has left its range."""
    train_step = GANTrainer.train_step

    def poisoned(self, real, labels=None):
        if self.step + 1 == step:
            with tg.no_grad():
                next(iter(self.discriminator.parameters()))[0, 0] = value
        return train_step(self, real, labels)

    monkeypatch.setattr(GANTrainer, "train_step", poisoned)


def test_the_last_good_checkpoint_stays_and_resumes(device, fake_mnist, tmp_path, capsys,
                                                     monkeypatch):
    out = tmp_path / "run"
    assert run(mnist_gan.main, ["--epochs", "1", *TINY], fake_mnist, out, device) == 0
    good = (out / "checkpoint.npz").read_bytes()
    with monkeypatch.context() as patch:
        poison_at(patch, step=6)                     # inside epoch 2 (4 steps an epoch)
        assert run(mnist_gan.main, ["--epochs", "3", "--resume"], fake_mnist, out, device) == 1
    line = last_error_line(capsys)
    assert line.startswith("error: training diverged by step 6 (epoch 2): ")
    assert "a weight of size 1e+06" in line
    assert (out / "checkpoint.npz").read_bytes() == good
    assert run(mnist_gan.main, ["--epochs", "3", "--resume"], fake_mnist, out, device) == 0
    assert "done" in capsys.readouterr().out


def test_no_divergence_check_trains_on(fake_mnist, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    poison_at(monkeypatch, step=2)
    assert run(mnist_gan.main, ["--epochs", "2", *TINY, "--no-divergence-check"],
               fake_mnist, out) == 0
    assert "done" in capsys.readouterr().out
    # a resumed run may take the flag or leave it: it is no setting of the run
    poison_at(monkeypatch, step=9)
    assert run(mnist_gan.main, ["--epochs", "3", "--resume"], fake_mnist, out) == 1
    assert "training diverged by step 10" in last_error_line(capsys)


@pytest.mark.parametrize("extra", [[], ["--preset", "course"], ["--arch", "vanilla"],
                                   ["--conditional"], ["--g-loss", "minimax"]])
def test_the_default_recipes_do_not_trip(device, fake_mnist, tmp_path, extra):
    # default sizes and optimizer, 64 images in batches of 16: 20 steps of 5 epochs
    argv = ["--epochs", "5", "--limit", "64", "--batch-size", "16", "--log-every", "2", *extra]
    assert run(mnist_gan.main, argv, fake_mnist, tmp_path / "run", device) == 0


# --- mnist_vae.py -----------------------------------------------------------------------------

def test_the_vae_diverging_ends_in_one_line(fake_mnist, tmp_path, capsys):
    out = tmp_path / "vae"
    assert run(mnist_vae.main, ["--epochs", "2", "--lr", "1e6", *VAE_TINY],
               fake_mnist, out) == 1
    line = last_error_line(capsys)
    assert line.startswith("error: training diverged at step ")
    assert "the decoder's output is NaN" in line and "smaller --lr" in line
