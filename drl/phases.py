"""Tasks that change during a session, as data: a protocol of phases, each a task learned for some trials.

A phase is a task and a number of trials; the population learns the phases one after another, each starting
from the weights the previous one ended with. Examples: a reward delay removed mid-session (Sousa et al. 2025's
time manipulation), a distribution swapped, satiety as a change of utility. Every phase is a task spec, so a
change is written as data (a task variant), never as code.

The phases must share what the weights mean: the time grid (``duration``, ``dt``) and the trial types (names and
cue times), so that each phase's features are the previous phase's. Rewards, probabilities, frequencies and
utility may change.
"""

from __future__ import annotations

from dataclasses import dataclass

import xarray as xr

from drl._validate import integer
from drl.registry import load_task
from drl.tasks import Task

__all__ = ["Phase", "simulate_phases"]


@dataclass(frozen=True)
class Phase:
    """One phase of a protocol: ``task`` (a Task, a registered name or a spec file) learned for ``n_trials``."""

    task: Task
    n_trials: int

    def __post_init__(self):
        object.__setattr__(self, "task", load_task(self.task))
        object.__setattr__(self, "n_trials", integer("n_trials", self.n_trials, minimum=1))


def _phases(phases) -> list[Phase]:
    """The protocol as Phases, checked: at least one, each a Phase or (task, n_trials), all compatible."""
    if isinstance(phases, Phase) or not hasattr(phases, "__iter__") or isinstance(phases, str | dict):
        raise TypeError("phases must be a list of Phase or (task, n_trials) pairs")
    out = [p if isinstance(p, Phase) else Phase(*p) for p in phases]
    if not out:
        raise ValueError("phases must hold at least one phase")
    first = out[0].task
    for i, phase in enumerate(out[1:], start=1):
        task = phase.task
        for name, a, b in (("duration", first.duration, task.duration), ("dt", first.dt, task.dt),
                           ("trial types", first.trial_type_names, task.trial_type_names),
                           ("cue times", [t.cue_time for t in first.trial_types],
                            [t.cue_time for t in task.trial_types])):
            if a != b:
                raise ValueError(f"phase {i} ({task.name!r}) changes the {name} of phase 0 ({first.name!r}): "
                                 f"{b} against {a}. Phases share the time grid and the trial types (their names "
                                 "and cue times) so that the weights mean the same; change rewards, probabilities, "
                                 "frequencies or utility instead")
    return out


def simulate_phases(phases, population, *, seed: int = 0, **options) -> list[xr.Dataset]:
    """Simulate ``population`` learning the ``phases`` one after another (a task that changes during a session).

    Args:
      phases: a list of :class:`Phase` or ``(task, n_trials)`` pairs.
      population: the predictors (:class:`drl.Population`).
      seed: phase ``i`` draws its trials with seed ``seed + i`` (deterministic, and a phase's trials do not
        repeat the previous phase's).
      options: any other argument of :func:`drl.simulate` (rule, record, record_trials, progress, …), the same
        for every phase; not ``out`` or ``initial_weights``.

    Returns one run per phase, each a complete run of its own task (every figure and decoder reads it), whose
    first phase starts from zeros and each later one from the weights the one before ended with. Their attrs add
    ``phase`` (its index), ``first_trial`` (its first trial's number in the session) and ``protocol`` (every
    phase's task name and trials). A later phase records ``initial_weights`` and cannot be rerun alone.
    """
    from drl.engine import simulate

    protocol = _phases(phases)
    seed = integer("seed", seed, minimum=0)
    for forbidden in ("out", "initial_weights", "n_trials", "schedule"):
        if forbidden in options:
            raise ValueError(f"simulate_phases takes no {forbidden}= (each phase gives its own trials and starts "
                             "from the weights before it)")
    summary = [{"task": p.task.name, "n_trials": p.n_trials} for p in protocol]
    runs, first_trial = [], 0
    for i, phase in enumerate(protocol):
        weights = runs[-1]["weights"].values if runs else None
        run = simulate(phase.task, population, phase.n_trials, seed=seed + i, initial_weights=weights, **options)
        run.attrs.update(phase=i, first_trial=first_trial, protocol=summary)
        runs.append(run)
        first_trial += phase.n_trials
    return runs
