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
    """Add ``task`` to the registry of named tasks, so that ``get_task(task.name)`` finds it.

    A registered task can be named wherever a task is taken (``drl.simulate("my_task", ...)``) in this process.

    Parameters
    ----------
    task : Task
        The task.
    overwrite : bool
        Replace a task registered under the same name.

    Returns
    -------
    Task
        ``task``.

    Raises
    ------
    ValueError
        A task of that name is registered and ``overwrite`` is False.
    TypeError
        ``task`` not a Task.

    See Also
    --------
    get_task : finds it.

    Examples
    --------
    >>> import drl
    >>> task = drl.Task("two_cues", 4.0, 0.1, (drl.TrialType("A", 0.5, (drl.RewardEvent(2.0),)),
    ...                                         drl.TrialType("B", 0.5)))
    >>> drl.register_task(task, overwrite=True) is drl.get_task("two_cues")
    True
    """
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
    """The registered task called ``name``.

    Parameters
    ----------
    name : str
        A built-in task's name (``drl tasks`` lists them) or one added with :func:`register_task`.

    Returns
    -------
    Task
        The task.

    Raises
    ------
    ValueError
        An unknown name: the message lists the ones it may mean, and every registered name.
    TypeError
        ``name`` not a string.

    See Also
    --------
    list_tasks : every registered task.
    load_task : a task from a name, a spec file or a Task.

    Examples
    --------
    >>> import drl
    >>> task = drl.get_task("dabney_variable_magnitude")
    >>> task.units, [t.name for t in task.trial_types]
    ('µl', ['variable'])
    """
    if not isinstance(name, str):
        raise TypeError(f"a task name is a string; got {name!r}")
    if name not in _REGISTRY:
        close = _suggestions(name)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown task {name!r}.{hint} Registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def list_tasks() -> list[Task]:
    """All registered tasks, sorted by name.

    Returns
    -------
    list of Task
        The built-in tasks and those added with :func:`register_task`.

    See Also
    --------
    get_task : one by name.

    Examples
    --------
    >>> import drl
    >>> "sousa_2025" in [task.name for task in drl.list_tasks()]
    True
    """
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def load_task(name_or_path) -> Task:
    """A Task from a Task, a registered name, or a ``.toml``/``.json`` spec file.

    New tasks are data: a spec file describes one (``drl task-template`` writes one to start from), and every
    function that takes a task takes a file's path too.

    Parameters
    ----------
    name_or_path : Task or str or path
        A Task (returned as it is), a registered name, or a spec file.

    Returns
    -------
    Task
        The task, checked.

    Raises
    ------
    ValueError
        An unknown name, or a spec file that is not a valid task (the message names the field).
    FileNotFoundError
        A spec file that does not exist.
    TypeError
        Anything else.

    See Also
    --------
    Task.from_file : reads a spec file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import drl
    >>> spec = Path(tempfile.mkdtemp()) / "my_task.json"
    >>> _ = spec.write_text(drl.get_task("hyp_unif").to_json())
    >>> drl.load_task(spec) == drl.get_task("hyp_unif")
    True
    """
    if isinstance(name_or_path, Task):
        return name_or_path
    if not isinstance(name_or_path, str | os.PathLike):
        raise TypeError(f"task must be a drl.Task, a registered task name or a spec file path; got {name_or_path!r}")
    text = str(name_or_path)
    if text.lower().endswith((".toml", ".json")) or Path(text).is_file():
        return Task.from_file(text)
    return get_task(text)
