"""The stored run: one function builds the xarray.Dataset (schema, units, provenance); one validates it
(reading a run is :mod:`drl.runs.reading`).

Engine, storage, plots and decoders all speak this Dataset (DESIGN §5). See ``docs/guide/file_format.md``.
"""

from __future__ import annotations

import datetime as _dt
import functools
from importlib import metadata

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["PARAMETERS", "SCHEMA_VERSION", "build_dataset", "model_convention", "validate_dataset"]

SCHEMA_NAME = "drl.run"
#: 2: textbook TD errors (δ_k = r_k + γ^dt·V_k − V_{k−1}) and ``options["convention"]``. Version-1 runs load
#: as they are; their options are read with ``convention = 1`` (see :func:`run_options`).
SCHEMA_VERSION = 2
PARAMETERS = ("alpha_pos", "alpha_neg", "tau", "gamma", "lam")

VARIABLE_ATTRS = {
    "value": {"long_name": "value prediction V_k", "units": "reward units"},
    "rpe": {"long_name": "reward prediction error delta_k = r_k + gamma^dt V_k - V_(k-1) (indexed by arrival time)",
            "units": "reward units"},
    "reward": {"long_name": "reward delivered r_k", "units": "reward units"},
    "weights": {"long_name": "feature weights at the end of the run", "units": "reward units per feature unit"},
}
COORD_ATTRS = {
    "time": {"long_name": "time since trial start", "units": "s"},
    "trial": {"long_name": "trial index in the run (0-based)", "units": "1"},
    "trial_type": {"long_name": "trial type of each trial", "units": "1"},
    "predictor": {"long_name": "predictor index (0-based)", "units": "1"},
    "type": {"long_name": "trial type (dimension of weights)", "units": "1"},
    "feature": {"long_name": "feature index within a trial type's block", "units": "1"},
    "alpha_pos": {"long_name": "learning rate for positive errors alpha+", "units": "per step"},
    "alpha_neg": {"long_name": "learning rate for negative errors alpha-", "units": "per step"},
    "tau": {"long_name": "optimism tau = alpha+ / (alpha+ + alpha-)", "units": "1"},
    "gamma": {"long_name": "discount gamma", "units": "per s"},
    "lam": {"long_name": "eligibility trace decay lambda", "units": "per s"},
}


@functools.cache  # reading package metadata costs ~2 ms: half of a small run's time
def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "unknown"


def build_dataset(
    *,
    population,
    task,
    options: dict,
    seed: int,
    n_trials: int,
    trials: np.ndarray,
    trial_type: np.ndarray,
    steps: np.ndarray,
    value: np.ndarray | None,
    rpe: np.ndarray | None,
    reward: np.ndarray | None,
    weights: np.ndarray,
    created: str | None = None,
) -> xr.Dataset:
    """Assemble a run.

    Args:
      population: the Population simulated.
      task: the Task simulated.
      options: rule and engine options (JSON-able dict); stored as ``attrs["options"]``.
      seed, n_trials: the seed and the number of trials simulated.
      trials: [N_rec] indices of the recorded trials; trial_type: [N_rec] type index of each.
      steps: [K_rec] recorded step indices.
      value, rpe: [P, N_rec, K_rec] float32 or None (not recorded); reward: [N_rec, K_rec] or None.
      weights: [P, M, F] final weights.
    """
    names = np.array(task.trial_type_names, dtype=object)
    # (dims, data, attrs) tuples: the attributes go in with the variables (setting them afterwards through
    # ds[name] builds a DataArray per name, a third of a small run's time)
    coords = {
        "predictor": ("predictor", np.arange(population.n_predictors)),
        "trial": ("trial", np.asarray(trials, dtype=np.int64)),
        "time": ("time", np.asarray(steps, dtype=np.int64) * task.dt),
        "trial_type": ("trial", names[np.asarray(trial_type, dtype=np.int64)].astype(str)),
        "type": ("type", np.array(task.trial_type_names, dtype=str)),
        "feature": ("feature", np.arange(weights.shape[2])),
        **{name: ("predictor", getattr(population, name)) for name in PARAMETERS},
    }
    variables, indexes = {}, {}
    for name, (dim, values) in coords.items():
        if name == dim:  # a dimension coordinate: its index built here (xarray's inference is half the cost)
            # 0 … n−1 (always for predictor and feature; for trial when every trial is kept): a RangeIndex, not
            # an array to sanitise
            ranged = name in ("predictor", "feature") or (
                name == "trial" and values.size > 0 and values[0] == 0 and values[-1] == values.size - 1)
            index = pd.RangeIndex(values.size) if ranged else pd.Index(values)
            indexes[name] = xr.indexes.PandasIndex(index, dim, coord_dtype=values.dtype)
            variables[name] = indexes[name].create_variables()[name]
            variables[name].attrs.update(COORD_ATTRS[name])
        else:
            variables[name] = xr.Variable(dim, values, dict(COORD_ATTRS[name]))
    data = {"weights": (("predictor", "type", "feature"), np.asarray(weights, dtype=np.float32))}
    if value is not None:
        data["value"] = (("predictor", "trial", "time"), value)
    if rpe is not None:
        data["rpe"] = (("predictor", "trial", "time"), rpe)
    if reward is not None:
        data["reward"] = (("trial", "time"), reward)
    data = {name: xr.Variable(*spec, dict(VARIABLE_ATTRS[name])) for name, spec in data.items()}
    ds = _assemble(data, variables, indexes)
    ds.attrs.update(
        {
            "title": f"drl run: {task.name}, {population.n_predictors} predictors, {n_trials} trials",
            "schema": SCHEMA_NAME,
            "schema_version": SCHEMA_VERSION,
            "task_name": task.name,
            "task": task.to_dict(),
            "options": dict(options),
            "dt": float(task.dt),
            "seed": int(seed),
            "n_trials": int(n_trials),
            "drl_version": _version("drl"),
            "torch_version": _version("torch"),
            "created": created or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "Conventions": "CF-1.10",
        }
    )
    return ds


def _assemble(data: dict, coords: dict, indexes: dict, direct: bool = True) -> xr.Dataset:
    """The Dataset of ``data`` variables and ``coords`` (with their ``indexes``), checked by construction above.

    xarray's public constructor re-checks alignment and merges what it was given: 1.0–1.5 ms, a third of a
    20-predictor run. The variables here are built consistent, so they go in directly through
    ``Dataset._construct_direct`` (what xarray itself uses after its checks); should a future xarray change that
    internal, the public constructor is used (tests/test_store.py checks the two give identical Datasets)."""
    if not direct:
        return xr.Dataset(data, coords=xr.Coordinates(coords, indexes=indexes))
    variables = {**coords, **data}
    dims: dict = {}
    for variable in variables.values():
        for dim, size in zip(variable.dims, variable.shape, strict=True):
            if dims.setdefault(dim, size) != size:
                raise ValueError(f"dimension {dim!r} has sizes {dims[dim]} and {size}")
    try:
        return xr.Dataset._construct_direct(variables, set(coords), dims, {}, dict(indexes))
    except (AttributeError, TypeError):
        return _assemble(data, coords, indexes, direct=False)


#: The attributes of a stored run, declared as a JSON Schema (validated with ``jsonschema``, which reports the
#: path of the first field that fails: "options.rule", "n_trials"). The arrays' dims are checked beside it.
RUN_ATTRIBUTES = {
    "type": "object",
    # provenance (created, drl_version) is read where present: a user who drops it can still save and read
    "required": ["schema", "schema_version", "task_name", "task", "options", "dt", "seed", "n_trials"],
    "properties": {
        "schema": {"const": SCHEMA_NAME},
        "schema_version": {"type": "integer", "minimum": 1},
        "task_name": {"type": "string", "minLength": 1},
        "task": {"type": "object", "required": ["name", "duration", "dt", "trial_types"],
                 "properties": {"trial_types": {"type": "array", "minItems": 1,
                                                "items": {"type": "object", "required": ["name", "cue_time"]}}}},
        "options": {"type": "object", "required": ["rule", "update", "bootstrap", "features"],
                    "properties": {"rule": {"type": "string"}, "update": {"type": "string"},
                                   "bootstrap": {"type": "string"}, "features": {"type": "object"}}},
        "dt": {"type": "number", "exclusiveMinimum": 0},
        "seed": {"type": "integer", "minimum": -1},  # -1: imported from drl_sim, which kept no seed
        "n_trials": {"type": "integer", "minimum": 1},
        "created": {"type": "string"},
        "drl_version": {"type": "string"},
    },
}
#: Dims of each variable a run may hold
RUN_DIMS = {"value": ("predictor", "trial", "time"), "rpe": ("predictor", "trial", "time"),
            "reward": ("trial", "time"), "weights": ("predictor", "type", "feature")}


def _check_structure(ds: xr.Dataset, source: str) -> None:
    """The declared attributes (``RUN_ATTRIBUTES``) and the arrays' dims, units and trial numbers."""
    from drl._validate import check_document

    check_document(ds.attrs, RUN_ATTRIBUTES, source, "attributes")
    for name, dims in RUN_DIMS.items():
        if name in ds.variables and ds[name].dims != dims:
            raise ValueError(f"{source}: variable {name!r} must have dims {dims}; has {ds[name].dims}")
        if name in ("value", "rpe", "reward") and name in ds.variables and "units" not in ds[name].attrs:
            raise ValueError(f"{source}: variable {name!r} has no units attribute")
    trials = ds["trial"].values
    if trials.dtype.kind not in "iu":
        raise ValueError(f"{source}: coordinate 'trial' must hold integer trial numbers; holds {trials.dtype}")
    if trials.size and (np.any(np.diff(trials) <= 0) or trials[0] < 0 or trials[-1] >= ds.attrs["n_trials"]):
        raise ValueError(f"{source}: coordinate 'trial' must increase within [0, n_trials = {ds.attrs['n_trials']}); "
                         f"holds {int(trials.min())} … {int(trials.max())}"
                         f"{' out of order' if np.any(np.diff(trials) <= 0) else ''}")


def validate_dataset(ds: xr.Dataset, source: str = "dataset") -> xr.Dataset:
    """Check that ``ds`` is a drl run of a schema version this drl reads.

    Every declared attribute (``RUN_ATTRIBUTES``), dimension and coordinate is checked; the error names
    ``source`` and the field.

    Parameters
    ----------
    ds : xarray.Dataset
        The Dataset.
    source : str
        What to call it in errors (e.g. its file's path).

    Returns
    -------
    xarray.Dataset
        ``ds``, checked.

    Raises
    ------
    ValueError
        Not a drl run, a newer schema version, or a field missing or malformed (named).
    TypeError
        ``ds`` not a Dataset.

    See Also
    --------
    load : validates every file it opens.

    Examples
    --------
    >>> import drl
    >>> run = drl.simulate("hyp_unif", drl.Population.grid(tau=[0.2, 0.8]), 20, progress=False)
    >>> drl.validate_dataset(run) is run
    True
    >>> drl.validate_dataset(run.drop_vars("tau"), "my_run.nc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: my_run.nc...tau...
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"{source}: expected an xarray.Dataset; got {type(ds).__name__}")
    if ds.attrs.get("schema") != SCHEMA_NAME:
        raise ValueError(f"{source} is not a drl run (no attribute schema = {SCHEMA_NAME!r})")
    raw_version = ds.attrs.get("schema_version", -1)
    if isinstance(raw_version, bool) or not isinstance(raw_version, int | np.integer):
        raise ValueError(f"{source}: schema_version must be an integer; got {raw_version!r}")
    version = int(raw_version)
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"{source} has schema version {version}, newer than this drl reads ({SCHEMA_VERSION}); upgrade drl"
        )
    if version < 1:
        raise ValueError(f"{source}: invalid schema_version {ds.attrs.get('schema_version')!r}")
    missing = [c for c in ("predictor", "trial", "time", *PARAMETERS) if c not in ds.coords]
    if "weights" not in ds:
        missing.append("weights")
    if missing:
        raise ValueError(f"{source} is missing required drl variables/coordinates: {missing}")
    _check_structure(ds, source)
    return ds


def model_convention(schema_version: int) -> int:
    """The model convention a run of ``schema_version`` was made with when its options do not say:
    1 (the arriving reward discounted) for schema 1, 2 (textbook TD) from schema 2 on."""
    return 1 if schema_version < 2 else 2
