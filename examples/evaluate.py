"""Score a generator: FID, inception score and class coverage, by tinygan's own classifier.

    python examples/evaluate.py runs/mnist_gan/checkpoint.npz --data-dir ~/data/mnist
    python examples/evaluate.py runs/cgan/checkpoint.npz --json     # conditional: accuracy too
    python examples/evaluate.py samples.npy   # float (N, 784), (N, 28, 28), (N, 1, 28, 28); [0, 1]
    python examples/evaluate.py runs/mnist_gan/generator.safetensors  # or one PyTorch saved
    python examples/evaluate.py runs/fashion/checkpoint.npz --data-dir ~/data/fashion-mnist

A checkpoint of mnist_gan.py (its generator, in eval mode) or of mnist_vae.py (its decoder)
draws -n samples from noise seeded by --seed; a conditional run's samples are drawn for the
ten classes equally, and the share classified as the class drawn for is reported. A
.safetensors generator (tinygan's, or one PyTorch saved; --num-classes for a conditional one
from PyTorch) is scored the same way. A .npy file's samples are scored as they are (the
first -n of them). A checkpoint of a run with --ema is scored through its EMA of G (--live:
the live G); the output says which. A checkpoint of a run on Fashion-MNIST is scored by the
Fashion-MNIST classifier (the run's --dataset); a .npy or .safetensors by MNIST's unless
--dataset fashion.

The classifier (a small CNN) is trained with tinygan the first time (a few minutes on two
CPU cores) and cached beside the data set's files. Its FID is not the Inception FID of the papers:
compare it only with other numbers of this program. For scale: 10,000 MNIST training images
score about 5, uniform noise about 1,770 (see the README).
"""
from __future__ import annotations

import signal
if __name__ == "__main__":   # Ctrl-C while the imports below run: stop quietly
    signal.signal(signal.SIGINT, signal.SIG_DFL)

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format

from tinygan import backend
from tinygan.utils import data
from tinygan.utils.checkpoint import load_checkpoint

from tinygan.utils.cli import (DEVICES, HelpFormatter, choose_device, fail, one_line,
                                positive_int, printable, run_script)
from tinygan.utils.evaluate import as_samples, evaluate, format_scores, load_classifier

sys.path.insert(0, str(Path(__file__).resolve().parent))   # sample.py, beside this file,
from sample import (MAX_SAMPLES, check_finite, check_size, generate,  # noqa: E402
                    load_model)                                        # rebuilds G

NUM_CLASSES = 10


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=HelpFormatter)
    p.add_argument("source", metavar="CHECKPOINT_OR_NPY",
                   help="checkpoint.npz of mnist_gan.py or mnist_vae.py, a generator's "
                        ".safetensors, or a .npy of samples")
    p.add_argument("-n", "--num-samples", type=positive_int, default=10_000,
                   help=f"how many samples to score (at most {MAX_SAMPLES})")
    p.add_argument("--data-dir", default=None,
                   help="folder with the data set's four .gz files (the classifier is cached "
                        "there)")
    p.add_argument("--dataset", choices=["mnist", "fashion"], default=None,
                   help="whose classifier scores the samples (default: a checkpoint's run's, "
                        "else mnist)")
    p.add_argument("--backend", choices=DEVICES, default="numpy",
                   help="numpy runs on the CPU, cupy on an NVIDIA GPU")
    p.add_argument("--seed", type=int, default=0, help="seeds the generator's noise")
    p.add_argument("--live", action="store_true",
                   help="a checkpoint of a run with --ema: score the live G, not its EMA")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    p.add_argument("--num-classes", type=positive_int, default=None,
                   help="classes of a conditional generator in a .safetensors file PyTorch "
                        "wrote (tinygan's files say it themselves)")
    args = p.parse_args(argv)
    check_size(f"-n {args.num_samples}", args.num_samples, MAX_SAMPLES,
               f"at most {MAX_SAMPLES}, which is 10 times the usual 10,000")
    return args


def is_npy(path):
    """Whether the file starts as a .npy does (whatever its name)."""
    try:
        with open(path, "rb") as f:
            return f.read(6) == b"\x93NUMPY"
    except OSError:
        return False


def read_npy(path, n):
    """The first n samples of a .npy file (never unpickled). Its header must declare the
    bytes the file holds; only the first n samples are read into memory."""
    try:
        with open(path, "rb") as f:
            version = npy_format.read_magic(f)
            read_header = (npy_format.read_array_header_1_0 if version == (1, 0)
                           else npy_format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
            header, size = f.tell(), os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        fail(f"no such file: {path}")
    except (ValueError, OSError) as exc:
        fail(f"{path} is not a readable .npy of samples: {printable(str(exc))}")
    if dtype.hasobject:
        fail(f"{path} holds pickled (object) arrays, which tinygan never loads")
    declared = math.prod(shape) * dtype.itemsize
    if header + declared != size:
        fail(f"{path}: its header declares shape {shape} of {dtype} ({declared} bytes), "
             f"but the file holds {size - header} bytes after it")
    if declared == 0:
        return np.zeros(shape, dtype)
    samples = np.load(path, mmap_mode="r", allow_pickle=False)   # nothing read yet
    return np.array(samples[:n] if samples.ndim else samples)


def dataset_of(path, given):
    """The data set whose classifier scores the samples: --dataset, else the one a
    checkpoint's run trained on, else MNIST; a flag that contradicts the run is an error."""
    if is_npy(path) or path.suffix != ".npz":
        return given or "mnist"
    try:
        settings = load_checkpoint(path).meta.get("args")
    except (FileNotFoundError, ValueError):
        return given or "mnist"          # draw() has said what is wrong with the file
    trained = settings.get("dataset", "mnist") if isinstance(settings, dict) else "mnist"
    if trained not in data.TITLES:
        fail(f"{path}: its metadata says dataset: {printable(repr(trained), 60)}; expected "
             f"one of {', '.join(sorted(data.TITLES))}")
    if given is not None and given != trained:
        fail(f"--dataset {given}, but {path} was trained on {trained}: its samples are scored "
             f"by the {trained} classifier (leave --dataset out)")
    return trained


def draw(path, n, seed, device, num_classes=None, live=False):
    """(n samples as float32 (n, 784) in [0, 1], their classes or None, the epoch, which
    model drew them)."""
    model, z_dim, conditional, epoch, which = load_model(path, device, None, num_classes, live)
    labels = np.arange(n) % NUM_CLASSES if conditional else None   # each class n/10 times
    rng = backend.RandomStream(seed, device)
    samples = check_finite(generate(model, n, z_dim, device, None, rng, labels), path)
    return samples, labels, epoch, which


def main(argv=None):
    args = parse_args(argv)
    device = choose_device(args.backend)
    path = Path(args.source)
    if path.suffix == ".npy" or is_npy(path):
        if args.live:
            fail(f"--live picks the live G of a checkpoint with an EMA of G; {path} holds "
                 "samples")
        samples, labels, epoch, which = read_npy(path, args.num_samples), None, None, None
    else:
        samples, labels, epoch, which = draw(path, args.num_samples, args.seed, device,
                                             args.num_classes, args.live)
    try:
        samples = as_samples(samples)   # checked before the classifier is trained or read
    except ValueError as exc:
        fail(f"{path}: {exc}")
    dataset = dataset_of(path, args.dataset)
    try:
        classifier = load_classifier(args.data_dir, device, dataset=dataset)
    except (data.DatasetNotFound, data.ChecksumError) as exc:
        fail(f"{one_line(exc)} (the evaluator's classifier needs {data.TITLES[dataset]}: "
             "--data-dir)")
    try:
        scores = evaluate(samples, labels, classifier=classifier)
    except ValueError as exc:
        fail(f"{path}: {exc}")
    scores = {"source": str(path), "epoch": epoch, "model": which, "dataset": dataset,
              "classifier_accuracy": classifier.accuracy, **scores}
    if args.json:
        print(json.dumps(scores))
    else:
        print(f"{path}" + (f" ({which}, epoch {epoch})" if epoch is not None else "")
              + f", classifier test accuracy {100 * classifier.accuracy:.2f}%")
        print(format_scores(scores, dataset))
    return 0


if __name__ == "__main__":
    run_script(main)
