"""Faults a long run meets, each a one-line message and exit code 2 with the data safe:
the disk fills while a checkpoint is written, --out is read-only, metrics.jsonl ends in a
line torn by a kill (skipped with a warning) or has a corrupt line inside (an error naming
the file and the line)."""
import errno
import json
import os
import pathlib

import numpy as np
import pytest

from tinygan.utils import files
from tinygan.utils.checkpoint import load_checkpoint
from tinygan.utils.files import WriteError, atomic_write
from tinygan.utils.metrics import read_metrics_upto

from example_programs import GAN_TINY, VAE_TINY, load_example
from exits import one_line_exit_2

pytestmark = pytest.mark.usefixtures("isolated")   # conftest: offline, cwd in tmp_path

mnist_gan = load_example("mnist_gan")
mnist_vae = load_example("mnist_vae")
sample = load_example("sample")
toy_gan = load_example("toy_gan")



def temp_files(folder):
    return [p.name for p in pathlib.Path(folder).rglob("*.tmp")]


def savez_filling_the_disk(monkeypatch, at_call=1):
    """np.savez that, on its ``at_call``-th call, writes part of the archive and then fails
    as a full disk does (OSError ENOSPC)."""
    real_savez, calls = np.savez, []

    def savez(file, **arrays):
        calls.append(1)
        if len(calls) == at_call:
            real_savez(file, **dict(list(arrays.items())[:1]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_savez(file, **arrays)

    monkeypatch.setattr(np, "savez", savez)


# --- the disk fills while a checkpoint is written ---------------------------------------------

def test_atomic_write_on_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(b"the previous checkpoint")
    with pytest.raises(WriteError) as info:
        with atomic_write(path) as f:
            f.write(b"half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert info.value.errno == errno.ENOSPC
    assert str(info.value) == (f"cannot write {path}: the disk is full (No space left on "
                               f"device); the previous {path} is intact")
    assert path.read_bytes() == b"the previous checkpoint"
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz"]      # the temp file is gone


def test_atomic_write_of_a_new_file_on_a_full_disk_says_nothing_was_written(tmp_path):
    path = tmp_path / "new.png"
    with pytest.raises(WriteError, match=f"nothing was written to {path}"):
        with atomic_write(path) as f:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert os.listdir(tmp_path) == []


def test_a_full_disk_at_the_epoch_checkpoint_is_one_line_and_keeps_the_last(fake_mnist, tmp_path,
                                                                           monkeypatch, capsys):
    out = tmp_path / "run"
    common = ["--data-dir", str(fake_mnist), "--out", str(out)]
    assert mnist_gan.main(["--epochs", "1", *GAN_TINY, *common]) == 0
    before = (out / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    with monkeypatch.context() as patch:
        savez_filling_the_disk(patch)
        line = one_line_exit_2(capsys, mnist_gan.main, ["--resume", "--epochs", "2", *common])
    path = out / "checkpoint.npz"
    assert line == (f"error: cannot write {path}: the disk is full (No space left on device); "
                    f"the previous {path} is intact")
    assert (out / "checkpoint.npz").read_bytes() == before
    assert temp_files(out) == []
    assert mnist_gan.main(["--resume", "--epochs", "2", *common]) == 0   # room again: it goes on


def test_a_full_disk_at_the_vae_checkpoint_is_one_line(fake_mnist, tmp_path, monkeypatch, capsys):
    out = tmp_path / "vae"
    with monkeypatch.context() as patch:
        savez_filling_the_disk(patch)
        line = one_line_exit_2(capsys, mnist_vae.main, ["--epochs", "1", *VAE_TINY, "--data-dir",
                                                        str(fake_mnist), "--out", str(out)])
    assert line.startswith(f"error: cannot write {out / 'checkpoint.npz'}: the disk is full")
    assert line.endswith(f"nothing was written to {out / 'checkpoint.npz'}")
    assert temp_files(out) == []


def test_a_full_disk_while_saving_samples_is_one_line(fake_mnist, tmp_path, monkeypatch, capsys):
    out = tmp_path / "gan"
    assert mnist_gan.main(["--epochs", "1", *GAN_TINY, "--data-dir", str(fake_mnist),
                           "--out", str(out)]) == 0
    capsys.readouterr()
    npy = tmp_path / "s.npy"
    real_save = np.save

    def save(file, array):
        real_save(file, array[:1])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "save", save)
    line = one_line_exit_2(capsys, sample.main, [str(out / "checkpoint.npz"), "--npy", str(npy)])
    assert line.startswith(f"error: cannot write {npy}: the disk is full")
    assert not npy.exists() and temp_files(tmp_path) == []


# --- a read-only --out ------------------------------------------------------------------------

@pytest.fixture
def read_only(monkeypatch, tmp_path):
    """Every folder under tmp_path/ro is on a read-only file system (mkdir: EROFS). Patched:
    the tests run as root here, where chmod does not stop a write."""
    real_mkdir = pathlib.Path.mkdir
    root = tmp_path / "ro"

    def mkdir(self, *args, **kwargs):
        if self == root or root in self.parents:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    return root


@pytest.mark.parametrize("module, tiny", [(mnist_gan, GAN_TINY), (mnist_vae, VAE_TINY)])
def test_a_read_only_out_is_one_line_naming_the_folder(module, tiny, read_only, fake_mnist,
                                                       capsys):
    out = read_only / "run"
    line = one_line_exit_2(capsys, module.main, ["--epochs", "1", *tiny, "--data-dir",
                                                 str(fake_mnist), "--out", str(out)])
    assert line == (f"error: --out {out}: cannot create the folder {out}: the file system is "
                    "read-only (Read-only file system)")


def test_sample_into_a_read_only_folder_is_one_line(read_only, fake_mnist, tmp_path, capsys):
    run = tmp_path / "gan"
    assert mnist_gan.main(["--epochs", "1", *GAN_TINY, "--data-dir", str(fake_mnist),
                           "--out", str(run)]) == 0
    capsys.readouterr()
    grid = read_only / "grids" / "g.png"
    line = one_line_exit_2(capsys, sample.main, [str(run / "checkpoint.npz"), "--out", str(grid)])
    assert line == (f"error: cannot write {grid}: the file system is read-only (Read-only file "
                    f"system); nothing was written to {grid}")


def test_toy_gan_into_a_read_only_folder_is_one_line(read_only, capsys):
    pytest.importorskip("matplotlib")
    out = read_only / "toy"
    line = one_line_exit_2(capsys, toy_gan.main, ["--epochs", "1", "--steps", "2",
                                                  "--out", str(out)])
    assert line.startswith(f"error: cannot write {out / 'toy_gan.png'}: the file system is "
                           "read-only")


# --- metrics.jsonl torn by a kill -------------------------------------------------------------

def write_lines(path, lines):
    path.write_text("".join(lines))


def test_a_torn_last_line_is_dropped_with_a_warning(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_lines(path, ['{"step": 2, "d_loss": 0.5}\n', '{"step": 4, "d_loss": 0.4}\n',
                       '{"step": 6, "d_lo'])
    warnings = []
    assert read_metrics_upto(path, 4, warn=warnings.append) == [{"step": 2, "d_loss": 0.5},
                                                                {"step": 4, "d_loss": 0.4}]
    assert warnings == [f"warning: {path}, line 3: dropped the last line, cut short (a run "
                        "killed while writing it?): '{\"step\": 6, \"d_lo'"]
    assert path.read_text() == '{"step": 2, "d_loss": 0.5}\n{"step": 4, "d_loss": 0.4}\n'


def test_a_corrupt_line_inside_names_the_file_and_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_lines(path, ['{"step": 2}\n', 'garbage\n', '{"step": 4}\n'])
    before = path.read_text()
    with pytest.raises(ValueError) as info:
        read_metrics_upto(path, 4)
    assert str(info.value).startswith(f"{path}, line 2: expected a JSON record with a 'step', "
                                      "got 'garbage'")
    assert path.read_text() == before                       # left as it was, for a look


def test_without_rewrite_the_file_is_left_alone(tmp_path):
    path = tmp_path / "metrics.jsonl"
    write_lines(path, ['{"step": 2}\n', '{"step": 4}\n', '{"step": 6}\n'])
    assert read_metrics_upto(path, 4, rewrite=False) == [{"step": 2}, {"step": 4}]
    assert path.read_text().count("\n") == 3


def test_resume_after_a_torn_metrics_line_warns_and_goes_on(fake_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--data-dir", str(fake_mnist), "--out", str(out)]
    assert mnist_gan.main(["--epochs", "1", *GAN_TINY, *common]) == 0
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "epoch": 2, "d_lo')           # killed while appending
    capsys.readouterr()
    assert mnist_gan.main(["--resume", "--epochs", "2", *common]) == 0
    err = capsys.readouterr().err
    assert f"warning: {out / 'metrics.jsonl'}, line 3: dropped the last line, cut short" in err
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8]


@pytest.mark.parametrize("module, tiny", [(mnist_gan, GAN_TINY), (mnist_vae, VAE_TINY)])
def test_resume_with_a_corrupt_metrics_line_inside_is_one_line(module, tiny, fake_mnist,
                                                               tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--data-dir", str(fake_mnist), "--out", str(out)]
    assert module.main(["--epochs", "1", *tiny, *common]) == 0
    lines = (out / "metrics.jsonl").read_text().splitlines(keepends=True)
    write_lines(out / "metrics.jsonl", [lines[0], "{not json\n", *lines[1:]])
    before = (out / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    line = one_line_exit_2(capsys, module.main, ["--resume", "--epochs", "2", *common])
    assert line.startswith(f"error: --resume: {out / 'metrics.jsonl'}, line 2: expected a JSON "
                           "record with a 'step', got '{not json'")
    assert (out / "checkpoint.npz").read_bytes() == before


def test_vae_resume_after_a_torn_metrics_line_goes_on(fake_mnist, tmp_path, capsys):
    out = tmp_path / "vae"
    common = ["--data-dir", str(fake_mnist), "--out", str(out)]
    assert mnist_vae.main(["--epochs", "1", *VAE_TINY, *common]) == 0
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"loss": 1')
    assert mnist_vae.main(["--resume", "--epochs", "2", *common]) == 0
    assert "dropped the last line" in capsys.readouterr().err
    assert load_checkpoint(out / "checkpoint.npz").meta["step"] == 8


def test_a_full_disk_while_appending_metrics_names_the_file(fake_mnist, tmp_path, monkeypatch,
                                                            capsys):
    # A plain append, not atomic_write: the OSError of a write carries no file name, so the
    # message must add it. The torn line it leaves is what a resume skips (above).
    out = tmp_path / "run"

    class FullDisk:
        def __init__(self, file, mode):
            self.handle = open(file, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, text):
            self.handle.write(text[:5])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "open", FullDisk, raising=False)   # open() inside files.py
    line = one_line_exit_2(capsys, mnist_gan.main, ["--epochs", "1", *GAN_TINY, "--data-dir",
                                                    str(fake_mnist), "--out", str(out)])
    assert line == (f"error: cannot append to {out / 'metrics.jsonl'}: the disk is full (No "
                    "space left on device); the lines before are intact")
