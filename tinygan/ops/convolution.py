"""2-D convolutions as matrix products: conv2d, its transpose, and the correlation that gives
their weight gradient. Each one's backward is made of the other two, so a convolution can be
differentiated twice (a gradient penalty through a convolutional critic).

    conv2d          y[n,o,p,q] = Σ_{c,i,j} w[o,c,i,j] · x̃[n, c, p·s + i·d, q·s + j·d]  (+ b[o])
    transpose       the same sum run backwards: g[n,o,p,q]·w[o,c,i,j] is added into
                    ỹ[n, c, p·s + i·d, q·s + j·d], then ỹ's padding is cropped  (+ b[c])
    correlate       dw[a,b,i,j] = Σ_{n,p,q} g[n,a,p,q] · x̃[n, b, p·s + i·d, q·s + j·d]

x̃ is x with ``padding`` zeros around it, s the stride, d the dilation, (i, j) a kernel tap
and (p, q) an output position (each a pair: height, width).

How a convolution becomes one matrix product (im2col, with no as_strided): for each kernel
tap (i, j), the strided slice x̃[:, i·d :: s, j·d :: s, :] of x̃ read as (C, H, W, N) holds
what that tap meets at every output position; the kH·kW slices stacked are the *columns*,
(C·kH·kW, Ho·Wo·N). The batch is laid innermost: each op is then one GEMM for the whole
batch, not one per image (a product broadcast over N loops over the images in BLAS calls),
and every strided slice moves runs of N numbers, not of Wo. Then

    conv2d     y  = w as (O, C·kH·kW) @ columns, (O, Ho·Wo·N) copied into (N, O, Ho, Wo)
    correlate  dw = g as (A, Ho·Wo·N) @ columnsᵀ                    (A: g's channels)
    transpose  columns = wᵀ as (C·kH·kW, O) @ g as (O, Ho·Wo·N); each tap's slice of the
               columns is added into its strided slice of a zero canvas (C, H, W, N)
               (col2im), which is cropped and copied into (N, C, H, W); on a GPU the same
               sums as one gather and one fused kernel (_col2im_gathered)

Memory: the columns, N·C·kH·kW·Ho·Wo elements (kH·kW times the input at stride 1), plus
x̃ (or the canvas) in the (C, H, W, N) order, plus one copy the size of g or y into or out
of that order. Nothing is kept from forward but its inputs: the weight gradient builds its
columns again. On a GPU, im2col (unpadded) and col2im are gathers whose indices are kept
per geometry: im2col's as large as its columns (int32), col2im's one image's output (C·H·W)
times the most taps that reach an element.

The backwards, as ops (ᵀ: the weight read as the transpose's):

    conv2d(x, w)      dx = transpose(g, w)        dw = correlate(x, g)     db = Σ g
    transpose(g, w)   dg = conv2d(gy, w)          dw = correlate(gy, g)    db = Σ gy
    correlate(x, g)   dx = transpose(g, u)        dg = conv2d(x, u)        (u: dw's gradient)

Padding is given per side here, ``((top, bottom), (left, right))``, and sizes explicitly,
so that each backward can name exactly the region its forward touched (PyTorch's
output_padding, and the rows a stride leaves unread, are then only sizes).
"""
from __future__ import annotations

import functools

import numpy as np

from ..backend import array_module, fuse
from ..core.function import Function
from ..core.ops import sum_


def output_size(size, kernel, stride, padding, dilation):
    """conv2d's output (Ho, Wo): the number of whole windows along each dim."""
    return tuple((n + before + after - d * (k - 1) - 1) // s + 1
                 for n, k, s, (before, after), d in zip(size, kernel, stride, padding, dilation))


def uses_gathers(xp):
    """Whether im2col (unpadded) and col2im run as gathers (_im2col_index, _col2im_gathered):
    on a GPU, where they are the fewest kernel launches; on the CPU the strided slices and
    adds are faster."""
    return xp is not np


def _window(i, j, stride, dilation, size):
    """The rows and columns that kernel tap (i, j) meets at the (Ho, Wo) output positions."""
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, size
    return (slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def _tap(i, j, stride, dilation, size):
    """_window's index in an (N, C, H, W) array."""
    return (slice(None), slice(None)) + _window(i, j, stride, dilation, size)


def _batch_last(a):
    """(N, C, H, W) -> (C, H·W·N), a copy: the layout of the columns' products."""
    return a.transpose(1, 2, 3, 0).reshape(a.shape[1], -1)


def _columns(x, kernel, stride, padding, dilation, size):
    """im2col: x̃'s values that each kernel tap meets at each output position of ``size``,
    as (C·kH·kW, Ho·Wo·N): the batch innermost, so one product serves it all and each tap's
    slice is read in runs of N."""
    xp = array_module(x)
    rows = x.shape[1] * kernel[0] * kernel[1]
    if (uses_gathers(xp) and not any(p for side in padding for p in side)
            and rows * x.shape[0] * size[0] * size[1] <= GATHER_INDEX_LIMIT):
        index = _im2col_index(xp, x.shape, tuple(kernel), tuple(stride), tuple(dilation),
                              tuple(size))
        return xp.take(x, index).reshape(rows, -1)
    x = x.transpose(1, 2, 3, 0)                          # (C, H, W, N)
    if any(p for side in padding for p in side):
        x = xp.pad(x, ((0, 0),) + tuple(padding) + ((0, 0),))
    else:
        x = xp.ascontiguousarray(x)                      # else the runs are one number long
    (kh, kw), c = kernel, x.shape[0]
    taps = [x[(slice(None),) + _window(i, j, stride, dilation, size)]
            for i in range(kh) for j in range(kw)]
    return xp.stack(taps, axis=1).reshape(c * kh * kw, -1)


def _col2im_by_tap(columns, canvas, stride, dilation):
    """col2im: columns (C, kH, kW, Ho, Wo, N) summed into a zero canvas (C, H, W, N), each
    tap's slice added into the strided slice of the canvas it reaches, tap after tap."""
    xp = array_module(columns)
    (c, kh, kw), positions, n = columns.shape[:3], columns.shape[3:5], columns.shape[5]
    y = xp.zeros((c,) + tuple(canvas) + (n,), dtype=columns.dtype)
    for i in range(kh):
        for j in range(kw):
            region = y[(slice(None),) + _window(i, j, stride, dilation, positions)]
            xp.add(region, columns[:, i, j], out=region)   # not +=: no copy back of region
    return y


def _col2im_by_tap_group(columns, canvas, stride, dilation=(1, 1)):
    """_col2im_by_tap's sums in ⌈kH/sH⌉·⌈kW/sW⌉ adds instead of kH·kW (dilation 1 only), in
    the same order, so bit for bit the same: taps i = t·s + r with one t and every r reach
    disjoint rows, which together fill rows [t·s, t·s + s·Ho) of the canvas read as
    (C, H/s, s, W/s, s, N); each such group of taps is one add."""
    xp = array_module(columns)
    (c, kh, kw), (ho, wo), n = columns.shape[:3], columns.shape[3:5], columns.shape[5]
    (sh, sw), (th, tw) = stride, (-(-kh // stride[0]), -(-kw // stride[1]))
    blocks = [max(p + t - 1, -(-size // s)) for p, t, size, s
              in zip((ho, wo), (th, tw), canvas, stride)]   # the canvas, in whole blocks
    y = xp.zeros((c, blocks[0] * sh, blocks[1] * sw, n), dtype=columns.dtype)
    tiled = y.reshape(c, blocks[0], sh, blocks[1], sw, n)
    for ti in range(th):
        for tj in range(tw):
            rh, rw = min(sh, kh - ti * sh), min(sw, kw - tj * sw)   # the group's taps
            region = tiled[:, ti:ti + ho, :rh, tj:tj + wo, :rw]
            group = columns[:, ti * sh:ti * sh + rh, tj * sw:tj * sw + rw]
            xp.add(region, group.transpose(0, 3, 1, 4, 2, 5), out=region)
    return y[:, :canvas[0], :canvas[1]]


GATHER_INDEX_LIMIT = 2**25   # elements in one cached index (int32: 128 MiB); above, slices


@functools.lru_cache(maxsize=64)
def _im2col_index(xp, shape, kernel, stride, dilation, size):
    """im2col of unpadded x (N, C, H, W) as one gather (``xp.take(x, index)``): each column
    element's (C, kH, kW, Ho, Wo, N) flat position in x, on xp's device, made once per
    geometry."""
    (n, c, h, w), (kh, kw), (sh, sw), (dh, dw), (ho, wo) = shape, kernel, stride, dilation, size
    dtype = np.int32 if n * c * h * w < 2**31 else np.intp
    rows = np.arange(kh, dtype=dtype)[:, None] * dh + np.arange(ho, dtype=dtype) * sh
    cols = np.arange(kw, dtype=dtype)[:, None] * dw + np.arange(wo, dtype=dtype) * sw
    index = (np.arange(c, dtype=dtype)[:, None, None, None, None, None] * (h * w)
             + rows[None, :, None, :, None, None] * w + cols[None, None, :, None, :, None]
             + np.arange(n, dtype=dtype) * (c * h * w))
    return xp.asarray(index)


def _reaching(kernel, stride, dilation, positions, first, count):
    """Along one axis, for each output row r (canvas row first + r): the taps i that reach
    it, ascending, and the positions p they come from (p·s + i·d = first + r); as (R, count)
    arrays padded to the most taps any row has, ``reached`` False on the padding."""
    lists = [[(i, (first + r - i * dilation) // stride) for i in range(kernel)
              if first + r - i * dilation >= 0 and (first + r - i * dilation) % stride == 0
              and (first + r - i * dilation) // stride < positions] for r in range(count)]
    most = max(1, max(map(len, lists), default=0))
    tap, position = np.zeros((2, most, count), dtype=np.intp)
    reached = np.zeros((most, count), dtype=bool)
    for r, taps in enumerate(lists):
        for a, (i, p) in enumerate(taps):
            tap[a, r], position[a, r], reached[a, r] = i, p, True
    return tap, position, reached


@functools.lru_cache(maxsize=64)
def _col2im_index(xp, columns_shape, stride, dilation, start, size):
    """col2im as one gather: for the output's (c, h, w), canvas rows and columns from
    ``start`` on, the rows of the columns (C·kH·kW·Ho·Wo, N) that col2im adds into it, in its
    order: (Rh, Rw, C, H, W) indices and where a tap reaches, (Rh, Rw, 1, H, W), both on xp's
    device and made once per geometry."""
    c, kh, kw, ho, wo = columns_shape
    (ti, pi, oi), (tj, pj, oj) = (_reaching(*axis) for axis in zip(
        (kh, kw), stride, dilation, (ho, wo), start, size))
    channel = np.arange(c)[:, None, None]
    index = (((channel * kh + ti[:, None, None, :, None]) * kw + tj[None, :, None, None, :])
             * (ho * wo) + pi[:, None, None, :, None] * wo + pj[None, :, None, None, :])
    reached = oi[:, None, None, :, None] & oj[None, :, None, None, :]
    return xp.asarray(index), xp.asarray(reached)


def _add_reached(xp, out, pairs):
    """out = ((+0 + t₀) + t₁) + …, t_k = tap_k where it reaches, else 0, for pairs (reached₀,
    tap₀, reached₁, …): col2im's adds into its zero canvas, in their order (+0 + x turns a
    -0 into +0, as the canvas's zero does; the padding's +0 changes no sum)."""
    xp.add(xp.where(pairs[0], pairs[1], 0.0), 0.0, out=out)
    for k in range(2, len(pairs), 2):
        xp.add(out, xp.where(pairs[k], pairs[k + 1], 0.0), out=out)


@fuse(chunk=False)   # called on a GPU only (uses_gathers): the CPU adds tap by tap
def _sum_reached(xp, out, *pairs):
    """_add_reached, as one kernel on a GPU."""
    _add_reached(xp, out, pairs)


@fuse(chunk=False)   # called on a GPU only, as _sum_reached
def _sum_reached_and_bias(xp, out, bias, *pairs):
    """_add_reached, then + bias, as one kernel on a GPU."""
    _add_reached(xp, out, pairs)
    xp.add(out, bias, out=out)


def _col2im_gathered(columns, canvas, stride, dilation, start, size, bias=None):
    """_col2im_by_tap's canvas, cropped to ``size`` from ``start``, as (N, C, H, W), + bias:
    bit for bit the same in two device ops, where tap by tap takes an add per tap (or group
    of taps) and two copies: one gather of every tap that reaches each output element, in
    col2im's order, and one fused kernel that adds them. (``canvas``: unused, as in
    _col2im_by_tap, whose canvas it crops.)"""
    xp = array_module(columns)
    (c, kh, kw), positions, n = columns.shape[:3], columns.shape[3:5], columns.shape[5]
    index, reached = _col2im_index(xp, (c, kh, kw) + tuple(positions), tuple(stride),
                                   tuple(dilation), tuple(start), tuple(size))
    taps = xp.take(columns.reshape(-1, n), index, axis=0)    # (Rh, Rw, C, H, W, N)
    pairs = []
    for a in range(taps.shape[0]):
        for b in range(taps.shape[1]):
            pairs += [reached[a, b], taps[a, b].transpose(3, 0, 1, 2)]
    y = xp.empty((n, c) + tuple(size), dtype=columns.dtype)
    if bias is None:
        _sum_reached(y, *pairs)
    else:
        _sum_reached_and_bias(y, bias.reshape(1, -1, 1, 1), *pairs)
    return y


class Convolve(Function):
    """conv2d: x (N, C, H, W), w (O, C, kH, kW), b (O,) or None -> (N, O, Ho, Wo); ``size``
    (Ho, Wo) may be given smaller than the whole windows (a backward's use)."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                dilation=(1, 1), size=None):
        kernel = weight.shape[2:]
        size = size or output_size(x.shape[2:], kernel, stride, padding, dilation)
        ctx.save_for_backward(x, weight)
        ctx.geometry = stride, padding, dilation
        columns = _columns(x, kernel, stride, padding, dilation, size)
        xp = array_module(x)
        y = (weight.reshape(weight.shape[0], -1) @ columns).reshape(
            (weight.shape[0],) + tuple(size) + (x.shape[0],)).transpose(3, 0, 1, 2)
        if bias is None:
            return xp.ascontiguousarray(y)                  # (O, .., N) -> (N, O, ..)
        out = xp.empty(y.shape, dtype=xp.result_type(y, bias))
        return xp.add(y, bias.reshape(1, -1, 1, 1), out=out)   # the copy and + b in one op

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.geometry
        need_x, need_w, need_b = ctx.needs_input_grad
        return (transpose(grad, weight, None, stride=stride, padding=padding,
                          dilation=dilation, size=x.shape[2:]) if need_x else None,
                correlate(x, grad, stride=stride, padding=padding, dilation=dilation,
                          kernel=weight.shape[2:]) if need_w else None,
                sum_(grad, axes=(0, 2, 3)) if need_b else None)   # d/db Σ = 1 per position


class ConvolveTransposed(Function):
    """conv_transpose2d: g (N, O, Ho, Wo), w (O, C, kH, kW), b (C,) or None -> (N, C, H, W),
    the rows and columns of the canvas ỹ from (top, left) = ``padding``'s first sides on."""

    @staticmethod
    def forward(ctx, g, weight, bias=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                dilation=(1, 1), size=(1, 1)):
        xp = array_module(g)
        (n, o), positions, (c, kh, kw) = g.shape[:2], g.shape[2:], weight.shape[1:]
        (top, _), (left, _) = padding
        # the canvas: every tap's reach, and the output's rows and columns (output_padding)
        canvas = tuple(max(s * (p - 1) + d * (k - 1) + 1, start + m) for s, p, d, k, start, m
                       in zip(stride, positions, dilation, (kh, kw), (top, left), size))
        ctx.save_for_backward(g, weight)
        ctx.geometry = stride, ((top, canvas[0] - top - size[0]),
                                (left, canvas[1] - left - size[1])), dilation
        columns = (weight.reshape(o, -1).T @ _batch_last(g)).reshape(
            (c, kh, kw) + tuple(positions) + (n,))
        if uses_gathers(xp) and columns.size and all(size):
            return _col2im_gathered(columns, canvas, stride, dilation, (top, left), size, bias)
        col2im = _col2im_by_tap_group if tuple(dilation) == (1, 1) else _col2im_by_tap
        y = col2im(columns, canvas, stride, dilation)
        y = y[:, top:top + size[0], left:left + size[1]]                   # the crop
        y = xp.ascontiguousarray(y.transpose(3, 0, 1, 2))                   # (N, C, H, W)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        return y

    @staticmethod
    def backward(ctx, grad):
        g, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.geometry        # the canvas, as padding around grad
        need_g, need_w, need_b = ctx.needs_input_grad
        return (convolve(grad, weight, None, stride=stride, padding=padding,
                         dilation=dilation, size=g.shape[2:]) if need_g else None,
                correlate(grad, g, stride=stride, padding=padding, dilation=dilation,
                          kernel=weight.shape[2:]) if need_w else None,
                sum_(grad, axes=(0, 2, 3)) if need_b else None)


class Correlate(Function):
    """The weight gradient of both: x (N, B, H, W) and g (N, A, Ho, Wo) -> (A, B, kH, kW)."""

    @staticmethod
    def forward(ctx, x, g, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
                kernel=(1, 1)):
        ctx.save_for_backward(x, g)
        ctx.geometry = stride, padding, dilation
        columns = _columns(x, kernel, stride, padding, dilation, g.shape[2:])
        xp = array_module(x)
        # (A, Ho·Wo·N) @ (Ho·Wo·N, B·kH·kW), written into an array of dw's shape: a leaf's
        # .grad can then keep it as its own, where a reshaped view would be copied
        dw = xp.empty((g.shape[1], x.shape[1]) + tuple(kernel), dtype=xp.result_type(g, x))
        xp.matmul(_batch_last(g), columns.T, out=dw.reshape(g.shape[1], -1))
        return dw

    @staticmethod
    def backward(ctx, grad):
        x, g = ctx.saved_tensors
        stride, padding, dilation = ctx.geometry
        need_x, need_g = ctx.needs_input_grad
        return (transpose(g, grad, None, stride=stride, padding=padding, dilation=dilation,
                          size=x.shape[2:]) if need_x else None,
                convolve(x, grad, None, stride=stride, padding=padding, dilation=dilation,
                         size=g.shape[2:]) if need_g else None)


convolve, transpose, correlate = Convolve.apply, ConvolveTransposed.apply, Correlate.apply
