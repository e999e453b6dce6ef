"""examples/dcgan.py and examples/wgan_gp.py: mnist_gan.py's program with the course's
convolutional models, so the same promises hold: a dry run writes nothing, a run writes its
grid, checkpoint and PyTorch-named weights, Ctrl-C and --resume continue bit for bit, and
sample.py reads what they wrote. Runs are tiny: 32 fake images, batches of 8, narrow models."""
from pathlib import Path

import numpy as np
import pytest

import tinygan as tg
from tinygan.gan import build_models
from tinygan.utils.checkpoint import load_checkpoint
from tinygan.utils.weights import identify, read_weights
from tinygan.wgan import WGANGPTrainer

from example_programs import load_example, png_size
from exits import one_line_exit_2

PROGRAMS = {"dcgan": load_example("dcgan"), "wgan_gp": load_example("wgan_gp")}
sample = load_example("sample")
BACKENDS = {"cpu": "numpy", "cuda": "cupy"}
TINY = ["--limit", "32", "--batch-size", "8", "--log-every", "2", "--z-dim", "4",
        "--hidden-dim", "4"]


def run(name, args, data_dir, out=None, device="cpu"):
    argv = [*args, "--backend", BACKENDS[device], "--data-dir", str(data_dir)]
    if out is not None:
        argv += ["--out", str(out)]
    return PROGRAMS[name].main(argv)


def arrays(path):
    checkpoint = load_checkpoint(path)
    return checkpoint._arrays, checkpoint.meta


@pytest.mark.parametrize("name", PROGRAMS)
def test_a_dry_run_trains_the_convolutional_models(name, device, fake_mnist, tmp_path, capsys):
    assert run(name, ["--dry-run", "--batch-size", "8", "--z-dim", "4", "--hidden-dim", "4"],
               fake_mnist, device=device) == 0
    assert "dry run finished: 8 steps" in capsys.readouterr().out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", PROGRAMS)
def test_a_run_writes_grid_checkpoint_and_weights_under_pytorchs_names(name, fake_mnist,
                                                                       tmp_path):
    out = tmp_path / "run"
    assert run(name, ["--epochs", "1", *TINY], fake_mnist, out) == 0
    width, height = png_size(out / "samples" / "epoch_001.png")
    assert width == height > 8 * 28                     # 8 × 8 digits
    _, meta = arrays(out / "checkpoint.npz")
    arch = {"dcgan": "dcgan-wide", "wgan_gp": "wgan-gp-padded-nobn"}[name]
    assert meta["args"]["arch"] == arch and meta["trainer"]["step"] == 4
    kinds = [identify(read_weights(out / f"{part}.safetensors")).kind
             for part in ("generator", "discriminator")]
    assert kinds == ["dcgan generator", "dcgan discriminator" if name == "dcgan"
                     else "wgan-gp critic without batchnorm"]
    if name == "wgan_gp":
        assert meta["args"]["d_steps"] == 5 and meta["args"]["gp_weight"] == 10.0


@pytest.mark.parametrize("name", PROGRAMS)
def test_resume_after_ctrl_c_is_bit_for_bit(name, fake_mnist, tmp_path, monkeypatch, capsys):
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    assert run(name, ["--epochs", "2", *TINY], fake_mnist, straight) == 0
    reporter = PROGRAMS[name].run_program.__globals__["Reporter"]
    original = reporter.on_step

    def on_step(self, run_, step):
        original(self, run_, step)
        if step == 3:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(reporter, "on_step", on_step)
        assert run(name, ["--epochs", "2", *TINY], fake_mnist, cut) == 130
    assert "interrupted: saved" in capsys.readouterr().out
    assert run(name, ["--epochs", "2", "--resume"], fake_mnist, cut) == 0
    (a, meta_a), (b, meta_b) = arrays(straight / "checkpoint.npz"), arrays(cut / "checkpoint.npz")
    assert a.keys() == b.keys() and any(k.startswith("opt_d/state/") for k in a)
    assert [k for k in a if not np.array_equal(a[k], b[k])] == []
    assert meta_a["trainer"] == meta_b["trainer"] and meta_a["run"] == meta_b["run"]


@pytest.mark.parametrize("name", PROGRAMS)
def test_sample_reads_the_checkpoint_and_the_safetensors(name, fake_mnist, tmp_path):
    out = tmp_path / "run"
    assert run(name, ["--epochs", "1", *TINY], fake_mnist, out) == 0
    # dcgan.py keeps an EMA of G by default: the checkpoint samples it, --live the live G
    pairs = ([(["checkpoint.npz"], "generator_ema.safetensors")] if name == "dcgan" else []) \
        + [(["checkpoint.npz", "--live"] if name == "dcgan" else ["checkpoint.npz"],
            "generator.safetensors")]
    for checkpoint, weights in pairs:
        drawn = []
        for source, *flags in (checkpoint, [weights]):
            npy = tmp_path / f"{source}.npy"
            assert sample.main([str(out / source), *flags, "--npy", str(npy), "-n", "5",
                                "--seed", "1"]) in (0, None)
            drawn.append(np.load(npy))
        assert drawn[0].shape == (5, 784) and 0 <= drawn[0].min() and drawn[0].max() <= 1
        np.testing.assert_array_equal(drawn[0], drawn[1])     # the same G, read two ways


@pytest.mark.parametrize("argv, expected", [
    (["--conditional"], "--conditional: the conditional GAN is an MLP here"),
    (["--gp-weight", "5"], "--gp-weight: --arch dcgan-wide has no gradient penalty"),
    (["--gp-weight", "-1"], "expected a number ≥ 0, got -1.0"),
])
def test_settings_the_model_cannot_take_are_one_line(argv, expected, fake_mnist, tmp_path,
                                                    capsys):
    line = one_line_exit_2(capsys, PROGRAMS["dcgan"].main,
                           [*argv, *TINY, "--data-dir", str(fake_mnist),
                            "--out", str(tmp_path / "run")])
    assert expected in line


def test_the_wgan_trainer_is_the_courses_loop_in_pytorch(device):
    """Five critic steps with the penalty, then a G step: the same losses and weights as the
    course's loop run in PyTorch on the same noise and ε (float64)."""
    torch = pytest.importorskip("torch")
    tg.manual_seed(0)
    G, C = build_models(4, 4, arch="wgan-gp")
    G, C = G.to(device, tg.float64), C.to(device, tg.float64)
    theirs = [course_model(torch, type(m).__name__, m) for m in (G, C)]
    opts = [tg.optim.Adam(m.parameters(), lr=1e-3, betas=(0.5, 0.999)) for m in (G, C)]
    trainer = WGANGPTrainer(G, C, *opts, z_dim=4, device=device, seed=3)
    real = np.random.default_rng(1).uniform(-1, 1, (6, 1, 28, 28))
    stream = trainer.noise_rng.get_state()
    result = trainer.train_step(tg.tensor(real, device=device))

    rng = tg.backend.RandomStream([3, 1], device)     # the trainer's stream, drawn again
    rng.set_state(stream)
    draw = {"noise": lambda n: host(rng.standard_normal((n, 4), np.float32)),
            "eps": lambda n: host(rng.random((n, 1, 1, 1), np.float32))}
    expected = course_step(torch, *theirs, torch.tensor(real), draw)
    np.testing.assert_allclose(float(result.d_loss), expected[0], rtol=1e-10)
    np.testing.assert_allclose(float(result.g_loss), expected[1], rtol=1e-10)
    for ours, ref in zip((G, C), theirs):
        state = ours.state_dict()
        for (key, p), q in zip(state.items(), ref.state_dict().values()):
            # A bias just before BatchNorm has a true gradient of 0 (the mean is taken out);
            # what it gets is rounding noise, which Adam divides by its eps (1e-8): such a
            # bias, and the running mean it feeds, move by rounding noise / 1e-8 per step
            # in either library.
            noisy = (key.endswith(".0.bias") and key[:-6] + "1.weight" in state) or \
                key.endswith(".1.running_mean")
            np.testing.assert_allclose(host(p), q.numpy(), rtol=1e-9,
                                       atol=1e-7 if noisy else 1e-12, err_msg=key)


def host(value):
    """A state_dict entry (a Tensor, or an array on its device) as a NumPy array."""
    return tg.backend.to_numpy(getattr(value, "_data", value))


def course_model(torch, name, ours):
    """tinygan.dcgan's class run under PyTorch (its source is the course's code), with our
    weights."""
    source = Path(tg.dcgan.__file__).read_text().split("from . import nn\n")[1]
    namespace = {}
    exec("import torch\nfrom torch import nn\n" + source, namespace)
    model = namespace[name](*{"DCGANGenerator": (4, 1, 4), "Critic": (1, 4)}[name]).double()
    model.load_state_dict({k: torch.tensor(host(v)) for k, v in ours.state_dict().items()})
    return model


def course_step(torch, gen, crit, real, draw):
    """The course's week-3 training loop body (crit_repeats 5, c_lambda 10), drawing its
    noise and ε from ``draw`` in the order the trainer does."""
    gen_opt = torch.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.999))
    crit_opt = torch.optim.Adam(crit.parameters(), lr=1e-3, betas=(0.5, 0.999))
    n, mean_critic_loss = len(real), 0.0
    for _ in range(5):
        crit_opt.zero_grad()
        fake = gen(torch.tensor(draw["noise"](n)).double())
        crit_fake_pred, crit_real_pred = crit(fake.detach()), crit(real)
        epsilon = torch.tensor(draw["eps"](n)).double().requires_grad_()
        mixed = real * epsilon + fake.detach() * (1 - epsilon)
        scores = crit(mixed)
        gradient = torch.autograd.grad(inputs=mixed, outputs=scores,
                                       grad_outputs=torch.ones_like(scores),
                                       create_graph=True, retain_graph=True)[0]
        gp = ((gradient.view(n, -1).norm(2, dim=1) - 1) ** 2).mean()
        crit_loss = crit_fake_pred.mean() - crit_real_pred.mean() + 10 * gp
        mean_critic_loss += crit_loss.item() / 5
        crit_loss.backward(retain_graph=True)
        crit_opt.step()
    gen_opt.zero_grad()
    gen_loss = -crit(gen(torch.tensor(draw["noise"](n)).double())).mean()
    gen_loss.backward()
    gen_opt.step()
    return mean_critic_loss, gen_loss.item()


@pytest.mark.parametrize("name, arch", [("dcgan", "dcgan"), ("dcgan", "dcgan-padded"),
                                        ("wgan_gp", "wgan-gp-padded"),
                                        ("wgan_gp", "wgan-gp-padded-nobn")])
def test_every_arch_trains_resumes_and_samples(name, arch, fake_mnist, tmp_path):
    out = tmp_path / "run"
    assert run(name, ["--epochs", "1", "--arch", arch, *TINY], fake_mnist, out) == 0
    assert run(name, ["--epochs", "2", "--resume"], fake_mnist, out) == 0   # its sizes check
    a, meta = arrays(out / "checkpoint.npz")
    assert meta["args"]["arch"] == arch and meta["trainer"]["step"] == 8
    G, D = build_models(4, 4, arch=arch)
    assert {k: v.shape for k, v in D.state_dict().items()} == \
        {k[len("discriminator/"):]: v.shape for k, v in a.items() if k.startswith("discriminator/")}
    npy = tmp_path / "s.npy"
    assert sample.main([str(out / "checkpoint.npz"), "--npy", str(npy), "-n", "3"]) in (0, None)
    assert np.load(npy).shape == (3, 784)
