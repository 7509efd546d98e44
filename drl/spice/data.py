"""Choice datasets: simulate them (``create_dataset``) or read them from a tidy table (``load_choice_table``).

Layout (the SPICE convention): ``xs`` [sessions, trials − 1, features] with features = one-hot choice
(n_actions), reward per arm (n_actions, −1 where the outcome was not shown), participant id (last column);
``ys`` [sessions, trials − 1, n_actions] the one-hot choice of the next trial. Padded steps of ragged sessions
have ``ys = −1`` and are ignored by the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import psutil
import torch
from torch.utils.data import Dataset

from drl._validate import boolean

__all__ = ["DatasetRNN", "Experiment", "MAX_ACTIONS", "MAX_TABLE_BYTES", "UNSHOWN", "check_memory", "choice_data", "create_dataset"]

#: The SPICE layout's reward for an arm whose outcome was not shown
UNSHOWN = -1.0
#: The most arms a choice table may have: each is a one-hot input and a reward column of every step
MAX_ACTIONS = 1024
#: The largest choice table read from a file (pandas holds a CSV in a few times its size; Eckstein et al.'s
#: 48 participants are 1 MB)
MAX_TABLE_BYTES = 2**30


class DatasetRNN(Dataset):
    """Choice sessions as a torch Dataset: inputs ``xs`` and next choices ``ys`` as float32 tensors.

    In the SPICE layout: ``xs[s, t]`` holds trial t's one-hot choice, the rewards per arm (−1 where not shown) and
    the participant index; ``ys[s, t]`` the choice of trial t + 1 (padding −1).

    Parameters
    ----------
    xs : array_like or torch.Tensor, shape [S, T, F]
        Inputs (F = 2·actions + 1).
    ys : array_like or torch.Tensor, shape [S, T, A]
        Next choices.
    device : str or torch.device
        Where the tensors live.

    Raises
    ------
    ValueError
        Arrays that disagree on sessions or trials.

    See Also
    --------
    load_choice_table : a dataset from a table.
    create_dataset : a dataset from an agent.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> xs = np.zeros((3, 10, 5)); xs[..., 0] = 1
    >>> ys = np.zeros((3, 10, 2)); ys[..., 0] = 1
    >>> dataset = spice.DatasetRNN(xs, ys)
    >>> len(dataset), tuple(dataset[0][0].shape)
    (3, (10, 5))
    """

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
    """One simulated session of an agent on a bandit task.

    Parameters
    ----------
    choices : numpy.ndarray, shape [T]
        The arm chosen in each trial.
    rewards : numpy.ndarray, shape [T, A]
        The outcomes per arm (−1: not shown).
    reward_probs : numpy.ndarray, shape [T, A]
        The arms' reward probabilities.
    choice_probs : numpy.ndarray, shape [T, A]
        The agent's choice probabilities.
    session : int
        The session's index.
    parameters : dict
        The agent's parameters in that session.

    See Also
    --------
    create_dataset : makes them.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> session = experiments[0]
    >>> session.choices.shape, session.rewards.shape, session.session
    ((60,), (60, 2), 0)
    """

    choices: np.ndarray
    rewards: np.ndarray
    reward_probs: np.ndarray
    choice_probs: np.ndarray
    session: int
    parameters: dict


def check_memory(n_sessions: int, n_steps: int, n_actions: int, described: str, way_out: str) -> None:
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

    Parameters
    ----------
    agent : AgentQ or AgentNetwork
        The player (``new_sess``, ``get_choice_probs``, ``update``).
    environment : Bandits
        The task.
    n_trials : int
        Trials per session (≥ 2).
    n_sessions : int
        Sessions (≥ 1); each session's participant id is its index.
    sample_parameters : bool
        Draw the agent's parameters anew each session (with its ``parameter_variance``).
    progress : bool
        A progress bar over sessions.

    Returns
    -------
    dataset : DatasetRNN
        The SPICE arrays (set ``dataset.xs[..., -1] = 0`` for one participant).
    experiments : list of Experiment
        Each session's choices, rewards and probabilities.
    parameters : pandas.DataFrame
        The agent's parameters per session.

    Raises
    ------
    ValueError
        ``n_trials`` or ``n_sessions`` out of range, an agent and task with different numbers of arms.

    See Also
    --------
    fit_model, SpiceEstimator : learn from it.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> tuple(dataset.xs.shape), tuple(dataset.ys.shape), len(experiments)
    ((8, 59, 5), (8, 59, 2), 8)
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
    check_memory(n_sessions, n_trials - 1, a, f"{n_sessions} sessions × {n_trials} trials × {a} actions",
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


def choice_data(xs, ys=None):
    """Choice data as float32 arrays, from arrays or a :class:`DatasetRNN`.

    Parameters
    ----------
    xs : array_like or torch.Tensor or DatasetRNN
        Inputs [sessions, trials, features], or a dataset (then ``ys`` is its own).
    ys : array_like or torch.Tensor, optional
        Next choices [sessions, trials, actions].

    Returns
    -------
    xs : numpy.ndarray, shape [sessions, trials, features]
    ys : numpy.ndarray, shape [sessions, trials, actions] or None
    participants : list or None
        The participant ids, when ``load_choice_table`` set them on the dataset.

    See Also
    --------
    DatasetRNN : the torch dataset of sessions.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> xs, ys, participants = spice.choice_data(dataset)
    >>> xs.dtype, xs.shape, participants
    (dtype('float32'), (8, 59, 5), None)
    """
    if isinstance(xs, DatasetRNN):
        if ys is not None:
            raise TypeError("give a DatasetRNN alone (fit(dataset)) or the arrays xs and ys, not both")
        ids = getattr(xs, "participants", None)
        return xs.xs.numpy(), xs.ys.numpy(), ids
    if ys is None:
        raise TypeError("fit needs ys (the next choices) with the array xs, or a DatasetRNN as its only argument")
    return np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.float32), None
