"""The loop around the GAN trainer (tinygan.utils.training): epochs and callbacks, one
logged record per interval holding that interval's means, divergence caught with the step
that diverged, resuming inside an epoch, and the state a checkpoint keeps."""
import json

import numpy as np
import pytest

import tinygan as tg
from tinygan.utils.metrics import TrainingDiverged
from tinygan.utils.training import Callback, TrainingRun
from tiny_gan import course_trainer, image_loader, record_steps


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_epoch_start(self, run, epoch):
        self.events.append(("start", epoch))

    def on_step(self, run, step):
        self.events.append(("step", step))

    def on_log(self, run, record):
        self.events.append(("log", record))

    def on_epoch_end(self, run, epoch):
        self.events.append(("end", epoch))


def test_fit_logs_every_log_every_steps_with_the_interval_means(device):
    trainer = course_trainer(device)
    steps = record_steps(trainer)
    run = TrainingRun(trainer, log_every=3)
    recorder = Recorder()
    history = run.fit(image_loader(device), epochs=2, callbacks=[recorder])  # 10 steps/epoch

    assert history is run.history
    assert [r["step"] for r in history] == [3, 6, 9, 10, 13, 16, 19, 20]
    assert [r["epoch"] for r in history] == [1] * 4 + [2] * 4
    assert all(set(r) == {"step", "epoch", "d_loss", "g_loss", "d_real", "d_fake"}
               for r in history)
    assert trainer.step == 20 and trainer.epoch == 2 and len(steps) == 20
    # per step: d_loss, g_loss, mean σ(D(x)), mean σ(D(G(z)))
    per_step = np.array([[s["d_loss"], s["g_loss"], sigmoid(s["pred_real"]).mean(),
                          sigmoid(s["pred_fake"]).mean()] for s in steps], dtype=np.float64)
    first = 1
    for record in history:
        interval = per_step[first - 1:record["step"]]
        first = record["step"] + 1
        np.testing.assert_allclose([record[k] for k in ("d_loss", "g_loss", "d_real", "d_fake")],
                                   interval.mean(axis=0), rtol=1e-5)
        assert 0 < record["d_real"] < 1 and 0 < record["d_fake"] < 1
    logged = [e[1] for e in recorder.events if e[0] == "log"]
    assert logged == history
    assert [e for e in recorder.events if e[0] in ("start", "end")] == [
        ("start", 1), ("end", 1), ("start", 2), ("end", 2)]
    assert [e[1] for e in recorder.events if e[0] == "step"] == list(range(1, 21))
    assert run.batch_in_epoch == 0 and not run.in_step
    assert run.last_epoch_seconds > 0 and run.steps_per_second > 0


def test_a_nan_loss_raises_training_diverged_naming_the_step(device):
    run = TrainingRun(course_trainer(device), log_every=3)

    class Poison(Callback):
        def on_step(self, run, step):
            if step == 4:                   # from step 5 on every loss is NaN
                with tg.no_grad():
                    run.trainer.discriminator.disc[-1].weight.fill_(float("nan"))

    with pytest.raises(TrainingDiverged, match=r"step 5\b") as info:
        run.fit(image_loader(device), epochs=1, callbacks=[Poison()])
    assert "nan" in str(info.value).lower()
    assert [r["step"] for r in run.history] == [3]


def test_fit_skip_batches_resumes_inside_an_epoch(device):
    trainer = course_trainer(device)
    run = TrainingRun(trainer, log_every=100)
    run.fit(image_loader(device), epochs=1, skip_batches=4)
    assert trainer.step == 6 and trainer.epoch == 1
    assert run.history[-1]["step"] == 6


def test_a_run_stopped_inside_an_epoch_resumes_with_the_same_batches(device):
    # What a run stopped inside an epoch saves: the loader's state as that epoch began and
    # the batches done. Restored and given skip_batches, it trains on the rest of the epoch.
    trainer = course_trainer(device)
    trained_on, train_step = [], trainer.train_step

    def recording_train_step(real, labels=None):
        trained_on.append(real.numpy().copy())
        return train_step(real, labels)

    class StopAtStep4(Callback):
        def on_step(self, run, step):
            if step == 4:
                raise KeyboardInterrupt

    trainer.train_step = recording_train_step
    run = TrainingRun(trainer)
    with pytest.raises(KeyboardInterrupt):
        run.fit(image_loader(device), epochs=1, callbacks=[StopAtStep4()])
    assert run.batch_in_epoch == 4 and not run.in_step and trainer.epoch == 0

    resumed_loader = image_loader(device)
    list(resumed_loader)                          # its order has moved on: restoring must matter
    resumed_loader.load_state_dict(run.epoch_loader_state)
    run.fit(resumed_loader, epochs=1, skip_batches=run.batch_in_epoch)

    straight = [x.numpy() for x, _ in image_loader(device)]     # the first epoch, unbroken
    assert len(trained_on) == len(straight) == 10
    assert all(np.array_equal(a, b) for a, b in zip(trained_on, straight))
    assert trainer.step == 10 and trainer.epoch == 1


def test_log_every_must_be_at_least_one(device):
    with pytest.raises(ValueError, match="at least 1"):
        TrainingRun(course_trainer(device), log_every=0)


def test_a_partial_interval_round_trips_through_state_as_json(device):
    trainer = course_trainer(device)
    run = TrainingRun(trainer, log_every=3)
    real = tg.rand(8, 16, device=device)
    assert run.train_step(real) is None and run.train_step(real) is None  # 2 of 3 steps
    state = json.loads(json.dumps(run.state()))                  # as a checkpoint keeps it
    assert len(state["metrics"]["rows"]) == 2

    resumed = TrainingRun(trainer, log_every=3)
    resumed.load_state(state)
    run_record, resumed_record = run.flush_metrics(), resumed.flush_metrics()
    assert resumed_record == run_record and resumed_record["step"] == 2


def test_a_state_without_metrics_leaves_the_buffer_empty(device):
    run = TrainingRun(course_trainer(device), log_every=3)
    run.load_state({"step": 0, "epoch": 0})      # an old checkpoint's trainer state, pre-metrics
    assert run.flush_metrics() is None
