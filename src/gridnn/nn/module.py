"""``Module`` and ``Parameter``: the base of every layer (``Sequential`` is in ``sequential``).

Registration is by plain attributes, with no ``__setattr__`` hook to learn: a ``Module`` finds
its parameters and sub-modules by looking at its own attributes (``vars(self)``) in the order
they were assigned, so ``self.weight = Parameter(...)`` and ``self.conv = Conv2d(...)`` are all
it takes. Buffers (arrays that are state but not trained, such as BatchNorm's running
statistics) are the one thing a module must name, with ``register_buffer``, because a plain
array attribute could equally be a constant.

State-dict keys follow PyTorch: a module's own parameters, then its buffers, then each child's
entries prefixed by the child's attribute name (``features.3.bias``), so a PyTorch model's
``state_dict()`` converted with ``.numpy()`` loads into the gridnn model of the same layout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from .._backend import xp
from ..errors import ArgumentError, ArgumentTypeError
from ..tensor import Tensor


class Parameter(Tensor):
    """A trainable tensor: a ``Tensor`` that requires grad and that modules register."""

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(data.data if isinstance(data, Tensor) else data,
                         requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class LoadResult(NamedTuple):
    """What ``load_state_dict(strict=False)`` left out (both empty after a strict load)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _to_array(value: Any) -> Any:
    """An ndarray from an ndarray, a gridnn Tensor, a number or a torch tensor (duck-typed)."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, no torch import
        return value.detach().cpu().numpy()
    return xp.asarray(value)


class Module:
    """Base class of layers and models: subclasses set attributes in ``__init__`` and define
    ``forward``. Call ``super().__init__()`` first.

    Calling a module runs ``forward``. ``training`` (set by ``train()``/``eval()`` on the whole
    tree) switches layers such as Dropout and BatchNorm between their two behaviours.
    Sub-modules are found as attributes only: keep a list of layers in a ``Sequential``, not in
    a Python list.
    """

    # Class-level defaults, so a subclass that forgets super().__init__() still works.
    training = True
    _buffer_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.training = True
        self._buffer_names = ()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- registration ------------------------------------------------------------------------
    def register_buffer(self, name: str, value: Any) -> None:
        """Set ``self.<name> = value`` and include it in ``state_dict()`` (None: left out)."""
        if name in self._buffer_names:
            raise ArgumentError(f"register_buffer: buffer {name!r} is already registered")
        setattr(self, name, value)
        self._buffer_names = (*self._buffer_names, name)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules as (attribute name, module), in assignment order."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        """Direct sub-modules, in assignment order."""
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Every module in the tree, depth first, as (qualified name, module); the root is ''."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            kids = [(f"{name}.{n}" if name else n, m) for n, m in module.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        """Every module in the tree, the root first, depth first."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(qualified name, parameter) pairs; a parameter shared by two modules comes once."""
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, module in modules:
            for name, value in vars(module).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{mname}.{name}" if mname else name), value

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every trainable parameter (of sub-modules too unless ``recurse`` is False), once."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """(qualified name, array) for every registered buffer that is not None."""
        for mname, module in self.named_modules(prefix):
            for name in module._buffer_names:
                value = getattr(module, name)
                if value is not None:
                    yield (f"{mname}.{name}" if mname else name), value

    def buffers(self) -> Iterator[Any]:
        """Every registered buffer array (BatchNorm's running statistics), in tree order."""
        for _, b in self.named_buffers():
            yield b

    # ---- modes and gradients -----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and every sub-module; returns self."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (Dropout off, BatchNorm uses running statistics); returns self."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``grad = None``, as PyTorch's default)."""
        for p in self.parameters():
            p.grad = None

    def to(self, dtype: Any) -> Module:
        """Convert every floating parameter and buffer to ``dtype`` in place; returns self."""
        for module in self.modules():
            for value in vars(module).values():
                if isinstance(value, Parameter):
                    value.data = value.data.astype(dtype)
                    value.grad = None
            for name in module._buffer_names:
                value = getattr(module, name)
                if value is not None and value.dtype.kind == "f":
                    setattr(module, name, value.astype(dtype))
        return self

    # ---- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Parameters and buffers as {'0.weight': ndarray, ...} (copies), in PyTorch's order:
        a module's parameters, then its buffers, then its children's entries."""
        state: dict[str, Any] = {}
        self._collect_state("", state)
        return state

    def _collect_state(self, prefix: str, state: dict[str, Any]) -> None:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                state[prefix + name] = value.data.copy()
        for name in self._buffer_names:
            value = getattr(self, name)
            if value is not None:
                state[prefix + name] = xp.array(value, copy=True)
        for name, child in self.named_children():
            child._collect_state(f"{prefix}{name}.", state)

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> LoadResult:
        """Copy arrays into the parameters and buffers, keeping their dtypes.

        Values may be NumPy arrays, gridnn Tensors or torch tensors. With ``strict`` every key
        must match; shape mismatches always raise. Raises ArgumentError listing every problem.
        """
        if not isinstance(state, Mapping):
            raise ArgumentTypeError(
                f"load_state_dict: `state` must be a mapping of names to arrays, "
                f"received {type(state).__name__}"
            )
        targets = self._state_targets()
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        arrays = {}
        for key, (module, name) in targets.items():
            if key not in state:
                continue
            value = _to_array(state[key])
            current = getattr(module, name)
            shape = current.shape
            if tuple(value.shape) != tuple(shape):
                problems.append(
                    f"shape mismatch for {key!r}: the checkpoint has {tuple(value.shape)}, "
                    f"the model has {tuple(shape)}"
                )
            arrays[key] = value
        if problems:
            raise ArgumentError(
                f"load_state_dict ({type(self).__name__}): " + "; ".join(problems)
            )
        for key, value in arrays.items():
            module, name = targets[key]
            current = getattr(module, name)
            target = current.data if isinstance(current, Tensor) else current
            target[...] = value.astype(target.dtype, copy=False)
        return LoadResult(missing, unexpected)

    def _state_targets(self) -> dict[str, tuple[Module, str]]:
        """state_dict key -> (owning module, attribute name)."""
        targets: dict[str, tuple[Module, str]] = {}
        for mname, module in self.named_modules():
            prefix = f"{mname}." if mname else ""
            for name, value in vars(module).items():
                if isinstance(value, Parameter):
                    targets[prefix + name] = (module, name)
            for name in module._buffer_names:
                if getattr(module, name) is not None:
                    targets[prefix + name] = (module, name)
        return targets

    # ---- printing ----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's one-line repr."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"

    def _repr_html_(self) -> str:
        """Jupyter's display: the layers as a table with their settings and parameters."""
        from ..notebook.html import module_html

        return module_html(self)
