"""Per-neuron estimates at the reward: each neuron's response against the reward magnitude, its reversal point
and its asymmetry τ̂ (Dabney et al. 2020), from the responses form alone.

How the reversal point is read depends on the signal, not on where it came from: a model predictor's δ is linear
in the reward on both sides of its reversal point, so the reversal point is the zero crossing of its mean
(``reversal_fit="crossing"``); a measured (or α±-scaled) response bends there, so a two-piece line is fitted
(``"hinge"``, :func:`hinge_fit`). Either can be asked for.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from drl.responses.form import conditions_of, nan_mean, pooled
from drl.responses.run import as_form

__all__ = ["hinge_fit", "reward_responses", "sign_count_reversal"]

RESPONSES = ("scaled", "rpe")
REVERSAL_FITS = ("crossing", "hinge")


def zero_crossing(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per row of y [P, M] over ascending x [M]: the first upward zero crossing of the piecewise-linear curve;
    rows that never cross are extrapolated linearly from their two points nearest zero."""
    below = y[:, :-1] <= 0
    cross = below & (y[:, 1:] > 0)
    has = cross.any(1)
    i = np.where(has, cross.argmax(1), np.where(y[:, 0] > 0, 0, x.size - 2))
    rows = np.arange(y.shape[0])
    y0, y1, x0, x1 = y[rows, i], y[rows, i + 1], x[i], x[i + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(y1 != y0, x0 - y0 * (x1 - x0) / (y1 - y0), 0.5 * (x0 + x1))


def asymmetry(magnitudes: np.ndarray, reversal: np.ndarray, mean: np.ndarray):
    """Slopes s+ and s− of lines through each reversal point fitted to the mean responses [P, M] above and
    below it, and ``tau_hat = s+ / (s+ + s−)``."""
    offset = magnitudes[None, :] - reversal[:, None]
    above, below = (offset > 0) & np.isfinite(mean), (offset < 0) & np.isfinite(mean)
    mean = np.nan_to_num(mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope_pos = (np.where(above, offset * mean, 0).sum(1)) / np.where(above, offset**2, 0).sum(1)
        slope_neg = (np.where(below, offset * mean, 0).sum(1)) / np.where(below, offset**2, 0).sum(1)
        return slope_pos, slope_neg, slope_pos / (slope_pos + slope_neg)


def hinge_fit(magnitudes, mean, n_grid: int = 2001):
    """Fit ``r(m) = s+·(m − c)⁺ + s−·min(m − c, 0)`` to each row of the mean responses [P, M]: the reversal point
    c with the slopes above (s+) and below (s−) it, by least squares over a grid of c spanning the magnitudes
    (the two columns have disjoint support, so the slopes are closed-form for each c).

    A recorded (scaled) response bends at its reversal point, so the chord between the two magnitudes around
    it crosses zero off the reversal; this fit does not. Returns (c, s+, s−) [P] each; rows whose responses
    never change sign get the linear extrapolation of the nearest two points for c. NaN in ``mean`` (a neuron not
    recorded at a magnitude) leaves that point out of the row's fit; a row with fewer than two points gets NaN.
    """
    magnitudes = np.asarray(magnitudes, np.float64)
    mean = np.asarray(mean, np.float64)
    present = np.isfinite(mean)
    grid = np.linspace(magnitudes[0], magnitudes[-1], n_grid)
    offset = magnitudes[None, :] - grid[:, None]  # [G, M]
    above, below = np.clip(offset, 0, None), np.clip(offset, None, 0)
    filled = np.where(present, mean, 0.0)
    if present.all():
        norm_above, norm_below = (above**2).sum(1), (below**2).sum(1)  # [G]
    else:  # each row's own magnitudes
        norm_above, norm_below = present @ (above**2).T, present @ (below**2).T  # [P, G]
    with np.errstate(invalid="ignore", divide="ignore"):
        gain_above = np.where(norm_above > 0, (filled @ above.T) ** 2 / norm_above, 0.0)  # [P, G]
        gain_below = np.where(norm_below > 0, (filled @ below.T) ** 2 / norm_below, 0.0)
        best = np.argmax(gain_above + gain_below, 1)  # least squares ⇔ the largest explained sum of squares
        c = grid[best]
        a, b = above[best] * present, below[best] * present  # [P, M]
        slope_pos = (a * filled).sum(1) / (a**2).sum(1)
        slope_neg = (b * filled).sum(1) / (b**2).sum(1)
    crosses = (np.where(present, mean, np.inf).min(1) < 0) & (np.where(present, mean, -np.inf).max(1) > 0)
    if present.all():
        c = np.where(crosses, c, zero_crossing(magnitudes, mean))
    else:
        fallback = np.array([zero_crossing(magnitudes[row], mean[i:i + 1, row])[0] if row.sum() >= 2 else np.nan
                             for i, row in enumerate(present)])
        c = np.where(crosses, c, fallback)
        few = present.sum(1) < 2
        c, slope_pos, slope_neg = (np.where(few, np.nan, v) for v in (c, slope_pos, slope_neg))
    return c, slope_pos, slope_neg


def sign_count_reversal(magnitudes, positive, negative) -> np.ndarray:
    """Dabney et al. 2020's sign-count reversal point: the threshold between reward magnitudes that misclassifies
    the fewest single responses (positive below it, negative above it).

    Args:
      magnitudes: [M] ascending reward magnitudes.
      positive, negative: [P, M] counts of positive and negative single-trial responses per magnitude.

    Returns [P] reversal points: the midpoint between the magnitudes the best threshold separates (the lowest
    or highest magnitude when all responses are of one sign), averaged over tied thresholds.
    """
    magnitudes = np.asarray(magnitudes, np.float64)
    positive, negative = np.asarray(positive, np.float64), np.asarray(negative, np.float64)
    # errors[k]: threshold after the first k magnitudes (k = 0 … M) = positives below + negatives above
    below = np.concatenate([np.zeros((positive.shape[0], 1)), np.cumsum(positive, 1)], 1)
    above = np.concatenate([np.cumsum(negative[:, ::-1], 1)[:, ::-1], np.zeros((negative.shape[0], 1))], 1)
    errors = below + above  # [P, M + 1]
    position = np.concatenate([[magnitudes[0]], 0.5 * (magnitudes[1:] + magnitudes[:-1]), [magnitudes[-1]]])
    best = errors == errors.min(1, keepdims=True)
    return (best * position).sum(1) / best.sum(1)


def scaled(form: xr.Dataset, values: np.ndarray, response: str) -> np.ndarray:
    """values [N, ...] as the response analysed: a model's δ scaled by its α+ / α− (``"scaled"``, Dabney's model
    dopamine response) or not (``"rpe"``); a recorded signal as recorded (it is a response already)."""
    if response not in RESPONSES:
        raise ValueError(f"response must be 'scaled' or 'rpe'; got {response!r}")
    if response == "rpe" or form.attrs.get("signal") != "model":
        return values
    shape = (-1,) + (1,) * (values.ndim - 1)
    return np.where(values > 0, form["alpha_pos"].values.reshape(shape), form["alpha_neg"].values.reshape(shape)) * values


def reward_trials(form: xr.Dataset, trial_type: str | None):
    """The form's reward conditions of ``trial_type`` (default: the first with two magnitudes or more), pooled by
    magnitude: (trial_type, magnitudes [M], mean [N, M], single trials [N, M, R] or None, trial ids [M, R] or
    None)."""
    conditions = conditions_of(form, "magnitude", "reward", None if trial_type is None else [trial_type])
    if trial_type is None and conditions.size:
        names = form["trial_type"].values[conditions]
        trial_type = next((n for n in dict.fromkeys(names)
                           if np.unique(form["magnitude"].values[conditions][names == n]).size > 1), names[0])
        conditions = conditions[names == trial_type]
    if not conditions.size:
        raise ValueError("the responses hold no reward condition (a condition with a magnitude)")
    magnitudes, mean, _, trials, ids = pooled(form, conditions, form["magnitude"].values[conditions])
    if magnitudes.size < 2:
        raise ValueError(f"the reward conditions of trial type {str(trial_type)!r} delivered only one reward "
                         f"magnitude ({magnitudes.tolist()}); reversal points need rewards of different magnitudes: "
                         "they need at least two")
    return str(trial_type), magnitudes, mean, trials, ids


def reversal_fit_of(form: xr.Dataset, reversal_fit: str | None) -> str:
    """The reversal-point estimator: as asked, else the signal's (see the module docstring)."""
    if reversal_fit is None:
        return "crossing" if form.attrs.get("signal") == "model" else "hinge"
    if reversal_fit not in REVERSAL_FITS:
        raise ValueError(f"reversal_fit must be 'crossing' or 'hinge'; got {reversal_fit!r}")
    return reversal_fit


def estimates(magnitudes, signal_mean, scaled_mean, reversal_fit: str):
    """(reversal point, s+, s−, τ̂) [rows] from mean responses [rows, M]: the signal's for the zero crossing, the
    analysed (scaled) response's for the slopes and the hinge."""
    if reversal_fit == "crossing":
        reversal = zero_crossing(magnitudes, signal_mean)
        return (reversal, *asymmetry(magnitudes, reversal, scaled_mean))
    reversal, slope_pos, slope_neg = hinge_fit(magnitudes, scaled_mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        return reversal, slope_pos, slope_neg, slope_pos / (slope_pos + slope_neg)


def _flat_trials(values: np.ndarray, ids: np.ndarray):
    """Pooled trials [N, M, R] with shared ids [M, R] as one row of trials per neuron, in trial order: ([N, T],
    magnitude index of each [T])."""
    m, r = np.nonzero(ids >= 0)
    order = np.argsort(ids[m, r], kind="stable")
    return values[:, m[order], r[order]], m[order]


def _resampled_estimates(form, magnitudes, trials, ids, response, reversal_fit, seed):
    """Reversal points from one bootstrap resample of each neuron's trials and slopes from another (as if each
    neuron were recorded in its own session), with the sign counts of the first resample."""
    if trials is None or ids is None:
        raise ValueError("resample=True resamples single trials shared by all neurons: give the responses with "
                         "trial_response= and trial= (a run has both)")
    signal, which = _flat_trials(trials, ids)
    onehot = np.eye(magnitudes.size)[which]  # [T, M]
    rng = np.random.default_rng(seed)
    rows = np.arange(signal.shape[0])[:, None]
    rev_mask, slope_mask = np.zeros_like(signal), np.zeros_like(signal)
    np.add.at(rev_mask, (rows, rng.integers(0, signal.shape[1], signal.shape)), 1.0)
    np.add.at(slope_mask, (rows, rng.integers(0, signal.shape[1], signal.shape)), 1.0)
    response_values = scaled(form, signal, response)

    def mean_per_magnitude(values, mask):
        n = mask @ onehot
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (values * mask) @ onehot / np.where(n > 0, n, 1), np.nan)

    reversal = estimates(magnitudes, mean_per_magnitude(signal, rev_mask), mean_per_magnitude(response_values, rev_mask),
                         reversal_fit)[0]
    slopes = estimates(magnitudes, mean_per_magnitude(signal, slope_mask),
                       mean_per_magnitude(response_values, slope_mask), reversal_fit)
    slopes = slopes[1:]  # through the second resample's own reversal point
    positive, negative = ((signal > 0) * rev_mask) @ onehot, ((signal < 0) * rev_mask) @ onehot
    return reversal, *slopes, sign_count_reversal(magnitudes, positive, negative)


def reward_responses(run, trial_type: str | None = None, *, event: int = 0, learned_fraction: float = 0.5,
                     response: str = "scaled", resample: bool = False, seed: int = 0,
                     reversal_fit: str | None = None) -> xr.Dataset:
    """Each neuron's response to the reward as a function of its magnitude, its reversal point and asymmetry.

    ``run``: a run (Dataset, path or name: its predictors' δ at reward ``event`` on the last ``learned_fraction``
    of its trials, :func:`drl.responses.responses_from_run`) or any responses form (a recording).

    The response is a model predictor's δ scaled by α+ or α− (``response="scaled"``, the model dopamine response
    of Dabney et al. 2020) or not (``"rpe"``); a recorded response as recorded. Means are taken over the trials
    that delivered each magnitude. The **reversal point** is where the response crosses zero: for a model's δ
    the zero crossing of its mean (linear interpolation between magnitudes; linear extrapolation from the
    nearest two when it does not cross), for a recorded response the two-piece linear fit :func:`hinge_fit`
    (``reversal_fit`` chooses either). The slopes s+ and s− above and below it give the estimated asymmetry
    ``tau_hat = s+ / (s+ + s−)``. A neuron recorded at only some magnitudes is fitted on those it has.

    ``resample=True`` estimates each neuron's reversal point and slopes from two independent bootstrap resamples
    (``seed``) of its trials, as if each neuron had been recorded in its own session: all predictors of a run see
    the same reward sequence, so without it the trial-to-trial noise they share can correlate the two estimates
    on its own (the confound Dabney et al. 2020 avoid with independent data).

    ``reversal_point_sign_count`` is Dabney et al.'s estimator (:func:`sign_count_reversal`) on the single
    trials (on the means when there are none): robust to a few outlying responses, but only as fine as the
    magnitudes delivered.

    Returns a Dataset: ``response`` [predictor, magnitude], ``reversal_point``, ``reversal_point_sign_count``,
    ``slope_pos``, ``slope_neg``, ``tau_hat`` [predictor], ``count`` [magnitude] (trials averaged, the most of any
    neuron) and ``neurons`` [magnitude] (neurons recorded there), with the neurons' coordinates (a run's τ, γ,
    α±, λ); attrs ``trial_type``, ``response``, ``reversal_fit``, ``n_neurons`` (neurons with a reversal point).
    """
    form = as_form(run, reward_type=trial_type, reward=True, event=event, learned_fraction=learned_fraction)
    return responses_at_reward(form, trial_type, response=response, resample=resample, seed=seed,
                               reversal_fit=reversal_fit)


def responses_at_reward(form: xr.Dataset, trial_type: str | None = None, *, response: str = "scaled",
                        resample: bool = False, seed: int = 0, reversal_fit: str | None = None) -> xr.Dataset:
    """:func:`reward_responses` of a responses form."""
    if response not in RESPONSES:
        raise ValueError(f"response must be 'scaled' or 'rpe'; got {response!r}")
    fit = reversal_fit_of(form, reversal_fit)
    trial_type, magnitudes, mean, trials, ids = reward_trials(form, trial_type)
    signal = trials if trials is not None else mean[:, :, None]
    mean_response = nan_mean(scaled(form, signal, response), 2)
    if resample:
        reversal, slope_pos, slope_neg, tau_hat, sign_count = _resampled_estimates(
            form, magnitudes, trials, ids, response, fit, seed)
    else:
        reversal, slope_pos, slope_neg, tau_hat = estimates(magnitudes, mean, mean_response, fit)
        sign_count = sign_count_reversal(magnitudes, (signal > 0).sum(2), (signal < 0).sum(2))
    counted = np.isfinite(signal).sum(2)
    units = form.attrs.get("units", "reward units")
    model = form.attrs.get("signal") == "model"
    slope_units = "1" if model else "recorded units per reward unit"
    neuron_coords = {name: ("predictor", form[name].values) for name in form.coords
                     if form[name].dims == ("neuron",) and name != "neuron"}
    out = xr.Dataset(
        {
            "response": (("predictor", "magnitude"), mean_response, {
                "long_name": f"mean {response} response at the reward" if model else "mean recorded response at "
                "the reward", "units": "reward units" if model else "recorded units"}),
            "reversal_point": ("predictor", reversal, {"long_name": "magnitude where the response reverses sign",
                                                       "units": units}),
            "reversal_point_sign_count": ("predictor", sign_count, {
                "long_name": "reversal point by sign count of single trials", "units": units}),
            "slope_pos": ("predictor", slope_pos, {"units": slope_units}),
            "slope_neg": ("predictor", slope_neg, {"units": slope_units}),
            "tau_hat": ("predictor", tau_hat, {"long_name": "estimated asymmetry s+ / (s+ + s-)", "units": "1"}),
            "count": ("magnitude", counted.max(0), {"long_name": "trials averaged (the most of any neuron)",
                                                    "units": "1"}),
            "neurons": ("magnitude", (counted > 0).sum(0), {"long_name": "neurons recorded at this magnitude",
                                                            "units": "1"}),
        },
        coords={"predictor": form["neuron"].values, "magnitude": magnitudes, **neuron_coords},
    )
    out["magnitude"].attrs.update(long_name="reward magnitude delivered", units=units)
    out.attrs.update(trial_type=trial_type, response=response if model else "recorded", reversal_fit=fit,
                     task_name=form.attrs["task_name"], units=units,
                     n_neurons=int(np.isfinite(reversal).sum()))
    for key in ("learned_fraction", "rule"):
        if key in form.attrs:
            out.attrs[key] = form.attrs[key]
    return out

