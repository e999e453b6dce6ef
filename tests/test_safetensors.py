"""Weights in safetensors under PyTorch's names (issue 17): the way on to PyTorch, and back.

Without torch: the names, shapes and dtypes tinygan writes equal PyTorch's ``state_dict()`` of
the course's definitions, as committed in ``pytorch_state_dict_names.json`` (made with torch
by ``python tests/test_safetensors.py``; a test with torch checks that it still is PyTorch's).
With torch: a tinygan-trained generator loaded into the course's PyTorch code gives the same
images from the same noise, and a PyTorch-trained one loaded into tinygan does too (1e-6,
eval mode). Then the bad files, the device copies, sample.py and mnist_gan.py.
"""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend, optim
from tinygan.gan import GANTrainer, build_models, get_noise
from tinygan.utils.checkpoint import load_checkpoint
from tinygan.utils.weights import (WeightsError, identify, layout_spec, load_weights,
                                   read_weights, save_weights)
from tinygan.vae import VAE

from example_programs import load_example

NAMES_FILE = Path(__file__).with_name("pytorch_state_dict_names.json")
BACKENDS = {"cpu": "numpy", "cuda": "cupy"}
CLASSES = 10

# architecture -> how tinygan builds it (the network PyTorch's names describe); sizes as the
# example programs' defaults
TINYGAN = {
    "course/generator": lambda: build_models(64, 128, arch="course")[0],
    "course/discriminator": lambda: build_models(64, 128, arch="course")[1],
    "vanilla/generator": lambda: build_models(100, 128, arch="vanilla")[0],
    "vanilla/discriminator": lambda: build_models(100, 128, arch="vanilla")[1],
    "conditional/generator": lambda: build_models(64, 128, num_classes=CLASSES)[0].net,
    "conditional/discriminator": lambda: build_models(64, 128, num_classes=CLASSES)[1].net,
    "vae": lambda: VAE(784, 400, 20),
}


def torch_models():
    """The course's models as its PyTorch code defines them (and the VAE, the same way)."""
    import torch
    from torch import nn

    def get_generator_block(input_dim, output_dim):
        return nn.Sequential(nn.Linear(input_dim, output_dim), nn.BatchNorm1d(output_dim),
                             nn.ReLU(inplace=True))

    class Generator(nn.Module):
        def __init__(self, z_dim=10, im_dim=784, hidden_dim=128):
            super().__init__()
            self.gen = nn.Sequential(
                get_generator_block(z_dim, hidden_dim),
                get_generator_block(hidden_dim, hidden_dim * 2),
                get_generator_block(hidden_dim * 2, hidden_dim * 4),
                get_generator_block(hidden_dim * 4, hidden_dim * 8),
                nn.Linear(hidden_dim * 8, im_dim),
                nn.Sigmoid(),
            )

        def forward(self, noise):
            return self.gen(noise)

    def get_discriminator_block(input_dim, output_dim):
        return nn.Sequential(nn.Linear(input_dim, output_dim), nn.LeakyReLU(0.2, inplace=True))

    class Discriminator(nn.Module):
        def __init__(self, im_dim=784, hidden_dim=128):
            super().__init__()
            self.disc = nn.Sequential(
                get_discriminator_block(im_dim, hidden_dim * 4),
                get_discriminator_block(hidden_dim * 4, hidden_dim * 2),
                get_discriminator_block(hidden_dim * 2, hidden_dim),
                nn.Linear(hidden_dim, 1),
            )

        def forward(self, image):
            return self.disc(image)

    class VanillaGenerator(nn.Module):           # the seed tutorial's
        def __init__(self, z_dim=100, im_dim=784, hidden_dim=128):
            super().__init__()
            h = hidden_dim
            self.gen = nn.Sequential(
                nn.Linear(z_dim, 2 * h), nn.LeakyReLU(0.2), nn.Linear(2 * h, 4 * h),
                nn.LeakyReLU(0.2), nn.Linear(4 * h, 8 * h), nn.LeakyReLU(0.2),
                nn.Linear(8 * h, im_dim), nn.Tanh())

        def forward(self, noise):
            return self.gen(noise)

    class VanillaDiscriminator(nn.Module):
        def __init__(self, im_dim=784, hidden_dim=128):
            super().__init__()
            h = hidden_dim
            self.disc = nn.Sequential(
                nn.Linear(im_dim, 8 * h), nn.LeakyReLU(0.2), nn.Dropout(0.3),
                nn.Linear(8 * h, 4 * h), nn.LeakyReLU(0.2), nn.Dropout(0.3),
                nn.Linear(4 * h, 2 * h), nn.LeakyReLU(0.2), nn.Dropout(0.3),
                nn.Linear(2 * h, 1), nn.Sigmoid())

        def forward(self, image):
            return self.disc(image)

    class VAE(nn.Module):
        def __init__(self, im_dim=784, hidden_dim=400, z_dim=20):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(im_dim, hidden_dim), nn.ReLU())
            self.to_mean = nn.Linear(hidden_dim, z_dim)
            self.to_logvar = nn.Linear(hidden_dim, z_dim)
            self.decoder = nn.Sequential(nn.Linear(z_dim, hidden_dim), nn.ReLU(),
                                         nn.Linear(hidden_dim, im_dim), nn.Sigmoid())

        def decode(self, z):
            return self.decoder(z)

    torch.manual_seed(0)
    return {
        "course/generator": lambda: Generator(64),
        "course/discriminator": lambda: Discriminator(),
        "vanilla/generator": lambda: VanillaGenerator(100),
        "vanilla/discriminator": lambda: VanillaDiscriminator(),
        "conditional/generator": lambda: Generator(64 + CLASSES),    # noise, then the class
        "conditional/discriminator": lambda: Discriminator(784 + CLASSES),
        "vae": lambda: VAE(),
    }


def describe(state):
    """[name, shape, dtype] per entry, in order: what the committed file lists."""
    return [[name, list(value.shape), str(value.dtype).replace("torch.", "")]
            for name, value in state.items()]


def committed():
    return json.loads(NAMES_FILE.read_text())


# --- names, shapes, dtypes: without torch --------------------------------------------------------

@pytest.mark.parametrize("arch", list(TINYGAN))
def test_the_file_tinygan_writes_has_pytorchs_names_shapes_and_dtypes(device, arch, tmp_path):
    model = TINYGAN[arch]().to(device)
    save_weights(model, tmp_path / "w.safetensors")
    from safetensors.numpy import load_file
    raw = load_file(tmp_path / "w.safetensors")   # safetensors' own reader: no tinygan order
    expected = committed()[arch]
    assert sorted(describe(raw)) == sorted(expected)
    weights = read_weights(tmp_path / "w.safetensors")
    assert describe(weights.tensors) == expected                  # in state_dict's order
    layout = identify(weights)
    assert [[k, list(s), str(d)] for k, (s, d) in layout_spec(layout.kind, **layout.dims).items()] \
        == expected
    assert weights.metadata["layout"] == layout.kind


@pytest.mark.parametrize("arch", list(TINYGAN))
def test_tinygans_own_state_dict_has_the_committed_names(arch):
    assert describe(TINYGAN[arch]().state_dict()) == committed()[arch]


def test_the_committed_list_is_pytorchs_own():
    pytest.importorskip("torch")
    assert {arch: describe(make().state_dict()) for arch, make in torch_models().items()} \
        == committed()


# --- both ways, against PyTorch ---------------------------------------------------------------------

def trained(G, D, z_dim, device, conditional=False, d_outputs="logits", steps=3):
    """G after a few GANTrainer steps on random images: weights and BatchNorm statistics moved."""
    G.to(device), D.to(device)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), lr=1e-3),
                         optim.Adam(D.parameters(), lr=1e-3), z_dim=z_dim, device=device,
                         d_outputs=d_outputs, conditional=conditional, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        real = tg.tensor(rng.random((8, 784), dtype=np.float32), device=device)
        labels = tg.tensor(rng.integers(0, CLASSES, 8), device=device) if conditional else None
        trainer.train_step(real, labels)
    return G.eval()


def one_hot(labels):
    return np.eye(CLASSES, dtype=np.float32)[labels]


@pytest.mark.parametrize("arch", ["course", "vanilla", "conditional"])
def test_a_tinygan_trained_generator_gives_pytorch_the_same_images(device, arch, tmp_path):
    torch = pytest.importorskip("torch")
    import safetensors.torch
    tg.manual_seed(0)
    z_dim = 100 if arch == "vanilla" else 64
    classes = CLASSES if arch == "conditional" else 0
    G, D = build_models(z_dim, 128, arch="vanilla" if arch == "vanilla" else "course",
                        num_classes=classes)
    G = trained(G, D, z_dim, device, conditional=bool(classes),
                d_outputs="probs" if arch == "vanilla" else "logits")
    save_weights(G.net if classes else G, tmp_path / "generator.safetensors",
                 {"num_classes": classes})

    pt = torch_models()[f"{arch}/generator"]().eval()
    pt.load_state_dict(safetensors.torch.load_file(tmp_path / "generator.safetensors"))
    z = np.random.default_rng(1).standard_normal((16, z_dim)).astype(np.float32)
    labels = np.arange(16) % CLASSES
    with tg.no_grad():
        ours = (G(tg.tensor(z, device=device), tg.tensor(labels, device=device)) if classes
                else G(tg.tensor(z, device=device))).numpy()
    with torch.no_grad():
        theirs = pt(torch.from_numpy(np.concatenate([z, one_hot(labels)], 1) if classes
                                     else z)).numpy()
    difference = float(np.abs(ours - theirs).max())
    print(f"tinygan -> PyTorch, {arch}: max abs difference {difference:.3g}")
    assert difference <= 1e-6
    if arch != "vanilla":   # the counters came along: 3 G steps, D step then G step each
        assert int(pt.gen[0][1].num_batches_tracked) == 6


def test_a_long_trained_generator_computes_what_pytorch_computes(tmp_path):
    # After 200 steps at lr 1e-2 the weights are far from their start, and float32 results
    # of two BLAS libraries drift apart by a few 1e-6 (each is that far from float64). The
    # same file in float64 in both frameworks must agree to rounding: the same function.
    torch = pytest.importorskip("torch")
    import safetensors.torch
    tg.manual_seed(0)
    G, D = build_models(64, 128)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), lr=1e-2),
                         optim.Adam(D.parameters(), lr=1e-2), z_dim=64, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(200):
        trainer.train_step(tg.tensor(rng.random((32, 784), dtype=np.float32)))
    save_weights(G.eval(), tmp_path / "generator.safetensors")
    pt = torch_models()["course/generator"]().eval()
    pt.load_state_dict(safetensors.torch.load_file(tmp_path / "generator.safetensors"))
    z = np.random.default_rng(1).standard_normal((256, 64))
    with tg.no_grad():
        ours = G.to(dtype=tg.float64)(tg.tensor(z, dtype=tg.float64)).numpy()
    with torch.no_grad():
        theirs = pt.double()(torch.from_numpy(z)).numpy()
    difference = float(np.abs(ours - theirs).max())
    print(f"tinygan -> PyTorch, course, 200 steps, float64: max abs difference {difference:.3g}")
    assert difference <= 1e-12


def torch_trained(torch, model, inputs, steps=3):
    """A PyTorch model after a few Adam steps in train mode (BatchNorm statistics moved)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        loss = model(inputs).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.mark.parametrize("arch", ["course", "vanilla", "conditional"])
def test_a_pytorch_trained_generator_gives_tinygan_the_same_images(device, arch, tmp_path):
    torch = pytest.importorskip("torch")
    import safetensors.torch
    z_dim, classes = (100 if arch == "vanilla" else 64), (CLASSES if arch == "conditional" else 0)
    pt = torch_trained(torch, torch_models()[f"{arch}/generator"](),
                       torch.randn(32, z_dim + classes))
    path = tmp_path / "from_pytorch.safetensors"
    safetensors.torch.save_file(pt.state_dict(), path)       # no tinygan metadata

    weights = read_weights(path)
    layout = identify(weights)
    assert layout.kind == ("vanilla generator" if arch == "vanilla" else "course generator")
    assert layout.dims == {"in_dim": z_dim + classes, "hidden_dim": 128, "im_dim": 784}
    G, _ = build_models(z_dim, 128, arch="vanilla" if arch == "vanilla" else "course",
                        num_classes=classes)
    G.to(device)
    load_weights(G.net if classes else G, path)
    G.eval()
    z = np.random.default_rng(2).standard_normal((16, z_dim)).astype(np.float32)
    labels = np.arange(16) % CLASSES
    with tg.no_grad():
        ours = (G(tg.tensor(z, device=device), tg.tensor(labels, device=device)) if classes
                else G(tg.tensor(z, device=device))).numpy()
    with torch.no_grad():
        theirs = pt(torch.from_numpy(np.concatenate([z, one_hot(labels)], 1) if classes
                                     else z)).numpy()
    difference = float(np.abs(ours - theirs).max())
    print(f"PyTorch -> tinygan, {arch}: max abs difference {difference:.3g}")
    assert difference <= 1e-6


def test_the_vae_both_ways(device, tmp_path):
    torch = pytest.importorskip("torch")
    import safetensors.torch
    tg.manual_seed(0)
    ours = VAE(784, 400, 20).to(device)
    save_weights(ours, tmp_path / "vae.safetensors")
    theirs = torch_models()["vae"]()
    theirs.load_state_dict(safetensors.torch.load_file(tmp_path / "vae.safetensors"))
    z = np.random.default_rng(3).standard_normal((8, 20)).astype(np.float32)
    with torch.no_grad(), tg.no_grad():
        assert np.abs(ours.decode(tg.tensor(z, device=device)).numpy()
                      - theirs.decode(torch.from_numpy(z)).numpy()).max() <= 1e-6
        for p in theirs.parameters():
            p.add_(0.01)
        safetensors.torch.save_file(theirs.state_dict(), tmp_path / "back.safetensors")
        load_weights(ours, tmp_path / "back.safetensors")
        assert np.abs(ours.decode(tg.tensor(z, device=device)).numpy()
                      - theirs.decode(torch.from_numpy(z)).numpy()).max() <= 1e-6


# --- values, devices, copies ------------------------------------------------------------------------

def course_g(device, hidden=4, z=3, im=5):
    tg.manual_seed(0)
    return build_models(z, hidden, im_dim=im)[0].to(device)


def host_state(module):
    return {k: v.copy() for k, v in module.state_dict().items()}


def test_values_round_trip_exactly_into_the_same_arrays(device, tmp_path):
    source, target = course_g(device), course_g(device)
    with tg.no_grad():
        for p in source.parameters():
            p.add_(1.5)
        source.gen[0][1].running_var.mul_(3.0)
    source.gen[0][1].num_batches_tracked.data = source.gen[0][1].num_batches_tracked.data + 7
    save_weights(source, tmp_path / "g.safetensors")
    tensors = dict(target.named_parameters()) | dict(target.named_buffers())
    arrays = {k: t._data for k, t in tensors.items()}
    load_weights(target, tmp_path / "g.safetensors")
    after = dict(target.named_parameters()) | dict(target.named_buffers())
    assert all(after[k] is tensors[k] and after[k]._data is arrays[k] for k in tensors)
    expected, got = host_state(source), host_state(target)
    assert all(np.array_equal(expected[k], got[k]) and expected[k].dtype == got[k].dtype
               for k in expected)
    assert got["gen.0.1.num_batches_tracked"] == 7 and got["gen.0.1.num_batches_tracked"].dtype \
        == np.int64


@pytest.fixture
def counter(device, cuda_kind):
    if device == "cpu" or cuda_kind != "stand-in":
        pytest.skip("copies are counted by the CuPy stand-in, on 'cuda'")
    import cupy_standin
    return cupy_standin.transfers


def test_saving_from_the_device_copies_each_array_to_the_host_once(device, counter, tmp_path):
    G = course_g(device)
    arrays = len(G.state_dict())
    with counter.counting() as n:
        save_weights(G, tmp_path / "g.safetensors")
    assert n.device_to_host == arrays == 30
    target = course_g(device)
    with counter.counting() as n:
        load_weights(target, tmp_path / "g.safetensors")
    assert n.device_to_host == 0 and n.host_to_device == arrays


# --- bad files: one error naming the file and the first mismatch, nothing loaded -------------------

def good_file(tmp_path, device="cpu"):
    path = tmp_path / "g.safetensors"
    save_weights(course_g(device), path)
    return path


def rewrite(path, change):
    """The file's tensors (host arrays) changed by ``change`` and written back, no metadata:
    as PyTorch would write them."""
    from safetensors.numpy import load_file, save_file
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)


def truncated(path):
    path.write_bytes(path.read_bytes()[:-10])


def altered_data(path):
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x40                                 # a bit of the last tensor's last value
    path.write_bytes(bytes(raw))


def altered_header(path):
    raw = bytearray(path.read_bytes())
    at = raw.index(b'"shape"')
    raw[at + 1] = ord("x")                          # "xhape": the header no longer parses
    path.write_bytes(bytes(raw))


def renamed_key(path):
    rewrite(path, lambda t: t.update({"gen.1.0.weights": t.pop("gen.1.0.weight")}))


def missing_key(path):
    rewrite(path, lambda t: t.pop("gen.2.1.running_var"))


def wrong_shape(path):
    rewrite(path, lambda t: t.update({"gen.1.0.weight": t["gen.1.0.weight"][:, :3]}))


def wrong_dtype(path):
    rewrite(path, lambda t: t.update({"gen.0.0.bias": t["gen.0.0.bias"].astype(np.float64)}))


def another_architecture(path):
    tg.manual_seed(0)
    save_weights(build_models(3, 4, im_dim=5, arch="vanilla")[0], path)


def a_discriminator(path):
    save_weights(build_models(3, 4, im_dim=5)[1], path)


def other_sizes(path):
    save_weights(build_models(3, 8, im_dim=5)[0], path)


BAD = {   # how the file is spoilt: what the message must say besides the path
    "truncated": (truncated, "not a readable safetensors file"),
    "altered data": (altered_data, "the bytes of gen.4.weight do not match the checksum"),
    "altered header": (altered_header, "not a readable safetensors file: invalid JSON"),
    "renamed key": (renamed_key, "it has no gen.1.0.weight (expected shape (8, 4)); it has "
                                  "gen.1.0.weights instead"),
    "missing key": (missing_key, "it has no gen.2.1.running_var"),
    "wrong shape": (wrong_shape, "gen.1.0.weight has shape (8, 3), expected (8, 4)"),
    "wrong dtype": (wrong_dtype, "gen.0.0.bias is float64, expected float32"),
    "another architecture": (another_architecture, ("it has no gen.0.0.weight (expected shape "
                                                    "(4, 3)); it has gen.0.weight, gen.0.bias",
                                                    "(the file holds a vanilla generator")),
    "a discriminator": (a_discriminator, ("it has no gen.0.0.weight (expected shape (4, 3)); it "
                                          "has disc.0.0.weight", "(the file holds a course "
                                          "discriminator: in_dim 5, hidden_dim 4)")),
    "other sizes": (other_sizes, "gen.0.0.weight has shape (8, 3), expected (4, 3) (the file "
                                 "holds a course generator: in_dim 3, hidden_dim 8, im_dim 5)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_one_error_naming_it_and_the_first_mismatch(device, case, tmp_path):
    spoil, says = BAD[case]
    path = good_file(tmp_path)
    spoil(path)
    G = course_g(device)
    with tg.no_grad():
        for p in G.parameters():
            p.add_(2.0)                    # values the file does not have
    before = host_state(G)
    with pytest.raises(WeightsError) as info:
        load_weights(G, path)
    message = str(info.value)
    print(f"{case}: {message}")
    says = (says,) if isinstance(says, str) else says
    assert str(path) in message and all(part in message for part in says)
    assert "\n" not in message
    after = host_state(G)
    assert all(np.array_equal(before[k], after[k]) for k in before)     # nothing half-loaded


def test_no_file_and_not_safetensors(tmp_path):
    with pytest.raises(WeightsError, match="no weights file at .*nope.safetensors"):
        read_weights(tmp_path / "nope.safetensors")
    (tmp_path / "README.md").write_text("# a text file, long enough to have a header length\n")
    with pytest.raises(WeightsError, match=r"README.md is not a readable safetensors file"):
        read_weights(tmp_path / "README.md")


def test_an_unknown_layout_says_what_it_holds(tmp_path):
    from safetensors.numpy import save_file
    save_file({"encoder.weight": np.zeros((2, 2), np.float32)}, tmp_path / "x.safetensors")
    with pytest.raises(WeightsError, match=r"x.safetensors: not a model tinygan knows .* it "
                                           r"holds encoder.weight$"):
        identify(read_weights(tmp_path / "x.safetensors"))
    save_file({"gen.0.0.weight": np.zeros((4, 3), np.float32),
               "gen.4.weight": np.zeros((5, 32), np.float32)}, tmp_path / "y.safetensors")
    with pytest.raises(WeightsError, match=r"y.safetensors: its names are those of a course "
                                           r"generator, but it has no gen.0.0.bias"):
        identify(read_weights(tmp_path / "y.safetensors"))


# --- the example programs --------------------------------------------------------------------------

sample = load_example("sample")
mnist_gan = load_example("mnist_gan")
TINY = ["--limit", "32", "--batch-size", "16", "--log-every", "2", "--z-dim", "4",
        "--hidden-dim", "4"]


@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize("conditional", [False, True])
def test_mnist_gan_writes_both_weights_files_each_epoch(device, conditional, fake_mnist,
                                                        tmp_path, capsys):
    out = tmp_path / "run"
    extra = ["--conditional"] if conditional else []
    argv = [*TINY, *extra, "--backend", BACKENDS[device], "--data-dir", str(fake_mnist),
            "--out", str(out)]
    assert mnist_gan.main(["--epochs", "1", *argv]) == 0
    first = read_weights(out / "generator.safetensors")
    assert mnist_gan.main(["--epochs", "2", "--resume", *argv]) == 0
    checkpoint = load_checkpoint(out / "checkpoint.npz")
    prefix = "net." if conditional else ""
    for name in ("generator", "discriminator"):
        weights = read_weights(out / f"{name}.safetensors")
        state = checkpoint.state_dict(name)
        assert {prefix + k for k in weights.tensors} == set(state)
        assert all(np.array_equal(v, state[prefix + k]) for k, v in weights.tensors.items())
        assert weights.metadata["epoch"] == "2"
        assert weights.metadata["num_classes"] == ("10" if conditional else "0")
    assert first.metadata["epoch"] == "1"      # rewritten after epoch 2, with new values
    assert not np.array_equal(first.tensors[key := next(iter(first.tensors))],
                              read_weights(out / "generator.safetensors").tensors[key])
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


@pytest.fixture
def run_dir(fake_mnist, tmp_path):
    out = tmp_path / "run"
    assert mnist_gan.main(["--epochs", "1", *TINY, "--data-dir", str(fake_mnist),
                           "--out", str(out)]) == 0
    return out


@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize("extra", [[], ["--conditional"], ["--arch", "vanilla"]])
def test_sample_draws_the_same_from_the_weights_file_as_from_the_checkpoint(device, extra,
                                                                             fake_mnist, tmp_path):
    out = tmp_path / "run"
    assert mnist_gan.main(["--epochs", "1", *TINY, *extra, "--data-dir", str(fake_mnist),
                           "--out", str(out)]) == 0
    # the default recipe keeps an EMA of G, which the checkpoint is sampled through
    weights = "generator_ema.safetensors" if not extra else "generator.safetensors"
    assert (out / "generator_ema.safetensors").exists() == (not extra)
    for source in ("checkpoint.npz", weights):   # conditional: row k is class k
        assert sample.main([str(out / source), "--npy", str(tmp_path / f"{source}.npy"),
                            "-n", "12", "--backend", BACKENDS[device]]) == 0
    assert np.array_equal(np.load(tmp_path / "checkpoint.npz.npy"),
                          np.load(tmp_path / f"{weights}.npy"))


@pytest.mark.usefixtures("isolated")
def test_sample_on_a_pytorch_file_matches_pytorch(device, tmp_path):
    torch = pytest.importorskip("torch")
    import safetensors.torch
    pt = torch_trained(torch, torch_models()["conditional/generator"](),
                       torch.randn(32, 64 + CLASSES))
    path = tmp_path / "model.bin"                   # any name: recognised by its first bytes
    safetensors.torch.save_file(pt.state_dict(), path)
    assert sample.main([str(path), "--num-classes", "10", "--label", "7", "--npy",
                        str(tmp_path / "s.npy"), "-n", "6", "--seed", "5",
                        "--backend", BACKENDS[device]]) == 0
    z = get_noise(6, 64, device, generator=backend.RandomStream(5, device)).numpy()
    with torch.no_grad():
        theirs = pt(torch.from_numpy(np.concatenate([z, one_hot(np.full(6, 7))], 1))).numpy()
    assert np.abs(np.load(tmp_path / "s.npy") - theirs).max() <= 1e-6


@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize("case", ["truncated", "another architecture"])
def test_sample_on_a_bad_weights_file_is_one_line_and_exit_2(case, tmp_path, capsys):
    path = good_file(tmp_path)
    BAD[case][0](path)
    with pytest.raises(SystemExit) as info:
        sample.main([str(path), "--out", str(tmp_path / "s.png")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(path) in err and "\n" not in err
    assert not (tmp_path / "s.png").exists()


@pytest.mark.usefixtures("isolated")
def test_sample_refuses_a_discriminator_file(run_dir, capsys):
    with pytest.raises(SystemExit) as info:
        sample.main([str(run_dir / "discriminator.safetensors")])
    assert info.value.code == 2
    assert "holds a course discriminator; expected a generator" in capsys.readouterr().err


if __name__ == "__main__":     # writes the committed list, from PyTorch itself
    sys.path.insert(0, str(Path(__file__).parent))
    names = {arch: describe(make().state_dict()) for arch, make in torch_models().items()}
    NAMES_FILE.write_text("{\n" + ",\n".join(
        f'  "{arch}": [\n' + ",\n".join(f"    {json.dumps(entry)}" for entry in entries) + "\n  ]"
        for arch, entries in names.items()) + "\n}\n")
    print(f"wrote {NAMES_FILE}")
