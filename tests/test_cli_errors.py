"""What a newcomer trips on in the example programs: every bad argument is argparse's
one-line error (exit code 2) naming what was expected and what came; --help shows each
default; --resume refuses settings that differ from the run's; sample.py reads a VAE's
checkpoint, says plainly when a file is no checkpoint, and writes only what was asked.
"""
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygan.utils.checkpoint import load_checkpoint
from tinygan.utils.training import TrainingRun, speed_text

from example_programs import EXAMPLES, GAN_TINY, VAE_TINY, load_example, png_size
from exits import one_line_exit_2

pytestmark = pytest.mark.usefixtures("isolated")   # conftest: offline, cwd in tmp_path

mnist_gan = load_example("mnist_gan")
mnist_vae = load_example("mnist_vae")
sample = load_example("sample")
toy_gan = load_example("toy_gan")

PROGRAMS = {"mnist_gan": mnist_gan.main, "mnist_vae": mnist_vae.main, "sample": sample.main,
            "toy_gan": toy_gan.main}


# --- bad values: argparse's one-line error ----------------------------------------------------

POSITIVE = "expected a positive integer (1 or more), got"


@pytest.mark.parametrize("program, argv, expected", [
    ("mnist_gan", ["--lr", "-1"], "argument --lr: expected a number > 0, got -1.0"),
    ("mnist_gan", ["--lr", "0"], "argument --lr: expected a number > 0, got 0.0"),
    ("mnist_gan", ["--beta1", "1"],
     "argument --beta1: expected a number in [0, 1), got 1.0"),
    ("mnist_gan", ["--beta2", "-0.1"],
     "argument --beta2: expected a number in [0, 1), got -0.1"),
    ("mnist_gan", ["--beta2", "x"], "argument --beta2: expected a number, got 'x'"),
    ("mnist_vae", ["--lr", "-1"], "argument --lr: expected a number > 0, got -1.0"),
    ("mnist_gan", ["--epochs", "0"], f"argument --epochs: {POSITIVE} 0"),
    ("mnist_gan", ["--epochs", "-1"], f"argument --epochs: {POSITIVE} -1"),
    ("mnist_vae", ["--epochs", "0"], f"argument --epochs: {POSITIVE} 0"),
    ("mnist_vae", ["--epochs", "-1"], f"argument --epochs: {POSITIVE} -1"),
    ("toy_gan", ["--epochs", "0"], f"argument --epochs: {POSITIVE} 0"),
    ("toy_gan", ["--steps", "0"], f"argument --steps: {POSITIVE} 0"),
    ("mnist_gan", ["--batch-size", "0"], f"argument --batch-size: {POSITIVE} 0"),
    ("sample", ["c.npz", "--grid", "0"], f"argument --grid: {POSITIVE} 0"),
    ("sample", ["c.npz", "-n", "0"], f"argument -n/--num-samples: {POSITIVE} 0"),
    ("sample", ["c.npz", "--truncation", "0"],
     "argument --truncation: expected a number > 0, got 0.0"),
])
def test_a_bad_value_is_an_argument_error_naming_flag_expectation_and_value(
        program, argv, expected, tmp_path, capsys):
    out = tmp_path / "run"
    extra = ["--out", str(out)] if program != "sample" else []
    last = one_line_exit_2(capsys, PROGRAMS[program], [*argv, *extra])
    assert last.endswith(f"error: {expected}"), last
    assert not out.exists()             # no empty run folder left behind


@pytest.mark.parametrize("value", ["0", "-1"])
def test_course_gan_refuses_a_non_positive_epoch_count(value, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["course_gan.py", "--dry-run", "--epochs", value])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(EXAMPLES / "course_gan.py"), run_name="__main__")
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        f"argument --epochs: expected a positive integer (1 or more), got {value}")


# --- --help shows the defaults ----------------------------------------------------------------

@pytest.mark.parametrize("program, shown", [
    ("mnist_gan", ["(default: tinygan)", "lr 2e-3", "lr 1e-5", "(default: from --preset)",
                   "(default: 5)"]),
    ("mnist_vae", ["(default: 0.001)", "(default: 20)", "(default: 400)", "(default: 128)"]),
    ("sample", ["(default: 8)", "(default: 1000)"]),
    ("toy_gan", ["(default: 10)", "(default: 200)"]),
])
def test_help_shows_every_default(program, shown, capsys):
    with pytest.raises(SystemExit) as info:
        PROGRAMS[program](["--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())      # argparse wraps lines
    for default in shown:
        assert default in text, (default, text)


@pytest.mark.parametrize("module", [mnist_gan, mnist_vae])
def test_every_option_has_a_help_text_so_its_default_is_shown(module):
    # ArgumentDefaultsHelpFormatter adds "(default: ...)" only to options with a help text.
    missing = [a.option_strings[0] for a in module.build_parser()._actions
               if a.option_strings and a.help is None]
    assert missing == []


def test_help_states_the_resume_rule(capsys):
    with pytest.raises(SystemExit):
        mnist_gan.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "with another value it is an error (exit code 2)" in text
    assert ("--epochs (the total), --out, --backend, --data-dir, --tensorboard and --dry-run"
            in text)


# --- the dry run's message --------------------------------------------------------------------

@pytest.mark.parametrize("module", [mnist_gan, mnist_vae])
def test_the_dry_run_says_where_it_looked_in_one_whole_line(module, tmp_path, capsys):
    assert module.main(["--dry-run", "--batch-size", "16", "--z-dim", "4", "--hidden-dim", "4",
                        "--out", str(tmp_path / "o")]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines()
                if "using random images instead" in line)
    assert "in:)" not in line                               # was cut off after "in:"
    assert str(tmp_path / "xdg-cache") in line and line.endswith(")")


# --- --resume and the flags given on the command line -----------------------------------------

def test_resume_refuses_settings_that_differ_from_the_runs(fake_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--data-dir", str(fake_mnist), "--out", str(out)]
    assert mnist_gan.main(["--epochs", "1", *GAN_TINY, *common]) == 0
    before = (out / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    last = one_line_exit_2(capsys, mnist_gan.main, ["--resume", "--epochs", "2", "--arch",
                                                   "vanilla", "--batch-size", "128", *common])
    assert last.startswith("error: --resume continues the run with its saved settings")
    assert "--batch-size 128 (the run has 16)" in last
    assert "--arch 'vanilla' (the run has 'course')" in last
    assert (out / "checkpoint.npz").read_bytes() == before
    # The run's own command line again, plus --resume: the same values are fine.
    assert mnist_gan.main(["--resume", "--epochs", "2", *GAN_TINY, *common]) == 0
    assert load_checkpoint(out / "checkpoint.npz").meta["trainer"]["step"] == 8


def test_resume_refuses_a_default_written_out_when_the_run_had_another(fake_mnist, tmp_path,
                                                                       capsys):
    # --lr 2e-4 is vanilla's default, but written on the command line it is a request: the
    # run was started with 1e-3, so it is refused rather than silently ignored.
    out = tmp_path / "run"
    common = ["--data-dir", str(fake_mnist), "--out", str(out)]
    assert mnist_gan.main(["--epochs", "1", "--lr", "1e-3", *GAN_TINY, *common]) == 0
    capsys.readouterr()
    last = one_line_exit_2(capsys, mnist_gan.main, ["--resume", "--epochs", "2", "--lr", "2e-4",
                                                   *common])
    assert "--lr 0.0002 (the run has 0.001)" in last


def test_vae_resume_refuses_settings_that_differ_from_the_runs(fake_mnist, tmp_path, capsys):
    out = tmp_path / "vae"
    common = ["--data-dir", str(fake_mnist), "--out", str(out)]
    assert mnist_vae.main(["--epochs", "1", *VAE_TINY, *common]) == 0
    capsys.readouterr()
    last = one_line_exit_2(capsys, mnist_vae.main, ["--resume", "--epochs", "2", "--hidden-dim",
                                                   "16", *common])
    assert "--hidden-dim 16 (the run has 8)" in last
    assert mnist_vae.main(["--resume", "--epochs", "2", "--hidden-dim", "8", *common]) == 0


def test_resuming_the_other_programs_checkpoint_is_one_line(fake_mnist, tmp_path, capsys):
    out = tmp_path / "vae"
    common = ["--data-dir", str(fake_mnist), "--out", str(out)]
    assert mnist_vae.main(["--epochs", "1", *VAE_TINY, *common]) == 0
    capsys.readouterr()
    last = one_line_exit_2(capsys, mnist_gan.main, ["--resume", "--epochs", "2", *common])
    assert last.startswith("error: --resume: ") and "not a checkpoint of mnist_gan.py" in last


# --- sample.py --------------------------------------------------------------------------------

@pytest.fixture
def gan_checkpoint(fake_mnist, tmp_path):
    out = tmp_path / "gan"
    assert mnist_gan.main(["--epochs", "1", *GAN_TINY, "--data-dir", str(fake_mnist),
                           "--out", str(out)]) == 0
    return out / "checkpoint.npz"


@pytest.fixture
def vae_checkpoint(fake_mnist, tmp_path):
    out = tmp_path / "vae"
    assert mnist_vae.main(["--epochs", "1", *VAE_TINY, "--data-dir", str(fake_mnist),
                           "--out", str(out)]) == 0
    return out / "checkpoint.npz"


def test_sample_on_a_file_that_is_not_a_checkpoint_says_so(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# notes\n")
    last = one_line_exit_2(capsys, sample.main, [str(readme)])
    assert last == (f"error: {readme} is not a tinygan checkpoint (.npz): it is not a zip "
                    "archive; expected the checkpoint.npz a training run wrote")
    assert "pickle" not in last


def test_sample_on_an_npy_file_says_what_it_is(tmp_path, capsys):
    path = tmp_path / "samples.npy"
    np.save(path, np.zeros(3))
    last = one_line_exit_2(capsys, sample.main, [str(path)])
    assert f"{path} is not a tinygan checkpoint (.npz): it is an .npy array" in last


def test_sample_draws_from_a_vae_through_its_decoder(device, vae_checkpoint, tmp_path, capsys):
    grid, npy = tmp_path / "grid.png", tmp_path / "v.npy"
    assert sample.main([str(vae_checkpoint), "--out", str(grid), "--grid", "3", "--npy",
                        str(npy), "-n", "6",
                        "--backend", {"cpu": "numpy", "cuda": "cupy"}[device]]) == 0
    assert png_size(grid) == ((3 * 30 + 2) * 4,) * 2
    samples = np.load(npy, allow_pickle=False)
    assert samples.shape == (6, 784) and samples.dtype == np.float32
    assert 0 <= samples.min() and samples.max() <= 1
    assert len(np.unique(samples.round(6), axis=0)) == 6
    assert "epoch 1" in capsys.readouterr().out


def test_sample_label_on_a_vae_is_one_line(vae_checkpoint, capsys):
    last = one_line_exit_2(capsys, sample.main, [str(vae_checkpoint), "--label", "3"])
    assert "--label needs a checkpoint of a conditional GAN run; this is a VAE's" in last


def test_sample_npy_alone_writes_no_grid(gan_checkpoint, tmp_path):
    npy = tmp_path / "only.npy"
    assert sample.main([str(gan_checkpoint), "--npy", str(npy), "-n", "4"]) == 0
    assert np.load(npy).shape == (4, 784)
    assert not (Path.cwd() / "samples.png").exists()       # cwd is tmp_path (isolated)
    assert sample.main([str(gan_checkpoint)]) == 0          # no --npy: the grid, as before
    assert png_size(Path.cwd() / "samples.png")


# --- the epoch's speed ------------------------------------------------------------------------

def test_a_slow_one_step_epoch_reports_seconds_per_step():
    run = TrainingRun.__new__(TrainingRun)
    run.last_epoch_seconds, run.last_epoch_steps = 25.0, 1
    assert run.speed() == "25.0 s, 25.0 s/step"            # was "0.0 steps/s"
    assert speed_text(1, 25.0) == "25.0 s/step"
    assert speed_text(100, 8.0) == "12.5 steps/s"
    assert speed_text(0, 0.5) == "no steps trained"        # a resumed epoch all skipped


# --- toy_gan.py's figure ----------------------------------------------------------------------

def test_the_toy_figure_clips_no_title():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    class Snapshots:
        clouds = [(epoch, np.random.default_rng(epoch).normal(size=(50, 2)))
                  for epoch in range(1, 11)]

    fig = toy_gan.figure(Snapshots(), plt)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        titles = [ax.title for ax in fig.axes]
        assert [t.get_text() for t in titles] == ["epoch 1", "epoch 4", "epoch 7", "epoch 10"]
        for title in titles:
            box = title.get_window_extent(renderer)
            assert 0 <= box.x0 and box.x1 <= fig.bbox.width
            assert 0 <= box.y0 and box.y1 <= fig.bbox.height, (title.get_text(), box.y1)
    finally:
        plt.close(fig)


# --- --preset: the recipe behind the defaults ------------------------------------------------

@pytest.mark.parametrize("argv, expected", [
    ([], {"lr": 2e-3, "beta1": 0.5, "beta2": 0.999, "batch_size": 64, "label_smoothing": 0.0,
          "mismatched_reals": True}),
    (["--preset", "course"],
     {"lr": 1e-5, "beta1": 0.9, "beta2": 0.999, "batch_size": 128, "label_smoothing": 0.0,
      "mismatched_reals": False}),
    (["--no-mismatched-reals"], {"lr": 2e-3, "mismatched_reals": False}),
    (["--preset", "course", "--lr", "3e-4"], {"lr": 3e-4, "beta1": 0.9, "batch_size": 128}),
    (["--arch", "vanilla"], {"lr": 2e-4, "beta1": 0.5, "batch_size": 64, "label_smoothing": 0.0}),
    (["--label-smoothing", "0.1"], {"lr": 2e-3, "label_smoothing": 0.1}),
])
def test_preset_fills_what_the_command_line_leaves_out(argv, expected):
    args, given = mnist_gan.parse_args(argv)
    assert {key: getattr(args, key) for key in expected} == expected
    assert "lr" not in given or "--lr" in argv    # a preset's value is not "given"


@pytest.mark.parametrize("argv, expected", [
    (["--label-smoothing", "0.25"], {"label_smoothing": 0.25, "mismatched_reals": False}),
    (["--conditional"], {"label_smoothing": 0.0, "mismatched_reals": True}),
    (["--conditional", "--no-mismatched-reals"], {"mismatched_reals": False}),
    (["--conditional", "--preset", "course"], {"mismatched_reals": False}),
])
def test_the_trainer_gets_the_recipes_techniques(fake_mnist, tmp_path, monkeypatch, argv,
                                                 expected):
    from tinygan import gan
    seen = []
    original = gan.GANTrainer.__init__

    def recording_init(self, *args, **kwargs):
        seen.append({key: kwargs.get(key) for key in expected})
        original(self, *args, **kwargs)

    monkeypatch.setattr(mnist_gan.GANTrainer, "__init__", recording_init)
    out = tmp_path / "run"
    assert mnist_gan.main(["--epochs", "1", *GAN_TINY, *argv,
                           "--data-dir", str(fake_mnist), "--out", str(out)]) == 0
    assert seen == [expected]


def test_mismatched_reals_without_conditional_is_one_line_and_exit_2(fake_mnist, tmp_path,
                                                                     capsys):
    with pytest.raises(SystemExit) as exit_info:
        mnist_gan.main(["--mismatched-reals", "--dry-run", "--data-dir", str(fake_mnist)])
    assert exit_info.value.code == 2
    assert "--mismatched-reals needs --conditional" in capsys.readouterr().err


# --- --threads: BLAS threads, half the cores by default ----------------------------------------

@pytest.mark.parametrize("argv, expected", [([], "default"), (["--threads", "3"], 3)])
def test_the_run_sets_the_blas_threads(fake_mnist, monkeypatch, argv, expected):
    from tinygan import backend
    from tinygan.utils import cli
    seen = []
    monkeypatch.setattr(backend, "set_num_threads", seen.append)
    assert mnist_gan.main(["--dry-run", *argv, "--data-dir", str(fake_mnist)]) == 0
    assert seen == [cli.default_threads() if expected == "default" else expected]


def test_threads_must_be_a_positive_integer(capsys):
    with pytest.raises(SystemExit) as exit_info:
        mnist_gan.main(["--threads", "0", "--dry-run"])
    assert exit_info.value.code == 2
    assert "--threads" in capsys.readouterr().err


def test_set_num_threads_sets_numpys_blas_and_refuses_nonsense():
    import tinygan as tg
    before = tg.get_num_threads()
    try:
        tg.set_num_threads(1)
        assert tg.get_num_threads() == 1
    finally:
        tg.set_num_threads(before)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive integer"):
            tg.set_num_threads(bad)
