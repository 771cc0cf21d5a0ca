"""``gridnn report RUN``: one self-contained HTML page about a trained run.

Everything is inside the file (images as base64 ``data:`` URLs, styles inline, no scripts), so
it opens offline and can be mailed around: the model summary with parameter and connection
columns, the training curves, the test accuracy, the confusion matrix, the learned filters,
feature maps of a few test inputs and the misclassified test examples.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import CURVES_FILE
from ..fileio import atomic_write, read_bytes
from . import draw, trained
from .runs import Run
from .summary import summary

MAX_CURVES_BYTES = 64 << 20  # a picture of a few curves; anything larger is not one
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.headline { font-size: 1.4em; } .headline b { color: #0a6; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
td:first-child, th:first-child, td:nth-child(2) { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
.row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.row img { max-width: calc(50% - 0.5em); }
.note { color: #666; font-size: 0.9em; }
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _fig(fig: Any, alt: str) -> str:
    return _img(draw.png_bytes(fig), alt)


def _pct(value: Any) -> str:
    return f"{100 * float(value):.2f}%"


def misclassified(run: Run, limit: int = 24) -> tuple[np.ndarray, list[str]]:
    """Up to ``limit`` misclassified test samples (raw) and 'true -> predicted' captions."""
    pred = run.predictions()
    wrong = np.flatnonzero(pred != run.y_test)[:limit]
    names = run.class_names
    captions = [f"#{i}: {names[run.y_test[i]]} -> {names[pred[i]]}" for i in wrong]
    return run.x_test[wrong], captions


def build_report(run: Run, n_feature_inputs: int = 3) -> str:
    """The report of ``run`` as an HTML string."""
    cfg, metrics = run.config, run.metrics
    model_name, data_name = cfg["model"]["name"], cfg["data"]["name"]
    acc = metrics.get("test_accuracy", run.accuracy())
    n_test = len(run.y_test)
    parts = [f"<h1>gridnn run: {html.escape(run.path.name)}</h1>",
             f'<p class="headline">Test accuracy <b id="test-accuracy">{_pct(acc)}</b> on '
             f"{n_test} test samples of {html.escape(str(data_name))} with "
             f"{html.escape(str(model_name))}</p>"]
    facts = [("test accuracy", _pct(acc))]
    for key, label in (("test_loss", "test loss"), ("epochs", "epochs"),
                       ("train_seconds", "training time (s)"),
                       ("images_per_second", "images / s")):
        if key in metrics:
            value = metrics[key]
            facts.append((label, f"{value:.4g}" if isinstance(value, float) else str(value)))
    for key, value in cfg.get("train", {}).items():
        if key == "epochs" and value == metrics.get("epochs"):
            continue  # already listed from the metrics: the epochs the run trained
        facts.append(("epochs planned" if key == "epochs" and "epochs" in metrics else key,
                      str(value)))
    parts.append("<h2>Figures and settings</h2><table>" + "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in facts)
        + "</table>")
    parts.append("<h2>Model</h2><p class='note'>Param #: weights and biases a layer stores. "
                 "Connections: input-output pairs its weights link. MLP weights: what a fully "
                 "connected layer of the same sizes would need.</p>")
    parts.append(summary(run.model, run.input_shape).to_html())
    parts.append("<h2>Training curves</h2>")
    curves = run.path / CURVES_FILE
    parts.append(_img(read_bytes(curves, CURVES_FILE, MAX_CURVES_BYTES), "training curves")
                 if curves.is_file() else
                 f"<p class='note'>no {CURVES_FILE} in the run folder</p>")
    parts.append("<h2>Confusion matrix</h2>")
    parts.append(_fig(trained.confusion_figure(run.confusion(), run.class_names,
                                            f"test set: {_pct(run.accuracy())} correct"),
                      "confusion matrix"))
    parts.append("<h2>Learned filters</h2>")
    filters = trained.filters_figures(run.model)
    parts.append("<div class='row'>" + "".join(_fig(fig, f"filters of {name}")
                                               for name, fig in filters) + "</div>"
                 if filters else "<p class='note'>this model has no convolution layers</p>")
    if filters:
        parts.append("<h2>Feature maps</h2>")
        for i in range(min(n_feature_inputs, n_test)):
            x, y = run.sample(i)
            title = f"test sample #{i} (label {run.class_names[y]})"
            parts.append(_fig(trained.feature_maps_figure(x, run.feature_maps(x), title),
                              f"feature maps of test sample {i}"))
    samples, captions = misclassified(run)
    parts.append(f"<h2>Misclassified test examples ({int((run.predictions() != run.y_test).sum())}"
                 f" of {n_test})</h2>")
    parts.append(_fig(trained.examples_figure(samples, captions, "true -> predicted"),
                      "misclassified examples"))
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>gridnn report: {html.escape(run.path.name)}</title>"
            f'<link rel="icon" href="data:,"><style>{STYLE}</style></head>'
            f"<body>\n{body}\n</body></html>\n")


def write_report(run: Run, out: str | os.PathLike | None = None) -> Path:
    """Write the report (default ``RUN/report.html``) atomically; returns its path."""
    path = Path(out) if out is not None else run.path / "report.html"
    atomic_write(path, build_report(run).encode("utf-8"))
    return path
