"""exp, log, the activations and clamp, as Tensor methods."""
from __future__ import annotations

from ..core.ops import Abs, Exp, HyperbolicTangent, Log, Logistic, Rectify, Sign, Sqrt
from ..core.tensor import Tensor
from ..dtypes import result_type
from ..ops.elementwise import Clamp, Log1p
from .args import _number


class Elementwise:
    """Functions applied to each element (integers are computed in the default float)."""

    __slots__ = ()

    # --- elementwise math ---------------------------------------------------------------------
    def exp(self): return Exp.apply(self._floating())
    def log(self): return Log.apply(self._floating())

    def log1p(self):
        """log(1 + x), accurate for small x."""
        return Log1p.apply(self._floating())

    def sqrt(self): return Sqrt.apply(self._floating())
    def abs(self): return Abs.apply(self)
    def sign(self): return Sign.apply(self)

    def relu(self):
        """max(x, 0); its gradient at exactly 0 is 0, as in PyTorch."""
        return Rectify.apply(self)

    def sigmoid(self):
        """1 / (1 + exp(-x)), computed without overflow for any x."""
        return Logistic.apply(self._floating())

    def tanh(self): return HyperbolicTangent.apply(self._floating())

    def clamp(self, min=None, max=None):
        """Limit values to [min, max]; the gradient is 1 inside (ends included), 0 outside."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min or max must be given")
        bounds = [_number(b) for b in (min, max)]
        for b in (min, max):
            if isinstance(b, Tensor):
                raise TypeError("clamp: min and max must be numbers (tensor bounds: use "
                                "tg.maximum / tg.minimum)")
        x = self.to(dtype=result_type(self, *bounds))
        return Clamp.apply(x, low=bounds[0], high=bounds[1])

    clip = clamp
