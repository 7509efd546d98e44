"""How far the learned cue code of a τ-population sits from the exact τ-expectile of the return, by learning rate
α, trace λ and step dt (docs/guide/architecture.md, "The cue code at finite α").

Dabney et al.'s variable-magnitude task (seven magnitudes, 0.1-20 µl, 2 s after the cue), expectile rule, own
bootstrap (exact here: nothing random follows the reward), CSC features, γ = 1. Each configuration learns for
enough trials to converge (300/α, at least 6000) and is read over the last half, as the decoders read it
(``drl.cue_code``). Prints the relative bias of the cue response (%) per τ with its noise (3 standard errors),
then the bias in µl of τ = 0.9 against dt.

    python benchmarks/bench_cue_code.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import numpy as np

import drl

TAUS = (0.1, 0.5, 0.9)


def measure(task, alpha: float, lam: float, n_trials: int, seed: int = 0):
    pop = drl.Population.grid(tau=list(TAUS), alpha=alpha, lam=lam)
    cue_time = task.trial_types[0].cue_time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = drl.simulate(task, pop, n_trials, seed=seed, progress=False, record=("rpe",), record_times=[cue_time])
    report = drl.cue_code(run)
    return report["relative_bias"].values[:, 0], report["noise"].values[:, 0] / np.abs(
        report["expected"].values[:, 0]), report["bias"].values[:, 0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer configurations")
    args = parser.parse_args()
    task = drl.get_task("dabney_variable_magnitude")
    alphas = (0.1, 0.01) if args.quick else (0.1, 0.03, 0.01)
    lams = (0.0, 0.95) if args.quick else (0.0, 0.5, 0.9, 0.95)
    start = time.perf_counter()
    print(f"cue response against the exact τ-expectile of the reward, {task.name}, γ = 1, dt = {task.dt:g} s")
    print("| α | λ | trials | " + " | ".join(f"τ {t:g}: bias (± 3 SE)" for t in TAUS) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in TAUS) + " |")
    for alpha in alphas:
        n_trials = max(6000, int(300 / alpha))
        for lam in lams:
            relative, noise, _ = measure(task, alpha, lam, n_trials)
            cells = [f"{100 * r:+.1f} % (± {300 * n:.1f})" for r, n in zip(relative, noise, strict=True)]
            print(f"| {alpha:g} | {lam:g} | {n_trials} | " + " | ".join(cells) + " |")
    print("\nτ = 0.9, α = 0.01: bias of the cue response (µl) against the step dt")
    print("| λ | " + " | ".join(f"dt {dt:g} s" for dt in (0.1, 0.05, 0.025)) + " |")
    print("| --- | --- | --- | --- |")
    for lam in (0.0, 0.95):
        cells = []
        for dt in (0.1, 0.05, 0.025):
            fine = dataclasses.replace(task, dt=dt)
            _, _, bias = measure(fine, 0.01, lam, 6000 if args.quick else 30000)
            cells.append(f"{bias[2]:+.2f}")
        print(f"| {lam:g} | " + " | ".join(cells) + " |")
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
