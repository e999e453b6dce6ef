"""The VAE: its KL term, the reparameterisation trick, its loss, and examples/mnist_vae.py.

kl_divergence and its gradient against the closed forms (and gradcheck in float64);
reparameterize draws z = μ + exp(½ log σ²)·ε with the ε its generator gives, and its
gradients are 1 and ½·exp(½ log σ²)·ε; vae_loss is BCE summed over pixels / N + KL;
a few Adam steps lower the loss; the example's dry run writes nothing, a real run writes
its grid, metrics and checkpoint, and --resume continues it.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend, optim
from tinygan.utils.checkpoint import load_checkpoint
from tinygan.vae import VAE, kl_divergence, reparameterize, vae_loss

from example_programs import VAE_TINY as TINY, load_example, png_size

pytestmark = pytest.mark.usefixtures("isolated")   # conftest: offline, cwd in tmp_path


BACKENDS = {"cpu": "numpy", "cuda": "cupy"}


def host(t):
    """A host copy of a tensor's values (never np.asarray on a device array)."""
    return t.detach().numpy().copy()




mnist_vae = load_example("mnist_vae")


def kl_numpy(mean, logvar):
    """-½ Σ_z (1 + log σ² - μ² - σ²), averaged over the batch, in float64."""
    mean, logvar = np.asarray(mean, np.float64), np.asarray(logvar, np.float64)
    return (-0.5 * (1 + logvar - mean ** 2 - np.exp(logvar)).sum(axis=1)).mean()


# --- the KL term ------------------------------------------------------------------------------

def test_kl_divergence_of_a_hand_example(device):
    # mean [[0, 1]], logvar [[0, log 4]]: -½((1 + 0 - 0 - 1) + (1 + log 4 - 1 - 4)) = 2 - ½ log 4
    mean = tg.tensor([[0.0, 1.0]], device=device)
    logvar = tg.tensor([[0.0, np.log(4.0)]], device=device)
    by_hand = -0.5 * ((1 + 0 - 0 - 1) + (1 + np.log(4) - 1 - 4))
    assert by_hand == pytest.approx(2 - np.log(2))
    assert kl_divergence(mean, logvar).item() == pytest.approx(by_hand, rel=1e-6)


def test_kl_divergence_is_zero_at_the_prior_and_positive_elsewhere(device):
    zeros = tg.zeros(3, 5, device=device)
    assert kl_divergence(zeros, zeros).item() == 0
    rng = np.random.default_rng(0)
    mean, logvar = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    value = kl_divergence(tg.tensor(mean.astype(np.float32), device=device),
                          tg.tensor(logvar.astype(np.float32), device=device)).item()
    assert value > 0
    assert value == pytest.approx(kl_numpy(mean, logvar), rel=1e-5)


def test_kl_divergence_averages_over_the_batch_and_sums_over_z(device):
    mean = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], np.float32)     # KL of row 0: ½
    logvar = np.zeros((2, 3), np.float32)
    value = kl_divergence(tg.tensor(mean, device=device), tg.tensor(logvar, device=device))
    assert value.shape == () and value.item() == pytest.approx(0.25)     # (½ + 0) / 2


def test_kl_divergence_gradient_by_its_formula(device):
    rng = np.random.default_rng(1)
    mean_np = rng.standard_normal((5, 3)).astype(np.float32)
    logvar_np = rng.standard_normal((5, 3)).astype(np.float32)
    mean = tg.tensor(mean_np, device=device, requires_grad=True)
    logvar = tg.tensor(logvar_np, device=device, requires_grad=True)
    kl_divergence(mean, logvar).backward()
    n = 5
    np.testing.assert_allclose(host(mean.grad), mean_np / n, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(host(logvar.grad),
                               (np.exp(logvar_np.astype(np.float64)) - 1) / (2 * n),
                               rtol=1e-5, atol=1e-7)


def test_kl_divergence_gradcheck_in_float64(device):
    rng = np.random.default_rng(2)
    mean = tg.tensor(rng.standard_normal((3, 4)), dtype=tg.float64, device=device,
                     requires_grad=True)
    logvar = tg.tensor(rng.standard_normal((3, 4)), dtype=tg.float64, device=device,
                       requires_grad=True)
    assert tg.gradcheck(kl_divergence, [mean, logvar])


# --- the reparameterisation trick --------------------------------------------------------------

def test_reparameterize_is_mean_plus_sigma_times_the_generators_eps(device):
    rng = np.random.default_rng(3)
    mean_np = rng.standard_normal((6, 4)).astype(np.float32)
    logvar_np = rng.standard_normal((6, 4)).astype(np.float32)
    mean = tg.tensor(mean_np, device=device, requires_grad=True)
    logvar = tg.tensor(logvar_np, device=device, requires_grad=True)

    z = reparameterize(mean, logvar, backend.RandomStream(11, device))
    eps = backend.to_numpy(backend.RandomStream(11, device).standard_normal((6, 4), np.float32))

    assert z.shape == (6, 4) and z.dtype == np.float32 and z.device == device
    sigma = np.exp(0.5 * logvar_np.astype(np.float64))
    np.testing.assert_allclose(host(z), mean_np + sigma * eps, rtol=1e-5, atol=1e-6)
    z.sum().backward()
    np.testing.assert_array_equal(host(mean.grad), np.ones((6, 4), np.float32))
    np.testing.assert_allclose(host(logvar.grad), 0.5 * sigma * eps, rtol=1e-5, atol=1e-6)

    other = reparameterize(mean, logvar, backend.RandomStream(12, device))   # another ε
    assert not np.allclose(host(other), host(z))


def test_reparameterize_keeps_float64(device):
    mean = tg.zeros(2, 3, dtype=tg.float64, device=device)
    z = reparameterize(mean, mean, backend.RandomStream(0, device))          # σ = 1: z = ε
    eps = backend.to_numpy(backend.RandomStream(0, device).standard_normal((2, 3), np.float64))
    assert z.dtype == np.float64
    np.testing.assert_array_equal(host(z), eps)


# --- the loss and the model ---------------------------------------------------------------------

def test_vae_loss_is_summed_bce_over_n_plus_kl(device):
    rng = np.random.default_rng(4)
    n, pixels, zdim = 4, 6, 3
    recon = rng.uniform(0.05, 0.95, (n, pixels)).astype(np.float32)
    x = rng.uniform(0, 1, (n, pixels)).astype(np.float32)                 # soft targets too
    mean = rng.standard_normal((n, zdim)).astype(np.float32)
    logvar = rng.standard_normal((n, zdim)).astype(np.float32)
    t = {k: tg.tensor(v, device=device) for k, v in
         dict(recon=recon, x=x, mean=mean, logvar=logvar).items()}

    total, reconstruction, kl = vae_loss(t["recon"], t["x"], t["mean"], t["logvar"])

    r, xx = recon.astype(np.float64), x.astype(np.float64)
    bce = -(xx * np.log(r) + (1 - xx) * np.log(1 - r)).sum() / n
    assert reconstruction.item() == pytest.approx(bce, rel=1e-5)
    assert kl.item() == pytest.approx(kl_numpy(mean, logvar), rel=1e-5)
    assert total.item() == pytest.approx(bce + kl_numpy(mean, logvar), rel=1e-5)


def test_vae_forward_shapes(device):
    tg.manual_seed(0)
    model = VAE(784, 16, 5).to(device)
    x = tg.tensor(np.random.default_rng(0).uniform(0, 1, (7, 784)).astype(np.float32),
                  device=device)
    reconstruction, mean, logvar = model(x, generator=backend.RandomStream(0, device))
    assert reconstruction.shape == (7, 784) and mean.shape == (7, 5) and logvar.shape == (7, 5)
    assert reconstruction.device == mean.device == logvar.device == device
    values = host(reconstruction)
    assert values.min() > 0 and values.max() < 1                         # a Sigmoid decoder
    assert model.decode(mean).shape == (7, 784)


def test_a_few_adam_steps_lower_the_loss(device):
    tg.manual_seed(0)
    model = VAE(16, 12, 2).to(device)
    optimizer = optim.Adam(model.parameters(), lr=3e-2)
    patterns = (np.random.default_rng(5).random((4, 16)) > 0.5).astype(np.float32)
    x = tg.tensor(np.repeat(patterns, 8, axis=0), device=device)   # 4 images, 8 times each

    def loss_with_fixed_eps():
        with tg.no_grad():
            out = model(x, generator=backend.RandomStream(99, device))
            return vae_loss(*out[:1], x, *out[1:])[0].item()

    before = loss_with_fixed_eps()
    rng = backend.RandomStream(1, device)
    for _ in range(30):
        reconstruction, mean, logvar = model(x, generator=rng)
        loss, _, _ = vae_loss(reconstruction, x, mean, logvar)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = loss_with_fixed_eps()
    assert np.isfinite(after) and after < 0.75 * before, (before, after)   # 11.5 -> 6.1


# --- examples/mnist_vae.py ---------------------------------------------------------------------





def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def run_vae(args, data_dir, out=None, device="cpu"):
    argv = [*args, "--backend", BACKENDS[device], "--data-dir", str(data_dir)]
    if out is not None:
        argv += ["--out", str(out)]
    return mnist_vae.main(argv)


def read_metrics(out):
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]


def test_dry_run_trains_a_few_steps_and_writes_nothing(device, fake_mnist, tmp_path, capsys):
    before = files_under(tmp_path)
    code = run_vae(["--dry-run", "--batch-size", "16", "--z-dim", "4", "--hidden-dim", "8",
                    "--tensorboard", str(tmp_path / "tb")], fake_mnist, device=device)
    out = capsys.readouterr().out
    assert code == 0
    assert f"training a VAE on {device}" in out and "64 images" in out
    assert "dry run finished: 4 steps" in out
    assert files_under(tmp_path) == before


def test_dry_run_without_data_uses_random_images(device, tmp_path, capsys):
    code = mnist_vae.main(["--dry-run", "--backend", BACKENDS[device], "--batch-size", "16",
                           "--z-dim", "4", "--hidden-dim", "8", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 0 and "using random images" in out and "dry run finished" in out
    assert not (tmp_path / "o").exists()


def test_short_run_writes_grid_metrics_and_checkpoint(device, fake_mnist, tmp_path, capsys):
    out = tmp_path / "vae"
    assert run_vae(["--epochs", "1", *TINY], fake_mnist, out, device) == 0
    assert files_under(out) == ["checkpoint.npz", "metrics.jsonl", "samples",
                                "samples/epoch_001.png"]
    assert png_size(out / "samples" / "epoch_001.png") == ((8 * 30 + 2) * 4,) * 2
    records = read_metrics(out)
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        assert set(r) == {"loss", "reconstruction", "kl", "step", "epoch"} and r["epoch"] == 1
        assert np.isfinite(r["loss"]) and r["kl"] >= 0
        assert r["loss"] == pytest.approx(r["reconstruction"] + r["kl"], rel=1e-5)
    checkpoint = load_checkpoint(out / "checkpoint.npz")
    assert checkpoint.meta["epoch"] == 1 and checkpoint.meta["step"] == 4
    assert checkpoint.meta["args"]["z_dim"] == 4
    assert checkpoint._arrays["vae/to_mean.weight"].shape == (4, 8)
    assert "opt/state/0/exp_avg" in checkpoint._arrays
    assert "done." in capsys.readouterr().out


def test_resume_continues_the_run(device, fake_mnist, tmp_path, capsys):
    out = tmp_path / "vae"
    assert run_vae(["--epochs", "1", *TINY], fake_mnist, out, device) == 0
    assert run_vae(["--epochs", "2", "--resume"], fake_mnist, out, device) == 0
    assert "resuming" in capsys.readouterr().out
    checkpoint = load_checkpoint(out / "checkpoint.npz")
    assert checkpoint.meta["epoch"] == 2 and checkpoint.meta["step"] == 8
    assert checkpoint.meta["args"]["hidden_dim"] == 8            # the run's own settings
    assert [(r["step"], r["epoch"]) for r in read_metrics(out)] == [(2, 1), (4, 1), (6, 2),
                                                                    (8, 2)]
    assert (out / "samples" / "epoch_002.png").exists()
    before = (out / "checkpoint.npz").read_bytes()
    assert run_vae(["--epochs", "2", "--resume"], fake_mnist, out, device) == 0   # done
    assert (out / "checkpoint.npz").read_bytes() == before
    assert len(read_metrics(out)) == 4


def test_resume_at_an_epoch_boundary_is_bit_for_bit_on_numpy(fake_mnist, tmp_path):
    # As for the GAN: exact on numpy; on "cuda" a restored Generator reseeds its device
    # stream, so test_resume_continues_the_run covers that device.
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_vae(["--epochs", "2", *TINY], fake_mnist, straight) == 0
    assert run_vae(["--epochs", "1", *TINY], fake_mnist, resumed) == 0
    assert run_vae(["--epochs", "2", "--resume"], fake_mnist, resumed) == 0
    a = load_checkpoint(straight / "checkpoint.npz")
    b = load_checkpoint(resumed / "checkpoint.npz")
    assert a._arrays.keys() == b._arrays.keys()
    assert [k for k in a._arrays if not np.array_equal(a._arrays[k], b._arrays[k])] == []
    assert read_metrics(straight) == read_metrics(resumed)


def test_resume_without_a_checkpoint_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        mnist_vae.main(["--resume", "--out", str(tmp_path / "empty")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: --resume")


def test_resume_after_an_interrupted_epoch_logs_each_step_once(device, fake_mnist, tmp_path,
                                                               monkeypatch):
    # Ctrl-C during step 7 (epoch 2): steps 2, 4 (epoch 1) and 6 (epoch 2) are already in
    # metrics.jsonl, the checkpoint is the one of epoch 1 (step 4). Resuming redoes epoch 2
    # and logs steps 6 and 8 again; the metrics of a straight run are 2, 4, 6, 8, each once
    # (mnist_gan.py drops the lines past its checkpoint when it resumes).
    out = tmp_path / "vae"
    adam_step, calls = optim.Adam.step, []

    def step(self):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return adam_step(self)

    with monkeypatch.context() as patch:
        patch.setattr(optim.Adam, "step", step)
        assert run_vae(["--epochs", "2", *TINY], fake_mnist, out, device) == 130
    assert load_checkpoint(out / "checkpoint.npz").meta["step"] == 4
    assert run_vae(["--epochs", "2", "--resume"], fake_mnist, out, device) == 0
    assert load_checkpoint(out / "checkpoint.npz").meta["step"] == 8
    assert [r["step"] for r in read_metrics(out)] == [2, 4, 6, 8]
    if device == "cpu":                                   # exact on numpy: a straight run's
        straight = tmp_path / "straight"
        assert run_vae(["--epochs", "2", *TINY], fake_mnist, straight) == 0
        assert read_metrics(out) == read_metrics(straight)


def test_a_batch_larger_than_the_data_is_one_line_and_exit_2(fake_mnist, tmp_path, capsys):
    # A problem the user can fix (cli.fail's rule: one line, exit code 2, no traceback).
    with pytest.raises(SystemExit) as info:
        run_vae(["--epochs", "1", "--limit", "8", "--batch-size", "16"], fake_mnist,
                tmp_path / "vae")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert "batch_size 16" in err or "--batch-size" in err


def test_a_second_ctrl_c_while_the_vae_stops_is_ignored(fake_mnist, tmp_path, monkeypatch,
                                                         capsys):
    # A real SIGINT during step 7 stops the run at once; a second one lands while the
    # program prints its one-line message. It must be ignored (before, it raised a second
    # KeyboardInterrupt: a traceback instead of the message).
    import builtins
    import os
    import signal

    out = tmp_path / "vae"
    adam_step, calls, real_print = optim.Adam.step, [], builtins.print

    def step(self):
        calls.append(1)
        if len(calls) == 7:
            os.kill(os.getpid(), signal.SIGINT)
        return adam_step(self)

    def print_pressing_ctrl_c(*args, **kwargs):
        if args and str(args[0]).startswith("\ninterrupted"):
            os.kill(os.getpid(), signal.SIGINT)
        return real_print(*args, **kwargs)

    previous = signal.getsignal(signal.SIGINT)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(optim.Adam, "step", step)
            patch.setattr(mnist_vae, "print", print_pressing_ctrl_c, raising=False)
            assert run_vae(["--epochs", "2", *TINY], fake_mnist, out) == 130
    except KeyboardInterrupt:
        pytest.fail("a KeyboardInterrupt escaped main(): a traceback instead of one line")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"interrupted: the checkpoint of the last finished epoch is kept in {out}")
    assert load_checkpoint(out / "checkpoint.npz").meta["step"] == 4
