"""Weights files PyTorch reads: a module's parameters and buffers in safetensors, PyTorch's names.

The way on to PyTorch, and back::

    save_weights(G, "generator.safetensors")                  # tinygan
    G.load_state_dict(safetensors.torch.load_file("generator.safetensors"))   # PyTorch
    load_weights(G, "trained_in_pytorch.safetensors")         # tinygan again

Names and shapes are those of PyTorch's ``state_dict()`` for the same architecture
(``gen.0.0.weight``, BatchNorm's ``running_mean``, ``running_var``, ``num_batches_tracked``);
floats keep the dtype they have (float32), ``num_batches_tracked`` is int64 as in PyTorch. The
file is written with the ``safetensors`` package's NumPy API: a JSON header, then the raw
little-endian bytes, never a pickle. Like every file tinygan writes, atomically.
A float16 or bfloat16 file (PyTorch's half-precision exports) is read as float32.

tinygan adds string metadata that PyTorch ignores: the format, the layout it recognised
(e.g. ``course generator``), the number of classes of a conditional model, and a CRC-32 of
each tensor's bytes, so that a byte altered on disk is reported instead of loaded. A file
written by PyTorch has none of it: :func:`identify` recognises the course's models from the
names and shapes alone.

Loading checks everything before it copies anything: the file itself, the checksums, then
every name, shape and dtype against the module; only then are the values copied into the
module's existing arrays. A bad file raises one :class:`WeightsError` that names the file and
the first mismatch, and the module is left as it was.

Training checkpoints stay ``.npz`` (``checkpoint.py``): they hold tinygan's optimizer state,
counters and random streams, which PyTorch could not use anyway. This file is the hand-over.
"""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import backend
from ..tensor import Tensor, no_grad
from .cli import printable
from .files import atomic_write

FORMAT = "tinygan-weights-1"


class WeightsError(ValueError):
    """A weights file that cannot be loaded: the message names the file and the first problem."""


class WeightsFile(NamedTuple):
    """A weights file read and checked: ``tensors`` (name -> host array, PyTorch's order when
    the layout is known) and ``metadata`` (str -> str; empty for a file PyTorch wrote)."""
    path: Path
    tensors: dict
    metadata: dict


class Layout(NamedTuple):
    """What a file holds: ``kind`` (e.g. "course generator") and the sizes that build it
    (``in_dim`` is the first layer's input: the noise, or the image, plus any classes)."""
    kind: str
    dims: dict


# === writing =====================================================================================

def save_weights(module, path, metadata=None):
    """Write ``module``'s parameters and buffers (or a state_dict of host arrays) to ``path``
    in safetensors, atomically; ``metadata``: extra entries, written as strings.

    For a conditional model pass its network (``G.net``, the course's generator taking noise
    and the one-hot class side by side) with ``{"num_classes": "10"}``: PyTorch's names.
    """
    state = module.state_dict() if hasattr(module, "state_dict") else dict(module)
    tensors = {}
    for name, value in state.items():   # state_dict: one device-to-host copy per array
        tensors[name] = np.asarray(backend.to_numpy(value), order="C")  # keeps 0-d
    info = {"format": FORMAT}
    layout = _recognise({k: v.shape for k, v in tensors.items()})
    if layout is not None:
        info["layout"] = layout.kind
    info.update({str(k): str(v) for k, v in (metadata or {}).items()})
    info["crc32"] = json.dumps({name: _crc32(array) for name, array in tensors.items()})
    from safetensors.numpy import save   # imported here: tinygan imports without it
    with atomic_write(path) as f:
        f.write(save(tensors, metadata=info))


def _crc32(array):
    flat = np.asarray(array, order="C").reshape(-1).view(np.uint8)  # the bytes as stored
    return f"{zlib.crc32(flat):08x}"


# === reading =====================================================================================

def read_weights(path):
    """Read and check a safetensors file (any writer): a :class:`WeightsFile` of host arrays.

    Raises WeightsError (a ValueError) for a file that is missing, not safetensors, cut
    short, or whose bytes no longer match the checksums tinygan wrote; never unpickles.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WeightsError(f"no weights file at {path}") from None
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    from safetensors import SafetensorError, deserialize
    try:
        entries = deserialize(raw)
    except SafetensorError as exc:
        reason = str(exc).replace("Error while deserializing header: ", "").replace(
            "Error while deserializing: ", "")
        raise WeightsError(f"{path} is not a readable safetensors file: {reason} (a file cut "
                           "short or altered, or not safetensors)") from None
    tensors = {name: _host_array(path, name, entry) for name, entry in entries}
    (length,) = struct.unpack("<Q", raw[:8])          # safetensors checked the header already
    metadata = json.loads(raw[8:8 + length]).get("__metadata__") or {}
    layout = _recognise({k: v.shape for k, v in tensors.items()})
    if layout is not None:   # PyTorch's order: "the first mismatch" means the first layer's
        tensors = {k: tensors[k] for k in layout_spec(layout.kind, **layout.dims)}
    weights = WeightsFile(path, tensors, metadata)
    _check_crc32(weights)
    return weights


# safetensors' dtype names -> NumPy's, little-endian as the format stores them
_DTYPES = {"F64": "<f8", "F32": "<f4", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def _host_array(path, name, entry):
    """One tensor of a safetensors file as a host array; half precision (PyTorch's float16
    and bfloat16 exports) becomes float32, which tinygan's models hold, exactly."""
    kind, data, shape = entry["dtype"], entry["data"], entry["shape"]
    if kind == "BF16":   # bfloat16 is the top 16 bits of a float32
        bits = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    if kind == "F16":
        return np.frombuffer(data, dtype="<f2").astype(np.float32).reshape(shape)
    if kind not in _DTYPES:
        raise WeightsError(f"{path}: tensor {printable(name, 80)} is stored as "
                           f"{printable(kind, 20)}, which tinygan cannot read (expected F32, "
                           "F16 or BF16 weights)")
    return np.frombuffer(data, dtype=_DTYPES[kind]).reshape(shape)


def _check_crc32(weights):
    if "crc32" not in weights.metadata:
        return                   # a file PyTorch wrote: safetensors' own checks are all there is
    try:
        sums = json.loads(weights.metadata["crc32"])
    except ValueError:
        raise WeightsError(f"{weights.path}: its checksums (metadata 'crc32') are not "
                           "readable JSON: the header was altered") from None
    for name, array in weights.tensors.items():
        if name not in sums:
            raise WeightsError(f"{weights.path}: tensor {name} has no checksum: the file "
                               "was altered after tinygan wrote it")
        if _crc32(array) != sums[name]:
            raise WeightsError(f"{weights.path}: the bytes of {name} do not match the "
                               f"checksum written with them (CRC-32 {_crc32(array)}, expected "
                               f"{sums[name]}): the file was altered or damaged")
    for name in sums:
        if name not in weights.tensors:
            raise WeightsError(f"{weights.path}: tensor {name} is missing, though tinygan "
                               "wrote it: the file was altered")


# === loading into a module =======================================================================

def load_weights(module, source):
    """Copy a weights file (a path or a :class:`WeightsFile`) into ``module``, all or nothing.

    Every name, shape and dtype is checked against the module first; the first mismatch
    raises WeightsError naming the file, and the module keeps its values. Then each value is
    copied into the module's existing array (on its device).
    """
    weights = source if isinstance(source, WeightsFile) else read_weights(source)
    own = _own_tensors(module)
    expected = {name: (tensor.shape, np.dtype(tensor.dtype)) for name, tensor in own.items()}
    problem = first_mismatch(expected, weights.tensors)
    if problem:
        raise WeightsError(f"{weights.path} does not fit this {type(module).__name__}: "
                           f"{problem}{_which(weights)}")
    with no_grad():
        for name, tensor in own.items():
            value = backend.to_device(weights.tensors[name], tensor.device)  # once to the device
            tensor.copy_(Tensor(value))


def _own_tensors(module):
    """name -> Tensor, parameters and buffers, in state_dict's order (module by module)."""
    order = {name: i for i, (name, _) in enumerate(module.named_modules())}
    own = dict(module.named_parameters())
    own.update(module.named_buffers())
    return dict(sorted(own.items(), key=lambda item: order[item[0].rpartition(".")[0]]))


def _which(weights):
    layout = identify(weights, required=False)
    if layout is None:
        return ""
    sizes = ", ".join(f"{k} {v}" for k, v in layout.dims.items())
    return f" (the file holds a {layout.kind}: {sizes})"


def first_mismatch(expected, tensors):
    """The first difference between ``expected`` (name -> (shape, dtype or None)) and a
    file's ``tensors`` (name -> array) as one phrase, in ``expected``'s order; None if none."""
    extra = [name for name in tensors if name not in expected]
    for name, (shape, dtype) in expected.items():
        if name not in tensors:
            instead = f"; it has {name_list(extra)} instead" if extra else ""
            return f"it has no {name} (expected shape {tuple(shape)}){instead}"
        got = tensors[name]
        if tuple(got.shape) != tuple(shape):
            return f"{name} has shape {tuple(got.shape)}, expected {tuple(shape)}"
        if dtype is not None and got.dtype != dtype:
            return f"{name} is {got.dtype}, expected {np.dtype(dtype)}"
    if extra:
        return f"it has {name_list(extra)}, which the model has not"
    return None


def unusable_value(tensors):
    """The first value a trained model cannot hold, as one phrase (None if none): a NaN or
    inf in a float array, or a negative BatchNorm running_var (its square root is NaN).
    Either makes every sample NaN: a black picture, unless it is said here."""
    for name, array in tensors.items():
        array = np.asarray(array)
        if array.dtype.kind != "f":
            continue
        bad = ~np.isfinite(array)
        if bad.any():
            return f"{name} holds {int(bad.sum())} NaN or infinite value(s)"
        if name.endswith("running_var") and (array < 0).any():
            return f"{name} holds {int((array < 0).sum())} negative variance(s)"
    return None


def name_list(names, most=3):
    shown = ", ".join(printable(name, 80) for name in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


# === the course's models, recognised from names and shapes =======================================
# Each layout: (sizes read from a few keys' shapes, or None; every name -> shape and dtype).
# This is what PyTorch's state_dict() of the course's definitions holds, as data: utils does
# not import the models (tests/test_safetensors.py checks these against both libraries).

FLOAT, COUNT = np.dtype(np.float32), np.dtype(np.int64)


def _linear(name, out_dim, in_dim):
    return {f"{name}.weight": ((out_dim, in_dim), FLOAT), f"{name}.bias": ((out_dim,), FLOAT)}


def _batchnorm(name, n):
    return {f"{name}.weight": ((n,), FLOAT), f"{name}.bias": ((n,), FLOAT),
            f"{name}.running_mean": ((n,), FLOAT), f"{name}.running_var": ((n,), FLOAT),
            f"{name}.num_batches_tracked": ((), COUNT)}


def course_generator(in_dim, hidden_dim, im_dim):
    """gan.Generator: four Linear + BatchNorm1d + ReLU blocks (h, 2h, 4h, 8h), then Linear."""
    widths, spec = [in_dim] + [hidden_dim * 2 ** i for i in range(4)], {}
    for i in range(4):
        spec |= _linear(f"gen.{i}.0", widths[i + 1], widths[i])
        spec |= _batchnorm(f"gen.{i}.1", widths[i + 1])
    return spec | _linear("gen.4", im_dim, widths[-1])


def course_discriminator(in_dim, hidden_dim):
    """gan.Discriminator: Linear + LeakyReLU blocks (4h, 2h, h), then Linear to one logit."""
    widths, spec = [in_dim, 4 * hidden_dim, 2 * hidden_dim, hidden_dim], {}
    for i in range(3):
        spec |= _linear(f"disc.{i}.0", widths[i + 1], widths[i])
    return spec | _linear("disc.3", 1, hidden_dim)


def vanilla_generator(in_dim, hidden_dim, im_dim):
    """gan.VanillaGenerator: Linear layers at 0, 2, 4, 6 (2h, 4h, 8h, image)."""
    widths = [in_dim, 2 * hidden_dim, 4 * hidden_dim, 8 * hidden_dim, im_dim]
    spec = {}
    for i in range(4):
        spec |= _linear(f"gen.{2 * i}", widths[i + 1], widths[i])
    return spec


def vanilla_discriminator(in_dim, hidden_dim):
    """gan.VanillaDiscriminator: Linear layers at 0, 3, 6, 9 (8h, 4h, 2h, 1)."""
    widths = [in_dim, 8 * hidden_dim, 4 * hidden_dim, 2 * hidden_dim, 1]
    spec = {}
    for i in range(4):
        spec |= _linear(f"disc.{3 * i}", widths[i + 1], widths[i])
    return spec


def _conv(name, shape):
    return {f"{name}.weight": (shape, FLOAT), f"{name}.bias": ((shape[0],), FLOAT)}


def dcgan_generator(in_dim, hidden_dim, im_dim=784):
    """dcgan.DCGANGenerator: ConvTranspose2d + BatchNorm2d blocks (4h, 2h, h channels;
    kernels 3, 4, 3), then a ConvTranspose2d (kernel 4) to one channel of 28×28."""
    widths = [in_dim, 4 * hidden_dim, 2 * hidden_dim, hidden_dim, 1]
    kernels, spec = (3, 4, 3, 4), {}
    for i in range(4):   # a transposed convolution's weight is (in, out, kH, kW)
        spec |= {f"gen.{i}.0.weight": ((widths[i], widths[i + 1], kernels[i], kernels[i]),
                                       FLOAT), f"gen.{i}.0.bias": ((widths[i + 1],), FLOAT)}
        if i < 3:
            spec |= _batchnorm(f"gen.{i}.1", widths[i + 1])
    return spec


def _strided_convolutions(name, hidden_dim, batch_norm=True):
    """dcgan's discriminator and critic: Conv2d (kernel 4) + BatchNorm2d blocks (h, 2h
    channels), then a Conv2d to one score, under ``name`` (disc or crit)."""
    widths, spec = [1, hidden_dim, 2 * hidden_dim, 1], {}
    for i in range(3):
        spec |= _conv(f"{name}.{i}.0", (widths[i + 1], widths[i], 4, 4))
        if i < 2 and batch_norm:
            spec |= _batchnorm(f"{name}.{i}.1", widths[i + 1])
    return spec


def dcgan_discriminator(hidden_dim):
    """dcgan.DCGANDiscriminator: under ``disc``, ``hidden_dim`` its own width (16)."""
    return _strided_convolutions("disc", hidden_dim)


def wgan_critic(hidden_dim):
    """dcgan.Critic: under ``crit``, ``hidden_dim`` its own width (64)."""
    return _strided_convolutions("crit", hidden_dim)


def plain_wgan_critic(hidden_dim):
    """dcgan.Critic(batch_norm=False): the three convolutions alone."""
    return _strided_convolutions("crit", hidden_dim, batch_norm=False)


def vae(im_dim, hidden_dim, z_dim):
    """vae.VAE: encoder.0, to_mean, to_logvar, decoder.0, decoder.2."""
    return (_linear("encoder.0", hidden_dim, im_dim) | _linear("to_mean", z_dim, hidden_dim)
            | _linear("to_logvar", z_dim, hidden_dim) | _linear("decoder.0", hidden_dim, z_dim)
            | _linear("decoder.2", im_dim, hidden_dim))


def _sizes(shapes, key, read):
    """read(shape) for a 2-D ``key``, or None when the key is absent or not a matrix."""
    shape = shapes.get(key)
    return read(*shape) if shape is not None and len(shape) == 2 else None


def _kernel_sizes(shapes, key, read):
    """read(shape) for a 4-D ``key`` (a convolution's weight), or None."""
    shape = shapes.get(key)
    return read(*shape) if shape is not None and len(shape) == 4 else None


def _critic_width(shapes):
    """A critic's sizes, with or without its BatchNorms: its first convolution's width."""
    return _kernel_sizes(shapes, "crit.0.0.weight", lambda h, *_: {"hidden_dim": h})


def _both(first, second):
    return None if first is None or second is None else first | second


_LAYOUTS = {
    "course generator": (lambda s: _both(
        _sizes(s, "gen.0.0.weight", lambda h, z: {"in_dim": z, "hidden_dim": h}),
        _sizes(s, "gen.4.weight", lambda im, _: {"im_dim": im})), course_generator),
    "course discriminator": (lambda s: _both(
        _sizes(s, "disc.0.0.weight", lambda _, im: {"in_dim": im}),
        _sizes(s, "disc.3.weight", lambda _, h: {"hidden_dim": h})), course_discriminator),
    "vanilla generator": (lambda s: _both(
        _sizes(s, "gen.0.weight", lambda h2, z: {"in_dim": z, "hidden_dim": h2 // 2}),
        _sizes(s, "gen.6.weight", lambda im, _: {"im_dim": im})), vanilla_generator),
    "vanilla discriminator": (lambda s: _both(
        _sizes(s, "disc.0.weight", lambda _, im: {"in_dim": im}),
        _sizes(s, "disc.9.weight", lambda _, h2: {"hidden_dim": h2 // 2})), vanilla_discriminator),
    "dcgan generator": (lambda s: _kernel_sizes(
        s, "gen.0.0.weight", lambda z, h4, *_: {"in_dim": z, "hidden_dim": h4 // 4}),
        dcgan_generator),
    "dcgan discriminator": (lambda s: _kernel_sizes(
        s, "disc.0.0.weight", lambda h, *_: {"hidden_dim": h}), dcgan_discriminator),
    "wgan-gp critic": (_critic_width, wgan_critic),
    "wgan-gp critic without batchnorm": (_critic_width, plain_wgan_critic),
    "vae": (lambda s: _both(
        _sizes(s, "encoder.0.weight", lambda h, im: {"im_dim": im, "hidden_dim": h}),
        _sizes(s, "to_mean.weight", lambda z, _: {"z_dim": z})), vae),
}
KINDS = tuple(_LAYOUTS)


def layout_spec(kind, **dims):
    """name -> (shape, dtype) of a layout, in PyTorch's state_dict order."""
    return _LAYOUTS[kind][1](**dims)


def _recognise(shapes):
    """The Layout whose names and shapes are exactly ``shapes`` (name -> shape), or None."""
    for kind, (read, build) in _LAYOUTS.items():
        dims = read(shapes)
        if dims and min(dims.values()) > 0:
            spec = build(**dims)
            if set(spec) == set(shapes) and all(tuple(shapes[name]) == shape
                                                for name, (shape, _) in spec.items()):
                return Layout(kind, dims)
    return None


def identify(weights, required=True):
    """The :class:`Layout` of a :class:`WeightsFile`, from its names and shapes (metadata
    is not needed: a file PyTorch wrote has none). With ``required``, a file that is no
    layout tinygan knows raises WeightsError with the first mismatch against the layout
    its keys point to, or the keys it has; otherwise None."""
    shapes = {k: tuple(v.shape) for k, v in weights.tensors.items()}
    layout = _recognise(shapes)
    if layout is not None:
        for name, (_, dtype) in layout_spec(layout.kind, **layout.dims).items():
            got = weights.tensors[name].dtype
            if got != dtype:
                if required:
                    raise WeightsError(f"{weights.path}: a {layout.kind}, but {name} is "
                                       f"{got}, expected {dtype}")
                return None
        return layout
    if not required:
        return None
    for kind, (read, build) in _LAYOUTS.items():
        dims = read(shapes)
        if dims:
            problem = first_mismatch(build(**dims), weights.tensors)
            raise WeightsError(f"{weights.path}: its names are those of a {kind}, but {problem}")
    raise WeightsError(
        f"{weights.path}: not a model tinygan knows (expected the course's, the vanilla or the "
        f"DCGAN generator or discriminator, the WGAN-GP critic, or the VAE, under PyTorch's "
        f"names such as gen.0.0.weight); "
        f"it holds {name_list(list(weights.tensors)) or 'no tensors'}")


def model_spec(kind, prefix="", **dims):
    """``layout_spec`` under a prefix (a conditional model's network is ``net.``): what a
    checkpoint's module must hold for the sizes its metadata gives, checked before building."""
    return {f"{prefix}{name}": spec for name, spec in layout_spec(kind, **dims).items()}


def gan_specs(arch, z_dim, hidden_dim, num_classes=0, im_dim=784):
    """(generator, discriminator) specs of ``build_models(z_dim, hidden_dim, im_dim, arch,
    num_classes)`` under tinygan's state_dict names, without building anything."""
    # The convolutional ones are unconditional; D's width is as tinygan.gan builds it, and
    # the padding changes no weight's shape.
    if arch in ("dcgan", "dcgan-padded", "dcgan-wide"):
        d_width = 64 if arch == "dcgan-wide" else max(1, hidden_dim // 4)   # gan.WIDE_D_WIDTH
        return (model_spec("dcgan generator", in_dim=z_dim, hidden_dim=hidden_dim),
                model_spec("dcgan discriminator", hidden_dim=d_width))
    if arch in ("wgan-gp", "wgan-gp-padded", "wgan-gp-padded-nobn"):
        critic = "wgan-gp critic" + (" without batchnorm" if arch.endswith("nobn") else "")
        return (model_spec("dcgan generator", in_dim=z_dim, hidden_dim=hidden_dim),
                model_spec(critic, hidden_dim=hidden_dim))
    prefix = "net." if num_classes else ""
    return (model_spec(f"{arch} generator", prefix, in_dim=z_dim + num_classes,
                       hidden_dim=hidden_dim, im_dim=im_dim),
            model_spec(f"{arch} discriminator", prefix, in_dim=im_dim + num_classes,
                       hidden_dim=hidden_dim))
