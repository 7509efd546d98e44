"""Choice datasets: simulate them (``create_dataset``) or read them from a tidy table (``load_choice_table``).

Layout (the SPICE convention): ``xs`` [sessions, trials − 1, features] with features = one-hot choice
(n_actions), reward per arm (n_actions, −1 where the outcome was not shown), participant id (last column);
``ys`` [sessions, trials − 1, n_actions] the one-hot choice of the next trial. Padded steps of ragged sessions
have ``ys = −1`` and are ignored by the loss.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psutil
import torch
from torch.utils.data import Dataset

from drl._files import readable_file
from drl._validate import boolean

__all__ = ["DatasetRNN", "Experiment", "MAX_ACTIONS", "MAX_TABLE_BYTES", "UNSHOWN", "choice_data", "create_dataset", "load_choice_table"]

#: The SPICE layout's reward for an arm whose outcome was not shown
UNSHOWN = -1.0
#: The most arms a choice table may have: each is a one-hot input and a reward column of every step
MAX_ACTIONS = 1024
#: The largest choice table read from a file (pandas holds a CSV in a few times its size; Eckstein et al.'s
#: 48 participants are 1 MB)
MAX_TABLE_BYTES = 2**30


class DatasetRNN(Dataset):
    """Inputs ``xs`` [S, T, F] and targets ``ys`` [S, T, A] as float32 tensors (a torch Dataset of sessions)."""

    def __init__(self, xs, ys, device="cpu"):
        xs = torch.as_tensor(np.asarray(xs, dtype=np.float32), device=device)
        ys = torch.as_tensor(np.asarray(ys, dtype=np.float32), device=device)
        if xs.ndim != 3 or ys.ndim != 3:
            raise ValueError(f"xs and ys must be 3-D [sessions, trials, ·]; got {tuple(xs.shape)} and "
                             f"{tuple(ys.shape)}")
        if xs.shape[:2] != ys.shape[:2]:
            raise ValueError(f"xs and ys disagree on [sessions, trials]: {tuple(xs.shape[:2])} vs "
                             f"{tuple(ys.shape[:2])}")
        if xs.shape[2] < 2 * ys.shape[2] + 1:
            raise ValueError(f"xs has {xs.shape[2]} features; with {ys.shape[2]} actions it needs at least "
                             f"{2 * ys.shape[2] + 1} (choice one-hot, reward per arm, participant id)")
        self.xs, self.ys = xs, ys

    @property
    def n_actions(self) -> int:
        return int(self.ys.shape[2])

    def __len__(self) -> int:
        return int(self.xs.shape[0])

    def __getitem__(self, index):
        return self.xs[index], self.ys[index]


@dataclass(frozen=True)
class Experiment:
    """One simulated session: ``choices`` [T], ``rewards`` [T, A] (−1 not shown), ``reward_probs`` [T, A],
    ``choice_probs`` [T, A] of the agent, ``session`` index, ``parameters`` of the agent in that session."""

    choices: np.ndarray
    rewards: np.ndarray
    reward_probs: np.ndarray
    choice_probs: np.ndarray
    session: int
    parameters: dict


def _check_memory(n_sessions: int, n_steps: int, n_actions: int, described: str, way_out: str) -> None:
    """A MemoryError with the size and ``way_out`` before allocating choice arrays (xs, ys and their tensor
    copies) larger than half the available memory."""
    need = n_sessions * n_steps * (3 * n_actions + 1) * 4 * 2
    available = psutil.virtual_memory().available
    if need > available / 2:
        raise MemoryError(f"{described} need {need / 2**30:.2f} GiB of arrays, more than half the memory available "
                          f"({available / 2**30:.2f} GiB): {way_out}")


def create_dataset(agent, environment, n_trials: int, n_sessions: int, *, sample_parameters: bool = True,
                   progress: bool = False):
    """Let ``agent`` play ``n_sessions`` sessions of ``n_trials`` trials of ``environment``.

    Returns ``(dataset, experiments, parameters)``: a :class:`DatasetRNN` (participant id = session index;
    set ``dataset.xs[..., -1] = 0`` for one participant), the list of :class:`Experiment`, and a DataFrame of
    the agent's parameters per session.
    """
    from tqdm.auto import tqdm

    for name, thing, needs in (("agent", agent, ("n_actions", "new_sess", "get_choice", "update")),
                               ("environment", environment, ("n_actions", "new_sess", "step"))):
        if not all(hasattr(thing, attribute) for attribute in needs):
            raise TypeError(f"{name} must be a drl.spice {name} (e.g. AgentQ, BanditsDrift) with "
                            f"{', '.join(needs)}; got {type(thing).__name__}")
    if agent.n_actions != environment.n_actions:
        raise ValueError(f"agent.n_actions ({agent.n_actions}) != environment.n_actions ({environment.n_actions})")
    sample_parameters, progress = boolean("sample_parameters", sample_parameters), boolean("progress", progress)
    for name, value, low in (("n_trials", n_trials, 2), ("n_sessions", n_sessions, 1)):
        if not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} must be an integer ≥ {low}; got {value!r}")
    a = agent.n_actions
    _check_memory(n_sessions, n_trials - 1, a, f"{n_sessions} sessions × {n_trials} trials × {a} actions",
                  "simulate fewer sessions or trials at a time")
    xs = np.zeros((n_sessions, n_trials - 1, 2 * a + 1), dtype=np.float32)
    ys = np.zeros((n_sessions, n_trials - 1, a), dtype=np.float32)
    experiments, rows = [], []
    for session in tqdm(range(n_sessions), desc="sessions", disable=not progress):
        agent.new_sess(sample_parameters=sample_parameters)
        environment.new_sess()
        choices = np.zeros(n_trials, dtype=np.int64)
        rewards = np.zeros((n_trials, a))
        probs = np.zeros((n_trials, a))
        choice_probs = np.zeros((n_trials, a))
        for t in range(n_trials):
            probs[t] = environment.reward_probs
            choice_probs[t] = agent.get_choice_probs()
            choices[t] = agent.get_choice()
            rewards[t] = environment.step(int(choices[t]))
            agent.update(int(choices[t]), rewards[t])
        onehot = np.eye(a)[choices]
        xs[session, :, :a] = onehot[:-1]
        xs[session, :, a:2 * a] = rewards[:-1]
        xs[session, :, -1] = session
        ys[session] = onehot[1:]
        params = dict(vars(agent.params))
        experiments.append(Experiment(choices, rewards, probs, choice_probs, session, params))
        rows.append({"session": session, **params})
    return DatasetRNN(xs, ys), experiments, pd.DataFrame(rows).set_index("session")


def _plain(value):
    """An id as a user reads it: 11.0 (a float column) → 11."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


def load_choice_table(table, n_actions: int | None = None, *, participant: str | None = "participant",
                      session: str = "session", trial: str | None = "trial", choice: str = "choice",
                      reward: str = "reward"):
    """Bandit choices from a tidy table (a CSV path or DataFrame; one row per trial) in the SPICE layout.

    Columns: participant, session, trial (ordering within a session), choice (0 … n_actions − 1) and reward of
    the chosen arm. ``trial=None``: the rows are in trial order within each session (the SPICE authors' CSVs);
    ``participant=None``: each session is its own participant (or pass ``participant="session"``). Sessions of
    different lengths are padded at the end (``ys = −1``, ignored by the loss); no row is dropped. Participants
    and sessions are numbered 0 … in order of appearance, ids as in the table (11.0 read as 11).

    Returns a :class:`DatasetRNN` with attributes ``participants`` (ids; index i is participant i of
    ``xs[..., -1]``), ``sessions`` ((participant, session) per row of ``xs``) and ``lengths`` (steps per session).

    Refused with a ValueError naming the column, row or value: a path that is not a regular file (a pipe would
    block), a missing column or value, non-numeric choices or rewards, a reward of −1 (the layout's code for an
    outcome not shown), a trial number repeated within a session, more than :data:`MAX_ACTIONS` arms, a session
    of one trial; arrays larger than half the available memory are a MemoryError with their size.
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
    _check_memory(len(groups), steps, n_actions,
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


def choice_data(xs, ys=None):
    """``(xs, ys, participant ids or None)`` as float32 arrays from arrays or a :class:`DatasetRNN` (whose
    ``participants``, when ``load_choice_table`` set them, are the ids)."""
    if isinstance(xs, DatasetRNN):
        if ys is not None:
            raise TypeError("give a DatasetRNN alone (fit(dataset)) or the arrays xs and ys, not both")
        ids = getattr(xs, "participants", None)
        return xs.xs.numpy(), xs.ys.numpy(), ids
    if ys is None:
        raise TypeError("fit needs ys (the next choices) with the array xs, or a DatasetRNN as its only argument")
    return np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.float32), None
