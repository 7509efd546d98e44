"""Classical-conditioning tasks as data: reward events, trial types, tasks and their spec files.

A :class:`Task` is a frozen, self-validating spec. ``task.schedule(n_trials, seed)`` draws the trial sequence
and the reward delivered at every step of every trial (a :class:`drl.tasks.schedule.Schedule`). New tasks are written
as a spec (Python, TOML or JSON), never as an edit of this module; named tasks live in :mod:`drl.tasks.registry`.

Time convention (DESIGN §3): step ``k = 0 … K−1`` is at ``t_k = k·dt`` seconds, ``K = round(duration/dt) + 1``.
A nominal time ``t`` (cue onset, reward delivery) lands on step ``floor(t/dt + 1/2)``: the nearest step, with
exact halves rounded **up** (never Python's ties-to-even), computed with a 1e-9 tolerance so that e.g.
0.3 s at dt = 0.1 s lands on step 3 despite floating point.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from drl._atomic import write_atomic
from drl._validate import choice, finite, label
from drl.tasks import distributions
from drl.tasks.distributions import RewardDistribution
from drl.tasks.events import MAX_STEPS, RewardEvent, TrialType, Utility, check_keys
from drl.tasks.schedule import Schedule, ScheduleDrawer
from drl.tasks.timegrid import time_to_step

__all__ = ["Task", "check_seed"]

_MAX_SPEC_BYTES = 10 * 2**20  # a task spec is a few kB; anything this big is the wrong file

@dataclass(frozen=True)
class Task:
    """A classical-conditioning task: trial types on one time grid.

    New tasks are data: build one here, or write a spec file (:meth:`to_file`, ``drl task-template``) and pass
    its path wherever a task is taken.

    Parameters
    ----------
    name : str
        Identifier (used by the registry and in stored runs).
    duration : float
        Trial length (s); the time grid is ``0, dt, …, duration``.
    dt : float
        Step (s); must divide ``duration`` (to within 1e-6 steps).
    trial_types : tuple of TrialType
        The trial types (unique names, at least one).
    reference : str
        The paper the task comes from (free text).
    notes : str
        What differs from the paper, units, choices made.
    utility : Utility, optional
        Applied to rewards when a schedule is built.
    units : str
        The unit of rewards (e.g. "µl"); every figure's label uses it.

    Raises
    ------
    ValueError
        A field out of range, ``dt`` not dividing ``duration``, duplicate trial-type names, a reward after the
        trial's end (the message names the field).

    See Also
    --------
    register_task : names it for this process.
    load_task : a task from a name or a spec file.

    Examples
    --------
    >>> import drl
    >>> task = drl.Task("two_outcomes", 3.0, 0.1, (drl.TrialType("odour", 0.5, (
    ...     drl.RewardEvent(1.5, magnitudes=(2.0, 8.0)),)),), units="µl")
    >>> task.n_steps, task.reward_distribution("odour").mean
    (31, 5.0)
    >>> run = drl.simulate(task, drl.Population.grid(tau=[0.2, 0.8]), 50, progress=False)
    """

    name: str
    duration: float
    dt: float
    trial_types: tuple[TrialType, ...]
    reference: str = ""
    notes: str = ""
    utility: Utility | None = None
    units: str = "reward units"

    def __post_init__(self):
        set_ = object.__setattr__
        label("task name", self.name)
        if not isinstance(self.units, str) or not self.units.strip():
            raise ValueError(f"units must be a non-empty string naming the reward unit (e.g. 'µl'); got {self.units!r}")
        set_(self, "duration", finite("duration", self.duration))
        set_(self, "dt", finite("dt", self.dt))
        if self.dt <= 0:
            raise ValueError(f"dt must be > 0 s; got {self.dt:g}")
        if self.duration <= 0:
            raise ValueError(f"duration must be > 0 s; got {self.duration:g}")
        ratio = self.duration / self.dt
        if ratio + 1 > MAX_STEPS:  # before any integer arithmetic on it: 1e157 / 0.1 steps once overflowed
            steps = f"{ratio + 1:.0f}" if ratio < 1e15 else f"{ratio:.3g}"
            memory = 16 * (ratio + 1) * (ratio + 1) / 2**30  # float products reach inf, never raise
            need = f"{memory:.3g} GB" if memory < 1e12 else "more memory than exists"
            raise ValueError(f"dt = {self.dt:g} s over duration = {self.duration:g} s gives {steps} steps per "
                             f"trial, more than drl handles ({MAX_STEPS}; CSC features alone would need {need}); "
                             "use a coarser dt")
        if abs(ratio - round(ratio)) > 1e-6:
            raise ValueError(
                f"dt must divide duration: duration / dt = {self.duration:g} / {self.dt:g} = {ratio:.6g} "
                "is not a whole number of steps"
            )
        types = self.trial_types
        if isinstance(types, TrialType | dict):
            types = (types,)
        if isinstance(types, str) or not isinstance(types, tuple | list):
            raise TypeError(f"trial_types must be a tuple of TrialType (or dicts); got {types!r}")
        for i, t in enumerate(types):
            if not isinstance(t, TrialType | dict):
                raise TypeError(f"trial_types[{i}] must be a TrialType (or a dict); got {type(t).__name__}")
        types = tuple(TrialType(**t) if isinstance(t, dict) else t for t in types)
        if not types:
            raise ValueError("trial_types must not be empty; got ()")
        names = [t.name for t in types]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"trial type names must be unique; duplicated: {dup}")
        if not any(t.frequency > 0 for t in types):
            raise ValueError(f"at least one trial type must have a frequency > 0; all of {names} have 0")
        set_(self, "trial_types", types)
        if isinstance(self.utility, dict):
            set_(self, "utility", Utility(**self.utility))
        if self.utility is not None and not isinstance(self.utility, Utility):
            raise TypeError(f"utility must be a Utility or None; got {type(self.utility).__name__}")
        for t in types:
            if t.cue_time > self.duration + 1e-9:
                raise ValueError(
                    f"cue_time of {t.name!r} is outside the trial: {t.cue_time:g} s > duration {self.duration:g} s"
                )
            for r in t.rewards:
                latest = t.cue_time + r.time + r.jitter
                earliest = t.cue_time + r.time - r.jitter
                if latest > self.duration + 1e-9 or earliest < -1e-9:
                    raise ValueError(
                        f"reward of {t.name!r} at {r.time:g} s after the cue (±{r.jitter:g} s jitter) falls "
                        f"outside the trial: {earliest:g}–{latest:g} s not within [0, {self.duration:g}] s"
                    )

    # ------------------------------------------------------------------ time grid
    @property
    def n_steps(self) -> int:
        """K, the number of steps in a trial."""
        return int(round(self.duration / self.dt)) + 1

    @property
    def time(self) -> np.ndarray:
        """The time grid ``t_k = k·dt`` (s), shape [K]."""
        return np.arange(self.n_steps) * self.dt

    @property
    def trial_type_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.trial_types)

    @property
    def cue_steps(self) -> np.ndarray:
        """Step of each trial type's cue onset, shape [M]."""
        return time_to_step([t.cue_time for t in self.trial_types], self.dt)

    @property
    def frequencies(self) -> np.ndarray:
        """Probability of each trial type, shape [M] (relative frequencies normalised)."""
        f = np.array([t.frequency for t in self.trial_types])
        return f / f.sum()

    def trial_type_index(self, name: str) -> int:
        """Index of a trial type by name; the error lists the valid names."""
        return self.trial_type_names.index(choice("trial type", name, self.trial_type_names))

    def reward_steps(self, trial_type: str) -> list[int]:
        """Nominal delivery step of each reward event of ``trial_type`` (before jitter)."""
        t = self.trial_types[self.trial_type_index(trial_type)]
        return [int(time_to_step(t.cue_time + r.time, self.dt)) for r in t.rewards]

    # ------------------------------------------------------------------ truth for decoders and tests
    def reward_distribution(self, trial_type: str, event: int = 0, *, utility: bool = True) -> RewardDistribution:
        """The true distribution of the reward of one event of ``trial_type`` (omission counted as 0); see
        :func:`drl.tasks.distributions.reward_distribution`."""
        return distributions.reward_distribution(self, trial_type, event, utility=utility)

    def return_distribution(self, trial_type: str, gamma: float = 1.0, *, time: float | None = None,
                            max_outcomes: int = 1_000_000) -> RewardDistribution:
        """The exact distribution of the discounted return of ``trial_type`` from ``time`` on (default: the cue),
        γ per second; see :func:`drl.tasks.distributions.return_distribution`."""
        return distributions.return_distribution(self, trial_type, gamma, time=time, max_outcomes=max_outcomes)

    def random_reward_steps(self, trial_type: str) -> np.ndarray:
        """[K] bool: the steps of ``trial_type`` whose reward is random; see
        :func:`drl.tasks.distributions.random_reward_steps`."""
        return distributions.random_reward_steps(self, trial_type)

    # ------------------------------------------------------------------ sampling
    def schedule(self, n_trials: int, seed: int = 0) -> Schedule:
        """Draw ``n_trials`` trials: trial types by frequency, then every reward event of each trial.

        Same ``seed`` → identical schedule. Rewards of events landing on the same step add up.
        Returns a :class:`Schedule` with ``trial_type`` [N] (int64) and ``reward`` [N, K] (float32, reward units).
        """
        if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or n_trials < 1:
            raise ValueError(f"n_trials must be an integer >= 1; got {n_trials!r}")
        n_trials = int(n_trials)
        seed = check_seed(seed)
        types, reward = ScheduleDrawer(self, n_trials, seed).block(0, n_trials)
        return Schedule(task=self, trial_type=torch.from_numpy(types), reward=torch.from_numpy(reward), seed=seed)

    def schedule_blocks(self, n_trials: int, seed: int = 0, *, start: int = 0) -> ScheduleDrawer:
        """The schedule of ``schedule(n_trials, seed)`` drawn block by block (``drawer.block(a, b)``), from trial
        ``start`` on: the same numbers in bounded memory (used by streamed and resumed runs)."""
        if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or n_trials < 1:
            raise ValueError(f"n_trials must be an integer >= 1; got {n_trials!r}")
        return ScheduleDrawer(self, int(n_trials), check_seed(seed), start=start)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON/TOML-ready; no None values), new on every call (every run stores one)."""
        return json.loads(self._json)

    @functools.cached_property
    def _json(self) -> str:
        """The spec as JSON, built once per Task: ``dataclasses.asdict`` walks every field, a tenth of a
        20-predictor run's time."""
        return json.dumps(self._as_dict())

    def _as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["utility"] is None:
            del d["utility"]
        for t in d["trial_types"]:
            for r in t["rewards"]:
                r["magnitudes"] = list(r["magnitudes"])
                r["probabilities"] = list(r["probabilities"])
        d["trial_types"] = [dict(t, rewards=list(t["rewards"])) for t in d["trial_types"]]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "task spec") -> Task:
        """Build a task from a dict; unknown keys raise ValueError naming the key and where it is, fields of the
        wrong type or shape name their path (the declared schema, ``drl.tasks.schema.TASK_SPEC``)."""
        cls._check_document(data, source)
        data = dict(data)
        types = []
        for i, t in enumerate(data.get("trial_types", [])):
            check_keys(t, TrialType, f"{source}: trial_types[{i}]")
            t = dict(t)
            rewards = []
            for j, r in enumerate(t.get("rewards", [])):
                check_keys(r, RewardEvent, f"{source}: trial_types[{i}].rewards[{j}]")
                rewards.append(RewardEvent(**r))
            t["rewards"] = tuple(rewards)
            types.append(TrialType(**t))
        data["trial_types"] = tuple(types)
        if "utility" in data:
            check_keys(data["utility"], Utility, f"{source}: utility")
            data["utility"] = Utility(**data["utility"])
        missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.name not in data]
        if missing:
            raise ValueError(f"{source}: missing required key(s) {missing}")
        return cls(**data)

    @classmethod
    def _check_document(cls, data, source: str) -> None:
        """Unknown keys (with a suggestion), then the declared schema (``drl.tasks.schema.TASK_SPEC``): the
        first field of the wrong type or shape is named with its path."""
        from drl._validate import check_document
        from drl.tasks.schema import TASK_SPEC

        check_keys(data, cls, source)
        for i, t in enumerate(data.get("trial_types", []) if isinstance(data.get("trial_types"), list) else []):
            check_keys(t, TrialType, f"{source}: trial_types[{i}]")
            for j, r in enumerate(t.get("rewards", []) if isinstance(t.get("rewards"), list) else []):
                check_keys(r, RewardEvent, f"{source}: trial_types[{i}].rewards[{j}]")
        check_document(data, TASK_SPEC, source, "the spec")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_file(self, path, *, overwrite: bool = False) -> Path:
        """Write the spec to ``path`` (``.toml`` or ``.json``); refuses to overwrite unless asked."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        suffix = path.suffix.lower()
        if suffix == ".json":
            text = json.dumps(self.to_dict(), indent=2)
        elif suffix == ".toml":
            import tomli_w

            text = tomli_w.dumps(self.to_dict())
        else:
            raise ValueError(f"task file must end in .toml or .json; got {path.name!r}")
        return write_atomic(path, text)

    @classmethod
    def from_file(cls, path) -> Task:
        """Read a task spec from a ``.toml`` or ``.json`` file (errors name the file and line)."""
        from drl._files import readable_file

        path = readable_file(path, "task file")
        size = path.stat().st_size  # before reading: a 20 GB (sparse) file was once read whole first
        if size > _MAX_SPEC_BYTES:
            raise ValueError(f"{path}: {size} bytes is not a task spec (at most {_MAX_SPEC_BYTES} bytes)")
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            kind = "a binary file" if b"\x00" in raw else "not UTF-8 text"
            raise ValueError(f"{path}: {kind}: byte 0x{raw[e.start]:02x} at line {line} cannot be decoded as UTF-8 "
                             "(save the spec as UTF-8, e.g. 'µl' in names)") from None
        suffix = path.suffix.lower()
        try:
            if suffix == ".json":
                data = json.loads(text)
            elif suffix == ".toml":
                data = tomllib.loads(text)
            else:
                raise ValueError(f"task file must end in .toml or .json; got {path.name!r}")
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: invalid TOML: {e}") from None
        except RecursionError:
            raise ValueError(f"{path}: nested too deeply to be a task spec (brackets or tables within each other "
                             "hundreds of levels deep)") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a task spec must be a table/object at top level")
        return cls.from_dict(data, source=str(path))


def check_seed(seed, name: str = "seed") -> int:
    """A seed is an integer >= 0 (None would draw fresh entropy and make a run irreproducible)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise TypeError(f"{name} must be an integer >= 0 (runs are reproducible from it); got {seed!r}")
    return int(seed)
