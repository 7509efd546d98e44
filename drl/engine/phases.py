"""Tasks that change during a session, as data: a protocol of phases, each a task learned for some trials.

A phase is a task and a number of trials; the population learns the phases one after another, each starting
from the weights the previous one ended with. Examples: a reward delay removed mid-session (Sousa et al. 2025's
time manipulation), a distribution swapped, satiety as a change of utility. Every phase is a task spec, so a
change is written as data (a task variant), never as code.

The phases must share what the weights mean: the time grid (``duration``, ``dt``) and the trial types (names and
cue times), so that each phase's features are the previous phase's. Rewards, probabilities, frequencies and
utility may change, and so may the population's parameters (a phase's own ``population``: e.g. discounts that
adapt to the delays the task now predicts, :func:`adapted_gamma`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import xarray as xr

from drl._validate import integer
from drl.population import Population
from drl.tasks.model import Task
from drl.tasks.registry import load_task

__all__ = ["Phase", "adapted_gamma", "mean_delay", "simulate_phases"]


@dataclass(frozen=True)
class Phase:
    """One phase of a protocol: a task learned for a number of trials.

    Parameters
    ----------
    task : Task or str or path
        The task (a Task, a registered name or a spec file).
    n_trials : int
        Trials of this phase (≥ 1).
    population : Population, optional
        The same predictors with other parameters from this phase on (e.g. :func:`adapted_gamma`); default: the
        protocol's population, as it was.

    Raises
    ------
    ValueError
        ``n_trials`` below 1.
    TypeError
        ``population`` not a Population.

    See Also
    --------
    simulate_phases : runs a protocol of phases, the weights carried from one to the next.

    Examples
    --------
    >>> import dataclasses
    >>> import drl
    >>> task = drl.get_task("sousa_2025")
    >>> withdrawn = dataclasses.replace(task, trial_types=tuple(
    ...     dataclasses.replace(t, frequency=0.0) if t.name == "delay_0s" else t for t in task.trial_types))
    >>> protocol = [drl.Phase(task, 300), drl.Phase(withdrawn, 300)]
    >>> runs = drl.simulate_phases(protocol, drl.Population.grid(gamma=[0.6, 0.9], tau=0.5), progress=False)
    >>> [run.sizes["trial"] for run in runs]  # one run per phase, the second starting where the first ended
    [300, 300]
    """

    task: Task
    n_trials: int
    population: Population | None = None

    def __post_init__(self):
        object.__setattr__(self, "task", load_task(self.task))
        object.__setattr__(self, "n_trials", integer("n_trials", self.n_trials, minimum=1))
        if self.population is not None and not isinstance(self.population, Population):
            raise TypeError(f"Phase population must be a drl.Population; got {type(self.population).__name__}")


def mean_delay(task) -> float:
    """The mean time from a cue to its rewards over the task's trials.

    Each reward event's time weighted by its trial type's frequency (types with frequency 0 are not presented) and
    its chance of delivery.

    Parameters
    ----------
    task : Task or str or path
        A task, a registered name or a spec file.

    Returns
    -------
    float
        The mean delay (s).

    Raises
    ------
    ValueError
        A task that presents no reward.

    See Also
    --------
    adapted_gamma : discounts adapted between two tasks' mean delays.

    Examples
    --------
    >>> import drl
    >>> drl.mean_delay("sousa_2025")  # 0, 1.5, 3 and 6 s, and the variable cue at 3 s, equally often
    2.7
    """
    task = load_task(task)
    weights, times = [], []
    total = sum(t.frequency for t in task.trial_types)
    for spec in task.trial_types:
        for event in spec.rewards:
            weights.append(spec.frequency / total * event.delivery_probability)
            times.append(event.time)
    weights, times = np.asarray(weights, float), np.asarray(times, float)
    if weights.sum() <= 0:
        raise ValueError(f"task {task.name!r} presents no reward: it has no mean delay")
    return float(weights @ times / weights.sum())


def adapted_gamma(population: Population, task, reference) -> Population:
    """The population with each discount adapted from the task ``reference`` to ``task``.

    ``γ' = γ^(D/D')``, D and D' the two tasks' mean delays (:func:`mean_delay`), so that every neuron discounts
    the mean delay it now expects as much as it discounted the one before (γ'^D' = γ^D). A task whose rewards
    come later (its shortest delay withdrawn) raises every γ, one whose rewards come sooner (its longest
    withdrawn) lowers it: a model in which the discount follows the delays a cue predicts, beside the fixed-γ one.

    Parameters
    ----------
    population : Population
        The population learning ``reference``.
    task : Task or str or path
        The task it moves to.
    reference : Task or str or path
        The task its discounts were set for.

    Returns
    -------
    Population
        The same predictors with the adapted γ (per s).

    Raises
    ------
    ValueError
        A task whose mean delay is 0 s, or that presents no reward.
    TypeError
        ``population`` not a Population.

    See Also
    --------
    simulate_phases : a protocol whose phases may each take such a population.

    Examples
    --------
    >>> import dataclasses
    >>> import drl
    >>> task = drl.get_task("sousa_2025")
    >>> later = dataclasses.replace(task, trial_types=tuple(  # the shortest delay withdrawn
    ...     dataclasses.replace(t, frequency=0.0) if t.name == "delay_0s" else t for t in task.trial_types))
    >>> population = drl.Population.grid(gamma=[0.5, 0.9], tau=0.5)
    >>> drl.adapted_gamma(population, later, task).gamma.round(3).tolist()  # rewards come later: longer horizons
    [0.574, 0.919]
    """
    if not isinstance(population, Population):
        raise TypeError(f"population must be a drl.Population; got {type(population).__name__}")
    before, after = mean_delay(reference), mean_delay(task)
    if before <= 0 or after <= 0:
        raise ValueError(f"adapting γ needs mean delays above 0 s; got {before:g} s and {after:g} s")
    return dataclasses.replace(population, gamma=population.gamma ** (before / after))


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

    Parameters
    ----------
    phases : list of Phase or (task, n_trials) pairs
        The phases in order; a :class:`Phase` may carry its own population (the same predictors with other
        parameters from then on, e.g. :func:`adapted_gamma`).
    population : Population
        The predictors, for every phase that gives none.
    seed : int
        Phase ``i`` draws its trials with seed ``seed + i`` (deterministic, and a phase's trials do not repeat
        the previous phase's).
    **options
        Any other argument of :func:`drl.simulate` (``rule``, ``record``, ``record_trials``, ``progress``, …),
        the same for every phase; not ``out`` or ``initial_weights``.

    Returns
    -------
    list of xarray.Dataset
        One run per phase, each a complete run of its own task (every figure and decoder reads it); the first
        starts from zeros and each later one from the weights the one before ended with. Their attrs add
        ``phase`` (its index), ``first_trial`` (its first trial's number in the session) and ``protocol``
        (every phase's task name and trials). A later phase records ``initial_weights`` and cannot be rerun
        alone.

    Raises
    ------
    TypeError, ValueError
        No phase, a phase that is not a Phase or pair, a later task that changes the trial types, time grid or
        features of the first, a phase population of another size, or ``out=``/``initial_weights=``.

    Examples
    --------
    Dabney et al.'s variable-magnitude task, then its magnitudes doubled (a new task with the same trial types):

    >>> import dataclasses
    >>> import drl
    >>> task = drl.get_task("dabney_variable_magnitude")
    >>> event = task.trial_types[0].rewards[0]
    >>> doubled = dataclasses.replace(task, name="doubled", trial_types=(dataclasses.replace(
    ...     task.trial_types[0], rewards=(dataclasses.replace(event, magnitudes=tuple(2 * m for m in event.magnitudes)),)),))
    >>> before, after = drl.simulate_phases([(task, 300), (doubled, 300)], drl.Population.grid(tau=[0.3, 0.7]),
    ...                                     progress=False)
    >>> after.attrs["phase"], after.attrs["first_trial"]
    (1, 300)
    """
    from drl.engine.simulation import simulate

    protocol = _phases(phases)
    seed = integer("seed", seed, minimum=0)
    for forbidden in ("out", "initial_weights", "n_trials", "schedule"):
        if forbidden in options:
            raise ValueError(f"simulate_phases takes no {forbidden}= (each phase gives its own trials and starts "
                             "from the weights before it)")
    summary = [{"task": p.task.name, "n_trials": p.n_trials} for p in protocol]
    for i, phase in enumerate(protocol):
        if phase.population is not None and phase.population.gamma.size != population.gamma.size:
            raise ValueError(f"phase {i} gives a population of {phase.population.gamma.size} predictors; the "
                             f"protocol's has {population.gamma.size} (a phase changes parameters, not predictors)")
    runs, first_trial = [], 0
    for i, phase in enumerate(protocol):
        weights = runs[-1]["weights"].values if runs else None
        run = simulate(phase.task, phase.population or population, phase.n_trials, seed=seed + i,
                       initial_weights=weights, **options)
        run.attrs.update(phase=i, first_trial=first_trial, protocol=summary)
        runs.append(run)
        first_trial += phase.n_trials
    return runs
