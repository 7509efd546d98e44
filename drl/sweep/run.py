"""Running a sweep on Dask: one task per run (or per batch of runs that share an engine call), one file each,
resumable, failures reported with their configuration."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from drl._atomic import write_atomic
from drl.runs.encoding import decode_attrs
from drl.runs.paths import DEFAULT_DIR
from drl.runs.publishing import clean_stale_temps
from drl.runs.store import save
from drl.sweep.cluster import (
    NoWorkersError,
    client_for,
    close_quietly,
    completed,
    lost,
    numba_threads_of_this_worker,
    target_workers,
)
from drl.sweep.configs import (
    CONFIG_FIELDS,
    POPULATION_FIELDS,
    check_config,
    expand_grid,
    grid_fingerprint,
    population_of_config,
    run_config,
)

__all__ = ["sweep"]


MANIFEST = "sweep.json"
#: A sweep's manifest, declared as a JSON Schema (``jsonschema``): what :func:`read_manifest` accepts
MANIFEST_SCHEMA = {
    "type": "object",
    "required": ["name", "base", "grid", "fingerprint", "n_runs"],
    "properties": {"name": {"type": "string"}, "base": {"type": "object"},
                   "grid": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "array"}},
                   "fingerprint": {"type": "string"}, "n_runs": {"type": "integer", "minimum": 1}},
}


def read_manifest(path: Path) -> dict:
    """A sweep's ``sweep.json``, checked against ``MANIFEST_SCHEMA``; a ValueError names the file and the field
    (a manifest that was a list once raised AttributeError)."""
    from drl._files import readable_file
    from drl._validate import check_document

    try:
        manifest = json.loads(readable_file(path, "sweep manifest", max_bytes=2**26).read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path} is not a sweep manifest (not JSON: {str(e)[:80]})") from None
    check_document(manifest, MANIFEST_SCHEMA, str(path), "the manifest")
    return manifest


def _execute(config: dict, path: str, index: int, sweep_name: str) -> str:
    """One run, on a worker: simulate, tag with its configuration, save atomically. Returns "" when done, or
    the error ("Type: message") of a run that raised: a bad configuration is a result, not a worker crash."""
    try:
        _simulate_and_save(config, path, index, sweep_name)
    except Exception as error:  # noqa: BLE001 - every failure is reported with its configuration
        return f"{type(error).__name__}: {error}"
    return ""


def _simulate_and_save(config: dict, path: str, index: int, sweep_name: str) -> None:
    from drl.engine.simulation import simulate

    ds = simulate(config["task"], population_of_config(config), int(config["n_trials"]), rule=config["rule"],
                  update=config["update"], features=config["features"], bootstrap=config["bootstrap"],
                  preset=config["preset"], record=tuple(config["record"]), record_trials=config["record_trials"],
                  seed=int(config["seed"]), progress=False)
    ds.attrs.update(sweep_name=sweep_name, sweep_index=int(index), sweep_config=config)
    _save_on_worker(ds, path)


def _save_on_worker(ds, path) -> None:
    """``save`` on a worker with a local write lock: the run is in memory, but xarray, finding a Dask client,
    would take a cluster-wide lock through a Client of its own, whose lease and destructor then fail and print
    tracebacks when Ctrl-C closes the cluster mid-save."""
    import dask

    with dask.config.set(scheduler="synchronous"):
        save(ds, path, overwrite=True)


def _vector_key(config: dict) -> str | None:
    """Runs with the same key can be simulated as one population (None: this run cannot be batched)."""
    if config["bootstrap"] != "own":
        return None  # a shared bootstrap couples predictors; the torch kernel's bits may depend on the batch
    return json.dumps({k: v for k, v in config.items() if k not in POPULATION_FIELDS}, sort_keys=True)


def _execute_batch(configs: list, paths: list, indices: list, sweep_name: str) -> list[str]:
    """Runs that differ only in their population, simulated as one concatenated population and split back into
    one file each (the compiled kernel computes each predictor alone, so every file equals its own run)."""
    with numba_threads_of_this_worker():
        return _execute_batch_here(configs, paths, indices, sweep_name)


def _execute_batch_here(configs: list, paths: list, indices: list, sweep_name: str) -> list[str]:
    if len(configs) == 1:
        return [_execute(configs[0], paths[0], indices[0], sweep_name)]
    try:
        from drl.engine.simulation import simulate
        from drl.population import Population

        populations = [population_of_config(c) for c in configs]
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
            _save_on_worker(part, path)
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
                          4096 // max(1, population_of_config(configs[members[0]]).n_predictors)))
        batches += [members[j:j + size] for j in range(0, len(members), size)]
    return batches


def read_configs(paths: list[Path]) -> list[dict | None]:
    """The configuration each sweep run file carries, or None for a file that is missing, unreadable or not a run
    of a sweep (it will be redone). From the folder's header index where a file is unchanged since it was indexed
    (:func:`drl.sweep.stacked.run_headers`): resuming a 1000-run sweep read 1000 headers."""
    from drl.sweep.stacked import run_headers

    present = [Path(path) for path in paths if Path(path).is_file()]
    headers = dict(zip(present, run_headers(present, [], [], skip_unreadable=True), strict=True)) if present else {}
    configs = []
    for path in paths:
        try:
            configs.append(decode_attrs(headers[Path(path)][0])["sweep_config"])
        except (KeyError, TypeError, ValueError):  # missing (KeyError), unreadable (None), not a sweep's run
            configs.append(None)
    return configs


def defaults_it_was_made_with(stored: dict | None, fingerprint: str, base: dict, grid: dict, folder: Path) -> dict:
    """The fields that ``base`` leaves to drl's defaults (and ``grid`` does not set) whose value in the sweep
    already in ``folder`` (its manifest ``stored``) differs from today's default: a sweep made before drl's
    defaults changed (alpha 0.1 and lam 0, where drl.simulate's are 0.01 and 0.95) resumes as it was made, with a
    warning, instead of redoing and overwriting its runs with other parameters. Empty when the folder holds no
    sweep or another sweep."""
    if stored is None or stored.get("fingerprint") != fingerprint or not isinstance(stored.get("base"), dict):
        return {}  # none, or another sweep (refused by the caller)
    today = run_config(base)
    made_with = {f: value for f, value in stored["base"].items()
                 if f in CONFIG_FIELDS and f not in base and f not in grid and today[f] != value}
    if made_with:
        then = ", ".join(f"{f}={v!r}" for f, v in made_with.items())
        now = ", ".join(f"{f}={today[f]!r}" for f in made_with)
        warnings.warn(f"{folder} was made when drl's defaults were {then}; it resumes with them (drl's "
                      f"defaults are now {now}: overwrite=True redoes it with those)", UserWarning, stacklevel=3)
    return made_with


def sweep(base: dict, grid: dict, *, out: str, client=None, overwrite: bool = False, directory=DEFAULT_DIR,
          progress: bool = True, shared_seed: bool = False, vectorize: bool = True,
          no_worker_timeout: float = 300.0) -> pd.DataFrame:
    """Run every combination of ``grid`` on top of ``base``, one Dask task per run, each saved to
    ``<directory>/<out>/run_<index>.nc`` (atomically).

    Seeds: unless ``seed`` is a grid field or ``shared_seed``, run ``i`` uses ``derive_seed(base["seed"], i)``.
    Resume: a run whose file exists and carries the same configuration is skipped; a sweep made when drl's
    defaults differed resumes with the ones it was made with (a ``UserWarning`` says so). Batches of vectorised
    runs are sized by the workers the cluster is sized for (its jobs, or its adaptive maximum), not by those
    connected.

    Parameters
    ----------
    base : dict
        A run configuration (``CONFIG_FIELDS``: ``task`` and ``n_trials`` required; the population as in
        ``Population.grid``, lists being grid axes, or ``Population.sample`` with ``predictors``).
    grid : dict
        Configuration field → list of values; runs are the Cartesian product in the order given (the last field
        varies fastest), numbered from 0.
    out : str
        The sweep's folder name under ``directory``.
    client : dask.distributed.Client or str, optional
        A client (e.g. of a SLURMCluster), a scheduler address, or None for a ``LocalCluster`` with one
        single-threaded worker process per CPU of the job, closed afterwards.
    overwrite : bool
        Redo runs whose file exists, and accept a folder that holds a different sweep.
    directory : str or path
        Where sweeps' folders go.
    progress : bool
        A progress bar over completed runs.
    shared_seed : bool
        Every run uses ``base["seed"]`` (common random numbers: the same trial schedule in every run) instead
        of a seed of its own.
    vectorize : bool
        Runs that share everything but their population (τ, α, γ, λ, predictors): the same task, trials, seed
        and options, with ``bootstrap="own"``, run as one engine call over their concatenated population, split
        back into one file each, identical to running them one by one. Applies when seeds are shared
        (``shared_seed=True``, or ``seed`` fixed in the grid).
    no_worker_timeout : float
        Seconds the sweep waits with no worker connected while runs remain before it stops with a
        :class:`NoWorkersError` (a TimeoutError) saying what was saved; run it again to resume.

    Returns
    -------
    pandas.DataFrame
        One row per run: the grid fields, ``status`` (done / skipped / failed), ``error``, ``path``; also
        printed as a summary.

    Raises
    ------
    ValueError, TypeError
        A bad base or grid (every run invalid), a folder that holds another sweep or other files.
    NoWorkersError
        No worker for ``no_worker_timeout`` seconds while runs remained.

    Examples
    --------
    Two discount factors × two trace decays of a two-predictor population, on a local cluster (a few seconds):

    >>> import tempfile
    >>> from drl.sweep import sweep
    >>> base = {"task": "hyp_unif", "n_trials": 50, "tau": [0.2, 0.8], "seed": 0}
    >>> table = sweep(base, {"gamma": [0.8, 0.9], "lam": [0.0, 0.9]}, out="example",
    ...               directory=tempfile.mkdtemp(), progress=False)  # doctest: +ELLIPSIS
    sweep example: 4 done, 0 skipped, 0 failed (of 4) in ...
    >>> list(table["status"])
    ['done', 'done', 'done', 'done']
    """
    from tqdm.auto import tqdm

    if not isinstance(out, str | os.PathLike) or not str(out):
        raise TypeError(f"out must be the sweep's folder name (a non-empty string); got {out!r}")
    if Path(out).is_absolute() or ".." in Path(out).parts or "\0" in str(out):
        raise ValueError(f"out must be a folder name under {directory}/ (a sweep writes only there); got {str(out)!r}")
    if not isinstance(base, dict):
        raise TypeError(f"base must be a dict run configuration; got {type(base).__name__}")
    from drl._validate import boolean

    shared_seed, vectorize = boolean("shared_seed", shared_seed), boolean("vectorize", vectorize)
    from drl._validate import in_range

    no_worker_timeout = in_range("no_worker_timeout", no_worker_timeout, 0, 1e7, lo_open=True)
    folder = Path(directory) / out
    manifest_path = folder / MANIFEST
    fingerprint = grid_fingerprint(base, grid, shared_seed)
    stored_manifest = read_manifest(manifest_path) if manifest_path.is_file() and not overwrite else None
    made_with = defaults_it_was_made_with(stored_manifest, fingerprint, base, grid, folder)
    base = {**made_with, **base}
    full_base = run_config(base)  # a bad base is an error now, not N failures later
    fields, configs = expand_grid(base, grid, shared_seed)
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
    manifest = {"name": out, "base": full_base, "grid": {f: list(grid[f]) for f in fields},
                "fingerprint": fingerprint, "n_runs": len(configs)}
    manifest = json.loads(json.dumps(manifest))
    if stored_manifest is not None:
        if stored_manifest.get("fingerprint") != manifest["fingerprint"]:
            raise ValueError(f"{folder} holds runs of a different sweep (base/grid differ from {manifest_path}); "
                             "choose another out= or pass overwrite=True")
    elif folder.is_dir() and any(folder.glob("*.nc")) and not manifest_path.is_file() and not overwrite:
        raise ValueError(f"{folder} holds .nc files that are not from a drl sweep; choose another out=")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(manifest_path, json.dumps(manifest, indent=1))

    rows = []
    todo = []
    paths = [folder.resolve() / f"run_{index:04d}.nc" for index in range(len(configs))]  # absolute: workers have
    stored = read_configs(paths) if not overwrite else [None] * len(paths)  # their own working directory
    for index, config in enumerate(configs):
        path = paths[index]
        row = {"run": index, **{f: config[f] for f in fields}, "status": "", "error": "", "path": str(path)}
        if index in invalid:
            row["status"], row["error"] = "failed", f"{type(invalid[index]).__name__}: {invalid[index]}"
        elif stored[index] == config:
            row["status"] = "skipped"
        else:
            todo.append(index)
        rows.append(row)

    def saved_note(why: str) -> str:  # counted from the files once the workers are gone: what is really there
        finished = sum(saved_config == configs[i] for saved_config, i in
                       zip(read_configs([Path(rows[i]["path"]) for i in todo]), todo, strict=True))
        return (f"sweep {out}: {finished} of {len(todo)} runs were finished and saved in {folder} before {why}; "
                "the others were stopped (no partial file is left). Run the sweep again to do the rest: finished "
                "runs are skipped")

    try:
        if todo:
            client, owned = client_for(client)
            try:
                batches = _batches(todo, configs, target_workers(client), vectorize)
                futures = client.map(_execute_batch, [[configs[i] for i in b] for b in batches],
                                     [[rows[i]["path"] for i in b] for b in batches], batches, [out] * len(batches),
                                     key=[f"drl-{out}-{manifest['fingerprint']}-{b[0]:04d}-{len(b)}" for b in batches],
                                     pure=False)
                batch_of = {f.key: b for f, b in zip(futures, batches, strict=True)}
                bar = tqdm(total=len(todo), desc=f"sweep {out}", unit="run", disable=not progress)
                try:
                    for future, errors, failure in completed(client, futures, no_worker_timeout):
                        batch = batch_of[future.key]
                        if failure is not None:  # the task itself was lost, e.g. its worker died more often than Dask retries
                            errors = [lost(failure)] * len(batch)
                        for i, error in zip(batch, errors, strict=True):
                            rows[i]["status"] = "failed" if error else "done"
                            rows[i]["error"] = error
                        future.release()
                        bar.update(len(batch))
                except (KeyboardInterrupt, NoWorkersError):
                    client.cancel(futures, force=True)
                    raise
                finally:
                    bar.close()
            finally:
                if owned:
                    close_quietly(client)
                clean_stale_temps(folder)  # a save the interrupt or a dead worker cut short (live writers' are kept)
        for stale in folder.glob(".run_*.nc.*.tmp"):  # left by a worker killed while writing; never a run
            stale.unlink(missing_ok=True)
        saved_runs = sorted(folder.glob("run_*.nc"))
        if saved_runs:  # open_sweep then reads no header: 1000 runs open in under a second, not 4 s
            from drl.sweep.stacked import index_headers

            with contextlib.suppress(OSError, ValueError, KeyError):  # a cache: open_sweep reads the files without it
                index_headers(saved_runs)
    except NoWorkersError as e:
        e.args = (f"{e.args[0]}. {saved_note('the workers were lost')}",)
        raise
    except KeyboardInterrupt as e:
        # at any moment: in the loop, or while the cluster closes after the last run (every run saved; the note
        # once said "nothing was published" then)
        clean_stale_temps(folder)
        e.add_note(saved_note("the interrupt"))
        raise
    table = pd.DataFrame(rows).set_index("run")
    counts = table["status"].value_counts()
    print(f"sweep {out}: {counts.get('done', 0)} done, {counts.get('skipped', 0)} skipped, "
          f"{counts.get('failed', 0)} failed (of {len(table)}) in {folder}")
    for i, row in table[table["status"] == "failed"].iterrows():
        print(f"  run {i} failed: {', '.join(f'{f}={row[f]!r}' for f in fields)}: {row['error']}")
    return table
