"""Shared test set-up: the device fixture and the hypothesis profiles.

Every test that takes ``device`` runs on "cpu" and on "cuda". With a working GPU
"cuda" is real CuPy; without one it is the strict stand-in in
``tests/cupy_standin`` (CuPy's rules, NumPy underneath), installed through the
backend's one test hook. The header of the pytest run says which.
"""
import os
import urllib.request

import pytest
from hypothesis import HealthCheck, settings

from idx_files import write_fake_mnist
from tinygan import backend
from tinygan.utils import data

# CI: derandomised, bounded, no deadline (2 slow cores). Locally: more examples.
_common = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                     HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, max_examples=15, print_blob=True, **_common)
settings.register_profile("dev", max_examples=40, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

_cuda_kind = None  # "cupy" or "stand-in"


def pytest_configure(config):
    global _cuda_kind
    if backend.cuda_available() and not os.environ.get("TINYGAN_TEST_STANDIN"):
        _cuda_kind = "cupy"
    else:
        import cupy_standin
        backend._use_cuda_module(cupy_standin)
        _cuda_kind = "stand-in"


FOLLOWED_PYTORCH = "2.13"


def pytest_collection_modifyitems(config, items):
    """Tests marked pytorch_2_13 skip against another PyTorch: error wording and a few edge
    cases (autograd.grad of no inputs, avg_pool2d's checks) changed between versions."""
    try:
        import torch
    except Exception:
        return
    version = ".".join(torch.__version__.split(".")[:2])
    if version == FOLLOWED_PYTORCH:
        return
    skip = pytest.mark.skip(reason=f"PyTorch {version} is installed; this test compares with "
                                   f"{FOLLOWED_PYTORCH}, whose behaviour tinygan follows")
    for item in items:
        if "pytorch_2_13" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    return f"tinygan device 'cuda' in these tests: {_cuda_kind}"


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    """The device name; each test that takes it runs once per device."""
    return request.param


@pytest.fixture
def cuda_kind():
    """"cupy" on a real GPU, "stand-in" otherwise."""
    return _cuda_kind


@pytest.fixture
def device_ops(cuda_kind):
    """The CuPy stand-in's counter of device ops (kernels and copies); skips with real
    CuPy, which counts none."""
    if cuda_kind != "stand-in":
        pytest.skip("device ops are counted by the CuPy stand-in, not real CuPy")
    import cupy_standin
    assert backend.xp_for("cuda") is cupy_standin
    return cupy_standin.device_ops


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No network, no $TINYGAN_DATA, a cache inside tmp_path, and tmp_path as the cwd:
    what the example-program tests run in (``pytestmark = usefixtures("isolated")``)."""
    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.delenv("TINYGAN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """64 random 28x28 training images in tmp_path/data; the checksum table accepts them."""
    folder = tmp_path / "data"
    monkeypatch.setitem(data.SHA256, "mnist", write_fake_mnist(folder, n=64))
    return folder


def _libraries():
    import tinygan
    yield pytest.param(tinygan, id="tinygan")
    try:
        import torch
        yield pytest.param(torch, id="torch")
    except ImportError:
        yield pytest.param(None, id="torch", marks=pytest.mark.skip("torch is not installed"))


@pytest.fixture(params=list(_libraries()))
def torch(request):
    """tinygan, then PyTorch where it is installed: a test written with PyTorch's names
    (the course's code) runs on both, seeded alike."""
    request.param.manual_seed(0)
    return request.param
