"""Simulating a population on a task: :func:`simulate`, :func:`resume` (a killed streamed run) and :func:`rerun`.

The engine validates the request, sizes it against memory, then runs the trial loop: trials are sequential by
nature (each learns from the last), so the only Python loop is over trials; each trial is one vectorized
update of every predictor (:class:`drl.kernel.TrialKernel`). Trials are drawn (:mod:`drl.schedule`), simulated
and recorded (:mod:`drl.recording`) block by block, so memory stays bounded by a block whatever the run length
when the run is streamed to a file.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from drl import compiled, compiled_imputed
from drl._atomic import temporary_path
from drl._validate import boolean, choice
from drl.features import make_features
from drl.kernel import NonFiniteValueError, TrialKernel, check_finite, flush_denormals, torch_threads
from drl.options import (
    RECORDABLE,
    EngineOptions,
    resolve_device,
    resolve_dtype,
    resolve_kernel,
    resolve_options,
)
from drl.population import Population
from drl.recording import (
    MemorySink,
    RunTooLargeError,
    StreamWriter,
    check_memory,
    count_recorded_trials,
    memory_parts,
    select_steps,
    select_trials,
)
from drl.registry import load_task
from drl.schedule import Schedule
from drl.schema import population_from_dataset, run_task
from drl.store import (
    DEFAULT_DIR,
    TRIAL_CHUNK,
    checkpoint_path,
    decode_attrs,
    interrupted_temporaries,
    release_temp,
    resume_hint,
    run_path,
    trials_path,
)
from drl.tasks import Task, check_seed

__all__ = ["simulate", "resume", "rerun", "RunTooLargeError", "NonFiniteValueError"]

_BLOCK_BYTES = 64e6  # a block's recording buffers (value and rpe) hold about this much
_BLOCK_WORK = 1e8  # predictor-steps per block when trials are written straight into the result (~0.1-1 s)
_SCHEDULE_BYTES = 16e6  # a block's schedule draw holds at most about this much


def _n_features(options: EngineOptions, task: Task) -> int:
    rep = make_features(options.features)
    return rep.n_features(task) if hasattr(rep, "n_features") else task.n_steps


def _default_block(n_predictors: int, n_steps: int, n_trials: int, streamed: bool, direct: bool = False) -> int:
    """Trials per block.

    A run written straight into its result (in memory, CPU, float32) needs no recording buffer, so its blocks are
    sized by work (~1e8 predictor-steps, so the progress bar still moves) and by the schedule draw: every block
    costs a hand-out of work to threads and ends when its last range is done. Beside a busy process, 1000
    predictors × 2000 trials, V and δ recorded, ran 1.8x slower than idle in blocks of 112 trials (64 MB of
    recording) and 1.3x in blocks of 1408 (1e8) or in one block.

    Otherwise blocks hold ~64 MB of recording. A streamed run also checkpoints at least every 5 % of its trials
    (what a resume can lose), and writes whole file chunks: blocks are multiples of the file's trial chunk, so
    HDF5 never decompresses and recompresses a chunk that two blocks share (3-10x slower streams)."""
    if direct and not streamed:
        block = min(int(_BLOCK_WORK // max(1, n_predictors * n_steps)), int(_SCHEDULE_BYTES // (8 + 12 * n_steps)))
        return max(1, min(n_trials, block))
    block = int(_BLOCK_BYTES // max(1, n_predictors * n_steps * 4 * 2))
    if streamed:
        block = min(block, max(100, -(-n_trials // 20)))
        block = max(TRIAL_CHUNK, block - block % TRIAL_CHUNK)
    return max(1, min(n_trials, block))


def simulate(
    task,
    population: Population,
    n_trials: int | None = None,
    *,
    rule: str = "expectile",
    update: str = "offline",
    features="csc",
    bootstrap: str = "own",
    preset: str | None = None,
    record=RECORDABLE,
    record_trials=None,
    record_times=None,
    seed: int = 0,
    device="cpu",
    dtype="float32",
    progress: bool | None = None,
    schedule: Schedule | None = None,
    out=None,
    overwrite: bool = False,
    compression: str | None = None,
    block_trials: int | None = None,
    kernel: str = "auto",
    options: EngineOptions | None = None,
    initial_weights=None,
) -> xr.Dataset:
    """Simulate ``population`` learning ``task`` for ``n_trials`` trials; return the run as a Dataset.

    Parameters
    ----------
    task : Task or str or path
        A Task, a registered task name, or a ``.toml``/``.json`` spec file.
    population : Population
        The predictors: τ (α+, α−), γ and λ per predictor.
    n_trials : int, optional
        Number of trials (≥ 1); may be left out when ``schedule`` is given.
    rule : {"expectile", "quantile"}
    update : {"offline", "online"}
    features : {"csc", "microstimulus"} or dict or representation object
        The state features (a dict ``{"name": …, options}`` sets a representation's options).
    bootstrap : {"own", "random", "imputed"}
        The TD target's next value: the predictor's own; "random", a member of the γ group drawn per step by τ
        cell (the quantile code's method); "imputed", a sample of the distribution whose expectiles are the
        group's next values (the expectile code's method). See docs/drl.md, "Bootstrap".
    preset : {None, "drl_sim"}
        "drl_sim" reproduces drl_sim's ``sim()`` (overrides ``update`` and the convention options).
    record : sequence of {"value", "rpe", "reward"}
        What to keep (the weights at the end are always kept).
    record_trials : None, int, slice or sequence of int
        None (all), a stride (every n-th trial, plus the last), a slice, or trial indices.
    record_times : sequence of float, optional
        Times (s) to keep, snapped to steps (None: every step).
    seed : int
        Seeds the schedule (and the random bootstrap's draws): the same seed gives an identical run.
    device : {"cpu", "cuda"}
    dtype : {"float32", "float64"}
        The arithmetic (the stored run is float32).
    progress : bool, optional
        A tqdm bar over trials (None: only for long runs).
    schedule : Schedule, optional
        A pre-drawn schedule of ``task`` (drawn otherwise block by block, with the same numbers as
        ``task.schedule(n_trials, seed)``).
    out : str or path, optional
        Stream the run to this file (a bare name goes to ``exps/<name>.nc``) block by block; the Dataset returned
        is then the stored file, opened lazily. A killed or interrupted streamed run is finished by :func:`resume`.
    overwrite : bool
        With ``out``, replace an existing file (or discard an interrupted run of that name).
    compression : {None, "zlib"}
        With ``out``: None (no HDF5 filter, like a saved run; 4 bytes per predictor-step and variable) or "zlib"
        (a third of the size or less, at about twice the time). blosc is not offered: a block it cannot shrink
        would stop the run.
    block_trials : int, optional
        Trials per block (recording buffer, schedule draw and stream granularity); results do not depend on it.
        Default: ~64 MB of recording for a streamed run (or a CUDA or float64 one), ~1e8 predictor-steps for an
        in-memory CPU float32 run (which records straight into its result).
    kernel : {"auto", "compiled", "torch"}
        "auto": the compiled trial loop on the CPU with ``bootstrap="own"``, the torch kernel otherwise; they
        agree to float32 rounding (:class:`EngineOptions`).
    options : EngineOptions, optional
        Every model option at once (as :func:`rerun` does); ``rule``, ``update``, ``features``, ``bootstrap``,
        ``preset`` and ``kernel`` must then be left at their defaults.
    initial_weights : array_like, shape [predictor, type, feature], optional
        Weights to start from instead of zeros, e.g. the ``weights`` of a run of the same population on a task
        with the same trial types and time grid (a task that changes during a session:
        :func:`drl.phases.simulate_phases`). The run records ``attrs["initial_weights"]`` and cannot be rerun on
        its own; not with ``out``.

    Returns
    -------
    xarray.Dataset
        ``value``, ``rpe`` [predictor, trial, time], ``reward`` [trial, time], ``weights`` [predictor, type,
        feature] and the coordinates and attributes of the drl run schema (docs/drl.md).

    Raises
    ------
    ValueError, TypeError
        A bad argument, named with its value.
    RunTooLargeError
        The run does not fit in memory (the message gives the size and the way out: ``record_trials``, ``out``).
    NonFiniteValueError
        Values diverge.
    FileExistsError
        ``out`` exists (or an interrupted run of that name can be resumed) and ``overwrite`` is False.

    Examples
    --------
    Nine optimism levels learning Dabney et al.'s variable-magnitude task:

    >>> import drl
    >>> population = drl.Population.grid(tau=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    >>> run = drl.simulate("dabney_variable_magnitude", population, 500, seed=0, progress=False)
    >>> dict(run["rpe"].sizes)
    {'predictor': 9, 'trial': 500, 'time': 41}
    """
    task = load_task(task)
    if not isinstance(population, Population):
        raise TypeError(f"population must be a drl.Population; got {type(population).__name__}")
    if schedule is not None:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a drl.Schedule; got {type(schedule).__name__}")
        if schedule.task != task:
            raise ValueError(f"schedule was drawn from task {schedule.task.name!r}, not {task.name!r}")
        if n_trials is not None and n_trials != schedule.n_trials:
            raise ValueError(f"n_trials = {n_trials} disagrees with the schedule's {schedule.n_trials} trials")
        n_trials = schedule.n_trials
    if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1; got {n_trials!r}")
    n_trials = int(n_trials)
    seed = check_seed(seed)
    _check_progress(progress)
    if isinstance(record, str):
        record = (record,)
    if not isinstance(record, tuple | list):
        raise TypeError(f"record must be a tuple of variable names from {RECORDABLE}; got {record!r}")
    record = tuple(record)
    for name in record:
        choice("record variable", name, RECORDABLE)
    options = resolve_options(options, rule, update, features, bootstrap, preset, kernel)
    overwrite = boolean("overwrite", overwrite)
    if compression is not None:
        choice("compression of a streamed run", compression, ("zlib",))
        if out is None:
            raise ValueError("compression applies to a streamed run (out=); an in-memory run is compressed when "
                             "saved: drl.save(run, path, compression=...)")
    if initial_weights is not None and out is not None:
        raise ValueError("initial_weights cannot be combined with out= (a streamed run resumes from its own "
                         "checkpoints); simulate in memory and save the run")
    if block_trials is not None and (isinstance(block_trials, bool) or not isinstance(block_trials, int | np.integer)
                                     or block_trials < 1):
        raise ValueError(f"block_trials must be an integer >= 1 (trials per recording block); got {block_trials!r}")
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype)
    options = resolve_kernel(options, dev)
    p, k = population.n_predictors, task.n_steps
    if block_trials is None:
        block_trials = _default_block(p, k, n_trials, streamed=out is not None,
                                      direct=_writes_direct(dev, torch_dtype))
    block_trials = min(int(block_trials), n_trials)

    n_rec = count_recorded_trials(record_trials, n_trials)
    n_times = k if record_times is None else min(k, np.size(record_times))
    check_memory(memory_parts(n_predictors=p, n_trials=n_trials, n_steps=k, n_types=len(task.trial_types),
                              n_features=_n_features(options, task), n_recorded=n_rec, n_times=n_times,
                              record=record, streamed=out is not None, block_trials=block_trials,
                              schedule_given=schedule is not None),
                 what=f"{p} predictors × {n_trials} trials × {k} steps")
    trials = select_trials(record_trials, n_trials)
    steps = select_steps(record_times, task)

    if options.rule == "expectile" and options.bootstrap == "random" and options.convention >= 2:
        warnings.warn(
            "bootstrap='random' with the expectile rule treats expectiles as samples of the next state's return, "
            "which they are not: the code collapses toward the mean (docs/drl.md, 'Bootstrap'). Use "
            "bootstrap='imputed' for a distributional expectile code, or rule='quantile' with 'random'.",
            UserWarning, stacklevel=2)
    kernel = TrialKernel(task, population, options, dev, torch_dtype, seed)
    stored_options = {**options.to_dict(), "dtype": str(torch_dtype).removeprefix("torch."), "device": dev.type}
    meta = dict(population=population, task=task, options=stored_options, seed=seed, n_trials=n_trials,
                trials=trials, steps=steps)
    if out is None:
        sink = MemorySink(meta, len(steps), record)
    else:
        sink = StreamWriter(out, meta=meta, record=record, n_features=kernel.n_features, overwrite=overwrite,
                            compression=compression)
    weights = torch.zeros(kernel.n_types, p, kernel.n_features, dtype=torch_dtype, device=dev)
    if initial_weights is not None:
        weights.copy_(torch.as_tensor(_initial_weights(initial_weights, weights.shape)).transpose(0, 1))
    ds = _run(kernel, sink, weights, task=task, population=population, n_trials=n_trials, seed=seed,
              trials=trials, steps=steps, record=record, schedule=schedule, block_trials=block_trials, start=0,
              progress=progress)
    if initial_weights is not None:
        ds.attrs["initial_weights"] = CONTINUED
    return ds


#: ``attrs["initial_weights"]`` of a run that started from given weights
CONTINUED = "given: this run continued from weights it does not store (a phase of a changing task)"


def _initial_weights(values, shape) -> np.ndarray:
    """``values`` as float64 [P, M, F] for weights of ``shape`` [M, P, F], checked (ValueError naming it). A
    DataArray is read by its dimension names (a run's ``weights``, in any order), never by position."""
    dims = getattr(values, "dims", None)
    if dims is not None and hasattr(values, "transpose"):
        wanted = ("predictor", "type", "feature")
        if set(dims) != set(wanted):
            raise ValueError(f"initial_weights as a DataArray must have the dims {list(wanted)} (a run's weights); "
                             f"got {list(dims)}: rename them, or pass a plain array [predictor, type, feature]")
        values = values.transpose(*wanted)
    array = np.asarray(getattr(values, "values", values), dtype=np.float64)
    expected = (shape[1], shape[0], shape[2])
    if array.shape != expected:
        raise ValueError(f"initial_weights must have shape [predictor, type, feature] = {list(expected)} for this "
                         f"population, task and features; got {list(array.shape)}")
    if not np.all(np.isfinite(array)):
        raise ValueError("initial_weights must be finite")
    return array


def _all_finite(weights: torch.Tensor) -> bool:
    """Whether every weight is finite (numpy on the CPU: torch's call costs ~0.1 ms, 3 % of a small run)."""
    if weights.device.type == "cpu":
        return bool(np.isfinite(weights.numpy()).all())
    return bool(torch.isfinite(weights).all())


def _writes_direct(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether trials are written straight into the result arrays (no block buffer): CPU float32 runs."""
    return device.type == "cpu" and dtype == torch.float32


def _check_progress(progress) -> None:
    if progress is not None and not isinstance(progress, bool | np.bool_):
        raise TypeError(f"progress must be True, False or None (automatic); got {progress!r}")


def _run(kernel: TrialKernel, sink, weights: torch.Tensor, *, task, population, n_trials, seed, trials, steps,
         record, schedule, block_trials, start, progress) -> xr.Dataset:
    """The trial loop from trial ``start`` (weights and bootstrap state as of then), block by block, into ``sink``."""
    dev, dtype = kernel.device, kernel.dtype
    p, k = population.n_predictors, task.n_steps
    drawer = task.schedule_blocks(n_trials, seed, start=start) if schedule is None else None
    steps_dev = torch.as_tensor(steps, device=dev)
    all_steps = len(steps) == k
    block_starts = np.arange(start, n_trials, block_trials)
    first_recorded = np.searchsorted(trials, block_starts)  # index into trials of each block's first recorded trial
    last_recorded = np.searchsorted(trials, np.minimum(block_starts + block_trials, n_trials))
    direct = sink.direct_views() if _writes_direct(dev, dtype) else None
    if direct is not None:
        v_buf, d_buf = direct  # in-memory CPU run: each trial is written straight into its slot of the result
    else:
        # One reusable block buffer per recorded variable (allocating per block would page-fault every time).
        max_keep = int((last_recorded - first_recorded).max()) if len(block_starts) else 0
        v_buf = torch.empty(p, max_keep, len(steps), dtype=dtype, device=dev) if "value" in record else None
        d_buf = torch.empty(p, max_keep, len(steps), dtype=dtype, device=dev) if "rpe" in record else None

    def run_block(block_start, types, rewards, recorded, first_slot, check_each_trial):
        slot = first_slot
        for i in range(len(types)):
            m = int(types[i])
            w = weights[m]
            v, d = kernel.trial(w, m, rewards[i])
            if check_each_trial:
                check_finite(w, block_start + i, population)
            if recorded[i]:
                if v_buf is not None:
                    v_buf[:, slot] = v if all_steps else v[:, steps_dev]
                if d_buf is not None:
                    d_buf[:, slot] = d if all_steps else d[:, steps_dev]
                slot += 1
        return slot - first_slot

    # the compiled loop for the bootstrap: own targets, or imputed ones (compiled_imputed)
    loop = compiled.run_block if kernel.bootstrap.method == "own" else compiled_imputed.run_block

    def run_block_compiled(types, rewards, recorded, first_slot):
        slots = np.where(recorded, first_slot + np.cumsum(recorded) - 1, -1)
        loop(kernel, weights, types, rewards.numpy(), slots, steps,
             None if v_buf is None else v_buf.numpy(), None if d_buf is None else d_buf.numpy())
        return int(recorded.sum())

    show = progress if progress is not None else p * n_trials * k > 2e8
    from tqdm.auto import tqdm

    # no bar object at all when hidden: building a disabled one costs ~0.1 ms, 4 % of a small call
    bar = tqdm(total=n_trials, initial=start, desc=f"simulate {task.name}", unit="trial") if show else None
    try:
        with torch.no_grad(), flush_denormals(dev), torch_threads(p * k, dev):
            for b, block_start in enumerate(block_starts):
                block_end = min(n_trials, int(block_start) + block_trials)
                if drawer is not None:
                    types, reward_np = drawer.block(int(block_start), block_end)
                    reward = torch.from_numpy(reward_np)
                else:
                    types = schedule.trial_type[block_start:block_end].numpy()
                    reward = schedule.reward[block_start:block_end]
                rewards_dev = reward.to(device=dev, dtype=dtype)
                use_compiled = kernel.opt.kernel == "compiled"
                keep = trials[first_recorded[b]:last_recorded[b]]
                recorded = np.zeros(block_end - block_start, dtype=bool)
                recorded[keep - block_start] = True
                first_slot = int(first_recorded[b]) if direct is not None else 0
                saved = (weights.clone(), kernel.rng_state())
                if use_compiled:
                    n_kept = run_block_compiled(types, rewards_dev, recorded, first_slot)
                else:
                    n_kept = run_block(block_start, types, rewards_dev, recorded, first_slot, check_each_trial=False)
                if not _all_finite(weights):
                    # Replay the block trial by trial to name the exact trial (checking every trial costs ~20 %).
                    weights.copy_(saved[0])
                    kernel.set_rng_state(saved[1])
                    run_block(block_start, types, rewards_dev, recorded, first_slot, check_each_trial=True)
                reward_kept = reward[keep - block_start][:, steps].numpy() if "reward" in record else None
                if direct is not None:
                    sink.write(keep, types[keep - block_start], None, None, reward_kept)
                else:
                    sink.write(
                        keep, types[keep - block_start],
                        None if v_buf is None else v_buf[:, :n_kept].cpu().numpy(),
                        None if d_buf is None else d_buf[:, :n_kept].cpu().numpy(),
                        reward_kept,
                    )
                sink.checkpoint(block_end, weights, kernel.rng_state())
                if bar is not None:
                    bar.update(block_end - block_start)
    except BaseException as e:
        # An interrupt, or a failure of the disk (full, an I/O error, a lost mount), keeps the run resumable from
        # its last checkpoint, and a resumed run is never deleted, whatever failed: the interrupted run stays as it
        # was. A fresh run that failed otherwise (values diverged, a bug) leaves no temporary file behind.
        keep = isinstance(e, KeyboardInterrupt | OSError) or getattr(sink, "resumed", False)
        sink.abort(keep_resumable=keep)
        if keep and getattr(sink, "resumable", False):
            e.add_note(f"nothing was lost: the streamed run can be finished from its last complete block: "
                       f"{resume_hint(sink.path)}")
        raise
    finally:
        if bar is not None:
            bar.close()
    return sink.finish(weights.transpose(0, 1).float().cpu().numpy())


def resume(run, *, directory=DEFAULT_DIR, device=None, overwrite: bool = False,
           progress: bool | None = None) -> xr.Dataset:
    """Finish a streamed run (``simulate(..., out=run)``) that was killed or interrupted.

    The run continues from its last complete block with the weights and random state saved there, so the
    result is identical to an uninterrupted run. ``run`` is the run's name or path (``drl.store.interrupted_runs()``
    lists what can be resumed). Returns the finished run, opened lazily from its file.

    Raises FileNotFoundError when no interrupted run of that name exists, FileExistsError when several do
    (their temporary files are named) or when the finished file already exists and ``overwrite`` is False.
    """
    overwrite = boolean("overwrite", overwrite)
    _check_progress(progress)
    path = run_path(run, directory)
    found = interrupted_temporaries(path) if path.parent.is_dir() else []
    if not found:
        raise FileNotFoundError(f"no interrupted run of {path} to resume (drl.store.interrupted_runs({str(path.parent)!r})"
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
    return _run(kernel, sink, weights, **run_args, progress=progress)


def _prepare_resume(tmp: Path, path: Path, device, overwrite: bool):
    """Read and check everything an interrupted run's files declare, before anything is simulated or written:
    (kernel, sink, weights, the rest of ``_run``'s arguments). Errors name the file and the field."""
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
    block_trials = _default_block(population.n_predictors, task.n_steps, n_trials, streamed=True)
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

    ``run`` is a Dataset or a path / run name. Same seed and device class → an identical Dataset (up to the
    creation time attribute). Runs of schema version 1 (drl before textbook TD) are rerun in their own
    convention (``options.convention = 1``), so the numbers are reproduced.
    """
    from drl.store import open_run

    ds = open_run(run)
    stored = dict(ds.attrs["options"])
    if "imported_from" in stored:
        raise ValueError(f"this run was imported from drl_sim ({stored['imported_from']}), which saved neither its task "
                         "nor its trial schedule, so it cannot be rerun: rebuild them with "
                         "drl.drl_sim.task_from_tensors and simulate with preset='drl_sim'")
    if "initial_weights" in ds.attrs:
        raise ValueError("this run started from given weights (a phase of a changing task), which it does not "
                         "store, so it cannot be rerun on its own: rerun the whole protocol with "
                         "drl.phases.simulate_phases")
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
