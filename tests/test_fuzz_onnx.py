"""Fuzz the ONNX reader and importer (``gridnn.onnx.load``) with hypothesis, as
test_fuzz_parsers.py fuzzes the data parsers, with its mutations and time limit.

Each input is a small valid model (gridnn exports of a conv chain, a residual block and a 1-D
net with reflect and circular padding; a hand-written torch-style graph with shape arithmetic;
a model with external data) with 1 to 4 mutations, half of them in the protobuf structure (the
bytes outside the weights' raw data). The only allowed outcomes: a model that loads and runs
on a batch of its declared input shape with the output shape it declares, or ``DataError``
naming the file. The load runs under lowered limits (1 MiB a tensor), and its peak allocation
must stay under PEAK_LIMIT; an input that takes over PER_INPUT_TIMEOUT_S fails as a hang.

MAX_EXAMPLES sets the inputs; GRIDNN_FUZZ_SCALE=10 runs ten times as many. Derandomised.
"""

import os
import tracemalloc

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import gridnn as gn
import gridnn.onnx as gx
from gridnn import DataError, nn
from gridnn.onnx import reader
from test_fuzz_parsers import mutate, time_limit

FUZZ_SCALE = float(os.environ.get("GRIDNN_FUZZ_SCALE", "1"))
MAX_EXAMPLES = {"onnx": 2500}
PER_INPUT_TIMEOUT_S = 5
PEAK_LIMIT = 32 << 20
LIMITS = reader.Limits(file_bytes=1 << 20, tensor_bytes=1 << 20, total_bytes=4 << 20,
                       layer_work=1 << 24)
tried = {"onnx": 0}


# ---- seeds -----------------------------------------------------------------------------------
def _export(model, shape, opset=17):
    return gx.to_proto(model.eval(), shape, opset).SerializeToString()


def _torch_style():
    """Flatten by Shape -> Gather -> Unsqueeze -> Concat -> Reshape, then Gemm, Clip, Softmax."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 12)).astype(np.float32), "fc.w"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "fc.b"),
             numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "axes"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
             numpy_helper.from_array(np.float32(0), "lo"),
             numpy_helper.from_array(np.float32(6), "hi")]
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["flat"]),
             helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["g"], transB=1),
             helper.make_node("Clip", ["g", "lo", "hi"], ["c"]),
             helper.make_node("Softmax", ["c"], ["y"], axis=1)]
    graph = helper.make_graph(nodes, "torch", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["batch", 3, 2, 2])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, ["batch", 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


EXTERNAL = np.random.default_rng(2).standard_normal((6, 3)).astype(np.float32)


def _external():
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[6, 3],
                    data_location=TensorProto.EXTERNAL)
    for key, value in {"location": "weights.bin", "offset": "0",
                       "length": str(EXTERNAL.nbytes)}.items():
        w.external_data.add(key=key, value=value)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["m"]),
                               helper.make_node("Relu", ["m"], ["y"])], "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                              [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _seeds():
    rng = np.random.default_rng(0)
    chain = nn.Sequential(nn.Conv2d(1, 3, 3, 2, "same", rng=rng), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 2, rng=rng))
    residual = nn.Sequential(nn.ResidualBlock(2, 3, 2, rng=rng), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(3, 2, rng=rng))
    signal = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1, padding_mode="reflect", rng=rng),
                           nn.AvgPool1d(3, 2, 1, ceil_mode=True), nn.Tanh(),
                           nn.Conv1d(3, 2, 3, padding=1, padding_mode="circular", rng=rng),
                           nn.Flatten(), nn.Linear(8, 3, rng=rng), nn.Sigmoid())
    return {"chain.onnx": _export(chain, (1, 8, 8)),
            "residual.onnx": _export(residual, (2, 4, 4)),
            "signal.onnx": _export(signal, (2, 7)),
            "torch.onnx": _torch_style(),
            "external.onnx": _external()}


SEEDS = _seeds()


def _structure(raw):
    """The byte ranges outside the initializers' raw data (the protobuf structure)."""
    proto = onnx.ModelProto()
    proto.ParseFromString(raw)
    blobs = sorted((raw.find(t.raw_data), len(t.raw_data)) for t in proto.graph.initializer
                   if len(t.raw_data) > 16)
    regions, start = [], 0
    for at, size in blobs:
        if at > start:
            regions.append((start, at))
        start = max(start, at + size)
    regions.append((start, len(raw)))
    return regions


REGIONS = {name: _structure(raw) for name, raw in SEEDS.items()}


def mutated():
    def build(name, mutation_seed):
        return name, mutate(SEEDS[name], REGIONS[name], np.random.default_rng(mutation_seed))

    return st.builds(build, st.sampled_from(sorted(SEEDS)), st.integers(0, 2**64 - 1))


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_onnx")
    (folder / "weights.bin").write_bytes(EXTERNAL.tobytes())
    (tmp_path_factory.getbasetemp() / "outside.bin").write_bytes(EXTERNAL.tobytes())
    yield folder
    print(f"\nfuzzed ONNX reader: {tried} = {sum(tried.values())} inputs")


def check_load(path):
    """Load under the fuzzing limits; returns (model, info) or None after a DataError."""
    tried["onnx"] += 1
    tracemalloc.start()
    try:
        with time_limit(PER_INPUT_TIMEOUT_S):
            return gx.load_model_file(path)
    except DataError as e:
        assert str(path) in str(e) and "\n" not in str(e), f"bad message: {e}"
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < PEAK_LIMIT, f"{path.name}: peak allocation {peak} bytes"


def test_fuzz_onnx(fuzz_dir, monkeypatch):
    for field in ("file_bytes", "tensor_bytes", "total_bytes", "layer_work"):
        monkeypatch.setattr(reader.LIMITS, field, getattr(LIMITS, field))

    @settings(max_examples=max(1, int(MAX_EXAMPLES["onnx"] * FUZZ_SCALE)), deadline=None,
              derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(mutated())
    def check(case):
        name, data = case
        path = fuzz_dir / name
        path.write_bytes(data)
        out = check_load(path)
        if out is not None:
            model, info = out
            assert isinstance(model, nn.Module) and model.onnx_info is info
            x = np.zeros((2, *info.input_shape), np.float32)
            with time_limit(PER_INPUT_TIMEOUT_S), gn.no_grad():
                y = model(gn.tensor(x))
            assert y.shape == (2, *info.output_shape)

    check()
    assert tried["onnx"] >= MAX_EXAMPLES["onnx"] * FUZZ_SCALE * 0.9


def test_seeds_load_unmutated(fuzz_dir):
    """Every seed is a valid model (so the fuzzing starts from files that load)."""
    for name, raw in SEEDS.items():
        (fuzz_dir / name).write_bytes(raw)
        model, info = gx.load_model_file(fuzz_dir / name)
        y = model(gn.tensor(np.ones((3, *info.input_shape), np.float32)))
        assert y.shape == (3, *info.output_shape) and np.all(np.isfinite(y.data))
