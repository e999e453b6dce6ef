"""The EMA of G (tinygan.ema, --ema in the GAN examples).

The average follows PyTorch's AveragedModel with get_ema_multi_avg_fn (the first update a
copy); its BatchNorm statistics are recomputed as update_bn does; a run with --ema saves it
as generator_ema and resumes bit for bit; the grids, --eval-every, sample.py and evaluate.py
use it; bad decays are one-line errors.
"""
import json
import math

import numpy as np
import pytest

import tinygan as tg
from tinygan.dcgan import DCGANGenerator
from tinygan.ema import EMA
from tinygan.gan import Generator, build_models
from tinygan.utils.checkpoint import load_checkpoint
from tinygan.utils.weights import read_weights

from example_programs import GAN_TINY as TINY, load_example
from exits import one_line_exit_2

pytestmark = pytest.mark.usefixtures("isolated")   # conftest: offline, cwd in tmp_path

mnist_gan = load_example("mnist_gan")
wgan_gp = load_example("wgan_gp")
sample = load_example("sample")
evaluate = load_example("evaluate")
BACKENDS = {"cpu": "numpy", "cuda": "cupy"}


def run_gan(args, data_dir, out, device="cpu", program=mnist_gan):
    return program.main([*args, "--backend", BACKENDS[device], "--data-dir", str(data_dir),
                         "--out", str(out)])


def host(tensor):
    return tensor.detach().cpu().numpy() if hasattr(tensor, "cpu") else tensor.numpy()


def torch_generator(torch, z_dim, im_dim, hidden_dim):
    """The course's generator in PyTorch (its names are tinygan's: gen.0.0.weight, ...)."""
    nn = torch.nn

    def block(i, o):
        return nn.Sequential(nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU())

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            h = hidden_dim
            self.gen = nn.Sequential(block(z_dim, h), block(h, 2 * h), block(2 * h, 4 * h),
                                     block(4 * h, 8 * h), nn.Linear(8 * h, im_dim), nn.Sigmoid())

        def forward(self, noise):
            return self.gen(noise)
    return G()


def load_into_torch(torch, model, state):
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})


# --- the average: PyTorch's formula --------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_average_is_pytorchs_averaged_model(device, dtype):
    torch = pytest.importorskip("torch")
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    decay, rng = 0.9, np.random.default_rng(0)
    live = Generator(z_dim=3, im_dim=5, hidden_dim=2).to(dtype=dtype)
    twin = torch_generator(torch, 3, 5, 2).to(torch.float64 if dtype == np.float64 else
                                              torch.float32)
    load_into_torch(torch, twin, live.state_dict())
    live.to(device)
    ema = EMA(live, decay)
    reference = AveragedModel(twin, multi_avg_fn=get_ema_multi_avg_fn(decay))
    for step in range(6):    # a sequence of weights and buffers, as training would leave them
        state = {k: (rng.standard_normal(v.shape) * 3).astype(v.dtype) if v.ndim else v + 1
                 for k, v in live.state_dict().items()}
        live.load_state_dict(state)
        load_into_torch(torch, twin, state)
        ema.update(live)
        reference.update_parameters(twin)
        assert ema.n_averaged == int(reference.n_averaged) == step + 1
        mine, theirs = ema.averaged.state_dict(), reference.module.state_dict()
        assert mine.keys() == theirs.keys()
        for key in mine:
            assert mine[key].dtype == host(theirs[key]).dtype, key
            tolerance = 1e-6 if dtype == np.float32 else 1e-14   # PyTorch's lerp may fuse
            np.testing.assert_allclose(mine[key], host(theirs[key]), rtol=tolerance,
                                       atol=tolerance, err_msg=key)
        if step == 0:    # the first update copies the weights, whatever the decay
            assert all(np.array_equal(mine[k], state[k]) for k in mine)


def test_the_average_has_arrays_of_its_own_and_no_gradients(device):
    live = Generator(z_dim=3, im_dim=5, hidden_dim=2).to(device)
    ema = EMA(live, 0.5)
    ema.update(live)
    with tg.no_grad():
        next(live.parameters()).add_(1.0)
    first = next(ema.averaged.parameters())
    assert not np.array_equal(host(first), host(next(live.parameters())))
    assert not any(p.requires_grad for p in ema.averaged.parameters())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 1.5, math.nan])
def test_a_decay_outside_0_1_is_refused(decay):
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        EMA(tg.nn.Linear(2, 2), decay)


def test_state_round_trips_and_refuses_what_it_could_not_hold():
    ema = EMA(tg.nn.Linear(2, 2), 0.99)
    ema.update(tg.nn.Linear(2, 2))
    other = EMA(tg.nn.Linear(2, 2), 0.99)
    other.load_state(json.loads(json.dumps(ema.state())))
    assert other.state() == {"decay": 0.99, "n_averaged": 1}
    for bad in ({"decay": 1.5, "n_averaged": 1}, {"decay": 0.9, "n_averaged": -1},
                {"decay": 0.9, "n_averaged": 1.0}, {}):
        with pytest.raises(ValueError, match="decay"):
            other.load_state(bad)


# --- BatchNorm statistics for the averaged weights: PyTorch's update_bn --------------------------

@pytest.mark.parametrize("conv", [False, True], ids=["BatchNorm1d", "BatchNorm2d"])
def test_batch_norm_statistics_are_pytorchs_update_bn(device, conv):
    torch = pytest.importorskip("torch")
    from torch.optim.swa_utils import update_bn
    tg.manual_seed(0)
    live = DCGANGenerator(3, 1, 2) if conv else Generator(z_dim=3, im_dim=5, hidden_dim=2)
    live.to(device)
    ema = EMA(live, 0.9)
    ema.update(live)
    for _ in range(3):          # the live G's own statistics move: the EMA must not keep them
        live(tg.randn(8, 3, device=device))
    ema.update(live)
    twin = torch_twin(torch, ema.averaged, conv)
    noise = [np.random.default_rng(k).standard_normal((16, 3)).astype(np.float32)
             for k in range(4)]
    ema.averaged.eval()
    ema.recompute_batch_norm(tg.tensor(z, device=device) for z in noise)
    twin.eval()
    update_bn([torch.from_numpy(z) for z in noise], twin)
    assert not ema.averaged.training                          # the mode is restored
    mine, theirs = ema.averaged.state_dict(), twin.state_dict()
    assert any(k.endswith("num_batches_tracked") and mine[k] == 4 for k in mine)
    for key in mine:
        np.testing.assert_allclose(mine[key], host(theirs[key]), rtol=2e-5, atol=1e-6,
                                   err_msg=key)
    momenta = [m.momentum for m in ema.averaged.modules() if hasattr(m, "running_mean")]
    assert momenta and all(m == 0.1 for m in momenta)        # restored after the passes


def torch_twin(torch, model, conv):
    """A PyTorch model with ``model``'s architecture and arrays."""
    if conv:
        twin = torch_dcgan(torch)
    else:
        twin = torch_generator(torch, 3, 5, 2)
    load_into_torch(torch, twin, model.state_dict())
    return twin


def torch_dcgan(torch):
    """The course's DCGAN generator (z 3, 1 channel, hidden 2), under tinygan's names."""
    nn = torch.nn

    def block(i, o, kernel=3, stride=2, final=False):
        if final:
            return nn.Sequential(nn.ConvTranspose2d(i, o, kernel, stride), nn.Tanh())
        return nn.Sequential(nn.ConvTranspose2d(i, o, kernel, stride), nn.BatchNorm2d(o),
                             nn.ReLU())

    class G(nn.Module):
        def __init__(self, z_dim=3, im_chan=1, hidden_dim=2):
            super().__init__()
            self.z_dim = z_dim
            self.gen = nn.Sequential(block(z_dim, hidden_dim * 4),
                                     block(hidden_dim * 4, hidden_dim * 2, kernel=4, stride=1),
                                     block(hidden_dim * 2, hidden_dim),
                                     block(hidden_dim, im_chan, kernel=4, final=True))

        def forward(self, noise):
            return self.gen(noise.view(len(noise), self.z_dim, 1, 1))
    return G()


def test_a_model_without_batch_norm_is_left_as_it_is():
    G, _ = build_models(4, 4, arch="vanilla")
    ema = EMA(G, 0.9)

    def never():
        raise AssertionError("no BatchNorm: no batches drawn")
        yield
    ema.recompute_batch_norm(never())
    assert ema.batch_norm_current


# --- --ema in the example programs ---------------------------------------------------------------

def arrays_and_meta(path):
    checkpoint = load_checkpoint(path)
    return checkpoint._arrays, checkpoint.meta


EMA_TINY = [*TINY, "--ema", "0.9"]


def test_a_run_saves_the_ema_with_its_own_batch_norm_statistics(device, fake_mnist, tmp_path,
                                                                 capsys):
    out = tmp_path / "run"
    assert run_gan(["--epochs", "1", *EMA_TINY], fake_mnist, out, device) == 0
    said = capsys.readouterr().out
    assert "grids and scores from the EMA of G (decay 0.9)" in said
    assert "generator_ema.safetensors" in said
    arrays, meta = arrays_and_meta(out / "checkpoint.npz")
    assert meta["ema"] == {"decay": 0.9, "n_averaged": 4} and meta["args"]["ema"] == 0.9
    live = {k[len("generator/"):]: v for k, v in arrays.items() if k.startswith("generator/")}
    ema = {k[len("generator_ema/"):]: v for k, v in arrays.items()
           if k.startswith("generator_ema/")}
    assert live.keys() == ema.keys()
    # recomputed: 10 batches counted, not the live G's 4 steps' statistics
    assert ema["gen.0.1.num_batches_tracked"] == mnist_gan.EMA_BN_BATCHES
    assert live["gen.0.1.num_batches_tracked"] == 8     # G runs in the D step and the G step
    assert not np.array_equal(ema["gen.0.1.running_mean"], live["gen.0.1.running_mean"])
    weights = read_weights(out / "generator_ema.safetensors")   # PyTorch's names, the same arrays
    assert weights.tensors.keys() == read_weights(out / "generator.safetensors").tensors.keys()
    assert all(np.array_equal(weights.tensors[k], ema[k]) for k in ema)
    assert weights.metadata["ema_decay"] == "0.9"
    assert "ema_decay" not in read_weights(out / "generator.safetensors").metadata


def test_the_critics_program_takes_ema_too(fake_mnist, tmp_path):
    out = tmp_path / "wgan"
    tiny = ["--limit", "32", "--batch-size", "8", "--log-every", "2", "--z-dim", "4",
            "--hidden-dim", "2", "--ema", "0.5"]
    assert run_gan(["--epochs", "1", *tiny], fake_mnist, out, program=wgan_gp) == 0
    _, meta = arrays_and_meta(out / "checkpoint.npz")
    assert meta["ema"]["n_averaged"] == meta["trainer"]["step"] == 4


@pytest.fixture
def straight_run(device, fake_mnist, tmp_path):
    if device == "cuda":
        pytest.skip("bit-for-bit resume is promised on numpy (see test_examples.py)")
    out = tmp_path / "straight"
    assert run_gan(["--epochs", "2", *EMA_TINY], fake_mnist, out) == 0
    return out


def assert_bit_for_bit(path_a, path_b):
    arrays_a, meta_a = arrays_and_meta(path_a)
    arrays_b, meta_b = arrays_and_meta(path_b)
    assert arrays_a.keys() == arrays_b.keys()
    assert any(k.startswith("generator_ema/") for k in arrays_a)
    assert [k for k in arrays_a if not np.array_equal(arrays_a[k], arrays_b[k])] == []
    for key in ("ema", "trainer", "run", "loader"):
        assert meta_a[key] == meta_b[key], key


def test_resume_at_an_epoch_boundary_is_bit_for_bit(fake_mnist, straight_run, tmp_path):
    out = tmp_path / "resumed"
    assert run_gan(["--epochs", "1", *EMA_TINY], fake_mnist, out) == 0
    assert run_gan(["--epochs", "2", "--resume"], fake_mnist, out) == 0   # --ema kept
    assert_bit_for_bit(straight_run / "checkpoint.npz", out / "checkpoint.npz")


@pytest.mark.parametrize("at_step", [1, 3, 6])
def test_resume_after_ctrl_c_between_steps_is_bit_for_bit(fake_mnist, straight_run, tmp_path,
                                                          monkeypatch, at_step):
    out = tmp_path / "interrupted"
    original = mnist_gan.Reporter.on_step

    def on_step(self, run, step):
        original(self, run, step)
        if step == at_step:
            raise KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(mnist_gan.Reporter, "on_step", on_step)
        assert run_gan(["--epochs", "2", *EMA_TINY], fake_mnist, out) == 130
    _, meta = arrays_and_meta(out / "checkpoint.npz")
    assert meta["ema"]["n_averaged"] == meta["trainer"]["step"] == at_step
    assert run_gan(["--epochs", "2", "--resume", "--ema", "0.9"], fake_mnist, out) == 0
    assert_bit_for_bit(straight_run / "checkpoint.npz", out / "checkpoint.npz")


def test_eval_every_scores_the_ema_and_says_so(fake_mnist, tmp_path, monkeypatch, capsys):
    seen = []

    def score(G, args, device, image_range, classifier, batch=1000):
        seen.append(G)
        return {"samples": 1, "fid": 1.0, "inception_score": 1.0, "confident": 1.0,
                "digits_covered": 1, "digit_shares": [1.0]}
    monkeypatch.setattr(mnist_gan, "load_classifier", lambda *a, **k: object())
    monkeypatch.setattr(mnist_gan, "score_generator", score)
    out = tmp_path / "run"
    assert run_gan(["--epochs", "1", "--eval-every", "1", *EMA_TINY], fake_mnist, out) == 0
    said = capsys.readouterr()
    assert "epoch 1, EMA of G: FID 1.0" in said.out + said.err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["generator"] for r in records if "fid" in r] == ["ema"]
    G = seen[0]
    assert G.gen[0][1].num_batches_tracked.item() == mnist_gan.EMA_BN_BATCHES   # recomputed


# --- --ema's values and --resume -----------------------------------------------------------------

@pytest.mark.parametrize("value", ["1", "-0.5", "1.5", "nan", "inf", "x"])
@pytest.mark.parametrize("program", ["mnist_gan", "wgan_gp"])
def test_a_bad_decay_is_a_one_line_exit_2(capsys, value, program):
    main = {"mnist_gan": mnist_gan, "wgan_gp": wgan_gp}[program].main
    line = one_line_exit_2(capsys, main, ["--ema", value, "--dry-run"])
    assert "--ema" in line and ("[0, 1)" in line or "number" in line), line


@pytest.mark.parametrize("flags, decay", [([], 0.999), (["--ema", "0"], 0.0),
                                          (["--preset", "course"], 0.0),
                                          (["--preset", "course", "--ema", "0.9"], 0.9),
                                          (["--arch", "vanilla"], 0.0),
                                          (["--conditional"], 0.0),
                                          (["--conditional", "--ema", "0.999"], 0.999)])
def test_the_mlp_gans_preset_keeps_an_ema(flags, decay):
    # measured to help (README, "--ema DECAY"): on in mnist_gan.py's default recipe only
    assert mnist_gan.parse_args(flags)[0].ema == decay


@pytest.mark.parametrize("flags", [[], ["--preset", "course"], ["--arch", "vanilla"]])
def test_the_mlp_gans_width_is_the_programs_under_every_preset(flags):
    # its presets hold no width: --hidden-dim's default is the program's 128, as before
    # dcgan.py's presets gained one
    assert mnist_gan.parse_args(flags)[0].hidden_dim == 128
    assert mnist_gan.parse_args([*flags, "--hidden-dim", "32"])[0].hidden_dim == 32


def test_wgan_gp_keeps_none_unless_asked():
    # measured (README, "examples/dcgan.py and examples/wgan_gp.py"): at the course's lr its
    # average scored worse than G; off by default, --ema DECAY turns it on
    assert mnist_gan.parse_args([], program=wgan_gp.WGAN_GP)[0].ema == 0.0
    assert mnist_gan.parse_args(["--ema", "0.99"], program=wgan_gp.WGAN_GP)[0].ema == 0.99


@pytest.mark.parametrize("flags, expected", [
    ([], {"lr": 2e-3, "beta1": 0.5, "batch_size": 32, "ema": 0.999, "arch": "dcgan-wide",
          "hidden_dim": 128}),
    (["--preset", "course"], {"lr": 2e-4, "beta1": 0.5, "batch_size": 128, "ema": 0.0,
                              "arch": "dcgan", "hidden_dim": 64}),
    (["--ema", "0"], {"lr": 2e-3, "ema": 0.0, "arch": "dcgan-wide", "hidden_dim": 128}),
    (["--hidden-dim", "64"], {"lr": 2e-3, "arch": "dcgan-wide", "hidden_dim": 64}),
    (["--preset", "course", "--arch", "dcgan-wide"], {"lr": 2e-4, "arch": "dcgan-wide",
                                                      "hidden_dim": 64}),
    (["--arch", "dcgan-padded"], {"lr": 2e-3, "ema": 0.999, "arch": "dcgan-padded"}),
    (["--arch", "dcgan"], {"lr": 2e-3, "ema": 0.999, "arch": "dcgan"})])
def test_the_dcgans_default_recipe_and_the_courses(flags, expected):
    # measured (README, "examples/dcgan.py and examples/wgan_gp.py"): lr 2e-3, batch 32, an
    # EMA of G, G twice the course's width and a D that sees the whole image, at week 3's
    # critic's width; the course's settings one flag away
    args = mnist_gan.parse_args(flags, program=load_example("dcgan").DCGAN)[0]
    assert {key: getattr(args, key) for key in expected} == expected


@pytest.mark.parametrize("flags, expected", [
    ([], {"lr": 2e-4, "batch_size": 128, "d_steps": 5, "ema": 0.0,
          "arch": "wgan-gp-padded-nobn", "hidden_dim": 64}),
    (["--preset", "course"], {"lr": 2e-4, "batch_size": 128, "d_steps": 5, "ema": 0.0,
                              "arch": "wgan-gp", "hidden_dim": 64}),
    (["--arch", "wgan-gp"], {"lr": 2e-4, "d_steps": 5, "arch": "wgan-gp"})])
def test_the_wgan_gps_default_recipe_and_the_courses(flags, expected):
    # measured (README, "examples/dcgan.py and examples/wgan_gp.py"): the course's recipe
    # with a padded critic without BatchNorm; the course's critic one flag away
    args = mnist_gan.parse_args(flags, program=wgan_gp.WGAN_GP)[0]
    assert {key: getattr(args, key) for key in expected} == expected


def test_ema_0_trains_no_average(fake_mnist, tmp_path):
    out = tmp_path / "run"
    assert run_gan(["--epochs", "1", *TINY, "--ema", "0"], fake_mnist, out) == 0
    arrays, meta = arrays_and_meta(out / "checkpoint.npz")
    assert not any(key.startswith("generator_ema/") for key in arrays)
    assert not (out / "generator_ema.safetensors").exists() and meta["args"]["ema"] == 0.0


def test_resume_keeps_the_decay_it_began_with(fake_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_gan(["--epochs", "1", *TINY, "--ema", "0"], fake_mnist, out) == 0   # no EMA
    capsys.readouterr()
    line = one_line_exit_2(capsys, mnist_gan.main,
                           ["--epochs", "2", "--resume", "--ema", "0.9", "--out", str(out),
                            "--data-dir", str(fake_mnist)])
    assert "--ema" in line, line


# --- sample.py and evaluate.py take the EMA ---------------------------------------------------

def test_sample_and_evaluate_use_the_ema_unless_live(device, fake_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_gan(["--epochs", "1", *EMA_TINY], fake_mnist, out, device) == 0
    capsys.readouterr()
    backend = ["--backend", BACKENDS[device], "-n", "20"]

    def npy(source, *flags):
        path = tmp_path / f"{len(list(tmp_path.glob('*.npy')))}.npy"
        assert sample.main([str(source), "--npy", str(path), *backend, *flags]) == 0
        return np.load(path), capsys.readouterr().out

    averaged, said = npy(out / "checkpoint.npz")
    assert "of the EMA of G (decay 0.9)" in said
    live, said = npy(out / "checkpoint.npz", "--live")
    assert "of the live G" in said
    assert not np.array_equal(averaged, live)
    # the same generators as the weights files beside the checkpoint
    assert np.array_equal(npy(out / "generator_ema.safetensors")[0], averaged)
    assert np.array_equal(npy(out / "generator.safetensors")[0], live)
    drawn, _, _, which = evaluate.draw(out / "checkpoint.npz", 20, 0, device)
    assert which == "the EMA of G (decay 0.9)" and np.array_equal(drawn, averaged)
    assert evaluate.draw(out / "checkpoint.npz", 20, 0, device, live=True)[3] == "the live G"


def test_live_without_an_ema_is_a_one_line_error(fake_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_gan(["--epochs", "1", *TINY, "--ema", "0"], fake_mnist, out) == 0
    capsys.readouterr()
    line = one_line_exit_2(capsys, sample.main, [str(out / "checkpoint.npz"), "--live"])
    assert "--live" in line and "EMA" in line
    line = one_line_exit_2(capsys, sample.main, [str(out / "generator.safetensors"), "--live"])
    assert "--live" in line


def test_a_conditional_run_averages_and_samples_its_ema(fake_mnist, tmp_path, capsys):
    out = tmp_path / "cgan"
    assert run_gan(["--epochs", "1", "--conditional", *EMA_TINY], fake_mnist, out) == 0
    arrays, _ = arrays_and_meta(out / "checkpoint.npz")
    assert arrays["generator_ema/net.gen.0.1.num_batches_tracked"] == mnist_gan.EMA_BN_BATCHES
    assert sample.main([str(out / "checkpoint.npz"), "--label", "3", "--out",
                        str(tmp_path / "threes.png")]) == 0
    assert "of the EMA of G (decay 0.9)" in capsys.readouterr().out


def test_a_run_saved_when_none_meant_off_resumes_without_an_ema(fake_mnist, tmp_path, capsys):
    # before the preset held a decay, a run without --ema saved "ema": null
    out = tmp_path / "run"
    assert run_gan(["--epochs", "1", *TINY, "--ema", "0"], fake_mnist, out) == 0
    path = out / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as saved:
        arrays = {key: saved[key] for key in saved.files}
    info = json.loads(str(arrays["meta"]))
    info["meta"]["args"]["ema"] = None
    arrays["meta"] = np.array(json.dumps(info))
    np.savez(path, **arrays)
    capsys.readouterr()
    assert mnist_gan.main(["--epochs", "2", "--resume", "--out", str(out),
                           "--data-dir", str(fake_mnist)]) == 0
    arrays, meta = arrays_and_meta(path)
    assert meta["args"]["ema"] == 0.0 and not any(k.startswith("generator_ema/") for k in arrays)
