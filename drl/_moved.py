"""The modules that moved into drl's packages (#47), importable under their old names with a DeprecationWarning.

``import drl.store`` (or ``from drl.store import save``) finds :mod:`drl.runs.store` itself: one module object
under two names, so state and ``isinstance`` checks are shared. Nothing here is imported eagerly: the finder only
answers for the names below.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings

#: old module → where it lives now
MOVED = {
    "drl.task_schema": "drl.tasks.schema",
    "drl.builtin_tasks": "drl.tasks.builtin",
    "drl.registry": "drl.tasks.registry",
    "drl.schedule": "drl.tasks.schedule",
    "drl.distributions": "drl.tasks.distributions",
    "drl.timegrid": "drl.tasks.timegrid",
    "drl.kernel": "drl.engine.kernel",
    "drl.compiled": "drl.engine.compiled.own",
    "drl.compiled_imputed": "drl.engine.compiled.imputed",
    "drl.compiled_imputation": "drl.engine.compiled.imputation",
    "drl.compiled_steps": "drl.engine.compiled.steps",
    "drl.bootstrap": "drl.engine.bootstrap",
    "drl.td": "drl.engine.td",
    "drl.options": "drl.engine.options",
    "drl.features": "drl.engine.features",
    "drl.recording": "drl.engine.sinks",
    "drl.phases": "drl.engine.phases",
    "drl.store": "drl.runs.store",
    "drl.schema": "drl.runs.schema",
    "drl.drl_sim": "drl.runs.drl_sim",
    "drl.convergence": "drl.diagnostics.convergence",
    "drl.cue_code": "drl.diagnostics.cue_code",
    "drl.decode.population": "drl.decode.decoders",
    "drl.plots.population": "drl.plots.responses",
}


def _caller_level() -> int:
    """The stacklevel of the first frame outside the import machinery and this module (the importing line)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen importlib")
                                 or frame.f_code.co_filename == __file__):
        frame, level = frame.f_back, level + 1
    return level


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str):
        self.new = new

    def create_module(self, spec):
        warnings.warn(f"{spec.name} moved to {self.new}; import it from there (the old name will be removed)",
                      DeprecationWarning, stacklevel=_caller_level())
        return importlib.import_module(self.new)

    def exec_module(self, module) -> None:
        """The module is the new one, already executed."""


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds a moved module under its old name (and nothing else)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(MOVED[fullname]))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedFinder())
