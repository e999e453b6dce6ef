"""bench/gan_step.py: its FLOP count matches what the engine really runs, and its
measurements run on every device (on the CuPy stand-in too, so a GPU run works)."""
import importlib.util
from pathlib import Path

import pytest

from tinygan import functional

BENCH = Path(__file__).resolve().parents[1] / "bench" / "gan_step.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_gan_step", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gan_step = load_bench()


def test_analytic_flops_equal_the_gemms_the_engine_runs(device, monkeypatch):
    # Count 2·rows·in·out for every GEMM Linear actually performs in one train_step,
    # including which gradients it skips (D frozen in the G step, no input gradient at
    # each network's first layer): the analytic count must agree exactly.
    counted = []
    forward, backward = functional.Linear.forward, functional.Linear.backward

    def counting_forward(ctx, x, weight, bias=None):
        ctx.gemm = 2 * x.shape[0] * weight.shape[0] * weight.shape[1]
        counted.append(ctx.gemm)
        return forward(ctx, x, weight, bias)

    def counting_backward(ctx, grad):
        grads = backward(ctx, grad)
        counted.extend(ctx.gemm for g in grads[:2] if g is not None)   # dx and dW are GEMMs
        return grads

    monkeypatch.setattr(functional.Linear, "forward", staticmethod(counting_forward))
    monkeypatch.setattr(functional.Linear, "backward", staticmethod(counting_backward))
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
    assert profile["total"] > 0 and profile["gemm (Linear, MatMul)"] > 0
    # The profiler puts every Function back as it was.
    assert functional.Linear.__dict__["forward"].__class__ is staticmethod


def test_sgemm_peak_is_a_rate(device):
    from tinygan import backend
    assert gan_step.sgemm_peak(backend.xp_for(device), lambda: None, n=64, repeats=2) > 0
