"""drl: populations of distributional TD(λ) value predictors on classical-conditioning tasks.

Simulate (:func:`simulate`), store (:func:`save`, :func:`load`), plot (:mod:`drl.plots`) and decode
(:mod:`drl.decode`) runs; every stage exchanges one labelled ``xarray.Dataset`` (docs/drl.md).
"""

from drl import decode as decode
from drl.convergence import ConvergenceWarning as ConvergenceWarning
from drl.convergence import convergence as convergence
from drl.drl_sim import import_drl_sim as import_drl_sim
from drl.engine import rerun as rerun
from drl.engine import resume as resume
from drl.engine import simulate as simulate
from drl.features import CSC as CSC
from drl.features import Microstimulus as Microstimulus
from drl.features import make_features as make_features
from drl.features import register_features as register_features
from drl.kernel import NonFiniteValueError as NonFiniteValueError
from drl.options import PRESETS as PRESETS
from drl.options import EngineOptions as EngineOptions
from drl.population import Population as Population
from drl.recording import RunTooLargeError as RunTooLargeError
from drl.registry import get_task as get_task
from drl.registry import list_tasks as list_tasks
from drl.registry import load_task as load_task
from drl.registry import register_task as register_task
from drl.schedule import Schedule as Schedule
from drl.schema import SCHEMA_VERSION as SCHEMA_VERSION
from drl.schema import validate_dataset as validate_dataset
from drl.store import list_runs as list_runs
from drl.store import load as load
from drl.store import open_run as open_run
from drl.store import save as save
from drl.tasks import RewardDistribution as RewardDistribution
from drl.tasks import RewardEvent as RewardEvent
from drl.tasks import Task as Task
from drl.tasks import TrialType as TrialType
from drl.tasks import Utility as Utility

__version__ = "0.1.0"

#: Submodules imported on first use (``import drl`` then ``drl.plots.…``), so ``import drl`` stays light.
_LAZY_SUBMODULES = ("plots", "sweep", "widgets", "spice")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"drl.{name}")
    raise AttributeError(f"module 'drl' has no attribute {name!r}")

__all__ = [
    "CSC",
    "ConvergenceWarning",
    "EngineOptions",
    "Microstimulus",
    "NonFiniteValueError",
    "PRESETS",
    "Population",
    "RewardDistribution",
    "RewardEvent",
    "RunTooLargeError",
    "SCHEMA_VERSION",
    "Schedule",
    "Task",
    "TrialType",
    "Utility",
    "get_task",
    "import_drl_sim",
    "list_runs",
    "list_tasks",
    "load",
    "load_task",
    "convergence",
    "make_features",
    "open_run",
    "register_features",
    "register_task",
    "rerun",
    "resume",
    "save",
    "simulate",
    "validate_dataset",
]
