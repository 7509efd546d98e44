"""Tasks that change during a session (drl.engine.phases): a phase continues exactly where the last one stopped, a
removed reward is unlearned towards its closed form, and incompatible phases are refused."""

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

import drl
from drl.decode import cue_values
from drl.engine.phases import Phase, simulate_phases
from drl.tasks.schedule import Schedule

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


def test_discounts_that_adapt_to_the_delays_a_task_predicts():
    """drl.adapted_gamma: γ' = γ^(D/D'), D and D' the tasks' mean delays, so every neuron discounts the delay it now
    expects as it did before; a phase learns with it, the weights carried over."""
    task = drl.get_task("sousa_2025")  # 4.5 µl at 0, 1.5, 3, 6 s and a variable cue at 3 s, equally often
    assert drl.mean_delay(task) == pytest.approx((0 + 1.5 + 3 + 6 + 3) / 5)
    without = {}
    for name in ("delay_0s", "delay_6s"):
        types = tuple(dataclasses.replace(t, frequency=0.0) if t.name == name else t for t in task.trial_types)
        without[name] = dataclasses.replace(task, name=f"without {name}", trial_types=types)
    assert drl.mean_delay(without["delay_0s"]) == pytest.approx(13.5 / 4)
    population = drl.Population.grid(gamma=[0.5, 0.8, 0.95], tau=0.5)
    later = drl.adapted_gamma(population, without["delay_0s"], task)
    np.testing.assert_allclose(later.gamma ** drl.mean_delay(without["delay_0s"]),
                               population.gamma ** drl.mean_delay(task))  # the mean delay discounted alike
    assert np.all(later.gamma > population.gamma)  # rewards come later: longer horizons
    assert np.all(drl.adapted_gamma(population, without["delay_6s"], task).gamma < population.gamma)
    np.testing.assert_array_equal(later.alpha_pos, population.alpha_pos)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before, after = simulate_phases([(task, 300), Phase(without["delay_0s"], 300, later)], population,
                                        progress=False)
    np.testing.assert_allclose(after["gamma"].values, later.gamma)
    np.testing.assert_allclose(before["gamma"].values, population.gamma)
    with pytest.raises(ValueError, match="gives a population of 2 predictors; the protocol's has 3"):
        simulate_phases([(task, 10), Phase(task, 10, drl.Population.grid(gamma=[0.5, 0.8]))], population)
    with pytest.raises(TypeError, match="Phase population must be a drl.Population"):
        Phase(task, 10, "fast")
    with pytest.raises(ValueError, match="presents no reward"):
        drl.mean_delay(dataclasses.replace(task, trial_types=(dataclasses.replace(task.trial_types[0], rewards=()),)))
    with pytest.raises(ValueError, match="mean delays above 0 s"):
        only_zero = dataclasses.replace(task, trial_types=tuple(
            dataclasses.replace(t, frequency=0.0 if t.name != "delay_0s" else 1.0) for t in task.trial_types))
        drl.adapted_gamma(population, task, only_zero)
