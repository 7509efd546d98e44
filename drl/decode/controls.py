"""The controls a referee asks for around Dabney et al. 2020's distributional code, on any responses form.

* :func:`split_half_reversals`: are reversal points a property of the neuron? Each neuron's trials split at
  random into two halves, the reversal points of the halves correlated across neurons, over many splits. A
  population that shares one value prediction (classical TD) and differs only by noise gives r ≈ 0.
* :func:`predict_signs`: do a neuron's own reversal point predict the sign of its held-out single-trial responses
  better than one reversal point shared by the population?
* :func:`cross_validated_asymmetry`: does a neuron's asymmetry predict its reversal point when the two are
  measured on different trials?

The cells of the variable-probability task are classified in :mod:`drl.decode.cue_cells`; what a decoded
distribution's W1 means is :mod:`drl.decode.scoring`'s.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from scipy import stats

from drl._validate import integer
from drl.decode._checks import MAX_SPLITS
from drl.decode.reward import reward_reading, scaled
from drl.responses.form import nan_mean, on_estimate_dim, random_halves
from drl.responses.run import as_form

__all__ = ["cross_validated_asymmetry", "predict_signs", "split_half_reversals"]


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
    reward_responses : the same estimates on all the trials.

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


