"""Checkpoints: a round trip restores training exactly, reading never unpickles, writing is
atomic, bad paths and files give errors naming the path, and devices are interchangeable."""
import json
import os

import numpy as np
import pytest

import tinygan as tg
from tinygan import backend, optim
from tinygan.gan import GANTrainer, build_models
from tinygan.utils.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from tinygan.utils.training import TrainingRun

Z_DIM, IM_DIM = 4, 16


def host(t):
    return t.detach().numpy().copy()


def make_run(device, seed):
    """A tiny course GAN with Adam, on ``device``; ``seed`` picks the initial weights."""
    tg.manual_seed(seed)
    G, D = build_models(z_dim=Z_DIM, hidden_dim=4, im_dim=IM_DIM)
    G.to(device), D.to(device)
    opt_g = optim.Adam(G.parameters(), lr=1e-2, betas=(0.5, 0.999))
    opt_d = optim.Adam(D.parameters(), lr=3e-3, betas=(0.4, 0.99))
    return GANTrainer(G, D, opt_g, opt_d, z_dim=Z_DIM, device=device, seed=seed)


def real_batch(device, seed=0):
    rng = np.random.default_rng(seed)
    return tg.tensor(rng.random((8, IM_DIM), dtype=np.float32), device=device)


def parts(trainer):
    return (dict(generator=trainer.generator, discriminator=trainer.discriminator),
            dict(opt_g=trainer.opt_g, opt_d=trainer.opt_d))


def save(path, trainer, meta=None):
    modules, optimizers = parts(trainer)
    save_checkpoint(path, modules=modules, optimizers=optimizers, meta=meta)


def restore(path, trainer):
    checkpoint = load_checkpoint(path)
    modules, optimizers = parts(trainer)
    checkpoint.restore(modules=modules, optimizers=optimizers)
    return checkpoint


def assert_same_state(a, b):
    """Modules (parameters and buffers) and optimizers of two trainers hold equal numbers."""
    for module_a, module_b in ((a.generator, b.generator), (a.discriminator, b.discriminator)):
        sa, sb = module_a.state_dict(), module_b.state_dict()
        assert sa.keys() == sb.keys()
        for key in sa:
            assert np.array_equal(sa[key], sb[key]), key
    for opt_a, opt_b in ((a.opt_g, b.opt_g), (a.opt_d, b.opt_d)):
        da, db = opt_a.state_dict(), opt_b.state_dict()
        # Compared as JSON: the checkpoint's meta is JSON, so betas come back a list.
        assert json.dumps(da["param_groups"]) == json.dumps(db["param_groups"])
        assert da["state"].keys() == db["state"].keys()
        for index in da["state"]:
            assert da["state"][index].keys() == db["state"][index].keys()
            for key, value in da["state"][index].items():
                assert np.array_equal(value, db["state"][index][key]), (index, key)


def trained(device, steps=2, seed=0):
    trainer = make_run(device, seed)
    for i in range(steps):
        trainer.train_step(real_batch(device, i))
    return trainer


# --- round trip --------------------------------------------------------------------------------

def test_round_trip_restores_modules_optimizers_and_meta(device, tmp_path):
    original = trained(device)
    meta = {"epoch": 3, "note": "ünïcode", "nested": {"lr": 2e-4, "sizes": [1, 2]},
            "trainer": original.state()}
    save(tmp_path / "ck.npz", original, meta)

    fresh = make_run(device, seed=1)                   # other weights, empty Adam state
    checkpoint = restore(tmp_path / "ck.npz", fresh)

    assert checkpoint.meta == json.loads(json.dumps(meta))
    assert_same_state(original, fresh)
    assert [s["step"] for s in fresh.opt_g.state] == [2] * len(fresh.opt_g.state)
    assert all(isinstance(s["step"], int) for s in fresh.opt_d.state)
    assert tuple(fresh.opt_d.param_groups[0]["betas"]) == (0.4, 0.99)
    assert fresh.opt_d.param_groups[0]["lr"] == 3e-3
    for p in fresh.generator.parameters():            # restored onto the trainer's device
        assert p.device == device
    for s in fresh.opt_g.state:
        assert backend.device_of(s["exp_avg"]) == device


def test_the_next_step_after_restore_is_identical(device, tmp_path):
    original = trained(device)
    save(tmp_path / "ck.npz", original, {"trainer": original.state()})
    fresh = make_run(device, seed=1)
    checkpoint = restore(tmp_path / "ck.npz", fresh)
    # On "cuda" a restored generator reseeds its device stream from the saved host state
    # (backend.RandomStream), so the original is put through the same restore of its own state.
    for trainer in (original, fresh):
        trainer.load_state(checkpoint.meta["trainer"])

    for trainer in (original, fresh):
        trainer.train_step(real_batch(device, seed=9))

    assert_same_state(original, fresh)
    assert original.step == fresh.step == 3


def old_layout(meta):
    """meta as checkpoints had it while the loop was part of GANTrainer: no "run", the log
    interval in progress under meta["trainer"]["metrics"]."""
    meta = dict(meta)
    meta["trainer"] = {**meta["trainer"], **meta.pop("run")}
    return meta


@pytest.mark.parametrize("layout", ["current", "old"])
def test_a_partial_metrics_interval_survives_a_checkpoint(device, tmp_path, layout):
    original = TrainingRun(make_run(device, seed=0), log_every=3)
    for i in range(2):                                  # two of the interval's three steps
        assert original.train_step(real_batch(device, i)) is None
    meta = {"trainer": original.trainer.state(), "run": original.state()}
    save(tmp_path / "ck.npz", original.trainer, meta if layout == "current" else old_layout(meta))
    fresh = TrainingRun(make_run(device, seed=1), log_every=3)
    checkpoint = restore(tmp_path / "ck.npz", fresh.trainer)
    assert ("run" in checkpoint.meta) == (layout == "current")
    for run in (original, fresh):                      # see the test above for why both
        run.trainer.load_state(checkpoint.meta["trainer"])
        run.load_state(checkpoint.meta.get("run", checkpoint.meta["trainer"]))  # as mnist_gan

    records = [run.train_step(real_batch(device, 2)) for run in (original, fresh)]

    assert records[0] is not None and records[0]["step"] == 3
    assert records[1] == records[0]                     # the mean of the same three rows


def test_restored_arrays_are_copies_not_views(device, tmp_path):
    original = trained(device)
    save(tmp_path / "ck.npz", original)
    fresh = make_run(device, seed=1)
    checkpoint = restore(tmp_path / "ck.npz", fresh)
    fresh.train_step(real_batch(device))              # updates in place
    again = make_run(device, seed=2)
    checkpoint.restore(*parts(again))                 # the same Checkpoint object, reused
    assert_same_state(original, again)


# --- reading never unpickles -------------------------------------------------------------------

class _Tripwire:
    """Unpickling this creates a file: the proof that a loader ran pickled code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_an_npz_with_an_object_array_is_refused_without_unpickling(tmp_path):
    sentinel = tmp_path / "unpickled"
    path = tmp_path / "evil.npz"
    meta = json.dumps({"format": FORMAT, "meta": {}, "optimizers": {}})
    evil = np.empty(1, dtype=object)
    evil[0] = _Tripwire(str(sentinel))
    np.savez(path, meta=np.array(meta), **{"generator/weight": evil})

    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    assert "pickle" in message.lower()
    assert not sentinel.exists()


# --- atomic writes -----------------------------------------------------------------------------

def test_a_failed_write_keeps_the_old_checkpoint_and_leaves_no_temp_file(device, tmp_path,
                                                                       monkeypatch):
    path = tmp_path / "checkpoint.npz"
    first = trained(device, steps=1)
    save(path, first, {"which": "first"})
    before = path.read_bytes()
    second = trained(device, steps=3)
    real_savez = np.savez

    def savez_then_fail(file, **arrays):
        half = dict(list(arrays.items())[: len(arrays) // 2])
        real_savez(file, **half)                       # part of the archive reaches the file
        file.flush()
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save(path, second, {"which": "second"})
    monkeypatch.undo()

    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz"]
    assert path.read_bytes() == before
    fresh = make_run(device, seed=5)
    assert restore(path, fresh).meta == {"which": "first"}
    assert_same_state(first, fresh)


def test_an_interrupted_write_keeps_the_old_checkpoint(device, tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    first = trained(device, steps=1)
    save(path, first)
    before = path.read_bytes()

    def interrupted(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(path, trained(device, steps=2))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz"]
    assert path.read_bytes() == before


def test_saving_replaces_an_existing_checkpoint(device, tmp_path):
    path = tmp_path / "sub" / "checkpoint.npz"           # the folder is created
    save(path, trained(device, steps=1), {"n": 1})
    second = trained(device, steps=2)
    save(path, second, {"n": 2})
    fresh = make_run(device, seed=4)
    assert restore(path, fresh).meta == {"n": 2}
    assert_same_state(second, fresh)
    assert sorted(os.listdir(path.parent)) == ["checkpoint.npz"]


# --- bad paths and files -----------------------------------------------------------------------

def test_a_missing_checkpoint_names_its_path(tmp_path):
    path = tmp_path / "nowhere" / "checkpoint.npz"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_an_npz_that_is_not_a_checkpoint_names_its_path(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, w=np.arange(3.0))
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "checkpoint" in str(info.value)


def test_a_file_that_is_not_an_npz_names_its_path(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("not a zip archive")
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_an_unknown_format_is_refused(tmp_path):
    path = tmp_path / "future.npz"
    np.savez(path, meta=np.array(json.dumps({"format": "tinygan-checkpoint-99", "meta": {},
                                             "optimizers": {}})))
    with pytest.raises(ValueError, match="tinygan-checkpoint-99") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_asking_for_a_module_or_optimizer_it_lacks_is_a_key_error(device, tmp_path):
    save(tmp_path / "ck.npz", trained(device, steps=1))
    checkpoint = load_checkpoint(tmp_path / "ck.npz")
    with pytest.raises(KeyError, match="encoder"):
        checkpoint.state_dict("encoder")
    with pytest.raises(KeyError, match="opt_e"):
        checkpoint.optimizer_state_dict("opt_e")


# --- devices -----------------------------------------------------------------------------------

def test_a_checkpoint_moves_between_devices(device, tmp_path):
    other = "cpu" if device == "cuda" else "cuda"
    source = trained(device)
    save(tmp_path / "a.npz", source, {"from": device})

    moved = make_run(other, seed=1)
    assert restore(tmp_path / "a.npz", moved).meta == {"from": device}
    assert_same_state(source, moved)
    assert all(p.device == other for p in moved.discriminator.parameters())
    assert all(backend.device_of(s["exp_avg_sq"]) == other for s in moved.opt_d.state)

    save(tmp_path / "b.npz", moved)                     # and back again
    back = make_run(device, seed=2)
    restore(tmp_path / "b.npz", back)
    assert_same_state(source, back)
    assert all(p.device == device for p in back.generator.parameters())
    # The moved run trains on: its state is usable there, not only equal.
    moved.train_step(real_batch(other))
    assert np.isfinite(host(next(moved.generator.parameters()))).all()
