"""perfect_code_control: the W1 a perfect expectile code reaches at a population's own noise.

Checked against what it must be: with no trial noise every perfect code is the population itself when the
population is a perfect code (the same W1, bit for bit, code after code); noise raises it; bad input is named.
Its use on the 40 real neurons (a recorded code within the perfect codes' range, a τ̂-shuffled one outside) is in
tests/test_real_dopamine.py.
"""

import numpy as np
import pytest

import drl
from drl import decode
from drl.responses import responses_form

TRUTH = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
TAUS = np.linspace(0.08, 0.92, 12)


def hinge_population(noise_sd: float, n_repeats: int = 12, seed: int = 0):
    """Neurons whose mean reward response is the hinge s±·(m − e_τ) through the exact τ-expectile e_τ of the
    delivered distribution (s+ = τ, s− = 1 − τ, so that τ̂ = τ), on the magnitude axis, with Gaussian trial noise."""
    magnitudes = TRUTH.values
    reversal = decode.expectiles(TRUTH, TAUS)
    offset = magnitudes[None, :] - reversal[:, None]
    mean = np.where(offset > 0, TAUS[:, None], 1 - TAUS[:, None]) * offset
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, noise_sd, (TAUS.size, magnitudes.size, n_repeats))
    noise -= noise.mean(2, keepdims=True)  # the means stay the exact hinge
    trials = mean[..., None] + noise
    return responses_form(trials.mean(2), trial_response=trials, magnitude=magnitudes,
                                 event=["reward"] * magnitudes.size, trial_type=["variable"] * magnitudes.size,
                                 units="µl")


def test_a_noiseless_perfect_code_is_its_own_control():
    form = hinge_population(noise_sd=0.0)
    responses = decode.reward_responses(form, "variable", axis="magnitude")
    # the hinge reads an exact hinge to its own precision (its kink is searched, measured within 4e-4)
    np.testing.assert_allclose(responses["tau_hat"].values, TAUS, atol=1e-3)
    np.testing.assert_allclose(responses["reversal_point"].values, decode.expectiles(TRUTH, TAUS), atol=1e-2)
    own = decode.wasserstein(decode.decode_reward_distribution(form, "variable", responses=responses), TRUTH)
    control = decode.perfect_code_control(form, TRUTH, "variable", responses=responses, n_codes=4, progress=False)
    # no residual to resample: every perfect code is the same, and it is this population again (its τ̂ and slopes
    # are the hinge's reading of τ and s±, within 4e-4), decoded the same way
    assert np.ptp(control["w1"].values) == 0
    assert control["w1"].values[0] == pytest.approx(own, rel=2e-3)
    assert control.attrs["median_sd"] < 0.2 and control.attrs["axis"] == "magnitude"
    assert control.attrs["n_neurons"] == TAUS.size


def test_trial_noise_raises_the_perfect_codes_w1():
    quiet = decode.perfect_code_control(hinge_population(0.05), TRUTH, "variable", n_codes=12, progress=False,
                                        seed=1)
    noisy = decode.perfect_code_control(hinge_population(2.0), TRUTH, "variable", n_codes=12, progress=False,
                                        seed=1)
    assert noisy.attrs["median_sd"] > quiet.attrs["median_sd"] + 0.05
    assert np.ptp(noisy["w1_sd"].values) > 0  # the codes differ: their noise is resampled


def test_the_control_resamples_each_neurons_own_trials():
    from drl.decode.perfect_code import _resampled

    residuals = np.full((2, 3, 5), np.nan)
    residuals[0, 0, :3] = [1.0, 2.0, 3.0]
    residuals[1, 2, :5] = [10.0, 20.0, 30.0, 40.0, 50.0]
    drawn = _resampled(residuals, np.random.default_rng(0))
    assert np.array_equal(np.isfinite(drawn), np.isfinite(residuals))  # the same counts, NaN after
    assert set(drawn[0, 0, :3]) <= {1.0, 2.0, 3.0} and set(drawn[1, 2]) <= {10.0, 20.0, 30.0, 40.0, 50.0}


def test_bad_input_is_named():
    form = hinge_population(0.5)
    with pytest.raises(TypeError, match="truth must be a drl RewardDistribution"):
        decode.perfect_code_control(form, [1.0, 2.0], "variable")
    with pytest.raises(ValueError, match=r"truth has values \[3.0\]"):
        decode.perfect_code_control(form, drl.RewardDistribution([0.1, 3.0], [0.5, 0.5]), "variable")
    with pytest.raises(ValueError, match="n_codes"):
        decode.perfect_code_control(form, TRUTH, "variable", n_codes=0)
    means_only = responses_form(form["response"].values, magnitude=form["magnitude"].values,
                                       event=["reward"] * 7, trial_type=["variable"] * 7, units="µl")
    with pytest.raises(ValueError, match="no single trials"):
        decode.perfect_code_control(means_only, TRUTH, "variable")
