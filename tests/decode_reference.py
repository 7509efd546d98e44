"""The decoded numbers of every built-in task, as the decoders gave them before the responses-form redesign.

``python tests/decode_reference.py`` (run at commit 4137a18, before the redesign) wrote
``tests/data/decode_reference.npz``; ``test_decode_reference.py`` recomputes every number with today's code and
requires the same values. The runs are small (300 trials, 12 predictors) so the whole set takes seconds.
"""

from __future__ import annotations

import warnings

import numpy as np

import drl
from drl import decode

PATH = "tests/data/decode_reference.npz"


def task_run(name: str):
    """A τ × γ population on the built-in task ``name``, 300 trials, the last half learned."""
    population = drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=[0.6, 0.8, 0.9, 0.97], alpha=0.1, lam=0.9)
    return drl.simulate(name, population, 300, seed=3, progress=False)


def _put(out: dict, key: str, compute) -> None:
    """Store what ``compute()`` returns (arrays of a Dataset, samples of a decode), or the error type."""
    try:
        value = compute()
    except (ValueError, TypeError) as error:
        out[key + "/error"] = np.array(type(error).__name__)
        return
    if isinstance(value, decode.DecodedDistribution):
        out[key + "/samples"] = value.samples
    elif hasattr(value, "data_vars"):
        for name in value.data_vars:
            if np.issubdtype(value[name].dtype, np.number):
                out[f"{key}/{name}"] = value[name].values
    else:
        out[key] = np.asarray(value)


def numbers(name: str) -> dict:
    """Every decoder's numbers on one built-in task's run."""
    run = task_run(name)
    task = drl.get_task(name)
    out: dict = {}
    for trial_type in task.trial_type_names:
        spec = task.trial_types[task.trial_type_index(trial_type)]
        key = f"{name}/{trial_type}"
        if spec.rewards:
            _put(out, key + "/reward_responses", lambda trial_type=trial_type: decode.reward_responses(run, trial_type))
            _put(out, key + "/reward_responses_rpe", lambda trial_type=trial_type: decode.reward_responses(run, trial_type, response="rpe"))
            _put(out, key + "/reward_responses_resampled",
                 lambda trial_type=trial_type: decode.reward_responses(run, trial_type, resample=True, seed=1))
            _put(out, key + "/decode_run_distribution", lambda trial_type=trial_type: decode.decode_reward_distribution(run, trial_type))
            _put(out, key + "/intervals", lambda trial_type=trial_type: decode.reward_response_intervals(run, trial_type, n_boot=20))
            _put(out, key + "/distribution_intervals",
                 lambda trial_type=trial_type: decode.distribution_intervals(run, trial_type, n_boot=10, use="tau_hat"))
            _put(out, key + "/decode_run_timing", lambda trial_type=trial_type: decode.decode_reward_timing(run, trial_type))
            _put(out, key + "/decode_joint", lambda trial_type=trial_type: decode.decode_joint(run, trial_type))
            _put(out, key + "/decode_cue_distribution",
                 lambda trial_type=trial_type: decode.decode_cue_distribution(run, trial_type, n_boot=20))
        _put(out, key + "/cue_values", lambda trial_type=trial_type: decode.cue_values(run, trial_type))
        _put(out, key + "/cue_values_value", lambda trial_type=trial_type: decode.cue_values(run, trial_type, source="value"))
    _put(out, name + "/cue_responses", lambda: decode.cue_responses(run))
    _put(out, name + "/cue_responses_value", lambda: decode.cue_responses(run, response="value"))
    return out


def all_numbers() -> dict:
    out: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for task in drl.list_tasks():
            out |= numbers(task.name)
    return out


if __name__ == "__main__":
    found = all_numbers()
    np.savez_compressed(PATH, **found)
    print(f"{len(found)} arrays written to {PATH}")
