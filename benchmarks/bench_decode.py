"""Decoders against the analyses they replace. Prints figures; asserts nothing.

1. Distribution imputation (Dabney et al. 2020): drl's ``decode_distribution`` against a many-restart reference
   written here (30 random starts of scipy's L-BFGS-B on the same objective, the best kept), on six distribution
   shapes × 10/20/40 predictors, from exact and from 2 %-noisy expectiles: objective, W1 (in units of the true
   standard deviation) and seconds. "reaches" means drl's objective is at most 1.05× the reference's, or both
   are zero to float rounding.
2. Timing (Masset et al. 2025): ``decode_timing`` (fixed default ridge, and ``ridge="gcv"``) against a
   regularised-SVD inverse written here (Tikhonov filter factors, clipped at 0 and normalised; its
   regularisation picked with the truth, so the best it can do), at three noise levels: W1 in seconds, median
   over 20 noise draws.
3. A simulated run: responses + decode seconds and W1; the shuffled control.

Run: .venv/bin/python benchmarks/bench_decode.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import optimize, stats

import drl
from drl import decode
from drl.decode.compiled import expectile_objective as _expectile_objective
from drl.tasks.distributions import RewardDistribution


def shapes() -> dict[str, RewardDistribution]:
    x = np.linspace(0.1, 20, 40)

    def make(values, weights):
        weights = np.asarray(weights, float)
        return RewardDistribution(np.asarray(values, float), weights / weights.sum())

    return {
        "dabney (7 atoms)": drl.get_task("dabney_variable_magnitude").reward_distribution("variable"),
        "skewed": make(x, np.exp(-x / 2.5)),
        "bimodal": make(x, np.exp(-((x - 3) ** 2) / 2) + np.exp(-((x - 15) ** 2) / 2)),
        "uniform": make(x, np.ones_like(x)),
        "two-point": make([1.0, 10.0], [0.8, 0.2]),
        "gaussian": make(x, np.exp(-((x - 10) ** 2) / 8)),
    }


def many_restart_reference(levels, values, bounds, n_samples=100, restarts=30, seed=0):
    """The brute-force answer: L-BFGS-B on the same objective from ``restarts`` uniform random starts."""
    rng = np.random.default_rng(seed)
    lo, hi = bounds
    best = None
    for _ in range(restarts):
        result = optimize.minimize(_expectile_objective, rng.uniform(lo, hi, n_samples), args=(levels, values),
                                   jac=True, method="L-BFGS-B", bounds=[(lo, hi)] * n_samples,
                                   options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12})
        if best is None or result.fun < best.fun:
            best = result
    return np.sort(best.x), float(best.fun)


def imputation_table(quick: bool) -> None:
    print("1. distribution imputation: drl vs 30-restart L-BFGS-B (objective, W1/std, seconds)")
    print(f"{'shape':<17} {'noise':>5} {'P':>3} | {'drl obj':>8} {'W1':>6} {'s':>5} | {'ref obj':>8} {'W1':>6} "
          f"{'s':>5} | verdict")
    rng = np.random.default_rng(1)
    reached, total, drl_time, ref_time = 0, 0, 0.0, 0.0
    for noise in (0.0, 0.02):
        for name, true in shapes().items():
            for n in (10, 20, 40) if not quick else (10, 40):
                levels = (np.arange(n) + 0.5) / n
                values = decode.expectiles(true, levels) * (1 + noise * rng.standard_normal(n))
                start = time.perf_counter()
                decoded = decode.decode_distribution(levels, values)
                seconds = time.perf_counter() - start
                start = time.perf_counter()
                reference, reference_loss = many_restart_reference(levels, values, _default_bounds(values))
                seconds_ref = time.perf_counter() - start
                zero = (1e-6 * np.ptp(values)) ** 2
                ok = decoded.loss <= 1.05 * reference_loss or (decoded.loss <= zero and reference_loss <= zero)
                reached += ok
                total += 1
                drl_time += seconds
                ref_time += seconds_ref
                w1 = decode.wasserstein(decoded, true) / true.std
                w1_ref = decode.wasserstein(reference, true) / true.std
                print(f"{name:<17} {noise:>5.0%} {n:>3} | {decoded.loss:>8.1e} {w1:>6.3f} {seconds:>5.2f} | "
                      f"{reference_loss:>8.1e} {w1_ref:>6.3f} {seconds_ref:>5.2f} | "
                      f"{'reaches' if ok else 'WORSE'}")
    print(f"drl reaches the reference's objective in {reached}/{total} cases; total time {drl_time:.1f} s vs "
          f"{ref_time:.1f} s ({ref_time / drl_time:.1f}× faster)\n")


def _default_bounds(values):
    span = float(np.ptp(values))
    low = float(values.min()) - 0.5 * span
    return (max(low, 0.0) if values.min() >= 0 else low, float(values.max()) + 0.5 * span)


SVD_ALPHAS = np.geomspace(1e-4, 1.0, 25)  # the regularisations the SVD reference may pick from


def svd_reference(gamma, values, times, true_probability, alphas=SVD_ALPHAS):
    """Regularised-SVD inverse of the discount matrix: Tikhonov filter factors s/(s² + α²·s_max²), negative
    probabilities clipped, normalised. Returns the result at the α best for the truth (an oracle choice)."""
    matrix = gamma[:, None] ** times[None, :]
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    best = None
    for alpha in alphas:
        filtered = s / (s**2 + (alpha * s[0]) ** 2)
        p = np.clip(vt.T @ (filtered * (u.T @ values)), 0, None)
        p = p / p.sum() if p.sum() > 0 else np.full(times.size, 1 / times.size)
        w1 = stats.wasserstein_distance(times, times, p, true_probability)
        if best is None or w1 < best[0]:
            best = (w1, alpha)
    return best


def timing_table(quick: bool) -> None:
    print("2. timing: decode_timing vs a regularised-SVD inverse (W1 in s, median of 20 noise draws)")
    gamma = np.linspace(0.5, 0.99, 30)
    times = np.arange(0, 12.0 + 1e-9, 0.5)
    cases = {
        "one delay 3 s": {3.0: 1.0},
        "Masset's four delays": {0.5: 0.25, 1.5: 0.25, 3.5: 0.25, 9.5: 0.25},
        "two delays 1 s / 6 s": {1.0: 0.5, 6.0: 0.5},
    }
    print(f"{'distribution':<22} {'noise':>6} | {'drl':>6} {'drl gcv':>8} {'(ridge)':>8} | {'SVD':>6} {'(α)':>7}")
    rng = np.random.default_rng(0)
    draws = 5 if quick else 20
    for name, delays in cases.items():
        true = np.zeros(times.size)
        for delay, probability in delays.items():
            true[np.argmin(np.abs(times - delay))] += probability
        clean = (gamma[:, None] ** times[None, :]) @ true
        for noise in (0.001, 0.01, 0.05):
            rows = []
            for _ in range(draws):
                values = clean * (1 + noise * rng.standard_normal(gamma.size))
                fixed = decode.decode_timing(gamma, values, times)
                gcv = decode.decode_timing(gamma, values, times, ridge="gcv")
                w1_svd, alpha = svd_reference(gamma, values, times, true)
                rows.append((stats.wasserstein_distance(times, times, fixed.probability.values, true),
                             stats.wasserstein_distance(times, times, gcv.probability.values, true),
                             gcv.attrs["ridge"], w1_svd, alpha))
            med = np.median(np.array(rows), axis=0)
            print(f"{name:<22} {noise:>6.1%} | {med[0]:>6.2f} {med[1]:>8.2f} {med[2]:>8.0e} | {med[3]:>6.2f} "
                  f"{med[4]:>7.0e}")
    print()


def simulated_run() -> None:
    print("3. a simulated run (20 τ, 3000 trials)")
    true = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    levels = (np.arange(20) + 0.5) / 20
    run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=list(levels), alpha=0.02), 3000,
                       progress=False)
    start = time.perf_counter()
    decoded = decode.decode_reward_distribution(run)
    seconds = time.perf_counter() - start
    w1 = decode.wasserstein(decoded, true)
    reversal = decode.reward_responses(run)["reversal_point"].values
    control = decode.shuffle_control(levels, reversal, true, n_shuffles=20)
    print(f"responses + decode {seconds:.3f} s, W1 = {w1:.3f} = {w1 / true.std:.2f} × std; shuffled control W1 "
          f"median {np.median(control):.2f}, min {control.min():.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases and noise draws")
    args = parser.parse_args()
    imputation_table(args.quick)
    timing_table(args.quick)
    simulated_run()


if __name__ == "__main__":
    main()
