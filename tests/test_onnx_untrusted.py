"""Loading untrusted .onnx files: every bad file is one DataError line naming the problem,
raised before anything past the size limits is allocated; external data stays in the model's
folder."""

import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import gridnn.onnx as gx
from gridnn import DataError, GridnnError, nn
from gridnn.onnx import reader

RNG = np.random.default_rng(0)


def graph_file(path, nodes, inits=(), *, opset=17, shape=("N", 3), out_shape=None):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
                              list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def fails(path, pattern):
    """The load fails with one line that names the file and matches ``pattern``."""
    with pytest.raises(DataError, match=pattern) as info:
        gx.load(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert isinstance(info.value, GridnnError)  # the CLI's exit-2 class


@pytest.fixture
def good(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=RNG), nn.ReLU(), nn.Flatten(),
                          nn.Linear(64, 3, rng=RNG))
    gx.export(model, tmp_path / "good.onnx", (1, 4, 4))
    return tmp_path / "good.onnx"


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_file(good, tmp_path, fraction):
    raw = good.read_bytes()
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(raw[:int(len(raw) * fraction)])
    with pytest.raises(DataError) as info:
        gx.load(bad)
    assert "\n" not in str(info.value) and str(bad) in str(info.value)


def test_corrupt_and_empty_files(tmp_path):
    fails(tmp_path.joinpath("r.onnx"), "cannot read the ONNX file")  # missing
    tmp_path.joinpath("z.onnx").write_bytes(b"")
    fails(tmp_path / "z.onnx", "no graph nodes")
    tmp_path.joinpath("j.onnx").write_bytes(RNG.integers(0, 256, 3000, np.uint8).tobytes())
    fails(tmp_path / "j.onnx", "not a valid ONNX file")
    tmp_path.joinpath("t.onnx").write_text("PK\x03\x04 this is a zip, not a model")
    fails(tmp_path / "t.onnx", "not a valid ONNX file")


@pytest.mark.parametrize("opset", [7, 99])
def test_wrong_opset(tmp_path, opset):
    path = graph_file(tmp_path / "m.onnx", [helper.make_node("Relu", ["x"], ["y"])], opset=opset)
    fails(path, f"opset {opset} is not supported")


def test_other_operator_domain_is_refused(tmp_path):
    node = helper.make_node("FusedConv", ["x"], ["y"], domain="com.microsoft")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, ["N", 3])],
                              [helper.make_tensor_value_info("y", 1, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    fails(tmp_path / "m.onnx", "operator domain 'com.microsoft'")


def test_declared_sizes_over_the_limit_are_refused_before_allocating(tmp_path):
    huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20])
    path = graph_file(tmp_path / "w.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                      [huge])
    tracemalloc.start()
    try:
        fails(path, r"initializer 'w' declares shape \(1048576, 1048576\).*over the")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    small = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[3, 4], raw_data=b"\0" * 8)
    path = graph_file(tmp_path / "s.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                      [small])
    fails(path, r"declares shape \(3, 4\) \(48 bytes\) but holds 8 bytes")
    path = graph_file(tmp_path / "i.onnx", [helper.make_node("Relu", ["x"], ["y"])],
                      shape=("N", 3, 100000, 100000))
    fails(path, r"input 'x' of shape \(3, 100000, 100000\) per sample is over the size limit")
    pads = numpy_helper.from_array(np.array([0, 10**8, 0, 10**8], np.int64), "p")
    path = graph_file(tmp_path / "p.onnx", [helper.make_node("Pad", ["x", "p"], ["y"])], [pads],
                      shape=("N", 3))
    fails(path, "would make a padded output of shape .* over the size limit")
    shape = numpy_helper.from_array(np.array([1 << 40], np.int64), "s")
    path = graph_file(tmp_path / "c.onnx", [helper.make_node("ConstantOfShape", ["s"], ["k"]),
                                            helper.make_node("Add", ["x", "k"], ["y"])], [shape])
    fails(path, "ConstantOfShape .* over the size limit")


def test_conv_whose_output_or_work_is_over_the_limit(tmp_path, monkeypatch):
    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], pads=[5000, 5000, 5000, 5000])
    fails(graph_file(tmp_path / "c.onnx", [conv], [w], shape=("N", 3, 8, 8)),
          "would make a padded input of shape .* over the size limit")
    monkeypatch.setattr(reader.LIMITS, "layer_work", 1000)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    fails(graph_file(tmp_path / "d.onnx", [conv], [w], shape=("N", 3, 8, 8)),
          r"needs 13824 multiply-adds per sample, over the limit of 1000")


def test_cycle_and_missing_input_and_duplicate_output(tmp_path):
    cycle = [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second"),
             helper.make_node("Relu", ["a"], ["y"], name="third")]
    fails(graph_file(tmp_path / "c.onnx", cycle), r"the graph has a cycle through node 'first'")
    missing = [helper.make_node("Add", ["x", "nowhere"], ["y"], name="adder")]
    fails(graph_file(tmp_path / "m.onnx", missing),
          r"input 'nowhere' of node 'adder' \(Add\) is missing")
    twice = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Relu", ["x"], ["y"])]
    fails(graph_file(tmp_path / "t.onnx", twice), "value 'y' is produced twice")


def test_subgraphs_and_unfoldable_shapes_are_refused(tmp_path):
    branch = helper.make_graph([], "b", [], [helper.make_tensor_value_info("x", 1, None)])
    node = helper.make_node("If", ["x"], ["y"], then_branch=branch, else_branch=branch,
                            name="iffy")
    fails(graph_file(tmp_path / "i.onnx", [node]), r"cannot load: If \(1 node, first 'iffy'")
    shape = numpy_helper.from_array(np.array([-1], np.int64), "s")  # merges the batch axis
    fails(graph_file(tmp_path / "r.onnx", [helper.make_node("Reshape", ["x", "s"], ["y"])],
                     [shape]), "mixes the batch axis with others")
    fails(graph_file(tmp_path / "d.onnx", [helper.make_node("Relu", ["x"], ["y"])],
                     shape=("N", "width")), "needs fixed sizes after the batch axis")
    first = [numpy_helper.from_array(np.array([v], np.int64), n)
             for n, v in (("start", 0), ("end", 1), ("axis", 0))]
    fails(graph_file(tmp_path / "s.onnx", [helper.make_node("Slice", ["x", "start", "end", "axis"],
                                                            ["y"])], first),
          "slices the batch axis")


def external_model(folder, location, *, offset=0, length=None, values=None):
    """A model whose weight lives in external data at ``location`` (relative to ``folder``)."""
    values = RNG.standard_normal((3, 2)).astype(np.float32) if values is None else values
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=list(values.shape),
                    data_location=TensorProto.EXTERNAL)
    entries = {"location": location, "offset": str(offset),
               "length": str(values.nbytes if length is None else length)}
    for key, value in entries.items():
        w.external_data.add(key=key, value=value)
    return graph_file(folder / "m.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])], [w],
                      shape=("N", 3)), values


def test_external_data_inside_the_folder_loads(tmp_path):
    values = RNG.standard_normal((3, 2)).astype(np.float32)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.bin").write_bytes(b"\0" * 16 + values.tobytes())
    path, _ = external_model(tmp_path, "weights/w.bin", offset=16, values=values)
    model = gx.load(path)
    np.testing.assert_array_equal(model[0].weight.data, values.T)


@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlink", "nested-dotdot"])
def test_external_data_outside_the_folder_is_refused(tmp_path, where):
    values = RNG.standard_normal((3, 2)).astype(np.float32)
    outside = tmp_path / "secret.bin"
    outside.write_bytes(values.tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    location = {"dotdot": "../secret.bin", "absolute": str(outside), "symlink": "link.bin",
                "nested-dotdot": "sub/../../secret.bin"}[where]
    if where == "symlink":
        os.symlink(outside, folder / "link.bin")
    path, _ = external_model(folder, location, values=values)
    fails(path, "points to external data .* outside the model's folder")


def test_external_data_sizes_are_checked_against_the_file(tmp_path):
    values = RNG.standard_normal((3, 2)).astype(np.float32)
    (tmp_path / "w.bin").write_bytes(values.tobytes()[:20])
    path, _ = external_model(tmp_path, "w.bin", values=values)
    fails(path, r"needs bytes 0..24 of 'w.bin', which has 20")
    path, _ = external_model(tmp_path, "w.bin", length=8, values=values)
    fails(path, "declares 24 bytes but its external data entry says offset 0, length 8")
    path, _ = external_model(tmp_path, "missing.bin", values=values)
    fails(path, "cannot read external data 'missing.bin'")


def test_external_data_that_is_a_fifo_is_refused_at_once(tmp_path):
    values = RNG.standard_normal((3, 2)).astype(np.float32)
    os.mkfifo(tmp_path / "w.bin")  # opening it for reading would wait for a writer
    path, _ = external_model(tmp_path, "w.bin", values=values)
    start = time.perf_counter()
    fails(path, "external data 'w.bin' of .* is not a regular file")
    assert time.perf_counter() - start < 5


def test_a_long_chain_loads_in_linear_time(tmp_path):
    """20,000 unnamed nodes share one name stem ('relu', 'relu_1', ...): naming them must not
    look at every earlier name for each one."""
    n = 20_000
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"v{i}"],
                              ["y" if i == n - 1 else f"v{i + 1}"]) for i in range(n)]
    path = graph_file(tmp_path / "chain.onnx", nodes)
    start = time.perf_counter()
    model = gx.load(path)
    took = time.perf_counter() - start
    assert len(model) == n and hasattr(model, f"relu_{n - 1}")
    assert took < 60, f"loading a {n}-node chain took {took:.1f} s"


def test_weights_are_read_once_into_the_parameters(tmp_path):
    """Peak memory while loading 64 MiB of weights stays under 1.5x the weights plus a fixed
    allowance, measured in a fresh process (no random initialisation, no second copy)."""
    w = RNG.standard_normal((4096, 4096)).astype(np.float32)
    init = numpy_helper.from_array(w, "w")
    path = graph_file(tmp_path / "big.onnx", [helper.make_node("Gemm", ["x", "w"], ["y"],
                                                               transB=1)], [init],
                      shape=("N", 4096))
    script = (
        "import resource, sys, gridnn.onnx, onnx\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "model = gridnn.onnx.load(sys.argv[1])\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "assert model[0].weight.data.flags.owndata or model[0].weight.data.base is None\n"
        "print((peak - base) / 1024)\n")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                         text=True, timeout=300, check=True)
    grew = float(out.stdout.split()[-1])
    assert grew <= 1.5 * 64 + 40, f"loading 64 MiB of weights grew the process by {grew:.0f} MiB"


def test_loading_reads_protobuf_only(good, monkeypatch):
    """No pickle, no onnx external-data loader, no shape inference: only our own reader."""
    import pickle

    def forbidden(*args, **kwargs):
        raise AssertionError("loading called code it must not call")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(onnx, "load", forbidden)
    monkeypatch.setattr(onnx.external_data_helper, "load_external_data_for_model", forbidden)
    monkeypatch.setattr(onnx.shape_inference, "infer_shapes", forbidden)
    assert isinstance(gx.load(good), nn.Sequential)


def test_joins_and_products_whose_result_is_over_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(reader.LIMITS, "tensor_bytes", 1 << 20)
    concat = helper.make_node("Concat", ["x"] * 1000, ["y"], axis=1, name="many")
    fails(graph_file(tmp_path / "c.onnx", [concat], shape=("N", 3, 10, 10)),
          r"node 'many' \(Concat\) would make a result of shape \(N, 3000, 10, 10\)")
    column = numpy_helper.from_array(np.ones((1, 1), np.float32), "col")
    row = numpy_helper.from_array(np.ones((1, 1000), np.float32), "row")
    nodes = [helper.make_node("Mul", ["x", "col"], ["a"]),
             helper.make_node("Unsqueeze", ["a", "ax"], ["b"]),
             helper.make_node("MatMul", ["b", "row"], ["y"], name="outer")]
    axes = numpy_helper.from_array(np.array([2], np.int64), "ax")
    fails(graph_file(tmp_path / "m.onnx", nodes, [column, row, axes], shape=("N", 1000)),
          r"node 'outer' \(MatMul\) would make a result of shape \(N, 1000, 1000\)")
