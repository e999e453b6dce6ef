"""Draw samples from a checkpoint of mnist_gan.py (its generator) or mnist_vae.py, or a .safetensors.

    python examples/sample.py runs/mnist_gan/checkpoint.npz --grid 10 --out samples.png
    python examples/sample.py runs/mnist_gan/checkpoint.npz --npy samples.npy -n 10000
    python examples/sample.py runs/mnist_gan/checkpoint.npz --truncation 0.7
    python examples/sample.py runs/cgan/checkpoint.npz --label 3     # conditional runs: one digit
    python examples/sample.py runs/mnist_gan/generator.safetensors   # or one PyTorch wrote

A conditional run's grid has one row per class unless --label picks one. A VAE's
checkpoint is sampled through its decoder, from z ~ N(0, I). With --npy and no --out,
no grid is written. A .safetensors file (tinygan's or PyTorch's, PyTorch's names) is
recognised from its names and shapes: the course's or the vanilla generator, or the VAE;
--num-classes says that a generator PyTorch saved takes one-hot classes after its noise.
A checkpoint of a run with --ema is sampled through its EMA of G (--live: the live G).
"""
from __future__ import annotations

import signal
if __name__ == "__main__":   # Ctrl-C while the imports below run: stop quietly
    signal.signal(signal.SIGINT, signal.SIG_DFL)

import argparse

import numpy as np

import tinygan as tg
from tinygan import backend
from tinygan.gan import ARCHITECTURES, build_models, get_noise
from tinygan.utils import images
from tinygan.utils.checkpoint import load_checkpoint
from tinygan.utils.cli import (DEVICES, HelpFormatter, choose_device, fail, positive_float,
                                positive_int, printable, run_script)
from tinygan.utils.files import atomic_write, explain_os_error
from tinygan.utils.weights import (WeightsError, gan_specs, identify, load_weights, model_spec,
                                   read_weights, unusable_value)
from tinygan.vae import VAE

NUM_CLASSES = 10
# Bounds on what one run draws, so that a typo is refused up front rather than exhausting
# memory: the samples are float32 (N, 784), 3 KiB each, held twice while they are joined.
MAX_GRID = 100           # per side: 10,000 images, a PNG of 2,900 pixels square
MAX_SAMPLES = 100_000    # 0.3 GiB of samples (the papers' FID uses 10,000 or 50,000)


def check_size(flag, n, most, expected):
    """One line, before anything is built, for ``n`` samples over the bound ``most``."""
    if n > most:
        fail(f"{flag}: {n} samples would take {_memory(n)} of memory (float32, 784 values "
             f"each); expected {expected}")


def _memory(n):
    size = n * 784 * 4
    return f"{size / 2 ** 30:.1f} GiB" if size >= 2 ** 30 else f"{size / 2 ** 20:.0f} MiB"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=HelpFormatter)
    p.add_argument("checkpoint", help="checkpoint.npz from mnist_gan.py or mnist_vae.py, or a "
                   "generator's or VAE's .safetensors (tinygan's or PyTorch's)")
    p.add_argument("--out", default=None,
                   help="grid PNG to write (None: samples.png, or no grid when --npy is given)")
    p.add_argument("--grid", type=positive_int, default=8,
                   help=f"the grid is GRID x GRID images (at most {MAX_GRID})")
    p.add_argument("--npy", default=None,
                   help="write N samples as float32 (N, 784) in [0, 1] to this .npy file")
    p.add_argument("-n", "--num-samples", type=positive_int, default=1000,
                   help=f"how many for --npy (at most {MAX_SAMPLES})")
    p.add_argument("--truncation", type=positive_float, default=None,
                   help="redraw noise values beyond ±T (T > 0): less variety, cleaner digits")
    p.add_argument("--label", type=int, default=None,
                   help="conditional runs: draw only this class (0-9)")
    p.add_argument("--num-classes", type=positive_int, default=None,
                   help="a .safetensors generator without tinygan's metadata (saved by "
                        "PyTorch) that takes this many one-hot classes after its noise")
    p.add_argument("--live", action="store_true",
                   help="a checkpoint of a run with --ema: sample the live G, not its EMA")
    p.add_argument("--seed", type=int, default=0, help="seeds the noise")
    p.add_argument("--backend", choices=DEVICES, default="numpy",
                   help="numpy runs on the CPU, cupy on an NVIDIA GPU")
    args = p.parse_args(argv)
    check_size(f"--grid {args.grid}", args.grid * max(args.grid, NUM_CLASSES),
               MAX_GRID * max(MAX_GRID, NUM_CLASSES), f"at most {MAX_GRID} per side")
    if args.npy:
        check_size(f"-n {args.num_samples}", args.num_samples, MAX_SAMPLES,
                   f"at most {MAX_SAMPLES} ({_memory(MAX_SAMPLES)})")
    if args.out is None and args.npy is None:
        args.out = "samples.png"
    return args


@tg.no_grad()
def generate(model, n, z_dim, device, truncation, rng, labels=None, batch=1000):
    """n images as a host float32 (n, 784) array, made in batches; ``model(z, labels)``
    returns host images in [0, 1] (labels: host ints, or None)."""
    parts = []
    for start in range(0, n, batch):
        z = get_noise(min(batch, n - start), z_dim, device, truncation, generator=rng)
        part_labels = (None if labels is None
                       else tg.tensor(labels[start:start + batch], device=device))
        parts.append(model(z, part_labels))
    return np.concatenate(parts)


def labels_for(n, settings, label, rows_of=None):
    """Class labels for a conditional run: all ``label``, or class k on row k of the grid."""
    if not settings.get("conditional"):
        if label is not None:
            fail("--label needs a checkpoint of a conditional run (--conditional)")
        return None
    if label is not None:
        if not 0 <= label < NUM_CLASSES:
            fail(f"--label must be in 0..{NUM_CLASSES - 1}, got {label}")
        return np.full(n, label)
    if rows_of:
        return np.repeat(np.arange(NUM_CLASSES), rows_of)[:n]
    return np.arange(n) % NUM_CLASSES


def saved_settings(checkpoint, gan):
    """The model's settings from a checkpoint's metadata, each checked: one line naming the
    file and the key for a value a training run could not have written."""
    settings = checkpoint.meta.get("args")
    if not isinstance(settings, dict):
        fail(f"{checkpoint.path}: its metadata has no 'args' section (the run's settings)")

    def setting(key, check, expected, default=None):
        value = settings.get(key, default)
        if not check(value):
            fail(f"{checkpoint.path}: its metadata says {key}: "
                 f"{printable(repr(value), 60)}; expected {expected}")
        return value

    def size(value):
        return isinstance(value, int) and not isinstance(value, bool) and value > 0

    found = {"z_dim": setting("z_dim", size, "a positive whole number"),
             "hidden_dim": setting("hidden_dim", size, "a positive whole number")}
    if gan:
        found["arch"] = setting("arch", lambda v: v in ARCHITECTURES,
                                f"one of {', '.join(ARCHITECTURES)}", "course")
        found["conditional"] = setting("conditional", lambda v: isinstance(v, bool),
                                       "true or false", False)
    return found


def saved_epoch(checkpoint, *keys):
    """meta[keys...] (the epoch), or "unknown" where the metadata lacks it."""
    value = checkpoint.meta
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else "unknown"


def usable(path, state):
    """``state`` unless a value in it would make every sample NaN (then one line)."""
    problem = unusable_value(state)
    if problem:
        fail(f"{path}: {printable(problem)}; its samples would not be finite "
             "(a diverged or damaged run; sample an earlier checkpoint)")
    return state


def check_finite(samples, source):
    """Samples with NaN or inf are an error, never a black picture or a .npy of NaN."""
    bad = ~np.isfinite(samples)
    if bad.any():
        fail(f"{source}: {int(bad.any(axis=-1).sum())} of {len(samples)} samples are not "
             "finite (NaN or inf): the model's weights are not usable")
    return samples


def check_module(checkpoint, name, spec):
    """The module's arrays against the model its metadata describes, before it is built."""
    try:
        checkpoint.check_module(name, spec)
    except ValueError as exc:
        fail(str(exc))


def load_generator(checkpoint, device, label, live=False):
    """(a function z -> images in [0, 1] as host float32, z_dim, conditional, epoch, which
    model it is) for a checkpoint of mnist_gan.py (its generator: the EMA of G when the run
    kept one, unless ``live``) or of mnist_vae.py (its decoder). The sizes in its metadata
    are checked against the arrays it holds before anything is built."""
    held = checkpoint.modules()
    if live and "generator_ema" not in held:
        fail(f"--live picks the live G of a checkpoint with an EMA of G (a run with --ema); "
             f"{checkpoint.path} has none")
    if "generator" in held:
        s = saved_settings(checkpoint, gan=True)
        classes = NUM_CLASSES if s["conditional"] else 0
        name = "generator_ema" if "generator_ema" in held and not live else "generator"
        spec, _ = gan_specs(s["arch"], s["z_dim"], s["hidden_dim"], classes)
        check_module(checkpoint, name, spec)
        G, _ = build_models(s["z_dim"], s["hidden_dim"], arch=s["arch"], num_classes=classes)
        G.load_state_dict(usable(checkpoint.path, checkpoint.state_dict(name)))
        return sampler(G.to(device), s["arch"]), s["z_dim"], s["conditional"], \
            saved_epoch(checkpoint, "trainer", "epoch"), which_generator(checkpoint, name)
    if "vae" in held:   # the VAE's decoder maps z ~ N(0, I), the prior, to images
        if label is not None:
            fail("--label needs a checkpoint of a conditional GAN run; this is a VAE's")
        s = saved_settings(checkpoint, gan=False)
        check_module(checkpoint, "vae", model_spec("vae", im_dim=784, hidden_dim=s["hidden_dim"],
                                                   z_dim=s["z_dim"]))
        vae = VAE(784, s["hidden_dim"], s["z_dim"])
        vae.load_state_dict(usable(checkpoint.path, checkpoint.state_dict("vae")))
        vae.to(device).eval()
        return (lambda z, labels: vae.decode(z).numpy()), s["z_dim"], False, \
            saved_epoch(checkpoint, "epoch"), "the VAE's decoder"
    fail(f"{checkpoint.path} is a tinygan checkpoint, but not of mnist_gan.py or mnist_vae.py: "
         f"expected a 'generator' or a 'vae', it has "
         f"{printable(', '.join(held)) or 'nothing'}")


def which_generator(checkpoint, name):
    """How the output names the generator sampled: the EMA of G (and its decay), or G."""
    if name == "generator":
        return "the live G" if "generator_ema" in checkpoint.modules() else "G"
    decay = checkpoint.meta.get("ema")
    decay = decay.get("decay") if isinstance(decay, dict) else None
    return "the EMA of G" + (f" (decay {decay:g})" if isinstance(decay, float) else "")


def sampler(G, arch):
    """z, labels -> host images in [0, 1] from a generator of ``arch`` (put in eval mode)."""
    G.eval()  # running BatchNorm stats: each sample independent of its batch
    symmetric = ARCHITECTURES[arch][3] == "symmetric"  # Tanh images in [-1, 1]

    def model(z, labels):
        pictures = (G(z) if labels is None else G(z, labels)).numpy()
        pictures = pictures.reshape(len(pictures), -1)   # a convolutional G's (N, 1, 28, 28)
        return (pictures + 1) / 2 if symmetric else pictures
    return model


def load_weights_file(weights, device, label, num_classes=None):
    """As load_generator, for a .safetensors file (which generator it holds from its
    tinygan metadata, if any): its layout from its names and shapes
    (a file PyTorch wrote has no metadata), the classes from tinygan's metadata or
    --num-classes. Any mismatch is a WeightsError naming the file."""
    layout, path = identify(weights), weights.path
    usable(path, weights.tensors)
    dims, epoch = layout.dims, printable(weights.metadata.get("epoch", "unknown"), 20)
    if dims.get("im_dim") not in (None, 784):
        fail(f"{path}: its {layout.kind} makes images of {dims['im_dim']} values; "
             "expected 784 (28x28, MNIST)")
    if layout.kind == "vae":
        if label is not None:
            fail("--label needs a conditional GAN's generator; this is a VAE's file")
        vae = VAE(dims["im_dim"], dims["hidden_dim"], dims["z_dim"])
        load_weights(vae, weights)
        vae.to(device).eval()
        return (lambda z, labels: vae.decode(z).numpy()), dims["z_dim"], False, epoch, \
            "the VAE's decoder"
    if not layout.kind.endswith("generator"):
        fail(f"{path} holds a {layout.kind}; expected a generator (generator.safetensors) "
             "or a VAE")
    saved = weights.metadata.get("num_classes")
    if saved is not None and not saved.isdigit():
        fail(f"{path}: its metadata num_classes is {saved!r}, expected a whole number")
    if num_classes is not None and saved not in (None, str(num_classes)):
        fail(f"--num-classes {num_classes}, but {path} says its generator takes {saved}")
    classes = num_classes if num_classes is not None else int(saved or 0)
    z_dim = dims["in_dim"] - classes
    if z_dim <= 0:
        fail(f"--num-classes {classes} leaves no noise: the generator in {path} takes "
             f"{dims['in_dim']} inputs")
    arch = layout.kind.split()[0]
    G, _ = build_models(z_dim, dims["hidden_dim"], arch=arch, num_classes=classes)
    load_weights(G.net if classes else G, weights)   # PyTorch's names: the network itself
    decay = weights.metadata.get("ema_decay")
    which = f"the EMA of G (decay {printable(decay, 20)})" if decay else "G"
    return sampler(G.to(device), arch), z_dim, bool(classes), epoch, which


def is_safetensors(path):
    """By its name, or by its start: 8 bytes of header length, then the header's '{'."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        head = b""
    return str(path).endswith(".safetensors") or head[8:9] == b"{"


def load_model(path, device, label=None, num_classes=None, live=False):
    """(z, labels -> images, z_dim, conditional, epoch, which model) from a checkpoint or a
    .safetensors file; a file that is neither, or does not fit, is a one-line error."""
    if is_safetensors(path):
        if live:
            fail(f"--live picks the live G of a checkpoint with an EMA of G; {path} holds "
                 "one model (sample generator.safetensors for the live G)")
        try:
            return load_weights_file(read_weights(path), device, label, num_classes)
        except (FileNotFoundError, WeightsError) as exc:
            fail(str(exc))
    if num_classes is not None:
        fail("--num-classes is for a .safetensors file; a checkpoint knows its classes")
    try:
        checkpoint = load_checkpoint(path)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    return load_generator(checkpoint, device, label, live)


def main(argv=None):
    args = parse_args(argv)
    device = choose_device(args.backend)
    model, z_dim, conditional, epoch, which = load_model(args.checkpoint, device, args.label,
                                                         args.num_classes, args.live)
    settings = {"conditional": conditional}
    rng = backend.RandomStream(args.seed, device)

    def draw(n, labels):
        return check_finite(generate(model, n, z_dim, device, args.truncation, rng, labels),
                            args.checkpoint)

    try:
        if args.out is not None:
            rows = NUM_CLASSES if conditional and args.label is None else args.grid
            n = rows * args.grid
            grid = draw(n, labels_for(n, settings, args.label, rows_of=args.grid))
            images.save_image_grid(grid, args.out, nrow=args.grid)
            print(f"wrote {args.out} ({rows}x{args.grid} samples of {which}, epoch {epoch}, "
                  f"truncation {args.truncation})")
        if args.npy:
            samples = draw(args.num_samples, labels_for(args.num_samples, settings, args.label))
            with atomic_write(args.npy) as f:
                np.save(f, samples.astype(np.float32))
            print(f"wrote {args.npy}: {samples.shape[0]} samples of {which}, float32 (N, 784) "
                  "in [0, 1]")
    except OSError as exc:   # a full disk, a read-only folder: one line
        fail(explain_os_error(exc))
    return 0


if __name__ == "__main__":
    run_script(main)
