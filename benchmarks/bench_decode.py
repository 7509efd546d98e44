"""Decoder timings and accuracy. Prints figures; asserts nothing.

Distribution decode (expectile imputation, 100 samples) for 20 and 200 predictors: seconds and W1 against the
true distribution, from exact expectiles and from a simulated run; against a naive reference written here
(Dabney et al.'s approach: many random restarts of a derivative-free minimiser); the shuffled control.
Run: .venv/bin/python benchmarks/bench_decode.py
"""

from __future__ import annotations

import time

import numpy as np
from scipy import optimize

import drl
from drl import decode
from drl.decode.arrays import _expectile_objective


def naive_decode(levels, values, n_samples=100, restarts=20, seed=0):
    """Random restarts of Nelder–Mead on the same objective without its gradient."""
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(restarts):
        x0 = rng.uniform(values.min(), values.max(), n_samples)
        result = optimize.minimize(lambda z: _expectile_objective(z, levels, values)[0], x0,
                                   method="Nelder-Mead", options={"maxiter": 2000})
        if best is None or result.fun < best.fun:
            best = result
    return np.sort(best.x)


def main():
    true = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    for n in (20, 200):
        levels = (np.arange(n) + 0.5) / n
        exact = decode.expectiles(true, levels)
        start = time.perf_counter()
        decoded = decode.decode_distribution(levels, exact, n_samples=100)
        seconds = time.perf_counter() - start
        print(f"{n:>3} predictors, exact expectiles: {seconds:.3f} s (target < 1 s for 20), "
              f"W1 = {decode.wasserstein(decoded, true):.3f} (true std {true.std:.2f})")
    levels = (np.arange(20) + 0.5) / 20
    run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=list(levels), alpha=0.02), 3000,
                       progress=False)
    start = time.perf_counter()
    decoded = decode.decode_run_distribution(run)
    seconds = time.perf_counter() - start
    w1 = decode.wasserstein(decoded, true)
    reversal = decode.reward_responses(run)["reversal_point"].values
    control = decode.shuffle_control(levels, reversal, true, n_shuffles=20)
    print(f" 20 predictors, simulated run: {seconds:.3f} s (responses + decode), W1 = {w1:.3f} = "
          f"{w1 / true.std:.2f} × std (target < 0.15); shuffled control W1 median {np.median(control):.2f}, "
          f"min {control.min():.2f}")
    start = time.perf_counter()
    naive = naive_decode(levels, decode.expectiles(true, levels))
    seconds_naive = time.perf_counter() - start
    start = time.perf_counter()
    decode.decode_distribution(levels, decode.expectiles(true, levels))
    seconds_fast = time.perf_counter() - start
    print(f"naive reference (20 random restarts of Nelder–Mead, no gradient): {seconds_naive:.1f} s, W1 = "
          f"{decode.wasserstein(naive, true):.3f}; drl {seconds_naive / seconds_fast:.0f}× faster")


if __name__ == "__main__":
    main()
