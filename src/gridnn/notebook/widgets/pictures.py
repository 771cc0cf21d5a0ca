"""The static pictures a widget shows where no widget front end runs (matplotlib figures),
drawn from the same API answers as the widget and with gridnn's own figure helpers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...explain import draw, trained
from ...studio.http import ApiError


def playground_picture(bridge: Any, initial: dict[str, Any] | None) -> Any:
    """Input, first kernel and first output map of the playground's problem (the lecture's
    case when ``initial`` is None), numbers on cells, from /api/playground/conv."""
    if initial is None:
        _, presets = bridge.call("GET", "/api/playground/presets")
        initial = presets["start"]
    status, answer = bridge.call("POST", "/api/playground/conv", initial)
    if status != 200:
        raise ApiError(status, answer.get("field"), answer.get("error", "refused"))
    x = np.atleast_2d(np.asarray(initial["input"], np.float64)[0])
    w = np.atleast_2d(np.asarray(initial["kernels"], np.float64)[0, 0])
    y = np.atleast_2d(np.asarray(answer["output"], np.float64)[0])
    fig = draw.new_figure(2.2 * 3, 2.4)
    for i, (values, title) in enumerate([(x, "input (channel 1)"), (w, "kernel 1"),
                                         (y, f"output: stride {initial.get('stride', 1)}")]):
        draw._grid(fig.add_subplot(1, 3, i + 1), values, title)
    return fig


def inside_picture(registry: Any, model_id: str) -> Any:
    """The feature maps of a run's first test sample, or a zoo model's first-layer filters."""
    entry = registry.get(model_id)
    if entry.kind == "run":
        run = entry.run()
        if len(run.y_test):
            sample, label = run.sample(0)
            return trained.feature_maps_figure(sample, run.feature_maps(sample),
                                               f"{entry.name}: test sample 0 (label {label})")
    convs = trained.conv_layers(entry.model())
    if not convs:
        return None
    name, layer = convs[0]
    return trained.filters_figure(f"{entry.name} {name}", layer.weight.numpy())


def learn_picture(bridge: Any) -> Any:
    """The learn job's loss curve so far, or before any job the default settings' parameter
    counts as a convolution, a locally connected layer and an MLP (/api/learn/params)."""
    status, snap = bridge.call("GET", "/api/learn/state")
    fig = draw.new_figure(5.0, 2.6)
    ax = fig.add_subplot(1, 1, 1)
    if status == 200 and snap["points"]:
        ax.plot([p["step"] for p in snap["points"]], [p["loss"] for p in snap["points"]])
        ax.set(xlabel="step", ylabel="training loss",
               title=f"{snap['name']}: {snap['steps']} steps ({snap['status']})")
        return fig
    status, answer = bridge.call("POST", "/api/learn/params", {})
    if status != 200:
        raise ApiError(status, answer.get("field"), answer.get("error", "refused"))
    kinds = list(answer["counts"])
    counts = [answer["counts"][k]["params"] for k in kinds]
    ax.bar(kinds, counts)
    for i, n in enumerate(counts):
        ax.annotate(f"{n:,}", (i, n), ha="center", va="bottom")
    ax.set(ylabel="weights", title=f"the default stack on {answer['train_images']} images: "
                                   "weights by connection")
    return fig
