"""A table of measured responses (a pandas DataFrame or a CSV file) as the responses form.

One row per neuron × condition (mean responses) or one row per trial; the columns name the neuron, the response
and what defines a condition (trial type, reward magnitude, delay, and optionally the event the response was
read at). A neuron missing from some conditions is kept: the analyses use what each neuron has.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from drl._files import readable_file
from drl.responses.form import nan_mean, responses_form

__all__ = ["MAX_CELLS", "MAX_TABLE_BYTES", "read_table", "responses_from_table"]


#: The most neuron × condition × trial cells ``responses_from_table`` builds (1 GiB of float64)
MAX_CELLS = 2**27
#: The largest CSV file read (bytes)
MAX_TABLE_BYTES = 2**30


def read_table(path) -> pd.DataFrame:
    """A recordings CSV as a DataFrame, with errors that name the file and the line.

    UTF-8 text (a byte-order mark is read past), commas or semicolons between fields (semicolons with decimal
    commas, as European spreadsheets save), every row as wide as the header (a wider row once became the index,
    silently shifting every column).

    Parameters
    ----------
    path : str or path
        The CSV file.

    Returns
    -------
    pandas.DataFrame
        The table, one column per header field.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Text that is not UTF-8, a row wider or narrower than the header, an empty file.

    See Also
    --------
    responses_from_table : the responses form from such a table.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from drl import responses
    >>> path = Path(tempfile.mkdtemp()) / "responses.csv"
    >>> _ = path.write_text("neuron;magnitude;response\\n1;0,5;-1,25\\n1;4,0;2,5\\n")  # a European spreadsheet's CSV
    >>> responses.read_table(path).values.tolist()
    [[1.0, 0.5, -1.25], [1.0, 4.0, 2.5]]
    """
    import csv
    import io

    readable_file(path, "recordings table")
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
    if not text.strip():  # a byte-order mark and nothing else
        raise ValueError(f"{path} is empty: a recordings table needs a header and rows")
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
    try:  # newline="": a quoted field may hold a line break (csv's own rule), which pandas read as one field
        widths = [len(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=separator) if row][1:]
    except csv.Error as e:
        raise ValueError(f"{path}: not a table of {separator!r}-separated fields ({str(e).strip()})") from None
    narrow = [i for i, width in enumerate(widths) if width != len(table.columns)]
    if narrow:
        raise ValueError(f"{path}: row {narrow[0]} has {widths[narrow[0]]} fields, the header {len(table.columns)}")
    return table


def _shown(value) -> str:
    """A cell's value for a message: 7 and inf, not np.int64(7) and np.float64(inf)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def responses_from_table(table, *, neuron: str = "neuron", response: str = "response",
                         magnitude: str | None = "magnitude", delay: str | None = "delay",
                         trial_type: str | None = "trial_type", event: str | None = "event",
                         units: str = "reward units", response_units: str = "recorded units",
                         name: str | None = None) -> xr.Dataset:
    """The responses form from a tidy table: a pandas DataFrame or a CSV path.

    One row per neuron × condition (mean responses), or one row per trial (then the means are computed and the
    single trials kept as ``trial_response``). A condition is a distinct (trial_type, magnitude, delay, event)
    among the columns present; ``event`` says whether a row is a response to the "cue" or to the "reward" (empty:
    either, as a table without the column). A neuron without rows in some conditions is kept there as NaN. The
    optional columns (``magnitude``, ``delay``, ``trial_type``, ``event``): a default name that is absent is
    skipped; a name given as None is not read; a name you give that is absent is an error, as is a table with
    neither a magnitude nor a delay column.

    Parameters
    ----------
    table : pandas.DataFrame or str or path
        The table, or a CSV file (:func:`read_table`).
    neuron : str
        The column of neuron ids.
    response : str
        The column of responses (baseline-subtracted; any unit).
    magnitude : str, optional
        The column of reward magnitudes (``units``).
    delay : str, optional
        The column of reward delays (s).
    trial_type : str, optional
        The column of trial-type names.
    event : str, optional
        The column saying "cue" or "reward".
    units : str
        The magnitude's unit.
    response_units : str
        The response's unit (spikes/s, ΔF/F, z-scored ΔF/F: figure labels and the utility axis).
    name : str, optional
        The form's name (default: the file's stem, or "recording").

    Returns
    -------
    xarray.Dataset
        The responses form (:func:`responses_form`), ``signal="recorded"``.

    Raises
    ------
    ValueError
        A named column absent, neither a magnitude nor a delay column, responses that are not numbers, an empty
        table.
    TypeError
        ``table`` neither a DataFrame nor a path.

    See Also
    --------
    read_table : how a CSV is read.

    Examples
    --------
    >>> import pandas as pd
    >>> from drl import decode, responses
    >>> table = pd.DataFrame({"neuron": ["a"] * 4 + ["b"] * 4, "magnitude": [1.0, 2.0, 4.0, 8.0] * 2,
    ...                       "response": [-2.0, -1.0, 1.0, 5.0, -2.5, -2.0, -1.0, 1.0]})
    >>> form = responses.responses_from_table(table, units="µl")
    >>> form.sizes["neuron"], form.sizes["condition"]
    (2, 4)
    >>> decode.reward_responses(form, axis="magnitude")["reversal_point"].values.round(2).tolist()
    [3.0, 6.0]
    """
    if isinstance(table, str | os.PathLike):
        name = name or os.path.splitext(os.path.basename(table))[0]
        table = read_table(table)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame or a CSV path; got {type(table).__name__}")
    defaults = {"magnitude": "magnitude", "delay": "delay", "trial_type": "trial_type", "event": "event"}
    given = {"magnitude": magnitude, "delay": delay, "trial_type": trial_type, "event": event}
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
    frame["event"] = (table[present["event"]].fillna("").astype(str).str.strip().to_numpy() if "event" in present
                      else "")
    for key in ("magnitude", "delay"):
        frame[key] = (pd.to_numeric(table[present[key]], errors="coerce").to_numpy(dtype=np.float64)
                      if key in present else np.nan)
    keys = ["trial_type", "magnitude", "delay", "event"]
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
    mean = nan_mean(trials, 2)  # NaN where a neuron was not recorded in a condition: kept
    return responses_form(mean, magnitude=conditions["magnitude"].to_numpy(), delay=conditions["delay"].to_numpy(),
                          trial_type=conditions["trial_type"].to_numpy(), event=conditions["event"].to_numpy(),
                          neuron=neurons,
                          trial_response=trials if shape[2] > 1 else None, units=units,
                          name=name or "recording", attrs={"response_units": str(response_units)})
