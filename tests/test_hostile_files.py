"""Crafted files (issue 27): sizes read from a file are checked against the arrays it holds
and against a bound before anything is built or inflated; what a file holds is never shown
raw; samples that are not finite are an error. Each crafted file is made here, small; where
memory is the point, the program runs in a subprocess whose peak memory is bounded."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tinygan as tg
from tinygan.gan import build_models
from tinygan.utils.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from tinygan.utils.weights import read_weights

from example_programs import EXAMPLES, load_example
from exits import one_line_exit_2

pytestmark = pytest.mark.usefixtures("isolated")

sample = load_example("sample")
evaluate = load_example("evaluate")
ROOT = Path(__file__).resolve().parents[1]
# A subprocess that imports tinygan and NumPy peaks near 60 MB; the crafted files below
# asked for 2.6 GB to 6 TiB before they were checked.
PEAK_LIMIT_MB = 250


def gan_checkpoint(path, hidden_dim=4, z_dim=4, meta_args=None, arch="course", conditional=False):
    """A tiny mnist_gan.py checkpoint (only what sample.py reads); ``meta_args`` overrides
    the settings its metadata gives."""
    tg.manual_seed(0)
    G, D = build_models(z_dim, hidden_dim, arch=arch, num_classes=10 if conditional else 0)
    args = {"z_dim": z_dim, "hidden_dim": hidden_dim, "arch": arch, "conditional": conditional}
    args.update(meta_args or {})
    save_checkpoint(path, modules={"generator": G, "discriminator": D},
                    meta={"args": args, "trainer": {"epoch": 1}})
    return path


def peak_memory_mb(program, argv):
    """Run examples/<program>.py's main(argv) in a fresh interpreter: (its exit code, its
    peak resident memory in MB (VmHWM), its stderr)."""
    script = textwrap.dedent(f"""
        import resource, runpy, sys
        sys.argv = [{program!r}] + {argv!r}
        code = 0
        try:
            runpy.run_path({str(EXAMPLES / (program + '.py'))!r}, run_name="__main__")
        except SystemExit as exc:
            code = exc.code
        try:     # this process image's own peak (ru_maxrss may count the parent's, pre-exec)
            with open("/proc/self/status") as f:
                peak = [int(l.split()[1]) for l in f if l.startswith("VmHWM")][0]
        except (OSError, IndexError):
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("PEAK", peak // 1024, code)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120)
    peak, code = done.stdout.split("PEAK")[-1].split()
    return int(code), int(peak), done.stderr


# === 1. memory from a tiny file ==================================================================

@pytest.mark.parametrize("hidden_dim, arch", [(2500, "course"), (20000, "course"),
                                              (20000, "dcgan"), (20000, "wgan-gp")])
def test_a_checkpoint_whose_metadata_inflates_the_model_is_one_line_in_bounded_memory(
        tmp_path, hidden_dim, arch):
    path = gan_checkpoint(tmp_path / "checkpoint.npz", meta_args={"hidden_dim": hidden_dim},
                          arch=arch)
    assert path.stat().st_size < 200_000
    code, peak, err = peak_memory_mb("sample", [str(path), "--out", str(tmp_path / "s.png")])
    assert code == 2 and peak < PEAK_LIMIT_MB, (peak, err)
    line = err.strip().splitlines()
    assert len(line) == 1 and "Traceback" not in err, err
    assert str(path) in line[0] and "generator" in line[0] and "gen.0.0.weight" in line[0]
    expected, found = {"course": (f"({hidden_dim}, 4)", "(4, 4)"),    # Linear (out, in)
                       "dcgan": (f"(4, {4 * hidden_dim}, 3, 3)", "(4, 16, 3, 3)"),
                       "wgan-gp": (f"(4, {4 * hidden_dim}, 3, 3)", "(4, 16, 3, 3)")}[arch]
    assert expected in line[0] and found in line[0]                       # ConvT (in, out, ..)
    assert not (tmp_path / "s.png").exists()


def test_evaluate_checks_the_checkpoint_the_same_way(tmp_path, capsys):
    path = gan_checkpoint(tmp_path / "checkpoint.npz", meta_args={"hidden_dim": 20000})
    line = one_line_exit_2(capsys, evaluate.main, [str(path), "-n", "10"], alone=True)
    assert "does not match" in line and str(path) in line


@pytest.mark.parametrize("meta_args, key", [({"z_dim": 7}, "gen.0.0.weight"),
                                            ({"arch": "vanilla"}, "gen.0.weight"),
                                            ({"conditional": True}, "net.gen.0.0.weight")])
def test_settings_that_do_not_fit_the_arrays_are_one_line(tmp_path, capsys, meta_args, key):
    path = gan_checkpoint(tmp_path / "checkpoint.npz", meta_args=meta_args)
    line = one_line_exit_2(capsys, sample.main, [str(path)], alone=True)
    assert key in line and "does not match" in line


def deflated_bomb(path, member_bytes, declared_shape=None):
    """An .npz whose one array member inflates (deflate) from a few hundred KB of zeros to
    ``member_bytes``, beside a valid checkpoint meta."""
    meta = json.dumps({"format": FORMAT, "meta": {"args": {"z_dim": 4, "hidden_dim": 4}},
                       "optimizers": {}})
    shape = declared_shape or (member_bytes // 4,)
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.float32))
    header["shape"] = shape
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("generator/gen.0.0.weight.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            chunk = bytes(16 << 20)
            for _ in range(member_bytes // len(chunk)):
                f.write(chunk)
        buffer = __import__("io").BytesIO()
        np.save(buffer, np.array(meta))
        archive.writestr("meta.npy", buffer.getvalue())
    return path


def test_a_deflated_member_larger_than_a_checkpoint_needs_is_never_inflated(tmp_path):
    path = deflated_bomb(tmp_path / "checkpoint.npz", 320 << 20)     # 320 MiB of zeros
    assert path.stat().st_size < 1 << 20
    code, peak, err = peak_memory_mb("sample", [str(path)])
    assert code == 2 and peak < PEAK_LIMIT_MB, (peak, err)
    assert "declares" in err and "gen.0.0.weight" in err and "Traceback" not in err


def test_a_deflated_member_at_a_zip_bombs_ratio_is_refused(tmp_path):
    path = deflated_bomb(tmp_path / "checkpoint.npz", 32 << 20)
    with pytest.raises(ValueError, match="zip bomb"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="zip bomb"):
        tg.load(path)


def test_a_member_whose_header_declares_more_than_it_holds_is_not_allocated(tmp_path):
    path = gan_checkpoint(tmp_path / "checkpoint.npz")
    lying = tmp_path / "lying.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(lying, "w") as dst:
        for info in src.infolist():
            raw = src.read(info)
            if info.filename == "generator/gen.0.0.weight.npy":
                raw = raw.replace(b"(4, 4)", b"(400000000000, 4)")   # header's shape only
            dst.writestr(info, raw)
    with pytest.raises(ValueError) as info:
        load_checkpoint(lying)
    assert "gen.0.0.weight" in str(info.value) and "declares shape (400000000000, 4)" in str(info.value)


def test_a_npy_declaring_terabytes_is_one_line_in_bounded_memory(tmp_path):
    path = tmp_path / "samples.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 784), np.float32))
    header["shape"] = (2 << 30, 784)                                # 6 TiB of float32
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(bytes(784 * 4 * 10))
    code, peak, err = peak_memory_mb("evaluate", [str(path), "-n", "10"])
    assert code == 2 and peak < PEAK_LIMIT_MB, (peak, err)
    assert "declares shape" in err and str(path) in err and "Traceback" not in err


def test_a_npy_is_read_only_as_far_as_n(tmp_path):
    path = tmp_path / "samples.npy"
    np.save(path, np.linspace(0, 1, 50 * 784, dtype=np.float32).reshape(50, 784))
    got = evaluate.read_npy(path, 7)
    assert got.shape == (7, 784) and isinstance(got, np.ndarray) and not isinstance(got, np.memmap)


def test_tg_load_checks_headers_before_reading(tmp_path):
    path = tmp_path / "state.npz"
    tg.save({"w": tg.zeros(3, 4)}, path)
    lying = tmp_path / "lying.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(lying, "w") as dst:
        for info in src.infolist():
            raw = src.read(info)
            dst.writestr(info, raw.replace(b"(3, 4)", b"(300000000000, 4)"))
    with pytest.raises(ValueError, match="declares shape"):
        tg.load(lying)


# === 3. samples that are not finite are an error ===================================================

def tampered_checkpoint(path, key, change):
    """A tiny checkpoint whose generator array ``key`` went through ``change`` (in place)."""
    tg.manual_seed(0)
    G, D = build_models(4, 4)
    state = G.state_dict()
    change(state[key])

    class Fixed:
        def state_dict(self):
            return state
    save_checkpoint(path, modules={"generator": Fixed(), "discriminator": D},
                    meta={"args": {"z_dim": 4, "hidden_dim": 4, "arch": "course",
                                   "conditional": False}, "trainer": {"epoch": 1}})
    return path


@pytest.mark.parametrize("key, change, said", [
    ("gen.4.weight", lambda a: a.__setitem__((0, 0), np.nan), "NaN or infinite"),
    ("gen.1.0.weight", lambda a: a.__setitem__((1, 1), np.inf), "NaN or infinite"),
    ("gen.0.1.running_var", lambda a: a.__setitem__(0, -1.0), "negative variance")])
def test_weights_that_make_nan_samples_are_one_line_not_a_black_grid(tmp_path, capsys, key,
                                                                     change, said):
    path = tampered_checkpoint(tmp_path / "checkpoint.npz", key, change)
    for argv in ([str(path), "--out", str(tmp_path / "grid.png")],
                 [str(path), "--npy", str(tmp_path / "s.npy")]):
        line = one_line_exit_2(capsys, sample.main, argv, alone=True)
        assert key in line and said in line and str(path) in line
    assert not (tmp_path / "grid.png").exists() and not (tmp_path / "s.npy").exists()
    assert key in one_line_exit_2(capsys, evaluate.main, [str(path), "-n", "10"], alone=True)


def test_a_safetensors_file_without_metadata_holding_nan_is_one_line(tmp_path, capsys):
    from safetensors.numpy import save_file
    tg.manual_seed(0)
    G, _ = build_models(4, 4)
    tensors = {k: np.array(v) for k, v in G.state_dict().items()}
    tensors["gen.2.0.bias"][3] = np.nan
    path = tmp_path / "pytorch.safetensors"
    save_file(tensors, str(path))                      # as PyTorch writes it: no metadata
    line = one_line_exit_2(capsys, sample.main, [str(path)], alone=True)
    assert "gen.2.0.bias" in line and "NaN" in line


def test_a_duplicated_zip_member_is_refused(tmp_path, capsys):
    path = gan_checkpoint(tmp_path / "checkpoint.npz")
    doubled = tmp_path / "doubled.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(doubled, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        bad = np.full((4, 4), np.nan, np.float32)
        buffer = __import__("io").BytesIO()
        np.save(buffer, bad)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")            # zipfile warns of the duplicate name
            dst.writestr("generator/gen.0.0.weight.npy", buffer.getvalue())
    line = one_line_exit_2(capsys, sample.main, [str(doubled)], alone=True)
    assert "twice" in line and "gen.0.0.weight" in line
    with pytest.raises(ValueError, match="twice"):
        tg.load(doubled)


def test_samples_that_are_not_finite_are_an_error():
    with pytest.raises(SystemExit):
        sample.check_finite(np.array([[0.5, np.nan]], np.float32), "g.npz")
    ok = np.zeros((2, 3), np.float32)
    assert sample.check_finite(ok, "g.npz") is ok


# === 6. strings from files are printed escaped ====================================================

ESCAPES = "\x1b]0;owned\x07\x1b[2J"     # retitle the terminal, clear the screen


def no_raw_control_characters(text):
    return not any(c in text for c in "\x1b\x07\r")


def test_metadata_strings_are_printed_escaped(tmp_path, capsys):
    path = gan_checkpoint(tmp_path / "checkpoint.npz", meta_args={"arch": ESCAPES})
    line = one_line_exit_2(capsys, sample.main, [str(path)], alone=True)
    assert no_raw_control_characters(line) and "\\x1b]0;owned" in line


def test_npz_member_names_are_printed_escaped(tmp_path, capsys):
    path = tmp_path / "checkpoint.npz"
    meta = json.dumps({"format": FORMAT, "meta": {}, "optimizers": {}})
    np.savez(path, meta=np.array(meta), **{f"{ESCAPES}/w": np.zeros(2, np.float32)})
    line = one_line_exit_2(capsys, sample.main, [str(path)], alone=True)
    assert no_raw_control_characters(line) and "owned" in line
    folded = tmp_path / "folded.npz"
    with zipfile.ZipFile(folded, "w") as archive:
        archive.writestr(f"{ESCAPES}.txt", b"hello")
    with pytest.raises(ValueError) as info:
        load_checkpoint(folded)
    assert no_raw_control_characters(str(info.value))


def test_safetensors_names_and_metadata_are_printed_escaped(tmp_path, capsys):
    from safetensors.numpy import save_file
    tg.manual_seed(0)
    G, _ = build_models(4, 4)
    tensors = {k: np.array(v) for k, v in G.state_dict().items()}
    path = tmp_path / "g.safetensors"
    save_file(tensors, str(path), metadata={"epoch": ESCAPES})
    assert sample.main([str(path), "--out", str(tmp_path / "g.png")]) == 0
    assert no_raw_control_characters(capsys.readouterr().out)
    tensors[f"{ESCAPES}extra"] = np.zeros(1, np.float32)
    save_file(tensors, str(path))
    line = one_line_exit_2(capsys, sample.main, [str(path)], alone=True)
    assert no_raw_control_characters(line) and "owned" in line


def test_fail_escapes_every_message(capsys):
    from tinygan.utils.cli import fail
    with pytest.raises(SystemExit):
        fail(f"bad {ESCAPES}\nsecond line")
    err = capsys.readouterr().err
    assert no_raw_control_characters(err) and err.count("\n") == 1


# === 8. crafted counters ==========================================================================

def rewrite_meta(path, change):
    """Rewrite a checkpoint's metadata through ``change(info)`` (the arrays unchanged)."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    info = json.loads(str(arrays.pop("meta")))
    change(info)
    np.savez(path, meta=np.array(json.dumps(info)), **arrays)


@pytest.mark.parametrize("value", [10 ** 9, -5, 2.5, "3", True])
def test_a_crafted_batch_in_epoch_is_refused_on_resume(fake_mnist, tmp_path, capsys, value):
    from example_programs import GAN_TINY
    mnist_gan = load_example("mnist_gan")
    common = ["--data-dir", str(fake_mnist), "--out", str(tmp_path / "run"), *GAN_TINY]
    assert mnist_gan.main(["--epochs", "1", *common]) == 0
    rewrite_meta(tmp_path / "run" / "checkpoint.npz",
                 lambda info: info["meta"].update(batch_in_epoch=value))
    capsys.readouterr()
    line = one_line_exit_2(capsys, mnist_gan.main, ["--resume", "--epochs", "2", *common], alone=True)
    assert "batch_in_epoch" in line and "expected 0 to 4" in line


# === 5. one line naming what was expected and what came, never a traceback ======================

def safetensors_by_hand(path, tensors):
    """A safetensors file written without the package: a u64 header length, the JSON header,
    the bytes; ``tensors``: name -> (dtype name, shape, bytes)."""
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    return path


def generator_state(seed=0):
    tg.manual_seed(seed)
    G, _ = build_models(4, 4)
    return {k: np.array(v) for k, v in G.state_dict().items()}


def bfloat16_bytes(array):
    """The top 16 bits of each float32 (bfloat16 truncated, as PyTorch's bytes are laid out)."""
    return (np.ascontiguousarray(array, "<f4").view("<u4") >> 16).astype("<u2").tobytes()


def test_a_bfloat16_and_a_float16_file_load_as_float32(tmp_path, capsys):
    state = generator_state()
    floats = {k: v for k, v in state.items() if v.dtype == np.float32}
    bf16 = {k: ("BF16", v.shape, bfloat16_bytes(v)) for k, v in floats.items()}
    ints = {k: ("I64", v.shape, v.astype("<i8").tobytes()) for k, v in state.items()
            if k not in floats}
    path = safetensors_by_hand(tmp_path / "bf16.safetensors", bf16 | ints)
    rounded = {k: (np.ascontiguousarray(v).view(np.uint32) & 0xFFFF0000).view(np.float32)
               for k, v in floats.items()}
    loaded = read_weights(path).tensors
    for name, value in rounded.items():
        assert loaded[name].dtype == np.float32 and np.array_equal(loaded[name], value), name
    half = {k: ("F16", v.shape, v.astype("<f2").tobytes()) for k, v in floats.items()}
    loaded = read_weights(safetensors_by_hand(tmp_path / "f16.safetensors", half | ints)).tensors
    assert all(np.array_equal(loaded[k], v.astype(np.float16).astype(np.float32))
               for k, v in floats.items())
    # sample.py draws from the bfloat16 file what it draws from its values in float32
    from safetensors.numpy import save_file
    save_file(state | rounded, str(tmp_path / "f32.safetensors"))
    for name in ("bf16", "f32"):
        assert sample.main([str(tmp_path / f"{name}.safetensors"), "--npy",
                            str(tmp_path / f"{name}.npy"), "-n", "8"]) == 0
    assert np.array_equal(np.load(tmp_path / "bf16.npy"), np.load(tmp_path / "f32.npy"))


def test_a_bfloat16_generator_pytorch_saved_draws_what_its_float32_rounding_draws(tmp_path):
    torch = pytest.importorskip("torch")
    import safetensors.torch
    state = {k: torch.from_numpy(v) for k, v in generator_state(1).items()}
    as_bf16 = {k: v.bfloat16() if v.is_floating_point() else v for k, v in state.items()}
    safetensors.torch.save_file(as_bf16, tmp_path / "bf16.safetensors")
    safetensors.torch.save_file({k: v.float() if v.is_floating_point() else v
                                 for k, v in as_bf16.items()}, tmp_path / "f32.safetensors")
    for name in ("bf16", "f32"):
        assert sample.main([str(tmp_path / f"{name}.safetensors"), "--npy",
                            str(tmp_path / f"{name}.npy"), "-n", "8", "--seed", "3"]) == 0
    assert np.array_equal(np.load(tmp_path / "bf16.npy"), np.load(tmp_path / "f32.npy"))


def test_a_dtype_tinygan_cannot_read_is_one_line(tmp_path, capsys):
    path = safetensors_by_hand(tmp_path / "f8.safetensors", {"gen.4.bias": ("F8_E4M3", (2,),
                                                                            b"\x01\x02")})
    line = one_line_exit_2(capsys, sample.main, [str(path)], alone=True)
    assert str(path) in line and "gen.4.bias" in line and "F8_E4M3" in line and "F32" in line


@pytest.fixture
def finished_run(fake_mnist, tmp_path):
    """(mnist_gan's main, its arguments but --epochs) after one epoch of a tiny run."""
    from example_programs import GAN_TINY
    mnist_gan = load_example("mnist_gan")
    common = ["--data-dir", str(fake_mnist), "--out", str(tmp_path / "run"), *GAN_TINY]
    assert mnist_gan.main(["--epochs", "1", *common]) == 0
    return mnist_gan, common


def rewrite_checkpoint(path, change):
    """Rewrite a checkpoint through ``change(info, arrays)`` (its metadata and arrays)."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    info = json.loads(str(arrays.pop("meta")))
    change(info, arrays)
    np.savez(path, meta=np.array(json.dumps(info)), **arrays)


@pytest.mark.parametrize("value, said", [
    (np.zeros(3, np.float32), "has shape (3,); the parameter has (4, 4)"),
    (np.full((4, 4), "x"), "is an array of <U1; expected numbers")])
def test_adam_state_that_does_not_fit_is_one_line_on_resume(finished_run, tmp_path, capsys,
                                                            value, said):
    mnist_gan, common = finished_run
    path = tmp_path / "run" / "checkpoint.npz"
    rewrite_checkpoint(path, lambda info, arrays: arrays.update(
        {"opt_g/state/0/exp_avg": value}))
    capsys.readouterr()
    line = one_line_exit_2(capsys, mnist_gan.main, ["--resume", "--epochs", "2", *common],
                           alone=True)
    assert str(path) in line and "opt_g" in line and "'exp_avg'" in line and said in line


@pytest.mark.parametrize("key", ["batch_size", "lr", "d_steps"])
def test_a_null_setting_a_preset_fills_is_one_line_on_resume(finished_run, tmp_path, capsys,
                                                             key):
    mnist_gan, common = finished_run
    path = tmp_path / "run" / "checkpoint.npz"
    rewrite_checkpoint(path, lambda info, arrays: info["meta"]["args"].update({key: None}))
    capsys.readouterr()
    line = one_line_exit_2(capsys, mnist_gan.main, ["--resume", "--epochs", "2", *common],
                           alone=True)
    assert f"{path}: its metadata says {key}: None; expected" in line


def test_a_metrics_line_that_is_not_utf8_is_named_on_resume(finished_run, tmp_path, capsys):
    mnist_gan, common = finished_run
    metrics = tmp_path / "run" / "metrics.jsonl"
    lines = metrics.read_bytes().splitlines(keepends=True)
    metrics.write_bytes(b"\xff\xfe" + lines[0] + b"".join(lines[1:]))
    capsys.readouterr()
    line = one_line_exit_2(capsys, mnist_gan.main, ["--resume", "--epochs", "2", *common],
                           alone=True)
    assert f"{metrics}, line 1: expected a JSON record" in line and "codec" not in line


def test_string_weights_are_one_line(tmp_path, capsys):
    path = tampered_checkpoint(tmp_path / "checkpoint.npz", "gen.4.bias", lambda a: None)
    rewrite_checkpoint(path, lambda info, arrays: arrays.update(
        {"generator/gen.4.bias": arrays["generator/gen.4.bias"].astype(str)}))
    line = one_line_exit_2(capsys, sample.main, [str(path)], alone=True)
    assert str(path) in line and "gen.4.bias is <U" in line and "expected float32" in line
    state = generator_state()      # through tg.save and tg.load: refused before any copy
    state["gen.0.1.running_var"] = np.array(["1.0"] * 4)
    tg.save(state, tmp_path / "state.npz")
    G, _ = build_models(4, 4)
    before = G.state_dict()["gen.0.1.running_var"].copy()
    with pytest.raises(RuntimeError, match=r"not numbers: gen\.0\.1\.running_var: checkpoint "
                                           r"<U3, model float32"):
        G.load_state_dict(tg.load(tmp_path / "state.npz"))
    assert np.array_equal(G.state_dict()["gen.0.1.running_var"], before)


def test_a_full_disk_under_tensorboard_is_one_line_and_keeps_the_checkpoint(
        fake_mnist, tmp_path, capsys, monkeypatch):
    pytest.importorskip("tensorboardX")
    import errno
    from tensorboardX import record_writer
    from example_programs import GAN_TINY
    mnist_gan = load_example("mnist_gan")
    real, written = record_writer.RecordWriter.write, []

    def write(self, data):     # the disk fills up in the second epoch
        written.append(len(data))
        if len(written) > 12:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)
    monkeypatch.setattr(record_writer.RecordWriter, "write", write)
    out, logs = tmp_path / "run", tmp_path / "tb"
    line = one_line_exit_2(capsys, mnist_gan.main, [
        "--epochs", "2", *GAN_TINY, "--data-dir", str(fake_mnist), "--out", str(out),
        "--tensorboard", str(logs)])
    assert line == (f"error: cannot append to the TensorBoard events in {logs}: the disk is "
                    "full (No space left on device); the events before are intact")
    assert load_checkpoint(out / "checkpoint.npz").meta["trainer"]["epoch"] == 1


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
def test_batchnorm_refuses_one_value_per_channel_as_pytorch_does(shape):
    layer = tg.nn.BatchNorm2d(3) if len(shape) == 4 else tg.nn.BatchNorm1d(3)
    with pytest.raises(ValueError) as info:
        layer(tg.randn(*shape))
    assert str(info.value) == ("Expected more than 1 value per channel when training, got "
                               f"input size {list(shape)}")
    assert int(layer.num_batches_tracked.item()) == 1       # counted first, as in PyTorch
    layer.eval()
    assert layer(tg.randn(*shape)).shape == shape
    try:
        import torch
    except ImportError:
        return
    torch_layer = torch.nn.BatchNorm2d(3) if len(shape) == 4 else torch.nn.BatchNorm1d(3)
    with pytest.raises(ValueError) as theirs:
        torch_layer(torch.randn(*shape))
    assert str(theirs.value) == str(info.value).replace(f"{list(shape)}",
                                                        f"torch.Size({list(shape)})")


@pytest.mark.parametrize("program, arch", [("mnist_gan", "course"), ("dcgan", "dcgan")])
def test_batch_size_1_with_batchnorm_is_one_line_before_training(fake_mnist, tmp_path, capsys,
                                                                 program, arch):
    line = one_line_exit_2(capsys, load_example(program).main, [
        "--epochs", "1", "--limit", "4", "--batch-size", "1", "--arch", arch,
        "--data-dir", str(fake_mnist), "--out", str(tmp_path / "run")], alone=True)
    assert line.startswith(f"error: --batch-size 1: --arch {arch} has BatchNorm")
    assert "expected 2 or more" in line
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


@pytest.mark.parametrize("program, argv, said", [
    ("sample", ["--grid", "3000"], "--grid 3000: 9000000 samples would take 26.3 GiB"),
    ("sample", ["--npy", "s.npy", "-n", "5000000"], "-n 5000000: 5000000 samples would take "
                                                   "14.6 GiB"),
    ("evaluate", ["-n", "5000000"], "-n 5000000: 5000000 samples would take 14.6 GiB")])
def test_a_request_that_would_exhaust_memory_is_refused_up_front(tmp_path, capsys, program,
                                                                 argv, said):
    path = gan_checkpoint(tmp_path / "checkpoint.npz")
    main = {"sample": sample, "evaluate": evaluate}[program].main
    line = one_line_exit_2(capsys, main, [str(path), *argv], alone=True)
    assert said in line and "expected at most" in line


@pytest.mark.parametrize("change, said", [
    (lambda tree: tree["object"].pop("items"), "lacks the field 'items'"),
    (lambda tree: tree["object"]["items"][0][1].pop("requires_grad"),
     "lacks the field 'requires_grad'")])
def test_a_tampered_tg_load_file_names_what_is_missing(tmp_path, change, said):
    tg.save({"weight": tg.randn(2)}, tmp_path / "saved.npz")
    rewrite_checkpoint(tmp_path / "saved.npz", lambda info, arrays: change(info))
    with pytest.raises(ValueError) as info:
        tg.load(tmp_path / "saved.npz")
    assert str(info.value) == (f"tg.load: {tmp_path / 'saved.npz'} was altered after tg.save "
                               f"wrote it: an entry of its 'meta' {said}")


# --- Ctrl-C while an example's imports run ------------------------------------------------------

@pytest.mark.parametrize("program", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_ctrl_c_during_the_imports_stops_quietly(program, tmp_path):
    """An `argparse` ahead of the standard library's on the path presses Ctrl-C (SIGINT) at
    the moment an example imports it: the program must stop without a traceback."""
    (tmp_path / "argparse.py").write_text(
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(EXAMPLES.parent)]))
    done = subprocess.run([sys.executable, str(EXAMPLES / program), "--help"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGINT, (done.returncode, done.stderr)
    assert done.stderr == ""
