"""Bandit choices from a tidy table (one row per trial) in the SPICE layout, every problem named by its column,
row or value."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from drl._files import readable_file
from drl.spice.data import MAX_ACTIONS, MAX_TABLE_BYTES, UNSHOWN, DatasetRNN, check_memory

__all__ = ["load_choice_table"]


def _plain(value):
    """An id as a user reads it: 11.0 (a float column) → 11."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def load_choice_table(table, n_actions: int | None = None, *, participant: str | None = "participant",
                      session: str = "session", trial: str | None = "trial", choice: str = "choice",
                      reward: str = "reward"):
    """Bandit choices from a tidy table, one row per trial, in the SPICE layout.

    Columns: participant, session, trial (ordering within a session), choice (0 … n_actions − 1) and the reward of
    the chosen arm. Sessions of different lengths are padded at the end (``ys = −1``, ignored by the loss); no row
    is dropped. Participants and sessions are numbered 0 … in order of appearance, ids as in the table (11.0 read
    as 11).

    Parameters
    ----------
    table : pandas.DataFrame or str or path
        The table, or a CSV file.
    n_actions : int, optional
        Arms (default: the largest choice + 1).
    participant : str, optional
        Its column; None: each session is its own participant (or pass ``participant="session"``).
    session : str
        Its column.
    trial : str, optional
        Its column; None: the rows are in trial order within each session (the SPICE authors' CSVs).
    choice : str
        Its column.
    reward : str
        Its column.

    Returns
    -------
    DatasetRNN
        With attributes ``participants`` (ids; index i is participant i of ``xs[..., -1]``), ``sessions``
        ((participant, session) per row of ``xs``) and ``lengths`` (steps per session).

    Raises
    ------
    ValueError
        Naming the column, row or value: a path that is not a regular file, a missing column or value,
        non-numeric choices or rewards, a reward of −1 (the layout's code for an outcome not shown), a trial
        number repeated within a session, more than ``MAX_ACTIONS`` arms, a session of one trial.
    MemoryError
        Arrays larger than half the available memory, with their size.

    See Also
    --------
    fit_q_learning, SpiceEstimator : fit it.

    Examples
    --------
    >>> import pandas as pd
    >>> from drl import spice
    >>> table = pd.DataFrame({"participant": ["p1"] * 4 + ["p2"] * 3, "session": [1] * 4 + [1] * 3,
    ...                       "trial": [1, 2, 3, 4, 1, 2, 3], "choice": [0, 0, 1, 0, 1, 1, 0],
    ...                       "reward": [1, 0, 0, 1, 1, 1, 0]})
    >>> dataset = spice.load_choice_table(table)
    >>> dataset.participants, dataset.lengths.tolist(), tuple(dataset.xs.shape)
    (['p1', 'p2'], [3, 2], (2, 3, 5))
    """
    if not isinstance(table, pd.DataFrame | str | os.PathLike):
        raise TypeError(f"table must be a pandas DataFrame or a CSV path; got {type(table).__name__}")
    if isinstance(table, pd.DataFrame):
        df = table
    else:
        path = readable_file(table, "choice table (CSV)", max_bytes=MAX_TABLE_BYTES)
        try:
            df = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not a readable CSV choice table ({type(error).__name__}: "
                             f"{str(error)[:160]})") from None
    if len(df) == 0:
        raise ValueError("the choice table is empty (no rows)")
    for name, value in (("participant", participant), ("trial", trial)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a column name or None; got {value!r}")
    df = df.copy()
    if participant is None:
        participant = session
    if trial is None:
        trial = "__row__"
        df[trial] = np.arange(len(df))
    columns = list(dict.fromkeys([participant, session, trial, choice, reward]))
    missing = [c for c in columns if c not in df.columns]
    if missing:
        hint = ""
        if "trial" in missing or trial in missing:
            hint += "; trial=None takes the rows' order within each session"
        if participant in missing:
            hint += "; participant=None makes each session its own participant"
        raise ValueError(f"the table lacks column(s) {missing}; it has {list(df.columns)}{hint}")
    if df[columns].isna().any().any():
        bad = df[columns].isna().any(axis=1)
        raise ValueError(f"the table has missing values in rows {np.flatnonzero(bad.values)[:5].tolist()}")
    for name in (choice, reward):
        if not pd.api.types.is_numeric_dtype(df[name]) or pd.api.types.is_bool_dtype(df[name]):
            odd = df[name][pd.to_numeric(df[name], errors="coerce").isna()]
            example = f": {odd.iloc[0]!r} in row {odd.index[0]}" if len(odd) else ""
            raise ValueError(f"column {name!r} must hold numbers{example}"
                             + (" (arm indices 0, 1, …: map arm names to indices first)" if name == choice else ""))
    rewards = df[reward].to_numpy(dtype=np.float64)
    if not np.isfinite(rewards).all():
        rows = np.flatnonzero(~np.isfinite(rewards))[:5].tolist()
        raise ValueError(f"column {reward!r} must be finite; got {rewards[rows[0]]} in rows {rows}")
    choices = df[choice].to_numpy()
    if not np.all(np.equal(np.mod(choices, 1), 0)):
        raise ValueError(f"column {choice!r} must hold integer arm indices")
    if np.any(rewards == UNSHOWN):
        rows = np.flatnonzero(rewards == UNSHOWN)[:5].tolist()
        raise ValueError(f"column {reward!r} holds {UNSHOWN:g} (rows {rows}), the SPICE layout's code for an outcome "
                         "not shown: such a reward would read as no outcome. Shift or rescale the rewards (e.g. to "
                         "[0, 1]) first")
    inferred = n_actions is None
    if not inferred and (isinstance(n_actions, bool) or not isinstance(n_actions, int | np.integer)):
        raise TypeError(f"n_actions must be an integer or None; got {n_actions!r}")
    n_actions = int(choices.max()) + 1 if inferred else int(n_actions)
    if n_actions < 2:
        how = " (inferred from the largest choice; pass n_actions=)" if inferred else ""
        raise ValueError(f"n_actions must be ≥ 2; got {n_actions}{how}")
    if n_actions > MAX_ACTIONS:
        how = (f" (inferred from the largest choice, {int(choices.max())}: arm indices run 0 … n_actions − 1)"
               if inferred else "")
        raise ValueError(f"n_actions must be at most {MAX_ACTIONS} (each arm is a one-hot input and a reward "
                         f"column); got {n_actions}{how}")
    out_of_range = (choices < 0) | (choices >= n_actions)
    if out_of_range.any():
        bad = sorted({int(c) for c in choices[out_of_range]})[:5]
        raise ValueError(f"choices must be in [0, {n_actions - 1}]; got {bad} "
                         f"(rows {np.flatnonzero(out_of_range)[:5].tolist()})")
    repeated = df.duplicated([participant, session, trial]) if trial != "__row__" else np.zeros(len(df), bool)
    if np.any(repeated):
        row = int(np.flatnonzero(repeated)[0])
        raise ValueError(f"trial {_plain(df[trial].iloc[row])!r} appears twice in session "
                         f"{_plain(df[session].iloc[row])!r} of participant {_plain(df[participant].iloc[row])!r} "
                         f"(row {row}): a session's trials must be distinct (trial=None takes the rows' order)")
    participants = list(dict.fromkeys(df[participant].tolist()))
    # sessions in order of appearance (one session per participant: row i is participant i), trials sorted
    groups = [(key, g.sort_values(trial, kind="stable"))
              for key, g in df.groupby([participant, session], sort=False)]
    lengths = [len(g) - 1 for _, g in groups]
    if min(lengths) < 1:
        short = [key for (key, _), n in zip(groups, lengths, strict=True) if n < 1]
        raise ValueError(f"sessions need at least two trials; {short[:5]} have one")
    steps = max(lengths)
    check_memory(len(groups), steps, n_actions,
                  f"the choice arrays of {len(groups)} sessions × {steps} steps × {n_actions} actions",
                  "load fewer sessions at a time")
    xs = np.zeros((len(groups), steps, 2 * n_actions + 1), dtype=np.float32)
    xs[:, :, n_actions:2 * n_actions] = -1
    ys = np.full((len(groups), steps, n_actions), -1.0, dtype=np.float32)
    for s, ((pid, _), g) in enumerate(groups):
        c = g[choice].to_numpy().astype(np.int64)
        n = len(c) - 1
        onehot = np.zeros((len(c), n_actions))
        onehot[np.arange(len(c)), c] = 1
        xs[s, :n, :n_actions] = onehot[:-1]
        xs[s, :n, n_actions:2 * n_actions] = np.where(onehot[:-1] > 0, g[reward].to_numpy()[:-1, None], -1)
        xs[s, :, -1] = participants.index(pid)
        ys[s, :n] = onehot[1:]
    dataset = DatasetRNN(xs, ys)
    dataset.participants = [_plain(p) for p in participants]
    dataset.sessions = [tuple(_plain(k) for k in key) for key, _ in groups]
    dataset.lengths = np.asarray(lengths)
    return dataset
