"""Precoded SPICE RNNs."""

from __future__ import annotations

import torch

from drl.spice.compiled import sequence_logits
from drl.spice.config import SpiceConfig
from drl.spice.modules import RNNModule
from drl.spice.rnn import BaseRNN

__all__ = ["FORGETTING_CONFIG", "LEARNING_RATE_RNN_CONFIG", "RESCORLA_WAGNER_CONFIG",
           "WEINHARDT_2024_CONFIG", "ForgettingRNN", "LearningRateRNN", "RescorlaWagnerRNN", "Weinhardt2024RNN"]


#: the memory states of the compiled wiring, in its order (a model without one starts it at 0 and ignores it)
_STATES = ("x_value_reward", "x_value_choice", "x_learning_rate_reward")


class _Precoded(BaseRNN):
    """What the precoded models share: training through the compiled trial loop (:mod:`drl.spice.compiled`).

    ``compiled`` (default True; set it False on an instance to step through :meth:`BaseRNN.call_module` in
    torch): the forward pass runs as one compiled node when the model is the precoded wiring on the CPU, not
    recording and not using distilled equations, without dropout in training and without a ``prev_state`` that
    needs gradients; otherwise the torch path, which computes the same logits.
    """

    compiled = True
    #: (learning-rate module with hard-coded RPE, learned unchosen value, choice values): the compiled wiring
    _wiring: tuple[bool, bool, bool]
    #: {learned module: its inputs besides the state and the participant embedding}
    _learned: dict[str, int]

    def _embedding(self, participant_id):
        return None

    def _betas(self, embedding):
        """(β of the values, β of the choice values), scalars or [B, 1]."""
        return torch.ones(()), torch.zeros(())

    def _use_compiled(self, prev_state) -> bool:
        if not self.compiled or self.recording or self.use_sindy or self.device.type != "cpu":
            return False
        if prev_state is not None and any(torch.is_tensor(v) and v.requires_grad for v in prev_state.values()):
            return False
        embedding = self.embedding_size if getattr(self, "participant_embedding", None) is not None else 0
        if set(self.submodules_rnn) != set(self._learned) or any(
                type(m) is not RNNModule or m.input_size != self._learned[k] + embedding
                or (self.training and m.dropout.p > 0) for k, m in self.submodules_rnn.items()):
            return False
        return self.submodules_eq == ({"x_value_reward_chosen": _rpe} if self._wiring[0] else {})

    def _compiled_forward(self, inputs, ids) -> torch.Tensor:
        """Logits [T, B, A] of the compiled trial loop; the final state goes to ``self.state``."""
        actions, rewards, _, _ = inputs
        embedding = self._embedding(ids[0][:, 0])
        beta_v, beta_q = self._betas(embedding)
        state = self.state
        batch = actions.shape[1]
        initial = tuple(state[k].float() if k in state else torch.zeros(batch, self.n_actions)
                        for k in _STATES)
        logits, final = sequence_logits(dict(self.submodules_rnn), actions, rewards, initial, beta_v.reshape(-1),
                                        beta_q.reshape(-1), embedding, self._wiring)
        for k, value in zip(_STATES, final, strict=True):
            if k in state:
                self.state[k] = value
        return logits


class RescorlaWagnerRNN(_Precoded):
    """The Rescorla-Wagner discovery network: a learned module updates the chosen arm's value from the reward.

    Unchosen values are kept. The logits are the values themselves, so the learned values carry the inverse
    temperature (a distilled ``x[k+1] = a·x[k] + b·c_reward[k]`` has ``a ≈ 1 − α``, ``b ≈ β·α``).

    Parameters
    ----------
    n_actions : int
        Arms.
    **kwargs
        Further arguments of :class:`BaseRNN` (``hidden_size``, ``dropout``, ``n_participants``,
        ``embedding_size``, ``device``).

    See Also
    --------
    RESCORLA_WAGNER_CONFIG : its distillation config.

    Examples
    --------
    >>> from drl import spice
    >>> list(spice.RescorlaWagnerRNN().submodules_rnn)
    ['x_value_reward_chosen']
    """

    init_values = {"x_value_reward": 0.5}
    _wiring = (False, False, False)
    _learned = {"x_value_reward_chosen": 1}

    def __init__(self, n_actions: int = 2, **kwargs):
        super().__init__(n_actions=n_actions, **kwargs)
        self.submodules_rnn["x_value_reward_chosen"] = self.setup_module(input_size=1)

    def forward(self, inputs, prev_state=None, batch_first=False):
        inputs, ids, _, _ = self.init_forward_pass(inputs, prev_state, batch_first)
        if self._use_compiled(prev_state):
            return self.post_forward_pass(self._compiled_forward(inputs, ids), batch_first), self.get_state()
        steps = []  # stacked once at the end: one autograd node instead of one slice copy per trial
        actions, rewards, _, _ = inputs
        for action, reward in zip(actions, rewards, strict=True):
            self.record_signal("c_action", action)
            self.record_signal("c_reward", reward)
            self.record_signal("x_value_reward_chosen", self.state["x_value_reward"])
            chosen = self.call_module("x_value_reward_chosen", "x_value_reward", action=action, inputs=reward)
            self.state["x_value_reward"] = chosen + self.state["x_value_reward"] * (1 - action)
            steps.append(self.state["x_value_reward"])
        return self.post_forward_pass(torch.stack(steps), batch_first), self.get_state()


class ForgettingRNN(_Precoded):
    """Rescorla-Wagner with forgetting: learned modules for the chosen value and for the unchosen values.

    The chosen arm's value is updated from the reward; the unchosen values have a module with no inputs (decay
    toward a resting value).

    Parameters
    ----------
    n_actions : int
        Arms.
    **kwargs
        Further arguments of :class:`BaseRNN` (``hidden_size``, ``dropout``, ``n_participants``,
        ``embedding_size``, ``device``).

    See Also
    --------
    FORGETTING_CONFIG : its distillation config.

    Examples
    --------
    >>> from drl import spice
    >>> sorted(spice.ForgettingRNN().submodules_rnn)
    ['x_value_reward_chosen', 'x_value_reward_not_chosen']
    """

    init_values = {"x_value_reward": 0.5}
    _wiring = (False, True, False)
    _learned = {"x_value_reward_chosen": 1, "x_value_reward_not_chosen": 0}

    def __init__(self, n_actions: int = 2, **kwargs):
        super().__init__(n_actions=n_actions, **kwargs)
        self.submodules_rnn["x_value_reward_chosen"] = self.setup_module(input_size=1)
        self.submodules_rnn["x_value_reward_not_chosen"] = self.setup_module(input_size=0)

    def forward(self, inputs, prev_state=None, batch_first=False):
        inputs, ids, _, _ = self.init_forward_pass(inputs, prev_state, batch_first)
        if self._use_compiled(prev_state):
            return self.post_forward_pass(self._compiled_forward(inputs, ids), batch_first), self.get_state()
        steps = []  # stacked once at the end: one autograd node instead of one slice copy per trial
        actions, rewards, _, _ = inputs
        for action, reward in zip(actions, rewards, strict=True):
            self.record_signal("c_action", action)
            self.record_signal("c_reward", reward)
            self.record_signal("x_value_reward_chosen", self.state["x_value_reward"])
            self.record_signal("x_value_reward_not_chosen", self.state["x_value_reward"])
            chosen = self.call_module("x_value_reward_chosen", "x_value_reward", action=action, inputs=reward)
            not_chosen = self.call_module("x_value_reward_not_chosen", "x_value_reward", action=1 - action)
            self.state["x_value_reward"] = chosen + not_chosen
            steps.append(self.state["x_value_reward"])
        return self.post_forward_pass(torch.stack(steps), batch_first), self.get_state()


def _rpe(value, inputs):
    """The reward-prediction-error update with a given learning rate: v + α·(r − v), inputs = (r, α, …)."""
    return value + inputs[..., 1] * (inputs[..., 0] - value)


class LearningRateRNN(_Precoded):
    """A network whose learning rate is the learned mechanism.

    The reward-prediction error is hard-coded; the learning rate is a learned module of the reward and the current
    value (sigmoid: in (0, 1)); unchosen values have a learned module; a learned β scales the values.

    Parameters
    ----------
    n_actions : int
        Arms.
    **kwargs
        Further arguments of :class:`BaseRNN` (``hidden_size``, ``dropout``, ``n_participants``,
        ``embedding_size``, ``device``).

    See Also
    --------
    LEARNING_RATE_RNN_CONFIG : its distillation config.

    Examples
    --------
    >>> from drl import spice
    >>> sorted(spice.LearningRateRNN().submodules_rnn)
    ['x_learning_rate_reward', 'x_value_reward_not_chosen']
    """

    init_values = {"x_value_reward": 0.5, "x_learning_rate_reward": 0.0}
    _wiring = (True, True, False)
    _learned = {"x_learning_rate_reward": 2, "x_value_reward_not_chosen": 0}

    def _betas(self, embedding):
        return self.betas["x_value_reward"](), torch.zeros(())

    def __init__(self, n_actions: int = 2, **kwargs):
        super().__init__(n_actions=n_actions, **kwargs)
        self.submodules_rnn["x_learning_rate_reward"] = self.setup_module(input_size=2)
        self.submodules_rnn["x_value_reward_not_chosen"] = self.setup_module(input_size=0)
        self.submodules_eq["x_value_reward_chosen"] = _rpe
        self.betas["x_value_reward"] = self.setup_constant()

    def forward(self, inputs, prev_state=None, batch_first=False):
        inputs, ids, _, _ = self.init_forward_pass(inputs, prev_state, batch_first)
        if self._use_compiled(prev_state):
            return self.post_forward_pass(self._compiled_forward(inputs, ids), batch_first), self.get_state()
        steps = []  # stacked once at the end: one autograd node instead of one slice copy per trial
        actions, rewards, _, _ = inputs
        for action, reward in zip(actions, rewards, strict=True):
            self.record_signal("c_action", action)
            self.record_signal("c_reward", reward)
            self.record_signal("c_value_reward", self.state["x_value_reward"])
            self.record_signal("x_value_reward_not_chosen", self.state["x_value_reward"])
            self.record_signal("x_learning_rate_reward", self.state["x_learning_rate_reward"])
            rate = self.call_module("x_learning_rate_reward", "x_learning_rate_reward", action=action,
                                    inputs=(reward, self.state["x_value_reward"]),
                                    activation_rnn=torch.sigmoid)
            chosen = self.call_module("x_value_reward_chosen", "x_value_reward", action=action, inputs=(reward, rate))
            not_chosen = self.call_module("x_value_reward_not_chosen", "x_value_reward", action=1 - action)
            self.state["x_learning_rate_reward"] = rate
            self.state["x_value_reward"] = chosen + not_chosen
            steps.append(self.state["x_value_reward"] * self.betas["x_value_reward"]())
        return self.post_forward_pass(torch.stack(steps), batch_first), self.get_state()


class Weinhardt2024RNN(_Precoded):
    """Weinhardt et al. (2024): LearningRateRNN plus choice perseverance and participant embeddings.

    Learned modules for the chosen and unchosen arms' perseverance values, and participant embeddings feeding every
    module and the per-participant β's.

    Parameters
    ----------
    n_actions : int
        Arms.
    n_participants : int
        Participants (each with an embedding).
    embedding_size : int
        Size of each embedding.
    **kwargs
        Further arguments of :class:`BaseRNN` (``hidden_size``, ``dropout``, ``device``).

    See Also
    --------
    WEINHARDT_2024_CONFIG : its distillation config.

    Examples
    --------
    >>> from drl import spice
    >>> network = spice.Weinhardt2024RNN(n_participants=3)
    >>> "x_value_choice_chosen" in network.submodules_rnn
    True
    """

    init_values = {"x_value_reward": 0.5, "x_value_choice": 0.0, "x_learning_rate_reward": 0.0}
    _wiring = (True, True, True)
    _learned = {"x_learning_rate_reward": 2, "x_value_reward_not_chosen": 0, "x_value_choice_chosen": 0,
                "x_value_choice_not_chosen": 0}

    def _embedding(self, participant_id):
        return self.participant_embedding(participant_id)

    def _betas(self, embedding):
        return self.betas["x_value_reward"](embedding), self.betas["x_value_choice"](embedding)

    def __init__(self, n_actions: int = 2, n_participants: int = 1, embedding_size: int = 8, **kwargs):
        super().__init__(n_actions=n_actions, n_participants=n_participants, embedding_size=embedding_size,
                         **kwargs)
        e = self.embedding_size
        self.participant_embedding = self.setup_embedding(max(1, n_participants), e)
        self.betas["x_value_reward"] = self.setup_constant(embedding_size=e)
        self.betas["x_value_choice"] = self.setup_constant(embedding_size=e)
        self.submodules_rnn["x_learning_rate_reward"] = self.setup_module(input_size=2 + e)
        self.submodules_rnn["x_value_reward_not_chosen"] = self.setup_module(input_size=e)
        self.submodules_rnn["x_value_choice_chosen"] = self.setup_module(input_size=e)
        self.submodules_rnn["x_value_choice_not_chosen"] = self.setup_module(input_size=e)
        self.submodules_eq["x_value_reward_chosen"] = _rpe

    def forward(self, inputs, prev_state=None, batch_first=False):
        inputs, ids, _, _ = self.init_forward_pass(inputs, prev_state, batch_first)
        if self._use_compiled(prev_state):
            return self.post_forward_pass(self._compiled_forward(inputs, ids), batch_first), self.get_state()
        steps = []  # stacked once at the end: one autograd node instead of one slice copy per trial
        actions, rewards, _, _ = inputs
        participant_id, _ = ids
        embedding = self.participant_embedding(participant_id[:, 0])
        common = {"participant_embedding": embedding, "participant_index": participant_id}
        for action, reward in zip(actions, rewards, strict=True):
            self.record_signal("c_action", action)
            self.record_signal("c_reward", reward)
            self.record_signal("c_value_reward", self.state["x_value_reward"])
            self.record_signal("x_learning_rate_reward", self.state["x_learning_rate_reward"])
            self.record_signal("x_value_reward_not_chosen", self.state["x_value_reward"])
            self.record_signal("x_value_choice_chosen", self.state["x_value_choice"])
            self.record_signal("x_value_choice_not_chosen", self.state["x_value_choice"])
            rate = self.call_module("x_learning_rate_reward", "x_learning_rate_reward", action=action,
                                    inputs=(reward, self.state["x_value_reward"]), activation_rnn=torch.sigmoid,
                                    **common)
            reward_chosen = self.call_module("x_value_reward_chosen", "x_value_reward", action=action,
                                             inputs=(reward, rate), **common)
            reward_not_chosen = self.call_module("x_value_reward_not_chosen", "x_value_reward", action=1 - action,
                                                 **common)
            choice_chosen = self.call_module("x_value_choice_chosen", "x_value_choice", action=action,
                                             activation_rnn=torch.sigmoid, **common)
            choice_not_chosen = self.call_module("x_value_choice_not_chosen", "x_value_choice", action=1 - action,
                                                 activation_rnn=torch.sigmoid, **common)
            self.state["x_learning_rate_reward"] = rate
            self.state["x_value_reward"] = reward_chosen + reward_not_chosen
            self.state["x_value_choice"] = choice_chosen + choice_not_chosen
            steps.append(self.state["x_value_reward"] * self.betas["x_value_reward"](embedding)
                         + self.state["x_value_choice"] * self.betas["x_value_choice"](embedding))
        return self.post_forward_pass(torch.stack(steps), batch_first), self.get_state()


RESCORLA_WAGNER_CONFIG = SpiceConfig(
    rnn_modules=["x_value_reward_chosen"],
    control_parameters=["c_action", "c_reward"],
    library_setup={"x_value_reward_chosen": ["c_reward"]},
    filter_setup={"x_value_reward_chosen": ["c_action", 1, True]},
)

FORGETTING_CONFIG = SpiceConfig(
    rnn_modules=["x_value_reward_chosen", "x_value_reward_not_chosen"],
    control_parameters=["c_action", "c_reward"],
    library_setup={"x_value_reward_chosen": ["c_reward"], "x_value_reward_not_chosen": []},
    filter_setup={"x_value_reward_chosen": ["c_action", 1, True],
                  "x_value_reward_not_chosen": ["c_action", 0, True]},
)

LEARNING_RATE_RNN_CONFIG = SpiceConfig(
    rnn_modules=["x_learning_rate_reward", "x_value_reward_not_chosen"],
    control_parameters=["c_action", "c_reward", "c_value_reward"],
    library_setup={"x_learning_rate_reward": ["c_reward", "c_value_reward"], "x_value_reward_not_chosen": []},
    filter_setup={"x_learning_rate_reward": ["c_action", 1, True],
                  "x_value_reward_not_chosen": ["c_action", 0, True]},
)

WEINHARDT_2024_CONFIG = SpiceConfig(
    rnn_modules=["x_learning_rate_reward", "x_value_reward_not_chosen", "x_value_choice_chosen",
                 "x_value_choice_not_chosen"],
    control_parameters=["c_action", "c_reward", "c_value_reward"],
    library_setup={"x_learning_rate_reward": ["c_reward", "c_value_reward"], "x_value_reward_not_chosen": [],
                   "x_value_choice_chosen": [], "x_value_choice_not_chosen": []},
    filter_setup={"x_learning_rate_reward": ["c_action", 1, True],
                  "x_value_reward_not_chosen": ["c_action", 0, True],
                  "x_value_choice_chosen": ["c_action", 1, True],
                  "x_value_choice_not_chosen": ["c_action", 0, True]},
)
