import json
import math
import re

import numpy as np
import pytest

import drl
from drl.tasks.events import RewardEvent, TrialType, Utility
from drl.tasks.model import Task
from drl.tasks.timegrid import time_to_step


def simple_task(**overrides):
    spec = dict(
        name="t",
        duration=1.0,
        dt=0.1,
        trial_types=(TrialType("a", cue_time=0.2, rewards=(RewardEvent(time=0.5, magnitudes=(1.0,)),)),),
    )
    spec.update(overrides)
    return Task(**spec)


def test_time_to_step_rounds_halves_up_and_absorbs_float_error():
    # Python's round(2.5) == 2 (ties to even); drl puts halves on the later step.
    assert list(time_to_step([0.05, 0.15, 0.25, 0.35, 0.3, 0.7], 0.1)) == [1, 2, 3, 4, 3, 7]
    assert int(time_to_step(2.25, 0.5)) == 5  # drl_sim's round(4.5) gave 4


def test_reward_and_cue_land_on_documented_steps():
    task = Task("t", 2.0, 0.1, (TrialType("a", cue_time=0.25, rewards=(RewardEvent(time=0.3),)),))
    assert task.n_steps == 21
    assert int(task.cue_steps[0]) == 3  # 0.25 s → step 3 (half up)
    sched = task.schedule(5, seed=0)
    assert np.all(np.flatnonzero(sched.reward[0].numpy()) == [6])  # 0.55 s → step 6 (half up)
    assert task.reward_steps("a") == [6]
    np.testing.assert_allclose(task.time, np.arange(21) * 0.1)


def _within_4_se(counts, probs, n):
    freq = counts / n
    se = np.sqrt(probs * (1 - probs) / n)
    return np.all(np.abs(freq - probs) <= 4 * se + 1e-12), freq


@pytest.mark.parametrize("name", ["dabney_variable_magnitude", "lowet_2025", "delay", "sousa_2025"])
def test_schedule_statistics_match_the_spec(name):
    task = drl.get_task(name)
    n = 20_000
    sched = task.schedule(n, seed=123)
    types = sched.trial_type.numpy()
    ok, freq = _within_4_se(np.bincount(types, minlength=len(task.trial_types)), task.frequencies, n)
    assert ok, (freq, task.frequencies)
    reward = sched.reward.numpy().astype(np.float64)
    for m, ttype in enumerate(task.trial_types):
        if len(ttype.rewards) != 1:
            continue
        trials = reward[types == m]
        delivered = trials.sum(axis=1)  # one event per trial: the total is its magnitude
        dist = task.reward_distribution(ttype.name)
        counts = np.array([np.sum(np.isclose(delivered, v, atol=1e-5)) for v in dist.values])
        assert counts.sum() == len(trials)
        ok, freq = _within_4_se(counts, dist.probabilities, len(trials))
        assert ok, (ttype.name, freq, dist.probabilities)


def test_delivery_probability_and_two_events():
    task = drl.get_task("dabney_variable_probability")
    sched = task.schedule(20_000, seed=1)
    types = sched.trial_type.numpy()
    got = (sched.reward.numpy().sum(1) > 0)
    for m, p in enumerate((0.1, 0.5, 0.9)):
        sel = got[types == m]
        assert abs(sel.mean() - p) <= 4 * math.sqrt(p * (1 - p) / sel.size)


def test_same_seed_same_schedule_different_seed_different():
    task = drl.get_task("sousa_2025")
    a, b, c = task.schedule(500, seed=7), task.schedule(500, seed=7), task.schedule(500, seed=8)
    assert np.array_equal(a.trial_type, b.trial_type) and np.array_equal(a.reward, b.reward)
    assert not np.array_equal(a.reward, c.reward)


def test_jitter_stays_within_bounds_and_spreads():
    task = Task("j", 3.0, 0.1, (TrialType("a", 0.5, (RewardEvent(time=1.0, jitter=0.3),)),))
    sched = task.schedule(2000, seed=0)
    steps = sched.reward.numpy().argmax(1)
    assert steps.min() == 12 and steps.max() == 18  # 1.5 ± 0.3 s
    assert len(np.unique(steps)) == 7


def test_utility_is_applied_to_schedule_and_truth():
    task = simple_task(utility=Utility("power", 0.5),
                       trial_types=(TrialType("a", 0.2, (RewardEvent(0.5, magnitudes=(4.0, 9.0)),)),))
    vals = np.unique(task.schedule(200, seed=0).reward.numpy())
    np.testing.assert_allclose(vals, [0.0, 2.0, 3.0])
    np.testing.assert_allclose(task.reward_distribution("a").values, [2.0, 3.0])
    np.testing.assert_allclose(task.reward_distribution("a", utility=False).values, [4.0, 9.0])


def test_true_distribution_of_builtins():
    d = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    np.testing.assert_allclose(d.values, [0.1, 0.3, 1.2, 2.5, 5, 10, 20])
    assert abs(d.probabilities.sum() - 1) < 1e-6
    p50 = drl.get_task("dabney_variable_probability").reward_distribution("p50")
    np.testing.assert_allclose(p50.values, [0.0, 1.0])
    np.testing.assert_allclose(p50.probabilities, [0.5, 0.5])
    g = drl.get_task("hyp_var").reward_distribution("cue")
    assert abs(g.mean - 1.0) < 1e-9 and abs(g.std - 0.25) < 1e-9


def test_drl_sim_var_keeps_its_numbers_and_says_so():
    var = drl.get_task("var")
    assert 0.150519 in var.trial_types[0].rewards[0].probabilities
    assert "typo" in var.notes
    assert 0.1509519 in drl.get_task("dabney_variable_magnitude").trial_types[0].rewards[0].probabilities


@pytest.mark.parametrize("task", drl.list_tasks(), ids=lambda t: t.name)
@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_every_builtin_round_trips_through_files(task, suffix, tmp_path):
    path = task.to_file(tmp_path / f"task{suffix}")
    assert Task.from_file(path) == task
    assert drl.load_task(str(path)) == task
    assert task.reference


def test_registry_lookup_suggests_close_names():
    with pytest.raises(ValueError, match="Did you mean 'masset_multi_delay'"):
        drl.get_task("masset_multidelay")
    custom = simple_task(name="my_custom")
    drl.register_task(custom)
    try:
        assert drl.get_task("my_custom") is custom
        with pytest.raises(ValueError, match="already registered"):
            drl.register_task(custom)
    finally:
        drl.tasks.registry._REGISTRY.pop("my_custom")


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(dt=0.0), "dt must be > 0"),
        (dict(dt=-0.1), "dt must be > 0"),
        (dict(dt=0.3), "dt must divide duration"),
        (dict(duration=math.nan), "duration must be finite"),
        (dict(trial_types=()), "trial_types must not be empty"),
        (dict(trial_types=(TrialType("a", 0.1), TrialType("a", 0.2))), "unique; duplicated: \\['a'\\]"),
        (dict(trial_types=(TrialType("a", 1.5),)), "cue_time of 'a' is outside the trial"),
        (dict(trial_types=(TrialType("a", 0.5, (RewardEvent(0.6),)),)), "falls outside the trial"),
        (dict(trial_types=(TrialType("a", 0.5, (RewardEvent(0.4, jitter=0.2),)),)), "falls outside the trial"),
    ],
)
def test_bad_task_specs_raise_naming_the_field(overrides, match):
    with pytest.raises(ValueError, match=match):
        simple_task(**overrides)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(time=0.1, magnitudes=(1, 2), probabilities=(0.5, 0.6)), "must sum to 1"),
        (dict(time=0.1, magnitudes=(1, 2), probabilities=(1.5, -0.5)), r"probabilities\[1\] must be >= 0"),
        (dict(time=0.1, magnitudes=(1, 2), probabilities=(1.0,)), "one entry per magnitude"),
        (dict(time=0.1, magnitudes=(math.inf,)), r"magnitudes\[0\] must be finite"),
        (dict(time=math.nan), "reward time must be finite"),
        (dict(time=-1.0), "reward time .* must be >= 0"),
        (dict(time=0.1, delivery_probability=1.2), r"delivery_probability must be in \[0, 1\]; got 1.2"),
        (dict(time=0.1, jitter=-0.1), "jitter"),
    ],
)
def test_bad_reward_events(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RewardEvent(**kwargs)


def test_probabilities_within_tolerance_are_accepted():
    RewardEvent(0.1, magnitudes=(1, 2), probabilities=(0.5, 0.5 + 5e-7))


def test_unknown_key_in_spec_file(tmp_path):
    data = simple_task().to_dict()
    data["trial_types"][0]["rewards"][0]["magnitude"] = [1.0]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"bad.json: trial_types\[0\].rewards\[0\]: unknown key 'magnitude'"):
        Task.from_file(path)
    data = simple_task().to_dict()
    data["durration"] = 2
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="unknown key 'durration' \\(did you mean 'duration'"):
        Task.from_file(path)


def test_invalid_file_syntax_names_file_and_line(tmp_path):
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{\n  "name": "x",\n  "dt": ,\n}')
    with pytest.raises(ValueError, match=r"broken.json: invalid JSON at line 3"):
        Task.from_file(bad_json)
    bad_toml = tmp_path / "broken.toml"
    bad_toml.write_text('name = "x"\nduration = = 3\n')
    with pytest.raises(ValueError, match=r"broken.toml: invalid TOML: .*line 2"):
        Task.from_file(bad_toml)


def test_schedule_rejects_bad_n_trials():
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n_trials must be an integer >= 1"):
            simple_task().schedule(bad)


def test_tasks_pickle():
    import pickle

    for task in drl.list_tasks():
        assert pickle.loads(pickle.dumps(task)) == task


@pytest.mark.parametrize("change, path", [
    (lambda d: d.update(duration="7"), "duration"),
    (lambda d: d.update(trial_types={"name": "a"}), "trial_types"),
    (lambda d: d.update(trial_types=[]), "trial_types"),
    (lambda d: d["trial_types"][0].update(cue_time=[1.0]), "trial_types.0.cue_time"),
    (lambda d: d["trial_types"][0].update(rewards=[1.0]), "trial_types[0].rewards[0]"),
    (lambda d: d["trial_types"][0]["rewards"][0].update(magnitudes="1, 2"), "trial_types.0.rewards.0.magnitudes"),
    (lambda d: d["trial_types"][0]["rewards"][0].update(magnitudes=[]), "trial_types.0.rewards.0.magnitudes"),
    (lambda d: d["trial_types"][0]["rewards"][0].update(probabilities=["a"]), "trial_types.0.rewards.0.probabilities"),
    (lambda d: d["trial_types"][0]["rewards"][0].update(sd=True), "trial_types.0.rewards.0.sd"),
    (lambda d: d.update(utility=["power", 0.5]), "utility"),
    (lambda d: d.update(name=5), "name"),
    (lambda d: d.update(notes={"a": [[[[]]]]}), "notes"),
])
def test_a_spec_of_the_wrong_shape_names_the_field_by_the_declared_schema(change, path):
    import copy

    spec = copy.deepcopy(drl.get_task("dabney_variable_magnitude").to_dict())
    change(spec)
    with pytest.raises(ValueError, match=rf"^my.toml: {re.escape(path)}: "):
        drl.Task.from_dict(spec, source="my.toml")
