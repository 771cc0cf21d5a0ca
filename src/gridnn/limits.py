"""Limits on what input from elsewhere may make this process allocate.

A file or request from someone else can ask for arrays of any size (a run config with layer
widths of 10^5); without a limit the first sign is the machine swapping or the kernel's OOM
killer. ``memory_budget`` turns such a request into a prompt ``MemoryError`` the caller reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
