"""2-D pooling over windows: max and average, each as a pair of linear maps that are each
other's backward, so that the gradient can be differentiated again.

A window's kernel tap (i, j) meets, at every output position, the strided slice
x̃[:, :, i·d :: s, j·d :: s] of x̃, the input with ``padding`` around it (convolution.py's
im2col slices, in the (N, C, H, W) order, without the matrix product). Padding is per side, ((top, bottom), (left, right)):
PyTorch's ceil_mode only adds to the bottom and right.

    max pool     y[n,c,p,q] = x̃[n, c, p·s + i*·d, q·s + j*·d]  with (i*, j*) the window's
                 first maximum in row-major tap order (-inf padding), PyTorch's choice,
                 taken on the arrays (``choices``); with the choice fixed, max pooling is
                 *picking*: linear in x
    pick         y = P x        (the choice given)      backward: dx = Pᵀ g  (unpick)
    unpick       z = Pᵀ g       (g added back where it was picked, windows that overlap
                                 adding up)             backward: dg = P gz  (pick)

    average      y = D⁻¹ S x    S sums each window of the zero-padded input, D the divisor
                 per output position (PyTorch's count, with or without the padding)
                                                        backward: dx = Sᵀ D⁻¹ g  (spread)
    spread       z = Sᵀ D⁻¹ g                           backward: dg = D⁻¹ S gz  (average)
"""
from __future__ import annotations

from ..backend import array_module
from ..core.function import Function
from ..core.ops import IndexAdd
from .convolution import _tap


def _padded(x, padding, value):
    if any(p for side in padding for p in side):
        x = array_module(x).pad(x, ((0, 0), (0, 0)) + tuple(padding), constant_values=value)
    return x


def _taps(kernel):
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


def _cropped(canvas, padding, shape):
    (top, _), (left, _) = padding
    return canvas[:, :, top:top + shape[2], left:left + shape[3]]


def choices(x, kernel, stride, padding, dilation, size):
    """Which tap (i·kW + j) holds each window's maximum of x (N, C, H, W), padded with -inf:
    the first one in row-major order (or the first NaN), as PyTorch's max_pool2d. An array,
    off the graph, as a mask is."""
    xp, padded = array_module(x), _padded(x, padding, -float("inf"))
    windows = xp.stack([padded[_tap(i, j, stride, dilation, size)] for i, j in _taps(kernel)])
    # a window of -inf only: PyTorch's first tap inside the input (not in the padding before it)
    first = [xp.minimum(xp.maximum(0, (before - xp.arange(m) * s + d - 1) // d), k - 1)
             for (before, _), m, s, d, k in zip(padding, size, stride, dilation, kernel)]
    return xp.where(windows.max(axis=0) == -float("inf"),
                    first[0].reshape(-1, 1) * kernel[1] + first[1], windows.argmax(axis=0))


class Pick(Function):
    """x (N, C, H, W) -> (N, C, Ho, Wo): at each output position, x̃ at the tap ``choice``
    names (max pooling, its choice made); x̃ padded with ``fill`` (max pooling's -inf)."""

    @staticmethod
    def forward(ctx, x, choice=None, geometry=None, fill=0):
        kernel, stride, padding, dilation, _ = geometry
        ctx.choice, ctx.geometry = choice, geometry
        xp, padded = array_module(x), _padded(x, padding, fill)   # (a window all padding)
        out = xp.zeros(choice.shape, dtype=x.dtype)
        for t, (i, j) in enumerate(_taps(kernel)):
            out = xp.where(choice == t, padded[_tap(i, j, stride, dilation, choice.shape[2:])], out)
        return out

    @staticmethod
    def backward(ctx, grad):                    # the transpose of picking
        return unpick(grad, choice=ctx.choice, geometry=ctx.geometry)   # 1 at the choice


class Unpick(Function):
    """g (N, C, Ho, Wo) -> (N, C, H, W): each g added at the input position it was picked
    from (Pick's transpose)."""

    @staticmethod
    def forward(ctx, g, choice=None, geometry=None):
        kernel, stride, padding, dilation, shape = geometry
        ctx.choice, ctx.geometry = choice, geometry
        xp = array_module(g)
        canvas = xp.zeros(shape[:2] + tuple(n + a + b for n, (a, b) in zip(shape[2:], padding)),
                          dtype=g.dtype)
        for t, (i, j) in enumerate(_taps(kernel)):
            canvas[_tap(i, j, stride, dilation, g.shape[2:])] += xp.where(choice == t, g, 0)
        return xp.ascontiguousarray(_cropped(canvas, padding, shape))

    @staticmethod
    def backward(ctx, grad):                    # the transpose of unpicking
        return pick(grad, choice=ctx.choice, geometry=ctx.geometry)


class AveragePool(Function):
    """avg_pool2d: x (N, C, H, W) -> (N, C, Ho, Wo), each window's sum over the zero-padded
    input divided by ``divisor`` (an array broadcast to (Ho, Wo))."""

    @staticmethod
    def forward(ctx, x, kernel=(1, 1), stride=(1, 1), padding=((0, 0), (0, 0)), divisor=1,
                size=(1, 1)):
        ctx.geometry = kernel, stride, padding, divisor, x.shape
        padded = _padded(x, padding, 0)
        out = sum(padded[_tap(i, j, stride, (1, 1), size)] for i, j in _taps(kernel))
        return out / divisor

    @staticmethod
    def backward(ctx, grad):                    # d/dx_k mean = 1/count in each window of x_k
        return spread(grad, geometry=ctx.geometry)


class Spread(Function):
    """g (N, C, Ho, Wo) -> (N, C, H, W): g / divisor added over each window (AveragePool's
    transpose)."""

    @staticmethod
    def forward(ctx, g, geometry=None):
        kernel, stride, padding, divisor, shape = geometry
        ctx.geometry, ctx.size = geometry, g.shape[2:]
        xp, share = array_module(g), g / divisor
        canvas = xp.zeros(shape[:2] + tuple(n + a + b for n, (a, b) in zip(shape[2:], padding)),
                          dtype=g.dtype)
        for i, j in _taps(kernel):
            canvas[_tap(i, j, stride, (1, 1), g.shape[2:])] += share
        return xp.ascontiguousarray(_cropped(canvas, padding, shape))

    @staticmethod
    def backward(ctx, grad):                    # the transpose of spreading
        kernel, stride, padding, divisor, _ = ctx.geometry
        return average(grad, kernel=kernel, stride=stride, padding=padding, divisor=divisor,
                       size=ctx.size)


class Nearest(Function):
    """Nearest-neighbour resizing (F.interpolate): y[n, c, i, j] = x[n, c, rows[i], cols[j]].
    The index arrays are geometry, kept on ctx as PyTorch keeps sizes, not saved tensors: a
    second backward through it needs no retain_graph, as in PyTorch. Backward adds each
    pixel's copies back (IndexAdd, whose own backward picks again)."""

    @staticmethod
    def forward(ctx, x, rows=None, cols=None):
        ctx.index, ctx.shape = (slice(None), slice(None), rows[:, None], cols[None, :]), x.shape
        return array_module(x).ascontiguousarray(x[ctx.index])   # row-major, as PyTorch's

    @staticmethod
    def backward(ctx, grad):
        return IndexAdd.apply(grad.new_zeros(ctx.shape), grad, index=ctx.index)


pick, unpick = Pick.apply, Unpick.apply
average, spread = AveragePool.apply, Spread.apply
nearest = Nearest.apply
