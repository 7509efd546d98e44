"""Does the cue code say what it should? Each predictor's learned cue response against the exact statistic of
the return it encodes.

After learning, a predictor's cue response (``δ_cue = r_cue + γ^dt·V_cue``) is meant to be the τ-expectile
(expectile rule) or a τ-quantile (quantile rule) of the discounted return from the cue
(:func:`drl.tasks.distributions.return_distribution`), which the task spec gives exactly. The learned value misses it
by more than its noise when

* the trace is short (small λ): each of the D/dt bootstrap steps between cue and reward adds the τ-tail of the
  learning noise of the next value, so the bias grows with the rate α and as dt shrinks (results in seconds
  then depend on dt), for every τ ≠ ½ (the mean, τ = ½, is unbiased);
* the bootstrap is not valid for the task (``own`` with a random reward followed by more reward; docs/guide/architecture.md,
  "Bootstrap");
* the features overlap (microstimulus): the values are a function approximation, not a table;
* the run has not converged (:mod:`drl.diagnostics.convergence`).

:func:`cue_code` measures this per predictor on a run; :func:`warn_if_cue_biased` (called by every decoder and
figure that reads cue responses) turns it into one :class:`CueCodeWarning` naming the predictors and the likely
cause.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from drl._validate import in_range
from drl.diagnostics.convergence import standard_error
from drl.runs.reading import learned_trials, require_values, run_options, run_task, step_index
from drl.runs.store import open_run
from drl.tasks.distributions import RewardDistribution, expectiles, return_distribution

__all__ = ["CueCodeWarning", "cue_code", "warn_if_cue_biased"]


class CueCodeWarning(UserWarning):
    """The learned cue responses miss the exact statistic of the return by more than their noise.

    At a finite learning rate an optimistic predictor's cue response sits off its τ-expectile of the return (and
    with overlapping features, off the discounted return). Issued by the analyses that read cue responses;
    :func:`drl.cue_code` shows every predictor.

    See Also
    --------
    drl.cue_code : the report behind it.

    Examples
    --------
    >>> import warnings
    >>> import drl
    >>> issubclass(drl.CueCodeWarning, UserWarning)
    True
    >>> warnings.simplefilter("ignore", drl.CueCodeWarning)  # a model study that knows its α is finite
    >>> warnings.resetwarnings()
    """


def _quantile_interval(values: np.ndarray, probabilities: np.ndarray, levels: np.ndarray):
    """[lo, hi] of the τ-quantiles of a discrete distribution for each τ in ``levels``: every point of the
    interval minimises the quantile loss (a level on a jump of the CDF has a single point; a level on a flat
    part, the whole gap between two outcomes)."""
    order = np.argsort(values)
    x, cumulative = values[order], np.cumsum(probabilities[order])
    lo = x[np.minimum(np.searchsorted(cumulative, levels - 1e-12, side="left"), x.size - 1)]
    hi = x[np.minimum(np.searchsorted(cumulative, levels + 1e-12, side="right"), x.size - 1)]
    return lo, np.maximum(lo, hi)


def cue_code(run, trial_types=None, *, learned_fraction: float = 0.5, tolerance: float = 0.02) -> xr.Dataset:
    """Each predictor's learned cue response against the exact τ-statistic of its discounted return.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run Dataset, or a path / run name, with ``rpe`` recorded.
    trial_types : list of str, optional
        The trial types to check (default: every type with a reward).
    learned_fraction : float
        The learned window, as in the decoders: the last ``learned_fraction`` of the recorded trials.
    tolerance : float
        A bias is flagged above this fraction of the predictor's own expected value (floored at 10 % of the
        type's largest, so that near-zero expectations are not judged on their own tiny scale).

    Returns
    -------
    xarray.Dataset
        Dims ``[predictor, type]``: ``cue_response`` (mean over the learned window, reward units), ``expected``
        (the exact τ-expectile, or the nearest τ-quantile, of the return from the cue), ``bias``
        (cue_response − expected; 0 inside a quantile rule's interval of valid quantiles), ``relative_bias``
        (bias / the predictor's scale), ``noise`` (standard error of the mean cue response, from its integrated
        autocorrelation time), ``sampling`` (the standard error of the exact statistic over the rewards a
        learned window of that many trials delivers: the values learn the rewards they were given, not the
        task's distribution), ``delivered`` (the statistic of the returns the learned window delivered, where
        every trial and step was recorded) and ``biased``: the absolute bias above ``tolerance`` × scale and 3 × the
        combined noise and sampling error, and, where ``delivered`` is known, off it by more than ``tolerance``
        × scale and 3 × noise too. Types without reward, runs of drl_sim's preset (another model) and tasks
        whose return distribution is too large to enumerate get NaN and are not flagged.

    Notes
    -----
    A converged variable-probability run was flagged for 17 of 27 predictors at −5.6 % while it sat within
    1.4 % of the rewards actually delivered: the sampling of the reward sequence read as model bias. It is now
    judged against the delivered rewards (or with their sampling error).

    See Also
    --------
    drl.convergence : whether the learned window still moves.

    Examples
    --------
    >>> import drl
    >>> run = drl.simulate("dabney_variable_probability", drl.Population.grid(tau=[0.2, 0.8]), 4000,
    ...                    progress=False)
    >>> report = drl.cue_code(run)
    >>> sorted(report["type"].values.tolist())
    ['p10', 'p50', 'p90']
    """
    ds = open_run(run)
    in_range("learned_fraction", learned_fraction, 0, 1, lo_open=True)
    in_range("tolerance", tolerance, 0, np.inf, lo_open=True)
    require_values(ds, "rpe")
    task = run_task(ds)
    options = run_options(ds)
    if trial_types is None:
        trial_types = [t.name for t in task.trial_types if t.rewards]
    trial_types = [trial_types] if isinstance(trial_types, str) else list(trial_types)
    n_pred = ds.sizes["predictor"]
    tau, gamma = ds["tau"].values, ds["gamma"].values
    shape = (n_pred, len(trial_types))
    response, expected, bias, noise, sampling, delivered = (np.full(shape, np.nan) for _ in range(6))
    complete = _every_trial_and_step(ds, task)
    comparable = options.get("preset") is None and options["convention"] == 2
    present = set(np.asarray(ds["trial_type"].values, dtype=str))
    for j, name in enumerate(trial_types):
        spec = task.trial_types[task.trial_type_index(name)]
        if not comparable or not spec.rewards or name not in present:
            continue
        window = learned_trials(ds, name, learned_fraction)
        k = step_index(window, spec.cue_time, "cue")
        cue = window["rpe"].isel(time=k).values.astype(np.float64)  # [P, N]
        response[:, j] = cue.mean(1)
        noise[:, j] = standard_error(cue[:, :, None])[:, 0] if cue.shape[1] >= 8 else np.nan
        # the rewards the window learned from: a sample of the task's, whose own statistic the values follow
        n_learned = window.sizes["trial"] * ds.attrs.get("n_trials", ds.sizes["trial"]) / ds.sizes["trial"]
        for g in np.unique(gamma):
            members = np.flatnonzero(gamma == g)
            try:
                truth = return_distribution(task, name, float(g))
            except ValueError:  # too many joint outcomes to enumerate: no exact truth to compare with
                continue
            returns = _delivered_returns(window, k, float(g), task.dt) if complete else None
            if options["rule"] == "quantile":
                lo, hi = _quantile_interval(truth.values, truth.probabilities, tau[members])
                r = response[members, j]
                expected[members, j] = np.clip(r, lo, hi)
                bias[members, j] = r - expected[members, j]
                if returns is not None:
                    lo, hi = _quantile_interval(returns, np.full(returns.size, 1 / returns.size), tau[members])
                    delivered[members, j] = np.clip(r, lo, hi)
            else:
                expected[members, j] = expectiles(truth, tau[members])
                bias[members, j] = response[members, j] - expected[members, j]
                sampling[members, j] = _expectile_sampling_error(truth, tau[members], expected[members, j],
                                                                 n_learned)
                if returns is not None:
                    values, counts = np.unique(returns, return_counts=True)
                    delivered[members, j] = expectiles(RewardDistribution(values, counts / counts.sum()),
                                                       tau[members])
    type_scale = np.nanmax(np.abs(expected), axis=0, initial=0.0)  # [T]
    scale = np.maximum(np.abs(expected), 0.1 * type_scale[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = bias / np.where(scale > 0, scale, np.nan)
    # off the exact statistic beyond the tolerance and beyond the noise of the value and of the window's reward
    # sample; and, where the rewards delivered are known, off their own statistic too
    spread = np.sqrt(np.nan_to_num(noise, nan=0.0) ** 2 + np.nan_to_num(sampling, nan=0.0) ** 2)
    off_delivered = response - delivered
    with np.errstate(invalid="ignore"):
        beyond_delivered = np.where(np.isfinite(delivered),
                                    (np.abs(off_delivered) > tolerance * scale)
                                    & (np.abs(off_delivered) > 3 * np.nan_to_num(noise, nan=0.0)), True)
    flagged = (np.abs(relative) > tolerance) & (np.abs(bias) > 3 * spread) & beyond_delivered
    coords = {"predictor": ds["predictor"].values, "type": trial_types,
              **{name: ("predictor", ds[name].values) for name in ("tau", "gamma", "alpha_pos", "alpha_neg", "lam")}}
    out = xr.Dataset(
        {
            "cue_response": (("predictor", "type"), response, {"long_name": "mean cue response δ_cue over the "
                                                                            "learned window", "units": "reward units"}),
            "expected": (("predictor", "type"), expected, {"long_name": f"exact τ-{options['rule']} of the "
                                                                        "discounted return from the cue",
                                                           "units": "reward units"}),
            "bias": (("predictor", "type"), bias, {"long_name": "cue response − expected", "units": "reward units"}),
            "relative_bias": (("predictor", "type"), relative, {"long_name": "bias / the predictor's scale",
                                                                "units": "1"}),
            "noise": (("predictor", "type"), noise, {"long_name": "standard error of the mean cue response",
                                                     "units": "reward units"}),
            "sampling": (("predictor", "type"), sampling, {
                "long_name": "standard error of the statistic of the rewards a learned window of this many trials "
                             "delivers", "units": "reward units"}),
            "delivered": (("predictor", "type"), delivered, {
                "long_name": "the statistic of the returns delivered in the learned window (NaN: not every trial "
                             "and step recorded)", "units": "reward units"}),
            "biased": (("predictor", "type"), flagged),
        },
        coords=coords,
    )
    out.attrs.update(tolerance=tolerance, learned_fraction=learned_fraction, rule=options["rule"],
                     bootstrap=options["bootstrap"], features=options["features"]["name"],
                     own_inexact_types=[n for n in trial_types
                                        if not own_bootstrap_exact(task.trial_types[task.trial_type_index(n)])])
    return out


def _every_trial_and_step(ds, task) -> bool:
    """Whether the run recorded the reward at every step of every trial (then the rewards each window delivered
    are known, not only their distribution)."""
    return ("reward" in ds.data_vars and ds.sizes["trial"] == ds.attrs.get("n_trials", -1)
            and ds.sizes["time"] == task.n_steps)


def _delivered_returns(window, cue_step: int, gamma: float, dt: float) -> np.ndarray:
    """[N] each learned trial's discounted return from the cue, ``Σ_{j ≥ k} γ^((j − k)·dt)·r_j`` (the target
    of the cue response ``δ_cue = r_cue + γ^dt·V_cue``)."""
    reward = window["reward"].values[:, cue_step:].astype(np.float64)  # [N, steps from the cue]
    return reward @ (gamma ** (dt * np.arange(reward.shape[1])))


def _expectile_sampling_error(truth, levels: np.ndarray, values: np.ndarray, n: float) -> np.ndarray:
    """The standard error of the τ-expectile of ``n`` draws from ``truth`` (the M-estimator's sandwich:
    √(E[ψ²] / n) / E[w], ψ = w·(x − e), w = τ above e and 1 − τ below)."""
    x, p = truth.values[None, :], truth.probabilities[None, :]
    weight = np.where(x > values[:, None], levels[:, None], 1 - levels[:, None])
    psi = weight * (x - values[:, None])
    return np.sqrt((p * psi**2).sum(1) / max(n, 1.0)) / (p * weight).sum(1)


def own_bootstrap_exact(spec) -> bool:
    """Whether ``bootstrap="own"`` has the exact τ-statistic of the return as its fixed point for a trial type:
    when no reward time is jittered and every reward event but the last is certain, what follows each step
    before the last reward is certain, and a predictor's own next value is the right target."""
    events = sorted(spec.rewards, key=lambda event: event.time)
    if any(event.jitter > 0 for event in events):
        return False
    return all(len(e.magnitudes) == 1 and e.sd == 0 and e.delivery_probability == 1 for e in events[:-1])


def _causes(report: xr.Dataset, rows: np.ndarray) -> str:
    """The likely causes of the flagged predictors' bias, each with its way out."""
    causes = []
    if report.attrs["features"] != "csc":
        causes.append(f"{report.attrs['features']} features overlap, so values approximate the return (γ̂ equals γ "
                      "and reversal points equal expectiles only with CSC features)")
    lam = report["lam"].values[rows]
    if np.any(lam < 0.9):
        causes.append(f"λ = {np.min(lam):g}: each bootstrap step between cue and reward adds the τ-tail of the "
                      "learning noise (the bias grows with α and as dt shrinks); λ ≥ 0.9 with α ≤ 0.01 keeps it small "
                      "(docs/guide/architecture.md, 'The cue code at finite α')")
    alpha = 0.5 * (report["alpha_pos"].values[rows] + report["alpha_neg"].values[rows])
    if np.any(alpha > 0.02):
        causes.append(f"the base rate α reaches {np.max(alpha):.3g}: the bias shrinks like √α; lower it")
    if report.attrs["bootstrap"] == "own" and report.attrs["own_inexact_types"]:
        causes.append(f"bootstrap='own' is not exact for {report.attrs['own_inexact_types']}: a random reward "
                      "time, or a random reward followed by more, needs bootstrap='imputed' (expectiles) or "
                      "'random' (quantiles)")
    return "; ".join(causes) or "more trials may remove it (drl.convergence)"


def warn_if_cue_biased(run, trial_types=None, *, learned_fraction: float = 0.5, tolerance: float = 0.02,
                       stacklevel: int = 3) -> xr.Dataset | None:
    """Warn (:class:`CueCodeWarning`) when :func:`cue_code` flags predictors, naming them with their τ, γ, cue
    response, expected value and the likely cause. Returns the report (None when the run records no ``rpe``)."""
    ds = open_run(run)
    if "rpe" not in ds.data_vars:
        return None
    report = cue_code(ds, trial_types, learned_fraction=learned_fraction, tolerance=tolerance)
    flagged = report["biased"].values
    if not flagged.any():
        return report
    rows, cols = np.nonzero(flagged)
    order = np.argsort(-np.abs(report["relative_bias"].values[rows, cols]), kind="stable")
    named = []
    for i in order[:5]:
        p, j = rows[i], cols[i]
        named.append(f"#{int(report['predictor'][p])} (tau={float(report['tau'][p]):.3g}, "
                     f"gamma={float(report['gamma'][p]):.3g}) in {str(report['type'].values[j])!r}: "
                     f"{float(report['cue_response'][p, j]):.3g} for {float(report['expected'][p, j]):.3g} "
                     f"({100 * float(report['relative_bias'][p, j]):+.1f} %)")
    more = f"; and {len(order) - 5} more" if len(order) > 5 else ""
    n_pred = int(flagged.any(1).sum())
    warnings.warn(f"the cue code is biased for {n_pred} of {report.sizes['predictor']} predictors (their learned cue "
                  f"response against the exact τ-{report.attrs['rule']} of the return, beyond its noise): "
                  f"{'; '.join(named)}{more}. Likely: {_causes(report, np.unique(rows))}. drl.cue_code(run) shows "
                  "every predictor.", CueCodeWarning, stacklevel=stacklevel)
    return report
