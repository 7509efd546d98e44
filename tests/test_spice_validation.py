"""Validation inside sessions (the time-wise split of the SPICE papers), distillation from the training steps
only, checkpoint and threshold choice by the held-out choices, and results keyed by the dataset's own ids."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from drl.spice import (
    FORGETTING_CONFIG,
    WEINHARDT_2024_CONFIG,
    AgentQ,
    BanditsDrift,
    ForgettingRNN,
    RescorlaWagnerRNN,
    SpiceEstimator,
    Weinhardt2024RNN,
    create_dataset,
    distill,
    fit_model,
    load_choice_table,
    nll,
    tail_steps,
)


def _data(n_sessions=12, n_trials=80, seed=0):
    agent = AgentQ(alpha_reward=0.3, forget_rate=0.2, beta_reward=4.0, rng=seed)
    dataset, experiments, _ = create_dataset(agent, BanditsDrift(0.2, rng=seed + 1), n_trials, n_sessions)
    return dataset.xs.numpy().copy(), dataset.ys.numpy().copy(), experiments


def test_tail_steps_hold_out_the_end_of_every_session():
    ys = np.zeros((3, 10, 2), np.float32)
    ys[..., 0] = 1
    ys[1, 6:] = -1  # a session of 6 choices
    ys[2, 1:] = -1  # one choice: nothing is held out of it
    held = tail_steps(ys, 0.2)
    assert held[0].tolist() == [False] * 8 + [True] * 2
    assert held[1].tolist() == [False] * 5 + [True] + [False] * 4  # round(1.2) = 1, padding never
    assert not held[2].any()
    assert not tail_steps(ys, 0.0).any()


def test_the_tail_never_trains_and_its_loss_is_the_held_out_loss():
    xs, ys, _ = _data()
    other = ys.copy()
    held = tail_steps(ys, 0.25)
    other[held] = other[held][:, ::-1]  # the held-out choices changed: training must not notice
    runs = []
    for targets in (ys, other):
        model = RescorlaWagnerRNN()
        result = fit_model(model, xs, targets, epochs=30, test_fraction=0.25, validation="tail", progress=False)
        runs.append((model, result))
    (model, result), (_, changed) = runs
    np.testing.assert_allclose(result.history, changed.history, rtol=0, atol=0)
    assert result.test_steps.tolist() == held.tolist() and result.validation == "tail"
    assert len(result.test_sessions) == 12  # every session keeps its head for training
    with torch.no_grad():
        logits, _ = model(torch.as_tensor(xs), batch_first=True)
    masked = np.where(held[..., None], ys, -1.0)
    # (the fit scores through the compiled trial loop, this through torch: float32 rounding apart)
    assert result.test_loss == pytest.approx(float(nll(logits, torch.as_tensor(masked))), rel=1e-4)
    # early stopping reads the same held-out choices from the training pass itself
    stopped = fit_model(RescorlaWagnerRNN(), xs, ys, epochs=400, test_fraction=0.25, validation="tail",
                        patience=10, progress=False)
    assert stopped.epochs < 400
    # the weights kept: the last improvement by more than min_delta (1e-4), patience epochs before the end
    kept = stopped.best_epoch
    assert kept == stopped.epochs - 1 - 10 and 0 <= stopped.test_history[kept] - min(stopped.test_history) <= 1e-4
    with pytest.raises(ValueError, match="unknown validation 'time'"):
        fit_model(RescorlaWagnerRNN(), xs, ys, epochs=2, test_fraction=0.2, validation="time", progress=False)


def test_distill_learns_only_from_the_steps_given_and_never_from_padding():
    xs, ys, _ = _data(n_sessions=4, n_trials=30)
    xs[1, 20:, :2] = 0  # session 1 ends at trial 20: padding
    xs[1, 20:, 2:4] = -1
    ys[1, 20:] = -1
    xs[..., -1] = 0  # one participant: one equation per module
    model = ForgettingRNN()
    fit_model(model, xs, ys, epochs=5, progress=False)
    chosen = xs[..., :2]
    everything = distill(model, xs, FORGETTING_CONFIG)[0]
    # transitions 0 … T − 2 with a choice: the chosen arm of each feeds the chosen module, the other arm the other
    transitions = (chosen[:, :-1].sum(-1) > 0).sum()
    assert everything["x_value_reward_chosen"].n_samples == transitions
    assert everything["x_value_reward_not_chosen"].n_samples == transitions  # not 2 per padded step
    head = np.zeros(xs.shape[:2], bool)
    head[:, :10] = True
    assert distill(model, xs, FORGETTING_CONFIG, steps=head)[0]["x_value_reward_chosen"].n_samples == 40
    with pytest.raises(ValueError, match="steps must be \\[sessions, trials\\] = \\(4, 29\\)"):
        distill(model, xs, FORGETTING_CONFIG, steps=head[:, :5])


def _table(seed=0):
    """A table in the SPICE authors' format: one session per participant, float ids, rows in trial order."""
    rows = []
    for number, (pid, n_trials) in enumerate([(17.0, 60), (3.0, 50), (42.0, 60)]):
        agent = AgentQ(alpha_reward=0.2 + 0.2 * number, beta_reward=4.0, rng=seed + number)
        _, experiments, _ = create_dataset(agent, BanditsDrift(0.2, rng=seed + 10 + number), n_trials, 1)
        e = experiments[0]
        rows += [{"session": pid, "choice": float(c), "reward": float(e.rewards[t, c]), "rt": 300.0}
                 for t, c in enumerate(e.choices)]
    return pd.DataFrame(rows)


def test_the_authors_format_loads_as_is():
    table = _table()
    dataset = load_choice_table(table, participant=None, trial=None)
    assert dataset.participants == [17, 3, 42]  # as read, in order of appearance
    assert dataset.sessions == [(17, 17), (3, 3), (42, 42)]
    assert dataset.xs[:, 0, -1].tolist() == [0.0, 1.0, 2.0]  # row i is participant i
    assert dataset.lengths.tolist() == [59, 49, 59]
    first = table[table.session == 17].choice.to_numpy().astype(int)
    assert dataset.ys[0, :59].argmax(-1).tolist() == first[1:].tolist()  # rows in their order
    same = load_choice_table(table, participant="session", trial=None)
    assert same.participants == dataset.participants
    with pytest.raises(ValueError, match="lacks column\\(s\\) \\['participant', 'trial'\\].*trial=None takes the "
                                         "rows' order.*participant=None makes each session its own participant"):
        load_choice_table(table)
    with pytest.raises(TypeError, match="trial must be a column name or None; got 3"):
        load_choice_table(table, participant=None, trial=3)


@pytest.fixture(scope="module")
def keyed_fit():
    dataset = load_choice_table(_table(), participant=None, trial=None)
    estimator = SpiceEstimator(Weinhardt2024RNN, WEINHARDT_2024_CONFIG, n_participants=3, epochs=60,
                               embedding_size=4, seed=1)
    return estimator.fit(dataset), dataset


def test_results_are_keyed_by_the_datasets_participant_ids(keyed_fit, capsys):
    estimator, dataset = keyed_fit
    assert sorted(set(estimator.equations_.participant)) == [3, 17, 42]
    assert list(estimator.betas_.index) == [17, 3, 42]
    assert list(estimator.betas_.columns) == ["x_value_reward", "x_value_choice"]
    with torch.no_grad():
        embedding = estimator.model_.participant_embedding(torch.tensor([1]))
        beta = float(estimator.model_.betas["x_value_reward"](embedding).reshape(-1)[0])
    assert estimator.betas_.loc[3, "x_value_reward"] == pytest.approx(beta)  # id 3 is index 1
    counts = estimator.n_parameters()
    table = estimator.equations_
    assert counts[42] == int((table[table.participant == 42].coefficient != 0).sum()) + 2
    estimator.print_spice_model(42)
    assert "participant 42" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no participant 5; participants: \\[17, 3, 42\\]"):
        estimator.print_spice_model(5)
    report = estimator.report_
    assert report["validation"] == "tail" and report["held_out_choices"] == 6 + 5 + 6
    assert report["epoch"] <= report["epochs"]
    assert report["sindy_thresholds"][report["sindy_threshold"]] == pytest.approx(report["nll_spice_test"])
    with pytest.raises(TypeError, match="give a DatasetRNN alone"):
        estimator.fit(dataset, dataset.ys)


def test_distilled_outputs_stay_in_the_range_they_were_fitted_to(tmp_path):
    xs, ys, _ = _data(n_sessions=8, n_trials=60, seed=4)
    xs[..., -1] = 0
    estimator = SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG, epochs=40, patience=None, seed=2).fit(xs, ys)
    equation = estimator.distilled_[0]["x_value_reward_not_chosen"]
    low, high = equation.output_range
    recorded = estimator.model_.record(xs)["x_value_reward_not_chosen"]
    assert recorded.min() <= low <= high <= recorded.max()
    # an input far outside what the equation saw: the output stops at the fitted range instead of running away
    far = torch.full((2, 2), 50.0)
    assert float(equation(far, torch.zeros(2, 2, 0)).max()) == pytest.approx(high)
    estimator.save_spice(path_spice=tmp_path / "spice.json")
    loaded = SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG).load_spice(path_spice=tmp_path / "spice.json")
    assert loaded.distilled_[0]["x_value_reward_not_chosen"].output_range == (low, high)


ECKSTEIN = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eckstein2022_first48.csv"


@pytest.mark.skipif(not (os.environ.get("DRL_ECKSTEIN") and ECKSTEIN.exists()),
                    reason="opt-in (DRL_ECKSTEIN=1, ~35 s): needs ../shared/data/eckstein2022_first48.csv")
def test_eckstein_2022_spice_meets_the_classic_model():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_spice_eckstein import fit_spice, split

    from drl.spice import compare_models, fit_q_learning

    dataset = load_choice_table(ECKSTEIN, participant=None, trial=None)
    train, test = split(dataset)
    xs, ys = dataset.xs.numpy(), dataset.ys.numpy()
    predictions = {"Q": fit_q_learning(dataset, steps=~test & (ys.sum(-1) > 0)).predict(xs)}
    for epochs in (256, 1024):
        estimator, _, _ = fit_spice("W24", train, 0, epochs)
        predictions[epochs] = estimator.predict(xs)[1]
        assert np.isfinite(predictions[epochs]).all()
    summary = compare_models(predictions, ys, xs[:, 0, -1], steps=test).summary
    assert summary.loc[1024, "nll"] <= summary.loc[256, "nll"] + 0.005
    assert summary.loc[1024, "nll"] <= summary.loc["Q", "nll"] + 2 * summary.loc[1024, "se_delta_nll"] + 0.005
