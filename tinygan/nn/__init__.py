"""Neural-network building blocks with PyTorch's names: ``from tinygan import nn``."""
from . import functional, init
from .layers import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout,
                     Dropout2d, Embedding, Flatten, Identity, InstanceNorm2d, LeakyReLU, Linear,
                     LogSoftmax, MaxPool2d, ReLU, Sigmoid, Softmax, Tanh, Unflatten, Upsample)
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, ModuleList, Parameter, Sequential
from . import utils   # nn.utils.clip_grad_norm_, as torch.nn.utils

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "utils", "Linear", "ReLU",
           "LeakyReLU", "Sigmoid", "Tanh",
           "Dropout", "BatchNorm1d", "Flatten", "Identity", "BCEWithLogitsLoss", "BCELoss",
           "MSELoss", "Softmax", "LogSoftmax", "Embedding", "Unflatten", "CrossEntropyLoss",
           "NLLLoss", "Conv2d", "ConvTranspose2d", "BatchNorm2d", "MaxPool2d", "AvgPool2d",
           "Upsample", "Dropout2d", "InstanceNorm2d", "functional", "init"]
