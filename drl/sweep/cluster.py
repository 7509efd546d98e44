"""The Dask cluster of a sweep: starting a local one sized by the CPUs the job was given, reaching a given one,
sizing batches by the workers a cluster is sized for, numba's threads on a worker, and noticing when every
worker is gone (a SLURM job's walltime, ``scancel``) instead of waiting forever.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

import numpy as np

__all__ = ["CLUSTER_ATTEMPTS", "MALLOC_TRIM", "POLL_SECONDS", "NoWorkersError", "allocated_cpus", "client_for",
           "close_quietly", "completed", "glibc_malloc_for_workers", "lost", "numba_threads_of_this_worker",
           "start_local_cluster", "target_workers"]


@contextlib.contextmanager
def workers_without_the_script():
    """Start worker processes that do not run the user's script.

    A spawned process imports the parent's ``__main__`` module again, from its ``__file__`` (or its
    ``__spec__`` under ``python -m``), so that functions defined there can be unpickled. A sweep's tasks are
    drl's own functions with plain data, so the workers need none of it; without this, every worker re-ran the
    script's top level (its simulations, its ``save`` calls: FileExistsError) and the cluster failed to start.
    Hiding the two attributes while the workers start is how multiprocessing itself treats an interactive
    ``__main__`` (a notebook's, which has neither)."""
    main = sys.modules.get("__main__")
    saved = {name: main.__dict__[name] for name in ("__file__", "__spec__") if main is not None and name in main.__dict__}
    try:
        if main is not None and "__file__" in saved:
            del main.__file__
        if main is not None and "__spec__" in saved:
            main.__spec__ = None
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


#: glibc's malloc trim threshold, which Dask fixes for its workers (65536) by setting it in the environment of the
#: process that starts them, where it stays (Dask's own docs: "even if this means poisoning the process running the
#: Nanny"): every later cluster of that process inherits it
MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"


@contextlib.contextmanager
def glibc_malloc_for_workers():
    """Start worker processes with glibc's adaptive malloc, not Dask's fixed trim threshold.

    Fixing any threshold turns off glibc's adaptive mmap threshold, and every large numpy temporary then costs
    fresh pages (a decode took 82 ms instead of 52). Dask's configuration asks for it (unset here while the workers
    start), and any Dask cluster started earlier in this process left it in ``os.environ`` (a sweep on the user's
    own LocalCluster, then ``map_runs`` on drl's: 36 → 41 s for 1000 decodes); Dask's value found there is kept out
    of the workers' environment and put back afterwards. A value the user chose (any other) is theirs and stays."""
    import dask

    key = f"distributed.nanny.pre-spawn-environ.{MALLOC_TRIM}"
    dasks = dask.config.get(key, None)
    left = os.environ.get(MALLOC_TRIM)
    from_dask = left is not None and dasks is not None and left == str(dasks)
    if from_dask:
        del os.environ[MALLOC_TRIM]
    try:
        with dask.config.set({key: None}):
            yield
    finally:
        if from_dask:
            os.environ.setdefault(MALLOC_TRIM, left)


#: Attempts at starting the local cluster: a worker process killed as it starts (out of memory, a signal) fails
#: the whole start, and the next attempt usually succeeds
CLUSTER_ATTEMPTS = 2


def start_local_cluster(local_cluster, n_workers: int):
    """A LocalCluster of ``n_workers`` single-threaded worker processes, retried once; a ChildProcessError (an
    OSError: the command line reports it in one line) when it cannot start. Dask's own message for a worker that
    died while starting ("Nanny failed to start … if __name__ == '__main__'") blames the user's script, which is
    not the cause when drl started the workers."""
    last = None
    for _ in range(CLUSTER_ATTEMPTS):
        try:
            # glibc's own malloc tuning, not Dask's MALLOC_TRIM_THRESHOLD_ (a run's memory is freed when it is
            # saved anyway)
            with workers_without_the_script(), glibc_malloc_for_workers():
                # dashboard on a free port: the default 8787 taken (another cluster, another notebook) made
                # Dask warn in the user's cell; the client's repr shows the link
                return local_cluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                     silence_logs=logging.CRITICAL, env={"NUMBA_NUM_THREADS": "1"},
                                     dashboard_address=":0")
        except (RuntimeError, OSError, TimeoutError) as error:  # a worker died while starting: retried
            last = error
    reason = str(last).split("\n")[0][:160]
    raise ChildProcessError(f"the local Dask cluster could not start its {n_workers} worker process(es) in "
                            f"{CLUSTER_ATTEMPTS} attempts (a worker died while starting: {type(last).__name__}: "
                            f"{reason}); check the memory free and run the sweep again, or pass client= (a "
                            "running cluster)")


def client_for(client):
    from dask.distributed import Client, LocalCluster

    if client is None:
        if getattr(sys.modules.get("__main__"), "__name__", "") == "__mp_main__":
            raise RuntimeError("sweep() was called inside a worker process of another program's Dask or "
                               "multiprocessing pool, which imported the script that calls it; put that call "
                               "under `if __name__ == \"__main__\":`")
        n_workers = allocated_cpus()  # the job's CPUs inside an sbatch job, not the node's
        # silence_logs: the nanny's "Worker process still alive ... killing" at shutdown, and a worker's lock
        # release failing as Ctrl-C closes the cluster mid-save, are not the user's concern (failed runs are
        # reported in the returned table); the level is restored when the cluster closes
        # one thread per worker for numba too (Dask sets only OMP/MKL/OpenBLAS): n workers × n numba threads on
        # n cores oversubscribed them, which is worst beside a busy process
        return Client(start_local_cluster(LocalCluster, n_workers)), True
    if isinstance(client, str):
        try:
            return Client(client, timeout="3s"), True
        except (OSError, TimeoutError) as e:
            raise ValueError(f"cannot reach the Dask scheduler at {client!r}: {e}") from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a dask.distributed.Client, a scheduler address or None; got "
                        f"{type(client).__name__}")
    if client.status != "running":
        raise ValueError(f"the Dask client is not connected (status {client.status!r})")
    return client, False


def close_quietly(client) -> None:
    """Close a client and the local cluster drl started for it; after an interrupt either may fail to close
    cleanly, which is no news to the user (the interrupt's note says what was saved)."""
    cluster = client.cluster
    with contextlib.suppress(Exception):
        client.close(timeout=5)
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close(timeout=5)


class NoWorkersError(TimeoutError):
    """A sweep had no Dask worker for ``no_worker_timeout`` seconds while runs remained.

    A cluster's jobs ended (their walltime, ``scancel``): the sweep stopped instead of waiting forever. The
    message says what was saved; run the sweep again to do the rest (completed runs are skipped).

    See Also
    --------
    drl.sweep.sweep : raises it.

    Examples
    --------
    >>> from drl import sweep
    >>> issubclass(sweep.NoWorkersError, TimeoutError)
    True
    """


#: How often a sweep checks that its cluster still has workers while it waits for runs (s)
POLL_SECONDS = 2.0


def completed(client, futures, no_worker_timeout: float):
    """``(future, result, exception)`` for each future as it completes (one of the last two None), like
    ``as_completed``, but a NoWorkersError once the cluster has had no worker for ``no_worker_timeout`` seconds
    while some remain: a SLURM sweep whose jobs were cancelled or ran out of walltime once waited forever,
    printing nothing. Results are fetched under the same watch: a finished task whose worker left before its
    result was read is recomputed elsewhere, and with no worker left that wait was endless too."""
    import time

    pending, idle_since = set(futures), None
    starting = WorkerStartErrors()

    def watch(progressed: bool):
        nonlocal idle_since
        if progressed or client.scheduler_info().get("workers"):
            idle_since = None
            return
        idle_since = idle_since if idle_since is not None else time.monotonic()
        if time.monotonic() - idle_since >= no_worker_timeout:
            refused, error = unsubmitted_jobs(client), starting.last
            if refused or error:
                cause = (" The cluster could not start its workers"
                         + (f": {refused} job(s) never accepted by its scheduler" if refused else "")
                         + (f" ({error})" if error else " (the submission's error is in the log above; try "
                            "`print(cluster.job_script())` with sbatch by hand)"))
            else:
                cause = (" The cluster's workers are gone (a job's walltime ended, the jobs were cancelled) and "
                         "none replaced them. On SLURM let the cluster replace expired jobs "
                         "(cluster.adapt(minimum_jobs=…, maximum_jobs=…) rather than scale)")
            raise NoWorkersError(f"no Dask worker for {no_worker_timeout:g} s with runs still to do.{cause}")

    with starting:
        yield from _completed(pending, watch)


class WorkerStartErrors(logging.Handler):
    """The last error a cluster met starting workers (an ``sbatch`` the scheduler refused: a memory request larger
    than any node, an unknown partition or account), which Dask only logs, once a second, while the sweep waits;
    a NoWorkersError names it, so the user reads why no worker came rather than that none did."""

    # adapt's errors are logged by distributed.deploy.adaptive; scale's, and adapt's first, by the event loop's
    LOGGERS = ("distributed.deploy", "tornado.application")

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.last = ""

    def emit(self, record):
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            lines = [line.strip() for line in str(error).splitlines() if "error" in line.lower()]
            self.last = " / ".join(dict.fromkeys(lines))[:400] or f"{type(error).__name__}: {error}"[:400]

    def __enter__(self):
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc):
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)


def unsubmitted_jobs(client) -> int:
    """Jobs of a dask-jobqueue cluster that have no job id: their submission (``sbatch``) failed, so no worker
    will ever come from them."""
    jobs = getattr(getattr(client, "cluster", None), "workers", None)
    if not isinstance(jobs, dict):
        return 0
    return sum(1 for job in jobs.values() if hasattr(job, "job_id") and job.job_id is None)


def _completed(pending, watch):
    from dask.distributed import wait

    while pending:
        try:
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = set()
        for future in done:
            while True:
                try:
                    value = future.result(timeout=POLL_SECONDS)
                except TimeoutError:
                    watch(False)
                    continue
                except Exception as error:  # noqa: BLE001 - a lost task (KilledWorker, cancelled): reported per run
                    yield future, None, error
                else:
                    yield future, value, None
                watch(True)
                break
        if not done:
            watch(False)


def lost(exception) -> str:
    """A batch whose task was lost, in words: Dask's KilledWorker ("… 4 different workers died") is a run longer
    than its job's walltime, or one that ran out of memory."""
    text = f"{type(exception).__name__}: {exception}"
    if type(exception).__name__ == "KilledWorker":
        text += (" (every worker that ran it died: a run longer than a worker job's walltime, or one that exhausts "
                 "its memory; give jobs a longer walltime or more memory, or split the run)")
    return text


def target_workers(client) -> int:
    """Workers the cluster is sized for, not only those connected: SLURM jobs still queued when a sweep starts
    connect later, and batches sized by the connected ones (none) put every run on one worker."""
    connected = len(client.scheduler_info().get("workers", {}))
    cluster = getattr(client, "cluster", None)
    target = 0
    for spec in (getattr(cluster, "worker_spec", None) or {}).values():
        options = spec.get("options", {}) if isinstance(spec, dict) else {}
        target += int(options.get("processes", 1) or 1)  # a jobqueue job runs `processes` workers
    adaptive = getattr(cluster, "_adaptive", None)
    maximum = getattr(adaptive, "maximum", 0) if adaptive is not None else 0
    if isinstance(maximum, int | float) and np.isfinite(maximum):
        target = max(target, int(maximum))
    return max(1, connected, target)


def allocated_cpus() -> int:
    """The CPUs this process may use: SLURM's allocation (``SLURM_CPUS_PER_TASK``, ``SLURM_CPUS_ON_NODE``), else
    the process's CPU affinity, else the machine's count. ``os.cpu_count()`` counts the node's, not the job's."""
    for name in ("SLURM_CPUS_PER_TASK", "SLURM_CPUS_ON_NODE"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def numba_threads_of_this_worker():
    """numba's threads for a run on a Dask worker: the worker's own thread count (its share of the job's CPUs),
    not numba's default (every CPU of the node: 2 threads in a 1-CPU SLURM job)."""
    import numba

    try:
        from distributed import get_worker

        threads = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(before, int(threads))))
    try:
        yield
    finally:
        numba.set_num_threads(before)
