"""Stimulus representations: each trial type's cue drives its own block of features.

A representation builds ``x`` of shape [M, K, F] (trial type, step, feature), float64: the features seen at
each step of a trial of each type. Features are zero before the cue (the pre-cue and inter-trial states have
value 0). Representations are small frozen specs in a registry; add one with :func:`register_features`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from drl._validate import choice, finite
from drl.tasks.model import Task

__all__ = ["CSC", "Microstimulus", "make_features", "register_features"]


@dataclass(frozen=True)
class CSC:
    """Complete serial compound: one feature per step since cue onset (feature f is on at step cue + f).

    F = K − (earliest cue step). Each feature is active once per trial, so offline and online updates agree, and a
    converged value is exactly the discounted return (the closed forms of the model hold).

    See Also
    --------
    Microstimulus : overlapping features of a decaying memory trace.
    make_features : builds one from a name.

    Examples
    --------
    >>> import drl
    >>> task = drl.get_task("hyp_unif")
    >>> features = drl.CSC().build(task)  # [trial type, step, feature]
    >>> features.shape, int(features[0].sum(axis=1).max())  # one feature on at each step after the cue
    ((1, 71, 51), 1)
    """

    name = "csc"

    def build(self, task: Task) -> np.ndarray:
        k = task.n_steps
        cues = task.cue_steps
        n_features = k - int(cues.min())
        x = np.zeros((len(cues), k, n_features))
        for m, cue in enumerate(cues):  # M is a handful of trial types: data, not the hot path
            steps = np.arange(cue, k)
            x[m, steps, steps - cue] = 1.0
        return x

    def n_features(self, task: Task) -> int:
        """F = K − (earliest cue step)."""
        return task.n_steps - int(task.cue_steps.min())

    def to_dict(self) -> dict:
        return {"name": self.name}


@dataclass(frozen=True)
class Microstimulus:
    """Microstimulus representation (Ludvig, Sutton & Kehoe 2008, Neural Comput 20:3034).

    From cue onset a memory trace decays, ``y(t) = trace_decay ** (t − t_cue)`` (``trace_decay`` per second);
    microstimulus i = 1…n reads it out through a Gaussian basis function centred at μ_i = i/n:
    ``x_i(t) = y(t) · exp(−(y(t) − μ_i)² / (2·width²)) / √(2π)``. Features overlap in time, so offline and online
    updates differ, and values only approximate the return.

    Parameters
    ----------
    n_microstimuli : int
        Basis functions per cue (≥ 1).
    width : float
        Their width, in units of the trace (> 0).
    trace_decay : float
        The trace's decay per second, in (0, 1).

    Raises
    ------
    ValueError
        A parameter out of its range.

    See Also
    --------
    make_features : builds one from a name or a dict.

    Examples
    --------
    >>> import drl
    >>> features = drl.Microstimulus(n_microstimuli=5)
    >>> features.build(drl.get_task("hyp_unif")).shape  # [trial type, step, feature]
    (1, 71, 5)
    >>> run = drl.simulate("hyp_unif", drl.Population.grid(tau=0.5), 20, features=features, progress=False)
    """

    n_microstimuli: int = 10
    width: float = 0.08
    trace_decay: float = 0.6

    name = "microstimulus"

    def __post_init__(self):
        n = self.n_microstimuli
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n_microstimuli must be an integer >= 1; got {n!r}")
        if finite("width", self.width) <= 0:
            raise ValueError(f"width must be > 0; got {self.width:g}")
        decay = finite("trace_decay", self.trace_decay)
        if not 0 < decay < 1:
            raise ValueError(f"trace_decay (per second) must be in (0, 1); got {decay:g}")

    def build(self, task: Task) -> np.ndarray:
        t = task.time
        cue_times = task.cue_steps * task.dt
        since_cue = t[None, :] - cue_times[:, None]  # [M, K] s
        trace = np.where(since_cue >= -1e-12, self.trace_decay ** np.maximum(since_cue, 0.0), 0.0)
        centres = np.arange(1, self.n_microstimuli + 1) / self.n_microstimuli
        gauss = np.exp(-((trace[..., None] - centres) ** 2) / (2 * self.width**2)) / math.sqrt(2 * math.pi)
        return trace[..., None] * gauss

    def n_features(self, task: Task) -> int:
        """F = n_microstimuli."""
        return self.n_microstimuli

    def to_dict(self) -> dict:
        return {"name": self.name, **asdict(self)}


_FEATURES = {"csc": CSC, "microstimulus": Microstimulus}


def register_features(representation: type) -> type:
    """Register a representation class, so that its name can be given wherever features are.

    Parameters
    ----------
    representation : type
        A frozen dataclass with a string class attribute ``name`` and methods ``build(task)`` (features
        [trial type, step, feature], zero before each cue) and ``to_dict()`` (its spec, stored in runs).

    Returns
    -------
    type
        ``representation`` (so it can decorate the class).

    Raises
    ------
    TypeError
        A class without ``name``, ``build`` or ``to_dict``.

    See Also
    --------
    make_features : builds a registered representation.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> import numpy as np
    >>> import drl
    >>> @drl.register_features
    ... @dataclass(frozen=True)
    ... class CueOnly:
    ...     name = "cue_only"  # one feature, on from the cue to the end of the trial
    ...     def build(self, task):
    ...         steps = np.arange(task.n_steps)
    ...         return (steps[None, :, None] >= task.cue_steps[:, None, None]).astype(float)
    ...     def to_dict(self):
    ...         return {"name": self.name}
    >>> drl.make_features("cue_only").build(drl.get_task("hyp_unif")).shape
    (1, 71, 1)
    """
    if not isinstance(representation, type) or not isinstance(getattr(representation, "name", None), str) \
            or not callable(getattr(representation, "build", None)) \
            or not callable(getattr(representation, "to_dict", None)):
        raise TypeError(f"register_features takes a class with a str attribute name and methods build(task) and "
                        f"to_dict(); got {representation!r}")
    _FEATURES[representation.name] = representation
    return representation


def make_features(spec) -> CSC | Microstimulus:
    """A stimulus representation from a name, a dict of options, or a representation itself.

    Parameters
    ----------
    spec : str or dict or representation
        ``"csc"`` or ``"microstimulus"`` (or a name added with :func:`register_features`), a dict ``{"name": …,
        options}``, or a representation object (returned as it is).

    Returns
    -------
    CSC or Microstimulus
        The representation: ``build(task)`` gives the features [trial type, step, feature].

    Raises
    ------
    ValueError
        An unknown name, or an option out of its range.
    TypeError
        Options the representation does not take, or a spec of another type.

    See Also
    --------
    register_features : adds a representation.

    Examples
    --------
    >>> import drl
    >>> drl.make_features({"name": "microstimulus", "n_microstimuli": 5})
    Microstimulus(n_microstimuli=5, width=0.08, trace_decay=0.6)
    >>> drl.make_features("csc").build(drl.get_task("hyp_unif")).shape  # [trial type, step, feature]
    (1, 71, 51)
    """
    if isinstance(spec, str):
        return _FEATURES[choice("features", spec, _FEATURES)]()
    if isinstance(spec, dict):
        spec = dict(spec)
        name = choice("features", spec.pop("name", None), _FEATURES)
        return _FEATURES[name](**spec)
    if hasattr(spec, "build") and hasattr(spec, "to_dict"):
        return spec
    raise TypeError(f"features must be a name, a dict or a representation object; got {type(spec).__name__}")
