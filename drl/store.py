"""Runs on disk: netCDF4 files that carry everything needed to understand and rerun them.

* ``save(ds, "name")`` writes ``exps/name.nc`` atomically (temporary file in the same folder, then an atomic
  publish); an existing file is replaced only with ``overwrite=True``, and without it the publish itself
  refuses to replace (a hard link, which fails if the name exists), so two processes saving the same name
  cannot both succeed. Temporary files of processes that died are removed by the next save into the folder.
* Every file carries ``drl_complete`` (1 once fully written; a streamed file is marked complete last), and
  ``load`` refuses a file marked incomplete.
* ``load("name")`` opens lazily (nothing is read until used) and validates the schema.
* ``StreamWriter`` lets ``simulate(..., out=…)`` write trial blocks as it goes (an unlimited ``trial``
  dimension appended with netCDF4-python), so a run larger than memory completes with bounded RAM.
* Dict, list, bool and None attributes (task spec, options) are stored as JSON strings and decoded on load;
  the attribute ``drl_json_attrs`` lists which.
"""

from __future__ import annotations

import datetime as _dt
import errno
import gc
import json
import os
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

from drl._atomic import temporary_path
from drl._validate import boolean
from drl.schema import SCHEMA_NAME, build_dataset, validate_dataset

__all__ = ["save", "load", "open_run", "list_runs", "import_drl_sim", "run_path", "StreamWriter", "clean_stale_temps"]

DEFAULT_DIR = Path("exps")
_JSON_MARK = "drl_json_attrs"
_COMPLETE = "drl_complete"  # 0 while a streamed run is being written, 1 once its last block and weights are in
_COMPRESSED = {"value", "rpe", "reward", "weights"}


def run_path(path_or_name, directory=DEFAULT_DIR) -> Path:
    """A bare name (no folder, no suffix) means ``<directory>/<name>.nc``; a path without suffix gets ``.nc``."""
    if not isinstance(path_or_name, str | os.PathLike):
        raise TypeError(f"a run is named by a string or a path; got {path_or_name!r}")
    text = str(path_or_name)
    if not text:
        raise ValueError("run name must not be empty")
    p = Path(text)
    if p.suffix == "":
        return Path(directory) / f"{text}.nc" if len(p.parts) == 1 else p.with_suffix(".nc")
    return p


def _encode_attrs(attrs: dict) -> dict:
    out, encoded = {}, []
    for k, v in attrs.items():
        if isinstance(v, dict | list | tuple | bool) or v is None:
            out[k] = json.dumps(v, sort_keys=True)
            encoded.append(k)
        else:
            out[k] = v
    if encoded:
        out[_JSON_MARK] = ",".join(encoded)
    return out


def _decode_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    for k in filter(None, str(attrs.pop(_JSON_MARK, "")).split(",")):
        attrs[k] = json.loads(attrs[k])
    for k, v in attrs.items():
        if isinstance(v, np.generic):
            attrs[k] = v.item()
    return attrs


def _encoding(ds: xr.Dataset) -> dict:
    """zlib + shuffle on the float variables, chunked by trial blocks (and predictor blocks)."""
    enc = {}
    for name in ds.data_vars:
        if name not in _COMPRESSED:
            continue
        var = ds[name]
        chunks = []
        for dim, size in zip(var.dims, var.shape, strict=True):
            if dim == "trial":
                chunks.append(max(1, min(size, 64)))
            elif dim == "predictor":
                chunks.append(max(1, min(size, 64)))
            else:
                chunks.append(max(1, size))
        enc[name] = {"zlib": True, "complevel": 1, "shuffle": True, "dtype": "float32", "chunksizes": tuple(chunks)}
    return enc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def clean_stale_temps(directory) -> list[Path]:
    """Remove the temporary files that saves and streamed runs of processes no longer alive left in ``directory``.

    Returns the paths removed. Temporary files of live processes (a run still being written) are kept.
    """
    removed = []
    folder = Path(directory)
    if not folder.is_dir():
        return removed
    for tmp in folder.glob(".*.nc.*.tmp"):
        parts = tmp.name.rsplit(".", 3)  # [".name.nc", pid, token, "tmp"]
        if len(parts) == 4 and parts[1].isdigit() and not _pid_alive(int(parts[1])):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _check_target(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it (nothing was written)")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name for the run")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(e.errno, f"cannot create the folder {path.parent} for {path.name}: {e.strerror}") from None
    clean_stale_temps(path.parent)


def _commit(tmp: Path, path: Path, overwrite: bool) -> None:
    """Publish ``tmp`` as ``path`` atomically: readers see no file or the whole file, never half of one.

    Without ``overwrite`` the publish is a hard link, which fails when ``path`` exists, so a file that appeared
    under the name meanwhile (another process's save) is never replaced: FileExistsError instead.
    """
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} appeared while this run was being written (another process saved under "
                              "that name); it was not replaced. Save under another name, or pass "
                              "overwrite=True") from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        # No hard links on this filesystem: claim the name exclusively, then replace our own placeholder.
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise FileExistsError(f"{path} appeared while this run was being written; it was not replaced") from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def _release_space(tmp: Path) -> None:
    """Free the blocks of a temporary file that a failed write left open.

    HDF5 cannot close a file it failed to flush (a full disk), so its descriptor stays open and the deleted file
    would keep the disk full. The descriptor is truncated to zero length, not closed: HDF5 still owns it, and
    closing it here could let its number be reused under HDF5's feet. (Linux: found through /proc/self/fd.)
    """
    gc.collect()
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        return
    target = os.path.abspath(tmp)
    for fd in os.listdir(fds):
        try:
            if os.readlink(fds / fd).removesuffix(" (deleted)") == target:
                os.ftruncate(int(fd), 0)
        except OSError:
            continue


def _write_failed(e: Exception, path: Path, tmp: Path | None = None) -> Exception:
    """A clear error for a failed write (disk full and unwritable folders name the path and what to do)."""
    full = isinstance(e, OSError) and e.errno == errno.ENOSPC
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if tmp is not None:
        _release_space(tmp)
    # HDF5 reports a full disk as "HDF error" or even "Permission denied": judge by the space left (measured
    # while the temporary file still holds it).
    if full or (free is not None and free < 2**20):
        shown = "" if free is None else f" ({free / 2**20:.1f} MB free)"
        return OSError(errno.ENOSPC, f"the disk holding {path.parent} is full{shown}: {path.name} was not written "
                                     "(its temporary file was removed). Free space or write elsewhere")
    if isinstance(e, PermissionError):
        return PermissionError(errno.EACCES, f"cannot write {path}: permission denied in {path.parent}")
    return e


def save(ds: xr.Dataset, path_or_name, *, overwrite: bool = False, directory=DEFAULT_DIR) -> Path:
    """Write a run to netCDF4 (``exps/<name>.nc`` for a bare name) atomically; returns the path written.

    Raises FileExistsError if the file exists and ``overwrite`` is False; ValueError if ``ds`` is not a run.
    """
    validate_dataset(ds, "dataset to save")
    overwrite = boolean("overwrite", overwrite)
    path = run_path(path_or_name, directory)
    _check_target(path, overwrite)
    out = ds.copy()
    out.attrs = _encode_attrs({**ds.attrs, _COMPLETE: 1})
    tmp = temporary_path(path)
    try:
        out.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", unlimited_dims=["trial"], encoding=_encoding(ds))
        _commit(tmp, path, overwrite)
    except (OSError, RuntimeError) as e:
        raise _write_failed(e, path, tmp) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load(path_or_name, *, directory=DEFAULT_DIR, chunks=None) -> xr.Dataset:
    """Open a stored run lazily (values are read from disk when used) and check its schema.

    ``chunks`` (e.g. ``{"trial": 100}``) opens it with dask instead. Raises FileNotFoundError, or ValueError
    naming the file when it is not a drl run, is truncated/corrupt, or has a newer schema version.
    """
    path = run_path(path_or_name, directory)
    if Path(str(path_or_name)).is_dir():
        raise IsADirectoryError(f"{path_or_name} is a folder, not a run (a sweep? use drl.sweep.open_sweep)")
    if not path.is_file():
        raise FileNotFoundError(f"no stored run at {path}")
    try:
        ds = xr.open_dataset(path, engine="netcdf4", chunks=chunks, decode_timedelta=False)
    except (OSError, ValueError, RuntimeError) as e:
        raise ValueError(f"{path} is not a readable netCDF file (truncated or corrupt?): {e}") from None
    try:
        ds.attrs = _decode_attrs(ds.attrs)
    except (json.JSONDecodeError, KeyError) as e:
        ds.close()
        raise ValueError(f"{path}: attribute {_JSON_MARK} lists an attribute that is missing or not JSON ({e})") from None
    complete = ds.attrs.pop(_COMPLETE, 1)
    if complete != 1:
        written = ds.sizes.get("trial", 0)
        ds.close()
        raise ValueError(f"{path} is an incomplete streamed run ({written} recorded trials written before it stopped; "
                         "its weights were never written). Simulate it again; drl does not load partial runs")
    try:
        validate_dataset(ds, str(path))
    except Exception:
        ds.close()
        raise
    ds.encoding["source"] = str(path)
    return ds


def open_run(run) -> xr.Dataset:
    """A run from a Dataset (validated) or from a path / run name (loaded lazily)."""
    if isinstance(run, xr.Dataset):
        return validate_dataset(run, "dataset")
    if isinstance(run, str | os.PathLike):
        return load(run)
    raise TypeError(f"run must be an xarray.Dataset, a path or a run name; got {type(run).__name__}")


def list_runs(directory=DEFAULT_DIR) -> pd.DataFrame:
    """A table of the runs stored under ``directory`` (recursively): name, task, predictors, trials, size, created.

    Files that are not drl runs are skipped. Only the headers are read.
    """
    if not Path(directory).is_dir():
        raise FileNotFoundError(f"no folder {directory} to list runs from")
    rows = []
    for path in sorted(Path(directory).rglob("*.nc")):
        try:
            with netCDF4.Dataset(path) as nc:
                if getattr(nc, "schema", None) != SCHEMA_NAME:
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
        except OSError:
            continue
    columns = ["name", "task", "predictors", "trials", "recorded_trials", "size_MB", "created", "path"]
    return pd.DataFrame(rows, columns=columns)


class StreamWriter:
    """Writes a run block by block into an unlimited ``trial`` dimension; renames into place at the end.

    Used by ``simulate(..., out=…)``: the first block creates the file with xarray (same schema and encoding
    as :func:`save`), later blocks are appended with netCDF4-python, the final weights are written last.
    """

    def __init__(self, out, *, meta: dict, record, n_features: int, overwrite: bool = False, directory=DEFAULT_DIR):
        self.overwrite = boolean("overwrite", overwrite)
        self.path = run_path(out, directory)
        _check_target(self.path, self.overwrite)
        self.tmp = temporary_path(self.path)
        self.meta = meta
        self.record = tuple(record)
        self.n_features = n_features
        self.names = np.array(meta["task"].trial_type_names, dtype=object)
        self.pos = 0
        self.created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")

    def direct_views(self):
        return None  # blocks are written to the file

    def write(self, keep, value, rpe, reward) -> None:
        if len(keep) == 0:
            return
        if self.pos == 0:
            meta = dict(self.meta)
            meta["trials"] = meta["trials"][: len(keep)]
            meta["trial_type"] = meta["trial_type"][: len(keep)]
            p = meta["population"].n_predictors
            weights = np.zeros((p, len(self.names), self.n_features), np.float32)
            ds = build_dataset(**meta, value=value, rpe=rpe, reward=reward, weights=weights, created=self.created)
            ds.attrs = _encode_attrs({**ds.attrs, _COMPLETE: 0})
            try:
                ds.to_netcdf(self.tmp, engine="netcdf4", format="NETCDF4", unlimited_dims=["trial"],
                             encoding=_encoding(ds))
            except (OSError, RuntimeError) as e:
                raise _write_failed(e, self.path, self.tmp) from None
        else:
            sl = slice(self.pos, self.pos + len(keep))
            try:
                with netCDF4.Dataset(self.tmp, "a") as nc:
                    nc.variables["trial"][sl] = np.asarray(keep, dtype=np.int64)
                    nc.variables["trial_type"][sl] = self.names[self.meta["trial_type"][sl]]
                    if value is not None:
                        nc.variables["value"][:, sl, :] = value
                    if rpe is not None:
                        nc.variables["rpe"][:, sl, :] = rpe
                    if reward is not None:
                        nc.variables["reward"][sl, :] = reward
            except (OSError, RuntimeError) as e:
                raise _write_failed(e, self.path, self.tmp) from None
        self.pos += len(keep)

    def abort(self) -> None:
        """Remove the temporary file (the run failed or was interrupted)."""
        self.tmp.unlink(missing_ok=True)

    def finish(self, weights: np.ndarray) -> xr.Dataset:
        """Write the weights, mark the file complete (last), and publish it without replacing a newcomer.

        If a file appeared under the run's name while it ran (and ``overwrite`` is False), the finished run is
        kept beside it as ``<name>.unsaved-<pid>.nc`` and FileExistsError names both: hours of simulation are
        not thrown away.
        """
        try:
            with netCDF4.Dataset(self.tmp, "a") as nc:
                nc.variables["weights"][:] = weights
                nc.setncattr(_COMPLETE, 1)
        except (OSError, RuntimeError) as e:
            error = _write_failed(e, self.path, self.tmp)
            self.abort()
            raise error from None
        try:
            _commit(self.tmp, self.path, self.overwrite)
        except FileExistsError:
            kept = self.path.with_name(f"{self.path.stem}.unsaved-{os.getpid()}.nc")
            _commit(self.tmp, kept, False)
            raise FileExistsError(f"{self.path} appeared while this run was being simulated (another process wrote "
                                  f"it); it was not replaced. This run was kept as {kept}") from None
        finally:
            self.tmp.unlink(missing_ok=True)
        return load(self.path)


# ---------------------------------------------------------------------------------------------- drl_sim
def _numpy_safe_globals() -> list:
    """The numpy names a drl_sim file needs (its trial types are numpy integers), under old and new paths."""
    from numpy._core import multiarray

    allowed = [np.ndarray, np.dtype]
    allowed += [type(np.dtype(t)) for t in (np.int64, np.int32, np.float64, np.float32, np.bool_)]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed += [(multiarray.scalar, f"{module}.scalar"), (multiarray._reconstruct, f"{module}._reconstruct")]
    return allowed


def import_drl_sim(path) -> xr.Dataset:
    """Convert a drl_sim ``exps/*.pth`` run (dict of V, deltas, T, r, dt, states, alpha, gamma, lmbda) to a run.

    Loaded with ``torch.load(weights_only=True)``: no pickled code runs; a file that needs more than tensors,
    numbers, lists and numpy scalars/arrays is refused with an explanation. drl_sim stored V per trial type for
    every trial; the Dataset keeps each trial's own type. drl_sim's last step has no error (stored as NaN).
    drl_sim's task spec and final weights were not saved: the task records trial types only, and the weights
    are NaN.
    """
    import pickle

    import torch

    from drl.population import Population
    from drl.tasks import Task, TrialType

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no drl_sim file at {path}")
    allowed = _numpy_safe_globals()
    try:
        with torch.serialization.safe_globals(allowed):
            exp = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, AttributeError) as e:
        raise ValueError(
            f"{path} cannot be loaded safely (weights_only=True refuses arbitrary pickled objects): {e}. "
            "If you trust the file, load it yourself with torch.load(weights_only=False) and pass the dict's "
            "arrays to drl."
        ) from None
    required = ["V", "deltas", "T", "r", "dt", "states", "alpha", "gamma", "lmbda"]
    if not isinstance(exp, dict) or any(k not in exp for k in required):
        raise ValueError(f"{path} is not a drl_sim run: expected a dict with keys {required}")

    def arr(x):
        return x.detach().cpu().numpy().astype(np.float64) if isinstance(x, torch.Tensor) else np.asarray(x, float)

    v_all, d_all, r_all = arr(exp["V"]), arr(exp["deltas"]), arr(exp["r"])
    p, m, n, k = v_all.shape
    states = np.asarray([int(s) for s in exp["states"]], dtype=np.int64)
    trials = np.arange(len(states))
    value = v_all[:, states, trials, :].astype(np.float32)
    rpe = np.full((p, len(states), k), np.nan, np.float32)
    rpe[:, :, : d_all.shape[-1]] = d_all[:, states, trials, :]
    reward = r_all[states, trials, :].astype(np.float32)

    def per_predictor(x, col=None):
        a = arr(x)
        if a.ndim == 0:
            return np.full(p, float(a))
        a = a.reshape(p, -1)
        return a[:, col if col is not None else 0]

    alpha = arr(exp["alpha"])
    if alpha.ndim == 0:
        a_pos = a_neg = np.full(p, float(alpha))
    else:
        a_pos, a_neg = per_predictor(alpha, 0), per_predictor(alpha, 1)
    population = Population(a_pos, a_neg, per_predictor(exp["gamma"]), per_predictor(exp["lmbda"]))
    dt = float(exp["dt"])
    task = Task(
        name=f"drl_sim:{path.stem}",
        duration=round((k - 1) * dt, 10),
        dt=dt,
        trial_types=tuple(TrialType(f"type_{i}", cue_time=0.0) for i in range(m)),
        reference="imported from drl_sim",
        notes="Imported from a drl_sim run: its cue and reward spec were not saved (see the reward variable).",
    )
    from drl.engine import PRESETS

    options = {"rule": "expectile", "update": "offline", "bootstrap": "own", "features": {"name": "csc"},
               **PRESETS["drl_sim"], "preset": "drl_sim", "dtype": "float32", "device": "cpu",
               "imported_from": str(path)}
    return build_dataset(
        population=population, task=task, options=options, seed=-1, n_trials=len(states), trials=trials,
        trial_type=states, steps=np.arange(k), value=value, rpe=rpe, reward=reward,
        weights=np.full((p, m, k), np.nan, np.float32),
    )
