"""nn.Module, nn.Parameter and nn.Sequential, as in PyTorch.

A Module finds its parameters, buffers and submodules from attribute
assignment, in definition order (plain dicts keep insertion order), so
``parameters()`` always lists them the same way and optimizers can keep their
state in a list in that order.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import increment_version, zero_grads
from ..tensor import Tensor, no_grad


class Parameter(Tensor):
    """A Tensor that a Module registers as learnable (requires_grad by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data._data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    @classmethod
    def _wrap(cls, array):
        """What an op on a parameter makes: a plain Tensor, as in PyTorch."""
        return Tensor._wrap(array)


class Module:
    """Base class of layers and models: subclass it, set attributes, write forward."""

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    # --- registration -----------------------------------------------------------------
    def __setattr__(self, name, value):
        # PyTorch's rules: a Parameter or a Module registers under its name (taking the
        # name from whatever held it); a registered name keeps its kind, and None keeps
        # it registered (``layer.bias = None``); anything else is a plain attribute.
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign before Module.__init__() call; "
                                 "call super().__init__() first in your __init__")
        if isinstance(value, Parameter):
            if name not in self._parameters:   # a replaced parameter keeps its place in order
                self._forget(name)
            self._parameters[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(nn.Parameter or None expected); to change its values use "
                                f"'with tg.no_grad(): module.{name}.copy_(...)'")
            self._parameters[name] = None
        elif isinstance(value, Module):
            if name not in self._modules:
                self._forget(name)
            self._modules[name] = value
        elif name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (nn.Module or None expected)")
            self._modules[name] = None
        elif name in self._buffers:  # a new tensor for a buffer stays a buffer
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(Tensor or None expected); wrap an array with tg.tensor(...)")
            self._buffers[name] = value
        else:
            self._forget(name)
            object.__setattr__(self, name, value)

    def _forget(self, name):
        for registry in (self._parameters, self._buffers, self._modules, self.__dict__):
            registry.pop(name, None)

    def __getattr__(self, name):  # only called when normal lookup fails
        for registry in ("_parameters", "_buffers", "_modules"):
            items = self.__dict__.get(registry, {})
            if name in items:
                return items[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor):
        """A tensor that belongs to the state (saved, moved by to()) but is not learned."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"buffer '{name}' must be a Tensor or None, got {type(tensor).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor

    def register_parameter(self, name, param):
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"parameter '{name}' must be an nn.Parameter or None, "
                            f"got {type(param).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def add_module(self, name, module):
        self._modules[name] = module

    # --- running -----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- walking the tree ----------------------------------------------------------------
    def named_modules(self, prefix="", memo=None):
        """(name, module) for this module and every descendant, depth first, each once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def apply(self, fn):
        """fn(m) for every submodule, children first, then this module; returns self.

        DCGAN's ``netG.apply(weights_init)``, where weights_init picks layers by
        ``type(m).__name__`` and sets them with nn.init."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def _named_members(self, registry):
        seen = set()  # a tensor shared by two modules is listed once
        for module_name, module in self.named_modules():
            for name, tensor in getattr(module, registry).items():
                if tensor is None or id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                yield (f"{module_name}.{name}" if module_name else name), tensor

    def named_parameters(self):
        return self._named_members("_parameters")

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self):
        return self._named_members("_buffers")

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    # --- modes and grads -------------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout drops, batch norm uses batch statistics); returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: the same as train(False)."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        zero_grads(self.parameters(), set_to_none)

    # --- devices --------------------------------------------------------------------------
    def to(self, device=None, dtype=None):
        """Move (and/or cast floating) parameters and buffers in place; returns self."""
        if device is not None and not isinstance(device, str):
            dtype, device = device, None
        with no_grad():
            for tensor in list(self.parameters()) + list(self.buffers()):
                _move(tensor, device, dtype)
                if tensor.grad is not None:
                    _move(tensor.grad, device, dtype)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    # --- saving and loading -------------------------------------------------------------------
    def state_dict(self):
        """name -> host numpy copy, for every parameter and buffer (PyTorch's dotted names)."""
        state = {}
        for module_name, module in self.named_modules():
            for registry in ("_parameters", "_buffers"):
                for name, tensor in getattr(module, registry).items():
                    if tensor is not None:
                        key = f"{module_name}.{name}" if module_name else name
                        state[key] = backend.to_numpy(tensor._data).copy()
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into this module's tensors (on their device, in their dtype).

        With strict=True, missing, unexpected and mis-shaped keys are all listed in
        one error. Returns (missing_keys, unexpected_keys) as PyTorch does.
        """
        state_dict = {k: v._data if isinstance(v, Tensor) else v     # tensors, as PyTorch's,
                      for k, v in state_dict.items()}                 # or arrays
        own = {}
        for module_name, module in self.named_modules():
            for registry in ("_parameters", "_buffers"):
                for name, tensor in getattr(module, registry).items():
                    if tensor is not None:
                        own[f"{module_name}.{name}" if module_name else name] = tensor
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        misshaped = [f"{k}: checkpoint {tuple(np.shape(state_dict[k]))}, "
                     f"model {tuple(own[k].shape)}"
                     for k in own if k in state_dict and tuple(np.shape(state_dict[k])) != own[k].shape]
        # strings would be parsed by the copy, or fail half-way through it
        not_numbers = [f"{k}: checkpoint {np.dtype(state_dict[k].dtype)}, model {own[k].dtype}"
                       for k in own if k in state_dict and not _numeric(state_dict[k])]
        problems = ["not numbers: " + "; ".join(not_numbers)] if not_numbers else []
        if misshaped:
            problems.append("size mismatch: " + "; ".join(misshaped))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: "
                               + " | ".join(problems))
        with no_grad():
            for key, tensor in own.items():
                if key in state_dict:
                    value = backend.to_device(state_dict[key], tensor.device)  # numpy or cupy
                    # into the tensor's own memory, as PyTorch's copy_: whatever points
                    # at it (an optimizer's flat buffer, a user's view) sees the new values
                    backend.array_module(value).copyto(tensor._data, value, casting="unsafe")
                    increment_version(tensor)
        return missing, unexpected

    # --- printing ------------------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        children = [f"({name}): " + repr(child).replace("\n", "\n  ")
                    for name, child in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = ([self.extra_repr()] if self.extra_repr() else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _numeric(value):
    """Whether an array (or a list) holds numbers: bool, int or float."""
    dtype = getattr(value, "dtype", None)
    return dtype is None or np.dtype(dtype).kind in "biuf"


def _move(tensor, device, dtype):
    array = tensor._data
    if device is not None:
        array = backend.to_device(array, device)
    if dtype is not None and array.dtype.kind == "f":
        array = array.astype(dtype, copy=False)
    tensor.data = array   # a new place, not a new value: no version change, as in PyTorch


class Sequential(Module):
    """Modules applied one after another: ``Sequential(nn.Linear(4, 8), nn.ReLU())``."""

    def __init__(self, *modules):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(module).__name__}, "
                                "not an nn.Module")
            self.add_module(str(i), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):  # a slice keeps the modules' names ("2", "3", ...)
            part = Sequential()
            for name, module in list(self._modules.items())[index]:
                part.add_module(name, module)
            return part
        return self._modules[self._name(index)]

    def _name(self, index):
        """The child's name for an int index, negative ones counted from the end."""
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"Sequential indices must be integers or slices, "
                            f"not {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range")
        return list(self._modules)[index % len(self)]

    def __setitem__(self, index, module):
        """``seq[i] = module`` replaces the i-th module, keeping its name (PyTorch's)."""
        _check_module(module, "Sequential")
        self._modules[self._name(index)] = module

    def __delitem__(self, index):
        """``del seq[i]`` or ``del seq[a:b]``; the modules left are renumbered 0, 1, ..."""
        names = list(self._modules)[index] if isinstance(index, slice) else [self._name(index)]
        modules = [m for name, m in self._modules.items() if name not in names]
        self._modules.clear()
        for module in modules:
            self.append(module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add a module at the end; returns the Sequential."""
        _check_module(module, "Sequential")
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        """Append each module of an iterable (another Sequential, a list); returns self."""
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index, module):
        """Insert a module before ``index``; the modules are renumbered 0, 1, ..."""
        _check_module(module, "Sequential")
        if not -len(self) <= index <= len(self):
            raise IndexError(f"Index out of range: {index}")
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        return self.extend(modules)

    def pop(self, index):
        """Remove the module at ``index`` and return it."""
        module = self[index]
        del self[index]
        return module


class ModuleList(Module):
    """Modules held in a list and registered as children ("0", "1", ...), as in PyTorch:
    their parameters are the list's, and ``state_dict()`` names them ``"0.weight"``.

    It has no forward: you decide how to call the modules it holds.

    >>> import tinygan as tg
    >>> layers = tg.nn.ModuleList([tg.nn.Linear(2, 2) for _ in range(3)])
    >>> layers.append(tg.nn.ReLU())
    ModuleList(
      (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)
      (3): ReLU()
    )
    >>> len(layers), type(layers[-1]).__name__, len(list(layers.parameters()))
    (4, 'ReLU', 6)
    >>> list(layers.state_dict())[:2]
    ['0.weight', '0.bias']
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, index):
        """The child's name ("0", "1", ...) for an int index, negative ones counted from the end."""
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"ModuleList indices must be integers or slices, "
                            f"not {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for a ModuleList of "
                             f"{len(self)} modules")
        return str(index % len(self))

    def __getitem__(self, index):
        if isinstance(index, slice):   # a new ModuleList, renumbered from 0 (PyTorch's)
            return type(self)(list(self._modules.values())[index])
        return self._modules[self._index(index)]

    def __setitem__(self, index, module):
        _check_module(module, "ModuleList")
        self._modules[self._index(index)] = module

    def __delitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[int(self._index(index))]
        self._modules.clear()         # renumber, so the names stay 0..n-1
        self.extend(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList([*self, *other])

    def append(self, module):
        """Add a module at the end; returns the list."""
        _check_module(module, "ModuleList")
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        """Add each module of an iterable at the end; returns the list."""
        if not hasattr(modules, "__iter__"):
            raise TypeError("ModuleList.extend should be called with an iterable, but got "
                            + type(modules).__name__)
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index, module):
        """Insert a module before ``index`` (as list.insert); later modules are renumbered."""
        _check_module(module, "ModuleList")
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        self.extend(modules)

    def pop(self, index=-1):
        module = self[index]
        del self[index]
        return module

    def __repr__(self):
        # PyTorch's: runs of identical modules shown once, as "(0-2): 3 x Linear(...)"
        reprs = [repr(m) for m in self]
        if not reprs:
            return "ModuleList()"
        runs = []          # [first index, last index, repr]
        for i, text in enumerate(reprs):
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = [(f"({a}): " if a == b else f"({a}-{b}): {b - a + 1} x ") + text.replace("\n", "\n  ")
                 for a, b, text in runs]
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


def _check_module(module, owner):
    if not isinstance(module, Module):
        raise TypeError(f"{owner}: {type(module).__name__} is not a Module subclass "
                        "(an nn.Module expected)")
