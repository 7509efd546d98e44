"""The classic models a reviewer fits first: parametric Q-learning per participant, by maximum likelihood.

The model is ``AgentQ``'s (the agent that simulates the SPICE tutorials' data), so a fit on its data recovers its
parameters: values start at 0.5 and move toward the shown reward at α+ (reward > 0.5) or α− (otherwise), the
unchosen arm's value decays toward 0.5 at ``forget_rate`` (or learns from a shown counterfactual outcome), and a
choice kernel ``Q_choice`` moves toward the last choice at ``alpha_choice``; choices are a softmax of
``beta_reward·Q_reward + beta_choice·Q_choice``. With ``alpha_choice = 1`` the kernel is the previous choice and
``beta_choice`` is the perseveration weight κ.

All participants and restarts are fitted at once: one batched forward pass over trials serves every problem, and
each takes its own damped Newton steps (its exact Hessian, its own step acceptance), so one hard participant
does not slow the others down as a shared line search would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from drl._threads import one_torch_thread
from drl.spice.checks import check_choice_arrays, scored_steps
from drl.spice.data import choice_data
from drl.spice.optimize import linear_recurrence, newton

__all__ = ["Q_LEARNING_BOUNDS", "QLearningFit", "fit_q_learning", "q_learning_logits"]

# (low, high) of every parameter; the fit searches inside (a sigmoid of a free number), so an MLE that would run
# to an infinite β (a participant who never errs) stops at the bound instead
Q_LEARNING_BOUNDS = {
    "beta_reward": (0.0, 30.0),
    "alpha_reward": (0.0, 1.0),
    "alpha_penalty": (0.0, 1.0),
    "forget_rate": (0.0, 1.0),
    "beta_choice": (-10.0, 10.0),  # κ < 0: a participant who alternates
    "alpha_choice": (0.0, 1.0),
    "alpha_counterfactual_reward": (0.0, 1.0),
    "alpha_counterfactual_penalty": (0.0, 1.0),
}
DEFAULT_FREE = ("beta_reward", "alpha_reward", "alpha_penalty", "forget_rate", "beta_choice")
# the parameters the default model does not fit (alpha_penalty None: tied to alpha_reward when not free)
DEFAULT_FIXED = {"alpha_penalty": None, "forget_rate": 0.0, "beta_choice": 0.0, "alpha_choice": 1.0,
                 "alpha_counterfactual_reward": 0.0, "alpha_counterfactual_penalty": 0.0}
Q_INIT = 0.5
#: The most random starts per participant (each is a full fit held in memory beside the others)
MAX_RESTARTS = 1000


def q_learning_logits(parameters: dict, xs: torch.Tensor) -> torch.Tensor:
    """Choice logits of the Q-learning model for SPICE inputs, one parameter set per session.

    ``logits[:, t]`` predicts the choice of trial t + 1, after learning from trial t's choice and rewards
    (``xs[:, t]``, rewards −1 where not shown), like ``ys[:, t]``. Every update is linear in the values with rates
    that do not depend on them, so both value traces are linear recurrences.

    Parameters
    ----------
    parameters : dict of str to torch.Tensor
        Every name of ``Q_LEARNING_BOUNDS`` → a [B] tensor (one value per session).
    xs : torch.Tensor, shape [B, T, 2A + 1]
        Inputs (SPICE layout).

    Returns
    -------
    torch.Tensor, shape [B, T, A]
        The logits.

    See Also
    --------
    fit_q_learning : fits the parameters.

    Examples
    --------
    >>> import torch
    >>> from drl import spice
    >>> values = {"beta_reward": 3.0, "alpha_reward": 0.5, "alpha_penalty": 0.5, "forget_rate": 0.0,
    ...           "beta_choice": 0.0, "alpha_choice": 1.0, "alpha_counterfactual_reward": 0.0,
    ...           "alpha_counterfactual_penalty": 0.0}
    >>> parameters = {name: torch.tensor([value], dtype=torch.float64) for name, value in values.items()}
    >>> xs = torch.tensor([[[1.0, 0.0, 1.0, -1.0, 0.0]]], dtype=torch.float64)  # arm 0 chosen and paid
    >>> spice.q_learning_logits(parameters, xs)[0, 0].tolist()  # β·Q: arm 0's value rose from 0.5 to 0.75
    [2.25, 1.5]
    """
    if not isinstance(xs, torch.Tensor) or xs.ndim != 3 or xs.shape[-1] < 5:
        raise TypeError(f"xs must be a tensor [sessions, trials, 2·actions + 1]; got {type(xs).__name__} "
                        f"{tuple(getattr(xs, 'shape', ()))}")
    if not isinstance(parameters, dict) or sorted(parameters) != sorted(Q_LEARNING_BOUNDS) \
            or not all(isinstance(v, torch.Tensor) and v.shape == (xs.shape[0],) for v in parameters.values()):
        raise TypeError(f"parameters must map every name of Q_LEARNING_BOUNDS ({sorted(Q_LEARNING_BOUNDS)}) to a "
                        f"[sessions] tensor; got {parameters!r:.200}")
    n_actions = (xs.shape[-1] - 1) // 2
    chosen, reward = xs[..., :n_actions] > 0, xs[..., n_actions:2 * n_actions]
    p = {k: v[:, None, None] for k, v in parameters.items()}  # [B, 1, 1]: broadcast over trials and arms
    shown, gain = reward >= 0, reward > 0.5
    rate = torch.where(chosen, torch.where(gain, p["alpha_reward"], p["alpha_penalty"]),
                       torch.where(gain, p["alpha_counterfactual_reward"], p["alpha_counterfactual_penalty"]))
    learned = chosen | shown
    # learned arms move toward the shown reward (not at all when none is shown), the others decay toward Q_INIT
    rate = torch.where(learned, torch.where(shown, rate, torch.zeros_like(rate)), p["forget_rate"].expand_as(rate))
    target = torch.where(learned, reward, torch.full_like(reward, Q_INIT))
    q = linear_recurrence(1 - rate, rate * target, Q_INIT)
    kernel_rate = p["alpha_choice"].expand_as(rate)
    kernel = linear_recurrence(1 - kernel_rate, kernel_rate * chosen.to(xs.dtype), 0.0)
    return p["beta_reward"] * q + p["beta_choice"] * kernel


@dataclass
class QLearningFit:
    """Per-participant maximum-likelihood Q-learning (:func:`fit_q_learning`).

    ``predict(xs)`` gives choice probabilities [sessions, trials, actions]; ``n_parameters()`` the free parameters
    per participant (for :func:`compare_models`).

    Parameters
    ----------
    parameters : pandas.DataFrame
        One row per participant id, a column per parameter (fixed ones included).
    free : tuple of str
        The fitted names.
    nll : pandas.Series
        The training NLL per choice of each participant.
    n_choices : pandas.Series
        Choices fitted per participant.
    restarts : int
        Starts per participant.
    converged : pandas.Series
        Whether the best start's gradient vanished, or no Newton step gained STALL nats (a parameter at its
        bound).
    participant_ids : list
        The ids of the participant indices 0, 1, ….

    See Also
    --------
    fit_q_learning : makes one.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> fit = spice.fit_q_learning(dataset, free=("beta_reward", "alpha_reward"))
    >>> fit.predict(dataset.xs).shape, set(fit.n_parameters().values())
    ((8, 59, 2), {2})
    """

    parameters: pd.DataFrame
    free: tuple
    nll: pd.Series
    n_choices: pd.Series
    restarts: int
    converged: pd.Series
    participant_ids: list = field(repr=False)

    def logits(self, xs) -> torch.Tensor:
        """[S, T, A] logits for sessions ``xs`` (participant index in the last feature, as when fitted)."""
        xs = torch.as_tensor(np.asarray(xs, dtype=np.float64))
        index = xs[:, 0, -1].long().numpy()
        if index.min() < 0 or index.max() >= len(self.participant_ids):
            raise ValueError(f"participant index {int(index.max())} has no fit; fitted: 0 … "
                             f"{len(self.participant_ids) - 1}")
        table = self.parameters.to_numpy()[index]
        parameters = {name: torch.as_tensor(table[:, j]) for j, name in enumerate(self.parameters.columns)}
        with torch.no_grad():
            return q_learning_logits(parameters, xs)

    def predict(self, xs) -> np.ndarray:
        """Choice probabilities [S, T, A] (``ys``'s layout)."""
        return torch.softmax(self.logits(xs), -1).numpy()

    def n_parameters(self) -> dict:
        """{participant id: free parameters} (for AIC/BIC)."""
        return {pid: len(self.free) for pid in self.participant_ids}


def _bounded(raw: torch.Tensor, name: str) -> torch.Tensor:
    low, high = Q_LEARNING_BOUNDS[name]
    return low + (high - low) * torch.sigmoid(raw)


def _check_names(free, fixed) -> tuple[tuple, dict]:
    free = tuple(free) if not isinstance(free, str) else (free,)
    unknown = sorted(set(free) - set(Q_LEARNING_BOUNDS))
    if unknown or not free:
        raise ValueError(f"free must name parameters of {sorted(Q_LEARNING_BOUNDS)}; got {list(free)!r}")
    if fixed is not None and not isinstance(fixed, dict):
        raise TypeError(f"fixed must be a dict of parameter name -> value; got {fixed!r}")
    both = sorted(set(fixed or {}) & set(free))
    if both:
        raise ValueError(f"{both} are both free and fixed: drop them from one")
    fixed = {k: v for k, v in (DEFAULT_FIXED | (fixed or {})).items() if k not in free}
    for name, value in fixed.items():
        if name not in Q_LEARNING_BOUNDS:
            raise ValueError(f"fixed names an unknown parameter {name!r}; parameters: {sorted(Q_LEARNING_BOUNDS)}")
        low, high = Q_LEARNING_BOUNDS[name]
        if value is None and name == "alpha_penalty":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ValueError(f"fixed {name} must be a number in [{low}, {high}]"
                             + (" (or None: the same as alpha_reward)" if name == "alpha_penalty" else "")
                             + f"; got {value!r}")
    missing = sorted(set(Q_LEARNING_BOUNDS) - set(free) - set(fixed))
    if missing:
        raise ValueError(f"parameters {missing} are neither free nor fixed: add them to free or give their values "
                         "in fixed")
    return free, fixed


def fit_q_learning(xs, ys=None, *, steps=None, free=DEFAULT_FREE, fixed=None, n_restarts: int = 8,
                   max_iter: int = 300, seed: int = 0, participant_ids=None) -> QLearningFit:
    """Fit Q-learning to each participant's choices by maximum likelihood.

    Newton's method from ``n_restarts`` random starts per participant, within the bounds of
    ``Q_LEARNING_BOUNDS``; the best start is kept.

    Parameters
    ----------
    xs : array_like or DatasetRNN
        SPICE inputs [sessions, trials, ·] (participant index in ``xs[..., -1]``), or a dataset (its
        ``participants`` then name the rows).
    ys : array_like, optional
        Next choices [sessions, trials, actions] (a dataset brings its own).
    steps : array_like of bool, shape [sessions, trials], optional
        The choices to fit (e.g. the head of a time-wise split); default all. The model still runs through every
        step, so a tail is predicted after warming up on the head.
    free : tuple of str
        The fitted parameters (names of ``Q_LEARNING_BOUNDS``). Default α+, α−, forgetting, β and perseveration κ
        (``beta_choice`` with ``alpha_choice = 1``).
    fixed : dict, optional
        Values of the other parameters (default: the kernel is the last choice, no counterfactual learning;
        ``alpha_penalty=None`` ties α− to α+).
    n_restarts : int
        Random starts per participant.
    max_iter : int
        Newton iterations (most fits converge in 10–30).
    seed : int
        Seed of the starts.
    participant_ids : list, optional
        Names of the participant indices 0, 1, … for the result's rows, with arrays; default the indices.

    Returns
    -------
    QLearningFit
        The parameters, NLL and convergence of each participant.

    Raises
    ------
    ValueError
        Unknown parameter names, a fixed value out of bounds, arrays the model cannot use.

    See Also
    --------
    compare_models : scores it beside other models.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> fit = spice.fit_q_learning(dataset, free=("beta_reward", "alpha_reward"))
    >>> fit.parameters.shape[0], fit.free
    (8, ('beta_reward', 'alpha_reward'))
    """
    xs, ys, ids = choice_data(xs, ys)
    check_choice_arrays(xs, ys, n_actions=(xs.shape[-1] - 1) // 2, where="fit_q_learning")
    free, fixed = _check_names(free, fixed)
    if isinstance(n_restarts, bool) or not isinstance(n_restarts, int) or not 1 <= n_restarts <= MAX_RESTARTS:
        raise ValueError(f"n_restarts must be an integer from 1 to {MAX_RESTARTS}; got {n_restarts!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1 (Newton iterations); got {max_iter!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63); got {seed!r}")
    scored = scored_steps(ys, steps, where="fit_q_learning")
    xs_t = torch.as_tensor(xs, dtype=torch.float64)
    ys_t = torch.as_tensor(ys, dtype=torch.float64)
    valid = torch.as_tensor(scored)
    participant = xs_t[:, 0, -1].long()
    # every participant index 0 … P − 1 must have choices to fit: a gap (an index of 1e7, a participant left
    # out by steps) would be "fitted" to nothing and reported converged
    if int(participant.max()) >= len(xs):
        raise ValueError(f"fit_q_learning: participant ids (xs[..., -1]) reach {int(participant.max())} with "
                         f"{len(xs)} session(s): number the participants 0 … P − 1 (load_choice_table does)")
    per_participant = np.bincount(participant.numpy(), weights=scored.sum(1), minlength=1)
    n_participants = per_participant.size
    empty = np.flatnonzero(per_participant == 0)
    if empty.size:
        raise ValueError(f"fit_q_learning: participant(s) {empty[:5].tolist()} have no choice to fit (absent from xs, "
                         "or every step of theirs padding or left out by steps): number the participants present "
                         "0 … P − 1, or keep some of their steps")
    ids = list(ids) if ids is not None else (list(participant_ids) if participant_ids is not None
                                            else list(range(n_participants)))
    generator = torch.Generator().manual_seed(seed)
    # [R·P, K] free numbers; restart 0 starts at the bounds' middles, the others at uniform draws inside them
    u = torch.rand(n_restarts, n_participants, len(free), generator=generator, dtype=torch.float64) * 0.9 + 0.05
    u[0] = 0.5
    theta = torch.log(u / (1 - u)).reshape(-1, len(free))
    rows = (torch.arange(n_restarts)[:, None] * n_participants + participant[None, :]).reshape(-1)  # [R·S]
    xs_r = xs_t.repeat(n_restarts, 1, 1)
    ys_r, valid_r = ys_t.repeat(n_restarts, 1, 1), valid.repeat(n_restarts, 1)

    def per_fit_nll(theta):  # [R·P] summed NLL of each restart × participant
        values = {name: _bounded(theta[:, j], name)[rows] for j, name in enumerate(free)}
        for name, value in fixed.items():
            if value is not None:
                values[name] = torch.full(rows.shape, float(value), dtype=torch.float64)
        if fixed.get("alpha_penalty", 0.0) is None:
            values["alpha_penalty"] = values["alpha_reward"]
        log_p = torch.log_softmax(q_learning_logits(values, xs_r), -1)
        per_step = -(log_p * ys_r.clamp(min=0)).sum(-1) * valid_r
        return torch.zeros(theta.shape[0], dtype=torch.float64).index_add(0, rows, per_step.sum(1))

    with torch.no_grad(), one_torch_thread():
        theta, losses, done = newton(per_fit_nll, theta, max_iter,
                                            groups=torch.arange(n_participants).repeat(n_restarts))
    losses = losses.reshape(n_restarts, n_participants)
    best = losses.argmin(0)
    picked = theta.reshape(n_restarts, n_participants, -1)[best, torch.arange(n_participants)]
    converged = done.reshape(n_restarts, n_participants)[best, torch.arange(n_participants)]
    columns = {}
    for name in Q_LEARNING_BOUNDS:
        if name in free:
            columns[name] = _bounded(picked[:, free.index(name)], name).numpy()
        elif fixed[name] is not None:
            columns[name] = np.full(n_participants, float(fixed[name]))
    if "alpha_penalty" not in columns:
        columns["alpha_penalty"] = columns["alpha_reward"]
    columns = {name: columns[name] for name in Q_LEARNING_BOUNDS}
    n_choices = valid.sum(1).new_zeros(n_participants).index_add(0, participant, valid.sum(1)).numpy()
    index = pd.Index(ids[:n_participants], name="participant")
    best_loss = losses[best, torch.arange(n_participants)].numpy()
    return QLearningFit(
        parameters=pd.DataFrame(columns, index=index),
        free=free,
        nll=pd.Series(best_loss / np.maximum(n_choices, 1), index=index, name="nll"),
        n_choices=pd.Series(n_choices, index=index, name="n_choices"),
        restarts=n_restarts,
        converged=pd.Series(converged.numpy(), index=index, name="converged"),
        participant_ids=ids[:n_participants],
    )
