"""torch.backends' names that programs set: ``tg.backends.cudnn.benchmark = True`` (as in
pytorch/examples' dcgan) runs unchanged. tinygan calls no cuDNN, so the settings are
recorded and change nothing (see cudnn.py)."""
from . import cudnn

__all__ = ["cudnn"]
