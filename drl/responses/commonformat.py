"""The Uchida lab's "CommonFormat" session files (MATLAB), read into :class:`~drl.responses.Recording`.

A CommonFormat file holds one unit: ``events`` (a struct of trial events, ms, one entry per trial: the trial's
event time, e.g. ``odorOn``, and its ``trialType`` code) and ``responses`` (``spike``: the unit's spike times, ms,
on the events' clock; light-identification fields beside it). Units recorded together share one event record;
:func:`read_commonformat` groups them into one session. What each trial-type code means (a cue and the reward
it predicts, an uncued reward, a cue without reward) is the experiment's, so it is an argument: a dict from
code to :class:`TrialCode`. ``ESHEL2016_TRIAL_TYPES`` is the variable-magnitude task of Eshel et al. 2016
(the data of Dabney et al. 2020's Figs 2, 4 and 5).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from drl._files import readable_file
from drl.responses.spikes import Recording

__all__ = ["ESHEL2016_TRIAL_TYPES", "TrialCode", "read_commonformat"]

TIME_UNITS = {"ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class TrialCode:
    """What one trial-type code of a session file means.

    Parameters
    ----------
    name : str
        The trial type's name in drl (the cue's identity, e.g. ``"odor A"``; trials without a cue share one, e.g.
        ``"uncued"``).
    magnitude : float, optional
        The reward delivered (the recording's magnitude units), or None for no reward.
    delay : float
        The reward's time after the trial's event (s): after the cue for a cued reward; 0 for an uncued one, whose
        event time is the reward's.
    cued : bool
        Whether the event is a cue (else the trial's event is an uncued reward).

    Raises
    ------
    ValueError
        A negative or non-finite magnitude or delay, an empty name.

    See Also
    --------
    read_commonformat : reads session files with a dict of these.

    Examples
    --------
    >>> from drl.responses import ESHEL2016_TRIAL_TYPES, TrialCode
    >>> ESHEL2016_TRIAL_TYPES[8]  # odor A, then 0.1 µl 1.5 s after its onset
    TrialCode(name='odor A', magnitude=0.1, delay=1.5, cued=True)
    >>> TrialCode("free water", 4.0, cued=False)  # an uncued reward: its event is the delivery
    TrialCode(name='free water', magnitude=4.0, delay=0.0, cued=False)
    """

    name: str
    magnitude: float | None = None
    delay: float = 0.0
    cued: bool = True

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"TrialCode name must be a non-empty string; got {self.name!r}")
        if self.magnitude is not None and not (isinstance(self.magnitude, int | float)
                                               and np.isfinite(self.magnitude) and self.magnitude >= 0):
            raise ValueError(f"TrialCode {self.name!r}: magnitude must be a finite number ≥ 0 or None; got "
                             f"{self.magnitude!r}")
        if not (isinstance(self.delay, int | float) and np.isfinite(self.delay) and self.delay >= 0):
            raise ValueError(f"TrialCode {self.name!r}: delay must be a finite number of s ≥ 0; got {self.delay!r}")
        if not self.cued and (self.magnitude is None or self.delay != 0):
            raise ValueError(f"TrialCode {self.name!r}: a trial without a cue is an uncued reward: give its magnitude "
                             f"and delay 0 (its event is the reward); got magnitude {self.magnitude!r}, delay "
                             f"{self.delay!r}")


_MAGNITUDES_UL = (0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0)
#: Eshel et al. 2016's variable-magnitude task: codes 1–7 uncued water (0.1 … 20 µl; the event is the delivery),
#: 8–14 odor A followed 1.5 s after its onset by the same magnitudes, 15 odor B without reward.
ESHEL2016_TRIAL_TYPES: dict[int, TrialCode] = {
    **{code: TrialCode("uncued", m, cued=False) for code, m in enumerate(_MAGNITUDES_UL, start=1)},
    **{code: TrialCode("odor A", m, delay=1.5) for code, m in enumerate(_MAGNITUDES_UL, start=8)},
    15: TrialCode("odor B"),
}


def _files(paths) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        path = os.fspath(paths)
        if os.path.isdir(path):
            found = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(".mat"))
            if not found:
                raise ValueError(f"{path} holds no .mat file")
            return found
        paths = [path]
    files = [os.fspath(p) for p in paths]
    if not files:
        raise ValueError("paths names no file")
    for file in files:
        readable_file(file, "session file (CommonFormat .mat)")
    return files


def _field(struct, name: str, file: str, where: str) -> np.ndarray:
    if not hasattr(struct, name):
        have = sorted(getattr(struct, "_fieldnames", []) or [])
        raise ValueError(f"{file}: {where} has no field {name!r} (its fields: {have})")
    try:
        values = np.atleast_1d(np.asarray(getattr(struct, name), dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"{file}: {where}.{name} is not numeric") from None
    if values.ndim != 1:  # one entry per trial (events) or per spike: a matrix is not such a record
        raise ValueError(f"{file}: {where}.{name} must be a vector (one entry per trial or spike); it has shape "
                         f"{values.shape}")
    return values


def _read_one(file: str, event: str, trial_type_field: str, scale: float):
    """(event times [T] s, codes [T] with NaN, spike times s) of one file, checked."""
    from scipy.io import loadmat

    try:
        content = loadmat(file, squeeze_me=True, struct_as_record=False)
    except Exception as error:  # scipy raises ValueError, TypeError, MatReadError … for what is not a MAT file
        raise ValueError(f"{file} is not a readable MATLAB file ({type(error).__name__}: {error})") from None
    for part in ("events", "responses"):
        if part not in content or not hasattr(content[part], "_fieldnames"):
            raise ValueError(f"{file} has no {part!r} struct: not a CommonFormat session file (it holds "
                             f"{sorted(k for k in content if not k.startswith('__'))})")
    times = _field(content["events"], event, file, "events")
    codes = _field(content["events"], trial_type_field, file, "events")
    if times.shape != codes.shape:
        raise ValueError(f"{file}: events.{event} has {times.size} trials but events.{trial_type_field} has "
                         f"{codes.size}")
    spikes = _field(content["responses"], "spike", file, "responses")
    if spikes.size == 0:
        raise ValueError(f"{file}: responses.spike holds no spike")
    if not np.all(np.isfinite(spikes)):
        raise ValueError(f"{file}: responses.spike holds a non-finite time at index "
                         f"{int(np.flatnonzero(~np.isfinite(spikes))[0])}")
    unsorted = np.flatnonzero(np.diff(spikes) < 0)
    if unsorted.size:
        raise ValueError(f"{file}: responses.spike is not in time order (index {int(unsorted[0]) + 1} at "
                         f"{spikes[unsorted[0] + 1]:g} after {spikes[unsorted[0]]:g}): a damaged file")
    return times, codes, spikes * scale


def _trials(file: str, times: np.ndarray, codes: np.ndarray, trial_types: Mapping, event: str,
            scale: float) -> pd.DataFrame:
    """The trials table (s) from event times and codes in the file's units (a reward's time is added there, so
    a reward and the next trial's event logged at one moment stay at one moment)."""
    labelled = np.isfinite(codes)
    unknown = sorted({float(c) for c in codes[labelled]} - {float(k) for k in trial_types})
    if unknown:
        raise ValueError(f"{file}: trial-type code(s) {unknown[:5]} are not in trial_types (codes "
                         f"{sorted(trial_types)}): say what each means with a TrialCode")
    missing = np.flatnonzero(labelled & ~np.isfinite(times))
    if missing.size:
        raise ValueError(f"{file}: trial {int(missing[0])} (code {codes[missing[0]]:g}) has no events.{event} time")
    rows = []
    for time, code in zip(times[labelled], codes[labelled].astype(int), strict=True):
        meaning = trial_types[code]
        rewarded = meaning.magnitude is not None
        rows.append((time * scale if meaning.cued else np.nan,
                     (time + meaning.delay / scale) * scale if rewarded else np.nan,
                     meaning.magnitude if rewarded else np.nan, meaning.name))
    return pd.DataFrame(rows, columns=["cue_time", "reward_time", "magnitude", "trial_type"])


def _session_name(file: str) -> str:
    """A file's session: its name before the tetrode (``D_05-07_15-42-29_TT8_2_Common`` → ``D_05-07_15-42-29``)."""
    stem = os.path.splitext(os.path.basename(file))[0]
    return re.split(r"_TT\d", stem)[0]


def read_commonformat(paths, trial_types: Mapping = ESHEL2016_TRIAL_TYPES, *, event: str = "odorOn",
                      trial_type_field: str = "trialType", time_units: str = "ms",
                      magnitude_units: str = "µl") -> list[Recording]:
    """Sessions from the Uchida lab's CommonFormat files: one :class:`~drl.responses.Recording` per session.

    Each file holds one unit. Files whose event records are identical (the same trials at the same times: units
    recorded together) become one session with one unit each; a unit's id is its file's name, and the units table
    has ``file`` and ``prefix`` (the file name's first part: an animal, or a recording month). Trials whose code
    is NaN (unlabelled) are left out; every other code must be in ``trial_types``.

    Parameters
    ----------
    paths : str or path or list of them
        A folder (its ``.mat`` files, in name order), one file, or a list of files.
    trial_types : dict of int to TrialCode
        What each ``trialType`` code means (default: Eshel et al. 2016, ``ESHEL2016_TRIAL_TYPES``).
    event : str
        The events field holding each trial's event time (a cue's onset; an uncued reward's delivery).
    trial_type_field : str
        The events field holding each trial's code.
    time_units : {"ms", "s"}
        The files' clock (events and spikes); the recordings are in s.
    magnitude_units : str
        The unit of the TrialCodes' magnitudes (figure labels).

    Returns
    -------
    list of Recording
        One per session, in the order of their first file.

    Raises
    ------
    FileNotFoundError
        No session file at a path.
    ValueError
        A file that is not a readable MATLAB file, lacks a field, has a code not in ``trial_types``, spikes out
        of order or not finite, or an unknown ``time_units``.
    TypeError
        A ``trial_types`` value that is not a TrialCode.

    See Also
    --------
    responses_from_recording : a session's responses form.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import scipy.io
    >>> from drl import responses
    >>> folder = Path(tempfile.mkdtemp())
    >>> events = {"odorOn": np.array([1000.0, 6000.0, 11000.0]), "trialType": np.array([8.0, 14.0, 15.0])}
    >>> spikes = np.sort(np.random.default_rng(0).uniform(0, 15000, 80))  # ms
    >>> scipy.io.savemat(folder / "unit1.mat", {"events": events, "responses": {"spike": spikes}})
    >>> session, = responses.read_commonformat(folder)
    >>> session.trials[["trial_type", "magnitude", "delay"]].values.tolist()
    [['odor A', 0.1, 1.5], ['odor A', 20.0, 1.5], ['odor B', nan, nan]]
    """
    if time_units not in TIME_UNITS:
        raise ValueError(f"time_units must be 'ms' or 's'; got {time_units!r}")
    if not isinstance(trial_types, Mapping) or not trial_types:
        raise TypeError("trial_types must be a non-empty dict {code: TrialCode}")
    for code, meaning in trial_types.items():
        if not isinstance(meaning, TrialCode):
            raise TypeError(f"trial_types[{code!r}] must be a TrialCode; got {type(meaning).__name__}")
    sessions: dict[tuple, list] = {}
    for file in _files(paths):
        times, codes, spikes = _read_one(file, event, trial_type_field, TIME_UNITS[time_units])
        key = (times.tobytes(), np.nan_to_num(codes, nan=-1).tobytes())
        sessions.setdefault(key, []).append((file, times, codes, spikes))
    recordings = []
    for members in sessions.values():
        file, times, codes, _ = members[0]
        trials = _trials(file, times, codes, trial_types, event, TIME_UNITS[time_units])
        names = [os.path.splitext(os.path.basename(m[0]))[0] for m in members]
        units = pd.DataFrame({"file": [os.path.basename(m[0]) for m in members],
                              "prefix": [n.split("_")[0] for n in names]}, index=pd.Index(names, name="unit"))
        try:
            recordings.append(Recording(trials, tuple(m[3] for m in members), units=units,
                                        name=_session_name(file), magnitude_units=magnitude_units))
        except ValueError as error:
            raise ValueError(f"{file}: {error}") from None
    return recordings
