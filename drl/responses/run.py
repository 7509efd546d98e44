"""A simulated run as a recording: its predictors' responses in the responses form (:mod:`drl.responses.form`).

A predictor is a neuron whose true τ, γ, α±, λ are known (neuron coordinates); its single-trial responses are its
δ at the cue and at the reward on the learned trials (the last ``learned_fraction``), shared by every predictor
(the ``trial`` coordinate: they all saw the same trials). This is the only place drl reads a run for an analysis:
it warns when the learned window has not converged (:mod:`drl.diagnostics.convergence`) or the cue code is biased
(:mod:`drl.diagnostics.cue_code`), and everything after it is the same for runs and recordings.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr

from drl._validate import frames_to_user
from drl.diagnostics.convergence import warn_if_unconverged
from drl.diagnostics.cue_code import warn_if_cue_biased
from drl.responses.form import is_responses_form, nan_mean, responses_form
from drl.runs.reading import (
    learned_trials,
    require_values,
    reward_units,
    run_options,
    run_task,
    step_index,
    task_from_json,
)
from drl.runs.store import open_run

__all__ = ["MAX_MAGNITUDES", "PARAMETERS", "as_form", "default_trial_type", "model_task", "opened", "responses_from_run",
           "trial_type_to_read", "trial_types_with_delay"]

#: The model parameters a run's form carries per neuron
PARAMETERS = ("alpha_pos", "alpha_neg", "tau", "gamma", "lam")
#: More distinct delivered magnitudes than this are continuous (``RewardEvent(sd > 0)``) and are read in this many
#: equal-count bins, each at the mean magnitude of its trials
MAX_MAGNITUDES = 20
CUE_SIGNALS = ("rpe", "value")


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


def _by_condition(values: np.ndarray, trial_numbers: np.ndarray, which: np.ndarray, n_conditions: int):
    """Single trials [P, N] grouped by condition index ``which`` [N]: ([P, C, R] NaN-padded, trial ids [C, R])."""
    counts = np.bincount(which, minlength=n_conditions)
    width = int(counts.max()) if counts.size else 0
    trials = np.full((values.shape[0], n_conditions, width), np.nan)
    ids = np.full((n_conditions, width), -1, dtype=np.int64)
    order = np.argsort(which, kind="stable")  # trial order kept within a condition
    repeat = np.arange(which.size) - np.repeat(np.cumsum(counts) - counts, counts)
    trials[:, which[order], repeat] = values[:, order]
    ids[which[order], repeat] = trial_numbers[order]
    return trials, ids


def _reward_conditions(ds: xr.Dataset, task, trial_type: str, event: int, learned_fraction: float):
    """The reward conditions of ``trial_type``'s reward ``event``: one per delivered magnitude (or magnitude bin)."""
    sub = learned_trials(ds, trial_type, learned_fraction)
    spec = task.trial_types[task.trial_type_index(trial_type)]
    if isinstance(event, bool) or not isinstance(event, int | np.integer) or not 0 <= event < len(spec.rewards):
        raise ValueError(f"event must index the {len(spec.rewards)} reward event(s) of {trial_type!r}; got {event!r}")
    k = step_index(sub, spec.cue_time + spec.rewards[event].time, "reward")
    delivered = np.round(sub["reward"].isel(time=k).values.astype(np.float64), 6)  # [N]
    magnitudes, which = np.unique(delivered, return_inverse=True)
    if magnitudes.size > MAX_MAGNITUDES:  # continuous magnitudes (sd > 0): one condition per trial is noise
        magnitudes, which = _magnitude_bins(delivered)
    rpe = sub["rpe"].isel(time=k).values.astype(np.float64)  # [P, N]
    trials, ids = _by_condition(rpe, sub["trial"].values.astype(np.int64), which, magnitudes.size)
    return {"event": ["reward"] * magnitudes.size, "trial_type": [trial_type] * magnitudes.size,
            "magnitude": list(magnitudes), "delay": [float(spec.rewards[event].time)] * magnitudes.size,
            "trials": trials, "ids": ids}


def _cue_condition(ds: xr.Dataset, task, trial_type: str, learned_fraction: float, cue: str):
    """The cue condition of ``trial_type``: what each predictor predicts there, per learned trial, as the
    discounted return from the cue (``Σ_t γ^t r_t``, the Laplace transform timing decodes): δ_cue (textbook TD;
    schema-1 runs discounted the arriving reward, so theirs is divided by γ^dt) or ``γ^dt·V_cue``."""
    sub = learned_trials(ds, trial_type, learned_fraction)
    spec = task.trial_types[task.trial_type_index(trial_type)]
    k = step_index(sub, spec.cue_time, "cue")
    values = sub[cue].isel(time=k).values.astype(np.float64)  # [P, N]
    step_discount = ds["gamma"].values[:, None] ** task.dt
    if cue == "value":
        values = step_discount * values
    elif run_options(ds)["convention"] == 1:
        values = values / step_discount
    delay = float(spec.rewards[0].time) if len(spec.rewards) == 1 else np.nan
    trials, ids = _by_condition(values, sub["trial"].values.astype(np.int64), np.zeros(values.shape[1], np.int64), 1)
    return {"event": ["cue"], "trial_type": [trial_type], "magnitude": [task.reward_distribution(trial_type).mean if spec.rewards else 0.0],
            "delay": [delay], "trials": trials, "ids": ids}


def responses_from_run(run, *, reward: bool = False, reward_type: str | None = None, event: int = 0,
                       cue_types=None, learned_fraction: float = 0.5, cue: str = "rpe") -> xr.Dataset:
    """A run's responses in the responses form.

    With ``reward``, the reward responses (δ at reward ``event``) of ``reward_type`` per delivered magnitude; the
    cue responses of each of ``cue_types``; all on the learned trials (the last ``learned_fraction``). Neuron
    coordinates: the predictors' α+, α−, τ, γ, λ; ``signal="model"``, and the task in the attrs (figures draw its
    truth).

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) recording ``rpe`` and ``reward``.
    reward : bool
        Read the reward responses of ``reward_type``.
    reward_type : str, optional
        The trial type whose reward responses are read (default: the task's first).
    event : int
        Which reward of the trial type.
    cue_types : str or list of str, optional
        Trial types whose cue responses are read: names, ``"one reward"`` for every trial type with exactly one
        reward event, or ``"each"``.
    learned_fraction : float
        The last fraction of the recorded trials read as learned (0 < f ≤ 1).
    cue : {"rpe", "value"}
        The cue response: δ_cue, or γ^dt·V_cue.

    Returns
    -------
    xarray.Dataset
        The responses form (:func:`responses_form`), with single trials and the shared ``trial`` coordinate.

    Raises
    ------
    ValueError
        Neither ``reward`` nor ``cue_types``, an unknown trial type or ``cue``, a run without ``rpe``.

    Warns
    -----
    ConvergenceWarning
        A trial type read has not converged.
    CueCodeWarning
        The cue responses of a type read are biased by finite α.

    See Also
    --------
    recording_from_run : the run as a recorded session (spikes, gains, noise).

    Examples
    --------
    >>> import drl
    >>> from drl import responses
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.2, 0.8], alpha=0.1), 400, seed=0,
    ...                    progress=False)
    >>> form = responses.responses_from_run(run, reward=True, reward_type="variable")
    >>> form.attrs["signal"], form["tau"].values.round(3).tolist(), form.sizes["condition"]
    ('model', [0.2, 0.8], 7)
    """
    ds = open_run(run)
    if cue not in CUE_SIGNALS:
        raise ValueError(f"source must be 'rpe' or 'value'; got {cue!r}")
    task = run_task(ds)
    if reward and reward_type is None:
        reward_type = task.trial_type_names[0]
    if isinstance(cue_types, str) and cue_types in ("one reward", "each"):
        cue_types = [t.name for t in task.trial_types if cue_types == "each" or len(t.rewards) == 1]
    cue_types = [str(t) for t in cue_types] if cue_types is not None else []
    read = ([reward_type] if reward_type is not None else []) + cue_types
    require_values(ds, *(["rpe", "reward"] if reward_type is not None else []), *([cue] if cue_types else []))
    level = frames_to_user() + 2  # warnings name the user's line, however deep in drl this was called
    if read:
        warn_if_unconverged(ds, trial_types=list(dict.fromkeys(read)), learned_fraction=learned_fraction,
                            stacklevel=level)
    if cue_types and "rpe" in ds.data_vars:
        warn_if_cue_biased(ds, cue_types, learned_fraction=learned_fraction, stacklevel=level)
    parts = []
    if reward_type is not None:
        parts.append(_reward_conditions(ds, task, reward_type, event, learned_fraction))
    parts += [_cue_condition(ds, task, name, learned_fraction, cue) for name in cue_types]
    if not parts:
        raise ValueError("read a reward (reward_type=) or cue responses (cue_types=)")
    width = max(p["trials"].shape[2] for p in parts)
    trials = np.concatenate([np.pad(p["trials"], ((0, 0), (0, 0), (0, width - p["trials"].shape[2])),
                                    constant_values=np.nan) for p in parts], 1)
    ids = np.concatenate([np.pad(p["ids"], ((0, 0), (0, width - p["ids"].shape[1])), constant_values=-1)
                          for p in parts], 0)
    mean = nan_mean(trials, 2)
    options = run_options(ds)
    delays = {t.name: [float(e.time) for e in t.rewards] for t in task.trial_types}
    random_reward = [t.name for t in task.trial_types if t.rewards
                     and np.count_nonzero(task.reward_distribution(t.name).probabilities > 0) > 1]
    return responses_form(
        mean, trial_response=trials, trial=ids,
        **{key: np.concatenate([p[key] for p in parts]) for key in ("event", "trial_type", "magnitude", "delay")},
        neuron=ds["predictor"].values, neuron_coords={name: ds[name].values for name in PARAMETERS},
        units=reward_units(ds), name=ds.attrs["task_name"], signal="model",
        attrs={"rule": str(options.get("rule", "expectile")), "reward_delays": json.dumps(delays),
               "random_reward": json.dumps(random_reward), "features": str(options["features"]["name"]),
               "task": json.dumps(ds.attrs["task"], sort_keys=True),
               "learned_fraction": float(learned_fraction), "cue_signal": cue,
               "time_end": float(ds["time"].values[-1])})


def opened(data) -> xr.Dataset:
    """``data`` opened once at a public entry: a form as it is, a run (Dataset, path or name) as its validated
    Dataset, which the layers below then read without opening or validating it again."""
    return data if is_responses_form(data) else open_run(data)


def model_task(form: xr.Dataset):
    """The truth a form carries when it is known: the :class:`drl.Task` a model's responses were read from (its
    reward distributions and delays), None for a recording. Figures draw the truth from it when present."""
    spec = form.attrs.get("task")
    return None if spec is None else task_from_json(str(spec))  # parsed once, as the run's own


def trial_type_to_read(data, trial_type: str | None, *, warn: bool = True) -> str | None:
    """The trial type a figure reads: as given; else a run's first type (with a warning naming
    it when the task has several: a figure of one odour must not pass for the whole task), and for a form None
    (each analysis picks the first reward condition it can use)."""
    if trial_type is not None or is_responses_form(data):
        return trial_type
    names = list(run_task(open_run(data)).trial_type_names)
    if warn and len(names) > 1:
        warnings.warn(f"trial_type not given: drawing {names[0]!r}, the first of the task's {len(names)} trial "
                      f"types {names}; pass trial_type= to choose", UserWarning, stacklevel=frames_to_user() + 1)
    return names[0]


def trial_types_with_delay(data) -> list[str]:
    """The trial types whose reward timing can be read: a run's types with a reward event; a form's types with a
    condition at a known delay."""
    if is_responses_form(data):
        with_delay = np.isfinite(data["delay"].values)
        return list(dict.fromkeys(data["trial_type"].values[with_delay].tolist()))
    return [t.name for t in run_task(open_run(data)).trial_types if t.rewards]


def default_trial_type(data) -> str | None:
    """The trial type an analysis reads when told none: a run's first; for a form, None (each analysis picks the
    first condition it can use)."""
    if is_responses_form(data):
        return None
    return run_task(open_run(data)).trial_type_names[0]


def as_form(data, **read) -> xr.Dataset:
    """``data`` in the responses form: a form as it is; a run (Dataset, path or name) read with
    :func:`responses_from_run` (``read``: what to read of it)."""
    if is_responses_form(data):
        return data
    return responses_from_run(data, **read)
