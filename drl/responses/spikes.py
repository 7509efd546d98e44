"""A recording session: spike times or a continuous signal, with trial events.

:class:`Recording` holds one session as an experimenter has it: each unit's spike times (or a continuous signal
such as ΔF/F, [time, unit]), a trials table of events on the same clock (cue time, reward time, reward
magnitude, trial type) and a units table of what is known about each unit (cell type, location, …).
:func:`drl.responses.responses_from_recording` (:mod:`drl.responses.recorded`) turns it into the responses form.

Default windows: the response window 0.2–0.65 s after the event (Sousa et al. 2025) and the baseline window −4 to
−1 s before the cue (before the cue, after the previous trial's responses have decayed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["BASELINE_WINDOW", "RESPONSE_WINDOW", "TRIAL_COLUMNS", "Recording", "outcome_times", "trial_start"]

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
    """One recording session: spike times or a continuous signal, trial events and unit metadata.

    Times are in s, on one clock. Give ``spike_times`` or ``signal`` with ``timestamps``, not both.

    Parameters
    ----------
    trials : pandas.DataFrame
        One row per trial: ``cue_time`` (s; NaN for an uncued reward), ``reward_time`` (s; NaN for none: a cue
        without reward, or an omission), ``magnitude`` (reward units, NaN for none), ``trial_type`` (name);
        ``delay`` (s, reward − cue; NaN without either) is added. Every trial has a cue or a reward.
    spike_times : list or dict of numpy.ndarray, optional
        One array of spike times (s, ascending) per unit (a dict: keyed by unit id).
    signal : numpy.ndarray, shape [time, unit], optional
        A continuous signal (e.g. ΔF/F).
    timestamps : numpy.ndarray, shape [time], optional
        The signal's sample times (s).
    units : pandas.DataFrame, optional
        One row per unit (index: unit ids), any columns (``cell_type``, ``location``, …) to select by.
    name : str
        The session's name.
    magnitude_units : str
        The unit of magnitude (figure labels).

    Raises
    ------
    ValueError
        Both or neither of ``spike_times`` and ``signal``, spike times out of order or not finite, a trial with
        neither a cue nor a reward, a units table of another length.

    See Also
    --------
    responses_from_recording : the session's responses form.
    write_nwb, read_nwb : the session in an NWB file.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from drl import responses
    >>> trials = pd.DataFrame({"cue_time": [1.0, 6.0], "reward_time": [2.5, 7.5], "magnitude": [1.0, 4.0],
    ...                        "trial_type": ["odor A", "odor A"]})
    >>> session = responses.Recording(trials, spike_times=[np.array([0.5, 2.7, 2.8, 7.6]), np.array([3.0, 9.0])],
    ...                               units=pd.DataFrame({"cell_type": ["dopamine", "other"]}))
    >>> session.n_units, session.trials["delay"].tolist()
    (2, [1.5, 1.5])
    >>> session.select("cell_type == 'dopamine'").n_units
    1
    """

    trials: pd.DataFrame
    spike_times: tuple | None = None
    signal: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    units: pd.DataFrame | None = None
    name: str = "recording"
    magnitude_units: str = "reward units"
    _extent: tuple = field(default=(np.nan, np.nan), repr=False, init=False)

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "trials", _trials_table(self.trials))
        if (self.spike_times is None) == (self.signal is None):
            raise ValueError("give spike_times (one array per unit) or signal with timestamps, not both or neither")
        if self.spike_times is not None:
            if isinstance(self.spike_times, dict):
                ids = list(self.spike_times)
                spikes = [self.spike_times[k] for k in ids]
            elif isinstance(self.spike_times, np.ndarray) and self.spike_times.dtype != object:
                # a flat array would be read number by number, each spike a unit of its own
                raise ValueError(f"spike_times must hold one array of spike times per unit (a list, tuple or dict "
                                 f"of arrays); got one array of shape {self.spike_times.shape}: for a single unit "
                                 "pass [spike_times]")
            else:
                spikes, ids = list(self.spike_times), None
            if not spikes:
                raise ValueError("spike_times holds no unit")
            checked = []
            for i, times in enumerate(spikes):
                label = ids[i] if ids is not None else i
                if np.ndim(times) != 1:
                    raise ValueError(f"unit {label!r}'s spike times must be a 1-D array; got "
                                     f"{'a single number' if np.ndim(times) == 0 else f'shape {np.shape(times)}'} "
                                     "(spike_times holds one array per unit)")
                try:
                    times = np.asarray(times, dtype=np.float64)
                except (TypeError, ValueError):
                    raise ValueError(f"unit {label!r}'s spike times must be numbers (s)") from None
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
        # the mean of the samples present: a NaN sample (a dropped frame) counts in no window, where a plain
        # cumulative sum would make every later window of its unit NaN
        present = np.isfinite(self.signal)
        zeros = np.zeros((1, self.signal.shape[1]))
        cumulative = np.concatenate([zeros, np.cumsum(np.where(present, self.signal, 0.0), 0)])
        counts = np.concatenate([zeros, np.cumsum(present, 0)])
        n = counts[last] - counts[first]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (cumulative[last] - cumulative[first]) / n, np.nan).T
