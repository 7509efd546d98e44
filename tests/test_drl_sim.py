"""For drl_sim users: its configurations rebuilt exactly, its sampler, its habits caught with the way to go."""

import numpy as np
import pytest
import torch
from test_engine import reference_drl_sim

import drl
from drl import Population, plots
from drl.runs.drl_sim import import_drl_sim, task_from_tensors


def _tensors(seed=0):
    """drl_sim-style tensors: two types, cue at step 3 or 5, rewards of two sizes at step 12 (type 0) and a
    probabilistic reward at step 9 (type 1)."""
    rng = np.random.default_rng(seed)
    m, n, k, dt = 2, 60, 20, 0.1
    stimulus = np.zeros((m, k))
    stimulus[0, 3], stimulus[1, 5] = 1, 1
    reward = np.zeros((m, n, k))
    reward[0, :, 12] = rng.choice([1.0, 4.0], size=n)
    reward[1, :, 9] = np.where(rng.random(n) < 0.5, 2.0, 0.0)
    states = rng.integers(0, m, n)
    return stimulus, reward, dt, states


def test_task_from_tensors_reruns_drl_sim_exactly():
    stimulus, reward, dt, states = _tensors()
    task, schedule = task_from_tensors(stimulus, reward, dt, states)
    np.testing.assert_array_equal(task.cue_steps, [3, 5])
    assert task.reward_steps("type_0") == [12] and task.reward_steps("type_1") == [9]
    assert set(task.trial_types[0].rewards[0].magnitudes) == {1.0, 4.0}
    np.testing.assert_array_equal(schedule.reward.numpy(), reward[states, np.arange(len(states))].astype(np.float32))
    pop = Population.sample(3, tau=(0.2, 0.8), alpha=0.1, gamma=(0.5, 1.0), lam=(0.0, 0.9), seed=4)
    run = drl.simulate(task, pop, schedule=schedule, preset="drl_sim", dtype="float64", progress=False)
    x = drl.make_features("csc").build(task)
    rpe, weights = reference_drl_sim(x, schedule.reward.numpy().astype(np.float64), states, pop, dt)
    np.testing.assert_allclose(run.rpe.values[:, :, :-1], rpe, atol=2e-6)
    np.testing.assert_allclose(run.weights.values, weights.astype(np.float32), atol=2e-6)
    with pytest.raises(ValueError, match=r"states must be 60 trial-type indices in \[0, 1\]"):
        task_from_tensors(stimulus, reward, dt, states + 5)
    with pytest.raises(ValueError, match="stimulus of trial type 1 is all zero"):
        task_from_tensors(np.eye(2, 20) * [[1], [0]], reward, dt, states)


def test_drl_sim_sampler_follows_its_rejection_rule():
    # α− ~ U(0, 1), α+ = τ·α−/(1 − τ), α− redrawn while α+ > 1: for τ = 0.8, α+ = 4·α− ≤ 1, so α− ~ U(0, 1/4)
    high = Population.sample_drl_sim(20000, tau=0.8, seed=1)
    assert high.alpha_pos.max() <= 1 and high.alpha_neg.max() <= 0.25
    assert high.alpha_neg.mean() == pytest.approx(0.125, abs=0.003)
    np.testing.assert_allclose(high.tau, 0.8)
    low = Population.sample_drl_sim(20000, tau=0.3, seed=1)  # α+ < α−: never redrawn, α− ~ U(0, 1)
    assert low.alpha_neg.mean() == pytest.approx(0.5, abs=0.01)
    default = Population.sample_drl_sim(5000, seed=2)  # τ ~ U(0, 1) as drl_sim drew it
    assert default.tau.mean() == pytest.approx(0.5, abs=0.02) and default.alpha_pos.max() <= 1
    with pytest.raises(ValueError, match="n_predictors must be an integer >= 1"):
        Population.sample_drl_sim(0)


def test_drl_sim_habits_get_the_way_to_go(tmp_path):
    run = drl.simulate("hyp_unif", Population.sample(2, seed=0), 40, progress=False)
    with pytest.raises(ValueError, match=r"trials=\[5, 30\] would show two trials; .* trials=slice\(5, 30\)"):
        plots.val_at_t(run, 6.0, trials=[5, 30])
    plots.val_at_t(run, 6.0, trials=(5, 30))  # a tuple: exactly these two
    k = 6
    exp = {"V": torch.rand(2, 1, 4, k), "deltas": torch.rand(2, 1, 4, k - 1), "T": torch.zeros(1),
           "r": torch.rand(1, 4, k), "dt": 0.1, "states": [0, 0, 0, 0], "alpha": 0.1, "gamma": 0.9, "lmbda": 0.5}
    torch.save(exp, tmp_path / "old.pth")
    imported = import_drl_sim(tmp_path / "old.pth")
    with pytest.raises(ValueError, match=r"imported from drl_sim .*saved no task spec.*task_from_tensors"):
        drl.decode.reward_responses(imported)
    with pytest.raises(ValueError, match=r"imported from drl_sim .*cannot be rerun: rebuild them with .*task_from_tensors"):
        drl.rerun(imported)
