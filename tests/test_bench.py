"""bench/gan_step.py: its FLOP count matches what the engine really runs, and its
measurements run on every device (on the CuPy stand-in too, so a GPU run works)."""
import json
import math

import numpy as np
import pytest

import bench_programs
from tinygan.core import ops as core_ops

gan_step = bench_programs.load("gan_step")


def test_analytic_flops_equal_the_gemms_the_engine_runs(device, monkeypatch):
    # Count 2·m·k·n for every matrix product the engine runs in one train_step: Affine's
    # forward (x·Wᵀ + b) and every MatMul, which is how Affine's backward computes
    # dx = G·W and dW = Gᵀ·x. Which gradients are skipped (D frozen in the G step, no
    # input gradient at each network's first layer) must agree with the analytic count.
    counted = []
    affine, matmul_ = core_ops.Affine.forward, core_ops.MatMul.forward

    def counting_affine(ctx, x, weight, bias=None):
        counted.append(2 * math.prod(x.shape[:-1]) * weight.shape[0] * weight.shape[1])
        return affine(ctx, x, weight, bias)

    def counting_matmul(ctx, a, b):
        assert a.ndim == 2 and b.ndim == 2, "the step multiplies matrices only"
        counted.append(2 * a.shape[0] * a.shape[1] * b.shape[1])
        return matmul_(ctx, a, b)

    monkeypatch.setattr(core_ops.Affine, "forward", staticmethod(counting_affine))
    monkeypatch.setattr(core_ops.MatMul, "forward", staticmethod(counting_matmul))
    step, sync = gan_step.tinygan_step(device, batch=4)
    counted.clear()
    step()
    sync()
    assert sum(counted) == gan_step.gemm_flops_per_step(4)


def test_the_measurements_run_on_each_device(device):
    ms = gan_step.time_steps(*gan_step.tinygan_step(device, 4), warmup=1, steps=2)
    assert ms > 0
    memory = gan_step.memory_growth(device, steps=3)
    assert memory["after_all_mib"] > 0
    profile = gan_step.profile(device, steps=2)
    assert profile["total"] > 0 and profile["gemm (Affine, MatMul)"] > 0
    # The profiler puts every Function back as it was.
    assert core_ops.Affine.__dict__["forward"].__class__ is staticmethod
    assert core_ops.Affine.forward.__name__ == "forward"


def test_sgemm_peak_is_a_rate(device):
    from tinygan import backend
    assert gan_step.sgemm_peak(backend.xp_for(device), lambda: None, n=64, repeats=2) > 0


def load_tricks():
    return bench_programs.load("tricks")


def test_tricks_compares_each_trick_with_its_plain_form(cuda_kind):
    """bench/tricks.py: both variants of each trick train, and each trick saves device ops
    (but adam_blocks: on a GPU the update runs over whole arrays either way)."""
    tricks = load_tricks()
    for trick in tricks.TRICKS:
        ms = tricks.cpu_ms(8, trick, rounds=1)
        assert all(t > 0 for t in ms.values())
        if cuda_kind == "stand-in":
            ops = tricks.device_ops(8, trick)
            if trick == "adam_blocks":       # whole arrays on a GPU either way
                assert ops[True] == ops[False], (trick, ops)
            else:
                assert ops[True] < ops[False], (trick, ops)


def test_each_tricks_plain_form_computes_the_same_step():
    """A trick's time is only worth comparing with a plain form that trains the same GAN:
    the first step's losses agree, and the plain form is gone again once its step is over."""
    from tinygan.nn import functional as F
    from tinygan.optim import adam
    tricks = load_tricks()
    batch_norm, block = F.batch_norm, adam.CPU_BLOCK
    for trick in tricks.TRICKS:
        with_it, without = (tricks.trainer("cpu", 8, trick, on)() for on in (True, False))
        for name in ("d_loss", "g_loss"):
            a, b = (getattr(r, name).item() for r in (with_it, without))
            assert abs(a - b) <= 1e-5 * abs(a), (trick, name, a, b)
    assert F.batch_norm is batch_norm and adam.CPU_BLOCK == block and not adam.FLAT_ON_CPU


def test_runs_timed_in_turns_give_times_and_ratios_to_the_first():
    calls = []
    runs = {name: (lambda name=name: calls.append(name), lambda: None) for name in "ab"}
    ms, ratios = gan_step.time_in_turns(runs, warmup=1, steps=4, rounds=2)
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] * 2     # warm-up, then in turns
    assert set(ms) == set(ratios) == {"a", "b"} and ratios["a"] == 1.0


def test_the_gemm_floor_replays_the_steps_matrix_products(device):
    # As many GEMMs as the analytic count has (forward, input and weight gradients), each
    # replayed with its own operands, and the engine back as it was.
    from tinygan.core import ops as core_ops
    affine, matmul_ = core_ops.Affine.forward, core_ops.MatMul.forward
    replay, sync, count = gan_step.gemm_floor(device, 4)
    replay(), sync()
    # D step: G forward (5), one D pass over fakes and reals (4), D's weight gradients (4)
    # and input gradients but at its first layer (3); G step: G and D forward (5 + 4), D's
    # input gradients (4; D frozen), G's weight gradients (5) and input gradients but at
    # its first layer (4)
    assert count == (5 + 4 + 4 + 3) + (5 + 4 + 4 + 5 + 4)
    assert (core_ops.Affine.forward, core_ops.MatMul.forward) == (affine, matmul_)


def test_adam_step_bench_runs_and_reports_the_memory_floor(monkeypatch):
    torch = pytest.importorskip("torch")   # it times PyTorch's Adam beside tinygan's
    adam_step = bench_programs.load("adam_step")
    threads = torch.get_num_threads()
    monkeypatch.setattr("sys.argv", ["adam_step.py", "--steps", "2", "--keep-openblas-env"])
    result = adam_step.main()
    torch.set_num_threads(threads)
    assert result["parameters"] == 2_071_953   # the MNIST GAN's G and D
    assert result["memory_floor_ms_one_thread"] > 0 and result["tinygan_adam_ms"] > 0


def load_dcgan_step():
    return bench_programs.load("dcgan_step")


def test_dcgan_step_bench_times_each_library_in_its_own_process():
    """bench/dcgan_step.py at batch 2, one round of one step: every child answers, and the
    floor replays every product of the step's convolutions: D step, G forward (4), D over
    fakes and reals (3 + 3), D's weight gradients (3 + 3) and input gradients but at its
    first layer (2 + 2); G step, G and D forward (4 + 3), D's input gradients (3; D frozen),
    G's weight gradients (4) and input gradients but at its first layer (3)."""
    dcgan_step = load_dcgan_step()
    argv = ["--batch", "2", "--rounds", "1", "--steps", "1", "--warmup", "0", "--threads", "1",
            "--no-count-ops", "--keep-openblas-env"]
    try:
        import torch  # noqa: F401
    except ImportError:
        argv.append("--no-torch")
    row, = dcgan_step.main(argv)["runs"]
    assert row["tinygan_ms"] > 0 and row["floor_ms"] > 0 and row["tinygan_peak_rss_mib"] > 0
    assert row["gemms_per_step"] == (4 + 6 + 6 + 4) + (4 + 3 + 3 + 4 + 3)
    if "--no-torch" not in argv:
        assert row["torch_ms"] > 0 and row["tinygan_over_torch"] > 0


def test_dcgan_step_bench_counts_device_ops_and_aten_ops(cuda_kind):
    if cuda_kind != "stand-in":
        pytest.skip("device ops are counted on the CuPy stand-in")
    dcgan_step = load_dcgan_step()
    ours = dcgan_step.device_ops_per_step(2, "dcgan")
    # one GEMM per convolution op, as above (the weight gradients' written with out=)
    assert ours["ndarray.__matmul__"] + ours["matmul"] == 37
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    aten = dcgan_step.aten_ops_per_step(2, "dcgan")
    torch.set_num_threads(threads)
    assert aten["aten::convolution_backward"] > 0


def test_mlp_step_bench_times_both_libraries_with_the_pool_on_and_off():
    """bench/mlp_step.py at batch 2, one round of one step: every child answers."""
    pytest.importorskip("torch")
    mlp_step = bench_programs.load("mlp_step")
    result = mlp_step.main(["--batch", "2", "--rounds", "1", "--steps", "1", "--warmup", "0",
                            "--threads", "1"])
    (row,) = result["runs"]
    assert row["tinygan_ms"] > 0 and row["no_pool_ms"] > 0 and row["torch_ms"] > 0
    assert row["tinygan_over_torch"] > 0 and len(row["load_before"]) == 3


def test_chunk_threshold_bench_times_each_function_whole_and_split(monkeypatch, capsys):
    from tinygan import backend, threads
    before = (backend.CHUNK_MIN, threads.pool_size(), backend.get_num_threads())
    monkeypatch.setattr("sys.argv", ["chunk_threshold.py", "--sizes", "2048", "--rounds", "1",
                                     "--calls", "1"])
    try:
        bench_programs.load("chunk_threshold").main()
    finally:
        backend.CHUNK_MIN = before[0]
        backend.set_num_threads(before[2])
        threads._size = before[1]      # the environment may have set it apart from BLAS
    out = capsys.readouterr().out
    assert out.count('"split_over_whole"') == 4 and "| 2,048 |" in out


def test_course_loop_runs_with_nothing_but_import_tinygan(tmp_path):
    """bench/course_loop.py, the learner's own loop shared_cores.py runs: it chooses no
    threads, so it gets tinygan's default (half the cores) unless the environment says."""
    import json
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["PYTHONPATH"] = str(bench_programs.BENCH.parent)
    out = subprocess.run([sys.executable, str(bench_programs.BENCH / "course_loop.py"),
                          "--steps", "1", "--batch", "4"], capture_output=True, text=True,
                         env=env, check=True, cwd=tmp_path)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["ms_per_step"] > 0
    assert row["blas_threads"] == max(1, (os.cpu_count() or 1) // 2)


def _framework_threads(framework):
    if framework == "torch":
        import torch
        return torch.get_num_threads()
    from tinygan import threads
    return threads.pool_size()


def _set_framework_threads(framework, n):
    if framework == "torch":
        import torch
        torch.set_num_threads(n)
    else:
        from tinygan import threads
        threads.set_num_threads(n)


@pytest.mark.parametrize("framework", ["tinygan", "torch"])
def test_quality_bench_scores_an_ema_of_g_beside_the_live_g_it_leaves_as_it_was(framework,
                                                                                 tmp_path):
    """bench/quality.py --ema at 128 images and 8 samples: each scoring epoch gives the live G's
    samples, bit for bit those of a run without the EMA, and the EMA's beside them."""
    if framework == "torch":
        pytest.importorskip("torch")
    quality = bench_programs.load("quality")
    train = getattr(quality, f"train_{framework}")
    images = np.random.default_rng(0).integers(0, 256, (128, 28, 28), dtype=np.uint8)
    recipe = quality.RECIPES["tinygan"]
    threads = _framework_threads(framework)
    try:                # --threads reaches the framework's own setting (rounding follows it)
        _set_framework_threads(framework, 2)
        plain = list(train(images, recipe, 0, {1, 2}, samples=8, threads=1))
        assert _framework_threads(framework) == 1
        _set_framework_threads(framework, 2)
        both = list(train(images, recipe, 0, {1, 2}, ema=0.9, samples=8, threads=1))
    finally:
        _set_framework_threads(framework, threads)
    assert [e for e, _ in plain] == [e for e, _ in both] == [1, 2]
    for (_, alone), (_, scored) in zip(plain, both):
        assert list(alone) == [None] and list(scored) == [None, 0.9]
        np.testing.assert_array_equal(alone[None], scored[None])
        assert scored[0.9].shape == (8, 784) and np.isfinite(scored[0.9]).all()
        assert not np.array_equal(scored[0.9], scored[None])
    rows = [{"recipe": "tinygan", "framework": framework, "seed": 0, "epoch": 1, "lr": 2e-3,
             "ema": ema, "fid": 9.0, "digits_covered": 10, "min_digit_share": 0.05,
             "evaluator": quality.EVALUATOR} for ema in (None, 0.9)]
    rows.append({key: value for key, value in rows[0].items() if key != "evaluator"}
                | {"fid": 1.0})                         # the MLP classifier's score: not shown
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    shown = [line.strip("| ").split(" | ")
             for line in quality.table(tmp_path / "r.jsonl").splitlines()[2:]]
    assert [(cells[4], cells[5]) for cells in shown] == [("live", "9.0 (10, 5.0%)"),
                                                         ("EMA 0.9", "9.0 (10, 5.0%)")]


def test_ops_vs_torch_prints_each_ops_differences_at_rounding(capsys):
    pytest.importorskip("torch")
    assert bench_programs.load("ops_vs_torch").main(["--geometries", "3"]) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines()[2:]]
    assert len(rows) == 12                          # six ops, two dtypes each
    for op, dtype, count, *cells in rows:
        values = [float(c.strip(" |")) for c in cells if c.strip(" |") != "-"]
        assert count == "3" and len(values) >= 2, op
        assert max(values) < {"float64": 1e-11, "float32": 1e-4}[dtype], (op, dtype, values)
