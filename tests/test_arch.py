"""--arch vanilla: the seed tutorial's GAN (LeakyReLU/Tanh G, Dropout D ending in Sigmoid).

build_models(arch="vanilla") has the tutorial's layers and output ranges; its data are
scaled to [-1, 1] (DataLoader scale="symmetric"); its trainer uses BCELoss on D's
probabilities, checked against the formula; examples/mnist_gan.py --arch vanilla runs,
and examples/sample.py maps its [-1, 1] images back to [0, 1].
"""
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend, nn, optim
from tinygan.gan import (ARCHITECTURES, CONVOLUTIONAL, GANTrainer, VanillaDiscriminator,
                         VanillaGenerator, build_models, get_noise)
from tinygan.utils import data
from tinygan.utils.checkpoint import load_checkpoint
from tinygan.utils.images import image_grid
from tinygan.utils.weights import gan_specs, identify, read_weights, save_weights

from example_programs import GAN_TINY as TINY, load_example

pytestmark = pytest.mark.usefixtures("isolated")   # conftest: offline, cwd in tmp_path


BACKENDS = {"cpu": "numpy", "cuda": "cupy"}


def host(t):
    """A host copy of a tensor's values (never np.asarray on a device array)."""
    return t.detach().numpy().copy()




mnist_gan = load_example("mnist_gan")
sample = load_example("sample")


# --- the models -------------------------------------------------------------------------------

def describe(sequential):
    """Each layer as a tuple: ("Linear", in, out), ("LeakyReLU", slope), ("Dropout", p), (name,)."""
    layers = []
    for layer in sequential:
        if isinstance(layer, nn.Linear):
            layers.append(("Linear", layer.in_features, layer.out_features))
        elif isinstance(layer, nn.LeakyReLU):
            layers.append(("LeakyReLU", layer.negative_slope))
        elif isinstance(layer, nn.Dropout):
            layers.append(("Dropout", layer.p))
        else:
            layers.append((type(layer).__name__,))
    return layers


def test_vanilla_layers_are_the_tutorials():
    G, D = build_models(arch="vanilla")
    assert type(G) is VanillaGenerator and type(D) is VanillaDiscriminator
    leaky = ("LeakyReLU", 0.2)
    assert describe(G.gen) == [("Linear", 100, 256), leaky, ("Linear", 256, 512), leaky,
                               ("Linear", 512, 1024), leaky, ("Linear", 1024, 784), ("Tanh",)]
    drop = ("Dropout", 0.3)
    assert describe(D.disc) == [("Linear", 784, 1024), leaky, drop,
                                ("Linear", 1024, 512), leaky, drop,
                                ("Linear", 512, 256), leaky, drop,
                                ("Linear", 256, 1), ("Sigmoid",)]
    assert G.gen[0].weight.shape == (256, 100) and D.disc[-2].weight.shape == (1, 256)
    assert ARCHITECTURES["vanilla"][2:] == ("probs", "symmetric", 100)
    assert ARCHITECTURES["course"][2:] == ("logits", "unit", 64)
    G, _ = build_models(z_dim=7, hidden_dim=4, arch="vanilla")
    assert describe(G.gen)[0] == ("Linear", 7, 8)


def test_unknown_arch_is_a_value_error():
    with pytest.raises(ValueError, match="unknown arch 'stylegan'"):
        build_models(arch="stylegan")


def test_the_convolutional_archs_are_unconditional():
    with pytest.raises(ValueError, match="arch 'dcgan' is unconditional here"):
        build_models(arch="dcgan", num_classes=10)


def test_dcgan_padded_is_the_course_dcgan_with_ds_first_convolution_padded():
    G, D = build_models(arch="dcgan-padded")
    course_G, course_D = build_models(arch="dcgan")
    assert describe(G.gen) == describe(course_G.gen)
    assert D.disc[0][0].padding == (1, 1) and course_D.disc[0][0].padding == (0, 0)
    assert [(k, v.shape) for k, v in D.state_dict().items()] == \
        [(k, v.shape) for k, v in course_D.state_dict().items()]
    assert ARCHITECTURES["dcgan-padded"][2:] == ARCHITECTURES["dcgan"][2:]
    assert "dcgan-padded" in CONVOLUTIONAL
    assert D(tg.zeros(2, 1, 28, 28)).shape == (2, 4)      # four windows, four logits
    assert gan_specs("dcgan-padded", 64, 64) == gan_specs("dcgan", 64, 64)


@pytest.mark.parametrize("hidden_dim", [32, 64, 128])
def test_dcgan_wide_is_dcgan_padded_with_d_at_the_critics_width(hidden_dim):
    # D is week 3's critic's width (64, 128) whatever G's: the course's G at 64 and
    # dcgan.py's default G at 128 train against the same D
    G, D = build_models(arch="dcgan-wide", hidden_dim=hidden_dim)
    padded_G, padded_D = build_models(arch="dcgan-padded", hidden_dim=hidden_dim)
    assert describe(G.gen) == describe(padded_G.gen)
    assert D.disc[0][0].padding == (1, 1)
    assert [m.out_channels for m in D.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 1]
    assert [m.out_channels for m in padded_D.modules() if isinstance(m, nn.Conv2d)] == \
        [hidden_dim // 4, hidden_dim // 2, 1]
    assert ARCHITECTURES["dcgan-wide"][2:] == ARCHITECTURES["dcgan-padded"][2:]
    assert "dcgan-wide" in CONVOLUTIONAL
    assert D(tg.zeros(2, 1, 28, 28)).shape == (2, 4)
    g_spec, d_spec = gan_specs("dcgan-wide", 10, hidden_dim)
    assert g_spec == gan_specs("dcgan-padded", 10, hidden_dim)[0]
    assert {k: v[0] for k, v in d_spec.items()} == \
        {k: tuple(v.shape) for k, v in D.state_dict().items()}


def test_wgan_gp_padded_is_the_course_critic_with_its_first_convolution_padded():
    G, C = build_models(arch="wgan-gp-padded")
    course_G, course_C = build_models(arch="wgan-gp")
    assert describe(G.gen) == describe(course_G.gen)
    assert C.crit[0][0].padding == (1, 1) and course_C.crit[0][0].padding == (0, 0)
    assert [(k, v.shape) for k, v in C.state_dict().items()] == \
        [(k, v.shape) for k, v in course_C.state_dict().items()]
    assert ARCHITECTURES["wgan-gp-padded"][2:] == ARCHITECTURES["wgan-gp"][2:]
    assert "wgan-gp-padded" in CONVOLUTIONAL
    assert C(tg.zeros(2, 1, 28, 28)).shape == (2, 4)
    assert gan_specs("wgan-gp-padded", 64, 64) == gan_specs("wgan-gp", 64, 64)


def test_wgan_gp_padded_nobn_is_the_padded_critic_without_batch_norm(tmp_path):
    G, C = build_models(arch="wgan-gp-padded-nobn", hidden_dim=8)
    _, padded = build_models(arch="wgan-gp-padded", hidden_dim=8)
    assert C.crit[0][0].padding == (1, 1)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in C.modules())
    assert [k for k in padded.state_dict() if k not in C.state_dict()] == \
        [k for k in padded.state_dict() if k.split(".")[2] == "1"]     # the BatchNorms alone
    assert "wgan-gp-padded-nobn" in CONVOLUTIONAL
    g_spec, c_spec = gan_specs("wgan-gp-padded-nobn", 64, 8)
    assert g_spec == gan_specs("wgan-gp", 64, 8)[0]
    assert {k: v[0] for k, v in c_spec.items()} == \
        {k: tuple(v.shape) for k, v in C.state_dict().items()}
    for model, kind in ((C, "wgan-gp critic without batchnorm"), (padded, "wgan-gp critic")):
        save_weights(model, tmp_path / "c.safetensors")
        assert identify(read_weights(tmp_path / "c.safetensors")).kind == kind


def test_vanilla_outputs_are_in_their_ranges(device):
    tg.manual_seed(0)
    G, D = build_models(arch="vanilla")
    G.to(device), D.to(device)
    z = get_noise(16, 100, device, generator=backend.RandomStream(0, device))
    images = host(G(z))
    assert images.shape == (16, 784) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1
    assert images.min() < 0 < images.max()                    # Tanh: both signs
    big = host(G(z * 1000))                                   # saturated, still in range
    assert big.min() >= -1 and big.max() <= 1 and np.abs(big).max() > 0.99
    probs = host(D(tg.tensor(images, device=device)))
    assert probs.shape == (16, 1) and probs.min() > 0 and probs.max() < 1


def test_vanilla_discriminator_drops_out_in_training_only(device):
    tg.manual_seed(0)
    _, D = build_models(hidden_dim=8, arch="vanilla")
    D.to(device)
    x = tg.tensor(np.random.default_rng(0).uniform(-1, 1, (8, 784)).astype(np.float32),
                  device=device)
    assert not np.array_equal(host(D(x)), host(D(x)))        # fresh masks each call
    D.eval()
    np.testing.assert_array_equal(host(D(x)), host(D(x)))


# --- the data and the loss --------------------------------------------------------------------

def test_symmetric_data_loader_scales_to_minus_one_one(device):
    images = np.random.default_rng(0).integers(0, 256, (12, 4, 4), dtype=np.uint8)
    images[0, 0, 0], images[1, 1, 1] = 0, 255
    batches = {}
    for scale in ("unit", "symmetric"):
        loader = data.DataLoader(images, 4, shuffle=False, device=device, scale=scale)
        batches[scale] = np.concatenate([host(x) for x, _ in loader])
    expected = images.reshape(12, 16).astype(np.float64) / 255
    np.testing.assert_allclose(batches["unit"], expected, rtol=1e-6, atol=1e-7)
    symmetric = batches["symmetric"]
    assert symmetric.dtype == np.float32
    assert symmetric.min() == -1 and symmetric.max() == 1
    np.testing.assert_allclose(symmetric, 2 * expected - 1, rtol=1e-6, atol=1e-6)


def test_data_loader_rejects_an_unknown_scale():
    images = np.zeros((4, 2, 2), dtype=np.uint8)
    with pytest.raises(ValueError, match="unknown scale"):
        data.DataLoader(images, 2, scale="minus_one_one")


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def set_weights(linear, rng, scale=1.0):
    with tg.no_grad():
        for p in (linear.weight, linear.bias):
            values = (scale * rng.standard_normal(p.shape)).astype(np.float32)
            p.copy_(tg.tensor(values, device=p.device))


def test_probs_trainer_uses_bce_loss_by_its_formula(device):
    # G = Linear → Tanh, D = Linear → Sigmoid (the vanilla shapes, tiny and without dropout).
    rng = np.random.default_rng(3)
    g_lin, d_lin = nn.Linear(3, 5).to(device), nn.Linear(5, 1).to(device)
    set_weights(g_lin, rng)
    set_weights(d_lin, rng, scale=0.8)
    G, D = nn.Sequential(g_lin, nn.Tanh()), nn.Sequential(d_lin, nn.Sigmoid())
    trainer = GANTrainer(G, D, optim.SGD(G.parameters(), lr=0.1),
                         optim.SGD(D.parameters(), lr=0.1), z_dim=3, device=device,
                         d_outputs="probs", seed=5)
    assert type(trainer.criterion) is nn.BCELoss
    logits_trainer = GANTrainer(G, D, optim.SGD(G.parameters(), lr=0.1),
                                optim.SGD(D.parameters(), lr=0.1), z_dim=3, device=device)
    assert type(logits_trainer.criterion) is nn.BCEWithLogitsLoss

    drawn, draw = [], trainer.noise

    def noise(n):
        z = draw(n)
        drawn.append(host(z).astype(np.float64))
        return z

    trainer.noise = noise
    wg, bg = host(g_lin.weight).astype(np.float64), host(g_lin.bias).astype(np.float64)
    wd, bd = host(d_lin.weight).astype(np.float64), host(d_lin.bias).astype(np.float64)
    x_real = np.random.default_rng(4).uniform(-1, 1, (6, 5)).astype(np.float32)

    d_loss, pred_real, pred_fake = trainer.d_step(tg.tensor(x_real, device=device))

    x_fake = np.tanh(drawn[0] @ wg.T + bg)
    p_fake, p_real = sigmoid(x_fake @ wd.T + bd), sigmoid(x_real @ wd.T + bd)
    np.testing.assert_allclose(host(pred_real), p_real, rtol=1e-5)
    np.testing.assert_allclose(host(pred_fake), p_fake, rtol=1e-5)
    # BCE(p, 1) = -log p, BCE(p, 0) = -log(1 - p); the D loss is the mean of the two terms.
    expected = (-np.log(p_real).mean() - np.log(1 - p_fake).mean()) / 2
    assert d_loss.item() == pytest.approx(expected, rel=1e-5)

    wd, bd = host(d_lin.weight).astype(np.float64), host(d_lin.bias).astype(np.float64)
    g_loss = trainer.g_step(6)
    p = sigmoid(np.tanh(drawn[1] @ wg.T + bg) @ wd.T + bd)
    assert g_loss.item() == pytest.approx(-np.log(p).mean(), rel=1e-5)   # non-saturating


# --- the example programs ---------------------------------------------------------------------





def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def run_gan(args, data_dir, out=None, device="cpu"):
    argv = [*args, "--backend", BACKENDS[device], "--data-dir", str(data_dir)]
    if out is not None:
        argv += ["--out", str(out)]
    return mnist_gan.main(argv)


def test_vanilla_dry_run_trains_and_writes_nothing(device, fake_mnist, tmp_path, capsys):
    before = files_under(tmp_path)
    code = run_gan(["--arch", "vanilla", "--dry-run", "--batch-size", "16", "--z-dim", "4",
                    "--hidden-dim", "4"], fake_mnist, device=device)
    out = capsys.readouterr().out
    assert code == 0
    assert f"training on {device}" in out and "dry run finished: 4 steps" in out
    assert "--arch vanilla:" in out                  # the start line says what it trains
    assert files_under(tmp_path) == before


def test_vanilla_run_uses_the_default_z_dim_of_its_arch(fake_mnist, tmp_path):
    out = tmp_path / "run"
    args = ["--limit", "32", "--batch-size", "16", "--hidden-dim", "4", "--epochs", "1"]
    assert run_gan(["--arch", "vanilla", *args], fake_mnist, out) == 0
    checkpoint = load_checkpoint(out / "checkpoint.npz")
    assert checkpoint.meta["args"]["arch"] == "vanilla"
    assert checkpoint.meta["args"]["z_dim"] == 100
    assert checkpoint._arrays["generator/gen.0.weight"].shape == (8, 100)
    assert checkpoint._arrays["discriminator/disc.0.weight"].shape == (32, 784)


def test_sample_maps_vanilla_images_back_to_unit_range(device, fake_mnist, tmp_path):
    out = tmp_path / "run"
    assert run_gan(["--arch", "vanilla", "--epochs", "1", *TINY], fake_mnist, out) == 0
    npy = tmp_path / "samples.npy"
    assert sample.main([str(out / "checkpoint.npz"), "--out", str(tmp_path / "grid.png"),
                        "--grid", "2", "--npy", str(npy), "-n", "30", "--seed", "3",
                        "--backend", BACKENDS[device]]) == 0
    samples = np.load(npy)
    assert samples.shape == (30, 784) and samples.dtype == np.float32
    assert samples.min() >= 0 and samples.max() <= 1

    # The same draws by hand: sample.py's generator, grid (2x2) first, then the 30 for --npy;
    # the raw Tanh images are in [-1, 1] (some below 0), and the file holds (x + 1) / 2.
    G, _ = build_models(4, 4, arch="vanilla")
    G.load_state_dict(load_checkpoint(out / "checkpoint.npz").state_dict("generator"))
    G.to(device).eval()
    rng = backend.RandomStream(3, device)
    get_noise(4, 4, device, generator=rng)
    with tg.no_grad():
        raw = host(G(get_noise(30, 4, device, generator=rng)))
    assert raw.min() < 0 and raw.min() >= -1 and raw.max() <= 1
    np.testing.assert_array_equal(samples, (raw + 1) / 2)


def decode_gray_png(path):
    """The pixels of an 8-bit grayscale PNG with filter 0 (as utils.images.write_png writes)."""
    raw = Path(path).read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    width, height = struct.unpack(">II", raw[16:24])
    pos, idat = 8, b""
    while pos < len(raw):
        length, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        if kind == b"IDAT":
            idat += raw[pos + 8:pos + 8 + length]
        pos += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, width + 1)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:]


def test_vanilla_epoch_grid_shows_the_images_mapped_to_unit_range(fake_mnist, tmp_path):
    out = tmp_path / "run"
    assert run_gan(["--arch", "vanilla", "--epochs", "1", *TINY], fake_mnist, out) == 0
    G, _ = build_models(4, 4, arch="vanilla")
    G.load_state_dict(load_checkpoint(out / "checkpoint.npz").state_dict("generator"))
    G.eval()
    # mnist_gan.py's fixed grid noise: 8x8 draws from Generator([seed, 2]).
    z = get_noise(64, 4, "cpu", generator=backend.RandomStream([0, 2], "cpu"))
    with tg.no_grad():
        raw = host(G(z))
    assert raw.min() < 0                                     # unmapped, these would clip to 0
    expected = np.kron(image_grid((raw + 1) / 2, 8), np.ones((4, 4), np.uint8))
    np.testing.assert_array_equal(decode_gray_png(out / "samples" / "epoch_001.png"), expected)
