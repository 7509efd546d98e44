"""How many trials a control needs: the power of the per-cell tests, by simulating recordings of known truth (a
study-design tool beside the reproductions: it simulates, records and analyses, so it sits above all three).

A control run on too few trials per cue finds nothing, and a paper's claim then reads as absent; run on
thousands, it resolves effects no recording could. :func:`cue_cell_power` says, for the optimistic/pessimistic
cell test (:func:`~drl.decode.classify_cue_cells`), what fraction of cells of each optimism τ it calls at each
trial count: populations of that τ learn the task, Poisson recordings of them are made at each count
(:func:`drl.responses.recording_from_run`, with its breaks), and the test is run on each.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from drl._validate import integer

__all__ = ["cue_cell_power"]


def cue_cell_power(tau=(0.2, 0.5, 0.8), trials_per_cue=(20, 40, 100, 300), *, n_cells: int = 40,
                   task: str = "dabney_variable_probability", learning_trials: int = 10_000, alpha: float = 0.05,
                   seed: int = 0, progress: bool = False, **recording) -> xr.Dataset:
    """The fraction of cells of each optimism ``tau`` that :func:`~drl.decode.classify_cue_cells` calls optimistic
    and pessimistic, at each number of trials per cue.

    Args:
      tau: the optimism levels to test (each a population of ``n_cells`` cells of that τ; τ = 0.5 gives the test's
        false-positive rate).
      trials_per_cue: trials of each cue (p10, p50, p90) recorded per cell.
      n_cells: cells per τ level; each session (a run, seeded apart) holds one cell of every level, so cells of
        one level share no learning noise and the fractions are those of independent cells.
      task: a task with the cues ``p10``, ``p50``, ``p90`` (default: Dabney et al.'s variable-probability task).
      learning_trials: trials learned before the recording (drl's defaults α = 0.01, λ = 0.95, γ = 0.9).
      alpha: the test's level.
      seed: the runs' and the spikes' seed.
      progress: a bar over the τ levels.
      recording: options of :func:`drl.responses.recording_from_run` (default ``gain_rule="shared"``: one gain in
        a session, a pessimist's responses as small as the model has them; e.g. ``overdispersion=1``).

    Returns a Dataset [tau, trials_per_cue]: ``optimistic`` and ``pessimistic`` (fractions of cells called so),
    ``called`` (either); attrs ``n_cells``, ``alpha``, ``task``.
    """
    from tqdm.auto import tqdm

    import drl
    from drl.decode import classify_cue_cells
    from drl.responses import recording_from_run, responses_from_recording

    n_cells = integer("n_cells", n_cells, minimum=2)
    learning_trials = integer("learning_trials", learning_trials, minimum=100)
    levels = np.asarray(tau, dtype=np.float64).ravel()
    if levels.size == 0 or np.any((levels <= 0) | (levels >= 1)):
        raise ValueError(f"tau must be levels in (0, 1); got {levels.tolist()}")
    counts = np.asarray([integer("trials_per_cue", c, minimum=3) for c in np.atleast_1d(trials_per_cue)])
    optimistic = np.zeros((levels.size, counts.size))
    pessimistic = np.zeros_like(optimistic)
    recording = {"gain_rule": "shared", **recording}
    # each "session" is one run holding one cell of every τ level: cells of one level come from different
    # sessions, so no learning noise is shared between them (one run of n_cells identical predictors would give
    # them one reward history), and one gain in a session keeps a pessimist's responses as small as the model's
    for c in tqdm(range(n_cells), desc="cue-cell power", disable=not progress):
        run = drl.simulate(task, drl.Population.grid(tau=list(levels), gamma=0.9), learning_trials, progress=False,
                           seed=seed + c, record_trials=2)
        for j, count in enumerate(counts):
            form = responses_from_recording(recording_from_run(run, n_trials=3 * int(count), seed=seed + 7919 * j + c,
                                                               **recording))
            calls = classify_cue_cells(form, alpha=alpha)["cell_class"].values  # [level]
            optimistic[:, j] += (calls == "optimistic") / n_cells
            pessimistic[:, j] += (calls == "pessimistic") / n_cells
    return xr.Dataset(
        {"optimistic": (("tau", "trials_per_cue"), optimistic, {"long_name": "fraction called optimistic"}),
         "pessimistic": (("tau", "trials_per_cue"), pessimistic, {"long_name": "fraction called pessimistic"}),
         "called": (("tau", "trials_per_cue"), optimistic + pessimistic, {"long_name": "fraction called either"})},
        coords={"tau": levels, "trials_per_cue": counts},
        attrs={"n_cells": n_cells, "alpha": float(alpha), "task": task},
    )
