"""The referee's controls (drl.decode.controls) against known results: a distributional population and a
classical-TD one (every neuron τ = 0.5, differing only by spike noise), both read back from Poisson spikes, and
closed forms for the reference ladder."""

import warnings

import numpy as np
import pytest
from reference_runs import reference_run
from scipy import stats

import drl
from drl.decode import classify_cue_cells, predict_signs, reference_ladder, split_half_reversals
from drl.responses import recording_from_run, responses_from_recording


def recorded(name, seed, reward_bias=0.0):
    """A synthetic recording (Poisson spikes) of the reference run ``name``."""
    return _spikes_of(reference_run(name), seed, reward_bias)


def session(task, tau, n_neurons, seed):
    """A synthetic recording of its own small population: one session of neurons that learned together."""
    pop = drl.Population.sample(n_neurons, tau=tau, gamma=0.9, lam=0.9, alpha=0.05, seed=seed)
    return _spikes_of(drl.simulate(task, pop, 3000, progress=False, seed=seed), seed)


def _spikes_of(run, seed, reward_bias=0.0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the finite-α cue bias warning: the truth here is the model's own
        return responses_from_recording(recording_from_run(run, reward_bias=reward_bias, seed=seed))


@pytest.fixture(scope="module")
def probability_forms():
    return recorded("probability_sampled_diverse", 1), recorded("probability_sampled_classical", 2)


@pytest.fixture(scope="module")
def magnitude_forms():
    return recorded("dabney_sampled_diverse", 3), recorded("dabney_sampled_classical", 4)


def test_cue_cells_are_classified_by_their_optimism(probability_forms):
    distributional, classical = probability_forms
    cells = classify_cue_cells(distributional)
    tau = cells["model_tau"].values
    kind = cells["cell_class"].values
    assert set(kind) == {"optimistic", "interpolating", "pessimistic"}
    # never the wrong side of τ = 0.5, and the clearest cells found
    assert np.all(tau[kind == "optimistic"] > 0.5) and np.all(tau[kind == "pessimistic"] < 0.5)
    assert np.mean(kind[tau > 0.75] == "optimistic") >= 0.8
    # an optimist's 50 % response sits above the midpoint of its 10 % and 90 % responses
    assert np.all(cells["position"].values[kind == "optimistic"] > 0.5)
    assert cells.attrs["counts"]["optimistic"] == int((kind == "optimistic").sum())
    # a mean code: what is "significant" is the test's false-positive rate, on either side
    null = classify_cue_cells(classical)["cell_class"].values
    assert np.mean(null != "interpolating") <= 0.125  # α = 0.05: 4 of 80 expected, 10 allowed
    assert abs(int((null == "optimistic").sum()) - int((null == "pessimistic").sum())) <= 4


def test_cue_cell_classes_need_single_trials_and_a_valid_level(probability_forms):
    means_only = probability_forms[0].drop_vars("trial_response")
    with pytest.raises(ValueError, match="needs single-trial responses"):
        classify_cue_cells(means_only)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\); got 1"):
        classify_cue_cells(probability_forms[0], alpha=1)
    with pytest.raises(ValueError, match=r"trial type\(s\) \['p25'\]"):
        classify_cue_cells(probability_forms[0], middle="p25")


def test_reversal_points_are_consistent_across_halves_only_where_they_differ(magnitude_forms):
    distributional, classical = magnitude_forms
    diverse = split_half_reversals(distributional, n_splits=40)
    assert diverse.attrs["median_correlation"] > 0.8 and diverse.attrs["fraction_significant"] > 0.9
    assert diverse["reversal_a"].shape == (40, 30)
    same = split_half_reversals(classical, n_splits=40)
    assert abs(same.attrs["median_correlation"]) < 0.25 and same.attrs["fraction_significant"] < 0.25
    # the halves hold disjoint trials: a split's halves differ, and one split by hand gives the same points
    assert not np.allclose(same["reversal_a"].values, same["reversal_b"].values)
    again = split_half_reversals(classical, n_splits=40)
    np.testing.assert_array_equal(again["reversal_a"].values, same["reversal_a"].values)  # seeded


def test_a_baseline_bias_moves_reversal_points_consistently_without_optimism():
    """Dabney et al.'s baseline-bias null: one τ, a per-neuron offset of the reward response. The offset moves each
    neuron's reversal point (against its sign) and does so in both halves of the data, so split-half consistency
    cannot reject it; the decoded distribution can."""
    biased = recorded("dabney_sampled_classical", 4, reward_bias=3.0)
    responses = drl.decode.reward_responses(biased)
    bias = biased["model_reward_bias"].values
    assert np.corrcoef(bias, responses["reversal_point"].values)[0, 1] < -0.8
    assert split_half_reversals(biased, n_splits=20).attrs["median_correlation"] > 0.8
    truth = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    unbiased = recorded("dabney_sampled_diverse", 3)
    w1 = [drl.decode.wasserstein(drl.decode.decode_reward_distribution(form), truth) for form in (biased, unbiased)]
    assert w1[0] > 2 * w1[1]
    with pytest.raises(ValueError, match=r"reward_bias must be in \[0, inf\]; got -1"):
        recording_from_run(drl.simulate("hyp_unif", drl.Population.sample(2), 10, progress=False), reward_bias=-1)


def test_own_reversal_points_predict_held_out_signs_only_where_they_differ(magnitude_forms):
    distributional, classical = magnitude_forms
    diverse = predict_signs(distributional, n_splits=10)
    assert diverse.attrs["mean_own"] > diverse.attrs["mean_shared"] + 0.03 and diverse.attrs["wilcoxon_p"] < 1e-3
    assert diverse.attrs["fraction_better_own"] >= 0.7
    same = predict_signs(classical, n_splits=10)
    assert same.attrs["mean_own"] <= same.attrs["mean_shared"] + 0.01  # fitted noise predicts nothing
    assert 0.5 < same.attrs["mean_shared"] <= 1 and diverse["accuracy_own"].dims == ("neuron",)
    with pytest.raises(ValueError, match="needs single-trial responses"):
        predict_signs(classical.drop_vars("trial_response"))


def test_split_half_checks_its_arguments(magnitude_forms):
    with pytest.raises(TypeError, match="n_splits must be an integer; got 2.5"):
        split_half_reversals(magnitude_forms[0], n_splits=2.5)
    with pytest.raises(ValueError, match="n_splits must be an integer ≥ 1 and ≤ 10000; got 0"):
        split_half_reversals(magnitude_forms[0], n_splits=0)
    with pytest.raises(ValueError, match="needs single-trial responses"):
        split_half_reversals(magnitude_forms[0].drop_vars("trial_response"))


def slow_w1(values, probabilities, other, other_weights=None):
    """W1 as ∫|F − G| on a fine grid (an independent reference)."""
    other_weights = np.full(len(other), 1 / len(other)) if other_weights is None else np.asarray(other_weights)
    grid = np.linspace(min(values.min(), other.min()) - 1, max(values.max(), other.max()) + 1, 200_001)
    cdf_f = np.array([probabilities[values <= x].sum() for x in grid[::100]])
    cdf_g = np.array([other_weights[other <= x].sum() for x in grid[::100]])
    return float(np.trapezoid(np.abs(cdf_f - cdf_g), grid[::100]))


def test_reference_ladder_against_closed_forms():
    truth = drl.RewardDistribution([0.1, 1.0, 5.0, 20.0], [0.4, 0.3, 0.2, 0.1])
    values, probabilities = truth.values, truth.probabilities
    mean = probabilities @ values
    sd = np.sqrt(probabilities @ (values - mean) ** 2)
    ladder = reference_ladder(truth, np.repeat(values, [40, 30, 20, 10]))
    assert ladder["decoded"] == pytest.approx(0, abs=1e-12)  # the truth's own samples
    assert ladder["shifted by SD/2"] == pytest.approx(sd / 2, rel=1e-12)
    assert ladder["scaled ×1.5 about the mean"] == pytest.approx(probabilities @ np.abs(values - mean) / 2, rel=1e-12)
    assert ladder["mirrored about the mean"] == pytest.approx(slow_w1(values, probabilities, 2 * mean - values,
                                                                      probabilities), rel=1e-3)
    grid = np.linspace(0.1, 20.0, 2001)
    assert ladder["uniform over the range"] == pytest.approx(slow_w1(values, probabilities, grid), rel=2e-3)
    normal = stats.norm.ppf((np.arange(2001) + 0.5) / 2001, mean, sd)
    assert ladder["Gaussian with the mean and SD"] == pytest.approx(slow_w1(values, probabilities, normal), rel=2e-3)
    # a symmetric truth is its own mirror: W1 = 0 would be a reference nothing can beat, so it is left out
    symmetric = reference_ladder(([0.0, 1.0, 2.0], [0.25, 0.5, 0.25]))
    assert "mirrored about the mean" not in symmetric and min(symmetric.values()) > 0
    with pytest.raises(ValueError, match="sum to 1"):
        reference_ladder(([0.0, 1.0], [0.5, 0.6]))
    with pytest.raises(ValueError, match="finite samples"):
        reference_ladder(truth, [1.0, np.nan])


@pytest.mark.slow
def test_cue_cell_test_holds_its_level_on_overdispersed_counts():
    """4000 mean-coding cells (the 50 % response exactly midway) with gamma-Poisson counts (variance mean + mean²),
    40 trials per cue: the default Welch contrast calls them at its α; the Mann–Whitney reading of centred single
    trials ran liberal (6.6 %)."""
    rng = np.random.default_rng(1)
    n, repeats = 4000, 40

    def counts(mean):
        return rng.poisson(rng.gamma(1.0, mean, (n, repeats))).astype(float)  # k = 1

    trials = np.stack([counts(2.0), counts(4.0), counts(6.0)], 1)  # [N, cue, trial]
    form = drl.responses.responses_form(trials.mean(2), trial_response=trials, magnitude=[0.1, 0.5, 0.9],
                                     event=["cue"] * 3, trial_type=["p10", "p50", "p90"])
    band = 2.58 * np.sqrt(0.05 * 0.95 / n)  # 99 % of the called fraction of a test at its level
    welch = classify_cue_cells(form)
    assert welch.attrs["test"] == "welch"
    assert abs(np.mean(welch["cell_class"].values != "interpolating") - 0.05) < band  # measured 0.046
    ranks = classify_cue_cells(form, test="mann-whitney")
    assert np.mean(ranks["cell_class"].values != "interpolating") > 0.05 + band  # measured 0.066
    with pytest.raises(ValueError, match="test must be 'welch' or 'mann-whitney'"):
        classify_cue_cells(form, test="t")


def test_the_power_of_the_cue_cell_test_grows_with_the_trials():
    """drl.reproduce.cue_cell_power: independent cells of known optimism recorded at each trial count (sessions of one
    cell per level, one gain in a session). Measured at 40 cells: τ 0.8 called optimistic 2 %, 20 %, 25 %, 88 % at
    20, 40, 100, 300 trials per cue; τ 0.5 at the test's rate; τ 0.2 pessimists hardly at all (their α+-scaled
    cue responses are small)."""
    from drl.reproduce import cue_cell_power

    power = cue_cell_power(tau=(0.5, 0.8), trials_per_cue=(20, 300), n_cells=12, learning_trials=6000)
    assert power["optimistic"].dims == ("tau", "trials_per_cue") and power.attrs["n_cells"] == 12
    optimist = power["optimistic"].sel(tau=0.8).values
    assert optimist[1] >= 0.6 and optimist[1] > optimist[0] + 0.4
    assert np.all(power["called"].sel(tau=0.5).values <= 0.25)  # 12 cells at α = 5 %: ≤ 3 calls
    with pytest.raises(ValueError, match=r"tau must be levels in \(0, 1\)"):
        cue_cell_power(tau=(0.5, 1.0))
    with pytest.raises(ValueError, match="trials_per_cue must be an integer ≥ 3"):
        cue_cell_power(trials_per_cue=(2,))
    with pytest.raises(ValueError, match="trials_per_cue = 300 needs 900 learned trials.*at least 3600"):
        cue_cell_power(tau=(0.8,), trials_per_cue=(300,), n_cells=2, learning_trials=3000)


def test_discount_power_is_each_recordings_verdict_and_grows_with_the_trials():
    """drl.reproduce.discount_power: one recording per cell of the table here, recomputed by hand from the same
    run and spikes; then the claims at 8 against 300 trials per cue."""
    from drl.decode import compare_discount_models, compare_timing_decoders
    from drl.reproduce import discount_power

    power = discount_power(trials_per_cue=(8, 300), n_neurons=(20,), n_recordings=1, learning_trials=4000,
                           n_splits=10, n_boot=50, seed=3)
    assert power["models_hold"].dims == ("n_neurons", "trials_per_cue") and power.attrs["n_recordings"] == 1
    run = drl.simulate("masset_multi_delay", drl.Population.sample(20, gamma=(0.5, 0.99), tau=0.5, seed=3), 4000,
                       progress=False, seed=3)
    for j, count in enumerate((8, 300)):
        form = responses_from_recording(recording_from_run(run, n_trials=4 * count, seed=3 + 7919 * (j + 1)))
        models = compare_discount_models(form, n_splits=10, seed=3)
        decoders = compare_timing_decoders(form, n_splits=10, n_boot=50, seed=3)
        mean = decoders["mean_w1"].to_series()
        cell = power.isel(n_neurons=0, trials_per_cue=j)
        assert cell["fraction_exponential"].item() == models.attrs["fraction_exponential"]
        assert np.isclose(cell["timing_ratio"].item(), mean["average exponential"] / mean["exponential"])
        assert cell["models_hold"].item() == float(models.attrs["fraction_exponential"] >= 0.8
                                                    and models.attrs["wilcoxon_p"] < 0.01)
    few, many = power["fraction_exponential"].values[0]
    assert many >= 0.8 and many > few and power["timing_holds"].values[0, 1] == 1.0
    with pytest.raises(ValueError, match="trials_per_cue must be an integer ≥ 4"):
        discount_power(trials_per_cue=(3,))
    with pytest.raises(ValueError, match="gamma must be a"):
        discount_power(gamma=(0.9,))

def test_cue_cells_are_counted_per_session_when_sessions_are_pooled():
    from drl.responses import combine_sessions

    sessions = [session("dabney_variable_probability", (0.1, 0.9), 12, seed) for seed in (5, 6)]
    pooled = combine_sessions(sessions, names=["day1", "day2"])
    cells = classify_cue_cells(pooled)
    by_session = cells.attrs["by_session"]
    assert list(by_session) == ["day1", "day2"]
    for kind, count in cells.attrs["counts"].items():
        assert sum(session[kind] for session in by_session.values()) == count
    assert all(sum(session.values()) == 12 for session in by_session.values())
    assert "by_session" not in classify_cue_cells(sessions[0]).attrs  # one session: nothing to split


def _classical_session(seed, trials_per_cue):
    """One classical-TD session: 40 cells of one run (τ = 0.5: one shared value, its learning noise shared)."""
    run = drl.simulate("dabney_variable_probability", drl.Population.grid(tau=[0.5] * 40, gamma=0.9), 10_000,
                       progress=False, seed=100 + seed, record_trials=1)
    return responses_from_recording(recording_from_run(run, n_trials=3 * trials_per_cue, seed=seed))


@pytest.mark.slow
def test_the_session_test_holds_its_level_where_shared_learning_noise_inflates_the_per_cell_test():
    from drl.decode import cue_diversity_by_session

    rejected, called = [], []
    for seed in range(24):  # 24 independent sessions: the replication unit
        form = _classical_session(seed, 1000)
        rejected.append(cue_diversity_by_session(form)["p_value"].item() < 0.05)
        called.append(np.mean(classify_cue_cells(form)["cell_class"].values != "interpolating"))
    # the per-cell test resolves the session's shared offset (one observation counted 40 times) ...
    assert max(called) >= 0.15
    # ... the session test does not reject a session whose cells share one value: measured 1 of 40 at 5 %
    assert sum(rejected) <= 3, (sum(rejected), called)


def test_the_session_test_finds_diverse_sessions_and_keeps_sessions_apart():
    from drl.decode import cue_diversity_by_session
    from drl.responses import combine_sessions

    diverse = [session("dabney_variable_probability", (0.1, 0.9), 20, seed) for seed in (7, 8)]
    classical = session("dabney_variable_probability", 0.5, 20, 9)
    test = cue_diversity_by_session(combine_sessions([diverse[0], classical, diverse[1]],
                                                     names=["a", "classical", "b"]))
    assert list(test["session"].values) == ["a", "classical", "b"]
    assert test["n_neurons"].values.tolist() == [20, 20, 20] and test["df"].values.tolist() == [19, 19, 19]
    p = test["p_value"].to_series()
    assert p["a"] < 1e-3 and p["b"] < 1e-3 and p["classical"] > 0.01
    assert abs(test["common_position"].sel(session="classical").item() - 0.5) < 0.1
    assert test["position_spread"].sel(session="a").item() > 2 * test["position_spread"].sel(session="classical").item()
    one = cue_diversity_by_session(diverse[0])  # a form without sessions is one session
    assert one.sizes["session"] == 1 and np.isclose(one["q"].item(), test["q"].sel(session="a").item())


def test_the_session_statistic_is_the_minimum_over_a_grid_written_here():
    from drl.decode.sessions import homogeneity_statistic

    rng = np.random.default_rng(0)
    lows, highs = rng.uniform(0, 1, 15), rng.uniform(2, 4, 15)
    mids = lows + rng.uniform(0.3, 0.7, 15) * (highs - lows)
    variances = [rng.uniform(0.01, 0.05, 15) for _ in range(3)]
    q, position = homogeneity_statistic(lows, mids, highs, *variances)
    grid = np.linspace(-1, 2, 300_001)
    values = [np.sum((mids - lows - p * (highs - lows)) ** 2
                     / (variances[1] + (1 - p) ** 2 * variances[0] + p**2 * variances[2])) for p in grid[::100]]
    coarse = grid[::100][int(np.argmin(values))]
    fine = grid[(grid > coarse - 0.002) & (grid < coarse + 0.002)]
    exact = [np.sum((mids - lows - p * (highs - lows)) ** 2
                    / (variances[1] + (1 - p) ** 2 * variances[0] + p**2 * variances[2])) for p in fine]
    assert np.isclose(q, min(exact), rtol=1e-8) and abs(position - fine[int(np.argmin(exact))]) < 2e-5
    # every neuron exactly at one position: Q = 0 there, whatever the gains
    q, position = homogeneity_statistic(lows, lows + 0.3 * (highs - lows), highs, *variances)
    assert q < 1e-12 and abs(position - 0.3) < 1e-8


def test_the_session_test_names_its_bad_input(probability_forms):
    from drl.decode import cue_diversity_by_session

    with pytest.raises(ValueError, match="min_trials must be an integer ≥ 2"):
        cue_diversity_by_session(probability_forms[0], min_trials=1)
    means_only = probability_forms[0].drop_vars("trial_response")
    with pytest.raises(ValueError, match="cue_diversity_by_session needs single-trial responses"):
        cue_diversity_by_session(means_only)
