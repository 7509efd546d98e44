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

import errno
import gc
import json
import os
import shutil
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

from drl._atomic import process_alive, remove_dead_temporaries, temporary_owner, temporary_path
from drl._files import readable_file
from drl._validate import boolean
from drl.runs.schema import SCHEMA_NAME, validate_dataset

__all__ = ["save", "load", "open_run", "list_runs", "run_path", "clean_stale_temps", "interrupted_runs"]

DEFAULT_DIR = Path("exps")
_JSON_MARK = "drl_json_attrs"
COMPLETE_ATTR = "drl_complete"  # 0 while a streamed run is being written, 1 once its last block and weights are in
_COMPRESSED = {"value", "rpe", "reward", "weights"}
TRIAL_CHUNK = 64  # trials per compressed chunk of a stored run (streamed runs write whole chunks per block)
#: How the float variables are stored on disk. The default (None) writes them uncompressed and contiguous: no
#: HDF5 filter at all, so every netCDF-4 reader opens the file (h5py without plugins, MATLAB's ``ncread``, R's
#: ncdf4, a stock netCDF-C build) and an xarray round trip works. Measured (benchmarks/bench_storage.py, 568 MB of
#: V and δ, 500 predictors × 2000 trials × 71 steps): None writes in 0.49 s (np.save 1.16 s) and reads in 0.10 s
#: (np.load 0.08 s) for a 568 MB file (8 bytes per predictor-step for V and δ); blosc_zstd level 1 with byte
#: shuffle 1.24 s and 0.62 s for 173 MB, but only readers with the HDF5 blosc plugin open it (netCDF4-python's
#: wheels ship it); zlib level 1 with shuffle, readable everywhere, 4.53 s and 1.42 s for 172 MB (HDF5's filter
#: pipeline runs one chunk at a time on one thread).
COMPRESSIONS = (None, "zlib", "blosc_zstd")
DEFAULT_COMPRESSION = None
#: HDF5's blosc filter fails ("Buffer is uncompressible", an HDF error) on a chunk it cannot shrink, which
#: small chunks (under ~1 KB) always are: chunks under this size are zlib-compressed (they cost nothing).
BLOSC_MIN_CHUNK_BYTES = 1 << 16


def run_path(path_or_name, directory=DEFAULT_DIR) -> Path:
    """A bare name (no folder) means ``<directory>/<name>.nc``; a path not ending in ``.nc`` gets it (a dot in a
    name, ``alpha0.1``, is part of the name).

    A relative name with a folder, such as ``lam_alpha/run_0000`` (what ``drl ls`` prints for a sweep's runs),
    is found under ``<directory>`` when it exists there and not as a path from the current folder."""
    if not isinstance(path_or_name, str | os.PathLike):
        raise TypeError(f"a run is named by a string or a path; got {path_or_name!r}")
    text = str(path_or_name)
    if not text:
        raise ValueError("run name must not be empty")
    if text.endswith(("/", os.sep)):
        raise ValueError(f"a run is named by a file name, not a folder; got {text!r}")
    if "\0" in text:
        raise ValueError(f"a run name must not contain a NUL byte; got {text!r}")
    p = Path(text)
    if len(p.name) > 200:
        raise ValueError(f"a run name must be at most 200 characters (the file system's limit is 255 for the file "
                         f"and its temporary name); got {len(p.name)}")
    if p.suffix.lower() != ".nc":  # "alpha0.1" is a name with a dot, not a file with suffix ".1"
        if len(p.parts) == 1:
            return Path(directory) / f"{p.name}.nc"
        p = p.with_name(f"{p.name}.nc")
    if not p.is_absolute() and not p.exists() and (Path(directory) / p).is_file():
        return Path(directory) / p
    return p


def encode_attrs(attrs: dict) -> dict:
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


def decode_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    for k in filter(None, str(attrs.pop(_JSON_MARK, "")).split(",")):
        attrs[k] = json.loads(attrs[k])
    for k, v in attrs.items():
        if isinstance(v, np.generic):
            attrs[k] = v.item()
    return attrs


def variable_encoding(ds: xr.Dataset, compression: str | None = DEFAULT_COMPRESSION, *,
                      chunked: bool = False, trial_chunk: int = 0) -> dict:
    """How each float variable is laid out: contiguous when uncompressed (fastest to read, no filter), otherwise
    compressed (:data:`COMPRESSIONS`, level 1, byte shuffle) in chunks of trial blocks (and predictor blocks).
    ``chunked``: uncompressed in those chunks, with no filter either (a streamed run grows along ``trial``, which
    needs chunks; zlib there made a stream 2–4× slower than the run in memory plus a save). ``trial_chunk``: the
    trials of a chunk, when not :data:`TRIAL_CHUNK` (a stream's recorded trials per block: a chunk written by
    several blocks is read back and written again by each)."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}; got {compression!r}")
    zlib = {"zlib": True, "complevel": 1, "shuffle": True}
    codec = {"blosc_zstd": {"compression": "blosc_zstd", "complevel": 1, "blosc_shuffle": 1}, "zlib": zlib,
             None: {}}[compression]
    enc = {}
    for name in ds.data_vars:
        if name not in _COMPRESSED:
            continue
        if compression is None and not chunked:
            enc[name] = {"dtype": "float32", "contiguous": True}
            continue
        var = ds[name]
        chunks = []
        for dim, size in zip(var.dims, var.shape, strict=True):
            if dim == "trial":
                chunks.append(max(1, min(size, trial_chunk or TRIAL_CHUNK)))
            elif dim == "predictor":
                chunks.append(max(1, min(size, 64)))
            else:
                chunks.append(max(1, size))
        if compression is None:
            enc[name] = {"dtype": "float32", "chunksizes": tuple(chunks)}
            continue
        small = np.prod(chunks) * 4 < BLOSC_MIN_CHUNK_BYTES
        enc[name] = {**(zlib if compression == "blosc_zstd" and small else codec), "dtype": "float32",
                     "chunksizes": tuple(chunks)}
    return enc


def checkpoint_path(tmp: Path) -> Path:
    """The checkpoint beside a streamed run's temporary file (present once a block is complete)."""
    return tmp.with_name(tmp.name + ".checkpoint.npz")


def trials_path(tmp: Path) -> Path:
    """The recorded-trial list beside a streamed run's temporary file."""
    return tmp.with_name(tmp.name + ".trials.npy")


def release_temp(tmp: Path) -> Path:
    """Give up ownership of an interrupted run's temporary file (and its checkpoint): rename it to owner 0, so
    that it can be resumed, by this process too, and is never taken for a run still being written."""
    name, _, token, suffix = tmp.name.rsplit(".", 3)
    released = tmp.with_name(f"{name}.0.{token}.{suffix}")
    for old, new in ((checkpoint_path(tmp), checkpoint_path(released)), (trials_path(tmp), trials_path(released)),
                     (tmp, released)):
        if old.exists():
            os.rename(old, new)
    return released


def clean_stale_temps(directory) -> list[Path]:
    """Remove the temporary files that saves, streamed runs and NWB writes (:func:`drl.responses.write_nwb`) of
    processes no longer alive left in ``directory``.

    Returns the paths removed. Kept: temporary files of live processes (a run still being written), and
    interrupted streamed runs that can be resumed (:func:`interrupted_runs`, :func:`drl.resume`).
    """
    if not Path(directory).is_dir():
        return []
    removed = remove_dead_temporaries(directory, keep=lambda tmp: checkpoint_path(tmp).is_file())
    for tmp in removed:
        trials_path(tmp).unlink(missing_ok=True)
    return removed


def interrupted_temporaries(path: Path) -> list[Path]:
    """Temporary files of interrupted, resumable streamed runs of ``path`` (their processes are gone)."""
    found = []
    for tmp in sorted(path.parent.glob(f".{_glob_escape(path.name)}.*.tmp")):
        pid = temporary_owner(tmp)
        if pid is not None and not process_alive(pid) and checkpoint_path(tmp).is_file():
            if path.is_file() and os.path.samefile(tmp, path):
                # killed right after publishing: the temporary name is a second link to the published run, not
                # an interrupted one (it was listed twice and kept a full copy's name forever)
                for leftover in (tmp, checkpoint_path(tmp), trials_path(tmp)):
                    leftover.unlink(missing_ok=True)
                continue
            found.append(tmp)
    return found


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def interrupted_runs(directory=DEFAULT_DIR) -> pd.DataFrame:
    """Streamed runs under ``directory`` that were killed or interrupted and can be resumed with ``drl.resume``.

    Columns: name, trials_done, n_trials, path (the temporary file). A run whose checkpoint or file cannot be read
    is listed with −1 for what is unknown (``drl resume`` then says what is wrong), never left out.
    """
    rows = []
    folder = Path(directory)
    if folder.is_dir():
        for run in sorted({tmp.name[1:].rsplit(".", 3)[0] for tmp in folder.glob(".*.nc.*.tmp")}):
            for tmp in interrupted_temporaries(folder / run):
                try:
                    with np.load(checkpoint_path(tmp), allow_pickle=False) as ck, netCDF4.Dataset(tmp) as nc:
                        done, total = int(ck["trials_done"]), int(getattr(nc, "n_trials", -1))
                except Exception:  # noqa: BLE001 - a damaged checkpoint is listed (-1), never hidden: resume says why
                    done, total = -1, -1
                rows.append({"name": str(Path(run).with_suffix("")), "trials_done": done, "n_trials": total,
                             "path": str(tmp)})
    return pd.DataFrame(rows, columns=["name", "trials_done", "n_trials", "path"])


def resume_hint(path) -> str:
    """How to finish an interrupted run, in Python and at the shell."""
    return f"drl.resume({str(path)!r}) (CLI: drl resume {path})"


def check_target(path: Path, overwrite: bool, directory=DEFAULT_DIR) -> None:
    """Refuse to write over an existing run (or an interrupted one that could be resumed) unless ``overwrite``;
    create the folder when it is ``directory`` (exps/) or inside it, and refuse a path into a folder that does
    not exist elsewhere (a typo must not create folders silently); remove stale temporary files there."""
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it (nothing was written)")
    for tmp in interrupted_temporaries(path) if path.parent.is_dir() else []:
        if not overwrite:
            raise FileExistsError(f"an interrupted run of {path} can be resumed: drl.resume({str(path)!r}) (CLI: "
                                  "drl resume); pass overwrite=True to discard it and start again")
        for f in (tmp, checkpoint_path(tmp), trials_path(tmp)):
            f.unlink(missing_ok=True)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name for the run")
    if not path.parent.is_dir() and not _inside(path.parent, Path(directory)):
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist (drl creates only "
                                f"{directory}/ and folders inside it; create it first, or give a run name)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(e.errno, f"cannot create the folder {path.parent} for {path.name}: {e.strerror}") from None
    clean_stale_temps(path.parent)


def _inside(folder: Path, directory: Path) -> bool:
    """Whether ``folder`` is ``directory`` or lies inside it (both resolved)."""
    folder, directory = folder.resolve(), directory.resolve()
    return folder == directory or directory in folder.parents


def publish(tmp: Path, path: Path, overwrite: bool) -> None:
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


def write_failed(e: Exception, path: Path, tmp: Path | None = None) -> Exception:
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
        kept = "" if tmp is not None else ("; the run is kept, resumable from its last complete block: free space, "
                                           "then resume it")
        return OSError(errno.ENOSPC, f"the disk holding {path.parent} is full{shown}: {path.name} was not written "
                                     f"({'its temporary file was removed' if tmp is not None else 'nothing removed'})"
                                     f"{kept}. Free space or write elsewhere")
    if isinstance(e, PermissionError):
        return PermissionError(errno.EACCES, f"cannot write {path}: permission denied in {path.parent}")
    return e


def save(ds: xr.Dataset, path_or_name, *, overwrite: bool = False, directory=DEFAULT_DIR,
         compression: str | None = DEFAULT_COMPRESSION) -> Path:
    """Write a run to netCDF4 (``exps/<name>.nc`` for a bare name) atomically; returns the path written.

    ``compression``: None (the default: uncompressed, no HDF5 filter, so every netCDF-4 reader opens it; as fast
    as np.save), "zlib" (a third the size, read by every netCDF-4 reader, slower) or "blosc_zstd" (a third the
    size and fast, but only readers with the HDF5 blosc plugin open it). Raises FileExistsError if the file exists and ``overwrite`` is False;
    ValueError if ``ds`` is not a run or ``compression`` is unknown.
    """
    validate_dataset(ds, "dataset to save")
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

    ``chunks`` (e.g. ``{"trial": 100}``) opens it with dask instead. Raises FileNotFoundError, or ValueError
    naming the file when it is not a drl run, is truncated/corrupt, or has a newer schema version.
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
        raise ValueError(f"{path}: attribute {_JSON_MARK} lists an attribute that is missing or not JSON ({why})") from None
    complete = ds.attrs.pop(COMPLETE_ATTR, 1)
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
        if run.attrs.get("drl_form") == "responses":
            raise ValueError("this needs a simulated run; a recording in the responses form is read by "
                             "drl.decode.reward_responses, reward_response_intervals, distribution_intervals, "
                             "cue_responses, decode_run_distribution, decode_run_timing, decode_cue_distribution "
                             "and decode_joint, and by drl.plots.reward_response, value_vs_delay, timing and joint_map")
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
