"""Bandit environments and the synthetic Q-learning agent that generate choice data for SPICE.

Every random draw goes through a ``numpy.random.Generator`` owned by the object: ``rng=`` a Generator or an int
seed; with no ``rng`` the object's generator is seeded from numpy's global random state, so the SPICE
tutorials' ``np.random.seed(42)`` makes every run identical, as it did in SPICE. Rewards are per arm, ``-1``
where the outcome was not shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drl._validate import boolean, in_range

__all__ = ["AgentQ", "BanditsDrift", "BanditsFixed", "BanditsSwitch", "Bandits"]


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:  # the tutorials seed numpy's global state and expect the same data every run
        return np.random.default_rng(np.random.randint(0, 2**63 - 1, dtype=np.int64))  # noqa: NPY002 (on purpose)
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None; got {type(rng).__name__}")


def _n_actions(n_actions) -> int:
    if isinstance(n_actions, bool) or not isinstance(n_actions, int | np.integer) or not 2 <= n_actions <= 1024:
        raise ValueError(f"n_actions must be an integer from 2 to 1024; got {n_actions!r}")
    return int(n_actions)


class Bandits:
    """Base class: ``n_actions`` arms with reward probabilities ``reward_probs`` [n_actions].

    ``step(choice)`` draws the outcome of every arm (1 with its probability, else 0), hides the unchosen
    arms' outcomes (``-1``) unless ``counterfactual``, then lets the probabilities evolve (``_evolve``).
    """

    def __init__(self, n_actions: int = 2, counterfactual: bool = False, rng=None):
        self.n_actions = _n_actions(n_actions)
        self.counterfactual = boolean("counterfactual", counterfactual)
        self.rng = _rng(rng)
        self.new_sess()

    def new_sess(self) -> None:
        self._probs = self._initial_probs()

    def _initial_probs(self) -> np.ndarray:
        return self.rng.uniform(0, 1, self.n_actions)

    def _evolve(self) -> None:
        pass

    @property
    def reward_probs(self) -> np.ndarray:
        return self._probs.copy()

    def step(self, choice: int) -> np.ndarray:
        """The rewards of this trial per arm (1/0; −1 for arms whose outcome was not shown), then evolve."""
        if not isinstance(choice, int | np.integer) or not 0 <= choice < self.n_actions:
            raise ValueError(f"choice must be an arm index in [0, {self.n_actions - 1}]; got {choice!r}")
        outcomes = (self.rng.uniform(0, 1, self.n_actions) < self._probs).astype(np.float64)
        if not self.counterfactual:
            shown = np.full(self.n_actions, -1.0)
            shown[choice] = outcomes[choice]
            outcomes = shown
        self._evolve()
        return outcomes


class BanditsDrift(Bandits):
    """Drifting probabilities: uniform in [0, 1] at the start of a session, then a Gaussian step of standard
    deviation ``sigma`` per arm and trial, clipped to [0, 1]."""

    def __init__(self, sigma: float, n_actions: int = 2, counterfactual: bool = False, rng=None):
        self.sigma = in_range("sigma", sigma, 0, np.inf)
        super().__init__(n_actions, counterfactual, rng)

    def _evolve(self) -> None:
        self._probs = np.clip(self._probs + self.rng.normal(0, self.sigma, self.n_actions), 0, 1)


class BanditsFixed(Bandits):
    """Fixed probabilities ``reward_probs`` for every trial and session."""

    def __init__(self, reward_probs, counterfactual: bool = False, rng=None):
        probs = np.asarray(reward_probs, dtype=np.float64)
        if probs.ndim != 1 or np.any((probs < 0) | (probs > 1)) or not np.all(np.isfinite(probs)):
            raise ValueError(f"reward_probs must be a 1-D list of probabilities in [0, 1]; got {reward_probs!r}")
        self._fixed = probs
        super().__init__(len(probs), counterfactual, rng)

    def _initial_probs(self) -> np.ndarray:
        return self._fixed.copy()


class BanditsSwitch(Bandits):
    """Reversal bandit: one arm pays with ``p_high``, the others with ``p_low``; after each trial the good arm
    moves to another arm (uniformly) with probability ``hazard``."""

    def __init__(self, hazard: float = 0.05, p_high: float = 0.8, p_low: float = 0.2, n_actions: int = 2,
                 counterfactual: bool = False, rng=None):
        self.hazard = in_range("hazard", hazard, 0, 1)
        self.p_high, self.p_low = in_range("p_high", p_high, 0, 1), in_range("p_low", p_low, 0, 1)
        super().__init__(n_actions, counterfactual, rng)

    def _initial_probs(self) -> np.ndarray:
        probs = np.full(self.n_actions, self.p_low)
        probs[self.rng.integers(self.n_actions)] = self.p_high
        return probs

    def _evolve(self) -> None:
        if self.rng.uniform() < self.hazard:
            good = int(np.argmax(self._probs))
            others = [a for a in range(self.n_actions) if a != good]
            self._probs = np.full(self.n_actions, self.p_low)
            self._probs[self.rng.choice(others)] = self.p_high


_RATES = ("alpha_reward", "alpha_penalty", "alpha_choice", "forget_rate", "alpha_counterfactual_reward",
          "alpha_counterfactual_penalty")
_BETAS = ("beta_reward", "beta_choice")


@dataclass
class _Params:
    beta_reward: float
    alpha_reward: float
    alpha_penalty: float
    forget_rate: float
    beta_choice: float
    alpha_choice: float
    alpha_counterfactual_reward: float
    alpha_counterfactual_penalty: float


class AgentQ:
    """A Q-learning participant for the bandits (the SPICE tutorials' synthetic agent).

    Choice: ``p = softmax(beta_reward·Q_reward + beta_choice·Q_choice)`` over arms.
    After choosing ``c`` and seeing rewards ``r`` (per arm, −1 where not shown):

    * chosen arm: ``Q_reward[c] += α·(r[c] − Q_reward[c])`` with ``α = alpha_reward`` if ``r[c] > 0.5`` else
      ``alpha_penalty`` (``alpha_penalty=None``: same as alpha_reward);
    * unchosen arms with a shown outcome (counterfactual tasks): the same rule with
      ``alpha_counterfactual_reward`` / ``alpha_counterfactual_penalty``;
    * unchosen arms without one: forgetting toward the initial value,
      ``Q_reward[a] += forget_rate·(0.5 − Q_reward[a])``;
    * choice perseverance for every arm: ``Q_choice += alpha_choice·(onehot(c) − Q_choice)``.

    A session starts from ``Q_reward = 0.5``, ``Q_choice = 0``. With ``parameter_variance`` > 0 (a float for
    all, or a dict per parameter), ``new_sess`` draws each parameter from a normal around its mean with that
    standard deviation, clipped to its range (rates [0, 1], betas ≥ 0). ``deterministic=True`` chooses the
    most probable arm instead of sampling.

    State for plotting: ``x_value_reward``, ``x_value_choice``, ``x_learning_rate_reward`` [n_actions].
    """

    Q_INIT = 0.5

    def __init__(self, n_actions: int = 2, beta_reward: float = 3.0, alpha_reward: float = 0.2,
                 alpha_penalty: float | None = None, forget_rate: float = 0.0, beta_choice: float = 0.0,
                 alpha_choice: float = 0.0, alpha_counterfactual_reward: float = 0.0,
                 alpha_counterfactual_penalty: float = 0.0, parameter_variance=0.0, deterministic: bool = False,
                 rng=None):
        self.n_actions = _n_actions(n_actions)
        mean = _Params(
            beta_reward=in_range("beta_reward", beta_reward, 0, np.inf),
            alpha_reward=in_range("alpha_reward", alpha_reward, 0, 1),
            alpha_penalty=in_range("alpha_penalty", alpha_reward if alpha_penalty is None or alpha_penalty < 0
                                   else alpha_penalty, 0, 1),
            forget_rate=in_range("forget_rate", forget_rate, 0, 1),
            beta_choice=in_range("beta_choice", beta_choice, 0, np.inf),
            alpha_choice=in_range("alpha_choice", alpha_choice, 0, 1),
            alpha_counterfactual_reward=in_range("alpha_counterfactual_reward", alpha_counterfactual_reward, 0, 1),
            alpha_counterfactual_penalty=in_range("alpha_counterfactual_penalty", alpha_counterfactual_penalty, 0,
                                                  1),
        )
        self.mean_params = mean
        names = list(mean.__dataclass_fields__)
        if isinstance(parameter_variance, dict):
            unknown = sorted(set(parameter_variance) - set(names))
            if unknown:
                raise ValueError(f"unknown parameter(s) in parameter_variance: {unknown}; valid: {names}")
            self.parameter_variance = {n: in_range(f"parameter_variance[{n!r}]", parameter_variance.get(n, 0.0), 0,
                                                   np.inf) for n in names}
        else:
            self.parameter_variance = {n: in_range("parameter_variance", parameter_variance, 0, np.inf)
                                       for n in names}
        self.deterministic = bool(deterministic)
        self.rng = _rng(rng)
        self.params = mean
        self.new_sess()

    def new_sess(self, sample_parameters: bool = True, **_) -> None:
        """Start a session: reset the values; redraw the parameters when ``parameter_variance`` > 0."""
        if sample_parameters and any(v > 0 for v in self.parameter_variance.values()):
            drawn = {}
            for name, m in vars(self.mean_params).items():
                sd = self.parameter_variance[name]
                value = m + self.rng.normal(0, sd) if sd > 0 else m
                drawn[name] = float(np.clip(value, 0, 1 if name in _RATES else np.inf))
            self.params = _Params(**drawn)
        self.state = {
            "x_value_reward": np.full(self.n_actions, self.Q_INIT),
            "x_value_choice": np.zeros(self.n_actions),
            "x_learning_rate_reward": np.zeros(self.n_actions),
        }

    @property
    def x_value_reward(self) -> np.ndarray:
        return self.state["x_value_reward"].copy()

    @property
    def x_value_choice(self) -> np.ndarray:
        return self.state["x_value_choice"].copy()

    @property
    def x_learning_rate_reward(self) -> np.ndarray:
        return self.state["x_learning_rate_reward"].copy()

    @property
    def q(self) -> np.ndarray:
        """The decision variable ``beta_reward·Q_reward + beta_choice·Q_choice`` (logits)."""
        return self.params.beta_reward * self.state["x_value_reward"] + self.params.beta_choice * self.state[
            "x_value_choice"]

    def get_choice_probs(self) -> np.ndarray:
        logits = self.q - self.q.max()
        p = np.exp(logits)
        return p / p.sum()

    def get_choice(self) -> int:
        p = self.get_choice_probs()
        return int(np.argmax(p)) if self.deterministic else int(self.rng.choice(self.n_actions, p=p))

    def update(self, choice: int, reward) -> None:
        """Learn from choosing ``choice`` and seeing ``reward`` (per arm, −1 where not shown)."""
        reward = np.asarray(reward, dtype=np.float64)
        if reward.shape != (self.n_actions,):
            raise ValueError(f"reward must have one entry per arm ({self.n_actions}); got shape {reward.shape}")
        p = self.params
        q = self.state["x_value_reward"]
        chosen = np.arange(self.n_actions) == choice
        shown = reward >= 0
        rate = np.where(chosen, np.where(reward > 0.5, p.alpha_reward, p.alpha_penalty),
                        np.where(reward > 0.5, p.alpha_counterfactual_reward, p.alpha_counterfactual_penalty))
        rate = np.where(shown, rate, 0.0)
        learned = q + rate * (reward - q)
        forgotten = q + p.forget_rate * (self.Q_INIT - q)
        self.state["x_value_reward"] = np.where(chosen | shown, learned, forgotten)
        self.state["x_value_choice"] = self.state["x_value_choice"] + p.alpha_choice * (
            chosen.astype(np.float64) - self.state["x_value_choice"])
        self.state["x_learning_rate_reward"] = rate
