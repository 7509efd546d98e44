"""drl.spice part 1: bandits, AgentQ, datasets, BaseRNN (the tutorials' custom classes) and training."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from spice_tutorial_models import CustomLearningRateRNN, CustomRNN, WeinhardtRNN

from drl.spice import (
    AgentQ,
    BanditsDrift,
    BanditsFixed,
    BanditsSwitch,
    ChanceLevelWarning,
    DatasetRNN,
    LearningRateRNN,
    RescorlaWagnerRNN,
    create_dataset,
    fit_model,
    load_choice_table,
    nll,
)


def _data(n_sessions=100, n_trials=100, seed=0, **agent_kwargs):
    env = BanditsDrift(sigma=0.2, n_actions=2, rng=seed)
    agent = AgentQ(n_actions=2, rng=seed + 1, **agent_kwargs)
    dataset, experiments, params = create_dataset(agent, env, n_trials, n_sessions)
    dataset.xs[..., -1] = 0
    return dataset, experiments, params


def _agent_nll(experiments, sessions):
    """The generating agent's own NLL of the next choices (its choice probabilities are known)."""
    p = np.stack([experiments[s].choice_probs[1:] for s in sessions])
    c = np.stack([experiments[s].choices[1:] for s in sessions])
    return float(-np.mean(np.log(np.take_along_axis(p, c[..., None], -1))))


# ---------------------------------------------------------------- environments and agent
def test_drift_stays_in_range_and_rewards_follow_probabilities():
    env = BanditsDrift(sigma=0.2, n_actions=3, rng=np.random.default_rng(5))
    probs, rewards = [], []
    for _ in range(20000):
        probs.append(env.reward_probs)
        rewards.append(env.step(0))
    probs, rewards = np.array(probs), np.array(rewards)
    assert probs.min() >= 0 and probs.max() <= 1
    assert np.all(rewards[:, 1:] == -1)  # unchosen outcomes hidden
    assert abs(rewards[:, 0].mean() - probs[:, 0].mean()) < 0.015  # Bernoulli(p) on average
    assert np.std(np.diff(probs[:, 0])[(probs[1:, 0] > 0.05) & (probs[1:, 0] < 0.95)]) == pytest.approx(0.2, rel=0.1)
    fixed = BanditsFixed([0.2, 0.9], counterfactual=True, rng=1)
    outcomes = np.array([fixed.step(1) for _ in range(20000)])
    assert np.allclose(outcomes.mean(0), [0.2, 0.9], atol=0.015)
    switch = BanditsSwitch(hazard=0.1, rng=2)
    good = [int(np.argmax(switch.reward_probs)) for _ in range(5000) if switch.step(0) is not None]
    assert 0.07 < np.mean(np.diff(good) != 0) < 0.13
    a = BanditsDrift(0.1, rng=3)
    b = BanditsDrift(0.1, rng=3)
    assert np.array_equal([a.step(0) for _ in range(50)], [b.step(0) for _ in range(50)])  # seedable


def test_agentq_updates_match_hand_computation():
    agent = AgentQ(n_actions=2, beta_reward=2.0, alpha_reward=0.3, alpha_penalty=0.1, forget_rate=0.2,
                   beta_choice=1.5, alpha_choice=0.4, rng=0)
    assert np.allclose(agent.x_value_reward, 0.5) and np.allclose(agent.x_value_choice, 0)
    agent.update(0, np.array([1.0, -1.0]))  # rewarded: α+ on arm 0, arm 1 forgets toward 0.5
    assert np.allclose(agent.x_value_reward, [0.5 + 0.3 * 0.5, 0.5])
    assert np.allclose(agent.x_value_choice, [0.4, 0.0])
    assert np.allclose(agent.x_learning_rate_reward, [0.3, 0.0])
    agent.update(1, np.array([-1.0, 0.0]))  # penalty on arm 1 with α−; arm 0 forgets
    assert np.allclose(agent.x_value_reward, [0.65 + 0.2 * (0.5 - 0.65), 0.5 - 0.1 * 0.5])
    assert np.allclose(agent.x_value_choice, [0.4 * 0.6, 0.4])
    logits = 2.0 * agent.x_value_reward + 1.5 * agent.x_value_choice
    assert np.allclose(agent.get_choice_probs(), np.exp(logits) / np.exp(logits).sum())
    cf = AgentQ(n_actions=2, alpha_reward=0.3, alpha_counterfactual_reward=0.25, alpha_counterfactual_penalty=0.05,
                forget_rate=0.2)
    cf.update(0, np.array([0.0, 1.0]))  # counterfactual outcome of arm 1 shown: no forgetting there
    assert np.allclose(cf.x_value_reward, [0.5 - 0.3 * 0.5, 0.5 + 0.25 * 0.5])
    varied = AgentQ(alpha_reward=0.3, parameter_variance={"alpha_reward": 0.1}, rng=4)
    draws = []
    for _ in range(200):
        varied.new_sess()
        draws.append(varied.params.alpha_reward)
    assert 0.08 < np.std(draws) < 0.12 and abs(np.mean(draws) - 0.3) < 0.03
    assert AgentQ(beta_reward=50, deterministic=True).get_choice() == 0  # ties: the first arm


def test_create_dataset_layout():
    dataset, experiments, params = _data(n_sessions=5, n_trials=30, alpha_reward=0.3)
    assert tuple(dataset.xs.shape) == (5, 29, 5) and tuple(dataset.ys.shape) == (5, 29, 2)
    e = experiments[2]
    assert np.array_equal(dataset.xs[2, :, :2].numpy(), np.eye(2)[e.choices[:-1]])
    assert np.array_equal(dataset.xs[2, :, 2:4].numpy(), e.rewards[:-1])
    assert np.all((dataset.xs[2, :, 2:4].numpy() == -1) == (np.eye(2)[e.choices[:-1]] == 0))
    assert np.array_equal(dataset.ys[2].numpy(), np.eye(2)[e.choices[1:]])
    assert len(params) == 5 and params["alpha_reward"].iloc[0] == 0.3
    raw, _, _ = create_dataset(AgentQ(rng=0), BanditsDrift(0.2, rng=0), 10, 3)
    assert list(raw.xs[:, 0, -1].numpy()) == [0, 1, 2]  # participant id = session index


def test_load_choice_table_pads_and_validates(tmp_path):
    table = pd.DataFrame({
        "participant": ["p1"] * 5 + ["p2"] * 3,
        "session": [0] * 5 + [0] * 3,
        "trial": [0, 1, 2, 3, 4, 2, 0, 1],
        "choice": [0, 1, 1, 0, 1, 1, 0, 0],
        "reward": [1, 0, 1, 1, 0, 1, 0, 1],
    })
    table.to_csv(tmp_path / "choices.csv", index=False)
    ds = load_choice_table(tmp_path / "choices.csv")
    assert tuple(ds.xs.shape) == (2, 4, 5) and list(ds.lengths) == [4, 2]
    assert np.array_equal(ds.ys[1, 2:].numpy(), -np.ones((2, 2)))  # padding, masked in the loss
    assert np.array_equal(ds.xs[1, :2, :2].numpy(), [[1, 0], [1, 0]])  # p2 sorted by trial: 0, 0, 1
    assert np.array_equal(ds.xs[1, :2, 2:4].numpy(), [[0, -1], [1, -1]])
    assert ds.participants == ["p1", "p2"] and float(ds.xs[1, 0, -1]) == 1
    with pytest.raises(ValueError, match="lacks column\\(s\\) \\['reward'\\]"):
        load_choice_table(table.drop(columns="reward"))
    with pytest.raises(ValueError, match="choices must be in \\[0, 1\\]; got \\[2\\]"):
        load_choice_table(table.assign(choice=[0, 1, 2, 0, 1, 1, 0, 0]), n_actions=2)


# ---------------------------------------------------------------- RNNs and training
@pytest.mark.slow
def test_tutorial_custom_rnn_learns_close_to_the_generating_agent():
    dataset, experiments, _ = _data(alpha_reward=0.3)
    model = CustomRNN(n_actions=2)
    result = fit_model(model, dataset.xs, dataset.ys, epochs=400, learning_rate=1e-2, test_fraction=0.2, seed=0,
                       progress=False)
    agent_nll = _agent_nll(experiments, result.test_sessions)
    assert result.test_loss < math.log(2) - 0.1
    assert abs(result.test_loss - agent_nll) < 0.015, (result.test_loss, agent_nll)
    recorded = model.record(dataset.xs[:3])
    assert recorded["x_value_reward_chosen"].shape == (99, 3, 2) and set(recorded) == {
        "c_action", "c_reward", "x_value_reward_chosen"}


@pytest.mark.slow
def test_tutorial_hardcoded_and_embedding_models_train():
    dataset, experiments, _ = _data(n_sessions=60, n_trials=60, alpha_reward=0.3, forget_rate=0.2,
                                    beta_choice=1.0, alpha_choice=1.0)
    for model in (CustomLearningRateRNN(n_actions=2), WeinhardtRNN(n_actions=2, n_participants=1)):
        result = fit_model(model, dataset.xs, dataset.ys, epochs=150, learning_rate=2e-2, seed=1, progress=False)
        assert result.train_loss < _agent_nll(experiments, range(60)) + 0.05, type(model).__name__


@pytest.mark.slow
def test_rescorla_wagner_never_ends_at_chance():
    dataset, _, _ = _data(n_sessions=48, n_trials=60, alpha_reward=0.3)
    for seed in range(10):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ChanceLevelWarning)
            result = fit_model(RescorlaWagnerRNN(n_actions=2), dataset.xs, dataset.ys, epochs=120,
                               learning_rate=2e-2, seed=seed, progress=False)
        assert result.train_loss < math.log(2) - 0.05, (seed, result)


def test_chance_is_warned_loudly():
    rng = np.random.default_rng(0)
    choices = rng.integers(0, 2, (20, 31))  # choices unrelated to anything: nothing to learn
    xs = np.zeros((20, 30, 5), dtype=np.float32)
    xs[..., :2] = np.eye(2)[choices[:, :-1]]
    xs[..., 2:4] = -1
    ys = np.eye(2)[choices[:, 1:]]
    with pytest.warns(ChanceLevelWarning, match="near chance: training NLL 0.6.* vs chance ln 2 = 0.6931"):
        result = fit_model(RescorlaWagnerRNN(), xs, ys, epochs=30, n_restarts=1, progress=False)
    assert result.restarts == 1


def test_bad_input():
    dataset, _, _ = _data(n_sessions=4, n_trials=10)
    with pytest.raises(ValueError, match="disagree on \\[sessions, trials\\]"):
        DatasetRNN(dataset.xs, dataset.ys[:, :5])
    with pytest.raises(ValueError, match="ys has 2 actions but the model was built for n_actions=3"):
        fit_model(RescorlaWagnerRNN(n_actions=3), dataset.xs, dataset.ys, epochs=1, progress=False)
    with pytest.raises(ValueError, match="alpha_reward must be in \\[0, 1\\]; got 1.3"):
        AgentQ(alpha_reward=1.3)
    with pytest.raises(ValueError, match="agent.n_actions \\(3\\) != environment.n_actions \\(2\\)"):
        create_dataset(AgentQ(n_actions=3), BanditsDrift(0.2), 10, 2)
    model = CustomRNN(n_actions=2)
    model.init_forward_pass(dataset.xs, batch_first=True)
    with pytest.raises(ValueError, match="no module 'x_value_choice'; modules: \\['x_value_reward_chosen'\\]"):
        model.call_module("x_value_choice", "x_value_reward", action=dataset.xs[:, 0, :2])
    with pytest.raises(ValueError, match="no state 'x_value_choice': add it to CustomRNN.init_values"):
        model.call_module("x_value_reward_chosen", "x_value_choice")
    with pytest.raises(ValueError, match="unknown parameter\\(s\\) in parameter_variance: \\['alpha'\\]"):
        AgentQ(parameter_variance={"alpha": 0.1})


def test_seeding_numpy_reproduces_data_and_equations_as_in_the_tutorials():
    # The tutorials call np.random.seed(42) and expect the same data and fit every run: with no rng=, the
    # environments and agents draw their generators from numpy's global state.
    import torch

    from drl.spice import RESCORLA_WAGNER_CONFIG, SpiceEstimator

    saved = np.random.get_state()  # noqa: NPY002 - given back at the end: other tests see no change
    runs = []
    for _ in range(2):
        np.random.seed(42)  # noqa: NPY002 - the tutorials' way, which is what is tested
        dataset, _, _ = create_dataset(AgentQ(alpha_reward=0.3), BanditsDrift(0.2), 30, 8)
        estimator = SpiceEstimator(RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG, epochs=20, n_restarts=0)
        estimator.fit(dataset.xs, dataset.ys)
        runs.append((dataset.xs.clone(), dataset.ys.clone(), None,
                     {m: eq.coefficients.copy() for m, eq in estimator.distilled_[0].items()}))
    torch.testing.assert_close(runs[0][0], runs[1][0])
    torch.testing.assert_close(runs[0][1], runs[1][1])
    for module, coefficients in runs[0][3].items():
        np.testing.assert_array_equal(coefficients, runs[1][3][module])
    np.random.seed(43)  # noqa: NPY002
    other, _, _ = create_dataset(AgentQ(alpha_reward=0.3), BanditsDrift(0.2), 30, 8)
    assert not torch.equal(other.ys, runs[0][1])  # another global seed, other data
    explicit = [create_dataset(AgentQ(rng=7), BanditsDrift(0.2, rng=8), 30, 2)[0].ys for _ in range(2)]
    assert torch.equal(explicit[0], explicit[1])  # rng= given: the global state plays no part
    np.random.set_state(saved)  # noqa: NPY002


@pytest.mark.slow
def test_inverse_temperatures_stay_non_negative_and_signs_are_recovered():
    from drl.spice import Weinhardt2024RNN
    from drl.spice.modules import Constant

    constant = Constant(init=2.5)
    assert float(constant().detach()) == pytest.approx(2.5, rel=1e-6)
    with torch.no_grad():
        constant.value.fill_(-30.0)  # however far the free parameter goes, β stays ≥ 0
    assert 0 <= float(constant().detach()) < 1e-12
    assert float(Constant(init=-1.0, non_negative=False)().detach()) == -1.0
    with pytest.raises(ValueError, match="init of a non-negative constant"):
        Constant(init=0.0)

    # the agent perseverates (β_choice = 1 > 0): the fit must say so with β ≥ 0 and a larger choice value for
    # the arm just chosen, not with a negative β times mirror-image values (measured: β 2.3 and 1.4, +0.7)
    torch.manual_seed(0)
    dataset, _, _ = _data(n_sessions=60, n_trials=60, alpha_reward=0.3, forget_rate=0.2, beta_choice=1.0,
                          alpha_choice=1.0)
    model = Weinhardt2024RNN(n_actions=2, n_participants=1)
    fit_model(model, dataset.xs, dataset.ys, epochs=150, learning_rate=1e-2, seed=0, progress=False)
    with torch.no_grad():
        embedding = model.participant_embedding(torch.zeros(1, dtype=torch.long))
        betas = {name: float(beta(embedding)) for name, beta in model.betas.items()}
    assert betas["x_value_reward"] > 0.5 and betas["x_value_choice"] > 0.2, betas
    recorded = model.record(dataset.xs[:20])
    value = np.asarray(recorded["x_value_choice_chosen"])[1:]
    chose = np.asarray(recorded["c_action"])[:-1].astype(bool)
    assert value[chose].mean() - value[~chose].mean() > 0.2


def test_weights_saved_before_beta_was_constrained_load_or_are_refused(tmp_path):
    from drl.spice import LEARNING_RATE_RNN_CONFIG, LearningRateRNN, SpiceEstimator

    estimator = SpiceEstimator(rnn_class=LearningRateRNN, spice_config=LEARNING_RATE_RNN_CONFIG)
    state = LearningRateRNN().state_dict()  # an unfitted estimator has no network: load_spice builds it
    old = {"rnn_class": "LearningRateRNN", "state_dict": {**state, "betas.x_value_reward.value": torch.tensor(3.0)}}
    torch.save(old, tmp_path / "old.pt")  # an older drl stored β itself
    estimator.load_spice(path_rnn=tmp_path / "old.pt")
    assert float(estimator.model_.betas["x_value_reward"]().detach()) == pytest.approx(3.0, rel=1e-5)
    old["state_dict"]["betas.x_value_reward.value"] = torch.tensor(-1.5)
    torch.save(old, tmp_path / "negative.pt")
    with pytest.raises(ValueError, match="≤ 0, saved before drl kept inverse temperatures ≥ 0"):
        estimator.load_spice(path_rnn=tmp_path / "negative.pt")
    estimator.save_spice(path_rnn=tmp_path / "new.pt")  # written now: loads as saved
    estimator.load_spice(path_rnn=tmp_path / "new.pt")
    assert float(estimator.model_.betas["x_value_reward"]().detach()) == pytest.approx(3.0, rel=1e-5)


def test_early_stopping_keeps_the_weights_of_the_best_held_out_epoch():
    dataset, _, _ = _data(n_sessions=40, n_trials=60)
    threads = torch.get_num_threads()
    model = RescorlaWagnerRNN()
    result = fit_model(model, dataset.xs, dataset.ys, epochs=400, learning_rate=5e-2, test_fraction=0.25,
                       patience=8, min_delta=0.0, convergence_threshold=0, progress=False)
    assert torch.get_num_threads() == threads  # training's single thread is the caller's setting again
    history = np.array(result.test_history)
    best = int(np.argmin(history))
    # stopped `patience` epochs after the best held-out loss, well before the epoch limit
    assert result.epochs == len(history) == best + 1 + 8 < 400
    # the weights kept are the best epoch's: an independent evaluation of the held-out sessions gives its loss
    held_out = result.test_sessions
    with torch.no_grad():
        logits, _ = model(torch.as_tensor(dataset.xs[held_out]), batch_first=True)
    assert float(nll(logits, torch.as_tensor(dataset.ys[held_out]))) == pytest.approx(history[best], abs=1e-6)
    assert result.test_loss == pytest.approx(history[best], abs=1e-6)
    # the held-out loss measured inside the training pass equals a separate evaluation of the same weights
    # (a model with dropout takes that separate path); the first epoch's is the freshly seeded model's
    fresh = RescorlaWagnerRNN()
    fresh.reset_parameters(seed=0)
    with torch.no_grad():
        logits, _ = fresh(torch.as_tensor(dataset.xs[held_out]), batch_first=True)
    assert float(nll(logits, torch.as_tensor(dataset.ys[held_out]))) == pytest.approx(history[0], abs=1e-6)


def test_early_stopping_needs_held_out_sessions():
    dataset, _, _ = _data(n_sessions=10, n_trials=10)
    with pytest.raises(ValueError, match="patience=20 stops on the held-out loss: it needs test_fraction > 0"):
        fit_model(RescorlaWagnerRNN(), dataset.xs, dataset.ys, epochs=5, patience=20, progress=False)
    with pytest.raises(ValueError, match="patience must be an integer >= 1; got 0"):
        fit_model(RescorlaWagnerRNN(), dataset.xs, dataset.ys, epochs=5, patience=0, test_fraction=0.2,
                  progress=False)
    with pytest.raises(ValueError, match="min_delta"):
        fit_model(RescorlaWagnerRNN(), dataset.xs, dataset.ys, epochs=5, patience=3, min_delta=-1,
                  test_fraction=0.2, progress=False)


def test_weight_decay_is_adams_l2_penalty_on_every_parameter():
    """Three epochs with weight_decay equal three steps of torch's Adam(weight_decay) written here, from the same
    seeded start; and the penalty changes the fit (it is applied, not dropped)."""
    dataset, _, _ = _data(n_sessions=12, n_trials=20)
    xs, ys = torch.as_tensor(dataset.xs), torch.as_tensor(dataset.ys)
    fitted = LearningRateRNN()
    fit_model(fitted, xs, ys, epochs=3, weight_decay=0.5, n_restarts=0, convergence_threshold=0, progress=False)
    reference = LearningRateRNN()
    reference.reset_parameters(seed=0)
    reference.compiled = False
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2, weight_decay=0.5)
    for _ in range(3):
        optimizer.zero_grad()
        nll(reference(xs, batch_first=True)[0], ys).backward()
        optimizer.step()
    undecayed = LearningRateRNN()
    fit_model(undecayed, xs, ys, epochs=3, n_restarts=0, convergence_threshold=0, progress=False)
    for (name, value), expected in zip(fitted.named_parameters(), reference.parameters(), strict=True):
        np.testing.assert_allclose(value.detach(), expected.detach(), rtol=1e-4, atol=1e-6, err_msg=name)
    # β's raw parameter (softplus⁻¹(1) ≈ 0.54) is pulled toward 0 by the penalty, not only the module weights
    beta = "betas.x_value_reward.value"
    assert dict(fitted.named_parameters())[beta] < dict(undecayed.named_parameters())[beta]
    with pytest.raises(ValueError, match=r"weight_decay must be in \[0, inf\); got -0.1"):
        fit_model(LearningRateRNN(), xs, ys, epochs=1, weight_decay=-0.1, progress=False)


def test_a_distilled_module_stays_in_the_range_of_the_activation_it_replaces():
    """The distilled learning rate ``0.949 + 0.444 r − 0.947 V`` of an Eckstein et al. 2022 participant went
    negative once V overshot 1, and V ran to inf (NaN predictions). Its output is now kept where the module's
    sigmoid kept the learned one, and a prediction that is not finite anyway is warned about by participant."""
    import warnings

    import torch

    from drl.spice.precoded import LearningRateRNN

    model = LearningRateRNN()
    model.use_sindy = True

    def distilled(value, inputs, participant_index):  # the participant's equation, as SINDy gave it
        reward, v = inputs[..., 0], inputs[..., 1]
        return 0.949 + 0.444 * reward - 0.947 * v

    model.submodules_sindy["x_learning_rate_reward"] = distilled
    model.state = {"x_learning_rate_reward": torch.zeros(1, 2), "x_value_reward": torch.zeros(1, 2)}
    overshoot = model.call_module("x_learning_rate_reward", "x_learning_rate_reward",
                                  inputs=(torch.zeros(1, 2), torch.full((1, 2), 3.0)), activation_rnn=torch.sigmoid)
    assert torch.all(overshoot == 0.0)  # −1.89 unbounded
    high = model.call_module("x_learning_rate_reward", "x_learning_rate_reward",
                             inputs=(torch.ones(1, 2), torch.full((1, 2), -2.0)), activation_rnn=torch.sigmoid)
    assert torch.all(high == 1.0)  # 3.29 unbounded
    inside = model.call_module("x_learning_rate_reward", "x_learning_rate_reward",
                               inputs=(torch.ones(1, 2), torch.full((1, 2), 0.5)), activation_rnn=torch.sigmoid)
    assert torch.allclose(inside, torch.full((1, 2), 0.949 + 0.444 - 0.947 * 0.5))
    # without an activation (a value module), the equation is applied as fitted
    free = model.call_module("x_learning_rate_reward", "x_learning_rate_reward",
                             inputs=(torch.zeros(1, 2), torch.full((1, 2), 3.0)))
    assert torch.allclose(free, torch.full((1, 2), 0.949 - 3 * 0.947))
    from drl.spice.rnn import _within_range_of

    assert _within_range_of(torch.relu, torch.tensor([-1.0, 5.0])).tolist() == [0.0, 5.0]
    assert _within_range_of(torch.tanh, torch.tensor([-3.0, 0.5])).tolist() == [-1.0, 0.5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _within_range_of(torch.nn.functional.softplus, torch.tensor([-2.0])).tolist() == [0.0]


def test_predict_names_the_participant_and_trial_of_a_non_finite_prediction(monkeypatch):
    from drl.spice import RESCORLA_WAGNER_CONFIG, SpiceEstimator

    dataset, _, _ = _data(n_sessions=4, n_trials=30)
    estimator = SpiceEstimator(RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG, epochs=2, n_restarts=0)
    estimator.fit(dataset.xs, dataset.ys)
    original = estimator._logits

    def runaway(xs, use_sindy):
        logits = original(xs, use_sindy)
        if use_sindy:
            logits[2, 7:] = float("nan")
        return logits

    monkeypatch.setattr(estimator, "_logits", runaway)
    with pytest.warns(RuntimeWarning, match=r"SPICE model predicts a non-finite .* participant 0 \(session 2\) at "
                                            r"trial 7"):
        estimator.predict(dataset.xs)


@pytest.mark.filterwarnings("ignore::drl.spice.ChanceLevelWarning")  # two epochs: near chance, as expected
def test_the_estimator_is_a_scikit_learn_estimator():
    """get_params / set_params / clone, learned state only after fit and ending in _, fit from a fresh network."""
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from drl.spice import (
        RESCORLA_WAGNER_CONFIG,
        AgentQ,
        BanditsDrift,
        RescorlaWagnerRNN,
        SpiceEstimator,
        create_dataset,
    )

    estimator = SpiceEstimator(RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG, epochs=3, n_restarts=0, hidden_size=4,
                               sindy_threshold=(0.1, 0.02), rnn_kwargs={"dropout": 0.0})
    params = estimator.get_params()
    assert params["hidden_size"] == 4 and params["sindy_threshold"] == (0.1, 0.02)  # stored as given
    assert params["rnn_kwargs"] == {"dropout": 0.0} and set(params) >= {"rnn_class", "spice_config", "seed"}
    assert not [name for name in vars(estimator) if name.endswith("_")]  # nothing learned in the constructor
    with pytest.raises(NotFittedError):
        check_is_fitted(estimator)
    twin = clone(estimator)
    assert twin is not estimator and twin.get_params() == params
    assert estimator.set_params(epochs=2) is estimator and estimator.epochs == 2
    dataset, _, _ = create_dataset(AgentQ(rng=0), BanditsDrift(0.2, rng=0), 30, 4)
    dataset.xs[..., -1] = 0  # one participant
    estimator.fit(dataset.xs, dataset.ys)
    check_is_fitted(estimator)
    assert estimator.sindy_threshold_ in (0.02, 0.1) and estimator.sindy_threshold == (0.1, 0.02)
    assert set(estimator.report_["sindy_thresholds"]) == {0.02, 0.1} and estimator.training_.epochs <= 2
    assert estimator.model_.submodules_rnn and set(estimator.distilled_[0]) == set(RESCORLA_WAGNER_CONFIG.rnn_modules)
    first = {k: v.clone() for k, v in estimator.model_.state_dict().items()}
    estimator.fit(dataset.xs, dataset.ys)  # a second fit starts from a fresh network: the same result
    for key, value in estimator.model_.state_dict().items():
        assert torch.equal(value, first[key]), key
    assert not hasattr(twin, "model_")  # the clone learned nothing
    with pytest.warns(DeprecationWarning, match=r"SpiceEstimator.report is now report_"):
        assert estimator.report == estimator.report_
    with pytest.warns(DeprecationWarning, match="rnn_kwargs="):
        old_style = SpiceEstimator(RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG, dropout=0.0)
    assert old_style.rnn_kwargs == {"dropout": 0.0} and clone(old_style).rnn_kwargs == {"dropout": 0.0}
    with pytest.raises(ValueError, match="no network yet"):
        _ = twin.rnn_agent
