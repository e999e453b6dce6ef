"""MNIST and Fashion-MNIST: find the files, check them, read them, batch them.

Three layers, each usable on its own:

1. :func:`read_idx` parses one IDX file (gzip-compressed or raw) into a NumPy
   array, refusing anything whose header and length disagree.
2. :func:`find_dataset_dir` finds a folder holding the four canonical files
   (only the ``data_dir`` argument when given; else ``$TINYGAN_DATA``, then the
   cache ``~/.cache/tinygan/<dataset>``), downloads what is missing into the
   cache, and checks every file's SHA-256 against :data:`SHA256`.
   :func:`load_mnist` builds on it and returns ``(images, labels)`` for a split.
3. :class:`DataLoader` turns those host arrays into shuffled batches of
   tinygan Tensors on a device, copying the data to the device once. It also
   batches a :class:`Dataset` (e.g. a :class:`TensorDataset`) as PyTorch's does.

Example::

    images, labels = load_mnist("mnist", train=True, data_dir="../shared/data")
    loader = DataLoader(images, 64, labels=labels, device="cuda", seed=0)
    for x, y in loader:          # x: (64, 784) float32 in [0, 1]
        ...
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from .. import backend
from ..functional import stack
from ..factories import tensor
from ..tensor import Tensor
from .files import atomic_write

# --- the datasets ------------------------------------------------------------

TITLES = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}

# Each split is an (images file, labels file) pair; both datasets use the same names.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FILE_NAMES = SPLIT_FILES["train"] + SPLIT_FILES["test"]

# SHA-256 of the canonical .gz files. Computed from copies whose MD5 matched the
# published values (those torchvision checks), so these are the same files.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

# Tried in order. Plain http is acceptable because every download is checked
# against SHA256 before it is used.
MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "http://yann.lecun.com/exdb/mnist/"),
    "fashion": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

# Sub-folder names accepted under a data directory, so that both
# --data-dir ../shared/data/mnist and --data-dir ../shared/data work.
SUBFOLDERS = {"mnist": ("mnist",), "fashion": ("fashion-mnist", "fashion")}

DOWNLOAD_TIMEOUT = 30  # seconds without data before a mirror counts as failed
ENV_VAR = "TINYGAN_DATA"


class DatasetNotFound(FileNotFoundError):
    """The dataset's files are nowhere we looked and could not be downloaded."""


class ChecksumError(ValueError):
    """A dataset file is not the canonical one (corrupt, truncated or another file)."""


def dataset_name(dataset: str) -> str:
    """"mnist" or "fashion" for any accepted spelling (e.g. "Fashion-MNIST")."""
    name = str(dataset).strip().lower().replace("_", "-")
    if name in ("fashion-mnist", "fashionmnist"):
        name = "fashion"
    if name not in TITLES:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {sorted(TITLES)}")
    return name


# --- reading IDX files ----------------------------------------------------------

# IDX type codes (third header byte) and their big-endian NumPy dtypes.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzip-compressed if its name ends in ``.gz``) into an array.

    The header is two zero bytes, a type code (0x08 is uint8), the number of
    dimensions, then each dimension as a big-endian int32; the payload must
    hold exactly their product of values. Anything else raises ValueError
    naming the file, so a truncated download can never become a short array.
    The result is a writable array in native byte order.
    """
    path = Path(path)
    data = _read_bytes(path)
    dtype, dims, header_size = _parse_idx_header(path, data)
    expected = math.prod(dims) * dtype.itemsize  # Python ints: no overflow
    found = len(data) - header_size
    if found != expected:
        raise ValueError(f"{path}: IDX header announces shape {dims} of {dtype.name}, "
                         f"i.e. {expected} payload bytes, but the file holds {found}")
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a copy: writable, native order


def _read_bytes(path: Path) -> bytes:
    """The file's (decompressed) bytes; a damaged gzip stream becomes a ValueError."""
    with open(path, "rb") as raw:  # a missing file stays a FileNotFoundError
        if path.suffix != ".gz":
            return raw.read()
        try:
            with gzip.GzipFile(fileobj=raw) as stream:
                return stream.read()
        except (EOFError, zlib.error, OSError) as exc:
            # EOFError: truncated; BadGzipFile (an OSError): not gzip, or bad CRC.
            raise ValueError(f"{path}: damaged or truncated gzip file "
                             f"({type(exc).__name__}: {exc})") from exc


def _parse_idx_header(path: Path, data: bytes):
    """(dtype, dims, header size in bytes) from an IDX header, or ValueError."""
    if len(data) < 4:
        raise ValueError(f"{path}: expected an IDX header of at least 4 bytes, "
                         f"found a file of {len(data)} bytes")
    magic = int.from_bytes(data[:4], "big")
    type_code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or type_code not in IDX_DTYPES:
        raise ValueError(f"{path}: bad IDX magic number 0x{magic:08X}; expected "
                         "0x0000TTNN (TT a type code such as 08 for uint8, NN the "
                         "number of dimensions), e.g. 0x00000803 for images or "
                         "0x00000801 for labels")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{path}: magic 0x{magic:08X} announces {ndim} dimensions, "
                         f"i.e. a {header_size}-byte header, but the file holds "
                         f"{len(data)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    return np.dtype(IDX_DTYPES[type_code]), dims, header_size


# --- checksums -------------------------------------------------------------------

# Files already verified in this process, keyed by (path, size, mtime, expected
# hash), so a file is hashed once but a replaced file is hashed again.
_verified = set()


def sha256_of(path) -> str:
    """The SHA-256 of a file, as lowercase hex (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(path, expected: str) -> None:
    """Raise ChecksumError unless the file's SHA-256 is ``expected`` (cached per process)."""
    path = Path(path).resolve()
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns, expected)
    if key in _verified:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(_checksum_message(path, expected, actual, "Replace it "
                                              "with the original file."))
    _verified.add(key)


def _checksum_message(source, expected, actual, advice) -> str:
    return (f"checksum mismatch for {source}: expected SHA-256 {expected}, found {actual}. "
            "The file is corrupt, truncated or not the canonical one (another "
            f"dataset?); it was not used. {advice}")


# --- finding the files ---------------------------------------------------------------

def cache_dir(dataset: str = "mnist") -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/tinygan/<dataset>``, else ``~/.cache/tinygan/...``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "tinygan" / dataset_name(dataset)


def find_dataset_dir(dataset: str = "mnist", data_dir=None, download: bool = True) -> Path:
    """The folder holding the dataset's four files, checksums verified.

    A folder counts if it holds the four files itself or in a sub-folder named
    after the dataset (``mnist``; ``fashion-mnist`` or ``fashion``).

    - ``data_dir`` given: that folder is the only place looked, never the
      cache or a download (a folder you name is the one you meant). If it lacks
      files, the :class:`DatasetNotFound` says which, and where.
    - Otherwise ``$TINYGAN_DATA``, then :func:`cache_dir`; if neither holds
      the files and ``download`` is true, the missing ones are downloaded into
      the cache. :class:`DatasetNotFound` lists every place looked.

    Both errors are FileNotFoundErrors; a file that is not canonical raises
    :class:`ChecksumError`.
    """
    name = dataset_name(dataset)
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        found = _folder_with_files(root, name) if root.is_dir() else None
        if found is None:
            raise DatasetNotFound(_not_in_named_folder_message(name, root))
        _check_folder(found, name)
        return found

    places = []  # (origin, root or None), in search order
    env_value = os.environ.get(ENV_VAR)
    places.append((f"${ENV_VAR}", Path(env_value).expanduser() if env_value else None))
    cache = cache_dir(name)
    places.append(("download cache", cache))

    for _, root in places:
        found = _folder_with_files(root, name) if root is not None else None
        if found is not None:
            _check_folder(found, name)
            return found

    if not download:
        note = "downloading is off (download=False)"
        raise DatasetNotFound(_not_found_message(name, places, note))
    failure = _download_missing(name, cache)
    if failure is not None:
        raise DatasetNotFound(_not_found_message(name, places, failure))
    _check_folder(cache, name)
    return cache


def download_into(dataset: str, folder) -> Path:
    """Download the canonical files that ``folder`` lacks into it, then check all four.

    What :func:`find_dataset_dir` does for its cache, for a folder you choose (as
    torchvision's ``download=True`` fills ``root/MNIST/raw``). Every file is checked
    against :data:`SHA256`; a failed download raises :class:`DatasetNotFound`.
    """
    name, folder = dataset_name(dataset), Path(folder).expanduser()
    failure = _download_missing(name, folder)
    if failure is not None:
        raise DatasetNotFound(f"{TITLES[name]} could not be downloaded into {folder}: "
                              f"{failure}")
    _check_folder(folder, name)
    return folder


def _not_in_named_folder_message(name, root: Path) -> str:
    """Why the folder the user named does not hold the dataset: the missing files there."""
    title = TITLES[name]
    subs = " or ".join(f"{s}/" for s in SUBFOLDERS[name])
    if root.exists() and not root.is_dir():
        problem = f"{root} (data_dir argument / --data-dir) is a file, not a folder"
    elif not root.exists():
        problem = f"{root} (data_dir argument / --data-dir): no such directory"
    else:
        lines = [f"{root} (data_dir argument / --data-dir) does not hold all four files:"]
        for folder in (root, *(root / sub for sub in SUBFOLDERS[name])):
            if folder == root or folder.is_dir():
                missing = [f for f in FILE_NAMES if not (folder / f).is_file()]
                lines.append(f"  - missing in {folder}: {', '.join(missing)}")
        problem = "\n".join(lines)
    fix = (f"pass the folder that holds {', '.join(FILE_NAMES)} (or a sub-folder {subs})"
           if root.exists() and not root.is_dir() else
           f"put {', '.join(FILE_NAMES)} in that folder or in a sub-folder {subs}")
    return (f"{title} files not found: {problem}\n"
            f"Only the folder you name is looked in (not ${ENV_VAR}, the cache or a "
            f"download). Fix: {fix}, or leave out --data-dir (data_dir=None) to use "
            f"${ENV_VAR}, the cache or a download")


def _folder_with_files(root: Path, name: str):
    """root, or its dataset-named sub-folder, if it holds all four files; else None."""
    for folder in (root, *(root / sub for sub in SUBFOLDERS[name])):
        if all((folder / f).is_file() for f in FILE_NAMES):
            return folder
    return None


def _check_folder(folder: Path, name: str) -> None:
    for file_name in FILE_NAMES:
        check_sha256(folder / file_name, SHA256[name][file_name])


def _not_found_message(name, places, download_note) -> str:
    """One message: every place looked, why downloading did not help, what to do."""
    subs = " or ".join(f"{s}/" for s in SUBFOLDERS[name])
    lines = [f"{TITLES[name]} files not found. Looked for {', '.join(FILE_NAMES)} in:"]
    for origin, root in places:
        if root is None:
            lines.append(f"  - {origin}: not set")
        elif root.exists() and not root.is_dir():
            lines.append(f"  - {root} ({origin}): is a file, not a folder")
        elif not root.is_dir():
            lines.append(f"  - {root} ({origin}): no such directory")
        else:
            lines.append(f"  - {root} ({origin}): not all four files there, nor in {subs}")
    lines.append(f"Download: {download_note}")
    lines.append(f"Fix: pass --data-dir DIR (data_dir=DIR in Python) or set {ENV_VAR}=DIR, "
                 f"where DIR holds the four files or a sub-folder {subs}")
    return "\n".join(lines)


# --- downloading ----------------------------------------------------------------------

def _download_missing(name: str, cache: Path):
    """Download the files the cache lacks; None on success, else why it failed (short).

    A file that downloads but fails its checksum raises ChecksumError at once:
    that is not a network problem, and another mirror should not hide it.
    """
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the cache folder {cache} ({exc})"
    for file_name in FILE_NAMES:
        if (cache / file_name).is_file():
            continue
        errors = []
        for mirror in MIRRORS[name]:
            try:
                _download(mirror + file_name, cache / file_name, SHA256[name][file_name])
                break
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                errors.append(f"{mirror + file_name}: {_short_reason(exc)}")
        else:
            return "every mirror failed: " + "; ".join(errors)
    return None


def _short_reason(exc) -> str:
    reason = getattr(exc, "reason", None) if isinstance(exc, urllib.error.URLError) else None
    return str(reason or exc) or type(exc).__name__


def _download(url: str, dest: Path, expected_sha256: str) -> None:
    """Fetch url to dest atomically: temp file in dest's folder, verify, then rename.

    Either dest ends up complete and verified, or it does not exist; a temp file
    is never left behind.
    """
    # A User-Agent because some servers refuse urllib's default one. Called as
    # urllib.request.urlopen (not imported by name) so tests can replace it.
    request = urllib.request.Request(url, headers={"User-Agent": "tinygan"})
    with atomic_write(dest) as out, \
            urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
        actual = _copy_with_progress(response, out, dest.name)
        if actual != expected_sha256:  # raising here leaves dest untouched
            raise ChecksumError(_checksum_message(url, expected_sha256, actual, "Nothing "
                                                  "was saved; try again, or download it "
                                                  "yourself and pass --data-dir."))


def _copy_with_progress(response, out, label: str) -> str:
    """Copy the response body into out under a tqdm bar; return its SHA-256."""
    from tqdm import tqdm  # only downloads draw a bar; reading local files needs no tqdm
    size = response.headers.get("Content-Length")
    digest = hashlib.sha256()
    with tqdm(total=int(size) if size else None, unit="B", unit_scale=True,
              desc=f"downloading {label}") as bar:
        for chunk in iter(lambda: response.read(1 << 16), b""):
            out.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


# --- loading a split ---------------------------------------------------------------------

def load_mnist(dataset: str = "mnist", train: bool = True, data_dir=None,
               download: bool = True):
    """(images, labels) of a split as host NumPy arrays.

    images: uint8 of shape (N, 28, 28); labels: uint8 of shape (N,). N is
    60,000 for ``train=True`` and 10,000 for the test split. See
    :func:`find_dataset_dir` for where the files are looked for.
    """
    folder = find_dataset_dir(dataset, data_dir=data_dir, download=download)
    images_file, labels_file = SPLIT_FILES["train" if train else "test"]
    return read_images_and_labels(folder / images_file, folder / labels_file)


def read_images_and_labels(images_path, labels_path):
    """(images, labels) from an images IDX file and a labels IDX file, as :func:`load_mnist`
    returns them, after the same checks: uint8 (N, 28, 28) images, N labels 0-9.
    """
    images_path, labels_path = Path(images_path), Path(labels_path)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"{images_path}: expected uint8 images of shape "
                         f"(N, 28, 28), found {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{labels_path}: expected uint8 labels of shape (N,), "
                         f"found {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path.parent}: {images_path.name} holds {len(images)} "
                         f"images but {labels_path.name} holds {len(labels)} labels")
    if len(labels) and labels.max() > 9:   # checked here, on the host: on a GPU a bad label
        raise ValueError(f"{labels_path}: labels must be digits 0-9, found "  # would silently
                         f"{int(labels.max())}")                     # pick a wrong row
    return images, labels


# --- batches ------------------------------------------------------------------------------

def _to_float(images: np.ndarray, scale: str) -> np.ndarray:
    """uint8 images -> float32 of shape (N, pixels), in [0, 1] or [-1, 1]."""
    if images.dtype != np.uint8:
        # Dividing floats by 255 again would silently squash the data.
        raise TypeError(f"DataLoader expects uint8 images (as load_mnist returns), "
                        f"got {images.dtype}")
    x = images.reshape(len(images), -1).astype(np.float32)
    x /= 255
    if scale == "symmetric":
        x *= 2
        x -= 1   # [-1, 1], the range of a tanh generator's output
    elif scale != "unit":
        raise ValueError(f"unknown scale {scale!r}: expected 'unit' ([0, 1]) or "
                         "'symmetric' ([-1, 1])")
    return x


class Dataset:
    """A map-style dataset, as ``torch.utils.data.Dataset``: subclass it and define
    ``__getitem__(index)`` (one example) and ``__len__()``; :class:`DataLoader` batches it.

    >>> import tinygan as tg
    >>> class Squares(tg.utils.data.Dataset):
    ...     def __len__(self):
    ...         return 5
    ...     def __getitem__(self, i):
    ...         return tg.tensor([float(i)]), i * i
    >>> for x, y in tg.utils.data.DataLoader(Squares(), batch_size=2):
    ...     print(x.shape, y)
    tinygan.Size([2, 1]) tensor([0, 1])
    tinygan.Size([2, 1]) tensor([4, 9])
    tinygan.Size([1, 1]) tensor([16])

    A dataset may also define ``get_batch(indices)``: the whole batch of those examples at
    once, exactly what ``default_collate`` of the items would give, or None to be read item
    by item. DataLoader calls it (when its ``collate_fn`` is the default) so that a batch
    costs a few array ops instead of one Python call per example (tinygan.vision's MNIST).
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")


class TensorDataset(Dataset):
    """Examples that are rows of tensors of the same length: item i is
    ``tuple(t[i] for t in tensors)``. A DataLoader gathers a whole batch of rows at
    once, on the tensors' device.

    >>> import tinygan as tg
    >>> ds = tg.utils.data.TensorDataset(tg.arange(6.0).reshape(3, 2), tg.tensor([0, 1, 0]))
    >>> len(ds), ds[1]
    (3, (tensor([2., 3.]), tensor(1)))
    >>> x, y = next(iter(tg.utils.data.DataLoader(ds, batch_size=2)))
    >>> x, y
    (tensor([[0., 1.],
            [2., 3.]]), tensor([0, 1]))
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {i} is a {type(t).__name__}, not a "
                                "Tensor (wrap arrays with tg.tensor(...))")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is a 0-d tensor; each tensor "
                                 "needs a first dimension that indexes the examples")
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) != 1:
            raise ValueError(f"Size mismatch between tensors: first dimensions {sizes} "
                             "(each tensor needs one row per example)")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


def default_collate(batch):
    """A list of examples -> one batch, as PyTorch's: Tensors stacked, numbers and NumPy
    arrays made into tensors (Python floats as float64, ints as int64), strings kept in a
    list, and tuples, lists and dicts collated field by field (a tuple gives a list)."""
    first = batch[0]
    if isinstance(first, Tensor):
        return stack(batch)
    if isinstance(first, (np.ndarray, np.generic)):
        return tensor(np.stack([np.asarray(b) for b in batch]))
    if isinstance(first, bool) or not isinstance(first, (int, float, str, dict, list, tuple)):
        raise TypeError("default_collate: batch must contain tensors, numpy arrays, numbers, "
                        f"dicts or lists; found {type(first).__name__}")
    if isinstance(first, float):
        return tensor(batch, dtype=np.float64)
    if isinstance(first, int):
        return tensor(batch, dtype=np.int64)
    if isinstance(first, str):
        return list(batch)
    if isinstance(first, dict):
        return {key: default_collate([b[key] for b in batch]) for key in first}
    if any(len(b) != len(first) for b in batch):
        raise RuntimeError("each element in list of batch should be of equal size")
    return [default_collate(list(field)) for field in zip(*batch)]


_UNSET = object()   # the defaults differ between the two ways of building a DataLoader


class DataLoader:
    """Mini-batches as tinygan Tensors: of a :class:`Dataset`, the PyTorch way, or of
    image arrays (MNIST as :func:`load_mnist` returns it), copied to a device once.

    **A Dataset**: ``DataLoader(dataset, batch_size=1, shuffle=False, drop_last=False,
    collate_fn=None)`` as in PyTorch; each batch is ``collate_fn`` (``default_collate``) of
    the examples; a :class:`TensorDataset`'s is a list of Tensors gathered at once on their
    device, and a dataset with a ``get_batch`` method (see :class:`Dataset`) gives its own.

    **Image arrays**: ``DataLoader(images, batch_size, labels=None, shuffle=True,
    drop_last=True, seed=0, device="cpu", scale="unit", limit=None, image_shape=None)``.
    The images are converted once to float32 rows of pixels (``scale="unit"``:
    [0, 1]; ``"symmetric"``: [-1, 1]), or to ``image_shape`` each (``(1, 28, 28)`` for a
    convolutional network), and copied to ``device`` once, here.
    Each epoch draws a fresh order from the loader's own seeded generator,
    copies that index array to the device, and gathers each batch there, so
    no data crosses from host to device per batch.
    Iterating yields ``(x, y)``: x is a Tensor of shape (batch_size, 784) (or
    (batch_size, *image_shape)), y a
    Tensor of int64 labels (batch_size,), or None when no labels were given.
    ``drop_last=True`` skips a final short batch (every batch the same shape).
    ``limit`` keeps only the first ``limit`` examples (for quick runs).

    Either way ``seed`` fixes the sequence of epoch orders (None: a fresh one each
    run), and :meth:`state_dict` saves the order generator's state; loading it into a
    loader reproduces the order of the epochs that follow. The order of an epoch is
    drawn when its iteration starts, so save between epochs.

    ``num_workers`` and ``pin_memory`` are accepted, so PyTorch programs run unchanged,
    and change nothing: batches are always made in the main process (a batch of MNIST
    is a few array ops, see :class:`Dataset`'s ``get_batch``), and pinned host memory has
    no meaning for NumPy arrays.
    """

    def __init__(self, images, batch_size=1, shuffle=_UNSET, drop_last=_UNSET, *, labels=None,
                 seed=0, device=_UNSET, scale="unit", limit=None, num_workers=0,
                 collate_fn=None, pin_memory=False, image_shape=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) \
                or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 "
                             "to disable multiprocessing.")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"collate_fn should be callable, got {type(collate_fn).__name__}")
        self.batch_size = int(batch_size)
        self.num_workers, self.pin_memory = int(num_workers), bool(pin_memory)
        self.collate_fn = collate_fn
        self._generator = backend.RandomStream(seed)  # host-side: decides the order
        self.epoch = 0  # epochs started so far
        if isinstance(images, Dataset):
            if image_shape is not None:
                raise TypeError("DataLoader: image_shape applies to image arrays, not to a "
                                f"{type(images).__name__}")
            self._init_dataset(images, shuffle, drop_last, labels, device, scale, limit)
        else:
            self._init_arrays(images, shuffle, drop_last, labels, device, scale, limit)
            if image_shape is not None:
                self._shape_images(tuple(image_shape))

    def _init_dataset(self, dataset, shuffle, drop_last, labels, device, scale, limit):
        given = [name for name, is_set in (("labels", labels is not None),
                                           ("device", device is not _UNSET),
                                           ("scale", scale != "unit"),
                                           ("limit", limit is not None)) if is_set]
        if given:
            raise TypeError(f"DataLoader: {', '.join(given)} apply to image arrays, not to a "
                            f"{type(dataset).__name__} (a Dataset's items are used as they are)")
        self.dataset = dataset
        self.shuffle = False if shuffle is _UNSET else bool(shuffle)
        self.drop_last = False if drop_last is _UNSET else bool(drop_last)
        self.num_examples = len(dataset)

    def _init_arrays(self, images, shuffle, drop_last, labels, device, scale, limit):
        if self.collate_fn is not None:
            raise TypeError("DataLoader: collate_fn applies to a Dataset, not to image arrays "
                            "(their batches are (images, labels) tensors)")
        self.dataset = None
        self.shuffle = True if shuffle is _UNSET else shuffle
        self.drop_last = True if drop_last is _UNSET else drop_last
        images = np.asarray(images)[:limit]
        if labels is not None:
            labels = np.asarray(labels)[:limit]
            if len(labels) != len(images):
                raise ValueError(f"{len(images)} images but {len(labels)} labels")
            # Checked once here, on the host: CuPy would not refuse a negative or
            # fractional label used as an index later, it would silently misread it.
            if labels.dtype.kind not in "iu" or (len(labels) and labels.min() < 0):
                raise ValueError(f"labels must be non-negative integers, got dtype "
                                 f"{labels.dtype}" + (f", min {labels.min()}" if len(labels)
                                                      and labels.dtype.kind in "iu" else ""))
        if self.drop_last and self.batch_size > len(images):
            raise ValueError(f"batch_size {self.batch_size} is larger than the {len(images)} "
                             "examples, so drop_last=True would leave no batch")
        self.device = backend.normalize_device("cpu" if device is _UNSET else device)
        self.num_examples = len(images)
        self.images = backend.to_device(_to_float(images, scale), self.device)
        # int64 labels, so they can index directly (one-hot rows, embeddings).
        self.labels = (None if labels is None
                       else backend.to_device(labels.astype(np.int64), self.device))

    def _shape_images(self, shape):
        pixels = self.images.shape[1]
        if not all(isinstance(n, int) and n > 0 for n in shape) or int(np.prod(shape)) != pixels:
            raise ValueError(f"image_shape {shape} does not hold the {pixels} pixels of each "
                             "image")
        self.images = self.images.reshape((len(self.images),) + shape)

    def __len__(self):
        """Number of batches per epoch."""
        full, rest = divmod(self.num_examples, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def __iter__(self):
        """Start an epoch: draw its order now, then yield its batches."""
        if self.shuffle:
            order = self._generator.permutation(self.num_examples)
        else:
            order = np.arange(self.num_examples)
        self.epoch += 1
        if self.dataset is not None:
            return self._dataset_batches(order)
        return self._batches(backend.to_device(order, self.device))  # one copy per epoch

    def _batches(self, order):
        for i in range(len(self)):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            x = Tensor(self.images[index])  # gathered on the device
            y = None if self.labels is None else Tensor(self.labels[index])
            yield x, y

    def _dataset_batches(self, order):
        rows = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        if rows:
            # a batch of rows gathered at once, the order copied once per epoch per device
            on_device = {}
            for t in self.dataset.tensors:
                if t.device not in on_device:
                    on_device[t.device] = backend.to_device(order, t.device)
        for i in range(len(self)):
            part = slice(i * self.batch_size, (i + 1) * self.batch_size)
            if rows:
                yield [t[on_device[t.device][part]] for t in self.dataset.tensors]
            else:
                yield self._collate(order[part])

    def _collate(self, indices):
        """One batch: the dataset's own get_batch if it has one and the collate is the
        default, else collate_fn (default_collate) of the items read one by one."""
        if self.collate_fn is None:
            get_batch = getattr(self.dataset, "get_batch", None)
            batch = None if get_batch is None else get_batch(indices)
            if batch is not None:
                return batch
        collate = default_collate if self.collate_fn is None else self.collate_fn
        return collate([self.dataset[int(j)] for j in indices])

    def state_dict(self) -> dict:
        """JSON-friendly state: the order generator's state and the epoch count."""
        return {"epoch": self.epoch, "generator": self._generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned; the next epoch's order follows."""
        self.epoch = int(state["epoch"])
        self._generator.set_state(state["generator"])
