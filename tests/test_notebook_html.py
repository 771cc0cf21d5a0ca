"""Rich displays in Jupyter: the HTML of a Tensor, a Module, a summary and a run folder, parsed
back and checked against the numbers they show; plain-text reprs stay as they were."""

from __future__ import annotations

import struct
import zlib
from html.parser import HTMLParser

import numpy as np
import pytest

import gridnn as gn
from gridnn import nn


class Tables(HTMLParser):
    """Every <table> as rows of (cell text, style) and every <img> src; the text outside."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[list[list[tuple[str, str]]]] = []
        self.classes: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._style = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
            self.classes.append(a.get("class", ""))
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell, self._style = [], a.get("style", "")
        elif tag == "img":
            self.images.append(a["src"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(("".join(self._cell), self._style))
            self._cell = None

    def handle_data(self, data):
        (self._cell if self._cell is not None else self.text).append(data)

    def table(self, cls: str) -> list[list[str]]:
        return [[c for c, _ in row] for row in self.tables[self.classes.index(cls)]]


def png_pixels(src: str) -> np.ndarray:
    """Decode the PNGs html.png writes (8-bit RGB, filter 0) back to (H, W, 3)."""
    import base64

    data = base64.b64decode(src.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4:idat])[0]
    raw = zlib.decompress(data[idat + 4:idat + 4 + length])
    return np.frombuffer(raw, np.uint8).reshape(h, 1 + 3 * w)[:, 1:].reshape(h, w, 3)


def test_a_small_tensor_shows_shape_dtype_range_and_its_numbers_on_coloured_cells() -> None:
    t = gn.tensor(np.arange(-8, 8, dtype=np.float32).reshape(1, 1, 4, 4), requires_grad=True)
    page = Tables(t._repr_html_())
    text = " ".join(page.text)
    assert "shape (1, 1, 4, 4)" in text and "float32" in text and "requires_grad" in text
    assert "min -8 · max 7 · mean -0.5" in text
    cells = page.tables[0]
    assert [[float(c) for c, _ in row] for row in cells] == t.data[0, 0].tolist()
    assert cells[2][0][1] == "background:rgb(255,255,255)"  # 0 is white
    assert cells[0][0][1] == "background:rgb(135,105,255)"  # -8, the largest |value|: blue


def test_a_large_2d_tensor_is_a_png_one_pixel_per_element_strided_down() -> None:
    data = np.zeros((100, 300), np.float32)
    data[0, 0], data[0, 2] = 5.0, -5.0
    page = Tables(gn.tensor(data)._repr_html_())
    pixels = png_pixels(page.images[0])
    assert pixels.shape == (100, 150, 3)  # every 2nd column: 300 > 256
    assert pixels[0, 0].tolist() == [255, 105, 135] and pixels[0, 1].tolist() == [135, 105, 255]
    assert pixels[5, 5].tolist() == [255, 255, 255]
    assert "every 1x2th element shown" in " ".join(page.text)


def test_a_3d_tensor_shows_no_heat_map_and_plain_repr_is_unchanged() -> None:
    t = gn.tensor(np.ones((2, 3, 4)))
    page = Tables(t._repr_html_())
    assert not page.tables and not page.images
    assert "shape (2, 3, 4)" in " ".join(page.text)
    assert repr(gn.tensor([1.0, 2.0])) == "tensor([1., 2.], dtype=float32)"


def test_jupyter_gets_html_and_the_plain_repr_from_its_display_formatter() -> None:
    formatters = pytest.importorskip("IPython.core.formatters")
    t = gn.tensor(np.arange(4.0))
    data, _ = formatters.DisplayFormatter().format(t)
    assert data["text/plain"] == repr(t) and data["text/html"] == t._repr_html_()
    model = nn.Sequential(nn.Linear(4, 2))
    data, _ = formatters.DisplayFormatter().format(model)
    assert data["text/plain"] == repr(model) and "<table" in data["text/html"]


def test_a_module_shows_its_layers_settings_and_parameter_counts() -> None:
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.Flatten(),
                          nn.Linear(64, 2, rng=rng))
    page = Tables(model._repr_html_())
    rows = page.table("layers")
    assert rows[0] == ["Layer", "Type", "Settings", "Param #"]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
        ("0", "Conv2d", "40"), ("1", "ReLU", "0"), ("2", "Flatten", "0"), ("3", "Linear", "130")]
    assert rows[1][2] == model[0].extra_repr()
    assert "Total params: 170 · Trainable params: 170" in " ".join(page.text)
    assert gn.summary(model, (1, 4, 4))._repr_html_() == gn.summary(model, (1, 4, 4)).to_html()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    pytest.importorskip("sklearn")
    from gridnn.cli import main

    out = tmp_path_factory.mktemp("run") / "digits"
    assert main(["train", "--data", "digits", "--epochs", "1", "--no-progress",
                 "--out", str(out)]) == 0
    return out


def test_a_run_shows_its_metrics_curves_confusion_matrix_and_summary(run_dir) -> None:
    run = gn.open_run(run_dir)
    page = Tables(run._repr_html_())
    metrics = dict(page.table("metrics"))
    assert metrics["model"] == "digits_cnn" and metrics["data"] == "digits"
    assert metrics["test accuracy"] == f"{100 * run.metrics['test_accuracy']:.2f}%"
    assert metrics["epochs"] == "1"
    confusion = page.table("confusion")
    assert confusion[0][1:] == run.class_names
    counts = np.array([[int(c) for c in row[1:]] for row in confusion[1:]])
    assert (counts == run.confusion()).all() and counts.sum() == 360
    assert f"{np.trace(counts)} right" in " ".join(page.text)
    assert png_like(page.images[0], (run_dir / "curves.png").read_bytes())
    summary_rows = page.table("summary")[1:]
    assert [r[0] for r in summary_rows][:2] == ["0 (Conv2d)", "1 (BatchNorm2d)"]
    assert sum(int(r[3].replace(",", "")) for r in summary_rows) == \
        sum(p.size for p in run.model.parameters())


def png_like(src: str, data: bytes) -> bool:
    import base64

    return base64.b64decode(src.split(",", 1)[1]) == data
