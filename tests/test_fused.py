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
    (float32), float64 and 0-d inputs, and transposed convolutions; returns {function:
    {argument types}}."""
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
    for dtype in (tg.float32, tg.float64):      # a DCGAN's transposed convolutions' col2im
        x, k = tg.randn(2, 3, 2, 2, dtype=dtype, device="cuda"), tg.randn(3, 2, 3, 3, dtype=dtype)
        for bias in (None, tg.randn(2, dtype=dtype, device="cuda")):
            tg.nn.functional.conv_transpose2d(x, k.to("cuda"), bias, stride=2)
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


# --- each fused function equals the op-by-op lines it replaced, bit for bit -----------------

def exactly_equal(a, b):
    """The same dtype, shape and bits (-0.0 is not 0.0 here; NaN equals NaN)."""
    a, b = backend.to_numpy(a), backend.to_numpy(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    assert a.tobytes() == b.tobytes(), np.flatnonzero(a.view(np.uint8) != b.view(np.uint8))


def awkward_values(device, dtype, shape, scale=3.0, seed=0):
    """Random values with 0, -0, ±inf, NaN, ±1e4 and subnormals among them."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e4, -1e4, 1e-40, -1e-40], dtype)
    x.reshape(-1)[:special.size] = special[:x.size]
    return backend.to_device(x, device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("slope", [0.01, 0.2, 0.0, -0.5, 1.5, 2])
def test_fused_leaky_relu_equals_x_times_its_slope(device, dtype, slope):
    from tinygan.ops.activations import _leaky_rectify, _leaky_rectify_grad
    xp = backend.xp_for(device)
    x, g = (awkward_values(device, dtype, (7, 5), seed=s) for s in (0, 1))
    local = xp.where(x > 0, x.dtype.type(1), x.dtype.type(slope))   # the lines it replaced
    with np.errstate(invalid="ignore"):                             # inf·0
        exactly_equal(_leaky_rectify(x, float(slope)), x * local)
        exactly_equal(_leaky_rectify_grad(x, g, float(slope)), g * local)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_bce_with_logits_equals_its_op_by_op_lines(device, dtype):
    from tinygan.core.ops import sigmoid
    from tinygan.ops.losses import _bce_with_logits, _bce_with_logits_grad
    xp = backend.xp_for(device)
    x = awkward_values(device, dtype, (9, 3), scale=20.0)
    y = backend.to_device(np.random.default_rng(1).random((9, 3)).astype(dtype), device)
    grad = xp.broadcast_to(xp.asarray(np.asarray(0.125, dtype)) if device == "cpu"
                           else backend.to_device(np.asarray(0.125, dtype), device), x.shape)
    with np.errstate(invalid="ignore"):
        exactly_equal(_bce_with_logits(x, y), (1 - y) * x + xp.logaddexp(0, -x))
        exactly_equal(_bce_with_logits_grad(x, y, grad), grad * (sigmoid(x) - y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(16, 5), (8, 5, 3)])
def test_fused_batch_norm_equals_its_op_by_op_lines(device, dtype, shape, monkeypatch):
    """BatchNormalize's fused path and its op-by-op lines (the path for mixed dtypes, taken
    here by saying the dtypes differ): output, gradients and running statistics."""
    from tinygan.nn import functional as F
    from tinygan.ops import normalization

    def step(fused):
        if not fused:
            monkeypatch.setattr(normalization, "_one_dtype", lambda *arrays: False)
            monkeypatch.setattr(F, "_move_running_stats", move_op_by_op)
        tg.manual_seed(0)
        bn = tg.nn.BatchNorm1d(shape[1], dtype=getattr(tg, np.dtype(dtype).name)).to(device)
        with tg.no_grad():
            bn.weight.mul_(tg.rand(shape[1], dtype=bn.weight.dtype, device=device) + 0.5)
            bn.bias.add_(tg.randn(shape[1], dtype=bn.weight.dtype, device=device))
        x = tg.randn(*shape, dtype=bn.weight.dtype, device=device, requires_grad=True)
        g = tg.randn(*shape, dtype=bn.weight.dtype, device=device)
        outs = []
        for _ in range(2):                      # the running statistics move twice
            y = bn(x * 3.0 + 1.0)
            y.backward(g)
            outs += [y, x.grad, bn.weight.grad, bn.bias.grad, bn.running_mean, bn.running_var]
        bn.eval()
        outs.append(bn(x))                      # the running statistics' path
        monkeypatch.undo()
        return [t.detach()._data for t in outs]

    def move_op_by_op(rows, keep, rates, batch):   # the lines _move_running_stats replaced
        rows *= keep
        rows += rates * batch

    for fused, plain in zip(step(True), step(False)):
        exactly_equal(fused, plain)


def test_fused_batch_norm_kernels_are_called(device_ops):
    """The fused path is the one a GAN step takes: a BatchNorm1d forward and backward in
    training is 6 + 4 device ops (mean, centre, Σ(x-μ)², σ² and 1/σ, x̂ and y, running stats;
    Σg, Σg·x̂, dx) beside the running count's add; the op-by-op lines take more."""
    bn = tg.nn.BatchNorm1d(4).to("cuda")
    x = tg.randn(8, 4, device="cuda", requires_grad=True)
    g = tg.randn(8, 4, device="cuda")
    with device_ops.counting() as n:
        bn(x).backward(g)
    fused = {name for name in n.by_name if name.startswith("fuse(")}
    assert fused == {"fuse(_variance_and_inv_std)", "fuse(_normalize_affine)",
                     "fuse(_normalize_grad)", "fuse(_move_running_stats)"}, n.by_name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_variance_and_inv_std_equal_their_op_by_op_lines(device, dtype):
    from tinygan.ops.normalization import _variance_and_inv_std
    xp = backend.xp_for(device)
    sum_sq = awkward_values(device, dtype, (37,), scale=50.0) ** 2
    var = xp.empty_like(sum_sq)
    with np.errstate(invalid="ignore"):
        inv_std = _variance_and_inv_std(sum_sq, float(96), 1e-5, var)
        plain_var = xp.divide(sum_sq, 96)                  # the lines it replaced: an int n
        exactly_equal(var, plain_var)
        exactly_equal(inv_std, 1.0 / xp.sqrt(plain_var + 1e-5))
