"""A test whose replication unit is the session: do the neurons recorded together differ in their cue code?

Neurons of one session share its learning history. In a classical-TD session every neuron reads one value
prediction, so when that prediction sits off the midpoint of the 10 % and 90 % cues (the rewards a session
happened to deliver), every neuron sits off it together, and with enough trials the per-cell test of
:func:`~drl.decode.classify_cue_cells` calls them all: 4–15 % of a classical-TD session at 1000 trials per
cue, against a nominal 5 %. That is one observation (the session's shared value), not many.

What distinguishes a distributional session is that its neurons sit at *different* places between their 10 % and
90 % responses. :func:`cue_diversity_by_session` tests exactly that, within each session: the null is one common
position π for every neuron of the session (``middle − low = π · (high − low)`` for each neuron, whatever its gain
and baseline), so shared learning noise, which moves π, cannot reject it; only neurons that differ can.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from scipy import optimize, stats

from drl._validate import integer
from drl.decode.cue_cells import cue_trials
from drl.responses.form import nan_mean
from drl.responses.run import as_form

__all__ = ["cue_diversity_by_session"]


def homogeneity_statistic(lows, mids, highs, low_var, mid_var, high_var) -> tuple[float, float]:
    """The smallest Fieller-type sum of squares over a common position π, and that π.

    Parameters
    ----------
    lows, mids, highs : numpy.ndarray, shape [neuron]
        Each neuron's mean response to the low, middle and high cue (any units, one per neuron).
    low_var, mid_var, high_var : numpy.ndarray, shape [neuron]
        The variances of those means (the trials' variance over their count; same units squared).

    Returns
    -------
    q : float
        ``min_π Σ_i (m_i − l_i − π (h_i − l_i))² / (v_m,i + (1 − π)² v_l,i + π² v_h,i)``: χ² with
        ``neuron − 1`` degrees of freedom when every neuron has the same π and the means are normal.
    position : float
        The π at that minimum (0: the low cue's response, 1: the high cue's).
    """
    gap, rise = highs - lows, mids - lows

    def q_of(position: float) -> float:
        variance = mid_var + (1 - position) ** 2 * low_var + position**2 * high_var
        return float(np.sum((rise - position * gap) ** 2 / variance))

    # a weighted mean of the neurons' positions starts the search; Q is smooth in π and, on [−1, 2], has its
    # minimum where the positions are (a neuron's position outside that range is noise around 0–1)
    best = optimize.minimize_scalar(q_of, bounds=(-1.0, 2.0), method="bounded", options={"xatol": 1e-10})
    return float(best.fun), float(best.x)


def cue_diversity_by_session(run, low: str = "p10", middle: str = "p50", high: str = "p90", *,
                             learned_fraction: float = 0.5, min_trials: int = 5) -> xr.Dataset:
    """Per session, a test that its neurons sit at different positions between their low and high cue responses.

    Parameters
    ----------
    run : xarray.Dataset, str or pathlib.Path
        A responses form with single trials (a recording; its ``session`` coordinate, when present, groups the
        neurons), or a run (its predictors read as one session).
    low, middle, high : str
        The trial types of the cues predicting reward with low, middle and high probability (Dabney et al.
        2020's ``p10``, ``p50``, ``p90``).
    learned_fraction : float
        For a run: the last fraction of trials read (the learned ones).
    min_trials : int
        Neurons with fewer trials of any of the three cues are left out (their means' variances are unknown).

    Returns
    -------
    xarray.Dataset
        Dims ``[session]``: ``q`` (the statistic), ``df`` (neurons − 1), ``p_value`` (χ² upper tail),
        ``common_position`` (π̂: 0 at the low cue's response, 1 at the high cue's; 0.5 for a mean code),
        ``position_spread`` (the SD of the neurons' own positions) and ``n_neurons`` (neurons tested). Attrs:
        ``low``, ``middle``, ``high``, ``min_trials``.

    Notes
    -----
    Each neuron's three means ``l, m, h`` and their variances ``v`` come from its single trials. Under the null
    every neuron of a session has ``m − l = π (h − l)`` for one π (a classical-TD session: one shared value, any
    gain and baseline per neuron), and ``Q = min_π Σ (m − l − π (h − l))² / (v_m + (1 − π)² v_l + π² v_h)`` is χ²
    with n − 1 degrees of freedom (Fieller's construction, so no ratio of noisy means is formed). Neurons that
    code different expectiles have different π and make Q large. The p-value's replication unit is the trial
    within a neuron, and what it says is about the session; results over sessions replicate over sessions.
    The means are taken as normal: with a handful of trials per cue, skewed spike counts make it liberal.

    See Also
    --------
    drl.decode.classify_cue_cells : the per-cell test, which shared learning noise inflates.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> from drl.responses import recording_from_run, responses_from_recording
    >>> population = drl.Population.grid(tau=[0.2, 0.35, 0.5, 0.65, 0.8] * 4, gamma=0.9)
    >>> run = drl.simulate("dabney_variable_probability", population, 4000, progress=False, seed=1)
    >>> form = responses_from_recording(recording_from_run(run, n_trials=300, seed=1))
    >>> test = decode.cue_diversity_by_session(form)
    >>> bool(test["p_value"].item() < 0.01), int(test["n_neurons"].item())
    (True, 20)
    """
    min_trials = integer("min_trials", min_trials, minimum=2)
    form = as_form(run, cue_types=[low, middle, high], learned_fraction=learned_fraction)
    trials = [cue_trials(form, name, "cue_diversity_by_session") for name in (low, middle, high)]
    counts = [np.isfinite(t).sum(1) for t in trials]
    means = [nan_mean(t, 1) for t in trials]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a neuron with one trial of a cue: NaN, left out below
        variances = [np.nanvar(t, 1, ddof=1) / c for t, c in zip(trials, counts, strict=True)]
    usable = np.all([c >= min_trials for c in counts], 0) & np.all([v > 0 for v in variances], 0)
    sessions = (form["session"].values.astype(str) if "session" in form.coords
                else np.full(form.sizes["neuron"], str(form.attrs.get("task_name", "session"))))
    names = list(dict.fromkeys(sessions))
    columns = {key: np.full(len(names), np.nan) for key in ("q", "df", "p_value", "common_position",
                                                             "position_spread")}
    n_tested = np.zeros(len(names), dtype=np.int64)
    for s, name in enumerate(names):  # a loop over sessions (a handful), each a vector over its neurons
        keep = usable & (sessions == name)
        n_tested[s] = int(keep.sum())
        if n_tested[s] < 2:
            continue
        q, position = homogeneity_statistic(*(m[keep] for m in means), *(v[keep] for v in variances))
        gap = means[2][keep] - means[0][keep]
        with np.errstate(invalid="ignore", divide="ignore"):
            own = np.where(gap != 0, (means[1][keep] - means[0][keep]) / gap, np.nan)
        columns["q"][s], columns["df"][s], columns["common_position"][s] = q, n_tested[s] - 1, position
        columns["p_value"][s] = float(stats.chi2.sf(q, n_tested[s] - 1))
        columns["position_spread"][s] = float(np.nanstd(own, ddof=1))
    attrs = {"q": {"long_name": "homogeneity statistic (chi-squared under one common position)", "units": "1"},
             "df": {"long_name": "degrees of freedom (neurons tested - 1)", "units": "1"},
             "p_value": {"long_name": "p of one common position for every neuron of the session", "units": "1"},
             "common_position": {"long_name": f"common ({middle} - {low}) / ({high} - {low})", "units": "1"},
             "position_spread": {"long_name": "SD of the neurons' own positions", "units": "1"}}
    out = xr.Dataset({key: ("session", values, attrs[key]) for key, values in columns.items()},
                     coords={"session": names})
    out["n_neurons"] = ("session", n_tested, {"long_name": f"neurons with ≥ {min_trials} trials of each cue"})
    out.attrs.update(low=low, middle=middle, high=high, min_trials=min_trials)
    return out
