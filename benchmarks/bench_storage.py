"""Storage throughput and streaming memory. Prints figures; asserts nothing.

1. save/load of an in-memory run against np.save/np.load of its V and δ, for each compression: time, ratio
   and file bytes per predictor-step.
2. A streamed run (simulate(..., out=...)) of P × N × K in a child process: wall time and peak RSS, for two
   numbers of trials, showing the peak does not grow with the number of trials.
3. Long, sparsely recorded streamed runs (3 predictors, every 1000th trial kept; 1e5 / 5e5 / 2e6 trials):
   peak RSS, which stays flat because the schedule is drawn block by block (drl before: 0.4 / 0.8 / 2.1 GB).
Run: .venv/bin/python benchmarks/bench_storage.py [--predictors 1000 --trials 20000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import drl
from drl.runs.store import load, save


def save_load(tmp: Path):
    """drl.save / drl.load + reading V and δ, against np.save / np.load of the same arrays, for each compression
    (best of 3, each write to a new file; np.save's time is the page cache's, not the disk's, as drl's is)."""
    import numpy as np

    pop = drl.Population.sample(500, tau=(0.05, 0.95), gamma=[0.8, 0.9, 0.95], lam=0.9)
    ds = drl.simulate("hyp_var", pop, 2000, progress=False, record=("value", "rpe"))
    raw = sum(ds[v].nbytes for v in ("value", "rpe"))
    steps = ds.sizes["predictor"] * ds.sizes["trial"] * ds.sizes["time"]

    def best(run):
        times = []
        for i in range(3):
            t0 = time.perf_counter()
            run(i)
            times.append(time.perf_counter() - t0)
        return min(times)

    np_save = best(lambda i: (np.save(tmp / f"v{i}.npy", ds.value.values), np.save(tmp / f"d{i}.npy", ds.rpe.values)))
    np_load = best(lambda i: (np.load(tmp / f"v{i}.npy"), np.load(tmp / f"d{i}.npy")))
    print(f"V and δ: {raw / 1e6:.0f} MB (P=500, N=2000, K={ds.sizes['time']}); np.save {np_save:.2f} s, np.load "
          f"{np_load:.2f} s")
    for compression in (None, "zlib", "blosc_zstd"):  # the default first
        name = f"bench_{compression}"
        write = best(lambda i, c=compression, n=name: save(ds, tmp / f"{n}_{i}.nc", compression=c))

        def read(i, n=name):
            back = load(tmp / f"{n}_{i}.nc")
            back.value.values, back.rpe.values  # noqa: B018
            back.close()

        read_time = best(read)
        size = (tmp / f"{name}_0.nc").stat().st_size
        print(f"  drl.save, {str(compression):<10}: {write:.2f} s = {write / np_save:.1f}× np.save; drl.load + V, δ "
              f"{read_time:.2f} s = {read_time / np_load:.1f}× np.load; file {size / 1e6:.0f} MB = "
              f"{size / steps:.2f} bytes per predictor-step (8 uncompressed)")


# Peak RSS of the child: VmHWM of its own address space (ru_maxrss would carry over the parent's peak, which
# Linux keeps across fork + exec).
PEAK = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1e3"

CHILD = textwrap.dedent("""
    import sys, time, drl
    p, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    pop = drl.Population.sample(p, tau=(0.05, 0.95), gamma=0.9, lam=0.5)
    t0 = time.perf_counter()
    drl.simulate("hyp_unif", pop, n, out=out, progress=False, record=("value", "rpe"))
    print(time.perf_counter() - t0, PEAK)
""").replace("PEAK", PEAK)


def streamed(tmp: Path, predictors: int, trials: int):
    out = tmp / f"stream_{trials}.nc"
    res = subprocess.run([sys.executable, "-c", CHILD, str(predictors), str(trials), str(out)], check=True,
                         capture_output=True, text=True)
    wall, rss = (float(v) for v in res.stdout.split())
    raw = predictors * trials * 71 * 8
    print(f"streamed P={predictors} N={trials} K=71: {wall:.1f} s, {raw / 1e9:.1f} GB of V and δ "
          f"({raw / 1e6 / wall:.0f} MB/s), file {out.stat().st_size / 1e9:.2f} GB, peak RSS {rss:.0f} MB")
    out.unlink()


LONG_CHILD = textwrap.dedent("""
    import sys, time, drl
    n, out = int(sys.argv[1]), sys.argv[2]
    t0 = time.perf_counter()
    drl.simulate("hyp_unif", drl.Population.sample(3, seed=0), n, out=out, progress=False, record_trials=1000)
    print(time.perf_counter() - t0, PEAK)
""").replace("PEAK", PEAK)


def long_sparse(tmp: Path, trials: int):
    out = tmp / f"long_{trials}.nc"
    res = subprocess.run([sys.executable, "-c", LONG_CHILD, str(trials), str(out)], check=True,
                         capture_output=True, text=True)
    wall, rss = (float(v) for v in res.stdout.split())
    print(f"streamed P=3 N={trials:.0e} recording every 1000th trial: {wall:.1f} s "
          f"({trials / wall:.0f} trials/s), peak RSS {rss:.0f} MB")
    out.unlink()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--predictors", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=20000)
    parser.add_argument("--long", type=float, nargs="*", default=[1e5, 5e5, 2e6],
                        help="trial counts of the long sparsely recorded runs")
    parser.add_argument("--save-load", action="store_true", help="only the save/load comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        save_load(Path(tmp))
        if args.save_load:
            return
        streamed(Path(tmp), args.predictors, max(1, args.trials // 10))
        streamed(Path(tmp), args.predictors, args.trials)
        for trials in args.long:
            long_sparse(Path(tmp), int(trials))
    print(f"parent peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


if __name__ == "__main__":
    main()
