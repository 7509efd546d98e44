"""The responses form of a recording session: for each trial, the firing rate (spikes/s) or mean signal in a
response window after the cue and after the reward, minus the unit's baseline before the cue.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from drl.responses.form import nan_mean, responses_form
from drl.responses.spikes import BASELINE_WINDOW, RESPONSE_WINDOW, Recording, outcome_times, trial_start
from drl.responses.windows import OVERLAPS, check_windows, unobserved, window_span

__all__ = ["SMOOTHINGS", "UNRECORDED", "responses_from_recording"]


SMOOTHINGS = (None, "dabney2020")
#: What a unit's response is where a trial lies wholly outside its spikes: NaN (not recorded), or the count
#: there (0 spikes/s), as Dabney et al. 2020's pipeline read it
UNRECORDED = ("nan", "count")


def responses_from_recording(recording: Recording, *, response_window=RESPONSE_WINDOW,
                             baseline_window=BASELINE_WINDOW, baseline: str = "neuron", select=None,
                             smoothing: str | None = None, overlapping: str = "raise", unrecorded: str = "nan",
                             name: str | None = None) -> xr.Dataset:
    """The responses form of a recording session.

    For each unit and trial: the rate (spikes/s; a continuous signal: its mean) in ``response_window`` (s after
    the event) at the cue and at the reward, minus the baseline: the rate in ``baseline_window`` (s around the
    trial's first event: its cue, or the reward of an uncued trial), averaged over all the unit's trials
    (``baseline="neuron"``: per-neuron subtraction, the least noisy) or of the same trial (``"trial"``).

    Conditions: one cue condition per trial type with a cue (its magnitude is the trial type's mean reward,
    unrewarded trials counting 0; its delay the reward delay when there is one), and one reward condition per
    trial type × magnitude × delay delivered; an uncued reward's condition has no delay (NaN). An **omission** (a
    cued trial with magnitude 0 and no reward time, in a trial type whose rewards come at one delay) is read at
    the moment its type's reward would have come, as a reward condition of magnitude 0 (the dip of an omitted
    reward); a cue without reward (magnitude NaN) has no outcome condition. Units are recorded together, so
    trials are shared by every neuron (the form's ``trial`` coordinate).

    Parameters
    ----------
    recording : Recording
        The session.
    response_window : (float, float)
        The response window, s after the event.
    baseline_window : (float, float)
        The baseline window, s around the trial's first event.
    baseline : {"neuron", "trial"}
        Subtract each unit's mean baseline over all its trials, or each trial's own.
    select : str or array_like, optional
        The units kept (:meth:`Recording.select`: a query on the units table, or unit ids); the units table's
        columns become neuron coordinates.
    smoothing : {"dabney2020"}, optional
        Read spikes as Dabney et al. 2020 did (:mod:`drl.responses.smoothing`: a 20-ms kernel applied twice on a
        1-ms grid, the PSTH spanning −1 … +3 s around the trial's first event; windows on whole ms). With their
        windows, ``response_window=(0.2, 0.6)``, ``baseline_window=(-1, 0)`` and ``baseline="trial"``, it gives
        their per-trial responses.
    overlapping : {"raise", "drop", "keep"}
        A trial whose baseline window the previous trial's response window reaches into (a lab's record can start
        a trial at the moment the last one's reward comes): a ValueError naming the pair, left out, or read as it
        is (as Dabney et al. did).
    unrecorded : {"nan", "count"}
        A unit's response in a trial whose windows lie wholly before its first spike or after its last (the unit
        was lost, or not yet isolated): NaN, with a warning naming the units, or 0 spikes/s (as Dabney et al.
        2020's pipeline counted them).
    name : str, optional
        The form's name (default: the recording's).

    Returns
    -------
    xarray.Dataset
        The responses form (:func:`responses_form`), with single trials (``trial_response``) and the shared
        ``trial`` coordinate; ``signal="recorded"``.

    Raises
    ------
    ValueError
        Windows that are empty or reversed, overlapping trials with ``overlapping="raise"``, trial and spike times
        on different clocks (no trial meets any spike), an unknown option.

    Warns
    -----
    UserWarning
        Units with trials outside their spikes (``unrecorded="nan"``).

    See Also
    --------
    recording_from_run : a synthetic session from a model run, to test an analysis on.
    combine_sessions : several sessions in one form.

    Examples
    --------
    >>> import warnings
    >>> import drl
    >>> from drl import responses
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.2, 0.8], alpha=0.1), 400, seed=0,
    ...                    progress=False)
    >>> session = responses.recording_from_run(run, seed=0)
    >>> form = responses.responses_from_recording(session)
    >>> form.attrs["signal"], form.sizes["neuron"], sorted(set(form["event"].values.tolist()))
    ('recorded', 2, ['cue', 'reward'])
    """
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be a drl.responses.Recording; got {type(recording).__name__}")
    if baseline not in ("neuron", "trial"):
        raise ValueError(f"baseline must be 'neuron' or 'trial'; got {baseline!r}")
    if smoothing not in SMOOTHINGS:
        raise ValueError(f"smoothing must be None or 'dabney2020'; got {smoothing!r}")
    if unrecorded not in UNRECORDED:
        raise ValueError(f"unrecorded must be 'nan' or 'count'; got {unrecorded!r}")
    if overlapping not in OVERLAPS:
        raise ValueError(f"overlapping must be 'raise', 'keep' or 'drop'; got {overlapping!r}")
    if smoothing is not None and recording.spike_times is None:
        raise ValueError("smoothing='dabney2020' smooths spike times; this recording holds a continuous signal")
    response_window = window_span("response_window", response_window)
    baseline_window = window_span("baseline_window", baseline_window)
    if select is not None:
        recording = recording.select(select)
    kept = check_windows(recording, response_window, baseline_window, overlapping)
    trials = recording.trials
    cue, start = trials["cue_time"].to_numpy(), trial_start(trials)
    reward, delay = outcome_times(trials)  # an omission's outcome comes when its type's reward would have
    trials = trials.assign(delay=delay)
    cued, rewarded = np.flatnonzero(np.isfinite(cue) & kept), np.flatnonzero(np.isfinite(reward) & kept)
    if smoothing is None:
        span = lambda events, window: (events + window[0], events + window[1])  # noqa: E731
        at_cue = recording.window_mean(*span(cue[cued], response_window))  # [U, cued]
        at_reward = recording.window_mean(*span(reward[rewarded], response_window))  # [U, R]
        base = recording.window_mean(*span(start, baseline_window))  # [U, N]
    else:
        from drl.responses.smoothing import dabney2020_window_rates

        def rates(events, window, twice):
            return np.stack([dabney2020_window_rates(times, start, events, window, twice=twice)
                             for times in recording.spike_times])

        at_cue = rates(cue, response_window, True)[:, cued]  # an uncued trial's cue is NaN: no window
        at_reward = rates(reward, response_window, True)[:, rewarded]
        base = rates(start, baseline_window, False)
    lost = unobserved(recording, response_window, baseline_window)
    if lost is not None and lost[:, kept].all():
        raise ValueError("no unit has a spike near any trial's windows")
    if lost is not None and lost[:, kept].any() and unrecorded == "nan":
        counts = lost[:, kept].sum(1)
        lost_units = np.flatnonzero(counts)
        named = ", ".join(f"{recording.units.index[u]!r} ({counts[u]})" for u in lost_units[:5])
        warnings.warn(f"{lost_units.size} unit(s) have trials outside their spikes (before the first or after the last): "
                      f"{named}{' …' if lost_units.size > 5 else ''}. Their responses there are NaN, not 0 spikes/s (the "
                      "unit was not recorded then)", stacklevel=2)
        at_cue = np.where(lost[:, cued], np.nan, at_cue)
        at_reward = np.where(lost[:, rewarded], np.nan, at_reward)
        base = np.where(lost, np.nan, base)
    if recording.signal is not None and not (np.isfinite(at_cue).all() and np.isfinite(at_reward).all()
                                             and np.isfinite(base[:, kept]).all()):
        empty = ~np.isfinite(base[:, kept]).all(1) | ~np.isfinite(at_cue).all(1) | ~np.isfinite(at_reward).all(1)
        warnings.warn(f"{int(empty.sum())} unit(s) have windows in which every sample of the signal is NaN "
                      f"({recording.units.index[np.flatnonzero(empty)][:5].tolist()}): their responses there are NaN",
                      stacklevel=2)
    if baseline == "neuron":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a unit with no observed trial: NaN, warned above
            base = np.broadcast_to(np.nanmean(base[:, kept], 1, keepdims=True), base.shape)
    at_cue, at_reward = at_cue - base[:, cued], at_reward - base[:, rewarded]

    types = trials["trial_type"].to_numpy()
    conditions, members = [], []
    for trial_type in dict.fromkeys(types[cued]):
        of_type = cued[types[cued] == trial_type]
        delays = trials["delay"].to_numpy()[of_type]
        delays = np.unique(delays[np.isfinite(delays)])
        expected = float(np.nan_to_num(trials["magnitude"].to_numpy()[of_type]).mean())
        conditions.append(("cue", trial_type, expected, delays[0] if delays.size == 1 else np.nan))
        members.append(("cue", np.searchsorted(cued, of_type)))  # positions among the cued trials
    keys = trials.iloc[rewarded][["trial_type", "magnitude", "delay"]].round({"magnitude": 9, "delay": 6})
    for key, rows in keys.groupby(["trial_type", "magnitude", "delay"], sort=True, dropna=False).indices.items():
        conditions.append(("reward", str(key[0]), float(key[1]), float(key[2])))
        members.append(("reward", np.asarray(rows)))  # positions among the rewarded trials
    width = max(m.size for _, m in members)
    single = np.full((recording.n_units, len(conditions), width), np.nan)
    ids = np.full((len(conditions), width), -1, dtype=np.int64)
    for c, (event, rows) in enumerate(members):
        single[:, c, :rows.size] = (at_cue if event == "cue" else at_reward)[:, rows]
        ids[c, :rows.size] = cued[rows] if event == "cue" else rewarded[rows]
    mean = nan_mean(single, 2)
    units = recording.units
    coords = {}
    for column in units.columns:
        values = units[column].to_numpy()
        coords[str(column)] = values.astype(str) if values.dtype == object else values
    event, trial_type, magnitude, delay = (np.array(v) for v in zip(*conditions, strict=True))
    return responses_form(
        mean, trial_response=single, trial=ids, event=event, trial_type=trial_type,
        magnitude=magnitude.astype(float), delay=delay.astype(float), neuron=units.index.to_numpy(),
        neuron_coords=coords, units=recording.magnitude_units, name=name or recording.name, signal="recorded",
        attrs={"response_window": list(response_window), "baseline_window": list(baseline_window),
               "baseline": baseline, "smoothing": smoothing or "none",
               "response_units": "spikes/s" if recording.spike_times is not None else "signal units"})
