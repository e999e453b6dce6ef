"""The differentiable ops: each Function's forward (on raw arrays) beside its backward.

One module per kind: arithmetic, elementwise, activations, reductions, shapes (views,
indexing, joining), matmul, conversions, normalization, losses. Each backward carries
its math in one comment line. Forward takes the array module from its input
(``xp = array_module(x)``), so the same op runs on numpy ("cpu") and cupy ("cuda").

Ops are named for what they compute (``Affine`` is x·Wᵀ + b, ``Rectify`` is max(x, 0),
``Logistic`` is σ), so they never share a name with the ``nn`` modules built on them.
Broadcasting is undone once, by the engine, so a backward returns gradients of the
broadcast shape; validation and type promotion happen before an op is applied
(Tensor methods and ``tinygan.functional``), so forward and backward stay plain math.
"""
