"""Distributional bootstraps: accuracy against exact truth, and the speed of expectile imputation.

Prints
  1. for each rule × bootstrap, on two tasks, the error of the learned values at the cue against the exact
     τ-expectiles / τ-quantiles of the return (Task.return_distribution), as % of the true spread;
  2. the run time of 50-predictor × 5,000-trial imputed runs (50 τ in one γ group, and 5 γ × 10 τ), in trials/s
     and predictor-steps/s, against `own`;
  3. the imputation (compiled, one problem at a time, as a run calls it; and its torch definition, batched)
     against a naive reference written here: one scipy L-BFGS-B solve of the same
     expectile conditions per (step, γ group), as the papers' analysis code imputes, timed on the same problems
     and extrapolated to the run; and the accuracy of both (max expectile error of the imputed samples).

    python benchmarks/bench_bootstrap.py [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from scipy import optimize

import drl
from drl import Population, RewardEvent, Task, TrialType
from drl.decode import expectiles
from drl.engine.bootstrap import impute_expectile_samples

LEVELS = (np.arange(10) + 0.5) / 10
TASKS = {
    "1 or 4 µl": Task("one_or_four", 3.0, 0.1, (TrialType("a", 0.5, (RewardEvent(1.5, magnitudes=(1.0, 4.0)),)),)),
    "two events": Task("two_events", 3.0, 0.1, (TrialType("a", 0.5, (
        RewardEvent(1.0, magnitudes=(1.0, 2.0)), RewardEvent(2.0, magnitudes=(3.0,), delivery_probability=0.4))),)),
}


def quantiles(distribution, levels):
    cdf = np.cumsum(distribution.probabilities)
    return distribution.values[np.searchsorted(cdf, np.asarray(levels) - 1e-12)]


def accuracy_table(n_trials: int) -> None:
    print(f"1. V(cue) against the exact return statistics (10 τ, γ 0.9/s, λ 0.9, dt 0.1 s, {n_trials} trials); "
          "max error and spread as % of the true spread")
    print(f"   {'task':<12} {'rule':<10} {'bootstrap':<10} {'max error':>10} {'spread':>8}")
    for name, task in TASKS.items():
        exact = task.return_distribution("a", 0.9, time=0.6)
        for rule, alpha in (("expectile", 0.02), ("quantile", 0.01)):
            truth = expectiles(exact, LEVELS) if rule == "expectile" else quantiles(exact, LEVELS)
            spread = np.ptp(truth)
            for bootstrap in ("own", "random", "imputed"):
                pop = Population.sample(LEVELS.size, tau=LEVELS, alpha=alpha, gamma=0.9, lam=0.9)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    ds = drl.simulate(task, pop, n_trials, rule=rule, bootstrap=bootstrap, progress=False,
                                      record=("value",), record_times=[0.5])
                got = ds.value.isel(trial=slice(n_trials // 2, None), time=0).mean("trial").values
                print(f"   {name:<12} {rule:<10} {bootstrap:<10} {100 * np.abs(got - truth).max() / spread:9.1f}% "
                      f"{100 * np.ptp(got) / spread:7.0f}%")


def run_speed(n_trials: int) -> None:
    print(f"\n2. run time, 50 predictors × {n_trials} trials, two-event task (imputation at its random steps)")
    task = TASKS["two events"]
    for label, pop in (
        ("50 τ, one γ", Population.grid(tau=list((np.arange(50) + 0.5) / 50), alpha=0.02, gamma=0.9, lam=0.9)),
        ("10 τ × 5 γ", Population.grid(tau=list(LEVELS), alpha=0.02, gamma=[0.6, 0.7, 0.8, 0.9, 0.95], lam=0.9)),
    ):
        for bootstrap in ("own", "imputed"):
            start = time.perf_counter()
            drl.simulate(task, pop, n_trials, bootstrap=bootstrap, progress=False, record=("value",),
                         record_trials=50)
            seconds = time.perf_counter() - start
            print(f"   {label:<12} {bootstrap:<8} {seconds:6.1f} s   {n_trials / seconds:8.0f} trials/s   "
                  f"{len(pop) * n_trials * task.n_steps / seconds:.2e} predictor-steps/s")


def _naive_impute(levels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The reference: one scipy solve per problem, minimising Σ_i F_i(z)² (Dabney et al. 2020's imputation)."""

    def objective(z):
        diff = z[None, :] - values[:, None]
        weight = np.where(diff > 0, levels[:, None], 1 - levels[:, None])
        g = (weight * diff).mean(1)
        return float(np.sum(g**2)), 2 * (g[:, None] * weight).sum(0) / z.size

    start = 2 * values - values.mean()
    return optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                             options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12}).x


def _error(samples: np.ndarray, levels: np.ndarray, values: np.ndarray) -> float:
    """Mean over problems of the largest expectile error of the samples, as a fraction of the spread."""
    n = levels.size
    back = np.array([expectiles(drl.RewardDistribution(np.sort(s), np.full(n, 1 / n)), levels) for s in samples])
    return float(np.mean(np.abs(back - values).max(1) / np.ptp(values, axis=1)))


def solver_speed(n_problems: int) -> None:
    print(f"\n3. imputing {n_problems} problems (noisy expectiles of 7-atom distributions), drl vs one scipy "
          "solve each")
    rng = np.random.default_rng(0)
    atoms = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0])
    for n in (10, 50):
        levels = (np.arange(n) + 0.5) / n
        exact = expectiles(drl.RewardDistribution(atoms, np.full(7, 1 / 7)), levels)
        values = exact[None] * rng.uniform(0.3, 1.0, (n_problems, 1)) + rng.normal(0, 0.01 * np.ptp(exact),
                                                                                     (n_problems, n))
        lv, ev, max_iter = torch.tensor(np.tile(levels, (n_problems, 1))), torch.tensor(values), 8 if n <= 16 else 20
        impute_expectile_samples(lv[:1], ev[:1], max_iter=max_iter)  # compiled (or loaded from numba's cache) once
        start = time.perf_counter()
        batched = np.concatenate([impute_expectile_samples(lv[i:i + 1], ev[i:i + 1], max_iter=max_iter).numpy()
                                  for i in range(n_problems)])  # as the engine does: a few problems per call
        t_batched = time.perf_counter() - start
        start = time.perf_counter()
        impute_expectile_samples(lv, ev, max_iter=max_iter, compiled=False)
        t_torch = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(n_problems):
            impute_expectile_samples(lv[i:i + 1], ev[i:i + 1], max_iter=max_iter, compiled=False)
        t_torch_one = time.perf_counter() - start
        start = time.perf_counter()
        naive = np.stack([_naive_impute(levels, v) for v in values])
        t_naive = time.perf_counter() - start
        print(f"   N = {n:2d}: torch definition {1e3 * t_torch_one / n_problems:6.2f} ms/problem one at a time, "
              f"{1e3 * t_torch / n_problems:6.2f} batched")
        print(f"          drl {1e3 * t_batched / n_problems:6.2f} ms/problem (error "
              f"{100 * _error(batched, levels, values):.1f} % of spread), scipy {1e3 * t_naive / n_problems:6.1f} "
              f"ms/problem (error {100 * _error(naive, levels, values):.1f} %): {t_naive / t_batched:.0f}× faster")
        # a 5,000-trial run of the two-event task with imputation at every step between cue and reward (20
        # steps), as an implementation without the equivariance shortcut would need:
        per_run = 5000 * 20 * t_naive / n_problems
        print(f"          naive, every step of a 5,000-trial run: {per_run / 60:.0f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trials and problems")
    args = parser.parse_args()
    torch.manual_seed(0)
    accuracy_table(2000 if args.quick else 8000)
    run_speed(1000 if args.quick else 5000)
    solver_speed(20 if args.quick else 100)


if __name__ == "__main__":
    main()
