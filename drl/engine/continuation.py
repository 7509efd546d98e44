"""Continuing a stored run: :func:`resume` finishes a streamed run that was killed or interrupted (from its last
complete block, with the weights and random state saved there: identical to an uninterrupted run), and
:func:`rerun` re-simulates a stored run from its attributes.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from drl._atomic import temporary_path
from drl._validate import boolean
from drl.engine.blocks import check_progress, default_block, run_blocks
from drl.engine.kernel import TrialKernel
from drl.engine.options import RECORDABLE, EngineOptions, resolve_device, resolve_dtype, resolve_kernel
from drl.engine.simulation import simulate
from drl.engine.sinks import StreamWriter
from drl.runs.encoding import decode_attrs
from drl.runs.paths import (
    DEFAULT_DIR,
    checkpoint_path,
    interrupted_temporaries,
    resume_hint,
    run_path,
    trials_path,
)
from drl.runs.publishing import release_temp
from drl.runs.reading import population_from_dataset, run_task
from drl.tasks.model import Task

__all__ = ["rerun", "resume"]


def resume(run, *, directory=DEFAULT_DIR, device=None, overwrite: bool = False,
           progress: bool | None = None) -> xr.Dataset:
    """Finish a streamed run (``simulate(..., out=run)``) that was killed or interrupted.

    The run continues from its last complete block with the weights and random state saved there, so the result is
    identical to an uninterrupted run. ``drl.runs.publishing.interrupted_runs()`` lists what can be resumed.

    Parameters
    ----------
    run : str or path
        The run's name or path (as given to ``out``).
    directory : str or path
        Where bare names are looked up (default ``exps/``).
    device : str, optional
        Where to simulate (default: the run's).
    overwrite : bool
        Replace the finished file when it already exists.
    progress : bool, optional
        A progress bar (None: when the rest is long).

    Returns
    -------
    xarray.Dataset
        The finished run, opened lazily from its file.

    Raises
    ------
    FileNotFoundError
        No interrupted run of that name.
    FileExistsError
        Several interrupted runs of it (their temporary files are named), or the finished file exists and
        ``overwrite`` is False.
    ValueError
        An interrupted run whose checkpoint is damaged (left as it was).

    See Also
    --------
    rerun : re-simulates a finished run.

    Examples
    --------
    A run that was never interrupted has nothing to resume:

    >>> import tempfile
    >>> import drl
    >>> folder = tempfile.mkdtemp()
    >>> run = drl.simulate("hyp_unif", drl.Population.sample(3, seed=1), 30, out=f"{folder}/streamed.nc",
    ...                    block_trials=10, progress=False)
    >>> drl.resume(f"{folder}/streamed.nc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: no interrupted run of .../streamed.nc to resume ...
    """
    overwrite = boolean("overwrite", overwrite)
    check_progress(progress)
    path = run_path(run, directory)
    found = interrupted_temporaries(path) if path.parent.is_dir() else []
    if not found:
        raise FileNotFoundError(f"no interrupted run of {path} to resume (drl.runs.publishing.interrupted_runs({str(path.parent)!r})"
                                " lists those that can be)")
    if len(found) > 1:
        raise FileExistsError(f"{len(found)} interrupted runs of {path}: {', '.join(map(str, found))}; remove all but "
                              "the one to resume")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it with the resumed run")
    tmp = _claim(found[0], path)
    try:
        prepared = _prepare_resume(tmp, path, device, overwrite)
    except BaseException as e:
        release_temp(tmp)  # the interrupted run stays exactly as it was, and resumable, by this process too
        if isinstance(e, KeyboardInterrupt):
            e.add_note(f"nothing was lost: the interrupted run is as it was; {resume_hint(path)} finishes it")
        raise
    kernel, sink, weights, run_args = prepared
    return run_blocks(kernel, sink, weights, **run_args, progress=progress)


def _prepare_resume(tmp: Path, path: Path, device, overwrite: bool):
    """Read and check everything an interrupted run's files declare, before anything is simulated or written:
    (kernel, sink, weights, the rest of ``run_blocks``'s arguments). Errors name the file and the field."""
    try:
        ds = xr.open_dataset(tmp, engine="netcdf4", decode_timedelta=False)
        attrs = decode_attrs(ds.attrs)
        population = population_from_dataset(ds.assign_attrs(attrs))
        time = ds["time"].values
        n_rows = int(ds.sizes["trial"])
        record = [v for v in RECORDABLE if v in ds.data_vars]
        ds.close()
        with np.load(checkpoint_path(tmp), allow_pickle=False) as stored_checkpoint:
            checkpoint = dict(stored_checkpoint)
        trials = np.load(trials_path(tmp), allow_pickle=False)
    except (OSError, ValueError, KeyError, RuntimeError, EOFError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise  # the system's error (a full disk, no permission): the file may be fine
        raise ValueError(f"the interrupted run {tmp} cannot be resumed (its file is damaged: {e}); it was left as "
                         "it was; simulate it again with overwrite=True") from None
    task = Task.from_dict(attrs["task"], source=f"{tmp}: task")
    stored = dict(attrs["options"])
    options = EngineOptions.from_stored(stored, int(attrs["schema_version"]))
    dev = resolve_device(device or stored.get("device", "cpu"))
    if dev.type != stored.get("device", "cpu"):
        options = replace(options, kernel="auto")  # another device class: its own kernel
    options = resolve_kernel(options, dev)
    torch_dtype = resolve_dtype(stored.get("dtype", "float32"))
    n_trials, seed = int(attrs["n_trials"]), int(attrs["seed"])
    steps = np.rint(time / task.dt).astype(np.int64)
    kernel = TrialKernel(task, population, options, dev, torch_dtype, seed)
    shape = (len(task.trial_types), population.n_predictors, kernel.n_features)
    trials, trials_done, position = _check_checkpoint(tmp, checkpoint, trials, n_trials, n_rows, shape)
    if "rng_state" in checkpoint:
        kernel.set_rng_state(torch.from_numpy(checkpoint["rng_state"]))
    weights = torch.as_tensor(checkpoint["weights"], dtype=torch_dtype, device=dev).clone()
    meta = dict(population=population, task=task, options=stored, seed=seed, n_trials=n_trials, trials=trials,
                steps=steps)
    sink = StreamWriter(path, meta=meta, record=record, n_features=kernel.n_features, overwrite=overwrite,
                        resume_from=tmp, position=position)
    sink.created = attrs.get("created", sink.created)
    block_trials = default_block(population.n_predictors, task.n_steps, n_trials, streamed=True)
    return kernel, sink, weights, dict(task=task, population=population, n_trials=n_trials, seed=seed, trials=trials,
                                       steps=steps, record=record, schedule=None, block_trials=block_trials,
                                       start=trials_done)


def _check_checkpoint(tmp: Path, checkpoint: dict, trials: np.ndarray, n_trials: int, n_rows: int, shape: tuple):
    """The checkpoint and recorded-trial list of an interrupted run, checked against the run they belong to:
    (trials [R] int64, trials_done, position). A ValueError names the file, the field, what was expected and
    what was found; nothing reaches the kernel unchecked (a weights array of another shape once corrupted
    memory)."""
    def bad(field, expected, found, file=None):
        file = checkpoint_path(tmp) if file is None else file
        return ValueError(f"the interrupted run {tmp} cannot be resumed: {file.name} field {field!r} must be "
                          f"{expected}; found {found}. It was left as it was; simulate it again with overwrite=True")

    missing = sorted({"trials_done", "position", "weights"} - set(checkpoint))
    if missing:
        raise bad(missing[0], "present", f"fields {sorted(checkpoint)}")
    if trials.dtype.kind not in "iu" or trials.ndim != 1:
        raise bad("trials", "a 1-D array of integer trial numbers", f"{trials.dtype} of shape {trials.shape}",
                  trials_path(tmp))
    if trials.size and (trials.min() < 0 or trials.max() >= n_trials or np.any(np.diff(trials) <= 0)):
        raise bad("trials", f"increasing trial numbers in [0, {n_trials})",
                  f"{trials.min()} … {trials.max()} ({'not increasing' if np.any(np.diff(trials) <= 0) else 'out of range'})",
                  trials_path(tmp))
    scalars = {}
    for field, upper in (("trials_done", n_trials), ("position", min(n_rows, trials.size))):
        value = checkpoint[field]
        if value.shape != () or value.dtype.kind not in "iu" or not 0 <= int(value) <= upper:
            raise bad(field, f"an integer in [0, {upper}]", repr(value.tolist()))
        scalars[field] = int(value)
    expected_position = int(np.searchsorted(trials, scalars["trials_done"]))
    if scalars["position"] != expected_position:
        raise bad("position", f"{expected_position} (the trials recorded before trial {scalars['trials_done']})",
                  scalars["position"])
    weights = checkpoint["weights"]
    if weights.shape != shape or weights.dtype.kind != "f" or not np.all(np.isfinite(weights)):
        raise bad("weights", f"finite floats of shape {list(shape)} [trial type, predictor, feature]",
                  f"{weights.dtype} of shape {list(weights.shape)}"
                  + ("" if weights.dtype.kind != "f" or np.all(np.isfinite(weights)) else " with non-finite values"))
    if "rng_state" in checkpoint and (checkpoint["rng_state"].dtype != np.uint8 or checkpoint["rng_state"].ndim != 1):
        raise bad("rng_state", "a 1-D uint8 generator state", f"{checkpoint['rng_state'].dtype} of shape "
                  f"{list(checkpoint['rng_state'].shape)}")
    return trials.astype(np.int64), scalars["trials_done"], scalars["position"]


def _claim(tmp: Path, path: Path) -> Path:
    """Rename an interrupted run's files to this process, so no other process resumes or cleans them meanwhile."""
    mine = temporary_path(path)
    try:
        os.rename(tmp, mine)
    except FileNotFoundError:
        raise FileNotFoundError(f"{tmp} disappeared: another process is resuming or removed it") from None
    for old, new in ((checkpoint_path(tmp), checkpoint_path(mine)), (trials_path(tmp), trials_path(mine))):
        os.rename(old, new)
    return mine


def rerun(run, *, device=None, out=None, overwrite: bool = False, progress: bool | None = None) -> xr.Dataset:
    """Re-simulate a stored run from its attributes (task, population, options, seed, recording).

    Same seed and device class give an identical Dataset (up to the creation time attribute). Runs of schema
    version 1 (drl before textbook TD) are rerun in their own convention (``options.convention = 1``), so the
    numbers are reproduced.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run, a path or a run name.
    device : str, optional
        Where to simulate (default: the run's device class).
    out : str or path, optional
        Stream the rerun to this file (as :func:`drl.simulate`'s ``out``).
    overwrite : bool
        Replace ``out`` when it exists.
    progress : bool, optional
        A progress bar (None: when the run is long).

    Returns
    -------
    xarray.Dataset
        The rerun.

    Raises
    ------
    ValueError
        A run imported from drl_sim (its task was not saved), or not a run.

    See Also
    --------
    resume : finishes an interrupted run instead.

    Examples
    --------
    >>> import drl
    >>> run = drl.simulate("hyp_unif", drl.Population.sample(3, seed=1), 30, seed=4, progress=False)
    >>> again = drl.rerun(run)
    >>> again["value"].equals(run["value"])
    True
    """
    from drl.runs.store import open_run

    ds = open_run(run)
    stored = dict(ds.attrs["options"])
    if "imported_from" in stored:
        raise ValueError(f"this run was imported from drl_sim ({stored['imported_from']}), which saved neither its task "
                         "nor its trial schedule, so it cannot be rerun: rebuild them with "
                         "drl.runs.drl_sim.task_from_tensors and simulate with preset='drl_sim'")
    if "initial_weights" in ds.attrs:
        raise ValueError("this run started from given weights (a phase of a changing task), which it does not "
                         "store, so it cannot be rerun on its own: rerun the whole protocol with "
                         "drl.engine.phases.simulate_phases")
    task = run_task(ds)
    dtype = stored.get("dtype", "float32")
    stored_device = stored.get("device", "cpu")
    options = EngineOptions.from_stored(stored, int(ds.attrs["schema_version"]))
    if device is not None and resolve_device(device).type != stored_device:
        options = replace(options, kernel="auto")  # another device class: its own kernel
    population = population_from_dataset(ds)
    record = [v for v in RECORDABLE if v in ds.data_vars]
    n_trials = int(ds.attrs["n_trials"])
    trials = ds["trial"].values
    steps = np.rint(ds["time"].values / task.dt).astype(np.int64)
    return simulate(
        task, population, n_trials, record=record,
        record_trials=None if len(trials) == n_trials else trials,
        record_times=None if len(steps) == task.n_steps else steps * task.dt,
        seed=int(ds.attrs["seed"]), device=device or stored_device,
        dtype=dtype, progress=progress, out=out, overwrite=overwrite, options=options,
    )
