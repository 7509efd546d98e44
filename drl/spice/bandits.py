"""Bandit environments and the synthetic Q-learning agent that generate choice data for SPICE.

Every random draw goes through a ``numpy.random.Generator`` owned by the object: ``rng=`` a Generator or an int
seed; with no ``rng`` the object's generator is seeded from numpy's global random state, so the SPICE
tutorials' ``np.random.seed(42)`` makes every run identical, as it did in SPICE. Rewards are per arm, ``-1``
where the outcome was not shown.
"""

from __future__ import annotations

import numpy as np

from drl._validate import boolean, in_range

__all__ = ["Bandits", "BanditsDrift", "BanditsFixed", "BanditsSwitch", "n_actions_of", "random_source"]


def random_source(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:  # the tutorials seed numpy's global state and expect the same data every run
        return np.random.default_rng(np.random.randint(0, 2**63 - 1, dtype=np.int64))  # noqa: NPY002 (on purpose)
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None; got {type(rng).__name__}")


def n_actions_of(n_actions) -> int:
    if isinstance(n_actions, bool) or not isinstance(n_actions, int | np.integer) or not 2 <= n_actions <= 1024:
        raise ValueError(f"n_actions must be an integer from 2 to 1024; got {n_actions!r}")
    return int(n_actions)


class Bandits:
    """The base class of the bandit tasks: ``n_actions`` arms with reward probabilities ``reward_probs``.

    ``step(choice)`` draws the outcome of every arm (1 with its probability, else 0), hides the unchosen arms'
    outcomes (``-1``) unless ``counterfactual``, then lets the probabilities evolve. A subclass sets how they
    start (``_initial_probs``) and evolve (``_evolve``); this one starts uniform in [0, 1] and stays.

    Parameters
    ----------
    n_actions : int
        Arms (2 to 1024).
    counterfactual : bool
        Show every arm's outcome each trial (else the unchosen arms' are −1).
    rng : numpy.random.Generator or int, optional
        The random source (a seed, or a generator; default: fresh entropy).

    Raises
    ------
    ValueError
        ``n_actions`` out of range, a choice that is not an arm.

    See Also
    --------
    BanditsDrift, BanditsFixed, BanditsSwitch : the tasks.

    Examples
    --------
    >>> from drl import spice
    >>> bandit = spice.Bandits(3, rng=0)
    >>> outcome = bandit.step(1)
    >>> outcome[[0, 2]].tolist(), float(outcome[1]) in (0.0, 1.0)  # only the chosen arm's outcome is shown
    ([-1.0, -1.0], True)
    """

    def __init__(self, n_actions: int = 2, counterfactual: bool = False, rng=None):
        self.n_actions = n_actions_of(n_actions)
        self.counterfactual = boolean("counterfactual", counterfactual)
        self.rng = random_source(rng)
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
    """Bandits whose reward probabilities drift.

    Uniform in [0, 1] at the start of a session, then a Gaussian step of standard deviation ``sigma`` per arm and
    trial, clipped to [0, 1].

    Parameters
    ----------
    sigma : float
        The drift's standard deviation per trial (≥ 0).
    n_actions : int
        Arms (2 to 1024).
    counterfactual : bool
        Show every arm's outcome each trial (else the unchosen arms' are −1).
    rng : numpy.random.Generator or int, optional
        The random source (a seed, or a generator; default: fresh entropy).

    Raises
    ------
    ValueError
        ``sigma`` negative, ``n_actions`` out of range.

    See Also
    --------
    Bandits : the base class.

    Examples
    --------
    >>> from drl import spice
    >>> bandit = spice.BanditsDrift(0.1, rng=0)
    >>> before = bandit.reward_probs
    >>> _ = bandit.step(0)
    >>> bool((bandit.reward_probs != before).all())
    True
    """

    def __init__(self, sigma: float, n_actions: int = 2, counterfactual: bool = False, rng=None):
        self.sigma = in_range("sigma", sigma, 0, np.inf)
        super().__init__(n_actions, counterfactual, rng)

    def _evolve(self) -> None:
        self._probs = np.clip(self._probs + self.rng.normal(0, self.sigma, self.n_actions), 0, 1)


class BanditsFixed(Bandits):
    """Bandits with fixed reward probabilities, the same in every trial and session.

    Parameters
    ----------
    reward_probs : array_like, shape [n_actions]
        Each arm's probability of paying, in [0, 1].
    counterfactual : bool
        Show every arm's outcome each trial (else the unchosen arms' are −1).
    rng : numpy.random.Generator or int, optional
        The random source (a seed, or a generator; default: fresh entropy).

    Raises
    ------
    ValueError
        Probabilities out of [0, 1], fewer than two arms.

    See Also
    --------
    Bandits : the base class.

    Examples
    --------
    >>> from drl import spice
    >>> spice.BanditsFixed([0.8, 0.2], rng=0).reward_probs.tolist()
    [0.8, 0.2]
    """

    def __init__(self, reward_probs, counterfactual: bool = False, rng=None):
        probs = np.asarray(reward_probs, dtype=np.float64)
        if probs.ndim != 1 or np.any((probs < 0) | (probs > 1)) or not np.all(np.isfinite(probs)):
            raise ValueError(f"reward_probs must be a 1-D list of probabilities in [0, 1]; got {reward_probs!r}")
        self._fixed = probs
        super().__init__(len(probs), counterfactual, rng)

    def _initial_probs(self) -> np.ndarray:
        return self._fixed.copy()


class BanditsSwitch(Bandits):
    """Reversal bandits: one arm pays with ``p_high``, the others with ``p_low``.

    After each trial the good arm moves to another arm (uniformly) with probability ``hazard``.

    Parameters
    ----------
    hazard : float
        The probability of a reversal after each trial, in [0, 1].
    p_high : float
        The good arm's probability of paying.
    p_low : float
        The other arms'.
    n_actions : int
        Arms (2 to 1024).
    counterfactual : bool
        Show every arm's outcome each trial (else the unchosen arms' are −1).
    rng : numpy.random.Generator or int, optional
        The random source (a seed, or a generator; default: fresh entropy).

    Raises
    ------
    ValueError
        A probability out of [0, 1], ``n_actions`` out of range.

    See Also
    --------
    Bandits : the base class.

    Examples
    --------
    >>> from drl import spice
    >>> sorted(spice.BanditsSwitch(hazard=0.05, rng=0).reward_probs.tolist())
    [0.2, 0.8]
    """

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


