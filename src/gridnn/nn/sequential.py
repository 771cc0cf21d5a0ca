"""``Sequential``: modules applied in order, each activation after a convolution run inside
it at inference (``nn.fusion``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import ArgumentError, ArgumentTypeError
from .fusion import fusable, fusing, pairs, then_for
from .module import Module


class Sequential(Module):
    """Modules applied in order; children are named '0', '1', ... (or by an OrderedDict's keys).

    Indexing gives a layer (``model[0]``) or a new Sequential sharing the layers (``model[1:]``).
    """

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            items: Iterable[tuple[str, Any]] = modules[0].items()
        else:
            items = ((str(i), m) for i, m in enumerate(modules))
        for name, module in items:
            self._add(name, module)

    def _add(self, name: str, module: Any) -> None:
        if not isinstance(module, Module):
            raise ArgumentTypeError(
                f"Sequential: every item must be a Module, received {type(module).__name__} "
                f"at position {name!r}"
            )
        if name in vars(self):
            raise ArgumentError(f"Sequential: duplicate layer name {name!r}")
        setattr(self, name, module)

    def append(self, module: Module) -> Sequential:
        self._add(str(len(self)), module)
        return self

    def _layers(self) -> list[Module]:
        return list(self.children())

    def __len__(self) -> int:
        return len(self._layers())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers())

    def __getitem__(self, index: int | slice) -> Any:
        layers = list(self.named_children())
        if isinstance(index, slice):
            return Sequential(OrderedDict(layers[index]))
        if not -len(layers) <= index < len(layers):
            raise IndexError(f"Sequential: index {index} is out of range for {len(layers)} layers")
        return layers[index][1]

    def forward(self, x: Any) -> Any:
        """Each layer's output is the next layer's input (under ``no_grad`` an activation
        after a convolution runs inside it: ``nn.fusion``)."""
        layers, fuse = self._layers(), fusing()
        for i, fused in pairs(len(layers), lambda i: fuse and fusable(layers[i], layers[i + 1])):
            x = layers[i](x, then=then_for(layers[i + 1])) if fused else layers[i](x)
        return x
