"""Bootstrap confidence bands for a decoded reward distribution: each replicate of the neurons' reversal points
(:mod:`drl.decode.intervals`) decoded on one grid."""

from __future__ import annotations

import numpy as np
import xarray as xr

from drl.decode._checks import source_fingerprint
from drl.decode.calibration import calibrated_tau
from drl.decode.distribution import decode_distribution, residual_warnings_ignored
from drl.decode.intervals import check_bootstrap, levels_to_use, reward_response_intervals

__all__ = ["distribution_intervals"]


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
        check_bootstrap(n_boot, level)
        intervals = reward_response_intervals(run, trial_type, n_boot=n_boot, level=level, seed=seed)
    elif not isinstance(intervals, xr.Dataset) or "reversal_point_boot" not in intervals:
        raise TypeError("intervals must be the Dataset that reward_response_intervals returned for this run")
    else:
        check_bootstrap(intervals.sizes["boot"], level)
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
