"""Cells on the middle cue of a variable-probability task, one by one: optimistic, pessimistic or interpolating
(Dabney et al. 2020). A test per cell; :mod:`drl.decode.sessions` tests the session as a whole."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats

from drl._validate import in_range
from drl.responses.form import conditions_of, nan_mean, on_estimate_dim, pooled
from drl.responses.run import as_form

__all__ = ["CELL_CLASSES", "classify_cue_cells", "cue_trials"]


CELL_CLASSES = ("pessimistic", "interpolating", "optimistic")


def cue_trials(form: xr.Dataset, trial_type: str, caller: str = "classify_cue_cells") -> np.ndarray:
    """Single-trial cue responses [N, R] of ``trial_type`` (its cue conditions pooled), NaN-padded."""
    conditions = conditions_of(form, "magnitude", "cue", [trial_type])
    if "trial_response" not in form:
        raise ValueError(f"{caller} needs single-trial responses (the form's trial_response); this form "
                         "has means only")
    _, _, _, trials, _ = pooled(form, conditions, np.zeros(conditions.size))
    return trials[:, 0, :]


CUE_TESTS = ("welch", "mann-whitney")


def _welch_contrast(lows: np.ndarray, mids: np.ndarray, highs: np.ndarray) -> float:
    """Two-sided p of the contrast middle − (low + high)/2 = 0 with unequal variances (Welch–Satterthwaite)."""
    parts = [(mids, 1.0), (lows, 0.5), (highs, 0.5)]
    variances = np.array([w**2 * x.var(ddof=1) / x.size for x, w in parts])
    total = variances.sum()
    if total <= 0:
        return 1.0 if mids.mean() == 0.5 * (lows.mean() + highs.mean()) else 0.0
    t = (mids.mean() - 0.5 * (lows.mean() + highs.mean())) / np.sqrt(total)
    df = total**2 / np.sum(variances**2 / np.array([x.size - 1 for x, _ in parts]))
    return float(2 * stats.t.sf(abs(t), df))


def classify_cue_cells(run, low: str = "p10", middle: str = "p50", high: str = "p90", *, alpha: float = 0.05,
                       test: str = "welch", learned_fraction: float = 0.5) -> xr.Dataset:
    """Each neuron optimistic, pessimistic or interpolating on the middle cue of a variable-probability task.

    Dabney et al. 2020: cues predicting one reward with probability 10, 50 and 90 %. A neuron whose value code is
    the mean (τ = 0.5) responds to the 50 % cue midway between its 10 % and 90 % responses; an optimistic one
    (τ > 0.5: an expectile above the mean) above the midpoint, a pessimistic one below. The test (``test``,
    two-sided, at level ``alpha``) is of the contrast between the neuron's mean ``middle`` response and the
    midpoint of its ``low`` and ``high`` means:

    * ``"welch"`` (the default): the contrast over its standard error from the three samples' own variances,
      with Welch–Satterthwaite degrees of freedom; it holds its level on skewed, overdispersed spike counts;
    * ``"mann-whitney"``: a Mann–Whitney U test of the ``middle`` trials against the ``low`` trials moved up and
      the ``high`` trials moved down by half the gap between their means (single trials centred on the
      midpoint). It compares distributions, not means, so with skewed counts it runs slightly liberal (measured
      4.7–6.4 % at a nominal 5 %, 7.3 % on overdispersed counts).

    (Averaging pairs of low and high trials gives a sample less skewed than single trials, whose median sits
    above theirs: with Poisson spike counts a mean-coding population then came out 22 % "pessimistic".) Dabney et
    al. classified their cells with their own tests; this is one contrast test per cell. Neurons recorded
    together share their learning history, so calls that cluster in one session are one observation, not many:
    :func:`cue_diversity_by_session` tests session by session.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (its predictors' δ at each cue on the learned trials; a model predictor's trials differ only by
        learning, so nearly every predictor off τ = 0.5 is significant) or a responses form with single trials
        (a recording).
    low, middle, high : str
        The trial types of the three cues.
    alpha : float
        The test's level, in (0, 1).
    test : {"welch", "mann-whitney"}
        The test of each cell.
    learned_fraction : float
        The last fraction of a run's recorded trials read as learned (0 < f ≤ 1).

    Returns
    -------
    xarray.Dataset
        On ``neuron`` (``predictor`` for a model's own): ``cell_class`` ("optimistic", "pessimistic",
        "interpolating"), ``p_value``, ``middle_response`` and ``midpoint`` (mean responses), ``position``
        ((middle − low) / (high − low): 0.5 midway, above for an optimist), with the neurons' coordinates; attrs
        ``alpha``, ``test``, ``counts`` (neurons per class), ``by_session`` (the same per session, when the form
        pools sessions) and the three trial types.

    Raises
    ------
    ValueError
        ``alpha`` outside (0, 1), an unknown ``test`` or trial type.

    See Also
    --------
    cue_diversity_by_session : the test whose replication unit is the session.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("dabney_variable_probability", drl.Population.grid(tau=[0.2, 0.5, 0.8], alpha=0.1), 900,
    ...                    seed=0, progress=False)
    >>> decode.classify_cue_cells(run)["cell_class"].values.tolist()
    ['pessimistic', 'pessimistic', 'optimistic']
    """
    in_range("alpha", alpha, 0, 1, lo_open=True, hi_open=True)
    if test not in CUE_TESTS:
        raise ValueError(f"test must be 'welch' or 'mann-whitney'; got {test!r}")
    form = as_form(run, cue_types=[low, middle, high], learned_fraction=learned_fraction)
    trials = {name: cue_trials(form, name) for name in (low, middle, high)}
    n_neurons = form.sizes["neuron"]
    p_value = np.full(n_neurons, np.nan)
    cell_class = np.full(n_neurons, "", dtype=object)
    means = {name: nan_mean(values, 1) for name, values in trials.items()}
    for i in range(n_neurons):
        lows, mids, highs = (trials[name][i][np.isfinite(trials[name][i])] for name in (low, middle, high))
        if min(lows.size, highs.size, mids.size) < 2:
            continue
        half_gap = (highs.mean() - lows.mean()) / 2
        midpoints = np.concatenate([lows + half_gap, highs - half_gap])
        p_value[i] = (_welch_contrast(lows, mids, highs) if test == "welch"
                      else stats.mannwhitneyu(mids, midpoints, alternative="two-sided").pvalue)
        above = mids.mean() > midpoints.mean()
        cell_class[i] = ("optimistic" if above else "pessimistic") if p_value[i] < alpha else "interpolating"
    midpoint = (means[low] + means[high]) / 2
    spread = means[high] - means[low]
    with np.errstate(invalid="ignore", divide="ignore"):
        position = np.where(spread != 0, (means[middle] - means[low]) / spread, np.nan)
    neuron_coords = {name: ("neuron", form[name].values) for name in form.coords
                     if form[name].dims == ("neuron",) and name != "neuron"}
    out = xr.Dataset(
        {
            "cell_class": ("neuron", cell_class.astype(str), {"long_name": "class on the middle cue"}),
            "p_value": ("neuron", p_value, {"long_name": f"{test} test, middle cue against the midpoint",
                                            "units": "1"}),
            "middle_response": ("neuron", means[middle], {"long_name": f"mean response to the {middle} cue"}),
            "midpoint": ("neuron", midpoint, {"long_name": f"mean of the {low} and {high} cue responses"}),
            "position": ("neuron", position, {"long_name": f"({middle} - {low}) / ({high} - {low})",
                                              "units": "1"}),
        },
        coords={"neuron": form["neuron"].values, **neuron_coords},
    )
    out.attrs.update(alpha=float(alpha), test=test, low=low, middle=middle, high=high,
                     counts={name: int((cell_class == name).sum()) for name in CELL_CLASSES})
    if "session" in form.coords:  # neurons of one session share its learning history: count them per session
        sessions = form["session"].values.astype(str)
        out.attrs["by_session"] = {
            str(name): {kind: int(np.sum((cell_class == kind) & (sessions == name))) for kind in CELL_CLASSES}
            for name in dict.fromkeys(sessions)}
    return on_estimate_dim(out, form)
