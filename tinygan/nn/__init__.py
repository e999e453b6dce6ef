"""Neural-network building blocks with PyTorch's names: ``from tinygan import nn``."""
from . import functional, init
from .layers import BatchNorm1d, Dropout, Flatten, Identity, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .losses import BCELoss, BCEWithLogitsLoss, MSELoss
from .module import Module, Parameter, Sequential

__all__ = ["Module", "Parameter", "Sequential", "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "Dropout", "BatchNorm1d", "Flatten", "Identity", "BCEWithLogitsLoss", "BCELoss",
           "MSELoss", "functional", "init"]
