"""Decoders on runs: read each predictor's responses out of a run (learned trials), then decode them.

Every function takes a run (Dataset, path or name), reads it through :mod:`drl.schema`'s accessors, warns when
the learned window has not converged (:mod:`drl.convergence`) and decodes with :mod:`drl.decode.arrays`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from drl.convergence import warn_if_unconverged
from drl.decode.arrays import (
    DecodedDistribution,
    _density_at,
    _vector,
    _zero_crossing,
    decode_distribution,
    decode_timing,
    fit_discount,
)
from drl.schema import learned_trials, require_values, run_options, run_task, step_index
from drl.store import open_run

__all__ = ["cue_responses", "cue_values", "decode_joint", "decode_run_distribution", "learned_trials",
           "reward_responses"]


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

    Returns a Dataset: ``response`` [predictor, magnitude], ``reversal_point``, ``slope_pos``, ``slope_neg``,
    ``tau_hat`` [predictor], ``count`` [magnitude] (trials averaged), with the predictor parameters as coords.
    """
    ds = open_run(run)
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
    if magnitudes.size < 2:
        raise ValueError(f"the learned trials of {trial_type!r} delivered only one reward magnitude "
                         f"({magnitudes.tolist()}); reversal points need rewards of different magnitudes")
    rpe = sub["rpe"].isel(time=k).values.astype(np.float64)  # [P, N]
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
    offset = magnitudes[None, :] - slope_reversal[:, None]
    above, below = (offset > 0) & np.isfinite(slope_mean), (offset < 0) & np.isfinite(slope_mean)
    slope_mean = np.nan_to_num(slope_mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope_pos = (np.where(above, offset * slope_mean, 0).sum(1)) / np.where(above, offset**2, 0).sum(1)
        slope_neg = (np.where(below, offset * slope_mean, 0).sum(1)) / np.where(below, offset**2, 0).sum(1)
        tau_hat = slope_pos / (slope_pos + slope_neg)
    coords = {"predictor": sub["predictor"].values, "magnitude": magnitudes, **_parameter_coords(sub)}
    out = xr.Dataset(
        {
            "response": (("predictor", "magnitude"), mean, {"long_name": f"mean {response} response at the reward",
                                                           "units": "reward units"}),
            "reversal_point": ("predictor", reversal, {"long_name": "magnitude where the response reverses sign",
                                                       "units": "reward units"}),
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


def cue_responses(run, trial_types=None, *, learned_fraction: float = 0.5, response: str = "rpe") -> xr.Dataset:
    """Each predictor's response at the cue of each trial type against the reward delay, and a fitted γ̂.

    The response is the RPE at the cue step (``"rpe"``) or the value there (``"value"``), averaged over learned
    trials and divided by the type's expected reward, so that a converged predictor gives ``γ^delay`` (textbook
    TD: the cue response is the discounted return, amplitude 1) or ``γ^(delay − dt)`` (the value; amplitude
    γ^−dt). The
    exponential ``A·γ^delay`` is fitted per predictor by least squares (a fine grid of γ, refined by a
    parabola), giving ``gamma_hat`` per second. Trial types need exactly one reward event with a positive mean.

    Returns a Dataset: ``response`` [predictor, trial_type], ``delay`` [trial_type] (s), ``gamma_hat``,
    ``amplitude`` [predictor].
    """
    ds = open_run(run)
    if response not in ("rpe", "value"):
        raise ValueError(f"response must be 'rpe' or 'value'; got {response!r}")
    require_values(ds, response)
    task = run_task(ds)
    warn_if_unconverged(ds, trial_types=trial_types, learned_fraction=learned_fraction)
    names = list(trial_types) if trial_types is not None else [
        t.name for t in task.trial_types if len(t.rewards) == 1]
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
    task = run_task(ds)
    spec = task.trial_types[task.trial_type_index(trial_type)]
    mean = _mean_at_cue(ds, trial_type, spec.cue_time, learned_fraction, source)
    step_discount = ds["gamma"].values ** task.dt
    if source == "value":
        return step_discount * mean
    return mean / step_discount if run_options(ds)["convention"] == 1 else mean


def _mean_at_cue(ds: xr.Dataset, trial_type: str, cue_time: float, learned_fraction: float, variable: str):
    """[P] ``variable`` at the cue step of ``trial_type``, averaged over its learned trials."""
    sub = learned_trials(ds, trial_type, learned_fraction)
    k = step_index(sub, cue_time, "cue")
    return sub[variable].isel(time=k).values.astype(np.float64).mean(1)


def decode_joint(run, trial_type: str | None = None, *, times=None, magnitudes=None, ridge: float = 1e-6,
                 learned_fraction: float = 0.5, n_samples: int = 100, min_mass: float = 0.02,
                 source: str = "rpe") -> xr.Dataset:
    """The joint map of reward time × magnitude from a τ × γ population (Sousa et al. 2025, model version).

    For each τ level, the cue values (:func:`cue_values` with ``source``) across γ are decoded into a time profile ``f_τ(t)``
    (:func:`decode_timing`, unnormalised). The time marginal is the profile of the τ level nearest 0.5,
    normalised (reward-weighted timing; exact when magnitude does not depend on time). At each time bin
    holding at least ``min_mass`` of it, ``f_τ(t) / P(t)`` across τ are read as expectiles of the magnitude
    and decoded (:func:`decode_distribution`); the map is ``P(t)·p(m | t)``.

    Returns a Dataset: ``joint`` [delay, magnitude] (probability per bin), ``time_marginal`` [delay],
    ``magnitude_marginal`` [magnitude], and ``samples`` [delay, sample] (NaN where not decoded).
    """
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
                            use: str = "tau", n_samples: int = 100,
                            responses: xr.Dataset | None = None) -> DecodedDistribution:
    """Decode the reward distribution of a run's ``trial_type`` from its predictors' reversal points.

    ``use="tau"`` pairs the reversal points with the predictors' true τ (the model's view); ``"tau_hat"`` with
    the asymmetries estimated from the responses (the experimenter's view). The rule of the run picks
    expectile or quantile decoding. ``responses``: this run's :func:`reward_responses` when already computed
    (figures pass theirs; ``trial_type``, ``event`` and ``learned_fraction`` are then theirs).
    """
    ds = open_run(run)
    if responses is None:
        responses = reward_responses(ds, trial_type, event=event, learned_fraction=learned_fraction)
    elif not isinstance(responses, xr.Dataset) or "reversal_point" not in responses:
        raise TypeError("responses must be the Dataset that reward_responses returned for this run")
    if use not in ("tau", "tau_hat"):
        raise ValueError(f"use must be 'tau' or 'tau_hat'; got {use!r}")
    levels = responses[use].values
    keep = np.isfinite(levels) & (levels > 0) & (levels < 1)
    kind = "quantile" if run_options(ds).get("rule") == "quantile" else "expectile"
    return decode_distribution(levels[keep], responses["reversal_point"].values[keep], kind=kind,
                               n_samples=n_samples)
