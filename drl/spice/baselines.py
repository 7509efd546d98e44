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
GRADIENT_TOLERANCE = 1e-4  # nats per unit of the free number: a fit is converged below it
STALL = 1e-6  # nats (summed over a participant's choices): a Newton step that gains less leaves the problem done


def _newton(losses_of, theta: torch.Tensor, max_iter: int, groups: torch.Tensor | None = None):
    """Minimise each entry of ``losses_of(theta)`` [N] over its own row of ``theta`` [N, K] (independent
    problems): Levenberg–Marquardt Newton steps with the exact K×K Hessian of every problem (K Hessian-vector
    products of the summed loss, whose Hessian is block diagonal), each step kept only
    where it lowers that problem's loss. A problem is done when its gradient vanishes or a step gains less than
    STALL nats (a parameter running into its bound). With ``groups`` [N] (the restarts of one participant share
    a group), a start that lies above its group's best by more than 100× what it gained over the last 10
    iterations is dropped too: it would need thousands more to matter. Returns (theta, losses [N], done [N])."""
    n, k = theta.shape
    damping = torch.full((n,), 1e-3, dtype=theta.dtype)
    eye = torch.eye(k, dtype=theta.dtype)
    done = torch.zeros(n, dtype=torch.bool)
    history = []
    for iteration in range(max_iter):
        with torch.enable_grad():
            theta = theta.detach().requires_grad_(True)
            losses = losses_of(theta)
            (gradient,) = torch.autograd.grad(losses.sum(), theta, create_graph=True)
            hessian = torch.stack([torch.autograd.grad(gradient[:, j].sum(), theta, retain_graph=j < k - 1)[0]
                                   for j in range(k)], dim=1)
        theta, losses, gradient = theta.detach(), losses.detach(), gradient.detach()
        done |= gradient.abs().amax(-1) < GRADIENT_TOLERANCE
        if bool(done.all()):
            break
        # a block that is not positive definite (a saddle, a bound's flat edge) is damped until it is
        system = hessian + damping[:, None, None] * eye
        for _ in range(30):
            _, info = torch.linalg.cholesky_ex(system)
            if not bool((info > 0).any()):
                break
            damping = torch.where(info > 0, damping * 10, damping)
            system = hessian + damping[:, None, None] * eye
        step = torch.linalg.solve(system, gradient[..., None])[..., 0]
        trial = losses_of(theta - step)
        better = (trial < losses) & ~done
        done |= better & (losses - trial < STALL)
        theta = torch.where(better[:, None], theta - step, theta)
        losses = torch.where(better, trial, losses)
        damping = torch.where(better, (damping / 3).clamp(min=1e-9), (damping * 4).clamp(max=1e9))
        done |= damping >= 1e9  # no step helps any more
        history.append(losses)
        if groups is not None and iteration >= 10:
            best = torch.full((int(groups.max()) + 1,), torch.inf, dtype=losses.dtype).scatter_reduce(
                0, groups, losses, "amin")
            done |= losses - best[groups] > 100 * (history[-11] - losses)
    return theta, losses, done


def linear_recurrence(decay: torch.Tensor, drive: torch.Tensor, initial) -> torch.Tensor:
    """x[t + 1] = decay[t]·x[t] + drive[t] for t = 0 … T − 1, along dim 1 of [B, T, ·] tensors: returns x[1 … T].

    A parallel (Hillis–Steele) scan: ⌈log₂ T⌉ rounds of whole-array operations instead of T small ones, which is
    what makes the likelihood of a batch of sessions (and its gradient and Hessian) cheap in torch. Only
    products of decays and sums appear, so it is as stable as the loop.
    """
    steps = decay.shape[1]
    shift = 1
    while shift < steps:
        # compose each step with the one `shift` before it: (a, b)∘(a', b') = (a·a', a·b' + b)
        earlier_decay = torch.cat([torch.ones_like(decay[:, :shift]), decay[:, :-shift]], dim=1)
        earlier_drive = torch.cat([torch.zeros_like(drive[:, :shift]), drive[:, :-shift]], dim=1)
        drive = decay * earlier_drive + drive
        decay = decay * earlier_decay
        shift *= 2
    return decay * initial + drive


def q_learning_logits(parameters: dict, xs: torch.Tensor) -> torch.Tensor:
    """Choice logits of the Q-learning model [B, T, A] for inputs ``xs`` [B, T, 2A + 1] (SPICE layout).

    ``parameters``: every name of ``Q_LEARNING_BOUNDS`` → a [B] tensor (one value per session). ``logits[:, t]``
    predicts the choice of trial t + 1, after learning from trial t's choice and rewards (``xs[:, t]``, rewards
    −1 where not shown), like ``ys[:, t]``. Every update is linear in the values with rates that do not depend
    on them, so both value traces are ``linear_recurrence``s.
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
    """Per-participant maximum-likelihood Q-learning: ``parameters`` (DataFrame, one row per participant id, a
    column per parameter, fixed ones included), ``free`` (the fitted names), ``nll`` (Series: training NLL per
    choice of each participant), ``n_choices`` (Series), ``restarts`` (starts per participant), ``converged``
    (Series: the best start's gradient vanished, or no Newton step gains STALL nats: a parameter at its
    bound)."""

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

    Args:
      xs, ys: SPICE arrays [sessions, trials, ·] (participant index in ``xs[..., -1]``), or a DatasetRNN as
        ``xs`` (its ``participants`` then name the rows).
      steps: [sessions, trials] bool, the choices to fit (e.g. the head of a time-wise split); default all. The
        model still runs through every step, so a tail is predicted after warming up on the head.
      free: the fitted parameters (names of ``Q_LEARNING_BOUNDS``; searched within those bounds). Default α+,
        α−, forgetting, β and perseveration κ (``beta_choice`` with ``alpha_choice = 1``).
      fixed: values of the other parameters (default: the kernel is the last choice, no counterfactual
        learning; ``alpha_penalty=None`` ties α− to α+).
      n_restarts: random starts per participant; the best is kept.
      max_iter: Newton iterations (most fits converge in 10–30).
      participant_ids: names of the participant indices 0, 1, … for the result's rows, with arrays (a
        DatasetRNN brings its own); default the indices.

    Returns a :class:`QLearningFit`.
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
        theta, losses, done = _newton(per_fit_nll, theta, max_iter,
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
