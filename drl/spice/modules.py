"""The learned pieces of a SPICE network: one mechanism's gated update, and a learnable scale (an inverse
temperature), per participant when embedded."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: Limits on a SPICE model's sizes: each arm is an input, each participant an embedding row, and the modules are
#: small by design (SPICE's default hidden size is 8)
MAX_ACTIONS = 1024
MAX_PARTICIPANTS = 1_000_000
MAX_HIDDEN = 4096

MAX_ACTIONS = 1024
MAX_PARTICIPANTS = 1_000_000
MAX_HIDDEN = 4096

__all__ = ["MAX_ACTIONS", "MAX_HIDDEN", "MAX_PARTICIPANTS", "Constant", "RNNModule"]


class RNNModule(nn.Module):
    """One mechanism: maps the current value and the inputs of every action to its next value.

    A gated update, ``v' = (1 − z)·v + z·n``, with gate ``z = σ(w_z·h + b_z)`` and target ``n = w_n·h + b_n`` read
    from a hidden layer ``h = tanh(W [v, inputs] + b)``: a Rescorla-Wagner update is exactly representable (z = α,
    n = r). Works with no inputs besides the value (``input_size=0``). Shapes: value [B, A], inputs
    [B, A, input_size] → [B, A].

    Parameters
    ----------
    input_size : int
        Inputs besides the value (≥ 0).
    hidden_size : int
        Hidden units.
    dropout : float
        Dropout on the hidden layer, in [0, 1).

    Raises
    ------
    ValueError
        A size out of range.

    See Also
    --------
    BaseRNN.setup_module : adds one to a network.

    Examples
    --------
    >>> import torch
    >>> from drl import spice
    >>> module = spice.RNNModule(input_size=1)
    >>> tuple(module(torch.zeros(4, 2), torch.ones(4, 2, 1)).shape)
    (4, 2)
    """

    def __init__(self, input_size: int, hidden_size: int = 8, dropout: float = 0.0):
        super().__init__()
        if not isinstance(input_size, int) or input_size < 0:
            raise ValueError(f"input_size must be an integer ≥ 0; got {input_size!r}")
        self.input_size = input_size
        self.hidden = nn.Linear(input_size + 1, hidden_size)
        self.head = nn.Linear(hidden_size, 2)  # [gate logit, target] in one matmul
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.hidden.reset_parameters()
        self.head.reset_parameters()
        with torch.no_grad():
            self.head.weight[0].normal_(0.0, 0.1)
            self.head.bias[0] = -1.0  # start as a slow update (z ≈ 0.27), not a copy of the target

    def forward(self, value: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[-1] != self.input_size:
            raise ValueError(f"this module takes {self.input_size} input(s) besides the value; got "
                             f"{inputs.shape[-1]}")
        h = self.dropout(torch.tanh(self.hidden(torch.cat([value.unsqueeze(-1), inputs], dim=-1))))
        gate, target = self.head(h).unbind(-1)
        # v + z·(n − v) = (1 − z)·v + z·n; few autograd nodes per step is what makes training fast
        return torch.addcmul(value, torch.sigmoid(gate), target - value)


class Constant(nn.Module):
    """A learnable scalar: an inverse temperature β, or one per participant from its embedding.

    ``forward()`` gives a scalar tensor; ``forward(embedding [B, E])`` gives [B, 1]. The value is ``softplus`` of a
    free parameter (of a linear map of the embedding), as in the original SPICE: an inverse temperature below zero
    would let a module learn mirror-image values with β < 0 (the product fits as well, the signs mean nothing).

    Parameters
    ----------
    embedding_size : int, optional
        The participant embedding's size (None: one value for all).
    init : float
        The initial value.
    non_negative : bool
        Keep it ≥ 0 (softplus); False gives the raw parameter, for a scaling constant that may change sign.

    Raises
    ------
    ValueError
        ``init`` negative with ``non_negative``.

    See Also
    --------
    BaseRNN.setup_constant : adds one to a network.

    Examples
    --------
    >>> from drl import spice
    >>> round(float(spice.Constant(init=3.0)()), 4)
    3.0
    """

    def __init__(self, embedding_size: int | None = None, init: float = 1.0, non_negative: bool = True):
        super().__init__()
        if non_negative and not init > 0:
            raise ValueError(f"init of a non-negative constant must be > 0; got {init}")
        self.embedding_size = embedding_size
        self.init = float(init)
        self.non_negative = bool(non_negative)
        if embedding_size:
            self.linear = nn.Linear(embedding_size, 1)
        else:
            self.value = nn.Parameter(torch.tensor(self._raw(self.init)))
        self.reset_parameters()

    def _raw(self, value: float) -> float:
        """The free parameter giving ``value``: softplus⁻¹(v) = v + log(1 − e^−v) for a non-negative constant."""
        return float(value + np.log(-np.expm1(-value))) if self.non_negative else float(value)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            if self.embedding_size:
                nn.init.zeros_(self.linear.weight)
                nn.init.constant_(self.linear.bias, self._raw(self.init))
            else:
                self.value.fill_(self._raw(self.init))

    def forward(self, embedding: torch.Tensor | None = None) -> torch.Tensor:
        if self.embedding_size:
            if embedding is None:
                raise ValueError("this constant depends on the participant: call it with the participant embedding")
            raw = self.linear(embedding)
        else:
            raw = self.value
        return nn.functional.softplus(raw) if self.non_negative else raw
