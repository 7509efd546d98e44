"""A recording session (spike times or a continuous signal, with trial events) and its responses form.

:class:`Recording` holds one session as an experimenter has it: each unit's spike times (or a continuous signal
such as ΔF/F, [time, unit]), a trials table of events on the same clock (cue time, reward time, reward
magnitude, trial type) and a units table of what is known about each unit (cell type, location, …).
:func:`responses_from_recording` turns it into the responses form: for each trial, the firing rate (spikes/s) or
mean signal in a response window after the cue and after the reward, minus the unit's baseline before the cue.

Default windows: the response window 0.2–0.65 s after the event (Sousa et al. 2025) and the baseline window −4 to
−1 s before the cue (before the cue, after the previous trial's responses have decayed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from drl.responses.form import nan_mean, responses_form

__all__ = ["BASELINE_WINDOW", "RESPONSE_WINDOW", "Recording", "responses_from_recording"]

#: Response window after an event (s): Sousa et al. 2025's 0.2–0.65 s
RESPONSE_WINDOW = (0.2, 0.65)
#: Baseline window relative to the cue (s)
BASELINE_WINDOW = (-4.0, -1.0)
TRIAL_COLUMNS = ("cue_time", "reward_time", "magnitude", "trial_type")


def _trials_table(trials) -> pd.DataFrame:
    """The trials table checked: the four columns, finite increasing cue times, rewards at or after their cue."""
    if not isinstance(trials, pd.DataFrame):
        raise TypeError(f"trials must be a pandas DataFrame (one row per trial); got {type(trials).__name__}")
    missing = [c for c in TRIAL_COLUMNS if c not in trials.columns]
    if missing:
        raise ValueError(f"the trials table has no column(s) {missing}; it needs {list(TRIAL_COLUMNS)} (reward_time "
                         f"and magnitude NaN where no reward), and has {list(trials.columns)}")
    if trials.empty:
        raise ValueError("the trials table has no rows: a recording needs trials")
    out = pd.DataFrame({"trial_type": trials["trial_type"].astype(str).to_numpy()}, index=trials.index)
    for column in ("cue_time", "reward_time", "magnitude"):
        values = pd.to_numeric(trials[column], errors="coerce")
        bad = (values.isna() & trials[column].notna()) | np.isinf(values)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"trials column {column!r} must hold finite numbers (NaN for none); row {row} holds "
                             f"{trials[column].iloc[row]!r}")
        out[column] = values.to_numpy(dtype=np.float64)
    cue, reward = out["cue_time"].to_numpy(), out["reward_time"].to_numpy()
    eventless = np.flatnonzero(np.isnan(cue) & np.isnan(reward))
    if eventless.size:
        raise ValueError(f"every trial needs a cue_time or a reward_time (an uncued reward has no cue); row "
                         f"{int(eventless[0])} has neither")
    first = trial_start(out)
    if np.any(np.diff(first) <= 0):
        row = int(np.flatnonzero(np.diff(first) <= 0)[0]) + 1
        raise ValueError(f"the trials' first events (cue, or the reward of an uncued trial) must increase (events "
                         f"in time order); row {row} starts at {first[row]:g} s, after {first[row - 1]:g} s")
    with np.errstate(invalid="ignore"):
        early = np.flatnonzero(reward < cue)
    if early.size:
        raise ValueError(f"a reward comes before its cue in row {early[0]}: reward_time {reward[early[0]]:g} s, "
                         f"cue_time {cue[early[0]]:g} s")
    # A reward after the next trial's first event is not refused here: a lab's record can log a cued reward's
    # nominal time just after an uncued one; responses_from_recording refuses overlapping windows by default.
    rewarded = np.isfinite(reward)
    if np.any(np.isnan(out["magnitude"].to_numpy()[rewarded])):
        row = int(np.flatnonzero(rewarded & np.isnan(out["magnitude"].to_numpy()))[0])
        raise ValueError(f"row {row} has a reward_time but no magnitude")
    out["delay"] = np.round(reward - cue, 6)  # to the µs: clock arithmetic must not split one delay in two
    return out.reset_index(drop=True)


def outcome_times(trials: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """([N] the time of each trial's outcome (s), [N] its delay after the cue (s)): the reward's, and for an
    **omission** (a cued trial with magnitude 0 and no reward time, in a trial type whose rewards all come at one
    delay) the moment its type's reward would have come; NaN for a trial without outcome (a cue that predicts no
    reward)."""
    cue, reward = trials["cue_time"].to_numpy(), trials["reward_time"].to_numpy()
    delay = trials["delay"].to_numpy().copy()
    omitted = np.isfinite(cue) & np.isnan(reward) & (trials["magnitude"].to_numpy() == 0)
    types = trials["trial_type"].to_numpy()
    for name in np.unique(types[omitted]):
        delays = np.unique(delay[(types == name) & np.isfinite(delay)])
        if delays.size == 1:
            delay[omitted & (types == name)] = delays[0]
    return np.where(np.isfinite(reward), reward, cue + delay), delay


def trial_start(trials: pd.DataFrame) -> np.ndarray:
    """[N] each trial's first event (s): its cue, or the reward of an uncued trial; baselines are taken around it."""
    cue = trials["cue_time"].to_numpy()
    return np.where(np.isfinite(cue), cue, trials["reward_time"].to_numpy())


@dataclass(frozen=True, eq=False)
class Recording:
    """One recording session: spike times or a continuous signal, trial events and unit metadata (times in s, on
    one clock).

    Attributes:
      trials: one row per trial: ``cue_time`` (s; NaN for an uncued reward), ``reward_time`` (s; NaN for none: a
        cue without reward, or an omission), ``magnitude`` (reward units, NaN for none), ``trial_type`` (name);
        ``delay`` (s, reward − cue; NaN without either) is added. Every trial has a cue or a reward.
      spike_times: one array of spike times (s) per unit, or None for a continuous signal.
      signal, timestamps: a continuous signal [time, unit] (e.g. ΔF/F) at ``timestamps`` [time] (s), or None.
      units: one row per unit (index: unit ids), any columns (``cell_type``, ``location``, …) to select by.
      name: the session's name; ``magnitude_units``: the unit of magnitude (figure labels).
    """

    trials: pd.DataFrame
    spike_times: tuple | None = None
    signal: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    units: pd.DataFrame | None = None
    name: str = "recording"
    magnitude_units: str = "reward units"
    _extent: tuple = field(default=(np.nan, np.nan), repr=False)

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "trials", _trials_table(self.trials))
        if (self.spike_times is None) == (self.signal is None):
            raise ValueError("give spike_times (one array per unit) or signal with timestamps, not both or neither")
        if self.spike_times is not None:
            if isinstance(self.spike_times, dict):
                ids = list(self.spike_times)
                spikes = [self.spike_times[k] for k in ids]
            else:
                spikes, ids = list(self.spike_times), None
            if not spikes:
                raise ValueError("spike_times holds no unit")
            checked = []
            for i, times in enumerate(spikes):
                times = np.asarray(times, dtype=np.float64).ravel()
                label = ids[i] if ids is not None else i
                if times.size == 0:
                    raise ValueError(f"unit {label!r} has no spikes: drop it (or select units with spikes)")
                if not np.all(np.isfinite(times)):
                    raise ValueError(f"unit {label!r} has non-finite spike times")
                checked.append(np.sort(times))
            set_(self, "spike_times", tuple(checked))
            n_units = len(checked)
            extent = (min(t[0] for t in checked), max(t[-1] for t in checked))
            if self.units is None and ids is not None:
                set_(self, "units", pd.DataFrame(index=pd.Index(ids, name="unit")))
        else:
            signal = np.asarray(self.signal, dtype=np.float64)
            timestamps = np.asarray(self.timestamps, dtype=np.float64) if self.timestamps is not None else None
            if signal.ndim != 2 or timestamps is None or timestamps.shape != (signal.shape[0],):
                raise ValueError(f"signal must be [time, unit] with timestamps [time]; got signal {signal.shape} and "
                                 f"timestamps {None if timestamps is None else timestamps.shape}")
            if not np.all(np.isfinite(timestamps)) or np.any(np.diff(timestamps) <= 0):
                raise ValueError("timestamps must be finite and increasing")
            set_(self, "signal", signal)
            set_(self, "timestamps", timestamps)
            n_units = signal.shape[1]
            extent = (float(timestamps[0]), float(timestamps[-1]))
        units = self.units if self.units is not None else pd.DataFrame(index=pd.RangeIndex(n_units, name="unit"))
        if not isinstance(units, pd.DataFrame) or len(units) != n_units:
            raise ValueError(f"units must be a DataFrame with one row per unit ({n_units}); got "
                             f"{len(units) if isinstance(units, pd.DataFrame) else type(units).__name__}")
        if not units.index.is_unique:
            raise ValueError(f"units' index must hold distinct unit ids; {units.index[units.index.duplicated()][:3].tolist()} "
                             "repeat")
        set_(self, "units", units)
        set_(self, "_extent", extent)

    @property
    def n_units(self) -> int:
        return len(self.units)

    def select(self, query) -> Recording:
        """The units where ``query`` holds: a pandas query on the units table (``"cell_type == 'putative_DA'"``),
        a boolean mask or a list of unit ids."""
        if isinstance(query, str):
            try:
                keep = np.asarray(self.units.eval(query), dtype=bool)
            except Exception as error:  # pandas raises many kinds; the message is what helps
                raise ValueError(f"select={query!r} is not a query on the units table (columns "
                                 f"{list(self.units.columns)}): {error}") from None
        elif np.asarray(query).dtype == bool:
            keep = np.asarray(query, dtype=bool)
        else:
            wanted = list(query)
            unknown = [u for u in wanted if u not in self.units.index]
            if unknown:
                raise ValueError(f"no unit(s) {unknown[:5]} in this recording")
            keep = self.units.index.isin(wanted)
        if keep.shape != (self.n_units,):
            raise ValueError(f"select must give one boolean per unit ({self.n_units}); got shape {keep.shape}")
        if not keep.any():
            raise ValueError(f"select={query!r} keeps no unit")
        index = np.flatnonzero(keep)
        spikes = None if self.spike_times is None else tuple(self.spike_times[i] for i in index)
        signal = None if self.signal is None else self.signal[:, index]
        return Recording(self.trials, spikes, signal, self.timestamps, self.units.iloc[index], self.name,
                         self.magnitude_units)

    def window_mean(self, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """[unit, window] the firing rate (spikes/s) or the mean signal in each window [starts, stops) (s)."""
        if self.spike_times is not None:
            out = np.empty((self.n_units, starts.size))
            for u, times in enumerate(self.spike_times):  # one searchsorted over every window per unit
                out[u] = np.searchsorted(times, stops) - np.searchsorted(times, starts)
            return out / (stops - starts)
        first = np.searchsorted(self.timestamps, starts)
        last = np.searchsorted(self.timestamps, stops)
        if np.any(last <= first):
            window = int(np.flatnonzero(last <= first)[0])
            raise ValueError(f"the window [{starts[window]:g}, {stops[window]:g}) s holds no sample of the signal")
        cumulative = np.concatenate([np.zeros((1, self.signal.shape[1])), np.cumsum(self.signal, 0)])
        return ((cumulative[last] - cumulative[first]) / (last - first)[:, None]).T


def _window(name: str, window) -> tuple[float, float]:
    try:
        lo, hi = (float(w) for w in window)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (start, stop) in s; got {window!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be (start, stop) in s with start < stop; got {window!r}")
    return lo, hi


OVERLAPS = ("raise", "keep", "drop")


def _check_windows(recording: Recording, response: tuple, baseline: tuple, overlapping: str) -> np.ndarray:
    """Windows must lie inside their trial: a response window ends before the next trial's baseline starts, and
    every window lies inside the recorded span. Returns [N] the trials kept: all, or (``overlapping="drop"``)
    all but those whose baseline the previous trial's response window reaches into."""
    trials = recording.trials
    cue, reward = trial_start(trials), outcome_times(trials)[0]
    if cue[0] + baseline[0] < 0:
        raise ValueError(f"the first trial's baseline window starts at {cue[0] + baseline[0]:g} s, before the "
                         "session's clock starts (0 s): shorten baseline_window or leave the first trial out")
    last_event = np.where(np.isfinite(reward), reward, cue)
    next_baseline = cue[1:] + baseline[0]
    spill = np.flatnonzero(last_event[:-1] + response[1] > next_baseline)
    keep = np.ones(cue.size, dtype=bool)
    if spill.size and overlapping == "raise":
        t = int(spill[0])
        raise ValueError(f"the response window {response} s after trial {t}'s last event ({last_event[t]:g} s) "
                         f"overlaps trial {t + 1}'s baseline window {baseline} s around its first event "
                         f"({cue[t + 1]:g} s), and {spill.size - 1} more pair(s): windows must lie inside their "
                         "trial; shorten them, or pass overlapping='drop' (leave the later trials out) or 'keep' "
                         "(read them as they are)")
    if overlapping == "drop":
        keep[spill + 1] = False
    start, stop = recording._extent
    if recording.signal is not None and (cue[0] + baseline[0] < start or last_event[-1] + response[1] > stop):
        raise ValueError(f"the windows reach outside the recorded signal ({start:g} … {stop:g} s): the first "
                         f"baseline starts at {cue[0] + baseline[0]:g} s, the last response ends at "
                         f"{last_event[-1] + response[1]:g} s")
    return keep


SMOOTHINGS = (None, "dabney2020")


def responses_from_recording(recording: Recording, *, response_window=RESPONSE_WINDOW,
                             baseline_window=BASELINE_WINDOW, baseline: str = "neuron", select=None,
                             smoothing: str | None = None, overlapping: str = "raise",
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
    reward); a cue without reward (magnitude NaN) has no outcome condition. Units are recorded
    together, so trials are shared by every neuron (the form's ``trial`` coordinate). ``select`` keeps some units
    (:meth:`Recording.select`); the units table's columns become neuron coordinates.

    ``smoothing="dabney2020"`` reads spikes as Dabney et al. 2020 did (:mod:`drl.responses.smoothing`: a 20-ms
    kernel applied twice on a 1-ms grid, the PSTH spanning −1 … +3 s around the trial's first event; windows on
    whole ms); with their windows, ``response_window=(0.2, 0.6)``, ``baseline_window=(-1, 0)`` and
    ``baseline="trial"``, it gives their per-trial responses.

    ``overlapping``: what to do with a trial whose baseline window the previous trial's response window reaches
    into (a lab's record can start a trial at the moment the last one's reward comes): ``"raise"`` (the
    default: a ValueError naming the pair), ``"drop"`` (leave such trials out) or ``"keep"`` (read them as they
    are, as Dabney et al. did).
    """
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be a drl.responses.Recording; got {type(recording).__name__}")
    if baseline not in ("neuron", "trial"):
        raise ValueError(f"baseline must be 'neuron' or 'trial'; got {baseline!r}")
    if smoothing not in SMOOTHINGS:
        raise ValueError(f"smoothing must be None or 'dabney2020'; got {smoothing!r}")
    if overlapping not in OVERLAPS:
        raise ValueError(f"overlapping must be 'raise', 'keep' or 'drop'; got {overlapping!r}")
    if smoothing is not None and recording.spike_times is None:
        raise ValueError("smoothing='dabney2020' smooths spike times; this recording holds a continuous signal")
    response_window = _window("response_window", response_window)
    baseline_window = _window("baseline_window", baseline_window)
    if select is not None:
        recording = recording.select(select)
    kept = _check_windows(recording, response_window, baseline_window, overlapping)
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
    if baseline == "neuron":
        base = np.broadcast_to(base[:, kept].mean(1, keepdims=True), base.shape)
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
