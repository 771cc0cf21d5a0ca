"""Graph recording for reverse-mode autograd: the ``Function`` base class and ``no_grad``.

Each primitive op is a ``Function`` subclass with ``forward`` (NumPy arrays in, one array out)
and ``backward`` (the output's gradient in, one gradient per input out) written side by side.
``Function.apply`` runs ``forward`` and, when a gradient is needed, links the output ``Tensor``
to the ``Function`` instance, which keeps its inputs' graph nodes as ``parents`` (the Functions
that made them, or leaf tensors; not the intermediate tensors themselves).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from .tensor import Tensor

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside a ``no_grad()`` block (per thread)."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager (and decorator) that stops graph recording: results need no gradient."""
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Context manager that turns graph recording back on inside ``no_grad``."""
    previous = is_grad_enabled()
    _state.enabled = True
    try:
        yield
    finally:
        _state.enabled = previous


class Function:
    """One differentiable primitive. Subclasses define ``forward`` and ``backward``.

    ``needs_grad[i]`` tells ``forward`` and ``backward`` whether input ``i`` wants a gradient,
    so work for unneeded gradients (and arrays saved only for them) can be skipped.
    """

    parents: tuple[Node | None, ...] = ()
    needs_grad: tuple[bool, ...] = ()

    def forward(self, *arrays: np.ndarray, **options: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        raise NotImplementedError

    def release(self) -> None:
        """Drop arrays saved for backward (called once backward has used them)."""
        self.__dict__.clear()
        self.released = True

    @classmethod
    def apply(cls, *inputs: Tensor, **options: Any) -> Tensor:
        """Run ``forward`` on the inputs' arrays; the result is a Tensor (made by the inputs'
        ``_wrap``, so this module needs no import of ``tensor``) linked to this call when it
        needs a gradient."""
        fn = cls()
        record = is_grad_enabled() and any(t.requires_grad for t in inputs)
        fn.needs_grad = tuple(record and t.requires_grad for t in inputs)
        out = inputs[0]._wrap(fn.forward(*(t.data for t in inputs), **options), record)
        if record:
            fn.parents = tuple(node_of(t) if t.requires_grad else None for t in inputs)
            out._fn = fn
        return out


Node = Any  # a graph node: a leaf Tensor or the Function that made a tensor


def node_of(t: Tensor) -> Node:
    """The graph node of a tensor: the Function that made it, or the tensor itself (a leaf).

    The graph links Functions, not the tensors between them, so an intermediate result's array
    lives only as long as the user holds the tensor or a backward keeps it (ReLU its output,
    convolution its padded input, ...); not just because a later op read it."""
    return t._fn if t._fn is not None else t
