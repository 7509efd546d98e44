"""SPICE models playing as agents, one trial at a time: the trained RNN (``AgentNetwork``) or its distilled
equations (``SpiceAgent``), for ``plot_session`` and simulations."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["AgentNetwork"]


class AgentNetwork:
    """A trained BaseRNN playing as an agent, one trial at a time (``use_sindy``: its distilled equations).

    ``new_sess(participant_id=0)``, ``get_choice_probs()``, ``update(choice, reward)``; state for plots:
    ``x_value_reward``, ``x_value_choice``, ``x_learning_rate_reward`` (zeros when the model lacks one).
    """

    def __init__(self, model, use_sindy: bool = False):
        if not isinstance(model, torch.nn.Module) or not hasattr(model, "n_actions") \
                or not hasattr(model, "submodules_rnn"):
            raise TypeError(f"AgentNetwork plays a trained drl.spice model (a BaseRNN, e.g. SpiceEstimator.model_); "
                            f"got {type(model).__name__}")
        self.model, self.use_sindy = model, use_sindy
        self.n_actions = model.n_actions
        self.new_sess()

    def new_sess(self, participant_id: int = 0, **_) -> None:
        self.participant_id = int(participant_id)
        self._state = None
        self._logits = np.zeros(self.n_actions)
        self._values = {k: np.full(self.n_actions, float(v)) for k, v in self.model.init_values.items()}

    def get_choice_probs(self) -> np.ndarray:
        p = np.exp(self._logits - self._logits.max())
        return p / p.sum()

    def update(self, choice: int, reward) -> None:
        x = np.zeros((1, 1, 2 * self.n_actions + 1), dtype=np.float32)
        x[0, 0, choice] = 1
        x[0, 0, self.n_actions:2 * self.n_actions] = reward
        x[0, 0, -1] = self.participant_id
        with self.model.sindy(self.use_sindy):
            logits, state = self.model(torch.as_tensor(x), prev_state=self._state, batch_first=True)
        self._state = {k: v.detach() for k, v in state.items()}
        self._logits = logits[0, -1].numpy().astype(np.float64)
        self._values = {k: v[0].numpy().astype(np.float64) for k, v in self._state.items()}

    def _value(self, name):
        return self._values.get(name, np.zeros(self.n_actions)).copy()

    @property
    def x_value_reward(self):
        return self._value("x_value_reward")

    @property
    def x_value_choice(self):
        return self._value("x_value_choice")

    @property
    def x_learning_rate_reward(self):
        return self._value("x_learning_rate_reward")


class SpiceAgent(AgentNetwork):
    def __init__(self, estimator):
        super().__init__(estimator.model_, use_sindy=True)
        self._estimator = estimator

    def get_spice_features(self) -> dict:
        """{participant: {module: (feature names, coefficients)}} of the distilled equations."""
        return {pid: {m: (list(eq.feature_names), eq.coefficients.copy()) for m, eq in modules.items()}
                for pid, modules in self._estimator.distilled_.items()}
