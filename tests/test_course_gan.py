"""examples/course_gan.py, the course's loop written out: its dry run trains and draws.

The program is a script that reads top to bottom like the course's notebook (no main), so
it is run in this process with runpy (where conftest's stand-in serves ``--backend cupy``);
the namespace it leaves holds its models and last losses.
"""
import runpy
import sys
import tempfile

import numpy as np
import pytest

from example_programs import EXAMPLES, png_size

pytestmark = pytest.mark.usefixtures("isolated")   # conftest: offline, cwd in tmp_path

BACKENDS = {"cpu": "numpy", "cuda": "cupy"}


def run_course_gan(monkeypatch, *args):
    """Run the script with ``args``; returns the variables it leaves behind."""
    monkeypatch.setattr(sys, "argv", ["course_gan.py", *args])
    return runpy.run_path(str(EXAMPLES / "course_gan.py"), run_name="__main__")


@pytest.fixture
def initial_parameters(monkeypatch):
    """{"gen": ..., "disc": ...}: host copies of each model's parameters as it was built."""
    from tinygan import gan
    initial = {}

    def remember(cls, key):
        def build(*args, **kwargs):
            model = cls(*args, **kwargs)
            initial[key] = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
            return model
        return build

    monkeypatch.setattr(gan, "Generator", remember(gan.Generator, "gen"))
    monkeypatch.setattr(gan, "Discriminator", remember(gan.Discriminator, "disc"))
    return initial


def test_dry_run_trains_both_models_and_writes_the_grid(device, tmp_path, monkeypatch, capsys,
                                                        initial_parameters):
    out = tmp_path / "grid.png"
    ns = run_course_gan(monkeypatch, "--dry-run", "--backend", BACKENDS[device], "--out", str(out))

    # No MNIST anywhere and no download in a dry run: three batches of random images.
    assert len(ns["dataloader"]) == 3
    for loss in (ns["gen_loss"], ns["disc_loss"]):
        assert loss.device == device and np.isfinite(loss.item())
    for key in ("gen", "disc"):
        final = dict(ns[key].named_parameters())
        assert final.keys() == initial_parameters[key].keys()
        moved = [name for name, before in initial_parameters[key].items()
                 if not np.array_equal(final[name].detach().numpy(), before)]
        assert moved == list(final), f"{key}: parameters the updates never moved"
    assert png_size(out) == ((8 * 30 + 2) * 4,) * 2        # 8x8 samples of 28x28, scaled 4x
    assert capsys.readouterr().out.splitlines() == [
        f"epoch 1: gen_loss {ns['gen_loss'].item():.4f}, disc_loss {ns['disc_loss'].item():.4f}",
        f"wrote {out}"]


def test_dry_run_without_out_writes_into_a_temp_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    ns = run_course_gan(monkeypatch, "--dry-run")
    written = capsys.readouterr().out.splitlines()[-1].removeprefix("wrote ")
    assert written == ns["out"] and written.startswith(str(tmp_path / "tmp"))
    assert png_size(written)
    assert not (tmp_path / "course_gan.png").exists()       # not in the working folder


def test_missing_mnist_without_dry_run_is_an_error_and_exit_2(monkeypatch, capsys):
    with pytest.raises(SystemExit) as info:
        run_course_gan(monkeypatch, "--data-dir", "nowhere")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MNIST files not found") and "Traceback" not in err
