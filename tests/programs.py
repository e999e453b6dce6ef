"""Random small programs over tinygan's API, run in tinygan and in PyTorch side by side.

Used by ``test_torch_differential.py`` (which skips itself without torch; this module
imports torch, so only import it after ``pytest.importorskip("torch")``).

A program is Python source in tinygan's spelling: ``tg`` (tinygan), ``F``
(tinygan.nn.functional), ``nn``, ``optim`` and ``device``. Each statement runs twice:
in a namespace where those names are tinygan on the device under test, and in one
where they are PyTorch on its CPU (``tg`` is torch, plus ``tg.bool_``, the one name
tinygan spells differently). So the program that failed *is* the repro: the failure
message prints it, ready to paste.

After every statement both libraries must raise or neither (exception types and
messages are not compared); then every variable must agree in type, shape, dtype
(torch's dtype mapped to numpy's by name), requires_grad, is_leaf, values (NaN and
±inf at the same places) and ``.grad``. Comparing every variable after every
statement is what finds bugs that live between ops: an in-place write through a view
that reaches (or fails to reach) its base, a ``.grad`` that aliases the gradient
passed to backward(), a dtype that one library promotes and the other does not.
Inputs that PyTorch refuses outright for their dtype are not generated (the list is
REFUSED_BY_PYTORCH below); statements PyTorch has no kernel for are not compared.

The program is generated while it runs (hypothesis' ``st.data()``): each step is
drawn knowing the current values, as PyTorch computed them, so that ops are applied
only where both libraries must agree. A step may bring its own fresh leaves (an
operand of the right shape, a gradient, a target in [0, 1]).

The steps (``STEPS`` below; any step may be wrapped in ``tg.no_grad()``)
------------------------------------------------------------------------
leaf, factory   tg.tensor of float32/float64 (requires_grad or not), int64, bool, 0-d
                included, values on binary grids or decimal literals (0.1 rounds);
                zeros, ones, full, arange (int and float), zeros_like, ones_like, full_like
arith           + - * / ** with broadcasting: tensor op tensor, tensor op scalar,
                scalar op tensor (Python int, float, bool), 0-d tensors, mixed dtypes
unary           neg, abs, exp, log, log1p, sqrt, relu, sigmoid, tanh, softplus (beta,
                threshold), leaky_relu (slopes 0.01, 0.2, 0.5, 0, negative, > 1),
                clamp/clip; as methods, tg.* functions, F.* and nn modules
binary_fn       maximum, minimum, where (tensor or scalar branches)
compare         < <= > >= == != (tensor/tensor, tensor/scalar, scalar/tensor), also as
                tg.eq/ne/lt/le/gt/ge and x.eq/...
isclose         tg.isclose, x.isclose, tg.allclose, x.allclose, tg.equal, x.equal (Python
                bools) of exact values (NaN, ±inf), tolerances with grid values on the
                boundary, equal_nan
reduce          sum, mean, var, std (unbiased, correction), any, all, prod (one dim; zeros
                included; dtype=): dim None, int, negative, tuple; keepdim; methods and
                tg.* functions
maxmin          max/min (all; with dim: values and indices), argmax/argmin, ties included
view            .T, transpose, permute, reshape, view, flatten, unsqueeze, squeeze, basic
                slicing (ints, slices, None, ..., rarely a negative step: PyTorch raises);
                narrow, and one piece of split (a size or sizes), chunk and unbind
index           integer lists with repeats (alone, with ints and slices), int64 tensors,
                bool masks
convert         detach, clone, float, double, to(float64/float32/int64/bool_), to(device)
matmul          @, tg.matmul, .matmul: 1-D, 2-D, batched and broadcast, x @ W.T
join            cat, stack (a tensor twice, mixed dtypes)
inplace         add_ (alpha), sub_, mul_, zero_, fill_, copy_, += -= *= /=, on leaves (with
                and without grad, under no_grad or not), graph tensors, views of these,
                with operands that require grad, with the target itself as operand
inplace_act     relu_, tg.relu_, F.relu_, F.relu(inplace=True), nn.ReLU(True),
                F.leaky_relu(inplace=True), F.leaky_relu_, nn.LeakyReLU(slope, inplace=True)
                on the same targets (negative slopes: PyTorch refuses their backward)
setitem         t[index] = scalar or tensor (which may require grad), basic or integer-
                list index without repeats
backward        y.backward(), y.backward(gradient), (y * w).sum().backward(), with and
                without retain_graph: again over a graph part whose nodes saved nothing
                (allowed) or saved tensors (PyTorch raises)
grad_edit       x.grad.mul_(10), .add_, .zero_(), x.grad = None
loss            binary_cross_entropy_with_logits (weight, pos_weight, reductions),
                binary_cross_entropy (weight, reductions), mse_loss; F.* and nn modules
batch_norm      F.batch_norm of (N, C), (N, C, L) or (N, C, H, W), train (running stats
                updated in place) and eval, with and without weight/bias; F.instance_norm
                of (N, C, L), with and without them
linear, dropout F.linear (with and without bias); dropout with p=0 or in eval, Identity
conv            F.conv2d, F.conv_transpose2d on a fresh 4-D leaf or an existing 3-D variable
                (unbatched): random kernels, strides, paddings, dilations, output_padding
                (ints or pairs; sometimes windows that do not fit: both raise), bias or not,
                sometimes groups 2 or 3 (the channel counts multiples of it)
gradient_penalty  a convolution, then tg.autograd.grad(create_graph=True) of its output
                (grad_outputs=ones_like, or of Σ c·y²) with respect to its weight or input,
                then (‖g‖ - 1)² or Σg²: the final backward differentiates it a second time
softmax         softmax, log_softmax, logsumexp (dim int or tuple, keepdim): methods, tg.*,
                F.* and nn.Softmax / nn.LogSoftmax
cross_entropy   cross_entropy and nll_loss (F.* and modules) on (C,), (N, C), (N, C, d)
                with int64 targets, weight, ignore_index, label_smoothing, reductions
methods         t, mm, repeat, gather, contiguous, long, int, add/sub(alpha), mul, div,
                square, norm (p 2, 'fro', 1; exact inputs; also tg.norm, tg.linalg.norm,
                tg.linalg.vector_norm), clamp_
finally         every float variable that requires grad and that PyTorch can still
                differentiate, times fixed weights, summed into one loss; backward; every
                leaf's .grad compared

Exactness and tolerances (fixed here, derived from the dtype; never widened to make a
case pass: a difference is a finding)
------------------------------------------------------------------------------------
False alarms are avoided by construction, not by tolerance:

* Leaf values lie on grids (multiples of 1/8 in [-3, 3], integers in [-2, 2], ...),
  so +, -, *, sums, matmul, views, max, where, clamp... of them are *exact* in both
  libraries as long as the result fits the mantissa (checked: |every partial result|
  · 2**k < 2**24 for float32, 2**53 for float64, where k is the grid's exponent).
  Exact values must be equal, bit for bit (no tolerance at all).
* Every variable carries a bound ``err`` on |computed - exact| (0 when exact), propagated
  op by op: ``err_out = L · err_in + c · eps · S``, with L the op's Lipschitz constant
  over the actual inputs, S the magnitude of the values the op combines (|a|+|b| for
  a sum, n·|a|·|b| for a length-n dot product...) and c how many roundings of that
  magnitude it makes (1 for one IEEE operation, n for a length-n sum, LIBM_ULPS for
  exp/log/tanh/pow, whose NumPy and SLEEF implementations are each within a couple of
  ulp of the true value). Two results that are each within err of the truth are within
  2·err of each other: that is the float32 tolerance. It is "a few ulp, with an
  absolute floor scaled by the magnitudes involved", made precise per op.
* float64 uses a fixed relative tolerance RTOL64 = 1e-10 (of |value| + the magnitude
  involved), or the tracked bound where that is larger (a float64 value computed from
  inexact float32 ones carries float32 errors).
* Discontinuous ops (comparisons, relu/leaky_relu/abs/clamp kinks, max/min/argmax with
  ties, maximum/minimum, where's condition, casts to int or bool, softplus' threshold)
  are applied only to exact values, or to values farther from every kink (or from
  each other) than twice their tolerance, so both libraries take the same branch.
  Ties are wanted: on exact values they test the gradient rules (torch's full max()
  splits the gradient evenly among ties, max(dim) sends it to the index it returns,
  maximum(a, b) splits a tie half-half).
* exp, log, sqrt, pow and division get well-conditioned inputs (exp ≤ 20, log/sqrt of
  inexact values ≥ 0.25, inexact divisors ≥ 0.25 in size). On *exact* inputs they may
  make NaN and ±inf (log(0), sqrt(-1), 1/0): those must appear at the same places;
  such variables are then used only by ops that propagate NaN alike.
* Gradients: each backward() is watched in PyTorch by a dispatch mode that records the
  magnitude S_bw of every value the backward pass computes and how many roundings it
  makes (D: one per op, n for an op that folds n values into one). A leaf's gradient
  error is bounded by (U + D) · eps · S_bw, U being the largest relative error (in
  ulp) of a forward value the backward pass reads; tolerances as above from that bound.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode

import tinygan
import tinygan.nn.functional
import tinygan.optim

# --- tolerances (see the module docstring) ---------------------------------------------------

EPS = {"float32": 2.0 ** -23, "float64": 2.0 ** -52}     # machine epsilon (1 ulp at 1.0)
MANTISSA = {"float32": 24, "float64": 53}                  # bits: integers up to 2**p are exact
RTOL64 = 1e-10        # float64: fixed relative tolerance (of |value| + the magnitude involved)
LIBM_ULPS = 4         # exp, log, tanh, pow...: NumPy's and SLEEF's are each within ~2 ulp

FLOATS = ("float32", "float64")

# Inputs PyTorch refuses outright (a RuntimeError about the input's dtype or arguments, no
# semantics to match): programs never make these, so that tinygan is free to accept them.
# A statement PyTorch has no kernel for (NotImplementedError: "... not implemented for
# 'Long'") is not compared either. Everything else PyTorch refuses must raise in tinygan too.
REFUSED_BY_PYTORCH = (
    "relu of a bool tensor",
    "var or std of an integer or bool tensor",
    "argmax or argmin of a bool tensor",
    "a subtraction with a bool tensor or a Python bool (PyTorch: use ~ or logical_xor)",
    "t[integer list] = value of another dtype (index_put requires equal dtypes)",
    "binary_cross_entropy_with_logits with a weight that requires grad",
    "add_/sub_ of an integer tensor with a float alpha",
    "mse_loss of tensors of different shapes (PyTorch warns and broadcasts; tinygan refuses "
    "on purpose, with a message)",
)

# Where tinygan differs on purpose (the README says so): programs never make these.
DELIBERATE_DIFFERENCES = (
    "a value that requires grad written into an integer or bool tensor (setitem, copy_, "
    "fill_, in-place arithmetic): PyTorch then marks the integer tensor requires_grad=True, "
    "with a history no gradient can flow through; tinygan keeps integer tensors out of the "
    "graph (PyTorch's own rule: only floating point tensors can require gradients)",
    "the gradient given to backward(g) read after a later backward: PyTorch may keep a view "
    "of g as a leaf's .grad (when only view ops lead from the leaf) and then accumulate into "
    "it, changing the caller's g; a tinygan leaf's .grad is always memory of its own "
    "(programs pass g.clone())",
    "an in-place write to an operand of an earlier matmul of a 3-D or larger tensor: tinygan's "
    "matmul keeps its operands, so backward reports the change; PyTorch's folds such a "
    "matmul into a 2-D one through reshape, which copies a non-contiguous operand, and then "
    "reports the change or not depending on the operand's strides",
    "the gradient of a convolution taken with create_graph=True that depends on nothing that "
    "requires grad (the weight's gradient of a function linear in the weight, its input and "
    "upstream gradient requiring none): PyTorch's convolution backward is one op over "
    "(gradient, input, weight), so its results require grad whenever the weight does; "
    "tinygan's are made by the ops that compute them (as PyTorch's matmul gradients are) and "
    "require grad only when they depend on a tensor that does",
    "a write through .data into the input of a batch_norm in training, before its backward: "
    "PyTorch's backward recomputes x̂ from the input it saved, so it reads the new values; "
    "tinygan's saves x̂ itself and differentiates the forward it ran (programs make no such "
    "write)",
    "an infinite gradient reaching a convolution whose windows cover its padding (from "
    "binary_cross_entropy's target at a probability of exactly 0 or 1): PyTorch's kernels "
    "skip the padding, tinygan's im2col multiplies the padding's zeros by it, NaN where "
    "PyTorch has 0 (programs give such a loss no target that requires grad)",
    "an in-place write into the result of such a matmul made under no_grad: PyTorch computes "
    "some (a 2-D @ 3-D product) transposed and returns a view of its own product, so with "
    "grad mode on it refuses the write as one into a view made under no_grad; tinygan's "
    "result is a tensor of its own",
    "t[index] = v where v shares memory with t's written part without being it: PyTorch "
    "refuses a partial overlap; tinygan writes as NumPy does, as if v had been cloned first "
    "(programs take v from another storage)",
    "an in-place write into the result of cross_entropy or nll_loss with reduction='none' on "
    "(N, C, d) input made under no_grad: PyTorch returns a view of its own 2-D loss, so with "
    "grad mode on it refuses the write as one into a view made under no_grad; tinygan's "
    "result is a tensor of its own",
)

# --- the two namespaces ------------------------------------------------------------------------


class _TorchAsTinygan:
    """``tg`` in the PyTorch namespace: torch itself, plus the names tinygan spells differently."""

    bool_ = torch.bool

    def __getattr__(self, name):
        return getattr(torch, name)


TORCH_AS_TG = _TorchAsTinygan()


def torch_namespace():
    return {"tg": TORCH_AS_TG, "F": torch.nn.functional, "nn": torch.nn, "optim": torch.optim,
            "device": "cpu"}


def tinygan_namespace(device):
    return {"tg": tinygan, "F": tinygan.nn.functional, "nn": tinygan.nn, "optim": tinygan.optim,
            "device": device}


def header(device):
    """The lines that make a printed program runnable."""
    return ["import tinygan as tg", "import tinygan.nn.functional as F",
            "from tinygan import nn, optim", f"device = {device!r}"]


def dtype_name(dtype):
    """torch.float32 -> "float32", numpy's float32 -> "float32", torch.bool -> "bool"."""
    return str(dtype).replace("torch.", "")


# --- differences ---------------------------------------------------------------------------


class ProgramDifference(AssertionError):
    """tinygan and PyTorch disagree; the message holds the program as a repro."""

    def __init__(self, kind, label, message):
        super().__init__(message)
        self.kind, self.label = kind, label


def _raise(kind, label, message):
    # One raise statement per kind of difference: hypothesis tells bugs apart by the line
    # that raised, so a value difference does not hide behind a dtype one in its report.
    if kind == "raises":
        raise ProgramDifference(kind, label, message)
    if kind == "type":
        raise ProgramDifference(kind, label, message)
    if kind == "shape":
        raise ProgramDifference(kind, label, message)
    if kind == "dtype":
        raise ProgramDifference(kind, label, message)
    if kind == "requires_grad":
        raise ProgramDifference(kind, label, message)
    if kind == "values":
        raise ProgramDifference(kind, label, message)
    if kind == "grad":
        raise ProgramDifference(kind, label, message)
    raise ProgramDifference(kind, label, message)


# --- error bounds ----------------------------------------------------------------------------


@dataclass
class Meta:
    """What is known about a variable's values beyond what PyTorch computed."""

    err: float = 0.0      # bound on |computed - exact| of every finite element; 0: exact
    k: int = 0            # when exact, every value is a multiple of 2**-k
    scale: float = 0.0    # magnitude of the values it was computed from (tolerance floor)


def grid_k(x, limit=40):
    """The smallest k with x * 2**k an integer, or None (0.1 is on no binary grid)."""
    x = float(x)
    if not math.isfinite(x):
        return 0
    for k in range(limit):
        if (x * 2.0 ** k).is_integer():
            return k
    return None


def derive(inputs, dtype, L=1.0, c=1.0, S=0.0, exact_k=None, bound=0.0):
    """The Meta of an op's result.

    inputs: Metas of the values that flow into it; dtype: the result's dtype name.
    L: Lipschitz constant (max norm), c: roundings of magnitude S the op makes.
    exact_k / bound: when the op is exact on exact inputs given enough mantissa, the
    result's grid and a bound on |every partial result| (checked against the mantissa).
    """
    if dtype not in EPS:
        return Meta(0.0, 0, float(S))
    err_in = max((m.err for m in inputs), default=0.0)
    # exact inputs carry no error to amplify: L matters only for inexact ones
    scale = max([float(S)] + [L * m.scale for m in inputs if m.err])
    if err_in == 0.0 and exact_k is not None and bound * 2.0 ** exact_k < 2.0 ** MANTISSA[dtype]:
        return Meta(0.0, int(exact_k), scale)
    return Meta((L * err_in if err_in else 0.0) + c * EPS[dtype] * S, 0, scale)


def merge(metas):
    """Meta of values taken from several (cat, where, setitem): the worst of each."""
    metas = list(metas)
    return Meta(max(m.err for m in metas), max(m.k for m in metas), max(m.scale for m in metas))


# --- what PyTorch computed, summarised -------------------------------------------------------


def _flags(t):
    """(requires_grad, is_leaf), or the exception reading them raised."""
    try:
        return bool(t.requires_grad), bool(t.is_leaf)
    except RuntimeError as exc:
        return exc


def _outcome(flags):
    return f"raises {type(flags).__name__}" if isinstance(flags, Exception) else f"gives {flags}"


class Stat:
    """A variable's values as PyTorch computed them, with the numbers the rules need."""

    def __init__(self, tensor, meta):
        self.meta = meta
        self.dtype = dtype_name(tensor.dtype)
        self.shape = tuple(tensor.shape)
        self.ndim = len(self.shape)
        self.numel = int(tensor.numel())
        self.requires_grad = bool(tensor.requires_grad)
        self.is_leaf = bool(tensor.is_leaf)
        self.is_float = self.dtype in FLOATS
        values = tensor.detach().numpy()
        self.values = values.astype(np.float64)
        finite = np.isfinite(self.values)
        self.finite = bool(finite.all())
        magnitudes = np.abs(self.values[finite])
        self.amax = float(magnitudes.max()) if magnitudes.size else 0.0
        self.amin = float(magnitudes.min()) if magnitudes.size else 0.0
        nonzero = magnitudes[magnitudes > 0]
        self.amin_nonzero = float(nonzero.min()) if nonzero.size else 0.0
        fin = self.values[finite]
        self.vmax = float(fin.max()) if fin.size else 0.0
        self.vmin = float(fin.min()) if fin.size else 0.0

    @property
    def exact(self):
        return self.meta.err == 0.0

    def tol(self):
        """The largest tolerance any element of this variable gets."""
        return tolerance(self.meta, self.dtype, self.amax)

    def ulps(self):
        """Relative error bound in ulp of the magnitude involved (for the gradient bound)."""
        if not self.is_float or self.meta.err == 0.0 or self.meta.scale == 0.0:
            return 0.0
        return self.meta.err / (EPS[self.dtype] * self.meta.scale)


def tolerance(meta, dtype, reference):
    """Per-element tolerance between tinygan's and PyTorch's values (0: must be equal)."""
    if dtype not in EPS or meta.err == 0.0:
        return 0.0
    if dtype == "float32":
        return 2.0 * meta.err
    return np.maximum(2.0 * meta.err, RTOL64 * (np.abs(reference) + meta.scale))


# --- statements ------------------------------------------------------------------------------


@dataclass
class Stmt:
    """One statement of a program, and how to update what is known after it ran."""

    code: str
    label: str                                  # the kind of op, to group findings
    after: Callable | None = None               # after(session): metas of new/changed names
    defines: tuple = ()                         # names it binds
    backward: bool = False                      # a backward pass: record its magnitudes
    record: bool = True                         # (training programs) record magnitudes


class _Magnitudes(TorchDispatchMode):
    """Records every value PyTorch computes (size, roundings, precision) while active."""

    def __init__(self):
        super().__init__()
        self.scale, self.roundings, self.eps = 0.0, 0, 0.0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if "empty" in str(func):      # uninitialised memory: no value of the program
            return out
        tensors = [t for t in torch.utils._pytree.tree_leaves((args, kwargs, out))
                   if isinstance(t, torch.Tensor) and t.dtype in (torch.float32, torch.float64)]
        biggest_in = max((t.numel() for t in torch.utils._pytree.tree_leaves((args, kwargs))
                          if isinstance(t, torch.Tensor)), default=1)
        outs = [t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
        smallest_out = max(min((t.numel() for t in outs), default=1), 1)
        self.roundings += max(1, biggest_in // smallest_out)   # n for an op folding n into 1
        for t in tensors:
            self.eps = max(self.eps, EPS[dtype_name(t.dtype)])
            if t.numel():
                finite = t.detach()[torch.isfinite(t.detach())]
                if finite.numel():
                    self.scale = max(self.scale, float(finite.abs().max()))
        return out


class Session:
    """Runs statements in both libraries, keeps the program text and compares everything."""

    def __init__(self, device):
        self.device = device
        self.pt = torch_namespace()
        self.tg = tinygan_namespace(device)
        self.meta = {}          # name -> Meta of every variable both libraries hold
        self.lines = []         # the program so far
        self.counter = 0
        self.grad_err = {}      # name -> (bound on |grad - exact|, magnitude involved)
        self._stats = {}
        self.steps = 0
        self.folded = set()     # storages of ≥3-D matmul operands (DELIBERATE_DIFFERENCES)

    # --- names and facts ----------------------------------------------------------------
    def new_name(self, prefix="v"):
        name = f"{prefix}{self.counter}"
        self.counter += 1
        return name

    def names(self):
        return sorted(self.meta, key=lambda n: int(n[1:]) if n[1:].isdigit() else 10 ** 6)

    def retire(self, name):
        """Drop a variable neither library will use any more."""
        self.meta.pop(name, None)
        self._stats.pop(name, None)

    def stat(self, name):
        if name not in self._stats:
            self._stats[name] = Stat(self.pt[name], self.meta[name])
        return self._stats[name]

    def torch_value(self, name):
        return self.pt[name]

    def storage(self, name):
        t = self.pt[name]
        try:
            return t.untyped_storage().data_ptr()
        except Exception:
            return None

    def aliases(self, name):
        """Variables that share memory with ``name`` in PyTorch (views, detach(), itself)."""
        ptr = self.storage(name)
        return [n for n in self.names() if ptr is not None and self.storage(n) == ptr]

    def max_ulps(self):
        return max((self.stat(n).ulps() for n in self.names()), default=0.0)

    # --- running ------------------------------------------------------------------------
    def run_step(self, draw, generator):
        """Run one step: a generator of statements, told after each whether it ran."""
        steps = generator(draw, self)
        try:
            stmt = next(steps)
            while True:
                ran = self.execute(stmt)
                stmt = steps.send(ran)
        except StopIteration:
            pass

    def _exec(self, namespace, code):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                exec(code, namespace)
            except Exception as e:  # noqa: BLE001 (any error counts as "raised")
                return e
        return None

    def execute(self, stmt):
        """Run a statement in both libraries and compare. True if it ran, False if both raised."""
        self.steps += 1
        self.lines.append(stmt.code)
        recorder = _Magnitudes() if stmt.backward else None
        if recorder is not None:
            with recorder:
                torch_error = self._exec(self.pt, stmt.code)
        else:
            torch_error = self._exec(self.pt, stmt.code)
        tinygan_error = self._exec(self.tg, stmt.code)
        self._stats = {}
        if isinstance(torch_error, (NameError, SyntaxError)):   # the generator's mistake
            raise RuntimeError(f"programs.py wrote a statement that cannot run: {stmt.code!r}: "
                               f"{torch_error!r}")
        if isinstance(torch_error, NotImplementedError):
            # PyTorch has no kernel for this dtype ("not implemented for 'Long'"): nothing to
            # compare against, whatever tinygan does. Both forget the statement.
            self.lines[-1] = _annotate(stmt.code, "not implemented in PyTorch; not compared")
            tinygan_error = tinygan_error or torch_error
            for name in stmt.defines:
                self.tg.pop(name, None)
        if (torch_error is None) != (tinygan_error is None):
            if torch_error is not None:
                what = (f"PyTorch raises {type(torch_error).__name__}: {_short(torch_error)}\n"
                        "  tinygan does not raise")
            else:
                what = (f"tinygan raises {type(tinygan_error).__name__}: {_short(tinygan_error)}\n"
                        "  PyTorch does not raise")
            self.fail("raises", stmt.label, what)
        self._retire_unreadable(stmt.label)
        if torch_error is not None:
            if not isinstance(torch_error, NotImplementedError):
                self.lines[-1] = _annotate(stmt.code,
                                           f"raises in both ({type(torch_error).__name__})")
            for name in stmt.defines:       # half-run statements leave nothing both hold
                self.pt.pop(name, None)
                self.tg.pop(name, None)
                self.meta.pop(name, None)
            if stmt.backward:
                self._reset_grads()
            self.compare_all(stmt.label)
            return False
        if stmt.after is not None:
            stmt.after(self)
        for name in stmt.defines:
            self.meta.setdefault(name, Meta())
        if stmt.backward:
            self._account_backward(recorder)
        self._stats = {}
        self.compare_all(stmt.label)
        return True

    def _retire_unreadable(self, label):
        """A view PyTorch no longer describes (made under no_grad, its memory since written)
        refuses to say whether it requires grad: tinygan must refuse too; then it is gone."""
        for name in list(self.names()):
            theirs = _flags(self.pt[name])
            if not isinstance(theirs, Exception):
                continue
            ours = _flags(self.tg[name]) if name in self.tg else theirs
            if not isinstance(ours, Exception):
                self.fail("requires_grad", label, f"reading {name}.requires_grad: PyTorch "
                          f"{_outcome(theirs)}, tinygan {_outcome(ours)}")
            self.retire(name)

    def _account_backward(self, recorder):
        """Every leaf with a gradient gets this backward pass' rounding bound (also where the
        pass added nothing: its "nothing" may be rounding noise around 0 in one library)."""
        bound = (self.max_ulps() + recorder.roundings) * recorder.eps * recorder.scale
        for name in self.names():
            t = self.pt[name]
            if t.is_leaf and t.grad is not None:
                err, scale = self.grad_err.get(name, (0.0, 0.0))
                self.grad_err[name] = (err + bound, max(scale, recorder.scale))

    def _reset_grads(self):
        """After a backward that raised in both: partial gradients need not agree; drop them."""
        names = [n for n in self.names() if self.pt[n].is_leaf and self.pt[n].requires_grad]
        if not names:
            return
        code = "\n".join(f"{n}.grad = None" for n in names)
        self.lines.append(code)
        self._exec(self.pt, code)
        self._exec(self.tg, code)
        for n in names:
            self.grad_err.pop(n, None)

    # --- comparing ----------------------------------------------------------------------
    def compare_all(self, label):
        for name in self.names():
            self.compare(name, label)

    def compare(self, name, label):
        t, g = self.pt[name], self.tg.get(name)
        if not isinstance(g, tinygan.Tensor):
            self.fail("type", label, f"{name} is a {type(g).__name__} in tinygan, a Tensor in "
                      "PyTorch")
        if tuple(g.shape) != tuple(t.shape):
            self.fail("shape", label, f"shape of {name}: tinygan {tuple(g.shape)}, "
                      f"PyTorch {tuple(t.shape)}")
        if dtype_name(g.dtype) != dtype_name(t.dtype):
            self.fail("dtype", label, f"dtype of {name}: tinygan {dtype_name(g.dtype)}, "
                      f"PyTorch {dtype_name(t.dtype)}")
        # PyTorch refuses to say for a view made under no_grad whose base was written in
        # place with grad on: then tinygan must refuse too, and the values still compare.
        theirs_flags, ours_flags = _flags(t), _flags(g)
        if isinstance(theirs_flags, Exception) != isinstance(ours_flags, Exception):
            self.fail("requires_grad", label,
                      f"reading {name}.requires_grad: PyTorch {_outcome(theirs_flags)}, "
                      f"tinygan {_outcome(ours_flags)}")
        if isinstance(theirs_flags, Exception):
            self.retire(name)     # both refuse to use it: it leaves the program
            return
        if bool(g.requires_grad) != bool(t.requires_grad) or bool(g.is_leaf) != bool(t.is_leaf):
            self.fail("requires_grad", label,
                      f"{name}: tinygan requires_grad={g.requires_grad}, is_leaf={g.is_leaf}; "
                      f"PyTorch requires_grad={t.requires_grad}, is_leaf={t.is_leaf}")
        stat = self.stat(name)
        theirs = t.detach().numpy()
        ours = _host(g)
        tol = tolerance(self.meta[name], stat.dtype, theirs.astype(np.float64))
        problem = compare_arrays(ours, theirs, tol)
        if problem:
            self.fail("values", label, f"values of {name} {problem}")
        self.compare_grad(name, label)

    def compare_grad(self, name, label):
        t, g = self.pt[name], self.tg[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = t.grad if t.is_leaf else None
        ours = g.grad if g.is_leaf else getattr(g, "grad", None)
        if (theirs is None) != (ours is None):
            self.fail("grad", label, f"{name}.grad: tinygan "
                      f"{'None' if ours is None else 'a Tensor'}, PyTorch "
                      f"{'None' if theirs is None else 'a Tensor'}")
        if theirs is None:
            return
        if not isinstance(ours, tinygan.Tensor):
            self.fail("grad", label, f"{name}.grad is a {type(ours).__name__} in tinygan")
        if (tuple(ours.shape), dtype_name(ours.dtype)) != \
                (tuple(theirs.shape), dtype_name(theirs.dtype)):
            self.fail("grad", label, f"{name}.grad: tinygan {tuple(ours.shape)} "
                      f"{dtype_name(ours.dtype)}, PyTorch {tuple(theirs.shape)} "
                      f"{dtype_name(theirs.dtype)}")
        err, scale = self.grad_err.get(name, (0.0, 0.0))
        reference = theirs.detach().numpy()
        tol = tolerance(Meta(err, 0, scale), dtype_name(theirs.dtype), reference.astype(np.float64))
        problem = compare_arrays(_host(ours), reference, tol)
        if problem:
            self.fail("grad", label, f"{name}.grad {problem}")

    def fail(self, kind, label, what):
        lines = header(self.device) + self.lines
        listing = []
        for i, code in enumerate(lines):
            for j, line in enumerate(code.splitlines()):
                mark = ">>> " if i == len(lines) - 1 and j == 0 else "    "
                listing.append(mark + line)
        message = (f"tinygan differs from PyTorch (device {self.device!r}) at the last line "
                   f"({label}):\n  {what}\n\nProgram (tinygan spelling, a ready repro):\n"
                   + "\n".join(listing))
        _raise(kind, label, message)


def _host(t):
    """tinygan's values on the host, always through .detach().numpy()."""
    return np.asarray(t.detach().numpy())


def _short(error):
    text = str(error).strip().splitlines()
    return (text[0][:200] if text else "")


def _annotate(code, note):
    first, *rest = code.splitlines()
    return "\n".join([f"{first}  # {note}"] + rest)


def compare_arrays(ours, theirs, tol):
    """None if equal to tolerance (NaN and ±inf at the same places), else what differs."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    if ours.shape != theirs.shape:
        return f"have shape {ours.shape} in tinygan, {theirs.shape} in PyTorch"
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    if theirs.dtype.kind in "biu" or ours.dtype.kind in "biu":
        bad = a != b
        bad |= np.isnan(a) != np.isnan(b)
    else:
        nan_a, nan_b = np.isnan(a), np.isnan(b)
        inf_a, inf_b = np.isinf(a), np.isinf(b)
        bad = (nan_a != nan_b) | (inf_a != inf_b) | (inf_a & inf_b & (np.sign(a) != np.sign(b)))
        finite = np.isfinite(a) & np.isfinite(b)
        with np.errstate(invalid="ignore"):
            diff = np.where(finite, np.abs(a - b), 0.0)
        bad |= finite & (diff > np.broadcast_to(tol, diff.shape))
    if not bad.any():
        return None
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    tol_here = float(np.broadcast_to(tol, a.shape)[where]) if a.ndim else float(np.max(tol))
    if not (np.isfinite(a[where]) and np.isfinite(b[where])):
        note = "NaN and inf must be at the same places"
    elif tol_here == 0.0:
        note = "must be equal: exact values"
    else:
        note = f"tolerance {tol_here:.3g}"
    return (f"differ at index {where} ({note}):\n"
            f"    tinygan: {_fmt_array(ours)}\n    PyTorch: {_fmt_array(theirs)}")


def _fmt_array(a):
    return np.array2string(np.asarray(a), precision=10, separator=", ", threshold=80).replace(
        "\n", "\n             ")


# --- literals --------------------------------------------------------------------------------

def _simple_first(values):
    """Small values first: hypothesis shrinks a choice towards the start of its list."""
    return sorted(values, key=lambda v: (abs(v), v < 0))


GRIDS = {  # leaf values, mostly on binary grids so that +, -, * and small sums are exact
    "ints": _simple_first([-2.0, -1.0, 0.0, 1.0, 2.0]),          # many ties and zeros
    "eighths": _simple_first([j / 8 for j in range(-24, 25)]),
    "halves": _simple_first([j / 2 for j in range(-4, 5)]),
    "positive": _simple_first([j / 4 for j in range(1, 13)]),    # for log, sqrt, divisors
    "unit": [0.0, 0.25, 0.5, 0.75, 1.0],                         # probabilities and targets
    "decimals": [0.1, -0.3, 0.7, 1.1, -2.9, 0.05, 2.2],  # on no binary grid: literals round
}
INT_VALUES = _simple_first(range(-3, 5))
WEIGHTS = [1.0, 0.5, -1.0, 2.0, -0.25, 1.5, -2.0, 0.75]     # the final loss' fixed weights
SCALARS_FLOAT = [0.5, 2.0, -1.5, 0.25, 3.0, -0.125, 1.0, 0.0, 0.1, -2.5]
SCALARS_INT = [2, -1, 3, 0, 1, -3]


def fmt(value):
    """A Python literal for a value, a nested list or a numpy array."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return repr(value)


def shape_args(shape):
    return ", ".join(str(n) for n in shape) if shape else "()"


@st.composite
def scalars(draw, kinds=("int", "float", "bool")):
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        return draw(st.sampled_from(SCALARS_INT))
    if kind == "float":
        return draw(st.sampled_from(SCALARS_FLOAT))
    return draw(st.booleans())


def scalar_meta(x):
    k = grid_k(x)
    return Meta(0.0, k, abs(float(x))) if k is not None else Meta(abs(float(x)) * 2 ** -53, 0,
                                                                  abs(float(x)))


@st.composite
def shapes(draw, max_dims=3):
    return tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=max_dims)))


@st.composite
def shapes_like(draw, shape, expand=True):
    """A shape that broadcasts against ``shape``: a suffix of it, some dims set to 1
    (and, when ``expand``, sometimes one more leading dim)."""
    keep = draw(st.integers(0, len(shape)))
    out = list(shape[len(shape) - keep:])
    for i in range(len(out)):
        if draw(st.integers(0, 3)) == 0:
            out[i] = 1
    if expand and len(shape) < 3 and draw(st.integers(0, 5)) == 0:   # one more leading dim
        out = [draw(st.integers(1, 3))] + out
    return tuple(out)


def broadcast(a, b):
    try:
        return tuple(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        return None


def pick(draw, names):
    names = list(names)
    if not names:
        return None
    return draw(st.sampled_from(names))


# --- leaves --------------------------------------------------------------------------------


def leaf(draw, s, shape=None, dtype=None, grid=None, requires_grad=None, name=None):
    """A fresh leaf statement (a generator: ``name = yield from leaf(draw, s)``)."""
    if shape is None:
        shape = draw(shapes())
    if dtype is None:
        dtype = draw(st.sampled_from(["float32", "float32", "float64", "float64", "int64", "bool"]))
    n = int(np.prod(shape, dtype=np.int64))
    name = name or s.new_name()
    if dtype in FLOATS:
        grid = grid or draw(st.sampled_from(list(GRIDS)))
        flat = draw(st.lists(st.sampled_from(GRIDS[grid]), min_size=n, max_size=n))
        # the grid of the values as stored (0.1 in float32 is a multiple of 2**-27)
        k = max((grid_k(np.dtype(dtype).type(v), limit=64) for v in flat), default=0)
        if requires_grad is None:
            requires_grad = draw(st.integers(0, 3)) > 0
    elif dtype == "int64":
        flat = draw(st.lists(st.sampled_from(INT_VALUES), min_size=n, max_size=n))
        k, requires_grad = 0, False
    else:
        flat = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        k, requires_grad = 0, False
    array = np.array(flat, dtype=object).reshape(shape) if shape else flat[0]
    literal = fmt(array.tolist() if isinstance(array, np.ndarray) else array)
    args = [literal]
    if dtype == "float64" or (dtype == "float32" and draw(st.booleans())):
        args.append(f"dtype=tg.{dtype}")
    args.append("device=device")
    if requires_grad:
        args.append("requires_grad=True")
    scale = max((abs(float(v)) for v in flat), default=0.0)
    meta = Meta(0.0, k, scale)

    def after(s, name=name, meta=meta):
        s.meta[name] = meta
    ran = yield Stmt(f"{name} = tg.tensor({', '.join(args)})", "leaf", after, (name,))
    return name if ran else None


def g_leaf(draw, s):
    yield from leaf(draw, s)


def g_leaf_like(draw, s):
    """A leaf whose shape broadcasts with an existing variable (so binary ops meet)."""
    other = pick(draw, s.names())
    if other is None:
        yield from leaf(draw, s)
        return
    yield from leaf(draw, s, shape=draw(shapes_like(s.stat(other).shape)))


def g_factory(draw, s):
    name = s.new_name()
    shape = draw(shapes())
    rg = ", requires_grad=True" if draw(st.booleans()) else ""
    dt = draw(st.sampled_from(["", ", dtype=tg.float64", ", dtype=tg.float32"]))
    like = pick(draw, s.names())
    form = draw(st.sampled_from(["zeros", "ones", "full", "full_int", "arange", "arange_float",
                                 "zeros_like", "ones_like", "full_like"]))
    if form in ("zeros", "ones"):
        code = f"{name} = tg.{form}({shape_args(shape)}{dt}, device=device{rg})"
        meta = Meta(0.0, 0, 1.0)
    elif form == "full":
        value = draw(st.sampled_from([1.5, -0.25, 2.0]))
        code = f"{name} = tg.full({shape!r}, {value}{dt}, device=device{rg})"
        meta = Meta(0.0, grid_k(value), abs(value))
    elif form == "full_int":
        value = draw(st.sampled_from([2, -1, True]))
        code = f"{name} = tg.full({shape!r}, {value}, device=device)"
        meta = Meta(0.0, 0, 2.0)
    elif form == "arange":
        n = draw(st.integers(1, 5))
        code = f"{name} = tg.arange({n}, device=device)"
        meta = Meta(0.0, 0, float(n))
    elif form == "arange_float":
        code = f"{name} = tg.arange(0.0, 2.0, 0.5{dt}, device=device{rg})"
        meta = Meta(0.0, 1, 2.0)
    else:
        if like is None:
            return
        if form == "full_like":
            value = draw(st.sampled_from([1.5, 2, -0.5]))
            code = f"{name} = tg.full_like({like}, {value})"
            meta = Meta(0.0, 1, 2.0)
        else:
            code = f"{name} = tg.{form}({like})"
            meta = Meta(0.0, 0, 1.0)

    def after(s):
        s.meta[name] = meta
    yield Stmt(code, "factory " + form, after, (name,))


# --- helpers for ops -------------------------------------------------------------------------


def usable(s, allow_nonfinite=False, floats_only=False, min_dims=0):
    out = []
    for n in s.names():
        st_ = s.stat(n)
        if (st_.finite or allow_nonfinite) and (st_.is_float or not floats_only) \
                and st_.ndim >= min_dims:
            out.append(n)
    return out


def kink_safe(st_, kinks):
    """Both libraries take the same side of every kink: exact values, or far from each."""
    if not st_.finite:
        return False
    if st_.exact:
        return True
    if st_.numel == 0:
        return True
    margin = 2.0 * float(np.max(tolerance(st_.meta, st_.dtype, st_.values)))
    return all(float(np.min(np.abs(st_.values - k))) > margin for k in kinks)


def pair_safe(a, b):
    """a and b are compared (maximum, <, ==): exact both, or apart by more than both tolerances."""
    if not (a.finite and b.finite):
        return False
    if a.exact and b.exact:
        return True
    shape = broadcast(a.shape, b.shape)
    if shape is None:
        return True      # both raise
    gap = np.abs(np.broadcast_to(a.values, shape) - np.broadcast_to(b.values, shape))
    if gap.size == 0:
        return True      # nothing compared (an operand may be empty: no tolerance to take)
    margin = 2.0 * (float(np.max(tolerance(a.meta, a.dtype, a.values))) +
                    float(np.max(tolerance(b.meta, b.dtype, b.values))))
    return float(gap.min()) > margin


def operand_stat(s, operand):
    """The Stat of a variable (by name) or of a Python scalar."""
    if isinstance(operand, str):
        return s.stat(operand)
    return _ScalarStat(operand)


class _ScalarStat:
    """A Python scalar operand, with the attributes of a Stat that the rules read."""

    def __init__(self, x):
        self.meta = scalar_meta(x)
        self.values = np.asarray(float(x))
        self.amax = self.vmax = abs(float(x))
        self.amin = self.amin_nonzero = abs(float(x))
        self.vmin = float(x)
        self.finite, self.shape, self.numel, self.ndim = True, (), 1, 0
        self.dtype = "bool" if isinstance(x, bool) else (
            "float64" if isinstance(x, float) else "int64")
        self.is_float = isinstance(x, float)
        self.requires_grad = False

    @property
    def exact(self):
        return self.meta.err == 0.0


class _Scaled:
    """alpha * operand (add_ and sub_), as the rules see it."""

    def __init__(self, meta, amax):
        self.meta, self.amax = meta, amax


def code_of(operand):
    return operand if isinstance(operand, str) else repr(operand)


def set_meta(name, rule):
    """An ``after`` that sets ``name``'s Meta from rule(dtype, out), out the result's Stat."""
    def after(s):
        out = Stat(s.pt[name], Meta())
        s.meta[name] = rule(out.dtype, out)
    return after


def maybe_no_grad(draw, code, p=8):
    """Sometimes run an op under no_grad (its result then never requires grad)."""
    if draw(st.integers(0, p - 1)) == 0:
        return "with tg.no_grad():\n    " + code.replace("\n", "\n    ")
    return code


def second_operand(draw, s, a, allow_nonfinite=False):
    """A tensor that broadcasts with ``a``: an existing variable or a fresh leaf (a generator)."""
    shape = s.stat(a).shape
    choice = draw(st.integers(0, 9))
    if choice < 4:
        names = [n for n in usable(s, allow_nonfinite) if broadcast(s.stat(n).shape, shape)]
        b = pick(draw, names)
        if b is not None:
            return b
    if choice == 9:
        b = pick(draw, usable(s, allow_nonfinite))     # may not broadcast: both must raise
        if b is not None:
            return b
    dtype = s.stat(a).dtype if draw(st.integers(0, 2)) else None
    b = yield from leaf(draw, s, shape=draw(shapes_like(shape)), dtype=dtype)
    return b


# --- arithmetic --------------------------------------------------------------------------------


def arith_meta(op, a, b, dtype, out=None):
    """Meta of a <op> b, from the Stat of each operand (variable or scalar) and of the result."""
    A, B = a.amax, b.amax
    ma, mb = a.meta, b.meta
    if op in ("+", "-"):
        return derive([ma, mb], dtype, L=2.0, c=1, S=A + B, exact_k=max(ma.k, mb.k), bound=A + B)
    if op == "*":
        return derive([ma, mb], dtype, L=A + B, c=1, S=A * B, exact_k=ma.k + mb.k, bound=A * B)
    if op == "/":       # one correctly rounded division: half an ulp of the result
        bmin = b.amin_nonzero or 1.0         # (inexact divisors are >= 0.25: division_ok)
        L = (1.0 + A / bmin) / bmin
        exact_k = None
        if isinstance(b, _ScalarStat) and b.amin > 0:
            e = math.log2(b.amin)
            if e.is_integer() and ma.k - e >= 0:
                exact_k = int(ma.k - e)
        S = out.amax if out is not None else A / bmin
        return derive([ma, mb], dtype, L=L, c=1, S=S, exact_k=exact_k, bound=A / bmin)
    raise ValueError(op)


def pow_meta(a, b, dtype, out):
    """Meta of a ** b (a the base, b the exponent; variables or scalars)."""
    if isinstance(b, _ScalarStat):
        p = float(b.values)
        if p >= 0 and p.is_integer():     # x*x, x*x*x: exact when it fits
            bound = a.amax ** p if a.amax else 0.0
            return derive([a.meta], dtype, L=p * max(a.amax, 1.0) ** max(p - 1, 0), c=2,
                          S=max(bound, 1.0), exact_k=a.meta.k * int(p), bound=bound)
        low = max(a.vmin, 0.25)            # inexact bases are >= 0.25 (see g_pow)
        L = abs(p) * (low ** (p - 1) if p < 1 else max(a.amax, 1.0) ** (p - 1))
        return derive([a.meta], dtype, L=L, c=LIBM_ULPS, S=out.amax)
    if a.dtype not in FLOATS and b.dtype not in FLOATS:
        return Meta(0.0, 0, out.amax)
    low = a.amin_nonzero or 1.0            # (inexact bases are >= 0.25: g_pow)
    L = out.amax * (b.amax / low + abs(math.log(max(a.amax, 1.0))) + abs(math.log(low)))
    return derive([a.meta, b.meta], dtype, L=L, c=LIBM_ULPS, S=out.amax)


def division_ok(b):
    """An inexact divisor must stay well away from 0; an exact one may be 0 (inf and NaN)."""
    if isinstance(b, _ScalarStat):
        return True
    if b.exact:
        return True
    return b.finite and b.amin >= 0.25 and b.amin > 4.0 * b.tol()


def g_arith(draw, s):
    op = draw(st.sampled_from(["+", "-", "*", "/", "+", "*", "**"]))
    if op == "**":
        yield from g_pow(draw, s)
        return
    form = draw(st.sampled_from(["tt", "tt", "ts", "st"]))
    a = pick(draw, usable(s, allow_nonfinite=True))
    if a is None:
        return
    if form == "tt":
        b = yield from second_operand(draw, s, a, allow_nonfinite=True)
        if b is None:
            return
        left, right = a, b
    else:
        x = draw(scalars())
        left, right = (a, x) if form == "ts" else (x, a)
    L, R = operand_stat(s, left), operand_stat(s, right)
    if op == "/" and not division_ok(R):
        return
    if op == "-" and "bool" in (L.dtype, R.dtype):
        return             # PyTorch refuses a bool tensor in a subtraction (REFUSED_BY_PYTORCH)
    name = s.new_name()
    code = f"{name} = {code_of(left)} {op} {code_of(right)}"
    yield Stmt(maybe_no_grad(draw, code), f"{op} {_kinds(s, left, right)}",
               set_meta(name, lambda d, out: arith_meta(op, L, R, d, out)), (name,))


def _kinds(s, *operands):
    out = []
    for o in operands:
        if isinstance(o, str):
            st_ = s.stat(o)
            out.append(f"{st_.dtype}{'[0-d]' if st_.ndim == 0 else ''}")
        else:
            out.append(type(o).__name__)
    return ", ".join(out)


def g_pow(draw, s):
    form = draw(st.sampled_from(["ts", "ts", "st", "tt"]))
    name = s.new_name()
    if form == "ts":
        p = draw(st.sampled_from([2, 3, 0.5, -1, 1.5, 2.0, -2, 1, 0]))
        cands = []
        for n in usable(s):
            a = s.stat(n)
            if a.amax > 8:
                continue
            if not a.exact and not (float(p).is_integer() and p >= 0) and a.vmin < 0.25:
                continue
            cands.append(n)
        a = pick(draw, cands)
        if a is None:
            return
        A, P = s.stat(a), _ScalarStat(p)
        code = f"{name} = {a} ** {p!r}"
        label = f"** {_kinds(s, a, p)}"
    elif form == "st":
        base = draw(st.sampled_from([2, 0.5, 3.0, 1.5]))
        cands = [n for n in usable(s) if s.stat(n).amax * abs(math.log2(base)) <= 16]
        a = pick(draw, cands)
        if a is None:
            return
        A, P = _ScalarStat(base), s.stat(a)
        code = f"{name} = {base!r} ** {a}"
        label = f"** {_kinds(s, base, a)}"
    else:
        bases = [n for n in usable(s) if s.stat(n).amax <= 4 and
                 (s.stat(n).vmin >= 0.25 or (s.stat(n).exact and s.stat(n).vmin >= 0))]
        a = pick(draw, bases)
        if a is None:
            return
        exps = [n for n in usable(s) if s.stat(n).amax <= 3 and broadcast(s.stat(n).shape,
                                                                              s.stat(a).shape)]
        b = pick(draw, exps)
        if b is None:
            return
        A, P = s.stat(a), s.stat(b)
        code = f"{name} = {a} ** {b}"
        label = f"** {_kinds(s, a, b)}"
    yield Stmt(maybe_no_grad(draw, code), label,
               set_meta(name, lambda d, out: pow_meta(A, P, d, out)), (name,))


# --- elementwise --------------------------------------------------------------------------------

UNARY = ["neg", "abs", "exp", "log", "log1p", "sqrt", "relu", "sigmoid", "tanh", "softplus",
         "leaky_relu", "clamp"]
SLOPES = [0.01, 0.2, 0.5, -0.5, -1.0, 1.5, 2.0, 0.0, -0.25]


def unary_ok(op, a, params):
    """Whether ``op`` may be applied to the values a (a Stat), by construction."""
    if op == "neg":
        return True
    if op in ("exp",):
        return a.finite and a.vmax <= 20
    if op in ("log", "sqrt"):
        return a.finite and (a.exact or a.vmin >= 0.25)
    if op == "log1p":
        return a.finite and (a.exact or a.vmin >= -0.75)
    if op in ("sigmoid", "tanh"):
        return a.finite
    if op == "softplus":
        beta, threshold = params
        return a.finite and kink_safe(a, [threshold / beta])
    if op == "relu" and a.dtype == "bool":
        return False       # PyTorch refuses bool input (see REFUSED_BY_PYTORCH)
    if op in ("abs", "relu", "leaky_relu"):
        return kink_safe(a, [0.0])
    if op == "clamp":
        lo, hi = params
        return kink_safe(a, [v for v in (lo, hi) if v is not None])
    raise ValueError(op)


def unary_meta(op, a, params, dtype, out):
    """Meta of op(a); ``out`` is the result's Stat (its magnitude is what the rounding scales)."""
    m, A = a.meta, a.amax
    if op in ("neg", "abs", "relu"):
        return derive([m], dtype, L=1, c=1, S=A, exact_k=m.k, bound=A)
    if op == "leaky_relu":
        slope = params
        ks = grid_k(slope)
        L = max(1.0, abs(slope))
        return derive([m], dtype, L=L, c=1, S=A * L,
                      exact_k=None if ks is None else m.k + ks, bound=A * L)
    if op == "clamp":
        lo, hi = params
        ks = [grid_k(v) for v in (lo, hi) if v is not None]
        bound = max([A] + [abs(v) for v in (lo, hi) if v is not None])
        exact_k = None if None in ks else max([m.k] + ks)
        return derive([m], dtype, L=1, c=1, S=bound, exact_k=exact_k, bound=bound)
    if op == "exp":
        return derive([m], dtype, L=out.amax, c=LIBM_ULPS, S=out.amax)
    if op in ("log", "log1p", "sqrt"):  # inexact inputs are >= 0.25 (-0.75 for log1p)
        low = max(a.vmin + (1.0 if op == "log1p" else 0.0), 0.25)
        L = 0.5 / math.sqrt(low) if op == "sqrt" else 1.0 / low
        return derive([m], dtype, L=L, c=1 if op == "sqrt" else LIBM_ULPS, S=out.amax)
    if op == "sigmoid":
        return derive([m], dtype, L=0.25, c=LIBM_ULPS, S=1.0)
    if op == "tanh":
        return derive([m], dtype, L=1.0, c=LIBM_ULPS, S=1.0)
    if op == "softplus":
        return derive([m], dtype, L=1.0, c=2 * LIBM_ULPS, S=out.amax + 1.0)
    raise ValueError(op)


def unary_code(draw, op, x, params):
    if op == "neg":
        return f"-{x}"
    if op == "abs":
        return draw(st.sampled_from([f"{x}.abs()", f"abs({x})", f"tg.abs({x})"]))
    if op in ("exp", "log", "log1p", "sqrt"):
        return draw(st.sampled_from([f"{x}.{op}()", f"tg.{op}({x})"]))
    if op == "relu":
        return draw(st.sampled_from([f"{x}.relu()", f"tg.relu({x})", f"F.relu({x})",
                                     f"nn.ReLU()({x})", f"F.relu({x}, inplace=False)",
                                     f"nn.ReLU(inplace=False)({x})"]))
    if op in ("sigmoid", "tanh"):
        module = {"sigmoid": "Sigmoid", "tanh": "Tanh"}[op]
        return draw(st.sampled_from([f"{x}.{op}()", f"tg.{op}({x})", f"F.{op}({x})",
                                     f"nn.{module}()({x})"]))
    if op == "softplus":
        beta, threshold = params
        if (beta, threshold) == (1.0, 20.0):
            return f"F.softplus({x})"
        return f"F.softplus({x}, beta={beta!r}, threshold={threshold!r})"
    if op == "leaky_relu":
        slope = params
        if slope == 0.01 and draw(st.booleans()):
            return draw(st.sampled_from([f"F.leaky_relu({x})", f"nn.LeakyReLU()({x})"]))
        return draw(st.sampled_from([f"F.leaky_relu({x}, {slope!r})",
                                     f"F.leaky_relu({x}, negative_slope={slope!r})",
                                     f"nn.LeakyReLU({slope!r})({x})"]))
    if op == "clamp":
        lo, hi = params
        method = draw(st.sampled_from(["clamp", "clip"]))
        args = []
        if lo is not None:
            args.append(f"min={lo!r}")
        if hi is not None:
            args.append(f"max={hi!r}")
        if draw(st.booleans()):
            return f"{x}.{method}({', '.join(args)})"
        return f"tg.{method}({x}, {', '.join(args)})"
    raise ValueError(op)


def unary_params(draw, op):
    if op == "softplus":
        return draw(st.sampled_from([(1.0, 20.0), (2.0, 1.0), (0.5, 2.0), (1.0, 1.0)]))
    if op == "leaky_relu":
        return draw(st.sampled_from(SLOPES))
    if op == "clamp":
        lo = draw(st.sampled_from([None, -1.0, 0.0, -0.5, 1, 0.1]))
        hi = draw(st.sampled_from([None, 1.0, 0.5, 2, -1.0]))
        if lo is None and hi is None:
            lo = 0.0
        return lo, hi
    return None


def g_unary(draw, s):
    op = draw(st.sampled_from(UNARY))
    params = unary_params(draw, op)
    cands = [n for n in s.names() if unary_ok(op, s.stat(n), params)]
    a = pick(draw, cands)
    if a is None:
        return
    A = s.stat(a)
    name = s.new_name()
    code = f"{name} = {unary_code(draw, op, a, params)}"
    detail = f" {params!r}" if op in ("leaky_relu", "softplus", "clamp") else ""
    if op == "leaky_relu":
        detail = " (negative slope)" if params < 0 else (" (slope > 1)" if params > 1 else "")
    yield Stmt(maybe_no_grad(draw, code), f"{op}{detail} {A.dtype}",
               set_meta(name, lambda d, out: unary_meta(op, A, params, d, out)), (name,))


def g_binary_fn(draw, s):
    fn = draw(st.sampled_from(["maximum", "minimum", "where", "where"]))
    name = s.new_name()
    if fn in ("maximum", "minimum"):
        a = pick(draw, usable(s))
        if a is None:
            return
        b = yield from second_operand(draw, s, a)
        if b is None:
            return
        A, B = s.stat(a), s.stat(b)
        if not pair_safe(A, B):
            return
        code = f"{name} = tg.{fn}({a}, {b})"
        bound = max(A.amax, B.amax)

        def rule(d, out):
            return derive([A.meta, B.meta], d, L=1, c=1, S=bound, exact_k=max(A.meta.k, B.meta.k),
                          bound=bound)
        yield Stmt(maybe_no_grad(draw, code), f"{fn} {_kinds(s, a, b)}", set_meta(name, rule),
                   (name,))
        return
    conds = [n for n in s.names() if s.stat(n).dtype == "bool"]
    cond = pick(draw, conds)
    if cond is None:
        return
    a = pick(draw, [n for n in usable(s) if broadcast(s.stat(n).shape, s.stat(cond).shape)])
    if a is None:
        return
    other = draw(st.integers(0, 3))
    if other == 0:
        b = draw(scalars(("int", "float")))
    else:
        b = pick(draw, [n for n in usable(s) if broadcast(s.stat(n).shape, s.stat(a).shape)])
        if b is None:
            return
    first, second = (a, b) if draw(st.booleans()) else (b, a)
    F1, F2 = operand_stat(s, first), operand_stat(s, second)
    code = f"{name} = tg.where({cond}, {code_of(first)}, {code_of(second)})"
    bound = max(F1.amax, F2.amax)

    def rule(d, out):
        return derive([F1.meta, F2.meta], d, L=1, c=1, S=bound,
                      exact_k=max(F1.meta.k, F2.meta.k), bound=bound)
    yield Stmt(maybe_no_grad(draw, code), f"where {_kinds(s, first, second)}", set_meta(name, rule),
               (name,))


def g_compare(draw, s):
    op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
    a = pick(draw, usable(s))
    if a is None:
        return
    form = draw(st.sampled_from(["tt", "ts", "st"]))
    if form == "tt":
        b = yield from second_operand(draw, s, a)
        if b is None:
            return
        if not pair_safe(s.stat(a), s.stat(b)):
            return
        left, right = a, b
    else:
        x = draw(scalars())
        if not kink_safe(s.stat(a), [float(x)]):
            return
        left, right = (a, x) if form == "ts" else (x, a)
    name = s.new_name()
    code = f"{name} = {code_of(left)} {op} {code_of(right)}"
    spelled = draw(st.sampled_from(["operator", "operator", "function", "method"]))
    if spelled != "operator" and isinstance(left, str):     # tg.eq(2, x) is a TypeError
        fn = COMPARISON_NAMES[op]
        code = (f"{name} = tg.{fn}({left}, {code_of(right)})" if spelled == "function" else
                f"{name} = {left}.{fn}({code_of(right)})")
    yield Stmt(code, f"{op} {_kinds(s, left, right)}", set_meta(name, lambda d, out: Meta()),
               (name,))


COMPARISON_NAMES = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}


def g_isclose(draw, s):
    """isclose (function and method) and allclose (a Python bool in both: checked with
    ``is True``) of exact values, NaN and ±inf included, with tolerances that put grid
    values on the boundary |a - b| = atol + rtol·|b|; operands of different dtypes (both
    raise) or shapes that do not broadcast (both raise) now and then."""
    a = pick(draw, [n for n in usable(s, allow_nonfinite=True) if s.stat(n).exact])
    if a is None:
        return
    b = yield from second_operand(draw, s, a, allow_nonfinite=True)
    if b is None or not s.stat(b).exact:
        return
    tols = draw(st.sampled_from([(), (0.0, 0.25), (0.1, 0.0), (0.5, 0.125), (0.0, 0.0),
                                 (1e-3, 1e-3), (0.25,)]))
    args = "".join(f", {k}={v!r}" for k, v in zip(("rtol", "atol"), tols))
    if draw(st.booleans()):
        args += f", equal_nan={draw(st.booleans())}"
    fn = draw(st.sampled_from(["isclose", "isclose", "allclose", "equal"]))
    args = "" if fn == "equal" else args
    form = draw(st.sampled_from([f"tg.{fn}({a}, {b}{args})", f"{a}.{fn}({b}{args})"]))
    name = s.new_name()
    code = f"{name} = {form}" if fn == "isclose" else \
        f"{name} = tg.tensor({form} is True, device=device)"
    yield Stmt(code, f"{fn} {_kinds(s, a, b)}", set_meta(name, lambda d, out: Meta()), (name,))


# --- reductions -------------------------------------------------------------------------------


@st.composite
def dims(draw, ndim, allow_tuple=True):
    """None, an int (negative too) or a tuple of distinct dims."""
    if ndim == 0:
        return draw(st.sampled_from([None, None, 0, -1]))
    kinds = ["none", "int", "int"] + (["tuple"] if allow_tuple else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


def reduced(shape, dim):
    """How many elements a reduction over ``dim`` folds into one (at least 1)."""
    if dim is None or not shape:
        return max(int(np.prod(shape, dtype=np.int64)), 1)
    axes = {a % len(shape) for a in ((dim,) if isinstance(dim, int) else dim)}
    return max(int(np.prod([shape[a] for a in axes], dtype=np.int64)), 1)


def dim_args(dim, keepdim, positional=False):
    args = []
    if dim is not None:
        args.append(repr(dim) if positional else f"dim={dim!r}")
    if keepdim:
        args.append("keepdim=True")
    return ", ".join(args)


def g_reduce(draw, s):
    op = draw(st.sampled_from(["sum", "sum", "mean", "var", "std", "any", "all", "prod", "prod"]))
    a = pick(draw, usable(s, allow_nonfinite=op in ("sum", "mean")))
    if a is None:
        return
    A = s.stat(a)
    dim = draw(dims(A.ndim, allow_tuple=op != "prod"))    # prod: one dim, as PyTorch
    keepdim = dim is not None and draw(st.booleans())     # PyTorch: keepdim needs a dim
    n = reduced(A.shape, dim)
    name = s.new_name()
    positional = dim is not None and draw(st.booleans())
    args = dim_args(dim, keepdim, positional)
    if op in ("any", "all"):
        if A.is_float and not kink_safe(A, [0.0]):
            return
        fn_args = ", ".join([a] + ([args] if args else []))
        code = draw(st.sampled_from([f"{name} = {a}.{op}({args})", f"{name} = tg.{op}({fn_args})"]))
        yield Stmt(code, f"{op}{' dim' if dim is not None else ''} {A.dtype}",
                   set_meta(name, lambda d, out: Meta()), (name,))
        return
    if op == "prod":
        yield from _prod_step(draw, a, A, name, args, n, dim)
        return
    if op in ("var", "std"):
        if not A.is_float:
            return         # PyTorch refuses integer input (see REFUSED_BY_PYTORCH)
        corr = draw(st.sampled_from([None, "unbiased=False", "unbiased=True", "correction=0",
                                     "correction=2"]))
        if corr:
            args = ", ".join([x for x in (args, corr) if x])
        if op == "std" and not A.exact:
            return    # std of inexact values near 0 variance is ill-conditioned
        spelled = draw(st.sampled_from(["method", "fn"]))
        code = f"{name} = {a}.{op}({args})" if spelled == "method" else \
            f"{name} = tg.{op}({', '.join([a] + ([args] if args else []))})"
        correction = 1
        if corr in ("unbiased=False", "correction=0"):
            correction = 0
        elif corr == "correction=2":
            correction = 2
        divisor = max(n - correction, 1)

        def rule(d, out):
            M = 2 * A.amax
            var_meta = derive([A.meta], d, L=4 * n * A.amax / divisor, c=2 * n + 4,
                              S=n * M * M / divisor + M * M)
            if op == "var":
                return var_meta
            var_err = var_meta.err
            var_min = max(float(np.min(np.abs(s.pt[name].detach().numpy().astype(np.float64)))),
                          0.0) ** 2 if s.pt[name].numel() else 0.0
            if var_min - var_err > 0:
                err = var_err / (2 * math.sqrt(var_min - var_err))
            else:
                err = math.sqrt(var_err)
            return Meta(err + EPS.get(d, 0) * math.sqrt(var_meta.scale), 0,
                        math.sqrt(var_meta.scale))
        yield Stmt(maybe_no_grad(draw, code), f"{op} {A.dtype}", set_meta(name, rule), (name,))
        return
    spelled = draw(st.sampled_from(["method", "method", "fn"]))
    code = f"{name} = {a}.{op}({args})" if spelled == "method" else \
        f"{name} = tg.{op}({', '.join([a] + ([args] if args else []))})"

    def rule(d, out):
        if op == "sum":
            return derive([A.meta], d, L=n, c=n, S=n * A.amax, exact_k=A.meta.k,
                          bound=n * A.amax)
        e = math.log2(n)
        return derive([A.meta], d, L=1, c=n + 1, S=n * A.amax,
                      exact_k=A.meta.k + int(e) if e.is_integer() else None, bound=n * A.amax)
    yield Stmt(maybe_no_grad(draw, code), f"{op}{' dim' if dim is not None else ''} {A.dtype}",
               set_meta(name, rule), (name,))


def _prod_step(draw, a, A, name, args, n, dim):
    """x.prod / tg.prod over all or one dim (dtype= now and then): exact on grid values
    while the product fits the mantissa, zeros included (where the gradient is the product
    of the others, not Πx / x_i)."""
    bound = max(A.amax, 1.0) ** n
    if bound > 2.0 ** 20 or (A.dtype == "int64" and bound > 2.0 ** 52):
        return
    if draw(st.integers(0, 4)) == 0:
        args = ", ".join([x for x in (args, "dtype=tg.float64") if x])
    code = draw(st.sampled_from([f"{name} = {a}.prod({args})",
                                 f"{name} = tg.prod({', '.join([a] + ([args] if args else []))})"]))

    def rule(d, out):
        L = n * max(A.amax, 1.0) ** (n - 1)
        return derive([A.meta], d, L=L, c=n, S=bound, exact_k=A.meta.k * n, bound=bound)
    yield Stmt(maybe_no_grad(draw, code), f"prod{' dim' if dim is not None else ''} {A.dtype}",
               set_meta(name, rule), (name,))


def ties_safe(A, axis, smallest):
    """max/min/argmax along ``axis`` (None: all) picks the same element in both libraries."""
    if not A.finite:
        return False
    if A.exact or A.numel <= 1:
        return True
    v = -A.values if smallest else A.values
    v = v.reshape(-1, 1) if axis is None else np.moveaxis(v, axis, -1)
    if v.shape[-1] < 2:
        return True
    top2 = np.sort(v, axis=-1)[..., -2:]
    return float(np.min(top2[..., 1] - top2[..., 0])) > 4.0 * A.tol()


def g_maxmin(draw, s):
    op = draw(st.sampled_from(["max", "min", "argmax", "argmin", "max", "min"]))
    a = pick(draw, [n for n in usable(s) if s.stat(n).dtype != "bool" or op in ("max", "min")])
    if a is None:
        return
    A = s.stat(a)
    full = draw(st.integers(0, 2)) == 0
    dim = None if full or A.ndim == 0 and draw(st.booleans()) else draw(
        st.integers(-max(A.ndim, 1), max(A.ndim, 1) - 1))
    keepdim = dim is not None and draw(st.booleans())
    axis = None if dim is None or A.ndim == 0 else dim % A.ndim
    if not ties_safe(A, axis, op in ("min", "argmin")):
        return
    args = dim_args(dim, keepdim, positional=draw(st.booleans()))
    if op in ("argmax", "argmin"):
        name = s.new_name()
        code = f"{name} = {a}.{op}({args})"
        yield Stmt(code, f"{op}{' dim' if dim is not None else ''} {A.dtype}",
                   set_meta(name, lambda d, out: Meta()), (name,))
        return
    if dim is None:
        name = s.new_name()
        code = draw(st.sampled_from([f"{name} = {a}.{op}()", f"{name} = tg.{op}({a})"]))
        yield Stmt(maybe_no_grad(draw, code), f"{op} (all, ties share the gradient) {A.dtype}",
                   set_meta(name, lambda d, out: A.meta), (name,))
        return
    values, indices = s.new_name(), s.new_name()
    form = draw(st.sampled_from(["unpack", "values", "indices"]))
    if form == "unpack":
        code = f"{values}, {indices} = {a}.{op}({args})"
        defines = (values, indices)
    elif form == "values":
        code = f"{values} = {a}.{op}({args}).values"
        defines = (values,)
    else:
        code = f"{indices} = {a}.{op}({args})[1]"
        defines = (indices,)

    def after(s):
        if values in s.pt:
            s.meta[values] = A.meta
        if indices in s.pt:
            s.meta[indices] = Meta()
    yield Stmt(maybe_no_grad(draw, code), f"{op} dim {A.dtype}", after, defines)


# --- views, indexing, conversions ---------------------------------------------------------------


def reshape_target(draw, shape):
    n = int(np.prod(shape, dtype=np.int64))
    if n == 0:
        return draw(st.sampled_from([(0,), (-1,)]))
    dims_ = []
    rest = n
    for _ in range(draw(st.integers(0, 2))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divisors))
        dims_.append(d)
        rest //= d
    dims_.append(rest)
    if len(dims_) > 1 and draw(st.booleans()):
        dims_[draw(st.integers(0, len(dims_) - 1))] = -1
    if n == 1 and draw(st.integers(0, 3)) == 0:
        return ()
    return tuple(dims_)


NEGATIVE_STEP = re.compile(r"\[[^\]]*:[^\],]*:-")   # a[::-1], a[1:, 2:0:-1]


@st.composite
def slice_part(draw, n, negative_steps=True):
    start = draw(st.sampled_from([None, None, 0, 1, -1, n, -n, 2]))
    stop = draw(st.sampled_from([None, None, 1, -1, n, 2, 3]))
    steps = [None, None, 1, 2] + ([-1] if negative_steps and draw(st.integers(0, 9)) == 0 else [])
    step = draw(st.sampled_from(steps))
    text = f"{'' if start is None else start}:{'' if stop is None else stop}"
    if step is not None:
        text += f":{step}"
    return text


@st.composite
def basic_index(draw, shape, negative_steps=True):
    """Code for a basic index (ints, slices, None, ...) of a tensor of ``shape``."""
    if not shape:
        return draw(st.sampled_from(["...", "None", "()"]))
    parts = []
    count = draw(st.integers(1, len(shape)))
    for n in shape[:count]:
        kind = draw(st.sampled_from(["int", "slice", "slice"] if n else ["slice"]))
        if kind == "int":
            parts.append(str(draw(st.integers(-n, n - 1))))
        else:
            parts.append(draw(slice_part(n, negative_steps)))
    extra = draw(st.integers(0, 9))
    if extra == 0:
        parts.insert(0, "None")
    elif extra == 1 and len(parts) < len(shape):
        parts = ["..."] + parts[1:] if len(parts) > 1 else ["...", parts[0]]
    return ", ".join(parts)


@st.composite
def advanced_index(draw, shape, repeats=True):
    """Integer-array indexing (lists), alone or with ints and slices; repeats when allowed."""
    def int_list(n):
        if repeats:
            values = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4))
            return values + [values[0]] if draw(st.booleans()) else values
        return draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    kinds = ["list"]
    if len(shape) >= 2:
        kinds += ["list_slice", "int_list", "slice_list", "list_list"]
    kind = draw(st.sampled_from(kinds))
    if kind == "list":
        return repr(int_list(shape[0]))
    if kind == "list_slice":
        return f"{int_list(shape[0])!r}, {draw(slice_part(shape[1], False))}"
    if kind == "int_list":
        return f"{draw(st.integers(-shape[0], shape[0] - 1))}, {int_list(shape[1])!r}"
    if kind == "slice_list":
        return f"{draw(slice_part(shape[0], False))}, {int_list(shape[1])!r}"
    rows = int_list(shape[0])
    if repeats:
        cols = draw(st.lists(st.integers(-shape[1], shape[1] - 1), min_size=len(rows),
                             max_size=len(rows)))
    else:
        cols = [draw(st.integers(0, shape[1] - 1)) for _ in rows]
    return f"{rows!r}, {cols!r}"


def g_view(draw, s):
    a = pick(draw, usable(s, allow_nonfinite=True))
    if a is None:
        return
    A = s.stat(a)
    nd = A.ndim
    form = draw(st.sampled_from(["T", "transpose", "permute", "reshape", "view", "flatten",
                                 "unsqueeze", "squeeze", "slice", "slice", "reshape", "narrow",
                                 "split", "chunk", "unbind"]))
    name = s.new_name()
    if form == "T":
        code = f"{a}.T"
    elif form == "transpose":
        if nd == 0:
            d0 = d1 = draw(st.sampled_from([0, -1]))
        else:
            d0, d1 = draw(st.integers(-nd, nd - 1)), draw(st.integers(-nd, nd - 1))
        code = draw(st.sampled_from([f"{a}.transpose({d0}, {d1})",
                                     f"tg.transpose({a}, {d0}, {d1})"]))
    elif form == "permute":
        perm = draw(st.permutations(list(range(nd))))
        perm = [p - nd if draw(st.integers(0, 3)) == 0 else p for p in perm]
        code = draw(st.sampled_from([f"{a}.permute({', '.join(map(str, perm))})" if perm else
                                     f"{a}.permute(())",
                                     f"{a}.permute({tuple(perm)!r})",
                                     f"tg.permute({a}, {tuple(perm)!r})"]))
    elif form in ("reshape", "view"):
        target = reshape_target(draw, A.shape)
        if draw(st.booleans()) and target:
            code = f"{a}.{form}({', '.join(map(str, target))})"
        else:
            code = f"{a}.{form}({target!r})"
        if form == "reshape" and draw(st.integers(0, 3)) == 0:
            code = f"tg.reshape({a}, {target!r})"
    elif form == "flatten":
        if nd == 0:
            code = f"{a}.flatten()"
        else:
            start = draw(st.integers(-nd, nd - 1))
            end = draw(st.integers(-nd, nd - 1))
            code = draw(st.sampled_from([f"{a}.flatten()", f"{a}.flatten({start})",
                                         f"{a}.flatten({start}, {end})",
                                         f"tg.flatten({a}, start_dim={start})",
                                         f"nn.Flatten()({a})"]))
    elif form == "unsqueeze":
        d = draw(st.integers(-nd - 1, nd))
        code = draw(st.sampled_from([f"{a}.unsqueeze({d})", f"tg.unsqueeze({a}, {d})"]))
    elif form == "squeeze":
        if nd == 0 or draw(st.booleans()):
            code = f"{a}.squeeze()"
        else:
            d = draw(st.integers(-nd, nd - 1))
            code = draw(st.sampled_from([f"{a}.squeeze({d})", f"tg.squeeze({a}, {d})"]))
    elif form in ("narrow", "split", "chunk", "unbind"):
        code = piece(draw, a, A.shape, form)
    else:
        code = f"{a}[{draw(basic_index(A.shape))}]"
    label = f"view {form}" + (" (negative step)" if NEGATIVE_STEP.search(code) else "")
    yield Stmt(maybe_no_grad(draw, f"{name} = {code}"), label,
               set_meta(name, lambda d, out: A.meta), (name,))


def piece(draw, a, shape, form):
    """One piece of ``a`` along a dim: x.narrow, or one element of the tuple that x.split (by
    a size or a list of sizes), x.chunk or x.unbind returns; as a method or a tg.* function.
    Mostly valid arguments; now and then an out-of-range one, which both libraries refuse
    (and a 0-d tensor, which they refuse too)."""
    nd = len(shape)
    d = draw(st.integers(-nd, nd - 1)) if nd else 0
    size = shape[d] if nd else 1
    wild = draw(st.integers(0, 7)) == 0
    if form == "unbind" and size == 0:
        form = "narrow"
    if form == "narrow":
        start = draw(st.integers(-size - wild, size + wild))
        room = size - (start + size if start < 0 else start)
        length = draw(st.integers(0, max(room, 0) + wild))
        args, count = f"{d}, {start}, {length}", None
    elif form == "split" and draw(st.booleans()):
        cuts = sorted(draw(st.lists(st.integers(0, size), max_size=3)))
        sizes = [b - a for a, b in zip([0] + cuts, cuts + [size])]
        if wild:
            sizes[-1] += 1
        args, count = f"{sizes!r}, {d}", len(sizes)
    elif form == "split":
        step = draw(st.integers(0 if size == 0 or wild else 1, max(size, 1)))
        args, count = f"{step}, {d}", max(-(-size // step), 1) if step else 1
    elif form == "chunk":
        chunks = draw(st.integers(0 if wild else 1, size + 2))
        step = -(-size // chunks) if chunks else 1       # (chunks 0: refused before the index)
        count = -(-size // step) if size else max(chunks, 1)
        args = f"{chunks}, {d}"
    else:
        args, count = f"{d}", size
    call = draw(st.sampled_from([f"{a}.{form}({args})", f"tg.{form}({a}, {args})"]))
    return call if count is None else f"{call}[{draw(st.integers(-count, count - 1))}]"


def g_index(draw, s):
    a = pick(draw, [n for n in usable(s, allow_nonfinite=True, min_dims=1) if s.stat(n).numel])
    if a is None:
        return
    A = s.stat(a)
    name = s.new_name()
    kind = draw(st.sampled_from(["advanced", "advanced", "mask", "index_tensor"]))
    if kind == "advanced":
        index = draw(advanced_index(A.shape))
        label = "index with lists (repeats)"
    elif kind == "mask":
        masks = [n for n in s.names() if s.stat(n).dtype == "bool" and s.stat(n).ndim >= 1
                 and s.stat(n).shape == A.shape[:s.stat(n).ndim]]
        index = pick(draw, masks)
        if index is None:
            return
        label = "index with a bool mask"
    else:
        n = A.shape[0]
        idx = [m for m in s.names() if s.stat(m).dtype == "int64" and s.stat(m).numel > 0 and
               -n <= s.stat(m).vmin and s.stat(m).vmax <= n - 1]
        index = pick(draw, idx)
        if index is None:
            return
        label = "index with an int64 tensor"
    yield Stmt(maybe_no_grad(draw, f"{name} = {a}[{index}]"), label,
               set_meta(name, lambda d, out: A.meta), (name,))


def int_safe(A):
    """Truncation to int64 gives the same integers: exact values, or far from every integer."""
    if not A.finite or A.amax >= 2.0 ** 40:
        return False
    if A.exact or A.numel == 0:
        return True
    gap = np.abs(A.values - np.round(A.values))
    return float(gap.min()) > 2.0 * A.tol()


def g_convert(draw, s):
    a = pick(draw, usable(s, allow_nonfinite=True))
    if a is None:
        return
    A = s.stat(a)
    form = draw(st.sampled_from(["detach", "clone", "float", "double", "to64", "to32", "toint",
                                 "tobool", "todevice"]))
    name = s.new_name()
    code = {"detach": f"{a}.detach()", "clone": f"{a}.clone()", "float": f"{a}.float()",
            "double": f"{a}.double()", "to64": f"{a}.to(tg.float64)",
            "to32": f"{a}.to(dtype=tg.float32)", "toint": f"{a}.to(tg.int64)",
            "tobool": f"{a}.to(tg.bool_)", "todevice": f"{a}.to(device)"}[form]
    if form == "toint" and A.is_float and not int_safe(A):
        return
    if form == "tobool" and A.is_float and not kink_safe(A, [0.0]):
        return

    def rule(d, out):
        return derive([A.meta], d, L=1, c=1, S=A.amax, exact_k=A.meta.k, bound=A.amax)
    yield Stmt(maybe_no_grad(draw, f"{name} = {code}"), f"{form} {A.dtype}", set_meta(name, rule),
               (name,))


# --- matmul, cat, stack -------------------------------------------------------------------------


def g_matmul(draw, s):
    a = pick(draw, [n for n in usable(s) if 1 <= s.stat(n).ndim <= 3 and s.stat(n).dtype != "bool"])
    if a is None:
        return
    A = s.stat(a)
    n = A.shape[-1]
    m = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    options = [(n,), (n, m)]
    if A.ndim <= 2:
        options.append((draw(st.integers(1, 2)), n, m))
    else:
        options.append((draw(st.sampled_from([1, A.shape[0]])), n, m))
    b_shape = draw(st.sampled_from(options))
    wants = b_shape[::-1] if transposed and len(b_shape) == 2 else b_shape
    transposed = transposed and len(b_shape) == 2
    found = [x for x in usable(s) if s.stat(x).shape == wants and s.stat(x).dtype != "bool"]
    if found and draw(st.booleans()):
        b = pick(draw, found)
    else:
        dtype = A.dtype if draw(st.integers(0, 5)) else draw(st.sampled_from(
            ["float32", "float64", "int64"]))
        b = yield from leaf(draw, s, shape=wants, dtype=dtype)
        if b is None:
            return
    B = s.stat(b)
    right = f"{b}.T" if transposed else b
    name = s.new_name()
    code = draw(st.sampled_from([f"{a} @ {right}", f"tg.matmul({a}, {right})",
                                 f"{a}.matmul({right})"]))

    def rule(d, out):
        S = n * A.amax * B.amax
        return derive([A.meta, B.meta], d, L=n * (A.amax + B.amax) + 1e-300, c=n + 1, S=S,
                      exact_k=A.meta.k + B.meta.k, bound=S)
    label = f"matmul {A.ndim}-D @ {len(b_shape)}-D{' (W.T)' if transposed else ''}"
    after = set_meta(name, rule)
    if max(A.ndim, len(b_shape)) >= 3:
        s.folded.update(p for p in (s.storage(a), s.storage(b)) if p is not None)

        def after(s, set_meta=after):   # the result too (DELIBERATE_DIFFERENCES)
            set_meta(s)
            s.folded.update(p for p in (s.storage(name),) if p is not None)
    yield Stmt(maybe_no_grad(draw, f"{name} = {code}"), label, after, (name,))


def g_join(draw, s):
    fn = draw(st.sampled_from(["cat", "stack"]))
    a = pick(draw, usable(s, allow_nonfinite=True, min_dims=1 if fn == "cat" else 0))
    if a is None:
        return
    A = s.stat(a)
    nd = A.ndim
    out_dims = nd + (fn == "stack")          # stack makes a new dim
    dim = draw(st.integers(-out_dims, out_dims - 1))
    parts = [a]
    for _ in range(draw(st.integers(1, 2))):
        if draw(st.integers(0, 3)) == 0:
            parts.append(a)                  # the same tensor twice
            continue
        shape = list(A.shape)
        if fn == "cat" and nd:
            shape[dim % nd] = draw(st.integers(1, 3))
        dtype = A.dtype if draw(st.integers(0, 4)) else None
        found = [x for x in usable(s, allow_nonfinite=True) if s.stat(x).shape == tuple(shape)]
        if found and draw(st.booleans()):
            parts.append(pick(draw, found))
        else:
            b = yield from leaf(draw, s, shape=tuple(shape), dtype=dtype)
            if b is None:
                return
            parts.append(b)
    stats = [s.stat(p) for p in parts]
    name = s.new_name()
    code = f"{name} = tg.{fn}([{', '.join(parts)}], dim={dim})" if draw(st.booleans()) else \
        f"{name} = tg.{fn}(({', '.join(parts)}), {dim})"

    def rule(d, out):
        bound = max(x.amax for x in stats)
        return derive([x.meta for x in stats], d, L=1, c=1, S=bound,
                      exact_k=max(x.meta.k for x in stats), bound=bound)
    yield Stmt(maybe_no_grad(draw, code), f"{fn} {_kinds(s, *parts)}", set_meta(name, rule),
               (name,))


# --- in place ----------------------------------------------------------------------------------


def copy_meta(source, dtype):
    """Meta of values copied (and cast to ``dtype``) from ``source``: exact if they fit."""
    return derive([source.meta], dtype, L=1, c=1, S=source.amax, exact_k=source.meta.k,
                  bound=source.amax)


def inplace_after(target, rule):
    """After an in-place op: target's Meta from rule(dtype), and every alias gets the worst."""
    def after(s):
        if target not in s.meta:     # retired: PyTorch no longer describes it
            return
        out = Stat(s.pt[target], Meta())
        new = rule(out.dtype, out)
        for name in set(s.aliases(target) + [target]):
            s.meta[name] = merge([s.meta.get(name, Meta()), new])
    return after


def g_inplace(draw, s):
    target = pick(draw, [n for n in s.names() if s.storage(n) not in s.folded])
    if target is None:
        return
    T = s.stat(target)
    op = draw(st.sampled_from(["add_", "sub_", "mul_", "zero_", "fill_", "copy_", "+=", "-=",
                               "*=", "/=", "add_", "mul_", "+=", "*="]))
    if op == "zero_":
        code = f"{target}.zero_()"
        rule = lambda d, out: Meta(0.0, 0, 0.0)  # noqa: E731
        label = "zero_"
    elif op == "fill_":
        x = draw(scalars())
        code = f"{target}.fill_({x!r})"
        xm = scalar_meta(x)
        rule = lambda d, out: xm  # noqa: E731
        label = f"fill_ {_kinds(s, target, x)}"
    else:
        use_scalar = op != "copy_" and draw(st.integers(0, 2)) == 0
        if use_scalar:
            operand = draw(scalars())
        else:
            choice = draw(st.integers(0, 5))
            if choice == 0:
                operand = target                       # x.add_(x), x *= x
            elif choice <= 2:
                operand = pick(draw, [n for n in usable(s, allow_nonfinite=True)
                                      if broadcast(s.stat(n).shape, T.shape) == T.shape])
            else:
                operand = None
            if operand is None:
                rg = None if draw(st.booleans()) else True   # an operand that requires grad
                dtype = T.dtype if draw(st.integers(0, 3)) else None
                operand = yield from leaf(draw, s, shape=draw(shapes_like(T.shape)),
                                          dtype=dtype, requires_grad=rg)
                if operand is None:
                    return
        O = operand_stat(s, operand)
        T = s.stat(target)
        alpha = None
        if op in ("add_", "sub_") and T.dtype != "bool" and draw(st.integers(0, 3)) == 0:
            alpha = draw(st.sampled_from([2, 0.5, -1] if T.is_float else [2, -1]))
        if op == "/=" and not division_ok(O):
            return
        if op in ("sub_", "-=") and "bool" in (T.dtype, O.dtype):
            return     # PyTorch refuses a bool tensor in a subtraction (REFUSED_BY_PYTORCH)
        if op in ("mul_", "*=") and T.amax * O.amax > 1e6:
            return
        if T.dtype in ("int64", "bool") and O.is_float and not O.exact:
            return   # float values truncated into ints: exact values only
        if T.dtype in ("int64", "bool") and getattr(O, "requires_grad", False):
            return   # DELIBERATE_DIFFERENCES
        if op == "copy_":
            code = f"{target}.copy_({code_of(operand)})"
            rule = lambda d, out: copy_meta(O, d)  # noqa: E731
        elif op in ("add_", "sub_"):
            extra = f", alpha={alpha!r}" if alpha is not None else ""
            code = f"{target}.{op}({code_of(operand)}{extra})"
            al = abs(1 if alpha is None else alpha)      # 2, 0.5 or 1: scaling is exact
            scaled = _Scaled(Meta(O.meta.err * al, O.meta.k + grid_k(al), O.meta.scale * al),
                             O.amax * al)
            rule = lambda d, out: arith_meta("+", T, scaled, d)  # noqa: E731
        elif op == "mul_":
            code = f"{target}.mul_({code_of(operand)})"
            rule = lambda d, out: arith_meta("*", T, O, d)  # noqa: E731
        else:
            code = f"{target} {op} {code_of(operand)}"
            rule = lambda d, out: arith_meta(op[0], T, O, d, out)  # noqa: E731
        label = f"{op} {_kinds(s, target, operand)}"
    context = draw(st.sampled_from(["grad", "grad", "no_grad"]))
    if context == "no_grad":
        code = "with tg.no_grad():\n    " + code
        label += " under no_grad"
    label += " on " + _role(s.stat(target))
    if draw(st.integers(0, 4)) == 0 and code.startswith(f"{target}.") and \
            s.storage(target) not in getattr(s, "normalized_storages", ()):
        # through .data: the same memory, written where autograd does not look (PyTorch's
        # .data has no history and its own count of changes, so a graph that saved target
        # reads the new values at backward, in both)
        code = code.replace(f"{target}.", f"{target}.data.", 1)
        label += " through .data"
    yield Stmt(code, label, inplace_after(target, rule))


def g_inplace_activation(draw, s):
    """relu_ and leaky_relu_ in every spelling (x.relu_(), tg.relu_, F.relu_, F.relu(x,
    inplace=True), nn.ReLU(True), F.leaky_relu(x, slope, inplace=True), F.leaky_relu_,
    nn.LeakyReLU(slope, inplace=True)), written into any variable (a leaf with or without
    grad, a graph tensor, a view, one an earlier op keeps), under grad mode or no_grad,
    sometimes bound to a new name (the same tensor). Negative slopes too: PyTorch then
    refuses the backward."""
    targets = [n for n in s.names() if s.storage(n) not in s.folded]
    writable = [n for n in targets if not (s.stat(n).requires_grad and s.stat(n).is_leaf)]
    if writable and draw(st.integers(0, 3)):    # mostly where grad mode allows the write
        targets = writable
    target = pick(draw, targets)
    if target is None:
        return
    T = s.stat(target)
    leaky = draw(st.booleans())
    if T.dtype == "bool" or (leaky and not T.is_float) or not kink_safe(T, [0.0]):
        return           # bool: REFUSED_BY_PYTORCH; leaky_relu of integers: no kernel there
    if leaky:
        slope = draw(st.sampled_from(SLOPES))
        call = draw(st.sampled_from([f"F.leaky_relu({target}, {slope!r}, inplace=True)",
                                     f"F.leaky_relu({target}, negative_slope={slope!r}, "
                                     "inplace=True)",
                                     f"F.leaky_relu_({target}, {slope!r})",
                                     f"nn.LeakyReLU({slope!r}, inplace=True)({target})",
                                     f"nn.LeakyReLU({slope!r}, True)({target})"]))
        op, params = "leaky_relu", slope
    else:
        call = draw(st.sampled_from([f"{target}.relu_()", f"tg.relu_({target})",
                                     f"F.relu_({target})", f"F.relu({target}, inplace=True)",
                                     f"nn.ReLU(inplace=True)({target})",
                                     f"nn.ReLU(True)({target})"]))
        op, params = "relu", None
    name = s.new_name() if draw(st.integers(0, 3)) == 0 else None
    code = f"{name} = {call}" if name else call
    label = f"{op}_{' (negative slope)' if leaky and slope < 0 else ''} {T.dtype}"
    if draw(st.sampled_from(["grad", "grad", "no_grad"])) == "no_grad":
        code = "with tg.no_grad():\n    " + code
        label += " under no_grad"
    label += " on " + _role(T)
    written = inplace_after(target, lambda d, out: unary_meta(op, T, params, d, out))

    def after(s):
        written(s)
        if name is not None and target in s.meta:
            s.meta[name] = s.meta[target]
    yield Stmt(code, label, after, (name,) if name else ())


def _role(t):
    if t.requires_grad and t.is_leaf:
        return "a leaf that requires grad"
    if t.requires_grad:
        return "a graph tensor"
    return "a tensor without grad"


def shares_storage(s, a, b):
    """Whether a and b are views of one storage (a write from one into the other may overlap
    partially: DELIBERATE_DIFFERENCES)."""
    return s.storage(a) is not None and s.storage(a) == s.storage(b)


def g_setitem(draw, s):
    target = pick(draw, [n for n in s.names() if s.stat(n).ndim >= 1
                         and s.storage(n) not in s.folded])
    if target is None:
        return
    T = s.stat(target)
    kind = draw(st.sampled_from(["basic", "basic", "advanced"] if T.numel else ["basic"]))
    index = draw(basic_index(T.shape, negative_steps=False)) if kind == "basic" else \
        draw(advanced_index(T.shape, repeats=False))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            part = tuple(eval(f"{target}[{index}]", dict(s.pt)).shape)
    except Exception:  # noqa: BLE001 (an index PyTorch refuses: still a fine test)
        part = None
    if draw(st.integers(0, 2)) == 0 or part is None:
        value = draw(scalars())
    else:
        choice = draw(st.integers(0, 3))
        value = None
        if choice == 0:
            value = pick(draw, [n for n in usable(s) if broadcast(s.stat(n).shape, part) == part
                                and n != target and not shares_storage(s, n, target)])
        if value is None:
            rg = True if draw(st.booleans()) else None
            dtype = T.dtype if draw(st.integers(0, 3)) else None
            value = yield from leaf(draw, s, shape=draw(shapes_like(part)), dtype=dtype,
                                    requires_grad=rg)
            if value is None:
                return
    V = operand_stat(s, value)
    T = s.stat(target)
    if T.dtype in ("int64", "bool") and V.is_float and not V.exact:
        return
    if T.dtype in ("int64", "bool") and V.requires_grad:
        return         # DELIBERATE_DIFFERENCES
    if kind == "advanced" and isinstance(value, str) and V.dtype != T.dtype:
        return         # PyTorch's index_put refuses another dtype (REFUSED_BY_PYTORCH)
    code = f"{target}[{index}] = {code_of(value)}"
    context = draw(st.sampled_from(["grad", "grad", "no_grad"]))
    label = f"setitem ({kind}) {_kinds(s, target, value)}"
    if context == "no_grad":
        code = "with tg.no_grad():\n    " + code
        label += " under no_grad"
    label += " on " + _role(T)
    if isinstance(value, str) and V.requires_grad:
        label += " from a value that requires grad"
    yield Stmt(code, label, inplace_after(target, lambda d, out: copy_meta(V, d)))


# --- autograd ----------------------------------------------------------------------------------


def weights_literal(draw, shape, dtype):
    n = int(np.prod(shape, dtype=np.int64))
    flat = draw(st.lists(st.sampled_from(WEIGHTS), min_size=n, max_size=n))
    value = np.array(flat, dtype=object).reshape(shape).tolist() if shape else flat[0]
    return f"tg.tensor({fmt(value)}, dtype=tg.{dtype}, device=device)", max(
        (abs(w) for w in flat), default=0.0)


def g_backward(draw, s):
    cands = [n for n in s.names() if s.stat(n).is_float and s.stat(n).requires_grad]
    a = pick(draw, cands)
    if a is None:
        return
    A = s.stat(a)
    retain = ", retain_graph=True" if draw(st.booleans()) else ""
    form = draw(st.sampled_from(["implicit", "gradient", "weighted"]))
    if form == "implicit" and A.numel == 1:
        code = f"{a}.backward({retain[2:]})"
    elif form == "gradient":
        dtype = A.dtype if draw(st.integers(0, 3)) else None
        g = yield from leaf(draw, s, shape=A.shape, dtype=dtype, requires_grad=False)
        if g is None:
            return
        code = f"{a}.backward({g}.clone(){retain})"   # a copy: see DELIBERATE_DIFFERENCES
    else:
        w, _ = weights_literal(draw, A.shape, A.dtype)
        code = f"({a} * {w}).sum().backward({retain[2:]})"
    label = "backward" + (" (retain_graph)" if retain else "") + f" {form}"
    yield Stmt(code, label, backward=True)


def g_grad_edit(draw, s):
    leaves = [n for n in s.names() if s.pt[n].is_leaf and s.pt[n].grad is not None]
    a = pick(draw, leaves)
    if a is None:
        return
    form = draw(st.sampled_from(["mul_", "add_", "zero_", "none"]))
    x = draw(st.sampled_from([10, -2, 0.5]))
    code = {"mul_": f"{a}.grad.mul_({x})", "add_": f"{a}.grad.add_({x})",
            "zero_": f"{a}.grad.zero_()", "none": f"{a}.grad = None"}[form]
    grad_scale = float(s.pt[a].grad.detach().abs().max()) if s.pt[a].grad.numel() else 0.0

    def after(s):
        err, scale = s.grad_err.get(a, (0.0, 0.0))
        eps = EPS.get(dtype_name(s.pt[a].dtype), 0.0)
        if form == "mul_":
            s.grad_err[a] = (err * abs(x) + eps * grad_scale * abs(x), scale * abs(x))
        elif form == "add_":
            s.grad_err[a] = (err + eps * (grad_scale + abs(x)), max(scale, abs(x)))
        else:
            s.grad_err[a] = (0.0, 0.0)
    yield Stmt(code, f"grad.{form}", after)


# --- nn.functional and nn ---------------------------------------------------------------------


def _in_unit(A):
    return A.is_float and A.finite and A.numel > 0 and A.vmin >= 0.0 and A.vmax <= 1.0


def _target(draw, s, shape, dtype):
    """A variable with values in [0, 1] of this shape and dtype, or a fresh one (a generator)."""
    found = [n for n in s.names() if s.stat(n).shape == shape and s.stat(n).dtype == dtype
             and _in_unit(s.stat(n))]
    if found and draw(st.booleans()):
        return pick(draw, found)
    name = yield from leaf(draw, s, shape=shape, dtype=dtype, grid="unit")
    return name


def g_loss(draw, s):
    fn = draw(st.sampled_from(["bce_logits", "bce_logits", "bce", "mse"]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    red = "" if reduction == "mean" and draw(st.booleans()) else f"reduction={reduction!r}"
    module = draw(st.integers(0, 2)) == 0
    if fn == "bce":
        cands = [n for n in s.names() if _in_unit(s.stat(n)) and (
            s.stat(n).exact or min(s.stat(n).vmin, 1 - s.stat(n).vmax) >= 0.01)]
        x = pick(draw, cands)
    else:
        x = pick(draw, usable(s, floats_only=True))
    if x is None:
        return
    X = s.stat(x)
    if fn == "mse":
        y = pick(draw, [n for n in usable(s, floats_only=True) if s.stat(n).shape == X.shape])
        if y is None:
            y = yield from leaf(draw, s, shape=X.shape, dtype=X.dtype)
    else:
        y = yield from _target(draw, s, X.shape, X.dtype)
    if y is None:
        return
    Y = s.stat(y)
    if fn == "bce" and Y.requires_grad and (X.vmin <= 0 or X.vmax >= 1):
        return   # a probability of exactly 0 or 1 gives the target an infinite gradient
    weight = pos_weight = None
    if fn != "mse" and draw(st.integers(0, 2)) == 0:
        weight = yield from leaf(draw, s, shape=draw(shapes_like(X.shape, expand=False)),
                                 dtype=X.dtype,
                                 grid="positive", requires_grad=False)
    if fn == "bce_logits" and X.ndim >= 1 and draw(st.integers(0, 2)) == 0:
        pos_weight = yield from leaf(draw, s, shape=(X.shape[-1],), dtype=X.dtype,
                                     grid="positive", requires_grad=False)
    W = s.stat(weight) if weight else None
    PW = s.stat(pos_weight) if pos_weight else None
    name = s.new_name()
    if fn == "mse":
        kwargs = [red] if red else []
        code = (f"nn.MSELoss({', '.join(kwargs)})({x}, {y})" if module else
                f"F.mse_loss({', '.join([x, y] + kwargs)})")
    else:
        kwargs = ([f"weight={weight}"] if weight else []) + ([red] if red else []) + \
                 ([f"pos_weight={pos_weight}"] if pos_weight else [])
        cls, f = ("BCEWithLogitsLoss", "binary_cross_entropy_with_logits") if fn == "bce_logits" \
            else ("BCELoss", "binary_cross_entropy")
        code = (f"nn.{cls}({', '.join(kwargs)})({x}, {y})" if module else
                f"F.{f}({', '.join([x, y] + kwargs)})")
    n = X.numel if reduction != "none" else 1

    def rule(d, out):
        wmax = W.amax if W else 1.0
        if fn == "mse":
            M = X.amax + Y.amax
            e = math.log2(max(X.numel, 1))
            k = 2 * max(X.meta.k, Y.meta.k)
            if reduction == "mean":
                k = k + int(e) if e.is_integer() else None
            return derive([X.meta, Y.meta], d, L=2 * M * (n if reduction == "sum" else 1) * 2,
                          c=n + 3, S=n * M * M, exact_k=k, bound=n * M * M)
        pw = PW.amax if PW else 1.0
        if fn == "bce_logits":
            per = (X.amax + 1.0) * (1.0 + pw) * wmax
            L = (1.0 + pw) * wmax * (2.0 + X.amax)
        else:
            low = max(min(X.vmin, 1 - X.vmax), 1e-12)
            per = 100.0 * wmax
            L = wmax * (1.0 / low + 200.0)
        factor = n if reduction == "sum" else 1
        return derive([X.meta, Y.meta] + ([W.meta] if W else []), d, L=L * factor,
                      c=2 * LIBM_ULPS + n + 2, S=per * n)
    label = {"bce_logits": "binary_cross_entropy_with_logits", "bce": "binary_cross_entropy",
             "mse": "mse_loss"}[fn] + f" {reduction}" + (" weight" if weight else "") + \
        (" pos_weight" if pos_weight else "") + (" (module)" if module else "")
    yield Stmt(maybe_no_grad(draw, f"{name} = {code}"), label, set_meta(name, rule), (name,))


def normalized_meta(X, W, B, amplify, count, d):
    """The error bound of (x - μ)/√(σ² + eps)·γ + β over ``count`` values per channel:
    ``amplify`` is the largest 1/√(σ² + eps)."""
    wmax = W.amax if W else 1.0
    S = amplify * wmax * 2 * X.amax + (B.amax if B else 0.0)
    metas = [X.meta] + ([W.meta, B.meta] if W else [])
    return derive(metas, d, L=3 * amplify * wmax * (1 + X.amax * amplify), c=2 * count + 8, S=S)


def g_batch_norm(draw, s):
    cands = [n for n in usable(s, floats_only=True)
             if s.stat(n).ndim in (2, 3, 4) and s.stat(n).numel]
    x = pick(draw, cands)
    if x is None:
        return
    X = s.stat(x)
    C = X.shape[1]
    training = draw(st.booleans())
    rm = yield from leaf(draw, s, shape=(C,), dtype=X.dtype, grid="halves", requires_grad=False)
    rv = yield from leaf(draw, s, shape=(C,), dtype=X.dtype, grid="positive", requires_grad=False)
    if rm is None or rv is None:
        return
    w = b = None
    if draw(st.booleans()):
        w = yield from leaf(draw, s, shape=(C,), dtype=X.dtype, grid="halves")
        b = yield from leaf(draw, s, shape=(C,), dtype=X.dtype, grid="halves")
    RV, RM = s.stat(rv), s.stat(rm)
    W = s.stat(w) if w else None
    B = s.stat(b) if b else None
    name = s.new_name()
    args = [x, rm, rv] + ([f"weight={w}", f"bias={b}"] if w else []) + [f"training={training}"]
    momentum = draw(st.sampled_from([None, 0.1, 0.5]))
    if momentum is not None:
        args.append(f"momentum={momentum}")
    code = f"{name} = F.batch_norm({', '.join(args)})"
    if training:     # its backward reads x̂ as tinygan saved it: no .data writes into x later
        s.normalized_storages = getattr(s, "normalized_storages", set()) | {s.storage(x)}
    axes = (0,) + tuple(range(2, X.ndim))                  # all but the channel dim
    count = int(np.prod([X.shape[a] for a in axes]))
    if training:
        var = X.values.var(axis=axes)
    else:
        var = RV.values
    amplify = 1.0 / math.sqrt(float(var.min()) + 1e-5)
    mom = 0.1 if momentum is None else momentum

    def after(s):
        d = dtype_name(s.pt[name].dtype)
        s.meta[name] = normalized_meta(X, W, B, amplify, count, d)
        if training:     # the running statistics were updated in place
            M = 2 * X.amax
            s.meta[rm] = derive([RM.meta, X.meta], d, L=1, c=count + 4, S=RM.amax + X.amax)
            s.meta[rv] = derive([RV.meta, X.meta], d, L=4 * X.amax * count, c=2 * count + 6,
                                S=RV.amax + mom * count * M * M / max(count - 1, 1) + M * M)
    yield Stmt(code, f"batch_norm {'train' if training else 'eval'}", after, (name,))


def g_instance_norm(draw, s):
    """F.instance_norm of (N, C, L) input, each sample's channels over their own positions,
    with and without an affine weight and bias."""
    cands = [n for n in usable(s, floats_only=True)
             if s.stat(n).ndim == 3 and s.stat(n).numel and s.stat(n).shape[2] > 1]
    x = pick(draw, cands)
    if x is None:
        return
    X = s.stat(x)
    C, count = X.shape[1], X.shape[2]
    w = b = None
    if draw(st.booleans()):
        w = yield from leaf(draw, s, shape=(C,), dtype=X.dtype, grid="halves")
        b = yield from leaf(draw, s, shape=(C,), dtype=X.dtype, grid="halves")
        if w is None or b is None:
            return
    W = s.stat(w) if w else None
    B = s.stat(b) if b else None
    name = s.new_name()
    args = [x] + ([f"weight={w}", f"bias={b}"] if w else [])
    code = f"{name} = F.instance_norm({', '.join(args)})"
    # its backward reads x̂ as tinygan saved it: no .data writes into x later (as batch_norm)
    s.normalized_storages = getattr(s, "normalized_storages", set()) | {s.storage(x)}
    amplify = 1.0 / math.sqrt(float(X.values.var(axis=2).min()) + 1e-5)

    def after(s):
        s.meta[name] = normalized_meta(X, W, B, amplify, count, dtype_name(s.pt[name].dtype))
    yield Stmt(code, "instance_norm", after, (name,))


def g_linear(draw, s):
    x = pick(draw, [n for n in usable(s, floats_only=True) if 1 <= s.stat(n).ndim <= 3])
    if x is None:
        return
    X = s.stat(x)
    out = draw(st.integers(1, 3))
    dtype = X.dtype if draw(st.integers(0, 5)) else None
    w = yield from leaf(draw, s, shape=(out, X.shape[-1]), dtype=dtype)
    if w is None:
        return
    b = None
    if draw(st.booleans()):
        b = yield from leaf(draw, s, shape=(out,), dtype=s.stat(w).dtype)
        if b is None:
            return
    Wt = s.stat(w)
    Bs = s.stat(b) if b else None
    name = s.new_name()
    code = f"{name} = F.linear({x}, {w}{', ' + b if b else ''})"
    n = X.shape[-1]

    def rule(d, out):
        S = n * X.amax * Wt.amax + (Bs.amax if Bs else 0.0)
        metas = [X.meta, Wt.meta] + ([Bs.meta] if Bs else [])
        return derive(metas, d, L=n * (X.amax + Wt.amax) + 1, c=n + 2, S=S,
                      exact_k=max(X.meta.k + Wt.meta.k, Bs.meta.k if Bs else 0), bound=S)
    yield Stmt(maybe_no_grad(draw, code), "linear", set_meta(name, rule), (name,))


def g_dropout(draw, s):
    x = pick(draw, usable(s, floats_only=True, allow_nonfinite=True))
    if x is None:
        return
    X = s.stat(x)
    name = s.new_name()
    code = draw(st.sampled_from([f"F.dropout({x}, p=0.0)", f"F.dropout({x}, 0.5, training=False)",
                                 f"nn.Dropout(0.3).eval()({x})", f"nn.Dropout(0.0)({x})",
                                 f"nn.Identity()({x})"]))
    yield Stmt(f"{name} = {code}", "dropout/identity", set_meta(name, lambda d, out: X.meta),
               (name,))


# --- softmax, log_softmax, logsumexp; cross_entropy, nll_loss -------------------------------------


def g_softmax(draw, s):
    op = draw(st.sampled_from(["softmax", "log_softmax", "logsumexp"]))
    a = pick(draw, [n for n in usable(s) if s.stat(n).dtype != "bool"
                    and (s.stat(n).is_float or op == "logsumexp")])
    if a is None:
        return
    A = s.stat(a)
    nd = A.ndim
    dim = draw(st.integers(-nd, nd - 1)) if nd else draw(st.sampled_from([0, -1]))
    if op == "logsumexp" and nd >= 2 and draw(st.booleans()):
        dim = tuple(sorted(draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd,
                                         unique=True))))
    keepdim = op == "logsumexp" and draw(st.booleans())
    name = s.new_name()
    if op == "logsumexp":
        code = draw(st.sampled_from([f"{a}.logsumexp({dim!r}{', keepdim=True' if keepdim else ''})",
                                     f"tg.logsumexp({a}, {dim!r}"
                                     f"{', keepdim=True' if keepdim else ''})"]))
    else:
        module = "Softmax" if op == "softmax" else "LogSoftmax"
        code = draw(st.sampled_from([f"{a}.{op}({dim})", f"tg.{op}({a}, {dim})",
                                     f"F.{op}({a}, dim={dim})", f"nn.{module}({dim})({a})"]))
    n = reduced(A.shape, dim)

    def rule(d, out):
        # x - max is rounded at the size of the values (2·|x|), which exp turns into a
        # relative error of the terms; then n additions, a log or a division
        S = 4.0 * A.amax + math.log(n) + 2.0
        return derive([A.meta], d, L=2.0, c=LIBM_ULPS + n + 4, S=S)
    yield Stmt(maybe_no_grad(draw, f"{name} = {code}"), f"{op} {A.dtype}",
               set_meta(name, rule), (name,))


def g_cross_entropy(draw, s):
    x = pick(draw, [n for n in usable(s, floats_only=True) if s.stat(n).ndim in (1, 2, 3)
                    and s.stat(n).numel])
    if x is None:
        return
    X = s.stat(x)
    C = X.shape[0] if X.ndim == 1 else X.shape[1]
    tshape = () if X.ndim == 1 else (X.shape[0],) + X.shape[2:]
    count = int(np.prod(tshape, dtype=np.int64))
    values = draw(st.lists(st.integers(0, C - 1), min_size=count, max_size=count))
    ignore = count > 1 and draw(st.integers(0, 3)) == 0
    if ignore:
        values[0] = -100
    literal = fmt(np.array(values, dtype=object).reshape(tshape).tolist() if tshape else values[0])
    target = s.new_name()
    ran = yield Stmt(f"{target} = tg.tensor({literal}, device=device)", "leaf int64 target",
                     None, (target,))
    if not ran:
        return
    weight = None
    if draw(st.integers(0, 2)) == 0:
        weight = yield from leaf(draw, s, shape=(C,), dtype=X.dtype, grid="positive",
                                 requires_grad=False)
    W = s.stat(weight) if weight else None
    fn = draw(st.sampled_from(["cross_entropy", "cross_entropy", "nll_loss"]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    smoothing = draw(st.sampled_from([0.0, 0.0, 0.25])) if fn == "cross_entropy" else 0.0
    kwargs = ([f"weight={weight}"] if weight else []) + \
        ([f"reduction={reduction!r}"] if reduction != "mean" else []) + \
        ([f"label_smoothing={smoothing!r}"] if smoothing else [])
    module = {"cross_entropy": "CrossEntropyLoss", "nll_loss": "NLLLoss"}[fn]
    name = s.new_name()
    code = draw(st.sampled_from([f"F.{fn}({', '.join([x, target] + kwargs)})",
                                 f"nn.{module}({', '.join(kwargs)})({x}, {target})"]))

    def rule(d, out):
        wmax, wmin = (W.amax, max(W.amin, 0.25)) if W else (1.0, 1.0)
        per = (4.0 * X.amax + math.log(C) + 2.0) * wmax      # each element's log-softmax
        rows = count if reduction == "sum" else 1
        spread = wmax / wmin if reduction == "mean" else 1.0   # a weighted mean's amplification
        return derive([X.meta], d, L=2.0 * wmax * rows * spread,
                      c=LIBM_ULPS + 2 * count * C + 8, S=per * count * spread)
    label = f"{fn} {reduction}" + (" weight" if weight else "") + \
        (" ignore_index" if ignore else "") + (" label_smoothing" if smoothing else "")
    after = set_meta(name, rule)
    if reduction == "none" and X.ndim == 3:
        def after(s, set_meta=after):   # PyTorch's result is a view here (DELIBERATE_DIFFERENCES)
            set_meta(s)
            s.folded.update(p for p in (s.storage(name),) if p is not None)
    yield Stmt(maybe_no_grad(draw, f"{name} = {code}"), label, after, (name,))


# --- more Tensor methods: t, mm, repeat, gather, contiguous, long, int, add/sub(alpha), square,
# --- norm, clamp_ ---------------------------------------------------------------------------------


def g_norm(draw, s):
    """The norms: x.norm, tg.norm, tg.linalg.norm and tg.linalg.vector_norm."""
    yield from g_methods(draw, s, form="norm")


def g_methods(draw, s, form=None):
    form = form or draw(st.sampled_from(["t", "repeat", "gather", "contiguous", "long", "int",
                                         "add", "sub", "square", "norm", "mm", "clamp_", "mul",
                                         "div"]))
    a = pick(draw, usable(s, allow_nonfinite=form in ("t", "repeat", "contiguous")))
    if a is None:
        return
    A = s.stat(a)
    name = s.new_name()
    copy_rule = lambda d, out: A.meta  # noqa: E731
    if form == "t":
        code, rule = f"{a}.t()", copy_rule
    elif form == "contiguous":
        code, rule = draw(st.sampled_from([f"{a}.contiguous()", f"{a}.T.contiguous()"])), copy_rule
    elif form == "repeat":
        sizes = draw(st.lists(st.integers(1, 3), min_size=A.ndim, max_size=A.ndim + 1))
        code, rule = f"{a}.repeat({', '.join(map(str, sizes)) or '()'})", copy_rule
    elif form in ("long", "int"):
        if A.is_float and not int_safe(A):
            return
        code, rule = f"{a}.{form}()", lambda d, out: Meta()
    elif form == "gather":
        if A.ndim == 0 or not A.numel:
            return
        axis = draw(st.integers(0, A.ndim - 1))
        ishape = tuple(draw(st.integers(1, 3)) if d == axis else draw(st.integers(1, n))
                       for d, n in enumerate(A.shape))
        count = int(np.prod(ishape, dtype=np.int64))
        values = draw(st.lists(st.integers(0, A.shape[axis] - 1), min_size=count,
                               max_size=count))
        index = s.new_name()
        literal = fmt(np.array(values, dtype=object).reshape(ishape).tolist())
        ran = yield Stmt(f"{index} = tg.tensor({literal}, device=device)", "leaf int64 index",
                         None, (index,))
        if not ran:
            return
        code, rule = f"{a}.gather({axis - A.ndim if draw(st.booleans()) else axis}, {index})", \
            copy_rule
    elif form in ("add", "sub"):
        if A.dtype == "bool":
            return
        b = yield from second_operand(draw, s, a)
        if b is None:
            return
        B = s.stat(b)
        if "bool" in (B.dtype,) or (form == "sub" and "bool" in (A.dtype, B.dtype)):
            return
        floats_in = A.is_float or B.is_float
        alpha = draw(st.sampled_from([2, -1, 0.5] if floats_in else [2, -1]))
        code = draw(st.sampled_from([f"{a}.{form}({b}, alpha={alpha!r})",
                                     f"tg.{form}({a}, {b}, alpha={alpha!r})"]))
        scaled = _Scaled(Meta(B.meta.err * abs(alpha), B.meta.k + grid_k(abs(alpha)),
                              B.meta.scale * abs(alpha)), B.amax * abs(alpha))
        rule = lambda d, out: arith_meta("+", A, scaled, d)  # noqa: E731
    elif form in ("mul", "div"):
        b = yield from second_operand(draw, s, a)
        if b is None:
            return
        B = s.stat(b)
        if form == "div" and not division_ok(B):
            return
        code = draw(st.sampled_from([f"{a}.{form}({b})", f"tg.{form}({a}, {b})"]))
        op = "*" if form == "mul" else "/"
        rule = lambda d, out: arith_meta(op, A, B, d, out)  # noqa: E731
    elif form == "square":
        if A.amax > 8:
            return
        code = f"{a}.square()"
        rule = lambda d, out: pow_meta(A, _ScalarStat(2), d, out)  # noqa: E731
    elif form == "norm":
        if not A.is_float or not A.exact:
            return    # √ of a sum near 0, and x/‖x‖, are ill-conditioned on inexact values
        p = draw(st.sampled_from([None, 2, 1, "'fro'"]))
        dim = None if A.ndim == 0 else draw(st.sampled_from([None, 0, -1]))
        keep = ["keepdim=True"] if draw(st.integers(0, 3)) == 0 else []
        dims_ = [f"dim={dim}"] if dim is not None else []
        spelled = draw(st.sampled_from(["method", "tg.norm", "vector_norm", "linalg.norm"]))
        if spelled in ("method", "tg.norm"):
            args = ([f"p={p}"] if p is not None else []) + dims_ + keep
            if spelled == "tg.norm" and A.dtype == "float32" and draw(st.booleans()):
                args.append("dtype=tg.float64")
            code = f"{a}.norm({', '.join(args)})" if spelled == "method" else \
                f"tg.norm({', '.join([a] + args)})"
        elif spelled == "vector_norm":     # ord a number (2 or 1), any dims
            ord_ = [f"ord={p}"] if p in (1, 2) else []
            code = f"tg.linalg.vector_norm({', '.join([a] + ord_ + dims_ + keep)})"
        else:   # ord None: the 2-norm of all or along dim; a vector ord needs one dim (or 1-D);
            ord_ = []                                       # 'fro' a 2-D input
            if p in (1, 2) and (dim is not None or A.ndim == 1):
                ord_ = [f"ord={p}"]
            elif p == "'fro'" and dim is None and A.ndim == 2:
                ord_ = ["ord='fro'"]
            code = f"tg.linalg.norm({', '.join([a] + ord_ + dims_ + keep)})"
        n = reduced(A.shape, dim)

        def rule(d, out):
            return derive([A.meta], d, L=math.sqrt(n) + 1, c=n + 3, S=n * A.amax + 1e-300)
    elif form == "mm":
        if A.ndim != 2 or A.dtype == "bool":
            return
        b = yield from leaf(draw, s, shape=(A.shape[1], draw(st.integers(1, 3))), dtype=A.dtype)
        if b is None:
            return
        B = s.stat(b)
        code = f"{a}.mm({b})"
        n = A.shape[1]

        def rule(d, out):
            S = n * A.amax * B.amax
            return derive([A.meta, B.meta], d, L=n * (A.amax + B.amax) + 1e-300, c=n + 1, S=S,
                          exact_k=A.meta.k + B.meta.k, bound=S)
    else:   # clamp_ on a copy (a fresh result), with bounds on the grid
        lo, hi = draw(st.sampled_from([(-1.0, 1.0), (0.0, None), (None, 0.5), (-0.5, 2.0)]))
        if not kink_safe(A, [v for v in (lo, hi) if v is not None]) or A.dtype == "bool":
            return
        if not A.is_float and any(isinstance(v, float) and not v.is_integer()
                                  for v in (lo, hi) if v is not None):
            return
        args = ", ".join(([f"min={lo!r}"] if lo is not None else []) +
                         ([f"max={hi!r}"] if hi is not None else []))
        code = f"({a} * 1).clamp_({args})"
        bound = max([A.amax] + [abs(v) for v in (lo, hi) if v is not None])
        ks = [grid_k(v) for v in (lo, hi) if v is not None]

        def rule(d, out):
            return derive([A.meta], d, L=1, c=1, S=bound, exact_k=max([A.meta.k] + ks),
                          bound=bound)
    yield Stmt(maybe_no_grad(draw, f"{name} = {code}"), f"{form} {A.dtype}",
               set_meta(name, rule), (name,))


def conv_geometry(draw, transposed, spatial):
    """Keyword arguments of a random F.conv2d / F.conv_transpose2d for an input of ``spatial``
    (H, W), and the kernel: mostly ones PyTorch accepts; ints or (h, w) pairs."""
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(2))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(2))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(2))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(2))
    if not transposed:    # windows that fit, but sometimes not (both must raise)
        padding = tuple(p if n + 2 * p >= d * (k - 1) + 1 or not draw(st.integers(0, 5))
                        else (d * (k - 1) + 2 - n) // 2 for n, k, d, p
                        in zip(spatial, kernel, dilation, padding))
    kwargs = {}
    for name, pair, default in (("stride", stride, 1), ("padding", padding, 0),
                                ("dilation", dilation, 1)):
        if pair != (default, default) or draw(st.booleans()):
            kwargs[name] = pair[0] if pair[0] == pair[1] and draw(st.booleans()) else pair
    if transposed:
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1))
                               for s, d in zip(stride, dilation))
        if any(output_padding):
            kwargs["output_padding"] = output_padding
        # an output of size 0: PyTorch's float32 kernel returns it empty, its float64 one
        # raises (tinygan raises); so never drawn (a negative size raises in all three)
        if any((n - 1) * s - 2 * p + d * (k - 1) + o + 1 == 0 for n, s, p, d, k, o in zip(
                spatial, stride, padding, dilation, kernel, output_padding)):
            kwargs.pop("padding", None)
    return kernel, kwargs


def conv_rule(X, Wt, Bs, n):
    """The Meta of a convolution's output: each element a sum of at most n products."""
    def rule(d, out):
        S = n * X.amax * Wt.amax + (Bs.amax if Bs else 0.0)
        metas = [X.meta, Wt.meta] + ([Bs.meta] if Bs else [])
        return derive(metas, d, L=n * (X.amax + Wt.amax) + 1, c=n + 2, S=S,
                      exact_k=max(X.meta.k + Wt.meta.k, Bs.meta.k if Bs else 0), bound=S)
    return rule


def conv_statement(draw, s, fresh_input):
    """A convolution: its input a fresh 4-D leaf, or an existing 3-D float variable (an
    unbatched image); a fresh weight (and bias). Yields its statements; returns (x, w, y)."""
    transposed = draw(st.booleans())
    x = None
    if not fresh_input:
        x = pick(draw, [n for n in usable(s, floats_only=True) if s.stat(n).ndim == 3])
    if x is None:
        shape = (draw(st.integers(1, 2)), draw(st.sampled_from([1, 2, 3, 1, 2, 3, 4, 6])),
                 draw(st.integers(1, 5)), draw(st.integers(1, 5)))   # (4 and 6: for groups)
        x = yield from leaf(draw, s, shape=shape, dtype=draw(st.sampled_from(FLOATS)),
                            requires_grad=True if fresh_input else None)
        if x is None:
            return None
    X = s.stat(x)
    channels = X.shape[-3]
    kernel, kwargs = conv_geometry(draw, transposed, X.shape[-2:])
    divisors = [g for g in (2, 3) if channels % g == 0]
    groups = draw(st.sampled_from(divisors)) if divisors and not draw(st.integers(0, 2)) else 1
    if groups != 1:
        kwargs["groups"] = groups
    other = groups * draw(st.integers(1, 3 if groups == 1 else 2))
    w_shape = ((channels, other // groups) if transposed else (other, channels // groups)) + (
        kernel)
    w = yield from leaf(draw, s, shape=w_shape, dtype=X.dtype, requires_grad=True)
    if w is None:
        return None
    b = None
    if draw(st.booleans()):
        b = yield from leaf(draw, s, shape=(other,), dtype=X.dtype)
        if b is None:
            return None
    Wt, Bs = s.stat(w), (s.stat(b) if b else None)
    name = s.new_name()
    fn = "conv_transpose2d" if transposed else "conv2d"
    args = ", ".join([x, w] + ([b] if b else []) + [f"{k}={v}" for k, v in kwargs.items()])
    # each output element a sum of (channels // groups)·kH·kW products; the transposed bound
    # also covers (other // groups)·kH·kW, its input gradient's
    n = (max(channels, other) if transposed else channels) // groups * kernel[0] * kernel[1]
    ran = yield Stmt(maybe_no_grad(draw, f"{name} = F.{fn}({args})"), fn,
                     set_meta(name, conv_rule(X, Wt, Bs, n)), (name,))
    return (x, w, name) if ran else None


def g_conv(draw, s):
    yield from conv_statement(draw, s, fresh_input=draw(st.booleans()))


def g_gradient_penalty(draw, s):
    """WGAN-GP's step: a convolution, the gradient of its (weighted, squared) output with
    respect to its weight or its fresh input under create_graph=True, and the penalty
    ((‖g‖ - 1)², or Σg²) that the program's final backward then differentiates again."""
    fresh = draw(st.booleans())
    made = yield from conv_statement(draw, s, fresh_input=fresh)
    if made is None:
        return
    x, w, y = made
    Y, X, Wt = s.stat(y), s.stat(x), s.stat(w)
    if not Y.requires_grad or not Y.finite:
        return
    wrt = x if fresh and draw(st.booleans()) else w
    # (not the weight's gradient of a function linear in the weight: see DELIBERATE_DIFFERENCES)
    if draw(st.booleans()) and (wrt == x or X.requires_grad):   # the course's spelling
        outputs, grad_outputs, G = y, f", grad_outputs=tg.ones_like({y})", 1.0
    else:
        weights, G = weights_literal(draw, Y.shape, Y.dtype)
        outputs, grad_outputs, G = f"({y} * {y} * {weights}).sum()", "", 2 * G * Y.amax
    g = s.new_name()
    code = (f"{g} = tg.autograd.grad(outputs={outputs}, inputs={wrt}{grad_outputs}, "
            "create_graph=True, retain_graph=True)[0]")
    # each element a sum of products of the upstream gradient with x (or w); n terms at most
    n = Y.numel if wrt == w else Y.shape[1] * Wt.shape[2] * Wt.shape[3]
    other = X if wrt == w else Wt

    def rule(d, out):
        S = n * G * other.amax
        return derive([Y.meta, other.meta], d, L=n * (G + other.amax + Y.amax) + 1, c=n + 4,
                      S=S)
    ran = yield Stmt(code, "autograd.grad create_graph", set_meta(g, rule), (g,))
    if not ran:
        return
    G_ = s.stat(g)
    penalty = s.new_name()
    if G_.ndim == 4 and draw(st.booleans()):
        code = f"{penalty} = (({g}.view(len({g}), -1).norm(2, dim=1) - 1) ** 2).mean()"
        m = G_.numel
        S = (math.sqrt(m) * G_.amax + 1) ** 2
        L = 2 * m * (G_.amax + 1) + 1
    else:
        code = f"{penalty} = ({g} * {g}).sum()"
        m = G_.numel
        S, L = m * G_.amax ** 2, 2 * m * G_.amax + 1
    yield Stmt(code, "gradient penalty",
               set_meta(penalty, lambda d, out: derive([G_.meta], d, L=L, c=m + 8, S=S)),
               (penalty,))


# --- programs ------------------------------------------------------------------------------------

def g_pool(draw, s):
    """max_pool2d, avg_pool2d or interpolate (nearest) on a 3-D or 4-D float variable, or
    on a fresh 4-D leaf; the function and the module spellings."""
    x = pick(draw, [n for n in usable(s, floats_only=True) if s.stat(n).ndim in (3, 4)
                    and min(s.stat(n).shape[-2:]) >= 1])
    if x is None or draw(st.booleans()):
        shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 5)),
                 draw(st.integers(1, 5)))
        x = yield from leaf(draw, s, shape=shape, dtype=draw(st.sampled_from(FLOATS)),
                            requires_grad=draw(st.sampled_from([True, None])))
        if x is None:
            return
    X = s.stat(x)
    if X.ndim != 4 and draw(st.booleans()):
        return
    height, width = X.shape[-2:]
    kind = draw(st.sampled_from(["max", "avg", "nearest"]))
    name = s.new_name()
    if kind == "nearest":
        if X.ndim != 4:
            return
        size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
        code = draw(st.sampled_from([f"F.interpolate({x}, size={size})",
                                     f"nn.Upsample(size={size})({x})",
                                     f"F.interpolate({x}, scale_factor=2)"]))
        c, L = 1, 1.0
    else:
        k = draw(st.integers(1, min(3, height, width)))
        stride = draw(st.sampled_from([None, 1, 2]))
        padding = draw(st.integers(0, k // 2))
        stride_kw = "" if stride is None else f", stride={stride}"
        if kind == "max" and not (X.finite and X.exact):
            return       # inexact near-ties could pick different maxima: exact values only
        fn, module = ("max_pool2d", "MaxPool2d") if kind == "max" else ("avg_pool2d", "AvgPool2d")
        code = draw(st.sampled_from([f"F.{fn}({x}, {k}{stride_kw}, padding={padding})",
                                     f"nn.{module}({k}{stride_kw}, padding={padding})({x})"]))
        c, L = (1, 1.0) if kind == "max" else (k * k + 1, 1.0)

    def rule(d, out):
        return derive([X.meta], d, L=L, c=c, S=X.amax, bound=X.amax * c)
    yield Stmt(maybe_no_grad(draw, f"{name} = {code}"), f"{kind} pooling {X.dtype}",
               set_meta(name, rule), (name,))


STEPS = ([g_leaf] * 3 + [g_leaf_like] * 3 + [g_factory] + [g_arith] * 8 + [g_unary] * 6 +
         [g_binary_fn] * 3 + [g_compare] * 3 + [g_reduce] * 5 + [g_maxmin] * 4 + [g_view] * 7 +
         [g_index] * 3 + [g_convert] * 3 + [g_matmul] * 4 + [g_join] * 2 + [g_inplace] * 8 +
         [g_setitem] * 4 + [g_backward] * 3 + [g_grad_edit] * 2 + [g_loss] * 3 +
         [g_batch_norm] + [g_instance_norm] + [g_linear] + [g_dropout] + [g_softmax] * 3 +
         [g_cross_entropy] * 2 +
         [g_methods] * 4 + [g_inplace_activation] * 3 + [g_isclose] * 2 + [g_norm] +
         [g_conv] * 2 + [g_gradient_penalty] + [g_pool] * 2)


def run_program(data, device, max_steps=14):
    """Draw and run one program; raises ProgramDifference at the first difference."""
    s = Session(device)
    draw = data.draw
    s.run_step(draw, g_leaf)
    for _ in range(draw(st.integers(1, max_steps), label="steps")):
        s.run_step(draw, draw(st.sampled_from(STEPS)))
    finish(draw, s)
    return s


def finish(draw, s):
    """Combine the float outputs that require grad into one scalar; backward; compare grads."""
    leaves = [s.pt[n] for n in s.names() if s.pt[n].is_leaf and s.pt[n].requires_grad]
    eligible = []
    for name in s.names():
        st_ = s.stat(name)
        if not (st_.is_float and st_.requires_grad and st_.finite and st_.numel):
            continue
        t = s.pt[name]
        probe_w = torch.ones_like(t)
        try:   # PyTorch can differentiate it (its graph is whole, no saved value was changed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.autograd.grad((t * probe_w).sum(), leaves, retain_graph=True,
                                    allow_unused=True)
        except RuntimeError:
            continue
        eligible.append(name)
    if not eligible:
        return
    parts, metas = [], []
    for name in eligible:
        st_ = s.stat(name)
        w, wmax = weights_literal(draw, st_.shape, st_.dtype)
        parts.append(f"({name} * {w}).sum().double()")
        n = st_.numel
        metas.append((st_, wmax, n))
    code = "loss = " + " + ".join(parts)

    def after(s):
        err = sum(n * w * m.meta.err + (n + 2) * EPS[m.dtype] * n * m.amax * w
                  for m, w, n in metas)
        scale = sum(n * m.amax * w for m, w, n in metas)
        s.meta["loss"] = Meta(err + EPS["float64"] * scale * len(metas), 0, scale)
    s.execute(Stmt(code, "final loss", after, ("loss",)))
    if "loss" in s.meta:
        s.execute(Stmt("loss.backward()", "final backward", backward=True))


# --- models and optimizers -----------------------------------------------------------------------
#
# A second kind of program: a random small model (nn.Linear, activations, BatchNorm1d,
# Sequential, and parameters used through views: ``x @ self.W.T``, ``self.W[0:2]``,
# ``self.b.reshape(1, -1)``), the same initial weights in both libraries, several steps of
# SGD or Adam, a frozen parameter given to the optimizer, and state_dict round trips of
# model and optimizer into fresh objects that then continue.
#
# Everything is float64 and compared to RTOL64 of (|value| + the largest magnitude the
# program has computed so far). That is enough because training here is well conditioned
# by construction: weights and inputs are continuous random values (no ties, no exact
# zeros of relu), a Linear before BatchNorm has no bias (its gradient would be rounding
# noise around 0). One amplifier remains, Adam: it divides by √v̂ + eps, so a gradient at
# rounding-noise level becomes an update of lr·noise/eps. So an Adam trajectory stops early
# (not a failure) once PyTorch's gradient has an element that is neither 0 nor above 1e-4
# of the backward pass' magnitudes; PyTorch's values decide, so tinygan cannot hide there.

ADAM_NOISE_FLOOR = 1e-4


def _dotted_to_code(name):
    """"body.0.weight" -> "body[0].weight" (Sequential children by index)."""
    out = ""
    for part in name.split("."):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _values(rng, shape, spread=1.0, decimals=3):
    return np.round(rng.uniform(-spread, spread, shape), decimals)


@st.composite
def model_spec(draw):
    """Source of ``class Net(nn.Module)`` (tinygan spelling) and its input/output widths."""
    width_in = draw(st.integers(2, 4))
    init, forward = ["        super().__init__()"], []
    width = width_in
    layers = draw(st.lists(st.sampled_from(["custom", "linear", "act", "bn", "seq", "scale"]),
                           min_size=1, max_size=4))
    layers.append("out")
    previous = "input"
    for i, kind in enumerate(layers):
        # in place only on an output no op keeps (tanh and sigmoid keep theirs: writing
        # into it is an error at backward in both, which would end the training early)
        writable = previous in ("custom", "linear", "bn", "scale")
        if kind == "bn" and previous in ("custom", "linear", "scale", "bn"):
            # BatchNorm removes a per-channel shift, so a bias (or BatchNorm's beta) that
            # reaches it through linear maps only has a zero gradient (rounding noise):
            # put a nonlinearity between
            init.append(f"        self.pre{i} = nn.Tanh()")
            forward.append(f"        h = self.pre{i}(h)")
        previous = kind
        if kind in ("custom", "linear", "out", "bn"):
            w_out = draw(st.integers(1, 2)) if kind == "out" else draw(st.integers(2, 4))
            if kind == "bn":
                w_out = width
            bias = kind != "bn" and draw(st.integers(0, 3)) > 0
            if kind == "linear" or (kind == "out" and draw(st.booleans())):
                init.append(f"        self.lin{i} = nn.Linear({width}, {w_out}, bias={bias})")
                forward.append(f"        h = self.lin{i}(h)")
            else:     # parameters used through views
                spare = draw(st.integers(0, 1))          # an unused row: W[0:n] is a view
                init.append(f"        self.W{i} = nn.Parameter(tg.zeros({w_out + spare}, {width}))")
                W = f"self.W{i}[0:{w_out}]" if spare else f"self.W{i}"
                if bias:
                    init.append(f"        self.b{i} = nn.Parameter(tg.zeros({w_out}))")
                form = draw(st.sampled_from(["x @ W.T", "F.linear", "(W @ x.T).T", "x @ W.T"]))
                if form == "F.linear":
                    line = f"F.linear(h, {W}{f', self.b{i}' if bias else ''})"
                else:
                    product = f"h @ {W}.T" if form == "x @ W.T" else f"({W} @ h.T).T"
                    if bias:
                        b = draw(st.sampled_from([f"self.b{i}", f"self.b{i}.reshape(1, -1)",
                                                  f"self.b{i}.reshape(1, {w_out})"]))
                        product += f" + {b}"
                    line = product
                forward.append(f"        h = {line}")
            if kind == "bn":
                init.append(f"        self.bn{i} = nn.BatchNorm1d({width})")
                forward.append(f"        h = self.bn{i}(h)")
            width = w_out
        elif kind == "act":
            act = draw(st.sampled_from(["F.relu(h)", "F.leaky_relu(h, 0.2)", "tg.tanh(h)",
                                        "tg.sigmoid(h)", "module"] +
                                       (["F.relu(h, inplace=True)", "h.relu_()",
                                         "F.leaky_relu(h, 0.2, inplace=True)"] if writable
                                        else [])))
            if act == "module":
                module = draw(st.sampled_from(["nn.LeakyReLU(0.1)", "nn.Tanh()", "nn.ReLU()",
                                               "nn.Sigmoid()"] +
                                              (["nn.ReLU(inplace=True)", "nn.ReLU(True)",
                                                "nn.LeakyReLU(0.1, inplace=True)"]
                                               if writable else [])))
                init.append(f"        self.act{i} = {module}")
                act = f"self.act{i}(h)"
            forward.append(f"        h = {act}")
        elif kind == "seq":
            w_out = draw(st.integers(2, 4))
            act = draw(st.sampled_from(["nn.Tanh()", "nn.LeakyReLU(0.2)", "nn.Sigmoid()",
                                        "nn.LeakyReLU(0.2, inplace=True)", "nn.ReLU(True)"]))
            init.append(f"        self.seq{i} = nn.Sequential(nn.Linear({width}, {w_out}), {act})")
            forward.append(f"        h = self.seq{i}(h)")
            width = w_out
        elif kind == "scale":
            init.append(f"        self.s{i} = nn.Parameter(tg.ones({width}))")
            forward.append(f"        h = h * self.s{i}.reshape(1, -1)")
    lines = ["class Net(nn.Module):", "    def __init__(self):"] + init + \
        ["", "    def forward(self, h):"] + forward + ["        return h"]
    return "\n".join(lines), width_in, width


class ModelSession(Session):
    """A Session that also compares models (parameters, grads, buffers) and optimizers."""

    def __init__(self, device):
        super().__init__(device)
        self.magnitude = 0.0
        self.last_backward_scale = 0.0

    def execute(self, stmt):
        # Statements that build models draw random initial weights (then overwritten):
        # not values of the program, so they do not count as magnitudes involved.
        self._recorder = _Magnitudes() if stmt.record else None
        return super().execute(stmt)

    def _exec(self, namespace, code):
        if namespace is self.pt and getattr(self, "_recorder", None) is not None:
            recorder, self._recorder = self._recorder, None
            with recorder:
                error = super()._exec(namespace, code)
            self.magnitude = max(self.magnitude, recorder.scale)
            self.last_backward_scale = recorder.scale
            return error
        return super()._exec(namespace, code)

    def _meta(self):
        return Meta(EPS["float64"], 0, self.magnitude)

    def compare_all(self, label):
        for name in self.names():
            self.meta[name] = self._meta()
            self.compare(name, label)
        for name in ("model", "model2"):
            if name in self.pt:
                self.compare_module(name, label)
        for name in ("opt", "opt2"):
            if name in self.pt:
                self.compare_optimizer(name, label)

    def compare_grad(self, name, label):
        self.grad_err[name] = (EPS["float64"], self.magnitude)
        super().compare_grad(name, label)

    def _compare_tensor(self, what, ours, theirs, label):
        if not isinstance(ours, tinygan.Tensor):
            self.fail("type", label, f"{what} is a {type(ours).__name__} in tinygan")
        if tuple(ours.shape) != tuple(theirs.shape) or \
                dtype_name(ours.dtype) != dtype_name(theirs.dtype):
            self.fail("shape", label, f"{what}: tinygan {tuple(ours.shape)} "
                      f"{dtype_name(ours.dtype)}, PyTorch {tuple(theirs.shape)} "
                      f"{dtype_name(theirs.dtype)}")
        reference = theirs.detach().numpy()
        tol = tolerance(self._meta(), dtype_name(theirs.dtype), reference.astype(np.float64))
        problem = compare_arrays(_host(ours), reference, tol)
        if problem:
            self.fail("values", label, f"{what} {problem}")

    def compare_module(self, name, label):
        t_model, g_model = self.pt[name], self.tg[name]
        for kind in ("parameters", "buffers"):
            theirs = dict(getattr(t_model, f"named_{kind}")())
            ours = dict(getattr(g_model, f"named_{kind}")())
            if list(ours) != list(theirs):
                self.fail("type", label, f"{name}.named_{kind}(): tinygan {list(ours)}, "
                          f"PyTorch {list(theirs)}")
            for key, t in theirs.items():
                g = ours[key]
                what = f"{name}.{key}"
                self._compare_tensor(what, g, t, label)
                if bool(g.requires_grad) != bool(t.requires_grad):
                    self.fail("requires_grad", label, f"{what}: tinygan requires_grad="
                              f"{g.requires_grad}, PyTorch {t.requires_grad}")
                if (g.grad is None) != (t.grad is None):
                    self.fail("grad", label, f"{what}.grad: tinygan "
                              f"{'None' if g.grad is None else 'a Tensor'}, PyTorch "
                              f"{'None' if t.grad is None else 'a Tensor'}")
                if t.grad is not None:
                    self._compare_tensor(what + ".grad", g.grad, t.grad, label)

    def compare_optimizer(self, name, label):
        theirs = self.pt[name].state_dict()
        ours = self.tg[name].state_dict()
        if sorted(ours["state"]) != sorted(theirs["state"]):
            self.fail("values", label, f"{name}.state_dict()['state'] has entries for parameters "
                      f"{sorted(ours['state'])} in tinygan, {sorted(theirs['state'])} in PyTorch")
        for index, state in theirs["state"].items():
            for key, value in state.items():
                if key not in ours["state"][index]:
                    self.fail("values", label, f"{name}.state_dict()['state'][{index}] has no "
                              f"{key!r} in tinygan")
                mine = ours["state"][index][key]
                if isinstance(value, torch.Tensor) and value.ndim:
                    reference = value.detach().numpy()
                    tol = tolerance(self._meta(), dtype_name(value.dtype),
                                    reference.astype(np.float64))
                    problem = compare_arrays(np.asarray(mine), reference, tol)
                else:
                    problem = None if float(mine) == float(value) else \
                        f"is {float(mine)} in tinygan, {float(value)} in PyTorch"
                if problem:
                    self.fail("values", label, f"{name}.state_dict()['state'][{index}][{key!r}] "
                              f"{problem}")
        for g_group, t_group in zip(ours["param_groups"], theirs["param_groups"]):
            for key, value in g_group.items():
                if key in t_group and key != "params" and tuple(np.atleast_1d(value)) != \
                        tuple(np.atleast_1d(t_group[key])):
                    self.fail("values", label, f"{name}.state_dict() param group {key!r}: "
                              f"tinygan {value!r}, PyTorch {t_group[key]!r}")


@st.composite
def optimizer_spec(draw):
    """(constructor source taking the params expression, name) for SGD or Adam."""
    if draw(st.booleans()):
        lr = draw(st.sampled_from([0.1, 0.05, 0.01]))
        momentum = draw(st.sampled_from([0.0, 0.9, 0.5]))
        nesterov = momentum > 0 and draw(st.booleans())
        dampening = 0.0 if nesterov else draw(st.sampled_from([0.0, 0.3]))
        wd = draw(st.sampled_from([0.0, 0.01, 0.1]))
        args = [f"lr={lr}"] + ([f"momentum={momentum}"] if momentum else []) + \
            ([f"dampening={dampening}"] if dampening else []) + \
            ([f"weight_decay={wd}"] if wd else []) + (["nesterov=True"] if nesterov else [])
        return "optim.SGD({params}, " + ", ".join(args) + ")", "SGD"
    lr = draw(st.sampled_from([0.01, 0.001, 0.1]))
    betas = draw(st.sampled_from([None, (0.5, 0.999), (0.8, 0.99)]))
    eps = draw(st.sampled_from([None, 1e-6, 1e-3]))
    wd = draw(st.sampled_from([0.0, 0.1]))
    args = [f"lr={lr}"] + ([f"betas={betas}"] if betas else []) + \
        ([f"eps={eps}"] if eps else []) + ([f"weight_decay={wd}"] if wd else [])
    return "optim.Adam({params}, " + ", ".join(args) + ")", "Adam"


def run_model_program(data, device):
    """Draw and run one training program; raises ProgramDifference at the first difference."""
    draw = data.draw
    s = ModelSession(device)
    source, width_in, width_out = draw(model_spec())
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    s.execute(Stmt(source, "model class"))
    make = "Net().to(device, tg.float64)"
    with torch.no_grad():   # the parameters' names and shapes, from PyTorch's copy of Net
        namespace = torch_namespace()
        exec(source, namespace)
        shapes_ = [(n, tuple(p.shape)) for n, p in eval("Net()", namespace).named_parameters()]
    names = [n for n, _ in shapes_]
    init, init_values = [], []
    for n, shape in shapes_:
        spread = 1.0 / math.sqrt(shape[-1]) if len(shape) == 2 else 0.5
        values = _values(rng, shape, spread)
        if n.split(".")[-1].startswith("s"):     # the scale parameters start near 1
            values = np.round(1.0 + values, 3)
        init_values.append(values)
        init.append(f"    {{model}}.{_dotted_to_code(n)}.copy_(tg.tensor({fmt(values)}, "
                    "dtype=tg.float64, device=device))")
    init = "\n".join(init)

    def construct(model):
        """The model with the same initial weights in both (random inits differ by design)."""
        return f"{model} = {make}\nwith tg.no_grad():\n" + init.format(model=model)
    s.execute(Stmt(construct("model"), "model with copied initial weights", record=False))
    s.magnitude = max(float(np.max(np.abs(v))) for v in init_values)
    frozen = None
    if draw(st.integers(0, 2)) == 0:
        frozen = _dotted_to_code(draw(st.sampled_from(names)))
        s.execute(Stmt(f"model.{frozen}.requires_grad_(False)", "freeze a parameter"))
    n = draw(st.integers(2, 6))
    s.execute(Stmt(f"x = tg.tensor({fmt(_values(rng, (n, width_in), 2.0))}, dtype=tg.float64, "
                   "device=device)", "input", defines=("x",)))
    loss_kind = draw(st.sampled_from(["mse", "mse_sum", "bce_logits", "bce"]))
    targets = np.round(rng.uniform(0, 1, (n, width_out)), 2) if loss_kind.startswith("bce") \
        else _values(rng, (n, width_out), 1.5)
    s.execute(Stmt(f"y = tg.tensor({fmt(targets)}, dtype=tg.float64, device=device)", "target",
                   defines=("y",)))
    loss_code = {"mse": "F.mse_loss(model(x), y)",
                 "mse_sum": "F.mse_loss(model(x), y, reduction='sum')",
                 "bce_logits": "F.binary_cross_entropy_with_logits(model(x), y)",
                 "bce": "F.binary_cross_entropy(tg.sigmoid(model(x)), y)"}[loss_kind]
    make_opt, opt_kind = draw(optimizer_spec())
    groups = draw(st.integers(0, 3)) == 0 and len(names) >= 2
    if groups:
        params = ("[{'params': list(model.parameters())[:1]}, "
                  "{'params': list(model.parameters())[1:], 'lr': 0.05}]")
    else:
        params = "model.parameters()"
    s.execute(Stmt(f"opt = {make_opt.format(params=params)}", f"{opt_kind} constructor"
                   + (" with a frozen parameter" if frozen else "")))
    steps = draw(st.integers(1, 6))
    round_trip = draw(st.integers(0, steps))          # == steps: no round trip
    for step in range(steps):
        if step == round_trip and step:   # fresh objects from state_dicts, then continue
            lines = [f"model2 = {make}", "model2.load_state_dict(model.state_dict())"]
            if frozen:
                lines.append(f"model2.{frozen}.requires_grad_(False)")
            lines += [f"opt2 = {make_opt.format(params=params.replace('model.', 'model2.'))}",
                      "opt2.load_state_dict(opt.state_dict())",
                      "model, opt = model2, opt2", "del model2, opt2"]
            s.execute(Stmt("\n".join(lines), "state_dict round trip", record=False))
        evaluating = draw(st.integers(0, 4)) == 0
        if evaluating:
            s.execute(Stmt("model.eval()", "eval mode"))
        zero = draw(st.sampled_from(["opt.zero_grad()", "opt.zero_grad()", "model.zero_grad()",
                                     "opt.zero_grad(set_to_none=False)"]))
        s.execute(Stmt(zero, "zero_grad"))
        s.execute(Stmt(f"loss = {loss_code}", f"loss ({loss_kind})", defines=("loss",)))
        s.execute(Stmt("loss.backward()", "backward"))
        if opt_kind == "Adam" and not _adam_well_conditioned(s):
            break
        s.execute(Stmt("opt.step()", f"{opt_kind}.step" + (" (eval mode)" if evaluating else "")))
        if evaluating:
            s.execute(Stmt("model.train()", "train mode"))
    return s


def _adam_well_conditioned(s):
    """Every gradient element is 0 or well above rounding noise (see above)."""
    floor = ADAM_NOISE_FLOOR * s.last_backward_scale
    for p in s.pt["model"].parameters():
        if p.grad is None:
            continue
        g = p.grad.detach().abs()
        if bool(((g > 0) & (g < floor)).any()):
            return False
    return True
