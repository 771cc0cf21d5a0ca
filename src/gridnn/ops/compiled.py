"""Whether an op runs its compiled loops (``ops/kernels.py``) or its NumPy passes.

The kernels need Numba (the ``fast`` extra). Without it, or with
``ops.options.using(compiled=False)``, every op runs its NumPy code, which computes the same
numbers; the tests run both.
"""

from __future__ import annotations

import warnings
from types import ModuleType

from .options import options

_state: dict[str, ModuleType | None] = {}


def kernels() -> ModuleType | None:
    """The ``ops.kernels`` module when compiled loops are on and Numba imports, else None."""
    if not options().compiled:
        return None
    if "kernels" not in _state:
        try:
            from . import kernels as module
        except ImportError:  # no Numba (or one that does not fit this NumPy): NumPy passes
            module = None
        except RuntimeError as e:  # Numba finds no writable place for its cache
            warnings.warn(f"gridnn: compiled loops are off, running NumPy passes: {e}",
                          RuntimeWarning, stacklevel=2)
            module = None
        _state["kernels"] = module
    return _state["kernels"]
