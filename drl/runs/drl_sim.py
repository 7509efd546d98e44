"""Compatibility with drl_sim, the project drl replaces: import its saved runs.

drl_sim saved each run as a pickled dict of tensors (``exps/*.pth``). :func:`import_drl_sim` reads one without
running pickled code and returns a drl run (Dataset) that every figure and decoder accepts. The drl_sim model
itself is an option set of the one engine (``simulate(..., preset="drl_sim")``, ``drl.PRESETS``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from drl.engine.options import PRESETS
from drl.runs.schema import build_dataset

__all__ = ["import_drl_sim", "task_from_tensors"]


def _numpy_safe_globals() -> list:
    """The numpy names a drl_sim file needs (its trial types are numpy integers), under old and new paths."""
    from numpy._core import multiarray

    allowed = [np.ndarray, np.dtype]
    allowed += [type(np.dtype(t)) for t in (np.int64, np.int32, np.float64, np.float32, np.bool_)]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed += [(multiarray.scalar, f"{module}.scalar"), (multiarray._reconstruct, f"{module}._reconstruct")]
    return allowed


def import_drl_sim(path) -> xr.Dataset:
    """Convert a drl_sim ``exps/*.pth`` run to a drl run.

    drl_sim saved a dict of V, deltas, T, r, dt, states, alpha, gamma, lmbda. It is loaded with
    ``torch.load(weights_only=True)``: no pickled code runs; a file that needs more than tensors, numbers, lists
    and numpy scalars/arrays is refused with an explanation. drl_sim stored V per trial type for every trial; the
    Dataset keeps each trial's own type. drl_sim's last step has no error (stored as NaN). drl_sim's task spec and
    final weights were not saved: the task records trial types only, and the weights are NaN.

    Parameters
    ----------
    path : str or path
        The ``.pth`` file.

    Returns
    -------
    xarray.Dataset
        The run, as :func:`drl.simulate` returns one (dims ``[predictor, trial, time]``).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        An empty file, a file that is not torch's, or one that needs pickled code or lacks a field.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import torch
    >>> import drl
    >>> k = 6  # steps of drl_sim's trial
    >>> old = {"V": torch.rand(2, 1, 4, k), "deltas": torch.rand(2, 1, 4, k - 1), "T": torch.zeros(1),
    ...        "r": torch.rand(1, 4, k), "dt": 0.1, "states": [0, 0, 0, 0], "alpha": 0.1, "gamma": 0.9, "lmbda": 0.5}
    >>> path = Path(tempfile.mkdtemp()) / "old.pth"
    >>> torch.save(old, path)
    >>> dict(drl.import_drl_sim(path).sizes)
    {'predictor': 2, 'trial': 4, 'time': 6, 'type': 1, 'feature': 6}
    """
    import pickle

    import torch

    from drl.population import Population
    from drl.tasks.events import TrialType
    from drl.tasks.model import Task

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no drl_sim file at {path}")
    allowed = _numpy_safe_globals()
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes), not a drl_sim run")
    try:
        with torch.serialization.safe_globals(allowed):
            exp = torch.load(path, weights_only=True, map_location="cpu")
    except (EOFError, KeyError, UnicodeDecodeError) as e:  # what torch raises on text and truncated files
        raise ValueError(f"{path} is not a torch file (a drl_sim run is saved with torch.save): "
                         f"{type(e).__name__} {e}") from None
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

    try:
        v_all, d_all, r_all = arr(exp["V"]), arr(exp["deltas"]), arr(exp["r"])
        states = np.asarray([int(s) for s in exp["states"]], dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: V, deltas, r must be numeric arrays and states a list of integers ({e})") from None
    if v_all.ndim != 4:
        raise ValueError(f"{path}: V must be [predictors, trial types, trials, steps]; got shape {v_all.shape}")
    p, m, n, k = v_all.shape
    if d_all.shape[:3] != (p, m, n) or d_all.ndim != 4 or d_all.shape[3] > k or r_all.shape != (m, n, k):
        raise ValueError(f"{path}: shapes disagree: V {v_all.shape}, deltas {d_all.shape} (expected [{p}, {m}, {n}, "
                         f"≤{k}]), r {r_all.shape} (expected [{m}, {n}, {k}])")
    if states.shape != (n,):
        raise ValueError(f"{path}: states has {states.size} entries for {n} trials")
    if states.size and (states.min() < 0 or states.max() >= m):
        bad = states[(states < 0) | (states >= m)][0]
        raise ValueError(f"{path}: states must be trial-type indices in [0, {m - 1}]; got {bad} at trial "
                         f"{int(np.flatnonzero(states == bad)[0])}")
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
    options = {"rule": "expectile", "update": "offline", "bootstrap": "own", "features": {"name": "csc"},
               **PRESETS["drl_sim"], "preset": "drl_sim", "dtype": "float32", "device": "cpu",
               "imported_from": str(path)}
    return build_dataset(
        population=population, task=task, options=options, seed=-1, n_trials=len(states), trials=trials,
        trial_type=states, steps=np.arange(k), value=value, rpe=rpe, reward=reward,
        weights=np.full((p, m, k), np.nan, np.float32),
    )


def task_from_tensors(stimulus, reward, dt: float, states, *, name: str = "drl_sim_task"):
    """A Task and the Schedule of a drl_sim configuration, from its tensors, so that it reruns exactly with
    ``simulate(task, population, schedule=schedule, preset="drl_sim")``.

    Args:
      stimulus: [M, K] (or [M, N, K]) cue indicator per trial type; the first non-zero step is the cue.
      reward: [M, N, K] drl_sim's ``r``: the reward at each step of trial n had it been of type m.
      dt: step (s).  states: [N] trial type of each trial (drl_sim's ``states``).
      name: the Task's name.

    The steps come from the tensors themselves, so drl_sim's own placement (``round(t/dt) − 1``, ties to even)
    is kept: the Task's times are ``step·dt``, which drl maps back to the same steps. Each type's reward events
    are the steps where its trials are rewarded, with the observed magnitudes and their frequencies (the truth
    for decoders); the Schedule carries the rewards exactly.
    """
    import torch

    from drl.tasks.events import RewardEvent, TrialType
    from drl.tasks.model import Task
    from drl.tasks.schedule import Schedule

    stim = np.asarray(stimulus, dtype=np.float64)
    r = np.asarray(reward, dtype=np.float64)
    states = np.asarray(states)
    if r.ndim != 3:
        raise ValueError(f"reward must be [trial types, trials, steps] (drl_sim's r); got shape {r.shape}")
    m, n, k = r.shape
    if stim.ndim == 3:
        stim = stim[:, 0, :]
    if stim.shape != (m, k):
        raise ValueError(f"stimulus must be [{m}, {k}] (or [{m}, {n}, {k}]) to match reward; got {np.shape(stimulus)}")
    if states.shape != (n,) or states.dtype.kind not in "iu" or states.min() < 0 or states.max() >= m:
        raise ValueError(f"states must be {n} trial-type indices in [0, {m - 1}]; got shape {states.shape}, values "
                         f"{np.unique(states)[:5].tolist()}")
    if not np.all(np.isfinite(r)):
        raise ValueError("reward must be finite")
    types = []
    for t in range(m):
        onsets = np.flatnonzero(stim[t])
        if onsets.size == 0:
            raise ValueError(f"stimulus of trial type {t} is all zero: no cue step")
        cue = int(onsets[0])
        trials = r[t, states == t] if np.any(states == t) else r[t]
        events = []
        for step in np.flatnonzero(np.any(trials != 0, axis=0)):
            values = trials[:, step]
            delivered = values[values != 0]
            magnitudes, counts = np.unique(delivered, return_counts=True)
            events.append(RewardEvent(round((step - cue) * dt, 10), magnitudes=tuple(magnitudes.tolist()),
                                      probabilities=tuple((counts / counts.sum()).tolist()),
                                      delivery_probability=float(delivered.size / values.size)))
        types.append(TrialType(f"type_{t}", cue_time=round(cue * dt, 10), rewards=tuple(events),
                               frequency=float(max(np.mean(states == t), 1e-9))))
    task = Task(name, duration=round((k - 1) * dt, 10), dt=dt, trial_types=tuple(types),
                reference="built from drl_sim tensors", notes="Steps as in the tensors (drl_sim's placement).")
    schedule = Schedule(task=task, trial_type=torch.from_numpy(states.astype(np.int64)),
                        reward=torch.from_numpy(r[states, np.arange(n), :].astype(np.float32)))
    return task, schedule
