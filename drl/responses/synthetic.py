"""A recording whose truth is known: Poisson spikes from a simulated run's predictors.

Each predictor becomes a unit that fires at a baseline rate, modulated after the cue and after the reward by its
model dopamine response there (α±·δ, Dabney et al. 2020) on each learned trial, scaled per unit to realistic
rates (``peak_rate``, ``baseline_rate``). Reading it back (:func:`responses_from_recording`)
must recover what the run's own responses say: a check of a whole pipeline, from spikes to decoded maps, against
the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from drl.responses.spikes import BASELINE_WINDOW, Recording
from drl.runs.reading import learned_trials, reward_units, run_task, step_index
from drl.runs.store import open_run

__all__ = ["recording_from_run"]

#: The modulation after an event lasts this long (s): it covers the default response window 0.2–0.65 s
RESPONSE_SPAN = (0.1, 0.75)


GAIN_RULES = ("per_unit", "shared")


def recording_from_run(run, *, n_trials: int | None = None, baseline_rate: float = 5.0, peak_rate: float = 20.0,
                       learned_fraction: float = 0.5, n_other_units: int = 0, reward_bias: float = 0.0,
                       gain_rule: str = "per_unit", trial_gain_sd: float = 0.0, shared_gain_sd: float = 0.0,
                       overdispersion: float = 0.0, baseline_drift: float = 0.0, seed: int = 0) -> Recording:
    """Poisson spike trains of a run's predictors on its learned trials (see the module docstring).

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) recording ``rpe`` and ``reward``.
    n_trials : int, optional
        The learned trials used, the last ones in time (default: all of the last ``learned_fraction``).
    baseline_rate : float
        Spikes/s outside the responses.
    peak_rate : float
        The largest rise of a unit's rate (spikes/s above baseline). Each unit's gain (spikes/s per unit of
        response) is the largest that keeps its bursts within ``peak_rate`` and its deepest dip at 0.9 ×
        ``baseline_rate`` below baseline (a rate cannot fall below zero: a clipped dip would bias what the
        responses say).
    learned_fraction : float
        The learned window: the last fraction of the run's recorded trials.
    n_other_units : int
        Units added with the baseline rate and no response (``cell_type`` "other"; the predictors are
        "putative_DA"), to select against.
    reward_bias : float
        The SD (spikes/s) of a per-unit offset added to every reward response, drawn once per unit
        (``model_reward_bias`` in the units table): the baseline bias of Dabney et al. 2020's null model, which
        moves a unit's reversal point without any optimism (0: none).
    gain_rule : {"per_unit", "shared"}
        Each unit's gain as above (a pessimist's small bursts scaled up to ``peak_rate``, its dips shrunk to fit
        the baseline), or one gain for every unit, the largest that keeps all of them within those bounds (the
        units' response sizes as the model has them).
    trial_gain_sd, shared_gain_sd : float
        The SD (of the log) of a trial-to-trial gain on each unit's responses, drawn per unit and trial, or per
        trial and shared by every unit of the session (shared session noise).
    overdispersion : float
        k of gamma-Poisson counts in the response windows: each unit's rate there (baseline plus response) is
        multiplied per trial by a gamma variable of mean 1 and variance k, so counts have variance
        mean + k·mean² (0: Poisson).
    baseline_drift : float
        Spikes/s by which each unit's baseline rate drifts over the session, linearly, up or down at random (per
        unit), within [0.5, 1.5] × ``baseline_rate``.
    seed : int
        The spikes' random seed.

    Returns
    -------
    Recording
        Trials spaced so that every default window lies inside its trial; units ``u000`` … with columns
        ``cell_type``, ``model_tau`` and ``model_gamma`` (the truth, named so that analyses do not take it for
        known parameters).

    Notes
    -----
    The breaks (``gain_rule="shared"`` and the four noises) make the recording differ from the analysis model
    in the ways real recordings do; ``tests/test_recordings_that_break_the_model.py`` reads every analysis under
    each.

    Examples
    --------
    >>> import drl
    >>> from drl.responses import recording_from_run, responses_from_recording
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.2, 0.5, 0.8]), 2000,
    ...                    progress=False)
    >>> recording = recording_from_run(run, n_trials=300, seed=0)
    >>> form = responses_from_recording(recording)
    >>> form.sizes["neuron"]
    3
    """
    from drl._validate import in_range

    ds = open_run(run)
    task = run_task(ds)
    in_range("baseline_rate", baseline_rate, 0, np.inf, lo_open=True)
    in_range("peak_rate", peak_rate, 0, np.inf, lo_open=True)
    in_range("reward_bias", reward_bias, 0, np.inf)
    for name, value in (("trial_gain_sd", trial_gain_sd), ("shared_gain_sd", shared_gain_sd),
                        ("overdispersion", overdispersion)):
        in_range(name, value, 0, 5)
    in_range("baseline_drift", baseline_drift, 0, baseline_rate)
    if gain_rule not in GAIN_RULES:
        raise ValueError(f"gain_rule must be 'per_unit' or 'shared'; got {gain_rule!r}")
    rng = np.random.default_rng(seed)
    rows, cue_drive, reward_drive = [], [], []
    for spec in task.trial_types:
        sub = learned_trials(ds, spec.name, learned_fraction)
        alpha_pos, alpha_neg = sub["alpha_pos"].values[:, None], sub["alpha_neg"].values[:, None]

        def scale(delta, alpha_pos=alpha_pos, alpha_neg=alpha_neg):  # Dabney's model dopamine response α±·δ
            return np.where(delta > 0, alpha_pos, alpha_neg) * delta
        cue = sub["rpe"].isel(time=step_index(sub, spec.cue_time, "cue")).values.astype(np.float64)
        cue_drive.append(scale(cue))
        if spec.rewards:
            k = step_index(sub, spec.cue_time + spec.rewards[0].time, "reward")
            # a reward at the cue is the cue's own step: one response, not two
            reward_drive.append(scale(sub["rpe"].isel(time=k).values.astype(np.float64)) if spec.rewards[0].time > 0
                                else np.zeros_like(cue))
            delivered = sub["reward"].isel(time=k).values.astype(np.float64)
            delay = float(spec.rewards[0].time)
        else:
            reward_drive.append(np.full_like(cue, np.nan))
            delivered, delay = np.full(cue.shape[1], np.nan), np.nan
        for n, trial in enumerate(sub["trial"].values):
            rows.append((int(trial), spec.name, delay, float(delivered[n]) if np.isfinite(delay) else np.nan))
    cue_drive, reward_drive = np.concatenate(cue_drive, 1), np.concatenate(reward_drive, 1)  # [P, N]
    order = np.argsort([r[0] for r in rows], kind="stable")
    if n_trials is not None:
        if not isinstance(n_trials, int | np.integer) or not 1 <= n_trials <= order.size:
            raise ValueError(f"n_trials must be an integer from 1 to {order.size} (the learned trials); got {n_trials!r}")
        order = order[-n_trials:]
    rows = [rows[i] for i in order]
    cue_drive, reward_drive = cue_drive[:, order], reward_drive[:, order]
    drive = np.concatenate([cue_drive, reward_drive], 1)
    burst = np.nanmax(np.clip(drive, 0, None), 1, keepdims=True)
    dip = np.nanmax(np.clip(-drive, 0, None), 1, keepdims=True)
    with np.errstate(divide="ignore"):
        gain = np.minimum(np.where(burst > 0, peak_rate / burst, np.inf),
                          np.where(dip > 0, 0.9 * baseline_rate / dip, np.inf))  # spikes/s per unit of response
    gain = np.where(np.isfinite(gain), gain, 0.0)
    if gain_rule == "shared":  # one gain: the units' response sizes as the model has them
        gain = np.full_like(gain, np.min(gain[gain > 0]) if np.any(gain > 0) else 0.0)
    delays = np.array([r[2] for r in rows])
    spacing = -BASELINE_WINDOW[0] + np.nanmax(np.append(delays, 0.0)) + RESPONSE_SPAN[1] + 2.0
    cue_time = spacing * (1 + np.arange(len(rows)))
    reward_time = cue_time + delays
    session = float(cue_time[-1] + spacing)
    n_units = cue_drive.shape[0] + n_other_units
    rates = np.zeros((n_units, len(rows), 2))  # the modulation after the cue and after the reward
    rates[:cue_drive.shape[0], :, 0] = gain * cue_drive
    bias = rng.normal(0.0, reward_bias, cue_drive.shape[0]) if reward_bias > 0 else np.zeros(cue_drive.shape[0])
    rewarded = np.isfinite(reward_drive)
    rates[:cue_drive.shape[0], :, 1] = np.nan_to_num(gain * reward_drive) + np.where(rewarded, bias[:, None], 0.0)
    n_model = cue_drive.shape[0]
    if trial_gain_sd > 0 or shared_gain_sd > 0:  # lognormal gains of mean 1 on the responses
        own = rng.normal(-0.5 * trial_gain_sd**2, trial_gain_sd, (n_model, len(rows), 1))
        shared = rng.normal(-0.5 * shared_gain_sd**2, shared_gain_sd, (1, len(rows), 1))
        rates[:n_model] *= np.exp(own + shared)
    drift = np.zeros(n_units)
    if baseline_drift > 0:
        drift[:n_model] = baseline_drift * rng.choice([-1.0, 1.0], n_model)
    if overdispersion > 0:  # gamma multipliers of the whole rate in each window: counts mean + k·mean²
        multiplier = rng.gamma(1.0 / overdispersion, overdispersion, (n_model, len(rows), 2))
        rates[:n_model] = (multiplier - 1) * baseline_rate + multiplier * rates[:n_model]  # m·(b + r) − b
    starts = np.stack([cue_time, np.where(np.isfinite(reward_time), reward_time, cue_time)], 1) + RESPONSE_SPAN[0]
    width = RESPONSE_SPAN[1] - RESPONSE_SPAN[0]
    spikes = [_poisson_train(rng, baseline_rate, session, starts, width, rates[u], drift[u]) for u in range(n_units)]
    trials = pd.DataFrame({"cue_time": cue_time, "reward_time": reward_time,
                           "magnitude": [r[3] for r in rows], "trial_type": [r[1] for r in rows]})
    units = pd.DataFrame({
        "cell_type": ["putative_DA"] * cue_drive.shape[0] + ["other"] * n_other_units,
        "model_tau": np.concatenate([ds["tau"].values, np.full(n_other_units, np.nan)]),
        "model_gamma": np.concatenate([ds["gamma"].values, np.full(n_other_units, np.nan)]),
        "model_reward_bias": np.concatenate([bias, np.full(n_other_units, np.nan)]),
    }, index=pd.Index([f"u{u:03d}" for u in range(n_units)], name="unit"))
    return Recording(trials, tuple(spikes), units=units, name=f"{ds.attrs['task_name']} (simulated spikes)",
                     magnitude_units=reward_units(ds))


def _poisson_train(rng, baseline: float, duration: float, starts: np.ndarray, width: float, change: np.ndarray,
                   drift: float = 0.0):
    """Spike times of a Poisson process at ``baseline`` spikes/s over [0, duration) (drifting linearly by
    ``drift`` spikes/s over the session, centred on ``baseline``) whose rate changes by ``change`` [N, 2] for
    ``width`` s from each of ``starts`` [N, 2]: extra spikes where it rises, baseline spikes thinned where it
    falls (to zero at most)."""
    peak = baseline + 0.5 * abs(drift)
    times = rng.uniform(0, duration, rng.poisson(peak * duration))
    if drift:  # thin the peak-rate process to the drifting baseline
        rate = baseline + drift * (times / duration - 0.5)
        times = times[rng.random(times.size) < rate / peak]
    starts, change = starts.ravel(), change.ravel()
    rise = change > 0
    extra = rng.poisson(change[rise] * width)
    added = np.repeat(starts[rise], extra) + rng.uniform(0, width, extra.sum())
    order = np.argsort(starts, kind="stable")  # the window each spike may fall in: the last start before it
    starts_sorted, change_sorted = starts[order], change[order]
    window = np.searchsorted(starts_sorted, times, side="right") - 1
    inside = (window >= 0) & (times < starts_sorted[np.clip(window, 0, None)] + width)
    keep = np.ones(times.size, bool)
    fall = inside & (change_sorted[np.clip(window, 0, None)] < 0)
    keep[fall] = rng.random(fall.sum()) < np.clip(1 + change_sorted[window[fall]] / baseline, 0, 1)
    return np.sort(np.concatenate([times[keep], added]))
