"""Recorded neurons as decoder input: the "responses form" and its loader from a tidy table.

An experimenter has a table of measured responses, not a simulated run. The responses form holds them:

* ``response`` [neuron, condition]: the mean response of each neuron in each condition, baseline-subtracted
  (the decoders read where a response changes sign, so a response with its baseline still in it moves every
  reversal point);
* ``trial_response`` [neuron, condition, repeat] (optional): the single-trial responses, NaN-padded where a
  neuron has fewer trials in a condition; with it, fits weight each mean by its inverse variance and the
  sign-count reversal point counts trials;
* per-condition coordinates ``trial_type`` (a name), ``magnitude`` (reward units) and ``delay`` (s after the
  cue), NaN where a condition has none;
* ``attrs``: ``drl_form = "responses"``, ``task_name`` (the recording's name) and ``units`` (of magnitude).

:func:`drl.decode.reward_responses`, :func:`~drl.decode.decode_run_distribution` and
:func:`~drl.decode.cue_responses`, and the figures :func:`drl.plots.reward_response` and
:func:`drl.plots.value_vs_delay`, take this form wherever they take a run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["is_responses_form", "responses_form", "responses_from_table"]

FORM = "responses"


def is_responses_form(data) -> bool:
    """True for a Dataset built by :func:`responses_form` (or :func:`responses_from_table`)."""
    return isinstance(data, xr.Dataset) and data.attrs.get("drl_form") == FORM


def _per_condition(name: str, values, n_conditions: int, dtype) -> np.ndarray:
    if values is None:
        return np.full(n_conditions, np.nan) if dtype is float else np.full(n_conditions, "", dtype=object)
    array = np.asarray(values, dtype=dtype)
    if array.shape != (n_conditions,):
        raise ValueError(f"{name} must have one entry per condition ({n_conditions}); got shape {array.shape}")
    return array


def responses_form(response, *, magnitude=None, delay=None, trial_type=None, neuron=None, trial_response=None,
                   units: str = "reward units", name: str = "recording") -> xr.Dataset:
    """The responses form from arrays (see the module docstring).

    Args:
      response: [neuron, condition] mean baseline-subtracted responses (any unit: gains differ per neuron).
      magnitude: [condition] reward magnitude of each condition (reward units), NaN where none.
      delay: [condition] reward delay after the cue (s), NaN where none.
      trial_type: [condition] names (e.g. the odour); default "" for all.
      neuron: [neuron] ids (default 0 … N−1).
      trial_response: [neuron, condition, repeat] single-trial responses, NaN-padded; ``response`` must be
        their mean where given.
      units: the unit of ``magnitude`` (used in figure labels).
      name: the recording's name (figure titles).
    """
    response = np.asarray(response, dtype=np.float64)
    if response.ndim != 2 or 0 in response.shape:
        raise ValueError(f"response must be a non-empty 2-D array [neuron, condition]; got shape {response.shape}")
    n_neurons, n_conditions = response.shape
    if not np.all(np.isfinite(response)):
        bad = np.argwhere(~np.isfinite(response))[0]
        raise ValueError(f"response must be finite; neuron index {bad[0]}, condition {bad[1]} is "
                         f"{response[tuple(bad)]}")
    magnitude = _per_condition("magnitude", magnitude, n_conditions, float)
    delay = _per_condition("delay", delay, n_conditions, float)
    if np.all(np.isnan(magnitude)) and np.all(np.isnan(delay)):
        raise ValueError("give magnitude or delay (or both) per condition: the decoders read responses against one")
    if np.any(delay[np.isfinite(delay)] < 0):
        raise ValueError(f"delay must be ≥ 0 s; got {delay[delay < 0][:3].tolist()}")
    trial_type = _per_condition("trial_type", trial_type, n_conditions, object).astype(str)
    neuron = np.arange(n_neurons) if neuron is None else np.asarray(neuron)
    if neuron.shape != (n_neurons,) or np.unique(neuron).size != n_neurons:
        raise ValueError(f"neuron must hold {n_neurons} distinct ids; got {neuron[:5].tolist()}")
    data = {"response": (("neuron", "condition"), response,
                         {"long_name": "mean baseline-subtracted response", "units": "recorded units"})}
    if trial_response is not None:
        trials = np.asarray(trial_response, dtype=np.float64)
        if trials.ndim != 3 or trials.shape[:2] != response.shape:
            raise ValueError(f"trial_response must have shape [neuron, condition, repeat] = {response.shape} + "
                             f"(repeats,); got {trials.shape}")
        counted = np.isfinite(trials).sum(2)
        if np.any(counted == 0):
            bad = np.argwhere(counted == 0)[0]
            raise ValueError(f"trial_response has no finite trial for neuron index {bad[0]}, condition {bad[1]}")
        with np.errstate(invalid="ignore"):
            if not np.allclose(np.nanmean(trials, 2), response, rtol=1e-6, atol=1e-9):
                raise ValueError("response must be the mean of trial_response over its repeats")
        data["trial_response"] = (("neuron", "condition", "repeat"), trials,
                                  {"long_name": "single-trial response (NaN: no trial)", "units": "recorded units"})
    coords = {"neuron": neuron, "condition": np.arange(n_conditions),
              "trial_type": ("condition", trial_type),
              "magnitude": ("condition", magnitude, {"units": units, "long_name": "reward magnitude"}),
              "delay": ("condition", delay, {"units": "s", "long_name": "reward delay after the cue"})}
    form = xr.Dataset(data, coords=coords)
    form.attrs.update(drl_form=FORM, task_name=str(name), units=str(units))
    return form


#: The most neuron × condition × trial cells ``responses_from_table`` builds (1 GiB of float64)
MAX_CELLS = 2**27
#: The largest CSV file read (bytes)
MAX_TABLE_BYTES = 2**30


def read_table(path) -> pd.DataFrame:
    """A recordings CSV as a DataFrame, with errors that name the file and the line: UTF-8 text (a BOM is read
    past), commas or semicolons between fields (semicolons with decimal commas, as European spreadsheets save),
    every row as wide as the header (a wider row once became the index, silently shifting every column)."""
    import csv
    import io

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no table at {path}")
    size = os.path.getsize(path)
    if size > MAX_TABLE_BYTES:
        raise ValueError(f"{path}: {size} bytes is larger than a recordings table ({MAX_TABLE_BYTES} at most); split it")
    raw = Path(path).read_bytes()
    if not raw.strip():
        raise ValueError(f"{path} is empty: a recordings table needs a header and rows")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"{path}: not UTF-8 text: byte 0x{raw[e.start]:02x} at line {line} (save the table as "
                         "UTF-8 CSV)") from None
    if "\0" in text:
        raise ValueError(f"{path}: a binary file (a NUL byte at line {text[:text.index(chr(0))].count(chr(10)) + 1}), "
                         "not a CSV table")
    header = text.splitlines()[0]
    separator = ";" if header.count(";") > header.count(",") else ","
    decimal = "," if separator == ";" else "."
    try:
        table = pd.read_csv(io.StringIO(text), sep=separator, decimal=decimal, index_col=False, on_bad_lines="error",
                            quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as e:
        raise ValueError(f"{path}: not a table of {separator!r}-separated fields ({str(e).strip()})") from None
    widths = [len(row) for row in csv.reader(io.StringIO(text), delimiter=separator) if row][1:]  # one pass
    narrow = [i for i, width in enumerate(widths) if width != len(table.columns)]
    if narrow:
        raise ValueError(f"{path}: row {narrow[0]} has {widths[narrow[0]]} fields, the header {len(table.columns)}")
    return table


def _shown(value) -> str:
    """A cell's value for a message: 7 and inf, not np.int64(7) and np.float64(inf)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def responses_from_table(table, *, neuron: str = "neuron", response: str = "response",
                         magnitude: str | None = "magnitude", delay: str | None = "delay",
                         trial_type: str | None = "trial_type", units: str = "reward units",
                         name: str | None = None) -> xr.Dataset:
    """The responses form from a tidy table: a pandas DataFrame or a CSV path.

    One row per neuron × condition (mean responses), or one row per trial (then the means are computed and the
    single trials kept as ``trial_response``). A condition is a distinct (trial_type, magnitude, delay) among
    the columns present. ``magnitude``, ``delay`` and ``trial_type`` name optional columns: a default name that
    is absent is skipped; a name given as None is not read; a name you give that is absent is an error, as is
    a table with neither a magnitude nor a delay column.
    """
    if isinstance(table, str | os.PathLike):
        name = name or os.path.splitext(os.path.basename(table))[0]
        table = read_table(table)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame or a CSV path; got {type(table).__name__}")
    defaults = {"magnitude": "magnitude", "delay": "delay", "trial_type": "trial_type"}
    given = {"magnitude": magnitude, "delay": delay, "trial_type": trial_type}
    missing = [column for column in (neuron, response) if column not in table.columns]
    missing += [column for key, column in given.items() if column is not None and column not in table.columns
                and column != defaults[key]]
    if missing:
        raise ValueError(f"the table has no column(s) {missing}; its columns are {list(table.columns)}")
    present = {key: column for key, column in given.items() if column is not None and column in table.columns}
    if "magnitude" not in present and "delay" not in present:
        raise ValueError(f"the table needs a reward magnitude or a delay column (magnitude={magnitude!r}, "
                         f"delay={delay!r}); its columns are {list(table.columns)}")
    if table.empty:
        raise ValueError("the table has no rows")
    ids = table[neuron]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise ValueError(f"column {neuron!r} must name a neuron in every row; row {row} is empty")
    if ids.map(lambda v: isinstance(v, str) and not v.strip()).any():
        row = int(np.flatnonzero(ids.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy())[0])
        raise ValueError(f"column {neuron!r} must name a neuron in every row; row {row} is blank")
    if len({type(v) for v in ids}) > 1:  # 0 and "A": ids compare as text (numpy cannot sort them together)
        table = table.assign(**{neuron: ids.astype(str)})
    values = pd.to_numeric(table[response], errors="coerce")
    if not np.all(np.isfinite(values)):
        row = int(np.flatnonzero(~np.isfinite(values.to_numpy()))[0])
        raise ValueError(f"column {response!r} must hold finite numbers; row {row} holds {_shown(table[response].iloc[row])}")
    for key in ("magnitude", "delay"):
        if key in present:
            numbers = pd.to_numeric(table[present[key]], errors="coerce")
            bad = (numbers.isna() & table[present[key]].notna()) | np.isinf(numbers)
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise ValueError(f"column {present[key]!r} must hold finite numbers (empty for none); row {row} "
                                 f"holds {_shown(table[present[key]].iloc[row])}")
    frame = pd.DataFrame({"neuron": table[neuron].to_numpy(), "response": values.to_numpy(dtype=np.float64)})
    frame["trial_type"] = table[present["trial_type"]].astype(str).to_numpy() if "trial_type" in present else ""
    for key in ("magnitude", "delay"):
        frame[key] = (pd.to_numeric(table[present[key]], errors="coerce").to_numpy(dtype=np.float64)
                      if key in present else np.nan)
    keys = ["trial_type", "magnitude", "delay"]
    conditions = frame[keys].drop_duplicates().sort_values(keys, na_position="last").reset_index(drop=True)
    condition_of = frame[keys].merge(conditions.reset_index(), on=keys, how="left")["index"].to_numpy()
    neurons, neuron_of = np.unique(frame["neuron"].to_numpy(), return_inverse=True)
    repeat = pd.Series(np.zeros(len(frame), dtype=int)).groupby([neuron_of, condition_of]).cumcount().to_numpy()
    duplicated = frame.duplicated(keep="first").to_numpy()
    if duplicated.any() and repeat[~duplicated].max() == 0:
        # a table of means with some rows repeated (concatenated twice?): read as trials, the repeated neurons
        # would get single trials and every other neuron a zero-width bootstrap interval
        first = int(np.flatnonzero(duplicated)[0])
        raise ValueError(f"{int(duplicated.sum())} row(s) repeat another row exactly (first: row {first}, neuron "
                         f"{_shown(frame['neuron'].iloc[first])}) in a table that otherwise has one row per neuron and "
                         "condition: drop the duplicates (table.drop_duplicates()) or give every trial")
    shape = (neurons.size, len(conditions), int(repeat.max()) + 1)
    if np.prod(shape) > MAX_CELLS:
        raise ValueError(f"the table's {neurons.size} neurons × {len(conditions)} conditions × {shape[2]} trials need "
                         f"{np.prod(shape) * 8 / 2**30:.1f} GiB as an array: bin continuous magnitudes or delays into "
                         "conditions, or split the table")
    trials = np.full(shape, np.nan)
    trials[neuron_of, condition_of, repeat] = frame["response"].to_numpy()
    counted = np.isfinite(trials).sum(2)
    if np.any(counted == 0):
        n, c = np.argwhere(counted == 0)[0]
        condition = {key: value for key, value in conditions.iloc[c].to_dict().items()
                     if not (isinstance(value, float) and np.isnan(value)) and value != ""}
        raise ValueError(f"neuron {_shown(neurons[n])} has no row for condition {condition}: every neuron needs "
                         "a response in every condition")
    mean = np.nanmean(trials, 2)
    return responses_form(mean, magnitude=conditions["magnitude"].to_numpy(), delay=conditions["delay"].to_numpy(),
                          trial_type=conditions["trial_type"].to_numpy(), neuron=neurons,
                          trial_response=trials if shape[2] > 1 else None, units=units,
                          name=name or "recording")
