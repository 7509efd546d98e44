"""Runs on disk: netCDF4 files that carry everything needed to understand and rerun them.

* ``save(ds, "name")`` writes ``exps/name.nc`` atomically (temporary file in the same folder, then an atomic
  publish); an existing file is replaced only with ``overwrite=True``, and without it the publish itself
  refuses to replace (a hard link, which fails if the name exists), so two processes saving the same name
  cannot both succeed. Temporary files of processes that died are removed by the next save into the folder.
* Every file carries ``drl_complete`` (1 once fully written; a streamed file is marked complete last), and
  ``load`` refuses a file marked incomplete.
* ``load("name")`` opens lazily (nothing is read until used) and validates the schema.
* Streamed runs (``simulate(..., out=…)``) are written by :class:`drl.engine.sinks.StreamWriter` through the
  same publish; a killed one leaves a resumable temporary file (:func:`interrupted_runs`, :func:`drl.resume`).
* Dict, list, bool and None attributes (task spec, options) are stored as JSON strings and decoded on load;
  the attribute ``drl_json_attrs`` lists which.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import netCDF4
import pandas as pd
import xarray as xr

from drl._atomic import temporary_path
from drl._files import readable_file
from drl._validate import boolean
from drl.runs.encoding import (
    COMPLETE_ATTR,
    DEFAULT_COMPRESSION,
    JSON_MARK,
    decode_attrs,
    encode_attrs,
    variable_encoding,
)
from drl.runs.paths import DEFAULT_DIR, interrupted_temporaries, run_path
from drl.runs.publishing import check_target, publish, write_failed
from drl.runs.reading import validated  # run.drl: a run validated once per Dataset
from drl.runs.schema import SCHEMA_NAME

__all__ = ["list_runs", "load", "open_run", "save"]


def save(ds: xr.Dataset, path_or_name, *, overwrite: bool = False, directory=DEFAULT_DIR,
         compression: str | None = DEFAULT_COMPRESSION) -> Path:
    """Write a run to netCDF4, atomically.

    A bare name goes to ``exps/<name>.nc``. The file is written beside its destination and renamed into place, so
    a crash never leaves half a run under the name.

    Parameters
    ----------
    ds : xarray.Dataset
        The run.
    path_or_name : str or path
        A path, or a bare name under ``directory``.
    overwrite : bool
        Replace an existing file.
    directory : str or path
        Where bare names go (default ``exps/``).
    compression : {None, "zlib", "blosc_zstd"}
        None (the default: uncompressed, no HDF5 filter, so every netCDF-4 reader opens it; as fast as np.save),
        "zlib" (a third the size, read by every netCDF-4 reader, slower) or "blosc_zstd" (a third the size and
        fast, but only readers with the HDF5 blosc plugin open it).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FileExistsError
        The file exists and ``overwrite`` is False.
    ValueError
        ``ds`` is not a run, or an unknown ``compression``.

    See Also
    --------
    load : reads it back.

    Examples
    --------
    >>> import tempfile
    >>> import drl
    >>> folder = tempfile.mkdtemp()
    >>> run = drl.simulate("hyp_unif", drl.Population.grid(tau=[0.2, 0.8]), 20, progress=False)
    >>> drl.save(run, "first", directory=folder).name
    'first.nc'
    >>> drl.save(run, "first", directory=folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileExistsError: ...first.nc already exists; pass overwrite=True to replace it (nothing was written)
    """
    validated(ds, "dataset to save")
    overwrite = boolean("overwrite", overwrite)
    encoding = variable_encoding(ds, compression)
    path = run_path(path_or_name, directory)
    check_target(path, overwrite, directory)
    out = ds.copy()
    out.attrs = encode_attrs({**ds.attrs, COMPLETE_ATTR: 1})
    # a loaded run carries its file's layout (chunks, an unlimited trial, a codec): the new file takes only ours
    out.encoding = {}
    for variable in out.variables.values():
        variable.encoding = {}
    tmp = temporary_path(path)
    try:
        try:
            # contiguous storage cannot grow, so only a compressed (chunked) file keeps ``trial`` unlimited
            out.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding,
                          unlimited_dims=["trial"] if compression is not None else None)
        except RuntimeError:
            if compression != "blosc_zstd":
                raise
            # a chunk blosc could not shrink (data without structure): write it again with zlib, which can
            tmp.unlink(missing_ok=True)
            out.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", unlimited_dims=["trial"],
                          encoding=variable_encoding(ds, "zlib"))
        publish(tmp, path, overwrite)
    except (OSError, RuntimeError) as e:
        raise write_failed(e, path, tmp) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _folder_message(folder: Path, name: str) -> str:
    """Why a folder is not a run, and what to do with it: a sweep's folder names its runs and open_sweep."""
    runs = sorted(folder.glob("*.nc"))
    if (folder / "sweep.json").is_file() or runs:
        first = f"{name.rstrip('/')}/{runs[0].stem}" if runs else f"{name.rstrip('/')}/run_0000"
        return (f"{folder} is a folder, not a run: a sweep of {len(runs)} stored run(s); open them together with "
                f"drl.sweep.open_sweep({name!r}), or name one run, e.g. {first!r} (CLI: drl info {first}; drl ls "
                f"lists them)")
    return f"{folder} is a folder, not a run (a sweep's folder is opened with drl.sweep.open_sweep)"


def load(path_or_name, *, directory=DEFAULT_DIR, chunks=None) -> xr.Dataset:
    """Open a stored run lazily (values are read from disk when used) and check its schema.

    Parameters
    ----------
    path_or_name : str or path
        A path, or a run's name under ``directory``.
    directory : str or path
        Where bare names are looked up (default ``exps/``).
    chunks : dict, optional
        Open with dask in these chunks (e.g. ``{"trial": 100}``).

    Returns
    -------
    xarray.Dataset
        The run.

    Raises
    ------
    FileNotFoundError
        No run there.
    ValueError
        A file that is not a drl run, is truncated or corrupt, or has a newer schema version (the message names
        the file).

    See Also
    --------
    save : writes one.
    open_run : a run from a Dataset, a path or a name.

    Examples
    --------
    >>> import tempfile
    >>> import drl
    >>> folder = tempfile.mkdtemp()
    >>> run = drl.simulate("hyp_unif", drl.Population.grid(tau=[0.2, 0.8]), 20, progress=False)
    >>> path = drl.save(run, "first", directory=folder)
    >>> drl.load("first", directory=folder)["value"].equals(run["value"])
    True
    """
    path = run_path(path_or_name, directory)
    for folder in (Path(str(path_or_name)), Path(directory) / str(path_or_name)):
        if folder.is_dir() and not path.is_file():
            raise IsADirectoryError(_folder_message(folder, str(path_or_name)))
    if path.exists() and not path.is_file():
        readable_file(path, "run file")  # a pipe or a device: say so (reading one would block)
    if not path.is_file():
        if path.parent.is_dir() and interrupted_temporaries(path):
            raise FileNotFoundError(f"no stored run at {path}: its simulation was interrupted; finish it with "
                                    f"drl.resume({str(path)!r}) (CLI: drl resume)")
        raise FileNotFoundError(f"no stored run at {path}")
    try:
        ds = xr.open_dataset(path, engine="netcdf4", chunks=chunks, decode_timedelta=False)
    except (OSError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path} is not a readable netCDF file (truncated or corrupt?): {e}") from None
    try:
        ds.attrs = decode_attrs(ds.attrs)
    except (json.JSONDecodeError, KeyError, RecursionError) as e:
        ds.close()
        why = "nested too deeply" if isinstance(e, RecursionError) else e
        raise ValueError(f"{path}: attribute {JSON_MARK} lists an attribute that is missing or not JSON ({why})") from None
    complete = ds.attrs.pop(COMPLETE_ATTR, 1)
    if complete != 1:
        written = ds.sizes.get("trial", 0)
        ds.close()
        raise ValueError(f"{path} is an incomplete streamed run ({written} recorded trials written before it stopped; "
                         "its weights were never written). Simulate it again; drl does not load partial runs")
    try:
        validated(ds, str(path))
    except Exception:
        ds.close()
        raise
    ds.encoding["source"] = str(path)
    return ds


def open_run(run) -> xr.Dataset:
    """A run from a Dataset (validated) or from a path or run name (loaded lazily).

    The one entry every function that takes a run goes through: a Dataset is validated once (later calls on the
    same object reuse the check, :class:`~drl.runs.reading.RunAccessor`).

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run, a path or a run name.

    Returns
    -------
    xarray.Dataset
        The run.

    Raises
    ------
    ValueError
        A Dataset that is not a run (a responses form is named as such), or a file that is not one.
    TypeError
        Anything else.
    FileNotFoundError
        No run at the path or name.

    See Also
    --------
    load : opens a file.

    Examples
    --------
    >>> import drl
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.2, 0.8], alpha=0.1), 200, seed=0,
    ...                    progress=False)
    >>> drl.open_run(run) is run
    True
    """
    if isinstance(run, xr.Dataset):
        if run.attrs.get("drl_form") == "responses":
            raise ValueError("this needs a simulated run, and this is a responses form (a recording's, or a run read "
                             "into one): pass it to an analysis or figure whose docstring takes a responses form "
                             "(drl.decode, and the figures of drl.plots' responses module)")
        return validated(run, "dataset")  # once per Dataset (run.drl): the layers below call this again
    if isinstance(run, str | os.PathLike):
        return load(run)
    raise TypeError(f"run must be an xarray.Dataset, a path or a run name; got {type(run).__name__}")


def list_runs(directory=DEFAULT_DIR) -> pd.DataFrame:
    """A table of the runs stored under ``directory`` (recursively).

    Only the headers are read; files that are not drl runs are skipped.

    Parameters
    ----------
    directory : str or path
        Where runs are saved (default ``exps/``).

    Returns
    -------
    pandas.DataFrame
        One row per run: ``name``, ``task``, ``predictors``, ``trials``, ``recorded_trials``, ``size_MB``,
        ``created``, ``path``.

    See Also
    --------
    load : opens one.

    Examples
    --------
    >>> import tempfile
    >>> import drl
    >>> folder = tempfile.mkdtemp()
    >>> run = drl.simulate("hyp_unif", drl.Population.grid(tau=[0.2, 0.8]), 20, progress=False)
    >>> _ = drl.save(run, "first", directory=folder)
    >>> drl.list_runs(folder)[["name", "task", "predictors", "trials"]].values.tolist()
    [['first', 'hyp_unif', 2, 20]]
    """
    if not Path(directory).is_dir():
        raise FileNotFoundError(f"no folder {directory} to list runs from")
    rows = []
    for path in sorted(Path(directory).rglob("*.nc")):
        if not path.is_file():  # a folder or a FIFO named *.nc: opening a FIFO would wait forever
            continue
        try:
            with netCDF4.Dataset(path) as nc:
                if getattr(nc, "schema", None) != SCHEMA_NAME:
                    continue
                if not {"predictor", "trial"} <= set(nc.dimensions):
                    warnings.warn(f"{path} says it is a drl run but lacks the dimension(s) "
                                  f"{sorted({'predictor', 'trial'} - set(nc.dimensions))}: not listed (drl.load says "
                                  "what is wrong with it)", stacklevel=2)
                    continue
                rows.append({
                    "name": str(path.relative_to(directory).with_suffix("")),
                    "task": getattr(nc, "task_name", ""),
                    "predictors": len(nc.dimensions["predictor"]),
                    "trials": int(getattr(nc, "n_trials", len(nc.dimensions["trial"]))),
                    "recorded_trials": len(nc.dimensions["trial"]),
                    "size_MB": round(path.stat().st_size / 1e6, 3),
                    "created": getattr(nc, "created", ""),
                    "path": str(path),
                })
        except (OSError, RuntimeError):  # not netCDF, or damaged: not a run to list
            continue
    columns = ["name", "task", "predictors", "trials", "recorded_trials", "size_MB", "created", "path"]
    return pd.DataFrame(rows, columns=columns)
