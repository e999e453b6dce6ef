"""TensorBoard logging through tensorboardX (optional: ``pip install -e ".[tensorboard]"``).

    logger = TensorBoardLogger("runs/tb")      # then: tensorboard --logdir runs/tb
    logger.scalars({"loss/d": 0.7}, step=10)
    logger.image("samples", grid_uint8, step=10)
"""
from __future__ import annotations

INSTALL_HINT = 'pip install -e ".[tensorboard]"  (or: pip install tensorboardX)'


class TensorBoardUnavailable(ImportError):
    """--tensorboard was asked for but tensorboardX is not installed."""


class TensorBoardLogger:
    """Scalars and grayscale images as TensorBoard event files in ``logdir``."""

    def __init__(self, logdir):
        try:
            from tensorboardX import SummaryWriter
        except ImportError as exc:
            raise TensorBoardUnavailable(
                f"--tensorboard needs the tensorboardX package, which is not installed "
                f"({exc}); install it with: {INSTALL_HINT}") from exc
        self.logdir = str(logdir)
        self.writer = SummaryWriter(self.logdir)

    def scalars(self, values, step):
        for tag, value in values.items():
            self.writer.add_scalar(tag, float(value), global_step=step)

    def image(self, tag, pixels, step):
        """A (H, W) uint8 grayscale picture (e.g. what images.image_grid returns)."""
        self.writer.add_image(tag, pixels[None], global_step=step, dataformats="CHW")

    def flush(self):
        self.writer.flush()

    def close(self):
        self.writer.close()
