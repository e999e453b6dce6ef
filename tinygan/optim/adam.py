"""Adam (Kingma & Ba, 2015) with PyTorch's update: eps added after the bias-corrected root.

Two implementations of one formula, chosen per parameter group by PyTorch's flags ``foreach``
and ``fused`` (see :class:`Adam`): ``_single_tensor_adam``, the reference, in plain array
expressions one parameter at a time; and the fast path, the default, the same update as one
fused in-place function over a whole group laid out flat (flat.py) on a GPU, parameter by
parameter in cache-sized blocks on the CPU. tests/test_optim_reference.py holds them together.
"""
from __future__ import annotations

import math

from .. import backend
from ..autograd import increment_version
from ..tensor import no_grad
from ..backend import array_module
from .flat import FlatBuffer, can_flatten
from .optimizer import Optimizer


def _single_tensor_adam(p, g, m, v, t, *, lr, betas, eps, weight_decay, decoupled_weight_decay):
    """Step t of Adam on one parameter, in place on its arrays p, m and v: the reference, as
    PyTorch's ``_single_tensor_adam``. The constants are Python floats (double precision)."""
    beta1, beta2 = betas
    if weight_decay and decoupled_weight_decay:
        p *= 1 - lr * weight_decay                  # AdamW: p ← p - lr·λ·p; m and v never see λ
    elif weight_decay:
        g = g + weight_decay * p                    # Adam: L2, g ← g + λ·p
    m[...] = beta1 * m + (1 - beta1) * g            # m ← β1·m + (1-β1)·g
    v[...] = beta2 * v + (1 - beta2) * g**2         # v ← β2·v + (1-β2)·g²; 1-0.999 is 0.001 here
    m_hat = m / (1 - beta1**t)                      # m̂ = m/(1-β1^t): m starts at 0, biased low
    v_hat = v / (1 - beta2**t)                      # v̂ = v/(1-β2^t), for the same reason
    sqrt = array_module(p).sqrt                     # numpy's on the CPU, cupy's on a GPU
    p -= lr * m_hat / (sqrt(v_hat) + eps)           # p ← p - lr·m̂/(√v̂ + eps): eps after the root


# On the CPU the update runs over blocks of this many elements, so that its dozen passes over
# p, g, m and v stay in cache instead of streaming each array from memory a dozen times.
CPU_BLOCK = 1 << 16

# On a GPU, where every call is a kernel launch, Adam lays each group out in one flat buffer
# (flat.py); on the CPU the gather of the gradients into it costs more than the calls it saves,
# so there it does so only when this is True (bench/tricks.py sets it to compare the two).
FLAT_ON_CPU = False


class Adam(Optimizer):
    """m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²;
    p ← p - lr · (m / (1-β1^t)) / (√(v / (1-β2^t)) + eps).

    ``weight_decay`` adds wd·p to g (L2, as torch.optim.Adam); with
    ``decoupled_weight_decay=True`` (what :class:`AdamW` sets) it shrinks p by
    (1 - lr·wd) before the update instead, leaving m and v alone. The
    constants are Python floats (double precision), so (1-β2) is exactly 0.001,
    not float32's 0.0009999871.

    ``foreach`` and ``fused`` choose the implementation, by PyTorch's rules:

    - both None (the default) or ``fused=True``: the fast path, the fused update
      (backend.fuse: one kernel on a GPU, ``out=`` calls on the CPU), over the whole group
      laid out in one flat buffer on a GPU, parameter by parameter in cache-sized blocks on
      the CPU. (PyTorch's default is foreach on CUDA and its for-loop on the CPU.)
    - ``foreach=True``: the group in one flat buffer on every device, the CPU included.
    - ``foreach=False`` or ``fused=False``, the other not True: ``_single_tensor_adam``,
      the readable reference, one parameter at a time (PyTorch's for-loop).
    - both True: RuntimeError, as in PyTorch.

    The fast path falls back to one parameter at a time (still fused) where a group cannot
    share a buffer: some parameters without a gradient, mixed devices or dtypes, tied views.
    Both compute the formula above and agree to rounding; their state is the same, so a
    state_dict moves between them. As in PyTorch the flags are per group: ``state_dict``
    saves them and ``load_state_dict`` restores them (set ``param_groups[i]["foreach"]``
    after loading to run another path).

    The first step moves each parameter by about lr against its gradient's sign:

    >>> import tinygan as tg
    >>> w = tg.nn.Parameter(tg.tensor([1.0, -1.0]))
    >>> opt = tg.optim.Adam([w], lr=0.1)
    >>> (w * tg.tensor([3.0, -0.5])).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([ 0.9000, -0.9000], requires_grad=True)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 foreach=None, fused=None, decoupled_weight_decay=False):
        # PyTorch's checks, in its order and words, so the message names the culprit
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        betas = tuple(betas)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, fused=fused,
                                      decoupled_weight_decay=bool(decoupled_weight_decay)))
        for group in self.param_groups:
            _implementation(group)           # both flags True: an error now, not at step()
        self._scratch = {}   # (device, dtype) -> a work buffer, reused every step
        self._flat = {}      # group index -> FlatBuffers of its parameters, exp_avg, exp_avg_sq

    @no_grad()
    def step(self):
        for index, group in enumerate(self.param_groups):
            params = group["params"]
            if not params:                   # an empty group, as PyTorch allows: nothing to do
                continue
            states = self._states_of(index)
            implementation = _implementation(group)
            if implementation == "single_tensor":
                for p, state in zip(params, states):
                    if p.grad is not None:
                        self._step_reference(group, p, state)
                continue
            flat_here = (implementation == "foreach" or FLAT_ON_CPU
                         or backend.device_of(params[0]._data) != backend.CPU)
            if (flat_here and all(p.grad is not None for p in params)
                    and self._flatten(index, params, states)):
                self._step_flat(index, group, params, states)
            else:    # on the CPU, some without a gradient, or not one device and dtype
                for p, state in zip(params, states):
                    if p.grad is not None:
                        self._step_one(group, p, state)

    def _states_of(self, group_index):
        start = sum(len(g["params"]) for g in self.param_groups[:group_index])
        return self.state[start:start + len(self.param_groups[group_index]["params"])]

    def _flatten(self, index, params, states):
        """Lay the group's parameters and averages out in flat buffers (once, and again when
        someone rebound them); False where they cannot share one (see can_flatten)."""
        if len({s.get("step", 0) for s in states}) > 1:
            return False                     # one step count for all: the corrections are shared
        flat = self._flat.get(index)
        arrays = [p._data for p in params]
        if flat is not None and flat[0].holds(arrays) and all(
                buffer.holds([s[key] for s in states])
                for buffer, key in zip(flat[1:], ("exp_avg", "exp_avg_sq"))):
            return True
        if not can_flatten(arrays, flat[0] if flat else None):
            return False
        for p, state in zip(params, states):
            _init_state(p, state)
        flat = [FlatBuffer(arrays)] + [FlatBuffer([s[key] for s in states])
                                       for key in ("exp_avg", "exp_avg_sq")]
        for p, view in zip(params, flat[0].views):
            p._data = view                   # the values are unchanged; only where they live
        for buffer, key in zip(flat[1:], ("exp_avg", "exp_avg_sq")):
            for state, view in zip(states, buffer.views):
                state[key] = view
        self._flat[index] = flat
        return True

    def _step_flat(self, index, group, params, states):
        """All of the group's parameters in one update of the flat buffers."""
        p_flat, m_flat, v_flat = (buffer.buffer for buffer in self._flat[index])
        xp = array_module(p_flat)
        g = xp.concatenate([p.grad._data.reshape(-1) for p in params])   # one gather
        for state in states:
            state["step"] += 1
        self._apply(group, p_flat, g, m_flat, v_flat, states[0]["step"])
        for p in params:
            increment_version(p)

    def _step_reference(self, group, p, state):
        _init_state(p, state)
        state["step"] += 1
        _single_tensor_adam(p._data, p.grad._data, state["exp_avg"], state["exp_avg_sq"],
                            state["step"], lr=group["lr"], betas=group["betas"],
                            eps=group["eps"], weight_decay=group["weight_decay"],
                            decoupled_weight_decay=group["decoupled_weight_decay"])
        increment_version(p)

    def _step_one(self, group, p, state):
        _init_state(p, state)
        state["step"] += 1
        self._apply(group, p._data, p.grad._data, state["exp_avg"], state["exp_avg_sq"],
                    state["step"])
        increment_version(p)

    def _apply(self, group, p, g, m, v, t):
        """Weight decay, then the update of step t, in place on p, m and v."""
        if group["weight_decay"]:
            if group.get("decoupled_weight_decay"):   # AdamW: shrink p, leave g alone
                p *= 1 - group["lr"] * group["weight_decay"]
            else:                                     # Adam: L2, added to g
                g = g + group["weight_decay"] * p
        beta1, beta2 = group["betas"]
        step_size = group["lr"] / (1 - beta1 ** t)
        root_correction = 1 / math.sqrt(1 - beta2 ** t)
        # the numbers in double precision here, not inside the fused update (see backend.fuse)
        self._update(p, g, m, v, (beta1, 1 - beta1, beta2, 1 - beta2, step_size,
                                  root_correction, group["eps"]))

    def _update(self, p, g, m, v, numbers):
        """The update of one parameter, in place: block by block on the CPU, whole on a GPU."""
        xp = array_module(p)
        g = xp.ascontiguousarray(g)          # x @ W.T makes W's gradient column-major
        flat = all(a.flags.c_contiguous for a in (p, m, v))
        if backend.device_of(p) != backend.CPU or not flat:
            # one pass over the whole arrays (a parameter that is a strided view included:
            # reshape(-1) would copy it, and the update would land in the copy)
            tmp = self._work_buffer(xp, p.size, p.dtype)[:p.size].reshape(p.shape)
            _adam_update(p, g, m, v, tmp, *numbers)
            return
        tmp = self._work_buffer(xp, min(CPU_BLOCK, p.size), p.dtype)
        p, g, m, v = p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)   # views
        for start in range(0, p.size, CPU_BLOCK):
            end = min(start + CPU_BLOCK, p.size)
            _adam_update(p[start:end], g[start:end], m[start:end], v[start:end],
                         tmp[:end - start], *numbers)

    def _work_buffer(self, xp, size, dtype):
        key = (id(xp), dtype)
        buffer = self._scratch.get(key)
        if buffer is None or buffer.size < size:
            buffer = self._scratch[key] = xp.empty(size, dtype=dtype)
        return buffer


def _implementation(group):
    """"fused" (the default), "foreach" or "single_tensor": PyTorch's rules for the flags."""
    foreach, fused = group["foreach"], group["fused"]
    if foreach and fused:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if fused or (fused is None and foreach is None):
        return "fused"
    return "foreach" if foreach else "single_tensor"


def _init_state(p, state):
    """A parameter's first step: step 0 and averages of zeros, row-major whatever the
    gradient's layout."""
    if not state:
        xp = array_module(p._data)
        state.update(step=0, exp_avg=xp.zeros(p.shape, dtype=p.dtype),
                     exp_avg_sq=xp.zeros(p.shape, dtype=p.dtype))


@backend.fuse   # on a GPU one kernel instead of a launch per line
def _adam_update(xp, p, g, m, v, tmp, beta1, one_minus_beta1, beta2, one_minus_beta2,
                 step_size, root_correction, eps):
    """Adam's update of p, m and v in place, with tmp as scratch (all the same shape)."""
    xp.multiply(m, beta1, out=m)                            # m ← β1·m + (1-β1)·g
    xp.multiply(g, one_minus_beta1, out=tmp)
    xp.add(m, tmp, out=m)
    xp.multiply(v, beta2, out=v)                            # v ← β2·v + (1-β2)·g²
    xp.multiply(g, g, out=tmp)
    xp.multiply(tmp, one_minus_beta2, out=tmp)
    xp.add(v, tmp, out=v)
    xp.sqrt(v, out=tmp)                                     # √(v/(1-β2^t)) + eps
    xp.multiply(tmp, root_correction, out=tmp)
    xp.add(tmp, eps, out=tmp)
    xp.divide(m, tmp, out=tmp)                              # p ← p - lr/(1-β1^t) · m / (...)
    xp.multiply(tmp, step_size, out=tmp)
    xp.subtract(p, tmp, out=p)
