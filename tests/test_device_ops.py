"""Device ops per GAN training step on "cuda": a ratchet that keeps the count from creeping up.

On a GPU every device op (an elementwise kernel, a reduction, a GEMM, a copy, a gather or
scatter) costs a launch, ~5-10 µs of CPU time however small the arrays, so at MNIST sizes a
step's launch count bounds its speed. Counted with the CuPy stand-in's op counter
(``cupy_standin.device_ops``: what counts is in its docstring), so these tests run with the
stand-in only: real CuPy has no counter. ``python bench/gan_step.py`` prints the same count
at each batch size, beside PyTorch's ATen op count for the same step.
"""
import pytest

import bench_programs
from tinygan import backend

# A ratchet: measured 186 device ops in one train_step (default MNIST GAN, batch 128, the
# "tinygan" recipe of examples/mnist_gan.py), the same in every step. It was 825 before Adam's
# flat buffers, D's one pass and the leaner sigmoid and BCE, 369 before LeakyReLU's select,
# BatchNorm's running stats in one array and the trainer's cached targets, 329 before Adam's
# update and the sigmoid were fused (backend.fuse), 290 before BatchNorm, LeakyReLU and
# BCEWithLogits were fused (issue 29: at most 235, half of PyTorch's 471 ATen ops). Lower it
# whenever the count drops; never raise it to make a change pass.
MAX_DEVICE_OPS_PER_STEP = 186

# The same for bench/dcgan_step.py's DCGAN step (examples/dcgan.py's models): 1004 before the
# fusions above and col2im's grouped adds, 496 before BatchNorm2d's 4-D op, im2col's and
# col2im's gathers and the convolutions' bias in their layout copy; PyTorch's step is 367
# ATen ops (views included).
MAX_DCGAN_DEVICE_OPS_PER_STEP = 324


def load_bench():
    return bench_programs.load("gan_step")


def mnist_trainer(batch):
    """examples/mnist_gan.py's default recipe on "cuda" (the step bench/gan_step.py times),
    and a batch of random images."""
    return load_bench().default_trainer("cuda", batch)


def top(counter, n=15):
    return "\n".join(f"{count:5d}  {name}" for name, count in counter.by_name.most_common(n))


def test_device_ops_per_train_step_do_not_creep_up(device_ops):
    trainer, real = mnist_trainer(128)
    for _ in range(2):   # warm-up: Adam's state and the work buffers are made in the first step
        trainer.train_step(real)
    steps = []
    for _ in range(3):
        with device_ops.counting() as n:
            trainer.train_step(real)
        steps.append(n)
    # Every step the same count: a step that differs is a sign of state-dependent work
    # (autograd once copied gradients whose id() a freed array had held: 0-13 a step).
    assert len({n.count for n in steps}) == 1, [n.count for n in steps]
    step = steps[0]
    # after the step: D's gradients are still there (D is frozen in the G step), G's too
    with device_ops.counting() as adam_d:
        trainer.opt_d.step()
    with device_ops.counting() as adam_g:
        trainer.opt_g.step()
    with device_ops.counting() as zero_grad:
        trainer.opt_d.zero_grad()
        trainer.opt_g.zero_grad()
    print(f"\ndevice ops in one train_step at batch 128: {step.count} "
          f"(3 steps: {[n.count for n in steps]})\n{top(step)}")
    n_d, n_g = (len(opt.param_groups[0]["params"]) for opt in (trainer.opt_d, trainer.opt_g))
    print(f"Adam step: D {adam_d.count} ({n_d} parameters), G {adam_g.count} ({n_g} parameters)")
    print(f"zero_grad, both optimizers: {zero_grad.count}")
    assert step.count <= MAX_DEVICE_OPS_PER_STEP, (
        f"{step.count} device ops per step, more than {MAX_DEVICE_OPS_PER_STEP}; "
        f"where they go:\n{top(step)}")


def test_bench_gan_step_counts_the_same_ops(device_ops):
    bench = load_bench()
    ours = bench.device_ops_per_step(8)
    assert 0 < sum(ours.values()) <= MAX_DEVICE_OPS_PER_STEP
    assert backend.xp_for("cuda").device_ops is device_ops   # "cuda" put back as it was
    pytest.importorskip("torch")
    aten = bench.aten_ops_per_step(8)
    assert aten["aten::linear"] > 0 and "aten::addmm" not in aten   # top-level ops only


def test_dcgan_device_ops_per_step_do_not_creep_up(device_ops):
    ours = bench_programs.load("dcgan_step").device_ops_per_step(8, "dcgan")
    total = sum(ours.values())
    print(f"\ndevice ops in one DCGAN step: {total}\n{ours.most_common(15)}")
    assert total <= MAX_DCGAN_DEVICE_OPS_PER_STEP, ours.most_common(15)


@pytest.mark.parametrize("bias", [True, False])
def test_an_unpadded_convolution_is_three_device_ops(device_ops, bias):
    """The gather of its columns, the product, and the copy out of the batch-last layout
    (with the bias added in the same op)."""
    import tinygan as tg
    x = tg.randn(4, 6, 9, 9, device="cuda")
    w, b = tg.randn(5, 6, 4, 4, device="cuda"), tg.randn(5, device="cuda") if bias else None
    tg.nn.functional.conv2d(x, w, b, stride=2)                 # the gather's index, made once
    with device_ops.counting() as n:
        tg.nn.functional.conv2d(x, w, b, stride=2)
    assert n.count == 3, n.by_name


@pytest.mark.parametrize("bias", [True, False])
def test_a_transposed_convolution_is_four_device_ops(device_ops, bias):
    """g into the batch-last layout, the product, the gather of every tap reaching each output
    element and the fused kernel that adds them (and the bias): 4 ops, whatever the kernel."""
    import tinygan as tg
    g = tg.randn(4, 6, 3, 3, device="cuda")
    w, b = tg.randn(6, 5, 4, 4, device="cuda"), tg.randn(5, device="cuda") if bias else None
    tg.nn.functional.conv_transpose2d(g, w, b, stride=1)      # the gather's index, made once
    with device_ops.counting() as n:
        tg.nn.functional.conv_transpose2d(g, w, b, stride=1)
    assert n.count == 4, n.by_name


def test_a_batch_norm_2d_block_with_an_in_place_relu_writes_through_no_view(device_ops):
    """BatchNorm2d's output is a tensor of its own, so the in-place ReLU after it is a plain
    in-place op: forward 7 ops for BatchNorm (its count, mean, centre, Σ(x-μ)², σ², y,
    running stats) and 3 for the ReLU (the old value's copy, max, the write); backward 7.
    A write through a view (CopySlices) took 11 and 12."""
    import tinygan as tg
    block = tg.nn.Sequential(tg.nn.BatchNorm2d(3), tg.nn.ReLU(inplace=True)).to("cuda")
    x = tg.randn(4, 3, 5, 5, device="cuda", requires_grad=True)
    g = tg.randn(4, 3, 5, 5, device="cuda")
    block(x).backward(g)
    x.grad = None
    with device_ops.counting() as forward:
        y = block(x)
    with device_ops.counting() as backward:
        y.backward(g)
    assert (forward.count, backward.count) == (10, 7), (forward.by_name, backward.by_name)
