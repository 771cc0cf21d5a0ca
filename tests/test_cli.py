"""The ``gridnn`` command end to end on digits (a small MLP, so each training takes a second):
train writes a complete run folder; eval, predict, summary and datasets work; every bad input
gives exit code 2 and one line on stderr without a traceback; internal errors give exit 1."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gridnn as gn
from gridnn import cli
from gridnn.checkpoint import load_run
from gridnn.data import load_digits

TRAIN = ["train", "--model", "mlp", "--epochs", "2", "--batch-size", "64", "--no-progress"]


def run(argv, capsys):
    """main(argv) in-process: (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_subprocess(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "gridnn", *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(code, err, *fragments, exit_code=2):
    assert code == exit_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished run folder (module-wide: trained once) and the training's stdout."""
    folder = tmp_path_factory.mktemp("runs") / "digits-mlp"
    code = cli.main([*TRAIN, "--out", str(folder)])
    assert code == 0
    return folder


def test_train_writes_a_complete_run_folder(tmp_path, capsys):
    out_dir = tmp_path / "run"
    code, out, err = run([*TRAIN, "--out", out_dir, "--augment"], capsys)
    assert code == 0, err
    assert f"run folder: {out_dir}" in out and "test accuracy" in out
    assert "epoch 2/2" in out  # one line per epoch when there is no progress bar
    for name in ("model.safetensors", "config.json", "history.csv", "metrics.json",
                 "curves.png", "checkpoint/state.json"):
        assert (out_dir / name).is_file(), name
    assert (out_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert set(metrics) >= {"test_accuracy", "test_loss", "epochs", "train_seconds",
                            "images_per_second"}
    assert metrics["epochs"] == 2 and metrics["test_accuracy"] > 0.5  # chance is 0.1
    assert f"{100 * metrics['test_accuracy']:.2f}%" in out
    config = json.loads((out_dir / "config.json").read_text())
    assert config["model"]["name"] == "mlp" and config["train"]["augment"] is True
    assert config["train"]["optimizer"] == "adamw" and config["data"]["name"] == "digits"
    history = (out_dir / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,train_loss,train_accuracy,test_loss,test_accuracy,lr")
    assert len(history) == 3


def test_eval_reproduces_the_training_metrics(trained, capsys):
    metrics = json.loads((trained / "metrics.json").read_text())
    code, out, err = run(["eval", trained], capsys)
    assert code == 0, err
    assert f"accuracy {100 * metrics['test_accuracy']:.2f}%" in out
    assert f"loss {metrics['test_loss']:.4f}" in out


def test_predict_png_and_npy(trained, tmp_path, capsys):
    from PIL import Image

    x = load_digits().test.x[:2].copy()
    png, npy = tmp_path / "digit.png", tmp_path / "digit.npy"
    pixels = np.round(x[0, 0] * 255).astype(np.uint8)
    Image.fromarray(pixels).save(png)
    x[0, 0] = pixels / np.float32(255)  # what the PNG holds: 8-bit levels
    np.save(npy, x[1])
    code, out, err = run(["predict", trained, png, npy], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{png}: ")
    model, config = load_run(trained)
    mean, std = config["data"]["mean"][0], config["data"]["std"][0]
    with gn.no_grad():
        probs = gn.functional.softmax(model(gn.tensor(((x - mean) / std).astype(np.float32))),
                                      dim=1).data
    for line, p in zip(lines, probs):
        shown = line.split(": ", 1)[1].split()
        assert len(shown) == 6  # three (class, probability) pairs
        top = np.argsort(-p)[:3]
        assert [int(c) for c in shown[::2]] == list(top)
        np.testing.assert_allclose([float(v) for v in shown[1::2]], p[top], atol=1.5e-3)


def test_summary_and_datasets(capsys):
    code, out, err = run(["summary", "digits_cnn"], capsys)
    assert code == 0, err
    assert "input (N, 1, 8, 8)" in out and "Total params" in out
    code, out, _ = run(["summary", "mnist1d_cnn", "--input-shape", "1,40"], capsys)
    assert code == 0 and "(N, 1, 40)" in out
    code, out, _ = run(["summary", "--list"], capsys)
    assert code == 0 and "digits_cnn" in out and "resnet_small" in out
    code, out, _ = run(["datasets"], capsys)
    assert code == 0 and out.splitlines()[0].split()[:2] == ["digits", "available"]


def _broken_runs(trained: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    """Copies of a good run folder, each damaged one way, and the text the error must hold."""
    cases = {}

    def copy(name):
        dst = tmp / name
        shutil.copytree(trained, dst)
        return dst

    d = copy("no-weights")
    (d / "model.safetensors").unlink()
    cases["no-weights"] = (d, f"{d} is an unfinished run (stopped after epoch 2 of 2; it has "
                              f"no model.safetensors yet): continue it with: gridnn train "
                              f"--resume {d}")
    d = copy("truncated-weights")
    raw = (d / "model.safetensors").read_bytes()
    (d / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    cases["truncated-weights"] = (d, "is not a valid safetensors file")
    d = copy("other-config")
    cfg = json.loads((d / "config.json").read_text())
    cfg["model"]["kwargs"]["hidden"] = [7]
    (d / "config.json").write_text(json.dumps(cfg))
    cases["other-config"] = (d, "does not match the model")
    d = copy("truncated-config")
    (d / "config.json").write_text((d / "config.json").read_text()[:50])
    cases["truncated-config"] = (d, "is not valid JSON")
    d = copy("unknown-model")
    cfg["model"]["name"] = "no_such_net"
    (d / "config.json").write_text(json.dumps(cfg))
    cases["unknown-model"] = (d, "cannot build model 'no_such_net'")
    return cases


def test_every_bad_input_is_one_line_and_exit_2(trained, tmp_path, capsys):
    from PIL import Image

    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(big)
    rgb_npy = tmp_path / "rgb.npy"
    np.save(rgb_npy, np.zeros((3, 8, 8), np.float32))
    nan_npy = tmp_path / "nan.npy"
    np.save(nan_npy, np.full((1, 8, 8), np.nan, np.float32))
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases = [
        (["train", "--epochs", "0"], "argument --epochs: expected a positive int"),
        (["train", "--lr", "-1"], "argument --lr: expected a positive number"),
        (["train", "--lr", "nan"], "argument --lr"),
        (["train", "--batch-size", "x"], "argument --batch-size"),
        (["train", "--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
        (["train", "--data", "no-such-data"], "no-such-data"),
        (["train", "--model", "no_such_net", "--out", tmp_path / "x"], "unknown model"),
        (["train", "--out", trained], "already holds a run"),
        (["train", "--resume", tmp_path / "absent"], "run folder not found"),
        (["train", "--resume", trained, "--lr", "0.1"], "remove --lr"),
        (["eval", tmp_path / "absent"], "run folder not found"),
        (["eval", tmp_path], "config.json"),
        (["predict", trained], "the following arguments are required: FILE"),
        (["predict", trained, tmp_path / "missing.png"], "missing.png"),
        (["predict", trained, not_image], "notes.png is not a PNG or JPEG image"),
        (["predict", trained, big, "--no-resize"], "big.png is 28x28"),
        (["predict", trained, rgb_npy], "rgb.npy"),
        (["predict", trained, nan_npy], "nan.npy"),
        (["predict", trained, pickled], "obj.npy"),
        (["summary", "no_such_net"], "unknown model 'no_such_net'"),
        (["summary", "digits_cnn", "--input-shape", "a,b"], "argument --input-shape"),
        (["summary", "mlp", "--input-shape", "1,8,8", "--num-classes", "0"], "--num-classes"),
        (["no-such-command"], "invalid choice: 'no-such-command'"),
        ([], "required: COMMAND"),
    ]
    for folder, text in _broken_runs(trained, tmp_path).values():
        cases.append((["eval", folder], text))
        cases.append((["predict", folder, big], text))
    for argv, text in cases:
        code, out, err = run(argv, capsys)
        assert_one_line_error(code, err, text)


def test_resume_without_a_checkpoint_and_a_finished_run(trained, tmp_path, capsys):
    d = tmp_path / "nockpt"
    shutil.copytree(trained, d)
    shutil.rmtree(d / "checkpoint")
    code, _, err = run(["train", "--resume", d], capsys)
    assert_one_line_error(code, err, "has no checkpoint/ to resume from")
    code, out, err = run(["train", "--resume", trained, "--no-progress"], capsys)
    assert code == 0 and "already finished its 2 epochs" in out
    d = tmp_path / "unfinished"  # stopped after the last checkpoint, before the final files
    shutil.copytree(trained, d)
    for name in ("model.safetensors", "metrics.json", "curves.png"):
        (d / name).unlink()
    code, out, err = run(["train", "--resume", d, "--no-progress"], capsys)
    assert code == 0 and "test accuracy" in out, err
    assert (d / "model.safetensors").read_bytes() == (trained / "model.safetensors").read_bytes()
    assert json.loads((d / "metrics.json").read_text())["test_accuracy"] == \
        json.loads((trained / "metrics.json").read_text())["test_accuracy"]


def test_nan_loss_exits_2_naming_the_step(tmp_path, capsys):
    """A learning rate so large that SGD overflows at once: no checkpoint to keep."""
    out_dir = tmp_path / "nan"
    code, out, err = run(["train", "--model", "mlp", "--optimizer", "sgd", "--lr", "1e30",
                          "--schedule", "none", "--epochs", "3", "--no-progress", "--out",
                          out_dir], capsys)
    assert_one_line_error(code, err, "the training loss became", "at epoch 1, step",
                          "no checkpoint was written")
    assert not (out_dir / "model.safetensors").exists()


def test_nan_in_epoch_2_keeps_epoch_1_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    from gridnn import train

    real_fit = train.fit

    class Poison(train.Callback):
        def on_step_end(self, state):
            if (state.epoch, state.step) == (1, 3):
                list(state.model.parameters())[-1].data[0] = np.nan  # the output bias

    def poisoned_fit(*args, callbacks=(), **kwargs):
        return real_fit(*args, callbacks=[Poison(), *callbacks], **kwargs)

    out_dir = tmp_path / "nan2"
    monkeypatch.setattr(train, "fit", poisoned_fit)
    code, out, err = run([*TRAIN, "--epochs", "3", "--out", out_dir], capsys)
    assert_one_line_error(code, err, "became nan at epoch 2, step 4",
                          f"the last good checkpoint (epoch 1) is kept in {out_dir}")
    state = json.loads((out_dir / "checkpoint" / "state.json").read_text())
    assert state["progress"]["epoch"] == 1 and state["progress"]["step"] == 0
    monkeypatch.undo()
    code, out, err = run(["train", "--resume", out_dir, "--no-progress"], capsys)
    assert code == 0, err
    assert "epoch 3/3" in out and (out_dir / "model.safetensors").is_file()


def test_internal_errors_exit_1_with_a_hint_and_traceback_under_debug(monkeypatch, capsys):
    from gridnn import data

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(data, "available_datasets", broken)
    code, _, err = run(["datasets"], capsys)
    assert_one_line_error(code, err, "internal error: RuntimeError: simulated bug",
                          "run with --debug", exit_code=1)
    for argv in (["--debug", "datasets"], ["datasets", "--debug"]):
        code, _, err = run(argv, capsys)
        assert code == 1 and "Traceback" in err and "simulated bug" in err


def test_debug_shows_the_traceback_of_user_errors_too(capsys):
    code, _, err = run(["--debug", "summary", "no_such_net"], capsys)
    assert code == 2 and "Traceback" in err and "unknown model" in err.splitlines()[-1]


def test_subprocess_python_m_gridnn(trained, tmp_path):
    """The real entry point: exit codes and stderr as a shell sees them."""
    result = run_subprocess("eval", trained)
    assert result.returncode == 0 and "accuracy" in result.stdout
    result = run_subprocess("train", "--epochs", "-3")
    assert_one_line_error(result.returncode, result.stderr, "--epochs")
    result = run_subprocess("predict", trained, tmp_path / "nothing.npy")
    assert_one_line_error(result.returncode, result.stderr, "nothing.npy")
    result = run_subprocess("--help")
    assert result.returncode == 0 and "train" in result.stdout and "predict" in result.stdout


def test_default_out_folder_is_announced(tmp_path):
    result = run_subprocess("train", "--model", "mlp", "--epochs", "1", "--no-progress",
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    made = list((tmp_path / "runs").iterdir())
    assert len(made) == 1 and made[0].name.startswith("digits-mlp-")
    assert f"run folder: {Path('runs') / made[0].name}" in result.stdout


def test_a_reader_that_leaves_early_is_not_an_error():
    """`gridnn ... | head -1`: when the reader has gone, the command ends quietly with exit 0.
    The pipe's read end is closed before the command starts, so every write fails."""
    for argv in (["explain", "conv", "--input", "12x12", "--kernel", "3x3"], ["summary", "lenet5"],
                 ["--help"]):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            done = subprocess.run([sys.executable, "-m", "gridnn", *argv], stdout=write_end,
                                  stderr=subprocess.PIPE, timeout=120)
        finally:
            os.close(write_end)
        assert (done.returncode, done.stderr.decode()) == (0, ""), argv
