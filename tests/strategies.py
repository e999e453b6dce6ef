"""Hypothesis strategies for tinygan's tests, in one file (MiniTorch's ``tensor_strategies``).

Everything here draws *host* data: shapes, float64 numpy arrays, dims and
indices. Tests move arrays to the device under test with :func:`to_tensor`, so a
strategy never needs to know whether "cuda" is CuPy or the stand-in.

Sizes are small on purpose: ``tg.gradcheck`` runs two forward passes per input
element, so shapes have at most 3 dims of at most 4 elements (64 elements).

Values are kept where central differences (eps 1e-6) are meaningful: in a safe
range, and, for ops with a kink or a tie, at least a margin away from it.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygan as tg

MAX_DIMS = 3
MAX_SIDE = 4
SAFE = 3.0          # |x| <= SAFE keeps exp, products and quotients well scaled
KINK_MARGIN = 0.1   # distance kept from a kink (relu/abs/leaky_relu at 0, clamp bounds)


# --- shapes ------------------------------------------------------------------------

def shapes(min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIDE):
    """Array shapes with 0..3 dims of sizes 1..4 (size-1 dims included)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims,
                            min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=MAX_DIMS):
    """A tuple of ``num_shapes`` shapes that broadcast together.

    Ranks may differ ((3,) with (2, 3)) and dims may be 1 against n ((2, 1) with (1, 4)).
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
        min_side=1, max_side=MAX_SIDE).map(lambda b: b.input_shapes)


def matmul_shapes():
    """Shape pairs for matmul with numpy's rules: 1-D operands and batched broadcasting."""
    return hnp.mutually_broadcastable_shapes(
        signature=np.matmul.signature, max_dims=2, min_side=1, max_side=3,
    ).map(lambda b: b.input_shapes)


def numel(shape):
    return int(np.prod(shape, dtype=np.int64))


# --- float64 host arrays ---------------------------------------------------------------

def floats(low=-SAFE, high=SAFE):
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)


def arrays(shape, low=-SAFE, high=SAFE):
    """float64 host arrays of ``shape`` with values in [low, high]."""
    return hnp.arrays(np.float64, shape, elements=floats(low, high))


def away_from(points, low=-SAFE, high=SAFE, margin=KINK_MARGIN):
    """Floats in [low, high] at least ``margin`` from every value of ``points``."""
    points = tuple(points)
    return floats(low, high).filter(lambda v: all(abs(v - p) > margin for p in points))


def nonzero_arrays(shape, margin=KINK_MARGIN, high=SAFE):
    """|x| in [margin, high]: away from the kink at 0 of relu, abs, leaky_relu (and a safe divisor)."""
    magnitude = floats(margin, high)
    element = st.tuples(magnitude, st.booleans()).map(lambda p: p[0] if p[1] else -p[0])
    return hnp.arrays(np.float64, shape, elements=element)


def positive_arrays(shape, low=0.5, high=SAFE):
    """Positive values, for log, sqrt and the base of a power."""
    return arrays(shape, low, high)


def arrays_away_from(shape, points, low=-SAFE, high=SAFE, margin=KINK_MARGIN):
    """Arrays whose every element keeps ``margin`` from each of ``points`` (e.g. clamp bounds)."""
    return hnp.arrays(np.float64, shape, elements=away_from(points, low, high, margin))


@st.composite
def distinct_arrays(draw, shape, spacing=0.5):
    """Arrays whose values are pairwise at least spacing - 0.2 apart: no ties for max/min.

    A permutation of a grid with a jitter of at most 0.1 per element.
    """
    n = numel(shape)
    order = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    jitter = draw(hnp.arrays(np.float64, (n,), elements=floats(-0.1, 0.1)))
    return ((order - (n - 1) / 2) * spacing + jitter).reshape(shape)


@st.composite
def separated_pair(draw, shape_a, shape_b, low=-3, high=2):
    """Two arrays that never come within 0.1 of each other, whatever broadcasting pairs up.

    a = integer + u with u in [0.05, 0.45], b = integer + v with v in [0.55, 0.95], so
    either may be the larger one, but maximum/minimum never meet a tie (or a near one).
    """
    def elements(lo, hi):
        return st.tuples(st.integers(low, high), floats(lo, hi)).map(lambda p: p[0] + p[1])
    a = draw(hnp.arrays(np.float64, shape_a, elements=elements(0.05, 0.45)))
    b = draw(hnp.arrays(np.float64, shape_b, elements=elements(0.55, 0.95)))
    return a, b


def softplus_values():
    """Values on both sides of softplus' linear threshold (20), but not within 0.01 of it."""
    return st.one_of(floats(-5.0, 5.0), floats(20.01, 40.0), floats(-40.0, -20.0), floats(5.0, 19.99))


# --- dims ------------------------------------------------------------------------------------

@st.composite
def dims(draw, shape):
    """A ``dim`` argument for ``shape``: None, an int (negative too) or a non-empty tuple."""
    ndim = len(shape)
    if ndim == 0:
        return None
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


def reduced_count(shape, dim):
    """How many elements a reduction over ``dim`` folds into one."""
    if dim is None:
        return numel(shape)
    axes = (dim,) if isinstance(dim, int) else dim
    return numel([shape[a] for a in axes])


@st.composite
def shape_and_dim(draw, min_dims=0):
    """(shape, dim) for the reductions."""
    shape = draw(shapes(min_dims=min_dims))
    return shape, draw(dims(shape))


# --- indices -------------------------------------------------------------------------------

@st.composite
def slices(draw, n):
    """A slice of a dim of length n: any start/stop (negative too), steps 1, 2 or none
    (PyTorch refuses negative steps, and so does tinygan)."""
    start = draw(st.none() | st.integers(-n, n))
    stop = draw(st.none() | st.integers(-n, n))
    step = draw(st.sampled_from([None, 1, 2, 3]))
    return slice(start, stop, step)


@st.composite
def basic_indices(draw, shape):
    """A tuple of ints (negative too) and slices for the leading dims."""
    count = draw(st.integers(1, len(shape)))
    parts = []
    for n in shape[:count]:
        if draw(st.booleans()):
            parts.append(draw(st.integers(-n, n - 1)))
        else:
            parts.append(draw(slices(n)))
    return tuple(parts)


@st.composite
def repeated_int_list(draw, n):
    """A list of indices into a dim of length n, negative ones included, with a repeat."""
    values = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=5))
    return values + [values[0]]


@st.composite
def advanced_indices(draw, shape):
    """Integer-array indexing with repeats, alone or mixed with ints and slices in a tuple."""
    kind = draw(st.sampled_from(["list", "list_slice", "int_list", "list_list", "slice_list"]
                                if len(shape) >= 2 else ["list"]))
    if kind == "list":
        return draw(repeated_int_list(shape[0]))
    if kind == "list_slice":
        return (draw(repeated_int_list(shape[0])), draw(slices(shape[1])))
    if kind == "int_list":
        return (draw(st.integers(-shape[0], shape[0] - 1)), draw(repeated_int_list(shape[1])))
    if kind == "slice_list":
        return (draw(slices(shape[0])), draw(repeated_int_list(shape[1])))
    rows = draw(repeated_int_list(shape[0]))
    cols = draw(st.lists(st.integers(-shape[1], shape[1] - 1), min_size=len(rows), max_size=len(rows)))
    return (rows, cols)


# --- tensors ---------------------------------------------------------------------------------

def to_tensor(host, device, requires_grad=True, dtype=None):
    """A tensor on ``device`` from a host numpy array (float64 stays float64 unless dtype says)."""
    host = np.asarray(host)
    return tg.tensor(host, device=device, dtype=host.dtype if dtype is None else dtype,
                     requires_grad=requires_grad)


def host(t):
    """A host numpy copy of a tensor's values (never np.asarray on a device array)."""
    return t.detach().numpy()

