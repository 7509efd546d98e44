"""What a run records, how much memory that takes, and where it goes: in memory or streamed to a file.

A *sink* receives the recorded trials block by block. Both sinks have one small interface:

* ``direct_views()``: torch views of the result arrays for the engine to write trials into (or None);
* ``write(keep, trial_type, value, rpe, reward)``: the recorded trials ``keep`` of one block, their type
  indices, and their arrays ([P, B_rec, K_rec], [P, B_rec, K_rec], [B_rec, K_rec]; None when not recorded or
  already written through the direct views);
* ``checkpoint(trials_done, weights, rng_state)``: the state after a complete block (a streamed run can be
  resumed from it after a kill);
* ``abort(keep_resumable)`` after a failure or an interrupt; ``finish(weights)`` returns the run.

:class:`MemorySink` builds the Dataset at the end; :class:`StreamWriter` appends every block to a temporary
netCDF4 file beside the target, keeps a checkpoint (weights, bootstrap random state, trials done) after each
block, marks the file complete last and publishes it atomically (:mod:`drl.runs.store`).
"""

from __future__ import annotations

import datetime as _dt
import errno
import io
import os
from pathlib import Path

import netCDF4
import numpy as np
import psutil
import xarray as xr

from drl._atomic import temporary_path, write_atomic
from drl._validate import boolean
from drl.runs.encoding import COMPLETE_ATTR, TRIAL_CHUNK, encode_attrs, variable_encoding
from drl.runs.paths import DEFAULT_DIR, checkpoint_path, resume_hint, run_path, trials_path
from drl.runs.publishing import check_target, publish, release_temp, write_failed
from drl.runs.schema import build_dataset
from drl.runs.store import load
from drl.tasks.timegrid import time_to_step

__all__ = ["MemorySink", "StreamWriter", "RunTooLargeError", "select_trials", "select_steps",
           "count_recorded_trials", "estimate_bytes", "check_memory", "format_bytes"]


class RunTooLargeError(MemoryError):
    """The run would not fit in memory; the message gives its size and the options that shrink it.

    Record fewer trials (``record_trials``), fewer variables (``record``), or stream the run to disk
    (``out=``): a streamed run's memory is one block.

    See Also
    --------
    drl.simulate : raises it, before simulating anything.

    Examples
    --------
    >>> import drl
    >>> issubclass(drl.RunTooLargeError, MemoryError)
    True
    """


# ---------------------------------------------------------------------------------------------- selection
def select_trials(record_trials, n_trials: int) -> np.ndarray:
    """Sorted indices of the trials to record: None (all), an int stride (every n-th, plus the last), a slice,
    or indices."""
    if record_trials is None:
        return np.arange(n_trials)
    if isinstance(record_trials, bool | np.bool_ | float | np.floating | str):
        raise TypeError(f"record_trials must be None, an int stride, a slice or trial indices; got {record_trials!r}")
    if isinstance(record_trials, slice):
        idx = np.arange(n_trials)[record_trials]
    elif isinstance(record_trials, int | np.integer):
        if record_trials < 1:
            raise ValueError(f"record_trials as an int is a stride (every n-th trial) >= 1; got {record_trials}")
        idx = np.arange(0, n_trials, int(record_trials))
        if idx[-1] != n_trials - 1:
            idx = np.append(idx, n_trials - 1)  # always keep the last trial (the learned state)
    else:
        given = np.asarray(record_trials)
        if given.ndim != 1 or given.dtype.kind not in "iu":
            raise TypeError(f"record_trials as trial indices must be a 1-D sequence of integers; got {record_trials!r}")
        idx = np.unique(given.astype(np.int64))
        if idx.size and (idx[0] < 0 or idx[-1] >= n_trials):
            raise ValueError(f"record_trials must be in [0, {n_trials - 1}]; got {idx[0]}…{idx[-1]}")
    if idx.size == 0:
        raise ValueError("record_trials selects no trial")
    return idx


def select_steps(record_times, task) -> np.ndarray:
    """Sorted step indices of the times to record: None (all) or times in s (snapped to the nearest step)."""
    if record_times is None:
        return np.arange(task.n_steps)
    if isinstance(record_times, str | bytes):
        raise TypeError(f"record_times must be times in s (a number or a sequence of numbers); got {record_times!r}")
    try:
        times = np.atleast_1d(np.asarray(record_times, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"record_times must be times in s (numbers); got {record_times!r}") from None
    if not np.all(np.isfinite(times)):
        raise ValueError(f"record_times must be finite times in s; got {record_times!r}")
    bad = (times < -1e-9) | (times > task.duration + 1e-9)
    if np.any(bad):
        raise ValueError(f"record_times must be within [0, {task.duration:g}] s; got {times[bad][0]:g}")
    steps = np.unique(time_to_step(times, task.dt))
    if steps.size == 0:
        raise ValueError("record_times selects no time")
    return steps


def count_recorded_trials(record_trials, n_trials: int) -> int:
    """How many trials ``record_trials`` keeps of ``n_trials`` (an upper bound), without listing them."""
    if record_trials is None:
        return n_trials
    if isinstance(record_trials, int | np.integer) and not isinstance(record_trials, bool) and record_trials >= 1:
        return -(-n_trials // int(record_trials)) + 1  # every n-th trial, plus the last
    return min(n_trials, len(record_trials) if hasattr(record_trials, "__len__") else n_trials)


# ---------------------------------------------------------------------------------------------- memory
def estimate_bytes(n_predictors: int, n_trials: int, n_steps: int, record) -> int:
    """Bytes the recorded variables need in memory (float32)."""
    per_var = {"value": n_predictors * n_trials * n_steps, "rpe": n_predictors * n_trials * n_steps,
               "reward": n_trials * n_steps}
    return 4 * sum(per_var[v] for v in record)


def format_bytes(n: float) -> str:
    """``1536`` → ``'1.5 KB'`` (binary units)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def memory_parts(*, n_predictors, n_trials, n_steps, n_types, n_features, n_recorded, n_times, record, streamed,
                 block_trials, schedule_given) -> dict[str, int]:
    """Every large allocation of a run, in bytes, by name (what :func:`check_memory` counts)."""
    p, k = n_predictors, n_steps
    return {
        "the recording": 0 if streamed else estimate_bytes(p, n_recorded, n_times, record),
        "the recorded-trial index": 8 * n_recorded,
        # the schedule is drawn one block at a time (float64 while drawn, float32 kept) unless given whole
        "the trial schedule": 0 if schedule_given else block_trials * (8 + 12 * k),
        "the block buffers": 0 if not streamed else 2 * 4 * p * block_trials * n_times,
        # features: built in float64, kept in float32 twice (x and its transpose)
        "the features": 16 * n_types * k * n_features,
        "the weights": 3 * 8 * p * n_types * n_features,
    }


def check_memory(parts: dict[str, int], *, what: str) -> None:
    """Refuse, before allocating anything, a run whose arrays would not fit in memory (size and way out given)."""
    need = sum(parts.values())
    if need < 2**28:
        return  # a quarter of a GB fits anywhere drl runs; not worth asking the OS (a third of a ms)
    available = psutil.virtual_memory().available
    if need > 0.8 * available:
        shown = ", ".join(f"{name} {format_bytes(size)}" for name, size in parts.items() if size)
        raise RunTooLargeError(
            f"{what} needs {format_bytes(need)} ({shown}), more than the {format_bytes(available)} of memory "
            "available. Record fewer trials (record_trials=10 keeps every 10th), fewer times (record_times=[...]), "
            "fewer variables (record=('value',)), stream to a file with out='name', use a coarser dt, or "
            "simulate fewer trials per run."
        )


# ---------------------------------------------------------------------------------------------- sinks
def _unfilled(shape: tuple) -> np.ndarray:
    """An uninitialised float32 array whose memory torch allocates. numpy advises huge pages for large arrays,
    and where the kernel then compacts memory on first touch (transparent huge pages on ``madvise``) a fresh
    process paid 0.73 s instead of 0.13 s to fill a 568 MB run; torch's pages come in at the later calls' cost.
    The array keeps the tensor's memory alive (its base)."""
    import torch

    return torch.empty(shape, dtype=torch.float32).numpy()


class MemorySink:
    """Collects recorded blocks into arrays, then builds the Dataset."""

    def __init__(self, meta: dict, n_steps: int, record):
        self.meta = dict(meta)
        p, n_rec = meta["population"].n_predictors, len(meta["trials"])
        self.value = _unfilled((p, n_rec, n_steps)) if "value" in record else None
        self.rpe = _unfilled((p, n_rec, n_steps)) if "rpe" in record else None
        self.reward = _unfilled((n_rec, n_steps)) if "reward" in record else None
        self.trial_type = np.zeros(n_rec, np.int64)
        self.pos = 0

    def direct_views(self):
        """Torch views of the result arrays, for the engine to write trials into directly."""
        import torch

        return tuple(None if a is None else torch.from_numpy(a) for a in (self.value, self.rpe))

    def write(self, keep, trial_type, value, rpe, reward):
        sl = slice(self.pos, self.pos + len(keep))
        self.trial_type[sl] = trial_type
        if self.value is not None and value is not None:
            self.value[:, sl] = value
        if self.rpe is not None and rpe is not None:
            self.rpe[:, sl] = rpe
        if self.reward is not None:
            self.reward[sl] = reward
        self.pos += len(keep)

    def checkpoint(self, trials_done, weights, rng_state):
        """Nothing to keep: an in-memory run cannot outlive its process."""

    def abort(self, keep_resumable: bool = False):
        """Nothing to clean up in memory."""

    def finish(self, weights):
        return build_dataset(**{**self.meta, "trial_type": self.trial_type}, value=self.value, rpe=self.rpe,
                             reward=self.reward, weights=weights)


#: Room a streamed run leaves on its disk beyond the next block (the HDF5 metadata, the checkpoint)
ROOM_MARGIN = 2**20


class StreamWriter:
    """Writes a run block by block into an unlimited ``trial`` dimension; publishes it atomically at the end.

    The first block creates a temporary file beside the target with xarray (same schema and encoding as
    :func:`drl.save`, ``drl_complete = 0``); later blocks are appended with netCDF4-python. After each block a
    checkpoint (trials done, weights, bootstrap random state; the recorded-trial list once) is written
    atomically beside it, so a killed run can be resumed (:func:`drl.resume`). The final weights and
    ``drl_complete = 1`` are written last.
    """

    def __init__(self, out, *, meta: dict, record, n_features: int, overwrite: bool = False, directory=DEFAULT_DIR,
                 resume_from: Path | None = None, position: int = 0, compression: str | None = None):
        self.overwrite = boolean("overwrite", overwrite)
        self.compression = compression  # None or "zlib" (a resumed run keeps its file's layout)
        self.path = run_path(out, directory)
        self.meta = meta
        self.record = tuple(record)
        self.n_features = n_features
        self.names = np.array(meta["task"].trial_type_names, dtype=object)
        self.created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        self.resumed = resume_from is not None  # a resumed run's files are never deleted on failure
        self.damaged = False  # set when a block fails halfway
        if resume_from is None:
            check_target(self.path, self.overwrite, directory)
            self.tmp = temporary_path(self.path)
            self.pos = 0
            self.started = False
        else:
            self.tmp = resume_from
            self.pos = position
            self.started = True
        self.checkpoint_file = checkpoint_path(self.tmp)
        self.trials_file = trials_path(self.tmp)

    @property
    def _releasable(self) -> Path | None:
        """The temporary file a failed write may truncate to free the disk: never a resumed run's."""
        return None if self.resumed else self.tmp

    def _check_room(self, need: int) -> None:
        """Stop before a block the disk cannot hold: a write that fills the disk midway can leave the HDF5 file
        damaged (appending to it then crashed the interpreter), while a run stopped between blocks is intact and
        resumable from its last checkpoint. ``need``: the block's bytes before compression (an upper bound)."""
        import shutil

        try:
            free = shutil.disk_usage(self.tmp.parent).free
        except OSError:
            return
        if free >= need + ROOM_MARGIN:
            return
        kept = ("the run is kept, resumable from its last complete block: free space, then resume it"
                if self.checkpoint_file.is_file() else f"{self.path.name} was not written")
        raise OSError(errno.ENOSPC, f"the disk holding {self.tmp.parent} is full for this run: {free / 2**20:.1f} MB "
                                    f"free, and the next block needs up to {need / 2**20:.1f} MB (before compression) "
                                    f"with {ROOM_MARGIN / 2**20:.0f} MB to spare; {kept}. Free space or write "
                                    "elsewhere")

    def direct_views(self):
        return None  # blocks are written to the file

    def _create(self, keep, trial_type, value, rpe, reward) -> None:
        meta = dict(self.meta)
        meta["trials"] = np.asarray(keep, dtype=np.int64)
        meta["trial_type"] = np.asarray(trial_type, dtype=np.int64)
        p = meta["population"].n_predictors
        weights = np.zeros((p, len(self.names), self.n_features), np.float32)
        ds = build_dataset(**meta, value=value, rpe=rpe, reward=reward, weights=weights, created=self.created)
        ds.attrs = encode_attrs({**ds.attrs, COMPLETE_ATTR: 0})
        # chunked (the file grows along trial) with no filter, as a saved run: any netCDF-4 reader opens it, and
        # zlib made the stream 2.3× slower than simulating in memory and saving (15.7 s against 6.8 s); a chunk
        # holds one block's recorded trials, so that no block reads back and rewrites the chunks of another
        ds.to_netcdf(self.tmp, engine="netcdf4", format="NETCDF4", unlimited_dims=["trial"],
                     encoding=variable_encoding(ds, self.compression, chunked=True,
                                                trial_chunk=min(max(1, len(keep)), TRIAL_CHUNK)))
        # the recorded-trial list, once: a resumed run needs the trials still to record
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(self.meta["trials"], dtype=np.int64))
        write_atomic(self.trials_file, buffer.getvalue())
        self.started = True

    def write(self, keep, trial_type, value, rpe, reward) -> None:
        self._check_room(sum(a.nbytes for a in (value, rpe, reward) if a is not None))
        try:
            if not self.started:
                self._create(keep, trial_type, value, rpe, reward)
            elif len(keep):
                sl = slice(self.pos, self.pos + len(keep))
                with netCDF4.Dataset(self.tmp, "a") as nc:
                    nc.variables["trial"][sl] = np.asarray(keep, dtype=np.int64)
                    nc.variables["trial_type"][sl] = self.names[np.asarray(trial_type, dtype=np.int64)]
                    if value is not None:
                        nc.variables["value"][:, sl, :] = value
                    if rpe is not None:
                        nc.variables["rpe"][:, sl, :] = rpe
                    if reward is not None:
                        nc.variables["reward"][sl, :] = reward
        except (OSError, RuntimeError) as e:
            self.damaged = True  # a block written halfway: the file cannot be trusted to resume from
            raise write_failed(e, self.path, self._releasable) from None
        self.pos += len(keep)

    def checkpoint(self, trials_done: int, weights, rng_state) -> None:
        """Record the state after ``trials_done`` trials (written atomically; the block data is already closed)."""
        if not self.started:
            return
        buffer = io.BytesIO()
        state = {"trials_done": np.int64(trials_done), "position": np.int64(self.pos),
                 "weights": weights.detach().cpu().numpy()}
        if rng_state is not None:
            state["rng_state"] = rng_state.cpu().numpy()
        np.savez(buffer, **state)
        try:
            write_atomic(self.checkpoint_file, buffer.getvalue())
        except OSError as e:
            raise write_failed(e, self.path, self._releasable) from None

    def _remove_sidecars(self) -> None:
        self.checkpoint_file.unlink(missing_ok=True)
        self.trials_file.unlink(missing_ok=True)

    def abort(self, keep_resumable: bool = False) -> None:
        """Remove the temporary file, unless ``keep_resumable`` and a checkpoint exists (an interrupt), or the run
        was resumed (its files are the interrupted run: never deleted)."""
        if self.resumed or (keep_resumable and self.resumable):
            self.tmp = release_temp(self.tmp)
            self.checkpoint_file, self.trials_file = checkpoint_path(self.tmp), trials_path(self.tmp)
            return
        self.tmp.unlink(missing_ok=True)
        self._remove_sidecars()

    @property
    def resumable(self) -> bool:
        """A checkpoint exists and no block was written halfway."""
        return self.checkpoint_file.is_file() and not self.damaged

    def finish(self, weights: np.ndarray) -> xr.Dataset:
        """Write the weights, mark the file complete (last), and publish it without replacing a newcomer.

        If a file appeared under the run's name while it ran (and ``overwrite`` is False), the finished run is
        kept beside it as ``<name>.unsaved-<pid>.nc`` and FileExistsError names both: hours of simulation are
        not thrown away.
        """
        try:
            with netCDF4.Dataset(self.tmp, "a") as nc:
                nc.variables["weights"][:] = weights
                nc.setncattr(COMPLETE_ATTR, 1)
        except (OSError, RuntimeError) as e:
            error = write_failed(e, self.path, self._releasable)
            self.abort(keep_resumable=self.resumed)  # a resumed run is never deleted
            raise error from None
        try:
            publish(self.tmp, self.path, self.overwrite)
        except FileExistsError:
            kept = self.path.with_name(f"{self.path.stem}.unsaved-{os.getpid()}.nc")
            publish(self.tmp, kept, False)
            self._published()
            raise FileExistsError(f"{self.path} appeared while this run was being simulated (another process wrote "
                                  f"it); it was not replaced. This run was kept as {kept}") from None
        except BaseException as e:
            # not published: the finished run stays resumable (its last checkpoint is the last block)
            self.abort(keep_resumable=True)
            if self.resumable:
                e.add_note(f"nothing was lost: {resume_hint(self.path)} publishes it")
            raise
        self._published()
        return load(self.path)

    def _published(self) -> None:
        """Remove what a published run leaves: the temporary name (a hard link to it) and the side files."""
        self.tmp.unlink(missing_ok=True)
        self._remove_sidecars()
