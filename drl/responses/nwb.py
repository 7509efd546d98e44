"""Recordings from NWB files (through pynwb) and from pynapple objects, as :class:`~drl.responses.Recording`.

NWB: the Units table's spike times and columns (``cell_type`` and the like; with electrodes, their ``location``),
and a trials table (``nwbfile.trials`` or a named TimeIntervals) with the cue time, reward time, magnitude and
trial type as columns (their names are arguments); or, instead of spikes, a continuous TimeSeries (ΔF/F, an
``RoiResponseSeries``) named by its path in the file. pynapple: a ``TsGroup`` of units (its metadata as the units
table) or a ``TsdFrame`` signal, and the trials as an ``IntervalSet`` with metadata columns or a DataFrame.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from drl._atomic import describe_os_error, remove_dead_temporaries, temporary_path
from drl._files import readable_file
from drl.responses.spikes import TRIAL_COLUMNS, Recording, trial_start

__all__ = ["NWB_UNIT_COLUMNS", "read_nwb", "recording_from_pynapple", "write_nwb"]

#: Column names NWB's Units table keeps for itself: a units table with one of them cannot be written
NWB_UNIT_COLUMNS = frozenset({"id", "spike_times", "spike_times_index", "obs_intervals", "obs_intervals_index",
                              "electrodes", "electrodes_index", "electrode_group", "waveform_mean", "waveform_sd",
                              "waveforms", "waveforms_index", "waveforms_index_index"})


def _columns(table: pd.DataFrame, names: dict, where: str) -> pd.DataFrame:
    """The trials table with drl's column names, from the file's (``names``: drl name → the file's name). A table
    without the default trial-type column (a session with one cue) reads as one trial type, "trial"."""
    if names["trial_type"] == "trial_type" and "trial_type" not in table.columns:
        table = table.assign(trial_type="trial")
    missing = [f"{ours}={theirs!r}" for ours, theirs in names.items() if theirs not in table.columns]
    if missing:
        raise ValueError(f"{where} has no column(s) {missing}; its columns are {list(table.columns)} (name yours "
                         "with cue_time=, reward_time=, magnitude=, trial_type=)")
    return pd.DataFrame({ours: table[theirs].to_numpy() for ours, theirs in names.items()})


def _signal_at(nwbfile, path: str):
    """The TimeSeries at ``path`` ("acquisition/NAME" or "processing/MODULE/INTERFACE[/SERIES]")."""
    parts = [p for p in path.split("/") if p]
    try:
        if parts[0] == "acquisition":
            node = nwbfile.acquisition[parts[1]]
        elif parts[0] == "processing":
            node = nwbfile.processing[parts[1]]
        else:
            raise KeyError(parts[0])
        for part in parts[2:]:
            node = node[part]
    except (KeyError, IndexError):
        raise ValueError(f"no TimeSeries at signal={path!r} (write it as 'acquisition/NAME' or "
                         "'processing/MODULE/INTERFACE/SERIES')") from None
    if not hasattr(node, "data"):
        raise ValueError(f"signal={path!r} is a {type(node).__name__}, not a TimeSeries: name the series inside it")
    data = np.asarray(node.data[:], dtype=np.float64)
    data = data[:, None] if data.ndim == 1 else data
    timestamps = (np.asarray(node.timestamps[:], dtype=np.float64) if node.timestamps is not None
                  else node.starting_time + np.arange(data.shape[0]) / node.rate)
    return data, timestamps


def read_nwb(path, *, trials: str = "trials", cue_time: str = "cue_time", reward_time: str = "reward_time",
             magnitude: str = "magnitude", trial_type: str = "trial_type", signal: str | None = None,
             magnitude_units: str = "reward units", name: str | None = None) -> Recording:
    """A :class:`~drl.responses.Recording` from an NWB file.

    Parameters
    ----------
    path : str or path
        The .nwb file.
    trials : str
        "trials" (``nwbfile.trials``) or the name of a TimeIntervals table in ``nwbfile.intervals``.
    cue_time, reward_time, magnitude, trial_type : str
        The trial table's columns holding each (s, s, reward units, a name; ``cue_time`` NaN on an uncued reward,
        ``reward_time`` and ``magnitude`` NaN on trials without reward). A table without a ``trial_type`` column
        (a session with one cue) reads as one trial type, "trial".
    signal : str, optional
        A continuous signal's path ("processing/ophys/DfOverF/RoiResponseSeries") to read instead of the Units
        table's spike times.
    magnitude_units : str
        The unit of ``magnitude``.
    name : str, optional
        The session's name (default: the file's).

    Returns
    -------
    Recording
        The spikes (or signal) with the trial table, ready for
        :func:`~drl.responses.responses_from_recording`.

    See Also
    --------
    write_nwb : the other way.

    Examples
    --------
    A model recording written to NWB and read back:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import drl
    >>> from drl.responses import read_nwb, recording_from_run, write_nwb
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.3, 0.7]), 1000, progress=False)
    >>> path = Path(tempfile.mkdtemp()) / "session.nwb"
    >>> _ = write_nwb(recording_from_run(run, n_trials=100, seed=0), path)
    >>> recording = read_nwb(path)
    >>> len(recording.units)
    2
    """
    from pynwb import NWBHDF5IO

    if signal is not None and not isinstance(signal, str):
        raise TypeError(f"signal must be the path of a TimeSeries in the file (a str such as "
                        f"'processing/ophys/DfOverF/RoiResponseSeries'); got {type(signal).__name__} {signal!r}")
    path = os.fspath(readable_file(path, "NWB file"))
    try:
        io = NWBHDF5IO(path, "r", load_namespaces=True)
    except Exception as error:  # h5py and hdmf raise OSError, ValueError, KeyError … for files that are not NWB
        raise ValueError(f"{path} is not a readable NWB file ({type(error).__name__}: {error})") from None
    with io:
        try:
            nwbfile = io.read()
        except Exception as error:
            raise ValueError(f"{path} is not a readable NWB file ({type(error).__name__}: {error})") from None
        table = nwbfile.trials if trials == "trials" else (nwbfile.intervals or {}).get(trials)
        if table is None:
            raise ValueError(f"{path} has no trials table {trials!r} (its intervals: "
                             f"{sorted(nwbfile.intervals or [])}); pass trials= naming the TimeIntervals to read")
        names = {"cue_time": cue_time, "reward_time": reward_time, "magnitude": magnitude, "trial_type": trial_type}
        trial_table = _columns(table.to_dataframe(), names, f"{path}'s {trials!r} table")
        if signal is not None:
            data, timestamps = _signal_at(nwbfile, signal)
            return Recording(trial_table, signal=data, timestamps=timestamps, magnitude_units=magnitude_units,
                             name=name or os.path.splitext(os.path.basename(path))[0])
        units = nwbfile.units
        if units is None or len(units) == 0:
            raise ValueError(f"{path} has no Units table (or it is empty): pass signal= to read a continuous signal")
        index = units.spike_times_index
        spikes = [np.asarray(index[i], dtype=np.float64) for i in range(len(units))]
        metadata = {}
        for column in units.colnames:
            if column in ("spike_times", "obs_intervals", "waveforms", "waveform_mean", "waveform_sd"):
                continue
            if column == "electrodes":
                region = units["electrodes"]
                rows = [region[i] for i in range(len(units))]
                if rows and "location" in rows[0].columns:
                    metadata["location"] = [str(r["location"].iloc[0]) if len(r) else "" for r in rows]
                continue
            values = units[column][:]
            if np.ndim(values) == 1:
                metadata[column] = list(values)
        ids = metadata.pop("unit_name", None) or list(units.id[:])
        unit_table = pd.DataFrame(metadata, index=pd.Index(ids, name="unit"))
        empty = [unit_table.index[i] for i, s in enumerate(spikes) if s.size == 0]
        if empty:
            raise ValueError(f"{path}: unit(s) {empty[:5]} have no spikes: select the others (Recording.select) "
                             "after removing them from the file, or record them")
        return Recording(trial_table, tuple(spikes), units=unit_table, magnitude_units=magnitude_units,
                         name=name or os.path.splitext(os.path.basename(path))[0])


def write_nwb(recording: Recording, path, *, overwrite: bool = False, session_description: str = "drl recording",
              session_start_time: datetime | None = None) -> str:
    """Write a spike :class:`~drl.responses.Recording` as an NWB file.

    Units with the units table's columns, trials with ``cue_time``, ``reward_time``, ``magnitude`` and
    ``trial_type``; atomic, and never over an existing file unless ``overwrite``.

    Parameters
    ----------
    recording : Recording
        A session with spike times.
    path : str or path
        The file to write (``.nwb``).
    overwrite : bool
        Replace an existing file.
    session_description : str
        NWB's session description.
    session_start_time : datetime.datetime, optional
        NWB's session start (default: now, UTC).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    TypeError
        A recording with a continuous signal instead of spikes.

    See Also
    --------
    read_nwb : reads it back.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import pandas as pd
    >>> from drl import responses
    >>> trials = pd.DataFrame({"cue_time": [1.0, 6.0], "reward_time": [2.5, 7.5], "magnitude": [1.0, 4.0],
    ...                        "trial_type": ["odor A", "odor A"]})
    >>> session = responses.Recording(trials, spike_times=[np.array([0.5, 2.7, 2.8, 7.6])])
    >>> path = responses.write_nwb(session, Path(tempfile.mkdtemp()) / "session.nwb")
    >>> responses.read_nwb(path).spike_times[0].tolist()
    [0.5, 2.7, 2.8, 7.6]
    """
    from pynwb import NWBHDF5IO, NWBFile

    if not isinstance(recording, Recording) or recording.spike_times is None:
        raise TypeError("write_nwb writes a Recording of spike times")
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    nwbfile = NWBFile(session_description=session_description, identifier=str(uuid.uuid4()),
                      session_start_time=session_start_time or datetime(2026, 1, 1, tzinfo=UTC))
    from pynwb.epoch import TimeIntervals

    trials = recording.trials
    start, reward = trial_start(trials), trials["reward_time"].to_numpy()  # an uncued trial starts at its reward
    table = pd.DataFrame({"start_time": start, "stop_time": np.where(np.isfinite(reward), reward, start) + 1.0,
                          **{column: trials[column].to_numpy() for column in TRIAL_COLUMNS}})
    table["trial_type"] = table["trial_type"].astype(str)
    descriptions = {"start_time": "trial start (s)", "stop_time": "trial end (s)",
                    "cue_time": "cue onset (s; NaN: an uncued reward)",
                    "reward_time": "reward delivery (s; NaN: none)",
                    "magnitude": f"reward magnitude ({recording.magnitude_units}; NaN: none)",
                    "trial_type": "trial type (cue identity)"}
    nwbfile.trials = TimeIntervals.from_dataframe(  # one table at once: add_trial row by row took seconds
        table, name="trials", table_description="trials",
        columns=[{"name": c, "description": descriptions[c]} for c in table.columns])
    from hdmf.common import VectorData, VectorIndex
    from pynwb.misc import Units

    units = recording.units
    numbered = all(isinstance(unit, int | np.integer) for unit in units.index)
    # the ragged spike times as one array and its index: given as lists (add_unit), hdmf converts them element by
    # element on write (30 s for 2·10⁶ spikes)
    spike_times = VectorData(name="spike_times", description="spike times (s)",
                             data=np.concatenate(recording.spike_times))
    columns = [spike_times, VectorIndex(name="spike_times_index", target=spike_times,
                                        data=np.cumsum([t.size for t in recording.spike_times]))]
    reserved = sorted({str(c) for c in units.columns} & (NWB_UNIT_COLUMNS | ({"unit_name"} if not numbered else set())))
    if reserved:
        raise ValueError(f"the units table's column(s) {reserved} are names NWB's Units table keeps for itself (ids, "
                         "spike times; unit_name holds named units' ids): rename them before write_nwb, e.g. "
                         "recording.units.rename(columns={'id': 'cluster_id'})")
    meta = {str(c): units[c].to_numpy() for c in units.columns}
    if not numbered:  # NWB unit ids are integers: a unit's name goes into its own column
        meta["unit_name"] = units.index.astype(str).to_numpy()
    for column, values in meta.items():
        values = values.astype(str) if values.dtype == object else values
        columns.append(VectorData(name=column, description=column, data=values))
    nwbfile.units = Units(name="units", description="units", columns=columns,
                          id=units.index.to_numpy(dtype=np.int64) if numbered else np.arange(len(units)))
    folder = os.path.dirname(os.path.abspath(path))
    remove_dead_temporaries(folder, ".tmp.nwb")  # partial files of writes killed before (their processes are gone)
    temporary = Path(temporary_path(path, suffix=".nwb"))  # pynwb wants .nwb; the pid in the name marks its writer
    try:
        with NWBHDF5IO(temporary, "w") as io:
            io.write(nwbfile)
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:  # h5py reports a full disk as "Disable slist on flush dest failure"
        if isinstance(error, OSError) and error.errno not in (None, errno.ENOSPC, errno.EDQUOT):
            raise OSError(error.errno, f"cannot write {describe_os_error(error, path)}") from None
        temporary.unlink(missing_ok=True)
        free = shutil.disk_usage(folder).free
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT) or free < 2**20 + sum(
                t.nbytes for t in recording.spike_times):
            raise OSError(errno.ENOSPC, f"the disk holding {folder} is full ({free / 2**20:.1f} MB free): {path} was "
                                        "not written (its temporary file was removed). Free space or write "
                                        "elsewhere") from None
        raise OSError(errno.EIO, f"cannot write {path}: {type(error).__name__}: {error}") from None
    finally:
        temporary.unlink(missing_ok=True)
    return path


def recording_from_pynapple(units, trials, *, cue_time: str = "cue_time", reward_time: str = "reward_time",
                            magnitude: str = "magnitude", trial_type: str = "trial_type",
                            magnitude_units: str = "reward units", name: str = "recording") -> Recording:
    """A :class:`~drl.responses.Recording` from pynapple objects.

    pynapple's ``load_file`` merges overlapping trial intervals and drops their columns: read an NWB file's trials
    table as a DataFrame with pynwb instead (or use :func:`read_nwb`).

    Parameters
    ----------
    units : pynapple.TsGroup or pynapple.TsdFrame
        Spike times (a ``TsGroup``: its metadata, less the derived ``rate``, become the units table, and its
        ``unit_name`` column, when it has one, the unit ids) or a continuous signal (a ``TsdFrame``, one column
        per unit).
    trials : pynapple.IntervalSet or pandas.DataFrame
        The trials: an ``IntervalSet`` whose metadata hold the trial columns, or a DataFrame.
    cue_time, reward_time, magnitude, trial_type : str
        The trials' columns holding each field of :class:`Recording`'s trials.
    magnitude_units : str
        The unit of magnitude (figure labels).
    name : str
        The session's name.

    Returns
    -------
    Recording
        The session (times in s).

    Raises
    ------
    TypeError
        ``units`` or ``trials`` of another type.
    ValueError
        A trials column missing.

    See Also
    --------
    responses_from_recording : the session's responses form.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> import pynapple as nap
    >>> from drl import responses
    >>> units = nap.TsGroup({0: nap.Ts(t=np.array([0.5, 2.7, 2.8, 7.6])), 1: nap.Ts(t=np.array([3.0, 9.0]))})
    >>> trials = pd.DataFrame({"cue_time": [1.0, 6.0], "reward_time": [2.5, 7.5], "magnitude": [1.0, 4.0],
    ...                        "trial_type": ["odor A", "odor A"]})
    >>> responses.recording_from_pynapple(units, trials).n_units
    2
    """
    import pynapple as nap

    if isinstance(trials, nap.IntervalSet):
        trials = trials.as_dataframe()
    if not isinstance(trials, pd.DataFrame):
        raise TypeError(f"trials must be a pynapple IntervalSet (with metadata) or a DataFrame; got "
                        f"{type(trials).__name__}")
    names = {"cue_time": cue_time, "reward_time": reward_time, "magnitude": magnitude, "trial_type": trial_type}
    table = _columns(trials, names, "the trials")
    if isinstance(units, nap.TsGroup):
        keys = list(units.keys())
        spikes = tuple(np.asarray(units[k].t, dtype=np.float64) for k in keys)
        metadata = units.metadata.drop(columns=["rate"], errors="ignore")
        ids = keys
        if "unit_name" in metadata.columns:  # write_nwb keeps a unit's name there (NWB ids are integers)
            ids = metadata.pop("unit_name").astype(str).tolist()
        metadata.index = pd.Index(ids, name="unit")
        return Recording(table, spikes, units=metadata, magnitude_units=magnitude_units, name=name)
    if isinstance(units, nap.TsdFrame):
        unit_table = pd.DataFrame(index=pd.Index(list(units.columns), name="unit"))
        return Recording(table, signal=np.asarray(units.values), timestamps=np.asarray(units.t), units=unit_table,
                         magnitude_units=magnitude_units, name=name)
    raise TypeError(f"units must be a pynapple TsGroup (spike times) or TsdFrame (a signal); got "
                    f"{type(units).__name__}")
