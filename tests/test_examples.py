"""The example programs, run in-process on tiny synthetic MNIST files.

examples/mnist_gan.py: a dry run writes nothing; a short run writes its grid, metrics,
checkpoint and loss curve; a resumed run (at an epoch boundary or after Ctrl-C mid-epoch)
ends bit-for-bit where a straight run ends; unusable CUDA and missing data are one-line
errors with exit code 2. examples/sample.py draws grids and .npy files from a checkpoint.

The programs are imported from their paths (importlib) and their ``main(argv)`` called
here, so conftest's stand-in serves ``--backend cupy``.
"""
import builtins
import io
import json
import os
import signal
import struct
import sys
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest

from tinygan import backend
from tinygan.gan import GANTrainer
from tinygan.utils import data
from tinygan.utils.checkpoint import load_checkpoint
from tinygan.utils.cli import CtrlC, run_script

from idx_files import write_fake_mnist
from example_programs import GAN_TINY as TINY, load_example, png_size

pytestmark = pytest.mark.usefixtures("isolated")   # conftest: offline, cwd in tmp_path


BACKENDS = {"cpu": "numpy", "cuda": "cupy"}




mnist_gan = load_example("mnist_gan")
sample = load_example("sample")






def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def run_gan(args, data_dir, out=None, device="cpu"):
    argv = [*args, "--backend", BACKENDS[device], "--data-dir", str(data_dir)]
    if out is not None:
        argv += ["--out", str(out)]
    return mnist_gan.main(argv)


def checkpoint_arrays(path):
    checkpoint = load_checkpoint(path)
    return checkpoint._arrays, checkpoint.meta


def assert_bit_for_bit(path_a, path_b):
    """The two checkpoints' generator, discriminator and optimizer arrays are identical."""
    arrays_a, meta_a = checkpoint_arrays(path_a)
    arrays_b, meta_b = checkpoint_arrays(path_b)
    assert arrays_a.keys() == arrays_b.keys()
    assert any(k.startswith("opt_g/state/") for k in arrays_a)
    different = [k for k in arrays_a if not np.array_equal(arrays_a[k], arrays_b[k])]
    assert different == []
    assert meta_a["trainer"] == meta_b["trainer"]       # step, epoch and the random states
    assert meta_a["run"] == meta_b["run"]               # the log interval in progress
    assert meta_a["loader"] == meta_b["loader"]


def metrics_records(out):
    lines = (Path(out) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def metrics_steps(out):
    return [record["step"] for record in metrics_records(out)]


# --- dry run -----------------------------------------------------------------------------------

def test_dry_run_trains_a_few_steps_and_writes_nothing(device, fake_mnist, tmp_path, capsys):
    before = files_under(tmp_path)
    code = run_gan(["--dry-run", "--batch-size", "16", "--z-dim", "4", "--hidden-dim", "4"],
                   fake_mnist, device=device)
    out = capsys.readouterr().out
    assert code == 0
    assert f"training on {device}" in out and "64 images" in out   # the files, not random ones
    assert "dry run finished: 4 steps" in out
    assert files_under(tmp_path) == before


def test_dry_run_without_data_uses_random_images(device, tmp_path, capsys):
    code = mnist_gan.main(["--dry-run", "--backend", BACKENDS[device], "--batch-size", "16",
                           "--z-dim", "4", "--hidden-dim", "4", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 0
    assert "using random images" in out and "dry run finished" in out
    assert not (tmp_path / "o").exists()


def test_dry_run_writes_no_files_even_when_it_could_download(device, tmp_path, monkeypatch,
                                                              capsys):
    # --dry-run promises "a few steps, no files written". Without --data-dir and with a
    # reachable server, it must not fill the download cache either.
    source = tmp_path / "server"
    monkeypatch.setitem(data.SHA256, "mnist", write_fake_mnist(source, n=64))
    served = []

    class Response(io.BytesIO):
        def __init__(self, body):
            super().__init__(body)
            self.headers = {"Content-Length": str(len(body))}

    def urlopen(request, timeout=None):
        name = request.full_url.rsplit("/", 1)[-1]
        served.append(name)
        return Response((source / name).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    before = files_under(tmp_path)
    code = mnist_gan.main(["--dry-run", "--backend", BACKENDS[device], "--batch-size", "16",
                           "--z-dim", "4", "--hidden-dim", "4"])
    assert code == 0 and "dry run finished" in capsys.readouterr().out
    assert files_under(tmp_path) == before, f"downloaded {served}"


# --- a short real run --------------------------------------------------------------------------

def test_short_run_writes_grid_metrics_checkpoint_and_curve(device, fake_mnist, tmp_path,
                                                           capsys):
    out = tmp_path / "run"
    assert run_gan(["--epochs", "1", *TINY], fake_mnist, out, device) == 0
    assert png_size(out / "samples" / "epoch_001.png") == ((8 * 30 + 2) * 4,) * 2
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert all(set(r) == {"step", "epoch", "d_loss", "g_loss", "d_real", "d_fake"}
               for r in records)
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in records)
    arrays, meta = checkpoint_arrays(out / "checkpoint.npz")
    assert meta["trainer"]["epoch"] == 1 and meta["trainer"]["step"] == 4
    assert meta["args"]["z_dim"] == 4 and meta["batch_in_epoch"] == 0
    assert "generator/gen.0.0.weight" in arrays and "opt_d/state/0/exp_avg" in arrays
    try:
        import matplotlib  # noqa: F401
        has_matplotlib = True
    except ImportError:
        has_matplotlib = False
    assert (out / "loss_curve.png").exists() == has_matplotlib
    if has_matplotlib:
        png_size(out / "loss_curve.png")
    assert not [name for name in files_under(out) if ".tmp" in name]
    assert "done." in capsys.readouterr().out


def test_a_finished_run_has_nothing_to_do(device, fake_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_gan(["--epochs", "1", *TINY], fake_mnist, out, device) == 0
    before = (out / "checkpoint.npz").read_bytes()
    assert run_gan(["--epochs", "1", "--resume"], fake_mnist, out, device) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (out / "checkpoint.npz").read_bytes() == before


def test_resume_without_a_checkpoint_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        mnist_gan.main(["--resume", "--out", str(tmp_path / "empty")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --resume") and str(tmp_path / "empty") in err
    assert "Traceback" not in err


# --- resuming: bit for bit on numpy --------------------------------------------------------------

NOT_EXACT_ON_CUDA = ("bit-for-bit resume is promised on numpy: on 'cuda' a restored "
                     "backend.RandomStream reseeds its device stream from the saved host state; "
                     "test_resume_continues_the_count covers 'cuda'")


@pytest.fixture
def straight_run(device, fake_mnist, tmp_path):
    """Two epochs without a break (numpy): the run every resumed run must equal."""
    if device == "cuda":
        pytest.skip(NOT_EXACT_ON_CUDA)
    out = tmp_path / "straight"
    assert run_gan(["--epochs", "2", *TINY], fake_mnist, out) == 0
    return out


def test_resume_at_an_epoch_boundary_is_bit_for_bit(fake_mnist, straight_run, tmp_path, capsys):
    out = tmp_path / "resumed"
    assert run_gan(["--epochs", "1", *TINY], fake_mnist, out) == 0
    assert run_gan(["--epochs", "2", "--resume"], fake_mnist, out) == 0
    assert "resuming" in capsys.readouterr().out
    assert_bit_for_bit(straight_run / "checkpoint.npz", out / "checkpoint.npz")
    assert metrics_steps(out) == metrics_steps(straight_run) == [2, 4, 6, 8]


def interrupt_in_on_step(monkeypatch, at_step):
    """Ctrl-C between two steps: KeyboardInterrupt from the progress callback."""
    original = mnist_gan.Reporter.on_step

    def on_step(self, run, step):
        original(self, run, step)
        if step == at_step:
            raise KeyboardInterrupt

    monkeypatch.setattr(mnist_gan.Reporter, "on_step", on_step)


def run_interrupted(monkeypatch, fake_mnist, out, at_step, device="cpu"):
    with monkeypatch.context() as patch:
        interrupt_in_on_step(patch, at_step)
        return run_gan(["--epochs", "2", *TINY], fake_mnist, out, device)


# 4 steps per epoch: mid epoch 1, the end of epoch 1, mid epoch 2, the very last step
@pytest.mark.parametrize("at_step", [3, 4, 5, 6, 8])
def test_resume_after_ctrl_c_between_steps_is_bit_for_bit(fake_mnist, straight_run, tmp_path,
                                                          monkeypatch, capsys, at_step):
    out = tmp_path / "interrupted"
    assert run_interrupted(monkeypatch, fake_mnist, out, at_step) == 130
    assert "interrupted: saved" in capsys.readouterr().out
    _, meta = checkpoint_arrays(out / "checkpoint.npz")
    assert meta["trainer"]["step"] == at_step
    assert meta["batch_in_epoch"] == (at_step - 1) % 4 + 1

    assert run_gan(["--epochs", "2", "--resume"], fake_mnist, out) == 0
    assert_bit_for_bit(straight_run / "checkpoint.npz", out / "checkpoint.npz")


@pytest.mark.parametrize("at_step", [5, 6])
def test_ctrl_c_keeps_the_metrics_lines_of_a_straight_run(fake_mnist, straight_run, tmp_path,
                                                          monkeypatch, at_step):
    # --log-every 2: a straight run logs steps 2, 4, 6, 8. Ctrl-C after step 5 leaves step 5
    # in the metrics buffer; Ctrl-C right after step 6 comes just after that step closed an
    # interval. Either way the resumed run must log the same steps.
    out = tmp_path / "interrupted"
    assert run_interrupted(monkeypatch, fake_mnist, out, at_step) == 130
    assert run_gan(["--epochs", "2", "--resume"], fake_mnist, out) == 0
    assert metrics_steps(straight_run) == [2, 4, 6, 8]
    assert metrics_steps(out) == [2, 4, 6, 8]


def rewrite_in_the_old_layout(path):
    """Rewrite a checkpoint's meta as tinygan wrote it while the training loop was part of
    GANTrainer: no meta["run"], the log interval in progress in meta["trainer"]["metrics"]."""
    with np.load(path, allow_pickle=False) as saved:
        arrays = {key: saved[key] for key in saved.files}
    info = json.loads(str(arrays["meta"]))
    info["meta"]["trainer"]["metrics"] = info["meta"].pop("run")["metrics"]
    arrays["meta"] = np.array(json.dumps(info))
    np.savez(path, **arrays)


@pytest.mark.parametrize("at_step", [3, 5])
def test_a_checkpoint_in_the_old_layout_resumes_bit_for_bit(fake_mnist, straight_run, tmp_path,
                                                            monkeypatch, at_step):
    # Ctrl-C after step 3 or 5 (--log-every 2) leaves that step in the log interval in
    # progress. A checkpoint written before the loop moved to tinygan.utils.training kept
    # it in meta["trainer"]; resumed from it, the run must log the straight run's records,
    # values included (the next record is the mean of both steps), and end where it ends.
    out = tmp_path / "interrupted"
    assert run_interrupted(monkeypatch, fake_mnist, out, at_step) == 130
    rewrite_in_the_old_layout(out / "checkpoint.npz")
    _, meta = checkpoint_arrays(out / "checkpoint.npz")
    assert "run" not in meta and len(meta["trainer"]["metrics"]["rows"]) == 1

    assert run_gan(["--epochs", "2", "--resume"], fake_mnist, out) == 0
    assert_bit_for_bit(straight_run / "checkpoint.npz", out / "checkpoint.npz")
    assert metrics_records(out) == metrics_records(straight_run)


def ctrl_c(times=1):
    for _ in range(times):
        os.kill(os.getpid(), signal.SIGINT)


def run_with_ctrl_c(monkeypatch, fake_mnist, out, where, when, times, device="cpu"):
    """Run 2 epochs, pressing Ctrl-C ``times`` times at the ``when``-th call of ``where``
    ("g_step": inside a training step, after its D update; "epoch_end": as the epoch's
    grid, curve and checkpoint are about to be written)."""
    calls = []
    if where == "g_step":
        g_step = GANTrainer.g_step

        def patched(self, n, labels=None):
            calls.append(n)
            if len(calls) == when:
                ctrl_c(times)
            return g_step(self, n, labels)

        target = (GANTrainer, "g_step")
    else:
        on_epoch_end = mnist_gan.Reporter.on_epoch_end

        def patched(self, run, epoch):
            calls.append(epoch)
            if len(calls) == when:
                ctrl_c(times)
            return on_epoch_end(self, run, epoch)

        target = (mnist_gan.Reporter, "on_epoch_end")
    previous_handler = signal.getsignal(signal.SIGINT)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(*target, patched)
            return run_gan(["--epochs", "2", *TINY], fake_mnist, out, device)
    except KeyboardInterrupt:   # what a user would see as a traceback; not pytest's own abort
        pytest.fail("a KeyboardInterrupt escaped main(): a traceback instead of one line")
    finally:
        signal.signal(signal.SIGINT, previous_handler)


@pytest.mark.parametrize("during_g_step", [3, 6])
def test_resume_after_ctrl_c_inside_a_step_is_bit_for_bit(fake_mnist, straight_run, tmp_path,
                                                          monkeypatch, during_g_step):
    # A real SIGINT, delivered while a training step runs (where a run spends nearly all
    # its time): here after that step's D update and before its G update. Whatever the
    # program does with it, the resumed run must end where the straight run ends.
    out = tmp_path / "interrupted"
    assert run_with_ctrl_c(monkeypatch, fake_mnist, out, "g_step", during_g_step, 1) == 130
    assert run_gan(["--epochs", "2", "--resume"], fake_mnist, out) == 0
    assert_bit_for_bit(straight_run / "checkpoint.npz", out / "checkpoint.npz")
    assert metrics_steps(out) == [2, 4, 6, 8]


def test_a_second_ctrl_c_inside_a_step_keeps_the_last_checkpoint(fake_mnist, straight_run,
                                                                  tmp_path, monkeypatch, capsys):
    # Two presses during step 6: the run stops at once, mid-step, and must not save that
    # half-updated state; the checkpoint of epoch 1 (step 4) stays, and resuming from it
    # ends where the straight run ends.
    out = tmp_path / "interrupted"
    assert run_with_ctrl_c(monkeypatch, fake_mnist, out, "g_step", 6, times=2) == 130
    assert "kept the last checkpoint" in capsys.readouterr().out
    _, meta = checkpoint_arrays(out / "checkpoint.npz")
    assert meta["trainer"]["step"] == 4 and meta["batch_in_epoch"] == 0
    assert run_gan(["--epochs", "2", "--resume"], fake_mnist, out) == 0
    assert_bit_for_bit(straight_run / "checkpoint.npz", out / "checkpoint.npz")
    assert metrics_steps(out) == [2, 4, 6, 8]


def test_a_second_ctrl_c_at_an_epoch_end_saves_a_consistent_checkpoint(fake_mnist, straight_run,
                                                                       tmp_path, monkeypatch):
    # Two presses while epoch 1's pictures and checkpoint are being written (matplotlib
    # makes this the slowest moment of an epoch): whatever is saved must resume exactly.
    out = tmp_path / "interrupted"
    assert run_with_ctrl_c(monkeypatch, fake_mnist, out, "epoch_end", 1, times=2) == 130
    assert run_gan(["--epochs", "2", "--resume"], fake_mnist, out) == 0
    assert_bit_for_bit(straight_run / "checkpoint.npz", out / "checkpoint.npz")


def test_a_second_ctrl_c_before_any_checkpoint_gives_advice_that_works(device, fake_mnist,
                                                                       tmp_path, monkeypatch,
                                                                       capsys):
    # Two presses inside step 3, before the first checkpoint exists: no checkpoint is
    # saved, and the message must not send the user to a --resume that cannot work.
    out = tmp_path / "interrupted"
    assert run_with_ctrl_c(monkeypatch, fake_mnist, out, "g_step", 3, 2, device) == 130
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    if (out / "checkpoint.npz").exists():
        assert run_gan(["--epochs", "2", "--resume"], fake_mnist, out, device) == 0
    else:
        assert "--resume" not in last_line, last_line


def savez_pressing_ctrl_c(monkeypatch, at_call, times=1):
    """np.savez that, on its ``at_call``-th call, writes the whole archive into the
    temporary file and then presses Ctrl-C ``times`` times: a press that lands while a
    checkpoint is being written (before atomic_write's rename)."""
    real_savez, calls = np.savez, []

    def savez(file, **arrays):
        calls.append(1)
        real_savez(file, **arrays)
        if len(calls) == at_call:
            ctrl_c(times)

    monkeypatch.setattr(np, "savez", savez)
    return calls


def test_a_second_ctrl_c_while_the_stop_checkpoint_is_written_stops_quietly(
        fake_mnist, straight_run, tmp_path, monkeypatch, capsys):
    # The race: the first press stops the run after step 6; while the checkpoint of that
    # stop is being written, the second press lands. It must stop at once with one line
    # (no KeyboardInterrupt traceback), abandon that write (no temporary file left) and
    # keep epoch 1's checkpoint (step 4), from which --resume ends where a straight run ends.
    out = tmp_path / "interrupted"
    with monkeypatch.context() as patch:
        savez_pressing_ctrl_c(patch, at_call=2)   # call 1: epoch 1's checkpoint
        assert run_with_ctrl_c(monkeypatch, fake_mnist, out, "g_step", 6, times=1) == 130
    captured = capsys.readouterr()
    last = captured.out.strip().splitlines()[-1]
    assert last == (f"interrupted again: kept the last checkpoint, {out / 'checkpoint.npz'}; "
                    "continue with --resume")
    assert "Traceback" not in captured.err
    assert not [name for name in files_under(out) if ".tmp" in name]
    _, meta = checkpoint_arrays(out / "checkpoint.npz")
    assert meta["trainer"]["step"] == 4 and meta["batch_in_epoch"] == 0
    assert run_gan(["--epochs", "2", "--resume"], fake_mnist, out) == 0
    assert_bit_for_bit(straight_run / "checkpoint.npz", out / "checkpoint.npz")


def test_a_second_ctrl_c_while_the_first_checkpoint_is_written_says_nothing_was_saved(
        fake_mnist, tmp_path, monkeypatch, capsys):
    # The same race before any checkpoint exists (the first press during step 2): the
    # message must not send the user to a --resume that cannot work.
    out = tmp_path / "interrupted"
    with monkeypatch.context() as patch:
        savez_pressing_ctrl_c(patch, at_call=1)
        assert run_with_ctrl_c(monkeypatch, fake_mnist, out, "g_step", 2, times=1) == 130
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "interrupted again before the first checkpoint was written: nothing saved"
    assert not (out / "checkpoint.npz").exists()
    assert not [name for name in files_under(out) if ".tmp" in name]


def test_presses_after_the_one_that_stops_at_once_are_ignored(fake_mnist, tmp_path, monkeypatch,
                                                              capsys):
    # Two presses inside step 6 stop at once; a third lands while the program prints its
    # message (the last thing it does). It must be ignored, not raise a second
    # KeyboardInterrupt through the message.
    out = tmp_path / "interrupted"
    real_print = builtins.print

    def print_pressing_ctrl_c(*args, **kwargs):
        if args and str(args[0]).startswith("\ninterrupted"):
            ctrl_c()
        return real_print(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(mnist_gan, "print", print_pressing_ctrl_c, raising=False)
        assert run_with_ctrl_c(monkeypatch, fake_mnist, out, "g_step", 6, times=2) == 130
    assert "interrupted inside a step: kept the last checkpoint" in capsys.readouterr().out


def test_ctrl_c_handler_stops_after_the_step_then_at_once_then_ignores():
    # The rule both programs follow (tinygan.utils.cli.CtrlC), press by press.
    previous = signal.getsignal(signal.SIGINT)
    with CtrlC(graceful=True, message="stopping", write=lambda text: None) as handler:
        ctrl_c()
        assert handler.requested and not handler.raised
        with pytest.raises(KeyboardInterrupt):
            ctrl_c()
        assert handler.raised
        ctrl_c(3)                                   # ignored: already stopping
        with CtrlC() as inner:                      # nested: shares "already raised"
            ctrl_c()
        assert inner.presses == 1
    assert signal.getsignal(signal.SIGINT) is previous
    with CtrlC() as plain:                          # not graceful: the first press raises
        with pytest.raises(KeyboardInterrupt):
            ctrl_c()
        ctrl_c()
    assert plain.presses == 2


def test_a_press_while_the_first_ones_message_is_written_waits_for_the_writer():
    # The second press can land while the first one's handler writes its message (through
    # tqdm.write, which holds locks): raising inside the writer left tqdm's lock broken
    # ("RuntimeError: cannot release un-acquired lock", a traceback). It must raise once
    # the writer has returned.
    raised_in_writer = []

    def writer(text):
        try:
            ctrl_c()
        except KeyboardInterrupt:
            raised_in_writer.append(text)
            raise

    with CtrlC(graceful=True, message="stopping", write=writer) as handler:
        with pytest.raises(KeyboardInterrupt):
            ctrl_c()
        assert raised_in_writer == [] and handler.presses == 2 and handler.raised


@pytest.mark.parametrize("stops", [False, True])
def test_run_script_is_quiet_about_ctrl_c_and_ignores_it_in_teardown(stops, capsys):
    # As a script each program ends through cli.run_script: a KeyboardInterrupt that
    # reaches it is one line and exit code 130, and after main Ctrl-C is ignored, so the
    # interpreter's teardown cannot print a traceback either.
    def main():
        if stops:
            ctrl_c()
        return 0

    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as info:
            run_script(main)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert info.value.code == (130 if stops else 0)
    assert capsys.readouterr().err == ("\ninterrupted\n" if stops else "")


def test_resume_continues_the_count(device, fake_mnist, tmp_path, monkeypatch):
    # What holds on both devices; on "cuda" a resumed run is not bit for bit (see
    # NOT_EXACT_ON_CUDA), but steps, epochs, the data order and the metrics lines must
    # line up with a straight run's.
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_gan(["--epochs", "2", *TINY], fake_mnist, straight, device) == 0
    assert run_interrupted(monkeypatch, fake_mnist, resumed, 5, device) == 130
    assert run_gan(["--epochs", "2", "--resume"], fake_mnist, resumed, device) == 0
    _, meta_a = checkpoint_arrays(straight / "checkpoint.npz")
    _, meta_b = checkpoint_arrays(resumed / "checkpoint.npz")
    assert meta_a["trainer"]["step"] == meta_b["trainer"]["step"] == 8
    assert meta_a["trainer"]["epoch"] == meta_b["trainer"]["epoch"] == 2
    assert meta_a["loader"] == meta_b["loader"]
    assert meta_a["batch_in_epoch"] == meta_b["batch_in_epoch"] == 0
    assert metrics_steps(resumed) == metrics_steps(straight) == [2, 4, 6, 8]


# --- errors the user can fix: one line, exit code 2 ----------------------------------------------

@pytest.fixture
def real_cupy_probe():
    """Undo conftest's stand-in so "cuda" probes the installed CuPy again; put it back after."""
    saved = (backend._cuda_module, backend._cuda_reason, backend._cuda_probed)
    backend._use_cuda_module(None)
    try:
        yield
    finally:
        backend._cuda_module, backend._cuda_reason, backend._cuda_probed = saved


def test_cupy_backend_without_a_driver_is_one_line_and_exit_2(real_cupy_probe, capsys):
    # The situation of this test machine: CuPy installed, no NVIDIA driver
    # (cudaErrorInsufficientDriver on first use).
    pytest.importorskip("cupy", reason="needs CuPy installed")
    reason = backend.cuda_unavailable_reason()
    if reason is None or "driver" not in reason:
        pytest.skip(f"needs CuPy without a usable NVIDIA driver; here: {reason or 'a GPU'}")
    with pytest.raises(SystemExit) as info:
        mnist_gan.main(["--backend", "cupy", "--dry-run"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: --backend cupy")
    assert "driver" in err
    assert "--backend numpy" in err
    assert "Traceback" not in err


def test_cupy_backend_without_cupy_names_the_wheel(real_cupy_probe, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)          # import cupy -> ImportError
    with pytest.raises(SystemExit) as info:
        mnist_gan.main(["--backend", "cupy", "--dry-run"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "CuPy is not installed" in err
    assert "pip install cupy-cuda12x" in err
    assert "--backend numpy" in err


def test_cupy_import_blocked_by_the_import_hook_too(real_cupy_probe, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    with pytest.raises(SystemExit) as info:
        sample.main(["whatever.npz", "--backend", "cupy"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "CuPy is not installed" in err and "cupy-cuda12x" in err


def test_missing_data_lists_where_it_looked_and_exits_2(tmp_path, monkeypatch, capsys):
    env_dir = tmp_path / "env-data"
    env_dir.mkdir()
    monkeypatch.setenv("TINYGAN_DATA", str(env_dir))
    with pytest.raises(SystemExit) as info:
        mnist_gan.main(["--epochs", "1", "--out", str(tmp_path / "run"), *TINY])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MNIST files not found")
    assert str(env_dir) in err
    assert str(tmp_path / "xdg-cache" / "tinygan" / "mnist") in err
    assert "network disabled" in err                        # why downloading did not help
    assert "--data-dir" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


# --- examples/sample.py ---------------------------------------------------------------------------

@pytest.fixture
def checkpoint(fake_mnist, tmp_path):
    out = tmp_path / "run"
    assert run_gan(["--epochs", "1", *TINY], fake_mnist, out) == 0
    return out / "checkpoint.npz"


def decode_gray_png(path):
    """The pixels of an 8-bit grayscale PNG with filter 0 (as utils.images.write_png writes)."""
    raw = Path(path).read_bytes()
    width, height = png_size(path)
    pos, idat = 8, b""
    while pos < len(raw):
        length, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        if kind == b"IDAT":
            idat += raw[pos + 8:pos + 8 + length]
        pos += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, width + 1)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:]


def test_sample_writes_a_grid_and_an_npy(device, checkpoint, tmp_path, capsys):
    grid, npy = tmp_path / "grid.png", tmp_path / "samples.npy"
    code = sample.main([str(checkpoint), "--out", str(grid), "--grid", "3", "--npy", str(npy),
                        "-n", "10", "--backend", BACKENDS[device]])
    assert code == 0
    side = (3 * 30 + 2) * 4
    assert png_size(grid) == (side, side)
    pixels = decode_gray_png(grid)
    assert pixels[:8].max() == 0 and pixels[8:16, 8:16].max() > 0   # padding, then an image
    samples = np.load(npy, allow_pickle=False)
    assert samples.shape == (10, 784) and samples.dtype == np.float32
    assert samples.min() >= 0 and samples.max() <= 1
    assert len(np.unique(samples.round(6), axis=0)) == 10             # ten different images
    assert "wrote" in capsys.readouterr().out


def test_sample_with_truncation(device, checkpoint, tmp_path):
    paths = {}
    for truncation in (None, 0.5):
        paths[truncation] = tmp_path / f"s{truncation}.npy"
        extra = [] if truncation is None else ["--truncation", str(truncation)]
        assert sample.main([str(checkpoint), "--out", str(tmp_path / f"g{truncation}.png"),
                            "--npy", str(paths[truncation]), "-n", "20",
                            "--backend", BACKENDS[device], *extra]) == 0
    plain, truncated = np.load(paths[None]), np.load(paths[0.5])
    assert truncated.shape == (20, 784) and 0 <= truncated.min() and truncated.max() <= 1
    assert not np.array_equal(plain, truncated)
    # Less variety: samples from |z| <= 0.5 spread less than those from N(0, I).
    assert truncated.std(axis=0).mean() < plain.std(axis=0).mean()


def test_sample_is_reproducible_with_its_seed(device, checkpoint, tmp_path):
    for name in ("a", "b"):
        assert sample.main([str(checkpoint), "--out", str(tmp_path / f"{name}.png"), "--npy",
                            str(tmp_path / f"{name}.npy"), "-n", "5", "--seed", "3",
                            "--backend", BACKENDS[device]]) == 0
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_sample_on_a_missing_checkpoint_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        sample.main([str(tmp_path / "nope.npz")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(tmp_path / "nope.npz") in err


def test_a_batch_larger_than_the_data_is_one_line_and_exit_2(fake_mnist, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_gan(["--epochs", "1", "--limit", "8", "--batch-size", "16"], fake_mnist,
                tmp_path / "run")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "batch_size 16" in err and "\n" not in err
