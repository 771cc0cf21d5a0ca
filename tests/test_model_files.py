"""Read-only commands take an .onnx file where they take a run folder (gridnn.model_files):
summary, explain receptive, show filters / feature-maps, predict --classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

import gridnn as gn  # noqa: E402
from gridnn import cli, models  # noqa: E402
from gridnn.errors import DataError  # noqa: E402
from gridnn.explain import receptive_field  # noqa: E402
from gridnn.model_files import is_onnx, load_model, read_class_names  # noqa: E402


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "lenet.onnx"
    gn.onnx.export(models.build("lenet5", seed=1), path, input_shape=(1, 28, 28))
    return path


def _run(argv: list, capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_load_model_reads_shape_and_classes_from_the_graph(onnx_file, tmp_path):
    model, config = load_model(onnx_file)
    assert is_onnx(onnx_file) and not is_onnx(tmp_path)
    assert config["data"]["input_shape"] == [1, 28, 28]
    assert config["data"]["class_names"] == [str(i) for i in range(10)]
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"c{i}" for i in range(10)) + "\n\n")
    assert load_model(onnx_file, classes=names)[1]["data"]["class_names"][9] == "c9"
    names.write_text("a\nb\n")
    with pytest.raises(DataError, match="names 2 classes but the model has 10 outputs"):
        read_class_names(names, 10)


def test_summary_of_an_onnx_file_names_it_and_lists_its_layers(onnx_file, capsys):
    code, out, _ = _run(["summary", onnx_file], capsys)
    assert code == 0
    assert 'Model: "Sequential from lenet.onnx (gridnn' in out and "(Conv2d)" in out
    expected = gn.summary(models.build("lenet5", seed=1), (1, 28, 28))
    assert f"Total params: {expected.total_params:,}" in out


def test_explain_receptive_of_an_onnx_file_is_the_library_answer(onnx_file, capsys):
    code, out, _ = _run(["explain", "receptive", onnx_file], capsys)
    model, _ = load_model(onnx_file)
    assert code == 0 and out.strip() == str(receptive_field(model, (1, 28, 28))).strip()


def test_show_filters_and_feature_maps_of_an_onnx_file(onnx_file, tmp_path, capsys):
    from PIL import Image

    image = tmp_path / "x.png"
    Image.fromarray((np.arange(28 * 28) % 255).astype(np.uint8).reshape(28, 28)).save(image)
    code, out, _ = _run(["show", "filters", onnx_file, "--out", tmp_path / "f"], capsys)
    assert code == 0 and len(list((tmp_path / "f").glob("filters_*.png"))) == 2
    code, out, _ = _run(["show", "feature-maps", onnx_file, "--image", image,
                         "--out", tmp_path / "m"], capsys)
    assert code == 0 and (tmp_path / "m" / "feature_maps_x.png").is_file()
    code, _, err = _run(["show", "feature-maps", onnx_file, "--index", "0"], capsys)
    assert code == 2 and "no test set; give an input with --image" in err


def test_predict_with_an_onnx_file_and_class_names(onnx_file, tmp_path, capsys):
    x = np.random.default_rng(0).random((1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"class{i}" for i in range(10)))
    code, out, _ = _run(["predict", onnx_file, tmp_path / "x.npy", "--classes", names,
                         "--top", "1"], capsys)
    model = models.build("lenet5", seed=1)
    model.eval()
    probs = gn.functional.softmax(model(gn.tensor(x[None])), dim=1).data[0]
    assert code == 0
    assert out.strip() == f"{tmp_path / 'x.npy'}: class{probs.argmax()} {probs.max():.3f}"


def test_predict_normalises_by_mean_std_flags_or_the_files_metadata(tmp_path, capsys):
    model = models.build("lenet5", seed=1)
    model.eval()
    plain, tagged = tmp_path / "plain.onnx", tmp_path / "tagged.onnx"
    gn.onnx.export(model, plain, input_shape=(1, 28, 28))
    gn.onnx.export(model, tagged, input_shape=(1, 28, 28), mean=[0.5], std=[0.25])
    assert load_model(tagged)[1]["data"]["std"] == [0.25]
    x = np.random.default_rng(0).random((1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    probs = gn.functional.softmax(model(gn.tensor((x[None] - 0.5) / 0.25)), dim=1).data[0]
    want = f"{tmp_path / 'x.npy'}: {probs.argmax()} {probs.max():.3f}"
    for argv in ([plain, "--mean", "0.5", "--std", "0.25"], [tagged]):
        code, out, _ = _run(["predict", *argv, tmp_path / "x.npy", "--top", "1"], capsys)
        assert code == 0 and out.strip() == want
    code, _, err = _run(["predict", plain, tmp_path / "x.npy", "--mean", "0.5,0.4"], capsys)
    assert code == 2 and "--mean gives 2 values; the model takes 1 channel " in err
    code, _, err = _run(["predict", plain, tmp_path / "x.npy", "--std", "a,b"], capsys)
    assert code == 2 and "--std" in err and err.count("\n") == 1


def test_classes_only_for_onnx_and_bad_files_are_one_line(onnx_file, tmp_path, capsys):
    (tmp_path / "bad.onnx").write_bytes(b"\x00" * 10)
    code, _, err = _run(["summary", tmp_path / "bad.onnx"], capsys)
    assert code == 2 and err.count("\n") == 1
    run = tmp_path / "run"
    assert cli.main(["train", "--epochs", "1", "--no-progress", "--out", str(run)]) == 0
    capsys.readouterr()
    code, _, err = _run(["predict", run, onnx_file, "--classes", onnx_file], capsys)
    assert code == 2 and "--classes names the classes of an .onnx model" in err
