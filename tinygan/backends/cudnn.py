"""``torch.backends.cudnn``'s settings, as plain attributes that change nothing.

PyTorch's cuDNN convolutions pick an algorithm per input shape (``benchmark``), may be
asked for reproducible ones (``deterministic``) or turned off (``enabled``). tinygan
runs its ops on NumPy or CuPy arrays and never calls cuDNN, so these are accepted and
kept with PyTorch's defaults for programs that set or read them; results on "cuda" do
not depend on them.

>>> import tinygan as tg
>>> tg.backends.cudnn.benchmark, tg.backends.cudnn.is_available()
(False, False)
"""

benchmark = False       # PyTorch: try the convolution algorithms, keep the fastest per shape
deterministic = False   # PyTorch: only reproducible algorithms
enabled = True          # PyTorch: use cuDNN where it can


def is_available():
    """False: tinygan does not use cuDNN (its ops are NumPy's and CuPy's own)."""
    return False


def version():
    """None, as PyTorch's where cuDNN is not available."""
    return None
