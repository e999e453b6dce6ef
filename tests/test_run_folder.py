"""Issue 27, item 4: one run per output folder. A second run in the same --out is refused
naming the other process; a new run into a folder holding another run's checkpoint is
refused unless --resume or --overwrite; arguments are checked before any file is touched."""
import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tinygan.utils.files import FolderBusy, FolderLock

from example_programs import GAN_TINY, VAE_TINY, load_example
from exits import one_line_exit_2

pytestmark = pytest.mark.usefixtures("isolated")
mnist_gan = load_example("mnist_gan")
mnist_vae = load_example("mnist_vae")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def finished(fake_mnist, tmp_path, capsys):
    """A finished one-epoch run: (its --out, the common arguments, its files' bytes)."""
    out = tmp_path / "run"
    common = ["--data-dir", str(fake_mnist), "--out", str(out), *GAN_TINY]
    assert mnist_gan.main(["--epochs", "1", *common]) == 0
    capsys.readouterr()
    return out, common, snapshot(out)


def snapshot(out):
    return {name: (out / name).read_bytes() for name in ("checkpoint.npz", "metrics.jsonl")}


def test_a_second_run_in_the_same_out_is_refused_naming_the_other(finished, capsys):
    out, common, before = finished
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from tinygan.utils.files import FolderLock
            FolderLock({str(out)!r}).acquire()
            print("locked", flush=True)
            time.sleep(60)""")],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert holder.stdout.readline().strip() == "locked"
        line = one_line_exit_2(capsys, mnist_gan.main, ["--resume", "--epochs", "2", *common])
        assert f"pid {holder.pid}" in line and "in use by another run" in line
        line = one_line_exit_2(capsys, mnist_gan.main, ["--overwrite", "--epochs", "1", *common])
        assert f"pid {holder.pid}" in line
    finally:
        holder.kill()
        holder.wait()
    assert snapshot(out) == before
    assert mnist_gan.main(["--resume", "--epochs", "2", *common]) == 0   # the holder is gone


def test_the_lock_is_held_during_the_run_and_dropped_after(finished, monkeypatch):
    out, common, _ = finished
    seen = []
    real_save = mnist_gan.save_run

    def save_run(*args):
        with pytest.raises(FolderBusy):
            FolderLock(out).acquire()
        seen.append(1)
        return real_save(*args)
    monkeypatch.setattr(mnist_gan, "save_run", save_run)
    assert mnist_gan.main(["--resume", "--epochs", "2", *common]) == 0
    assert seen
    FolderLock(out).acquire().release()


@pytest.mark.parametrize("argv", [["--epochs", "3"], ["--epoch", "3"], ["--epochs", "1"]])
def test_a_new_run_into_a_finished_runs_out_is_refused(finished, capsys, argv):
    out, common, before = finished
    line = one_line_exit_2(capsys, mnist_gan.main, [*argv, *common])
    assert "holds another run" in line and "--resume" in line and "--overwrite" in line
    assert snapshot(out) == before


def test_overwrite_starts_afresh_and_never_leaves_the_old_checkpoint(finished, capsys,
                                                                    monkeypatch):
    out, common, before = finished

    def full_disk(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out / "checkpoint.npz"))
    with monkeypatch.context() as patch:
        patch.setattr(mnist_gan, "save_run", full_disk)    # killed before its first checkpoint
        one_line_exit_2(capsys, mnist_gan.main, ["--overwrite", "--epochs", "1", *common])
    assert not (out / "checkpoint.npz").exists()           # so --resume cannot merge the two
    assert "no checkpoint" in one_line_exit_2(capsys, mnist_gan.main,
                                              ["--resume", "--epochs", "2", *common])
    assert mnist_gan.main(["--overwrite", "--epochs", "1", *common]) == 0
    assert (out / "metrics.jsonl").read_bytes() == before["metrics.jsonl"]   # same seed


def test_bad_arguments_touch_no_file(finished, capsys):
    out, common, before = finished
    line = one_line_exit_2(capsys, mnist_gan.main, ["--eval-every", "-1", "--overwrite", *common])
    assert "--eval-every" in line
    line = one_line_exit_2(capsys, mnist_gan.main, ["--resume", "--overwrite", *common])
    assert "choose one" in line
    assert snapshot(out) == before


def test_the_vae_keeps_one_run_per_folder_too(fake_mnist, tmp_path, capsys):
    out = tmp_path / "vae"
    common = ["--data-dir", str(fake_mnist), "--out", str(out), *VAE_TINY]
    assert mnist_vae.main(["--epochs", "1", *common]) == 0
    capsys.readouterr()
    before = snapshot(out)
    assert "holds another run" in one_line_exit_2(capsys, mnist_vae.main, ["--epochs", "1", *common])
    assert snapshot(out) == before
    assert mnist_vae.main(["--overwrite", "--epochs", "1", *common]) == 0
