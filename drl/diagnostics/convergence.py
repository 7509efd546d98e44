"""Has a run converged? The drift of each predictor's values across the learned window.

Decoders and population figures read responses "after learning" (the last ``learned_fraction`` of the recorded
trials). If values are still moving there, every number read from them is biased. :func:`convergence` splits
the learned trials of each trial type into halves and measures, per predictor, the largest change of the mean
value (``value``, or ``rpe`` when values were not recorded) between them over the recorded steps. A predictor is
flagged when that drift is both practically large (above ``tolerance`` × the run's value scale) and larger than
learning noise (three standard errors, from the integrated autocorrelation time, which respects the slow
trial-to-trial correlation of learned values).
:func:`warn_if_unconverged` turns flags into one :class:`ConvergenceWarning` naming the predictors.

Slow wandering is flagged too: when the learning rate is high for the reward scale (a 20 µl reward kicking an
optimistic predictor), values can swing by several % over hundreds of trials without a trend, which the noise
estimate from within each half cannot see. An average over such a window is uncertain by about the swing, so
the flag is deserved either way; lower rates (or more trials) remove it.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from drl._validate import choice, in_range

__all__ = ["ConvergenceWarning", "convergence", "warn_if_unconverged"]



def standard_error(half: np.ndarray) -> np.ndarray:
    """[P, K] standard error of the mean over trials of ``half`` [P, N, K], for serially correlated values.

    Learned values are correlated from trial to trial over several timescales (each trial moves them by a
    fraction α of the error, and rare large rewards kick them), so the variance of the mean is
    ``var·τ_int / N`` with the integrated autocorrelation time ``τ_int = 1 + 2·Σ_l ρ(l)``, summed over lags
    until ρ first turns negative (the initial positive sequence). Plain, batch-mean or AR(1) errors are two to
    several times too small for slow predictors (measured on the demo task).
    """
    n = half.shape[1]
    centred = half - half.mean(1, keepdims=True)
    # the lanes (predictor, step) that vary: a step before the cue or after the last reward holds one value on
    # every trial, and its autocorrelation needs no FFT (about half of a task's steps)
    lanes = np.moveaxis(centred, 1, -1).reshape(-1, n)  # [P·K, N]
    moving = np.flatnonzero(np.any(lanes != 0, axis=1))
    var, tau_int = np.zeros(lanes.shape[0]), np.ones(lanes.shape[0])
    if moving.size:
        spectrum = np.fft.rfft(lanes[moving], n=2 * n, axis=1)
        acov = np.fft.irfft(spectrum * np.conj(spectrum), axis=1)[:, :n] / n  # autocovariance by lag
        var[moving] = acov[:, 0]
        rho = np.divide(acov[:, 1:], acov[:, :1], out=np.zeros_like(acov[:, 1:]), where=acov[:, :1] > 0)
        positive = np.cumprod(rho > 0, axis=1)
        tau_int[moving] = np.clip(1 + 2 * (rho * positive).sum(1), 1, n)
    shape = (half.shape[0],) + half.shape[2:]
    return np.sqrt(var * tau_int / n).reshape(shape)


class ConvergenceWarning(UserWarning):
    """Values were still moving in the learned window: decoded numbers from it are biased.

    Issued by the analyses that read a run's learned trials (:func:`drl.decode.reward_responses`, the figures),
    naming the predictors and how far their values moved; :func:`drl.convergence` shows every predictor. Turn it
    into an error, or silence it, with the :mod:`warnings` filters.

    See Also
    --------
    drl.convergence : the report behind it.

    Examples
    --------
    >>> import warnings
    >>> import drl
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", drl.ConvergenceWarning)  # an unconverged run stops the analysis
    ...     run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.2, 0.8], alpha=0.001), 40,
    ...                        seed=0, progress=False)
    ...     try:
    ...         drl.decode.reward_responses(run)
    ...     except drl.ConvergenceWarning as warning:
    ...         print(str(warning).split(":")[0])
    values are still moving in the learned window (last 50 % of recorded trials) for 2 of 2 predictors
    """


def _learned_window(trial_types: np.ndarray, trial_type: str, learned_fraction: float) -> np.ndarray:
    """Indices of the learned trials of ``trial_type``: the last ``learned_fraction`` of its recorded trials."""
    trials = np.flatnonzero(trial_types == trial_type)
    return trials[trials.size - max(1, int(round(trials.size * learned_fraction))):]


#: Memory for one block of predictors' learned window and its statistics (bytes)
BLOCK_BYTES = 256 * 2**20

#: Between-quarter variance of the learned window's means over what their own noise predicts, above which a
#: predictor is wandering (a stationary process gives about 1; measured: 0.3-5 on converged runs of the
#: built-in tasks, 20-40 for a quantile predictor random-walking on a flat stretch of the CDF)
WANDER_RATIO = 10.0


def _quarters(values: np.ndarray):
    """Means [P, 4, K] of the four quarters of a window [P, N, K] and the ratio [P, K] of their variance to the
    mean squared standard error of a quarter mean."""
    q = values.shape[1] // 4
    n_pred = values.shape[0]
    # the four quarters as one [4·P, q, K] batch: one FFT call instead of four (the same numbers per row)
    quarters = values[:, :4 * q].reshape(n_pred, 4, q, -1).transpose(1, 0, 2, 3).reshape(4 * n_pred, q, -1)
    means = quarters.mean(1).reshape(4, n_pred, -1).transpose(1, 0, 2)
    expected = np.mean((standard_error(quarters) ** 2).reshape(4, n_pred, -1), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(expected > 0, means.var(1, ddof=1) / expected, 0.0)
    return means, ratio


def convergence(run, *, learned_fraction: float = 0.5, tolerance: float = 0.02) -> xr.Dataset:
    """Per predictor and trial type, whether its values still move across the learned window.

    Each predictor is judged **on its own scale** (its largest absolute mean value over the window's steps, floored at
    10 % of the type's largest, so that a near-zero predictor is not judged on float noise) and its own noise:

    * drift: the change of the mean between the window's halves, at the step where it is largest, flagged when
      above ``tolerance`` × its scale and 3 standard errors (from the integrated autocorrelation time);
    * wandering: the spread of the four quarters' means, flagged when above 2 × ``tolerance`` × its scale and
      when their variance is more than ``WANDER_RATIO`` times what their own noise predicts: a value that
      random-walks (a quantile predictor on a flat stretch of the CDF) need not drift between halves, and its
      noise estimate grows with the walk.

    (Judged on the run's largest value, as before, a small value could move 20 % of itself and pass.)

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run Dataset, or a path / run name.
    learned_fraction : float
        The learned window, as in the decoders: the last ``learned_fraction`` of the recorded trials (0 < f ≤ 1).
    tolerance : float
        Drift flagged above this fraction of the predictor's own scale (> 0).

    Returns
    -------
    xarray.Dataset
        Dims ``[predictor, type]``: ``drift`` (reward units; second-half mean − first-half mean at the step
        where it is largest), ``relative_drift`` (the absolute drift over the own scale), ``noise`` (its standard error), ``time``
        (s, where the drift is largest), ``swing`` (relative spread of the quarter means), ``swing_ratio`` (their
        variance over their noise), ``scale`` (the predictor's own scale), ``wandering``, ``non_finite`` (a NaN
        or inf in the window: not converged) and ``converged`` (bool); attrs ``variable``, ``tolerance``. Types
        with fewer than 8 learned trials get NaN and count as converged (too few to tell).

    Raises
    ------
    TypeError
        ``run`` is not a run, a path or a name.
    ValueError
        A bad ``tolerance`` or ``learned_fraction``; a run with no finite value or no trial.

    See Also
    --------
    drl.cue_code : whether a converged cue response is the expectile it should be.

    Examples
    --------
    Nine optimism levels after 6,000 trials of Dabney et al.'s task (the trials it needs, docs/guide/diagnostics.md):

    >>> import drl
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.1, 0.5, 0.9]), 6000,
    ...                    progress=False, record_trials=4)
    >>> report = drl.convergence(run)
    >>> dict(report["converged"].sizes)
    {'predictor': 3, 'type': 1}
    """
    from drl.runs.reading import require_values
    from drl.runs.store import open_run

    ds = open_run(run)
    in_range("learned_fraction", learned_fraction, 0, 1, lo_open=True)
    in_range("tolerance", tolerance, 0, np.inf, lo_open=True)
    variable = "value" if "value" in ds.data_vars else "rpe"
    if variable not in ds.data_vars:
        raise ValueError(f"convergence needs 'value' or 'rpe' recorded; this run has {sorted(ds.data_vars)}")
    require_values(ds, variable)
    types = [str(t) for t in ds["type"].values]
    present = set(np.asarray(ds["trial_type"].values, dtype=str))
    n_pred = ds.sizes["predictor"]
    drift = np.full((n_pred, len(types)), np.nan)
    noise, where, own_scale = (np.full_like(drift, np.nan) for _ in range(3))
    swing, swing_ratio = np.full_like(drift, np.nan), np.full_like(drift, np.nan)
    non_finite = np.zeros(drift.shape, dtype=bool)
    spread = np.full_like(drift, np.nan)
    trial_types = np.asarray(ds["trial_type"].values, dtype=str)
    times = ds["time"].values
    recorded = ds[variable].transpose("predictor", "trial", "time")
    for j, name in enumerate(types):
        if name not in present:
            continue
        window = _learned_window(trial_types, name, learned_fraction)
        n_window, n_steps = window.size, times.size
        n = n_window // 2  # trials per half
        # predictors in blocks: the statistics below hold ~10 copies of a block's window (float64, the FFT), and
        # a whole 10⁴ × 10⁴ run at once once asked for ~110 GB
        block = max(1, int(BLOCK_BYTES // (10 * 8 * max(1, n_window * n_steps))))
        own = np.zeros(n_pred)
        for start in range(0, n_pred, block):
            rows = np.arange(start, min(n_pred, start + block))
            values = recorded.isel(predictor=slice(start, start + block), trial=window).values.astype(np.float64)
            non_finite[rows, j] = ~np.isfinite(values).all((1, 2))
            values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)  # flagged above; the rest stays readable
            if n < 4:
                continue
            local = np.arange(rows.size)
            own[rows] = np.abs(values.mean(1)).max(1)
            first, second = values[:, -2 * n:-n], values[:, -n:]
            diff = second.mean(1) - first.mean(1)  # [p, K]
            both = standard_error(np.concatenate([first, second]))  # one FFT call for the two halves
            se = np.hypot(both[:rows.size], both[rows.size:])
            k = np.abs(diff).argmax(1)
            drift[rows, j], noise[rows, j] = diff[local, k], se[local, k]
            where[rows, j] = times[k]
            means, ratio = _quarters(values)
            quarter_spread = means.max(1) - means.min(1)  # [p, K]
            k = quarter_spread.argmax(1)
            spread[rows, j], swing_ratio[rows, j] = quarter_spread[local, k], ratio[local, k]
        if n >= 4:
            own_scale[:, j] = np.maximum(own, 0.1 * own.max()) if own.max() > 0 else 1.0
            swing[:, j] = spread[:, j] / own_scale[:, j]
    with np.errstate(invalid="ignore"):
        relative = np.abs(drift) / own_scale
        drifting = (relative > tolerance) & (np.abs(drift) > 3 * noise)
        wandering = (swing > 2 * tolerance) & (swing_ratio > WANDER_RATIO)
    drifting |= non_finite  # a NaN or inf in the window is no converged value (it compared False to everything)
    coords = {"predictor": ds["predictor"].values, "type": types,
              **{name: ("predictor", ds[name].values) for name in ("tau", "gamma", "alpha_pos", "alpha_neg", "lam")}}
    out = xr.Dataset(
        {
            "drift": (("predictor", "type"), drift, {"long_name": "change of the mean across the learned window's "
                                                                  "halves", "units": "reward units"}),
            "relative_drift": (("predictor", "type"), relative, {"long_name": "|drift| / the predictor's own scale",
                                                                 "units": "1"}),
            "noise": (("predictor", "type"), noise, {"long_name": "standard error of the drift", "units": "reward units"}),
            "time": (("predictor", "type"), where, {"long_name": "time of the largest drift", "units": "s"}),
            "scale": (("predictor", "type"), own_scale, {"long_name": "the predictor's own value scale",
                                                         "units": "reward units"}),
            "swing": (("predictor", "type"), swing, {"long_name": "spread of the quarter means / own scale",
                                                     "units": "1"}),
            "swing_ratio": (("predictor", "type"), swing_ratio, {
                "long_name": "variance of the quarter means / their expected noise variance", "units": "1"}),
            "wandering": (("predictor", "type"), wandering),
            "non_finite": (("predictor", "type"), non_finite),
            "converged": (("predictor", "type"), ~(drifting | wandering)),
        },
        coords=coords,
    )
    out.attrs.update(variable=variable, tolerance=tolerance, learned_fraction=learned_fraction)
    return out


def describe(report: xr.Dataset, limit: int = 5) -> str:
    """One phrase per flagged predictor (at most ``limit``), with what it biases, or '' when every predictor
    converged."""
    bad = np.argwhere(~report["converged"].values)
    if bad.size == 0:
        return ""
    lines = []
    # numpy arrays first: indexing the DataArrays element by element cost 30 ms a call (a decode's third)
    column = {name: report[name].values for name in ("drift", "relative_drift", "time", "wandering", "swing",
                                                      "tau", "gamma")}
    non_finite = report["non_finite"].values if "non_finite" in report else np.zeros_like(column["wandering"])
    types, variable = report["type"].values, report.attrs["variable"]
    for p, j in bad[:limit]:
        drift = float(column["drift"][p, j])
        what = (f"{variable} moved {drift:+.3g} ({100 * float(column['relative_drift'][p, j]):.1f} % "
                f"of its own scale) at t = {float(column['time'][p, j]):g} s")
        if bool(column["wandering"][p, j]):
            what += f", wandering over {100 * float(column['swing'][p, j]):.0f} % of its scale"
        if bool(non_finite[p, j]):
            what = f"{variable} is NaN or infinite in the learned window"
        reads = "low" if drift > 0 else "high"  # still rising: the window's mean under-reads where it goes
        lines.append(f"#{p} (tau={float(column['tau'][p]):.3g}, gamma={float(column['gamma'][p]):.3g}) in "
                     f"{str(types[j])!r}: {what}; its responses there read {reads}")
    more = f"; and {len(bad) - limit} more" if len(bad) > limit else ""
    return "; ".join(lines) + more


def warn_if_unconverged(run, *, trial_types=None, learned_fraction: float = 0.5, tolerance: float = 0.02,
                        stacklevel: int = 3) -> xr.Dataset:
    """Run :func:`convergence` and emit one :class:`ConvergenceWarning` naming the predictors still moving.

    ``trial_types`` restricts the check to those types (default: all). Returns the report.
    """
    report = convergence(run, learned_fraction=learned_fraction, tolerance=tolerance)
    if trial_types is not None:
        for name in trial_types:
            choice("trial type", str(name), [str(t) for t in report["type"].values])
        report = report.sel(type=[str(t) for t in trial_types])
    text = describe(report)
    if text:
        n_bad = int((~report["converged"].values).any(1).sum())
        warnings.warn(
            f"values are still moving in the learned window (last {100 * learned_fraction:g} % of recorded trials) "
            f"for {n_bad} of {report.sizes['predictor']} predictors: {text}. Numbers decoded from this window are "
            "biased: simulate more trials, raise the learning rates or lam, or narrow learned_fraction "
            "(drl.convergence shows every predictor).",
            ConvergenceWarning, stacklevel=stacklevel)
    return report
