"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, PyTorch's defaults."""
from __future__ import annotations

from .adam import Adam


class AdamW(Adam):
    """Adam whose weight decay shrinks the parameters directly, p ← p·(1 - lr·wd), before
    the Adam update, instead of adding wd·p to the gradient (where Adam's scaling by
    1/√v would weaken it for parameters with large gradients). Default wd 0.01, as
    torch.optim.AdamW. ``foreach`` and ``fused`` choose the implementation, as for
    :class:`Adam`.

    >>> import tinygan as tg
    >>> w = tg.nn.Parameter(tg.tensor([1.0, -1.0]))
    >>> opt = tg.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * tg.tensor([3.0, -0.5])).sum().backward()
    >>> opt.step()           # 1·(1 - 0.1·0.5) - 0.1, -1·(1 - 0.05) + 0.1
    >>> w
    Parameter containing:
    tensor([ 0.8500, -0.8500], requires_grad=True)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, *,
                 foreach=None, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         foreach=foreach, fused=fused, decoupled_weight_decay=True)
