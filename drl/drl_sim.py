"""Compatibility with drl_sim, the project drl replaces: import its saved runs.

drl_sim saved each run as a pickled dict of tensors (``exps/*.pth``). :func:`import_drl_sim` reads one without
running pickled code and returns a drl run (Dataset) that every figure and decoder accepts. The drl_sim model
itself is an option set of the one engine (``simulate(..., preset="drl_sim")``, :data:`drl.PRESETS`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from drl.options import PRESETS
from drl.schema import build_dataset

__all__ = ["import_drl_sim"]


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
