"""``tinygan.init`` is ``tinygan.nn.init`` (PyTorch has it as torch.nn.init)."""
from .nn.init import (calculate_gain, constant_, kaiming_uniform_, normal_, ones_,  # noqa: F401
                      uniform_, xavier_uniform_, zeros_)
