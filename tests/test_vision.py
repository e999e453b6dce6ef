"""tinygan.vision against torchvision's documented behaviour (expected numbers by hand;
torchvision itself is not installed). PIL and torch, when present, check Resize too.

Every dataset here is a few random images written as IDX files in tmp_path; none needs
the network or the real MNIST (only the last, optional test reads it).
"""
import gzip
import io
import struct
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest

import tinygan as tg
from idx_files import fake_mnist_arrays, write_fake_mnist
from tinygan.tensor import Tensor
from tinygan.utils import data
from tinygan.vision import transforms as T
from tinygan.vision.datasets import MNIST, DatasetNotFoundError, FashionMNIST
from tinygan.vision.utils import make_grid, save_image

REAL_DATA = Path(__file__).resolve().parents[2] / "shared/data"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# --- transforms: ToTensor, Normalize, Compose, Lambda ------------------------------------

def test_to_tensor_scales_uint8_and_moves_channels_first():
    x = T.ToTensor()(np.array([[0, 255], [51, 102]], dtype=np.uint8))
    assert isinstance(x, Tensor) and x.shape == (1, 2, 2) and x.dtype == tg.float32
    assert x.tolist() == [[[0.0, 1.0], [np.float32(51) / 255, np.float32(102) / 255]]]
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 255, 51, 0            # H=2, W=3, C=3
    y = T.ToTensor()(rgb)
    assert y.shape == (3, 2, 3)
    assert y.numpy()[:, 0, 0].tolist() == [1.0, np.float32(0.2), 0.0]
    raw = np.full((2, 2), 7.5)                # not uint8: values and dtype kept, as torchvision
    z = T.ToTensor()(raw)
    assert z.shape == (1, 2, 2) and z.dtype == tg.float64 and z.tolist() == [[[7.5, 7.5]] * 2]
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()(tg.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional. Got 4"):
        T.ToTensor()(np.zeros((1, 2, 2, 1), dtype=np.uint8))


def test_normalize_per_channel_and_inplace():
    x = tg.tensor([[[0.0, 1.0]], [[0.5, 2.5]]])                   # C=2, H=1, W=2
    norm = T.Normalize((0.5, 0.5), (0.5, 2.0))
    y = norm(x)
    assert y.tolist() == [[[-1.0, 1.0]], [[0.0, 1.0]]]
    assert x.tolist() == [[[0.0, 1.0]], [[0.5, 2.5]]]              # inplace=False: a copy
    z = T.Normalize((0.5, 0.5), (0.5, 2.0), inplace=True)(x)
    assert z is x and x.tolist() == [[[-1.0, 1.0]], [[0.0, 1.0]]]
    batch = T.Normalize((0.5,), (0.5,))(tg.ones(4, 1, 2, 2))       # (..., C, H, W)
    assert batch.shape == (4, 1, 2, 2) and batch.tolist()[3] == [[[1.0, 1.0]] * 2]
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        norm(tg.zeros(2, 1, 1, dtype=tg.uint8))
    with pytest.raises(ValueError, match=r"size \(\.\.\., C, H, W\)"):
        norm(tg.zeros(2, 2))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.5,), (0.0,))(tg.zeros(1, 1, 1))
    with pytest.raises(TypeError, match="img should be Tensor Image"):
        norm(np.zeros((2, 1, 1), dtype=np.float32))


def test_reprs_are_torchvisions():
    t = T.Compose([T.Resize(64), T.CenterCrop(64), T.ToTensor(),
                   T.Normalize((0.5,), (0.5,)), T.Lambda(lambda x: x)])
    assert repr(t) == ("Compose(\n"
                       "    Resize(size=64, interpolation=bilinear, max_size=None, antialias=True)\n"
                       "    CenterCrop(size=(64, 64))\n"
                       "    ToTensor()\n"
                       "    Normalize(mean=(0.5,), std=(0.5,))\n"
                       "    Lambda()\n"
                       ")")
    assert repr(T.Resize((32, 16))) == ("Resize(size=(32, 16), interpolation=bilinear, "
                                        "max_size=None, antialias=True)")


def test_compose_and_lambda():
    t = T.Compose([T.Lambda(lambda x: x + 1), T.Lambda(lambda x: x * 10)])
    assert t(1) == 20
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        T.Lambda(3)


# --- transforms: Resize and CenterCrop -------------------------------------------------------

def test_resize_output_sizes():
    assert T.Resize(64).output_size(28, 28) == (64, 64)
    assert T.Resize(10).output_size(20, 30) == (10, 15)       # the shorter edge gets size
    assert T.Resize(10).output_size(30, 20) == (15, 10)
    assert T.Resize(5).output_size(7, 10) == (5, 7)           # int(5 * 10 / 7): truncated
    assert T.Resize([5]).output_size(7, 10) == (5, 7)
    assert T.Resize((3, 9)).output_size(28, 28) == (3, 9)
    assert T.Resize(10, max_size=12).output_size(10, 20) == (6, 12)   # the long edge capped
    with pytest.raises(ValueError, match="must be strictly greater"):
        T.Resize(10, max_size=10).output_size(10, 20)
    with pytest.raises(ValueError, match="max_size should only be passed"):
        T.Resize((10, 10), max_size=20).output_size(10, 20)
    with pytest.raises(ValueError, match="1 or 2 values"):
        T.Resize((1, 2, 3))
    with pytest.raises(NotImplementedError, match="only bilinear"):
        T.Resize(4, interpolation=T.InterpolationMode.BICUBIC)


def test_resize_bilinear_by_hand():
    # 2 -> 4 pixels: the output centres fall at -0.25, 0.25, 0.75, 1.25 in input pixels
    up = T.Resize((1, 4))(tg.tensor([[[0.0, 4.0]]]))
    assert up.shape == (1, 1, 4) and up.tolist() == [[[0.0, 1.0, 3.0, 4.0]]]
    # uint8, as PIL: the edge outputs see one input pixel (the others are outside)
    img = np.array([[0, 100]], dtype=np.uint8)
    assert T.Resize((1, 4))(img).tolist() == [[0, 25, 75, 100]]
    # shrinking 4 -> 2 with antialias: each output averages a triangle over 4 pixels
    # (weights 1/8, 3/8, 3/8, 1/8 truncated at the edge: 3/7, 3/7, 1/7 for the first)
    x = tg.tensor([[[0.0, 7.0, 14.0, 21.0]]])
    down = T.Resize((1, 2))(x).numpy()
    np.testing.assert_allclose(down, [[[(3 * 0 + 3 * 7 + 14) / 7, (7 + 3 * 14 + 3 * 21) / 7]]])
    plain = T.Resize((1, 2), antialias=False)(x).numpy()          # two neighbours: 0.5 each
    np.testing.assert_allclose(plain, [[[3.5, 17.5]]])


def test_resize_to_the_same_size_is_the_identity():
    img = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    assert T.Resize(28)(img) is img
    x = tg.rand(1, 28, 28)
    assert T.Resize((28, 28))(x) is x


def test_resize_28_to_64_matches_pil_and_torch():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    ours = T.Resize(64)(img)
    assert ours.shape == (64, 64) and ours.dtype == np.uint8
    # the corners copy the input's (the edge taps outside the image are dropped)
    assert [ours[0, 0], ours[-1, -1]] == [img[0, 0], img[-1, -1]]
    pil = pytest.importorskip("PIL.Image")
    for shape in ((28, 28), (28, 28, 3)):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        expected = np.asarray(pil.fromarray(img).resize((64, 64), pil.BILINEAR))
        assert np.array_equal(T.Resize(64)(img), expected)


@pytest.mark.parametrize("size", [(64, 64), (13, 13), (20, 45), (5, 3)])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_float_tensors_match_torch_interpolate(size, antialias):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).random((2, 3, 28, 28)).astype(np.float32)
    ours = T.Resize(size, antialias=antialias)(tg.tensor(x))
    theirs = torch.nn.functional.interpolate(torch.from_numpy(x), size=size, mode="bilinear",
                                             align_corners=False, antialias=antialias)
    assert ours.dtype == tg.float32
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5, rtol=0)


def test_center_crop_offsets_round_half_to_even():
    img = np.arange(25, dtype=np.uint8).reshape(5, 5)
    assert T.CenterCrop(2)(img).tolist() == [[12, 13], [17, 18]]   # round(1.5) = 2
    img4 = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert T.CenterCrop(3)(img4).tolist() == [[0, 1, 2], [4, 5, 6], [8, 9, 10]]  # round(0.5)=0
    x = tg.arange(16.0).reshape(1, 4, 4)
    assert T.CenterCrop((2, 4))(x).tolist() == [[[4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0]]]
    rgb = np.ones((4, 4, 3), dtype=np.uint8)
    assert T.CenterCrop(2)(rgb).shape == (2, 2, 3)


def test_center_crop_pads_a_small_image_with_zeros():
    img = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    assert T.CenterCrop(4)(img).tolist() == [[0, 0, 0, 0], [0, 1, 2, 0], [0, 3, 4, 0],
                                             [0, 0, 0, 0]]
    assert T.CenterCrop(3)(img).tolist() == [[1, 2, 0], [3, 4, 0], [0, 0, 0]]  # left 0, right 1
    assert T.CenterCrop((2, 3))(tg.ones(1, 2, 2)).tolist() == [[[1.0, 1.0, 0.0]] * 2]


@pytest.mark.parametrize("transform", [
    T.ToTensor(),
    T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))]),
    T.Compose([T.Resize(64), T.CenterCrop(64), T.ToTensor(), T.Normalize((0.5,), (0.5,))]),
    T.Compose([T.ToTensor(), T.Resize(40), T.CenterCrop(32), T.Normalize((0.1,), (0.3,))]),
    T.Compose([T.Resize((20, 9)), T.CenterCrop((30, 7))]),
])
def test_a_batch_is_exactly_its_items_stacked(transform):
    images = np.random.default_rng(3).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    assert T.batchable(transform)
    batch = transform._apply(images.copy(), batched=True)
    items = [transform(image) for image in images]
    stacked = (np.stack([i.numpy() for i in items]) if isinstance(items[0], Tensor)
               else np.stack(items))
    got = batch.numpy() if isinstance(batch, Tensor) else batch
    assert got.dtype == stacked.dtype and np.array_equal(got, stacked)


def test_what_cannot_take_a_batch():
    assert T.batchable(None)
    assert not T.batchable(T.Compose([T.ToTensor(), T.Lambda(lambda x: x)]))

    class MyToTensor(T.ToTensor):
        pass
    assert not T.batchable(MyToTensor())              # a subclass may change an item


# --- datasets -----------------------------------------------------------------------------

def torchvision_layout(root, cls="MNIST", extracted=False, n=64):
    """root/<cls>/raw as torchvision leaves it: the .gz files, or only the extracted ones."""
    raw = Path(root) / cls / "raw"
    hashes = write_fake_mnist(raw, n=n)
    if extracted:
        for name in hashes:
            (raw / name.removesuffix(".gz")).write_bytes(gzip.decompress((raw / name).read_bytes()))
            (raw / name).unlink()
    return hashes


def test_mnist_reads_torchvisions_layout(tmp_path, monkeypatch):
    monkeypatch.setitem(data.SHA256, "mnist", torchvision_layout(tmp_path))
    arrays = fake_mnist_arrays(64)
    ds = MNIST(str(tmp_path), train=True, download=False)
    assert len(ds) == 64 and ds.raw_folder == str(tmp_path / "MNIST" / "raw")
    assert ds.data.shape == (64, 28, 28) and ds.data.dtype == tg.uint8
    assert ds.targets.dtype == tg.int64
    assert np.array_equal(ds.data.numpy(), arrays["train-images-idx3-ubyte.gz"])
    image, label = ds[3]
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (28, 28)
    assert type(label) is int and label == arrays["train-labels-idx1-ubyte.gz"][3]
    assert np.array_equal(image, arrays["train-images-idx3-ubyte.gz"][3])
    test = MNIST(tmp_path, train=False)
    assert len(test) == 8 and "Split: Test" in repr(test)
    assert ds.classes[7] == "7 - seven" and ds.class_to_idx["0 - zero"] == 0


def test_mnist_reads_the_files_torchvision_extracted(tmp_path):
    torchvision_layout(tmp_path, extracted=True)       # no .gz: read, as torchvision reads them
    ds = MNIST(tmp_path, transform=T.ToTensor())
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and x.dtype == tg.float32 and 0 <= y <= 9


def test_mnist_reads_tinygans_layout(fake_mnist, tmp_path):
    ds = MNIST(fake_mnist)                              # the four files in root itself
    assert len(ds) == 64
    (tmp_path / "other").mkdir()
    fake_mnist.rename(tmp_path / "other" / "mnist")     # or in root/mnist
    assert len(MNIST(tmp_path / "other")) == 64


def test_fashion_mnist_folders_and_classes(tmp_path, monkeypatch):
    monkeypatch.setitem(data.SHA256, "fashion", torchvision_layout(tmp_path, "FashionMNIST"))
    ds = FashionMNIST(tmp_path)
    assert len(ds) == 64 and ds.classes[9] == "Ankle boot" and ds.classes[0] == "T-shirt/top"
    with pytest.raises(DatasetNotFoundError):
        MNIST(tmp_path)                                 # MNIST's own folder is not there


def test_missing_files_say_where_and_how(tmp_path):
    with pytest.raises(RuntimeError, match="You can use download=True") as caught:
        MNIST(tmp_path)
    assert isinstance(caught.value, FileNotFoundError)   # tinygan's DatasetNotFound too
    assert str(tmp_path / "MNIST" / "raw") in str(caught.value)


def test_a_file_that_is_not_canonical_is_refused(tmp_path):
    torchvision_layout(tmp_path)                         # the real checksum table: refused
    with pytest.raises(data.ChecksumError):
        MNIST(tmp_path)


def test_download_uses_tinygans_checked_downloader(tmp_path, monkeypatch):
    pytest.importorskip("tqdm")
    served = tmp_path / "server"
    monkeypatch.setitem(data.SHA256, "mnist", write_fake_mnist(served, n=64))
    requested = []

    class Response(io.BytesIO):
        headers = {}

    def urlopen(request, timeout=None):
        requested.append(request.full_url)
        return Response((served / request.full_url.rsplit("/", 1)[-1]).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    ds = MNIST(tmp_path / "root", download=True)
    assert len(ds) == 64 and len(requested) == 4
    raw = tmp_path / "root" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(data.FILE_NAMES)
    MNIST(tmp_path / "root", download=True)              # found: nothing fetched again
    assert len(requested) == 4


def test_dataset_repr_is_torchvisions(fake_mnist):
    ds = MNIST(fake_mnist, transform=T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))]))
    assert repr(ds) == (f"Dataset MNIST\n"
                        f"    Number of datapoints: 64\n"
                        f"    Root location: {fake_mnist}\n"
                        f"    Split: Train\n"
                        f"    StandardTransform\n"
                        f"Transform: Compose(\n"
                        f"               ToTensor()\n"
                        f"               Normalize(mean=(0.5,), std=(0.5,))\n"
                        f"           )")


# --- DataLoader over the datasets: whole batches equal the items --------------------------

def epoch(loader):
    return [(x.numpy(), x.dtype, y.tolist(), y.dtype) for x, y in loader]


@pytest.mark.parametrize("transform", [
    None,
    T.ToTensor(),
    T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))]),
    T.Compose([T.Resize(64), T.ToTensor(), T.Normalize((0.5,), (0.5,))]),   # dcgan's MNIST
])
def test_whole_batches_equal_the_itemwise_batches(fake_mnist, transform):
    ds = MNIST(fake_mnist, transform=transform)
    fast = data.DataLoader(ds, batch_size=10, shuffle=True, seed=5)
    slow = data.DataLoader(ds, batch_size=10, shuffle=True, seed=5,
                           collate_fn=data.default_collate)   # forces item by item
    ours, items = epoch(fast), epoch(slow)
    assert len(ours) == len(items) == 7
    for (x, x_dtype, y, y_dtype), (x2, x2_dtype, y2, y2_dtype) in zip(ours, items):
        assert x_dtype == x2_dtype and y_dtype == y2_dtype == tg.int64
        assert np.array_equal(x, x2) and y == y2
    assert ds.get_batch(np.arange(3)) is not None


def test_lambdas_and_target_transforms_go_item_by_item(fake_mnist):
    ds = MNIST(fake_mnist, transform=T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2)]))
    assert ds.get_batch(np.arange(3)) is None
    x, y = next(iter(data.DataLoader(ds, batch_size=4)))
    assert x.shape == (4, 1, 28, 28) and float(x.max()) <= 2.0
    flipped = MNIST(fake_mnist, target_transform=lambda y: 9 - y)
    assert flipped.get_batch(np.arange(3)) is None
    _, y2 = next(iter(data.DataLoader(flipped, batch_size=4)))
    assert y2.tolist() == [9 - v for v in y.tolist()]


def test_dataloader_defaults_and_options_as_pytorch(fake_mnist):
    ds = MNIST(fake_mnist, transform=T.ToTensor())
    loader = data.DataLoader(ds, batch_size=10)
    batches = list(loader)
    assert [len(y) for _, y in batches] == [10] * 6 + [4]       # no drop_last
    assert sum((y.tolist() for _, y in batches), []) == ds.targets.tolist()   # no shuffle
    assert [len(y) for _, y in data.DataLoader(ds, batch_size=10, drop_last=True)] == [10] * 6
    workers = data.DataLoader(ds, batch_size=10, num_workers=2, pin_memory=True)
    assert all(np.array_equal(a[0].numpy(), b[0].numpy()) for a, b in zip(workers, batches))
    assert workers.num_workers == 2 and workers.pin_memory is True
    seen = []
    custom = data.DataLoader(ds, batch_size=3, collate_fn=lambda items: seen.append(items) or 1)
    assert next(iter(custom)) == 1 and len(seen[0]) == 3 and seen[0][0][1] == ds[0][1]
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        data.DataLoader(ds, num_workers=-1)
    with pytest.raises(TypeError, match="collate_fn applies to a Dataset"):
        data.DataLoader(np.zeros((4, 28, 28), np.uint8), 2, collate_fn=data.default_collate)


# --- make_grid and save_image ------------------------------------------------------------

def test_make_grid_layout_counts_the_padding():
    grid = make_grid(tg.ones(5, 1, 4, 4), nrow=3)           # 2 rows of 3 cells, one empty
    assert grid.shape == (3, 2 * (4 + 2) + 2, 3 * (4 + 2) + 2) == (3, 14, 20)
    pixels = grid.numpy()
    assert (pixels == 1).sum() == 3 * 5 * 16                 # the images, in all 3 channels
    assert (pixels == 0).sum() == 3 * (14 * 20 - 5 * 16)     # padding and the empty cell
    assert np.all(pixels[:, 2:6, 2:6] == 1) and np.all(pixels[:, 8:12, 14:18] == 0)
    assert np.all(pixels[:, :2] == 0) and np.all(pixels[:, :, 6:8] == 0)   # border, gap
    padded = make_grid(tg.zeros(4, 1, 2, 2), nrow=2, padding=1, pad_value=0.5).numpy()
    assert padded.shape == (3, 7, 7) and (padded == 0.5).sum() == 3 * (49 - 16)


def test_make_grid_shapes_as_torchvision():
    assert make_grid(tg.ones(1, 1, 4, 4)).shape == (3, 4, 4)    # one image: no padding
    assert make_grid(tg.ones(4, 4)).shape == (3, 4, 4)
    assert make_grid(tg.ones(3, 4, 4)).shape == (3, 4, 4)
    assert make_grid(tg.ones(2, 4, 5, 5)).shape == (4, 9, 16)   # channels kept
    assert make_grid([tg.ones(1, 4, 4)] * 20).shape == (3, 3 * 6 + 2, 8 * 6 + 2)  # nrow=8
    with pytest.raises(TypeError, match="tensor or list of tensors expected"):
        make_grid(np.ones((2, 1, 4, 4)))


def test_make_grid_normalize():
    x = tg.tensor([[[[-1.0, 0.0]]], [[[1.0, 3.0]]]])           # 2 images 1x1x2, range [-1, 3]
    both = make_grid(x, padding=0, normalize=True).numpy()[0]
    assert both.tolist() == [[0.0, 0.25, 0.5, 1.0]]
    each = make_grid(x, padding=0, normalize=True, scale_each=True).numpy()[0]
    assert each.tolist() == [[0.0, 1.0, 0.0, 1.0]]
    clipped = make_grid(x, padding=0, normalize=True, value_range=(0.0, 2.0)).numpy()[0]
    assert clipped.tolist() == [[0.0, 0.0, 0.5, 1.0]]
    assert x.tolist()[0] == [[[-1.0, 0.0]]]                    # the input is untouched
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        make_grid(x, normalize=True, value_range=[0, 1])


def read_rgb_png(raw):
    """(H, W, 3) pixels of an 8-bit RGB PNG written with filter 0 (as save_image writes)."""
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = {}, 8
    while at < len(raw):
        size, kind = struct.unpack(">I4s", raw[at:at + 8])
        chunks.setdefault(kind, b"")
        chunks[kind] += raw[at + 8:at + 8 + size]
        at += 12 + size
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, -1)
    assert np.all(rows[:, 0] == 0)
    return rows[:, 1:].reshape(height, width, 3)


def test_save_image_writes_a_readable_png(tmp_path):
    x = tg.tensor([[[[0.0, 0.5], [1.0, 2.0]]], [[[-1.0, 0.25], [0.999, 0.1]]]])
    path = tmp_path / "grid.png"
    save_image(x, path, nrow=2, padding=1)
    pixels = read_rgb_png(path.read_bytes())
    assert pixels.shape == (4, 7, 3)
    # uint8(clamp(x * 255 + 0.5, 0, 255)), as torchvision: 0.5 -> 128, 0.25 -> 64
    assert pixels[1:3, 1:3, 0].tolist() == [[0, 128], [255, 255]]
    assert pixels[1:3, 4:6, 1].tolist() == [[0, 64], [255, 26]]
    assert np.all(pixels[0] == 0) and np.all(pixels[..., 0] == pixels[..., 2])
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]      # no temp file left
    buffer = io.BytesIO()
    save_image(x, buffer, nrow=2, padding=1)
    assert buffer.getvalue() == path.read_bytes()
    image = pytest.importorskip("matplotlib.image")
    assert np.array_equal(np.round(image.imread(str(path)) * 255).astype(np.uint8), pixels)
    with pytest.raises(ValueError, match="PNG only"):
        save_image(x, tmp_path / "grid.jpg")


def test_save_image_normalize_as_dcgan_calls_it(tmp_path):
    fake = tg.tensor(np.linspace(-1, 1, 2 * 1 * 3 * 3, dtype=np.float32).reshape(2, 1, 3, 3))
    save_image(fake, tmp_path / "fake.png", normalize=True)
    pixels = read_rgb_png((tmp_path / "fake.png").read_bytes())
    assert pixels.shape == (7, 12, 3)
    assert pixels[2, 2, 0] == 0 and pixels[4, 9, 0] == 255         # min -> 0, max -> 255


# --- the notebooks' import lines ------------------------------------------------------------

def test_the_notebooks_import_lines(fake_mnist):
    import tinygan.vision as torchvision
    import tinygan.vision.datasets as dset
    import tinygan.vision.utils as vutils
    from tinygan.vision import transforms
    from tinygan.vision.datasets import MNIST as Mnist
    from tinygan.vision.utils import make_grid as grid
    assert torchvision.transforms is transforms and torchvision.datasets.MNIST is Mnist
    assert torchvision.utils.make_grid is grid is vutils.make_grid and dset.MNIST is Mnist
    # the course's show_tensor_images
    loader = data.DataLoader(Mnist(fake_mnist, download=False, transform=transforms.ToTensor()),
                             batch_size=32, shuffle=True)
    real, _ = next(iter(loader))
    image_unflat = real.detach().cpu().view(-1, *(1, 28, 28))
    image_grid = make_grid(image_unflat[:25], nrow=5)
    shown = image_grid.permute(1, 2, 0).squeeze()
    assert shown.shape == (5 * 30 + 2, 5 * 30 + 2, 3)


def test_the_notebooks_imshow_takes_the_grid():
    plt = pytest.importorskip("matplotlib.pyplot")
    grid = make_grid(tg.rand(25, 1, 28, 28), nrow=5).permute(1, 2, 0).squeeze()
    try:
        drawn = plt.imshow(grid)        # through Tensor.__array__, as with PyTorch
        assert np.array_equal(np.asarray(drawn.get_array()), grid.numpy())
    finally:
        plt.close("all")


@pytest.mark.skipif(not (REAL_DATA / "mnist").is_dir(), reason="the real MNIST is not here")
def test_the_real_mnist():
    ds = MNIST(REAL_DATA, transform=T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))]))
    assert len(ds) == 60000 and ds[0][1] == 5
    x, y = next(iter(data.DataLoader(ds, batch_size=128)))
    assert x.shape == (128, 1, 28, 28) and float(x.min()) == -1.0 and float(x.max()) == 1.0


def test_tensor_transforms_and_grids_stay_on_their_device(device):
    x = tg.rand(2, 1, 28, 28, device=device)
    y = T.Compose([T.Resize(64), T.CenterCrop(60), T.Normalize((0.5,), (0.5,))])(x)
    assert y.device == device and y.shape == (2, 1, 60, 60)
    grid = make_grid(y, nrow=2, normalize=True)
    assert grid.device == device and grid.shape == (3, 64, 126)
    assert np.array_equal(grid.cpu().numpy(), make_grid(y.cpu(), nrow=2, normalize=True).numpy())


def test_celeba_imports_and_refuses_clearly(tmp_path):
    from tinygan.vision.datasets import CelebA     # week 4B's import line
    with pytest.raises(NotImplementedError, match="MNIST and Fashion-MNIST only"):
        CelebA(tmp_path, split="train", download=True)
