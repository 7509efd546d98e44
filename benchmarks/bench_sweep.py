"""Sweep wall time on a LocalCluster with 1 and with 2 worker processes. Prints figures; asserts nothing.

16 runs (4 λ × 4 α) of lowet_2025, 40 predictors × 2000 trials each. The cluster start-up is excluded; the
time includes scheduling, simulation and writing every file.
Run: .venv/bin/python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
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


def main():
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        one = timed(1, "one")
        two = timed(2, "two")
    steps = 16 * 40 * 2000 * 61
    print(f"16-run sweep ({steps / 1e6:.0f} M predictor-steps, files written): 1 worker {one:.1f} s, "
          f"2 workers {two:.1f} s, speed-up {one / two:.2f}× (on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
