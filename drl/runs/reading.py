"""Reading a run: one layer that figures, decoders and the engine go through instead of re-deriving what a run
holds, and ``run.drl``, the xarray accessor that resolves a run once.

A public entry opens a run (:func:`drl.open_run`: a path is loaded, a Dataset validated) and hands the Dataset
down; ``run.drl`` keeps, for that Dataset object, whether it was validated, its task (the spec parsed once), its
options and its population, so the layers below read them without opening, validating or parsing again. A new
Dataset (``run.isel(...)``) has its own ``run.drl``. Change a run's attributes in place and its ``run.drl`` no
longer describes it: build a new Dataset instead (``run.assign_attrs(...)``).
"""

from __future__ import annotations

import functools
import json
import weakref

import numpy as np
import xarray as xr

from drl.runs.schema import model_convention, validate_dataset

__all__ = ["RunAccessor", "learned_trials", "population_from_dataset", "require_values", "reward_units",
           "run_options", "run_task", "step_index", "task_from_json", "trials_of_type", "validated"]


class RunAccessor:
    """``run.drl``: what a drl run holds, resolved once per Dataset.

    Examples
    --------
    >>> import drl
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.3, 0.7]), 50, progress=False)
    >>> run.drl.task.name, run.drl.options["rule"]
    ('dabney_variable_magnitude', 'expectile')
    >>> int(run.drl.learned_trials("variable").sizes["trial"])
    25
    """

    def __init__(self, run: xr.Dataset, state: dict):
        self._run = run
        self._state = state  # what is known of this Dataset object, kept by _RunAccess

    def validated(self, source: str = "dataset") -> xr.Dataset:
        """The run, checked against the drl schema the first time (``validate_dataset``; ``source`` names it in
        the error) and not again."""
        if not self._state.get("validated"):
            validate_dataset(self._run, source)
            self._state["validated"] = True
        return self._run

    def _once(self, key: str, make):
        if key not in self._state:
            self._state[key] = make(self._run)
        return self._state[key]

    @property
    def task(self):
        """The :class:`drl.Task` the run simulated."""
        return self._once("task", _task_of)

    @property
    def options(self) -> dict:
        """The model options (``convention`` filled in for schema-1 runs); a copy is yours to change."""
        return dict(self._once("options", _options_of))

    @property
    def population(self):
        """The :class:`drl.Population` of the run's predictors."""
        return self._once("population", population_from_dataset)

    @property
    def units(self) -> str:
        """The reward unit of the run's task."""
        return reward_units(self._run)

    def learned_trials(self, trial_type: str, learned_fraction: float = 0.5) -> xr.Dataset:
        """The last ``learned_fraction`` of the recorded trials of ``trial_type``: the run after learning."""
        return learned_trials(self._run, trial_type, learned_fraction)

    def step(self, time: float) -> int:
        """The index along ``time`` of the recorded step at ``time`` (s)."""
        return step_index(self._run, time)


class _RunAccess:
    """``xarray.Dataset.drl``: a :class:`RunAccessor` of the Dataset, whose state (validated, task, options,
    population) lives here per Dataset object until the Dataset is freed.

    Not ``xarray.register_dataset_accessor``: xarray keeps a registered accessor on its Dataset, and the accessor
    keeps the Dataset, so every run read through it became a reference cycle, left to the cyclic collector, which
    closes the run's file in whatever thread it runs (a Dask one, while netCDF-C, not thread-safe, opens another
    file: the test process crashed once). Here the state holds no reference to the Dataset."""

    def __init__(self):
        self._states: dict[int, dict] = {}

    def __get__(self, run, owner=None):
        if run is None:
            return RunAccessor
        key = id(run)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = {}
            weakref.finalize(run, self._states.pop, key, None)
        return RunAccessor(run, state)


xr.Dataset.drl = _RunAccess()


def validated(run, source: str = "dataset") -> xr.Dataset:
    """``run`` checked against the drl schema once per Dataset (``run.drl.validated``); anything but a Dataset is
    a TypeError naming ``source``."""
    if not isinstance(run, xr.Dataset):
        return validate_dataset(run, source)  # raises, naming source and the type given
    return run.drl.validated(source)


def trials_of_type(ds: xr.Dataset, trial_type: str) -> xr.Dataset:
    """The recorded trials of ``trial_type`` (a name); the error lists the valid names."""
    from drl._validate import choice

    choice("trial type", trial_type, [str(n) for n in ds["type"].values])
    sub = ds.isel(trial=np.flatnonzero(ds["trial_type"].values == trial_type))
    if sub.sizes["trial"] == 0:
        raise ValueError(f"no recorded trial of type {trial_type!r} in this run")
    return sub


def population_from_dataset(ds: xr.Dataset):
    """The Population stored in a run's predictor coordinates."""
    from drl.population import Population

    return Population(
        ds["alpha_pos"].values, ds["alpha_neg"].values, ds["gamma"].values, ds["lam"].values
    )


def run_options(ds: xr.Dataset) -> dict:
    """The model options of a run (its ``options`` attribute), with ``convention`` filled in for schema-1 runs.

    ``convention`` 1: the arriving reward was discounted (δ_k = γ^dt·(r_k + V_k) − V_{k−1}); 2: textbook TD.
    """
    return dict(ds.drl.options)


def _options_of(ds: xr.Dataset) -> dict:
    options = dict(ds.attrs.get("options", {}))
    options.setdefault("convention", model_convention(int(ds.attrs.get("schema_version", 1))))
    return options


@functools.lru_cache(maxsize=64)
def task_from_json(text: str):
    """The :class:`drl.Task` of a spec's JSON text (sorted keys), parsed once per distinct text."""
    from drl.tasks.model import Task

    return Task.from_dict(json.loads(text), source="the run's task attribute")


def run_task(ds: xr.Dataset):
    """The :class:`drl.Task` a run simulated (``ds.drl.task``: read once per Dataset)."""
    return ds.drl.task


def _task_of(ds: xr.Dataset):
    """The task rebuilt from a run's ``task`` attribute (once per distinct spec: the JSON is parsed once)."""
    spec = ds.attrs.get("task")
    if not isinstance(spec, dict):
        raise ValueError(f"this run has no task spec (attribute 'task' is {type(spec).__name__})")
    imported = dict(ds.attrs.get("options", {})).get("imported_from")
    if imported:
        raise ValueError(f"this run was imported from drl_sim ({imported}), which saved no task spec: its cues and "
                         "reward events are unknown here. Decode its arrays directly (drl.decode.decode_distribution), "
                         "or rebuild the configuration with drl.runs.drl_sim.task_from_tensors and simulate it with "
                         "preset='drl_sim'")
    return task_from_json(json.dumps(spec, sort_keys=True))


def reward_units(ds: xr.Dataset) -> str:
    """The reward unit of a run's task (``Task.units``; "reward units" for tasks that declare none)."""
    spec = ds.attrs.get("task")
    return str(spec.get("units", "reward units")) if isinstance(spec, dict) else "reward units"


def step_index(ds: xr.Dataset, time: float, what: str = "requested") -> int:
    """Index along ``time`` of the recorded step at ``time`` (s); ValueError when that time was not recorded."""
    t = ds["time"].values
    if t.size == 0:
        raise ValueError("this run recorded no time step")
    k = int(np.argmin(np.abs(t - time)))
    if abs(t[k] - time) > 1e-6:
        raise ValueError(f"the {what} time {time:g} s was not recorded (record_times of this run: {t[0]:g} … "
                         f"{t[-1]:g} s, {t.size} times)")
    return k


def learned_trials(ds: xr.Dataset, trial_type: str, learned_fraction: float = 0.5) -> xr.Dataset:
    """The recorded trials of ``trial_type`` after learning: the last ``learned_fraction`` of them.

    Every analysis reads this window of a run (at least one trial); :func:`drl.convergence` says whether the values
    still move in it.

    Parameters
    ----------
    ds : xarray.Dataset
        A run.
    trial_type : str
        The trial type's name.
    learned_fraction : float
        The fraction of the recorded trials of that type, the last ones (0 < f ≤ 1).

    Returns
    -------
    xarray.Dataset
        The run on those trials (dims ``[predictor, trial, time]``).

    Raises
    ------
    TypeError
        ``ds`` is not a run.
    ValueError
        An unknown trial type, or ``learned_fraction`` outside (0, 1].

    See Also
    --------
    drl.convergence : whether the learned window is learned.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.3, 0.7]), 200, seed=0,
    ...                    progress=False)
    >>> learned = decode.learned_trials(run, "variable", 0.25)
    >>> learned.sizes["trial"], int(learned["trial"].max())
    (50, 199)
    """
    from drl._validate import in_range

    if not isinstance(ds, xr.Dataset) or "trial_type" not in ds.variables:
        raise TypeError(f"learned_trials takes a run Dataset; got {type(ds).__name__}")
    in_range("learned_fraction", learned_fraction, 0, 1, lo_open=True)
    sub = trials_of_type(ds, trial_type)
    n = sub.sizes["trial"]
    return sub.isel(trial=slice(n - max(1, int(round(n * learned_fraction))), None))


def require_values(ds: xr.Dataset, *names: str) -> None:
    """ValueError unless each variable was recorded, over at least one trial, with a finite number in its last
    recorded trial (the learned state; only that trial is read, so a lazily opened run stays on disk)."""
    for name in names:
        if name not in ds.data_vars:
            raise ValueError(f"this run did not record {name!r} (recorded: {sorted(ds.data_vars)})")
        if ds.sizes.get("trial", 0) == 0:
            raise ValueError("this run recorded no trial")
        last = ds[name].isel(trial=-1) if "trial" in ds[name].dims else ds[name]
        if not bool(np.isfinite(last.values).any()):
            raise ValueError(f"this run's {name!r} holds no finite number in its last recorded trial (all NaN or "
                             "infinite): nothing to read")
