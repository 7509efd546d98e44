"""The compiled loop of the imputed bootstrap (drl.engine.compiled.imputed) against a slow reference written here, the
torch kernel, and itself (streamed, resumed, rerun).

The reference is independent of the engine: textbook TD(λ) with a forward eligibility trace, a loop over trials
and γ groups, each group's samples imputed by the torch definition of the imputation
(``impute_expectile_samples(..., compiled=False)``: LU, batched, not the compiled Cholesky), and the draws from a
torch generator seeded as documented (seed + 7919), [P, S] per trial.
"""

import numpy as np
import pytest
import torch

import drl
from drl import Population, RewardEvent, Task, TrialType
from drl.engine.bootstrap import impute_expectile_samples

TASK = Task("imputed_check", 2.0, 0.1, (
    TrialType("two_events", 0.3, (RewardEvent(0.8, magnitudes=(1.0, 3.0)),
                                  RewardEvent(1.4, magnitudes=(2.0,), delivery_probability=0.5))),
    TrialType("fixed", 0.5, (RewardEvent(1.0, magnitudes=(1.0,)),)),
    TrialType("later", 0.1, (RewardEvent(1.6, magnitudes=(0.5, 1.0, 4.0)),), frequency=0.5),
))
# γ groups of 1, 3 and 6 predictors (a group of one keeps its own value), τ distinct within each group
_GAMMA = np.array([0.5] + [0.8] * 3 + [0.95] * 6)
_TAU = np.array([0.5, 0.2, 0.5, 0.8, 0.1, 0.25, 0.4, 0.6, 0.75, 0.9])
_ALPHA = np.linspace(0.05, 0.15, _TAU.size)
POP = Population(alpha_pos=_ALPHA * _TAU, alpha_neg=_ALPHA * (1 - _TAU), gamma=_GAMMA,
                 lam=np.linspace(0.3, 0.95, _TAU.size))


def reference(task, pop, schedule, seed):
    """Weights [M, P, F], V and δ [N, P, K] of an imputed run, float64, CSC, offline, arrival convention."""
    x = drl.make_features("csc").build(task)  # [M, K, F]
    n_types, n_steps, n_feat = x.shape
    gamma, lam = np.asarray(pop.gamma), np.asarray(pop.lam)
    g, rho = gamma**task.dt, (gamma * lam) ** task.dt
    tau = np.asarray(pop.tau)
    groups = [np.flatnonzero(gamma == value) for value in np.unique(gamma)]
    groups = [members[np.argsort(tau[members])] for members in groups]
    max_iter = 8 if max(map(len, groups)) <= 16 else 20
    generator = torch.Generator().manual_seed(seed + 7919)
    types, rewards = schedule.trial_type.numpy(), schedule.reward.numpy().astype(np.float64)
    w = np.zeros((n_types, len(pop), n_feat))
    values, errors = [], []
    for i, m in enumerate(types):
        v = w[m] @ x[m].T  # [P, K]
        target = v.copy()
        random_steps = np.flatnonzero(task.random_reward_steps(task.trial_type_names[m]))
        if random_steps.size:
            u = torch.rand(len(pop), random_steps.size, generator=generator, dtype=torch.float64).numpy()
            for s, k in enumerate(random_steps):
                for members in groups:
                    if members.size == 1:
                        continue
                    vals = v[members, k]
                    samples = vals
                    if np.ptp(vals) > 1e-6 * max(np.abs(vals).max(), 1.0):
                        samples = impute_expectile_samples(torch.tensor(tau[members])[None], torch.tensor(vals)[None],
                                                           max_iter=max_iter, compiled=False)[0].numpy()
                    pick = np.minimum((u[members, s] * members.size).astype(int), members.size - 1)
                    target[members, k] = samples[pick]
        delta = np.empty((len(pop), n_steps + 1))
        for k in range(n_steps + 1):
            reward = rewards[i, k] if k < n_steps else 0.0
            bootstrap = target[:, k] if k < n_steps else 0.0
            previous = v[:, k - 1] if k > 0 else 0.0
            delta[:, k] = reward + g * bootstrap - previous
        trace = np.zeros((len(pop), n_feat))
        change = np.zeros_like(trace)
        for k in range(1, n_steps + 1):
            trace = rho[:, None] * trace + x[m, k - 1][None, :]
            step = np.where(delta[:, k] > 0, pop.alpha_pos, pop.alpha_neg) * delta[:, k]
            change += step[:, None] * trace
        w[m] += change
        values.append(v)
        errors.append(delta[:, :n_steps])
    return w, np.array(values), np.array(errors)


def test_imputed_runs_equal_the_slow_reference():
    schedule = TASK.schedule(400, seed=5)
    run = drl.simulate(TASK, POP, schedule=schedule, bootstrap="imputed", seed=11, dtype="float64", progress=False,
                       record=("value", "rpe"))
    assert run.attrs["options"]["kernel"] == "compiled"
    w, v, d = reference(TASK, POP, schedule, seed=11)
    scale = np.abs(v).max()
    np.testing.assert_allclose(run.weights.values, np.moveaxis(w, 1, 0), atol=1e-6 * scale, rtol=0)
    np.testing.assert_allclose(run.value.values, np.moveaxis(v, 1, 0), atol=1e-6 * scale, rtol=0)
    np.testing.assert_allclose(run.rpe.values, np.moveaxis(d, 1, 0), atol=1e-6 * scale, rtol=0)
    # the imputation did act: at the random steps the errors are not those of the own values
    own = drl.simulate(TASK, POP, schedule=schedule, seed=11, dtype="float64", progress=False, record=("rpe",))
    assert np.abs(own.rpe.values - run.rpe.values).max() > 0.01 * scale


@pytest.mark.parametrize("options", [dict(features="microstimulus"), dict(preset="drl_sim"),
                                     dict(update="online")])
def test_imputed_runs_equal_the_torch_kernel(options):
    # dense features (offline), the state convention with a normalised trace, and CSC online (equal to offline);
    # in float64 the kernels' different orders of summation stay far below the stored float32 rounding
    kw = dict(bootstrap="imputed", seed=3, dtype="float64", progress=False, record=("value", "rpe"),
              record_times=[0.0, 0.7, 0.8, 1.4, 1.9], **options)
    torch_run = drl.simulate(TASK, POP, 300, kernel="torch", **kw)
    compiled_run = drl.simulate(TASK, POP, 300, **kw)
    assert compiled_run.attrs["options"]["kernel"] == "compiled"
    scale = float(np.abs(torch_run.value.values).max())
    for name in ("value", "rpe", "weights"):
        np.testing.assert_allclose(compiled_run[name].values, torch_run[name].values, atol=1e-6 * scale, rtol=0)


def test_float32_runs_keep_the_torch_kernels_draws_and_accuracy():
    from drl.engine.compiled.imputed import run_block
    from drl.engine.kernel import TrialKernel
    from drl.engine.options import EngineOptions

    # the block's uniforms come from the run's generator in one call: the generator ends where the torch
    # kernel's does after drawing [P, S] trial by trial (a resumed or replayed block draws the same numbers)
    opts = EngineOptions(bootstrap="imputed")
    schedule = TASK.schedule(60, seed=1)
    types, rewards = schedule.trial_type.numpy(), schedule.reward.float()
    kernels = [TrialKernel(TASK, POP, opts, torch.device("cpu"), torch.float32, seed=4) for _ in range(2)]
    weights = [torch.zeros(kernels[0].n_types, len(POP), kernels[0].n_features) for _ in range(2)]
    for i, m in enumerate(types):
        kernels[0].trial(weights[0][m], int(m), rewards[i])
    run_block(kernels[1], weights[1], types, rewards.numpy(), np.full(len(types), -1), np.arange(0), None, None)
    assert torch.equal(kernels[0].rng_state(), kernels[1].rng_state())
    np.testing.assert_allclose(weights[1].numpy(), weights[0].numpy(), atol=1e-5 * float(weights[0].abs().max()))


def test_streamed_resumed_and_rerun_imputed_runs_are_identical(tmp_path):
    kw = dict(bootstrap="imputed", seed=2, progress=False, record=("value", "rpe"))
    whole = drl.simulate(TASK, POP, 500, **kw)
    streamed = drl.simulate(TASK, POP, 500, out=tmp_path / "streamed", block_trials=37, **kw)
    np.testing.assert_array_equal(streamed.value.values, whole.value.values)
    np.testing.assert_array_equal(streamed.weights.values, whole.weights.values)
    again = drl.rerun(drl.load(drl.save(whole, tmp_path / "whole")))
    np.testing.assert_array_equal(again.rpe.values, whole.rpe.values)
    # a run made with the torch kernel (stored so) reruns with it
    old = drl.simulate(TASK, POP, 200, kernel="torch", **kw)
    np.testing.assert_array_equal(drl.rerun(old).rpe.values, old.rpe.values)


def test_where_the_compiled_imputation_does_not_apply():
    with pytest.raises(ValueError, match="kernel='compiled' needs the CPU .* got bootstrap='imputed', "
                                         "rule='quantile'"):
        drl.simulate(TASK, POP, 5, kernel="compiled", bootstrap="imputed", rule="quantile", progress=False)
    with pytest.raises(ValueError, match="update='online'"):
        drl.simulate(TASK, POP, 5, kernel="compiled", bootstrap="imputed", update="online",
                     features="microstimulus", progress=False)
    online = drl.simulate(TASK, POP, 5, bootstrap="imputed", update="online", features="microstimulus",
                          progress=False)
    assert online.attrs["options"]["kernel"] == "torch"
