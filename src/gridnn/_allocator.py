"""Ask glibc's malloc to keep freed memory for reuse (called by the command line and the
benchmark, which own their process; importing gridnn changes nothing).

A training step allocates and frees tens of megabytes of activations and gradients. By
default glibc gives every block over its mmap threshold back to the kernel when it is freed,
and the next step's arrays of the same size are mapped afresh: one page fault per 4 KiB,
about a third of a small CNN's step (T1 in ``gridnn bench``: 6,100 faults and 30-45 ms of
system time per 75 ms step). With blocks up to 32 MiB served from the heap, and up to 512 MiB
of free heap kept before trimming, the same step takes a few faults. PyTorch in the same
process benefits as well (it allocates through the same malloc).

A server is the other way round: ``give_freed_memory_back`` maps large blocks on their own so a
burst of uploads leaves nothing resident once answered.
"""

from __future__ import annotations

import ctypes
import os
import sys

from .errors import ArgumentError

# mallopt(3) parameters and the values used (32 MiB is glibc's largest mmap threshold on
# 64-bit systems).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 512 << 20
SERVER_MMAP_THRESHOLD = 1 << 20
SERVER_TRIM_THRESHOLD = 4 << 20
# "kept" (the default) or "system" (leave malloc as it is); glibc's own variables also win.
OPT_OUT = "GRIDNN_MALLOC"
_GLIBC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_state: str | None = None


def keep_freed_memory() -> str:
    """Apply the settings once per process; return what malloc does, for reports:
    'kept (mmap threshold 32 MiB, trim 512 MiB)' or why it was left alone. An unknown
    ``GRIDNN_MALLOC`` value is an ``ArgumentError``."""
    global _state
    if _state is None:
        _state = _apply(MMAP_THRESHOLD, TRIM_THRESHOLD, "kept")
    return _state


def give_freed_memory_back() -> str:
    """The opposite, for a long-running server (``gridnn studio``): blocks over 1 MiB are
    mapped on their own and unmapped when freed, and free heap over 4 MiB is trimmed, so a
    burst of large temporary arrays (16 uploads decoded at once) does not stay resident.
    Replaces ``keep_freed_memory``'s settings; the same opt-outs apply."""
    global _state
    _state = _apply(SERVER_MMAP_THRESHOLD, SERVER_TRIM_THRESHOLD, "given back")
    return _state


def _apply(mmap_threshold: int, trim_threshold: int, name: str) -> str:
    choice = os.environ.get(OPT_OUT, "kept").lower()
    if choice not in ("kept", "system"):
        raise ArgumentError(f"environment variable {OPT_OUT} must be 'kept' or 'system', "
                            f"received {os.environ[OPT_OUT]!r}")
    if choice == "system":
        return f"system defaults ({OPT_OUT}=system)"
    if any(v in os.environ for v in _GLIBC_VARS):
        return "as set by " + ", ".join(f"{v}={os.environ[v]}" for v in _GLIBC_VARS
                                        if v in os.environ)
    if not sys.platform.startswith("linux"):
        return "system defaults (not Linux)"
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return "system defaults (no mallopt)"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, mmap_threshold) and mallopt(M_TRIM_THRESHOLD, trim_threshold):
        return (f"{name} (mmap threshold {mmap_threshold >> 20} MiB, "
                f"trim {trim_threshold >> 20} MiB)")
    return "system defaults (mallopt refused)"

