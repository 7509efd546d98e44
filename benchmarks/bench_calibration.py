"""Bootstrap intervals and Sousa et al. 2025's calibration on synthetic recordings. Prints figures; asserts nothing.

30 neurons whose mean reward response is a hinge at their τ-expectile of Dabney's distribution (slopes gain·τ
and gain·(1 − τ), gains 0.5-2), with Gaussian trial noise × gain, at three (trials, noise) settings, over
``--seeds`` recordings each:

* coverage of the 95 % bootstrap intervals of the reversal points and τ̂;
* τ̂'s error (RMSE over neurons and seeds, and the mean |bias| per neuron) raw, after the bootstrap bias
  correction and after Sousa's Monte Carlo correction (``distribution=``);
* W1 (µl) of the decoded distribution with τ̂, with the isotonic map of raw τ̂, and with the isotonic map of
  each corrected τ̂ (``calibrated_tau``); and, for scale, with the τ each reversal point implies under the true
  distribution (circular: it uses the answer);
* seconds per recording for ``reward_response_intervals`` (200 replicates).

Run: .venv/bin/python benchmarks/bench_calibration.py [--seeds 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import drl
from drl import decode
from drl.responses import responses_form

TRUE = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
TAU = (np.arange(30) + 0.5) / 30


def recording(seed: int, n_trials: int, noise: float):
    rng = np.random.default_rng(seed)
    reversal = decode.expectiles(TRUE, TAU)
    gain = rng.uniform(0.5, 2, TAU.size)
    offset = TRUE.values[None, :] - reversal[:, None]
    mean = gain[:, None] * np.where(offset > 0, TAU[:, None] * offset, (1 - TAU[:, None]) * offset)
    trials = mean[:, :, None] + noise * gain[:, None, None] * rng.standard_normal((*mean.shape, n_trials))
    return responses_form(trials.mean(2), magnitude=TRUE.values, trial_response=trials), reversal


def w1(levels, reversal) -> float:
    keep = np.isfinite(levels) & (levels > 0) & (levels < 1)
    return decode.wasserstein(decode.decode_distribution(levels[keep], reversal[keep]), TRUE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    print(f"Dabney's distribution (std {TRUE.std:.2f} µl), 30 neurons, {args.seeds} recordings per row\n")
    print("trials noise | cover rev  cover τ̂ | τ̂ RMSE raw/boot/MC  mean|bias| raw/boot/MC | "
          "W1 τ̂  iso  iso+boot  iso+MC  implied | s/recording")
    for n_trials, noise in ((20, 1.0), (10, 3.0), (20, 5.0)):
        cover_rev, cover_tau, errors, distances, seconds = [], [], {"raw": [], "boot": [], "mc": []}, [], []
        for seed in range(args.seeds):
            form, reversal = recording(seed, n_trials, noise)
            start = time.perf_counter()
            boot = decode.reward_response_intervals(form, n_boot=200, seed=seed)
            seconds.append(time.perf_counter() - start)
            mc = decode.reward_response_intervals(form, n_boot=200, seed=seed, distribution=TRUE)
            cover_rev.append(np.mean((boot.reversal_point_low.values <= reversal)
                                     & (reversal <= boot.reversal_point_high.values)))
            cover_tau.append(np.mean((boot.tau_hat_low.values <= TAU) & (TAU <= boot.tau_hat_high.values)))
            errors["raw"].append(boot.tau_hat.values - TAU)
            errors["boot"].append(boot.tau_hat_corrected.values - TAU)
            errors["mc"].append(mc.tau_hat_corrected.values - TAU)
            point = boot.reversal_point.values
            distances.append([
                w1(boot.tau_hat.values, point),
                w1(decode.calibrated_tau(point, np.clip(boot.tau_hat.values, 0, 1), boot.tau_hat_variance.values),
                   point),
                w1(decode.calibrated_tau(point, boot.tau_hat_corrected.values, boot.tau_hat_variance.values), point),
                w1(decode.calibrated_tau(point, mc.tau_hat_corrected.values, mc.tau_hat_variance.values), point),
                w1(decode.implied_tau(TRUE, point), point),
            ])
        rmse = [np.sqrt(np.mean(np.square(errors[k]))) for k in ("raw", "boot", "mc")]
        bias = [np.mean(np.abs(np.mean(errors[k], 0))) for k in ("raw", "boot", "mc")]
        d = np.mean(distances, 0)
        print(f"{n_trials:6d} {noise:5.1f} | {np.mean(cover_rev):9.2f} {np.mean(cover_tau):8.2f} | "
              f"{rmse[0]:.3f}/{rmse[1]:.3f}/{rmse[2]:.3f}        {bias[0]:.3f}/{bias[1]:.3f}/{bias[2]:.3f}       | "
              f"{d[0]:5.2f} {d[1]:4.2f} {d[2]:8.2f} {d[3]:7.2f} {d[4]:8.2f} | {np.median(seconds):.2f}")


if __name__ == "__main__":
    main()
