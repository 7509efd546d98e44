"""Decoders on runs: read each predictor's responses out of a run (learned trials), then decode them.

Every function takes a run (Dataset, path or name), reads it through :mod:`drl.schema`'s accessors, warns when
the learned window has not converged (:mod:`drl.convergence`) and decodes with :mod:`drl.decode.arrays`.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from drl.convergence import warn_if_unconverged
from drl.cue_code import warn_if_cue_biased
from drl.decode import recordings
from drl.decode.arrays import (
    DecodedDistribution,
    _density_at,
    _vector,
    _zero_crossing,
    decode_distribution,
    decode_timing,
    default_delay_grid,
    fit_discount,
)
from drl.schema import learned_trials, require_values, run_options, run_task, step_index
from drl.store import open_run

__all__ = ["cue_responses", "cue_values", "decode_joint", "decode_run_distribution", "decode_run_timing",
           "learned_trials",
           "hinge_fit", "reward_responses",
           "sign_count_reversal"]


def _scaled(ds: xr.Dataset, rpe: np.ndarray, response: str) -> np.ndarray:
    """rpe [P, ...] as the response: the RPE itself, or scaled by α+ / α− (Dabney's model dopamine response)."""
    if response == "rpe":
        return rpe
    if response != "scaled":
        raise ValueError(f"response must be 'scaled' or 'rpe'; got {response!r}")
    shape = (-1,) + (1,) * (rpe.ndim - 1)
    return np.where(rpe > 0, ds["alpha_pos"].values.reshape(shape), ds["alpha_neg"].values.reshape(shape)) * rpe


def _parameter_coords(ds: xr.Dataset) -> dict:
    return {name: ("predictor", ds[name].values) for name in ("alpha_pos", "alpha_neg", "tau", "gamma", "lam")}


def _asymmetry(magnitudes: np.ndarray, reversal: np.ndarray, mean: np.ndarray):
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
    never change sign get the linear extrapolation of :func:`_zero_crossing` for c.
    """
    magnitudes = np.asarray(magnitudes, np.float64)
    grid = np.linspace(magnitudes[0], magnitudes[-1], n_grid)
    offset = magnitudes[None, :] - grid[:, None]  # [G, M]
    above, below = np.clip(offset, 0, None), np.clip(offset, None, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        gain_above = np.where((above**2).sum(1) > 0, (mean @ above.T) ** 2 / (above**2).sum(1), 0.0)  # [P, G]
        gain_below = np.where((below**2).sum(1) > 0, (mean @ below.T) ** 2 / (below**2).sum(1), 0.0)
        best = np.argmax(gain_above + gain_below, 1)  # least squares ⇔ the largest explained sum of squares
        c = grid[best]
        a, b = above[best], below[best]  # [P, M]
        slope_pos = (a * mean).sum(1) / (a**2).sum(1)
        slope_neg = (b * mean).sum(1) / (b**2).sum(1)
    crosses = (mean.min(1) < 0) & (mean.max(1) > 0)
    c = np.where(crosses, c, _zero_crossing(magnitudes, mean))
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


#: More distinct delivered magnitudes than this are continuous (``RewardEvent(sd > 0)``) and are read in this many
#: equal-count bins, each at the mean magnitude of its trials
MAX_MAGNITUDES = 20


def _magnitude_bins(delivered: np.ndarray):
    """(mean magnitude per bin [M], bin of each trial [N]) for ``MAX_MAGNITUDES`` equal-count bins of continuous
    magnitudes. The RPE at the reward is linear in the magnitude, so the bin means lie on the same line and its
    zero crossing is the reversal point; with one trial per "magnitude" the first sign change of a noisy curve
    was taken instead (biased low by up to 0.1 std, 9 reversal points in 10 too low)."""
    order = np.argsort(delivered, kind="stable")
    which = np.empty(delivered.size, dtype=np.int64)
    which[order] = np.arange(delivered.size) * MAX_MAGNITUDES // delivered.size
    magnitudes = np.bincount(which, weights=delivered) / np.bincount(which)
    return magnitudes, which


def _reward_trials(ds: xr.Dataset, trial_type: str | None, event: int, learned_fraction: float):
    """The learned trials of ``trial_type`` (warning when unconverged) and, at reward ``event``: the distinct
    magnitudes delivered [M], each trial's magnitude index [N] and the RPE [P, N]."""
    require_values(ds, "rpe", "reward")
    task = run_task(ds)
    trial_type = trial_type or task.trial_type_names[0]
    warn_if_unconverged(ds, trial_types=[trial_type], learned_fraction=learned_fraction)
    sub = learned_trials(ds, trial_type, learned_fraction)
    spec = task.trial_types[task.trial_type_index(trial_type)]
    if not 0 <= event < len(spec.rewards):
        raise ValueError(f"event must index the {len(spec.rewards)} reward event(s) of {trial_type!r}; got {event}")
    k = step_index(sub, spec.cue_time + spec.rewards[event].time, "reward")
    delivered = np.round(sub["reward"].isel(time=k).values.astype(np.float64), 6)  # [N]
    magnitudes, which = np.unique(delivered, return_inverse=True)
    if magnitudes.size > MAX_MAGNITUDES:  # continuous magnitudes (sd > 0): one condition per trial is noise
        magnitudes, which = _magnitude_bins(delivered)
    if magnitudes.size < 2:
        raise ValueError(f"the learned trials of {trial_type!r} delivered only one reward magnitude "
                         f"({magnitudes.tolist()}); reversal points need rewards of different magnitudes")
    return sub, trial_type, magnitudes, which, sub["rpe"].isel(time=k).values.astype(np.float64)


def reward_responses(run, trial_type: str | None = None, *, event: int = 0, learned_fraction: float = 0.5,
                     response: str = "scaled", resample: bool = False, seed: int = 0) -> xr.Dataset:
    """Each predictor's response to the reward as a function of its magnitude, its reversal point and asymmetry.

    The response is the RPE at the reward step, scaled by α+ or α− (``response="scaled"``, the model dopamine
    response of Dabney et al. 2020) or not (``"rpe"``), averaged over the learned trials that delivered each
    magnitude. The **reversal point** is where the response crosses zero (linear interpolation between
    magnitudes; linear extrapolation from the nearest two when it does not cross). Lines through the reversal
    point fitted above and below it give the slopes s+ and s−, and the estimated asymmetry
    ``tau_hat = s+ / (s+ + s−)``.

    ``resample=True`` estimates each predictor's reversal point and slopes from two independent bootstrap
    resamples (``seed``) of its learned trials, as if each neuron had been recorded in its own session: all
    predictors of a run see the same reward sequence, so without it the trial-to-trial noise they share can
    correlate the two estimates on its own (the confound Dabney et al. 2020 avoid with independent data).

    ``reversal_point_sign_count`` is Dabney et al.'s estimator (:func:`sign_count_reversal`) on the single
    trials: robust to a few outlying responses, but only as fine as the magnitudes delivered.

    ``run`` may be a recording in the responses form (:mod:`drl.decode.recordings`): the response is then the
    recorded one (``response`` is ignored), ``learned_fraction`` and ``resample`` do not apply, the predictor
    coordinate holds the neuron ids, and only ``tau_hat`` estimates each neuron's asymmetry. A recorded response
    bends at its reversal point, so the reversal point and slopes come from a two-piece linear fit
    (:func:`hinge_fit`) instead of the zero crossing.

    Returns a Dataset: ``response`` [predictor, magnitude], ``reversal_point``, ``reversal_point_sign_count``,
    ``slope_pos``, ``slope_neg``, ``tau_hat`` [predictor], ``count`` [magnitude] (trials averaged), with the
    predictor parameters as coords.
    """
    if recordings.is_responses_form(run):
        return _recorded_reward_responses(run, trial_type)
    ds = open_run(run)
    return _run_reward_responses(ds, _reward_trials(ds, trial_type, event, learned_fraction), learned_fraction,
                                 response, resample, seed)


def _run_reward_responses(ds: xr.Dataset, trials: tuple, learned_fraction: float, response: str, resample: bool,
                          seed: int) -> xr.Dataset:
    """:func:`reward_responses` of a run from its learned trials as :func:`_reward_trials` read them."""
    sub, trial_type, magnitudes, which, rpe = trials
    onehot = np.eye(magnitudes.size)[which]  # [N, M]
    everywhere = np.ones_like(rpe, dtype=bool)
    if resample:
        # Two independent bootstrap resamples of the learned trials per predictor (as if each neuron were
        # recorded in its own session): reversal points from one, slopes from the other.
        rng = np.random.default_rng(seed)
        rows = np.arange(rpe.shape[0])[:, None]
        rev_mask, slope_mask = np.zeros_like(rpe), np.zeros_like(rpe)
        np.add.at(rev_mask, (rows, rng.integers(0, rpe.shape[1], rpe.shape)), 1.0)
        np.add.at(slope_mask, (rows, rng.integers(0, rpe.shape[1], rpe.shape)), 1.0)
    else:
        rev_mask = slope_mask = everywhere
    count = everywhere @ onehot  # [P, M]

    def mean_per_magnitude(values, mask):
        n = mask @ onehot
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (values * mask) @ onehot / np.where(n > 0, n, 1), np.nan)

    # The zero crossing is found on the unscaled RPE, which is linear in the magnitude; the scaled response
    # has a kink at the reversal point, so a chord across it would put the crossing off the zero.
    reversal = _zero_crossing(magnitudes, mean_per_magnitude(rpe, rev_mask))
    scaled = _scaled(sub, rpe, response)
    mean = mean_per_magnitude(scaled, everywhere)  # [P, M]
    if resample:
        slope_reversal = _zero_crossing(magnitudes, mean_per_magnitude(rpe, slope_mask))
        slope_mean = mean_per_magnitude(scaled, slope_mask)
    else:
        slope_reversal, slope_mean = reversal, mean
    slope_pos, slope_neg, tau_hat = _asymmetry(magnitudes, slope_reversal, slope_mean)
    sign_count = sign_count_reversal(magnitudes, ((rpe > 0) * rev_mask) @ onehot, ((rpe < 0) * rev_mask) @ onehot)
    coords = {"predictor": sub["predictor"].values, "magnitude": magnitudes, **_parameter_coords(sub)}
    out = xr.Dataset(
        {
            "response": (("predictor", "magnitude"), mean, {"long_name": f"mean {response} response at the reward",
                                                           "units": "reward units"}),
            "reversal_point": ("predictor", reversal, {"long_name": "magnitude where the response reverses sign",
                                                       "units": "reward units"}),
            "reversal_point_sign_count": ("predictor", sign_count, {
                "long_name": "reversal point by sign count of single trials", "units": "reward units"}),
            "slope_pos": ("predictor", slope_pos, {"units": "1"}),
            "slope_neg": ("predictor", slope_neg, {"units": "1"}),
            "tau_hat": ("predictor", tau_hat, {"long_name": "estimated asymmetry s+ / (s+ + s-)", "units": "1"}),
            "count": ("magnitude", count[0], {"long_name": "learned trials averaged", "units": "1"}),
        },
        coords=coords,
    )
    out["magnitude"].attrs.update(long_name="reward magnitude delivered", units="reward units")
    out.attrs.update(trial_type=trial_type, response=response, learned_fraction=learned_fraction,
                     task_name=ds.attrs["task_name"])
    return out


def _conditions(form: xr.Dataset, coordinate: str, trial_types) -> np.ndarray:
    """Indices of the form's conditions with a finite ``coordinate`` (magnitude or delay), of ``trial_types``."""
    finite = np.isfinite(form[coordinate].values)
    if trial_types is not None:
        names = form["trial_type"].values
        unknown = sorted(set(trial_types) - set(names[finite]))
        if unknown:
            raise ValueError(f"trial type(s) {unknown} have no condition with a {coordinate}; the recording's are "
                             f"{sorted(set(names[finite]))}")
        finite &= np.isin(names, list(trial_types))
    return np.flatnonzero(finite)


def _pooled(form: xr.Dataset, conditions: np.ndarray, key: np.ndarray):
    """Per neuron and distinct ``key`` value (conditions sharing it pooled): the mean response [N, K], its
    variance [N, K] (NaN without single trials) and the single trials [N, K, R] (None without them)."""
    values, which = np.unique(key, return_inverse=True)
    if "trial_response" in form:
        trials = form["trial_response"].values[:, conditions]  # [N, C, R]
        pooled = [trials[:, which == k].reshape(trials.shape[0], -1) for k in range(values.size)]
        width = max(p.shape[1] for p in pooled)
        stacked = np.stack([np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=np.nan) for p in pooled], 1)
        n = np.isfinite(stacked).sum(2)
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.where(n > 1, np.nanvar(stacked, 2, ddof=1) / np.maximum(n, 1), np.nan)
        return values, np.nanmean(stacked, 2), variance, stacked
    response = form["response"].values[:, conditions]
    mean = np.stack([response[:, which == k].mean(1) for k in range(values.size)], 1)
    return values, mean, np.full(mean.shape, np.nan), None


def _recorded_reward_trials(form: xr.Dataset, trial_type: str | None):
    """The recording's conditions of ``trial_type`` (default: the first with two magnitudes or more), pooled by
    magnitude: (trial_type, magnitudes [M], mean [N, M], single trials [N, M, R] or None)."""
    conditions = _conditions(form, "magnitude", None if trial_type is None else [trial_type])
    if trial_type is None and conditions.size:
        names = form["trial_type"].values[conditions]
        trial_type = next((n for n in dict.fromkeys(names)
                           if np.unique(form["magnitude"].values[conditions][names == n]).size > 1), names[0])
        conditions = conditions[names == trial_type]
    magnitudes, mean, _, trials = _pooled(form, conditions, form["magnitude"].values[conditions])
    if magnitudes.size < 2:
        raise ValueError(f"the recording's conditions of trial type {trial_type!r} have "
                         f"{magnitudes.size} reward magnitude(s); reversal points need at least two")
    return str(trial_type), magnitudes, mean, trials


def _recorded_reward_responses(form: xr.Dataset, trial_type: str | None) -> xr.Dataset:
    trial_type, magnitudes, mean, trials = _recorded_reward_trials(form, trial_type)
    reversal, slope_pos, slope_neg = hinge_fit(magnitudes, mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau_hat = slope_pos / (slope_pos + slope_neg)
    source = trials if trials is not None else mean[:, :, None]
    sign_count = sign_count_reversal(magnitudes, (source > 0).sum(2), (source < 0).sum(2))
    count = np.isfinite(source).sum(2)[0] if trials is not None else np.ones(magnitudes.size)
    units = form.attrs.get("units", "reward units")
    out = xr.Dataset(
        {
            "response": (("predictor", "magnitude"), mean, {"long_name": "mean recorded response at the reward",
                                                            "units": "recorded units"}),
            "reversal_point": ("predictor", reversal, {"long_name": "magnitude where the response reverses sign",
                                                       "units": units}),
            "reversal_point_sign_count": ("predictor", sign_count, {
                "long_name": "reversal point by sign count of single trials", "units": units}),
            "slope_pos": ("predictor", slope_pos, {"units": "recorded units per reward unit"}),
            "slope_neg": ("predictor", slope_neg, {"units": "recorded units per reward unit"}),
            "tau_hat": ("predictor", tau_hat, {"long_name": "estimated asymmetry s+ / (s+ + s-)", "units": "1"}),
            "count": ("magnitude", count, {"long_name": "trials averaged (first neuron)", "units": "1"}),
        },
        coords={"predictor": form["neuron"].values, "magnitude": magnitudes},
    )
    out["magnitude"].attrs.update(long_name="reward magnitude delivered", units=units)
    out.attrs.update(trial_type=str(trial_type), response="recorded", task_name=form.attrs["task_name"],
                     units=units, drl_form=recordings.FORM)
    return out


def cue_responses(run, trial_types=None, *, learned_fraction: float = 0.5, response: str = "rpe") -> xr.Dataset:
    """Each predictor's response at the cue of each trial type against the reward delay, and a fitted γ̂.

    The response is the RPE at the cue step (``"rpe"``) or the value there (``"value"``), averaged over learned
    trials and divided by the type's expected reward, so that a converged predictor gives ``γ^delay`` (textbook
    TD: the cue response is the discounted return, amplitude 1) or ``γ^(delay − dt)`` (the value; amplitude
    γ^−dt). The
    exponential ``A·γ^delay`` is fitted per predictor by least squares (a fine grid of γ, refined by a
    parabola), giving ``gamma_hat`` per second. Trial types need exactly one reward event with a positive mean.

    ``run`` may be a recording in the responses form (:mod:`drl.decode.recordings`): conditions with a delay (of
    ``trial_types``, when given) are read, those sharing a delay pooled. Each neuron's gain is its fitted
    amplitude: ``response`` is divided by it (so a neuron's responses read like a model predictor's, 1 at
    delay 0) and ``gain`` keeps it. With single trials the fit weights each mean by its inverse variance
    (Masset et al. 2025); ``learned_fraction`` and ``response`` do not apply.

    Returns a Dataset: ``response`` [predictor, trial_type], ``delay`` [trial_type] (s), ``gamma_hat``,
    ``amplitude`` [predictor] (a recording: ``response`` [predictor, delay], ``gamma_hat``, ``gain``).
    """
    if recordings.is_responses_form(run):
        return _recorded_cue_responses(run, trial_types)
    ds = open_run(run)
    if response not in ("rpe", "value"):
        raise ValueError(f"response must be 'rpe' or 'value'; got {response!r}")
    require_values(ds, response)
    task = run_task(ds)
    warn_if_unconverged(ds, trial_types=trial_types, learned_fraction=learned_fraction)
    names = list(trial_types) if trial_types is not None else [
        t.name for t in task.trial_types if len(t.rewards) == 1]
    if response == "rpe":
        warn_if_cue_biased(ds, names, learned_fraction=learned_fraction)
    delays, columns = [], []
    for name in names:
        spec = task.trial_types[task.trial_type_index(name)]
        if len(spec.rewards) != 1:
            raise ValueError(f"trial type {name!r} has {len(spec.rewards)} reward events; cue_responses needs one")
        mean_reward = task.reward_distribution(name).mean
        if mean_reward <= 0:
            raise ValueError(f"trial type {name!r} has mean reward {mean_reward:g}; the fit needs it positive")
        columns.append(_mean_at_cue(ds, name, spec.cue_time, learned_fraction, response) / mean_reward)
        delays.append(spec.rewards[0].time)
    delays = np.asarray(delays)
    if np.unique(delays).size < 2:
        raise ValueError(f"the trial types {names} have fewer than two distinct reward delays; γ cannot be fitted")
    levels = np.unique(np.round(ds["tau"].values, 9))
    random_reward = [n for n in names if np.count_nonzero(task.reward_distribution(n).probabilities > 0) > 1]
    if levels.size > 1 and random_reward:  # a certain reward's τ-expectile is the reward itself: no mixing
        warnings.warn(f"τ varies across this population ({levels.size} levels): an optimistic predictor's cue "
                      "response is its τ-expectile of the reward, not the mean, so γ̂ mixes discounting with "
                      "optimism (a true γ of 0.6 can read anywhere in 0.55-1.0); fit one τ level at a time, e.g. "
                      f"cue_responses(run.isel(predictor=run.tau.values == level)) (random rewards in "
                      f"{random_reward})", UserWarning, stacklevel=2)
    features = run_options(ds)["features"]["name"]
    if features != "csc":
        warnings.warn(f"{features} features overlap, so a cue response is only approximately γ^delay per unit reward "
                      "and γ̂ only approximates γ (γ̂ equals γ with CSC features; docs/drl.md, 'The cue code at "
                      "finite α')", UserWarning, stacklevel=2)
    resp = np.stack(columns, axis=1)  # [P, D]
    gamma_hat, amplitude = fit_discount(delays, resp)
    out = xr.Dataset(
        {
            "response": (("predictor", "trial_type"), resp,
                         {"long_name": f"{response} at the cue per unit of expected reward", "units": "1"}),
            "delay": ("trial_type", delays, {"long_name": "reward delay after the cue", "units": "s"}),
            "gamma_hat": ("predictor", gamma_hat, {"long_name": "fitted discount", "units": "per s"}),
            "amplitude": ("predictor", amplitude, {"units": "1"}),
        },
        coords={"predictor": ds["predictor"].values, "trial_type": names, **_parameter_coords(ds)},
    )
    out.attrs.update(response=response, learned_fraction=learned_fraction, task_name=ds.attrs["task_name"])
    return out


def _recorded_cue_responses(form: xr.Dataset, trial_types) -> xr.Dataset:
    conditions = _conditions(form, "delay", None if trial_types is None else list(trial_types))
    delays, mean, variance, _ = _pooled(form, conditions, form["delay"].values[conditions])
    if delays.size < 2:
        raise ValueError(f"the recording has {delays.size} distinct reward delay(s) among the conditions read; "
                         "γ cannot be fitted from fewer than two")
    weights = None
    if np.all(np.isfinite(variance)):
        # inverse variance of each mean; a zero variance (identical trials) gets the largest finite weight
        positive = variance > 0
        weights = np.where(positive, 1.0 / np.where(positive, variance, 1.0), np.inf)
        largest = np.max(weights[np.isfinite(weights)]) if np.isfinite(weights).any() else 1.0
        weights = np.where(np.isfinite(weights), weights, largest)
    gamma_hat, gain = fit_discount(delays, mean, weights=weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = mean / gain[:, None]
    out = xr.Dataset(
        {
            "response": (("predictor", "delay"), normalised,
                         {"long_name": "cue response divided by the neuron's fitted gain", "units": "1"}),
            "gamma_hat": ("predictor", gamma_hat, {"long_name": "fitted discount", "units": "per s"}),
            "gain": ("predictor", gain, {"long_name": "fitted amplitude A of A·γ̂^delay",
                                         "units": "recorded units"}),
            "amplitude": ("predictor", np.ones_like(gain), {"units": "1"}),
        },
        coords={"predictor": form["neuron"].values,
                "delay": ("delay", delays, {"long_name": "reward delay after the cue", "units": "s"})},
    )
    out.attrs.update(response="recorded", weighting="inverse variance" if weights is not None else "none",
                     task_name=form.attrs["task_name"], drl_form=recordings.FORM)
    return out


def cue_values(run, trial_type: str, *, learned_fraction: float = 0.5, source: str = "rpe") -> np.ndarray:
    """[P] what each predictor predicts at the cue of ``trial_type``, averaged over learned trials.

    Both sources give the discounted return from the cue, ``Σ_{j ≥ cue} γ^{(j−cue)·dt}·r_j``, the discrete
    Laplace transform that :func:`decode_timing` inverts (kernel γ^delay):

    * ``"rpe"`` (default): the cue response ``δ_cue = r_cue + γ^dt·V_cue`` (textbook TD; the state before the cue
      is the inter-trial state, value 0), a reward at the cue itself included. Runs of schema version 1
      discounted the arriving reward, and their ``δ_cue / γ^dt`` is used.
    * ``"value"``: ``γ^dt·V_cue``, the rewards strictly after the cue step.
    """
    ds = open_run(run)
    if source not in ("rpe", "value"):
        raise ValueError(f"source must be 'rpe' or 'value'; got {source!r}")
    require_values(ds, source)
    warn_if_unconverged(ds, trial_types=[trial_type], learned_fraction=learned_fraction)
    if "rpe" in ds.data_vars:
        warn_if_cue_biased(ds, [trial_type], learned_fraction=learned_fraction)
    task = run_task(ds)
    spec = task.trial_types[task.trial_type_index(trial_type)]
    mean = _mean_at_cue(ds, trial_type, spec.cue_time, learned_fraction, source)
    step_discount = ds["gamma"].values ** task.dt
    if source == "value":
        return step_discount * mean
    return mean / step_discount if run_options(ds)["convention"] == 1 else mean


def decode_run_timing(run, trial_type: str | None = None, *, times=None, ridge: float | str = 1e-6,
                      learned_fraction: float = 0.5) -> xr.Dataset:
    """The distribution of reward delays that the cue of ``trial_type`` predicts, decoded from a run or a
    recording (:func:`~drl.decode.decode_timing`).

    A run: the predictors' :func:`cue_values` with their true γ. A recording in the responses form: each neuron's
    γ̂ and gain come from :func:`cue_responses` over the trial types that predict a single delay; its response at the cue of
    ``trial_type`` (its conditions pooled) is divided by its gain, and with single trials each neuron is
    weighted by the inverse variance of that mean (Masset et al. 2025). Neurons whose γ̂ reached the fit's
    bounds (≤ 0.001 or ≥ 0.999 per s) carry no timing information and are left out (``attrs["left_out"]``).

    Default ``times``: :func:`~drl.decode.default_delay_grid` of every reward delay of the task (or of the
    recording), the grid :func:`drl.plots.timing` draws.

    Returns :func:`~drl.decode.decode_timing`'s Dataset, with attrs ``trial_type`` and ``true_delays`` (the
    delays the task or the recording gives for that trial type, s).
    """
    if not recordings.is_responses_form(run):
        ds = open_run(run)
        task = run_task(ds)
        trial_type = trial_type or task.trial_type_names[0]
        spec = task.trial_types[task.trial_type_index(trial_type)]
        values = cue_values(ds, trial_type, learned_fraction=learned_fraction)
        if times is None:  # one grid for every trial type of the task (plots.timing's too)
            times = default_delay_grid([e.time for t in task.trial_types for e in t.rewards])
        out = decode_timing(ds["gamma"].values, values, times, ridge=ridge)
        out.attrs.update(trial_type=trial_type, true_delays=[float(e.time) for e in spec.rewards], left_out=0)
        return out
    form = run
    names, delays = form["trial_type"].values, form["delay"].values
    with_delay = np.isfinite(delays)
    if not with_delay.any():
        raise ValueError("the recording has no condition with a delay: timing is decoded from cue responses")
    # γ̂ and gains from the cues that predict one delay (a cue with several would not read as γ^delay)
    certain = [n for n in dict.fromkeys(names[with_delay]) if np.unique(delays[with_delay & (names == n)]).size == 1]
    cue = _recorded_cue_responses(form, certain if np.unique(delays[np.isin(names, certain)]).size > 1 else None)
    trial_type = trial_type or str(names[with_delay][0])
    conditions = _conditions(form, "delay", [trial_type])
    _, mean, variance, _ = _pooled(form, conditions, np.zeros(conditions.size))  # one pool: the whole type
    gain, gamma_hat = cue["gain"].values, cue["gamma_hat"].values
    usable = (gamma_hat > 1e-3) & (gamma_hat < 0.999) & np.isfinite(gain) & (gain != 0)
    if usable.sum() < 2:
        raise ValueError(f"only {usable.sum()} neuron(s) have a fitted γ̂ inside (0.001, 0.999) per s and a gain: "
                         "too few to decode timing")
    values = mean[usable, 0] / gain[usable]
    if times is None:
        times = default_delay_grid(delays[with_delay])
    weights = None
    if np.all(np.isfinite(variance[usable, 0])) and np.all(variance[usable, 0] > 0):
        weights = gain[usable] ** 2 / variance[usable, 0]  # inverse variance of mean / gain
    out = decode_timing(gamma_hat[usable], values, times, ridge=ridge, weights=weights)
    out.attrs.update(trial_type=trial_type, true_delays=sorted({float(d) for d in form["delay"].values[conditions]}),
                     left_out=int((~usable).sum()), weighting="inverse variance" if weights is not None else "none")
    return out


def _mean_at_cue(ds: xr.Dataset, trial_type: str, cue_time: float, learned_fraction: float, variable: str):
    """[P] ``variable`` at the cue step of ``trial_type``, averaged over its learned trials."""
    sub = learned_trials(ds, trial_type, learned_fraction)
    k = step_index(sub, cue_time, "cue")
    return sub[variable].isel(time=k).values.astype(np.float64).mean(1)


def _recorded_joint(form, trial_type, times, magnitudes, ridge, n_samples, min_mass, cue_response):
    """Sousa et al. 2025's map for recorded neurons: the decoded delay distribution of the cue times the
    magnitude distribution decoded from the same cue responses (:func:`decode_cue_distribution`)."""
    from drl.decode.calibration import decode_cue_distribution

    if cue_response is None:
        raise ValueError("decode_joint on a recording reads the magnitude from each neuron's cue response to this "
                         "cue: pass cue_response= (divided by the neuron's gain·γ̂^delay), see "
                         "decode_cue_distribution")
    timing = decode_run_timing(form, trial_type, times=times, ridge=ridge)
    trial_type = timing.attrs["trial_type"]
    decoded = decode_cue_distribution(form, cue_response=cue_response, n_samples=n_samples)
    if magnitudes is None:
        magnitudes = np.linspace(0, 1.25 * float(decoded.samples.max()), 91)
    magnitudes = _vector("magnitudes", magnitudes)
    time_marginal = timing["probability"].values
    density = _density_at(decoded.samples, magnitudes)
    joint = np.outer(time_marginal, density / density.sum())
    joint /= joint.sum()
    samples = np.full((time_marginal.size, n_samples), np.nan)
    samples[time_marginal >= min_mass] = decoded.samples
    units = form.attrs.get("units", "reward units")
    out = xr.Dataset(
        {
            "joint": (("delay", "magnitude"), joint, {"long_name": "decoded P(delay, magnitude)", "units": "1"}),
            "time_marginal": ("delay", joint.sum(1), {"units": "1"}),
            "magnitude_marginal": ("magnitude", joint.sum(0), {"units": "1"}),
            "samples": (("delay", "sample"), samples, {"units": units}),
        },
        coords={"delay": ("delay", timing["delay"].values, {"units": "s"}),
                "magnitude": ("magnitude", magnitudes, {"units": units})},
    )
    out.attrs.update(trial_type=trial_type, ridge=float(timing.attrs["ridge"]), task_name=form.attrs["task_name"],
                     method="time × magnitude (recording)", drl_form=recordings.FORM,
                     true_delays=timing.attrs["true_delays"])
    return out


def decode_joint(run, trial_type: str | None = None, *, times=None, magnitudes=None, ridge: float = 1e-6,
                 learned_fraction: float = 0.5, n_samples: int = 100, min_mass: float = 0.02,
                 source: str = "rpe", cue_response=None) -> xr.Dataset:
    """The joint map of reward time × magnitude from a τ × γ population (Sousa et al. 2025, model version).

    For each τ level, the cue values (:func:`cue_values` with ``source``) across γ are decoded into a time profile ``f_τ(t)``
    (:func:`decode_timing`, unnormalised). The time marginal is the profile of the τ level nearest 0.5,
    normalised (reward-weighted timing; exact when magnitude does not depend on time). At each time bin
    holding at least ``min_mass`` of it, ``f_τ(t) / P(t)`` across τ are read as expectiles of the magnitude
    and decoded (:func:`decode_distribution`); the map is ``P(t)·p(m | t)``.

    A recording in the responses form has no τ × γ grid; as Sousa et al. did for their neurons, the map is then
    the delay distribution of the cue (:func:`decode_run_timing`) times the magnitude distribution decoded from
    the neurons' responses to the same cue (:func:`~drl.decode.decode_cue_distribution`; pass ``cue_response``,
    each neuron's cue response divided by its gain·γ̂^delay).

    Returns a Dataset: ``joint`` [delay, magnitude] (probability per bin), ``time_marginal`` [delay],
    ``magnitude_marginal`` [magnitude], and ``samples`` [delay, sample] (NaN where not decoded).
    """
    if recordings.is_responses_form(run):
        return _recorded_joint(run, trial_type, times, magnitudes, ridge, n_samples, min_mass, cue_response)
    if cue_response is not None:
        raise ValueError("cue_response= is for recordings; a run's cue values are read from the run")
    ds = open_run(run)
    trial_type = trial_type or str(ds["type"].values[0])
    value = cue_values(ds, trial_type, learned_fraction=learned_fraction, source=source)  # [P]
    tau, gamma = ds["tau"].values, ds["gamma"].values
    levels = np.unique(np.round(tau, 9))
    if levels.size < 2 or np.unique(gamma).size < 2:
        raise ValueError("decode_joint needs a τ × γ population (at least two τ levels and two γ values); got "
                         f"{levels.size} τ level(s) and {np.unique(gamma).size} γ value(s)")
    times = np.arange(0, ds["time"].values[-1] + 1e-9, 0.5) if times is None else _vector("times", times)
    profiles = []
    for level in levels:  # a handful of τ levels, each one NNLS over its γ's
        members = np.flatnonzero(np.isclose(tau, level))
        if np.unique(gamma[members]).size < 2:
            raise ValueError(f"τ level {level:g} has fewer than two γ values; decode_joint needs a τ × γ grid")
        profiles.append(decode_timing(gamma[members], value[members], times, ridge=ridge,
                                      normalize=False)["probability"].values)
    profiles = np.stack(profiles)  # [L, T]
    middle = profiles[np.argmin(np.abs(levels - 0.5))]
    if middle.sum() <= 0:
        raise ValueError(f"the values at the cue of {trial_type!r} decode to no reward at any time")
    time_marginal = middle / middle.sum()
    if magnitudes is None:  # up to 1.5 × the largest expectile the profiles imply
        magnitudes = np.linspace(0, 1.5 * float(profiles.max() / time_marginal.max()), 91)
    magnitudes = _vector("magnitudes", magnitudes)
    joint = np.zeros((times.size, magnitudes.size))
    samples = np.full((times.size, n_samples), np.nan)
    for j in np.flatnonzero(time_marginal >= min_mass):
        decoded = decode_distribution(levels, profiles[:, j] / time_marginal[j], n_samples=n_samples,
                                      bounds=(magnitudes[0], magnitudes[-1]))
        samples[j] = decoded.samples
        density = _density_at(decoded.samples, magnitudes)
        joint[j] = time_marginal[j] * density / density.sum()
    joint /= joint.sum()
    out = xr.Dataset(
        {
            "joint": (("delay", "magnitude"), joint, {"long_name": "decoded P(delay, magnitude)", "units": "1"}),
            "time_marginal": ("delay", joint.sum(1), {"units": "1"}),
            "magnitude_marginal": ("magnitude", joint.sum(0), {"units": "1"}),
            "samples": (("delay", "sample"), samples, {"units": "reward units"}),
        },
        coords={"delay": ("delay", times, {"units": "s"}),
                "magnitude": ("magnitude", magnitudes, {"units": "reward units"}), "tau_level": levels},
    )
    out.attrs.update(trial_type=trial_type, ridge=float(ridge), task_name=ds.attrs["task_name"])
    return out


def decode_run_distribution(run, trial_type: str | None = None, *, event: int = 0, learned_fraction: float = 0.5,
                            use: str | None = None, n_samples: int = 100,
                            responses: xr.Dataset | None = None) -> DecodedDistribution:
    """Decode the reward distribution of a run's ``trial_type`` from its predictors' reversal points.

    ``use="tau"`` (the default for a run) pairs the reversal points with the predictors' true τ (the model's
    view); ``"tau_hat"`` (the default for a recording in the responses form) with the asymmetries estimated
    from the responses (the experimenter's view); ``"tau_calibrated"`` with Sousa et al. 2025's bias-corrected,
    isotonic map of τ̂ on the reversal point (:func:`~drl.decode.calibrated_tau`; ``responses`` must then come
    from :func:`~drl.decode.reward_response_intervals`, which is called when they are not given). The rule of the run picks expectile or
    quantile decoding (a recording: expectile). ``responses``: this run's :func:`reward_responses` when already
    computed (figures pass theirs; ``trial_type``, ``event`` and ``learned_fraction`` are then theirs).
    """
    recorded = recordings.is_responses_form(run)
    ds = run if recorded else open_run(run)
    use = use or ("tau_hat" if recorded else "tau")
    if use not in ("tau", "tau_hat", "tau_calibrated"):
        raise ValueError(f"use must be 'tau', 'tau_hat' or 'tau_calibrated'; got {use!r}")
    if recorded and use == "tau":
        raise ValueError("a recording has no true τ: decode with use='tau_hat' (each neuron's estimated asymmetry)")
    if responses is None and use == "tau_calibrated":
        from drl.decode.intervals import reward_response_intervals

        responses = reward_response_intervals(ds, trial_type, event=event, learned_fraction=learned_fraction)
    elif responses is None:
        responses = reward_responses(ds, trial_type, event=event, learned_fraction=learned_fraction)
    elif not isinstance(responses, xr.Dataset) or "reversal_point" not in responses:
        raise TypeError("responses must be the Dataset that reward_responses returned for this run")
    if use == "tau_calibrated":
        from drl.decode.calibration import calibrated_tau

        if "tau_hat_corrected" not in responses:
            raise TypeError("use='tau_calibrated' needs responses from reward_response_intervals (the bias-corrected "
                            "τ̂ and its variance)")
        levels = calibrated_tau(responses["reversal_point"].values, responses["tau_hat_corrected"].values,
                                responses["tau_hat_variance"].values)
    else:
        levels = responses[use].values
    keep = np.isfinite(levels) & (levels > 0) & (levels < 1)
    if keep.sum() == 0:
        raise ValueError(f"no predictor has a {use} in (0, 1) to decode with")
    kind = "quantile" if not recorded and run_options(ds).get("rule") == "quantile" else "expectile"
    return decode_distribution(levels[keep], responses["reversal_point"].values[keep], kind=kind,
                               n_samples=n_samples)
