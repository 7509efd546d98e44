"""drl: populations of distributional TD(λ) value predictors on classical-conditioning tasks.

Simulate (:func:`simulate`), store (:func:`save`, :func:`load`), plot (:mod:`drl.plots`) and decode
(:mod:`drl.decode`) runs; every stage exchanges one labelled ``xarray.Dataset`` (docs/drl.md).

``import drl`` imports nothing heavy: each public name, and each submodule, is imported on first use
(PEP 562), so ``drl --help`` and scripts that only need part of drl start in a fraction of a second.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

#: Where each public name lives; ``drl.<name>`` imports that module on first use.
_EXPORTS = {
    "ConvergenceWarning": "drl.convergence",
    "convergence": "drl.convergence",
    "CueCodeWarning": "drl.cue_code",
    "cue_code": "drl.cue_code",
    "RewardDistribution": "drl.distributions",
    "import_drl_sim": "drl.drl_sim",
    "rerun": "drl.engine",
    "resume": "drl.engine",
    "simulate": "drl.engine",
    "CSC": "drl.features",
    "Microstimulus": "drl.features",
    "make_features": "drl.features",
    "register_features": "drl.features",
    "NonFiniteValueError": "drl.kernel",
    "PRESETS": "drl.options",
    "EngineOptions": "drl.options",
    "Population": "drl.population",
    "Phase": "drl.phases",
    "simulate_phases": "drl.phases",
    "adapted_gamma": "drl.phases",
    "mean_delay": "drl.phases",
    "RunTooLargeError": "drl.recording",
    "get_task": "drl.registry",
    "list_tasks": "drl.registry",
    "load_task": "drl.registry",
    "register_task": "drl.registry",
    "Schedule": "drl.schedule",
    "SCHEMA_VERSION": "drl.schema",
    "validate_dataset": "drl.schema",
    "list_runs": "drl.store",
    "load": "drl.store",
    "open_run": "drl.store",
    "save": "drl.store",
    "RewardEvent": "drl.tasks",
    "Task": "drl.tasks",
    "TrialType": "drl.tasks",
    "Utility": "drl.tasks",
}

#: Submodules reachable as attributes after a bare ``import drl`` (``drl.plots.summary(...)``).
_SUBMODULES = ("decode", "plots", "sweep", "widgets", "spice", "store", "schema", "tasks", "engine", "td",
               "convergence", "cue_code", "registry", "recording", "options", "kernel", "compiled", "bootstrap", "features", "task_schema",
               "population", "schedule", "distributions", "drl_sim", "timegrid", "responses", "builtin_tasks", "cli",
               "reproduce", "phases")


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"drl.{name}")
    raise AttributeError(f"module 'drl' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS, *_SUBMODULES])


class _Package(types.ModuleType):
    """``drl.convergence`` (and ``drl.cue_code``) is the function, although a submodule has that name too: importing the submodule
    (which Python binds on the package) must not hide the function, as the eager import once ensured."""

    def __setattr__(self, name, value):
        if name in _EXPORTS and isinstance(value, types.ModuleType) and value.__name__ == f"drl.{name}":
            return  # the submodule stays reachable as sys.modules["drl.convergence"] and by `from … import`
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = sorted([*_EXPORTS, "decode"])
