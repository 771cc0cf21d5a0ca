"""Training curves as a PNG (matplotlib, imported only when a plot is drawn)."""

from __future__ import annotations

import io
import os
from typing import Any

from .fileio import atomic_write


def plot_curves(history: Any, path: str | os.PathLike) -> None:
    """Write loss and accuracy per epoch (train and, if present, validation or test) to ``path``.

    ``history`` is a ``gridnn.train.History``. Uses the non-interactive Agg backend, so it
    works without a display; raises ImportError when matplotlib is not installed.
    """
    # A bare Figure draws with Agg when saved and needs no backend: never switch the user's
    # (that would turn off Jupyter's inline display of every figure).
    from matplotlib.figure import Figure

    epochs = history["epoch"]
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for ax, metric, label in ((loss_ax, "loss", "loss"), (acc_ax, "accuracy", "accuracy")):
        for split, style in (("train", "-o"), ("val", "-s"), ("test", "-^")):
            name = f"{split}_{metric}"
            if name in history.columns:
                values = history[name]
                if metric == "accuracy":
                    values = [100 * v for v in values]
                ax.plot(epochs, values, style, markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label + (" (%)" if metric == "accuracy" else ""))
        ax.grid(alpha=0.3)
        ax.legend()
    loss_ax.set_yscale("log")
    loss_ax.set_title("loss")
    acc_ax.set_title("accuracy")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write(path, buf.getvalue())
