"""Bootstrap confidence intervals for what the reward responses say: reversal points, asymmetries τ̂ (with the
bootstrap estimate of τ̂'s bias, which Sousa et al. 2025 subtract) and the decoded reward distribution.

The resampled unit is the trial of the responses form. Trials shared by every neuron (a run's; neurons recorded
together: the form's ``trial`` coordinate) are resampled within each magnitude, one resample for all neurons;
otherwise each neuron's trials are resampled on their own, per magnitude. Intervals are percentile intervals of
the replicates; the replicates themselves are returned too.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from drl._validate import in_range
from drl.decode._checks import source_fingerprint
from drl.decode.reversal import Estimator
from drl.decode.reward import responses_at_reward, reward_reading, scaled
from drl.decode.scoring import implied_tau
from drl.responses.run import as_form
from drl.tasks.distributions import RewardDistribution

__all__ = ["check_bootstrap", "levels_to_use", "reward_response_intervals"]

USES = ("tau", "tau_hat", "tau_calibrated")


def levels_to_use(responses: xr.Dataset, use: str | None) -> str:
    """Which levels a distribution decode pairs with the reversal points: as asked, else the true τ where the
    responses know it (a model population) and the estimated τ̂ otherwise."""
    known = "tau" in responses.coords
    use = use or ("tau" if known else "tau_hat")
    if use not in USES:
        raise ValueError(f"use must be 'tau', 'tau_hat' or 'tau_calibrated'; got {use!r}")
    if use == "tau" and not known:
        raise ValueError("these responses have no true τ (a recording has no true τ): decode with use='tau_hat' "
                         "(each neuron's estimated asymmetry) or 'tau_calibrated'")
    return use

HINGE_ROWS = 2000  # rows per hinge_fit call: its [rows, 2001] work arrays stay near 100 MB


#: The most bootstrap replicates (each is a full estimate, or a full decode: 10⁵ already take hours)
MAX_BOOT = 100_000


def check_bootstrap(n_boot, level) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 2:
        raise ValueError(f"n_boot must be an integer ≥ 2; got {n_boot!r}")
    if n_boot > MAX_BOOT:
        raise ValueError(f"n_boot must be at most {MAX_BOOT}; got {n_boot} (the replicates' arrays alone would not fit "
                         "in memory; 1000 replicates put a 95 % interval's ends within about ±0.7 % coverage)")
    in_range("level", level, 0, 1, lo_open=True, hi_open=True)


def _shared_resample(arrays, ids, n_boot, rng):
    """Means [B, N, M] of each of ``arrays`` ([N, M, R] pooled trials) over ``n_boot`` resamples of the trials
    within each magnitude, one resample shared by every neuron (their trials are the same trials)."""
    n_neurons, n_mag = arrays[0].shape[:2]
    means = [np.empty((n_boot, n_neurons, n_mag)) for _ in arrays]
    for m in range(n_mag):
        members = np.flatnonzero(ids[m] >= 0)
        drawn = rng.integers(0, members.size, (n_boot, members.size))
        # counts[b, j]: how often resample b drew trial j of this magnitude; a matmul then averages
        counts = np.zeros((n_boot, members.size))
        np.add.at(counts, (np.arange(n_boot)[:, None], drawn), 1.0 / members.size)
        for mean, values in zip(means, arrays, strict=True):
            mean[:, :, m] = (values[:, m, members] @ counts.T).T
    return means


def _own_resample(arrays, n_boot, rng):
    """Means [B, N, M] of each of ``arrays`` over ``n_boot`` resamples of each neuron's own trials at each
    magnitude (neurons recorded in different sessions); a neuron without trials at a magnitude stays NaN."""
    order = np.argsort(~np.isfinite(arrays[0]), axis=2, kind="stable")  # NaN last
    arrays = [np.take_along_axis(values, order, 2) for values in arrays]
    n = np.isfinite(arrays[0]).sum(2)  # [N, M] trials per neuron and magnitude
    n_neurons, n_mag, width = arrays[0].shape
    kept = np.arange(width) < n[..., None]  # [N, M, R]
    means = [np.empty((n_boot, n_neurons, n_mag)) for _ in arrays]
    chunk = max(1, int(4e6 // arrays[0].size))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        index = (rng.random((size, n_neurons, n_mag, width)) * n[..., None]).astype(np.int64)
        for mean, values in zip(means, arrays, strict=True):
            drawn = np.take_along_axis(np.broadcast_to(values, index.shape), index, 3)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean[start:start + size] = np.where(n > 0, np.where(kept, drawn, 0.0).sum(3) / n, np.nan)
    return means


def _replicate_estimates(estimator: Estimator, signal_means, scaled_means, counts=None, positive=None,
                         negative=None):
    """Reversal points and τ̂ [B, N] of each replicate's summaries [B, N, M] (means; the sign-count estimators
    also read counts [N, M] and the replicates' positive and negative counts), ``HINGE_ROWS`` rows at a
    time."""
    shape = signal_means.shape
    n_mag = shape[-1]
    rows = [None if a is None else np.broadcast_to(a, shape).reshape(-1, n_mag)
            for a in (signal_means, scaled_means, counts, positive, negative)]
    step = HINGE_ROWS if estimator.fit == "hinge" else rows[0].shape[0]
    parts = [estimator.estimate(*(None if a is None else a[i:i + step] for a in rows))
             for i in range(0, rows[0].shape[0], step)]
    reversal = np.concatenate([p[0] for p in parts])
    tau_hat = np.concatenate([p[3] for p in parts])
    return reversal.reshape(shape[:2]), tau_hat.reshape(shape[:2])


def _monte_carlo_tau(magnitudes, trials, distribution, reversal, slope_pos, slope_neg, n_boot, rng):
    """Sousa et al. 2025's Monte Carlo of τ̂ [B, N]: each neuron simulated as a hinge at its reversal point with
    the τ that point implies under the delivered ``distribution``, its gain s+ + s−, and its own trial counts and
    trial spread per magnitude; returns (τ̂ replicates, the implied τ)."""
    if trials is None:
        raise ValueError("the Monte Carlo of τ̂ uses each neuron's trial spread, and these responses have only means")
    tau = implied_tau(distribution, reversal)  # [N]
    gain = np.abs(slope_pos + slope_neg)
    offset = magnitudes[None, :] - reversal[:, None]
    mean = gain[:, None] * np.where(offset > 0, tau[:, None] * offset, (1 - tau[:, None]) * offset)  # [N, M]
    count = np.isfinite(trials).sum(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.nan_to_num(np.sqrt(np.nanvar(np.where(count[..., None] > 1, trials, 0.0), 2, ddof=1))
                               ) / np.sqrt(count)  # standard error of each mean
    means = np.where(count > 0, mean, np.nan) + spread * rng.standard_normal((n_boot, *mean.shape))
    return _replicate_estimates(Estimator("hinge", magnitudes, magnitudes), means, means)[1], tau


def reward_response_intervals(run, trial_type: str | None = None, *, n_boot: int = 200, level: float = 0.95,
                              seed: int = 0, event: int = 0, learned_fraction: float = 0.5,
                              response: str = "scaled", distribution: RewardDistribution | None = None,
                              reversal_fit: str | None = None, axis: str | None = None) -> xr.Dataset:
    """Reward responses with bootstrap confidence intervals for each neuron's reversal point and asymmetry τ̂.

    :func:`~drl.decode.reward_responses`, and ``n_boot`` resamples of the trials each read exactly as the point
    estimate is. Trials shared by every neuron (a run's; neurons recorded together) are resampled within each
    magnitude, one resample for all neurons; otherwise each neuron's own trials are resampled per magnitude
    (neurons recorded in different sessions). τ̂ = s+ / (s+ + s−) is a ratio of noisy slopes, so it is biased; the
    bootstrap estimate of that bias is ``mean(τ̂*) − τ̂`` (Efron & Tibshirani 1993, ch. 10), and
    ``tau_hat_corrected = clip(τ̂ − bias, 0, 1)`` is what Sousa et al. 2025 decode with. ``distribution`` (the
    delivered reward distribution) estimates the bias as they did instead: a Monte Carlo of each neuron as a hinge
    at the τ its reversal point implies, with its own trial counts and spread.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) or a responses form with single trials (a recording).
    trial_type : str, optional
        The reward's trial type (default: the first with two magnitudes or more).
    n_boot : int
        Bootstrap replicates (≥ 2).
    level : float
        The intervals' coverage, in (0, 1).
    seed : int
        Seed of the resampling.
    event : int
        Which reward of the trial type.
    learned_fraction : float
        The last fraction of a run's recorded trials read as learned (0 < f ≤ 1).
    response : {"scaled", "rpe"}
        A model's δ scaled by α± (Dabney's model dopamine response) or not.
    distribution : RewardDistribution, optional
        The delivered distribution: τ̂'s bias by Sousa et al.'s Monte Carlo instead of the bootstrap.
    reversal_fit : {"crossing", "hinge", "sign_count", "dabney2020"}, optional
        The estimator (default: "crossing" for a model, "hinge" for a recording).
    axis : {"magnitude", "utility"}, optional
        Where reversal points and slopes are read (default: "magnitude" for a model, "utility" for a recording).

    Returns
    -------
    xarray.Dataset
        The Dataset of :func:`~drl.decode.reward_responses` with, per neuron: ``reversal_point_low``,
        ``reversal_point_high``, ``tau_hat_low``, ``tau_hat_high`` (the central ``level`` interval),
        ``tau_hat_bias``, ``tau_hat_variance`` and ``tau_hat_corrected``; the replicates ``reversal_point_boot``
        and ``tau_hat_boot`` [boot, predictor] (``neuron`` for recorded neurons); attrs ``n_boot``, ``level``,
        ``seed``, ``resampling``, ``tau_bias``, ``source``.

    Raises
    ------
    ValueError
        ``n_boot`` below 2, ``level`` outside (0, 1), a form without single trials, an unknown trial type.

    See Also
    --------
    distribution_intervals : bands for the decoded distribution.
    decode_cue_distribution : decodes with ``tau_hat_corrected``.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9],
    ...                    alpha=0.05), 1000, seed=0, progress=False)
    >>> intervals = decode.reward_response_intervals(run, n_boot=50)
    >>> inside = (intervals["tau_hat_low"] <= intervals["tau"] + 0.02) & (intervals["tau"] - 0.02 <= intervals["tau_hat_high"])
    >>> bool(inside.all())
    True
    """
    check_bootstrap(n_boot, level)
    if distribution is not None and not isinstance(distribution, RewardDistribution):
        raise TypeError(f"distribution must be a drl RewardDistribution (e.g. task.reward_distribution(name)); got "
                        f"{type(distribution).__name__}")
    form = as_form(run, reward_type=trial_type, reward=True, event=event, learned_fraction=learned_fraction)
    rng = np.random.default_rng(seed)
    reading = reward_reading(form, trial_type, reversal_fit, axis)
    out = responses_at_reward(form, response=response, reading=reading)
    _, magnitudes, _, trials, ids, estimator = reading
    if trials is None:
        raise ValueError("bootstrap intervals resample single trials, and these responses have only means: build "
                         "the form with trial_response= (or a table with one row per trial)")
    present = np.isfinite(trials)
    arrays = [trials, scaled(form, trials, response)]
    signs = estimator.fit in ("sign_count", "dabney2020")  # only these count single responses of each sign
    if signs:
        arrays += [np.where(present, trials > 0, np.nan), np.where(present, trials < 0, np.nan)]
    if ids is not None:
        means = _shared_resample(arrays, ids, n_boot, rng)
        resampling = "trials within magnitude, shared by all neurons"
    else:
        means = _own_resample(arrays, n_boot, rng)
        resampling = "single trials per neuron and magnitude"
    counts = present.sum(2).astype(np.float64)  # a resample keeps each mean's trial count
    # the sign fractions back to counts
    sign_counts = (means[2] * counts, means[3] * counts) if signs else (None, None)
    reversal, tau = _replicate_estimates(estimator, means[0], means[1], counts, *sign_counts)
    if distribution is not None:
        simulated, implied = _monte_carlo_tau(magnitudes, arrays[1], distribution, out["reversal_point"].values,
                                              out["slope_pos"].values, out["slope_neg"].values, n_boot, rng)
    tails = 100 * np.array([(1 - level) / 2, (1 + level) / 2])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        # a neuron without a reversal point (too few magnitudes) has only NaN replicates: NaN intervals, no warning
        warnings.filterwarnings("ignore", "All-NaN slice|Mean of empty slice|Degrees of freedom", RuntimeWarning)
        rev_low, rev_high = np.nanpercentile(reversal, tails, axis=0)
        tau_low, tau_high = np.nanpercentile(tau, tails, axis=0)
        if distribution is None:
            bias = np.nanmean(tau, 0) - out["tau_hat"].values
            variance = np.nanvar(tau, 0, ddof=1)
        else:
            bias = np.nanmean(simulated, 0) - implied
            variance = np.nanvar(simulated, 0, ddof=1)
    units = out["reversal_point"].attrs.get("units", "reward units")
    percent = f"{100 * level:g} %"
    unit = out["tau_hat"].dims[0]  # the estimates' own: "predictor" or "neuron"
    out = out.assign(
        reversal_point_low=(unit, rev_low, {"long_name": f"reversal point, lower end of the {percent} "
                                                               "interval", "units": units}),
        reversal_point_high=(unit, rev_high, {"long_name": f"reversal point, upper end of the {percent} "
                                                                 "interval", "units": units}),
        tau_hat_low=(unit, tau_low, {"long_name": f"tau_hat, lower end of the {percent} interval",
                                            "units": "1"}),
        tau_hat_high=(unit, tau_high, {"long_name": f"tau_hat, upper end of the {percent} interval",
                                              "units": "1"}),
        tau_hat_bias=(unit, bias, {"long_name": "bootstrap estimate of the bias of tau_hat", "units": "1"}),
        tau_hat_variance=(unit, variance, {"long_name": "bootstrap variance of tau_hat", "units": "1"}),
        tau_hat_corrected=(unit, np.clip(out["tau_hat"].values - bias, 0.0, 1.0),
                           {"long_name": "tau_hat minus its bootstrap bias, clipped to [0, 1]", "units": "1"}),
        reversal_point_boot=(("boot", unit), reversal, {"long_name": "bootstrap replicates",
                                                               "units": units}),
        tau_hat_boot=(("boot", unit), tau, {"long_name": "bootstrap replicates", "units": "1"}),
    )
    out.attrs.update(n_boot=int(n_boot), level=float(level), seed=int(seed), resampling=resampling,
                     source=source_fingerprint(run) or "", tau_bias="bootstrap" if distribution is None else "Monte Carlo at the implied τ")
    return out


