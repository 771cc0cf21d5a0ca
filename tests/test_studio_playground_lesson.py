"""What the playground API says (issue 20): the problem it opens on, each count's sentence and
arithmetic, the output-size formula, where padding goes, per-channel sums then + b, refusals in
a student's words, and without sharing each position's own kernels. Numbers are checked against
the naive loop oracle (tests/reference.py) and the connection counts, never against the text."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
from starlette.testclient import TestClient  # noqa: E402

from gridnn.studio.app import create_app  # noqa: E402
from gridnn.studio.playground_text import num, wrapped  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402
from test_studio_playground import conv, oracle, window  # noqa: E402

LECTURE = [np.arange(1, 17).reshape(4, 4).tolist()]


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Registry([])), base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.fixture(scope="module")
def presets(client):
    return client.get("/api/playground/presets").json()


def refusal(client, **body) -> str:
    response = client.post("/api/playground/conv", json=body)
    assert response.status_code == 400, response.text
    return response.json()["error"]


def test_the_page_opens_on_the_lecture_case(client, presets):
    start = {k: v for k, v in presets["start"].items() if k != "input_preset"}
    assert start["input"] == LECTURE and start["stride"] == 2
    answer = conv(client, **start)
    c = answer["counts"]
    assert (c["mlp_weights"], c["connections"], c["parameters"]) == (64, 16, 4)
    out = np.array(answer["output"])
    assert len(set(out.ravel())) == 4  # y1..y4 differ
    want, _ = oracle(np.array(start["input"], float), np.array(start["kernels"], float),
                     np.array(start["bias"], float), 2, "valid", 1)
    np.testing.assert_array_equal(out, want)
    assert presets["kernels"]["lecture"]["data"] == [[1, 0], [0, -1]]
    assert presets["kernels"]["lecture_bias"]["bias"] != 0


def test_rgb_preset_channels_and_kernel_slices_differ(presets):
    rgb = presets["inputs"]["rgb"]
    x, k = np.array(rgb["data"]), np.array(rgb["kernel"])
    assert x.shape == (3, 4, 4) and k.shape == (3, 2, 2)
    assert all(not np.array_equal(x[i], x[j]) and not np.array_equal(k[i], k[j])
               for i, j in itertools.combinations(range(3), 2))


def test_twelve_different_kernels_of_each_common_size(presets):
    for dims, size in ((2, (2, 2)), (2, (3, 3))):
        found = {np.array(p["data"]).tobytes() for p in presets["kernels"].values()
                 if p["dims"] == dims and np.shape(p["data"]) == size}
        assert len(found) >= 12, size
    assert presets["limits"]["kernels"] == 12


def _arith(sentence: str) -> list[int]:
    """The numbers of 'a x b = c' in a sentence, checked to multiply out."""
    a, b, c = map(int, re.search(r"(\d+) x (\d+) = (\d+)", sentence).groups())
    assert a * b == c, sentence
    return [a, b, c]


GEOMETRIES = [  # (input shape, kernels shape, stride, padding, dilation, share)
    ((1, 4, 4), (1, 1, 2, 2), 2, "valid", 1, True),
    ((1, 4, 4), (1, 1, 2, 2), 1, "same", 1, True),
    ((3, 5, 6), (4, 3, 3, 2), 1, 1, 1, True),
    ((2, 7, 7), (2, 2, 3, 3), 2, "same", 2, False),
    ((1, 20), (3, 1, 3), 3, 2, 1, True),
    ((2, 9), (1, 2, 2), 1, "same", 3, False),
]


@pytest.mark.parametrize("xs,ks,stride,padding,dilation,share", GEOMETRIES)
def test_counts_formula_and_padding_are_said_with_the_right_numbers(client, xs, ks, stride,
                                                                   padding, dilation, share):
    rng = np.random.default_rng(0)
    body = {"input": rng.integers(-3, 4, xs).tolist(), "kernels": rng.integers(-2, 3, ks).tolist(),
            "bias": [1] * ks[0], "stride": stride, "padding": padding, "dilation": dilation,
            "share": share}
    answer = conv(client, **body)
    c, say = answer["counts"], answer["say"]
    assert _arith(say["mlp"]) == [c["inputs"], c["outputs"], c["mlp_weights"]]
    assert _arith(say["connections"])[:2] == [c["outputs"], math.prod(ks[1:])]
    assert say["connections"].endswith(f"{c['connections']} connections")
    assert f"{c['parameters']} parameters" in say["parameters"]
    assert f"({c['mlp_biases']})" in say["biases"]
    # The formula, evaluated as written, gives the output size gridnn computed.
    for line, o in zip(answer["formula"][1:], answer["output_shape"][1:]):
        expr, result = line.split(": ", 1)[1].rsplit(" = ", 1)
        python = expr.replace("⌊", "math.floor(").replace("⌋", ")").replace("−", "-")
        assert eval(python.replace("·", "*"), {"math": math}) == int(result) == o
    taps = c["outputs"] * math.prod(ks[1:])
    note = answer["padding_note"]
    if any(lo or hi for lo, hi in answer["pads"]):
        assert f"{taps - c['connections']} of the {taps} taps fall on padding" in note
        uneven = any(lo != hi for lo, hi in answer["pads"])
        assert ("the extra one goes" in note) is uneven
    else:
        assert note is None and c["connections"] == taps


def test_each_channel_is_summed_then_the_bias_added(client):
    x = np.array([LECTURE[0], np.arange(16, 0, -1).reshape(4, 4), np.eye(4) * 3])
    w = np.array([[[1, 0], [0, -1]], [[0, 2], [1, 0]], [[1, 1], [1, 1]]], float)
    info = window(client, [0, 1, 0], input=x.tolist(), kernels=[w.tolist()], bias=[0.5],
                  stride=2)
    win = x[:, 2:4, 0:2]
    sums = (win * w).sum(axis=(1, 2))
    assert [p.split(" = ")[-1] for p in info["partials"]] == [num(s) for s in sums]
    y = float(sums.sum() + 0.5)
    assert info["numeric"] == (f"sum = {' + '.join(map(wrapped, sums))} = {num(sums.sum())}, "
                               f"+ b = {num(sums.sum())} + 0.5 = {num(y)}")
    assert info["y"] == pytest.approx(y)
    assert info["where"].startswith("output y3 of 4: map 1, row, column 2, 1 (counted from 1)")


@pytest.mark.parametrize("change,message", [
    ({"kernels": [[[[1] * 7] * 7]]},
     "the kernel (7x7) is larger than the input (4x4); make it at most 4x4 or add padding"),
    ({"kernels": [[[[1] * 7] * 7]], "padding": 1},
     "the kernel (7x7) is larger than the padded input (6x6: 4x4 plus padding 1 on each side); "
     "make it at most 6x6 or add padding"),
    ({"dilation": 4}, "the kernel (2x2, spread by dilation 4 over 5x5) is larger than the input "
                      "(4x4); make it at most 1x1, lower the dilation or add padding"),
    ({"input": [[[0] * 4] * 100]}, "the input can be at most 32x32 (this one is 100x4); use at "
                                   "most 32 rows and 32 columns"),
    ({"kernels": [[[[1]]]] * 13, "bias": [0] * 13}, "there can be at most 12 kernels (there "
                                                    "are 13)"),
])
def test_refusals_are_worded_for_a_student(client, change, message):
    body = {"input": LECTURE, "kernels": [[[[1, 2], [3, 4]]]], "bias": [0], **change}
    assert refusal(client, **body) == message


def test_kernel_fits_names_the_largest_side_offered(client):
    fits = [conv(client, input=LECTURE, kernels=[[[[1]]]], padding=p, dilation=d)["kernel_fits"]
            for p, d in (("valid", 1), (1, 1), ("valid", 2), ("same", 1))]
    assert fits == [[4, 4], [6, 6], [2, 2], [7, 7]]


def test_without_sharing_each_position_keeps_its_own_kernel(client):
    body = {"input": LECTURE, "kernels": [[[[1, 2], [3, 4]]]], "bias": [1], "stride": 2,
            "share": False}
    first = conv(client, **body)
    local = np.array(first["local_kernels"])
    assert local.shape == (2, 2, 1, 1, 2, 2)
    local[0, 1, 0, 0, 0, 0] = 9  # y2's first weight only
    edited = conv(client, **body, local_kernels=local.tolist())
    x = np.array(LECTURE[0], float)
    want = np.array([[(local[i, j, 0, 0] * x[2 * i:2 * i + 2, 2 * j:2 * j + 2]).sum() + 1
                      for j in range(2)] for i in range(2)])
    np.testing.assert_array_equal(np.array(edited["output"])[0], want)
    assert edited["counts"]["parameters"] == 16 and edited["local_kernels"] == local.tolist()
    assert "w5 = 9" not in str(first["matrix"]["values"])
    assert edited["matrix"]["values"][4] == 9  # y2's row starts with w5
    wrong = refusal(client, **body, local_kernels=local[:1].tolist())
    assert "local_kernels" in wrong


@pytest.mark.parametrize("value,text", [(2.0, "2"), (0.12345, "0.123"), (-0.0001, "0"),
                                        (-1.5, "-1.5"), (1000.4, "1000.4"), (1e6, "1000000")])
def test_numbers_are_printed_by_one_rule(value, text):
    assert num(value) == text
