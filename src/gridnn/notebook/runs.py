"""HTML for Jupyter's rich display of a run folder (``gn.open_run(path)``): its settings and
metrics, the loss and accuracy curves the run drew (``curves.png``), the confusion matrix of the
test set as a table of counts, and the model's summary."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from .html import STYLE, colors, img_tag, number


def _pct(v: Any) -> str:
    return f"{100 * v:.2f}%" if isinstance(v, (int, float)) else "-"


def confusion_html(cm: np.ndarray, class_names: list[str]) -> str:
    """(classes, classes) counts as a table, rows true labels, columns predictions; each row
    shaded by the share of that class's samples in the cell."""
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    rgb = colors(share, 1.0)
    names = [html.escape(str(n)) for n in class_names]
    head = "<tr><th>true \\ predicted</th>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"
    rows = "".join(
        f"<tr><th>{names[i]}</th>" + "".join(
            f'<td style="background:rgb({r},{g},{b})">{int(c)}</td>'
            for c, (r, g, b) in zip(cm[i], rgb[i])) + "</tr>"
        for i in range(len(cm)))
    return f'<table class="confusion"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def run_html(run: Any) -> str:
    """A run (``gridnn.explain.runs.Run``) as HTML: metrics, curves, confusion matrix, summary."""
    from ..explain.summary import summary

    config, metrics = run.config, run.metrics
    facts = [("model", config.get("model", {}).get("name", type(run.model).__name__)),
             ("data", config.get("data", {}).get("name", "-")),
             ("input shape", str(tuple(run.input_shape))),
             ("epochs", str(metrics.get("epochs", config.get("train", {}).get("epochs", "-")))),
             ("test accuracy", _pct(metrics.get("test_accuracy"))),
             ("test loss", number(metrics["test_loss"]) if "test_loss" in metrics else "-"),
             ("training time", f"{metrics['train_seconds']:.1f} s"
              if "train_seconds" in metrics else "-")]
    table = "".join(f'<tr><th>{html.escape(k)}</th><td class="name">{html.escape(v)}</td></tr>'
                    for k, v in facts)
    parts = [f'<div><b>Run</b> {html.escape(str(run.path))}</div>',
             f'<table class="metrics">{table}</table>']
    curves = run.path / "curves.png"
    if curves.is_file():
        parts.append(img_tag(curves.read_bytes(), "loss and accuracy per epoch", 560))
    if len(run.y_test):
        cm = run.confusion()
        parts.append(f'<div class="caption">Confusion matrix of the {len(run.y_test)} test '
                     f"samples: {int(np.trace(cm))} right ({_pct(run.accuracy())})</div>")
        parts.append(confusion_html(cm, run.class_names))
    parts.append(summary(run.model, run.input_shape).to_html())
    return f'<div class="gridnn-html">{STYLE}{"".join(parts)}</div>'
