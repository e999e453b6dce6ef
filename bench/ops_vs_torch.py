"""The convolutional ops' largest difference from PyTorch, in float64 and float32.

    python bench/ops_vs_torch.py --geometries 200 --seed 0

For each op, random geometries (sizes, strides, paddings, dilations, groups, modes) and random
inputs, the same values given to tinygan and to PyTorch 2.13 on the CPU; the output and the
gradients of sum(output * g) for a random g are compared. A number is the largest
|tinygan - PyTorch| over all elements and geometries, divided by the largest |PyTorch| of the
same quantity in that geometry: rounding at the precision of the dtype (float64 2.2e-16,
float32 1.2e-7) times a small factor for the sums' lengths. The gradients that are sums of
terms of either sign (a bias's, BatchNorm's weight's) can be far smaller than their terms,
so there the quotient is larger; measured against the sum of the terms' sizes it is at the
dtype's rounding again (BatchNorm's weight, float64: 4.8e-17). The tests hold each op to
PyTorch at fixed tolerances (tests/test_conv.py, tests/test_pooling.py); this prints the
sizes of the differences. PyTorch is needed here only (not a dependency of tinygan).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def conv_case(rng, transposed):
    groups = int(rng.choice([1, 1, 2, 3]))
    n, k = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    c_in, c_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    stride, padding, dilation = (int(rng.integers(1, 4)), int(rng.integers(0, 3)),
                                 int(rng.integers(1, 3)))
    side = int(rng.integers(1, 12)) + (0 if transposed else dilation * (k - 1))
    kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    if transposed:
        kwargs["output_padding"] = int(rng.integers(0, max(stride, dilation)))
        weight = (c_in, c_out // groups, k, k)
    else:
        weight = (c_out, c_in // groups, k, k)
    x = rng.standard_normal((n, c_in, side, int(rng.integers(side // 2 + 1, side + 3))))
    bias = rng.standard_normal(c_out) if rng.random() < 0.7 else None
    name = "conv_transpose2d" if transposed else "conv2d"
    return name, [x, rng.standard_normal(weight), bias], kwargs


def batch_norm_case(rng):
    c = int(rng.integers(1, 5))
    x = rng.standard_normal((int(rng.integers(2, 7)), c, int(rng.integers(1, 7)),
                             int(rng.integers(1, 7)))) * 3 + 1
    return "batch_norm", [x, rng.standard_normal(c), rng.standard_normal(c)], {}


def pool_case(rng, kind):
    k = int(rng.integers(1, 4))
    kwargs = {"kernel_size": k, "stride": int(rng.integers(1, 4)),
              "padding": int(rng.integers(0, k // 2 + 1)), "ceil_mode": bool(rng.random() < 0.5)}
    if kind == "max_pool2d":
        kwargs["dilation"] = int(rng.integers(1, 3))
    else:
        kwargs["count_include_pad"] = bool(rng.random() < 0.5)
    reach = kwargs.get("dilation", 1) * (k - 1) + 1
    side = reach + int(rng.integers(0, 8))
    return kind, [rng.standard_normal((int(rng.integers(1, 4)), int(rng.integers(1, 4)), side,
                                       side + int(rng.integers(0, 3))))], kwargs


def interpolate_case(rng):
    x = rng.standard_normal((int(rng.integers(1, 4)), int(rng.integers(1, 4)),
                             int(rng.integers(1, 8)), int(rng.integers(1, 8))))
    if rng.random() < 0.5:
        return "interpolate", [x], {"scale_factor": int(rng.integers(1, 4)), "mode": "nearest"}
    return "interpolate", [x], {"size": (int(rng.integers(1, 12)), int(rng.integers(1, 12))),
                                "mode": "nearest"}


CASES = {"conv2d": lambda rng: conv_case(rng, False),
         "conv_transpose2d": lambda rng: conv_case(rng, True),
         "batch_norm (2d, train)": batch_norm_case,
         "max_pool2d": lambda rng: pool_case(rng, "max_pool2d"),
         "avg_pool2d": lambda rng: pool_case(rng, "avg_pool2d"),
         "interpolate (nearest)": interpolate_case}


def run(lib, F, name, arrays, kwargs, dtype, g_seed):
    """(output, gradients of sum(output * g) for each input) as float64 NumPy arrays."""
    tensors = [None if a is None else lib.tensor(a.astype(dtype), requires_grad=True)
               for a in arrays]
    if name == "batch_norm":
        out = F.batch_norm(tensors[0], None, None, tensors[1], tensors[2], training=True)
    else:
        out = getattr(F, name)(*tensors, **kwargs)
    g = np.random.default_rng(g_seed).standard_normal(tuple(out.shape)).astype(dtype)
    (out * lib.tensor(g)).sum().backward()
    return [np.asarray(out.detach().numpy(), np.float64)] + [
        np.asarray(t.grad.numpy(), np.float64) for t in tensors if t is not None]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--geometries", type=int, default=200, help="random cases per op")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import torch
    import torch.nn.functional as torch_F
    import tinygan as tg
    import tinygan.nn.functional as tg_F
    torch.set_num_threads(1)

    rng = np.random.default_rng(args.seed)
    print("| op | dtype | geometries | output | input's gradient | weight's | bias's |")
    print("|---|---|---|---|---|---|---|")
    for op, draw in CASES.items():
        worst = {np.float64: [None] * 4, np.float32: [None] * 4}   # None: never compared
        done = 0
        while done < args.geometries:
            name, arrays, kwargs = draw(rng)
            try:
                reference = run(torch, torch_F, name, arrays, kwargs, np.float64, done + 1)
            except RuntimeError:       # a geometry PyTorch refuses (e.g. an empty output)
                continue
            done += 1
            for dtype, values in worst.items():
                ours = run(tg, tg_F, name, arrays, kwargs, dtype, done)
                theirs = (reference if dtype is np.float64 else
                          run(torch, torch_F, name, arrays, kwargs, dtype, done))
                columns = [0] + [1 + i for i, a in enumerate(arrays) if a is not None]
                for i, a, b in zip(columns, ours, theirs):
                    scale = max(float(np.abs(b).max(initial=0.0)), np.finfo(dtype).tiny)
                    values[i] = max(values[i] or 0.0,
                                    float(np.abs(a - b).max(initial=0.0)) / scale)
        for dtype, values in worst.items():
            cells = ["-" if v is None else f"{v:.1e}" for v in values]
            print(f"| {op} | {np.dtype(dtype).name} | {done} | " + " | ".join(cells) + " |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
