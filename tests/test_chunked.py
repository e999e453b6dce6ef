"""backend.fuse on the CPU, split into row blocks over the thread pool (tinygan.threads): the
split call equals the whole one bit for bit, for every fused function of the library as
training calls it, and for the awkward cases (dtypes, odd sizes, sizes around the threshold,
strided and broadcast operands, ``out=`` aliasing); what must not be split is not; and a
GAN's weights after training are the same with the pool on and off.

``checked`` replaces backend._in_pieces with a referee: each call it sees is run whole on a
copy of its arguments and split on another copy (copies that keep which arguments share
memory, and how), the results and every argument's memory compared byte for byte, then the
call itself runs as it would have. CHUNK_MIN is lowered to 1 so that the small arrays of a
test take the split path.
"""
import numpy as np
import pytest

import bench_programs
import tinygan as tg
from tinygan import backend, threads


@pytest.fixture
def pool():
    """A pool of 2 for the test (BLAS's threads too, as set_num_threads sets both)."""
    before_blas, before_pool = tg.get_num_threads(), threads.pool_size()
    tg.set_num_threads(2)
    yield
    tg.set_num_threads(before_blas)
    threads._size = before_pool      # the environment may have chosen it apart from BLAS's


@pytest.fixture
def checked(pool, monkeypatch):
    """Every split call refereed against the whole call; yields {name: "split"/"whole"}:
    what each fused function that was called did (split at least once: "split")."""
    monkeypatch.setattr(backend, "CHUNK_MIN", 1)
    seen = {}
    original = backend._in_pieces

    def referee(function, learned, args):
        plan = backend._plan_pieces(args)
        whole_args, whole_roots = clone(args)
        expected = function(np, *whole_args)
        if plan is not None and plan[1] not in learned:
            original(function, learned, clone(args)[0])       # learns the layout
        split_args, split_roots = clone(args)
        got = original(function, learned, split_args)
        split = plan is not None and learned[plan[1]] is not False
        if seen.get(function.__name__) != "split":
            seen[function.__name__] = "split" if split else "whole"
        same(got, expected, function.__name__)
        for a, b in zip(split_roots, whole_roots):
            same(a, b, function.__name__ + " (an argument, after the call)")
        return original(function, learned, args)

    monkeypatch.setattr(backend, "_in_pieces", referee)
    return seen


def clone(args):
    """Copies of the arrays in ``args`` that share memory as the originals do (views of one
    copy of each underlying buffer, at the same offsets and strides); and those buffers."""
    roots, copies = {}, []
    for a in args:
        if not isinstance(a, np.ndarray):
            copies.append(a)
            continue
        root = a
        while isinstance(root.base, np.ndarray):
            root = root.base
        if id(root) not in roots:
            assert root.flags.c_contiguous or root.flags.f_contiguous
            roots[id(root)] = (root, root.copy(order="A"))
        original, copy = roots[id(root)]
        offset = backend._address(a) - backend._address(original)
        copies.append(np.ndarray(a.shape, a.dtype, buffer=copy, offset=offset,
                                 strides=a.strides))
    return copies, [copy for _, copy in roots.values()]


def same(a, b, what):
    """Equal as values and layouts: None both, or arrays (or tuples of them) of the same
    dtype, shape, strides and bytes (-0.0 is not 0.0), NaN where the other has NaN. Only a
    NaN's sign may differ: of two NaNs an addition keeps one, and which one depends on the
    loop NumPy runs (its vector body or its scalar remainder, a contiguous or a strided
    loop), which a block of rows can change; as in any two NumPy builds or PyTorch's."""
    if a is None or b is None:
        assert a is None and b is None, what
        return
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b), what
        for x, y in zip(a, b):
            same(x, y, what)
        return
    assert (a.dtype, a.shape, a.strides) == (b.dtype, b.shape, b.strides), (
        what, a.dtype, a.shape, a.strides, b.dtype, b.shape, b.strides)
    if a.dtype.kind in "fc":
        nan = np.isnan(a)
        assert (nan == np.isnan(b)).all(), (what, "NaN in one, not in the other")
        a, b = np.where(nan, 0, a), np.where(nan, 0, b)
    bits = f"u{a.itemsize}" if a.dtype.kind != "c" else "u8"
    differ = np.ascontiguousarray(a).view(bits) != np.ascontiguousarray(b).view(bits)
    assert not differ.any(), (what, a.reshape(-1)[differ.reshape(-1)][:5],
                              b.reshape(-1)[differ.reshape(-1)][:5])


def awkward(dtype, shape, seed=0, scale=3.0):
    """Random values with 0, -0, ±inf, NaN, ±1e4 and subnormals among them."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e4, -1e4, 1e-40, -1e-40], dtype)
    x.reshape(-1)[:special.size] = special[:x.size]
    return x


# --- every fused function of the library, as training calls it ------------------------------

def train_a_little():
    """What calls the library's fused functions: two steps of the MNIST GAN (batch 16), a
    DCGAN step (BatchNorm2d), and Adam and sigmoid on float64 parameters."""
    trainer, real = bench_programs.load("gan_step").default_trainer("cpu", 16)
    for _ in range(2):
        trainer.train_step(real)
    dcgan = bench_programs.load("dcgan_step")
    step, _ = dcgan.tinygan_step("cpu", 4)
    step()
    w = tg.nn.Parameter(tg.randn(5, 3, dtype=tg.float64))
    opt = tg.optim.Adam([w])
    opt.zero_grad()
    w.sigmoid().sum().backward()
    opt.step()


def test_every_fused_function_splits_into_the_same_bits_as_training_calls_it(checked):
    train_a_little()
    library = {fused.__wrapped__.__name__ for fused in backend.FUSED if fused.chunk}
    missing = library - set(checked)
    assert not missing, (f"fused functions training did not call: {sorted(missing)}; "
                         "call them in train_a_little")
    kept_whole = {name for name in library if checked[name] != "split"}
    assert not kept_whole, f"never split, so never proven: {sorted(kept_whole)}"


# --- the awkward cases, on the library's own functions -------------------------------------

def library_calls(dtype, rows, columns=5):
    """{name: (fused function, its arguments)} for each fused function of a GAN step, on
    arrays of ``rows`` rows: awkward values, per-channel operands broadcast, ``out=``."""
    from tinygan.core.ops import _sigmoid_into
    from tinygan.nn.functional import _move_running_stats
    from tinygan.ops.activations import _leaky_rectify, _leaky_rectify_grad
    from tinygan.ops.losses import _bce_with_logits, _bce_with_logits_grad
    from tinygan.ops.normalization import (_normalize_affine, _normalize_grad,
                                           _variance_and_inv_std)
    from tinygan.optim.adam import _adam_update

    def x(seed, shape=(rows, columns)):
        return awkward(dtype, shape, seed)

    def channel(seed):
        return np.abs(awkward(dtype, (1, columns), seed)) + 0.5

    def target(seed):
        return np.random.default_rng(seed).random((rows, columns)).astype(dtype)

    flat = [x(s, (rows * columns,)) for s in range(4)]
    flat[3] = np.abs(flat[3])                        # v ≥ 0
    numbers = (0.5, 0.5, 0.999, 0.001, 2e-3, 1.2, 1e-8)
    return {
        "adam": (_adam_update, [*flat, np.empty(rows * columns, dtype), *numbers]),
        "normalize_affine": (_normalize_affine, [x(0), channel(1), channel(2), channel(3),
                                                 np.empty((rows, columns), dtype)]),
        "normalize_grad": (_normalize_grad, [x(0), x(1), channel(2), channel(3), channel(4),
                                             channel(5), -1 / rows, 1 / rows,
                                             np.empty((rows, columns), dtype)]),
        "variance": (_variance_and_inv_std, [np.abs(x(0, (rows,))), float(rows), 1e-5,
                                             np.empty(rows, dtype)]),
        "running_stats": (_move_running_stats, [x(0), 0.9, np.full((rows, 1), 0.1, dtype),
                                                x(1)]),
        "leaky": (_leaky_rectify, [x(0), 0.2]),
        "leaky_grad": (_leaky_rectify_grad, [x(0), x(1), 0.2]),
        "sigmoid": (_sigmoid_into, [x(0), np.empty((rows, columns), dtype)]),
        "bce": (_bce_with_logits, [x(0), target(1)]),
        "bce_grad": (_bce_with_logits_grad, [x(0), target(1), x(2)]),
    }


NAMES = sorted(library_calls(np.float32, 2))


def call_twice(fused, args):
    """The call as the referee checks it: twice, since the first of a layout runs whole."""
    with np.errstate(all="ignore"):
        fused(*clone(args)[0])
        fused(*args)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [2, 3, 7, 64, 1025])
@pytest.mark.parametrize("name", NAMES)
def test_split_equals_whole_for_dtypes_and_odd_sizes(checked, name, dtype, rows):
    fused, args = library_calls(dtype, rows)[name]
    call_twice(fused, args)
    assert checked == {fused.__wrapped__.__name__: "split"}


@pytest.mark.parametrize("name", NAMES)
def test_strided_operands_split_into_the_same_bits(checked, name):
    """Every array a strided view: a column-major copy, every other column, a transpose."""
    fused, args = library_calls(np.float32, 9, columns=6)[name]

    def strided(a, how):
        if not isinstance(a, np.ndarray) or a.ndim == 0:
            return a
        if how == "F":
            return np.asfortranarray(a)
        wide = np.repeat(a, 2, axis=-1)                    # every other element: a's values
        return wide[..., ::2] if how == "gaps" else np.ascontiguousarray(wide.T).T[..., ::2]

    for how in ("F", "gaps", "transposed"):
        call_twice(fused, [strided(a, how) for a in args])
    assert checked[fused.__wrapped__.__name__] == "split"


@pytest.mark.parametrize("rows", [7, 8])
def test_broadcast_operands_of_every_shape_split_into_the_same_bits(checked, rows):
    """A fused function over (rows, 6) with operands (6,), (1, 6), (rows, 1), 0-d, a NumPy
    number and a Python one; and one whose first argument is the broadcast one (kept whole)."""
    @backend.fuse
    def mix(xp, x, a, b, c, d, e, f):
        return (x * a + b) * c - d * e + f

    try:
        x = awkward(np.float32, (rows, 6))
        args = [x, awkward(np.float32, (6,), 1), awkward(np.float32, (1, 6), 2),
                awkward(np.float32, (rows, 1), 3), np.array(0.5, np.float32), np.float32(1.5),
                2.0]
        call_twice(mix, args)
        assert checked == {"mix": "split"}
        call_twice(mix, [args[1], x, *args[2:]])          # first (6,), then (rows, 6): whole
    finally:
        backend.FUSED.remove(mix)


def test_out_into_an_input_splits_and_partial_overlaps_stay_whole(checked):
    """out= the first argument itself splits (each block writes the rows it read); a second
    argument that overlaps the first at an offset (x[1:] beside x[:-1]) keeps the call whole,
    as does a cut argument that overlaps a whole one: a block would read rows another writes."""
    @backend.fuse
    def axpy_into(xp, x, a, y):
        xp.multiply(x, a, out=x)
        xp.add(x, y, out=x)

    try:
        x = awkward(np.float64, (9, 4))
        call_twice(axpy_into, [x, 2.0, x])                         # y is x: fine, split
        assert checked == {"axpy_into": "split"}
        base = awkward(np.float64, (10, 4))
        assert backend._plan_pieces([base[1:], 2.0, base[:-1]]) is None
        call_twice(axpy_into, [base[1:], 2.0, base[:-1]])
        row = base[:1]                                              # (1, 4): broadcast, whole
        assert backend._plan_pieces([base, 2.0, row]) is None
        call_twice(axpy_into, [base, 2.0, row])
    finally:
        backend.FUSED.remove(axpy_into)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sizes_around_the_threshold(pool, monkeypatch, dtype):
    """With the library's CHUNK_MIN: one element below it the call runs whole, from it on
    split (after the first, whole call of the layout), and the bits are the same."""
    from tinygan.ops.activations import _leaky_rectify
    splits = []
    original = backend._in_pieces

    def spy(function, learned, args):
        splits.append(args[0].size)
        return original(function, learned, args)

    monkeypatch.setattr(backend, "_in_pieces", spy)
    for size in (backend.CHUNK_MIN - 1, backend.CHUNK_MIN, backend.CHUNK_MIN + 1,
                 backend.CHUNK_MIN + 1023):
        x = awkward(dtype, (size,), seed=size)
        with np.errstate(invalid="ignore"):
            expected = x * np.where(x > 0, dtype(1), dtype(0.2))
            for _ in range(2):
                same(_leaky_rectify(x, 0.2), expected, size)
    assert splits == [s for s in (backend.CHUNK_MIN, backend.CHUNK_MIN + 1,
                                  backend.CHUNK_MIN + 1023) for _ in range(2)]


# --- what must not be split is not -----------------------------------------------------------

def test_a_function_that_reduces_returns_or_updates_a_whole_argument_is_never_split(checked):
    @backend.fuse
    def total(xp, x, y):
        return xp.sum(x * y)

    @backend.fuse
    def scale_into(xp, x, a):
        return xp.multiply(x, a, out=x)

    @backend.fuse
    def shift_and_count(xp, x, counter):      # counter, per channel, goes whole to each block
        xp.add(counter, 1, out=counter)
        return x + counter

    try:
        x = awkward(np.float64, (8, 3))
        counter = np.zeros((1, 3))
        for _ in range(3):
            call_twice(total, [x, x])
            assert scale_into(x, 1.0) is x
            call_twice(shift_and_count, [x, counter])
        assert checked == {"total": "whole", "scale_into": "whole", "shift_and_count": "whole"}
        assert (counter == 3).all()           # once per call_twice: the referee ran on copies
    finally:
        for function in (total, scale_into, shift_and_count):
            backend.FUSED.remove(function)


def test_chunk_false_and_a_pool_of_one_run_the_plain_call(monkeypatch):
    def never(*args):
        raise AssertionError("split")

    monkeypatch.setattr(backend, "_in_pieces", never)
    monkeypatch.setattr(backend, "CHUNK_MIN", 1)

    @backend.fuse(chunk=False)
    def double(xp, x):
        return x * 2

    before = threads.pool_size()
    try:
        threads._size = 2
        np.testing.assert_array_equal(double(np.ones((4, 2))), 2)
        threads._size = 1
        from tinygan.ops.activations import _leaky_rectify
        np.testing.assert_array_equal(_leaky_rectify(-np.ones((4, 2)), 0.5), -0.5)
    finally:
        threads._size = before
        backend.FUSED.remove(double)


def test_the_caller_s_errstate_reaches_every_block_and_errors_come_back(pool, monkeypatch):
    monkeypatch.setattr(backend, "CHUNK_MIN", 1)

    @backend.fuse
    def grow(xp, x):
        return xp.exp(x)

    try:
        x = np.zeros((64, 3), np.float32)
        x[-1] = 1000.0                                   # overflows in the last block only
        with np.errstate(over="ignore"):
            grow(x)
            assert np.isinf(grow(x)[-1]).all()
        with np.errstate(over="raise"):
            with pytest.raises(FloatingPointError):
                grow(x)
    finally:
        backend.FUSED.remove(grow)


def test_run_calls_every_piece_once_and_raises_the_first_error(pool):
    done = []
    threads.run(done.append, 9)
    assert sorted(done) == list(range(9))

    def fail(i):
        if i == 3:
            raise KeyError(i)

    with pytest.raises(KeyError):
        threads.run(fail, 6)
    done.clear()
    threads.run(done.append, 4)                          # the pool still works after it
    assert sorted(done) == list(range(4))


# --- training's results do not change ---------------------------------------------------------

def test_a_gan_s_weights_are_the_same_bits_with_the_pool_on_and_off(monkeypatch):
    """Three steps of the MNIST GAN at batch 64, pool off, then on with every fused call
    split (CHUNK_MIN 1): G's and D's weights, Adam's averages and BatchNorm's running
    statistics the same bits."""
    def train(pool_size):
        before = threads.pool_size()
        threads._size = pool_size
        try:
            trainer, real = bench_programs.load("gan_step").default_trainer("cpu", 64)
            for _ in range(3):
                trainer.train_step(real)
        finally:
            threads._size = before
        arrays = [t._data for net in (trainer.generator, trainer.discriminator)
                  for t in [*net.parameters(), *net.buffers()]]
        for opt in (trainer.opt_g, trainer.opt_d):
            arrays += [v for state in opt.state for v in state.values()
                       if isinstance(v, np.ndarray)]
        return arrays

    calls = []
    original = backend._in_pieces

    def counting(function, learned, args):
        calls.append(function.__name__)
        return original(function, learned, args)

    monkeypatch.setattr(backend, "_in_pieces", counting)
    monkeypatch.setattr(backend, "CHUNK_MIN", 1)
    off = train(1)
    assert calls == []
    on = train(2)
    assert "_adam_update" in calls and "_normalize_grad" in calls
    assert len(on) == len(off) > 20
    for a, b in zip(on, off):
        same(a, b, "weights after training")


# --- the threads tinygan takes ---------------------------------------------------------------

def test_set_num_threads_sets_blas_and_the_pool_together():
    before_blas, before_pool = tg.get_num_threads(), threads.pool_size()
    try:
        tg.set_num_threads(2)
        assert (tg.get_num_threads(), threads.pool_size()) == (2, 2)
        tg.set_num_threads(1)
        assert (tg.get_num_threads(), threads.pool_size()) == (1, 1)
    finally:
        tg.set_num_threads(before_blas)
        threads._size = before_pool


@pytest.mark.parametrize("variable, value, expected", [
    (None, None, "half"), ("OPENBLAS_NUM_THREADS", "2", 2), ("OPENBLAS_NUM_THREADS", "1", 1)])
def test_import_takes_half_the_cores_unless_the_environment_chose(variable, value, expected):
    """A learner's script that never sets threads gets half the cores for BLAS and the pool;
    a thread count in the environment is the user's choice, and BLAS and the pool follow it."""
    import json
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    if variable:
        env[variable] = value
    env["PYTHONPATH"] = str(bench_programs.BENCH.parent)
    code = ("import json, tinygan as tg; from tinygan import threads; "
            "print(json.dumps([tg.get_num_threads(), threads.pool_size()]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    if expected == "half":
        expected = max(1, (os.cpu_count() or 1) // 2)
    assert json.loads(out.stdout) == [expected, expected]
