"""What a differentiable op is: a Function with a forward and a backward.

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):                 # x: a raw array (numpy, or cupy on "cuda")
            y = array_module(x).exp(x)
            ctx.save_for_backward(y)         # keep what backward needs, nothing more
            return y

        @staticmethod
        def backward(ctx, grad):             # grad: a Tensor, like everything backward uses
            (y,) = ctx.saved_tensors
            return grad * y                  # d/dx exp(x) = exp(x)

``Exp.apply(t)`` runs it on a Tensor. Forward works on raw arrays, because that is
where the numbers are computed; backward works on Tensors, with the same ops a
learner uses, so that a backward can itself be differentiated (``create_graph=True``,
which a gradient penalty needs). A backward written on raw arrays, for speed, is
marked ``@once_differentiable``: it then gets ``ctx.saved_arrays`` and an array
``grad``, and differentiating it again is an error.

This file knows nothing of the Tensor class: ``Function.apply`` hands the work to the
tensors it is given (``Tensor.apply_function``, in tensor.py, records the graph), so
the ops can be written without importing the engine that runs them.
"""
from __future__ import annotations


class Context:
    """What forward leaves for backward.

    In forward: ``needs_input_grad[i]`` says whether input i will want a gradient
    (so forward can keep only what that backward reads, as PyTorch does: ``x * w``
    with only ``w`` requiring grad keeps ``x``); ``save_for_backward(*values)``
    keeps arrays (or numbers, or None); ``is_view = True`` says the output shares
    the first input's memory. Plain attributes (``ctx.axis = 1``) carry the rest.

    In backward: ``saved_tensors`` holds the saved values as Tensors, connected to
    the graph where they were an input or the output, so that the backward is
    differentiable (``saved_arrays`` holds the raw arrays, for a once-differentiable
    backward).
    """

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved_arrays = ()
        self.is_view = False

    def save_for_backward(self, *values):
        self.saved_arrays = values


class Function:
    """Base class of differentiable ops: subclass it and write forward and backward.

    ``backward`` returns one gradient per positional input of ``forward`` (one value
    when there is one input), ``None`` where no gradient flows. It must not write into
    the gradient it is given (other inputs may hold it too). Keyword arguments of
    ``apply`` go to ``forward`` and never get a gradient.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run this op on Tensors (and numbers), recording it in the graph when needed."""
        for arg in args:
            if hasattr(arg, "apply_function"):   # a Tensor: it runs the op (tensor.py)
                return arg.apply_function(cls, args, kwargs)
        raise TypeError(f"{cls.__name__}.apply needs at least one Tensor argument, got "
                        f"{', '.join(type(a).__name__ for a in args) or 'none'}")


def once_differentiable(backward):
    """Mark a backward written on raw arrays: fast, but not differentiable again.

    It receives the gradient as an array and reads ``ctx.saved_arrays``; the engine
    wraps what it returns. Under ``create_graph=True`` its results carry a graph node
    that refuses a second backward, as PyTorch's ``@once_differentiable`` does.
    """
    backward.once_differentiable = True
    return backward
