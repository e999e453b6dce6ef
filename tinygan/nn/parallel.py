"""``torch.nn.parallel``'s functional form, for one device.

tinygan drives one GPU (``"cuda"`` is ``"cuda:0"``), so there is nothing to split a batch
across: ``data_parallel(module, input)`` is ``module(input)``. It is here so that programs
written for several GPUs, such as pytorch/examples' dcgan (``import torch.nn.parallel``,
then ``nn.parallel.data_parallel(self.main, input, range(self.ngpu))`` when ngpu > 1), run
unchanged.
"""
from __future__ import annotations

__all__ = ["data_parallel"]


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0,
                  module_kwargs=None):
    """module(*inputs, **module_kwargs) on the inputs' device (a tuple of inputs is
    unpacked, as PyTorch's); device_ids, output_device and dim are accepted and unused.

    >>> import tinygan as tg
    >>> from tinygan import nn
    >>> nn.parallel.data_parallel(nn.Linear(3, 2), tg.ones(4, 3), range(1)).shape
    tinygan.Size([4, 2])
    """
    if not isinstance(inputs, tuple):
        inputs = (inputs,)
    return module(*inputs, **(module_kwargs or {}))
