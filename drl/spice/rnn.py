"""BaseRNN: a recurrent model of choice built from small per-mechanism modules (the SPICE RNN).

Each memory-state variable (``x_...``, e.g. ``x_value_reward`` [sessions, actions]) is updated by modules
that each model one mechanism: a learned module (``setup_module``), a hard-coded equation (``submodules_eq``)
or, after distillation, a fitted equation. A subclass sets ``init_values``, builds its modules in
``__init__`` and writes ``forward`` with ``init_forward_pass`` / ``call_module`` / ``record_signal`` /
``post_forward_pass`` (see docs/guide/spice_reference.md and the tutorials).

Input layout (``xs`` [sessions, trials, features], batch first): one-hot choice (n_actions), reward per arm
(n_actions, −1 where not shown), optional additional inputs, participant id in the last column.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

#: Limits on a SPICE model's sizes: each arm is an input, each participant an embedding row, and the modules are
#: small by design (SPICE's default hidden size is 8)
from drl.spice.modules import MAX_ACTIONS, MAX_HIDDEN, MAX_PARTICIPANTS, Constant, RNNModule

__all__ = ["BaseRNN"]


def _within_range_of(activation, values: torch.Tensor) -> torch.Tensor:
    """``values`` clamped to the range of a monotone ``activation`` (sigmoid: [0, 1], tanh: [−1, 1], relu and
    softplus: [0, ∞)), read off its limits."""
    ends = activation(torch.tensor([-torch.inf, torch.inf], dtype=values.dtype))
    lo, hi = float(ends.min()), float(ends.max())
    return values.clamp(min=lo if lo > -np.inf else None, max=hi if hi < np.inf else None)


def _as_inputs(inputs, like: torch.Tensor) -> torch.Tensor:
    """None → [B, A, 0]; a tensor [B, A] → [B, A, 1]; a tuple of [B, A] tensors → [B, A, n]."""
    if inputs is None:
        return like.new_zeros(*like.shape, 0)
    if isinstance(inputs, tuple | list):
        if not inputs:
            return like.new_zeros(*like.shape, 0)
        return torch.stack([torch.as_tensor(i, dtype=like.dtype).expand_as(like) for i in inputs], dim=-1)
    inputs = torch.as_tensor(inputs, dtype=like.dtype)
    return inputs.unsqueeze(-1) if inputs.shape == like.shape else inputs


class BaseRNN(nn.Module):
    """The base class of SPICE networks (a ``torch.nn.Module``): one small learned module per mechanism.

    A subclass sets the class attribute ``init_values`` ({state name: initial value} of every memory-state
    variable), builds its modules in ``__init__`` (``setup_module``, ``setup_constant``) and combines them in
    ``forward``. Its attributes: ``submodules_rnn`` (``nn.ModuleDict`` of learned modules, keyed ``x_<mechanism>``),
    ``submodules_eq`` (hard-coded equations ``f(value [B, A], inputs [B, A, n]) -> [B, A]``),
    ``submodules_sindy`` (fitted equations that replace learned modules after distillation), ``betas``
    (``nn.ModuleDict`` of scaling constants, called as ``betas[k]()`` or ``betas[k](participant_embedding)``) and
    ``state`` (the current memory state, each [B, A]).

    Parameters
    ----------
    n_actions : int
        Arms (2 to 1024).
    n_participants : int
        Participants with an embedding (0: none).
    embedding_size : int
        Size of each participant's embedding (0: none).
    hidden_size : int
        Units of each learned module.
    dropout : float
        Dropout in each learned module, in [0, 1).
    device : str or torch.device
        Where the parameters live.

    Raises
    ------
    ValueError
        A size out of range.

    See Also
    --------
    RescorlaWagnerRNN, ForgettingRNN, LearningRateRNN, Weinhardt2024RNN : precoded networks.
    SpiceEstimator : trains one and distils it.

    Examples
    --------
    >>> import torch
    >>> from drl import spice
    >>> network = spice.RescorlaWagnerRNN(n_actions=2)
    >>> isinstance(network, spice.BaseRNN), list(network.submodules_rnn)
    (True, ['x_value_reward_chosen'])
    >>> logits, state = network(torch.zeros(1, 5, 5), batch_first=True)  # one session, 5 trials
    >>> tuple(logits.shape)
    (1, 5, 2)
    """

    init_values: dict[str, float] = {}

    def __init__(self, n_actions: int = 2, n_participants: int = 0, embedding_size: int = 0,
                 hidden_size: int = 8, dropout: float = 0.0, device="cpu"):
        super().__init__()
        from drl._validate import in_range, integer

        if isinstance(n_actions, bool) or not isinstance(n_actions, int) or not 2 <= n_actions <= MAX_ACTIONS:
            raise ValueError(f"n_actions must be an integer from 2 to {MAX_ACTIONS}; got {n_actions!r}")
        # sizes bounded where a typo would allocate gigabytes (an embedding row per participant, a hidden layer)
        integer("n_participants", n_participants, minimum=0, maximum=MAX_PARTICIPANTS)
        integer("embedding_size", embedding_size, minimum=0, maximum=MAX_HIDDEN)
        integer("hidden_size", hidden_size, minimum=1, maximum=MAX_HIDDEN)
        in_range("dropout", dropout, 0, 1, hi_open=True)
        if not isinstance(self.init_values, dict) or not self.init_values:
            raise ValueError(f"{type(self).__name__}.init_values must be a non-empty dict of state name -> "
                             "initial value")
        self.n_actions = n_actions
        self.n_participants = int(n_participants)
        self.embedding_size = int(embedding_size)
        self.hidden_size = int(hidden_size)
        self.dropout = float(dropout)
        self.device = torch.device(device)
        self.submodules_rnn = nn.ModuleDict()
        self.submodules_eq: dict[str, Callable] = {}
        self.submodules_sindy: dict[str, Callable] = {}
        self.betas = nn.ModuleDict()
        self.state: dict[str, torch.Tensor] = {}
        self.recording = False
        self._recording: dict[str, list] = {}
        self.use_sindy = False

    # ------------------------------------------------------------------ building blocks
    def setup_module(self, input_size: int, hidden_size: int | None = None, dropout: float | None = None):
        """A learned module taking the state variable plus ``input_size`` inputs (0 allowed)."""
        return RNNModule(input_size, hidden_size or self.hidden_size,
                         self.dropout if dropout is None else dropout)

    def setup_constant(self, embedding_size: int | None = None, init: float = 1.0,
                       non_negative: bool = True) -> Constant:
        """A learnable scaling constant (non-negative: an inverse temperature), per participant when
        ``embedding_size`` is given."""
        return Constant(embedding_size, init, non_negative)

    def setup_embedding(self, num_embeddings: int, embedding_size: int) -> nn.Module:
        """A participant embedding: ids [B] → [B, embedding_size]."""
        if num_embeddings < 1:
            raise ValueError(f"num_embeddings (participants) must be ≥ 1; got {num_embeddings}")
        return nn.Sequential(nn.Embedding(num_embeddings, embedding_size), nn.Tanh())

    # ------------------------------------------------------------------ forward-pass plumbing
    def init_forward_pass(self, inputs, prev_state=None, batch_first: bool = False):
        """Split ``inputs`` and set the initial state.

        Returns ``(inputs, ids, logits, timesteps)``: ``inputs = (actions, rewards, additional, participant)``
        each time first [T, B, ·]; ``ids = (participant_id [B, 1] long, session_index [B, 1])``; ``logits``
        zeros [T, B, A]; ``timesteps`` ``range(T)``.
        """
        x = torch.as_tensor(inputs, dtype=torch.float32, device=self.device)
        if x.ndim == 2:
            x = x.unsqueeze(1 if not batch_first else 0)
        if x.ndim != 3:
            raise ValueError(f"inputs must be [sessions, trials, features] (batch_first) or [trials, sessions, "
                             f"features]; got shape {tuple(x.shape)}")
        if batch_first:
            x = x.transpose(0, 1)
        n_features = x.shape[-1]
        if n_features < 2 * self.n_actions + 1:
            raise ValueError(f"inputs have {n_features} features; a model of {self.n_actions} actions needs at "
                             f"least {2 * self.n_actions + 1} (choice one-hot, reward per arm, participant id)")
        a = self.n_actions
        actions, rewards = x[..., :a], x[..., a:2 * a]
        additional, participant = x[..., 2 * a:-1], x[..., -1]
        participant_id = participant[0].long().unsqueeze(-1)  # [B, 1]
        if self.n_participants and int(participant_id.max()) >= self.n_participants:
            raise ValueError(f"participant id {int(participant_id.max())} ≥ n_participants = {self.n_participants}")
        steps, batch = x.shape[0], x.shape[1]
        if prev_state is not None:
            missing = set(self.init_values) - set(prev_state)
            if missing:
                raise ValueError(f"prev_state lacks {sorted(missing)}")
            self.state = {k: v for k, v in prev_state.items()}
        else:
            self.state = {k: torch.full((batch, a), float(v), device=self.device) for k, v in self.init_values.items()}
        logits = torch.zeros(steps, batch, a, device=self.device)
        session_index = torch.arange(batch, device=self.device).unsqueeze(-1)
        return (actions, rewards, additional, participant), (participant_id, session_index), logits, range(steps)

    def call_module(self, key_module: str, key_state: str, action=None, inputs=None,
                    participant_embedding=None, participant_index=None, activation_rnn=None) -> torch.Tensor:
        """The next value of state ``key_state`` under mechanism ``key_module``, kept where ``action`` is 1 and 0
        elsewhere ([B, A]). Routes to the fitted equation (after distillation, when ``use_sindy``), the
        hard-coded equation, or the learned module (then ``activation_rnn`` is applied)."""
        if key_state not in self.state:
            raise ValueError(f"no state {key_state!r}: add it to {type(self).__name__}.init_values "
                             f"(states: {sorted(self.state)})")
        value = self.state[key_state]
        x = _as_inputs(inputs, value)
        if self.use_sindy and key_module in self.submodules_sindy:
            next_value = self.submodules_sindy[key_module](value, x, participant_index)
            if activation_rnn is not None:
                # the equation was fitted to the module's output, which the activation kept in its range: kept
                # there too. Unbounded, a learning rate of 0.949 + 0.444 r − 0.947 V went negative once V
                # overshot 1, and V ran to inf (NaN predictions for 1 fit in 3 on Eckstein et al. 2022)
                next_value = _within_range_of(activation_rnn, next_value)
        elif key_module in self.submodules_eq:
            if participant_embedding is not None:
                x = torch.cat([x, participant_embedding.unsqueeze(1).expand(-1, value.shape[1], -1)], dim=-1)
            next_value = self.submodules_eq[key_module](value, x)
        elif key_module in self.submodules_rnn:
            if participant_embedding is not None:
                x = torch.cat([x, participant_embedding.unsqueeze(1).expand(-1, value.shape[1], -1)], dim=-1)
            next_value = self.submodules_rnn[key_module](value, x)
            if activation_rnn is not None:
                next_value = activation_rnn(next_value)
        else:
            modules = sorted(set(self.submodules_rnn) | set(self.submodules_eq))
            raise ValueError(f"no module {key_module!r}; modules: {modules}")
        if action is None:
            return next_value
        return next_value * torch.as_tensor(action, dtype=next_value.dtype)

    def record_signal(self, key: str, value) -> None:
        """Keep ``value`` [B, A] (this step) under ``key`` while recording (for the distillation)."""
        if self.recording:
            v = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            self._recording.setdefault(key, []).append(np.array(v, dtype=np.float64))

    def post_forward_pass(self, logits: torch.Tensor, batch_first: bool = False) -> torch.Tensor:
        """Logits back to the caller's layout ([B, T, A] when ``batch_first``)."""
        return logits.transpose(0, 1) if batch_first else logits

    def get_state(self, detach: bool = False) -> dict[str, torch.Tensor]:
        """The memory state, a dict of [B, A] tensors."""
        return {k: (v.detach() if detach else v) for k, v in self.state.items()}

    def set_state(self, state: dict) -> None:
        self.state = dict(state)

    @contextmanager
    def sindy(self, enabled: bool = True):
        """Within the block, ``call_module`` uses the distilled equations (``enabled``) or the learned modules;
        no gradients are tracked; the previous setting is restored after."""
        previous = self.use_sindy
        self.use_sindy = enabled
        try:
            with torch.no_grad():
                yield self
        finally:
            self.use_sindy = previous

    # ------------------------------------------------------------------ recording
    def recorded(self) -> dict[str, np.ndarray]:
        """The recorded signals, each [T, B, A] (the order of ``record_signal`` calls)."""
        return {k: np.stack(v) for k, v in self._recording.items()}

    def record(self, xs, batch_first: bool = True) -> dict[str, np.ndarray]:
        """Run the model on ``xs`` without gradients and return every recorded signal [T, B, A]."""
        self._recording = {}
        self.recording = True
        try:
            with torch.no_grad():
                self(torch.as_tensor(xs, dtype=torch.float32), batch_first=batch_first)
        finally:
            self.recording = False
        return self.recorded()

    def reset_parameters(self, seed: int | None = None) -> None:
        """Fresh initial weights for every submodule (training restarts). With ``seed``, the draw is seeded
        without touching torch's global random state."""
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            for module in self.modules():
                if module is not self and hasattr(module, "reset_parameters"):
                    module.reset_parameters()
