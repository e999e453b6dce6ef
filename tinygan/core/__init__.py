"""The teaching core: everything ``loss.backward()`` and one op's forward run.

Read it in this order:

1. ``function.py``: what an op is (``Function``: forward on arrays, backward on Tensors),
   and ``apply``, which runs one and records it: the op's instance is its node.
2. ``ops.py``: the elementary ops, each backward under its forward, made of the same ops.
3. ``tensor.py``: the Tensor's own state, and ``backward()``: the walk of the chain rule.

Everything PyTorch's names add (checks, dtype promotion, in-place writes through views)
is the layer around it: tinygan/tensor.py and tinygan/methods/.
"""
