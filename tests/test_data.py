"""Tests of tinygan.utils.data: IDX parsing, finding/verifying/downloading files, batching.

Every test builds tiny IDX files in tmp_path; none needs the network (an
autouse fixture makes any real download attempt fail loudly) and only the last,
optional test reads the real MNIST files.
"""
import gzip
import hashlib
import importlib.util
import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

import tinygan as tg
from tinygan import backend
from tinygan.tensor import Tensor
from tinygan.utils import data

REAL_MNIST = Path(__file__).resolve().parents[2] / "shared/data/mnist"


# --- helpers ---------------------------------------------------------------------

def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array as IDX bytes: magic 0x000008NN, big-endian int32 dims, payload."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write array as IDX, gzip-compressed when path ends in .gz."""
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def tiny_dataset(n_train=12, n_test=5, seed=0):
    """{file name: uint8 array} for the four canonical files, at a tiny size."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_dataset(folder: Path, arrays) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(folder / name, array)
    return folder


def hashes_of(folder: Path) -> dict:
    return {name: data.sha256_of(folder / name) for name in data.FILE_NAMES}


class FakeResponse(io.BytesIO):
    """What urlopen returns, served from memory."""

    def __init__(self, body: bytes):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}


# A download draws its progress bar with tqdm, a declared dependency; in a bare interpreter
# without it the download tests are skipped (everything else in tinygan.utils.data runs).
NEEDS_TQDM = pytest.mark.skipif(importlib.util.find_spec("tqdm") is None,
                                reason="a download draws a tqdm bar (pip install -e .)")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No network, no $TINYGAN_DATA, and a cache inside tmp_path for every test."""
    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.delenv("TINYGAN_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A tiny MNIST in tmp_path/src, with the checksum table pointed at its files."""
    arrays = tiny_dataset()
    folder = write_dataset(tmp_path / "src", arrays)
    monkeypatch.setitem(data.SHA256, "mnist", hashes_of(folder))
    return folder, arrays


def epoch_rows(loader):
    """The images of one epoch as host arrays, batch by batch."""
    return [x.numpy() for x, _ in loader]


def epoch_order(loader, images_float):
    """The example indices of one epoch, recovered by matching each row to its image."""
    lookup = {row.tobytes(): i for i, row in enumerate(images_float)}
    return [lookup[row.tobytes()] for batch in epoch_rows(loader) for row in batch]


# --- read_idx -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["images.idx3.gz", "images.idx3"])
def test_read_idx_round_trip_gz_and_raw(tmp_path, name):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    read = data.read_idx(write_idx(tmp_path / name, array))
    assert read.dtype == np.uint8 and read.shape == (2, 3, 4)
    np.testing.assert_array_equal(read, array)
    read[0, 0, 0] = 7  # writable, not a view of a bytes object


@settings(deadline=None)
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)))
def test_read_idx_round_trips_any_uint8_array(tmp_path_factory, array):
    path = write_idx(tmp_path_factory.mktemp("idx") / "a.gz", array)
    np.testing.assert_array_equal(data.read_idx(path), array)


def test_read_idx_other_type_codes_give_native_arrays(tmp_path):
    array = np.array([[1.5, -2.0], [3.25, 4.0]], dtype=np.float32)
    header = bytes([0, 0, 0x0D, 2]) + np.array(array.shape, ">i4").tobytes()
    path = tmp_path / "floats.idx"
    path.write_bytes(header + array.astype(">f4").tobytes())
    read = data.read_idx(path)
    assert read.dtype == np.float32 and read.dtype.isnative
    np.testing.assert_array_equal(read, array)


def test_read_idx_bad_magic_names_file_expected_and_found(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\x00\x00\x00\x01" + b"\x05")
    with pytest.raises(ValueError) as info:
        data.read_idx(path)
    message = str(info.value)
    assert str(path) in message and "0x12340801" in message and "0x00000803" in message


def test_read_idx_unknown_type_code_is_bad_magic(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(ValueError, match="bad IDX magic"):
        data.read_idx(path)


def test_read_idx_truncated_payload(tmp_path):
    path = tmp_path / "short.idx3.gz"
    raw = idx_bytes(np.zeros((3, 28, 28), dtype=np.uint8))
    path.write_bytes(gzip.compress(raw[:-10]))  # a valid gzip of a short IDX
    with pytest.raises(ValueError) as info:
        data.read_idx(path)
    message = str(info.value)
    assert str(path) in message and "(3, 28, 28)" in message
    assert str(3 * 28 * 28) in message and str(3 * 28 * 28 - 10) in message


def test_read_idx_extra_payload_is_an_error_too(tmp_path):
    path = tmp_path / "long.idx1"
    path.write_bytes(idx_bytes(np.arange(4, dtype=np.uint8)) + b"\x00")
    with pytest.raises(ValueError, match="4 payload bytes, but the file holds 5"):
        data.read_idx(path)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "header.idx3"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2]))  # says 3 dims, gives 1
    with pytest.raises(ValueError, match="16-byte header"):
        data.read_idx(path)


def test_read_idx_truncated_gzip_names_file(tmp_path):
    path = tmp_path / "cut.idx3.gz"
    full = gzip.compress(idx_bytes(np.arange(2000, dtype=np.uint8) % 251))
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError) as info:
        data.read_idx(path)
    assert str(path) in str(info.value) and "gzip" in str(info.value)


def test_read_idx_not_gzip_names_file(tmp_path):
    path = tmp_path / "page.gz"
    path.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(ValueError, match="page.gz"):
        data.read_idx(path)


def test_read_idx_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        data.read_idx(tmp_path / "nothing.gz")


# --- checksums and load_mnist ----------------------------------------------------------

def test_load_mnist_reads_both_splits(tiny):
    folder, arrays = tiny
    images, labels = data.load_mnist("mnist", train=True, data_dir=folder, download=False)
    np.testing.assert_array_equal(images, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(labels, arrays["train-labels-idx1-ubyte.gz"])
    images, labels = data.load_mnist("mnist", train=False, data_dir=folder, download=False)
    assert images.shape == (5, 28, 28) and labels.shape == (5,)
    assert images.dtype == labels.dtype == np.uint8


def test_load_mnist_checks_counts_match(tmp_path, monkeypatch):
    arrays = tiny_dataset()
    arrays["train-labels-idx1-ubyte.gz"] = arrays["train-labels-idx1-ubyte.gz"][:-1]
    folder = write_dataset(tmp_path / "d", arrays)
    monkeypatch.setitem(data.SHA256, "mnist", hashes_of(folder))
    with pytest.raises(ValueError, match="12 images but .* 11 labels"):
        data.load_mnist(data_dir=folder, download=False)


def test_load_mnist_refuses_a_label_that_is_not_a_digit(tmp_path, monkeypatch):
    """Checked on the host as the files are read: on a GPU a label of 10 used as an index
    would silently wrap to a wrong row instead of failing."""
    arrays = tiny_dataset()
    arrays["train-labels-idx1-ubyte.gz"][3] = 10
    folder = write_dataset(tmp_path / "d", arrays)
    monkeypatch.setitem(data.SHA256, "mnist", hashes_of(folder))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: labels must be digits 0-9, "
                                         "found 10"):
        data.load_mnist(data_dir=folder, download=False)


@pytest.mark.parametrize("labels", [np.array([0, -1, 2, 3]), np.array([0.0, 1.0, 2.0, 3.0])],
                         ids=["negative", "float"])
def test_loader_refuses_labels_that_cannot_index(labels):
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    with pytest.raises(ValueError, match="labels must be non-negative integers"):
        data.DataLoader(images, 2, labels=labels)


def test_checksum_mismatch_names_file_and_expected_checksum(tiny):
    folder, arrays = tiny
    expected = data.SHA256["mnist"]["t10k-labels-idx1-ubyte.gz"]
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", arrays["t10k-labels-idx1-ubyte.gz"] + 1)
    with pytest.raises(data.ChecksumError) as info:
        data.find_dataset_dir("mnist", data_dir=folder, download=False)
    message = str(info.value)
    assert str(folder / "t10k-labels-idx1-ubyte.gz") in message
    assert expected in message and data.sha256_of(folder / "t10k-labels-idx1-ubyte.gz") in message


def test_truncated_file_is_caught_by_its_checksum(tiny):
    folder, _ = tiny
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(data.ChecksumError, match="train-images-idx3-ubyte.gz"):
        data.load_mnist(data_dir=folder, download=False)


def test_the_real_checksum_table_rejects_other_files(tmp_path):
    folder = write_dataset(tmp_path / "d", tiny_dataset())  # real SHA256 table in force
    with pytest.raises(data.ChecksumError, match=data.SHA256["mnist"][data.FILE_NAMES[0]]):
        data.find_dataset_dir("mnist", data_dir=folder, download=False)


def test_checksum_table_is_complete():
    for name in ("mnist", "fashion"):
        assert set(data.SHA256[name]) == set(data.FILE_NAMES)
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in data.SHA256[name].values())


# --- where the files are looked for -----------------------------------------------------

def test_search_order_data_dir_then_env_then_cache(tmp_path, monkeypatch):
    arrays = tiny_dataset()
    argument = write_dataset(tmp_path / "arg", arrays)
    from_env = write_dataset(tmp_path / "env", arrays)
    cache = tmp_path / "xdg" / "tinygan" / "mnist"
    write_dataset(cache, arrays)
    monkeypatch.setitem(data.SHA256, "mnist", hashes_of(argument))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TINYGAN_DATA", str(from_env))

    assert data.find_dataset_dir("mnist", data_dir=argument, download=False) == argument
    assert data.find_dataset_dir("mnist", download=False) == from_env
    monkeypatch.delenv("TINYGAN_DATA")
    assert data.find_dataset_dir("mnist", download=False) == cache


def test_a_named_data_dir_is_the_only_place_looked(tmp_path, monkeypatch):
    # The files are in $TINYGAN_DATA and in the cache, and a server would serve them:
    # a folder the user names still wins, and its missing files are the error.
    arrays = tiny_dataset()
    from_env = write_dataset(tmp_path / "env", arrays)
    write_dataset(tmp_path / "xdg" / "tinygan" / "mnist", arrays)
    monkeypatch.setitem(data.SHA256, "mnist", hashes_of(from_env))
    monkeypatch.setenv("TINYGAN_DATA", str(from_env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    requested = []
    monkeypatch.setattr(urllib.request, "urlopen", fake_server({}, requested))
    named = tmp_path / "named"
    write_dataset(named, {k: v for k, v in arrays.items() if k.startswith("train")})
    for download in (True, False):
        with pytest.raises(data.DatasetNotFound) as info:
            data.find_dataset_dir("mnist", data_dir=named, download=download)
        message = str(info.value)
        assert message.startswith("MNIST files not found")
        assert f"missing in {named}: t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" \
            in message
        assert "train-images-idx3-ubyte.gz," not in message.splitlines()[1]   # present ones
        assert str(from_env) not in message and "only" in message.lower()
    assert requested == []                                    # no download was tried
    with pytest.raises(data.DatasetNotFound, match="no such directory"):
        data.load_mnist(data_dir=tmp_path / "nowhere")


def test_a_named_data_dir_reports_its_dataset_sub_folder_too(tmp_path, monkeypatch):
    arrays = tiny_dataset()
    sub = write_dataset(tmp_path / "data" / "mnist",
                        {k: v for k, v in arrays.items() if "images" in k})
    with pytest.raises(data.DatasetNotFound) as info:
        data.find_dataset_dir("mnist", data_dir=tmp_path / "data")
    message = str(info.value)
    assert f"missing in {tmp_path / 'data'}: " + ", ".join(data.FILE_NAMES) in message
    assert f"missing in {sub}: train-labels-idx1-ubyte.gz, t10k-labels-idx1-ubyte.gz" in message


def test_a_file_as_data_dir_is_named_as_a_file(tmp_path):
    archive = tmp_path / "train-images-idx3-ubyte.gz"
    archive.write_bytes(b"not a folder")
    with pytest.raises(data.DatasetNotFound) as info:
        data.load_mnist(data_dir=archive)
    assert isinstance(info.value, FileNotFoundError)
    assert f"{archive} (data_dir argument / --data-dir) is a file, not a folder" in str(info.value)


def test_a_file_as_tinygan_data_is_named_as_a_file(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "mnist.zip"
    not_a_folder.write_bytes(b"zip")
    monkeypatch.setenv("TINYGAN_DATA", str(not_a_folder))
    with pytest.raises(data.DatasetNotFound, match="is a file, not a folder"):
        data.find_dataset_dir("mnist", download=False)


def test_cache_is_under_home_without_xdg(tmp_path):
    assert data.cache_dir("mnist") == tmp_path / "home" / ".cache" / "tinygan" / "mnist"
    assert data.cache_dir("Fashion-MNIST") == tmp_path / "home" / ".cache" / "tinygan" / "fashion"


@pytest.mark.parametrize("dataset, sub", [("mnist", "mnist"), ("fashion", "fashion-mnist"),
                                          ("fashion", "fashion")])
def test_a_parent_folder_with_a_dataset_sub_folder_counts(tmp_path, monkeypatch, dataset, sub):
    folder = write_dataset(tmp_path / "data" / sub, tiny_dataset())
    monkeypatch.setitem(data.SHA256, dataset, hashes_of(folder))
    assert data.find_dataset_dir(dataset, data_dir=tmp_path / "data", download=False) == folder


def test_unknown_dataset_is_a_value_error():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.find_dataset_dir("cifar10")


def test_checksums_are_verified_once_per_file(tiny, monkeypatch):
    folder, _ = tiny
    hashed = []
    real_sha256_of = data.sha256_of
    monkeypatch.setattr(data, "sha256_of", lambda p: hashed.append(p) or real_sha256_of(p))
    data.find_dataset_dir("mnist", data_dir=folder, download=False)
    data.find_dataset_dir("mnist", data_dir=folder, download=False)
    assert len(hashed) == 4


# --- downloads (urlopen replaced; never the real network) ---------------------------------

def test_offline_error_lists_every_place_and_how_to_fix(tmp_path, monkeypatch):
    def offline(request, timeout=None):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("TINYGAN_DATA", str(tmp_path / "env"))
    with pytest.raises(data.DatasetNotFound) as info:
        data.find_dataset_dir("mnist")
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    for place in (tmp_path / "env", data.cache_dir("mnist")):
        assert str(place) in message
    assert "Name or service not known" in message
    for mirror in data.MIRRORS["mnist"]:
        assert mirror in message
    assert "--data-dir" in message and "TINYGAN_DATA" in message
    assert not list(data.cache_dir("mnist").iterdir())  # no half-written files


def test_download_off_says_so_and_lists_places(tmp_path):
    with pytest.raises(data.DatasetNotFound) as info:
        data.find_dataset_dir("fashion", download=False)
    message = str(info.value)
    assert "download=False" in message and "$TINYGAN_DATA: not set" in message
    assert str(data.cache_dir("fashion")) in message and "--data-dir" in message


def fake_server(files, requested):
    """An urlopen that serves files (name -> bytes) from memory, recording URLs."""
    def urlopen(request, timeout=None):
        url = getattr(request, "full_url", request)
        requested.append(url)
        name = url.rsplit("/", 1)[-1]
        if name not in files:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        return FakeResponse(files[name])

    return urlopen


@NEEDS_TQDM
def test_download_fills_the_cache_atomically_and_verified(tmp_path, monkeypatch):
    source = write_dataset(tmp_path / "server", tiny_dataset())
    files = {name: (source / name).read_bytes() for name in data.FILE_NAMES}
    monkeypatch.setitem(data.SHA256, "mnist", hashes_of(source))
    requested = []
    monkeypatch.setattr(urllib.request, "urlopen", fake_server(files, requested))

    found = data.find_dataset_dir("mnist")
    assert found == data.cache_dir("mnist")
    assert sorted(p.name for p in found.iterdir()) == sorted(data.FILE_NAMES)  # no temp files
    assert requested == [data.MIRRORS["mnist"][0] + name for name in data.FILE_NAMES]
    images, _ = data.load_mnist("mnist")  # now found in the cache, without downloading
    assert images.shape == (12, 28, 28) and len(requested) == 4


@NEEDS_TQDM
def test_download_falls_back_to_the_next_mirror(tmp_path, monkeypatch):
    source = write_dataset(tmp_path / "server", tiny_dataset())
    monkeypatch.setitem(data.SHA256, "mnist", hashes_of(source))
    first, second = data.MIRRORS["mnist"]

    def urlopen(request, timeout=None):
        if request.full_url.startswith(first):
            raise urllib.error.HTTPError(request.full_url, 503, "Unavailable", {}, None)
        return FakeResponse((source / request.full_url.rsplit("/", 1)[-1]).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assert data.find_dataset_dir("mnist") == data.cache_dir("mnist")


@NEEDS_TQDM
def test_downloaded_file_with_wrong_checksum_is_never_used(tmp_path, monkeypatch):
    source = write_dataset(tmp_path / "server", tiny_dataset())
    files = {name: (source / name).read_bytes() for name in data.FILE_NAMES}
    monkeypatch.setitem(data.SHA256, "mnist", hashes_of(source))
    files["t10k-images-idx3-ubyte.gz"] = b"not the file"
    monkeypatch.setattr(urllib.request, "urlopen", fake_server(files, []))

    with pytest.raises(data.ChecksumError) as info:
        data.find_dataset_dir("mnist")
    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert data.SHA256["mnist"]["t10k-images-idx3-ubyte.gz"] in message
    assert hashlib.sha256(b"not the file").hexdigest() in message
    cached = sorted(p.name for p in data.cache_dir("mnist").iterdir())
    assert cached == sorted(data.SPLIT_FILES["train"])  # the bad one (and no temp file) absent


@NEEDS_TQDM
def test_download_only_fetches_missing_files(tmp_path, monkeypatch):
    source = write_dataset(tmp_path / "server", tiny_dataset())
    monkeypatch.setitem(data.SHA256, "mnist", hashes_of(source))
    cache = data.cache_dir("mnist")
    cache.mkdir(parents=True)
    labels = "train-labels-idx1-ubyte.gz"
    (cache / labels).write_bytes((source / labels).read_bytes())
    requested = []
    files = {name: (source / name).read_bytes() for name in data.FILE_NAMES}
    monkeypatch.setattr(urllib.request, "urlopen", fake_server(files, requested))
    data.find_dataset_dir("mnist")
    assert len(requested) == 3 and not any(labels in url for url in requested)


# --- DataLoader --------------------------------------------------------------------------

@pytest.fixture
def images_labels():
    rng = np.random.default_rng(1)
    return (rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, 50, dtype=np.uint8))


def as_float_rows(images):
    return images.reshape(len(images), -1).astype(np.float32) / 255


def make_loader(images, labels=None, batch_size=8, **kwargs):
    return data.DataLoader(images, batch_size, labels=labels, **kwargs)


def test_loader_batches_have_the_right_shapes_and_values(images_labels, device):
    images, labels = images_labels
    loader = make_loader(images, labels, device=device)
    batches = list(loader)
    assert len(batches) == len(loader) == 50 // 8
    for x, y in batches:
        assert isinstance(x, Tensor) and isinstance(y, Tensor)
        assert not x.requires_grad and not y.requires_grad
        assert x.shape == (8, 784) and y.shape == (8,)
        assert x.device == y.device == device
        values = x.numpy()
        assert values.dtype == np.float32 and values.min() >= 0 and values.max() <= 1


def test_loader_labels_travel_with_their_images(images_labels, device):
    images, labels = images_labels
    lookup = {row.tobytes(): label for row, label in zip(as_float_rows(images), labels)}
    for x, y in make_loader(images, labels, device=device):
        assert [lookup[row.tobytes()] for row in x.numpy()] == list(y.numpy())


def test_loader_without_labels_yields_none(images_labels):
    for _, y in make_loader(images_labels[0]):
        assert y is None


@pytest.mark.parametrize("drop_last, expected_sizes", [(True, [8] * 6), (False, [8] * 6 + [2])])
def test_loader_drop_last(images_labels, drop_last, expected_sizes):
    loader = make_loader(images_labels[0], drop_last=drop_last)
    assert len(loader) == len(expected_sizes)
    assert [x.shape[0] for x, _ in loader] == expected_sizes


def test_every_example_exactly_once_per_epoch(images_labels, device):
    images = images_labels[0]
    loader = make_loader(images, drop_last=False, device=device)
    for _ in range(3):
        assert sorted(epoch_order(loader, as_float_rows(images))) == list(range(50))


def test_order_changes_across_epochs_and_repeats_for_a_seed(images_labels, device):
    images = as_float_rows(images_labels[0])
    a = make_loader(images_labels[0], seed=3)
    b = make_loader(images_labels[0], seed=3, device=device)  # the order is device-independent
    c = make_loader(images_labels[0], seed=4)
    first, second = epoch_order(a, images), epoch_order(a, images)
    assert first != second
    assert epoch_order(b, images) == first and epoch_order(b, images) == second
    assert epoch_order(c, images) != first


def test_no_shuffle_keeps_the_data_order(images_labels):
    loader = make_loader(images_labels[0], shuffle=False, drop_last=False)
    assert epoch_order(loader, as_float_rows(images_labels[0])) == list(range(50))


def test_state_dict_round_trip_reproduces_the_next_epoch(images_labels):
    images = as_float_rows(images_labels[0])
    loader = make_loader(images_labels[0], seed=7)
    epoch_order(loader, images)
    state = json.loads(json.dumps(loader.state_dict()))  # JSON-friendly, as checkpoints need
    expected_next = epoch_order(loader, images)

    resumed = make_loader(images_labels[0], seed=123)
    resumed.load_state_dict(state)
    assert resumed.epoch == 1
    assert epoch_order(resumed, images) == expected_next


def test_order_is_drawn_when_the_epoch_starts(images_labels):
    loader = make_loader(images_labels[0])
    before = json.dumps(loader.state_dict())
    batches = iter(loader)
    assert json.dumps(loader.state_dict()) != before
    next(batches)


def test_symmetric_scale_and_limit(images_labels):
    images = images_labels[0].copy()
    images[0, 0, 0], images[1, 0, 0] = 0, 255
    loader = make_loader(images, scale="symmetric", limit=16, shuffle=False)
    values = np.concatenate(epoch_rows(loader))
    assert len(loader) == 2 and values.shape == (16, 784)
    assert values.min() == -1 and values.max() == 1
    np.testing.assert_allclose(values, as_float_rows(images[:16]) * 2 - 1, atol=1e-6)


def test_loader_rejects_bad_arguments(images_labels):
    images, labels = images_labels
    with pytest.raises(TypeError, match="uint8"):
        make_loader(images.astype(np.float32))
    with pytest.raises(ValueError, match="labels"):
        make_loader(images, labels[:-1])
    with pytest.raises(ValueError, match="no batch"):
        make_loader(images, batch_size=51)
    with pytest.raises(ValueError, match="scale"):
        make_loader(images, scale="wide")


def test_data_goes_to_the_device_once_and_the_order_once_per_epoch(images_labels, monkeypatch):
    import cupy_standin  # the suite's strict CuPy stand-in: it counts every transfer

    # Always the stand-in here (even on a GPU), so transfers can be counted;
    # monkeypatch puts back whatever "cuda" module the suite had installed.
    for name in ("_cuda_module", "_cuda_reason", "_cuda_probed"):
        monkeypatch.setattr(backend, name, getattr(backend, name))
    backend._use_cuda_module(cupy_standin)
    images, labels = images_labels

    with cupy_standin.transfers.counting() as made:
        loader = make_loader(images, labels, device="cuda")
    assert made.host_to_device == 2  # the images and the labels, once
    for _ in range(2):
        with cupy_standin.transfers.counting() as epoch, cupy_standin.transfers.forbid():
            batches = list(loader)
        assert epoch.host_to_device == 1  # the epoch's order; batches are cut on the device
        assert all(x.device == y.device == "cuda" for x, y in batches)


# --- the real files (optional) --------------------------------------------------------------

@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"real MNIST not present at {REAL_MNIST}")
def test_real_mnist_loads():
    images, labels = data.load_mnist("mnist", train=True, data_dir=REAL_MNIST, download=False)
    assert images.shape == (60000, 28, 28) and labels.shape == (60000,)
    images, labels = data.load_mnist("mnist", train=False, data_dir=REAL_MNIST.parent,
                                     download=False)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert set(np.unique(labels)) == set(range(10))


# --- Dataset, TensorDataset, and DataLoader over a Dataset (PyTorch's way) -----------------------

def test_tensor_dataset_items_and_errors(device):
    x = tg.arange(12.0, device=device).reshape(4, 3)
    y = tg.tensor([0, 1, 2, 3], device=device)
    ds = data.TensorDataset(x, y)
    assert len(ds) == 4
    row, label = ds[2]
    assert row.tolist() == [6.0, 7.0, 8.0] and label.item() == 2
    with pytest.raises(ValueError, match=r"Size mismatch between tensors: first dimensions \[4, 3\]"):
        data.TensorDataset(x, y[:3])
    with pytest.raises(TypeError, match="argument 1 is a ndarray, not a Tensor"):
        data.TensorDataset(x, np.arange(4))
    with pytest.raises(ValueError, match="at least one"):
        data.TensorDataset()


def test_loader_over_a_tensor_dataset_pytorch_defaults(device):
    x = tg.arange(10.0, device=device).reshape(5, 2)
    y = tg.tensor([5, 6, 7, 8, 9], device=device)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=2)     # no shuffle, keep last
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert all(isinstance(b, list) and len(b) == 2 for b in batches)     # as PyTorch: a list
    assert [b[1].tolist() for b in batches] == [[5, 6], [7, 8], [9]]
    assert batches[2][0].tolist() == [[8.0, 9.0]]
    assert all(t.device == device for b in batches for t in b)
    assert [len(b[0]) for b in data.DataLoader(data.TensorDataset(x), 2, drop_last=True)] == [2, 2]
    assert list(data.DataLoader(data.TensorDataset(x), batch_size=1))[0][0].shape == (1, 2)


def test_loader_over_a_dataset_shuffles_each_epoch_and_resumes():
    ds = data.TensorDataset(tg.arange(20))
    loader = data.DataLoader(ds, batch_size=5, shuffle=True, seed=3)
    first = [i for (b,) in loader for i in b.tolist()]
    saved = loader.state_dict()
    second = [i for (b,) in loader for i in b.tolist()]
    assert sorted(first) == sorted(second) == list(range(20)) and first != second
    again = data.DataLoader(ds, batch_size=5, shuffle=True, seed=99)
    again.load_state_dict(saved)
    assert [i for (b,) in again for i in b.tolist()] == second


def test_loader_collates_a_custom_dataset():
    class Pairs(data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"x": np.full(2, i, dtype=np.float32), "y": i, "w": 0.5 * i, "name": f"n{i}"}

    (batch,) = list(data.DataLoader(Pairs(), batch_size=3))
    assert batch["x"].shape == (3, 2) and batch["x"].dtype == tg.float32
    assert batch["y"].tolist() == [0, 1, 2] and batch["y"].dtype == tg.int64
    assert batch["w"].dtype == tg.float64 and batch["name"] == ["n0", "n1", "n2"]

    class Broken(data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return object()

    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        next(iter(data.DataLoader(Broken(), batch_size=2)))
    with pytest.raises(NotImplementedError, match="__getitem__"):
        data.Dataset()[0]


def test_collate_matches_pytorch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate
    batch = [(np.arange(3, dtype=np.float32) + i, i, 0.5 * i) for i in range(4)]
    ours, theirs = data.default_collate(batch), torch_collate(batch)
    assert type(ours) is type(theirs) and len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.tolist() == b.tolist() and str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]


def test_loader_over_a_dataset_refuses_array_options_and_bad_batch_sizes(images_labels):
    ds = data.TensorDataset(tg.zeros(4, 2))
    for kwargs in (dict(labels=np.zeros(4, dtype=np.int64)), dict(device="cpu"),
                   dict(scale="symmetric"), dict(limit=2)):
        with pytest.raises(TypeError, match=f"{next(iter(kwargs))} apply to image arrays"):
            data.DataLoader(ds, 2, **kwargs)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
            data.DataLoader(ds, batch_size=bad)
    images, _ = images_labels
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        data.DataLoader(images, 0)


def test_tensor_dataset_order_crosses_once_per_epoch(cuda_kind):
    if cuda_kind != "stand-in":
        pytest.skip("transfers are counted by the CuPy stand-in")
    import cupy_standin
    ds = data.TensorDataset(tg.zeros(12, 3, device="cuda"), tg.arange(12, device="cuda"))
    loader = data.DataLoader(ds, batch_size=4, shuffle=True)
    with cupy_standin.transfers.counting() as n:
        batches = list(loader)
    assert len(batches) == 3
    assert n.host_to_device == 1 and n.device_to_host == 0


def test_utils_data_is_reachable_from_the_package():
    import subprocess
    import sys
    code = ("import sys, tinygan; tinygan.utils.data.DataLoader; tinygan.utils.data.TensorDataset; "
            "assert 'tqdm' not in sys.modules, 'tqdm imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
