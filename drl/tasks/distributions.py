"""The true distributions of a task's rewards and returns: what decoders and tests compare a population with.

Exact enumerations over a task spec (magnitudes, omissions, timing jitter with the exact probability of each
step, Gaussian noise by 20-node Gauss–Hermite quadrature); no sampling. ``Task.reward_distribution``,
``Task.return_distribution`` and ``Task.random_reward_steps`` call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from drl._validate import finite, in_range
from drl.tasks.timegrid import time_to_step

if TYPE_CHECKING:
    from drl.tasks.model import Task

__all__ = ["RewardDistribution", "expectiles", "reward_distribution", "return_distribution", "random_reward_steps", "event_steps"]


@dataclass(frozen=True)
class RewardDistribution:
    """A discrete reward distribution: values with their probabilities.

    The public way to state a truth to compare decodes with, so it checks itself: lists are accepted and stored as
    float arrays.

    Parameters
    ----------
    values : array_like, shape [V]
        The rewards (reward units), finite.
    probabilities : array_like, shape [V]
        Their probabilities, each in [0, 1], summing to 1 (within 1e-6).

    Raises
    ------
    ValueError
        Values not finite, probabilities out of [0, 1] or not summing to 1, arrays of different lengths or not 1-D.

    See Also
    --------
    Task.reward_distribution : a task's own.
    drl.decode.wasserstein : a decode's distance to one.

    Examples
    --------
    >>> import drl
    >>> truth = drl.RewardDistribution([1.0, 5.0], [0.75, 0.25])
    >>> truth.mean, round(truth.std, 4)
    (2.0, 1.7321)
    """

    values: np.ndarray
    probabilities: np.ndarray

    def __post_init__(self):
        arrays = {}
        for name in ("values", "probabilities"):
            raw = getattr(self, name)
            try:
                array = np.asarray(raw, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"RewardDistribution {name} must be numbers; got {raw!r}") from None
            if array.ndim != 1 or array.size == 0:
                raise ValueError(f"RewardDistribution {name} must be a non-empty 1-D list of numbers; got shape "
                                 f"{array.shape}")
            if not np.isfinite(array).all():
                raise ValueError(f"RewardDistribution {name} must be finite; got {array.tolist()}")
            arrays[name] = array
        values, probabilities = arrays["values"], arrays["probabilities"]
        if values.size != probabilities.size:
            raise ValueError(f"RewardDistribution needs one probability per value; got {values.size} values and "
                             f"{probabilities.size} probabilities")
        if ((probabilities < 0) | (probabilities > 1)).any():
            raise ValueError(f"RewardDistribution probabilities must be in [0, 1]; got {probabilities.tolist()}")
        if abs(probabilities.sum() - 1.0) > 1e-6:
            raise ValueError(f"RewardDistribution probabilities must sum to 1; got {probabilities.tolist()} "
                             f"(sum {probabilities.sum():.6g})")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "probabilities", probabilities)

    @property
    def mean(self) -> float:
        return float(np.sum(self.values * self.probabilities))

    @property
    def std(self) -> float:
        return float(np.sqrt(np.sum(self.probabilities * (self.values - self.mean) ** 2)))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` draws from the distribution."""
        return np.random.default_rng(seed).choice(self.values, size=n, p=self.probabilities)


def expectiles(distribution: RewardDistribution, levels) -> np.ndarray:
    """The τ-expectiles of a discrete reward distribution, exact (by bisection).

    The τ-expectile e solves ``τ·E[(X−e)⁺] = (1−τ)·E[(e−X)⁺]``: τ = 0.5 gives the mean, τ → 0 and τ → 1 the
    support's ends. These are the reversal points an expectile-learning population converges to (Dabney et al.
    2020), the truth a decode is held to.

    Parameters
    ----------
    distribution : RewardDistribution
        The distribution (e.g. ``task.reward_distribution(trial_type)``).
    levels : array_like, shape [L]
        The levels τ, each in [0, 1].

    Returns
    -------
    numpy.ndarray, shape [L]
        The τ-expectiles (the distribution's reward units).

    Raises
    ------
    TypeError
        ``distribution`` is not a :class:`~drl.RewardDistribution`.
    ValueError
        A level outside [0, 1].

    See Also
    --------
    drl.decode.implied_tau : the inverse, the level whose expectile is a given value.
    drl.decode.decode_distribution : samples whose expectiles are given values.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> two = drl.RewardDistribution([0.0, 1.0], [0.5, 0.5])
    >>> decode.expectiles(two, [0.1, 0.5, 0.9]).round(3).tolist()
    [0.1, 0.5, 0.9]
    """
    if not isinstance(distribution, RewardDistribution):
        raise TypeError(f"distribution must be a drl.RewardDistribution (e.g. task.reward_distribution(name)); "
                        f"got {type(distribution).__name__}")
    levels = np.asarray(levels, dtype=np.float64).ravel()
    if levels.size == 0 or not np.all((levels > 0) & (levels < 1)):
        raise ValueError(f"levels must be a non-empty list of numbers in (0, 1); got {levels[:3].tolist()}")
    x, p = np.asarray(distribution.values, float), np.asarray(distribution.probabilities, float)
    lo, hi = np.full(levels.shape, x.min()), np.full(levels.shape, x.max())
    for _ in range(100):  # the balance is monotone in e: bisection to float precision
        e = 0.5 * (lo + hi)
        above = (p * np.clip(x[None, :] - e[:, None], 0, None)).sum(1)
        below = (p * np.clip(e[:, None] - x[None, :], 0, None)).sum(1)
        up = levels * above > (1 - levels) * below
        new_lo, new_hi = np.where(up, e, lo), np.where(up, hi, e)
        if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi):
            break  # every bracket is two adjacent floats (a fixed point): further halvings change nothing
        lo, hi = new_lo, new_hi
    return 0.5 * (lo + hi)


def reward_distribution(task: Task, trial_type: str, event: int = 0, *, utility: bool = True) -> RewardDistribution:
    """The true distribution of the reward of one event of ``trial_type`` (omission counted as 0).

    Magnitudes with ``sd > 0`` are represented by 20-point Gauss–Hermite nodes (exact moments to order 39).
    With ``utility=True`` the task's utility is applied, as in the schedule.
    """
    t = task.trial_types[task.trial_type_index(trial_type)]
    if not t.rewards:
        raise ValueError(f"trial type {trial_type!r} has no reward events")
    if not 0 <= event < len(t.rewards):
        raise ValueError(f"event must be in [0, {len(t.rewards) - 1}] for {trial_type!r}; got {event}")
    r = t.rewards[event]
    mags = np.asarray(r.magnitudes)
    probs = np.asarray(r.probabilities) * r.delivery_probability
    if r.sd > 0:
        nodes, weights = np.polynomial.hermite_e.hermegauss(20)
        weights = weights / weights.sum()
        mags = (mags[:, None] + r.sd * nodes[None, :]).ravel()
        probs = (probs[:, None] * weights[None, :]).ravel()
    if r.delivery_probability < 1:
        mags = np.append(mags, 0.0)
        probs = np.append(probs, 1 - r.delivery_probability)
    if utility and task.utility is not None:
        mags = task.utility(mags)
    values, inverse = np.unique(mags, return_inverse=True)
    merged = np.zeros(len(values))
    np.add.at(merged, inverse, probs)
    return RewardDistribution(values=values, probabilities=merged)

def return_distribution(task: Task, trial_type: str, gamma: float = 1.0, *, time: float | None = None,
                        max_outcomes: int = 1_000_000) -> RewardDistribution:
    """The exact distribution of the discounted return of ``trial_type`` from ``time`` on (default: the cue).

    ``G = Σ_{j ≥ k} γ^{(j−k)·dt}·r_j`` over the steps j from k, the step of ``time``, to the end of the trial,
    with γ per second, enumerated over every outcome: magnitudes, omissions, timing jitter (the exact
    probability of each step) and ``sd`` (20 Gauss–Hermite nodes); events are independent and the utility
    is applied per event, as in the schedule. Events before step k are not counted.

    Under textbook TD this is the target of the **cue response** (``δ_cue = r_cue + γ^dt·V_cue``, the state
    before the cue having value 0) with ``time`` the cue, and of ``V_k`` with ``time = t_k + dt``: a τ-population
    learns its τ-expectiles (expectile rule) or τ-quantiles (quantile rule) when its bootstrap is valid
    (docs/guide/architecture.md, "Bootstrap").

    Args:
      trial_type: the trial type's name.  gamma: discount per second in [0, 1].
      time: seconds from the trial start (default: the type's cue time).
      max_outcomes: refuse (ValueError) when the enumeration would exceed this many joint outcomes.
    """
    t = task.trial_types[task.trial_type_index(trial_type)]
    gamma = in_range("gamma", gamma, 0, 1)
    time = t.cue_time if time is None else finite("time", time)
    if not 0 <= time <= task.duration + 1e-9:
        raise ValueError(f"time must be within [0, {task.duration:g}] s; got {time:g}")
    start = int(time_to_step(time, task.dt))
    values, probs = np.zeros(1), np.ones(1)
    for ev in t.rewards:
        steps, step_probs = event_steps(task, t.cue_time + ev.time, ev.jitter)
        mags = np.asarray(ev.magnitudes, dtype=np.float64)
        mag_probs = np.asarray(ev.probabilities, dtype=np.float64)
        if ev.sd > 0:
            nodes, weights = np.polynomial.hermite_e.hermegauss(20)
            mags = (mags[:, None] + ev.sd * nodes[None, :]).ravel()
            mag_probs = (mag_probs[:, None] * weights[None, :] / weights.sum()).ravel()
        if task.utility is not None:
            mags = task.utility(mags)
        counted = steps >= start
        weight = np.where(counted, gamma ** ((steps - start) * task.dt), 0.0)  # 0⁰ = 1 at the step itself
        outcome = np.concatenate([(weight[:, None] * mags[None, :]).ravel(), [0.0]])
        outcome_probs = np.concatenate([(step_probs[:, None] * mag_probs[None, :]).ravel() * ev.delivery_probability,
                                        [1 - ev.delivery_probability]])
        if values.size * outcome.size > max_outcomes:
            raise ValueError(f"the return of {trial_type!r} has more than max_outcomes = {max_outcomes} joint "
                             "outcomes; raise max_outcomes")
        values = (values[:, None] + outcome[None, :]).ravel()
        probs = (probs[:, None] * outcome_probs[None, :]).ravel()
        values, inverse = np.unique(np.round(values, 12), return_inverse=True)
        probs = np.bincount(inverse.ravel(), weights=probs, minlength=values.size)
    keep = probs > 0
    return RewardDistribution(values=values[keep], probabilities=probs[keep] / probs[keep].sum())

def random_reward_steps(task: Task, trial_type: str) -> np.ndarray:
    """[K] bool: the steps of ``trial_type`` whose reward is random (magnitude, delivery or timing).

    At every other step the reward is fixed, so a bootstrapped target ``r_k + γ^dt·Z`` has τ-expectiles (and
    τ-quantiles) ``r_k + γ^dt·(those of Z)`` whatever the distribution of Z: expectiles and quantiles are
    equivariant under a shift and a positive scaling (used by ``bootstrap="imputed"``).
    """
    t = task.trial_types[task.trial_type_index(trial_type)]
    mask = np.zeros(task.n_steps, dtype=bool)
    for ev in t.rewards:
        if ev.is_stochastic:
            steps, _ = event_steps(task, t.cue_time + ev.time, ev.jitter)
            mask[steps] = True
    return mask

def event_steps(task: Task, nominal: float, jitter: float):
    """Steps an event at ``nominal`` s (± ``jitter`` s, uniform) lands on, and the probability of each."""
    if jitter == 0:
        return np.array([min(int(time_to_step(nominal, task.dt)), task.n_steps - 1)]), np.ones(1)
    lo, hi = nominal - jitter, nominal + jitter
    first, last = int(time_to_step(lo, task.dt)), int(time_to_step(hi, task.dt))
    steps = np.arange(first, last + 1)
    # step s receives the offsets whose time lies in [(s − ½)·dt, (s + ½)·dt)
    left = np.clip((steps - 0.5) * task.dt, lo, hi)
    right = np.clip((steps + 0.5) * task.dt, lo, hi)
    probs = (right - left) / (hi - lo)
    steps = np.clip(steps, 0, task.n_steps - 1)  # as the schedule clips
    merged, inverse = np.unique(steps, return_inverse=True)
    return merged, np.bincount(inverse, weights=probs, minlength=merged.size)
