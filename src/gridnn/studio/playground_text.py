"""The playground's words: what every count counts (with its arithmetic), the output-size
formula with the current numbers, where 'same' puts its padding, and numbers as the page shows
them. Everything is read off gridnn's own answers (the LinearMap and connection_counts)."""

from __future__ import annotations

import math

from ..explain.dense import LinearMap


def num(v: float) -> str:
    """A number as the page prints it in cells and equations alike: integers plainly, others
    rounded to 3 decimals with trailing zeros dropped (common.js's fmt is the same rule)."""
    if float(v).is_integer():
        return str(int(v))
    text = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def wrapped(v: float) -> str:
    """``num`` with a negative in parentheses, for the inside of a sum."""
    text = num(v)
    return f"({text})" if text.startswith("-") else text


def _x(sizes) -> str:
    return "x".join(map(str, sizes))


def _kernel(sizes) -> str:
    """'2x2' for a 2-D kernel, '3-wide' for a 1-D one."""
    return f"{sizes[0]}-wide" if len(sizes) == 1 else _x(sizes)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "es" if word.endswith("s") else "s")


def counts_said(m: LinearMap, counts: dict[str, int]) -> dict[str, str]:
    """One plain sentence per count, each with its arithmetic."""
    k_out, c_in = m.out_shape[0], m.in_shape[0]
    positions = math.prod(m.out_shape[1:])
    kernel = _kernel(m.kernel)
    window = f"{kernel} window" + (f" on each of {c_in} channels" if c_in > 1 else "")
    taps = c_in * math.prod(m.kernel)
    total = counts["outputs"] * taps
    said = {"mlp": f"a dense layer from {counts['inputs']} inputs to {counts['outputs']} "
                   f"outputs: {counts['inputs']} x {counts['outputs']} = "
                   f"{counts['mlp_weights']} weights"}
    if total == counts["connections"]:
        said["connections"] = (f"each output reads a {window}: {counts['outputs']} x {taps} = "
                               f"{counts['connections']} connections")
    else:
        said["connections"] = (f"each output reads a {window}, but {total - counts['connections']}"
                               f" of the {counts['outputs']} x {taps} = {total} taps fall on "
                               f"padding (zeros, not connections): {counts['connections']} "
                               f"connections")
    slice_ = f"{_x((c_in, *m.kernel))} kernel" if c_in > 1 else f"{kernel} kernel"
    if m.kind == "conv":
        head = (f"one {slice_} shared by every window" if k_out == 1 else
                f"{k_out} kernels of {slice_.removesuffix(' kernel')}, each shared by every "
                f"window of its map")
        said["parameters"] = (f"{head}: {counts['parameters']} parameters" if k_out == 1 else
                              f"{head}: {k_out} x {taps} = {counts['parameters']} parameters")
    else:
        unused = counts["unused_weights"]
        own = slice_ if k_out == 1 else _plural(k_out, slice_)
        said["parameters"] = (f"no sharing: each of the {positions} positions has its own "
                              f"{own}: {positions} x {k_out * taps} = "
                              f"{counts['parameters']} parameters"
                              + (f" ({unused} of them only ever multiply padding)"
                                 if unused else ""))
    said["biases"] = (f"Biases are counted apart: {_plural(counts['biases'], 'bias')}, one per "
                      f"kernel and shared by its whole output map; a dense layer would have "
                      f"one per output ({counts['mlp_biases']}).")
    sharing = ("with sharing on, one weight appears in many rows" if m.kind == "conv"
               else "with sharing off, every entry is its own weight")
    said["matrix"] = (f"Row yN is output N, column xN input N; a blank is no connection. Each "
                      f"weight has its own colour and label; {sharing}. Hover or tap a row to "
                      f"outline its window on the input."
                      + (" Thick lines separate the channels." if c_in > 1 or k_out > 1 else ""))
    return said


def formula(m: LinearMap) -> list[str]:
    """The output-size formula, then one line per spatial dim with the current numbers."""
    names = ("length",) if len(m.kernel) == 1 else ("rows", "cols")
    lines = ["out = ⌊(in + pad before + pad after − dilation·(kernel − 1) − 1) / stride⌋ + 1"]
    for name, n, (lo, hi), d, k, s, o in zip(names, m.in_shape[1:], m.pads, m.dilation,
                                             m.kernel, m.stride, m.out_shape[1:]):
        lines.append(f"{name}: ⌊({n} + {lo} + {hi} − {d}·({k} − 1) − 1) / {s}⌋ + 1 = {o}")
    return lines


def padding_said(m: LinearMap, padding: str | int, counts: dict[str, int]) -> str | None:
    """Under 'same' (or any padding): how much goes where and how many taps read it."""
    if not any(lo or hi for lo, hi in m.pads):
        return None
    sides = ((("cells", "before", "after"),) if len(m.kernel) == 1 else
             (("rows", "above", "below"), ("columns", "left", "right")))
    where = "; ".join(f"{lo} {unit} {a} and {hi} {b}"
                      for (lo, hi), (unit, a, b) in zip(m.pads, sides))
    taps = counts["outputs"] * m.in_shape[0] * math.prod(m.kernel)
    on_pad = taps - counts["connections"]
    head = "'same' padding" if padding == "same" else "Padding"
    text = (f"{head} adds zeros: {where}. "
            f"{on_pad} of the {taps} taps fall on padding.")
    if any(lo != hi for lo, hi in m.pads):
        extra = " and ".join(b for (lo, hi), (_, _, b) in zip(m.pads, sides) if hi > lo)
        text += (" With an even kernel the padding cannot be split equally: the extra one "
                 f"goes {extra}.")
    return text
