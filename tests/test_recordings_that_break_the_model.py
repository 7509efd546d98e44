"""Recordings that break the analysis model's assumptions (drl.responses.recording_from_run's breaks): one gain for
every unit (pessimists' responses kept small), trial-to-trial gains per unit and shared by the session,
overdispersed counts and a drifting baseline. Every recorded-data analysis is read under each, at a realistic
trial count (40 trials per magnitude), on a distributional population and on the classical-TD null."""

import warnings

import numpy as np
import pytest
from reference_runs import reference_run
from scipy import stats

import drl
from drl import decode
from drl.responses import recording_from_run, responses_from_recording

BREAKS = {
    "none": {},
    "one gain for every unit": {"gain_rule": "shared"},
    "trial gain per unit (log SD 0.5)": {"trial_gain_sd": 0.5},
    "trial gain shared by the session (log SD 0.5)": {"shared_gain_sd": 0.5},
    "overdispersed counts (k = 1)": {"overdispersion": 1.0},
    "baseline drift (3 spikes/s)": {"baseline_drift": 3.0},
}
TRUTH = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
REALISTIC = 280  # trials: 40 per magnitude


@pytest.fixture(scope="module")
def runs():
    return reference_run("dabney_sampled_diverse"), reference_run("dabney_sampled_classical")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BREAKS))
def test_the_analyses_hold_under_each_break_at_a_realistic_trial_count(runs, name):
    distributional, null = runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        form = responses_from_recording(recording_from_run(distributional, n_trials=REALISTIC, seed=3,
                                                           **BREAKS[name]))
        responses = decode.reward_responses(form)
        tau = form["model_tau"].values
        # measured (none / one gain / trial gain / shared gain / overdispersed / drift): ρ 0.97 0.94 0.94 0.96
        # 0.84 0.98; reversal error 0.10 0.09 0.09 0.09 0.17 0.11 SD; split-half 0.87 0.81 0.85 0.86 0.51 0.88;
        # cross-validated 0.89 0.80 0.87 0.88 0.55 0.89; W1 0.42 0.49 0.34 0.24 0.42 0.31 SD
        assert stats.spearmanr(responses["tau_hat"].values, tau)[0] >= 0.75
        error = np.median(np.abs(responses["reversal_point"].values - decode.expectiles(TRUTH, tau))) / TRUTH.std
        assert error <= 0.25
        assert decode.split_half_reversals(form, n_splits=20).attrs["median_correlation"] >= 0.4
        assert decode.cross_validated_asymmetry(form, n_splits=20).attrs["median_spearman"] >= 0.4
        decoded = decode.decode_reward_distribution(form, responses=responses)
        assert decode.wasserstein(decoded, TRUTH) / TRUTH.std <= 0.6
        # the null (one shared value) stays a null: its halves and its τ̂ do not repeat its reversal points
        null_form = responses_from_recording(recording_from_run(null, seed=4, **BREAKS[name]))
        band = 2 / np.sqrt(null_form.sizes["neuron"])
        assert abs(decode.split_half_reversals(null_form, n_splits=20).attrs["median_correlation"]) < band
        assert abs(decode.cross_validated_asymmetry(null_form, n_splits=20).attrs["median_spearman"]) < band


@pytest.mark.slow
def test_each_break_does_what_it_says(runs):
    distributional, _ = runs

    def counts(recording, window=(0.2, 0.65)):
        """[unit, trial] spikes in the window after each reward."""
        reward = recording.trials["reward_time"].to_numpy()
        return np.stack([np.searchsorted(t, reward + window[1]) - np.searchsorted(t, reward + window[0])
                         for t in recording.spike_times]).astype(float)

    plain = recording_from_run(distributional, seed=5)
    magnitude = plain.trials["magnitude"].to_numpy()
    largest = magnitude == magnitude.max()

    def dispersion(recording):  # variance / mean of the counts at the largest reward, median over units
        c = counts(recording)[:, largest]
        return float(np.median(c.var(1) / c.mean(1)))

    assert dispersion(plain) < 1.3  # Poisson
    assert dispersion(recording_from_run(distributional, seed=5, overdispersion=1.0)) > 2.0

    def shared_part(recording):  # correlation across units of their trial-to-trial residuals at the largest reward
        c = counts(recording)[:, largest]
        residual = (c - c.mean(1, keepdims=True)) / c.std(1, keepdims=True)
        corr = np.corrcoef(residual)
        return float(np.mean(corr[np.triu_indices_from(corr, 1)]))

    assert abs(shared_part(plain)) < 0.05
    assert shared_part(recording_from_run(distributional, seed=5, shared_gain_sd=0.5)) > 0.1

    def baseline_change(recording):  # rate in the second before each cue: last quarter minus first, per unit
        cue = recording.trials["cue_time"].to_numpy()
        rate = np.stack([np.searchsorted(t, cue) - np.searchsorted(t, cue - 1.0) for t in recording.spike_times])
        quarter = cue.size // 4
        return rate[:, -quarter:].mean(1) - rate[:, :quarter].mean(1)

    assert np.all(np.abs(baseline_change(plain)) < 1.0)
    drifting = np.abs(baseline_change(recording_from_run(distributional, seed=5, baseline_drift=3.0)))
    assert np.median(drifting) > 1.5  # 3 spikes/s over the session: ~2.25 between its first and last quarter

    # one gain for every unit: each unit's burst at the largest reward is the model's α+·δ there times one gain
    # (per unit, each is scaled to fill the same range of rates, so the gains differ)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = decode.reward_responses(distributional, response="scaled")["response"].values[:, -1]  # α+·δ at 20

    def gain_spread(recording):  # coefficient of variation over units of (burst rate) / (model response)
        rate = counts(recording)[:, largest].mean(1) / 0.45 - 5.0
        gain = rate / model
        return float(gain.std() / gain.mean())

    shared, own = gain_spread(recording_from_run(distributional, seed=5, gain_rule="shared")), gain_spread(plain)
    assert shared < 0.12 and own > 1.8 * shared  # measured 0.07 (Poisson noise) against 0.20
    with pytest.raises(ValueError, match="gain_rule must be 'per_unit' or 'shared'"):
        recording_from_run(distributional, gain_rule="each")
    with pytest.raises(ValueError, match="overdispersion"):
        recording_from_run(distributional, overdispersion=-1)
    with pytest.raises(ValueError, match="baseline_drift"):
        recording_from_run(distributional, baseline_drift=50.0)
