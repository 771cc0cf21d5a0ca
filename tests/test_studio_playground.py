"""The playground API (/api/playground/...) through Starlette's TestClient.

Outputs are checked against the naive loop oracle (tests/reference.py) and PyTorch, the dense
matrix against W @ x + b, each window's products and equation against the oracle's window and
gridnn.explain's weight labels, the counts against the lecture's 64 / 16 / 4 and 64 / 16 / 16.
Every out-of-range field is a 400 that names the field.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
from starlette.testclient import TestClient  # noqa: E402

from gridnn.studio.app import create_app  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402
from needs_torch import torch  # noqa: E402
from reference import conv_ref, same_pads  # noqa: E402

LECTURE = [np.arange(1, 17).reshape(4, 4).tolist()]
LECTURE_KERNEL = [[[[1, 0], [0, -1]]]]


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Registry([])), base_url="http://127.0.0.1:8000") as c:
        yield c


def conv(client, **body):
    response = client.post("/api/playground/conv", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def window(client, position, **body):
    response = client.post("/api/playground/window", json={**body, "position": position})
    assert response.status_code == 200, response.text
    return response.json()


def oracle(x, kernels, bias, stride, padding, dilation):
    """(K, *O) by the naive loops, with the padding resolved as the definitions say."""
    nd = x.ndim - 1
    size, kernel = x.shape[1:], kernels.shape[2:]
    if padding == "same":
        pads = same_pads(size, kernel, (stride,) * nd, (dilation,) * nd)
    else:
        pads = ((0 if padding == "valid" else padding,) * 2,) * nd
    return conv_ref(x[None], kernels, bias, (stride,) * nd, pads, (dilation,) * nd)[0], pads


def torch_conv(x, kernels, bias, stride, padding, dilation):
    """PyTorch's convolution (it refuses padding='same' with stride > 1: not called then)."""
    f = torch.nn.functional.conv1d if x.ndim == 2 else torch.nn.functional.conv2d
    pad = 0 if padding == "valid" else padding
    return f(torch.from_numpy(x[None]), torch.from_numpy(kernels), torch.from_numpy(bias),
             stride=stride, padding=pad, dilation=dilation)[0].numpy()


# ---- the lecture's example ------------------------------------------------------------------
def test_lecture_example_stride_1_and_2(client):
    one = conv(client, input=LECTURE, kernels=LECTURE_KERNEL, stride=1)
    assert one["output_shape"] == [1, 3, 3]
    assert np.array(one["output"]).tolist() == [[[-5.0] * 3] * 3]
    two = conv(client, input=LECTURE, kernels=LECTURE_KERNEL, stride=2)
    assert two["output"] == [[[-5.0, -5.0], [-5.0, -5.0]]]
    counts = two["counts"]
    assert (counts["mlp_weights"], counts["connections"], counts["parameters"]) == (64, 16, 4)
    assert two["matrix"]["labels"] == ["w1", "w2", "w3", "w4"] * 4


def test_lecture_equation_uses_the_lecture_labels(client):
    info = window(client, [0, 0, 0], input=LECTURE, kernels=LECTURE_KERNEL, stride=2)
    assert info["equation"] == "y1 = w1·x1 + w2·x2 + w3·x5 + w4·x6 + b"
    assert info["numeric"] == "sum = 1·1 + 0·2 + 0·5 + (-1)·6 = -5, + b = -5 + 0 = -5"
    assert [c["product"] for c in info["cells"]] == [1.0, 0.0, 0.0, -6.0]
    assert info["y"] == info["sum"] + info["bias"] == -5.0


def test_sharing_off_is_the_locally_connected_layer(client):
    body = {"input": LECTURE, "kernels": LECTURE_KERNEL, "stride": 2}
    shared, local = conv(client, **body), conv(client, **body, share=False)
    assert local["output"] == shared["output"]  # every position holds a copy of the kernel
    counts = local["counts"]
    assert (counts["mlp_weights"], counts["connections"], counts["parameters"]) == (64, 16, 16)
    m = local["matrix"]
    assert m["labels"] == [f"w{i}" for i in range(1, 17)]
    assert sorted({p for _, _, p in m["entries"]}) == list(range(16))
    info = window(client, [0, 1, 1], **body, share=False)
    assert info["equation"] == "y4 = w13·x11 + w14·x12 + w15·x15 + w16·x16 + b"


# ---- random problems against the oracles ----------------------------------------------------
def problems():
    rng = np.random.default_rng(7)
    cases = itertools.product((1, 2), (1, 3), (1, 2), (1, 2), ("valid", "same", 1), (1, 2))
    for dims, channels, n_kernels, stride, padding, dilation in cases:
        size = tuple(rng.integers(5, 9, dims))
        kernel = tuple(rng.integers(1, 4, dims))
        x = rng.integers(-4, 5, (channels, *size)).astype(np.float64)
        kernels = rng.integers(-3, 4, (n_kernels, channels, *kernel)).astype(np.float64)
        bias = rng.integers(-2, 3, n_kernels).astype(np.float64)
        yield x, kernels, bias, stride, padding, dilation


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("share", [True, False])
def test_outputs_matrix_and_windows_match_the_oracles(client, share):
    for x, kernels, bias, stride, padding, dilation in problems():
        body = {"input": x.tolist(), "kernels": kernels.tolist(), "bias": bias.tolist(),
                "stride": stride, "padding": padding, "dilation": dilation, "share": share}
        answer = conv(client, **body)
        expected, pads = oracle(x, kernels, bias, stride, padding, dilation)
        out = np.array(answer["output"])
        np.testing.assert_allclose(out, expected, atol=1e-9)
        if not (padding == "same" and stride > 1):
            np.testing.assert_allclose(out, torch_conv(x, kernels, bias, stride, padding,
                                                       dilation), atol=1e-9)
        assert answer["pads"] == [list(p) for p in pads]
        # The sparse entries rebuild a dense W with W @ x + b == the outputs.
        m = answer["matrix"]
        dense = np.zeros((m["rows"], m["cols"]))
        for (r, c, _), value in zip(m["entries"], m["values"]):
            dense[r, c] += value
        np.testing.assert_allclose(dense @ x.ravel() + np.repeat(bias, out[0].size),
                                   expected.ravel(), atol=1e-9)
        assert answer["counts"]["connections"] == len(m["entries"])
        assert answer["counts"]["parameters"] == (kernels.size if share
                                                  else kernels.size * out[0].size)
        labels = {(r, c): label for (r, c, _), label in zip(m["entries"], m["labels"])}
        check_one_window(client, body, x, expected, pads, labels, stride, dilation)


def check_one_window(client, body, x, expected, pads, labels, stride, dilation):
    """The last output's window: cells where the definition puts them, products, labels, y."""
    position = [expected.shape[0] - 1] + [n - 1 for n in expected.shape[1:]]
    info = window(client, position, **body)
    row = int(np.ravel_multi_index(position, expected.shape))
    assert info["row"] == row and info["y"] == pytest.approx(expected[tuple(position)])
    assert info["sum"] + info["bias"] == pytest.approx(info["y"])
    size = x.shape[1:]
    for cell in info["cells"]:
        # Padded coordinate from the definition: o * stride + tap * dilation - low pad.
        at = [o * stride + t * dilation - lo
              for o, t, (lo, _) in zip(position[1:], cell["tap"], pads)]
        assert cell["at"] == at
        inside = all(0 <= a < n for a, n in zip(at, size))
        assert cell["padding"] is (not inside)
        x_value = x[(cell["channel"], *at)] if inside else 0.0
        assert cell["x"] == x_value and cell["product"] == pytest.approx(cell["w"] * x_value)
        if inside:
            col = cell["channel"] * x[0].size + int(np.ravel_multi_index(at, size))
            assert cell["x_label"] == f"x{col + 1}"
            assert labels[(row, col)] == cell["w_label"]  # gridnn.explain.weight_labels
            assert f"{cell['w_label']}·{cell['x_label']}" in info["equation"]
    assert info["equation"].startswith(f"y{row + 1} = ")


def test_large_problem_counts_without_the_matrix(client):
    x = np.ones((3, 32, 32)).tolist()
    kernels = np.ones((4, 3, 7, 7)).tolist()
    answer = conv(client, input=x, kernels=kernels, padding="same")
    assert answer["matrix"] is None and "too many to draw" in answer["matrix_note"]
    assert answer["output_shape"] == [4, 32, 32]
    assert answer["counts"]["mlp_weights"] == 3 * 32 * 32 * 4 * 32 * 32
    # Each filter reads, per channel, the in-bounds taps of every window: 30^2 + edges.
    per_dim = sum(min(i + 3, 31) - max(i - 3, 0) + 1 for i in range(32))
    assert answer["counts"]["connections"] == 4 * 3 * per_dim ** 2


# ---- presets ----------------------------------------------------------------------------------
def test_presets(client):
    from sklearn.datasets import load_digits

    response = client.get("/api/playground/presets")
    assert response.status_code == 200
    presets = response.json()
    assert presets["inputs"]["lecture"]["data"] == LECTURE
    digits = load_digits()
    digit = presets["inputs"]["digit"]["data"][0]
    assert any(np.array_equal(digit, image) for image in digits.images[digits.target == 3])
    sine = presets["inputs"]["sine"]
    assert sine["dims"] == 1 and 3 <= len(sine["data"][0]) <= 64
    kernels = presets["kernels"]
    assert kernels["lecture"]["data"] == LECTURE_KERNEL[0][0]
    assert kernels["sobel_x"]["data"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert kernels["sobel_y"]["data"] == np.array(kernels["sobel_x"]["data"]).T.tolist()
    assert np.array(kernels["box"]["data"]).sum() == pytest.approx(1, abs=1e-3)
    assert kernels["identity"]["data"][1][1] == 1
    # Every preset is accepted by the conv endpoint with a matching kernel.
    for name, preset in presets["inputs"].items():
        kernel = preset.get("kernel") or [next(k["data"] for k in kernels.values()
                                               if k["dims"] == preset["dims"])]
        answer = conv(client, input=preset["data"], kernels=[kernel])
        assert answer["dims"] == preset["dims"], name


# ---- bad input --------------------------------------------------------------------------------
GOOD = {"input": LECTURE, "kernels": LECTURE_KERNEL}


@pytest.mark.parametrize("change, field", [
    ({"input": [[[1.0] * 33] * 4]}, "input"),                    # wider than 32
    ({"input": [[[1.0] * 4] * 4] * 4}, "input"),                 # 4 channels
    ({"input": [[1.0, 2.0]]}, "input"),                           # 1-D shorter than 3
    ({"input": [[1.0] * 65]}, "input"),                           # 1-D longer than 64
    ({"input": [[1.0] * 5000]}, "input"),                         # over the size limit
    ({"input": [[[1, 2], [3]]]}, "input"),                        # ragged
    ({"input": [[[1, "a"]]]}, "input"),
    ({"input": [[[1e300, 1]]]}, "input"),                         # beyond ±1e6
    ({"input": "1,2,3"}, "input"),
    ({"input": None}, "input"),
    ({"kernels": [[[[1] * 8] * 8]]}, "kernels"),                  # side 8 > 7
    ({"kernels": [[[[1]]]] * 13}, "kernels"),                     # 13 kernels
    ({"kernels": [[[[1]], [[1]]]]}, "kernels"),                   # 2 channels for a 1-channel x
    ({"kernels": [[[1, 2]]]}, "kernels"),                         # 1-D kernel for a 2-D input
    ({"kernels": [[[[1] * 5] * 5]]}, "kernels"),                  # larger than the input
    ({"kernels": [[[[1] * 3] * 3]], "dilation": 3}, "kernels"),   # dilated past the input
    ({"bias": [1, 2]}, "bias"),
    ({"bias": "0"}, "bias"),
    ({"stride": 0}, "stride"),
    ({"stride": 9}, "stride"),
    ({"stride": "2"}, "stride"),
    ({"stride": 1.5}, "stride"),
    ({"dilation": 7}, "dilation"),
    ({"padding": "full"}, "padding"),
    ({"padding": 8}, "padding"),
    ({"padding": -1}, "padding"),
    ({"padding": True}, "padding"),
    ({"share": "no"}, "share"),
])
def test_bad_fields_are_400_naming_the_field(client, change, field):
    response = client.post("/api/playground/conv", json={**GOOD, **change})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert response.json()["error"]


@pytest.mark.parametrize("position", [None, [0, 0], [0, 0, 3], [1, 0, 0], [0, -1, 0],
                                      [0, 0, "1"], "0,0,0"])
def test_bad_window_positions(client, position):
    response = client.post("/api/playground/window", json={**GOOD, "position": position})
    assert response.status_code == 400, response.text
    assert response.json()["field"].startswith("position")


def test_limits_are_checked_before_allocating(client, monkeypatch):
    import gridnn.studio.http as http

    calls = []
    real = http.np.asarray
    monkeypatch.setattr(http.np, "asarray", lambda *a, **k: calls.append(1) or real(*a, **k))
    response = client.post("/api/playground/conv", json={**GOOD, "input": [[[0] * 32] * 40]})
    assert response.status_code == 400 and response.json()["field"] == "input"
    assert calls == []
