import numpy as np
import pytest

from drl import Population


def test_tau_alpha_parametrisation():
    pop = Population.sample(5, tau=[0.2, 0.5, 0.8], alpha=0.1, seed=0)
    np.testing.assert_allclose(pop.alpha_pos, 2 * 0.1 * pop.tau)
    np.testing.assert_allclose(pop.alpha_neg, 2 * 0.1 * (1 - pop.tau))
    np.testing.assert_allclose(pop.alpha, 0.1)
    assert set(np.round(pop.tau, 6)) <= {0.2, 0.5, 0.8}


def test_classic_td_is_tau_half():
    pop = Population.sample(3, tau=0.5, alpha=0.3)
    np.testing.assert_allclose(pop.alpha_pos, pop.alpha_neg)
    np.testing.assert_allclose(pop.alpha_pos, 0.3)


def test_range_list_array_and_seed():
    a = Population.sample(1000, tau=(0.2, 0.8), gamma=[0.5, 0.9], lam=np.linspace(0, 1, 1000), seed=3)
    b = Population.sample(1000, tau=(0.2, 0.8), gamma=[0.5, 0.9], lam=np.linspace(0, 1, 1000), seed=3)
    c = Population.sample(1000, tau=(0.2, 0.8), gamma=[0.5, 0.9], lam=np.linspace(0, 1, 1000), seed=4)
    assert a == b and a != c
    assert 0.2 <= a.tau.min() and a.tau.max() <= 0.8 and a.tau.std() > 0.1
    assert set(a.gamma) == {0.5, 0.9}
    np.testing.assert_allclose(a.lam, np.linspace(0, 1, 1000))


def test_grid_is_cartesian_and_deterministic():
    taus = list(np.linspace(0.1, 0.9, 9))
    pop = Population.grid(tau=taus, gamma=[0.6, 0.8, 0.95], alpha=0.05)
    assert len(pop) == 27
    np.testing.assert_allclose(pop.tau.reshape(9, 3)[:, 0], taus)
    np.testing.assert_allclose(pop.gamma.reshape(9, 3)[0], [0.6, 0.8, 0.95])
    assert Population.grid(tau=taus, gamma=[0.6, 0.8, 0.95], alpha=0.05) == pop
    direct = Population.grid(alpha_pos=[0.1, 0.2], alpha_neg=[0.3], gamma=0.9)
    np.testing.assert_allclose(direct.alpha_pos, [0.1, 0.2])


def test_explicit_arrays_infer_size_and_subset():
    pop = Population.sample(alpha_pos=[0.1, 0.2, 0.3] and np.array([0.1, 0.2, 0.3]),
                            alpha_neg=np.array([0.3, 0.2, 0.1]))
    assert len(pop) == 3
    np.testing.assert_allclose(pop[1:].tau, [0.5, 0.75])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha_pos=1.5, alpha_neg=0.1), r"alpha_pos must be in \(0, 1\]; got 1.5"),
        (dict(alpha_pos=0.0, alpha_neg=0.1), r"alpha_pos must be in \(0, 1\]; got 0"),
        (dict(alpha_pos=0.1, alpha_neg=-0.1), r"alpha_neg must be in \(0, 1\]; got -0.1"),
        (dict(tau=1.0), r"tau must be in \(0, 1\); got 1"),
        (dict(tau=(0.0, 0.5)), r"tau must be in \(0, 1\); got 0"),
        (dict(gamma=1.2), r"gamma must be in \[0, 1\]; got 1.2"),
        (dict(lam=[0.5, -0.2]), r"lam must be in \[0, 1\]; got -0.2"),
        (dict(gamma=np.nan), "gamma must be finite"),
        (dict(gamma=np.ones(3)), "gamma array must have length n_predictors = 4; got length 3"),
        (dict(tau=0.9, alpha=0.9), "alpha_pos = 2·alpha·tau must be <= 1"),
        (dict(gamma=[]), "gamma list must not be empty"),
    ],
)
def test_bad_parameters_name_the_parameter_and_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Population.sample(4, **kwargs)


def test_empty_and_mismatched_population():
    with pytest.raises(ValueError, match="n_predictors must be an integer >= 1; got 0"):
        Population.sample(0)
    with pytest.raises(ValueError, match="at least one predictor"):
        Population(np.array([]), np.array([]), np.array([]), np.array([]))
    with pytest.raises(ValueError, match="must all have length P"):
        Population(np.array([0.1, 0.2]), np.array([0.1]), np.array([0.9, 0.9]), np.array([0, 0]))
    with pytest.raises(TypeError, match="must be a float, \\(lo, hi\\) tuple, list or array"):
        Population.sample(3, gamma="high")


def test_population_pickles():
    import pickle

    pop = Population.sample(10, tau=(0.1, 0.9), gamma=[0.8, 0.9])
    assert pickle.loads(pickle.dumps(pop)) == pop
