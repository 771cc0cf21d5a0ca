"""``gn.summary(model, input_shape)``: a Keras-style table of a model's layers.

One row per layer call, in the order the model runs them: the layer's name and type, its output
shape, the window of convolution, locally connected and pooling layers (kernel, stride, padding
and any dilation), its parameters, and for Linear, convolution and locally connected layers
the number of connections (non-zero weights of the dense matrix it equals) and the weights a
fully connected layer of the same sizes would need, so the table shows what sparse
connections and weight sharing save at every layer. The model is named by its zoo name when
``gridnn.models.build`` made it.

    >>> import numpy as np, gridnn as gn
    >>> from gridnn import nn
    >>> rng = np.random.default_rng(0)
    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.Flatten(),
    ...                       nn.Linear(64, 2, rng=rng))
    >>> s = gn.summary(model, (1, 4, 4))
    >>> s.total_params, [r.params for r in s.rows]
    (170, [40, 0, 0, 130])
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn
from ..nn.trace import trace
from .counts import connection_counts


@dataclass
class SummaryRow:
    """One layer call: name, type, per-sample output shape, parameters it owns (counted at its
    first call) and, for layers that are linear maps, their ``connection_counts``."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    trainable: int
    counts: dict[str, int] | None = None
    window: str = ""  # e.g. '3x3 s1 p1' for a conv or pooling layer, else ''

    @property
    def connections(self) -> int | None:
        return None if self.counts is None else self.counts["connections"]

    @property
    def mlp_weights(self) -> int | None:
        return None if self.counts is None else self.counts["mlp_weights"]


@dataclass
class Summary:
    """The result of ``summary``; ``str()`` is the table, ``to_html()`` the same as HTML."""

    model_name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    rows: list[SummaryRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0

    @property
    def total_connections(self) -> int:
        return sum(r.connections or 0 for r in self.rows)

    @property
    def total_mlp_weights(self) -> int:
        return sum(r.mlp_weights or 0 for r in self.rows)

    HEADER = ("Layer (type)", "Output shape", "Window", "Param #", "Connections", "MLP weights")

    def _cells(self) -> list[tuple[str, ...]]:
        def num(v: int | None) -> str:
            return "-" if v is None else f"{v:,}"

        return [(f"{r.name} ({r.kind})" if r.name != r.kind else r.kind,
                 _shape(r.output_shape), r.window or "-", num(r.params), num(r.connections),
                 num(r.mlp_weights))
                for r in self.rows]

    def _totals(self) -> list[str]:
        lines = [f"Total params: {self.total_params:,}",
                 f"Trainable params: {self.trainable_params:,}",
                 f"Non-trainable params: {self.total_params - self.trainable_params:,}"]
        if self.total_mlp_weights:
            lines.append(
                f"Connections: {self.total_connections:,} (as fully connected layers: "
                f"{self.total_mlp_weights:,} weights)")
        return lines

    def __str__(self) -> str:
        cells = self._cells()
        widths = [max(len(row[i]) for row in [self.HEADER, *cells])
                  for i in range(len(self.HEADER))]
        widths[0] = max(widths[0], 24)

        def line(row: tuple[str, ...]) -> str:
            left = "  ".join(c.ljust(w) for c, w in zip(row[:3], widths))
            return left + "".join("  " + c.rjust(w) for c, w in zip(row[3:], widths[3:]))

        rule = "=" * len(line(self.HEADER))
        body = [line(c) for c in cells]
        return "\n".join([
            f'Model: "{self.model_name}"  input {_shape(self.input_shape)}', rule,
            line(self.HEADER), rule, *body, rule, *self._totals()])

    __repr__ = __str__

    def _repr_html_(self) -> str:  # Jupyter shows the table as HTML
        return self.to_html()

    def to_html(self) -> str:
        """The table as an HTML <table> (class 'summary') followed by the totals."""
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.HEADER)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in self._cells())
        totals = "<br>".join(html.escape(t) for t in self._totals())
        return (f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
                f'</table><p class="totals">{totals}</p>')


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"


def _window(module: Any) -> str:
    """'3x3 s2 p1' (and ' d2' for a dilation): the window of a conv, local or pooling layer;
    stride, padding and dilation as one number when they are the same in every dim."""
    if not hasattr(module, "kernel_size"):
        return ""
    kernel = np.ravel(module.kernel_size)
    nd = getattr(module, "nd", len(kernel))

    def one(value: Any) -> str:
        values = set(np.ravel(value).tolist())
        return str(value) if isinstance(value, str) else \
            str(values.pop()) if len(values) == 1 else "x".join(map(str, np.ravel(value)))

    text = "x".join(map(str, np.broadcast_to(kernel, (nd,))))
    text += f" s{one(module.stride)} p{one(module.padding)}"
    dilation = getattr(module, "dilation", 1)
    return text + (f" d{one(dilation)}" if one(dilation) != "1" else "")


def _counts(module: Any, input_shape: tuple[int, ...]) -> dict[str, int] | None:
    linear_maps = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.LocallyConnected1d, nn.LocallyConnected2d)
    if not isinstance(module, linear_maps) or (isinstance(module, nn.Linear)
                                                and len(input_shape) != 1):
        return None
    return connection_counts(module, input_shape)


def summary(model: Any, input_shape: tuple[int, ...]) -> Summary:
    """Summarise ``model`` for one sample of ``input_shape`` (no batch dim, e.g. (1, 28, 28)).

    Returns a ``Summary`` whose ``str()`` is the table: per layer call, the output shape
    (N, ...), the parameters the layer owns (a layer called twice counts them once), the
    connections of Linear/conv/locally connected layers and the weights an MLP layer of the
    same sizes would need; then total, trainable and non-trainable parameters.
    """
    x, calls = trace(model, input_shape)
    rows: list[SummaryRow] = []
    seen: set[int] = set()
    for call in calls:
        module = call.module
        first = id(module) not in seen
        seen.add(id(module))
        own = list(module.parameters()) if first else []
        rows.append(SummaryRow(call.name, type(module).__name__, call.output_shape[1:],
                               sum(p.size for p in own),
                               sum(p.size for p in own if p.requires_grad),
                               _counts(module, call.input_shape[1:]), _window(module)))
    params = list(model.parameters())
    total = sum(p.size for p in params)
    trainable = sum(p.size for p in params if p.requires_grad)
    counted = sum(r.params for r in rows)
    if counted != total:  # parameters used directly in forward() by a container module
        rows.append(SummaryRow("(other parameters)", "(other parameters)", (), total - counted,
                               trainable - sum(r.trainable for r in rows)))
    out_shape = calls[-1].output_shape[1:] if calls else tuple(x.shape[1:])
    onnx = getattr(model, "onnx_info", None)  # set by gridnn.onnx.load
    name = getattr(model, "zoo_name", None) or (  # set by models.build
        f"{type(model).__name__} from {Path(onnx.path).name} ({onnx.producer or 'unknown'})"
        if onnx is not None else type(model).__name__)
    return Summary(name, tuple(x.shape[1:]), out_shape, rows, total, trainable)

