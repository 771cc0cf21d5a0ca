"""The ``explain``, ``show`` and ``report`` subcommands of ``gridnn``.

    gridnn explain conv --input 4x4 --kernel 2x2 --stride 2      # the MLP a conv equals
    gridnn show conv-steps --input 4x4 --kernel 2x2 --out DIR    # frames + animated GIF
    gridnn show filters RUN | feature-maps RUN --index 0 | confusion RUN
    gridnn report RUN                                            # one self-contained HTML page
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from .. import argtypes
from ..errors import ArgumentError
from ..fileio import atomic_write
from ..limits import check_request
from .counts import progression
from .dense import (
    LinearMap,
    connections_work,
    geometry_maps,
    tap_table,
    weight_labels,
    window_inputs,
)
from .draw import MATRIX_BLOCK

MAX_PRINT = 64  # largest matrix side printed as text
MAX_INPUTS_LISTED = 36  # inputs named per output in "inputs of each output"


# ---- argument parsing ------------------------------------------------------------------------
def _geometry(args: argparse.Namespace) -> dict[str, Any]:
    spatial = argtypes.sizes(args.input, "--input")
    nd = len(spatial)
    padding: Any = args.padding
    if padding not in ("same", "valid"):
        padding = argtypes.per_dim(padding, nd, "--padding", minimum=0)
    return {"in_shape": (args.channels, *spatial),
            "kernel": argtypes.per_dim(args.kernel, nd, "--kernel"),
            "stride": argtypes.per_dim(args.stride, nd, "--stride"),
            "dilation": argtypes.per_dim(args.dilation, nd, "--dilation"), "padding": padding}


def _add_geometry(p: argparse.ArgumentParser, stride: str) -> None:
    p.add_argument("--input", required=True, help="input size: HxW (2-D) or L (1-D)")
    p.add_argument("--kernel", required=True, help="kernel size: kHxkW or k")
    p.add_argument("--stride", default=stride, help=f"stride (default {stride})")
    p.add_argument("--channels", type=argtypes.positive_int, default=1,
                   help="input channels (default 1)")
    p.add_argument("--padding", default="0", help="padding: int, AxB, 'same' or 'valid'")
    p.add_argument("--dilation", default="1", help="dilation (default 1)")


# ---- gridnn explain conv ---------------------------------------------------------------------
BYTES_PER_TRIPLE = 64  # what ``connections`` holds per candidate triple, temporaries included


def _maps(g: dict[str, Any], filters: int, bias: bool, op: str) -> tuple[LinearMap, LinearMap]:
    """(conv map, locally connected map) of one geometry; weights are placeholders."""
    return geometry_maps(g["in_shape"], g["kernel"], filters=filters, bias=bias, op=op,
                         **{k: g[k] for k in ("stride", "padding", "dilation")})


def _request_bytes(m: LinearMap, png: bool) -> int:
    """Estimated peak memory of explaining ``m``: its per-dim tap tables, one window, and with
    ``png`` the block of the dense matrix the picture draws."""
    tables = sum(n + o * k for n, o, k in zip(m.in_shape[1:], m.out_shape[1:], m.kernel))
    window = m.in_shape[0] // m.groups * math.prod(m.kernel)
    total = 8 * 4 * (tables + window)
    if png:
        total += BYTES_PER_TRIPLE * connections_work(m, MATRIX_BLOCK, MATRIX_BLOCK)
    return total


def _check_windows(m: LinearMap) -> None:
    """Refuse a padding so wide that whole windows read only zeros of the padding: their
    outputs are constant, and listing them teaches nothing."""
    for t, d, k in zip(tap_table(m), m.dilation, m.kernel):
        empty = int((t < 0).all(axis=1).sum())
        if empty:
            raise ArgumentError(
                f"`--padding` {_pads(m.pads)} leaves {empty} window(s) reading only zero "
                f"padding (outputs that never see the input); with kernel {k} and dilation {d} "
                f"use padding of at most {d * (k - 1)} per side")


def matrix_text(m: LinearMap) -> str:
    """The dense matrix with weights named w1.. (a shared weight repeats), 0 if not connected."""
    labels = weight_labels(m)
    labels[labels == ""] = "0"
    width = max(max(len(s) for s in labels.flat), len(f"x{m.n_in}"))
    head = " " * (len(f"y{m.n_out}") + 1) + " ".join(
        f"x{j + 1}".rjust(width) for j in range(m.n_in))
    rows = [f"y{i + 1}".ljust(len(f"y{m.n_out}")) + " " + " ".join(s.rjust(width) for s in row)
            for i, row in enumerate(labels)]
    return "\n".join([head, *rows])


def inputs_text(m: LinearMap, limit: int = MAX_PRINT) -> str:
    """'y1 <- x1, x2, x5, x6' for each output (inputs numbered from 1 in C order)."""
    lines = []
    for r in range(min(m.n_out, limit)):
        seen = window_inputs(m, r) + 1
        names = ", ".join(f"x{c}" for c in seen[:MAX_INPUTS_LISTED])
        if len(seen) > MAX_INPUTS_LISTED:
            names += f", ... ({len(seen):,} inputs)"
        lines.append(f"y{r + 1} <- " + (names or "(nothing)"))
    if m.n_out > limit:
        lines.append(f"... ({m.n_out - limit} more outputs)")
    return "\n".join(lines)


def counts_text(counts: dict[str, dict[str, int]]) -> str:
    """The three layers' counts side by side."""
    cols = (("mlp", "MLP (dense)"), ("local", "locally connected"), ("conv", "conv"))
    rows = (("weights (parameters)", "parameters"), ("connections", "connections"),
            ("biases", "biases"))
    widths = [max(len(title), *(len(f"{counts[key][k]:,}") for _, k in rows))
              for key, title in cols]
    lines = [" " * 22 + "  ".join(t.rjust(w) for (_, t), w in zip(cols, widths))]
    for label, k in rows:
        lines.append(label.ljust(22) + "  ".join(f"{counts[key][k]:,}".rjust(w)
                                                 for (key, _), w in zip(cols, widths)))
    unused = counts["local"]["unused_weights"]
    if unused:
        lines.append(f"({unused:,} of the locally connected weights only ever multiply zero "
                     f"padding)")
    return "\n".join(lines)


def _x(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _pads(pads: tuple[tuple[int, int], ...]) -> str:
    """'1x1' for symmetric pads, '(0, 1)x(0, 1)' (low, high) otherwise."""
    if all(lo == hi for lo, hi in pads):
        return _x(tuple(lo for lo, _ in pads))
    return "x".join(f"({lo}, {hi})" for lo, hi in pads)


def cmd_explain_conv(args: argparse.Namespace) -> int:
    g = _geometry(args)
    if args.filters < 1 or args.channels < 1:
        raise ArgumentError(
            f"`--filters` and `--channels` must be positive, received {args.filters} and "
            f"{args.channels}")
    conv, local = _maps(g, args.filters, args.bias, "explain conv")
    m = local if args.local else conv
    check_request(_request_bytes(m, bool(args.png)), f"explaining input {_x(m.in_shape)} with "
                  f"kernel {_x(m.kernel)} and {args.filters} filter(s)",
                  "use a smaller --input, --kernel or --channels")
    _check_windows(m)
    kind = "locally connected" if args.local else "convolution"
    header = (f"{kind}: input {_x(m.in_shape)} -> output {_x(m.out_shape)} (channels x size); "
              f"kernel {_x(m.kernel)}, stride {_x(m.stride)}, padding {_pads(m.pads)}, "
              f"dilation {_x(m.dilation)}")
    print(header)
    print(f"inputs x1..x{m.n_in} and outputs y1..y{m.n_out} are numbered row by row"
          + (", channel after channel" if m.in_shape[0] > 1 or m.out_shape[0] > 1 else ""))
    print()
    if m.n_in <= MAX_PRINT and m.n_out <= MAX_PRINT:
        how = "every connection has its own weight" if args.local else \
            "a shared weight repeats its name"
        print(f"dense matrix W ({m.n_out} x {m.n_in}), y = W x + b: {how}, 0 = not connected")
        print(matrix_text(m))
    else:
        print(f"dense matrix W is {m.n_out} x {m.n_in}: too large to print (see --png)")
    print()
    print("inputs of each output")
    print(inputs_text(m))
    print()
    out = progression(g["in_shape"], g["kernel"], filters=args.filters, stride=g["stride"],
                      padding=g["padding"], dilation=g["dilation"], bias=args.bias)
    print(counts_text(out))
    if args.png:
        from .draw import conv_matrix_figure, save_png

        save_png(conv_matrix_figure(m, header.replace(" (channels x size); ", "\n")), args.png)
        print(f"\nwrote {args.png}")
    return 0


def cmd_explain_receptive(args: argparse.Namespace) -> int:
    from .. import models
    from ..recipes import check_model_name
    from .receptive import receptive_field

    check_model_name(args.model)
    model = models.build(args.model)
    print(receptive_field(model, tuple(models.default_input_shape(args.model)), args.index,
                          args.layer))
    return 0


# ---- gridnn show ... -------------------------------------------------------------------------
def _out_dir(args: argparse.Namespace, run_dir: str | None = None) -> Path:
    out = Path(args.out) if args.out else Path(run_dir or ".") / "plots"
    out.mkdir(parents=True, exist_ok=True)
    return out


STEP_MAX_OUTPUTS = 64  # conv-steps draws one frame per output
STEP_MAX_SIDE = 24  # ... and every number of the padded input, in each frame
STEP_MAX_CHANNELS = 4
STEP_FRAME = re.compile(r"step_\d{2,}\.png")  # the frames this command writes


def cmd_conv_steps(args: argparse.Namespace) -> int:
    from .. import functional as F
    from ..tensor import Tensor
    from . import draw

    g = _geometry(args)
    one_d = len(g["kernel"]) == 1
    if one_d:  # a 1-D signal is drawn as a one-row image
        g = {k: ((1, *v) if k in ("kernel", "stride", "dilation") else v) for k, v in g.items()}
        g["in_shape"] = (g["in_shape"][0], 1, g["in_shape"][1])
        if g["padding"] not in ("same", "valid"):
            g["padding"] = (0, *g["padding"])
    if not 1 <= args.channels <= STEP_MAX_CHANNELS:
        raise ArgumentError(f"conv-steps draws every channel: `--channels` must be 1.."
                            f"{STEP_MAX_CHANNELS}, received {args.channels}")
    conv, _ = _maps(g, 1, False, "show conv-steps")
    padded = [n + lo + hi for n, (lo, hi) in zip(g["in_shape"][1:], conv.pads)]
    if max(padded) > STEP_MAX_SIDE:
        raise ArgumentError(f"conv-steps draws every number: the padded input {_x(padded)} is "
                            f"too large (at most {STEP_MAX_SIDE} per side): use a smaller "
                            f"--input or --padding")
    if conv.n_out > STEP_MAX_OUTPUTS:
        raise ArgumentError(f"conv-steps draws one frame per output; {conv.n_out} outputs are "
                            f"too many (at most {STEP_MAX_OUTPUTS}): use a smaller --input")
    _check_windows(conv)
    rng = np.random.default_rng(args.seed)
    x = rng.integers(0, 10, g["in_shape"]).astype(np.float64)
    w = rng.integers(-1, 3, (g["in_shape"][0], *g["kernel"])).astype(np.float64)
    y = F.conv2d(Tensor(x[None]), Tensor(w[None]), stride=g["stride"], padding=g["padding"],
                 dilation=g["dilation"]).data[0, 0]
    out = _out_dir(args)
    for old in out.iterdir():  # a previous run's frames, or the GIF would not match the folder
        if STEP_FRAME.fullmatch(old.name) and old.is_file():
            old.unlink()
    frames = []
    for n, fig in enumerate(draw.conv_step_frames(x, w, y, stride=g["stride"], pads=conv.pads,
                                                  dilation=g["dilation"], one_d=one_d),
                            start=1):
        png = draw.png_bytes(fig)
        atomic_write(out / f"step_{n:02d}.png", png)
        frames.append(png)
    atomic_write(out / "conv_steps.gif", draw.gif_bytes(frames))
    names = "step_01.png" if len(frames) == 1 else f"step_01.png..step_{len(frames):02d}.png"
    print(f"wrote {len(frames)} frame{'s' if len(frames) > 1 else ''} {names} and "
          f"conv_steps.gif to {out}")
    return 0


def cmd_filters(args: argparse.Namespace) -> int:
    from ..checkpoint import load_run
    from . import draw
    from .trained import filters_figures

    model, _ = load_run(args.run)  # the weights are all it needs: no dataset to load
    figures = filters_figures(model)
    if not figures:
        raise ArgumentError(f"{args.run}: the model has no convolution layers to show")
    out = _out_dir(args, args.run)
    for name, fig in figures:
        path = out / f"filters_{name.split(' ')[0].replace('.', '_')}.png"
        draw.save_png(fig, path)
        print(f"wrote {path}")
    return 0


def cmd_feature_maps(args: argparse.Namespace) -> int:
    from ..inputs import load_input
    from . import draw, runs, trained

    run = runs.load(args.run, args.data_dir)
    if not run.conv_layers():
        raise ArgumentError(f"{args.run}: the model has no convolution layers to show")
    if args.image:
        x = load_input(args.image, run.config["data"])
        title, stem = f"{args.image}", Path(args.image).stem
    else:
        x, label = run.sample(args.index)
        title = f"test sample #{args.index} (label {run.class_names[label]})"
        stem = f"test{args.index}"
    pred = run.class_names[int(run.logits(x[None]).argmax())]
    fig = trained.feature_maps_figure(x, run.feature_maps(x), f"{title}, predicted {pred}")
    path = _out_dir(args, args.run) / f"feature_maps_{stem}.png"
    draw.save_png(fig, path)
    print(f"wrote {path}")
    return 0


def cmd_confusion(args: argparse.Namespace) -> int:
    from . import draw, runs, trained
    from .report import misclassified

    run = runs.load(args.run, args.data_dir)
    out = _out_dir(args, args.run)
    acc = run.accuracy()
    draw.save_png(trained.confusion_figure(run.confusion(), run.class_names,
                                           f"test set: {100 * acc:.2f}% correct"),
                  out / "confusion.png")
    samples, captions = misclassified(run)
    draw.save_png(trained.examples_figure(samples, captions, "misclassified: true -> predicted"),
                  out / "misclassified.png")
    print(f"test accuracy {100 * acc:.2f}% ({len(run.y_test)} samples); wrote "
          f"{out / 'confusion.png'} and {out / 'misclassified.png'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from . import runs
    from .report import write_report

    path = write_report(runs.load(args.run, args.data_dir), args.out)
    print(f"wrote {path}")
    return 0


# ---- registration ----------------------------------------------------------------------------
def register(subparsers: Any) -> None:
    """Add ``explain``, ``show`` and ``report`` to the ``gridnn`` command's subparsers."""
    p = subparsers.add_parser("explain", help="what a layer computes: the MLP it equals")
    topics = p.add_subparsers(dest="topic", required=True, metavar="TOPIC")
    c = topics.add_parser("conv", help="a conv as a dense matrix: sparse connections, shared "
                                       "weights, and the counts for MLP / locally connected / conv")
    _add_geometry(c, stride="1")
    c.add_argument("--filters", type=argtypes.positive_int, default=1,
                   help="output channels (default 1)")
    c.add_argument("--bias", action="store_true", help="give the layers biases")
    c.add_argument("--local", action="store_true",
                   help="show the locally connected layer (no weight sharing) instead")
    c.add_argument("--png", metavar="FILE", help="also draw the matrix and the windows")
    c.set_defaults(func=cmd_explain_conv)
    r = topics.add_parser("receptive", help="receptive field size, jump and start per layer of "
                                            "a zoo model, and the inputs one unit sees")
    r.add_argument("model", help="model name (see 'gridnn summary --list')")
    r.add_argument("--layer", help="layer name whose unit to follow (default: the last "
                                   "spatial layer)")
    r.add_argument("--index", type=argtypes.spatial_index,
                   help="spatial index of that unit, e.g. 2x3 (default: centre)")
    r.set_defaults(func=cmd_explain_receptive)

    p = subparsers.add_parser("show", help="pictures: conv steps, filters, feature maps, "
                                           "confusion matrix")
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    s = what.add_parser("conv-steps", help="one frame per output position, and a GIF")
    _add_geometry(s, stride="1")
    s.add_argument("--seed", type=argtypes.nonnegative_int, default=0,
                   help="seed of the example numbers")
    s.add_argument("--out", required=True, help="folder for the frames and conv_steps.gif")
    s.set_defaults(func=cmd_conv_steps)
    for name, func, text in (("filters", cmd_filters, "learned kernels of each conv layer"),
                             ("feature-maps", cmd_feature_maps, "conv layer outputs for one "
                                                                "input"),
                             ("confusion", cmd_confusion, "test confusion matrix and the "
                                                          "misclassified examples")):
        s = what.add_parser(name, help=text)
        s.add_argument("run", help="run folder written by 'gridnn train'")
        s.add_argument("--out", help="output folder (default RUN/plots)")
        if name != "filters":  # the filters need only the weights
            s.add_argument("--data-dir", help="where the run's dataset files are")
        if name == "feature-maps":
            which = s.add_mutually_exclusive_group(required=True)
            which.add_argument("--image", help="an image (PNG/JPEG) or .npy input")
            which.add_argument("--index", type=argtypes.nonnegative_int,
                               help="a test-set sample number (0 = the first)")
        s.set_defaults(func=func)

    p = subparsers.add_parser("report", help="a self-contained HTML report of a run")
    p.add_argument("run", help="run folder written by 'gridnn train'")
    p.add_argument("--out", help="HTML file to write (default RUN/report.html)")
    p.add_argument("--data-dir", help="where the run's dataset files are")
    p.set_defaults(func=cmd_report)
