"""drl.engine.td, the pure tensor functions, against naive loops written here, and their shape errors."""

import numpy as np
import pytest
import torch

from drl.engine import td

RNG = np.random.default_rng(7)


def _tensor(*shape):
    return torch.as_tensor(RNG.standard_normal(shape), dtype=torch.float64)


def _discounts(p):
    # the edges matter: ρ = 0 (0⁰ = 1 at the step itself), ρ = 1 (a plain sum), and values in between
    return torch.as_tensor(np.r_[0.0, 1.0, RNG.uniform(0, 1, p - 2)], dtype=torch.float64)


def test_td_error_arrival_against_a_loop():
    p, k = 5, 9
    r, v, v_target, g = _tensor(k), _tensor(p, k), _tensor(p, k), _discounts(p)
    for discount_reward in (False, True):
        got = td.td_error_arrival(r, v, v_target, g, discount_reward=discount_reward).numpy()
        want = np.zeros((p, k + 1))
        for i in range(p):
            for step in range(k + 1):
                reward = float(r[step]) if step < k else 0.0
                target = float(v_target[i, step]) if step < k else 0.0
                previous = float(v[i, step - 1]) if step > 0 else 0.0
                arriving = g[i] * (reward + target) if discount_reward else reward + g[i] * target
                want[i, step] = arriving - previous
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_td_error_state_against_a_loop():
    p, k = 4, 7
    r, v, v_target, g = _tensor(p, k), _tensor(p, k), _tensor(p, k), _discounts(p)
    got = td.td_error_state(r, v, v_target, g).numpy()
    want = np.array([[r[i, s] + g[i] * (v_target[i, s + 1] if s + 1 < k else 0.0) - v[i, s] for s in range(k)]
                     for i in range(p)])
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_rule_factor_against_a_loop():
    delta = _tensor(3, 6)
    delta[0, 0] = 0.0  # no update at δ = 0 for either rule
    a_pos, a_neg = torch.tensor([0.1, 0.5, 1.0], dtype=torch.float64), torch.tensor([0.3, 0.05, 1.0],
                                                                                     dtype=torch.float64)
    for rule in ("expectile", "quantile"):
        got = td.rule_factor(delta, a_pos, a_neg, rule).numpy()
        want = np.zeros_like(got)
        for i in range(3):
            for j in range(6):
                d = float(delta[i, j])
                if rule == "expectile":
                    want[i, j] = (a_pos[i] if d > 0 else a_neg[i]) * d
                else:
                    want[i, j] = a_pos[i] if d > 0 else (-a_neg[i] if d < 0 else 0.0)
        np.testing.assert_allclose(got, want, atol=1e-15)
    with pytest.raises(ValueError, match="unknown rule 'median'"):
        td.rule_factor(delta, a_pos, a_neg, "median")


@pytest.mark.parametrize("length", [1, 2, 5, 16, 17, 71, 200])
def test_discounted_sums_against_loops(length):
    p = 6
    u, rho = _tensor(p, length), _discounts(p)
    reverse = td.ReverseDiscountedSum(rho, length)(u).numpy()
    forward = td.discounted_cumsum(u, rho).numpy()
    want_reverse, want_forward = np.zeros((p, length)), np.zeros((p, length))
    for i in range(p):
        acc = 0.0
        for j in reversed(range(length)):
            acc = float(u[i, j]) + float(rho[i]) * acc
            want_reverse[i, j] = acc
        acc = 0.0
        for j in range(length):
            acc = float(u[i, j]) + float(rho[i]) * acc
            want_forward[i, j] = acc
    np.testing.assert_allclose(reverse, want_reverse, atol=1e-10)
    np.testing.assert_allclose(forward, want_forward, atol=1e-10)
    np.testing.assert_allclose(td.discounted_reverse_cumsum(u, rho).numpy(), want_reverse, atol=1e-10)


def test_shape_and_type_errors_name_the_argument():
    v = _tensor(2, 4)
    g = _discounts(2)
    with pytest.raises(ValueError, match=r"v_t must have 2 dimensions; got shape \(4,\)"):
        td.td_error_arrival(_tensor(4), _tensor(4), _tensor(4), g)
    with pytest.raises(TypeError, match="v_t must be a torch.Tensor; got ndarray"):
        td.td_error_state(np.zeros(4), np.zeros((2, 4)), v, g)
    with pytest.raises(ValueError, match=r"delta must have 2 dimensions; got shape \(4,\)"):
        td.rule_factor(_tensor(4), g, g, "expectile")
    with pytest.raises(ValueError, match=r"discount must have 1 dimensions; got shape \(2, 1\)"):
        td.ReverseDiscountedSum(g[:, None], 4)
    with pytest.raises(ValueError, match=r"u must have length 4 along its last axis; got shape \(2, 5\)"):
        td.ReverseDiscountedSum(g, 4)(_tensor(2, 5))
