"""The engine against hand-computed numbers, closed forms, and an independent slow reference."""

import numpy as np
import pytest
import scipy.optimize
import torch
import xarray as xr

import drl
from drl import Population, RewardEvent, Schedule, Task, TrialType

# ------------------------------------------------------------------------------------ golden numbers
# One predictor, 4 steps (dt = 0.1 s), cue at 0 s (CSC features f0…f3 at steps 0…3), rewards given
# explicitly: trial 0 r = 1 at step 2, trial 1 nothing (negative error), trial 2 r = 1 at step 2.
# α+ = 0.5, α− = 0.25. Per-second γ and λ chosen so that the per-step g = γ^dt and ρ = (γλ)^dt are round.
TINY = Task("tiny", 0.3, 0.1, (TrialType("a", 0.0, (RewardEvent(0.2),)),))
REWARDS = torch.tensor([[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 1, 0]], dtype=torch.float32)
TINY_SCHEDULE = Schedule(TINY, torch.zeros(3, dtype=torch.int64), REWARDS)
G_HALF = 0.5**10  # γ per second with γ^0.1 = 0.5
L_HALF = 0.5**10

GOLDEN = {
    # (rule, gamma, lam, convention): (V per trial, δ per trial, final weights)
    ("expectile", 1.0, 0.0, 2): (
        [[0, 0, 0, 0], [0, 0.5, 0, 0], [0.25, 0.375, 0, 0]],
        [[0, 0, 1, 0], [0, 0.5, -0.5, 0], [0.25, 0.125, 0.625, 0]],
        [0.3125, 0.6875, 0, 0],
    ),
    ("quantile", 1.0, 0.0, 2): (
        [[0, 0, 0, 0], [0, 0.5, 0, 0], [0.5, 0.25, 0, 0]],
        [[0, 0, 1, 0], [0, 0.5, -0.5, 0], [0.5, -0.25, 0.75, 0]],
        [0.25, 0.75, 0, 0],
    ),
    ("expectile", G_HALF, 0.0, 2): (  # g = 0.5, textbook: δ_k = r_k + g·V_k − V_{k−1}; the reward arrives whole
        [[0, 0, 0, 0], [0, 0.5, 0, 0], [0.125, 0.375, 0, 0]],
        [[0, 0, 1, 0], [0, 0.25, -0.5, 0], [0.0625, 0.0625, 0.625, 0]],
        [0.15625, 0.6875, 0, 0],
    ),
    ("expectile", G_HALF, 0.0, 1): (  # schema-1 runs: δ_k = g·(r_k + V_k) − V_{k−1}; the reward arrives as 0.5
        [[0, 0, 0, 0], [0, 0.25, 0, 0], [0.0625, 0.1875, 0, 0]],
        [[0, 0, 0.5, 0], [0, 0.125, -0.25, 0], [0.03125, 0.03125, 0.3125, 0]],
        [0.078125, 0.34375, 0, 0],
    ),
    ("expectile", 1.0, L_HALF, 2): (  # ρ = 0.5: trial 0's reward error reaches f0 with weight 0.5
        [[0, 0, 0, 0], [0.25, 0.5, 0, 0], [0.3125, 0.375, 0, 0]],
        [[0, 0, 1, 0], [0.25, 0.25, -0.5, 0], [0.3125, 0.0625, 0.625, 0]],
        [0.3125 + 0.5 * 0.0625 + 0.5 * (0.5 * 0.625), 0.375 + 0.5 * 0.625, 0, 0],
    ),
}



def _simulate_step_loop(*args, **kwargs):
    """simulate() with online updates forced through the per-step loop even for CSC (where the closed form is
    exact), to test the loop against the closed form."""
    from dataclasses import replace

    from drl.engine.kernel import TrialKernel

    if "options" in kwargs:  # the torch kernel: the compiled loop has its own tests
        kwargs["options"] = replace(kwargs["options"], kernel="torch")
    else:
        kwargs["kernel"] = "torch"
    original = TrialKernel.uses_step_loop
    TrialKernel.uses_step_loop = property(lambda self: self.opt.update == "online")
    try:
        return drl.simulate(*args, **kwargs)
    finally:
        TrialKernel.uses_step_loop = original


@pytest.mark.parametrize("key", list(GOLDEN), ids=lambda k: f"{k[0]}-g{k[1]:.3g}-l{k[2]:.3g}-c{k[3]}")
@pytest.mark.parametrize("update", ["offline", "online", "online-step-loop"])
def test_golden_numbers(key, update):
    rule, gamma, lam, convention = key
    values, errors, weights = GOLDEN[key]
    pop = Population(np.array([0.5]), np.array([0.25]), np.array([gamma]), np.array([lam]))
    options = drl.EngineOptions(rule=rule, update=update.split("-")[0], convention=convention)
    run = _simulate_step_loop if update.endswith("loop") else drl.simulate
    ds = run(TINY, pop, schedule=TINY_SCHEDULE, options=options, progress=False, dtype="float64")
    np.testing.assert_allclose(ds.value.values[0], values, atol=1e-6)
    np.testing.assert_allclose(ds.rpe.values[0], errors, atol=1e-6)
    np.testing.assert_allclose(ds.weights.values[0, 0], weights, atol=1e-6)


def test_golden_drl_sim_preset():
    # drl_sim: δ_k = r_k + g·V_{k+1} − V_k, rate α^dt, last step not learned. α± chosen so α^dt = 0.5, 0.25.
    pop = Population(np.array([0.5**10]), np.array([0.25**10]), np.array([1.0]), np.array([0.0]))
    ds = drl.simulate(TINY, pop, preset="drl_sim", schedule=TINY_SCHEDULE, progress=False, dtype="float64")
    np.testing.assert_allclose(ds.value.values[0], [[0, 0, 0, 0], [0, 0, 0.5, 0], [0, 0.25, 0.375, 0]],
                               atol=1e-6)
    np.testing.assert_allclose(ds.rpe.values[0], [[0, 0, 1, 0], [0, 0.5, -0.5, 0], [0.25, 0.125, 0.625, 0]],
                               atol=1e-6)
    assert ds.attrs["options"]["preset"] == "drl_sim"


# -------------------------------------------------------------------------------------- closed forms
def test_td_converges_to_discounted_reward_at_cue():
    task = drl.get_task("masset_multi_delay")
    gammas = [0.5, 0.8, 0.95]
    pop = Population.sample(3, tau=0.5, alpha=0.2, gamma=np.array(gammas), lam=0.95)
    ds = drl.simulate(task, pop, 2000, progress=False, dtype="float64")
    for m, ttype in enumerate(task.trial_types):
        delay = ttype.rewards[0].time
        cue = float(task.cue_steps[m] * task.dt)
        last = ds.where(ds.trial_type == ttype.name, drop=True).isel(trial=-1)
        got = last.value.sel(time=cue, method="nearest").values  # V(cue) = γ^(D − dt)·r (textbook TD)
        np.testing.assert_allclose(got, np.array(gammas) ** (delay - task.dt), rtol=2e-3, err_msg=ttype.name)
        response = last.rpe.sel(time=cue, method="nearest").values  # δ_cue = γ^D·r
        np.testing.assert_allclose(response, np.array(gammas) ** delay, rtol=2e-3, err_msg=ttype.name)


def _true_expectile(values, probs, tau):
    def grad(e):
        return np.sum(probs * np.where(values > e, tau, 1 - tau) * (values - e))

    return scipy.optimize.brentq(grad, values.min(), values.max())


def _true_quantile(values, probs, tau):
    cdf = np.cumsum(probs)
    return values[np.searchsorted(cdf, tau)]


@pytest.mark.parametrize("rule", ["expectile", "quantile"])
def test_population_converges_to_expectiles_or_quantiles(rule):
    task = drl.get_task("dabney_variable_magnitude")
    dist = task.reward_distribution("variable")
    # τ levels away from the CDF's jumps, so each quantile is one atom
    taus = np.array([0.03, 0.1, 0.2, 0.33, 0.5, 0.7, 0.85, 0.95])
    pop = Population.sample(len(taus), tau=taus, alpha=0.004 if rule == "expectile" else 0.05, gamma=1.0)
    reward_step = task.reward_steps("variable")[0]
    ds = drl.simulate(task, pop, 12000, rule=rule, progress=False, record_times=[(reward_step - 1) * task.dt])
    learned = ds.value.isel(trial=slice(6000, None), time=0).mean("trial").values
    if rule == "expectile":
        truth = np.array([_true_expectile(dist.values, dist.probabilities, t) for t in taus])
        np.testing.assert_allclose(learned, truth, rtol=0.02)
    else:
        truth = np.array([_true_quantile(dist.values, dist.probabilities, t) for t in taus])
        np.testing.assert_allclose(learned, truth, atol=0.02 * (dist.values.max() - dist.values.min()))


# ------------------------------------------------------------------------- independent slow reference
def reference_run(x, rewards, types, pop, dt, rule, update, partners=None, discount_reward=False):
    """Textbook TD(λ), arrival-indexed errors, one predictor and one step at a time (float64).

    ``discount_reward``: the convention of schema-1 runs, δ_k = g·(r_k + V_k) − V_{k−1}.

    ``partners[n][p, k]``: the predictor whose start-of-trial value predictor p bootstraps from at step k
    (offline only); None for own bootstrap.
    """
    n_types, n_steps, n_features = x.shape
    weights = np.zeros((len(pop), n_types, n_features))
    value = np.zeros((len(pop), len(types), n_steps))
    rpe = np.zeros_like(value)
    for n, m in enumerate(types):
        start_weights = weights.copy()
        for p in range(len(pop)):
            g = pop.gamma[p] ** dt
            rho = (pop.gamma[p] * pop.lam[p]) ** dt
            w = weights[p, m].copy()
            w_start = w.copy()
            total = np.zeros(n_features)
            trace = np.zeros(n_features)
            for k in range(n_steps + 1):
                wv = w_start if update == "offline" else w
                if partners is not None and k < n_steps:
                    v_k = start_weights[partners[n][p, k], m] @ x[m, k]
                    own_v_k = w_start @ x[m, k]
                else:
                    v_k = own_v_k = wv @ x[m, k] if k < n_steps else 0.0
                v_km1 = wv @ x[m, k - 1] if k > 0 else 0.0
                r_k = rewards[n, k] if k < n_steps else 0.0
                delta = (g * (r_k + v_k) if discount_reward else r_k + g * v_k) - v_km1
                if k < n_steps:
                    value[p, n, k], rpe[p, n, k] = own_v_k, delta
                if k > 0:
                    if rule == "expectile":
                        u = (pop.alpha_pos[p] if delta > 0 else pop.alpha_neg[p]) * delta
                    else:
                        u = pop.alpha_pos[p] * (delta > 0) - pop.alpha_neg[p] * (delta < 0)
                    if update == "offline":
                        total += u * trace
                    else:
                        w = w + u * trace
                if k < n_steps:
                    trace = rho * trace + x[m, k]
            weights[p, m] = w_start + total if update == "offline" else w
    return value, rpe, weights


def reference_drl_sim(x, rewards, types, pop, dt):
    """drl_sim's sim(), rewritten as plain loops: δ_t = r_t + g·V_{t+1} − V_t, λ-only trace, α^dt, /max(1, Σe)."""
    n_types, n_steps, n_features = x.shape
    weights = np.zeros((len(pop), n_types, n_features))
    rpe = np.zeros((len(pop), len(types), n_steps - 1))
    for n, m in enumerate(types):
        for p in range(len(pop)):
            w = weights[p, m]
            v = w @ x[m].T
            d = rewards[n, :-1] + pop.gamma[p] ** dt * v[1:] - v[:-1]
            trace = np.zeros(n_features)
            for t in range(n_steps - 1):
                trace = pop.lam[p] ** dt * trace + x[m, t]
                rate = (pop.alpha_pos[p] if d[t] > 0 else pop.alpha_neg[p]) ** dt
                w = w + rate * d[t] * trace / max(1.0, trace.sum())
            weights[p, m] = w
            rpe[p, n] = d
    return rpe, weights


def _random_config(seed, features):
    rng = np.random.default_rng(seed)
    task = Task(
        "rand", 1.2, 0.1,
        (TrialType("a", 0.1, (RewardEvent(0.6, magnitudes=(0.5, 2.0)),)),
         TrialType("b", 0.3, (RewardEvent(0.4, magnitudes=(1.0,), delivery_probability=0.5),
                              RewardEvent(0.8, magnitudes=(-0.5, 1.5))))),
    )
    pop = Population.sample(4, tau=(0.1, 0.9), alpha=(0.05, 0.3), gamma=(0.3, 1.0), lam=(0.0, 1.0),
                            seed=int(rng.integers(1000)))
    x = drl.make_features(features).build(task)
    return task, pop, x


@pytest.mark.parametrize("features", ["csc", {"name": "microstimulus", "n_microstimuli": 6, "width": 0.15}],
                         ids=["csc", "microstimulus"])
@pytest.mark.parametrize("rule", ["expectile", "quantile"])
@pytest.mark.parametrize("update", ["offline", "online"])
@pytest.mark.parametrize("convention", [2, 1])
@pytest.mark.parametrize("kernel", ["compiled", "torch"])
def test_engine_equals_slow_reference(features, rule, update, convention, kernel):
    task, pop, x = _random_config(sum(map(ord, f"{features}{rule}{update}")) % 1000, features)
    sched = task.schedule(25, seed=5)
    options = drl.EngineOptions(rule=rule, update=update, features=drl.make_features(features).to_dict(),
                                convention=convention, kernel=kernel)
    ds = drl.simulate(task, pop, schedule=sched, options=options, progress=False, dtype="float64")
    value, rpe, weights = reference_run(x, sched.reward.numpy().astype(np.float64), sched.trial_type.numpy(), pop,
                                        task.dt, rule, update, discount_reward=convention == 1)
    np.testing.assert_allclose(ds.value.values, value, atol=2e-6)
    np.testing.assert_allclose(ds.rpe.values, rpe, atol=2e-6)
    np.testing.assert_allclose(ds.weights.values, weights.astype(np.float32), atol=2e-6)


@pytest.mark.parametrize("features", ["csc", "microstimulus"])
@pytest.mark.parametrize("kernel", ["compiled", "torch"])
def test_drl_sim_preset_equals_drl_sim_reference(features, kernel):
    task, pop, x = _random_config(11, features)
    sched = task.schedule(20, seed=2)
    ds = drl.simulate(task, pop, schedule=sched, preset="drl_sim", features=features, progress=False,
                      dtype="float64", kernel=kernel)
    rpe, weights = reference_drl_sim(x, sched.reward.numpy().astype(np.float64), sched.trial_type.numpy(), pop,
                                     task.dt)
    np.testing.assert_allclose(ds.rpe.values[:, :, :-1], rpe, atol=2e-6)
    np.testing.assert_allclose(ds.weights.values, weights.astype(np.float32), atol=2e-6)


def test_csc_offline_equals_online_and_microstimulus_differs():
    task, pop, _ = _random_config(3, "csc")
    kw = dict(progress=False, seed=4)
    off = drl.simulate(task, pop, 60, update="offline", **kw)
    on = _simulate_step_loop(task, pop, 60, update="online", **kw)
    np.testing.assert_allclose(off.value.values, on.value.values, atol=1e-5)
    np.testing.assert_allclose(off.rpe.values, on.rpe.values, atol=1e-5)
    micro = dict(features="microstimulus", **kw)
    off = drl.simulate(task, pop, 60, update="offline", **micro)
    on = drl.simulate(task, pop, 60, update="online", **micro)
    assert np.abs(off.value.values - on.value.values).max() > 1e-3


# ------------------------------------------------------------------------------ determinism, dtypes
def test_same_seed_identical_dataset_and_float64_agrees():
    task = drl.get_task("lowet_2025")
    pop = Population.sample(6, tau=(0.2, 0.8), gamma=[0.8, 0.95], lam=0.7, seed=2)
    a = drl.simulate(task, pop, 150, seed=9, progress=False, bootstrap="imputed")
    b = drl.simulate(task, pop, 150, seed=9, progress=False, bootstrap="imputed")
    a.attrs.pop("created"), b.attrs.pop("created")
    xr.testing.assert_identical(a, b)
    c = drl.simulate(task, pop, 150, seed=10, progress=False)
    assert not np.array_equal(a.reward.values, c.reward.values)
    f64 = drl.simulate(task, pop, 150, seed=9, progress=False, dtype="float64")
    f32 = drl.simulate(task, pop, 150, seed=9, progress=False, dtype="float32")
    np.testing.assert_allclose(f64.value.values, f32.value.values, atol=1e-4)


def test_random_bootstrap_partners_share_gamma_and_follow_tau_cells():
    from drl.engine.bootstrap import Bootstrap

    tau = np.array([0.1, 0.3, 0.5, 0.9, 0.2, 0.8, 0.5, 0.5, 0.7])
    gamma = np.array([0.5, 0.5, 0.5, 0.5, 0.8, 0.8, 0.9, 0.95, 0.95])
    boot = Bootstrap("random", "quantile", tau, gamma, 4000, "cpu", seed=0)
    partners = boot.draw_partners().numpy()
    np.testing.assert_array_equal(gamma[partners], np.repeat(gamma[:, None], 4000, 1))
    # τ cells of the γ = 0.5 group (0.1, 0.3, 0.5, 0.9): split at midpoints 0.2, 0.4, 0.7, itself included
    freq = np.bincount(partners[:4].ravel(), minlength=9)[:4] / partners[:4].size
    np.testing.assert_allclose(freq, [0.2, 0.2, 0.3, 0.3], atol=0.01)
    assert np.all(partners[6] == 6)  # alone in its group


def test_legacy_partners_are_the_others_of_the_group():
    from drl.engine.bootstrap import Bootstrap

    gamma = np.array([0.5, 0.5, 0.5, 0.9])
    partners = Bootstrap("random", "expectile", np.full(4, 0.5), gamma, 200, "cpu", 0,
                         legacy_partners=True).draw_partners().numpy()
    assert np.all(partners[:3] != np.arange(3)[:, None]) and np.all(gamma[partners[:3]] == 0.5)


@pytest.mark.parametrize("features", ["csc", "microstimulus"])
@pytest.mark.parametrize("convention", [2, 1])
def test_random_bootstrap_equals_reference_with_the_same_partners(features, convention):
    from drl.engine.bootstrap import Bootstrap

    task, _, x = _random_config(8, features)
    pop = Population.sample(6, tau=(0.1, 0.9), alpha=0.2, gamma=np.array([0.5, 0.5, 0.5, 0.9, 0.9, 1.0]),
                            lam=0.6, seed=3)
    sched = task.schedule(30, seed=1)
    options = drl.EngineOptions(rule="quantile", bootstrap="random", features=drl.make_features(features).to_dict(),
                                convention=convention)
    ds = drl.simulate(task, pop, schedule=sched, seed=1, options=options, progress=False, dtype="float64")
    boot = Bootstrap("random", "quantile", pop.tau, pop.gamma, task.n_steps, "cpu", seed=1,
                     legacy_partners=convention == 1)
    partners = [boot.draw_partners().numpy() for _ in range(30)]
    value, rpe, weights = reference_run(x, sched.reward.numpy().astype(np.float64), sched.trial_type.numpy(), pop,
                                        task.dt, "quantile", "offline", partners=partners,
                                        discount_reward=convention == 1)
    np.testing.assert_allclose(ds.value.values, value, atol=2e-6)
    np.testing.assert_allclose(ds.rpe.values, rpe, atol=2e-6)
    np.testing.assert_allclose(ds.weights.values, weights.astype(np.float32), atol=2e-6)
    own = drl.simulate(task, pop, schedule=sched, rule="quantile", features=features, progress=False,
                       dtype="float64")
    assert np.abs(own.rpe.values - ds.rpe.values).max() > 1e-3


# ------------------------------------------------------------------------------------ recording
def test_record_thinning():
    task = drl.get_task("hyp_unif")
    pop = Population.sample(2)
    ds = drl.simulate(task, pop, 100, record=("value",), record_trials=10, record_times=[2.0, 6.0],
                      progress=False)
    assert list(ds.trial.values) == [*range(0, 100, 10), 99]
    np.testing.assert_allclose(ds.time.values, [2.0, 6.0])
    assert "rpe" not in ds and "reward" not in ds and "weights" in ds
    full = drl.simulate(task, pop, 100, progress=False)
    np.testing.assert_array_equal(ds.value.values, full.value.sel(trial=ds.trial, time=ds.time).values)


def test_schema_coords_and_attrs():
    task = drl.get_task("sousa_2025")
    pop = Population.grid(tau=[0.25, 0.75], gamma=[0.7, 0.9])
    ds = drl.simulate(task, pop, 20, progress=False)
    assert ds.value.dims == ("predictor", "trial", "time") and ds.value.dtype == np.float32
    assert ds.weights.dims == ("predictor", "type", "feature")
    assert set(ds.trial_type.values) <= set(task.trial_type_names)
    for c in ("alpha_pos", "alpha_neg", "tau", "gamma", "lam"):
        assert ds[c].dims == ("predictor",) and ds[c].attrs["units"]
    assert ds.time.attrs["units"] == "s" and ds.gamma.attrs["units"] == "per s"
    assert Task.from_dict(ds.attrs["task"]) == task
    assert ds.attrs["options"]["rule"] == "expectile" and ds.attrs["seed"] == 0


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rule="expectiles"), "unknown rule 'expectiles'; valid: 'expectile', 'quantile'"),
        (dict(update="batch"), "unknown update 'batch'; valid: 'offline', 'online'"),
        (dict(features="tapped_delay"), "unknown features 'tapped_delay'; valid: 'csc', 'microstimulus'"),
        (dict(bootstrap="others"), "unknown bootstrap 'others'; valid: 'own', 'random', 'imputed'"),
        (dict(preset="drlsim"), "unknown preset 'drlsim'.*Did you mean 'drl_sim'"),
        (dict(device="cuda:7" if not torch.cuda.is_available() else "cuda:99"), "does not exist"),
        (dict(device="toaster"), "not a torch device"),
        (dict(dtype="float16"), "dtype must be 'float32' or 'float64'"),
        (dict(record=("value", "weight")), "unknown record variable 'weight'"),
        (dict(record_times=[9.0]), r"record_times must be within \[0, 7\] s; got 9"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        drl.simulate("hyp_unif", Population.sample(2), 3, progress=False, **kwargs)


def test_bad_n_trials_and_population():
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="n_trials must be an integer >= 1"):
            drl.simulate("hyp_unif", Population.sample(2), bad, progress=False)
    with pytest.raises(TypeError, match="population must be a drl.Population"):
        drl.simulate("hyp_unif", {"tau": 0.5}, 3)
    with pytest.raises(ValueError, match="unknown task 'hyp_uni'"):
        drl.simulate("hyp_uni", Population.sample(2), 3)


def test_run_too_large_is_refused_with_size_and_way_out():
    with pytest.raises(drl.RunTooLargeError, match=r"needs .* (GB|TB).*record_trials.*out='name'"):
        drl.simulate("hyp_unif", Population.sample(100_000), 1_000_000, progress=False)


def test_non_finite_values_name_predictor_and_trial():
    # two rewards of 2e38: the value before the first is 4e38, beyond float32 (max 3.4e38)
    task = Task("huge", 0.5, 0.1, (TrialType("a", 0.0, (RewardEvent(0.2, magnitudes=(2e38,)),
                                                         RewardEvent(0.4, magnitudes=(2e38,)))),))
    pop = Population.sample(alpha_pos=np.array([1.0, 1e-30, 1.0]), alpha_neg=np.array([1.0, 1e-30, 1.0]), lam=1.0)
    with pytest.raises(drl.NonFiniteValueError, match=r"non-finite at trial 0 for predictor\(s\) #0 \(alpha_pos=1.*gamma=1, lam=1\), #2 "):
        drl.simulate(task, pop, 50, progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_matches_cpu():
    task = drl.get_task("lowet_2025")
    pop = Population.sample(16, tau=(0.1, 0.9), gamma=[0.8, 0.95], lam=0.5)
    cpu = drl.simulate(task, pop, 100, progress=False, dtype="float64")
    gpu = drl.simulate(task, pop, 100, progress=False, dtype="float64", device="cuda")
    np.testing.assert_allclose(cpu.value.values, gpu.value.values, atol=1e-6)
