"""Writing runs safely: a run is written to a temporary file and published atomically (never over an existing
run unless asked), temporary files of dead processes are cleaned, interrupted streamed runs are listed, and a
failed write says what happened with nothing lost."""

from __future__ import annotations

import errno
import gc
import os
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd

from drl._atomic import remove_dead_temporaries
from drl.runs.paths import DEFAULT_DIR, checkpoint_path, interrupted_temporaries, trials_path

__all__ = ["check_target", "clean_stale_temps", "interrupted_runs", "publish", "release_temp", "write_failed"]


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
