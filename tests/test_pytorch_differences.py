"""Issue 27, item 8: where tinygan accepted what PyTorch refuses, it now refuses it the same
way (checked side by side with torch where it is installed), and crafted counters or
tg.load entries are one error instead of a silent wrong result."""
import json
import zipfile

import numpy as np
import pytest

import tinygan as tg
from tinygan import nn, optim

torch = pytest.importorskip("torch")

OPTIMIZERS = [("SGD", dict(lr=0.1)), ("Adam", dict(lr=0.1)), ("AdamW", dict(lr=0.1))]


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS)
def test_a_parameter_in_two_groups_is_refused_as_in_pytorch(name, kwargs):
    p, q = tg.zeros(3, requires_grad=True), tg.zeros(2, requires_grad=True)
    with pytest.raises(ValueError) as ours:
        getattr(optim, name)([{"params": [p, q]}, {"params": [p]}], **kwargs)
    tp, tq = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([{"params": [tp, tq]}, {"params": [tp]}], **kwargs)
    assert str(ours.value) == str(theirs.value)
    getattr(optim, name)([{"params": [p]}, {"params": [q]}], **kwargs)   # apart: fine


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS)
@pytest.mark.parametrize("shape", [(1, 4), (4,), (3, 1), (2, 3, 4)])
def test_a_gradient_of_another_shape_is_an_error_not_broadcast(device, name, kwargs, shape):
    layer = nn.Linear(4, 3).to(device)
    opt = getattr(optim, name)(layer.parameters(), **kwargs)
    before = layer.weight.detach().numpy().copy()
    with pytest.raises(RuntimeError) as ours:     # at the assignment, as PyTorch
        layer.weight.grad = tg.ones(*shape, device=device)
    assert layer.weight.grad is None
    opt.step()                                    # nothing to do: no gradient
    assert np.array_equal(layer.weight.detach().numpy(), before)
    t = torch.nn.Linear(4, 3)
    with pytest.raises(RuntimeError) as theirs:
        t.weight.grad = torch.ones(*shape)
    assert str(ours.value) == str(theirs.value)


def test_gradients_of_the_right_shape_still_step(device):
    layer = nn.Linear(4, 3).to(device)
    opt = optim.Adam(layer.parameters(), lr=0.1)
    layer(tg.ones(2, 4, device=device)).sum().backward()
    opt.step()


def test_tg_load_refuses_an_entry_pointing_at_its_metadata(tmp_path):
    path = tmp_path / "state.npz"
    tg.save({"w": tg.zeros(2)}, path)
    tampered = tmp_path / "tampered.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            raw = src.read(info)
            if info.filename == "meta.npy":
                meta = json.loads(str(np.load(path)["meta"]))
                meta["object"]["items"][0][1]["key"] = "meta"
                import io
                buffer = io.BytesIO()
                np.save(buffer, np.array(json.dumps(meta)))
                raw = buffer.getvalue()
            dst.writestr(info, raw)
    with pytest.raises(ValueError, match="altered.*'meta', which is not one of its arrays"):
        tg.load(tampered)


@pytest.mark.parametrize("change, said", [
    (lambda m: m["object"]["items"][0][1].update(key="a99"), "'a99', which is not one"),
    (lambda m: m["object"]["items"][0][1].pop("key"), "None, which is not one"),
    (lambda m: m["object"]["items"][0][1].update(type="pickle"), "unknown type 'pickle'"),
    (lambda m: m["object"].pop("items"), "altered"),
    (lambda m: m.update(object={"type": "list", "items": 5}), "altered"),
])
def test_tg_load_of_a_tampered_tree_is_one_error_naming_the_file(tmp_path, change, said):
    path = tmp_path / "state.npz"
    tg.save({"w": tg.zeros(2)}, path)
    meta = json.loads(str(np.load(path)["meta"]))
    change(meta)
    np.savez(path, meta=np.array(json.dumps(meta)), a0=np.zeros(2, np.float32))
    with pytest.raises(ValueError) as info:
        tg.load(path)
    assert str(path) in str(info.value) and said in str(info.value)


def test_tg_load_refuses_a_string_array_as_a_tensor(tmp_path):
    path = tmp_path / "state.npz"
    meta = {"format": "tinygan-save-1", "object": {"type": "tensor", "key": "a0",
                                                   "device": "cpu", "requires_grad": False}}
    np.savez(path, meta=np.array(json.dumps(meta)), a0=np.array(["x"]))
    with pytest.raises(ValueError, match="<U1, which no Tensor holds"):
        tg.load(path)
