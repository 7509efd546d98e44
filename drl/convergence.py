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
from drl.schema import trials_of_type

__all__ = ["ConvergenceWarning", "convergence", "warn_if_unconverged"]



def _standard_error(half: np.ndarray) -> np.ndarray:
    """[P, K] standard error of the mean over trials of ``half`` [P, N, K], for serially correlated values.

    Learned values are correlated from trial to trial over several timescales (each trial moves them by a
    fraction α of the error, and rare large rewards kick them), so the variance of the mean is
    ``var·τ_int / N`` with the integrated autocorrelation time ``τ_int = 1 + 2·Σ_l ρ(l)``, summed over lags
    until ρ first turns negative (the initial positive sequence). Plain, batch-mean or AR(1) errors are two to
    several times too small for slow predictors (measured on the demo task).
    """
    n = half.shape[1]
    centred = half - half.mean(1, keepdims=True)
    spectrum = np.fft.rfft(centred, n=2 * n, axis=1)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), axis=1)[:, :n] / n  # [P, N, K] autocovariance by lag
    var = acov[:, 0]
    rho = np.divide(acov[:, 1:], var[:, None], out=np.zeros_like(acov[:, 1:]), where=var[:, None] > 0)
    positive = np.cumprod(rho > 0, axis=1)
    tau_int = np.clip(1 + 2 * (rho * positive).sum(1), 1, n)
    return np.sqrt(var * tau_int / n)


class ConvergenceWarning(UserWarning):
    """Values were still moving in the learned window: decoded numbers from it are biased."""


def _learned_window(ds: xr.Dataset, trial_type: str, learned_fraction: float) -> xr.Dataset:
    sub = trials_of_type(ds, trial_type)
    n = sub.sizes["trial"]
    return sub.isel(trial=slice(n - max(1, int(round(n * learned_fraction))), None))


def convergence(run, *, learned_fraction: float = 0.5, tolerance: float = 0.02) -> xr.Dataset:
    """Per predictor and trial type, how much the values drift across the learned window.

    Args:
      run: a run Dataset, or a path / run name.
      learned_fraction: the learned window, as in the decoders (the last half of the recorded trials).
      tolerance: drift flagged above this fraction of the run's value scale (the largest |mean value|).

    Returns a Dataset over (predictor, type): ``drift`` (reward units; second-half mean − first-half mean at the
    step where it is largest), ``relative_drift`` (drift / scale), ``noise`` (its standard error), ``time`` (s,
    where the drift is largest) and ``converged`` (bool); attrs ``variable``, ``scale``, ``tolerance``. Types
    with fewer than 8 learned trials get NaN and count as converged (too few to tell).
    """
    from drl.schema import require_values
    from drl.store import open_run

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
    noise, where = np.full_like(drift, np.nan), np.full_like(drift, np.nan)
    scale = 0.0
    for j, name in enumerate(types):
        if name not in present:
            continue
        window = _learned_window(ds, name, learned_fraction)
        values = window[variable].values.astype(np.float64)  # [P, N, K]
        scale = max(scale, float(np.abs(values.mean(1)).max()))
        n = values.shape[1] // 2  # trials per half
        if n < 4:
            continue
        first, second = values[:, -2 * n:-n], values[:, -n:]
        diff = second.mean(1) - first.mean(1)  # [P, K]
        se = np.hypot(_standard_error(first), _standard_error(second))
        k = np.abs(diff).argmax(1)
        rows = np.arange(n_pred)
        drift[:, j], noise[:, j] = diff[rows, k], se[rows, k]
        where[:, j] = window["time"].values[k]
    scale = scale or 1.0
    relative = np.abs(drift) / scale
    flagged = (relative > tolerance) & (np.abs(drift) > 3 * noise)
    coords = {"predictor": ds["predictor"].values, "type": types,
              **{name: ("predictor", ds[name].values) for name in ("tau", "gamma", "alpha_pos", "alpha_neg", "lam")}}
    out = xr.Dataset(
        {
            "drift": (("predictor", "type"), drift, {"long_name": "change of the mean across the learned window's "
                                                                  "halves", "units": "reward units"}),
            "relative_drift": (("predictor", "type"), relative, {"long_name": "drift / value scale", "units": "1"}),
            "noise": (("predictor", "type"), noise, {"long_name": "standard error of the drift", "units": "reward units"}),
            "time": (("predictor", "type"), where, {"long_name": "time of the largest drift", "units": "s"}),
            "converged": (("predictor", "type"), ~flagged),
        },
        coords=coords,
    )
    out.attrs.update(variable=variable, scale=scale, tolerance=tolerance, learned_fraction=learned_fraction)
    return out


def describe(report: xr.Dataset, limit: int = 5) -> str:
    """One line per flagged predictor (at most ``limit``), or '' when every predictor converged."""
    bad = np.argwhere(~report["converged"].values)
    if bad.size == 0:
        return ""
    lines = []
    for p, j in bad[:limit]:
        lines.append(
            f"#{p} (tau={float(report['tau'][p]):.3g}, gamma={float(report['gamma'][p]):.3g}) in "
            f"{str(report['type'].values[j])!r}: {report.attrs['variable']} moved {float(report['drift'][p, j]):+.3g} "
            f"({100 * float(report['relative_drift'][p, j]):.1f} % of scale) at t = {float(report['time'][p, j]):g} s"
        )
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
