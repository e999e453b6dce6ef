"""tinygan: a small, readable deep-learning engine over NumPy and CuPy, made to train GANs.

>>> import tinygan as tg
>>> x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x ** 2).sum().backward()
>>> x.grad
tensor([2., 4., 6.])
"""
from . import backend, nn, optim
from . import accelerator, backends, cuda
from .nn import parallel as _parallel   # noqa: F401  (tg.nn.parallel, as torch.nn.parallel)
from .autograd import (Function, enable_grad, inference_mode, is_grad_enabled, no_grad,
                       once_differentiable, set_grad_enabled)
from .backend import CudaUnavailableError, device, get_num_threads, manual_seed, set_num_threads
from .dtypes import (bool_, float16, float32, float64, get_default_dtype, int32, int64,
                     set_default_dtype, uint8)
from .functional import (abs, add, all, allclose, any, argmax, argmin, cat, chunk, clamp, clip,
                         clone, div, eq, equal, exp, flatten, ge, gt, isclose, le, log, log1p,
                         log_softmax, logsumexp, lt, matmul, max, maximum, mean, min, minimum,
                         mul, narrow, ne, neg, norm, permute, pow, prod, relu, relu_, remainder,
                         reshape, sigmoid, sign, softmax, softplus, split, sqrt, squeeze, stack,
                         std, sub, sum, tanh, transpose, unbind, unsqueeze, var, where)
from .gradcheck import gradcheck
from . import linalg   # tg.linalg.norm, as torch.linalg
from .size import Size
from .tensor import Tensor
from .factories import (arange, as_tensor, empty, eye, from_numpy, full, full_like,
                        linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                        tensor, zeros, zeros_like)
from . import utils   # after the engine: tinygan.utils.data.DataLoader, as torch.utils.data
from .utils.serialization import load, save

__version__ = "0.2.0"


cuda_is_available = cuda.is_available   # the older name of tg.cuda.is_available, kept

# PyTorch's other names of the dtypes: torch.float is float32, torch.long int64, ... (last in
# this file: they shadow Python's float, int and bool here)
float, double, half, long, int, bool = float32, float64, float16, int64, int32, bool_
