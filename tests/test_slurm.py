"""Sweeps on a real SLURM scheduler: a one-node cluster (Debian's slurm-wlm and munge, installed when absent,
started as root) runs the docs' SLURMCluster recipe as written, whose runs must equal the local cluster's file
for file; every job cancelled mid-sweep stops the sweep with what was saved, and a second call resumes it; a
sweep that outlasts its jobs' lifetime finishes on the jobs that replace them.

Where SLURM cannot run (not root, no apt-get) the module is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from slurm_node import PARTITION, start

from drl.sweep import NoWorkersError, open_sweep, sweep

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# Small runs for the recipe's equality; runs of ~1 s each for the cancelled and outlasted sweeps
SMALL = {"task": "dabney_variable_magnitude", "n_trials": 300, "tau": [0.2, 0.5, 0.8], "seed": 0}
LONG = {"task": "dabney_variable_magnitude", "n_trials": 40_000, "predictors": 2000, "tau": [0.05, 0.95],
        "record": ["value"], "record_trials": [39_999]}


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    node = start(tmp_path_factory.mktemp("slurm"))
    if isinstance(node, str):
        pytest.skip(f"no SLURM scheduler here: {node}")
    yield node
    node.stop()


@pytest.fixture
def slurm_environment(slurm, monkeypatch):
    """sbatch, squeue and scancel (called by dask-jobqueue in this process) find the test's cluster."""
    monkeypatch.setenv("SLURM_CONF", str(slurm.config))
    yield slurm
    slurm.cancel_every_job()


def docs_recipe() -> str:
    """The SLURM recipe of the user guide's sweeps page, as printed there (an indented block under its heading)."""
    text = (ROOT / "docs" / "guide" / "sweeps.md").read_text()
    section = text.split("## On a SLURM cluster (dask-jobqueue)", 1)[1]
    block = re.search(r"\n\n((?:    .*\n|\n)+?)\n(?=\S)", section).group(1)
    return "\n".join(line[4:] for line in block.splitlines())


def slurm_cluster(**options):
    from dask_jobqueue import SLURMCluster

    options = {"cores": 1, "processes": 1, "memory": "1GB", "walltime": "00:10:00", "queue": PARTITION,
               "log_directory": "logs", "scheduler_options": {"dashboard_address": ":0"}, **options}
    return SLURMCluster(**options)


def test_the_docs_recipe_runs_on_slurm_and_equals_the_local_cluster(slurm_environment):
    recipe = docs_recipe()
    assert "cluster.adapt(minimum_jobs=1, maximum_jobs=32)" in recipe and 'queue="normal"' in recipe
    # as written, but at most 2 jobs at once: the node has 2 CPUs, and up to 32 workers starting would only queue
    namespace = {"sweep": sweep, "base": SMALL, "grid": {"lam": [0.0, 0.5, 0.9], "alpha": [0.05, 0.2]}}
    exec(compile(recipe.replace("maximum_jobs=32", "maximum_jobs=2"), "docs/guide/sweeps.md", "exec"), namespace)
    namespace["cluster"].close()
    assert sorted(p.name for p in Path("logs/slurm").glob("dask-worker-*.out")), "the jobs' logs are in log_directory"
    local = sweep(SMALL, {"lam": [0.0, 0.5, 0.9], "alpha": [0.05, 0.2]}, out="local", progress=False)
    assert list(local["status"]) == ["done"] * 6
    for index in range(6):
        on_slurm = xr.load_dataset(f"exps/big/run_{index:04d}.nc")
        here = xr.load_dataset(f"exps/local/run_{index:04d}.nc")
        xr.testing.assert_equal(on_slurm, here)  # values, errors, rewards and coordinates, bit for bit
        assert on_slurm.attrs["sweep_config"] == here.attrs["sweep_config"]
    assert open_sweep("big").sizes["run"] == 6


def test_cancelling_every_job_stops_the_sweep_and_a_second_call_resumes_it(slurm_environment):
    """scancel of every worker job mid-sweep: the sweep stops after no_worker_timeout with what was saved, instead
    of waiting forever; run again on a new cluster, it skips the saved runs and does the rest."""
    from dask.distributed import Client

    grid = {"seed": list(range(10))}
    cluster = slurm_cluster()
    cluster.scale(jobs=1)  # a fixed size: nothing replaces a cancelled job

    def cancel_after_the_first_saved_run():
        deadline = time.monotonic() + 240
        while not list(Path("exps/cancelled").glob("run_*.nc")) and time.monotonic() < deadline:
            time.sleep(0.2)
        slurm_environment.cancel_every_job()

    canceller = threading.Thread(target=cancel_after_the_first_saved_run, daemon=True)
    try:
        with Client(cluster) as client:
            canceller.start()
            with pytest.raises(NoWorkersError, match="no Dask worker for 10 s") as stopped:
                sweep(LONG, grid, out="cancelled", client=client, progress=False, no_worker_timeout=10)
    finally:
        cluster.close()
    canceller.join()
    saved = len(list(Path("exps/cancelled").glob("run_*.nc")))
    assert 1 <= saved < 10, saved
    assert f"{saved} of 10 runs were finished and saved in exps/cancelled before the workers were lost" in str(
        stopped.value)
    assert not slurm_environment.job_ids()

    cluster = slurm_cluster()
    cluster.adapt(minimum_jobs=1, maximum_jobs=2)
    try:
        with Client(cluster) as client:
            table = sweep(LONG, grid, out="cancelled", client=client, progress=False)
    finally:
        cluster.close()
    assert (table["status"] == "skipped").sum() == saved and (table["status"] == "done").sum() == 10 - saved
    assert len(list(Path("exps/cancelled").glob("run_*.nc"))) == 10


def test_jobs_the_scheduler_refuses_stop_the_sweep_with_its_reason(slurm_environment):
    """A job SLURM refuses (here a memory request larger than the node) starts no worker: the sweep stops after
    no_worker_timeout naming sbatch's error (Dask only logged it once a second, and the sweep said no more than
    that no worker came)."""
    from dask.distributed import Client

    cluster = slurm_cluster(memory="100TB")
    cluster.adapt(minimum_jobs=1, maximum_jobs=2)
    try:
        with Client(cluster) as client, pytest.raises(NoWorkersError) as stopped:
            sweep(SMALL, {"lam": [0.0, 0.5]}, out="refused", client=client, progress=False, no_worker_timeout=5)
    finally:
        with contextlib.suppress(AssertionError):  # dask's close asserts on a job that never started
            cluster.close()
    assert "could not start its workers: 1 job(s) never accepted by its scheduler" in str(stopped.value)
    assert "0 of 2 runs were finished and saved" in str(stopped.value)


def test_a_sweep_that_outlasts_its_jobs_finishes_on_their_replacements(slurm_environment):
    """Jobs whose time is up (the recipe's --lifetime, before the walltime) are replaced by adapt, and the sweep
    finishes: the SLURM form of "a 1-hour walltime on a sweep that outlasts it" (it once waited forever)."""
    from dask.distributed import Client

    cluster = slurm_cluster(walltime="00:01:00", worker_extra_args=["--lifetime", "12s", "--lifetime-stagger", "1s"])
    cluster.adapt(minimum_jobs=1, maximum_jobs=1)
    try:
        with Client(cluster) as client:  # 8 runs of ~3 s on one worker at a time: more than one job's 12 s
            table = sweep({**LONG, "n_trials": 60_000, "record_trials": [59_999]}, {"seed": list(range(8))},
                          out="outlasted", client=client, progress=False)
    finally:
        cluster.close()
    assert list(table["status"]) == ["done"] * 8, table["error"].tolist()
    assert len(list(Path("logs").glob("dask-worker-*.out"))) >= 2  # a job's time ended and another replaced it
    values = open_sweep("outlasted")["value"].isel(trial=-1, time=0)
    assert np.isfinite(values).all()
