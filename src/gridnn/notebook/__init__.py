"""gridnn in Jupyter: rich displays and the studio's views as widgets.

``html`` and ``runs`` build the HTML that ``Tensor``, ``Module`` and a run folder
(``gn.open_run``) show in a notebook; they need NumPy only, and the classes call them from
thin ``_repr_html_`` hooks. ``widgets`` (the ``notebook`` and ``studio`` extras) holds
``playground(...)``, ``inside(model_or_run)`` and ``learn()``: the studio's pages inside a
notebook cell, their numbers computed by the studio's own API in this kernel.
"""

import importlib
from typing import Any

_WIDGETS = ("playground", "inside", "learn", "Studio")


def __getattr__(name: str) -> Any:
    if name in _WIDGETS:  # loaded on first use: anywidget and Starlette are optional
        return getattr(importlib.import_module(f"{__name__}.widgets"), name)
    raise AttributeError(f"module 'gridnn.notebook' has no attribute {name!r}")


__all__ = list(_WIDGETS)
