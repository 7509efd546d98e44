"""Named tasks: the registry behind ``get_task``/``drl run NAME``, holding the built-ins and the user's own.

Kept apart from :mod:`drl.tasks.model` (what a task is) and :mod:`drl.tasks.builtin` (the tasks drl ships) so that
imports go one way: registry → builtin → model. The registry is per process; ``register_task`` adds to
it, nothing else changes it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from drl.tasks import builtin as builtin_tasks
from drl.tasks.model import Task

__all__ = ["register_task", "get_task", "list_tasks", "load_task"]

_REGISTRY: dict[str, Task] = {task.name: task for task in builtin_tasks.BUILTIN_TASKS}


def register_task(task: Task, *, overwrite: bool = False) -> Task:
    """Add ``task`` to the registry of named tasks (``get_task(task.name)`` then finds it)."""
    if not isinstance(task, Task):
        raise TypeError(f"register_task expects a Task; got {type(task).__name__}")
    if task.name in _REGISTRY and not overwrite:
        raise ValueError(f"a task named {task.name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[task.name] = task
    return task


def _suggestions(name: str) -> list[str]:
    """Registered names that start with or contain ``name``, then the closest spellings."""
    key = name.lower()
    found = [n for n in sorted(_REGISTRY) if n.lower().startswith(key)]
    found += [n for n in sorted(_REGISTRY) if key in n.lower() and n not in found]
    found += [n for n in difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.4) if n not in found]
    return found[:5]


def get_task(name: str) -> Task:
    """The registered task called ``name``; an unknown name lists the ones it may mean."""
    if not isinstance(name, str):
        raise TypeError(f"a task name is a string; got {name!r}")
    if name not in _REGISTRY:
        close = _suggestions(name)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown task {name!r}.{hint} Registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def list_tasks() -> list[Task]:
    """All registered tasks, sorted by name."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def load_task(name_or_path) -> Task:
    """A Task from a Task, a registered name, or a ``.toml``/``.json`` spec file."""
    if isinstance(name_or_path, Task):
        return name_or_path
    if not isinstance(name_or_path, str | os.PathLike):
        raise TypeError(f"task must be a drl.Task, a registered task name or a spec file path; got {name_or_path!r}")
    text = str(name_or_path)
    if text.lower().endswith((".toml", ".json")) or Path(text).is_file():
        return Task.from_file(text)
    return get_task(text)
