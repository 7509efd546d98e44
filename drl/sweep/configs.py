"""Sweep configurations: one dict per run (``CONFIG_FIELDS``), the grid expanded into them, each checked before
anything runs, and the seed of each grid position."""

from __future__ import annotations

import hashlib
import itertools
import json

import numpy as np

from drl._validate import choice
from drl.population import DEFAULT_ALPHA, DEFAULT_LAM

__all__ = ["CONFIG_FIELDS", "POPULATION_FIELDS", "check_config", "derive_seed", "run_config"]


# A run configuration: these keys, with the defaults of drl.simulate / drl.Population.
CONFIG_FIELDS = {
    "task": None,  # built-in name or spec file path (required)
    "n_trials": None,  # required
    "seed": 0,
    "predictors": None,  # None: Population.grid of the list-valued parameters; an int: Population.sample
    "tau": 0.5,
    "alpha": DEFAULT_ALPHA,  # drl's converging defaults, as drl.simulate / drl run (sweeps had 0.1 and 0 before)
    "alpha_pos": None,
    "alpha_neg": None,
    "gamma": 1.0,
    "lam": DEFAULT_LAM,
    "rule": "expectile",
    "update": "offline",
    "features": "csc",
    "bootstrap": "own",
    "preset": None,
    "record": ["value", "rpe", "reward"],
    "record_trials": None,
}


#: Configuration fields that only set the population: runs differing in nothing else can share one engine call.
POPULATION_FIELDS = ("predictors", "tau", "alpha", "alpha_pos", "alpha_neg", "gamma", "lam")


def run_config(base: dict, **changes) -> dict:
    """A complete run configuration: ``CONFIG_FIELDS``' defaults, then ``base``, then ``changes``.

    Parameters
    ----------
    base : dict
        Configuration fields (names of ``CONFIG_FIELDS``); ``task`` and ``n_trials`` are required here or in
        ``changes``.
    **changes
        Fields that override ``base`` (a sweep's grid values for one run).

    Returns
    -------
    dict
        Every field of ``CONFIG_FIELDS``, in plain JSON types: a ``(lo, hi)`` range becomes
        ``{"uniform": [lo, hi]}``, an array a list; ``tau`` and ``alpha`` become None when ``alpha_pos`` or
        ``alpha_neg`` is given.

    Raises
    ------
    ValueError
        An unknown field (the valid ones listed, the closest suggested), or ``task``/``n_trials`` missing.
    TypeError
        A value that is not a number, string, list or None.

    See Also
    --------
    check_config : checks the values as ``simulate`` would.
    drl.sweep.sweep : runs one configuration per grid position.

    Examples
    --------
    >>> from drl.sweep import run_config
    >>> config = run_config({"task": "dabney_variable_magnitude", "n_trials": 200}, lam=0.9)
    >>> config["lam"], config["seed"], config["rule"]
    (0.9, 0, 'expectile')
    >>> run_config({"task": "hyp_unif", "n_trials": 5}, tau=(0.1, 0.9))["tau"]
    {'uniform': [0.1, 0.9]}
    """
    config = dict(CONFIG_FIELDS)
    for key, value in {**base, **changes}.items():
        choice("configuration field", key, CONFIG_FIELDS)
        if isinstance(value, tuple):
            value = {"uniform": list(value)}  # a (lo, hi) range survives JSON as a tagged pair
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        config[key] = value
    for key in ("task", "n_trials"):
        if config[key] is None:
            raise ValueError(f"the base configuration needs {key!r}")
    if config["alpha_pos"] is not None or config["alpha_neg"] is not None:
        config["tau"] = config["alpha"] = None
    return json.loads(json.dumps(config, default=_json_number))  # plain JSON types: the file attribute and the comparison agree


def _json_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"configuration values must be numbers, strings, lists or None; got {value!r}")


def population_of_config(config: dict):
    from drl.population import Population

    def spec(value):  # {"uniform": [lo, hi]} is the JSON form of a (lo, hi) range
        return tuple(value["uniform"]) if isinstance(value, dict) and "uniform" in value else value

    params = {k: spec(config[k]) for k in ("tau", "alpha", "alpha_pos", "alpha_neg", "gamma", "lam")
              if config[k] is not None}
    if config["predictors"] is None:
        return Population.grid(**params)
    return Population.sample(int(config["predictors"]), seed=int(config["seed"]), **params)


def check_config(config: dict, *, tasks: dict | None = None) -> None:
    """Check a complete run configuration without simulating: its task, population, trial count, options and
    recording, with the errors ``simulate`` would raise.

    Parameters
    ----------
    config : dict
        A complete configuration (:func:`run_config`'s).
    tasks : dict, optional
        A cache of loaded tasks by name, shared across calls (a sweep checks every run before a cluster starts).

    Raises
    ------
    ValueError, TypeError
        Naming the field and the value (an unknown task, ``n_trials`` < 1, a bad population, unknown options).

    See Also
    --------
    run_config : builds the configuration.

    Examples
    --------
    >>> from drl.sweep import check_config, run_config
    >>> check_config(run_config({"task": "dabney_variable_magnitude", "n_trials": 200}))
    >>> check_config(run_config({"task": "dabney_variable_magnitude", "n_trials": 0}))
    Traceback (most recent call last):
    ...
    ValueError: n_trials must be an integer >= 1; got 0
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict of run settings (sweep's configs); got {type(config).__name__}")
    missing = sorted({"task", "n_trials", "seed", "rule", "update", "features", "bootstrap", "preset",
                      "record_trials"} - set(config))
    if missing:
        raise ValueError(f"config lacks {missing}: a complete run configuration (sweep's configs) has them all")
    from drl.engine.options import resolve_options
    from drl.engine.sinks import select_trials
    from drl.tasks.model import check_seed
    from drl.tasks.registry import load_task

    key = json.dumps(config["task"])
    task = tasks.get(key) if tasks is not None else None
    if task is None:
        task = load_task(config["task"])
        if tasks is not None:
            tasks[key] = task
    n_trials = config["n_trials"]
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1; got {n_trials!r}")
    check_seed(config["seed"])
    population_of_config(config)
    resolve_options(None, config["rule"], config["update"], config["features"], config["bootstrap"],
                    config["preset"])
    record_trials = config["record_trials"]
    if record_trials is not None and not isinstance(record_trials, int):
        record_trials = np.asarray(record_trials)
    select_trials(record_trials, n_trials)


def derive_seed(base_seed: int, index: int) -> int:
    """The seed of grid position ``index``: ``SeedSequence(base_seed, spawn_key=(index,))``'s first 32-bit word.

    Each position gets an independent stream; the same base seed and grid give the same seeds on every machine.

    Parameters
    ----------
    base_seed : int
        The sweep's base seed (≥ 0).
    index : int
        The run's position in the grid (≥ 0; the last field varies fastest).

    Returns
    -------
    int
        A seed in [0, 2³²).

    Raises
    ------
    ValueError
        A negative or non-integer ``base_seed`` or ``index``.

    Examples
    --------
    >>> from drl.sweep import derive_seed
    >>> derive_seed(0, 0), derive_seed(0, 1)
    (3757552657, 673228719)
    """
    for name, value in (("base_seed", base_seed), ("index", index)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(f"{name} must be an integer ≥ 0; got {value!r}")
    return int(np.random.SeedSequence(int(base_seed), spawn_key=(int(index),)).generate_state(1)[0])


def expand_grid(base: dict, grid: dict, shared_seed: bool = False) -> tuple[list[str], list[dict]]:
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid must be a non-empty dict of field -> list of values; got {grid!r}")
    fields = list(grid)
    for field in fields:
        choice("grid field", field, CONFIG_FIELDS)
        values = grid[field]
        if isinstance(values, str) or not hasattr(values, "__len__"):
            raise TypeError(f"grid[{field!r}] must be a list of values; got {values!r}")
        if len(values) == 0:
            raise ValueError(f"grid[{field!r}] is empty; give at least one value")
    from drl.tasks.model import check_seed

    check_seed(base.get("seed", 0), "base seed")  # derived seeds would otherwise hide a bad one (1.5 ran as 1)
    configs = []
    for index, combo in enumerate(itertools.product(*(list(grid[f]) for f in fields))):
        changes = dict(zip(fields, combo, strict=True))
        if "seed" not in grid and not shared_seed:
            changes["seed"] = derive_seed(base.get("seed", 0), index)
        configs.append(run_config(base, **changes))
    return fields, configs


def grid_fingerprint(base: dict, grid: dict, shared_seed: bool = False) -> str:
    described = {"base": base, "grid": grid, **({"shared_seed": True} if shared_seed else {})}
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
