"""How the ops run: which convolution, how the fast one chunks and threads its work.

Every choice computes the same numbers (up to float rounding); they differ only in speed and in
how readable the code that runs is. The options are one frozen ``Options`` value, read through
``options()`` and changed for a block with ``using(...)``:

    from gridnn.ops.options import using
    with using(plain_conv=True):       # the lecture's convolution (``ops/conv_plain.py``)
        loss = model(x) ...
    with using(threads=1):             # every op in the calling thread
        ...
    with using(compiled=False):        # NumPy passes instead of the compiled loops
        ...

The setting is process-wide (the fast ops' worker threads read it too), so change it from one
thread at a time. ``gridnn.plain_ops()`` is ``using(plain_conv=True)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ArgumentError, ArgumentTypeError


@dataclass(frozen=True)
class Options:
    """The ops' run-time choices; the defaults are the fast paths."""

    # F.conv1d/F.conv2d run ops.conv_plain (window x kernel, one einsum) instead of ops.conv.
    plain_conv: bool = False
    # Max pooling, BatchNorm, ReLU's backward and channels-last col2im run compiled loops
    # (``ops/kernels/``, Numba, the ``fast`` extra) where Numba is installed; False, or no
    # Numba: their NumPy passes.
    compiled: bool = True
    # Fast conv: the input gradient of a stride-1, zero-padded convolution is itself a
    # convolution of the output gradient (else col2im, like every other stride and mode).
    input_grad_as_conv: bool = True
    # Fast conv: big enough 3 x 3 stride-1 convolutions by Winograd's F(2 x 2, 3 x 3)
    # (``ops/winograd.py``: 16 multiplies for 2 x 2 outputs instead of 36); needs the
    # compiled loops. False: im2col and one GEMM, like every other convolution.
    winograd: bool = True
    # Fast conv: convolutions of 8 to 32 filters, and the forward of groups of 8 or 16
    # filters, by a compiled direct loop (``ops/direct.py``: no column matrix, the sums in
    # registers); needs the compiled loops. False: im2col and one GEMM (grouped layers: the
    # planes loop of ``ops/grouped.py``).
    direct: bool = True
    # Fast conv: with fewer input channels per group than this, col2im runs channels-first,
    # where every add moves whole rows of the output instead of runs of C floats.
    channels_first_col2im_below: int = 8
    # Bytes an op works on at a time (a chunk of the conv's column matrix, a slice of a pooling
    # pass): small enough to stay in a (1 MiB per core) L2 cache between its passes.
    chunk_bytes: int = 3 << 19
    # Threads that split an op over its batch; None follows the BLAS's own thread count.
    threads: int | None = None
    # Under no_grad, a model's walk hands the activation after a convolution to the
    # convolution (``F.conv_nd``'s ``then``); False calls every layer on its own, as tracing
    # does to see each layer's output.
    fused_activations: bool = True
    # Work (elements touched) below which an op stays in one thread: handing work to a thread
    # costs more than a smaller op.
    parallel_min_size: int = 1 << 19

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "bool":
                if not isinstance(value, bool):
                    raise ArgumentTypeError(
                        f"options: `{field.name}` must be True or False, received {value!r}")
                continue
            if value is None and field.name == "threads":
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise ArgumentTypeError(
                    f"options: `{field.name}` must be an int, received {value!r}")
            least = 1 if field.name in ("chunk_bytes", "threads") else 0
            if value < least:
                raise ArgumentError(
                    f"options: `{field.name}` must be at least {least}, received {value!r}")


_current = Options()


def options() -> Options:
    """The options in force now."""
    return _current


@contextlib.contextmanager
def using(**changes: Any) -> Iterator[Options]:
    """Run the block with some ``Options`` fields changed (keyword arguments named like the
    fields); the previous options come back when it ends, also on an exception."""
    global _current
    names = {f.name for f in dataclasses.fields(Options)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ArgumentError(
            f"options: unknown option {unknown[0]!r}; expected one of {sorted(names)}")
    previous = _current
    _current = dataclasses.replace(previous, **changes)
    try:
        yield _current
    finally:
        _current = previous
