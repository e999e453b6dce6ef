"""Issue 27, item 7: temporary files of writes killed by kill -9 are removed at the next
start (those of a writer still running are kept); course_gan.py's dry run leaves one grid,
not one per run; a relative $XDG_CACHE_HOME is ignored, as the XDG spec says."""
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tinygan.utils import cli, files
from tinygan.utils.files import atomic_write, remove_stale_temp_files

from example_programs import EXAMPLES, GAN_TINY, load_example

pytestmark = pytest.mark.usefixtures("isolated")
ROOT = Path(__file__).resolve().parents[1]


def killed_mid_write(path):
    """Start a process that writes ``path`` with atomic_write, and kill -9 it mid-write."""
    script = textwrap.dedent(f"""
        import time
        from tinygan.utils.files import atomic_write
        with atomic_write({str(path)!r}) as f:
            f.write(b"x" * 100_000)
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.pid


def temps(folder):
    return sorted(p.name for p in Path(folder).rglob("*.tmp"))


def test_a_write_killed_by_kill_9_leaves_a_temp_file_the_next_write_removes(tmp_path):
    path = tmp_path / "checkpoint.npz"
    pid = killed_mid_write(path)
    assert len(temps(tmp_path)) == 1 and f".{pid}." in temps(tmp_path)[0]
    assert not path.exists()
    with atomic_write(path) as f:
        f.write(b"new")
    assert temps(tmp_path) == [] and path.read_bytes() == b"new"


def test_a_running_writers_temp_file_is_kept(tmp_path):
    live = tmp_path / f".checkpoint.npz.{os.getppid()}.abcd1234.tmp"   # our parent: alive
    live.write_bytes(b"in progress")
    assert remove_stale_temp_files(tmp_path) == []
    assert live.exists()


def test_old_temp_files_without_a_pid_are_removed_new_ones_kept(tmp_path):
    old = tmp_path / ".metrics.jsonl.abcd1234.tmp"
    new = tmp_path / ".metrics.jsonl.wxyz5678.tmp"
    other = tmp_path / "notes.tmp"                  # not one of atomic_write's: untouched
    for p in (old, new, other):
        p.write_text("x")
    long_ago = time.time() - 2 * files.LEGACY_TEMP_AGE
    os.utime(old, (long_ago, long_ago))
    assert remove_stale_temp_files(tmp_path) == [old]
    assert new.exists() and other.exists()


def test_the_next_training_run_removes_the_temp_files_of_killed_writes(fake_mnist, tmp_path):
    mnist_gan = load_example("mnist_gan")
    out = tmp_path / "run"
    common = ["--data-dir", str(fake_mnist), "--out", str(out), *GAN_TINY]
    assert mnist_gan.main(["--epochs", "1", *common]) == 0
    for name in ("checkpoint.npz", "metrics.jsonl", "samples/epoch_002.png", "loss_curve.png"):
        killed_mid_write(out / name)
    assert len(temps(out)) == 4
    assert mnist_gan.main(["--resume", "--epochs", "2", *common]) == 0
    assert temps(out) == []


def test_course_gan_dry_runs_leave_one_grid(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    for _ in range(2):
        monkeypatch.setattr(sys, "argv", ["course_gan.py", "--dry-run"])
        runpy.run_path(str(EXAMPLES / "course_gan.py"), run_name="__main__")
    assert [p.name for p in (tmp_path / "tmp").rglob("*")] == ["course_gan.png"]


def test_a_relative_xdg_cache_home_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setattr(signal, "signal", lambda *args: None)   # run_script's Ctrl-C set-up
    seen = []
    with pytest.raises(SystemExit):
        cli.run_script(lambda: seen.append(os.environ.get("XDG_CACHE_HOME")) or 0)
    assert seen == [None]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "abs"))
    with pytest.raises(SystemExit):
        cli.run_script(lambda: seen.append(os.environ.get("XDG_CACHE_HOME")) or 0)
    assert seen[-1] == str(tmp_path / "abs")
