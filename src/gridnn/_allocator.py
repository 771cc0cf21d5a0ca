"""Ask glibc's malloc to keep freed memory for reuse (called by the command line and the
benchmark, which own their process; importing gridnn changes nothing).

A training step allocates and frees tens of megabytes of activations and gradients. By
default glibc gives every block over its mmap threshold back to the kernel when it is freed,
and the next step's arrays of the same size are mapped afresh: one page fault per 4 KiB,
about a third of a small CNN's step (T1 in ``gridnn bench``: 6,100 faults and 30-45 ms of
system time per 75 ms step). With blocks up to 32 MiB served from the heap, and up to 512 MiB
of free heap kept before trimming, the same step takes a few faults. PyTorch in the same
process benefits as well (it allocates through the same malloc).
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
        _state = _apply()
    return _state


def _apply() -> str:
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
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD):
        return (f"kept (mmap threshold {MMAP_THRESHOLD >> 20} MiB, "
                f"trim {TRIM_THRESHOLD >> 20} MiB)")
    return "system defaults (mallopt refused)"


def release_freed_memory() -> None:
    """Hand the memory malloc holds free back to the kernel now (glibc's ``malloc_trim(0)``;
    elsewhere nothing). A long-running server calls it after a burst of large temporary
    allocations (decoding an upload), which the settings above would otherwise keep."""
    if not sys.platform.startswith("linux"):
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)
