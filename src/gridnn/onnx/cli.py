"""``gridnn export RUN --onnx model.onnx``: the command line of the ONNX room.

``register(subparsers)`` adds the subcommand to the ``gridnn`` parser; ``python -m gridnn.onnx``
runs it on its own (same arguments, one-line errors, exit 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import GridnnError


def register(subparsers: Any) -> None:
    """Add ``export`` to an argparse subparsers object."""
    p = subparsers.add_parser("export", help="write a trained run's model as an ONNX file",
                              description="Write the model of a run folder as ONNX (dynamic "
                                          "batch axis), for ONNX Runtime and other tools.")
    p.add_argument("run", help="run folder written by 'gridnn train'")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..checkpoint import load_run
    from .export import export

    model, config = load_run(args.run)
    shape = tuple(config["data"]["input_shape"])
    export(model, args.onnx, shape, opset=args.opset)
    print(f"wrote {args.onnx} (input (N, {', '.join(map(str, shape))}), opset {args.opset})")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise _UsageError(f"{self.prog}: error: {message}")


class _UsageError(GridnnError):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gridnn.onnx export RUN --onnx FILE``; returns the exit code."""
    parser = _Parser(prog="python -m gridnn.onnx")
    register(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(argv)
        return int(args.func(args))
    except (GridnnError, OSError) as e:
        print(e if isinstance(e, _UsageError) else f"gridnn: error: {e}", file=sys.stderr)
        return 2
