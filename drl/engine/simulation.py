"""Simulating a population on a task: :func:`simulate` validates the request, sizes it against memory, chooses
the kernel and the sink (memory, or a file streamed block by block) and runs the trial loop
(:mod:`drl.engine.blocks`); each trial is one vectorized update of every predictor
(:class:`drl.engine.kernel.TrialKernel`, or the compiled loop).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import xarray as xr

from drl._validate import boolean, choice
from drl.engine.blocks import check_progress, default_block, run_blocks, writes_direct
from drl.engine.features import make_features
from drl.engine.kernel import NonFiniteValueError, TrialKernel
from drl.engine.options import (
    RECORDABLE,
    EngineOptions,
    resolve_device,
    resolve_dtype,
    resolve_kernel,
    resolve_options,
)
from drl.engine.sinks import (
    MemorySink,
    RunTooLargeError,
    StreamWriter,
    check_memory,
    count_recorded_trials,
    memory_parts,
    select_steps,
    select_trials,
)
from drl.population import Population
from drl.tasks.model import Task, check_seed
from drl.tasks.registry import load_task
from drl.tasks.schedule import Schedule

__all__ = ["CONTINUED", "NonFiniteValueError", "RunTooLargeError", "simulate"]


def _n_features(options: EngineOptions, task: Task) -> int:
    rep = make_features(options.features)
    return rep.n_features(task) if hasattr(rep, "n_features") else task.n_steps


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
        group's next values (the expectile code's method). See docs/guide/architecture.md, "Bootstrap".
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
        :func:`drl.engine.phases.simulate_phases`). The run records ``attrs["initial_weights"]`` and cannot be rerun on
        its own; not with ``out``.

    Returns
    -------
    xarray.Dataset
        ``value``, ``rpe`` [predictor, trial, time], ``reward`` [trial, time], ``weights`` [predictor, type,
        feature] and the coordinates and attributes of the drl run schema (docs/guide/file_format.md).

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
    check_progress(progress)
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
        block_trials = default_block(p, k, n_trials, streamed=out is not None,
                                      direct=writes_direct(dev, torch_dtype))
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
            "which they are not: the code collapses toward the mean (docs/guide/architecture.md, 'Bootstrap'). Use "
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
    ds = run_blocks(kernel, sink, weights, task=task, population=population, n_trials=n_trials, seed=seed,
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
