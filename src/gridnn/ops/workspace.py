"""Where the heavy ops (convolution, pooling) get their memory and their threads.

- ``scratch()``: this thread's pool of reusable arrays. A fresh multi-megabyte NumPy array
  costs a page fault per 4 KiB on its first touch, which doubles a copy into it; buffers that
  come back from the pool are already mapped. Bounded in bytes, least recently used first out.
- ``parallel_slices(n, size, work, samples)``: runs ``work(lo, hi)`` on slices of a batch in
  as many Python threads as the BLAS has, each with a single-threaded BLAS. NumPy releases the
  GIL in copies, ufuncs and GEMMs, so every part of an op runs in parallel, not only its GEMMs;
  and no small GEMM waits for OpenBLAS to wake and join its threads, which on a busy machine
  made chunked GEMMs several times slower. With fewer samples than threads (batch 1) an op
  runs in the calling thread: its products on the BLAS's own threads while the machine has a
  core free for each (``cores_free``), else on one, the big ones split over gridnn's
  threads (``splits_one_sample``). Needs ``threadpoolctl``; without it everything runs in
  one thread.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .._backend import xp
from .options import options

Array = Any
T = TypeVar("T")
Switch = tuple[Callable[[], int], Callable[[int], None]]  # a BLAS's (get, set) thread count

# Below this the BLAS is left alone: OpenBLAS runs products this small in one thread itself.
SINGLE_BLAS_MIN_SIZE = 1 << 12
# Slices per thread in parallel_slices, taken in turn: a slow core then does fewer of them.
SLICES_PER_THREAD = 4
# How often (seconds) ``cores_free`` looks at the machine's runnable threads again.
CONTENTION_CHECK_S = 0.1
# A product within one sample (batch 1) is split over threads from this many multiply-adds per
# element of ``options().parallel_min_size`` on (2**23 by default, about 0.1 ms in one
# thread): handing work to a thread and joining it costs 30-50 us.
ONE_SAMPLE_MACS_PER_ELEMENT = 16


class ScratchPool:
    """Arrays reused between calls: free buffers keyed by (shape, dtype), zero-bordered padded
    buffers and vectors of ones. Bounded: at most ``max_bytes`` are kept, least recently used
    dropped first, so memory never grows with the number of distinct shapes."""

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self.max_bytes = max_bytes
        self.free: OrderedDict[tuple[Any, ...], list[Array]] = OrderedDict()
        self.kept = 0

    def take(self, shape: tuple[int, ...], dtype: Any) -> Array:
        """An uninitialised array of ``shape``: a free one if there is one, else a new one."""
        key = ("free", tuple(shape), xp.dtype(dtype).str)
        stack = self.free.get(key)
        if not stack:
            return xp.empty(shape, dtype)
        a = stack.pop()
        if not stack:
            del self.free[key]
        self.kept -= a.nbytes
        return a

    def give(self, a: Array) -> None:
        """Return an array from ``take`` that nothing else references any more."""
        self._keep(("free", a.shape, a.dtype.str), a)

    def _keep(self, key: tuple[Any, ...], a: Array) -> None:
        if a.nbytes > self.max_bytes // 4:
            return
        self.free.setdefault(key, []).append(a)
        self.free.move_to_end(key)
        self.kept += a.nbytes
        while self.kept > self.max_bytes:
            old_key, stack = next(iter(self.free.items()))
            self.kept -= stack.pop(0).nbytes
            if not stack:
                del self.free[old_key]

    def _cached(self, key: tuple[Any, ...], make: Callable[[], Array]) -> Array:
        """A shared array made once by ``make()``; callers must not keep it past their call."""
        stack = self.free.get(key)
        if stack:
            self.free.move_to_end(key)
            return stack[0]
        a = make()
        self._keep(key, a)
        return a

    def bordered(self, shape: tuple[int, ...], pads: tuple[tuple[int, int], ...],
                 dtype: Any) -> Array:
        """A shared (N, *Sp, C) buffer whose borders ``pads`` are zero; callers write only the
        interior, so the borders stay zero and are never filled again."""
        return self._cached(("bordered", shape, pads, xp.dtype(dtype).str),
                            lambda: xp.zeros(shape, dtype))

    def ones(self, n: int, dtype: Any) -> Array:
        """A shared read-only vector of ``n`` ones."""
        def make() -> Array:
            v = xp.ones(n, dtype)
            v.flags.writeable = False
            return v
        return self._cached(("ones", n, xp.dtype(dtype).str), make)


_local = threading.local()


def scratch() -> ScratchPool:
    """This thread's scratch pool (threads never share a buffer)."""
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = ScratchPool()
    return pool


class _Threads:
    """The BLAS's thread controls and the worker threads, found or made on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one parallel region at a time, process-wide
        self.blas: list[Switch] | None = None  # per loaded BLAS: its thread getter, setter
        self.executor: ThreadPoolExecutor | None = None
        self.workers = 0

    def switches(self) -> list[Switch]:
        """(get threads, set threads) of every BLAS NumPy loaded: OpenBLAS's own functions
        where it can (``_openblas_switch``), else threadpoolctl's controller."""
        if self.blas is None:
            try:
                from threadpoolctl import ThreadpoolController
                found = ThreadpoolController().select(user_api="blas").lib_controllers
            except ImportError:
                found = []
            self.blas = [_openblas_switch(lc) or (lambda lc=lc: lc.num_threads,
                                                  lc.set_num_threads) for lc in found]
        return self.blas

    def count(self) -> int:
        """Threads to use: ``options().threads`` if set, else as many as the BLAS runs (1
        without it)."""
        threads = options().threads
        if threads is not None:
            return threads
        return max((get_threads() for get_threads, _ in self.switches()), default=1)

    @contextlib.contextmanager
    def single_blas(self) -> Iterator[None]:
        """Hold the BLAS at one thread."""
        saved = [(set_threads, get_threads()) for get_threads, set_threads in self.switches()]
        for set_threads, n in saved:
            if n != 1:
                set_threads(1)
        try:
            yield
        finally:
            for set_threads, n in saved:
                if n != 1:
                    set_threads(n)

    def pool(self, workers: int) -> ThreadPoolExecutor:
        if self.executor is None or self.workers < workers:
            if self.executor is not None:
                self.executor.shutdown(wait=False)
            self.executor = ThreadPoolExecutor(workers, thread_name_prefix="gridnn")
            self.workers = workers
        return self.executor

    def forget_after_fork(self) -> None:
        """A forked child has none of the parent's threads: start afresh."""
        self.lock = threading.Lock()
        self.executor, self.workers = None, 0


def _openblas_switch(lc: Any) -> Switch | None:
    """OpenBLAS's own thread-count getter and setter, called straight through ctypes: through
    threadpoolctl a get and two sets took 5.6 us, paid by every op that splits its work (a
    small training step has about 70). None for another BLAS, or for OpenBLAS built on OpenMP
    (whose setting is per calling thread): threadpoolctl handles those."""
    if lc.internal_api != "openblas" or getattr(lc, "threading_layer", None) == "openmp":
        return None
    import ctypes

    lib = ctypes.CDLL(lc.filepath)
    for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
        get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
        put = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
        if get is not None and put is not None:
            get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
            return get, put
    return None


_threads = _Threads()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_threads.forget_after_fork)


def thread_count() -> int:
    """The threads ``parallel_slices`` splits work over (``options().threads``, else as many
    as the BLAS runs)."""
    return _threads.count()


class _Contention:
    """Whether the machine has a core free for each BLAS thread: Linux's count of runnable
    threads (``/proc/loadavg``) less this process's own (``/proc/self/task``), plus the BLAS's
    threads, at most the cores this process may use. Looked at every ``CONTENTION_CHECK_S``
    seconds; the answer changes only when two looks in a row disagree with it (a daemon
    waking for a moment is not a busy machine). Unknown (no /proc, or a container that sees
    its host's count) reads as busy."""

    def __init__(self) -> None:
        self.at: float | None = None  # when last looked (None: never; the first look decides)
        self.free, self.doubt = False, 0

    def cores_free(self) -> bool:
        now = time.monotonic()
        if self.at is None or now - self.at >= CONTENTION_CHECK_S:
            free = _runnable() - _own_runnable() + _threads.count() <= _cores()
            self.doubt = 0 if free == self.free else self.doubt + 1
            if self.at is None or self.doubt >= 2:
                self.free, self.doubt = free, 0
            self.at = now
        return self.free


def _runnable() -> int:
    """The machine's runnable threads (unknown: a huge number)."""
    try:
        with open("/proc/loadavg") as fh:
            return int(fh.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 1 << 30


def _own_runnable() -> int:
    """This process's runnable threads (its state field 'R' in /proc/self/task/*/stat)."""
    count = 0
    try:
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat") as fh:
                    count += fh.read().rpartition(")")[2].split()[0] == "R"
            except (OSError, IndexError):
                continue
    except OSError:
        return 0
    return count


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1


_contention = _Contention()


def cores_free() -> bool:
    """Whether an op of one sample may use the BLAS's own threads now (``parallel_slices``)."""
    return _contention.cores_free()


def splits_one_sample(macs: int) -> bool:
    """Whether a product of ``macs`` multiply-adds within one sample is worth splitting over
    gridnn's threads (``ONE_SAMPLE_MACS_PER_ELEMENT``): only while the BLAS's own threads
    cannot take it (``cores_free``)."""
    return (macs >= ONE_SAMPLE_MACS_PER_ELEMENT * options().parallel_min_size
            and _threads.count() > 1 and not cores_free())


def parallel_slices(n: int, size: int, work: Callable[[int, int], T],
                    samples: int | None = None) -> list[T]:
    """``[work(lo, hi), ...]`` over consecutive slices lo:hi of 0..n (images of a batch, rows
    of a matrix), in slice order, run by as many threads as the BLAS has, each thread with a
    single-threaded BLAS. The slices run at the same time, so ``work`` must only write what
    belongs to its slice. ``samples``: how many samples of a batch the n units cover (default
    n; an op that splits one image's rows passes its batch).

    With fewer samples than threads (batch 1) the work runs in this thread: handing work to a
    thread and joining it took 30-50 us here, more than a MobileNet layer at batch 1 takes.
    While the machine has a core free for each thread (``cores_free``) the BLAS keeps its own
    threads, which split each product at little cost (at batch 1 on a quiet machine,
    regnet_y_400mf 25.4 -> 19.4 ms, mnasnet0_5 8.7 -> 7.0 against one BLAS thread and
    gridnn's threads for the big products); otherwise the BLAS runs on one thread and the big
    products split themselves over gridnn's threads (``splits_one_sample``): the BLAS's
    threads split statically, so when another process holds a core every product waited for
    the thread it had descheduled (mobilenet_v2 at load 4: 85-311 ms, against 19-33 ms on
    gridnn's threads, which take slices in turn). Below ``options().parallel_min_size``
    elements touched the work runs in this thread with a one-thread BLAS. Tiny ops
    (``SINGLE_BLAS_MIN_SIZE``) leave the BLAS as it is.

    There are ``SLICES_PER_THREAD`` times more slices than threads, taken in turn by whichever
    thread is free: when another process holds one core, the thread on the other core takes
    more slices instead of waiting for the slow one (with one slice each, a busy machine made
    every op as slow as its slower half).
    """
    if size < SINGLE_BLAS_MIN_SIZE:
        return [work(0, n)]
    threads = _threads.count()
    one_sample = (n if samples is None else samples) < threads
    if threads < 2 or (one_sample and cores_free()) or not _threads.lock.acquire(
            blocking=False):
        return [work(0, n)]
    try:
        with _threads.single_blas():
            if size < options().parallel_min_size or n < 2 or one_sample:
                return [work(0, n)]
            parts = min(n, threads * SLICES_PER_THREAD)
            bounds = [n * i // parts for i in range(parts + 1)]
            results: list[Any] = [None] * parts
            turns = itertools.count()  # next() is atomic under the GIL

            def take_turns() -> None:
                i = next(turns)
                while i < parts:
                    results[i] = work(bounds[i], bounds[i + 1])
                    i = next(turns)

            helpers = [_threads.pool(threads - 1).submit(take_turns)
                       for _ in range(min(threads, parts) - 1)]
            try:
                take_turns()
            finally:
                for h in helpers:
                    h.result()
            return results
    finally:
        _threads.lock.release()


def write_block(out: Array, product: Callable[[Array], Any], bias: Array | None,
                then: Callable[[Array, Array], None] | None) -> None:
    """A block (rows, K) of an op's output: ``product(dst)`` writes its values, the bias is
    added, and ``then`` (the fused activation, ``ops.conv.ConvNd``) turns them into ``out``
    through a scratch block, in cache; without ``then`` they go straight into ``out``."""
    dst = out if then is None else scratch().take(out.shape, out.dtype)
    product(dst)
    if bias is not None:
        dst += bias
    if then is not None:
        then(dst, out)
        scratch().give(dst)


def chunks(lo: int, hi: int, item_bytes: int) -> list[tuple[int, int]]:
    """lo..hi in consecutive (start, stop) pieces of about ``options().chunk_bytes`` (one item
    at least) so that several passes over a piece find it in cache."""
    step = max(1, options().chunk_bytes // max(item_bytes, 1))
    return [(s, min(hi, s + step)) for s in range(lo, hi, step)]


def copy_in_slices(src: Array, dst: Array | None = None) -> Array:
    """Copy ``src`` (N, ...) into ``dst`` (a new C-contiguous array if None), in threads."""
    dst = xp.empty(src.shape, src.dtype) if dst is None else dst
    parallel_slices(src.shape[0], src.size, lambda lo, hi: xp.copyto(dst[lo:hi], src[lo:hi]))
    return dst


def dot(a: Array, b: Array, out: Array | None = None, samples: int | None = None) -> Array:
    """a (m, k) @ b (k, n) into ``out`` (new if None), in threads with a one-thread BLAS
    (``parallel_slices``): row slices when there are at least as many rows as columns, else
    one slice of ``b``'s columns per thread, so that no thread reads more than its share of
    the bigger operand (rows sliced finely re-read all of ``b`` each). ``samples``: how many
    samples of a batch the rows cover (default m); with fewer than threads, one product in
    this thread unless it is big enough to split (``splits_one_sample``)."""
    m, n = a.shape[0], b.shape[1]
    out = xp.empty((m, n), dtype=xp.result_type(a, b)) if out is None else out
    size = a.size + b.size + out.size
    samples = m if samples is None else samples
    t = thread_count()
    if samples < t and not splits_one_sample(m * a.shape[1] * n):
        parallel_slices(1, size, lambda lo, hi: xp.dot(a, b, out=out), 1)
        return out
    if m >= n:
        parallel_slices(m, size, lambda lo, hi: xp.dot(a[lo:hi], b, out=out[lo:hi]))
        return out

    def columns(lo: int, hi: int) -> None:
        c0, c1 = n * lo // t, n * hi // t
        out[:, c0:c1] = xp.dot(a, b[:, c0:c1])

    parallel_slices(t, size, columns)
    return out


def matmul(a: Array, b: Array, samples: int | None = None) -> Array:
    """``a @ b`` (NumPy semantics); 2-D products through ``dot`` (``samples`` as there)."""
    if a.ndim > 2 and b.ndim == 2:  # (..., k) @ (k, m), e.g. a Linear on (N, H, W, C): one
        # product of all rows (np.matmul loops over the leading axes, slowly on a strided view)
        rows = a.reshape(-1, a.shape[-1])
        return dot(rows, b, samples=a.shape[0]).reshape(*a.shape[:-1], b.shape[1])
    if a.ndim != 2 or b.ndim != 2:
        return xp.matmul(a, b)
    return dot(a, b, samples=samples)
