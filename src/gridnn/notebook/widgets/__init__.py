"""The studio's views as notebook widgets (anywidget): ``playground(...)``,
``inside(model_or_run)`` and ``learn()``.

The numbers come from the studio's API (``bridge.Bridge`` runs its ASGI app in this kernel)
and the drawing from the studio's own page modules (``gridnn/studio/static``), which the front
end (``widget.js``) imports and mounts: one implementation for the web page and the widget.
Where no widget front end runs (a notebook rendered to HTML, a plain terminal), a widget shows
a static picture instead (``picture()``, a matplotlib figure).

Needs the ``notebook`` and ``studio`` extras.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from ...explain.draw import png_bytes
from ...studio.registry import Registry
from ...tensor import Tensor
from .bridge import Bridge, EventStream, page_modules
from .pictures import inside_picture, learn_picture, playground_picture

__all__ = ["Studio", "inside", "learn", "playground"]


class Studio(anywidget.AnyWidget):
    """One studio page in a notebook cell. ``entry`` names the page module's mount function
    and its arguments after (root, api) (after (root, api, openStream) when ``entry['stream']``);
    the front end's api calls arrive as custom messages ``{kind: 'api', id, method, path,
    body}`` and are answered with ``{kind: 'api-reply', id, status, json}``. A page's event
    stream is ``{kind: 'stream-open', id, path}``: each event then comes as ``{kind:
    'stream-event', id, data}`` until ``{kind: 'stream-close', id}`` or the widget closes."""

    _esm = Path(__file__).with_name("widget.js")
    modules = traitlets.Dict().tag(sync=True)
    css = traitlets.Unicode().tag(sync=True)
    entry = traitlets.Dict().tag(sync=True)

    def __init__(self, entry: dict[str, Any], bridge: Bridge, picture: Any = None) -> None:
        modules, css = page_modules()
        super().__init__(modules=modules, css=css, entry=entry)
        self.bridge = bridge
        self._picture = picture
        self.streams: dict[Any, EventStream] = {}
        self.on_msg(self._on_message)

    def handle(self, content: Any) -> dict[str, Any] | None:
        """The reply to one front-end message (None for messages answered later or not at
        all: a stream's events are sent as they come)."""
        kind = content.get("kind") if isinstance(content, dict) else None
        if kind == "stream-open":
            return self._open_stream(content.get("id"), content.get("path"))
        if kind == "stream-close":
            stream = self.streams.pop(content.get("id"), None)
            if stream is not None:
                stream.close()
            return None
        if kind != "api":
            return None
        status, answer = self.bridge.call(content.get("method"), content.get("path"),
                                          content.get("body"))
        return {"kind": "api-reply", "id": content.get("id"), "status": status, "json": answer}

    def _open_stream(self, id_: Any, path: Any) -> dict[str, Any] | None:
        old = self.streams.pop(id_, None)
        if old is not None:
            old.close()
        try:
            self.streams[id_] = self.bridge.stream(
                path, lambda data: self.send({"kind": "stream-event", "id": id_, "data": data}),
                lambda status: self.send({"kind": "stream-error", "id": id_,
                                          "error": f"{path} answered {status}"}))
        except ValueError as exc:
            return {"kind": "stream-error", "id": id_, "error": str(exc)}
        return None

    def close(self) -> None:
        """Close the widget: end its streams and stop its training job, if any."""
        streams, self.streams = list(self.streams.values()), {}
        for stream in streams:
            stream.close()
        if getattr(self, "bridge", None) is not None:
            self.bridge.close()
        super().close()

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        reply = self.handle(content)
        if reply is not None:
            self.send(reply)

    def picture(self) -> Any:
        """The static matplotlib figure shown where no widget front end runs."""
        return self._picture() if callable(self._picture) else None

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        fig = self.picture()
        if fig is not None and isinstance(data, dict):
            data["image/png"] = base64.b64encode(png_bytes(fig)).decode("ascii")
        return bundle


LECTURE = {"input": np.arange(1, 17, dtype=np.float64).reshape(4, 4),
           "kernels": np.array([[1.0, 0.0], [0.0, -1.0]])}


def _array(value: Any, name: str) -> np.ndarray:
    """A Tensor, array or nested list as a float64 array of finite numbers."""
    array = np.asarray(value.data if isinstance(value, Tensor) else value, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"playground: `{name}` must hold finite numbers, received {array}")
    return array


def playground(input: Any = None, kernels: Any = None, bias: Any = None, *, stride: Any = 1,
               padding: Any = "valid", dilation: Any = 1) -> Studio:
    """The studio's convolution playground in a cell, starting from the given arrays.

    ``input``: (L,) or (H, W) for one channel, or (C, H, W). ``kernels``: (k,) or (kH, kW)
    for one kernel of one channel, (C, kH, kW) for one kernel, or (K, C, *k). ``bias``: (K,),
    default zeros. The default is the lecture's example: the 4x4 input 1..16 and the kernel
    [[1, 0], [0, -1]], whose 3x3 output at stride 1 is -5 everywhere. The page checks and
    explains these settings as it does its own edits (a refusal is shown in the cell)."""
    x = _array(LECTURE["input"] if input is None else input, "input")
    if kernels is None:
        kernels = LECTURE["kernels"] if x.ndim >= 2 else np.array([1.0, -1.0])
    w = _array(kernels, "kernels")
    spatial = 1 if x.ndim == 1 else 2
    x = x[None] if x.ndim == spatial else x  # (C, *S)
    while w.ndim < 2 + spatial:  # (K, C, *k)
        w = w[None]
    b = np.zeros(len(w)) if bias is None else np.atleast_1d(_array(bias, "bias"))
    initial = {"input": x.tolist(), "kernels": w.tolist(), "bias": b.tolist(), "stride": stride,
               "padding": padding, "dilation": dilation}
    bridge = Bridge()
    return Studio({"module": "playground.js", "export": "mountPlayground", "args": [initial]},
                  bridge, lambda: playground_picture(bridge, initial))


def inside(model_or_run: Any) -> Studio:
    """The studio's model page in a cell: draw or pick an input, the prediction, every layer's
    feature maps, receptive fields, filters, curves and confusion matrix.

    ``model_or_run``: a run folder (path or ``gn.open_run(...)``), a zoo model name or an
    .onnx file, served by the studio's registry as ``gridnn studio`` would."""
    source = getattr(model_or_run, "path", model_or_run)
    registry = Registry.from_sources([str(source)], runs_dir=None)
    entry = registry.entries()[0]
    bridge = Bridge(registry)
    return Studio({"module": "model.js", "export": "mountModel", "args": [entry["id"]]},
                  bridge, lambda: inside_picture(registry, entry["id"]))


def learn() -> Studio:
    """The studio's live training page in a cell: choose data and a stack of convolution,
    locally connected or dense layers, then Play, Step or Epoch and watch the curves, the
    first layer's kernels, a sample's feature maps and one weight's gradient as it trains.

    Training runs in this kernel (gridnn's ``train.fit`` in a thread, as ``gridnn studio``
    runs it); closing the widget (``w.close()``) stops it. Save writes ``./runs/<name>``."""
    bridge = Bridge()
    return Studio({"module": "learn.js", "export": "mountLearn", "args": [], "stream": True},
                  bridge, lambda: learn_picture(bridge))
