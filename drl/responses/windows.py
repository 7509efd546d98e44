"""The windows a response is read in, checked against the trials and the recording before any is read.

A response window must end before the next trial's baseline starts, every window must lie inside the recorded
span (a signal's timestamps; for spikes, on the spikes' clock at all), and a unit contributes nothing where a
trial lies wholly outside its spikes (a unit lost mid-session is not silent).
"""

from __future__ import annotations

import numpy as np

from drl.responses.spikes import Recording, outcome_times, trial_start

__all__ = ["OVERLAPS", "check_windows", "unobserved", "window_span"]


def window_span(name: str, window) -> tuple[float, float]:
    try:
        lo, hi = (float(w) for w in window)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (start, stop) in s; got {window!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be (start, stop) in s with start < stop; got {window!r}")
    return lo, hi


OVERLAPS = ("raise", "keep", "drop")


def check_windows(recording: Recording, response: tuple, baseline: tuple, overlapping: str) -> np.ndarray:
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
    if recording.spike_times is not None and (last_event[-1] + response[1] < start or cue[0] + baseline[0] > stop):
        raise ValueError(f"no trial's windows meet the spikes: the trials' windows span {cue[0] + baseline[0]:g} … "
                         f"{last_event[-1] + response[1]:g} s, the spikes {start:g} … {stop:g} s. Trial times and "
                         "spike times must be on one clock, in s (one of them in ms?)")
    return keep


def unobserved(recording: Recording, response: tuple, baseline: tuple) -> np.ndarray | None:
    """[unit, trial] True where a trial's windows lie wholly before a unit's first spike or after its last: the
    unit was not recorded then (lost, or not yet isolated), and counting no spikes would read as silence.
    None for a continuous signal (its extent is checked whole)."""
    if recording.spike_times is None:
        return None
    trials = recording.trials
    begin = trial_start(trials) + baseline[0]
    reward = outcome_times(trials)[0]
    end = np.where(np.isfinite(reward), reward, trials["cue_time"].to_numpy()) + response[1]
    first = np.array([times[0] for times in recording.spike_times])[:, None]
    last = np.array([times[-1] for times in recording.spike_times])[:, None]
    return (end[None, :] < first) | (begin[None, :] > last)
