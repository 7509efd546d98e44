"""How many trials a control needs: the power of the controls, by simulating recordings of known truth (a
study-design tool beside the reproductions: it simulates, records and analyses, so it sits above all three).

A control run on too few trials per cue finds nothing, and a paper's claim then reads as absent; run on
thousands, it resolves effects no recording could. :func:`cue_cell_power` says, for the optimistic/pessimistic
cell test (:func:`~drl.decode.classify_cue_cells`), what fraction of cells of each optimism τ it calls at each
trial count: populations of that τ learn the task, Poisson recordings of them are made at each count
(:func:`drl.responses.recording_from_run`, with its breaks), and the test is run on each.
:func:`discount_power` does the same for Masset et al.'s two discounting claims, by trials per cue and neurons,
over independent recordings (the replication unit of a claim about a population).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from drl._validate import integer

__all__ = ["cue_cell_power", "discount_power"]


def cue_cell_power(tau=(0.2, 0.5, 0.8), trials_per_cue=(20, 40, 100, 300), *, n_cells: int = 40,
                   task: str = "dabney_variable_probability", learning_trials: int = 10_000, alpha: float = 0.05,
                   seed: int = 0, progress: bool = False, **recording) -> xr.Dataset:
    """The fraction of cells of each optimism ``tau`` that :func:`~drl.decode.classify_cue_cells` calls optimistic
    and pessimistic, at each number of trials per cue.

    Parameters
    ----------
    tau : sequence of float
        The optimism levels to test, each in (0, 1): each a population of ``n_cells`` cells of that τ (τ = 0.5
        gives the test's false-positive rate).
    trials_per_cue : sequence of int
        Trials of each cue (p10, p50, p90) recorded per cell, each ≥ 3.
    n_cells : int
        Cells per τ level. Each session (a run, seeded apart) holds one cell of every level, so cells of one level
        share no learning noise and the fractions are those of independent cells.
    task : str
        A task with the cues ``p10``, ``p50``, ``p90`` (default: Dabney et al.'s variable-probability task).
    learning_trials : int
        Trials learned before the recording (drl's defaults α = 0.01, λ = 0.95, γ = 0.9).
    alpha : float
        The test's level.
    seed : int
        The runs' and the spikes' seed.
    progress : bool
        A bar over the sessions.
    **recording
        Options of :func:`drl.responses.recording_from_run` (default ``gain_rule="shared"``: one gain in a
        session, a pessimist's responses as small as the model has them; e.g. ``overdispersion=1``).

    Returns
    -------
    xarray.Dataset
        Dims ``[tau, trials_per_cue]``: ``optimistic`` and ``pessimistic`` (fractions of cells called so),
        ``called`` (either); attrs ``n_cells``, ``alpha``, ``task``.

    Raises
    ------
    ValueError
        A τ outside (0, 1), a trial count below 3, or ``n_cells`` below 2.

    Examples
    --------
    >>> from drl.reproduce import cue_cell_power
    >>> power = cue_cell_power(tau=(0.8,), trials_per_cue=(100,), n_cells=3, learning_trials=3000)
    >>> power["optimistic"].dims
    ('tau', 'trials_per_cue')
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
            try:
                recorded = recording_from_run(run, n_trials=3 * int(count), seed=seed + 7919 * j + c, **recording)
            except ValueError as e:
                if "n_trials must be" not in str(e):
                    raise
                raise ValueError(f"trials_per_cue = {count} needs {3 * int(count)} learned trials, more than "
                                 f"learning_trials = {learning_trials} leaves (every 2nd trial of its last half is "
                                 f"recorded): raise learning_trials to at least {12 * int(count)}") from None
            form = responses_from_recording(recorded)
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


def discount_power(trials_per_cue=(20, 50, 200, 750), n_neurons=(40,), *, n_recordings: int = 8,
                   task: str = "masset_multi_delay", trial_types=None, gamma=(0.5, 0.99),
                   learning_trials: int = 10_000,
                   n_splits: int = 20, n_boot: int = 100, seed: int = 0, progress: bool = False,
                   **recording) -> xr.Dataset:
    """How often Masset et al. 2025's two claims on recorded neurons hold, by trials per cue and neurons.

    Parameters
    ----------
    trials_per_cue : sequence of int
        Trials of each cue recorded per neuron (the recording holds ``cues × trials_per_cue`` trials).
    n_neurons : sequence of int
        Population sizes; each recording samples its neurons' γ uniformly in ``gamma`` (τ = 0.5).
    n_recordings : int
        Independent recordings per cell of the table (each its own run, seeded apart): the fractions replicate
        over recordings.
    task : str
        A task whose cues each predict one reward at one delay (default: Masset et al.'s four delays).
    trial_types : list of str, optional
        The cues analysed (default: every cue that predicts one reward; Sousa et al.'s are
        ``["delay_1.5s", "delay_3s", "delay_6s"]``).
    gamma : tuple of float
        The range of the neurons' discounts (per s).
    learning_trials : int
        Trials learned before the recording (drl's defaults α = 0.01, λ = 0.95).
    n_splits, n_boot : int
        Splits of :func:`~drl.decode.compare_discount_models` and :func:`~drl.decode.compare_timing_decoders`,
        and the latter's bootstrap replicates over neurons.
    seed : int
        The runs' and the spikes' seed.
    progress : bool
        A bar over the recordings.
    **recording
        Options of :func:`drl.responses.recording_from_run` (its breaks, e.g. ``overdispersion=1``).

    Returns
    -------
    xarray.Dataset
        Dims ``[n_neurons, trials_per_cue]``: ``fraction_exponential`` (the mean fraction of neurons better
        predicted, held out, by an exponential than a hyperbolic), ``models_hold`` (the fraction of recordings
        where that fraction is ≥ 0.8 with paired p < 0.01: the reproduction's criterion), ``timing_ratio`` (the
        median W1 with one shared γ over W1 with each neuron's γ̂) and ``timing_holds`` (recordings where that
        ratio is > 2 with p < 0.05 over neurons). Attrs ``n_recordings``, ``task``.

    Examples
    --------
    >>> from drl.reproduce import discount_power
    >>> power = discount_power(trials_per_cue=(200,), n_neurons=(20,), n_recordings=2, learning_trials=4000)
    >>> power["models_hold"].dims
    ('n_neurons', 'trials_per_cue')
    >>> bool(power["fraction_exponential"].item() > 0.5)
    True
    """
    from tqdm.auto import tqdm

    import drl
    from drl._validate import in_range
    from drl.decode import compare_discount_models, compare_timing_decoders
    from drl.responses import recording_from_run, responses_from_recording

    n_recordings = integer("n_recordings", n_recordings, minimum=1)
    learning_trials = integer("learning_trials", learning_trials, minimum=100)
    counts = [integer("trials_per_cue", c, minimum=4) for c in np.atleast_1d(trials_per_cue)]
    sizes = [integer("n_neurons", n, minimum=3) for n in np.atleast_1d(n_neurons)]
    if len(gamma) != 2:
        raise ValueError(f"gamma must be a (low, high) range; got {gamma!r}")
    for bound in gamma:
        in_range("gamma", bound, 0, 1, lo_open=True)
    n_cues = len(drl.get_task(task).trial_types)
    shape = (len(sizes), len(counts), n_recordings)
    fraction, models, ratio, timing = (np.zeros(shape) for _ in range(4))
    steps = [(i, r) for i in range(len(sizes)) for r in range(n_recordings)]
    for i, r in tqdm(steps, desc="discount power", disable=not progress):
        stream = seed + 1000 * i + r
        population = drl.Population.sample(sizes[i], gamma=tuple(gamma), tau=0.5, seed=stream)
        run = drl.simulate(task, population, learning_trials, progress=False, seed=stream)
        for j, count in enumerate(counts):
            form = responses_from_recording(recording_from_run(run, n_trials=n_cues * count,
                                                               seed=stream + 7919 * (j + 1), **recording))
            compared = compare_discount_models(form, trial_types, n_splits=n_splits, seed=stream)
            fraction[i, j, r] = compared.attrs["fraction_exponential"]
            models[i, j, r] = fraction[i, j, r] >= 0.8 and compared.attrs["wilcoxon_p"] < 0.01
            decoders = compare_timing_decoders(form, trial_types, n_splits=n_splits, n_boot=n_boot, seed=stream)
            mean = decoders["mean_w1"].to_series()
            ratio[i, j, r] = mean["average exponential"] / mean["exponential"]
            timing[i, j, r] = (ratio[i, j, r] > 2
                               and decoders.attrs["p_value"]["exponential vs average exponential"] < 0.05)
    dims = ("n_neurons", "trials_per_cue")
    return xr.Dataset(
        {"fraction_exponential": (dims, fraction.mean(2), {"long_name": "neurons preferring the exponential, "
                                                           "mean over recordings", "units": "1"}),
         "models_hold": (dims, models.mean(2), {"long_name": "recordings with ≥ 0.8 exponential and p < 0.01",
                                                "units": "1"}),
         "timing_ratio": (dims, np.median(ratio, 2), {"long_name": "W1 one shared γ / W1 each neuron's γ̂, median",
                                                      "units": "1"}),
         "timing_holds": (dims, timing.mean(2), {"long_name": "recordings with ratio > 2 and p < 0.05",
                                                 "units": "1"})},
        coords={"n_neurons": sizes, "trials_per_cue": counts},
        attrs={"n_recordings": n_recordings, "task": task},
    )
