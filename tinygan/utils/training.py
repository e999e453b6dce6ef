"""The training loop around a GANTrainer: epochs, callbacks, resuming inside an epoch, and
the per-step metrics, kept on the device and logged once per interval.

``tinygan.gan.GANTrainer`` is what the course teaches: one D update, one G update. What a
long run needs on top of that lives here, so the trainer still reads like the pseudo-code::

    run = TrainingRun(trainer, log_every=50)
    history = run.fit(loader, epochs=5, callbacks=[...])   # one record per logged interval

A checkpoint keeps ``trainer.state()`` and ``run.state()`` (the log interval in progress),
and the loader's state with the batches done, for ``fit(..., skip_batches=...)``.
"""
from __future__ import annotations

import math
import time

from .. import backend
from ..tensor import no_grad
from .metrics import DeviceMetrics, TrainingDiverged

# What each training step records (kept on the device until a log interval).
METRICS = ("d_loss", "g_loss", "d_real", "d_fake")


def speed_text(steps, seconds):
    """Steps per second, or seconds per step when a step takes longer than a second (so a
    slow epoch of one big batch does not read "0.0 steps/s").

    >>> speed_text(730, 50.0), speed_text(1, 25.0), speed_text(3, 2.0), speed_text(0, 0.01)
    ('14.6 steps/s', '25.0 s/step', '1.5 steps/s', 'no steps trained')
    """
    if not steps:
        return "no steps trained"
    if seconds <= 0:
        return f"{steps} step(s) in no measurable time"
    rate = steps / seconds
    return f"{rate:.1f} steps/s" if rate >= 1 else f"{seconds / steps:.1f} s/step"


class DivergenceCheck:
    """The rule that stops a run gone far out of range while every number is still finite
    (an exact NaN or inf is caught earlier, by DeviceMetrics).

    Checked once per log interval, on the record the log copies to the host anyway and on
    the largest weight, reduced on the device (one small copy per interval, none per step).
    The run has diverged when:

    - a loss's interval mean is above ``max_loss`` in size (1e3; minimax losses go
      negative). A BCE of L means D's logit is about L the wrong way; working runs stay
      below about 10, diverged ones (--lr 10 to 1e6) reach 1e11 to 1e30 within 25 steps.
      BCELoss on probabilities (--arch vanilla) is capped at 100 by its clamp: there the
      two tests below catch it.
    - a weight is above ``max_weight`` in size (1e4). Adam moves a weight by about lr per
      step, so at the presets' lr (2e-3 at most) reaching it takes millions of steps;
      working runs keep weights near 1, and --lr 1e6 puts them at 1e6 to 1e7 in 25 steps.
    - D is saturated, its mean D(x) and D(G(z)) each within ``saturation`` (1e-3) of 0 or
      1, for ``patience`` (500) steps running: D's sigmoid is flat there, the gradients
      vanish and the run does not recover. A working D stays between 0.2 and 0.8. (The
      count starts again in a resumed run.)

    ``losses`` names the record's losses; ``outputs`` D's means (none: no saturation test).
    """

    def __init__(self, losses=("d_loss", "g_loss"), outputs=("d_real", "d_fake"),
                 max_loss=1e3, max_weight=1e4, saturation=1e-3, patience=500):
        self.losses, self.outputs = tuple(losses), tuple(outputs)
        self.max_loss, self.max_weight = max_loss, max_weight
        self.saturation, self.patience = saturation, patience
        self.saturated_since = None      # the first step of the saturated stretch in progress

    def check(self, record, modules, first_step):
        """Raise TrainingDiverged saying what was seen; ``record`` covers the steps
        ``first_step`` to ``record["step"]``."""
        seen = [f"{name} {record[name]:.4g}" for name in self.losses
                if abs(record[name]) > self.max_loss]
        weight = largest_weight(modules)
        if weight > self.max_weight:
            seen.append(f"a weight of size {weight:.3g} (more than {self.max_weight:g})")
        if self.outputs and all(min(record[k], 1 - record[k]) < self.saturation
                                for k in self.outputs):
            if self.saturated_since is None:
                self.saturated_since = first_step
            steps = record["step"] - self.saturated_since + 1
            if steps >= self.patience:
                seen.append(f"D saturated for {steps} steps ("
                            + ", ".join(f"mean {k} {record[k]:.4g}" for k in self.outputs)
                            + ")")
        else:
            self.saturated_since = None
        if seen:
            raise TrainingDiverged(
                f"training diverged by step {record['step']} (epoch {record['epoch']}): "
                f"{'; '.join(seen)}. The last checkpoint is unchanged; try a smaller --lr, "
                "or continue anyway with --no-divergence-check")


@no_grad()
def largest_weight(modules):
    """The largest |value| among the modules' parameters, reduced on the device: one copy."""
    arrays = [p._data for m in modules for p in m.parameters()]
    if not arrays:
        return 0.0
    xp = backend.xp_for(backend.device_of(arrays[0]))
    peaks = xp.stack([xp.abs(a).max() for a in arrays])
    return float(backend.to_numpy(peaks.max()))


class Callback:
    """Hooks called by :meth:`TrainingRun.fit`; override the ones you need.

    Each gets the run: ``run.trainer`` is the GANTrainer, ``run.history`` the records.
    """

    def on_epoch_start(self, run, epoch):
        pass

    def on_train_step(self, run, step):
        """Right after the step, still inside it (``run.in_step``): for what belongs to the
        step's state, e.g. an EMA of G, which a checkpoint must see updated with it."""

    def on_step(self, run, step):
        pass

    def on_log(self, run, record):
        pass

    def on_epoch_end(self, run, epoch):
        pass


class TrainingRun:
    """Epochs of ``trainer.train_step`` over a loader, and the metrics of those steps.

    Each step's d_loss, g_loss, mean D(x) and mean D(G(z)) stay on the device; once per
    ``log_every`` steps (and at the end of each epoch) they are copied to the host at once,
    checked (a NaN or inf raises :class:`~tinygan.utils.metrics.TrainingDiverged`, and so
    does ``divergence``, a :class:`DivergenceCheck`, when given) and averaged into one
    record of ``history``. So a step makes no device-to-host copy.
    """

    def __init__(self, trainer, log_every=50, divergence=None):
        self.trainer = trainer
        self.divergence = divergence     # a DivergenceCheck, or None (only NaN/inf stop)
        self.metrics = DeviceMetrics(METRICS, log_every, trainer.device)
        self.history = []                # one record per logged interval
        self.in_step = False             # True while a step and its bookkeeping run
        self.batch_in_epoch = 0          # batches of the epoch in progress done (or skipped)
        self.epoch_loader_state = None   # the loader's state when that epoch began
        self.last_epoch_seconds = None
        self.last_epoch_steps = None     # steps trained in that epoch (skipped ones not counted)
        self.steps_per_second = None

    def train_step(self, real, labels=None):
        """One ``trainer.train_step`` with its metrics buffered; returns the record when
        this step closed a log interval, else None."""
        out = self.trainer.train_step(real, labels)
        if self.metrics.add(out.d_loss, out.g_loss, out.d_real.mean(), out.d_fake.mean()):
            return self.flush_metrics()
        return None

    def flush_metrics(self):
        """Log the buffered steps as one record (None if none); raises TrainingDiverged."""
        steps = len(self.metrics)
        record = self.metrics.flush(self.trainer.step, self.trainer.epoch + 1)
        if record is not None and self.divergence is not None:
            self.divergence.check(record, (self.trainer.generator, self.trainer.discriminator),
                                  first_step=record["step"] - steps + 1)
        if record is not None:
            self.history.append(record)
        return record

    def fit(self, loader, epochs, callbacks=(), skip_batches=0):
        """Train for ``epochs`` more epochs; returns ``history``.

        ``skip_batches`` resumes inside an epoch: restore the loader to that epoch's start
        (``epoch_loader_state``), and the first ``skip_batches`` batches, done before the
        run stopped, are drawn again but not trained on.
        """
        trainer = self.trainer
        for _ in range(epochs):
            for cb in callbacks:
                cb.on_epoch_start(self, trainer.epoch + 1)
            self.epoch_loader_state = loader.state_dict()   # the order this epoch will use
            self.batch_in_epoch = 0
            started, steps = time.perf_counter(), 0
            for real, labels in loader:
                if skip_batches:
                    skip_batches -= 1
                    self.batch_in_epoch += 1
                    continue
                # in_step stays True if cut short (e.g. by Ctrl-C): D may be updated and G
                # not, or the step counted and the batch not; such a state is not saved.
                self.in_step = True
                record = self.train_step(real, labels if trainer.conditional else None)
                for cb in callbacks:
                    cb.on_train_step(self, trainer.step)
                self.batch_in_epoch += 1
                self.in_step = False
                steps += 1
                self._log(callbacks, record)     # the record first: on_step may stop the run
                for cb in callbacks:
                    cb.on_step(self, trainer.step)
            self._log(callbacks, self.flush_metrics())       # the epoch's last, short interval
            trainer.epoch += 1
            self.batch_in_epoch = 0
            elapsed = time.perf_counter() - started
            self.last_epoch_seconds, self.last_epoch_steps = elapsed, steps
            self.steps_per_second = steps / elapsed if elapsed > 0 else math.inf
            for cb in callbacks:
                cb.on_epoch_end(self, trainer.epoch)
        return self.history

    def speed(self):
        """The last epoch's time and speed as text, e.g. "18.2 s, 14.6 steps/s"."""
        seconds = self.last_epoch_seconds
        return f"{seconds:.1f} s, {speed_text(self.last_epoch_steps, seconds)}"

    def _log(self, callbacks, record):
        if record is not None:
            for cb in callbacks:
                cb.on_log(self, record)

    # --- state for checkpoints ------------------------------------------------------------------
    def state(self):
        """The log interval in progress (JSON-friendly), so a resumed run logs the same
        records as one never stopped."""
        return {"metrics": self.metrics.state_dict()}

    def load_state(self, state):
        """Restore what :meth:`state` returned.

        Checkpoints written while the loop was part of GANTrainer kept the interval in the
        trainer's state (``meta["trainer"]["metrics"]``); that dict is accepted here as it
        is. A state without "metrics" (older still) leaves the buffer empty.
        """
        if "metrics" in state:
            self.metrics.load_state_dict(state["metrics"])
