"""Trial schedules: the trial types and the reward at every step of every trial, drawn from a task.

``Task.schedule(n_trials, seed)`` draws a whole :class:`Schedule`. :class:`ScheduleDrawer` draws the same
numbers block by block (any block boundaries, from any starting trial), so a streamed run of 10⁹ trials holds
one block in memory and gives exactly the numbers of a run drawn whole with the same seed.

How: the draws come from one numpy PCG64 stream in a fixed order of segments of ``n_trials`` draws each (the
trial types, then per trial type and reward event: magnitudes, noise, delivery, jitter). The drawer keeps one
generator per segment, positioned at its start: uniform segments are skipped with ``advance`` (one 64-bit
draw per number), the normal segment is drawn through in chunks (numpy's ziggurat uses a variable number of
draws), then each block reads the next numbers of every segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from drl.tasks.timegrid import time_to_step

if TYPE_CHECKING:
    from drl.tasks.model import Task

__all__ = ["Schedule", "ScheduleDrawer"]

_SKIP_CHUNK = 1 << 20  # normals drawn (and discarded) at a time while positioning a generator


@dataclass(frozen=True, eq=False)
class Schedule:
    """The trials drawn from a task: each trial's type and the reward at each of its steps.

    Made by :meth:`Task.schedule`; :func:`drl.simulate` takes one as ``schedule`` (the same trials for several
    populations).

    Parameters
    ----------
    task : Task
        The task drawn from.
    trial_type : torch.Tensor, shape [N], int64
        The index into ``task.trial_types`` of each trial.
    reward : torch.Tensor, shape [N, K], float32
        The reward delivered at each step of each trial (reward units, after utility).
    seed : int
        The seed drawn with.

    Raises
    ------
    TypeError
        A task that is not a Task, arrays that are not tensors.
    ValueError
        Shapes that disagree with each other or with the task's steps.

    See Also
    --------
    Task.schedule : draws one.

    Examples
    --------
    >>> import drl
    >>> schedule = drl.get_task("dabney_variable_magnitude").schedule(100, seed=0)
    >>> schedule.n_trials, tuple(schedule.reward.shape)
    (100, (100, 41))
    """

    task: Task
    trial_type: torch.Tensor
    reward: torch.Tensor
    seed: int = 0

    def __post_init__(self):
        # duck-typed: drl.tasks.model imports this module, so importing Task back would be a cycle
        if not hasattr(self.task, "n_steps") or not hasattr(self.task, "trial_types"):
            raise TypeError(f"Schedule task must be a drl Task; got {type(self.task).__name__}")
        for name in ("trial_type", "reward"):
            if not isinstance(getattr(self, name), torch.Tensor):
                raise TypeError(f"Schedule {name} must be a torch tensor (Schedule.draw makes them); got "
                                f"{type(getattr(self, name)).__name__}")
        if self.reward.ndim != 2:
            raise ValueError(f"Schedule reward must be [trial, step]; got shape {tuple(self.reward.shape)}")
        n, k = self.reward.shape
        if self.trial_type.shape != (n,) or k != self.task.n_steps:
            raise ValueError(
                f"schedule shapes disagree: trial_type {tuple(self.trial_type.shape)}, reward {tuple(self.reward.shape)}, "
                f"task steps {self.task.n_steps}"
            )

    @property
    def n_trials(self) -> int:
        return int(self.trial_type.shape[0])

    @property
    def time(self) -> np.ndarray:
        """The time grid (s), shape [K]."""
        return self.task.time


def _fork(rng: np.random.Generator) -> np.random.Generator:
    copy = np.random.Generator(np.random.PCG64())
    copy.bit_generator.state = rng.bit_generator.state
    return copy


def _skip_normals(rng: np.random.Generator, count: int) -> None:
    while count > 0:
        n = min(count, _SKIP_CHUNK)
        rng.standard_normal(n)
        count -= n


class ScheduleDrawer:
    """Draws ``task.schedule(n_trials, seed)`` block by block: ``block(start, end)`` gives trials [start, end).

    Blocks must follow each other (each starts where the last ended), beginning at ``start`` (a resumed run
    begins mid-way). Memory: one block. Positioning costs one pass of normal draws per reward event
    (~5 ns per trial), nothing for the other draws.
    """

    def __init__(self, task: Task, n_trials: int, seed: int, *, start: int = 0):
        if not 0 <= start <= n_trials:
            raise ValueError(f"start must be in [0, {n_trials}]; got {start}")
        self.task = task
        self.n_trials = n_trials
        self.seed = seed
        self.position = start
        rng = np.random.default_rng(seed)

        def segment(normal: bool = False) -> np.random.Generator:
            """A generator at trial ``start`` of the next segment; ``rng`` moves to the segment's end."""
            if normal:
                _skip_normals(rng, start)
                here = _fork(rng)
                _skip_normals(rng, n_trials - start)
                return here
            rng.bit_generator.advance(start)
            here = _fork(rng)
            rng.bit_generator.advance(n_trials - start)
            return here

        self._types = segment()
        self._events = []  # (trial type index, event, magnitude, noise, delivery, jitter generators)
        for m, ttype in enumerate(task.trial_types):
            for ev in ttype.rewards:
                # Every event draws for every trial (not just its type's) so that one event's draws do not shift
                # another's when frequencies change; the draw order is part of the seed's meaning.
                self._events.append((m, ttype, ev, segment(), segment(normal=True), segment(),
                                     segment() if ev.jitter > 0 else None))

    def block(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Trial types [B] (int64) and rewards [B, K] (float32) of trials ``start`` … ``end − 1``."""
        if start != self.position or not start < end <= self.n_trials:
            raise ValueError(f"blocks are drawn in order: expected a block starting at trial {self.position} and "
                             f"ending by {self.n_trials}; got [{start}, {end})")
        task, n = self.task, end - start
        types = self._types.choice(len(task.trial_types), size=n, p=task.frequencies)
        reward = np.zeros((n, task.n_steps))
        for m, ttype, ev, mag_rng, noise_rng, delivery_rng, jitter_rng in self._events:
            trials = np.flatnonzero(types == m)
            mag = mag_rng.choice(np.asarray(ev.magnitudes), size=n, p=np.asarray(ev.probabilities))
            noise = noise_rng.standard_normal(n) * ev.sd
            delivered = delivery_rng.random(n) < ev.delivery_probability
            offset = jitter_rng.uniform(-ev.jitter, ev.jitter, size=n) if jitter_rng is not None else np.zeros(n)
            value = np.where(delivered, mag + noise, 0.0)
            if task.utility is not None:
                value = np.where(delivered, task.utility(value), 0.0)
            step = np.clip(time_to_step(ttype.cue_time + ev.time + offset, task.dt), 0, task.n_steps - 1)
            np.add.at(reward, (trials, step[trials]), value[trials])  # events on the same step add up
        self.position = end
        return types.astype(np.int64), reward.astype(np.float32)
