"""What a new user meets at the command line (issue 15): epoch lines in a terminal, training
that outlives a closed pipe, unfinished runs that say how to resume, user images made to look
like the training data, --val-split, image folders, suggestions for mistyped names."""

import fcntl
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest

from gridnn import __version__, cli
from gridnn.data import load_digits

TRAIN = ["train", "--model", "mlp", "--batch-size", "64"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *fragments):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ux") / "run"
    assert cli.main([*TRAIN, "--epochs", "2", "--no-progress", "--out", str(out)]) == 0
    return out


# ---- item 3: one line per epoch in a terminal, under 80 columns ---------------------------
def test_a_terminal_keeps_one_summary_line_per_epoch_within_80_columns(tmp_path):
    pid, fd = pty.fork()
    if pid == 0:  # the child: gridnn on a pseudo-terminal 80 columns wide
        os.environ.update(ENV, COLUMNS="80", LINES="24")
        os.execv(sys.executable, [sys.executable, "-m", "gridnn", *TRAIN, "--epochs", "3",
                                  "--out", str(tmp_path / "run")])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        assert ready, "gridnn train stalled"
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    text = b"".join(chunks).decode()
    # what stays on screen: the text after the last carriage return of each line
    screen = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line.split("\r")[-1])
              for line in text.replace("\r\n", "\n").split("\n")]
    epochs = [line for line in screen if line.startswith("epoch ")]
    assert [line.split("  ")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all(" train loss " in line and " test loss " in line for line in epochs), epochs
    assert all(len(line) <= 80 for line in epochs), max(epochs, key=len)
    assert "it/s" not in "".join(screen) and "batch/s" not in "".join(screen)  # bars gone


# ---- item 4: a closed pipe does not end training; unfinished runs say how to resume --------
def test_training_outlives_a_closed_stdout(tmp_path):
    out = tmp_path / "pipe"
    proc = subprocess.Popen([sys.executable, "-m", "gridnn", *TRAIN, "--epochs", "4",
                             "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)
    first = proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    _, err = proc.communicate(timeout=300)
    assert first.startswith(b"training mlp")
    assert proc.returncode == 0 and err == b"", err
    for name in ("model.safetensors", "metrics.json", "history.csv"):
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 4


@pytest.mark.parametrize("argv", [
    ["eval", "{run}"], ["predict", "{run}", "{image}"], ["summary", "{run}"],
    ["show", "filters", "{run}"], ["show", "feature-maps", "{run}", "--index", "0"],
    ["show", "confusion", "{run}"], ["report", "{run}"],
])
def test_every_read_only_command_says_a_run_is_unfinished(trained, tmp_path, capsys, argv):
    from PIL import Image

    run_dir = tmp_path / "unfinished"
    shutil.copytree(trained, run_dir)
    for name in ("model.safetensors", "metrics.json"):
        (run_dir / name).unlink()
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    code, _, err = run([a.format(run=run_dir, image=image) for a in argv], capsys)
    one_line_error(code, err, f"{run_dir} is an unfinished run (stopped after epoch 2 of 2",
                   f"continue it with: gridnn train --resume {run_dir}")


def test_a_run_stopped_in_its_first_epoch_says_to_start_it_again(trained, tmp_path, capsys):
    run_dir = tmp_path / "early"
    shutil.copytree(trained, run_dir)
    shutil.rmtree(run_dir / "checkpoint")
    (run_dir / "model.safetensors").unlink()
    code, _, err = run(["eval", run_dir], capsys)
    one_line_error(code, err, "no model.safetensors and no checkpoint",
                   f"start it again with: gridnn train --resume {run_dir}")


# ---- item 5: a user's image made to look like the training data -----------------------------
def _digit_png(tmp_path, name, *, dark_on_light=False, rgb=False):
    from PIL import Image

    digits = load_digits()
    pixels = np.round(digits.test.x[0, 0] * 255).astype(np.uint8)
    if dark_on_light:
        pixels = 255 - pixels
    image = Image.fromarray(pixels).resize((32, 32), Image.Resampling.NEAREST)
    path = tmp_path / name
    (image.convert("RGB") if rgb else image).save(path)
    return path


def test_predict_inverts_dark_on_light_drawings_and_converts_colour(trained, tmp_path, capsys):
    plain = _digit_png(tmp_path, "plain.png")
    dark = _digit_png(tmp_path, "dark.png", dark_on_light=True)
    colour = _digit_png(tmp_path, "colour.png", rgb=True)
    code, out, err = run(["predict", trained, plain, dark, colour], capsys)
    assert code == 0, err
    tops = [line.split(": ", 1)[1].split()[0] for line in out.splitlines()]
    assert tops[0] == tops[1] == tops[2]  # the same digit, however it was drawn or stored
    notes = err.splitlines()
    assert notes == [
        f"gridnn: note: {plain}: resized from 32x32 to 8x8",
        f"gridnn: note: {dark}: resized from 32x32 to 8x8; inverted, as its background is light "
        f"and the training images' is dark (--no-invert keeps it)",
        f"gridnn: note: {colour}: converted to grayscale; resized from 32x32 to 8x8"]
    code, out, err = run(["predict", trained, dark, "--no-invert"], capsys)
    assert code == 0 and "inverted" not in err and out.split(": ", 1)[1].split()[0] != tops[0]
    code, _, err = run(["predict", trained, plain, "--no-resize"], capsys)
    one_line_error(code, err, "plain.png is 32x32 but the model takes 8x8 images")


def test_feature_maps_read_an_image_as_predict_does(tmp_path, capsys):
    conv_run = tmp_path / "cnn"
    assert cli.main(["train", "--epochs", "1", "--no-progress", "--out", str(conv_run)]) == 0
    capsys.readouterr()
    dark = _digit_png(tmp_path, "dark.png", dark_on_light=True)
    code, out, err = run(["show", "feature-maps", conv_run, "--image", dark,
                          "--out", tmp_path / "maps"], capsys)
    assert code == 0, err
    assert err.strip() == (f"gridnn: note: {dark}: resized from 32x32 to 8x8; inverted, as its "
                           f"background is light and the training images' is dark "
                           f"(--no-invert keeps it)")
    assert (tmp_path / "maps" / "feature_maps_dark.png").is_file()


# ---- item 6 and 10: image folders, --val-split ----------------------------------------------
def test_an_image_folder_trains_with_a_default_model_and_mixed_sizes(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(("circle", "square")):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(6):
            size = (12, 12) if i else (20, 16)  # one odd size per class
            pixels = (rng.random(size) * 60 + 120 * k).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / name / f"{i}.png")
    out = tmp_path / "run"
    code, stdout, err = run(["train", "--data", tmp_path / "imgs", "--epochs", "1",
                             "--no-progress", "--out", out], capsys)
    assert code == 0, err
    assert "resized to 12x12, the most common (--image-size HxW chooses another)" in err
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == "digits_cnn" and config["data"]["input_shape"] == [1, 12, 12]
    code, stdout, err = run(["train", "--data", tmp_path / "imgs", "--epochs", "1",
                             "--image-size", "10x8", "--no-progress", "--out", tmp_path / "r2"],
                            capsys)
    assert code == 0 and "note" not in err, err
    code, stdout, err = run(["eval", tmp_path / "r2"], capsys)  # reloads at the chosen size
    assert code == 0 and "test: accuracy" in stdout, err
    code, _, err = run(["train", "--image-size", "10", "--out", tmp_path / "r3"], capsys)
    one_line_error(code, err, "`--image-size` must be HxW like 28x28, received '10'")


def test_val_split_watches_a_validation_share_and_tests_once(tmp_path, capsys):
    out = tmp_path / "val"
    code, stdout, err = run([*TRAIN, "--epochs", "2", "--val-split", "0.2", "--no-progress",
                             "--out", out], capsys)
    assert code == 0, err
    assert "(1149 train / 288 val / 360 test)" in stdout
    assert "epoch 2/2  train loss" in stdout and " val loss " in stdout
    assert " test loss " not in stdout
    header = (out / "history.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr")
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"test_accuracy", "val_accuracy"}
    code, evaluated, err = run(["eval", out], capsys)
    assert f"accuracy {100 * metrics['test_accuracy']:.2f}%" in evaluated, evaluated
    assert f"test accuracy {100 * metrics['test_accuracy']:.2f}%" in stdout
    code, _, err = run([*TRAIN, "--val-split", "1", "--out", tmp_path / "x"], capsys)
    one_line_error(code, err, "argument --val-split: expected a number between 0 and 1")
    code, _, err = run(["train", "--resume", out, "--val-split", "0.1"], capsys)
    one_line_error(code, err, "remove --val-split")


# ---- item 7: suggestions, parse-time checks, --version --------------------------------------
@pytest.mark.parametrize("argv, fragments", [
    (["trian"], ["invalid choice: 'trian' (did you mean 'train'?)", "see 'gridnn --help'"]),
    (["train", "--epocs", "3"], ["unrecognized arguments: --epocs 3 (did you mean '--epochs'?)",
                                 "see 'gridnn train --help'"]),
    (["train", "--data", "digit"], ["unknown dataset 'digit' (did you mean 'digits'?)",
                                    "(see 'gridnn train --help')"]),
    (["train", "--model", "lenet"], ["unknown model 'lenet' (did you mean 'lenet5'?)"]),
    (["summary", "resnet"], ["unknown model 'resnet' (did you mean 'resnet_small'?)"]),
    (["show", "filtres", "x"], ["invalid choice: 'filtres' (did you mean 'filters'?)",
                                "see 'gridnn show --help'"]),
    (["explain", "conv", "--input", "4x4", "--kernel", "2", "--kernal", "2"],
     ["(did you mean '--kernel'?)", "see 'gridnn explain conv --help'"]),
    (["train", "--seed", "-1"], ["argument --seed: expected an int >= 0, received '-1'"]),
    (["show", "conv-steps", "--input", "4", "--kernel", "2", "--seed", "-1", "--out", "x"],
     ["argument --seed: expected an int >= 0"]),
    (["show", "feature-maps", "RUN", "--index", "-1"], ["argument --index: expected an int >= 0"]),
    (["explain", "conv", "--input", "4x4", "--kernel", "2", "--stride", "0"],
     ["`--stride` must be >= 1, received '0' (see 'gridnn explain conv --help')"]),
    (["explain", "conv", "--input", "4x4", "--kernel", "2", "--stride", "1x0"],
     ["`--stride` must be >= 1, received '1x0'"]),
    (["explain", "receptive", "lenet5", "--index", "-1x2"], ["argument --index"]),
])
def test_mistakes_get_one_line_with_a_suggestion_and_the_right_help(argv, fragments, capsys):
    code, _, err = run(argv, capsys)
    line = one_line_error(code, err, *fragments)
    assert not re.search(r"\b(load_dataset|receptive_field|conv_map|new_config):", line)


def test_sizes_read_the_same_with_x_or_commas(capsys):
    outputs = []
    for shape in ("1,28,28", "1x28x28"):
        code, out, err = run(["summary", "lenet5", "--input-shape", shape], capsys)
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1]
    a = run(["explain", "conv", "--input", "4,4", "--kernel", "2,2", "--stride", "2"], capsys)
    b = run(["explain", "conv", "--input", "4x4", "--kernel", "2x2", "--stride", "2"], capsys)
    assert a == b and a[0] == 0


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == f"gridnn {__version__}\n"


def test_summary_of_a_run_uses_its_model(trained, capsys):
    code, out, err = run(["summary", trained], capsys)
    assert code == 0, err
    assert out.startswith('Model: "mlp"  input (N, 1, 8, 8)')
    code, _, err = run(["summary", trained, "--input-shape", "1x4x4"], capsys)
    one_line_error(code, err, "remove --input-shape")


def test_messages_name_no_function_temp_file_or_object_repr(tmp_path, capsys):
    from gridnn.fileio import atomic_write

    with pytest.raises(OSError) as info:
        atomic_write(tmp_path / "absent" / "r.html", "x")
    assert str(tmp_path / "absent" / "r.html") in str(info.value) and ".tmp" not in str(info.value)
    (tmp_path / "notes.png").write_text("not an image")
    from gridnn.data import load_image

    with pytest.raises(Exception) as info:
        load_image(tmp_path / "notes.png", channels=1)
    assert str(info.value) == f"{tmp_path / 'notes.png'} is not a PNG or JPEG image"
    for argv, text in (
            (["explain", "receptive", "lenet5", "--index", "99x99"],
             "the unit's index must be 2 ints within the spatial output 5x5 of layer '5', "
             "received 99x99"),
            (["explain", "receptive", "lenet5", "--layer", "55"],
             "no layer named '55' (did you mean '5'?)"),
            (["train", "--data", "./no/such/folder"], "dataset folder not found: no/such/folder")):
        code, _, err = run(argv, capsys)
        line = one_line_error(code, err, text)
        assert not re.search(r"\w+: `|receptive_field|load_dataset|0x[0-9a-f]{6}", line), line
