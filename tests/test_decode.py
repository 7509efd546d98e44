"""Decoders against closed forms and against the truth of the task that generated the run."""

import numpy as np
import pytest
import scipy.stats as st
from reference_runs import reference_run

import drl
from drl import decode

TAU_20 = (np.arange(20) + 0.5) / 20


@pytest.fixture(scope="module")
def dabney_run():
    return reference_run("dabney_tau20")


@pytest.fixture(scope="module")
def masset_run():
    return np.linspace(0.5, 0.99, 20), reference_run("masset_gamma20")


@pytest.fixture(scope="module")
def sousa_run():
    return reference_run("sousa_9x12")


def _slow_expectile(values, probs, tau):
    """Independent reference: minimise the asymmetric squared loss on a fine grid, then by Brent."""
    from scipy.optimize import minimize_scalar

    def loss(e):
        d = values - e
        return np.sum(probs * np.abs(tau - (d < 0)) * d**2)

    return minimize_scalar(loss, bounds=(values.min(), values.max()), method="bounded",
                           options={"xatol": 1e-12}).x


def test_expectiles_closed_forms():
    dist = drl.RewardDistribution(values=np.array([0.0, 1.0]), probabilities=np.array([0.7, 0.3]))
    tau = np.array([0.1, 0.5, 0.9])
    # Two atoms {0, 1}: τ·p1·(1 − e) = (1 − τ)·p0·e ⇒ e = τ·p1 / (τ·p1 + (1 − τ)·p0); τ = 0.5 is the mean.
    expected = tau * 0.3 / (tau * 0.3 + (1 - tau) * 0.7)
    assert np.allclose(decode.expectiles(dist, tau), expected, atol=1e-12)
    true = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    slow = [_slow_expectile(true.values, true.probabilities, t) for t in TAU_20]
    assert np.allclose(decode.expectiles(true, TAU_20), slow, atol=1e-6)


def test_imputation_recovers_known_distribution_and_quantiles():
    true = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    decoded = decode.decode_distribution(TAU_20, decode.expectiles(true, TAU_20), n_samples=100)
    assert decoded.loss < 1e-3
    assert decode.wasserstein(decoded, true) < 0.1 * true.std
    # The decoded samples have the expectiles they were asked for.
    sample_dist = drl.RewardDistribution(values=decoded.samples, probabilities=np.full(100, 0.01))
    assert np.allclose(decode.expectiles(sample_dist, TAU_20), decode.expectiles(true, TAU_20), atol=0.05)
    assert np.isclose(np.trapezoid(decoded.density, decoded.grid), 1.0, atol=0.02)
    # Quantile code of a uniform distribution on [0, 10]: samples at the quantiles.
    q = decode.decode_distribution(TAU_20, 10 * TAU_20, kind="quantile", n_samples=20)
    assert np.allclose(q.samples, 10 * TAU_20)


def test_reversal_points_track_tau_and_decode_beats_shuffle(dabney_run):
    task = drl.get_task("dabney_variable_magnitude")
    true = task.reward_distribution("variable")
    r = decode.reward_responses(dabney_run)
    assert r.sizes == {"predictor": 20, "magnitude": 7}
    assert st.spearmanr(r["tau"], r["reversal_point"])[0] > 0.9
    # The reversal points are the expectiles of the delivered reward (γ = 1, so no discount at the reward).
    assert np.allclose(r["reversal_point"], decode.expectiles(true, TAU_20), atol=0.35)
    assert np.allclose(r["tau_hat"], TAU_20, atol=0.02)
    decoded = decode.decode_reward_distribution(dabney_run)
    w1 = decode.wasserstein(decoded, true)
    assert w1 < 0.15 * true.std
    control = decode.shuffle_control(TAU_20, r["reversal_point"].values, true, n_shuffles=10)
    assert w1 < 0.3 * control.min()
    # The experimenter's view, with the estimated asymmetries, also decodes.
    assert decode.wasserstein(decode.decode_reward_distribution(dabney_run, use="tau_hat"), true) < 0.15 * true.std


def test_classic_td_shows_no_asymmetry_relation():
    pop = drl.Population.sample(20, tau=0.5, alpha=0.05, gamma=1.0, seed=1)
    run = drl.simulate("dabney_variable_magnitude", pop, 2000, progress=False)
    r = decode.reward_responses(run, resample=True, seed=0)
    assert np.all(np.abs(r["tau_hat"] - 0.5) < 0.03)
    assert np.ptp(r["reversal_point"].values) < 0.05 * float(r["reversal_point"].mean())
    rho, p = st.spearmanr(r["tau_hat"], r["reversal_point"])
    assert p > 0.05, (rho, p)


@pytest.mark.slow
def test_gamma_fit_and_timing_decode(masset_run):
    gamma, run = masset_run
    c = decode.cue_responses(run)
    assert np.allclose(c["delay"], [0.6, 1.5, 3.75, 9.375])
    assert np.abs(c["gamma_hat"] - gamma).max() < 0.02
    assert np.abs(decode.cue_responses(run, response="value")["gamma_hat"] - gamma).max() < 0.02
    times = np.arange(0, 12.01, 0.5)
    for name, delay in zip(c["trial_type"].values, c["delay"].values, strict=True):
        values = decode.cue_values(run, name)
        p = decode.decode_timing(gamma, values, times)["probability"].values
        assert abs(times[p.argmax()] - delay) <= 0.5 + 1e-9, name
        assert abs((p * times).sum() - delay) < 0.1, name
        sharp = decode.decode_timing(gamma, values, times, ridge=1e-8)
        near = sharp["probability"].values[np.abs(times - delay) <= 0.5 + 1e-9].sum()
        assert near > 0.75, (name, near)
        assert np.isclose(sharp.attrs["mass"], 1.0, atol=0.05)  # one reward of 1 unit


def test_fit_discount_closed_form():
    delays = np.array([0.5, 1.0, 2.0, 4.0])
    gamma = np.array([0.3, 0.77, 0.95])
    g_hat, a_hat = decode.fit_discount(delays, 2.5 * gamma[:, None] ** delays)
    assert np.allclose(g_hat, gamma, atol=1e-4) and np.allclose(a_hat, 2.5, rtol=1e-3)


@pytest.mark.slow
def test_joint_map_marginals(sousa_run):
    task = drl.get_task("sousa_2025")
    j = decode.decode_joint(sousa_run, "variable")
    assert np.isclose(float(j["joint"].sum()), 1.0)
    true_m = task.reward_distribution("variable")
    w_time = st.wasserstein_distance(j["delay"].values, [3.0], u_weights=j["time_marginal"].values)
    w_mag = st.wasserstein_distance(j["magnitude"].values, true_m.values, u_weights=j["magnitude_marginal"].values,
                                    v_weights=true_m.probabilities)
    assert w_time < 0.5  # s: one bin of the default grid
    assert w_mag < 0.25 * true_m.std
    fixed = decode.decode_joint(sousa_run, "delay_6s")
    assert st.wasserstein_distance(fixed["delay"].values, [6.0], u_weights=fixed["time_marginal"].values) < 0.75
    assert st.wasserstein_distance(fixed["magnitude"].values, [4.5],
                                   u_weights=fixed["magnitude_marginal"].values) < 0.2


def test_bad_input(dabney_run, masset_run):
    with pytest.raises(ValueError, match="levels must be in \\(0, 1\\); got \\[1.2\\]"):
        decode.decode_distribution([0.5, 1.2], [1.0, 2.0])
    with pytest.raises(ValueError, match="values must have the same length as levels \\(2\\); got 3"):
        decode.decode_distribution([0.2, 0.8], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="values must be finite"):
        decode.decode_distribution([0.2, 0.8], [1.0, np.nan])
    with pytest.raises(ValueError, match="gamma must be in \\(0, 1\\)"):
        decode.decode_timing([0.5, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="kind must be"):
        decode.decode_distribution([0.2, 0.8], [1.0, 2.0], kind="quantiles")
    _, masset = masset_run
    with pytest.raises(ValueError, match="delivered only one reward magnitude.*reversal points need rewards"):
        decode.reward_responses(masset, "delay_1.5s")
    with pytest.raises(ValueError, match="decode_joint needs a τ × γ population"):
        decode.decode_joint(masset, "delay_1.5s")
    with pytest.raises(ValueError, match="unknown trial type 'varible'.*Did you mean 'variable'"):
        decode.reward_responses(dabney_run, "varible")
    no_rpe = drl.simulate("dabney_variable_magnitude", drl.Population.sample(2), 5, record=("value",),
                          progress=False)
    with pytest.raises(ValueError, match="did not record 'rpe'"):
        decode.reward_responses(no_rpe)


def test_decoded_samples_respect_the_support():
    # expectiles of a 0.1-20 µl distribution are all positive: samples stay >= 0 and the density, reflected at
    # the bound, puts none below 0 and integrates to 1 on its grid
    true = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    levels = np.linspace(0.05, 0.95, 10)
    decoded = drl.decode.decode_distribution(levels, drl.decode.expectiles(true, levels))
    assert decoded.samples.min() >= 0 and decoded.grid.min() >= 0
    assert np.trapezoid(decoded.density, decoded.grid) == pytest.approx(1.0, abs=0.02)
    bounded = drl.decode.decode_distribution(levels, drl.decode.expectiles(true, levels), bounds=(0.1, 20.0))
    assert bounded.samples.min() >= 0.1 and bounded.samples.max() <= 20.0
    signed = drl.decode.decode_distribution([0.25, 0.5, 0.75], [-1.0, 0.0, 1.0])  # negative values: no floor at 0
    assert signed.samples.min() < 0


def test_hinge_fit_recovers_an_exact_bent_response():
    magnitudes = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0])
    c = np.array([0.7, 3.1, 7.25, 14.0])
    s_pos, s_neg = np.array([2.0, 0.5, 1.5, 3.0]), np.array([0.2, 1.0, 0.8, 0.1])
    mean = np.where(magnitudes > c[:, None], s_pos[:, None], s_neg[:, None]) * (magnitudes - c[:, None])
    got_c, got_pos, got_neg = decode.hinge_fit(magnitudes, mean, n_grid=19901)  # grid step 0.001
    assert np.allclose(got_c, c, atol=1e-3)
    assert np.allclose(got_pos, s_pos, rtol=1e-3) and np.allclose(got_neg, s_neg, rtol=1e-3)


def test_gcv_ridge_against_the_hat_matrix_written_out():
    rng = np.random.default_rng(0)
    gamma = np.linspace(0.5, 0.99, 15)
    times = np.arange(0, 8.01, 0.5)
    matrix = gamma[:, None] ** times[None, :]
    values = matrix @ rng.dirichlet(np.ones(times.size)) * (1 + 0.01 * rng.standard_normal(gamma.size))
    scale = np.linalg.norm(matrix, 2)

    def score(ridge):  # GCV with the ridge hat matrix built explicitly
        hat = matrix @ np.linalg.solve(matrix.T @ matrix + ridge * scale**2 * np.eye(times.size), matrix.T)
        residual = values - hat @ values
        return gamma.size * residual @ residual / (gamma.size - np.trace(hat)) ** 2

    from drl.decode.timing import RIDGE_GRID

    scores = [score(r) for r in RIDGE_GRID[RIDGE_GRID >= 1e-9]]  # below that the explicit solve is ill-conditioned
    expected = RIDGE_GRID[RIDGE_GRID >= 1e-9][int(np.argmin(scores))]
    assert decode.gcv_ridge(matrix, values) == pytest.approx(expected)
    assert decode.decode_timing(gamma, values, times, ridge="gcv").attrs["ridge"] == pytest.approx(expected)


@pytest.mark.slow
def test_imputation_reaches_the_objective_of_many_random_restarts():
    # Dabney's distribution with 10 levels: the three deterministic starts used before stopped at 1.1e-3
    from scipy import optimize

    from drl.decode.compiled import expectile_objective as _expectile_objective

    true = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    levels = (np.arange(10) + 0.5) / 10
    values = decode.expectiles(true, levels)
    span = np.ptp(values)
    lo, hi = max(values.min() - 0.5 * span, 0.0), values.max() + 0.5 * span  # the default bounds
    decoded = decode.decode_distribution(levels, values, bounds=(lo, hi))
    rng = np.random.default_rng(0)
    best = min(optimize.minimize(_expectile_objective, rng.uniform(lo, hi, 100), args=(levels, values), jac=True,
                                 method="L-BFGS-B", bounds=[(lo, hi)] * 100,
                                 options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12}).fun for _ in range(30))
    assert decoded.loss <= 1.05 * best
    assert decoded.loss == pytest.approx(_expectile_objective(decoded.samples, levels, values)[0])


def numpy_expectile_objective(samples, levels, values):
    """The imputation objective as it was written in numpy (the reference the compiled one must equal)."""
    diff = samples[None, :] - values[:, None]
    weight = np.where(diff > 0, levels[:, None], 1 - levels[:, None])
    g = (weight * diff).mean(1)
    return float(np.sum(g**2)), 2 * (g[:, None] * weight).sum(0) / samples.size


def test_the_compiled_objective_is_numpys_to_the_bit():
    """L-BFGS-B's path depends on every bit of the gradient: the compiled objective must be numpy's exactly (sums
    in numpy's pairwise order), on every size that changes that order (< 8, ≤ 128, halves above) and at ties."""
    from drl.decode.compiled import expectile_objective, pairwise_sum

    rng = np.random.default_rng(0)
    for n in (1, 5, 8, 9, 100, 127, 128, 129, 200, 257, 1000, 4099):
        x = rng.normal(size=n) * 10.0 ** rng.uniform(-8, 8, n)
        assert pairwise_sum(x, 0, n) == np.sum(x)
    for case in range(400):
        n_levels, n_samples = int(rng.integers(1, 60)), int(rng.choice([2, 7, 9, 100, 128, 129, 300, 1000]))
        levels = np.sort(rng.uniform(0.01, 0.99, n_levels))
        values = np.sort(rng.normal(size=n_levels)) * 10.0 ** rng.uniform(-3, 3)
        samples = rng.normal(size=n_samples) * 10.0 ** rng.uniform(-3, 3)
        if case % 5 == 0:
            samples[: n_samples // 3] = values[0]  # z = e: the indicator's edge
        loss, grad = expectile_objective(samples, levels, values)
        want_loss, want_grad = numpy_expectile_objective(samples, levels, values)
        assert loss == want_loss and np.array_equal(grad, want_grad), (n_levels, n_samples)
    # and a sum the summation order matters for: 1 + 1e-16 × 8 differs between sequential and pairwise
    x = np.array([1.0] + [1e-16] * 15)
    assert pairwise_sum(x, 0, x.size) == np.sum(x)


def test_weighted_timing_equals_duplicated_rows():
    # a weight of 2 on a predictor is the same least-squares problem as that predictor listed twice
    gamma = np.linspace(0.5, 0.98, 12)
    values = 0.7 * gamma**3 + 0.3 * gamma**6 + np.random.default_rng(0).normal(0, 0.01, 12)
    weights = np.where(np.arange(12) % 3 == 0, 2.0, 1.0)
    weighted = decode.decode_timing(gamma, values, ridge=0.0, weights=weights)
    repeat = weights.astype(int)
    duplicated = decode.decode_timing(np.repeat(gamma, repeat), np.repeat(values, repeat), ridge=0.0)
    assert np.allclose(weighted.probability, duplicated.probability, atol=1e-6)
    with pytest.raises(ValueError, match="weights"):
        decode.decode_timing(gamma, values, weights=-weights)
