"""The controls a referee asks for around Dabney et al. 2020's distributional code, on any responses form.

* :func:`classify_cue_cells`: each neuron optimistic, pessimistic or interpolating from its single-trial cue
  responses in the variable-probability task (the 50 % cue against the midpoint of the 10 % and 90 % cues,
  Mann–Whitney U test).
* :func:`split_half_reversals`: are reversal points a property of the neuron? Each neuron's trials split at
  random into two halves, the reversal points of the halves correlated across neurons, over many splits. A
  population that shares one value prediction (classical TD) and differs only by noise gives r ≈ 0.
* :func:`predict_signs`: do a neuron's own reversal point predict the sign of its held-out single-trial responses
  better than one reversal point shared by the population?
* :func:`reference_ladder`: what a decoded distribution's W1 distance to the truth means, beside the W1 of
  references anyone could have guessed: uniform over the truth's range, a Gaussian with its mean and SD, the truth
  mirrored about its mean, shifted by half its SD and scaled by 1.5 about its mean.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from scipy import stats

from drl._validate import in_range, integer
from drl.decode._checks import MAX_SPLITS
from drl.decode.reward import reward_reading, scaled
from drl.responses.form import conditions_of, nan_mean, on_estimate_dim, pooled, random_halves
from drl.responses.run import as_form

__all__ = ["classify_cue_cells", "cross_validated_asymmetry", "predict_signs", "reference_ladder",
           "split_half_reversals"]

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


def _reward_trials(caller: str, run, trial_type, event, learned_fraction, reversal_fit, axis=None):
    """(form, reversal estimator, trial type, magnitudes [M], single trials [N, M, R]) of the reward responses a
    split-half analysis reads; refused without single trials or with a magnitude recorded once. The estimator's
    axis (the utility axis, a population property) comes from all the trials."""
    form = as_form(run, reward_type=trial_type, reward=True, event=event, learned_fraction=learned_fraction)
    if "trial_response" not in form:
        raise ValueError(f"{caller} needs single-trial responses (the form's trial_response); this form has means "
                         "only")
    trial_type, magnitudes, _, trials, _, estimator = reward_reading(form, trial_type, reversal_fit, axis)
    counts = np.isfinite(trials).sum(2)
    single = counts == 1
    if single.any():
        # one trial cannot go to both halves: the magnitude is left out of that neuron's halves (a rare magnitude
        # in a short recording: 110 trials of Dabney's task give the 0.1 µl one a 1 in 200 chance of one trial)
        trials = np.where(single[:, :, None], np.nan, trials)
        warnings.warn(f"{caller}: {int(single.sum())} neuron × magnitude pair(s) hold a single trial and are left "
                      "out of the halves (one trial cannot be split)", stacklevel=3)
    if not (np.isfinite(trials).sum(2) >= 2).sum(1).max(initial=0) >= 2:
        raise ValueError(f"{caller} needs at least 2 trials at each of at least 2 magnitudes for some neuron")
    return form, estimator, trial_type, magnitudes, trials


def split_half_reversals(run, trial_type: str | None = None, *, n_splits: int = 200, event: int = 0,
                         learned_fraction: float = 0.5, response: str = "scaled", reversal_fit: str | None = None,
                         seed: int = 0) -> xr.Dataset:
    """Split-half consistency of reversal points (Dabney et al. 2020).

    The reversal points of two random halves of each neuron's trials, correlated across neurons, ``n_splits``
    times. Each neuron's trials at each magnitude are split at random into two halves of (nearly) equal size, on
    their own (as if each neuron were recorded in its own session; see :func:`~drl.decode.reward_responses`,
    ``resample``); each half gives a reversal point per neuron (the estimator of ``reward_responses``). A
    population whose reversal points differ (a distributional code) gives a high correlation between halves; one
    that shares one reversal point and differs only by noise gives r near 0, in either sign. Each split's p-value
    is a test over neurons; re-splits of the same trials are not independent replications.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) or a responses form with single trials (a recording).
    trial_type : str, optional
        The reward's trial type (default: the first with two magnitudes or more).
    n_splits : int
        Random halvings (≥ 1).
    event : int
        Which reward of the trial type.
    learned_fraction : float
        The last fraction of a run's recorded trials read as learned (0 < f ≤ 1).
    response : {"scaled", "rpe"}
        A model's δ scaled by α± (Dabney's model dopamine response) or not.
    reversal_fit : {"crossing", "hinge", "sign_count", "dabney2020"}, optional
        The estimator (default: "crossing" for a model, "hinge" for a recording).
    seed : int
        Seed of the halvings.

    Returns
    -------
    xarray.Dataset
        ``correlation`` and ``p_value`` [split] (Pearson, across the neurons with a reversal point in both
        halves), ``reversal_a``, ``reversal_b`` [split, neuron] (``predictor`` for a model's own); attrs
        ``median_correlation``, ``fraction_significant`` (splits with p < 0.05 and r > 0), ``trial_type``,
        ``n_neurons``.

    Raises
    ------
    ValueError
        ``n_splits`` below 1, an unknown trial type, ``response`` or ``reversal_fit``.

    See Also
    --------
    cross_validated_asymmetry : asymmetry against reversal point on independent halves.
    drl.plots.split_half : the figure.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9],
    ...                    alpha=0.05), 1000, seed=0, progress=False)
    >>> halves = decode.split_half_reversals(run, n_splits=20)
    >>> bool(halves.attrs["median_correlation"] > 0.9)
    True
    """
    n_splits = integer("n_splits", n_splits, minimum=1, maximum=MAX_SPLITS)
    form, fit, trial_type, magnitudes, trials = _reward_trials("split_half_reversals", run, trial_type, event,
                                                               learned_fraction, reversal_fit)
    rng = np.random.default_rng(seed)
    n_neurons = trials.shape[0]
    halves = np.full((2, n_splits, n_neurons), np.nan)
    for s in range(n_splits):
        for h, half in enumerate(random_halves(trials, rng)):
            halves[h, s] = fit.from_trials(half, scaled(form, half, response))[0]
    correlation, p_value = np.full(n_splits, np.nan), np.full(n_splits, np.nan)
    for s in range(n_splits):
        both = np.isfinite(halves[0, s]) & np.isfinite(halves[1, s])
        if both.sum() >= 3 and np.ptp(halves[0, s, both]) > 0 and np.ptp(halves[1, s, both]) > 0:
            correlation[s], p_value[s] = stats.pearsonr(halves[0, s, both], halves[1, s, both])
    units = form.attrs.get("units", "reward units")
    out = xr.Dataset(
        {
            "correlation": ("split", correlation, {"long_name": "Pearson r of the halves' reversal points",
                                                   "units": "1"}),
            "p_value": ("split", p_value, {"units": "1"}),
            "reversal_a": (("split", "neuron"), halves[0], {"long_name": "reversal point, first half",
                                                           "units": units}),
            "reversal_b": (("split", "neuron"), halves[1], {"long_name": "reversal point, second half",
                                                           "units": units}),
        },
        coords={"split": np.arange(n_splits), "neuron": form["neuron"].values},
    )
    finite = np.isfinite(correlation)
    out.attrs.update(trial_type=trial_type, reversal_fit=fit.fit, axis=fit.axis_name, n_neurons=n_neurons,
                     median_correlation=float(np.median(correlation[finite])) if finite.any() else float("nan"),
                     fraction_significant=float(np.mean((p_value[finite] < 0.05) & (correlation[finite] > 0)))
                     if finite.any() else float("nan"))
    return on_estimate_dim(out, form)


def cross_validated_asymmetry(run, trial_type: str | list | None = None, *, n_splits: int = 200, event: int = 0,
                              learned_fraction: float = 0.5, response: str = "scaled",
                              reversal_fit: str | None = None, axis: str | None = None, seed: int = 0) -> xr.Dataset:
    """Does a neuron's asymmetry predict its reversal point when the two are measured on different trials?

    Dabney et al. 2020's cross-validated test of the distributional code (their Fig. 4). Each of ``n_splits``
    times, each neuron's trials at each magnitude are split at random into two halves (as
    :func:`split_half_reversals`); the reversal point comes from the first half and τ̂ from the second (through
    the second half's own reversal point), both read as :func:`~drl.decode.reward_responses` reads them
    (``reversal_fit``, ``axis``; the utility axis from all the trials). Noise shared by the two estimates cannot
    make them correlate. The replication unit of each split's test is the neuron: a split's p-value is a test
    over neurons, and the median over splits summarises how the result depends on the split (it is not itself a
    p-value, and re-splits of the same trials are not independent replications).

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) or a responses form with single trials (a recording).
    trial_type : str or list of str, optional
        The reward's trial type, or several to pool (default: the first with two magnitudes or more).
    n_splits : int
        Random halvings (≥ 1).
    event : int
        Which reward of the trial type.
    learned_fraction : float
        The last fraction of a run's recorded trials read as learned (0 < f ≤ 1).
    response : {"scaled", "rpe"}
        A model's δ scaled by α± (Dabney's model dopamine response) or not.
    reversal_fit : {"crossing", "hinge", "sign_count", "dabney2020"}, optional
        The estimator (default: "crossing" for a model, "hinge" for a recording).
    axis : {"magnitude", "utility"}, optional
        Where reversal points and slopes are read (default: "magnitude" for a model, "utility" for a recording).
    seed : int
        Seed of the halvings.

    Returns
    -------
    xarray.Dataset
        ``pearson``, ``spearman`` and ``p_value`` (Pearson's, over the neurons) [split]; ``reversal_point``
        (first half, reward units) and ``tau_hat`` (second half) [split, neuron] (``predictor`` for a model's
        own); attrs ``median_pearson``, ``median_spearman``, ``spearman_iqr`` ([25th, 75th] percentile),
        ``fraction_significant`` (splits with p < 0.05 and r > 0), ``trial_type``, ``reversal_fit``, ``axis``,
        ``n_neurons``.

    Raises
    ------
    ValueError
        ``n_splits`` below 1, an unknown trial type, ``response``, ``reversal_fit`` or ``axis``.

    Warns
    -----
    UserWarning
        No split left three neurons whose estimates vary (NaN correlations).

    See Also
    --------
    split_half_reversals : the reversal points of both halves.
    drl.plots.asymmetry_vs_reversal : the figure.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9],
    ...                    alpha=0.05), 1000, seed=0, progress=False)
    >>> held_out = decode.cross_validated_asymmetry(run, n_splits=20)
    >>> bool(held_out.attrs["median_spearman"] > 0.9)
    True
    """
    n_splits = integer("n_splits", n_splits, minimum=1, maximum=MAX_SPLITS)
    form, fit, trial_type, _, trials = _reward_trials("cross_validated_asymmetry", run, trial_type, event,
                                                      learned_fraction, reversal_fit, axis)
    rng = np.random.default_rng(seed)
    n_neurons = trials.shape[0]
    reversal, tau = np.full((n_splits, n_neurons), np.nan), np.full((n_splits, n_neurons), np.nan)
    for s in range(n_splits):
        first, second = random_halves(trials, rng)
        reversal[s] = fit.from_trials(first, scaled(form, first, response))[0]
        tau[s] = fit.from_trials(second, scaled(form, second, response))[3]
    pearson, spearman, p_value = (np.full(n_splits, np.nan) for _ in range(3))
    for s in range(n_splits):
        both = np.isfinite(reversal[s]) & np.isfinite(tau[s])
        if both.sum() >= 3 and np.ptp(reversal[s, both]) > 0 and np.ptp(tau[s, both]) > 0:
            pearson[s], p_value[s] = stats.pearsonr(tau[s, both], reversal[s, both])
            spearman[s] = stats.spearmanr(tau[s, both], reversal[s, both])[0]
    finite = np.isfinite(pearson)
    if not finite.any():  # e.g. responses that do not follow the reward: every τ̂ at an end of the axis
        warnings.warn("no split left three neurons whose reversal points and asymmetries vary: no correlation to "
                      "report (NaN)", UserWarning, stacklevel=2)
    units = form.attrs.get("units", "reward units")
    out = xr.Dataset(
        {
            "pearson": ("split", pearson, {"long_name": "Pearson r of tau_hat (second half) and reversal point "
                                                        "(first half)", "units": "1"}),
            "spearman": ("split", spearman, {"long_name": "Spearman rank correlation of the same", "units": "1"}),
            "p_value": ("split", p_value, {"long_name": "Pearson's p over the neurons of one split", "units": "1"}),
            "reversal_point": (("split", "neuron"), reversal, {"long_name": "reversal point, first half",
                                                               "units": units}),
            "tau_hat": (("split", "neuron"), tau, {"long_name": "asymmetry, second half", "units": "1"}),
        },
        coords={"split": np.arange(n_splits), "neuron": form["neuron"].values},
    )
    out.attrs.update(trial_type=trial_type, reversal_fit=fit.fit, axis=fit.axis_name, n_neurons=n_neurons,
                     median_pearson=float(np.median(pearson[finite])) if finite.any() else float("nan"),
                     median_spearman=float(np.nanmedian(spearman[finite])) if finite.any() else float("nan"),
                     spearman_iqr=([float(q) for q in np.nanpercentile(spearman[finite], [25, 75])] if finite.any()
                                   else [float("nan")] * 2),
                     fraction_significant=float(np.mean((p_value[finite] < 0.05) & (pearson[finite] > 0)))
                     if finite.any() else 0.0)
    return on_estimate_dim(out, form)


def _split_estimates(form, trials, magnitudes, response, fit, rng):
    """One random halving of each neuron's trials at each magnitude: (reversal points from the first half [N],
    the second half's trials [N, M, R])."""
    first, second = random_halves(trials, rng)
    return fit.from_trials(first, scaled(form, first, response))[0], second


def predict_signs(run, trial_type: str | None = None, *, n_splits: int = 20, event: int = 0,
                  learned_fraction: float = 0.5, response: str = "scaled", reversal_fit: str | None = None,
                  seed: int = 0) -> xr.Dataset:
    """Held-out sign prediction: does each neuron's own reversal point predict its held-out responses' signs?

    Dabney et al. 2020: is a held-out reward response above or below baseline as the neuron's own reversal point
    says, better than one reversal point for all? For each of ``n_splits`` random halvings of each neuron's
    trials at each magnitude (as :func:`split_half_reversals`), reversal points are estimated on the first half;
    the sign of the second half's mean response at each magnitude is predicted as the sign of (magnitude −
    reversal point), with the neuron's own point or with the median of all neurons' (the shared point a classical
    TD population would have). Means, not single trials: a single spike count's sign is mostly noise (predicted
    73 % right by either point on a distributional population). A mean of exactly 0 is not counted.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) or a responses form with single trials (a recording).
    trial_type : str, optional
        The reward's trial type (default: the first with two magnitudes or more).
    n_splits : int
        Random halvings (≥ 1).
    event : int
        Which reward of the trial type.
    learned_fraction : float
        The last fraction of a run's recorded trials read as learned (0 < f ≤ 1).
    response : {"scaled", "rpe"}
        A model's δ scaled by α± (Dabney's model dopamine response) or not.
    reversal_fit : {"crossing", "hinge", "sign_count", "dabney2020"}, optional
        The estimator (default: "crossing" for a model, "hinge" for a recording).
    seed : int
        Seed of the halvings.

    Returns
    -------
    xarray.Dataset
        On ``neuron`` (``predictor`` for a model's own): ``accuracy_own``, ``accuracy_shared`` (fractions of
        held-out magnitudes whose sign is predicted, averaged over splits); attrs ``mean_own``, ``mean_shared``,
        ``wilcoxon_p`` (paired signed-rank test across neurons), ``fraction_better_own``, ``trial_type``,
        ``n_splits``.

    Raises
    ------
    ValueError
        ``n_splits`` below 1, an unknown trial type, ``response`` or ``reversal_fit``.

    See Also
    --------
    split_half_reversals : the consistency of the reversal points themselves.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9],
    ...                    alpha=0.05), 1000, seed=0, progress=False)
    >>> signs = decode.predict_signs(run, n_splits=5)
    >>> bool(signs.attrs["mean_own"] > signs.attrs["mean_shared"])
    True
    """
    n_splits = integer("n_splits", n_splits, minimum=1, maximum=MAX_SPLITS)
    form, fit, trial_type, magnitudes, trials = _reward_trials("predict_signs", run, trial_type, event,
                                                               learned_fraction, reversal_fit)
    rng = np.random.default_rng(seed)
    own, shared = np.zeros(trials.shape[0]), np.zeros(trials.shape[0])
    for _ in range(n_splits):
        reversal, held_out = _split_estimates(form, trials, magnitudes, response, fit, rng)
        sign = np.sign(nan_mean(held_out, 2))  # [N, M]: the held-out half's mean response at each magnitude
        counted = np.isfinite(sign) & (sign != 0)
        n_counted = np.maximum(counted.sum(1), 1)
        for point, total in ((reversal, own), (np.full_like(reversal, np.nanmedian(reversal)), shared)):
            predicted = np.sign(magnitudes[None, :] - point[:, None])  # [N, M]
            total += (counted & (predicted == sign)).sum(1) / n_counted / n_splits
    difference = own - shared
    p_value = float(stats.wilcoxon(difference).pvalue) if np.any(difference != 0) else 1.0
    out = xr.Dataset(
        {"accuracy_own": ("neuron", own, {"long_name": "held-out signs predicted with the neuron's reversal point",
                                          "units": "1"}),
         "accuracy_shared": ("neuron", shared, {"long_name": "held-out signs predicted with the shared point",
                                                "units": "1"})},
        coords={"neuron": form["neuron"].values},
    )
    out.attrs.update(trial_type=trial_type, mean_own=float(own.mean()), mean_shared=float(shared.mean()),
                     wilcoxon_p=p_value, fraction_better_own=float(np.mean(own > shared)), n_splits=n_splits)
    return on_estimate_dim(out, form)


def _w1_to(truth_values, truth_weights, values, weights) -> float:
    return float(stats.wasserstein_distance(truth_values, values, truth_weights, weights))


def reference_ladder(truth, decoded=None, *, decoded_weights=None, n_points: int = 2001) -> dict:
    """W1 distances to the truth of a decoded distribution and of the references a referee compares it with.

    Parameters
    ----------
    truth : RewardDistribution or (values, probabilities)
        The true reward distribution.
    decoded : DecodedDistribution or array_like, optional
        The decoded distribution, or its samples (None: the references only).
    decoded_weights : array_like, optional
        Weights of the decoded samples (default equal).
    n_points : int
        Grid points of the continuous references (uniform, Gaussian).

    Returns
    -------
    dict
        ``{name: W1}`` in the truth's units, for "decoded" (when given), "uniform over the range" (the truth's
        smallest to largest value), "Gaussian with the mean and SD", "mirrored about the mean" (left out for a
        symmetric truth, which is its own mirror: W1 = 0 says nothing), "shifted by SD/2" (W1 = SD/2 exactly)
        and "scaled ×1.5 about the mean" (W1 = E|X − mean| / 2 exactly). A decode that beats the Gaussian and
        the mirror has found the distribution's shape, not only its mean and spread.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> truth = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    >>> ladder = decode.reference_ladder(truth)
    >>> abs(ladder["shifted by SD/2"] - truth.std / 2) < 1e-9
    True
    """
    n_points = integer("n_points", n_points, minimum=3)
    if hasattr(truth, "values") and hasattr(truth, "probabilities"):
        values, probabilities = np.asarray(truth.values, float), np.asarray(truth.probabilities, float)
    else:
        values, probabilities = (np.asarray(part, float) for part in truth)
    if values.shape != probabilities.shape or values.ndim != 1 or values.size == 0:
        raise ValueError("truth must give values and probabilities of the same length")
    if np.any(probabilities < 0) or not np.isclose(probabilities.sum(), 1.0, atol=1e-6):
        raise ValueError(f"truth's probabilities must be ≥ 0 and sum to 1; got sum {probabilities.sum():.6g}")
    mean = float(probabilities @ values)
    sd = float(np.sqrt(probabilities @ (values - mean) ** 2))
    ladder = {}
    if decoded is not None:
        samples = np.asarray(getattr(decoded, "samples", decoded), float).ravel()
        weights = decoded_weights if decoded_weights is None else np.asarray(decoded_weights, float).ravel()
        if samples.size == 0 or not np.all(np.isfinite(samples)):
            raise ValueError("decoded must hold finite samples")
        ladder["decoded"] = _w1_to(values, probabilities, samples, weights)
    grid = np.linspace(values.min(), values.max(), n_points) if np.ptp(values) > 0 else values[:1]
    ladder["uniform over the range"] = _w1_to(values, probabilities, grid, None)
    if sd > 0:
        quantiles = stats.norm.ppf((np.arange(n_points) + 0.5) / n_points, mean, sd)
        ladder["Gaussian with the mean and SD"] = _w1_to(values, probabilities, quantiles, None)
    else:
        ladder["Gaussian with the mean and SD"] = 0.0
    mirrored = _w1_to(values, probabilities, 2 * mean - values, probabilities)
    if mirrored > 1e-9 * max(sd, 1e-300):  # a symmetric truth is its own mirror: no reference (W1 = 0) then
        ladder["mirrored about the mean"] = mirrored
    ladder["shifted by SD/2"] = _w1_to(values, probabilities, values + sd / 2, probabilities)
    ladder["scaled ×1.5 about the mean"] = _w1_to(values, probabilities, mean + 1.5 * (values - mean), probabilities)
    return ladder
