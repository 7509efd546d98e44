"""What a trial is made of: reward events (a magnitude distribution at a time), trial types (a cue and its events)
and the utility applied to rewards. Frozen dataclasses that validate themselves; :class:`~drl.tasks.model.Task`
puts trial types together."""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass

import numpy as np

from drl._validate import choice, finite, in_range, label

__all__ = ["MAX_STEPS", "RewardEvent", "TrialType", "Utility", "check_keys"]

_PROB_TOL = 1e-6
#: Steps per trial at most (CSC features take 16·K² bytes per trial type: 1.5 GB at K = 10,000).
MAX_STEPS = 20_000
def _tuple_of_floats(name: str, values) -> tuple[float, ...]:
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        values = (values,)
    return tuple(finite(f"{name}[{i}]", v) for i, v in enumerate(values))


# ----------------------------------------------------------------------------------------------- utility
_UTILITIES = {
    # name: (function of (reward array, parameter), parameter check)
    "identity": (lambda r, p: r, None),
    "power": (lambda r, p: np.sign(r) * np.abs(r) ** p, (0.0, math.inf)),
    "log": (lambda r, p: np.sign(r) * np.log1p(np.abs(r) / p), (0.0, math.inf)),
}


@dataclass(frozen=True)
class Utility:
    """A reward utility transform, applied when a schedule is built (and to the true distribution).

    Parameters
    ----------
    kind : {"identity", "power", "log"}
        ``u = r``; ``u = sign(r)·|r|^parameter`` (concave for parameter < 1); ``u = sign(r)·log(1 + |r|/parameter)``
        (parameter a scale in reward units).
    parameter : float
        The exponent or scale (> 0 for "power" and "log").

    Raises
    ------
    ValueError
        An unknown kind or a parameter out of range.

    See Also
    --------
    Task : takes one as ``utility``.

    Examples
    --------
    >>> import drl
    >>> drl.Utility("power", 0.5)([0.0, 4.0, 9.0]).tolist()
    [0.0, 2.0, 3.0]
    """

    kind: str = "identity"
    parameter: float = 1.0

    def __post_init__(self):
        choice("utility kind", self.kind, _UTILITIES)
        bounds = _UTILITIES[self.kind][1]
        p = finite("utility parameter", self.parameter)
        if bounds is not None and not bounds[0] < p < bounds[1]:
            raise ValueError(f"utility parameter for kind {self.kind!r} must be > 0; got {p:g}")
        object.__setattr__(self, "parameter", p)

    def __call__(self, reward):
        return _UTILITIES[self.kind][0](np.asarray(reward, dtype=np.float64), self.parameter)


# ------------------------------------------------------------------------------------------------ specs
@dataclass(frozen=True)
class RewardEvent:
    """One reward delivery of a trial type.

    Parameters
    ----------
    time : float
        Delivery time after cue onset (s, ≥ 0).
    magnitudes : tuple of float
        Possible reward sizes (reward units, e.g. µl).
    probabilities : tuple of float, optional
        The probability of each magnitude (summing to 1 within 1e-6); default uniform.
    delivery_probability : float
        The probability that the reward is delivered at all (else nothing, 0).
    jitter : float
        Timing jitter (s): the delivery time is drawn uniformly in [time − jitter, time + jitter].
    sd : float
        Gaussian spread added to the drawn magnitude (reward units); 0 for discrete magnitudes.

    Raises
    ------
    ValueError
        A field out of its range (the message names it).

    See Also
    --------
    TrialType : a cue and its reward events.

    Examples
    --------
    >>> import drl
    >>> event = drl.RewardEvent(1.5, magnitudes=(2.0, 8.0), delivery_probability=0.9)
    >>> task = drl.Task("one_cue", 3.0, 0.1, (drl.TrialType("odour", 0.5, (event,)),))
    >>> task.reward_distribution("odour").values.tolist()
    [0.0, 2.0, 8.0]
    """

    time: float
    magnitudes: tuple[float, ...] = (1.0,)
    probabilities: tuple[float, ...] | None = None
    delivery_probability: float = 1.0
    jitter: float = 0.0
    sd: float = 0.0

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "time", finite("reward time", self.time))
        if self.time < 0:
            raise ValueError(f"reward time (s after cue) must be >= 0; got {self.time:g}")
        mags = _tuple_of_floats("magnitudes", self.magnitudes)
        if not mags:
            raise ValueError("magnitudes must not be empty; got ()")
        set_(self, "magnitudes", mags)
        if self.probabilities is None:
            probs = tuple(1.0 / len(mags) for _ in mags)
        else:
            probs = _tuple_of_floats("probabilities", self.probabilities)
        if len(probs) != len(mags):
            raise ValueError(
                f"probabilities must have one entry per magnitude ({len(mags)}); got {len(probs)}: {probs}"
            )
        for i, p in enumerate(probs):
            if p < 0:
                raise ValueError(f"probabilities[{i}] must be >= 0; got {p:g}")
        if abs(sum(probs) - 1.0) > _PROB_TOL:
            raise ValueError(f"probabilities must sum to 1 (within 1e-6); got sum {sum(probs):.9g} for {probs}")
        set_(self, "probabilities", probs)
        set_(self, "delivery_probability", in_range("delivery_probability", self.delivery_probability, 0, 1))
        set_(self, "jitter", finite("jitter", self.jitter))
        if self.jitter < 0:
            raise ValueError(f"jitter (s) must be >= 0; got {self.jitter:g}")
        set_(self, "sd", finite("sd", self.sd))
        if self.sd < 0:
            raise ValueError(f"sd (reward units) must be >= 0; got {self.sd:g}")

    @property
    def is_stochastic(self) -> bool:
        """True when magnitude, delivery or timing is random."""
        return len(self.magnitudes) > 1 or self.delivery_probability < 1 or self.jitter > 0 or self.sd > 0


@dataclass(frozen=True)
class TrialType:
    """A trial type: a cue (its own stimulus) and its reward events.

    Trial types are drawn with probability frequency / Σ frequencies. A trial type with no reward events is allowed
    (an unrewarded cue, CS−).

    Parameters
    ----------
    name : str
        Its name (unique in a task).
    cue_time : float
        Cue onset after the trial's start (s).
    rewards : tuple of RewardEvent
        Its reward events, after the cue.
    frequency : float
        Relative frequency (≥ 0); 0 keeps a type in the task without presenting it (a cue withdrawn in a phase of
        :func:`drl.simulate_phases`).

    Raises
    ------
    ValueError
        An empty name, a negative cue time or frequency.

    See Also
    --------
    Task : a set of trial types on one time grid.

    Examples
    --------
    >>> import drl
    >>> drl.TrialType("CS-", 0.5).rewards
    ()
    """

    name: str
    cue_time: float
    rewards: tuple[RewardEvent, ...] = ()
    frequency: float = 1.0

    def __post_init__(self):
        label("trial type name", self.name)
        object.__setattr__(self, "cue_time", finite(f"cue_time of {self.name!r}", self.cue_time))
        if self.cue_time < 0:
            raise ValueError(f"cue_time of {self.name!r} must be >= 0 s; got {self.cue_time:g}")
        rewards = self.rewards
        if isinstance(rewards, RewardEvent | dict):
            rewards = (rewards,)
        if isinstance(rewards, str) or not isinstance(rewards, tuple | list):
            raise TypeError(f"rewards of {self.name!r} must be a tuple of RewardEvent (or dicts); got {rewards!r}")
        rewards = tuple(RewardEvent(**r) if isinstance(r, dict) else r for r in rewards)
        for r in rewards:
            if not isinstance(r, RewardEvent):
                raise TypeError(f"rewards of {self.name!r} must be RewardEvent objects; got {type(r).__name__}")
        object.__setattr__(self, "rewards", rewards)
        freq = finite(f"frequency of {self.name!r}", self.frequency)
        if freq < 0:
            raise ValueError(f"frequency of {self.name!r} must be ≥ 0; got {freq:g}")
        object.__setattr__(self, "frequency", freq)



def check_keys(data, cls, where: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a table/object; got {type(data).__name__}")
    valid = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{where}: unknown key {key!r}{hint}; valid keys: {valid}")
