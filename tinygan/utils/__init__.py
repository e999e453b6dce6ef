"""Infrastructure around the engine and the models: what a training program needs besides them.

As in PyTorch (``torch.utils.data``, ``torch.utils.tensorboard``), these are tools, not the
subject: read the engine, ``nn``, ``optim`` and ``gan`` first; nothing there needs this.

- ``data``: MNIST and Fashion-MNIST (IDX reading, checksummed download), ``DataLoader``,
  ``Dataset`` and ``TensorDataset``.
- ``training``: the epoch loop around ``GANTrainer`` (``TrainingRun``, ``Callback``), with
  per-step metrics buffered on the device.
- ``metrics``: that buffer (``DeviceMetrics``), ``TrainingDiverged``, ``read_metrics_upto``.
- ``checkpoint``: models, optimizers and a run's state in one ``.npz`` (never pickled).
- ``serialization``: ``tg.save`` / ``tg.load``, any state_dict in one ``.npz`` (never pickled).
- ``weights``: a model's weights in safetensors under PyTorch's names, both ways.
- ``images``: sample grids as PNG, loss curves.
- ``evaluate``: scores for MNIST generators (FID by tinygan's own classifier, digits covered).
- ``tensorboard``: TensorBoard event files (optional tensorboardX).
- ``files``: ``atomic_write``, how every file here is written.
- ``cli``: what the example programs share (``--backend``, one-line errors).

The rule: the engine, ``nn``, ``optim`` and the models (``gan``, ``vae``, ``toy``) never
import ``tinygan.utils``; modules here import the engine only through ``tensor``,
``functional``, ``backend``, ``nn`` and ``optim``. ``tests/test_layers.py`` keeps it so.
"""
# Imported here so that ``tinygan.utils.data.DataLoader`` works after ``import tinygan``,
# as ``torch.utils.data`` does; neither pulls in tqdm or matplotlib at import time.
from . import data, serialization  # noqa: E402,F401
