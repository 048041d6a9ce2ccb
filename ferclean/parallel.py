"""A parallel map for the core, the backends it runs on, and the progress-callback type every
long step takes.

The core never draws: it calls ``on_progress(stage, done, total)`` and the CLI turns those
calls into rich progress bars (``ferclean.cli.console.progress``).

Two backends run ``parallel_map``: ``LocalBackend``, a process pool on this machine, and
``DaskBackend``, a Dask cluster (an embedded ``LocalCluster`` or an existing scheduler) for
datasets that outgrow one machine. Steps take an optional ``backend`` and pass it down;
only this module knows how work is spread. Dask is an optional extra, imported on first use.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import math
import multiprocessing
import os
import resource
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, CancelledError, ProcessPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from ferclean.errors import FercleanError

T = TypeVar("T")
R = TypeVar("R")

#: ``on_progress(stage, done, total)``: ``done`` of ``total`` steps of ``stage`` are finished.
Progress = Callable[[str, int, int], None]

#: Names of the backends, as the CLI's ``--backend`` takes them.
BACKENDS: tuple[str, ...] = ("local", "dask")

#: Seconds to wait for a ``scheduler`` to answer before giving up.
CONNECT_TIMEOUT = 10.0

DASK_EXTRA_HINT = "install it with: pip install 'ferclean[dask]'"


def no_progress(stage: str, done: int, total: int) -> None:
    """The default callback: report nothing."""


def default_jobs() -> int:
    """Worker processes to use when the user gives no ``jobs``: every core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


#: When this process started (near enough: the module loads with the command), for :func:`own_load`.
_STARTED = time.monotonic()


def own_load() -> float:
    """This process's share of the 1-minute load average, roughly: its CPU and its finished
    workers' per second since it started, weighted as the load average's exponential window
    weighs that span."""
    usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    elapsed = max(time.monotonic() - _STARTED, 1e-3)
    return cpu / elapsed * (1.0 - math.exp(-elapsed / 60.0))


def runnable_now() -> int | None:
    """Tasks runnable on the whole machine at this moment, this one included (Linux's
    /proc/loadavg), or None where the OS does not say."""
    try:
        with open("/proc/loadavg") as file:
            return int(file.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return None


def machine_busy(cores: int) -> bool:
    """Whether other work already keeps ``cores`` busy: the 1-minute load average less this
    process's own share (:func:`own_load`) above the cores, and, where the OS says, as many
    other tasks runnable right now. The load average trails by a minute, so a job that has just
    ended, or this command's own workers, would otherwise read as a busy machine (a million
    images' dedupe scored its pairs on one thread after its own 10-minute search)."""
    if not hasattr(os, "getloadavg"):
        return False
    if os.getloadavg()[0] - own_load() <= cores:
        return False
    runnable = runnable_now()
    return runnable is None or runnable - 1 >= cores


class Backend(Protocol):
    """Where ``parallel_map`` runs: ``map`` returns ``[fn(x) for x in items]`` in order."""

    def map(self, fn: Callable[[T], R], items: Sequence[T], stage: str, report: Progress) -> list[R]: ...


def _worker_signals() -> None:
    """In a pool worker: Ctrl-C (sent to the whole process group) is the parent's to handle, and
    SIGTERM ends the worker plainly, not through the parent's handler inherited by fork."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, None elsewhere."""
    try:
        return ctypes.CDLL(None).malloc_trim  # this process's own C library
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Give the pages of memory freed so far back to the OS. The C allocator keeps most freed
    blocks for reuse (a million images' hash search leaves 0.5 GB of them), and a forked worker
    shares, and so keeps alive, every page its parent held when it started."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@contextmanager
def worker_pool(jobs: int, context: Any = None) -> Iterator[ProcessPoolExecutor]:
    """A process pool (of ``context``'s start method, None: the platform's) that, when the caller
    stops early (an interrupt, an error), cancels the queued work instead of waiting for all of
    it, so the run ends in seconds. Freed memory is released first, before workers fork."""
    release_freed_memory()
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_signals)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


class LocalBackend:
    """A process pool of ``jobs`` workers on this machine (all cores when None)."""

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = jobs

    def map(self, fn: Callable[[T], R], items: Sequence[T], stage: str, report: Progress) -> list[R]:
        # Small inputs run in-process: starting workers costs more than it saves.
        jobs = self.jobs or default_jobs()
        results: list[R] = []
        report(stage, 0, len(items))
        if jobs <= 1 or len(items) < 200:
            for item in items:
                results.append(fn(item))
                report(stage, len(results), len(items))
            return results
        chunksize = max(16, min(512, len(items) // (jobs * 8) or 1))
        with worker_pool(jobs) as pool:
            for result in pool.map(fn, items, chunksize=chunksize):
                results.append(result)
                report(stage, len(results), len(items))
        return results


#: What :func:`forked_map`'s workers inherit by fork: the function, the shared data, the items and
#: the shared tick counter (None outside a call).
_FORKED: tuple[Callable[..., Any], Any, Sequence[Any], Any] | None = None


def _run_forked(index: int) -> Any:
    """One item of :func:`forked_map`, in a forked worker."""
    assert _FORKED is not None
    fn, shared, items, counter = _FORKED

    def tick() -> None:
        with counter.get_lock():
            counter.value += 1

    return fn(shared, items[index], tick)


def forked_map(
    fn: Callable[[Any, T, Callable[[], None]], R],
    shared: Any,
    items: Sequence[T],
    jobs: int | None = None,
    on_tick: Callable[[int], None] | None = None,
) -> list[R]:
    """``[fn(shared, x, tick) for x in items]`` in order, over up to ``jobs`` local processes that
    inherit ``shared`` (arrays of gigabytes) by fork instead of receiving a pickled copy each.

    ``fn`` calls ``tick()`` as it makes progress; ``on_tick(total ticks)`` reports them here. A
    few long items (a model per view) run side by side, each on its own core. With one job, or
    where fork is not available, the items run in this process: the same results.
    """
    global _FORKED
    report = on_tick or (lambda done: None)
    jobs = min(jobs or default_jobs(), len(items))
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        ticks = 0

        def tick() -> None:
            nonlocal ticks
            ticks += 1
            report(ticks)

        return [fn(shared, item, tick) for item in items]
    context = multiprocessing.get_context("fork")
    counter = context.Value("l", 0)
    _FORKED = (fn, shared, items, counter)  # set before the pool forks its workers
    try:
        with worker_pool(jobs, context) as pool:
            try:
                futures = [pool.submit(_run_forked, i) for i in range(len(items))]
                pending = set(futures)
                while pending:
                    _, pending = wait(pending, timeout=0.25, return_when=FIRST_EXCEPTION)
                    report(counter.value)
                    for future in futures:
                        if future.done() and future.exception():
                            future.result()  # raises the worker's error now, not after the others end
                return [future.result() for future in futures]
            except BaseException:
                _end_workers(pool)  # an item runs for minutes: do not leave it running
                raise
    finally:
        _FORKED = None


def _end_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate a pool's workers now, busy or not (a public method only from Python 3.14)."""
    if hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def _apply(fn: Callable[[T], R], partition: Sequence[T]) -> list[R]:
    """One Dask task: ``fn`` over a partition of items, on a worker."""
    return [fn(item) for item in partition]


def partition_size(n_items: int, n_threads: int, per_thread: int = 8, smallest: int = 32, largest: int = 1024) -> int:
    """Items per Dask task: about ``per_thread`` tasks per worker thread, for load balance and
    a live progress bar, but never so few items that scheduling (about 1 ms a task) dominates
    nor so many that a slow task holds the run's tail."""
    return max(smallest, min(largest, math.ceil(n_items / max(1, n_threads * per_thread))))


def require_dask() -> None:
    """Raise a one-line error when the ``dask`` extra is not installed."""
    if importlib.util.find_spec("distributed") is None or importlib.util.find_spec("dask") is None:
        raise FercleanError(f"backend 'dask' needs Dask's distributed scheduler; {DASK_EXTRA_HINT}.")


class DaskBackend:
    """A Dask cluster: an embedded ``LocalCluster`` of ``workers`` processes, or the existing
    cluster whose ``scheduler`` address (``tcp://host:8786``) is given.

    The cluster starts on the first ``map`` (a run that decodes nothing starts nothing) and
    stops on ``close``. Workers receive file paths and read the files themselves, so with a
    remote scheduler the paths must resolve on every worker (a shared file system).
    ``processes=False`` runs the workers as threads of this process (tests).
    """

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        *,
        processes: bool = True,
        connect_timeout: float | None = None,
    ) -> None:
        require_dask()
        if workers is not None and workers < 1:
            raise FercleanError(f"workers must be at least 1, got {workers}.")
        if workers is not None and scheduler is not None:
            raise FercleanError("workers sizes an embedded cluster; leave it out when joining a scheduler.")
        self.workers, self.scheduler = workers, scheduler
        self.processes = processes
        self.connect_timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        self._cluster: Any = None
        self._client: Any = None

    def __enter__(self) -> DaskBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> Any:
        """The ``distributed.Client``, connected (or its cluster started) on first use."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            try:
                return Client(self.scheduler, timeout=self.connect_timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise FercleanError(
                    f"Could not reach the Dask scheduler at scheduler={self.scheduler} within "
                    f"{self.connect_timeout:g} s ({type(exc).__name__}); check the address and that it runs."
                ) from None
        self._cluster = LocalCluster(
            n_workers=self.workers or default_jobs(),
            threads_per_worker=1,
            processes=self.processes,
            dashboard_address=":0",  # a free port: several clusters may share a machine
            silence_logs=logging.CRITICAL,
        )
        return Client(self._cluster, set_as_default=False)

    def close(self) -> None:
        """Disconnect, and stop the embedded cluster if this backend started one."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def map(self, fn: Callable[[T], R], items: Sequence[T], stage: str, report: Progress) -> list[R]:
        from distributed import KilledWorker, as_completed
        from distributed.comm.core import CommClosedError

        if not items:
            report(stage, 0, 0)
            return []
        client = self.client
        threads = sum(client.nthreads().values())
        if threads == 0:
            raise FercleanError(f"The Dask cluster at {client.scheduler.address} has no workers; start some and rerun.")
        size = partition_size(len(items), threads)
        partitions = [items[i : i + size] for i in range(0, len(items), size)]
        report(stage, 0, len(items))
        futures = [client.submit(_apply, fn, part, pure=False) for part in partitions]
        index = {future.key: i for i, future in enumerate(futures)}
        results: list[list[R] | None] = [None] * len(partitions)
        done = 0
        try:
            for future in as_completed(futures, loop=client.loop):
                part = future.result()
                results[index[future.key]] = part
                done += len(part)
                report(stage, done, len(items))
        except (KilledWorker, CancelledError, CommClosedError) as exc:
            raise FercleanError(
                f"A Dask worker died or the cluster went away during '{stage}' ({type(exc).__name__}); "
                "the step stopped and no manifest was written. Check the workers' memory and logs, then rerun."
            ) from None
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] != "ferclean":
                raise
            raise FercleanError(
                "The Dask workers cannot import ferclean; install the same ferclean on every worker"
                " (pip install 'ferclean[dask]'), then rerun."
            ) from None
        finally:
            client.cancel(futures)
        return [result for part in results for result in part]  # type: ignore[union-attr]


def open_backend(
    name: str = "local",
    jobs: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> LocalBackend | DaskBackend:
    """The backend called ``name`` (``local`` or ``dask``); close a Dask one when done (``with``)."""
    if name == "local":
        return LocalBackend(jobs)
    if name == "dask":
        return DaskBackend(workers, scheduler)
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")


def parallel_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    stage: str,
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
) -> list[R]:
    """``[fn(x) for x in items]`` on ``backend`` (a ``LocalBackend(jobs)`` when None), in order,
    reporting progress under ``stage``.

    ``fn`` must be a module-level function (or a ``functools.partial`` of one): it is sent to
    worker processes, or to other machines.
    """
    return (backend or LocalBackend(jobs)).map(fn, items, stage, on_progress or no_progress)


def iter_batches(
    fn: Callable[[T], R],
    batches: Sequence[T],
    stage: str,
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
    sizes: Sequence[int] | None = None,
) -> Iterator[R]:
    """``fn(b) for b in batches``, yielded in order as each is ready, for batches that each hold
    many items (hundreds of images): on a cluster ``backend`` as ``parallel_map`` would, else
    over ``jobs`` local processes whenever there are two batches or more. ``LocalBackend``'s
    in-process shortcut is sized for single files and would run a whole dataset's few dozen
    batches one by one. Locally a caller that copies each result away as it comes never holds
    them all (a million images' thumbnails are 1.4 GB). Locally, progress counts ``sizes``
    (the items in each batch) when given, else batches.
    """
    report = on_progress or no_progress
    if backend is not None and not isinstance(backend, LocalBackend):
        yield from backend.map(fn, batches, stage, report)
        return
    jobs = (backend.jobs if backend is not None else jobs) or default_jobs()
    weights = list(sizes) if sizes is not None else [1] * len(batches)
    done, total = 0, sum(weights)
    report(stage, 0, total)
    with worker_pool(jobs) if jobs > 1 and len(batches) > 1 else nullcontext() as pool:
        for weight, result in zip(weights, pool.map(fn, batches) if pool else map(fn, batches)):
            done += weight
            report(stage, done, total)
            yield result
