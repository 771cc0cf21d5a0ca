"""The processes of a data-parallel run: rank, world size, and the few collectives it needs.

Started by ``mpiexec -n P`` (MPICH's or Open MPI's), every process is one rank of P; started
alone, the world is one rank and MPI is never imported, so gridnn runs without mpi4py.

Every collective waits by polling a non-blocking MPI request with short sleeps: a rank that
waits gives its core to the others (MPI's own blocking calls spin, which starves oversubscribed
ranks), and a wait that passes ``timeout`` seconds ends every rank with a message instead of a
hang. A rank that dies is normally ended by the launcher, which then stops all the others.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from typing import Any, NoReturn

import numpy as np

from ..errors import GridnnError

# Set by the launchers: MPICH/Hydra (PMI_*), Open MPI (OMPI_*), PMIx-based ones (PMIX_RANK).
_LAUNCHER_VARS = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")
DEFAULT_TIMEOUT = 300.0  # seconds a rank waits for the others before giving up
_HERE_TAG = 7177  # point-to-point tag of "I am waiting too" after a timeout


class DistributedError(GridnnError, RuntimeError):
    """The ranks cannot work together (a rank stopped answering, or the settings differ)."""


def launched_by_mpi() -> bool:
    """True when an MPI launcher started this process (its environment says so)."""
    return any(v in os.environ for v in _LAUNCHER_VARS)


class Communicator:
    """One rank's view of the run: ``rank``, ``size`` and the sum and gather collectives.

    ``timeout`` (seconds) bounds every wait for the other ranks.
    """

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not timeout > 0:
            raise DistributedError(f"Communicator: `timeout` must be positive seconds, "
                                   f"received timeout={timeout!r}")
        self.timeout = float(timeout)
        self._comm: Any = None
        self.rank, self.size = 0, 1
        self.places: list[tuple[str, int]] = []  # (host, pid) of every rank, once gathered
        if launched_by_mpi():
            try:
                from mpi4py import MPI
            except ImportError:
                raise DistributedError("this process was started by mpiexec but mpi4py is not "
                                       "installed: pip install 'gridnn[distributed]'") from None
            self._MPI = MPI
            self._comm = MPI.COMM_WORLD
            self.rank, self.size = self._comm.Get_rank(), self._comm.Get_size()
        # so that a message about a rank says where it ran
        self.places = [(h, p) for h, p in self.allgather((socket.gethostname(), os.getpid()),
                                                          "start")]

    def __repr__(self) -> str:
        return f"Communicator(rank={self.rank}, size={self.size}, timeout={self.timeout})"

    def describe(self, rank: int) -> str:
        """'rank 2 (pid 4711 on host)' ('rank 2' before the ranks have met)."""
        if rank >= len(self.places):
            return f"rank {rank}"
        host, pid = self.places[rank]
        return f"rank {rank} (pid {pid} on {host})"

    def _wait(self, request: Any, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        pause = 0.0
        while not request.Test():
            if time.monotonic() > deadline:
                self.abort(f"{what}: no answer from the other ranks for {self.timeout:g} s; "
                           f"{self._missing()}")
            time.sleep(pause)
            pause = min(pause + 2e-5, 1e-3)  # spin briefly, then yield the core

    def _missing(self) -> str:
        """Which ranks did not reach this collective: the ranks that time out tell each other
        with small point-to-point messages; whoever stays silent for a grace period (or whose
        process on this host is gone) is named."""
        peers = [r for r in range(self.size) if r != self.rank]
        # kept referenced: a silent rank never completes them, and the abort ends everything
        self._here = [self._comm.Isend(np.ones(1, np.uint8), dest=r, tag=_HERE_TAG)
                      for r in peers]
        boxes = {r: np.zeros(1, np.uint8) for r in peers}
        recvs = {r: self._comm.Irecv(boxes[r], source=r, tag=_HERE_TAG) for r in peers}
        grace = time.monotonic() + min(self.timeout, 10.0)
        while time.monotonic() < grace and not all(q.Test() for q in recvs.values()):
            time.sleep(0.01)
        here = socket.gethostname()
        silent = [r for r, q in recvs.items() if not q.Test()]
        if not silent:
            return "every rank is waiting (an MPI or network fault)"
        return ", ".join(self.describe(r) + (" has exited" if self.places[r][0] == here and
                                             not _alive(self.places[r][1]) else
                                             " did not reach it") for r in silent)

    def allreduce_sum(self, buffer: np.ndarray, what: str = "Allreduce") -> np.ndarray:
        """Sum the contiguous ``buffer`` over all ranks, in place; returns it."""
        if self._comm is not None and self.size > 1:
            self._wait(self._comm.Iallreduce(self._MPI.IN_PLACE, buffer, op=self._MPI.SUM),
                       what)
        return buffer

    def allgather(self, value: Any, what: str = "Allgather") -> list[Any]:
        """Every rank's ``value`` (a small JSON-able value; tuples come back as lists), in rank
        order. JSON rather than pickle: what a peer sends is never run as code."""
        if self._comm is None or self.size == 1:
            return [json.loads(json.dumps(value))]
        # texts of unknown length: gather their lengths first, then the bytes
        blob = np.frombuffer(json.dumps(value).encode(), np.uint8)
        sizes = np.zeros(self.size, np.int64)
        sizes[self.rank] = blob.size
        self.allreduce_sum(sizes, what)
        out = np.zeros(int(sizes.sum()), np.uint8)
        start = int(sizes[:self.rank].sum())
        out[start:start + blob.size] = blob
        self.allreduce_sum(out, what)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        return [json.loads(out[a:b].tobytes()) for a, b in zip(bounds[:-1], bounds[1:])]

    def abort(self, message: str, code: int = 1) -> NoReturn:
        """Print ``message`` naming this rank and end every rank with exit status ``code``."""
        print(f"gridnn: {self.describe(self.rank)} of {self.size}: {message}; stopping every "
              f"rank", file=sys.stderr, flush=True)
        if self._comm is not None and self.size > 1:
            # Abort ends the launcher's output forwarding too: give it time to pass the line on
            time.sleep(ABORT_GRACE_S)
            self._comm.Abort(code)
        raise SystemExit(code)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


_world: Communicator | None = None
ABORT_GRACE_S = 0.5  # between the message naming a rank and MPI's Abort


def world(*, timeout: float | None = None) -> Communicator:
    """The communicator of all ranks (made on first use; ``timeout`` sets its wait bound)."""
    global _world
    if _world is None:
        _world = Communicator(timeout=DEFAULT_TIMEOUT if timeout is None else timeout)
    elif timeout is not None:
        _world.timeout = float(timeout)
    return _world


def rank() -> int:
    """This process's rank, 0 to world_size() - 1 (0 when not started by mpiexec)."""
    return world().rank


def world_size() -> int:
    """The number of ranks (1 when not started by mpiexec)."""
    return world().size
