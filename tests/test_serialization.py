"""tg.save / tg.load: state_dicts in one .npz, never pickled, written atomically."""
import json
import os
import zipfile

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend, nn, optim
from tinygan.utils import checkpoint, files, serialization


def trained(device):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1)).to(device)
    opt = optim.Adam(model.parameters(), lr=1e-2, betas=(0.5, 0.9))
    for _ in range(2):
        opt.zero_grad()
        (model(tg.randn(5, 3, device=device)) ** 2).mean().backward()
        opt.step()
    return model, opt


def assert_same(actual, expected):
    assert type(actual) is type(expected) or (isinstance(expected, np.ndarray)
                                              and isinstance(actual, np.ndarray))
    if isinstance(expected, dict):
        assert list(actual) == list(expected)          # keys, their types and order
        for key in expected:
            assert_same(actual[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_same(a, e)
    elif isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype
        np.testing.assert_array_equal(actual, expected)
    else:
        assert actual == expected


def test_module_and_optimizer_state_round_trip(device, tmp_path):
    model, opt = trained(device)
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 7,
             "note": "ünïcode", "loss": 0.25, "best": None, "done": False}
    path = tmp_path / "run.npz"
    tg.save(state, path)
    loaded = tg.load(path)
    assert_same(loaded, state)
    assert sorted(loaded["opt"]["state"]) == [0, 1, 2, 3, 4, 5]        # int keys stay ints
    assert loaded["opt"]["param_groups"][0]["betas"] == (0.5, 0.9)   # tuples stay tuples

    fresh_model, _ = trained(device)
    fresh_opt = optim.Adam(fresh_model.parameters())
    fresh_model.load_state_dict(loaded["model"])
    fresh_opt.load_state_dict(loaded["opt"])
    x = tg.randn(6, 3, device=device)
    model.eval(), fresh_model.eval()
    np.testing.assert_array_equal(model(x).detach().numpy(), fresh_model(x).detach().numpy())


def test_the_file_is_one_npz_of_arrays_and_json(tmp_path):
    model, opt = trained("cpu")
    path = tmp_path / "state.pt"                       # any name: the content is an .npz
    tg.save({"model": model.state_dict(), "opt": opt.state_dict()}, path)
    with np.load(path, allow_pickle=False) as npz:       # readable with pickling refused
        entries = {k: npz[k] for k in npz.files}
    info = json.loads(str(entries.pop("meta")))
    assert info["format"] == "tinygan-save-1"
    assert all(v.dtype != object for v in entries.values())
    # the model's arrays and Adam's exp_avg and exp_avg_sq; its step counts are JSON numbers
    assert len(entries) == len(model.state_dict()) + 2 * 6
    assert info["object"]["items"][1][1]["items"][0][1]["items"][0][1]["items"][0] == ["step", 2]


def test_tensors_keep_their_device_kind_and_grad_or_move_with_map_location(device, tmp_path):
    w = nn.Parameter(tg.tensor([1.0, 2.0], device=device))
    t = tg.tensor([[1, 2]], dtype=tg.int64, device=device)
    raw = backend.to_device(np.arange(3.0), device)
    path = tmp_path / "t.npz"
    tg.save({"w": w, "t": t, "raw": raw, "scalar": np.float32(1.5)}, path)
    loaded = tg.load(path)
    assert isinstance(loaded["w"], nn.Parameter) and loaded["w"].requires_grad
    assert loaded["w"].device == device and loaded["t"].device == device
    assert loaded["t"].dtype == tg.int64 and not loaded["t"].requires_grad
    assert backend.device_of(loaded["raw"]) == device
    assert loaded["scalar"] == 1.5 and loaded["scalar"].dtype == np.float32
    for target in ("cpu", "cuda"):
        moved = tg.load(path, map_location=target)
        assert moved["w"].device == target and moved["t"].device == target
        assert backend.device_of(moved["raw"]) == target
        assert moved["w"].detach().tolist() == [1.0, 2.0]


def test_objects_that_would_need_pickling_are_refused(tmp_path):
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError) as info:
        tg.save({"fn": print}, path)
    message = str(info.value)
    assert "builtin_function_or_method" in message and "obj['fn']" in message
    assert "pickling" in message and "on purpose" in message
    with pytest.raises(TypeError, match=r"save its state_dict\(\)"):
        tg.save(nn.Linear(1, 1), path)
    with pytest.raises(TypeError, match="dtype object"):
        tg.save([np.array([{}], dtype=object)], path)
    with pytest.raises(TypeError, match="only str and int keys"):
        tg.save({(1, 2): 3}, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []     # nothing left behind


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "keep.npz"
    tg.save({"v": 1}, path)
    real_savez = np.savez

    def dies_half_way(f, **arrays):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        tg.save({"v": 2}, path)
    monkeypatch.setattr(np, "savez", real_savez)
    assert tg.load(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["keep.npz"]


def test_load_errors_name_the_file_and_the_problem(tmp_path):
    missing = tmp_path / "nowhere" / "model.npz"
    with pytest.raises(FileNotFoundError, match=f"no such file: {missing}"):
        tg.load(missing)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        tg.load(tmp_path)
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match=f"{text} is not an .npz file written by tg.save"):
        tg.load(text)
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(3))
    with pytest.raises(ValueError, match=r"not one written by tg.save \(it has no 'meta'"):
        tg.load(other)
    ckpt = tmp_path / "ckpt.npz"
    checkpoint.save_checkpoint(ckpt, modules={"m": nn.Linear(1, 1)})
    with pytest.raises(ValueError, match="load_checkpoint"):
        tg.load(ckpt)
    with pytest.raises(TypeError, match="file path"):
        tg.save({}, 3)


def test_a_pickled_npz_is_never_unpickled(tmp_path):
    evil = tmp_path / "evil.npz"
    np.savez(evil, meta=np.array([{"format": "tinygan-save-1"}], dtype=object))
    with pytest.raises(ValueError, match="not an .npz file written by tg.save"):
        tg.load(evil)


def test_save_reuses_the_checkpoint_writer(tmp_path, monkeypatch):
    calls = []
    real = serialization.write_npz_atomically
    monkeypatch.setattr(serialization, "write_npz_atomically",
                        lambda p, a: calls.append(p) or real(p, a))
    tg.save({"a": 1}, tmp_path / "a.npz")
    assert calls == [tmp_path / "a.npz"]
    assert serialization.write_npz_atomically is not None and files.atomic_write


def test_scheduler_state_round_trips(tmp_path):
    opt = optim.SGD([nn.Parameter(tg.zeros(1))], lr=0.1)
    schedule = optim.lr_scheduler.StepLR(opt, 2)
    schedule.step()
    tg.save({"opt": opt.state_dict(), "sched": schedule.state_dict()}, tmp_path / "s.npz")
    loaded = tg.load(tmp_path / "s.npz")
    assert loaded["sched"] == schedule.state_dict()
    assert os.path.getsize(tmp_path / "s.npz") > 0


@pytest.mark.parametrize("kind", ["zip", "legacy"])
def test_a_pytorch_pickle_is_refused_naming_the_conversion(tmp_path, kind):
    # torch.save's two formats, made without torch: a zip with <name>/data.pkl, or a bare
    # pickle (protocol 2 starts with 0x80 0x02); tg.load reads names and a byte, no more
    path = tmp_path / "netG_epoch_0.pth"
    if kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("netG_epoch_0/data.pkl", b"\x80\x02}q\x00.")
            archive.writestr("netG_epoch_0/data/0", b"\x00" * 16)
    else:
        path.write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ValueError, match=r"PyTorch pickle .* never unpickles; convert it once "
                                         r"where PyTorch runs: safetensors\.torch\.save_file"):
        tg.load(path)


def test_a_file_torch_saved_is_refused_the_same_way(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"weight": torch.ones(2)}, tmp_path / "real.pth")
    with pytest.raises(ValueError, match="is a PyTorch pickle"):
        tg.load(tmp_path / "real.pth")
