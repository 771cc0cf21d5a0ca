"""Whether an op runs its compiled loops (``ops/kernels/``) or its NumPy passes.

The kernels need Numba (the ``fast`` extra) to be compiled, once per machine and argument
signature; after that ``ops/kernel_objects.py`` loads their machine code with LLVM alone, so a
process that only runs them never imports Numba. Without Numba, or with
``ops.options.using(compiled=False)``, every op runs its NumPy code, which computes the same
numbers; the tests run both.
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from typing import Any

from .kernel_objects import split
from .options import options

_state: dict[str, Kernels | None] = {}


class Kernel:
    """One kernel of ``ops/kernels/``, called as the Numba function would be; each kind of
    arguments gets its own entry point, loaded (or compiled) on first use."""

    def __init__(self, owner: Kernels, name: str) -> None:
        self.owner, self.name = owner, name
        self.entries: dict[tuple[Any, ...], Any] = {}

    def __call__(self, *args: Any) -> Any:
        kinds, flat = split(args)
        fn = self.entries.get(kinds)
        if fn is None:
            fn = self.owner.entry(self, kinds)
        if fn is self.owner.numba:  # this kernel or these arguments need Numba's dispatcher
            return getattr(self.owner.module(), self.name)(*args)
        return fn(*flat)


class Kernels:
    """The kernels by name (``kernels().max_pool_2d(...)``), as the ``ops.kernels`` module."""

    numba = object()  # the entry of a kernel that runs through Numba's dispatcher

    def __init__(self) -> None:
        from .kernel_objects import cache_folders, check_array_layout, kernel_names, writable_folder

        check_array_layout()
        self.names = kernel_names()
        self.folder = writable_folder(cache_folders())
        self.objects: Any = None
        self.kernels: dict[str, Kernel] = {}
        self.lock = threading.Lock()  # the ops' worker threads ask for entries at once

    def __getattr__(self, name: str) -> Kernel:
        if name not in self.__dict__.get("names", ()):
            raise AttributeError(f"ops/kernels/ has no kernel {name!r}")
        with self.lock:
            kernel = self.kernels.setdefault(name, Kernel(self, name))
        setattr(self, name, kernel)  # found as a plain attribute from now on
        return kernel

    def entry(self, kernel: Kernel, kinds: tuple[Any, ...]) -> Any:
        """The entry point of ``kernel`` for ``kinds``, loaded or compiled once; ``numba``
        for arguments or kernels that need Numba's dispatcher."""
        from .kernel_objects import ObjectCache

        with self.lock:
            if kinds not in kernel.entries:
                if self.objects is None and None not in kinds:
                    self.objects = ObjectCache(self.folder)
                fn = None if None in kinds else self.objects.entry(kernel.name, kinds)
                kernel.entries[kinds] = fn or self.numba
            return kernel.entries[kinds]

    @staticmethod
    def module() -> Any:
        from . import kernels as module

        return module


def kernels() -> Kernels | None:
    """The compiled kernels when compiled loops are on and Numba is installed, else None."""
    if not options().compiled:
        return None
    if "kernels" not in _state:
        module: Kernels | None = None
        if all(importlib.util.find_spec(m) is not None for m in ("numba", "llvmlite")):
            try:
                module = Kernels()
            except RuntimeError as e:  # no writable place for the compiled code
                warnings.warn(f"gridnn: compiled loops are off, running NumPy passes: {e}",
                              RuntimeWarning, stacklevel=2)
        _state["kernels"] = module
    return _state["kernels"]
