"""``torch.autograd.graph``'s name for telling autograd about a write it did not see."""
from __future__ import annotations


def increment_version(tensor):
    """Count a change to ``tensor``'s memory made behind autograd's back (a kernel that
    wrote into its array), so that a graph that saved it refuses to backward through the
    old value; PyTorch's ``torch.autograd.graph.increment_version``. Optimizers call it
    after their in-place update."""
    tensor._versions[0] += 1
