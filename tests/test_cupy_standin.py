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
    assert public(vars(cp)) - set(names["module"]) == {"transfers"}  # the stand-in's own API
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
    for key in stored:
        if key == "cupy_version":
            continue
        added, removed = set(fresh[key]) - set(stored[key]), set(stored[key]) - set(fresh[key])
        assert not (added or removed), (
            f"CuPy {fresh['cupy_version']} differs from the names in cupy_names.json (CuPy "
            f"{stored['cupy_version']}) in {key!r}: added {sorted(added)}, removed {sorted(removed)}. "
            "Run tests/cupy_standin/dump_names.py and review the stand-in.")
