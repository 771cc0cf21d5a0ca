"""Limits on what input from elsewhere may make this process allocate.

A file or request from someone else can ask for arrays of any size (a run config with layer
widths of 10^5); without a limit the first sign is the machine swapping or the kernel's OOM
killer. ``memory_budget`` turns such a request into a prompt ``MemoryError`` the caller reports.

A request typed by a user (a picture of a 64x64 conv as a dense matrix, a summary of a model on a
4096x4096 input) is sized before anything is allocated: ``check_request`` refuses an estimate
past ``request_limit()`` with one line naming both; ``bounded`` catches what cannot be estimated.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import ArgumentError

MAX_REQUEST = 4 << 30  # most one picture or table may allocate, even on a large machine
# What a run config or model file may declare: one sample of at most 2^24 values (64 MiB in
# float32; 3x2364x2364), 2 to 4 dims, at most 65,536 classes (ImageNet-21k has 21,841).
MAX_SAMPLE_VALUES = 1 << 24
MAX_CLASSES = 1 << 16
MAX_EPOCHS = 1_000_000
MAX_BATCH_SIZE = 1 << 20


def _vm_bytes() -> int | None:
    """This process's virtual memory size (Linux), or None where /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@contextmanager
def memory_budget(extra_bytes: int | None) -> Iterator[None]:
    """Let the process grow by at most ``extra_bytes`` of address space inside the block.

    Building a model from someone else's run config could fill the machine's memory before its
    weights are even compared; with the cap an oversized allocation fails at once with
    MemoryError. Linux only (RLIMIT_AS); elsewhere, or with ``extra_bytes=None``, the block
    runs unchanged.
    """
    try:
        import resource
    except ImportError:
        resource = None
    vm = _vm_bytes() if resource is not None and extra_bytes is not None else None
    if vm is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm + extra_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY and soft <= cap:  # already stricter than ours
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _available_bytes() -> int | None:
    """Memory the kernel could give this process now without swapping (Linux), or None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def request_limit() -> int:
    """Bytes one user request (a picture, a table) may allocate: half the memory available now
    and half the room left under this process's RLIMIT_AS, at most ``MAX_REQUEST``."""
    limit = MAX_REQUEST
    available = _available_bytes()
    if available is not None:
        limit = min(limit, available // 2)
    vm = _vm_bytes()
    try:
        import resource
    except ImportError:
        return limit
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft != resource.RLIM_INFINITY and vm is not None:
        limit = min(limit, max(soft - vm, 0) // 2)
    return limit


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; 12 * 2**30 -> '12.0 GiB'."""
    if n < 1024:
        return f"{n:.0f} bytes"
    for unit in ("KiB", "MiB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GiB"


def check_request(nbytes: int, what: str, hint: str = "") -> None:
    """Raise ArgumentError (one line: ``what``, the estimate, the limit, ``hint``) when an
    estimated ``nbytes`` is past ``request_limit()``; call it before allocating."""
    limit = request_limit()
    if nbytes > limit:
        raise ArgumentError(f"{what} would need about {format_bytes(nbytes)}, more than the "
                            f"{format_bytes(limit)} limit" + (f"; {hint}" if hint else ""))


@contextmanager
def bounded(what: str, hint: str = "") -> Iterator[None]:
    """Run the block with the address space it may add capped at ``request_limit()``; an
    allocation past it becomes one ArgumentError naming ``what``, the size asked and the limit
    (for requests whose size is only known once they run, like a model's forward pass)."""
    limit = request_limit()
    try:
        with memory_budget(limit):
            yield
    except MemoryError as e:
        size = getattr(e, "_total_size", None)  # numpy's own MemoryError knows what it asked
        asked = f"an array of {format_bytes(size)}" if size else "more memory"
        raise ArgumentError(f"{what} needs {asked}, more than the {format_bytes(limit)} limit"
                            + (f"; {hint}" if hint else "")) from None
