"""Tasks as data: what a classical-conditioning experiment is, read from spec files or built in.

* :mod:`~drl.tasks.model`: :class:`Task`, :class:`TrialType`, :class:`RewardEvent`, :class:`Utility` (frozen
  dataclasses that validate themselves) and their spec files (TOML/JSON, checked against
  :mod:`~drl.tasks.schema`);
* :mod:`~drl.tasks.distributions` (a trial type's reward and return distributions), :mod:`~drl.tasks.schedule`
  (the random trial order), :mod:`~drl.tasks.timegrid` (seconds to steps);
* :mod:`~drl.tasks.builtin` (the papers' tasks) and :mod:`~drl.tasks.registry` (the process's tasks by name).

Imports go one way: registry → builtin → model → distributions, schedule → timegrid.
"""

from drl._lazy import lazy_exports

_EXPORTS = {
    "Task": "drl.tasks.model", "TrialType": "drl.tasks.events", "RewardEvent": "drl.tasks.events",
    "Utility": "drl.tasks.events", "RewardDistribution": "drl.tasks.distributions", "Schedule": "drl.tasks.schedule",
    "get_task": "drl.tasks.registry", "list_tasks": "drl.tasks.registry", "load_task": "drl.tasks.registry",
    "register_task": "drl.tasks.registry",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
