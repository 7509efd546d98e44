"""Tasks that change during a session (drl.phases): a phase continues exactly where the last one stopped, a
removed reward is unlearned towards its closed form, and incompatible phases are refused."""

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

import drl
from drl.decode import cue_values
from drl.phases import Phase, simulate_phases
from drl.schedule import Schedule

TASK = drl.get_task("masset_multi_delay")
POP = drl.Population.grid(gamma=[0.7, 0.9], tau=[0.3, 0.7])


def without_the_long_delay():
    types = list(TASK.trial_types)
    types[3] = dataclasses.replace(types[3], rewards=())  # the 9.375 s cue now predicts nothing
    return dataclasses.replace(TASK, name="masset_no_long_delay", trial_types=tuple(types))


def test_a_continued_run_is_the_uninterrupted_run_bit_for_bit():
    schedule = TASK.schedule(3000, seed=5)
    whole = drl.simulate(TASK, POP, schedule=schedule, progress=False)
    first = drl.simulate(TASK, POP, schedule=Schedule(TASK, schedule.trial_type[:1200], schedule.reward[:1200]),
                         progress=False)
    second = drl.simulate(TASK, POP, schedule=Schedule(TASK, schedule.trial_type[1200:], schedule.reward[1200:]),
                          progress=False, initial_weights=first.weights)
    np.testing.assert_array_equal(second.weights.values, whole.weights.values)
    np.testing.assert_array_equal(second.value.values, whole.value.values[:, 1200:])
    assert second.attrs["initial_weights"].startswith("given") and "initial_weights" not in first.attrs


def test_a_withdrawn_cue_is_never_presented_and_keeps_what_it_learned():
    types = tuple(dataclasses.replace(t, frequency=0.0) if t.name == "delay_9.375s" else t for t in TASK.trial_types)
    withdrawn = dataclasses.replace(TASK, name="masset_without_the_long_cue", trial_types=types)
    first, second = simulate_phases([(TASK, 2000), (withdrawn, 2000)], POP, seed=1)
    assert "delay_9.375s" not in set(second["trial_type"].values)
    np.testing.assert_array_equal(second.weights.sel(type="delay_9.375s").values,  # no trial: no change
                                  first.weights.sel(type="delay_9.375s").values)


def test_a_removed_reward_is_unlearned_and_the_others_kept(tmp_path):
    runs = simulate_phases([(TASK, 4000), Phase(without_the_long_delay(), 4000)], POP, seed=3)
    assert [run.attrs["phase"] for run in runs] == [0, 1] and runs[1].attrs["first_trial"] == 4000
    assert [p["n_trials"] for p in runs[1].attrs["protocol"]] == [4000, 4000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drl.ConvergenceWarning)
        before = cue_values(runs[0], "delay_9.375s")
        after = cue_values(runs[1], "delay_9.375s")
        kept = cue_values(runs[1], "delay_1.5s")
    gamma = runs[0]["gamma"].values
    np.testing.assert_allclose(before, gamma**9.375, atol=0.03)  # the discounted reward (τ-expectile of 1 is 1)
    assert np.all(np.abs(after) < 0.1 * gamma**9.375 + 0.01)  # nothing left to predict: towards 0
    np.testing.assert_allclose(kept, gamma**1.5, atol=0.03)  # the unchanged cues keep their values
    path = drl.save(runs[1], tmp_path / "phase1.nc")
    back = drl.load(path)
    assert back.attrs["protocol"] == runs[1].attrs["protocol"]
    with pytest.raises(ValueError, match="cannot be rerun on its own.*simulate_phases"):
        drl.rerun(back)


def test_phases_that_change_what_the_weights_mean_are_refused():
    other_grid = dataclasses.replace(TASK, name="other_dt", dt=0.15, duration=11.25)
    with pytest.raises(ValueError, match=r"phase 1 \('other_dt'\) changes the dt of phase 0"):
        simulate_phases([(TASK, 10), (other_grid, 10)], POP)
    renamed = dataclasses.replace(TASK, name="renamed", trial_types=(TASK.trial_types[0],))
    with pytest.raises(ValueError, match="changes the trial types"):
        simulate_phases([(TASK, 10), (renamed, 10)], POP)
    with pytest.raises(ValueError, match="at least one phase"):
        simulate_phases([], POP)
    with pytest.raises(TypeError, match="list of Phase"):
        simulate_phases(Phase(TASK, 10), POP)
    with pytest.raises(ValueError, match="n_trials must be an integer ≥ 1; got 0"):
        Phase(TASK, 0)
    silent = tuple(dataclasses.replace(t, frequency=0.0) for t in TASK.trial_types)
    with pytest.raises(ValueError, match="at least one trial type must have a frequency > 0"):
        dataclasses.replace(TASK, trial_types=silent)
    with pytest.raises(ValueError, match=r"frequency of 'x' must be ≥ 0; got -1"):
        drl.TrialType("x", 0.0, frequency=-1)
    with pytest.raises(ValueError, match="simulate_phases takes no out="):
        simulate_phases([(TASK, 10)], POP, out="x")
    with pytest.raises(ValueError, match=r"initial_weights must have shape \[predictor, type, feature\]"):
        drl.simulate(TASK, POP, 10, progress=False, initial_weights=np.zeros((3, 4, 5)))
    good = drl.simulate(TASK, POP, 10, progress=False).weights.values
    with pytest.raises(ValueError, match="initial_weights must be finite"):
        drl.simulate(TASK, POP, 10, progress=False, initial_weights=np.where(good == 0, np.nan, good))
    with pytest.raises(ValueError, match="cannot be combined with out="):
        drl.simulate(TASK, POP, 10, progress=False, initial_weights=good, out="never_written")
    assert not list(Path("exps").glob("*never_written*"))  # refused before anything was created
