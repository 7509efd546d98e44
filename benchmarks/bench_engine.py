"""Engine throughput and memory. Prints figures; asserts nothing.

For each configuration: predictor-steps per second of drl.simulate, the same for a naive per-step loop
reference (written here, run on a slice small enough to finish in seconds), their ratio, and peak memory.
Run: .venv/bin/python benchmarks/bench_engine.py [--quick]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import torch

import drl
from drl import Population, RewardEvent, Task, TrialType


def naive_reference(task, pop, schedule, n_trials):
    """Per-predictor, per-step loops over numpy arrays: the drl_sim-style implementation."""
    x = drl.make_features("csc").build(task)
    rewards = schedule.reward.numpy().astype(np.float64)
    types = schedule.trial_type.numpy()
    weights = np.zeros((len(pop), x.shape[0], x.shape[2]))
    for n in range(n_trials):
        m = types[n]
        for p in range(len(pop)):
            g = pop.gamma[p] ** task.dt
            rho = (pop.gamma[p] * pop.lam[p]) ** task.dt
            w = weights[p, m]
            v = x[m] @ w
            trace = np.zeros(x.shape[2])
            total = np.zeros(x.shape[2])
            for k in range(1, x.shape[1] + 1):
                trace = rho * trace + x[m, k - 1]
                v_k = v[k] if k < x.shape[1] else 0.0
                r_k = rewards[n, k] if k < x.shape[1] else 0.0
                delta = g * (r_k + v_k) - v[k - 1]
                total += (pop.alpha_pos[p] if delta > 0 else pop.alpha_neg[p]) * delta * trace
            weights[p, m] = w + total
    return weights


def measure(name, task, pop, n_trials, reference_trials, reference_predictors, repeats=1):
    """Best of ``repeats`` (the first large run of a process also pays the page faults of its fresh memory)."""
    drl.simulate(task, pop[:4], 5, progress=False)  # warm-up
    tracemalloc.start()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ds = drl.simulate(task, pop, n_trials, progress=False, record=("value", "rpe"))
        times.append(time.perf_counter() - t0)
        del ds
    elapsed = min(times)
    cold = f" (first run {times[0]:.2f} s)" if repeats > 1 else ""
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    steps = len(pop) * n_trials * task.n_steps
    sub = pop[:reference_predictors]
    sched = task.schedule(reference_trials, seed=0)
    t0 = time.perf_counter()
    naive_reference(task, sub, sched, reference_trials)
    ref_elapsed = time.perf_counter() - t0
    ref_rate = len(sub) * reference_trials * task.n_steps / ref_elapsed
    rate = steps / elapsed
    recorded_mb = 2 * 4 * steps / 1e6
    print(f"{name:<44} P={len(pop):>5} N={n_trials:>5} K={task.n_steps:>3}  {elapsed:7.3f} s{cold}  "
          f"{rate:10.3e} pred-steps/s   naive {ref_rate:9.3e}/s  ratio {rate / ref_rate:8.0f}x   "
          f"recorded {recorded_mb:7.1f} MB  peak numpy/python heap {peak / 1e6:7.1f} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller large configurations")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU, V and δ recorded")
    drl_sim_task = Task("drl_sim_notebook", 7.0, 0.1,
                        (TrialType("cue", 2.0, (RewardEvent(4.0, magnitudes=(0.1, 1, 5, 20)),)),))
    measure("drl_sim notebook: 20 pred × 200 trials", drl_sim_task, Population.sample(20, tau=(0.2, 0.8),
            gamma=(0.3, 0.8), lam=0.2), 200, 20, 20)
    delay = drl.get_task("delay")
    measure("drl_sim delay: 6 trial types × 17 steps", delay, Population.sample(20, tau=(0.2, 0.8),
            gamma=(0.3, 0.8), lam=0.2), 200, 50, 20)
    n_trials = 500 if args.quick else 2000
    measure("P=1000, shared λ", drl_sim_task, Population.sample(1000, tau=(0.05, 0.95), gamma=0.9, lam=0.8),
            n_trials, 3, 100, repeats=3)
    measure("P=1000, per-predictor λ and γ", drl_sim_task,
            Population.sample(1000, tau=(0.05, 0.95), gamma=(0.5, 0.99), lam=(0.0, 1.0)), n_trials, 3, 100,
            repeats=3)
    print(f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


if __name__ == "__main__":
    main()
