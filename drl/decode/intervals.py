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
from drl.decode.calibration import calibrated_tau
from drl.decode.distribution import decode_distribution, implied_tau, residual_warnings_ignored
from drl.decode.reversal import Estimator
from drl.decode.reward import responses_at_reward, reward_reading, scaled
from drl.responses.run import as_form
from drl.tasks.distributions import RewardDistribution

__all__ = ["distribution_intervals", "levels_to_use", "reward_response_intervals"]

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


def _check_bootstrap(n_boot, level) -> None:
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
    also read counts [N, M] and the replicates' positive and negative counts), :data:`HINGE_ROWS` rows at a
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
    _check_bootstrap(n_boot, level)
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


def distribution_intervals(run, trial_type: str | None = None, *, use: str | None = None, n_boot: int = 100,
                           level: float = 0.95, seed: int = 0, n_samples: int = 100, probabilities=None,
                           intervals: xr.Dataset | None = None, progress: bool | None = None) -> xr.Dataset:
    """Bootstrap confidence bands for the reward distribution decoded from the reversal points.

    Each replicate of :func:`reward_response_intervals` (``intervals``, computed with ``n_boot``, ``seed`` and
    ``trial_type`` when not given) is decoded as :func:`~drl.decode.decode_reward_distribution` decodes, on the
    point estimate's bounds, so its density lies on the same grid. ``use`` picks the levels: ``"tau"``, the run's
    true τ, fixed across replicates; ``"tau_hat"``, each replicate's own estimates; ``"tau_calibrated"``, the
    isotonic map of the bias-corrected τ̂ (:func:`~drl.decode.calibrated_tau`), refitted per replicate.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) or a responses form with single trials (a recording).
    trial_type : str, optional
        The reward's trial type (default: the first with two magnitudes or more).
    use : {"tau", "tau_hat", "tau_calibrated"}, optional
        The levels paired with the reversal points (default: "tau" for a run, "tau_hat" for a recording).
    n_boot : int
        Bootstrap replicates, when ``intervals`` is not given.
    level : float
        The bands' coverage, in (0, 1).
    seed : int
        Seed of the resampling.
    n_samples : int
        Samples imputed per decode.
    probabilities : array_like, optional
        The probabilities whose quantiles are banded (default 0.05, 0.10, …, 0.95).
    intervals : xarray.Dataset, optional
        :func:`reward_response_intervals` of these data, when already computed.
    progress : bool, optional
        A progress bar over replicates (None: when more than 20).

    Returns
    -------
    xarray.Dataset
        ``quantile`` [probability] of the point decode with ``quantile_low``/``quantile_high`` (reward units);
        ``density`` [reward] with ``density_low``/``density_high``; scalars ``decoded_mean`` and ``decoded_std``
        with their ``_low``/``_high``; the replicates ``samples_boot`` [boot, sample]; attrs ``use``, ``kind``,
        ``n_boot``, ``level``, ``failed`` (replicates that could not be decoded), ``trial_type`` and
        ``replicate_residual`` (the median over replicates of the largest absolute residual of a replicate's
        decode: how far a resampled code is from a consistent set of expectiles, reward units).

    Raises
    ------
    ValueError
        ``level`` outside (0, 1), an unknown ``use``, ``intervals`` of other data.

    See Also
    --------
    reward_response_intervals : the per-neuron intervals resampled here.
    drl.plots.distribution : draws a decode with these bands.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9],
    ...                    alpha=0.05), 1000, seed=0, progress=False)
    >>> bands = decode.distribution_intervals(run, n_boot=20, progress=False)
    >>> truth = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    >>> bool(bands["decoded_mean_low"] < bands["decoded_mean"] < bands["decoded_mean_high"])
    True
    >>> bool(abs(bands["decoded_mean"] - truth.mean) < 0.1 * truth.std)  # a finite α's bias is not resampled
    True
    """
    from tqdm.auto import tqdm

    if intervals is None:
        _check_bootstrap(n_boot, level)
        intervals = reward_response_intervals(run, trial_type, n_boot=n_boot, level=level, seed=seed)
    elif not isinstance(intervals, xr.Dataset) or "reversal_point_boot" not in intervals:
        raise TypeError("intervals must be the Dataset that reward_response_intervals returned for this run")
    else:
        _check_bootstrap(intervals.sizes["boot"], level)
        source = source_fingerprint(run)
        if source is not None and intervals.attrs.get("source") and intervals.attrs["source"] != source:
            raise ValueError("intervals were computed from another run or responses form than run (their "
                             "replicates would be decoded as this run's): compute them with "
                             "reward_response_intervals(run, ...) of this run, or leave intervals out")
    use = levels_to_use(intervals, use)
    kind = "quantile" if intervals.attrs.get("rule") == "quantile" else "expectile"
    probabilities = (np.linspace(0.05, 0.95, 19) if probabilities is None
                     else np.asarray(probabilities, dtype=np.float64))
    if probabilities.ndim != 1 or np.any((probabilities < 0) | (probabilities > 1)):
        raise ValueError(f"probabilities must be a 1-D array in [0, 1]; got {probabilities!r}")

    bias, variance = intervals["tau_hat_bias"].values, intervals["tau_hat_variance"].values

    def levels_of(reversal, tau_hat):
        if use == "tau":
            return intervals["tau"].values
        if use == "tau_hat":
            return tau_hat
        return calibrated_tau(reversal, np.clip(tau_hat - bias, 0.0, 1.0), variance)

    def decode(reversal, levels, bounds=None):
        keep = np.isfinite(levels) & np.isfinite(reversal) & (levels > 0) & (levels < 1)
        if keep.sum() == 0:
            return None
        return decode_distribution(levels[keep], reversal[keep], kind=kind, n_samples=n_samples, bounds=bounds)

    point = decode(intervals["reversal_point"].values,
                   levels_of(intervals["reversal_point"].values, intervals["tau_hat"].values))
    if point is None:
        raise ValueError(f"no predictor has a {use} in (0, 1) to decode with")
    bounds = (float(point.grid[0]), float(point.grid[-1]))
    boot_reversal, boot_tau = intervals["reversal_point_boot"].values, intervals["tau_hat_boot"].values
    n = boot_reversal.shape[0]
    samples = np.full((n, n_samples), np.nan)
    densities = np.full((n, point.grid.size), np.nan)
    residuals = np.full(n, np.nan)
    show = n > 20 if progress is None else bool(progress)
    # a resampled code is noisier than the point's: its misfit is reported once, below (replicate_residual)
    with residual_warnings_ignored():
        for b in tqdm(range(n), desc="decode replicates", unit="replicate", disable=not show):
            decoded = decode(boot_reversal[b], levels_of(boot_reversal[b], boot_tau[b]), bounds)
            if decoded is not None:
                samples[b], densities[b] = decoded.samples, decoded.density
                residuals[b] = np.abs(decoded.residual).max()
    tails = 100 * np.array([(1 - level) / 2, (1 + level) / 2])
    quantiles = np.nanquantile(samples, probabilities, axis=1)  # [Q, B]
    q_low, q_high = np.nanpercentile(quantiles, tails, axis=1)
    d_low, d_high = np.nanpercentile(densities, tails, axis=0)
    means, stds = samples.mean(1), samples.std(1)
    units = intervals["reversal_point"].attrs.get("units", "reward units")
    scalar = {}
    for name, replicates, estimate in (("decoded_mean", means, point.samples.mean()), ("decoded_std", stds, point.samples.std())):
        low, high = np.nanpercentile(replicates, tails)
        scalar |= {name: ((), float(estimate), {"units": units}), f"{name}_low": ((), float(low), {"units": units}),
                   f"{name}_high": ((), float(high), {"units": units})}
    out = xr.Dataset(
        {
            "quantile": ("probability", np.quantile(point.samples, probabilities), {"units": units}),
            "quantile_low": ("probability", q_low, {"units": units}),
            "quantile_high": ("probability", q_high, {"units": units}),
            "density": ("reward", point.density, {"units": f"1/({units})"}),
            "density_low": ("reward", d_low, {"units": f"1/({units})"}),
            "density_high": ("reward", d_high, {"units": f"1/({units})"}),
            "samples_boot": (("boot", "sample"), samples, {"units": units}),
            **scalar,
        },
        coords={"probability": probabilities, "reward": ("reward", point.grid, {"units": units})},
    )
    out.attrs.update(use=use, kind=kind, n_boot=int(n), level=float(level),
                     failed=int(np.isnan(samples[:, 0]).sum()), trial_type=intervals.attrs["trial_type"],
                     replicate_residual=float(np.nanmedian(residuals)) if np.isfinite(residuals).any() else np.nan)
    return out
