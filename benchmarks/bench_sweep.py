"""Sweep wall time on a LocalCluster with 1 and with 2 worker processes, and reading a large sweep back. Prints
figures; asserts nothing.

1. 16 runs (4 λ × 4 α) of lowet_2025, 40 predictors × 2000 trials each. The cluster start-up is excluded; the
   time includes scheduling, simulation and writing every file.
2. ``--analysis N``: a sweep of N runs (9 τ × 500 trials of dabney_variable_magnitude, α varied), then
   ``open_sweep`` (with the header index the sweep wrote, and with every header read), ``sweep_run`` + a
   distribution decode of a few runs, from each run's own file (drl now) and from the combined Dataset (drl
   before: its cost grew with the sweep), and ``map_runs`` decoding every run on drl's own local cluster.
Run: .venv/bin/python benchmarks/bench_sweep.py [--analysis 200]
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time

import numpy as np
from bench_engine import busy_neighbour  # noqa: E402 - a sibling script (benchmarks/ on sys.path)
from dask.distributed import Client, LocalCluster

from drl.sweep import sweep

BASE = {"task": "lowet_2025", "n_trials": 2000, "tau": list(np.linspace(0.05, 0.95, 20)), "gamma": [0.8, 0.95]}
GRID = {"lam": [0.0, 0.3, 0.6, 0.9], "alpha": [0.02, 0.05, 0.1, 0.2]}


def timed(n_workers: int, out: str) -> float:
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        start = time.perf_counter()
        table = sweep(BASE, GRID, out=out, client=client, progress=False)
        seconds = time.perf_counter() - start
    assert (table["status"] == "done").all(), table
    return seconds


def analysis(n_runs: int) -> None:
    import warnings

    from drl import decode
    from drl.sweep import open_sweep, sweep_run

    base = {"task": "dabney_variable_magnitude", "n_trials": 500, "tau": list(np.linspace(0.1, 0.9, 9)),
            "gamma": 1.0, "seed": 0}
    grid = {"alpha": list(np.linspace(0.01, 0.2, n_runs))}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        start = time.perf_counter()
        sweep(base, grid, out="big", client=client, progress=False, shared_seed=True)
        made = time.perf_counter() - start
    start = time.perf_counter()
    combined = open_sweep("big")  # with the header index the sweep wrote
    opened = time.perf_counter() - start
    from drl.sweep.stacked import HEADER_INDEX

    os.remove(os.path.join("exps", "big", HEADER_INDEX))
    start = time.perf_counter()
    open_sweep("big")  # every header read (a sweep made before the index)
    opened_cold = time.perf_counter() - start
    runs = [0, n_runs // 4, n_runs // 2, 3 * n_runs // 4, n_runs - 1]
    timings = {}
    with warnings.catch_warnings():  # a first decode loads the compiled objective (numba's cache): not a run's cost
        warnings.simplefilter("ignore")
        decode.decode_reward_distribution(sweep_run(combined, 1))
    for label, files in (("own file", combined.attrs["run_files"]), ("combined Dataset", {})):
        combined.attrs["run_files"] = files
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for run in runs:
                decode.decode_reward_distribution(sweep_run(combined, run))
        timings[label] = (time.perf_counter() - start) / len(runs)
    import drl
    from drl.sweep import map_runs

    truth = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    for label, beside in (("idle", contextlib.nullcontext), ("beside a process spinning on a core", busy_neighbour)):
        with beside():
            start = time.perf_counter()  # drl's own local cluster (a worker per CPU), started and closed, as a user
            mapped = map_runs("big", lambda run: decode.wasserstein(decode.decode_reward_distribution(run), truth),
                              progress=False)
            every = time.perf_counter() - start
        print(f"map_runs, {label}: every run decoded (W1 to the truth) on drl's local cluster in {every:.1f} s, its "
              f"start included ({int((mapped['error'] != '').sum())} errors)")
    print(f"{n_runs}-run sweep (9 predictors × 500 trials each): made in {made:.1f} s; open_sweep {opened:.2f} s "
          f"(header index), {opened_cold:.2f} s (every header read); "
          f"sweep_run + decode per run: {timings['own file']:.3f} s from its own file, "
          f"{timings['combined Dataset']:.2f} s from the combined Dataset "
          f"(every run: {n_runs * timings['own file']:.0f} s against {n_runs * timings['combined Dataset']:.0f} s)")


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--analysis", type=int, default=0, help="runs of the read-back benchmark (0: skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        if args.analysis:
            analysis(args.analysis)
            return
        one = timed(1, "one")
        two = timed(2, "two")
    steps = 16 * 40 * 2000 * 61
    print(f"16-run sweep ({steps / 1e6:.0f} M predictor-steps, files written): 1 worker {one:.1f} s, "
          f"2 workers {two:.1f} s, speed-up {one / two:.2f}× (on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
