"""backend.fuse: one kernel on a GPU, op by op on the CPU; and every fused function of a GAN
step traced through real CuPy's ``cupy.fuse``, on the CPU.

On a GPU, backend.fuse hands a function to cupy.fuse, which traces it into one CUDA kernel
the first time it meets each combination of argument types. The tracing is CuPy's Python and
needs no GPU: the kernel's source is written before anything is compiled. So the second
test here runs GAN steps on the stand-in, which records the argument types of each fused
call, then traces each function with those types through CuPy's own tracer (device arrays
without memory stand in for the real ones) and checks that the trace succeeds and that every
op of the kernel runs in the arrays' dtype. That catches what the stand-in cannot see: CuPy's
tracer does arithmetic between two numbers in float16, so a (1 - β2) computed inside the
fused Adam update would be 0.000977 instead of 0.001. It needs CuPy installed (not a GPU):
``pip install cupy-cuda12x``; where CuPy is not installed (CI) it is skipped.
"""
import functools

import numpy as np
import pytest

import bench_programs
import tinygan as tg
from tinygan import backend


@pytest.fixture
def axpy_into():
    """x ← a·x + y as a fused function (taken out of backend.FUSED again: not the library's)."""
    @backend.fuse
    def axpy_into(xp, x, a, y):
        axpy_into.modules.append(xp)
        xp.multiply(x, a, out=x)
        xp.add(x, y, out=x)

    axpy_into.modules = []
    yield axpy_into
    backend.FUSED.remove(axpy_into)


def test_fuse_runs_the_function_with_the_first_argument_s_module(device, axpy_into):
    xp = backend.xp_for(device)
    x, y = xp.arange(3, dtype=xp.float32), xp.ones(3, dtype=xp.float32)
    axpy_into(x, 2.0, y)
    np.testing.assert_array_equal(backend.to_numpy(x), [1.0, 3.0, 5.0])
    assert axpy_into.modules == [xp]
    axpy_into(x[0, ...], 2.0, y[0, ...])   # a 0-d view: written in place too
    assert float(x[0]) == 3.0


def test_a_fused_call_is_one_device_op_on_cuda(device_ops, axpy_into):
    xp = backend.xp_for("cuda")
    x, y = xp.arange(3, dtype=xp.float32), xp.ones(3, dtype=xp.float32)
    with device_ops.counting() as n:
        axpy_into(x, 2.0, y)
    assert n.count == 1 and n.by_name == {"fuse(axpy_into)": 1}


# --- every fused function of a GAN step, traced by real CuPy -----------------------------

def fused_calls_of_training():
    """Run what calls the fused functions on the stand-in: two steps of the MNIST GAN
    (float32), and float64 and 0-d inputs; returns {function: {argument types}}."""
    import cupy_standin
    cupy_standin.fused_calls.clear()
    trainer, real = bench_programs.load("gan_step").default_trainer("cuda", 16)
    for _ in range(2):
        trainer.train_step(real)
    w = tg.nn.Parameter(tg.randn(3, 2, dtype=tg.float64, device="cuda"))
    opt = tg.optim.Adam([w])
    for x in (w, w.sum()):                      # a matrix and a 0-d tensor, float64
        opt.zero_grad()
        x.sigmoid().sum().backward()
        opt.step()
    return {function.func: signatures for function, signatures
            in cupy_standin.fused_calls.items() if isinstance(function, functools.partial)}


def trace(cupy, body, signature):
    """cupy.fuse's trace of ``body`` for arguments of ``signature``: its history of ops and
    its kernel. CuPy's first tracer (the one cupy.fuse tries first), driven as
    cupy._core.fusion.Fusion.__call__ drives it."""
    from cupy._core import fusion
    memory = cupy.cuda.MemoryPointer(cupy.cuda.UnownedMemory(0, 0, None, 0), 0)   # no GPU
    args = [cupy.ndarray((1,) * kind[2], np.dtype(kind[1]), memptr=memory)
            if isinstance(kind, tuple) else kind(1) for kind in signature]
    history = fusion._FusionHistory()
    fusion._thread_local.history, fusion._thread_local.is_old_fusing = history, True
    try:
        kernel, _ = history.get_fusion(functools.partial(body, cupy), args, body.__name__)
    finally:
        fusion._thread_local.history, fusion._thread_local.is_old_fusing = None, False
    return history, kernel


def test_every_fused_function_traces_into_one_kernel_in_its_arrays_dtype(cuda_kind):
    if cuda_kind != "stand-in":
        pytest.skip("the argument types are recorded by the stand-in (on a GPU the suite "
                    "runs the fused kernels themselves)")
    try:
        import cupy
        from cupy._core import fusion   # noqa: F401
    except Exception as exc:   # not installed (CI), or a broken install
        pytest.skip(f"real CuPy is not importable here ({type(exc).__name__}): "
                    "pip install cupy-cuda12x to trace the fused functions")
    calls = fused_calls_of_training()
    library = {fused.__wrapped__ for fused in backend.FUSED}
    assert library <= set(calls), (
        f"fused functions no GAN step called: {sorted(f.__name__ for f in library - set(calls))}; "
        "call them in fused_calls_of_training")
    for body in library:
        for signature in calls[body]:
            history, kernel = trace(cupy, body, signature)
            assert isinstance(kernel, cupy.ElementwiseKernel), (body.__name__, signature)
            arrays = {np.dtype(kind[1]) for kind in signature if isinstance(kind, tuple)}
            op_dtypes = {np.dtype(t) for op in history.op_list for t in op.submodule.dtypes}
            assert op_dtypes <= arrays | {np.dtype(bool)}, (
                f"{body.__name__}{signature}: the kernel computes in "
                f"{sorted(map(str, op_dtypes))}, "
                f"its arrays are {sorted(map(str, arrays))} (arithmetic between two numbers "
                "inside a fused function is float16 in CuPy's tracer: do it outside)")
