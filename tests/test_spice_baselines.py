"""Q-learning by maximum likelihood, the model comparison table and the stability of equation terms, each
against something that would catch it being wrong: the simulating agent's own choice probabilities, an
independent scipy fit, and sums done by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import optimize

from drl.spice import (
    AgentQ,
    BanditsDrift,
    BanditsFixed,
    compare_models,
    create_dataset,
    fit_q_learning,
    q_learning_logits,
    term_stability,
)
from drl.spice.baselines import Q_LEARNING_BOUNDS
from drl.spice.optimize import linear_recurrence


def _agent_data(n_sessions, n_trials, seed=0, counterfactual=False, **params):
    agent = AgentQ(rng=seed, **params)
    environment = BanditsFixed([0.7, 0.3], counterfactual=True, rng=seed + 1) if counterfactual else \
        BanditsDrift(0.2, rng=seed + 1)
    dataset, experiments, _ = create_dataset(agent, environment, n_trials, n_sessions)
    return agent, dataset, experiments


@pytest.mark.parametrize("counterfactual", [False, True])
def test_logits_are_the_simulating_agents_choice_probabilities(counterfactual):
    params = dict(beta_reward=4.0, alpha_reward=0.4, alpha_penalty=0.15, forget_rate=0.2, beta_choice=1.5,
                  alpha_choice=0.6, alpha_counterfactual_reward=0.3 * counterfactual,
                  alpha_counterfactual_penalty=0.1 * counterfactual)
    agent, dataset, experiments = _agent_data(6, 80, counterfactual=counterfactual, **params)
    xs = torch.as_tensor(dataset.xs.numpy(), dtype=torch.float64)
    parameters = {k: torch.full((6,), float(v), dtype=torch.float64) for k, v in vars(agent.params).items()}
    probabilities = torch.softmax(q_learning_logits(parameters, xs), -1).numpy()
    # the agent's probabilities of trial t + 1, recorded while it played: the target of step t
    expected = np.stack([e.choice_probs[1:] for e in experiments])
    np.testing.assert_allclose(probabilities, expected, atol=1e-12)


def test_linear_recurrence_is_the_loop():
    rng = np.random.default_rng(0)
    decay, drive = rng.uniform(0, 1, (3, 37, 2)), rng.normal(size=(3, 37, 2))
    x, expected = np.full((3, 2), 0.5), []
    for t in range(37):
        x = decay[:, t] * x + drive[:, t]
        expected.append(x)
    got = linear_recurrence(torch.as_tensor(decay), torch.as_tensor(drive), 0.5).numpy()
    np.testing.assert_allclose(got, np.stack(expected, 1), atol=1e-12)


def _numpy_nll(values, choices, rewards):
    """Slow reference: AgentQ's update rule, one trial at a time (no counterfactual outcomes)."""
    beta, alpha_pos, alpha_neg, forget, kappa = values
    q, kernel, total = np.full(2, 0.5), np.zeros(2), 0.0
    for t in range(len(choices) - 1):
        c, r = choices[t], rewards[t]
        forgotten = q + forget * (0.5 - q)
        forgotten[c] = q[c] + (alpha_pos if r > 0.5 else alpha_neg) * (r - q[c])
        q = forgotten
        kernel = np.eye(2)[c]
        logits = beta * q + kappa * kernel
        total -= logits[choices[t + 1]] - np.log(np.exp(logits).sum())
    return total


@pytest.mark.slow
def test_fit_recovers_the_agent_and_matches_an_independent_fit():
    truth = dict(beta_reward=5.0, alpha_reward=0.4, alpha_penalty=0.1, forget_rate=0.2, beta_choice=1.0,
                 alpha_choice=1.0)
    _, dataset, experiments = _agent_data(12, 200, seed=3, **truth)
    xs = dataset.xs.numpy().copy()
    xs[..., -1] = (np.arange(12) // 6)[:, None]  # two participants of six sessions each
    fit = fit_q_learning(xs, dataset.ys.numpy(), n_restarts=3)
    assert fit.converged.all()
    assert list(fit.parameters.index) == [0, 1] and fit.free == ("beta_reward", "alpha_reward", "alpha_penalty",
                                                                   "forget_rate", "beta_choice")
    pooled = fit.parameters.mean()
    for name, value in truth.items():
        assert abs(pooled[name] - value) < 0.25 * max(value, 0.4), (name, pooled[name], value)
    # the maximum: no lower than at the true parameters, and the independent scipy fit finds the same
    names = list(fit.free)
    for participant in (0, 1):
        sessions = [experiments[s] for s in range(12) if s // 6 == participant]

        def total(values, sessions=sessions):
            return sum(_numpy_nll(values, e.choices, e.rewards[np.arange(len(e.choices)), e.choices])
                       for e in sessions)

        found = total(fit.parameters.loc[participant, names].to_numpy())
        assert found == pytest.approx(fit.nll[participant] * fit.n_choices[participant], rel=1e-9)
        assert found <= total([truth[n] for n in names]) + 1e-6
        reference = optimize.minimize(total, fit.parameters.loc[participant, names].to_numpy() * 0.8 + 0.02,
                                      method="L-BFGS-B", bounds=[Q_LEARNING_BOUNDS[n] for n in names])
        assert found <= reference.fun + 1e-4


def test_fit_scores_only_the_steps_given_and_predicts_every_step():
    _, dataset, _ = _agent_data(4, 60, seed=5, beta_reward=3.0, alpha_reward=0.3)
    xs, ys = dataset.xs.numpy(), dataset.ys.numpy()
    head = np.zeros(ys.shape[:2], dtype=bool)
    head[:, :40] = True
    changed = ys.copy()
    changed[:, 40:] = changed[:, 40:, ::-1]  # other choices in the tail: the fit must not see them
    a = fit_q_learning(xs, ys, steps=head, free=("beta_reward", "alpha_reward"), n_restarts=2)
    b = fit_q_learning(xs, changed, steps=head, free=("beta_reward", "alpha_reward"), n_restarts=2)
    pd.testing.assert_frame_equal(a.parameters, b.parameters)
    assert (a.n_choices == 40).all()
    assert a.predict(xs).shape == ys.shape
    assert a.n_parameters() == {p: 2 for p in range(4)}
    assert (a.parameters.alpha_penalty == a.parameters.alpha_reward).all()  # tied when not free


def test_fit_refuses_bad_specifications():
    xs, ys = np.zeros((1, 3, 5), np.float32), np.zeros((1, 3, 2), np.float32)
    xs[..., 0] = ys[..., 0] = 1
    with pytest.raises(ValueError, match="free must name parameters of"):
        fit_q_learning(xs, ys, free=("beta", "alpha_reward"))
    with pytest.raises(ValueError, match="fixed alpha_choice must be a number in \\[0.0, 1.0\\]; got 2"):
        fit_q_learning(xs, ys, fixed={"alpha_choice": 2})
    with pytest.raises(ValueError, match="\\['beta_choice'\\] are both free and fixed"):
        fit_q_learning(xs, ys, fixed={"beta_choice": 1.0})
    with pytest.raises(ValueError, match="parameters \\['beta_reward'\\] are neither free nor fixed"):
        fit_q_learning(xs, ys, free=("alpha_reward",))
    with pytest.raises(ValueError, match="n_restarts must be an integer from 1 to 1000; got 0"):
        fit_q_learning(xs, ys, n_restarts=0)
    broken = xs.copy()
    broken[0, 1, -1] = 0.5
    with pytest.raises(ValueError, match="fit_q_learning: participant ids .* got 0.5 at session 0, trial 1"):
        fit_q_learning(broken, ys)
    with pytest.raises(ValueError, match="steps must be \\[sessions, trials\\] = \\(1, 3\\)"):
        fit_q_learning(xs, ys, steps=np.ones((1, 2), bool))


def test_compare_models_by_hand():
    ys = np.zeros((2, 3, 2))
    ys[:, :, 0] = 1
    ys[1, 2] = -1  # padding: never scored
    sure = np.stack([np.full((2, 3), 0.9), np.full((2, 3), 0.1)], -1)
    coin = np.full((2, 3, 2), 0.5)
    table = compare_models({"sure": sure, "coin": coin}, ys, participants=["a", "b"],
                           n_parameters={"sure": {"a": 2, "b": 3}, "coin": 0})
    summary = table.summary
    assert summary.loc["sure", "n_choices"] == 5
    assert summary.loc["sure", "nll"] == pytest.approx(-np.log(0.9))
    assert summary.loc["coin", "accuracy"] == 1.0  # ties go to the first arm, the one chosen
    assert summary.loc["sure", "likelihood"] == pytest.approx(0.9)
    # BIC per participant 2·NLL + k·ln n, pooled as a sum per choice
    bic = (2 * 3 * -np.log(0.9) + 2 * np.log(3) + 2 * 2 * -np.log(0.9) + 3 * np.log(2)) / 5
    assert summary.loc["sure", "bic"] == pytest.approx(bic)
    assert summary.loc["sure", "aic"] == pytest.approx((2 * 5 * -np.log(0.9) + 2 * 5) / 5)
    assert summary.loc["coin", "delta_nll"] == pytest.approx(np.log(0.5 / 0.9) * -1)
    assert summary.loc["coin", "se_delta_nll"] == pytest.approx(0.0, abs=1e-12)  # the same gap for both
    assert table.per_participant.loc[("sure", "b"), "n_choices"] == 2 and table.reference == "sure"
    against_coin = compare_models({"sure": sure, "coin": coin}, ys, participants=["a", "b"], reference="coin")
    assert against_coin.summary.loc["sure", "delta_nll"] == pytest.approx(np.log(0.5 / 0.9))
    with pytest.raises(ValueError, match="reference 'dice' is not one of the models"):
        compare_models({"sure": sure}, ys, participants=["a", "b"], reference="dice")
    steps = np.zeros((2, 3), bool)
    steps[0, 0] = True
    only = compare_models({"sure": sure}, ys, participants=["a", "b"], steps=steps).summary
    assert only.loc["sure", "n_choices"] == 1 and np.isnan(only.loc["sure", "bic"])  # no count: no BIC
    with pytest.raises(ValueError, match="predictions\\['coin'\\] has shape \\(2, 3\\)"):
        compare_models({"coin": coin[..., 0]}, ys, participants=["a", "b"])
    bad = sure.copy()
    bad[1, 1, 0] = np.nan
    with pytest.raises(ValueError, match="predictions\\['sure'\\] must be choice probabilities .*session 1, trial 1 "
                                         "is \\[nan, 0.1\\]"):
        compare_models({"sure": bad}, ys, participants=["a", "b"])
    # what is not a probability vector: doubled (NLL < 0 once), logits, a row that does not sum to 1
    for name, wrong in (("doubled", 2 * sure), ("logits", np.log(sure) + 3), ("short", sure * 0.9)):
        with pytest.raises(ValueError, match=f"predictions\\['{name}'\\] must be choice probabilities"):
            compare_models({name: wrong}, ys, participants=["a", "b"])
    with pytest.raises(ValueError, match="n_parameters\\['sure'\\] must be a whole number of parameters ≥ 0; got -5"):
        compare_models({"sure": sure}, ys, participants=["a", "b"], n_parameters={"sure": -5})
    with pytest.raises(ValueError, match="n_parameters\\['sure'\\] names participant\\(s\\) \\['c'\\]"):
        compare_models({"sure": sure}, ys, participants=["a", "b"], n_parameters={"sure": {"a": 2, "c": 3}})
    not_one_hot = ys.copy()
    not_one_hot[0, 0] = [1, 1]
    with pytest.raises(ValueError, match="ys must be one-hot .* session 0, trial 0 is \\[1.0, 1.0\\]"):
        compare_models({"sure": sure}, not_one_hot, participants=["a", "b"])
    with pytest.raises(ValueError, match="n_parameters names model\\(s\\) \\['rnn'\\] without predictions"):
        compare_models({"sure": sure}, ys, participants=["a", "b"], n_parameters={"rnn": 3})


def test_term_stability_counts_signs_and_presence():
    def table(values):
        return pd.DataFrame([{"participant": p, "module": "x", "feature": f, "coefficient": v}
                             for (p, f), v in values.items()])

    first = table({(0, "1"): 0.5, (0, "r"): 0.2, (1, "1"): 0.4, (1, "r"): 0.0})
    second = table({(0, "1"): 0.6, (0, "r"): -0.1, (1, "1"): 0.5, (1, "r"): 0.0})
    stability = term_stability([first, second])
    assert stability.loc[("x", "1"), "present"] == 1.0 and stability.loc[("x", "1"), "reproducible"] == 1.0
    assert stability.loc[("x", "r"), "present"] == 0.5
    assert stability.loc[("x", "r"), "sign_flips"] == 1
    assert stability.loc[("x", "r"), "reproducible"] == 0.5  # participant 1: zero both times
    assert stability.loc[("x", "1"), "mean"] == pytest.approx(0.5)
    long = term_stability([first, second], by_participant=True)
    assert long.loc[("x", "r", 0), "sign_flip"] and not long.loc[("x", "r", 0), "reproducible"]
    assert long.loc[("x", "r", 1), "reproducible"] and long.loc[("x", "r", 1), "present"] == 0.0
    assert long.loc[("x", "r", 0), 1] == -0.1  # each fit's coefficient
    with pytest.raises(ValueError, match="at least two fits"):
        term_stability([first])
    with pytest.raises(TypeError, match="fits\\[1\\] is neither a fitted SpiceEstimator"):
        term_stability([first, pd.DataFrame({"a": [1]})])
