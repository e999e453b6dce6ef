"""TensorBoard logging through tensorboardX (optional: ``pip install -e ".[tensorboard]"``).

    logger = TensorBoardLogger("runs/tb")      # then: tensorboard --logdir runs/tb
    logger.scalars({"loss/d": 0.7}, step=10)
    logger.image("samples", grid_uint8, step=10)

Events are written in the caller's thread, not by tensorboardX's ``SummaryWriter``, whose
writer thread dies on a full disk (a traceback) and then blocks the training loop on its
queue: here an OSError is a :class:`~tinygan.utils.files.WriteError`, one line naming the
folder, raised where the program handles its other write errors.
"""
from __future__ import annotations

import contextlib
import os
import time

from .files import append_error

INSTALL_HINT = 'pip install -e ".[tensorboard]"  (or: pip install tensorboardX)'


class TensorBoardUnavailable(ImportError):
    """--tensorboard was asked for but tensorboardX is not installed."""


class TensorBoardLogger:
    """Scalars and grayscale images as TensorBoard event files in ``logdir``."""

    def __init__(self, logdir):
        try:
            import tensorboardX   # noqa: F401  first: its submodules may be cached without it
            from tensorboardX.event_file_writer import EventsWriter
            from tensorboardX.proto.event_pb2 import Event
            from tensorboardX.summary import image, scalar
        except ImportError as exc:
            raise TensorBoardUnavailable(
                f"--tensorboard needs the tensorboardX package, which is not installed "
                f"({exc}); install it with: {INSTALL_HINT}") from exc
        self.logdir = str(logdir)
        self._event, self._scalar, self._image = Event, scalar, image
        with self._writing():
            os.makedirs(self.logdir, exist_ok=True)
            self._events = EventsWriter(os.path.join(self.logdir, "events"))

    @contextlib.contextmanager
    def _writing(self):
        try:
            yield
        except OSError as exc:
            raise append_error(f"the TensorBoard events in {self.logdir}", exc,
                               "the events before are intact") from exc

    def _write(self, summary, step):
        event = self._event(summary=summary, wall_time=time.time(), step=int(step))
        with self._writing():
            self._events.write_event(event)

    def scalars(self, values, step):
        for tag, value in values.items():
            self._write(self._scalar(tag, float(value)), step)

    def image(self, tag, pixels, step):
        """A (H, W) uint8 grayscale picture (e.g. what images.image_grid returns)."""
        self._write(self._image(tag, pixels[None], dataformats="CHW"), step)

    def flush(self):
        with self._writing():
            self._events.flush()

    def close(self):
        with self._writing():
            self._events.close()
