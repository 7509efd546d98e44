"""drl.spice part 2: distillation recovers the generating equations; estimator errors."""

import numpy as np
import pytest
import torch

from drl.spice import (
    FORGETTING_CONFIG,
    RESCORLA_WAGNER_CONFIG,
    AgentQ,
    BanditsDrift,
    ForgettingRNN,
    LearningRateRNN,
    RescorlaWagnerRNN,
    SpiceConfig,
    SpiceEstimator,
    create_dataset,
)


@pytest.fixture(scope="module")
def forgetting_fit():
    agent = AgentQ(alpha_reward=0.3, forget_rate=0.2, rng=1)
    dataset, _, _ = create_dataset(agent, BanditsDrift(0.2, rng=0), 100, 100)
    dataset.xs[..., -1] = 0
    estimator = SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG, epochs=500, learning_rate=1e-2, test_fraction=0.2)
    return estimator.fit(dataset.xs, dataset.ys), dataset


@pytest.mark.slow
def test_distilled_equations_recover_the_agent(forgetting_fit):
    estimator, _ = forgetting_fit
    chosen = dict(zip(*estimator.spice_agent.get_spice_features()[0]["x_value_reward_chosen"], strict=True))
    not_chosen = dict(zip(*estimator.spice_agent.get_spice_features()[0]["x_value_reward_not_chosen"], strict=True))
    # The agent: Q[k+1] = (1 − α)·Q[k] + α·r with α = 0.3 (chosen); Q[k+1] = (1 − f)·Q[k] + f·0.5 with f = 0.2
    # (not chosen). The RNN's values are the logits, x = β·Q + s (β = 3 and a shift s the softmax ignores), so
    # x[k+1] = (1 − α)·x[k] + α·β·r + α·s: the x coefficient is 1 − α and the reward coefficient α·β; the
    # not-chosen x coefficient is 1 − f. The constant only absorbs the shift.
    assert set(chosen) == {"1", "x_value_reward_chosen[k]", "c_reward[k]"}
    assert abs(chosen["x_value_reward_chosen[k]"] - 0.7) < 0.05
    assert abs(chosen["c_reward[k]"] / 3.0 - 0.3) < 0.06
    assert abs(not_chosen["x_value_reward_not_chosen[k]"] - 0.8) < 0.05
    assert set(not_chosen) <= {"1", "x_value_reward_not_chosen[k]"}
    table = estimator.equations_  # tidy: one row per participant × module × feature
    assert list(table.columns) == ["participant", "module", "feature", "coefficient", "n_samples"]
    row = table[(table.module == "x_value_reward_chosen") & (table.feature == "c_reward[k]")]
    assert row.coefficient.item() == pytest.approx(chosen["c_reward[k]"])
    report = estimator.report_
    # the default split holds out the last 20 % of every session (19.8 → 20 of 99 choices each)
    assert report["validation"] == "tail" and report["held_out_sessions"] == 100
    assert report["held_out_choices"] == 100 * 20
    assert report["sindy_threshold"] in report["sindy_thresholds"]
    assert report["sindy_thresholds"][report["sindy_threshold"]] == min(report["sindy_thresholds"].values())
    assert report["nll_spice_test"] <= 1.02 * report["nll_rnn_test"], report


def test_predict_any_number_of_sessions_and_participants(forgetting_fit):
    estimator, dataset = forgetting_fit
    xs = dataset.xs[:5].clone()
    xs[..., -1] = torch.arange(5.0)[:, None]  # participants without their own equation use participant 0's
    pred_rnn, pred_spice = estimator.predict(xs)
    assert pred_rnn.shape == pred_spice.shape == (5, 99, 2)
    one_rnn, one_spice = estimator.predict(dataset.xs[0])  # a single session [trials, features]
    assert one_spice.shape == (1, 99, 2)


def test_config_and_estimator_errors(tmp_path, forgetting_fit):
    with pytest.raises(ValueError, match="unknown control in library_setup\\['x_a'\\] 'c_rewrd'.*Did you mean 'c_reward'"):
        SpiceConfig(["x_a"], ["c_action", "c_reward"], {"x_a": ["c_rewrd"]})
    with pytest.raises(ValueError, match="unknown filter signal in filter_setup\\['x_a'\\] 'c_actoin'"):
        SpiceConfig(["x_a"], ["c_action"], {"x_a": []}, {"x_a": ["c_actoin", 1, True]})
    with pytest.raises(ValueError, match="unknown module in library_setup 'x_b'"):
        SpiceConfig(["x_a"], ["c_action"], {"x_a": [], "x_b": []})
    few = np.zeros((5, 4, 5), np.float32)
    few[..., 0] = 1
    # the parameters are stored as given (scikit-learn's convention) and checked by fit (and load_spice)
    with pytest.raises(ValueError, match="names module\\(s\\) \\['x_value_reward_not_chosen'\\] that "
                                         "RescorlaWagnerRNN lacks"):
        SpiceEstimator(RescorlaWagnerRNN, FORGETTING_CONFIG).fit(few, few[..., :2])
    with pytest.raises(ValueError, match="patience=20 stops on the held-out loss, but nothing is held out: "
                                         "test_fraction=0.1 with 5 sessions"):
        SpiceEstimator(RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG, patience=20,
                       validation="sessions").fit(few, few[..., :2])
    with pytest.raises(ValueError, match="unknown validation 'tails'.*Did you mean 'tail'"):
        SpiceEstimator(RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG, validation="tails").fit(few, few[..., :2])
    with pytest.raises(ValueError, match="sindy_threshold must be finite numbers >= 0; got \\(0.1, -1\\)"):
        SpiceEstimator(RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG, sindy_threshold=(0.1, -1)).fit(few, few[..., :2])
    with pytest.raises(TypeError, match="sindy_threshold must be a number or a sequence"):
        SpiceEstimator(RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG, sindy_threshold="0.1").fit(few, few[..., :2])
    fresh = SpiceEstimator(RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG)
    with pytest.raises(ValueError, match="not fitted yet"):
        fresh.predict(np.zeros((1, 3, 5)))
    estimator, _ = forgetting_fit
    estimator.save_spice(path_rnn=tmp_path / "rnn.pkl", path_spice=tmp_path / "spice.pkl")
    other = SpiceEstimator(LearningRateRNN, SpiceConfig(["x_value_reward_not_chosen"], ["c_action"],
                                                        {"x_value_reward_not_chosen": []}))
    with pytest.raises(ValueError, match="was saved for 'ForgettingRNN', whose parameters differ from LearningRateRNN"):
        other.load_spice(path_rnn=tmp_path / "rnn.pkl")
    same = SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG).load_spice(tmp_path / "rnn.pkl", tmp_path / "spice.pkl")
    assert np.allclose(same.predict(np.zeros((1, 4, 5)))[1], estimator.predict(np.zeros((1, 4, 5)))[1])


def test_equations_are_saved_as_json_and_pickles_need_trust(forgetting_fit, tmp_path):
    import json
    import pickle

    estimator, _ = forgetting_fit
    estimator.save_spice(path_spice=tmp_path / "spice.json")
    data = json.loads((tmp_path / "spice.json").read_text())
    assert data["format"] == "drl.spice.equations" and data["rnn_class"] == "ForgettingRNN"
    loaded = SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG)
    loaded.load_spice(path_spice=tmp_path / "spice.json")
    for pid, modules in estimator.distilled_.items():
        for module, eq in modules.items():
            np.testing.assert_array_equal(loaded.distilled_[pid][module].coefficients, eq.coefficients)
            assert loaded.distilled_[pid][module].feature_names == eq.feature_names
    # a file an older drl wrote with pickle: refused unless trusted (unpickling can run code)
    with open(tmp_path / "old.pkl", "wb") as f:
        pickle.dump({"rnn_class": "ForgettingRNN", "equations": estimator.distilled_}, f)
    with pytest.raises(ValueError, match=r"old.pkl is a pickle .*arbitrary code.*trust=True"):
        SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG).load_spice(path_spice=tmp_path / "old.pkl")
    trusted = SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG).load_spice(path_spice=tmp_path / "old.pkl", trust=True)
    assert set(trusted.distilled_) == set(estimator.distilled_)
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match=r"bad.json is not a SPICE equations file"):
        SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG).load_spice(path_spice=tmp_path / "bad.json")
    with pytest.raises(TypeError, match="trust must be True or False; got 'yes'"):
        SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG).load_spice(path_spice=tmp_path / "spice.json", trust="yes")
    assert not list(tmp_path.glob(".*.tmp"))


def test_distill_composes_pysindy_optimizers_and_libraries(forgetting_fit, tmp_path):
    import pysindy as ps

    from drl.spice import distill
    from drl.spice.sindy import SindyEquation

    estimator, dataset = forgetting_fit
    xs = dataset.xs[:30].numpy()
    # a library with interactions: names come from it, and the equation evaluates its monomials
    equations = distill(estimator.model_, xs, FORGETTING_CONFIG, feature_library=ps.PolynomialLibrary(degree=2),
                        optimizer=ps.STLSQ(threshold=0.02))
    chosen = equations[0]["x_value_reward_chosen"]
    assert chosen.feature_names == ["1", "x_value_reward_chosen[k]", "c_reward[k]", "x_value_reward_chosen[k]^2",
                                    "x_value_reward_chosen[k] c_reward[k]", "c_reward[k]^2"]
    value, reward = np.array([0.3, -1.2, 2.0]), np.array([[1.0], [0.0], [1.0]])
    by_hand = np.stack([np.ones(3), value, reward[:, 0], value**2, value * reward[:, 0], reward[:, 0] ** 2], axis=1)
    np.testing.assert_allclose(chosen.features(value, reward), by_hand)
    # a stricter optimizer keeps fewer terms than a loose one
    strict = distill(estimator.model_, xs, FORGETTING_CONFIG, optimizer=ps.STLSQ(threshold=0.5))
    loose = distill(estimator.model_, xs, FORGETTING_CONFIG, optimizer=ps.STLSQ(threshold=1e-4))
    count = [int(np.count_nonzero(e[0]["x_value_reward_chosen"].coefficients)) for e in (strict, loose)]
    assert count[0] < count[1]
    # a threshold that empties every equation is a result (constant 0), not one pysindy warning per module
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emptied = distill(estimator.model_, xs, FORGETTING_CONFIG, optimizer=ps.STLSQ(threshold=1e6))
    assert all(not np.any(eq.coefficients) for eq in emptied[0].values())
    # composed equations save and load as JSON (exponents included) and evaluate identically
    estimator.distilled_ = equations
    estimator.save_spice(path_spice=tmp_path / "eq.json")
    data = __import__("json").loads((tmp_path / "eq.json").read_text())
    restored = SindyEquation(**{k: v for k, v in data["equations"]["0"]["x_value_reward_chosen"].items()})
    np.testing.assert_allclose(restored.features(value, reward), by_hand)
    with pytest.raises(ValueError, match="is not a monomial"):
        distill(estimator.model_, xs, FORGETTING_CONFIG, feature_library=ps.FourierLibrary())
    with pytest.raises(TypeError, match="optimizer must be a pysindy optimizer"):
        distill(estimator.model_, xs, FORGETTING_CONFIG, optimizer="stlsq")
    estimator.distilled_ = distill(estimator.model_, dataset.xs.numpy(), FORGETTING_CONFIG)  # as the fixture had them


def test_weights_and_equations_of_different_saves_are_not_one_model(forgetting_fit, tmp_path):
    import shutil

    import torch

    estimator, _ = forgetting_fit
    estimator.save_spice(path_rnn=tmp_path / "rnn.pt", path_spice=tmp_path / "spice.json")
    shutil.copy(tmp_path / "spice.json", tmp_path / "old_spice.json")
    # a second save killed between its two files: new weights beside the old equations
    estimator.save_spice(path_rnn=tmp_path / "rnn.pt")
    with pytest.raises(ValueError, match="were written by different save_spice calls"):
        SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG).load_spice(tmp_path / "rnn.pt", tmp_path / "old_spice.json")
    SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG).load_spice(path_rnn=tmp_path / "rnn.pt")  # each alone is fine
    # weights files that are not what save_spice wrote: named, never a torch traceback
    (tmp_path / "text.pt").write_text("hello")
    state = torch.load(tmp_path / "rnn.pt", weights_only=True)
    torch.save({"rnn_class": "ForgettingRNN"}, tmp_path / "no_state.pt")
    torch.save({**state, "state_dict": {k: torch.full_like(v, float("nan")) for k, v in state["state_dict"].items()}},
               tmp_path / "nan.pt")
    (tmp_path / "truncated.pt").write_bytes((tmp_path / "rnn.pt").read_bytes()[:200])
    for name, message in (("text.pt", "is not a weights file written by save_spice"),
                          ("no_state.pt", "no state_dict of parameters"), ("nan.pt", "is not a finite tensor"),
                          ("truncated.pt", "is not a weights file written by save_spice")):
        with pytest.raises(ValueError, match=message):
            SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG).load_spice(path_rnn=tmp_path / name)


def test_a_weights_archive_that_unpacks_huge_is_not_read(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "bomb.pt", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", b"\0" * (80 * 2**20))  # 80 MiB of zeros deflate to ~80 kB
    assert (tmp_path / "bomb.pt").stat().st_size < 2**20
    with pytest.raises(ValueError, match=r"bomb.pt declares 80 MiB of contents .* more than a SPICE model's weights"):
        SpiceEstimator(RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG).load_spice(path_rnn=tmp_path / "bomb.pt")
