"""Exponential against hyperbolic discounting (drl.decode.discounting): each model is preferred on data
generated from it, by the per-neuron fits and by the timing decoders, cross-validated over trials."""

import warnings

import numpy as np
import pytest
from reference_runs import reference_run

import drl
from drl.decode import compare_discount_models, compare_timing_decoders, fit_hyperbolic
from drl.responses import recording_from_run, responses_form, responses_from_recording

DELAYS = np.array([0.6, 1.5, 3.75, 9.375])  # Masset et al. 2025's delays (the task masset_multi_delay)


@pytest.fixture(scope="module")
def exponential_form():
    """A γ-diverse model population (TD discounts exponentially) read back from Poisson spikes."""
    run = reference_run("masset_gamma40_sampled")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return responses_from_recording(recording_from_run(run, n_trials=3000, seed=1))


@pytest.fixture(scope="module")
def hyperbolic_form():
    """Neurons whose cue responses fall as A / (1 + k·delay), with trial noise."""
    rng = np.random.default_rng(0)
    k, amplitude = rng.uniform(0.1, 2.0, 40), rng.uniform(2.0, 6.0, 40)
    mean = amplitude[:, None] / (1 + k[:, None] * DELAYS)
    trials = mean[:, :, None] + rng.normal(0, 1.0, (40, DELAYS.size, 200))
    form = responses_form(trials.mean(2), magnitude=np.ones(DELAYS.size), delay=DELAYS, event=["cue"] * DELAYS.size,
                          trial_type=[f"delay_{d:g}s" for d in DELAYS], trial_response=trials,
                          neuron_coords={"true_k": k})
    return form


def test_fit_hyperbolic_recovers_k_and_the_gain():
    k, amplitude = np.array([0.05, 0.4, 3.0]), np.array([1.0, 2.5, 0.7])
    responses = amplitude[:, None] / (1 + k[:, None] * DELAYS)
    k_hat, a_hat = fit_hyperbolic(DELAYS, responses)
    np.testing.assert_allclose(k_hat, k, rtol=1e-3)
    np.testing.assert_allclose(a_hat, amplitude, rtol=1e-3)
    with pytest.raises(ValueError, match=r"responses must be finite with shape \[P, 4\]"):
        fit_hyperbolic(DELAYS, responses[:, :3])
    with pytest.raises(ValueError, match="weights must be finite"):
        fit_hyperbolic(DELAYS, responses, weights=np.array([1.0, 0, 0, 0]))


@pytest.mark.slow
def test_each_discount_model_wins_on_its_own_data(exponential_form, hyperbolic_form):
    exponential = compare_discount_models(exponential_form)
    assert exponential.attrs["fraction_exponential"] >= 0.8 and exponential.attrs["wilcoxon_p"] < 1e-3
    assert exponential.attrs["median_log_ratio"] > 0
    np.testing.assert_allclose(exponential["gamma_hat"].values, exponential["model_gamma"].values, atol=0.03)
    hyperbolic = compare_discount_models(hyperbolic_form)
    assert hyperbolic.attrs["fraction_exponential"] <= 0.2 and hyperbolic.attrs["wilcoxon_p"] < 1e-3
    assert np.corrcoef(hyperbolic["k_hat"].values, hyperbolic["true_k"].values)[0, 1] > 0.8


@pytest.mark.slow
def test_the_timing_decoders_prefer_the_true_model_and_need_diverse_discounts(exponential_form, hyperbolic_form):
    exponential = compare_timing_decoders(exponential_form, n_splits=10, n_boot=100)
    w1 = exponential["mean_w1"].to_series()
    assert exponential.attrs["best"] == "exponential" and w1["exponential"] < 0.6  # s
    assert w1["average exponential"] > 3 * w1["exponential"]  # one shared γ cannot tell the delays apart
    assert exponential.attrs["p_value"]["exponential vs hyperbolic"] <= 2 / 101  # every resampled population agrees
    assert exponential.attrs["replication"] == "neurons" and exponential["difference_boot"].sizes["boot"] == 100
    hyperbolic = compare_timing_decoders(hyperbolic_form, n_splits=10, n_boot=20)
    assert hyperbolic.attrs["best"] == "hyperbolic"
    assert exponential["w1"].dims == ("decoder", "split", "cue") and exponential.sizes["cue"] == 4


def test_the_comparisons_need_single_trials_and_three_delays(hyperbolic_form):
    with pytest.raises(ValueError, match="need single-trial responses"):
        compare_discount_models(hyperbolic_form.drop_vars("trial_response"))
    with pytest.raises(ValueError, match="2 distinct delays"):
        compare_discount_models(hyperbolic_form, trial_types=["delay_0.6s", "delay_1.5s"])
    with pytest.raises(ValueError, match="n_splits must be an integer ≥ 2"):
        compare_timing_decoders(hyperbolic_form, n_splits=1)


@pytest.mark.slow
def test_timing_decoder_p_values_replicate_over_neurons_not_re_splits(exponential_form):
    """A signed-rank test over re-splits of the same trials gave p = 2/2ⁿ for n splits whatever the data; the
    p-values now come from resampling the neurons, so more splits cannot make a difference significant."""
    few, many = (compare_timing_decoders(exponential_form, n_splits=n, n_boot=50) for n in (2, 30))
    assert few.attrs["p_value"] == many.attrs["p_value"]
    # a population whose neurons share one γ (no diverse discounts): one shared γ decodes as well as each
    # neuron's own, and the bootstrap over neurons does not call the difference significant
    pop = drl.Population.sample(30, gamma=0.8, tau=0.5, seed=4)
    run = drl.simulate("masset_multi_delay", pop, 6000, progress=False, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shared = responses_from_recording(recording_from_run(run, n_trials=1200, seed=4))
    null = compare_timing_decoders(shared, n_splits=10, n_boot=100)
    assert null.attrs["p_value"]["exponential vs average exponential"] > 0.05
