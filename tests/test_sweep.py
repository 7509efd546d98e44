"""Sweeps on a real LocalCluster of two worker processes."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import drl
import drl.plots
from drl.sweep import derive_seed, open_sweep, run_config, sweep, sweep_run
from drl.sweep.configs import population_of_config

pytestmark = pytest.mark.slow  # a Dask cluster of worker processes

BASE = {"task": "lowet_2025", "n_trials": 40, "tau": [0.2, 0.8], "gamma": 0.9, "seed": 3}
GRID = {"lam": [0.0, 0.9], "alpha": [0.05, 0.1]}


def test_sweep_files_open_sweep_and_resume(client, capsys):
    table = sweep(BASE, GRID, out="small", client=client, progress=False)
    assert list(table["status"]) == ["done"] * 4
    assert sorted(p.name for p in Path("exps/small").iterdir()) == [".run_headers.json"] + [f"run_{i:04d}.nc" for i in range(4)] + [
        "sweep.json"]
    combined = open_sweep("small")
    assert combined.sizes["run"] == 4
    assert list(combined["lam_setting"].values) == [0.0, 0.0, 0.9, 0.9]  # the last field varies fastest
    assert list(combined["alpha"].values) == [0.05, 0.1, 0.05, 0.1]
    # Each run equals a single simulation of its configuration, with the documented seed.
    for index in (0, 3):
        config = run_config(BASE, lam=float(combined["lam_setting"][index]), alpha=float(combined["alpha"][index]),
                            seed=derive_seed(3, index))
        single = drl.simulate("lowet_2025", population_of_config(config), 40, seed=config["seed"], progress=False)
        assert np.array_equal(combined["value"].isel(run=index).values, single["value"].values)
        one = sweep_run(combined, index)
        assert one.attrs["seed"] == derive_seed(3, index)
        assert np.array_equal(one["rpe"].values, single["rpe"].values)
        drl.plots.summary(one)  # a sweep's run is a complete run for figures
        assert one.encoding["source"].endswith(f"run_{index:04d}.nc")  # read from its own file, not the combined
    assert len({derive_seed(3, i) for i in range(4)}) == 4
    table = sweep(BASE, GRID, out="small", client=client, progress=False)
    assert list(table["status"]) == ["skipped"] * 4
    assert "0 done, 4 skipped, 0 failed" in capsys.readouterr().out


def test_a_sweep_has_drls_defaults_and_an_old_sweep_resumes_with_the_ones_it_was_made_with(client):
    """A sweep's base that leaves alpha and lam out gets drl.simulate's converging defaults (0.01, 0.95; sweeps
    took 0.1 and 0 before, a biased cue code without a word); a sweep made with the old defaults resumes as it was
    made, with a warning, instead of redoing and overwriting its runs with other parameters."""
    import json

    from drl.sweep.configs import grid_fingerprint

    base = {"task": "lowet_2025", "n_trials": 20, "tau": [0.2, 0.8], "seed": 1}
    grid = {"gamma": [0.8, 0.9]}
    table = sweep(base, grid, out="defaults", client=client, progress=False)
    run = drl.load(table.loc[0, "path"])
    like = drl.Population.grid(tau=[0.2, 0.8], gamma=0.8)  # drl.simulate's and drl run's defaults
    np.testing.assert_array_equal(run["alpha_pos"].values, like.alpha_pos)
    np.testing.assert_array_equal(run["lam"].values, like.lam)
    # a sweep made before: its runs and manifest carry alpha 0.1, lam 0 for a base that did not name them
    old = sweep({**base, "alpha": 0.1, "lam": 0.0}, grid, out="old", client=client, progress=False)
    manifest_path = Path("exps/old/sweep.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["fingerprint"] = grid_fingerprint(base, grid)
    manifest_path.write_text(json.dumps(manifest))
    before = {path: Path(path).stat().st_mtime_ns for path in old["path"]}
    with pytest.warns(UserWarning, match=r"was made when drl's defaults were alpha=0.1, lam=0.0; it resumes with "
                                         r"them \(drl's defaults are now alpha=0.01, lam=0.95"):
        again = sweep(base, grid, out="old", client=client, progress=False)
    assert list(again["status"]) == ["skipped", "skipped"]
    assert {path: Path(path).stat().st_mtime_ns for path in old["path"]} == before  # nothing redone


def test_drl_run_and_a_sweep_make_the_same_run_from_the_same_options(client, capsys):
    """One translator of options into a population (the sweep's configuration), one set of defaults: `drl run`
    with only τ and γ given equals the sweep run with the same base (before, α and λ differed: 0.01/0.95 against
    0.1/0)."""
    from drl.cli import main

    assert main(["run", "lowet_2025", "--out", "by_cli", "--tau", "0.2,0.8", "--gamma", "0.8,0.9",
                 "--trials", "30", "--quiet"]) == 0
    table = sweep({"task": "lowet_2025", "n_trials": 30, "tau": [0.2, 0.8], "gamma": [0.8, 0.9]}, {"seed": [0]},
                  out="by_sweep", client=client, progress=False)
    by_cli, by_sweep = drl.load("by_cli"), drl.load(table.loc[0, "path"])
    for name in ("alpha_pos", "alpha_neg", "gamma", "lam", "value", "rpe"):
        np.testing.assert_array_equal(by_cli[name].values, by_sweep[name].values, err_msg=name)


def test_an_interrupt_after_the_last_run_says_every_run_was_saved(client, monkeypatch):
    """Ctrl-C while the sweep winds down (the cluster closing, the header index written) came after every run was
    saved, and the command line said "nothing was published" (a flaky CLI test caught it)."""
    import drl.sweep.stacked as stacked

    def interrupted(files):
        raise KeyboardInterrupt

    monkeypatch.setattr(stacked, "index_headers", interrupted)
    with pytest.raises(KeyboardInterrupt) as caught:
        sweep(BASE, {"lam": [0.0, 0.5]}, out="wound_down", client=client, progress=False)
    assert caught.value.__notes__[-1].startswith("sweep wound_down: 2 of 2 runs were finished and saved")
    assert len(list(Path("exps/wound_down").glob("run_*.nc"))) == 2


def test_failing_configuration_is_reported(client, capsys):
    table = sweep(BASE, {"alpha": [0.1, 1.5, 0.2]}, out="bad", client=client, progress=False)
    assert list(table["status"]) == ["done", "failed", "done"]
    assert table.loc[1, "error"] == "ValueError: alpha must be in (0, 1]; got 1.5"
    assert "run 1 failed: alpha=1.5" in capsys.readouterr().out
    assert open_sweep("bad").sizes["run"] == 2


def test_killed_worker_leaves_every_run_done_or_failed(client):
    base = {**BASE, "n_trials": 3000, "tau": list(np.linspace(0.1, 0.9, 40))}
    grid = {"lam": [0.0, 0.3, 0.6, 0.9], "alpha": [0.05, 0.1]}

    def kill_one_worker():
        deadline = time.time() + 60
        while not list(Path("exps/killed").glob("run_*.nc")) and time.time() < deadline:
            time.sleep(0.02)
        worker = sorted(client.scheduler_info()["workers"])[0]
        try:
            client.run(os._exit, 1, workers=[worker])
        except Exception:  # noqa: BLE001 - the worker dies before it can answer
            pass

    pids_before = set(client.run(os.getpid).values())
    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    table = sweep(base, grid, out="killed", client=client, progress=False)
    killer.join()
    client.wait_for_workers(2, timeout=30)
    assert set(client.run(os.getpid).values()) != pids_before  # the nanny restarted the killed worker
    assert set(table["status"]) <= {"done", "failed"}
    assert (table["status"] == "done").sum() >= 7
    for path in table.loc[table["status"] == "done", "path"]:
        drl.load(path).close()  # every file written is a complete run
    assert not list(Path("exps/killed").glob(".*tmp"))


def test_sweep_bad_input(client):
    with pytest.raises(ValueError, match="unknown grid field 'lamda'.*Did you mean 'lam'"):
        sweep(BASE, {"lamda": [0.1]}, out="x", client=client)
    with pytest.raises(ValueError, match="grid\\['lam'\\] is empty"):
        sweep(BASE, {"lam": []}, out="x", client=client)
    with pytest.raises(ValueError, match="needs 'n_trials'"):
        sweep({"task": "lowet_2025"}, {"lam": [0.1]}, out="x", client=client)
    sweep(BASE, {"lam": [0.1]}, out="x", client=client, progress=False)
    with pytest.raises(ValueError, match="holds runs of a different sweep"):
        sweep(BASE, {"lam": [0.2]}, out="x", client=client)
    with pytest.raises(ValueError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        sweep(BASE, {"lam": [0.1]}, out="y", client="tcp://127.0.0.1:9")
    with pytest.raises(FileNotFoundError, match="no sweep at exps/none"):
        open_sweep("none")


def test_slurm_job_script_as_documented():
    """The SLURM recipe of docs/guide/sweeps.md, as far as the job script (no SLURM here)."""
    from dask_jobqueue import SLURMCluster

    from drl.sweep.cluster import target_workers

    cluster = SLURMCluster(cores=1, processes=1, memory="4GB", walltime="01:00:00", queue="normal",
                           account=None, log_directory="logs/slurm",
                           job_script_prologue=["export HDF5_USE_FILE_LOCKING=FALSE"],
                           scheduler_options={"dashboard_address": ":0"})
    try:
        script = cluster.job_script()
        cluster.adapt(minimum_jobs=0, maximum_jobs=32)  # the recipe's adapt (minimum 0 here: no sbatch to call)

        class NoneConnected:  # the jobs still queued: batches are sized by the 32 the cluster may run
            def __init__(self, cluster):
                self.cluster = cluster

            def scheduler_info(self):
                return {"workers": {}}

        assert target_workers(NoneConnected(cluster)) == 32
    finally:
        cluster.close()
    assert "#SBATCH -p normal" in script and "#SBATCH -t 01:00:00" in script
    assert "logs/slurm" in script
    assert "export HDF5_USE_FILE_LOCKING=FALSE" in script and "distributed.cli.dask_worker" in script


def test_default_local_cluster_is_started_and_closed():
    table = sweep(BASE, {"lam": [0.0, 0.5]}, out="local", progress=False)
    assert list(table["status"]) == ["done", "done"]
    assert np.array_equal(drl.load(table.loc[1, "path"])["lam"].values, [0.5, 0.5])


def test_a_shared_seed_sweep_runs_as_one_population_and_equals_one_by_one(client):
    grid = {"gamma": [0.6, 0.9, 0.99], "lam": [0.0, 0.9]}
    batched = sweep(BASE, grid, out="batched", client=client, progress=False, shared_seed=True)
    alone = sweep(BASE, grid, out="alone", client=client, progress=False, shared_seed=True, vectorize=False)
    assert list(batched["status"]) == list(alone["status"]) == ["done"] * 6
    for index in range(6):
        a, b = (drl.load(f"exps/{name}/run_{index:04d}.nc") for name in ("batched", "alone"))
        for name in ("value", "rpe", "reward", "weights", "predictor", "tau", "gamma", "lam", "alpha_pos"):
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
        for attrs in (a.attrs, b.attrs):
            attrs.pop("created"), attrs.pop("sweep_name")
        assert a.attrs == b.attrs
        assert a.attrs["seed"] == 3 and a.attrs["title"].endswith("2 predictors, 40 trials")
    from drl.sweep.run import _batches

    configs = [run_config(BASE, gamma=g, seed=3) for g in (0.6, 0.9, 0.99)]
    assert _batches([0, 1, 2], configs, 2, True) == [[0, 1], [2]]  # one group, split over two workers
    configs[2] = run_config(BASE, gamma=0.99, seed=4)  # another seed: another schedule, its own call
    assert _batches([0, 1, 2], configs, 1, True) == [[0, 1], [2]]


def test_drls_workers_get_glibcs_malloc_even_after_a_dask_cluster_poisoned_the_environment(client, monkeypatch):
    """Dask leaves MALLOC_TRIM_THRESHOLD_=65536 in the environment of a process that started a cluster, and later
    clusters inherit it (1000 decodes on drl's local cluster after a sweep on the user's own: 36 → 41 s)."""
    import dask

    from drl.sweep import map_runs
    from drl.sweep.cluster import MALLOC_TRIM, glibc_malloc_for_workers

    dasks = str(dask.config.get(f"distributed.nanny.pre-spawn-environ.{MALLOC_TRIM}"))
    monkeypatch.setenv(MALLOC_TRIM, dasks)  # what the fixture's cluster (or any earlier one) left
    with glibc_malloc_for_workers():
        assert MALLOC_TRIM not in os.environ
    assert os.environ[MALLOC_TRIM] == dasks  # the process's own environment is put back
    sweep(BASE, {"lam": [0.0, 0.5]}, out="malloc", client=client, progress=False)
    table = map_runs("malloc", lambda run: str(os.environ.get(MALLOC_TRIM)), progress=False)  # drl's own cluster
    assert list(table["value"]) == ["None", "None"]
    monkeypatch.setenv(MALLOC_TRIM, "131072")  # a value the user chose is theirs
    with glibc_malloc_for_workers():
        assert os.environ[MALLOC_TRIM] == "131072"


def test_a_worker_killed_as_the_cluster_starts_is_retried_then_said_plainly():
    """Dask's message for a worker that died while starting blames the user's ``__main__`` guard; drl retries
    once, then says what happened (issue: "killing a Dask worker as a sweep starts gives internal error")."""
    from drl.sweep.cluster import CLUSTER_ATTEMPTS, start_local_cluster

    dask_says = "Nanny failed to start.\nif __name__ == '__main__': freeze_support() ..."
    calls = []

    def dies_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise RuntimeError(dask_says)
        return "cluster"

    assert start_local_cluster(dies_once, 2) == "cluster" and len(calls) == 2
    assert calls[0]["n_workers"] == 2 and calls[0]["env"] == {"NUMBA_NUM_THREADS": "1"}

    def always_dies(**kwargs):
        calls.append(kwargs)
        raise RuntimeError(dask_says)

    calls.clear()
    with pytest.raises(ChildProcessError, match=r"could not start its 2 worker process\(es\) in 2 attempts") as e:
        start_local_cluster(always_dies, 2)
    assert len(calls) == CLUSTER_ATTEMPTS and "__main__" not in str(e.value) and isinstance(e.value, OSError)


ORPHANED = """
import threading, time, sys
from pathlib import Path
import numpy as np
from dask.distributed import Client, LocalCluster
from drl.sweep import sweep
from drl.sweep.cluster import NoWorkersError

if __name__ == "__main__":
    base = {"task": "lowet_2025", "n_trials": 1500, "tau": list(np.linspace(0.1, 0.9, 30)), "gamma": 0.9, "seed": 3}
    grid = {"lam": [0.0, 0.3, 0.6, 0.9], "alpha": [0.05, 0.1, 0.2]}
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)

    def end_the_jobs():  # every worker gone once the first run is saved, none coming back
        deadline = time.time() + 120
        while not list(Path("exps/orphaned").glob("run_*.nc")) and time.time() < deadline:
            time.sleep(0.02)
        cluster.scale(0)

    threading.Thread(target=end_the_jobs, daemon=True).start()
    started = time.monotonic()
    try:
        sweep(base, grid, out="orphaned", client=client, progress=False, vectorize=False, no_worker_timeout=3)
        print("FINISHED", flush=True)
    except NoWorkersError as error:
        print(f"STOPPED after {time.monotonic() - started:.0f} s: {error}", flush=True)
    import contextlib, os
    with contextlib.suppress(Exception):
        client.close(timeout=5)
        cluster.close(timeout=5)
    os._exit(0)  # what is tested is printed; a cluster without workers can be slow to close
"""


def test_a_sweep_whose_workers_are_all_gone_stops_and_says_what_was_saved_then_resumes(client, tmp_path):
    """A cluster whose every worker is gone (SLURM jobs cancelled, or past their walltime) once left the sweep
    waiting forever, printing nothing. It now stops after no_worker_timeout with what was saved, and a second
    call does the rest (the first cluster in a child process of its own)."""
    script = tmp_path / "orphaned.py"
    script.write_text(ORPHANED)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.stdout.startswith("STOPPED"), result.stdout + result.stderr[-2000:]
    assert "no Dask worker for 3 s" in result.stdout and "cluster.adapt" in result.stdout
    assert "runs were finished and saved in exps/orphaned before the workers were lost" in result.stdout
    saved = len(list(Path("exps/orphaned").glob("run_*.nc")))
    assert 1 <= saved < 12 and not list(Path("exps/orphaned").glob(".*tmp"))
    base = {**BASE, "n_trials": 1500, "tau": list(np.linspace(0.1, 0.9, 30))}
    grid = {"lam": [0.0, 0.3, 0.6, 0.9], "alpha": [0.05, 0.1, 0.2]}
    table = sweep(base, grid, out="orphaned", client=client, progress=False, vectorize=False)
    assert (table["status"] == "skipped").sum() == saved and (table["status"] == "done").sum() == 12 - saved


def test_batches_are_sized_by_the_workers_a_cluster_is_sized_for(monkeypatch):
    """Jobs still queued when a sweep starts: batches sized by the connected workers (none) put every run on one
    worker; they are sized by the cluster's jobs × processes, or its adaptive maximum."""
    from drl.sweep.cluster import allocated_cpus, target_workers
    from drl.sweep.run import _batches

    class Cluster:
        worker_spec = {i: {"options": {"processes": 2}} for i in range(3)}  # 3 jobs of 2 worker processes

    class Adaptive:
        maximum = 10

    class Fake:
        cluster = Cluster()

        def scheduler_info(self):
            return {"workers": {}}

    assert target_workers(Fake()) == 6
    Cluster._adaptive = Adaptive()
    assert target_workers(Fake()) == 10
    configs = [run_config({**BASE, "lam": lam, "seed": 3}) for lam in np.linspace(0, 0.9, 9)]
    assert len(_batches(list(range(9)), configs, target_workers(Fake()), True)) == 9  # one run per worker
    assert len(_batches(list(range(9)), configs, 1, True)) == 1  # what the connected count (0 → 1) gave
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "3")
    assert allocated_cpus() == 3  # an sbatch job's CPUs, not the node's
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "2")
    assert allocated_cpus() == 2


def test_map_runs_applies_an_analysis_to_every_run_beside_its_file(client):
    """map_runs: one row per run with its grid fields and the function's result, equal to the same analysis run
    in this process on each run's file; an analysis that raises keeps its row with the error."""
    from drl.sweep import map_runs

    sweep(BASE, GRID, out="mapped", client=client, progress=False)

    def summary(run):
        return {"mean_value": float(run["value"].mean()), "predictors": run.sizes["predictor"]}

    table = map_runs("mapped", summary, client=client, progress=False)
    assert list(table.index) == [0, 1, 2, 3] and set(table["lam"]) == {0.0, 0.9}
    for index, row in table.iterrows():
        with drl.load(f"mapped/run_{index:04d}") as run:
            assert row["mean_value"] == pytest.approx(float(run["value"].mean()))
            assert row["alpha"] == run.attrs["sweep_config"]["alpha"] and row["error"] == ""

    def fails_on_long_traces(run):
        if run.attrs["sweep_config"]["lam"] > 0.5:
            raise ValueError("too long")
        return 1.0

    partial = map_runs("mapped", fails_on_long_traces, client=client, progress=False)
    assert list(partial["error"] == "") == [True, True, False, False]
    assert partial.loc[2, "error"] == "ValueError: too long" and partial.loc[0, "value"] == 1.0
    with pytest.raises(TypeError, match="function must be callable"):
        map_runs("mapped", 3, client=client)
    with pytest.raises(FileNotFoundError, match="no sweep at"):
        map_runs("nothing", summary, client=client)
