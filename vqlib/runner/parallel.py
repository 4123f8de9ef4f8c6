"""Parallel execution on dask.distributed: the cluster, stages of callables, and kernel start-up under parallel load."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from vqlib.runner.chapters import RunError

#: Tries of a kernel start (launch + first reply) before a point fails; see :func:`guard_kernel_start`.
KERNEL_START_ATTEMPTS = 3
#: One lock file per machine serializes kernel start-up of every process that executes chapters.
KERNEL_LOCK = Path(tempfile.gettempdir()) / "vqlib-kernel-start.lock"

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- kernel start-up under parallel execution


@contextlib.contextmanager
def kernel_start_lock(path: Path = KERNEL_LOCK) -> Iterator[None]:
    """Hold the machine-wide kernel start lock (fcntl): one kernel picks its ZMQ ports and binds them at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start_with_retry(client, start: Callable, start_client: Callable, attempts: int = KERNEL_START_ATTEMPTS, lock=kernel_start_lock) -> Any:
    """Start a notebook client's kernel and wait for its first reply, under the lock, retrying a failed start.

    jupyter_client picks free ports by binding and releasing them, then launches the kernel, which binds
    them again: two kernels starting at once can pick the same port, and one dies before it replies. Under
    the lock a kernel is up before the next picks its ports; a start that still fails (another program took
    the port) is cleaned up and tried again, `attempts` times in all.
    """
    with lock():
        for attempt in range(1, attempts + 1):
            try:
                if client.km is None:
                    client.km = client.create_kernel_manager()
                if not client.km.has_kernel:
                    start(client, **getattr(client, "_vq_start_kwargs", {}))
                return start_client(client)
            except Exception as exc:  # noqa: BLE001 - any failure to start is retried, then re-raised
                if attempt == attempts:
                    raise
                log.warning("kernel start failed (attempt %d of %d): %s; retrying", attempt, attempts, exc)
                _discard_kernel(client)
                time.sleep(0.5 * attempt)


def _discard_kernel(client) -> None:
    """Forget a half-started kernel (kill it if it runs) so the next attempt starts a fresh one."""
    km = getattr(client, "km", None)
    try:
        if km is not None and km.has_kernel:
            km.shutdown_kernel(now=True)
        if km is not None:
            km.cleanup_resources()
    except Exception:  # noqa: BLE001 - best effort: the kernel may already be gone
        pass
    client.km = None
    client.kc = None


def guard_kernel_start() -> None:
    """Make papermill start kernels through :func:`start_with_retry` in this process (idempotent)."""
    from papermill.clientwrap import PapermillNotebookClient

    if getattr(PapermillNotebookClient, "_vq_guarded", False):
        return
    start, start_client = PapermillNotebookClient.start_new_kernel, PapermillNotebookClient.start_new_kernel_client

    def deferred_start(self, **kwargs):
        """setup_kernel's start: only remember the arguments; the kernel starts with its client, under the lock."""
        self._vq_start_kwargs = kwargs

    def guarded_start_client(self):
        return start_with_retry(self, start, start_client)

    PapermillNotebookClient.start_new_kernel = deferred_start
    PapermillNotebookClient.start_new_kernel_client = guarded_start_client
    PapermillNotebookClient._vq_guarded = True


# ---------------------------------------------------------------- the Dask side


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A dask.distributed Client: on an existing scheduler, or on an embedded LocalCluster.

    The LocalCluster has one single-threaded worker process per core (or `workers`), so kernels do not
    share a process or fight over BLAS threads (Dask's nanny also sets OMP/MKL/OpenBLAS threads to 1);
    each worker holds one task at a time (worker-saturation 1.0: no chapter waits behind another on a
    busy worker while one is idle); its dashboard takes any free port, never a fixed one.
    """
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise RunError(f"cannot reach the Dask scheduler {scheduler!r}: {exc}") from None
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise RunError(f"--workers must be at least 1, got {n}")
    # The nanny's default MALLOC_TRIM_THRESHOLD_=65536 makes glibc hand every freed torch temporary back to the OS
    # and fault it in again: a training step ran 1.75x slower in a worker than in a plain process. Workers get
    # one thread per numeric library and glibc's own trim threshold.
    environ = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0, "distributed.nanny.pre-spawn-environ": environ}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield client


def run_stages(
    stages: list[list[Callable[[], Any]]],
    workers: int | None = None,
    scheduler: str | None = None,
    on_result: Callable[[Any], None] | None = None,
) -> list[list[Any]]:
    """Run callables in parallel on Dask, stage after stage (a stage starts when the previous one has finished).

    Each callable runs in a worker process and must be picklable (a module function, or functools.partial of
    one); `on_result` sees each result here as it arrives. A callable that raises stops the later stages:
    once its stage has finished, the stage's exceptions are raised together as a StageError.
    """
    from distributed import as_completed

    results: list[list[Any]] = []
    with dask_client(scheduler, workers) as client:
        for calls in stages:
            futures = [client.submit(_call, c, pure=False) for c in calls]
            errors = []
            for future in as_completed(futures):
                if future.status == "error":
                    errors.append(future.exception())
                elif on_result is not None:
                    on_result(future.result())
            if errors:
                raise StageError(errors)
            results.append([f.result() for f in futures])
    return results


class StageError(Exception):
    """One or more callables of a stage failed."""

    def __init__(self, errors: list[BaseException]):
        super().__init__("; ".join(_short_error(e) for e in errors))
        self.errors = errors


def _call(fn: Callable[[], Any]) -> Any:
    """Worker side of run_stages: guard kernel start-up, keep papermill's bars off the terminal, call."""
    guard_kernel_start()
    os.environ["VQLIB_PROGRESS"] = "0"
    return fn()


def _short_error(exc: BaseException) -> str:
    """A failure in one line: papermill's cell error as 'ename: evalue', others as 'Type: message'."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(exc).__name__}: {exc}".strip()


