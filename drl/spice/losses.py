"""What a fit of choices is scored by: the negative log-likelihood of the choices, the held-out tail of each
session (the SPICE papers' time-wise split), and the losses a fit ends with."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["ChanceLevelWarning", "TrainingResult", "nll", "tail_steps"]


class ChanceLevelWarning(UserWarning):
    """A fitted model predicts choices no better than chance.

    Its training NLL stayed near ln(number of arms) after every allowed restart: the model ignores the outcomes.
    Try a larger learning rate, more epochs or another seed.

    See Also
    --------
    fit_model : issues it.

    Examples
    --------
    >>> import warnings
    >>> from drl import spice
    >>> issubclass(spice.ChanceLevelWarning, UserWarning)
    True
    """


def nll(logits: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the choices under the logits; padded steps are ignored.

    Parameters
    ----------
    logits : torch.Tensor, shape [..., A]
        Choice logits.
    ys : torch.Tensor, shape [..., A]
        One-hot choices, or padding (all −1).

    Returns
    -------
    torch.Tensor
        A scalar: nats per choice.

    See Also
    --------
    fit_model : minimises it.

    Examples
    --------
    >>> import torch
    >>> from drl import spice
    >>> ys = torch.tensor([[1.0, 0.0], [-1.0, -1.0]])  # one choice and one padded step
    >>> round(float(spice.nll(torch.zeros(2, 2), ys)), 4)  # ln 2: a coin
    0.6931
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(ys, torch.Tensor) or logits.shape != ys.shape \
            or logits.ndim < 1:
        raise TypeError(f"nll takes two tensors of one shape [..., actions] (logits and one-hot targets); got "
                        f"{type(logits).__name__} {tuple(getattr(logits, 'shape', ()))} and {type(ys).__name__} "
                        f"{tuple(getattr(ys, 'shape', ()))}")
    valid = ys.sum(-1) > 0
    log_p = torch.log_softmax(logits, dim=-1)
    per_step = -(log_p * ys.clamp(min=0)).sum(-1)
    return per_step[valid].mean()


@dataclass
class TrainingResult:
    """The losses of a fit, in nats per choice (:func:`fit_model`).

    Parameters
    ----------
    train_loss : float
        The final training loss.
    test_loss : float or None
        The held-out loss (None without a split).
    history : list of float
        The training loss per epoch of the kept start.
    restarts : int
        Fresh starts after the first.
    epochs : int
        Epochs of the kept start.
    converged : bool
        Whether the loss stopped changing.
    seconds : float
        Wall time.
    chance : float
        ln(number of arms).
    test_sessions : numpy.ndarray
        Indices of sessions with held-out steps.
    test_history : list of float
        With early stopping: the held-out loss at the start of each epoch of the kept start (the weights kept are
        those of its minimum).
    validation : {"sessions", "tail"}
        The split.
    test_steps : numpy.ndarray of bool, shape [sessions, trials], optional
        The steps whose choices were held out (None without a split).
    min_delta : float
        The improvement that reset early stopping.

    See Also
    --------
    fit_model : returns it.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> result = spice.fit_model(spice.RescorlaWagnerRNN(), dataset.xs, dataset.ys, epochs=32, test_fraction=0.2,
    ...                          validation="tail", progress=False)
    >>> result.validation, result.test_loss is not None, len(result.history) <= 32
    ('tail', True, True)
    """

    train_loss: float
    test_loss: float | None
    history: list = field(repr=False)
    restarts: int
    epochs: int
    converged: bool
    seconds: float
    chance: float
    test_sessions: np.ndarray = field(repr=False)
    test_history: list = field(default_factory=list, repr=False)
    validation: str = "sessions"
    test_steps: np.ndarray | None = field(default=None, repr=False)

    min_delta: float = 0.0

    @property
    def best_epoch(self) -> int:
        """The epoch whose weights were kept (counted from 0, weights at its start): with early stopping the last
        improvement of the held-out loss by more than ``min_delta``, else the end of training."""
        best, kept = np.inf, self.epochs
        for epoch, loss in enumerate(self.test_history):
            if loss < best - self.min_delta:
                best, kept = loss, epoch
        return kept


def tail_steps(ys, fraction: float) -> np.ndarray:
    """The last ``fraction`` of each session's choices: the time-wise split of the SPICE papers.

    A model warms up on a session's earlier choices and is scored on its tail: at least one choice in a session of
    two or more; padding (``ys = −1``) never.

    Parameters
    ----------
    ys : array_like, shape [sessions, trials, actions]
        Next choices (padding −1).
    fraction : float
        The fraction held out, in (0, 1).

    Returns
    -------
    numpy.ndarray of bool, shape [sessions, trials]
        The held-out steps.

    Raises
    ------
    ValueError
        ``fraction`` out of (0, 1).

    See Also
    --------
    fit_model : ``validation="tail"`` holds these out.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> ys = np.zeros((1, 10, 2)); ys[..., 0] = 1
    >>> spice.tail_steps(ys, 0.2).astype(int).tolist()
    [[0, 0, 0, 0, 0, 0, 0, 0, 1, 1]]
    """
    ys = np.asarray(ys)
    valid = ys.sum(-1) > 0
    lengths = valid.sum(1)
    n_held = np.where(lengths >= 2, np.maximum(1, np.round(lengths * fraction)), 0).astype(int) if fraction > 0 \
        else np.zeros_like(lengths)
    last = np.cumsum(valid[:, ::-1], axis=1)[:, ::-1]  # valid steps from here to the end, this one included
    return valid & (last <= n_held[:, None])
