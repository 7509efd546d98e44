"""drl: populations of distributional TD(λ) value predictors on classical-conditioning tasks.

Simulate (:func:`simulate`), store (:func:`save`, :func:`load`), plot (:mod:`drl.plots`) and decode
(:mod:`drl.decode`) runs; every stage exchanges one labelled ``xarray.Dataset`` (docs/guide/file_format.md).

``import drl`` imports nothing heavy: each public name, and each submodule, is imported on first use
(PEP 562), so ``drl --help`` and scripts that only need part of drl start in a fraction of a second.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

from drl import _moved

if TYPE_CHECKING:  # what IDEs and type checkers see of the lazy names below (nothing imported at run time)
    from drl.diagnostics.convergence import ConvergenceWarning, convergence
    from drl.diagnostics.cue_code import CueCodeWarning, cue_code
    from drl.engine.continuation import rerun, resume
    from drl.engine.features import CSC, Microstimulus, make_features, register_features
    from drl.engine.kernel import NonFiniteValueError
    from drl.engine.options import PRESETS, EngineOptions
    from drl.engine.phases import Phase, adapted_gamma, mean_delay, simulate_phases
    from drl.engine.simulation import simulate
    from drl.engine.sinks import RunTooLargeError
    from drl.population import Population
    from drl.runs.drl_sim import import_drl_sim
    from drl.runs.schema import SCHEMA_VERSION, validate_dataset
    from drl.runs.store import list_runs, load, open_run, save
    from drl.tasks.distributions import RewardDistribution
    from drl.tasks.events import RewardEvent, TrialType, Utility
    from drl.tasks.model import Task
    from drl.tasks.registry import get_task, list_tasks, load_task, register_task
    from drl.tasks.schedule import Schedule


__version__ = "0.1.0"

#: Where each public name lives; ``drl.<name>`` imports that module on first use.
_EXPORTS = {
    "ConvergenceWarning": "drl.diagnostics.convergence",
    "convergence": "drl.diagnostics.convergence",
    "CueCodeWarning": "drl.diagnostics.cue_code",
    "cue_code": "drl.diagnostics.cue_code",
    "RewardDistribution": "drl.tasks.distributions",
    "import_drl_sim": "drl.runs.drl_sim",
    "rerun": "drl.engine.continuation",
    "resume": "drl.engine.continuation",
    "simulate": "drl.engine.simulation",
    "CSC": "drl.engine.features",
    "Microstimulus": "drl.engine.features",
    "make_features": "drl.engine.features",
    "register_features": "drl.engine.features",
    "NonFiniteValueError": "drl.engine.kernel",
    "PRESETS": "drl.engine.options",
    "EngineOptions": "drl.engine.options",
    "Population": "drl.population",
    "Phase": "drl.engine.phases",
    "simulate_phases": "drl.engine.phases",
    "adapted_gamma": "drl.engine.phases",
    "mean_delay": "drl.engine.phases",
    "RunTooLargeError": "drl.engine.sinks",
    "get_task": "drl.tasks.registry",
    "list_tasks": "drl.tasks.registry",
    "load_task": "drl.tasks.registry",
    "register_task": "drl.tasks.registry",
    "Schedule": "drl.tasks.schedule",
    "SCHEMA_VERSION": "drl.runs.schema",
    "validate_dataset": "drl.runs.schema",
    "list_runs": "drl.runs.store",
    "load": "drl.runs.store",
    "open_run": "drl.runs.store",
    "save": "drl.runs.store",
    "RewardEvent": "drl.tasks.events",
    "Task": "drl.tasks.model",
    "TrialType": "drl.tasks.events",
    "Utility": "drl.tasks.events",
}

#: The packages by job (and the top level's own modules), reachable as attributes after a bare ``import drl``
#: (``drl.plots.summary(...)``): tasks → engine → runs → diagnostics → responses → decode → plots, reproduce,
#: sweep, spice.
_SUBMODULES = ("tasks", "engine", "runs", "diagnostics", "responses", "decode", "plots", "reproduce", "sweep",
               "spice", "widgets", "population", "cli")

_moved.install()  # the modules that moved into the packages, under their old names (DeprecationWarning)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"drl.{name}")
    if f"drl.{name}" in _moved.MOVED:  # drl.store and the like: the moved module, with a DeprecationWarning
        return importlib.import_module(f"drl.{name}")
    raise AttributeError(f"module 'drl' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS, *_SUBMODULES])


class _Package(types.ModuleType):
    """``drl.convergence`` and ``drl.cue_code`` are the functions. Their modules live in :mod:`drl.diagnostics`; the
    old module names still import (deprecated, :mod:`drl._moved`), and Python binds an imported submodule on its
    package: that must not replace the function."""

    def __setattr__(self, name, value):
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return  # the moved module stays reachable as sys.modules["drl.convergence"] and by `from … import`
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "CSC",
    "ConvergenceWarning",
    "CueCodeWarning",
    "EngineOptions",
    "Microstimulus",
    "NonFiniteValueError",
    "PRESETS",
    "Phase",
    "Population",
    "RewardDistribution",
    "RewardEvent",
    "RunTooLargeError",
    "SCHEMA_VERSION",
    "Schedule",
    "Task",
    "TrialType",
    "Utility",
    "adapted_gamma",
    "convergence",
    "cue_code",
    "decode",
    "get_task",
    "import_drl_sim",
    "list_runs",
    "list_tasks",
    "load",
    "load_task",
    "make_features",
    "mean_delay",
    "open_run",
    "register_features",
    "register_task",
    "rerun",
    "resume",
    "save",
    "simulate",
    "simulate_phases",
    "validate_dataset",
]
