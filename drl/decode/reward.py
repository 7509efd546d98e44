"""Per-neuron estimates at the reward: each neuron's response against the reward magnitude, its reversal point
and its asymmetry τ̂ (Dabney et al. 2020), from the responses form alone.

How the reversal point is read depends on the signal, not on where it came from (the estimators are in
:mod:`drl.decode.reversal`): a model predictor's δ is linear in the reward on both sides of its reversal point, so
the reversal point is the zero crossing of its mean on the magnitudes (``reversal_fit="crossing"``). A recorded
response bends at its reversal point, is noisy trial to trial, and is not linear in the reward itself (real
dopamine neurons' responses are close to linear in the empirical utility, the population's mean response per
magnitude; Dabney et al. 2020), so by default it is read as a two-piece line with non-negative slopes on the utility
axis (``reversal_fit="hinge"``, ``axis="utility"``): τ̂ stays in [0, 1]. ``"sign_count"`` is Dabney et al.'s
crossing (robust to outlying trials, but it reads where the *median* response crosses zero, off the mean's for
skewed spike counts); ``"dabney2020"`` is the paper's procedure exactly. Any can be asked for.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import xarray as xr

from drl.decode.reversal import AXES, REVERSAL_FITS, Estimator, hinge_fit, sign_count_reversal, utility_axis
from drl.responses.form import conditions_of, nan_mean, on_estimate_dim, pooled
from drl.responses.run import as_form

__all__ = ["hinge_fit", "reward_responses", "sign_count_reversal"]

RESPONSES = ("scaled", "rpe")
#: what a recorded response is read with by default: a two-piece line with non-negative slopes on the empirical
#: utility axis (see :mod:`drl.decode.reversal`)
RECORDED_DEFAULT = ("hinge", "utility")


def scaled(form: xr.Dataset, values: np.ndarray, response: str) -> np.ndarray:
    """values [N, ...] as the response analysed: a model's δ scaled by its α+ / α− (``"scaled"``, Dabney's model
    dopamine response) or not (``"rpe"``); a recorded signal as recorded (it is a response already)."""
    if response not in RESPONSES:
        raise ValueError(f"response must be 'scaled' or 'rpe'; got {response!r}")
    if response == "rpe" or form.attrs.get("signal") != "model":
        return values
    shape = (-1,) + (1,) * (values.ndim - 1)
    return np.where(values > 0, form["alpha_pos"].values.reshape(shape), form["alpha_neg"].values.reshape(shape)) * values


def reward_trials(form: xr.Dataset, trial_type):
    """The form's reward conditions of ``trial_type`` (default: the first with two magnitudes or more; a list
    pools several), pooled by magnitude: (trial_type, magnitudes [M], mean [N, M], single trials [N, M, R] or
    None, trial ids [M, R] or None).

    Pooled trial types after the first are shifted by one constant each, so that their mean response over
    neurons and magnitudes equals the first's (Dabney et al. 2020 pool cued and uncued rewards so)."""
    several = isinstance(trial_type, list | tuple)
    types = list(trial_type) if several else None if trial_type is None else [trial_type]
    if several and (not types or len(set(types)) < len(types)):
        raise ValueError(f"trial_type must name distinct trial types to pool; got {trial_type!r}")
    conditions = conditions_of(form, "magnitude", "reward", types)
    if trial_type is None and conditions.size:
        names = form["trial_type"].values[conditions]
        trial_type = next((n for n in dict.fromkeys(names)
                           if np.unique(form["magnitude"].values[conditions][names == n]).size > 1), names[0])
        conditions = conditions[names == trial_type]
    if not conditions.size:
        raise ValueError("the responses hold no reward condition (a condition with a magnitude)")
    if several and len(types) > 1:
        form = _aligned(form, conditions, types)
    magnitudes, mean, _, trials, ids = pooled(form, conditions, form["magnitude"].values[conditions])
    name = "+".join(types) if several else str(trial_type)
    if magnitudes.size < 2:
        raise ValueError(f"the reward conditions of trial type {name!r} delivered only one reward magnitude "
                         f"({magnitudes.tolist()}); reversal points need rewards of different magnitudes: they need "
                         "at least two")
    return name, magnitudes, mean, trials, ids


def _aligned(form: xr.Dataset, conditions: np.ndarray, types: list) -> xr.Dataset:
    """The form with the responses of ``types[1:]`` at ``conditions`` shifted so that each type's mean over
    neurons and magnitudes (of the per-neuron means) equals ``types[0]``'s."""
    names = form["trial_type"].values[conditions]
    response = form["response"].values

    def grand_mean(name):
        columns = conditions[names == name]
        per_magnitude = np.nanmean(response[:, columns], 0)  # neurons first, as the paper's code averages
        return float(np.nanmean(per_magnitude))

    reference = grand_mean(types[0])
    shifted = form.copy(deep=True)
    for name in types[1:]:
        columns = conditions[names == name]
        shift = grand_mean(name) - reference
        shifted["response"].values[:, columns] -= shift
        if "trial_response" in shifted:
            shifted["trial_response"].values[:, columns] -= shift
    return shifted


def reversal_fit_of(form: xr.Dataset, reversal_fit: str | None) -> str:
    """The reversal-point estimator: as asked, else the signal's (see the module docstring)."""
    if reversal_fit is None:
        return "crossing" if form.attrs.get("signal") == "model" else RECORDED_DEFAULT[0]
    if reversal_fit not in REVERSAL_FITS:
        raise ValueError(f"reversal_fit must be one of {REVERSAL_FITS}; got {reversal_fit!r}")
    return reversal_fit


def axis_of(form: xr.Dataset, axis: str | None, fit: str) -> str:
    """The axis responses are read on: as asked, else the magnitudes for a model (whose δ is linear in them) and
    the empirical utility for a recording; the paper's procedure reads utility."""
    if axis is None:
        return "magnitude" if form.attrs.get("signal") == "model" and fit != "dabney2020" else "utility"
    if axis not in AXES:
        raise ValueError(f"axis must be 'magnitude' or 'utility'; got {axis!r}")
    return axis


def estimator_for(form: xr.Dataset, magnitudes: np.ndarray, mean: np.ndarray, reversal_fit: str | None,
                  axis: str | None) -> Estimator:
    """The :class:`~drl.decode.reversal.Estimator` for these responses: the fit and axis asked for (or the
    signal's defaults), the utility axis from the neurons' mean responses [N, M] at ``magnitudes``."""
    fit = reversal_fit_of(form, reversal_fit)
    axis = axis_of(form, axis, fit)
    values = np.asarray(magnitudes, np.float64) if axis == "magnitude" else utility_axis(mean)
    return Estimator(fit, np.asarray(magnitudes, np.float64), values, axis)


def _flat_trials(values: np.ndarray, ids: np.ndarray):
    """Pooled trials [N, M, R] with shared ids [M, R] as one row of trials per neuron, in trial order: ([N, T],
    magnitude index of each [T])."""
    m, r = np.nonzero(ids >= 0)
    order = np.argsort(ids[m, r], kind="stable")
    return values[:, m[order], r[order]], m[order]


def _resampled_estimates(form, estimator, trials, ids, response, seed):
    """Reversal points from one bootstrap resample of each neuron's trials and slopes from another (as if each
    neuron were recorded in its own session), with the sign counts of the first resample."""
    if trials is None or ids is None:
        raise ValueError("resample=True resamples single trials shared by all neurons: give the responses with "
                         "trial_response= and trial= (a run has both)")
    magnitudes = estimator.magnitudes
    signal, which = _flat_trials(trials, ids)
    onehot = np.eye(magnitudes.size)[which]  # [T, M]
    rng = np.random.default_rng(seed)
    rows = np.arange(signal.shape[0])[:, None]
    rev_mask, slope_mask = np.zeros_like(signal), np.zeros_like(signal)
    np.add.at(rev_mask, (rows, rng.integers(0, signal.shape[1], signal.shape)), 1.0)
    np.add.at(slope_mask, (rows, rng.integers(0, signal.shape[1], signal.shape)), 1.0)
    response_values = scaled(form, signal, response)

    def summaries(mask):
        n = mask @ onehot
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = [np.where(n > 0, (values * mask) @ onehot / np.where(n > 0, n, 1), np.nan)
                    for values in (signal, response_values)]
        return (*mean, n, ((signal > 0) * mask) @ onehot, ((signal < 0) * mask) @ onehot)

    first = summaries(rev_mask)
    reversal = estimator.estimate(*first)[0]
    slopes = estimator.estimate(*summaries(slope_mask))[1:]  # through the second resample's own reversal point
    return reversal, *slopes, sign_count_reversal(magnitudes, first[3], first[4])


def reward_responses(run, trial_type: str | list | None = None, *, event: int = 0, learned_fraction: float = 0.5,
                     response: str = "scaled", resample: bool = False, seed: int = 0,
                     reversal_fit: str | None = None, axis: str | None = None) -> xr.Dataset:
    """Each neuron's response to the reward as a function of its magnitude, its reversal point and asymmetry.

    ``run``: a run (Dataset, path or name: its predictors' δ at reward ``event`` on the last ``learned_fraction``
    of its trials, :func:`drl.responses.responses_from_run`) or any responses form (a recording).

    The response is a model predictor's δ scaled by α+ or α− (``response="scaled"``, the model dopamine response
    of Dabney et al. 2020) or not (``"rpe"``); a recorded response as recorded. Means are taken over the trials
    that delivered each magnitude; ``trial_type`` may be a list, whose reward responses are pooled by magnitude
    (each type after the first shifted by a constant so its grand mean equals the first's, as Dabney et al.
    pooled cued and uncued rewards). The **reversal point** is where the response crosses zero and the slopes s+
    and s− above and below it give the estimated asymmetry ``tau_hat = s+ / (s+ + s−)``; both are read on
    ``axis``: ``"magnitude"`` (the default for a model's δ, which is linear in the reward) or ``"utility"``
    (the default for a recording: the population's mean response at each magnitude, made non-decreasing; the
    reversal point is mapped back to magnitudes, and ``reversal_point_axis`` keeps it in utility). The estimator
    (``reversal_fit``, :mod:`drl.decode.reversal`): ``"crossing"`` (a model's default: the zero crossing of the
    mean, linear between magnitudes), ``"hinge"`` (a recording's default: a two-piece line by least squares on
    the single trials, slopes ≥ 0, so τ̂ ∈ [0, 1]), ``"sign_count"`` (Dabney et al.'s threshold that leaves the
    most single responses on the right side, interpolated between magnitudes; slopes through it by least
    squares, kept ≥ 0; robust to outliers, but it finds the median's crossing, which for skewed spike counts is
    off the mean's: on Poisson spikes of a model population, 0.58 SD off against the hinge's 0.05) or
    ``"dabney2020"`` (the paper's procedure exactly: the same crossing with the paper's caps at the ends and
    unconstrained linear scale factors). A reversal point at an end of the axis
    leaves one side without data: τ̂ is then the level the expectile code puts there (0 at the smallest reward,
    1 at the largest). A neuron recorded at only some magnitudes is fitted on those it has.

    ``resample=True`` estimates each neuron's reversal point and slopes from two independent bootstrap resamples
    (``seed``) of its trials, as if each neuron had been recorded in its own session: all predictors of a run see
    the same reward sequence, so without it the trial-to-trial noise they share can correlate the two estimates
    on its own (the confound Dabney et al. 2020 avoid with independent data).

    ``reversal_point_sign_count`` is Dabney et al.'s estimator (:func:`sign_count_reversal`) on the single
    trials (on the means when there are none): robust to a few outlying responses, but only as fine as the
    magnitudes delivered.

    Returns a Dataset: ``response`` [predictor, magnitude] (``neuron`` for recorded neurons), ``axis`` [magnitude], ``reversal_point``,
    ``reversal_point_axis``, ``reversal_point_sign_count``,
    ``slope_pos``, ``slope_neg``, ``tau_hat`` [predictor], ``count`` [magnitude] (trials averaged, the most of any
    neuron) and ``neurons`` [magnitude] (neurons recorded there), with the neurons' coordinates (a run's τ, γ,
    α±, λ); attrs ``trial_type``, ``response``, ``reversal_fit``, ``axis``, ``n_neurons`` (neurons with a
    reversal point).

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) or a responses form.
    trial_type : str or list of str, optional
        The reward's trial type, or several to pool.
    event : int
        Which reward of the trial type.
    learned_fraction : float
        The last fraction of the recorded trials read as learned (0 < f ≤ 1).
    response : {"scaled", "rpe"}
        A model's δ scaled by α± (Dabney's model dopamine response) or not.
    resample : bool
        The reversal point and the slopes from two independent bootstrap resamples (``seed``).
    seed : int
        Seed of ``resample``.
    reversal_fit : {"crossing", "hinge", "sign_count", "dabney2020"}, optional
        The estimator (default: "crossing" for a model, "hinge" for a recording).
    axis : {"magnitude", "utility"}, optional
        Where reversal points and slopes are read (default: "magnitude" for a model, "utility" for a recording).

    Returns
    -------
    xarray.Dataset
        As above: one row per neuron (``predictor``), one column per magnitude.

    See Also
    --------
    reward_response_intervals : the same estimates with bootstrap intervals.
    decode_reward_distribution : the distribution these reversal points code.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.2, 0.5, 0.8], alpha=0.05),
    ...                    2000, seed=0, progress=False)
    >>> responses = decode.reward_responses(run)
    >>> bool((responses["reversal_point"].diff("predictor") > 0).all())  # optimists reverse at larger rewards
    True
    """
    form = as_form(run, reward_type=trial_type, reward=True, event=event, learned_fraction=learned_fraction)
    return responses_at_reward(form, trial_type, response=response, resample=resample, seed=seed,
                               reversal_fit=reversal_fit, axis=axis)


class RewardReading(NamedTuple):
    """The reward trials of a form and the estimator that reads them (:func:`reward_reading`)."""

    trial_type: str
    magnitudes: np.ndarray
    mean: np.ndarray
    trials: np.ndarray | None
    ids: np.ndarray | None
    estimator: Estimator


def reward_reading(form: xr.Dataset, trial_type=None, reversal_fit: str | None = None,
                   axis: str | None = None) -> RewardReading:
    """The pooled reward trials of ``trial_type`` (:func:`reward_trials`) with their estimator
    (:func:`estimator_for`): computed once for an estimate, its intervals or its splits."""
    name, magnitudes, mean, trials, ids = reward_trials(form, trial_type)
    return RewardReading(name, magnitudes, mean, trials, ids, estimator_for(form, magnitudes, mean, reversal_fit,
                                                                           axis))


def responses_at_reward(form: xr.Dataset, trial_type: str | list | None = None, *, response: str = "scaled",
                        resample: bool = False, seed: int = 0, reversal_fit: str | None = None,
                        axis: str | None = None, reading: RewardReading | None = None) -> xr.Dataset:
    """:func:`reward_responses` of a responses form (``reading``: its :func:`reward_reading`, when computed
    already; ``trial_type``, ``reversal_fit`` and ``axis`` are then its)."""
    if response not in RESPONSES:
        raise ValueError(f"response must be 'scaled' or 'rpe'; got {response!r}")
    if reading is None:
        reading = reward_reading(form, trial_type, reversal_fit, axis)
    trial_type, magnitudes, mean, trials, ids, estimator = reading
    fit = estimator.fit
    signal = trials if trials is not None else mean[:, :, None]
    mean_response = nan_mean(scaled(form, signal, response), 2)
    if resample:
        reversal, slope_pos, slope_neg, tau_hat, sign_count = _resampled_estimates(
            form, estimator, trials, ids, response, seed)
    else:
        reversal, slope_pos, slope_neg, tau_hat = estimator.from_trials(signal, scaled(form, signal, response))
        sign_count = sign_count_reversal(magnitudes, (signal > 0).sum(2), (signal < 0).sum(2))
    counted = np.isfinite(signal).sum(2)
    units = form.attrs.get("units", "reward units")
    model = form.attrs.get("signal") == "model"
    slope_units = "1" if model else "recorded units per reward unit"
    neuron_coords = {name: ("neuron", form[name].values) for name in form.coords
                     if form[name].dims == ("neuron",) and name != "neuron"}
    out = xr.Dataset(
        {
            "response": (("neuron", "magnitude"), mean_response, {
                "long_name": f"mean {response} response at the reward" if model else "mean recorded response at "
                "the reward", "units": "reward units" if model else "recorded units"}),
            "reversal_point": ("neuron", reversal, {"long_name": "magnitude where the response reverses sign",
                                                       "units": units}),
            "reversal_point_sign_count": ("neuron", sign_count, {
                "long_name": "reversal point by sign count of single trials", "units": units}),
            "slope_pos": ("neuron", slope_pos, {"units": slope_units}),
            "slope_neg": ("neuron", slope_neg, {"units": slope_units}),
            "tau_hat": ("neuron", tau_hat, {"long_name": "estimated asymmetry s+ / (s+ + s-)", "units": "1"}),
            "count": ("magnitude", counted.max(0), {"long_name": "trials averaged (the most of any neuron)",
                                                    "units": "1"}),
            "neurons": ("magnitude", (counted > 0).sum(0), {"long_name": "neurons recorded at this magnitude",
                                                            "units": "1"}),
        },
        coords={"neuron": form["neuron"].values, "magnitude": magnitudes, **neuron_coords},
    )
    out["magnitude"].attrs.update(long_name="reward magnitude delivered", units=units)
    out = out.assign_coords(axis=("magnitude", estimator.axis, {
        "long_name": "the axis responses are read on" + (": the population's mean response" if
                                                         estimator.axis_name == "utility" else ""),
        "units": units if estimator.axis_name == "magnitude" else form.attrs.get("response_units", "recorded units")}))
    out["reversal_point_axis"] = ("neuron", estimator.to_axis(reversal), {
        "long_name": "reversal point on the axis", "units": out["axis"].attrs["units"]})
    out.attrs.update(trial_type=trial_type, response=response if model else "recorded", reversal_fit=fit,
                     axis=estimator.axis_name,
                     task_name=form.attrs["task_name"], units=units,
                     n_neurons=int(np.isfinite(reversal).sum()))
    for key in ("learned_fraction", "rule"):
        if key in form.attrs:
            out.attrs[key] = form.attrs[key]
    return on_estimate_dim(out, form)  # "predictor" for a model's own

