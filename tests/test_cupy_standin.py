"""The CuPy stand-in (tests/cupy_standin) enforces CuPy's rules on the CPU."""
import copy
import gc
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import cupy_standin as cp

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES_JSON = os.path.join(HERE, "cupy_standin", "cupy_names.json")


def stored_names():
    with open(NAMES_JSON) as f:
        return json.load(f)


@pytest.fixture
def a():
    return cp.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))


# --- no implicit host copies ---------------------------------------------------------

def test_ndarray_is_not_a_numpy_array(a):
    assert isinstance(a, cp.ndarray)
    assert not isinstance(a, np.ndarray)
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(a)
    with pytest.raises(TypeError):
        np.array([a, a])


@pytest.mark.parametrize("mix", [
    lambda a, h: a + h,
    lambda a, h: h + a,
    lambda a, h: h * a,
    lambda a, h: a == h,
    lambda a, h: a @ h.T,
    lambda a, h: a.__iadd__(h),
    lambda a, h: cp.add(a, h),
    lambda a, h: np.add(a, h),
    lambda a, h: np.exp(h, out=a),
    lambda a, h: cp.where(a > 0, a, h),
    lambda a, h: cp.concatenate([a, h]),
    lambda a, h: cp.add.at(a, (0, 0), h[0, 0:1]),
    lambda a, h: a.clip(h, 10.0),
    lambda a, h: a.__setitem__((0, slice(None)), h[0]),
    lambda a, h: a[h > 2],
    lambda a, h: a.sum(out=h),
])
def test_numpy_arrays_do_not_mix_with_device_arrays(a, mix):
    host = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        mix(a, host)


def test_scalars_and_dtypes_mix_freely(a):
    for b in (a * 2, 2 * a, a * np.float32(2), np.float32(2) * a, cp.maximum(a, 0),
              cp.multiply(a, 2.0, dtype=np.float32), a.astype(cp.float64) / 2):
        assert isinstance(b, cp.ndarray)
    assert (np.float32(2) * a).dtype == np.float32


def test_ufuncs_take_only_arrays_and_scalars(a):
    with pytest.raises(TypeError, match="Unsupported type <class 'list'>"):
        cp.add(a, [1.0, 2.0, 3.0])


# --- dispatch from numpy -------------------------------------------------------------

def test_numpy_functions_dispatch_to_the_standin(a):
    for result in (np.exp(a), np.maximum(a, 1.0), np.sum(a), np.mean(a, axis=0),
                   np.concatenate([a, a]), np.linalg.norm(a)):
        assert isinstance(result, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(np.exp(a)), np.exp(a.get()))


def test_numpy_functions_cupy_lacks_do_not_dispatch(a):
    with pytest.raises(TypeError, match="no implementation found"):
        np.insert(a, 0, 1.0)
    with pytest.raises(TypeError):
        np.add.at(a, 0, 1.0)  # CuPy forwards plain ufunc calls only; use cupy.add.at


# --- only CuPy's names -----------------------------------------------------------------

def test_numpy_only_names_do_not_exist():
    with pytest.raises(AttributeError, match=r"cupy has no attribute 'errstate' \(real CuPy does not export it\)"):
        cp.errstate
    assert not hasattr(cp, "seterr")
    assert not hasattr(cp.random, "Generator") or not hasattr(cp.random, "bit_generator")
    with pytest.raises(AttributeError, match="does not implement cupy.r_"):
        cp.r_  # CuPy has it; the stand-in says so rather than pretending it does not exist


def test_passthrough_names():
    assert cp.float32 is np.float32 and cp.dtype is np.dtype and cp.finfo is np.finfo
    assert cp.pi == np.pi and cp.newaxis is None and np.isinf(cp.inf)
    assert cp.add is cp.add  # cached


def test_ndarray_has_only_cupys_attributes(a):
    for name in ("resize", "ctypes", "getfield", "to_device", "__array_interface__"):
        with pytest.raises(AttributeError):
            getattr(a, name)
    with pytest.raises(TypeError):
        range(a[0, 0])  # cupy.ndarray has no __index__
    assert a.device.id == 0


def test_generator_has_only_cupys_methods():
    rng = cp.random.default_rng(0)
    assert not hasattr(rng, "normal") and not hasattr(rng, "permutation")
    x = rng.standard_normal(size=(3, 4), dtype=cp.float32)
    u = rng.random(size=(5,), dtype=cp.float32)
    v = rng.uniform(0.0, 2.0, size=(5,), dtype=cp.float32)  # numpy's uniform has no dtype
    i = rng.integers(0, 10, size=(4,))
    assert isinstance(x, cp.ndarray) and (x.shape, x.dtype) == ((3, 4), np.float32)
    assert u.dtype == np.float32 and v.dtype == np.float32 and i.dtype == np.int64
    again = cp.random.default_rng(0).standard_normal(size=(3, 4), dtype=cp.float32)
    np.testing.assert_array_equal(x.get(), again.get())


def test_legacy_random_functions():
    cp.random.seed(1)
    x = cp.random.randn(2, 3, dtype=cp.float32)
    cp.random.seed(1)
    assert x.dtype == np.float32 and bool((x == cp.random.randn(2, 3, dtype=cp.float32)).all())


def test_cuda_namespace():
    assert cp.cuda.runtime.getDeviceCount() == 1
    cp.cuda.get_current_stream().synchronize()
    cp.cuda.Device(0).synchronize()
    start, end = cp.cuda.Event(), cp.cuda.Event()
    start.record()
    end.record()
    assert cp.cuda.get_elapsed_time(start, end) >= 0
    assert not hasattr(cp.cuda, "CUDARuntimeError")  # real CuPy keeps it in cuda.runtime


def test_standin_defines_only_real_cupy_names():
    names = stored_names()
    public = lambda ns: {n for n in ns if not n.startswith("_")}
    own_api = {"transfers", "device_ops", "fused_calls"}
    assert public(vars(cp)) - set(names["module"]) == own_api
    assert public(vars(cp.random)) <= set(names["random"])
    assert public(vars(cp.cuda)) <= set(names["cuda"])
    assert public(vars(cp.random.Generator)) <= set(names["generator"])
    machinery = {"_a", "_wrap", "_host", "__getattr__", "__weakref__"}
    assert set(vars(cp.ndarray)) - machinery <= set(names["ndarray"])
    assert public(vars(cp.ufunc)) <= set(names["ufunc"])


# --- CuPy's results -------------------------------------------------------------------

def test_reductions_and_integer_indexing_give_0d_device_arrays(a):
    for r in (a.sum(), cp.sum(a), a.max(), a.argmax(), a.mean(), cp.dot(a[0], a[1]), a[1, 2],
              cp.allclose(a, a), cp.count_nonzero(a)):
        assert isinstance(r, cp.ndarray) and r.shape == ()
    view = a[1, 2]
    view += 100  # a 0-d view, as in CuPy
    assert float(a[1, 2]) == 105.0


def test_results_equal_numpy(a):
    h = a.get()
    b = cp.asarray(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))
    hb = b.get()
    pairs = [
        (cp.exp(a) * b - 1, np.exp(h) * hb - 1),
        (cp.log1p(a) / (b + 3), np.log1p(h) / (hb + 3)),
        (cp.where(b > 0, a, -a), np.where(hb > 0, h, -h)),
        (a @ b.T, h @ hb.T),
        (cp.matmul(a, b.T), np.matmul(h, hb.T)),
        (a.sum(axis=0, keepdims=True), h.sum(axis=0, keepdims=True)),
        (a.reshape(3, 2).T, h.reshape(3, 2).T),
        (cp.maximum(b, 0), np.maximum(hb, 0)),
        (a[:, [0, 2]], h[:, [0, 2]]),
        (a[b > 0], h[hb > 0]),
        (cp.zeros_like(a) + cp.arange(3), np.zeros_like(h) + np.arange(3)),
    ]
    for got, want in pairs:
        assert isinstance(got, cp.ndarray)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got.get(), want, rtol=1e-6)


def test_add_at_sums_repeated_indices(monkeypatch):
    target = cp.zeros(4, dtype=cp.float32)
    cp.add.at(target, cp.asarray([0, 1, 1, 3, 3, 3]), cp.ones(6, dtype=cp.float32))
    np.testing.assert_array_equal(target.get(), [1, 2, 0, 3])
    from tinygan import backend
    # Install the stand-in for this test only (monkeypatch restores what conftest set up).
    monkeypatch.setattr(backend, "_cuda_module", cp)
    monkeypatch.setattr(backend, "_cuda_reason", None)
    monkeypatch.setattr(backend, "_cuda_probed", True)
    rows = cp.zeros((3, 2))
    backend.scatter_add(rows, cp.asarray([2, 2]), cp.ones((2, 2)))
    np.testing.assert_array_equal(rows.get(), [[0, 0], [0, 0], [2, 2]])


def test_unary_operators_on_0d_arrays_stay_on_device(a):
    s = a.sum()
    for r in (-s, abs(s), +s, ~cp.asarray(True)):
        assert isinstance(r, cp.ndarray) and r.shape == ()


def test_inplace_operators_write_in_place(a):
    row = a[0]
    row *= 10
    a[1] += a[0]
    a[:, 0] = 7
    np.testing.assert_array_equal(a.get(), [[7, 10, 20], [7, 14, 25]])
    out = cp.empty((2, 3), dtype=cp.float32)
    assert cp.exp(a, out=out) is out and np.exp(a, out=out) is out
    assert cp.asarray(a) is a and cp.array(a) is not a


def test_iteration_yields_device_rows_without_transfers(a):
    with cp.transfers.counting() as n:
        rows = list(a)
        assert len(a) == 2 and all(isinstance(r, cp.ndarray) and r.shape == (3,) for r in rows)
    assert n.device_to_host == 0


# --- transfers --------------------------------------------------------------------

@pytest.mark.parametrize("transfer", [
    lambda a: a.get(), lambda a: cp.asnumpy(a), lambda a: a[0, 0].item(), lambda a: a.tolist(),
    lambda a: float(a.sum()), lambda a: int(a[0, 1]), lambda a: bool(a[0, 1]),
    lambda a: repr(a), lambda a: f"{a.sum():.2f}", lambda a: pickle.dumps(a),
])
def test_device_to_host_transfers_are_counted(a, transfer):
    with cp.transfers.counting() as n:
        transfer(a)
    assert (n.device_to_host, n.host_to_device) == (1, 0)


def test_device_work_transfers_nothing(a):
    with cp.transfers.counting() as n, cp.transfers.forbid():
        b = (cp.exp(a) - a.mean()) @ a.T
        b = b[0] + a.sum(axis=1)
        c = copy.deepcopy(b).astype(cp.float64)
        c[0] = a.max()
        assert isinstance(c.shape, tuple) and c.ndim == 1 and c.size == 2
    assert (n.device_to_host, n.host_to_device) == (0, 0)


def test_forbid_names_the_transfer(a):
    with cp.transfers.forbid(), pytest.raises(RuntimeError, match=r"float\(\)"):
        float(a.sum())


def test_host_to_device_is_counted_and_copies():
    host = np.zeros(3, np.float32)
    with cp.transfers.counting() as n:
        d = cp.asarray(host)
        cp.asarray(d)
        cp.zeros(3)
    assert (n.host_to_device, n.device_to_host) == (1, 0)
    host[0] = 5  # the device copy does not see later host writes
    assert d.get()[0] == 0
    before = cp.transfers.host_to_device
    restored = pickle.loads(pickle.dumps(d))
    assert cp.transfers.host_to_device == before + 1 and isinstance(restored, cp.ndarray)


def test_reset():
    cp.asarray([1.0]).get()
    cp.transfers.reset()
    assert cp.transfers.device_to_host == cp.transfers.host_to_device == 0


# --- device ops ---------------------------------------------------------------------

def ops(work, a):
    with cp.device_ops.counting() as n:
        work(a)
    return n.count


@pytest.mark.parametrize("work, count", [
    # views are free
    (lambda a: a.T, 0), (lambda a: a.reshape(3, 2), 0), (lambda a: a[1:, ::2], 0),
    (lambda a: a[0, 1], 0), (lambda a: a.ravel(), 0), (lambda a: cp.expand_dims(a, 0), 0),
    (lambda a: cp.broadcast_to(a, (4, 2, 3)), 0), (lambda a: a.transpose(1, 0), 0),
    (lambda a: list(a), 0), (lambda a: cp.asarray(a), 0), (lambda a: +a, 0),
    (lambda a: a.astype(cp.float32, copy=False), 0),
    (lambda a: cp.empty((3, 3)), 0),                     # memory, no kernel
    # one kernel each
    (lambda a: cp.exp(a), 1), (lambda a: np.exp(a), 1), (lambda a: a * 2, 1),
    (lambda a: 2 - a, 1), (lambda a: a.__imul__(2), 1), (lambda a: -a, 1),
    (lambda a: cp.multiply(a, 2, out=a), 1), (lambda a: a > 1, 1),
    (lambda a: a.sum(), 1), (lambda a: cp.mean(a, axis=0), 1), (lambda a: a.argmax(), 1),
    (lambda a: a.var(), 1), (lambda a: cp.add.reduce(a), 1), (lambda a: a.max(out=a[0, 0]), 1),
    (lambda a: a @ a.T, 1), (lambda a: cp.dot(a, a.T), 1), (lambda a: cp.einsum("ij->i", a), 1),
    (lambda a: cp.zeros(3), 1), (lambda a: cp.ones_like(a), 1), (lambda a: cp.arange(4), 1),
    (lambda a: cp.random.default_rng(0).standard_normal((2, 2)), 1),
    (lambda a: a.astype(cp.float64), 1), (lambda a: a.copy(), 1), (lambda a: copy.copy(a), 1),
    (lambda a: cp.ascontiguousarray(a.T), 1), (lambda a: a.T.reshape(-1), 1),
    (lambda a: cp.concatenate([a, a, a]), 1), (lambda a: cp.stack([a, a]), 1),
    (lambda a: a[:, cp.asarray([0, 2])], 2),             # the index's host copy, the gather
    (lambda a: a[a > 2], 2),                             # the mask, the gather
    (lambda a: cp.take(a, a[0].astype(cp.int32)), 2),    # the astype, the take
    (lambda a: a.__setitem__((0, slice(None)), 7.0), 1), (lambda a: a.fill(0), 1),
    (lambda a: cp.add.at(a, (0, 0), 1.0), 1), (lambda a: cp.copyto(a, a[::-1]), 1),
    (lambda a: cp.where(a, a, 0.0), 1), (lambda a: a.clip(1, 2), 1),
    (lambda a: cp.allclose(a, a), 1),
    # copies between host and device
    (lambda a: a.get(), 1), (lambda a: float(a[0, 0]), 1), (lambda a: cp.asarray([1.0]), 1),
])
def test_device_ops_are_counted_per_kernel(a, work, count):
    assert ops(work, a) == count


def test_a_fused_function_is_one_op(a):
    @cp.fuse
    def axpy(x, y):
        return 2 * x + y

    @cp.fuse(kernel_name="squared_diff")
    def squared_diff(x, y):
        return (x - y) * (x - y)

    assert ops(lambda a: axpy(a, a), a) == 1
    assert ops(lambda a: squared_diff(a, a), a) == 1
    assert ("array", a.dtype.str, 2) in next(iter(cp.fused_calls[axpy.__wrapped__]))


def test_a_fused_function_takes_what_cupy_fuse_takes(a):
    @cp.fuse
    def scale(x, factor):
        return x * factor

    assert scale(a, 2.0).shape == a.shape
    assert (float, ) == tuple(t for t in next(iter(cp.fused_calls[scale.__wrapped__]))
                              if t is float)
    with pytest.raises(TypeError, match="Invalid argument type for 'scale': \\(list\\)"):
        scale(a, [2.0])
    with pytest.raises(TypeError, match="positional arguments only"):
        scale(a, factor=2.0)


def test_device_ops_by_name_and_reset(a):
    with cp.device_ops.counting() as n:
        b = cp.exp(a) * a                 # exp, __mul__
        b.sum(axis=0), b.sum()            # ndarray.sum twice
        b[0] = 1                          # ndarray.__setitem__
        b.get()
    assert n.count == 6
    assert n.by_name == {"exp": 1, "ndarray.__mul__": 1, "ndarray.sum": 2,
                         "ndarray.__setitem__": 1, "to host: .get()": 1}
    a.sum()
    assert cp.device_ops.count > 0
    cp.device_ops.reset()
    assert cp.device_ops.count == 0 and not cp.device_ops.by_name


def test_transfers_count_once_as_device_ops(a):
    with cp.transfers.counting() as t, cp.device_ops.counting() as n:
        with cp.transfers.counting():     # nested transfer counters: still one op per copy
            a.get()
    assert (t.device_to_host, n.count) == (1, 1)


# --- helpers CuPy has and numpy lacks ---------------------------------------------------

def test_array_module_and_asnumpy(a):
    assert cp.get_array_module(a, 1.0) is cp and cp.get_array_module(np.ones(2)) is np
    h = np.ones(2)
    assert cp.asnumpy(h) is h


def test_memory_pool_counts_live_buffers():
    pool = cp.get_default_memory_pool()
    gc.collect()
    before = pool.used_bytes()
    x = cp.zeros((256, 256), dtype=cp.float32)
    view = x[:10]
    assert pool.used_bytes() == before + x.nbytes  # the view shares its base's bytes
    del x, view
    gc.collect()
    assert pool.used_bytes() == before
    pool.free_all_blocks()


# --- the names file tracks real CuPy ----------------------------------------------------

def test_names_file_matches_installed_cupy():
    try:
        import cupy  # noqa: F401
    except Exception as exc:  # not installed, or a broken CUDA library underneath
        pytest.skip(f"real CuPy is not importable here ({type(exc).__name__}); cannot check for drift")
    script = os.path.join(HERE, "cupy_standin", "dump_names.py")
    fresh = json.loads(subprocess.run([sys.executable, script, "--stdout"], check=True,
                                      capture_output=True, text=True).stdout)
    stored = stored_names()
    same_build = fresh["cupy_build"] == stored["cupy_build"]
    for key in stored:
        if key in ("cupy_version", "cupy_build"):
            continue
        added, removed = set(fresh[key]) - set(stored[key]), set(stored[key]) - set(fresh[key])
        if not same_build:
            added = set()   # another CUDA build may add names; the stand-in needs none of them
        assert not (added or removed), (
            f"CuPy {fresh['cupy_version']} ({fresh['cupy_build']}) differs from the names in "
            f"cupy_names.json (CuPy {stored['cupy_version']}, {stored['cupy_build']}) in "
            f"{key!r}: added {sorted(added)}, removed {sorted(removed)}. "
            "Run tests/cupy_standin/dump_names.py and review the stand-in.")


# --- CuPy wraps out-of-bounds integer-array indices: the stand-in refuses them -----------

WRAPS = "Real CuPy would silently wrap this index"


def rows():
    return cp.asarray(np.arange(12, dtype=np.float32).reshape(3, 4))


@pytest.mark.parametrize("use", [
    lambda a: a[cp.asarray([0, 3])],                          # rows: 3 is past the end
    lambda a: a[:, cp.asarray([4])],                          # columns
    lambda a: a[cp.asarray([-4])],                            # below -n
    lambda a: a[[0, 5]],                                      # a list is an index array too
    lambda a: a[cp.asarray(3)],                               # a 0-d index array
    lambda a: a[..., cp.asarray([1, 9])],
    lambda a: a[cp.asarray([True, False, True]), cp.asarray([0, 4])],
    lambda a: a.__setitem__(cp.asarray([3]), 1.0),
    lambda a: a.__setitem__((slice(None), cp.asarray([-5])), cp.zeros((3, 1), dtype=cp.float32)),
    lambda a: cp.add.at(a, cp.asarray([0, 3]), 1.0),
    lambda a: cp.maximum.at(a, (cp.asarray([0]), cp.asarray([7])), 1.0),
    lambda a: a.scatter_add(cp.asarray([3]), 1.0),
    lambda a: a.scatter_max(cp.asarray([-4]), 1.0),
    lambda a: a.scatter_min((slice(None), cp.asarray([4])), 1.0),
    lambda a: cp.take(a, cp.asarray([12])),                   # flattened: 12 elements
    lambda a: cp.take(a, cp.asarray([0, 4]), axis=1),
    lambda a: a.take(cp.asarray([3]), axis=0),
    lambda a: a.take(indices=cp.asarray([-4]), axis=0),
    lambda a: cp.take_along_axis(a, cp.asarray([[0], [1], [4]]), axis=1),
    lambda a: cp.put_along_axis(a, cp.asarray([[3, 0, 0, 0]]), 0.0, axis=0),
    lambda a: cp.put(a, cp.asarray([12]), 0.0),               # CuPy's default mode is 'wrap'
    lambda a: a.put(cp.asarray([-13]), 0.0),
    lambda a: cp.add.reduceat(a, cp.asarray([0, 3])),
    lambda a: cp.compress(cp.asarray([True, False, False, True]), a, axis=0),  # CuPy: take(nonzero)
    lambda a: a.compress(cp.asarray([False] * 12 + [True])),
])
def test_out_of_bounds_integer_indices_are_refused(use):
    with pytest.raises(IndexError, match=WRAPS):
        use(rows())


def test_the_out_of_bounds_message_names_index_axis_and_size():
    with pytest.raises(IndexError, match=r"index 7 is out of bounds for axis 1 with size 4.*"
                                         r"validate indices on the host"):
        rows()[:, cp.asarray([0, 7])]


def test_in_bounds_and_negative_indices_still_work():
    a, h = rows(), np.arange(12, dtype=np.float32).reshape(3, 4)
    i, hi = cp.asarray([0, -1, -3, 2]), np.array([0, -1, -3, 2])
    for got, want in [(a[i], h[hi]), (a[:, cp.asarray([-4, 3])], h[:, [-4, 3]]), (a[[-1]], h[[-1]]),
                      (a[cp.asarray(-1)], h[np.array(-1)]),
                      (cp.take(a, cp.asarray([-12, 11])), h.take([-12, 11])),
                      (a.take(cp.asarray([-1]), axis=1), h.take([-1], axis=1)),
                      (cp.take_along_axis(a, cp.asarray([[3], [-4], [0]]), axis=1),
                       np.take_along_axis(h, np.array([[3], [-4], [0]]), axis=1)),
                      (cp.compress(cp.asarray([True, False, True]), a, axis=0), h[[0, 2]]),
                      (a.compress(cp.asarray([False, True]), axis=1), h[:, [1]])]:
        np.testing.assert_array_equal(got.get(), want)
    a[cp.asarray([-1, 0])] = cp.zeros((2, 4), dtype=cp.float32)
    h[[-1, 0]] = 0
    cp.add.at(a, cp.asarray([-2, -2]), 1.0)
    np.add.at(h, [-2, -2], 1.0)
    cp.put(a, cp.asarray([-12]), 5.0)
    np.put(h, [-12], 5.0)
    np.testing.assert_array_equal(a.get(), h)


def test_boolean_masks_are_not_integer_indices():
    a, h = rows(), np.arange(12, dtype=np.float32).reshape(3, 4)
    mask, hmask = a > 4, h > 4
    np.testing.assert_array_equal(a[mask].get(), h[hmask])
    np.testing.assert_array_equal(a[cp.asarray([True, False, True])].get(), h[[True, False, True]])
    a[mask] = 0.0
    h[hmask] = 0.0
    np.testing.assert_array_equal(a.get(), h)
    with pytest.raises(IndexError, match="boolean index did not match") as info:  # numpy's own error
        a[cp.asarray([True, False])]
    assert WRAPS not in str(info.value)


def test_put_with_an_explicit_mode_does_what_the_caller_asked():
    a = cp.zeros(4)
    cp.put(a, cp.asarray([5]), 1.0, mode="wrap")              # wrapping asked for: same on CuPy
    cp.put(a, cp.asarray([9]), 2.0, mode="clip")
    np.testing.assert_array_equal(a.get(), [0, 1, 0, 2])
    with pytest.raises(IndexError) as info:                   # CuPy checks 'raise' on the device too
        cp.put(a, cp.asarray([9]), 1.0, mode="raise")
    assert WRAPS not in str(info.value)


# --- writes into broadcast (stride-0) views race on CuPy: the stand-in refuses them --------

RACES = r"write into a broadcast view \(stride 0 along axis [01]\).*on CuPy .* races.*ascontiguousarray"


def broadcast():
    return cp.broadcast_to(cp.arange(4, dtype=cp.float32), (3, 4))  # rows share one buffer


@pytest.mark.parametrize("write", [
    lambda b: b.__setitem__(Ellipsis, 1.0),
    lambda b: b.__setitem__((slice(None), 0), 1.0),           # column 0: three rows, one element
    lambda b: b.__setitem__(cp.asarray([0, 1]), cp.zeros((2, 4), dtype=cp.float32)),
    lambda b: b.__iadd__(1.0),
    lambda b: b.__imul__(b),
    lambda b: cp.exp(cp.ones((3, 4), dtype=cp.float32), out=b),
    lambda b: cp.add(b, 1.0, b),                              # a positional output
    lambda b: np.exp(cp.ones((3, 4), dtype=cp.float32), out=b),
    lambda b: cp.matmul(cp.ones((3, 2), dtype=cp.float32), cp.ones((2, 4), dtype=cp.float32), out=b),
    lambda b: cp.ones((3, 4, 2), dtype=cp.float32).sum(axis=2, out=b),
    lambda b: b.fill(0.0),
    lambda b: b.sort(axis=1),
    lambda b: cp.copyto(b, cp.zeros((3, 4), dtype=cp.float32)),
    lambda b: cp.put_along_axis(b, cp.zeros((3, 1), dtype=cp.int64), 1.0, axis=1),
    lambda b: cp.put(b, cp.asarray([0]), 1.0),
    lambda b: cp.add.at(b, cp.asarray([0]), 1.0),
    lambda b: cp.add.at(b, (slice(None), 0), 1.0),
    lambda b: b.scatter_add(cp.asarray([1]), 1.0),
    lambda b: b.T.__isub__(1.0),                              # the stride-0 axis moved: axis 1 now
])
def test_writes_into_broadcast_views_are_refused(write):
    b = broadcast()
    with pytest.raises(ValueError, match=RACES):
        write(b)
    np.testing.assert_array_equal(b.get()[0], [0, 1, 2, 3])   # nothing was written


def test_the_broadcast_message_names_the_axis_and_the_rule():
    b = cp.broadcast_to(cp.zeros((3, 1)), (3, 5))
    with pytest.raises(ValueError, match=r"cupy_standin: write into a broadcast view \(stride 0 along "
                                         r"axis 1\) by __setitem__"):
        b[:] = 1.0


def test_broadcast_views_are_writable_where_no_element_is_written_twice():
    base = cp.arange(4, dtype=cp.float32)
    b = cp.broadcast_to(base, (3, 4))
    b[1] = cp.asarray([5, 6, 7, 8], dtype=cp.float32)        # one row: each element once, as on CuPy
    np.testing.assert_array_equal(base.get(), [5, 6, 7, 8])
    one = cp.broadcast_to(base, (1, 4))                       # a length-1 axis cannot race
    one += 1
    np.testing.assert_array_equal(base.get(), [6, 7, 8, 9])
    x, y = cp.broadcast_arrays(cp.zeros((2, 1)), cp.zeros((1, 3)))
    with pytest.raises(ValueError, match="broadcast view"):
        x[...] = 1.0
    np.testing.assert_array_equal((b + 1).get(), np.broadcast_to([7, 8, 9, 10], (3, 4)))  # reads are fine


def test_writes_into_contiguous_and_strided_views_still_work():
    a, h = rows(), np.arange(12, dtype=np.float32).reshape(3, 4)
    for act in (lambda x: x[:, ::2].__iadd__(1), lambda x: x.T.__imul__(2), lambda x: x[::-1, 1].fill(0),
                lambda x: x.__setitem__((slice(None), [1, 3]), -x[:, [0, 2]])):
        act(a)
        act(h)
    cp.exp(a[:, :2], out=a[:, 2:])
    np.exp(h[:, :2], out=h[:, 2:])
    cp.copyto(a[1], cp.zeros(4, dtype=cp.float32))
    h[1] = 0
    np.testing.assert_allclose(a.get(), h)


def test_a_broadcast_view_counts_its_base_bytes_once():
    pool = cp.get_default_memory_pool()
    gc.collect()
    before = pool.used_bytes()
    x = cp.zeros(1024, dtype=cp.float32)
    b = cp.broadcast_to(x, (64, 1024))
    assert pool.used_bytes() == before + x.nbytes
    del x, b
    gc.collect()
    assert pool.used_bytes() == before


# --- a[idx] = v with a repeated element is undefined on CuPy: the stand-in refuses it --------

REPEATS = r"writes .* more than once.*undefined.*cupyx\.scatter_add / cupy\.add\.at"


@pytest.mark.parametrize("write", [
    lambda a: a.__setitem__(cp.asarray([0, 0]), cp.asarray([[1.0] * 4, [2.0] * 4], dtype=cp.float32)),
    lambda a: a.__setitem__([1, -2], cp.ones((2, 4), dtype=cp.float32)),    # -2 is row 1 of 3
    lambda a: a.__setitem__((cp.asarray([0, 0]), cp.asarray([1, 1])), cp.asarray([1.0, 2.0])),
    lambda a: a.__setitem__((slice(None), cp.asarray([2, 2])), cp.ones((3, 2), dtype=cp.float32)),
    lambda a: a.__setitem__((cp.asarray([True, False, True]), cp.asarray([[3], [3]])),   # a mask's rows
                            cp.ones((2, 2), dtype=cp.float32)),                       # and a column
    lambda a: cp.put_along_axis(a, cp.asarray([[0, 0], [1, 2], [3, 3]]),              # along axis 1
                                cp.ones((3, 2), dtype=cp.float32), axis=1),
    lambda a: cp.put(a, cp.asarray([0, 5, -12]), cp.asarray([1.0, 2.0, 3.0], dtype=cp.float32)),
])
def test_setitem_with_a_repeated_element_is_refused(write):
    a = rows()
    with pytest.raises(ValueError, match=REPEATS):
        write(a)
    np.testing.assert_array_equal(a.get(), np.arange(12).reshape(3, 4))   # nothing was written


def test_the_repeat_message_names_the_element():
    a = rows()
    with pytest.raises(ValueError, match=r"a\[index\] = value writes element \(0, 2\) of the "
                                         r"indexed axes more than once"):
        a[cp.asarray([1, 0, 0]), cp.asarray([0, 2, 2])] = cp.asarray([1.0, 2.0, 3.0], dtype=cp.float32)


def test_setitem_without_repeated_elements_still_works():
    a, h = rows(), np.arange(12, dtype=np.float32).reshape(3, 4)
    v = cp.asarray([7.0, 8.0], dtype=cp.float32)
    a[cp.asarray([0, 0]), cp.asarray([1, 2])] = v             # rows repeat, (row, col) pairs do not
    h[[0, 0], [1, 2]] = [7.0, 8.0]
    a[cp.asarray([2, 2]), 3] = 9.0                            # one value for every write: defined
    h[[2, 2], 3] = 9.0
    a[cp.asarray([1, 1])] = cp.asarray([5.0], dtype=cp.float32)
    h[[1, 1]] = 5.0
    a[a > 8] = -a[a > 8]                                      # a mask never repeats
    h[h > 8] = -h[h > 8]
    np.testing.assert_array_equal(a.get(), h)
    np.testing.assert_array_equal(a[cp.asarray([2, 2, 0])].get(), h[[2, 2, 0]])   # reading repeats is fine


def test_ufunc_at_with_repeated_indices_accumulates():
    a = cp.zeros((3, 2), dtype=cp.float32)
    cp.add.at(a, cp.asarray([2, 0, 2, -1]), cp.ones((4, 2), dtype=cp.float32))
    cp.maximum.at(a, (cp.asarray([1, 1]), cp.asarray([0, 0])), cp.asarray([4.0, 9.0], dtype=cp.float32))
    a.scatter_add(cp.asarray([0, 0]), 1.0)
    np.testing.assert_array_equal(a.get(), [[3, 3], [9, 0], [3, 3]])


# --- ufunc methods as CuPy 14 has them (cupy/_core/_kernel.pyx, class ufunc) ---------------

@pytest.mark.parametrize("name, dtype", [
    ("add", np.float32), ("add", np.float64), ("add", np.int32), ("subtract", np.int32),
    ("maximum", np.float32), ("minimum", np.float64), ("bitwise_and", np.int64),
    ("bitwise_or", np.uint32), ("bitwise_xor", np.int64),
])
def test_ufunc_at_works_for_the_ufuncs_with_a_scatter_op(name, dtype):
    h = np.arange(5).astype(dtype)
    a = cp.asarray(h)
    index, values = [0, 3, 3, -1], np.array([2, 5, 1, 3], dtype=dtype)
    getattr(cp, name).at(a, cp.asarray(index), cp.asarray(values))
    getattr(np, name).at(h, index, values)
    np.testing.assert_array_equal(a.get(), h)


@pytest.mark.parametrize("name", ["multiply", "divide", "power", "logaddexp", "fmax", "negative"])
def test_ufunc_at_is_not_implemented_for_the_others(name):
    cupy_name = {"divide": "true_divide"}.get(name, name)     # CuPy's cupy.divide is true_divide
    with pytest.raises(NotImplementedError, match=rf"^`cupy_{cupy_name}\.at` is not supported yet$"):
        getattr(cp, name).at(cp.ones(3), cp.asarray([0]), 2.0)


def test_ufunc_at_takes_only_the_dtypes_of_cudas_atomics():
    with pytest.raises(TypeError, match=r"cupy\.add\.at only supports int32, float16, float32, "
                                        r"float64, uint32, uint64 as data type.*int64"):
        cp.add.at(cp.zeros(3, dtype=cp.int64), cp.asarray([0]), 1)
    with pytest.raises(TypeError, match=r"cupy\.subtract\.at only supports int32, uint32"):
        cp.subtract.at(cp.zeros(3, dtype=cp.float32), cp.asarray([0]), 1.0)
    with pytest.raises(TypeError, match=r"cupy\.maximum\.at"):
        cp.zeros(3, dtype=cp.float16).scatter_max(cp.asarray([0]), 1.0)
    counts = cp.zeros(3, dtype=cp.int64)                      # not the atomic path: allowed on CuPy
    cp.add.at(counts, 1, 1)                                   # a scalar index adds in place
    cp.add.at(counts, cp.asarray([True, False, True]), 1)     # a lone mask has its own kernel
    np.testing.assert_array_equal(counts.get(), [1, 1, 1])


def test_reduce_and_accumulate_exist_only_for_add_and_multiply():
    h = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    a = cp.asarray(h)
    for got, want in [(cp.add.reduce(a), h.sum(axis=0)), (cp.multiply.reduce(a, axis=1), h.prod(axis=1)),
                      (cp.add.reduce(a, axis=None, keepdims=True), h.sum(keepdims=True)),
                      (cp.add.accumulate(a), h.cumsum(axis=0)),
                      (cp.multiply.accumulate(a, axis=1), h.cumprod(axis=1)),
                      (cp.add.reduceat(a, cp.asarray([0, 2]), axis=1), np.add.reduceat(h, [0, 2], axis=1))]:
        assert isinstance(got, cp.ndarray)
        np.testing.assert_allclose(got.get(), want)
    for name, method, args in [("maximum", "reduce", ()), ("logical_or", "reduce", ()),
                               ("subtract", "accumulate", ()), ("maximum", "accumulate", ()),
                               ("multiply", "reduceat", (cp.asarray([0]),))]:
        with pytest.raises(NotImplementedError, match=rf"`cupy_{name}\.{method}` is not supported yet"):
            getattr(getattr(cp, name), method)(a, *args)


def test_outer_exists_for_every_ufunc():
    x, y = cp.asarray([1.0, 4.0]), cp.asarray([2.0, 3.0, 5.0])
    for name in ("add", "subtract", "maximum", "arctan2", "logaddexp"):
        got = getattr(cp, name).outer(x, y)
        np.testing.assert_allclose(got.get(), getattr(np, name).outer(x.get(), y.get()))


def test_flags_are_cupys_three():
    """CuPy's flags have c_contiguous, f_contiguous and owndata only: code that reads
    numpy's ``flags.writeable`` would raise AttributeError on a real GPU."""
    a = cp.zeros((2, 3))
    assert (a.flags.c_contiguous, a.T.flags.c_contiguous, a.T.flags.f_contiguous) == (True, False, True)
    assert a.flags.owndata and not a[0].flags.owndata and a.flags["C_CONTIGUOUS"]
    with pytest.raises(AttributeError):
        a.flags.writeable
