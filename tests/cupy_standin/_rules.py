"""CuPy rules that numpy does not enforce, checked on the numpy data behind stand-in arrays.

* Integer-array indices out of bounds: CuPy's gather and scatter kernels wrap them
  (``i % n``, cupy/_core/_routines_indexing.pyx: ``_take_kernel_core``,
  ``_create_scatter_kernel``, ``_prepare_multiple_array_indexing``), so a bad label
  silently picks a wrong row on a GPU. Here they are an IndexError.
* Writes into broadcast (stride-0) views: CuPy's ``broadcast_to`` views are writable
  and a write into one races (many threads store into one element).
* ``a[idx] = v`` with an integer-array index that selects an element twice: which
  write wins is undefined on CuPy (numpy keeps the last one).

Every check is cheap: strides are free, and only index arrays (small) are scanned.
"""
import numpy as np

# Index parts that can never hold an integer array.
_BASIC = (int, slice, type(None), type(Ellipsis), bool, np.integer, np.bool_)


def out_of_bounds(value, axis, size, what):
    return IndexError(
        f"cupy_standin: {what}: index {value} is out of bounds for axis {axis} with size {size}. "
        "Real CuPy would silently wrap this index (i % n) instead of raising, so a bad index "
        "reads or writes a wrong element on a GPU: validate indices on the host where they "
        "enter (labels, user input) before they reach the device")


def check_bounds(indices, size, axis, what):
    """``indices`` (a numpy integer array) must lie in [-size, size). Returns the least."""
    if indices.size == 0:
        return 0
    low, high = indices.min(), indices.max()
    if high >= size:
        raise out_of_bounds(high, axis, size, what)
    if low < -size:
        raise out_of_bounds(low, axis, size, what)
    return low


def index_arrays(key, shape, what):
    """The array parts of the (numpy) index ``key`` into an array of ``shape``, as
    ``(array, first axis)`` pairs, after checking integer arrays against the bounds
    (negative indices come back as their positive equivalents).
    Empty for basic indices (ints, slices, None, Ellipsis). Where numpy would reject
    the index itself (too many indices, float arrays), this returns what it has and
    leaves the error to numpy."""
    items = key if type(key) is tuple else (key,)
    if all(isinstance(k, _BASIC) for k in items):
        return ()
    parts, consumed = [], 0
    for k in items:
        if type(k) in (list, tuple):  # CuPy (and numpy) turn a sequence into an index array
            k = np.asarray(k)
            if k.size == 0:
                k = k.astype(np.intp)
        if isinstance(k, np.ndarray):
            if k.dtype.kind == "b":
                consumed += k.ndim
            elif k.dtype.kind in "iu":
                consumed += 1
            else:
                return ()  # numpy's IndexError
        elif not (k is None or k is Ellipsis or isinstance(k, (bool, np.bool_))):
            consumed += 1  # an int or a slice
        parts.append(k)
    ndim = len(shape)
    if consumed > ndim:
        return ()  # numpy's "too many indices"
    found, axis = [], 0
    for k in parts:
        if isinstance(k, np.ndarray):
            if k.dtype.kind == "b":
                found.append((k, axis))
                axis += k.ndim
            else:
                if check_bounds(k, shape[axis], axis, what) < 0:
                    k = k % shape[axis]
                found.append((k, axis))
                axis += 1
        elif k is Ellipsis:
            axis += ndim - consumed
        elif not (k is None or isinstance(k, (bool, np.bool_))):
            axis += 1
    return found


def single_mask(arrays):
    """True for an index whose only array part is one boolean mask (CuPy's mask path)."""
    return len(arrays) == 1 and arrays[0][0].dtype.kind == "b"


def first_repeat(arrays, shape):
    """An element (a tuple over the indexed axes; the lowest) that the advanced index
    ``arrays`` (from index_arrays, so in bounds) selects more than once, or None."""
    if not arrays or single_mask(arrays):
        return None
    columns, dims = [], []
    for k, axis in arrays:
        if k.dtype.kind == "b":
            columns.extend(k.nonzero())
            dims.extend(shape[axis:axis + k.ndim])
        elif k.size < 2 and len(arrays) == 1:
            return None
        else:
            columns.append(k)
            dims.append(shape[axis])
    if len(columns) == 1:
        flat = columns[0].ravel()
    else:
        try:
            flat = np.ravel_multi_index(columns, dims).ravel()
        except ValueError:
            return None  # index arrays that do not broadcast: numpy raises its own error
    if flat.size < 2:
        return None
    ordered = np.sort(flat)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeated.size == 0:
        return None
    return tuple(int(i) for i in np.unravel_index(repeated[0], dims))


def repeated_write(where, element):
    """``element``: where it is, e.g. "element (0, 3) of the indexed axes"."""
    return ValueError(
        f"cupy_standin: {where} writes {element} more than once (the integer-array index "
        "repeats it) from an array of values. On CuPy which write wins "
        "is undefined (numpy keeps the last): make the index unique, or accumulate with "
        "cupyx.scatter_add / cupy.add.at")


def single_value(value):
    """A value that is the same for every write (a scalar or a one-element array): then
    repeated indices store identical bits and the outcome is defined on CuPy too."""
    if type(value) in (list, tuple):
        value = np.asarray(value)
    return not isinstance(value, np.ndarray) or value.size == 1


def check_writable(a, what):
    """``a`` (numpy data) must not be a broadcast view: a stride-0 axis longer than 1."""
    strides = a.strides
    if 0 not in strides or a.size == 0:
        return
    for axis, (n, stride) in enumerate(zip(a.shape, strides)):
        if stride == 0 and n > 1:
            raise ValueError(
                f"cupy_standin: write into a broadcast view (stride 0 along axis {axis}) by {what}: "
                "on CuPy the view is writable and this write races (many threads store into one "
                "element); copy the array (cupy.ascontiguousarray) before writing")


def check_outputs(out, what):
    """The ``out=`` of a function, ufunc or method: numpy data, or a tuple of them."""
    if isinstance(out, np.ndarray):
        check_writable(out, what)
    elif type(out) is tuple:
        for o in out:
            if isinstance(o, np.ndarray):
                check_writable(o, what)


def check_setitem(a, key, value):
    """``a[key] = value`` on numpy data, by CuPy's rules (after the index is on the host)."""
    if 0 in a.strides:
        arrays = index_arrays(key, a.shape, "a[index] = value")
        # Basic indexing writes into a view: only its own stride-0 axes race.
        check_writable(a if arrays else a[key], "__setitem__")
    else:
        arrays = index_arrays(key, a.shape, "a[index] = value")
    if arrays and not single_value(value):
        element = first_repeat(arrays, a.shape)
        if element is not None:
            raise repeated_write("a[index] = value", f"element {element} of the indexed axes")
