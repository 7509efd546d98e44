"""Parameter sweeps on Dask: every combination of a grid of configuration fields is one run, one Dask task and
one ``.nc`` file under ``exps/<out>/``; ``open_sweep`` combines them lazily along a ``run`` dimension.

A local cluster is started when no client is given; any Dask client works (e.g. dask-jobqueue's SLURMCluster,
see docs/drl.md). Runs whose file exists with the same configuration are skipped, so an interrupted sweep is
resumed by calling ``sweep`` again. A failing run is reported with its configuration and error; it stops
nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from drl._atomic import write_atomic
from drl._validate import choice
from drl.schema import PARAMETERS
from drl.store import DEFAULT_DIR, _decode_attrs, save

__all__ = ["CONFIG_FIELDS", "POPULATION_FIELDS", "check_config", "derive_seed", "open_sweep", "run_config", "sweep", "sweep_coordinate", "sweep_run"]

# A run configuration: these keys, with the defaults of drl.simulate / drl.Population.
CONFIG_FIELDS = {
    "task": None,  # built-in name or spec file path (required)
    "n_trials": None,  # required
    "seed": 0,
    "predictors": None,  # None: Population.grid of the list-valued parameters; an int: Population.sample
    "tau": 0.5,
    "alpha": 0.1,
    "alpha_pos": None,
    "alpha_neg": None,
    "gamma": 1.0,
    "lam": 0.0,
    "rule": "expectile",
    "update": "offline",
    "features": "csc",
    "bootstrap": "own",
    "preset": None,
    "record": ["value", "rpe", "reward"],
    "record_trials": None,
}
MANIFEST = "sweep.json"


def run_config(base: dict, **changes) -> dict:
    """A complete run configuration: CONFIG_FIELDS defaults, then ``base``, then ``changes``; checked."""
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


def _population(config: dict):
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
    recording, with the errors ``simulate`` would raise (ValueError/TypeError naming the field). ``tasks``
    caches loaded tasks by name."""
    from drl.options import resolve_options
    from drl.recording import select_trials
    from drl.registry import load_task
    from drl.tasks import check_seed

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
    _population(config)
    resolve_options(None, config["rule"], config["update"], config["features"], config["bootstrap"],
                    config["preset"])
    record_trials = config["record_trials"]
    if record_trials is not None and not isinstance(record_trials, int):
        record_trials = np.asarray(record_trials)
    select_trials(record_trials, n_trials)


def _execute(config: dict, path: str, index: int, sweep_name: str) -> str:
    """One run, on a worker: simulate, tag with its configuration, save atomically. Returns "" when done, or
    the error ("Type: message") of a run that raised: a bad configuration is a result, not a worker crash."""
    try:
        _simulate_and_save(config, path, index, sweep_name)
    except Exception as error:  # noqa: BLE001 - every failure is reported with its configuration
        return f"{type(error).__name__}: {error}"
    return ""


def _simulate_and_save(config: dict, path: str, index: int, sweep_name: str) -> None:
    from drl.engine import simulate

    ds = simulate(config["task"], _population(config), int(config["n_trials"]), rule=config["rule"],
                  update=config["update"], features=config["features"], bootstrap=config["bootstrap"],
                  preset=config["preset"], record=tuple(config["record"]), record_trials=config["record_trials"],
                  seed=int(config["seed"]), progress=False)
    ds.attrs.update(sweep_name=sweep_name, sweep_index=int(index), sweep_config=config)
    save(ds, path, overwrite=True)


#: Configuration fields that only set the population: runs differing in nothing else can share one engine call.
POPULATION_FIELDS = ("predictors", "tau", "alpha", "alpha_pos", "alpha_neg", "gamma", "lam")


def _vector_key(config: dict) -> str | None:
    """Runs with the same key can be simulated as one population (None: this run cannot be batched)."""
    from drl import compiled

    if config["bootstrap"] != "own" or not compiled.available():
        return None  # a shared bootstrap couples predictors; the torch kernel's bits may depend on the batch
    return json.dumps({k: v for k, v in config.items() if k not in POPULATION_FIELDS}, sort_keys=True)


def _execute_batch(configs: list, paths: list, indices: list, sweep_name: str) -> list[str]:
    """Runs that differ only in their population, simulated as one concatenated population and split back into
    one file each (the compiled kernel computes each predictor alone, so every file equals its own run)."""
    if len(configs) == 1:
        return [_execute(configs[0], paths[0], indices[0], sweep_name)]
    try:
        from drl.engine import simulate
        from drl.population import Population

        populations = [_population(c) for c in configs]
        combined = Population(*(np.concatenate([getattr(p, name) for p in populations])
                                for name in ("alpha_pos", "alpha_neg", "gamma", "lam")))
        config = configs[0]
        ds = simulate(config["task"], combined, int(config["n_trials"]), rule=config["rule"],
                      update=config["update"], features=config["features"], bootstrap=config["bootstrap"],
                      preset=config["preset"], record=tuple(config["record"]), record_trials=config["record_trials"],
                      seed=int(config["seed"]), progress=False, kernel="compiled")
    except Exception as error:  # noqa: BLE001 - reported per run, like a single run's failure
        return [f"{type(error).__name__}: {error}"] * len(configs)
    errors, start = [], 0
    for config, path, index, population in zip(configs, paths, indices, populations, strict=True):
        n = population.n_predictors
        part = ds.isel(predictor=slice(start, start + n)).assign_coords(predictor=np.arange(n))
        start += n
        part.attrs["title"] = ds.attrs["title"].replace(f"{combined.n_predictors} predictors", f"{n} predictors")
        part.attrs.update(sweep_name=sweep_name, sweep_index=int(index), sweep_config=config)
        try:
            save(part, path, overwrite=True)
            errors.append("")
        except Exception as error:  # noqa: BLE001
            errors.append(f"{type(error).__name__}: {error}")
    return errors


def _batches(todo: list[int], configs: list[dict], n_workers: int, vectorize: bool) -> list[list[int]]:
    """Group runs that can share an engine call (at most 4096 predictors, and enough groups for every worker)."""
    if not vectorize:
        return [[i] for i in todo]
    groups: dict = {}
    for i in todo:
        key = _vector_key(configs[i])
        groups.setdefault(key if key is not None else f"alone-{i}", []).append(i)
    batches = []
    for members in groups.values():
        size = max(1, min(-(-len(members) // max(1, n_workers)),
                          4096 // max(1, _population(configs[members[0]]).n_predictors)))
        batches += [members[j:j + size] for j in range(0, len(members), size)]
    return batches


def derive_seed(base_seed: int, index: int) -> int:
    """The seed of grid position ``index``: ``SeedSequence(base_seed, spawn_key=(index,))``'s first 32-bit word.

    Each position gets an independent stream; the same base seed and grid give the same seeds everywhere.
    """
    return int(np.random.SeedSequence(int(base_seed), spawn_key=(int(index),)).generate_state(1)[0])


def _expand(base: dict, grid: dict, shared_seed: bool = False) -> tuple[list[str], list[dict]]:
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
    configs = []
    for index, combo in enumerate(itertools.product(*(list(grid[f]) for f in fields))):
        changes = dict(zip(fields, combo, strict=True))
        if "seed" not in grid and not shared_seed:
            changes["seed"] = derive_seed(base.get("seed", 0), index)
        configs.append(run_config(base, **changes))
    return fields, configs


def _fingerprint(base: dict, grid: dict, shared_seed: bool = False) -> str:
    described = {"base": base, "grid": grid, **({"shared_seed": True} if shared_seed else {})}
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_config(path: Path):
    import netCDF4

    try:
        with netCDF4.Dataset(path) as nc:
            return json.loads(nc.getncattr("sweep_config"))
    except (OSError, KeyError, AttributeError, ValueError, RuntimeError):
        return None  # unreadable or not a sweep run: it will be redone


def _client(client):
    from dask.distributed import Client, LocalCluster

    if client is None:
        guard = ("drl.sweep starts local Dask worker processes, which import your script again: put the sweep "
                 "call under `if __name__ == \"__main__\":` (docs/drl.md, Sweeps)")
        if getattr(sys.modules.get("__main__"), "__name__", "") == "__mp_main__":
            raise RuntimeError(f"sweep() called while a worker process imported the script. {guard}")
        n_workers = max(1, (os.cpu_count() or 1))
        try:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True)
        except RuntimeError as e:
            if getattr(sys.modules.get("__main__"), "__file__", None):
                raise RuntimeError(f"the local Dask cluster did not start ({e}). {guard}") from None
            raise
        return Client(cluster), True
    if isinstance(client, str):
        try:
            return Client(client, timeout="3s"), True
        except (OSError, TimeoutError) as e:
            raise ValueError(f"cannot reach the Dask scheduler at {client!r}: {e}") from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a dask.distributed.Client, a scheduler address or None; got "
                        f"{type(client).__name__}")
    if client.status != "running":
        raise ValueError(f"the Dask client is not connected (status {client.status!r})")
    return client, False


def sweep(base: dict, grid: dict, *, out: str, client=None, overwrite: bool = False, directory=DEFAULT_DIR,
          progress: bool = True, shared_seed: bool = False, vectorize: bool = True) -> pd.DataFrame:
    """Run every combination of ``grid`` on top of ``base``, one Dask task per run, each saved to
    ``<directory>/<out>/run_<index>.nc`` (atomically).

    Args:
      base: a run configuration (``CONFIG_FIELDS``: task and n_trials required; population as in
        ``Population.grid`` — lists are grid axes — or ``Population.sample`` with ``predictors``).
      grid: configuration field → list of values; runs are the Cartesian product in the order given (the last
        field varies fastest), numbered from 0.
      out: the sweep's folder name under ``directory``.
      client: a ``dask.distributed.Client`` (e.g. on a SLURMCluster), a scheduler address, or None for a
        ``LocalCluster`` with one single-threaded worker process per core, closed afterwards.
      overwrite: redo runs whose file exists, and accept a folder that holds a different sweep.
      progress: a progress bar over completed runs.
      shared_seed: every run uses ``base["seed"]`` (common random numbers: the same trial schedule in every
        run) instead of a seed of its own.
      vectorize: runs that share everything but their population (τ, α, γ, λ, predictors) — the same task,
        trials, seed and options, ``bootstrap="own"`` — run as one engine call over their concatenated
        population, split back into one file each, identical to running them one by one. Applies when seeds
        are shared (``shared_seed=True``, or ``seed`` fixed in the grid).

    Seeds: unless ``seed`` is a grid field or ``shared_seed``, run ``i`` uses ``derive_seed(base["seed"], i)``.
    Resume: a run whose file exists and carries the same configuration is skipped.

    Returns a DataFrame, one row per run: the grid fields, ``status`` (done / skipped / failed), ``error``,
    ``path``; also printed as a summary.
    """
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    if not isinstance(out, str | os.PathLike) or not str(out):
        raise TypeError(f"out must be the sweep's folder name (a non-empty string); got {out!r}")
    if not isinstance(base, dict):
        raise TypeError(f"base must be a dict run configuration; got {type(base).__name__}")
    from drl._validate import boolean

    shared_seed, vectorize = boolean("shared_seed", shared_seed), boolean("vectorize", vectorize)
    full_base = run_config(base)  # a bad base is an error now, not N failures later
    fields, configs = _expand(base, grid, shared_seed)
    # Every run is checked before a cluster starts: when all fail, the base is wrong (one error now); otherwise
    # the invalid ones are reported as failed runs without being sent to a worker.
    tasks: dict = {}
    invalid = {}
    for index, config in enumerate(configs):
        try:
            check_config(config, tasks=tasks)
        except (ValueError, TypeError, OSError) as e:
            invalid[index] = e
    if invalid and len(invalid) == len(configs):
        error = invalid[0]
        where = ", ".join(f"{f}={configs[0][f]!r}" for f in fields)
        raise type(error)(f"every run of this sweep is invalid; run 0 ({where}): {error}") from None
    folder = Path(directory) / out
    manifest = {"name": out, "base": full_base, "grid": {f: list(grid[f]) for f in fields},
                "fingerprint": _fingerprint(base, grid, shared_seed), "n_runs": len(configs)}
    manifest = json.loads(json.dumps(manifest))
    manifest_path = folder / MANIFEST
    if manifest_path.is_file() and not overwrite:
        stored = json.loads(manifest_path.read_text())
        if stored.get("fingerprint") != manifest["fingerprint"]:
            raise ValueError(f"{folder} holds runs of a different sweep (base/grid differ from {manifest_path}); "
                             "choose another out= or pass overwrite=True")
    elif folder.is_dir() and any(folder.glob("*.nc")) and not manifest_path.is_file() and not overwrite:
        raise ValueError(f"{folder} holds .nc files that are not from a drl sweep; choose another out=")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(manifest_path, json.dumps(manifest, indent=1))

    rows = []
    todo = []
    for index, config in enumerate(configs):
        path = folder.resolve() / f"run_{index:04d}.nc"  # absolute: workers have their own working directory
        row = {"run": index, **{f: config[f] for f in fields}, "status": "", "error": "", "path": str(path)}
        if index in invalid:
            row["status"], row["error"] = "failed", f"{type(invalid[index]).__name__}: {invalid[index]}"
        elif path.is_file() and not overwrite and _read_config(path) == config:
            row["status"] = "skipped"
        else:
            todo.append(index)
        rows.append(row)

    if todo:
        client, owned = _client(client)
        try:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            batches = _batches(todo, configs, n_workers, vectorize)
            futures = client.map(_execute_batch, [[configs[i] for i in b] for b in batches],
                                 [[rows[i]["path"] for i in b] for b in batches], batches, [out] * len(batches),
                                 key=[f"drl-{out}-{manifest['fingerprint']}-{b[0]:04d}-{len(b)}" for b in batches],
                                 pure=False)
            batch_of = {f.key: b for f, b in zip(futures, batches, strict=True)}
            bar = tqdm(total=len(todo), desc=f"sweep {out}", unit="run", disable=not progress)
            for future in as_completed(futures):
                batch = batch_of[future.key]
                if future.status == "finished":
                    errors = future.result()
                else:  # the task itself was lost, e.g. its worker died more often than Dask retries
                    exception = future.exception()
                    errors = [f"{type(exception).__name__}: {exception}"] * len(batch)
                for i, error in zip(batch, errors, strict=True):
                    rows[i]["status"] = "failed" if error else "done"
                    rows[i]["error"] = error
                future.release()
                bar.update(len(batch))
            bar.close()
        finally:
            if owned:
                cluster = client.cluster
                client.close()
                if cluster is not None:
                    cluster.close()

    for stale in folder.glob(".run_*.nc.*.tmp"):  # left by a worker killed while writing; never a run
        stale.unlink(missing_ok=True)
    table = pd.DataFrame(rows).set_index("run")
    counts = table["status"].value_counts()
    print(f"sweep {out}: {counts.get('done', 0)} done, {counts.get('skipped', 0)} skipped, "
          f"{counts.get('failed', 0)} failed (of {len(table)}) in {folder}")
    for i, row in table[table["status"] == "failed"].iterrows():
        print(f"  run {i} failed: {', '.join(f'{f}={row[f]!r}' for f in fields)}: {row['error']}")
    return table


def sweep_coordinate(field: str) -> str:
    """The ``run`` coordinate of a swept field in :func:`open_sweep`: the field's name, or ``<field>_setting``
    for the population parameters (tau, gamma, lam, alpha_pos, alpha_neg), which are already per-predictor
    coordinates of every run (then with a ``run`` dimension too)."""
    return f"{field}_setting" if field in PARAMETERS else field


def open_sweep(out: str, *, directory=DEFAULT_DIR) -> xr.Dataset:
    """The runs of a sweep as one lazy Dataset (``xarray.open_mfdataset``) with a ``run`` dimension and each
    swept field as a ``run`` coordinate (named by :func:`sweep_coordinate`; list values as JSON text). Runs
    that are missing (failed) are left out; runs of different sizes are padded with NaN (outer join).

    Attributes shared by all runs are kept; the per-run attributes (task, options, seed...) are in
    ``attrs["runs"]`` so that :func:`sweep_run` gives back a complete run for figures and decoders.
    """
    folder = Path(directory) / out
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no sweep at {folder} (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text())
    files = sorted(folder.glob("run_*.nc"))
    if not files:
        raise ValueError(f"the sweep {folder} has no completed run")
    fields = list(manifest["grid"])
    run_attrs = []

    def tag(ds):
        attrs = _decode_attrs(ds.attrs)
        run_attrs.append(attrs)
        config = attrs["sweep_config"]
        coords = {"run": [int(attrs["sweep_index"])]}
        for f in fields:
            value = config[f]
            coords[sweep_coordinate(f)] = ("run", [json.dumps(value) if isinstance(value, list | dict) or value is None else value])
        return ds.expand_dims("run").assign_coords(coords)

    combined = xr.open_mfdataset(files, combine="nested", concat_dim="run", preprocess=tag, engine="netcdf4",
                                 join="outer", combine_attrs="drop_conflicts", data_vars="all",
                                 coords="different", compat="equals", decode_timedelta=False)
    order = np.argsort(combined["run"].values)
    by_index = {int(a["sweep_index"]): a for a in run_attrs}
    combined.attrs = {k: v for k, v in combined.attrs.items() if k != "drl_json_attrs"}
    combined.attrs.update(sweep_name=out, sweep_fields=fields, runs=[by_index[int(i)] for i in
                                                                        combined["run"].values[order]])
    return combined.isel(run=order)


def sweep_run(sweep_ds: xr.Dataset, run: int) -> xr.Dataset:
    """Run ``run`` (its index in the grid) of an ``open_sweep`` Dataset, as a complete drl run Dataset."""
    indices = [int(i) for i in sweep_ds["run"].values]
    if run not in indices:
        raise ValueError(f"run {run} is not in this sweep (runs present: {indices[:10]}"
                         f"{'…' if len(indices) > 10 else ''})")
    position = indices.index(run)
    one = sweep_ds.isel(run=position, drop=True)
    for name in ("alpha_pos", "alpha_neg", "tau", "gamma", "lam", "trial_type"):
        if name in one.coords and one[name].isnull().any():
            raise ValueError(f"run {run} has fewer predictors or trials than the sweep's largest; select it "
                             "from its own file instead")
    one = one.drop_vars([sweep_coordinate(f) for f in sweep_ds.attrs["sweep_fields"]
                         if sweep_coordinate(f) in one.coords])
    if "reward" in one:  # trials padded by the outer join when this run is shorter than the longest
        one = one.dropna("trial", how="all", subset=["reward"])
    one.attrs = dict(sweep_ds.attrs["runs"][position])
    return one
