"""TensorBoard logging through tensorboardX (optional: ``pip install -e ".[tensorboard]"``).

    logger = TensorBoardLogger("runs/tb")      # then: tensorboard --logdir runs/tb
    logger.scalars({"loss/d": 0.7}, step=10)
    logger.image("samples", grid_uint8, step=10)

    writer = SummaryWriter(comment="_vanilla")   # torch.utils.tensorboard's, for tutorials
    writer.add_scalar("D_error", d_loss, step)   # tinygan tensors, arrays or numbers
    writer.add_image("samples", make_grid(fake, normalize=True), step)

Events are written in the caller's thread, not by tensorboardX's ``SummaryWriter``, whose
writer thread dies on a full disk (a traceback) and then blocks the training loop on its
queue: here an OSError is a :class:`~tinygan.utils.files.WriteError`, one line naming the
folder, raised where the program handles its other write errors.
"""
from __future__ import annotations

import contextlib
import os
import socket
import time
from datetime import datetime

import numpy as np

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

    def _write(self, summary, step, wall_time=None):
        event = self._event(summary=summary, step=int(step),
                            wall_time=time.time() if wall_time is None else float(wall_time))
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


class SummaryWriter:
    """``torch.utils.tensorboard.SummaryWriter`` (tensorboardX's too) for the calls tutorials
    make: ``add_scalar``, ``add_scalars``, ``add_image``, ``add_images``, ``flush``,
    ``close``, and ``with``. Values may be tinygan tensors (tensorboardX's own writer takes
    only NumPy arrays and torch tensors), arrays or numbers; float images are in [0, 1], as
    tensorboardX scales them. ``log_dir`` defaults to PyTorch's ``runs/<date>_<host><comment>``.
    Events go through :class:`TensorBoardLogger`: written in the caller's thread."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = str(log_dir)
        self._logger = TensorBoardLogger(self.log_dir)

    def get_logdir(self):
        return self.log_dir

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None):
        value = _host(scalar_value)
        if value.size != 1:
            raise ValueError(f"add_scalar({tag!r}): expected one number, got an array of "
                             f"shape {value.shape}")
        self._logger._write(self._logger._scalar(tag, float(value.reshape(()))),
                            global_step or 0, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Each value under ``main_tag/name`` (tensorboardX writes each to a folder of its
        own; here they share this writer's file)."""
        for name, value in tag_scalar_dict.items():
            self.add_scalar(f"{main_tag}/{name}", value, global_step, walltime)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        self._logger._write(self._logger._image(tag, _host(img_tensor), dataformats=dataformats),
                            global_step or 0, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        self.add_image(tag, img_tensor, global_step, walltime, dataformats)

    def flush(self):
        self._logger.flush()

    def close(self):
        self._logger.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _host(value) -> np.ndarray:
    """A tinygan tensor (detached, copied to the host), an array or a number, as NumPy."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)
