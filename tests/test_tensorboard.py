"""--tensorboard DIR: the examples' metrics and sample grids as TensorBoard event files.

What mnist_gan.py and mnist_vae.py write is read back with TensorBoard's own reader
(EventAccumulator): the scalars carry the steps and values of metrics.jsonl, and each
epoch adds its sample grid as the image "samples". Without tensorboardX, --tensorboard
is a one-line error (exit 2) that says how to install it.
"""
import io
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboardX", reason="--tensorboard needs tensorboardX "
                    "(pip install -e \".[tensorboard]\")")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="reading the event files back needs TensorBoard (pip install tensorboard)")

from tinygan.utils.tensorboard import TensorBoardLogger, TensorBoardUnavailable  # noqa: E402

from example_programs import GAN_TINY as TINY, load_example  # noqa: E402

pytestmark = pytest.mark.usefixtures("isolated")   # conftest: offline, cwd in tmp_path


BACKENDS = {"cpu": "numpy", "cuda": "cupy"}
GAN_TAGS = {"loss/discriminator": "d_loss", "loss/generator": "g_loss",
            "D/mean_D_x": "d_real", "D/mean_D_G_z": "d_fake"}
VAE_TAGS = {"vae/loss": "loss", "vae/reconstruction": "reconstruction", "vae/kl": "kl"}




mnist_gan = load_example("mnist_gan")
mnist_vae = load_example("mnist_vae")
PROGRAMS = {"gan": mnist_gan, "vae": mnist_vae}






def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def run(program, args, data_dir, out, device="cpu"):
    return PROGRAMS[program].main([*args, "--backend", BACKENDS[device], "--data-dir",
                                   str(data_dir), "--out", str(out)])


def read_events(logdir):
    """TensorBoard's reader over logdir, everything kept (no sampling)."""
    accumulator = event_accumulator.EventAccumulator(
        str(logdir), size_guidance={event_accumulator.SCALARS: 0,
                                    event_accumulator.IMAGES: 0})
    accumulator.Reload()
    return accumulator


def read_metrics(out):
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]


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


def event_image_pixels(event):
    """An image event's pixels as (H, W) gray, after checking every channel holds the same."""
    image = pytest.importorskip("PIL.Image")
    pixels = np.asarray(image.open(io.BytesIO(event.encoded_image_string)))
    assert (event.height, event.width) == pixels.shape[:2]
    if pixels.ndim == 3:
        assert all(np.array_equal(pixels[..., c], pixels[..., 0]) for c in range(pixels.shape[2]))
        pixels = pixels[..., 0]
    return pixels


def check_events(logdir, out, tags, steps_per_epoch=4, epochs=2):
    """Scalars equal metrics.jsonl, step for step; one "samples" image per epoch, equal to
    that epoch's grid PNG (which is the same grid drawn at scale 4)."""
    events = read_events(logdir)
    assert sorted(events.Tags()["scalars"]) == sorted(tags)
    records = read_metrics(out)
    assert [r["step"] for r in records] == list(range(2, steps_per_epoch * epochs + 1, 2))
    for tag, key in tags.items():
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [r["step"] for r in records], tag
        np.testing.assert_allclose([s.value for s in scalars], [r[key] for r in records],
                                   rtol=1e-6, err_msg=tag)
    assert events.Tags()["images"] == ["samples"]
    images = events.Images("samples")
    assert [i.step for i in images] == [steps_per_epoch * e for e in range(1, epochs + 1)]
    for epoch, event in enumerate(images, start=1):
        grid = decode_gray_png(Path(out) / "samples" / f"epoch_{epoch:03d}.png")
        np.testing.assert_array_equal(event_image_pixels(event), grid[::4, ::4])


def test_gan_writes_its_metrics_and_grids_as_events(device, fake_mnist, tmp_path, capsys):
    out, logdir = tmp_path / "run", tmp_path / "tb"
    assert run("gan", ["--epochs", "2", *TINY, "--tensorboard", str(logdir)], fake_mnist, out,
               device) == 0
    assert f"tensorboard --logdir {logdir}" in capsys.readouterr().out
    check_events(logdir, out, GAN_TAGS)


def test_conditional_gan_events_hold_the_ten_row_grid(fake_mnist, tmp_path):
    out, logdir = tmp_path / "run", tmp_path / "tb"
    assert run("gan", ["--conditional", "--epochs", "1", *TINY, "--tensorboard", str(logdir)],
               fake_mnist, out) == 0
    check_events(logdir, out, GAN_TAGS, epochs=1)
    (image,) = read_events(logdir).Images("samples")
    assert (image.height, image.width) == (10 * 30 + 2, 8 * 30 + 2)


def test_vae_writes_its_metrics_and_grids_as_events(device, fake_mnist, tmp_path, capsys):
    out, logdir = tmp_path / "vae", tmp_path / "tb"
    assert run("vae", ["--epochs", "2", *TINY, "--tensorboard", str(logdir)], fake_mnist, out,
               device) == 0
    assert f"tensorboard --logdir {logdir}" in capsys.readouterr().out
    check_events(logdir, out, VAE_TAGS)


@pytest.mark.parametrize("program", ["gan", "vae"])
def test_a_dry_run_writes_no_events(program, fake_mnist, tmp_path):
    before = files_under(tmp_path)
    assert run(program, ["--dry-run", "--batch-size", "16", "--z-dim", "4", "--hidden-dim", "4",
                         "--tensorboard", str(tmp_path / "tb")], fake_mnist,
               tmp_path / "run") == 0
    assert files_under(tmp_path) == before


def test_logger_scalars_and_image_round_trip(tmp_path):
    logger = TensorBoardLogger(tmp_path / "tb")
    logger.scalars({"a/x": 0.25, "a/y": np.float32(1.5)}, step=3)
    logger.scalars({"a/x": 0.5}, step=7)
    pixels = np.arange(6 * 5, dtype=np.uint8).reshape(6, 5) * 8
    logger.image("grid", pixels, step=7)
    logger.close()
    events = read_events(tmp_path / "tb")
    assert [(s.step, s.value) for s in events.Scalars("a/x")] == [(3, 0.25), (7, 0.5)]
    assert [(s.step, s.value) for s in events.Scalars("a/y")] == [(3, 1.5)]
    (image,) = events.Images("grid")
    assert image.step == 7
    np.testing.assert_array_equal(event_image_pixels(image), pixels)


# --- without tensorboardX ------------------------------------------------------------------------

def test_logger_without_tensorboardx_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)        # import -> ImportError
    with pytest.raises(TensorBoardUnavailable, match=r'pip install -e "\.\[tensorboard\]"'):
        TensorBoardLogger(tmp_path / "tb")
    assert issubclass(TensorBoardUnavailable, ImportError)
    assert not (tmp_path / "tb").exists()


@pytest.mark.parametrize("program", ["gan", "vae"])
def test_tensorboard_without_tensorboardx_is_one_line_and_exit_2(program, fake_mnist, tmp_path,
                                                                 monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(SystemExit) as info:
        run(program, ["--epochs", "1", *TINY, "--tensorboard", str(tmp_path / "tb")],
            fake_mnist, tmp_path / "run")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: --tensorboard needs the tensorboardX package")
    assert 'pip install -e ".[tensorboard]"' in err
    assert "Traceback" not in err
    assert not (tmp_path / "tb").exists() and not (tmp_path / "run").exists()


# --- SummaryWriter: torch.utils.tensorboard's names, for a tutorial's own logger ---------------

def test_summary_writer_takes_tinygan_tensors(tmp_path):
    # the seeds' "GANs from scratch" logs losses (0-d tensors) and make_grid's float grid
    import tinygan as tg
    from tinygan.utils.tensorboard import SummaryWriter
    from tinygan.vision.utils import make_grid
    images = tg.rand(4, 1, 6, 6)
    grid = make_grid(images, nrow=2, normalize=True, scale_each=True)
    with SummaryWriter(log_dir=tmp_path / "tb") as writer:
        writer.add_scalar("VGAN_MNIST/D_error", tg.tensor(0.75), 5)
        writer.add_scalar("VGAN_MNIST/G_error", np.float32(1.5), 5)
        writer.add_scalars("D", {"real": tg.tensor([0.25]), "fake": 0.5}, 6)
        writer.add_image("VGAN_MNIST/images", grid, 5)
        with pytest.raises(ValueError, match=r"add_scalar\('x'\): expected one number"):
            writer.add_scalar("x", tg.zeros(2), 1)
    events = read_events(tmp_path / "tb")
    assert [(s.step, s.value) for s in events.Scalars("VGAN_MNIST/D_error")] == [(5, 0.75)]
    assert [(s.step, s.value) for s in events.Scalars("VGAN_MNIST/G_error")] == [(5, 1.5)]
    assert [s.value for s in events.Scalars("D/real")] == [0.25]
    (image,) = events.Images("VGAN_MNIST/images")
    expected = (grid.numpy()[0] * 255).clip(0, 255).astype(np.uint8)   # tensorboardX's scaling
    np.testing.assert_array_equal(event_image_pixels(image), expected)


def test_summary_writer_default_folder_is_pytorchs(tmp_path):
    from tinygan.utils.tensorboard import SummaryWriter
    writer = SummaryWriter(comment="_VGAN_MNIST")
    writer.close()
    (folder,) = (tmp_path / "runs").iterdir()       # the isolated fixture: cwd is tmp_path
    assert folder.name.endswith("_VGAN_MNIST") and writer.get_logdir() == str(Path("runs") /
                                                                             folder.name)
