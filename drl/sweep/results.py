"""Reading a sweep back: every run as one lazy Dataset with a ``run`` dimension, or one run of it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from drl.runs.encoding import decode_attrs
from drl.runs.paths import DEFAULT_DIR
from drl.runs.schema import PARAMETERS
from drl.runs.store import load
from drl.sweep.run import MANIFEST, read_configs, read_manifest
from drl.sweep.stacked import stack_runs

__all__ = ["map_runs", "open_sweep", "sweep_coordinate", "sweep_run"]


def sweep_coordinate(field: str) -> str:
    """The ``run`` coordinate of a swept field in :func:`open_sweep`.

    Parameters
    ----------
    field : str
        A configuration field swept by the grid.

    Returns
    -------
    str
        The field's name, or ``<field>_setting`` for the population parameters (tau, gamma, lam, alpha_pos,
        alpha_neg), which are already per-predictor coordinates of every run (then with a ``run`` dimension too).

    Raises
    ------
    TypeError
        ``field`` is not a str.

    Examples
    --------
    >>> from drl.sweep import sweep_coordinate
    >>> sweep_coordinate("tau"), sweep_coordinate("alpha")
    ('tau_setting', 'alpha')
    """
    if not isinstance(field, str):
        raise TypeError(f"field must be the name of a swept field (a str); got {field!r}")
    return f"{field}_setting" if field in PARAMETERS else field


def open_sweep(out: str, *, directory=DEFAULT_DIR) -> xr.Dataset:
    """The runs of a sweep as one lazy Dataset with a ``run`` dimension.

    Each swept field is a ``run`` coordinate (named by :func:`sweep_coordinate`; list values as JSON text). Runs
    that are missing (failed) are left out. Runs of one shape are stacked from their headers (kept in the folder's
    header index), a dask chunk per run; runs of different sizes go through ``xarray.open_mfdataset`` and are
    padded with NaN (outer join). Attributes shared by all runs are kept; the per-run attributes (task, options,
    seed...) are in ``attrs["runs"]`` so that :func:`sweep_run` gives back a complete run for figures and
    decoders.

    Parameters
    ----------
    out : str
        The sweep's folder under ``directory``.
    directory : str or path
        Where sweeps are saved (default ``exps/``).

    Returns
    -------
    xarray.Dataset
        Dims ``[run, predictor, trial, time]``, lazy (dask).

    Raises
    ------
    FileNotFoundError
        No sweep at ``out``, or no completed run in it.

    See Also
    --------
    sweep_run : one run of it, complete.
    map_runs : an analysis of every run, each beside its own file.

    Examples
    --------
    >>> import tempfile
    >>> from drl import sweep
    >>> folder = tempfile.mkdtemp()
    >>> _ = sweep.sweep({"task": "hyp_unif", "n_trials": 50, "tau": [0.2, 0.8], "seed": 0}, {"gamma": [0.8, 0.9]},
    ...                 out="example", directory=folder, progress=False)  # doctest: +ELLIPSIS
    sweep example: 2 done, 0 skipped, 0 failed (of 2) in ...
    >>> runs = sweep.open_sweep("example", directory=folder)
    >>> runs.sizes["run"], runs["gamma_setting"].values.tolist()  # the swept value of each run
    (2, [0.8, 0.9])
    """
    folder = Path(directory) / out
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no sweep at {folder} (no {MANIFEST})")
    manifest = read_manifest(manifest_path)
    files = sorted(folder.glob("run_*.nc"))
    if not files:
        raise ValueError(f"the sweep {folder} has no completed run")
    fields = list(manifest["grid"])

    def run_coordinates(raw_attrs):
        config = decode_attrs(raw_attrs)["sweep_config"]
        coords = {"run": int(raw_attrs["sweep_index"])}
        for f in fields:
            value = config[f]
            coords[sweep_coordinate(f)] = json.dumps(value) if isinstance(value, list | dict) or value is None else value
        return coords

    stacked = stack_runs([str(path) for path in files], run_coordinates)
    if stacked is not None:  # the runs share their shape: stacked from their headers (1000 runs: 39 s before)
        combined, raw_attrs = stacked
        run_files = {int(a["sweep_index"]): str(path.resolve()) for a, path in zip(raw_attrs, files, strict=True)}
        run_attrs = [decode_attrs(a) for a in raw_attrs]
    else:  # runs of different sizes or coordinates: xarray's outer join pads them with NaN
        combined, run_attrs, run_files = _combined_by_xarray(files, run_coordinates)
    order = np.argsort(combined["run"].values)
    by_index = {int(a["sweep_index"]): a for a in run_attrs}
    combined.attrs = {k: v for k, v in combined.attrs.items() if k != "drl_json_attrs"}
    combined.attrs.update(sweep_name=out, sweep_fields=fields, runs=[by_index[int(i)] for i in
                                                                        combined["run"].values[order]],
                          run_files=run_files)
    return combined.isel(run=order)


def _combined_by_xarray(files, run_coordinates):
    """``open_mfdataset`` of runs that do not share their shape, each tagged with its run coordinates."""
    run_attrs, run_files = [], {}

    def tag(ds):
        run_attrs.append(decode_attrs(ds.attrs))
        coords = run_coordinates(ds.attrs)
        run_files[coords["run"]] = ds.encoding.get("source", "")
        return ds.expand_dims("run").assign_coords({name: ("run", [value]) for name, value in coords.items()})

    combined = xr.open_mfdataset(files, combine="nested", concat_dim="run", preprocess=tag, engine="netcdf4",
                                 join="outer", combine_attrs="drop_conflicts", data_vars="all",
                                 coords="different", compat="equals", decode_timedelta=False)
    return combined, run_attrs, run_files


def sweep_run(sweep_ds: xr.Dataset, run: int) -> xr.Dataset:
    """One run of an :func:`open_sweep` Dataset, as a complete drl run Dataset.

    Its own file (O(1) in the sweep's size: selecting it from the combined Dataset cost 0.98 s a run at 200 runs
    and 7.4 s at 1000), read into memory up to ``LOAD_BYTES`` (an analysis selects from it dozens of times,
    each a read of the file when it is lazy: a decode 0.10 → 0.05 s) and opened lazily above; or, when the file is
    gone, its slice of the combined Dataset.

    Parameters
    ----------
    sweep_ds : xarray.Dataset
        What :func:`open_sweep` returned.
    run : int
        The run's index in the grid.

    Returns
    -------
    xarray.Dataset
        The run, as :func:`drl.simulate` returns it (figures and decoders take it).

    Raises
    ------
    TypeError
        ``sweep_ds`` not an :func:`open_sweep` Dataset, ``run`` not an integer.
    ValueError
        No run ``run`` in it.

    See Also
    --------
    open_sweep : the combined Dataset.

    Examples
    --------
    >>> import tempfile
    >>> from drl import sweep
    >>> folder = tempfile.mkdtemp()
    >>> _ = sweep.sweep({"task": "hyp_unif", "n_trials": 50, "tau": [0.2, 0.8], "seed": 0}, {"gamma": [0.8, 0.9]},
    ...                 out="example", directory=folder, progress=False)  # doctest: +ELLIPSIS
    sweep example: 2 done, 0 skipped, 0 failed (of 2) in ...
    >>> run = sweep.sweep_run(sweep.open_sweep("example", directory=folder), 1)
    >>> run["gamma"].values.tolist(), run.attrs["task_name"]
    ([0.9, 0.9], 'hyp_unif')
    """
    if not isinstance(sweep_ds, xr.Dataset) or "run" not in sweep_ds.dims:
        raise TypeError(f"sweep_ds must be the Dataset open_sweep returns (with a run dimension); got "
                        f"{type(sweep_ds).__name__}")
    if isinstance(run, bool) or not isinstance(run, int | np.integer):
        raise TypeError(f"run must be an integer (the run's index in the grid); got {run!r}")
    indices = [int(i) for i in sweep_ds["run"].values]
    if run not in indices:
        raise ValueError(f"run {run} is not in this sweep (runs present: {indices[:10]}"
                         f"{'…' if len(indices) > 10 else ''})")
    own_file = (sweep_ds.attrs.get("run_files") or {}).get(run, "")
    if own_file and Path(own_file).is_file():
        one = load(own_file)
        return one.load() if one.nbytes <= LOAD_BYTES else one
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


#: A run up to this size is read into memory before ``map_runs``' function sees it (bytes): a decode selects
#: trial types and windows dozens of times, each a read of the file when the run is lazy (92 → 70 ms a decode)
LOAD_BYTES = 512 * 2**20


def _apply(function, path: str):
    """One run on a worker: its own file, opened lazily, through ``function``; an error is a result."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the analysis' warnings are per run, not the caller's console's
            run = load(path)
            if run.nbytes <= LOAD_BYTES:  # in memory once: an analysis' many selections each read the file
                run.load()
            try:
                result = function(run)
            finally:
                run.close()
    except Exception as error:  # noqa: BLE001 - reported in the run's row, like a sweep's failed run
        return None, f"{type(error).__name__}: {error}"
    return result, ""


#: Runs of one ``map_runs`` task at most (batches are otherwise sized to give each worker about four)
MAX_BATCH = 25


def _apply_batch(function, paths: list[str]) -> list:
    return [_apply(function, path) for path in paths]


def map_runs(out: str, function, *, directory=DEFAULT_DIR, client=None, progress: bool = True,
             no_worker_timeout: float = 300.0):
    """An analysis of every completed run of a sweep, each on a Dask worker beside its own file, as a table.

    Decoding every run of a 1000-run sweep this way reads 1000 files once each (a run from the combined Dataset of
    :func:`open_sweep` cost 2.9 s at 1000 runs, its own file 0.085 s).

    Parameters
    ----------
    out : str
        The sweep's folder under ``directory``.
    function : callable
        Takes one run Dataset (opened lazily from its own file) and returns a number, a dict of numbers, or any
        picklable value; e.g. ``lambda run: decode.wasserstein(decode.decode_reward_distribution(run), truth)``.
    directory : str or path
        Where sweeps are saved (default ``exps/``).
    client : dask.distributed.Client, optional
        As :func:`drl.sweep.sweep`'s (None: a local cluster of this job's CPUs, closed afterwards).
    progress : bool
        A bar over completed runs.
    no_worker_timeout : float
        Seconds with no worker while runs remain before it stops with a :class:`NoWorkersError` (as a sweep's).

    Returns
    -------
    pandas.DataFrame
        One row per run (index ``run``) with its grid fields, ``error`` ("" when it ran), and the result (a dict
        gives a column per key, anything else a ``value`` column). A run whose analysis raised keeps its row, with
        the error.

    Raises
    ------
    FileNotFoundError
        No sweep at ``out``.
    TypeError
        ``function`` not callable.
    NoWorkersError
        No worker for ``no_worker_timeout`` seconds while runs remained.

    See Also
    --------
    open_sweep : every run in one lazy Dataset.

    Examples
    --------
    >>> import tempfile
    >>> from drl import sweep
    >>> folder = tempfile.mkdtemp()
    >>> _ = sweep.sweep({"task": "hyp_unif", "n_trials": 50, "tau": [0.2, 0.8], "seed": 0}, {"gamma": [0.8, 0.9]},
    ...                 out="example", directory=folder, progress=False)  # doctest: +ELLIPSIS
    sweep example: 2 done, 0 skipped, 0 failed (of 2) in ...
    >>> table = sweep.map_runs("example", lambda run: float(run["gamma"][0]), directory=folder, progress=False)
    >>> table["value"].tolist()
    [0.8, 0.9]
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from drl.sweep.cluster import client_for, close_quietly, completed, lost, target_workers

    if not callable(function):
        raise TypeError(f"function must be callable (it gets one run Dataset); got {type(function).__name__}")
    folder = Path(directory) / str(out)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no sweep at {folder} (no {MANIFEST})")
    fields = list(read_manifest(manifest_path)["grid"])
    files = sorted(folder.glob("run_*.nc"))
    if not files:
        raise ValueError(f"the sweep {folder} has no completed run")
    rows = {}
    # each run's configuration for its row, from the header index the sweep left (reading 1000 headers: 4 s)
    for path, config in zip(files, read_configs(files), strict=True):
        if config is not None:  # else not a finished run of this sweep (open_sweep and sweep say so)
            rows[int(path.stem.removeprefix("run_"))] = {"path": str(path.resolve()),
                                                       **{f: config.get(f) for f in fields}}
    dask_client, owned = client_for(client)
    try:
        # runs in batches, a few per worker: a task per run spent ~30 ms a run on the function's transfer and the
        # scheduling (1000 decodes: 79 s on 2 workers, of which ~48 s decoding)
        indices = list(rows)
        size = max(1, min(MAX_BATCH, -(-len(indices) // (4 * target_workers(dask_client)))))
        batches = [indices[i:i + size] for i in range(0, len(indices), size)]
        futures = {dask_client.submit(_apply_batch, function, [rows[i]["path"] for i in batch], pure=False):
                   batch for batch in batches}
        with tqdm(total=len(indices), desc=f"map over {out}", unit="run", disable=not progress) as bar:
            for future, results, lost_error in completed(dask_client, futures, no_worker_timeout):
                batch = futures[future]
                for index, (result, error) in zip(batch, results or [(None, lost(lost_error))] * len(batch),
                                                  strict=True):
                    row = rows[index]
                    row["error"] = error
                    if isinstance(result, dict):
                        row.update(result)
                    elif not error:
                        row["value"] = result
                bar.update(len(batch))
    finally:
        if owned:
            close_quietly(dask_client)
    table = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    table.index.name = "run"
    return table
