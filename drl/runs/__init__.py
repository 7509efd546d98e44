"""Runs on disk: :mod:`~drl.runs.store` (save, load, list; atomic writes, never a silent overwrite),
:mod:`~drl.runs.schema` (what a run Dataset holds, built and validated) and :mod:`~drl.runs.drl_sim` (drl_sim's
files read in)."""

from drl._lazy import lazy_exports

_EXPORTS = {
    "save": "drl.runs.store", "load": "drl.runs.store", "open_run": "drl.runs.store", "list_runs": "drl.runs.store",
    "SCHEMA_VERSION": "drl.runs.schema", "validate_dataset": "drl.runs.schema", "import_drl_sim": "drl.runs.drl_sim",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
