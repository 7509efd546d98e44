"""Precoded SPICE RNNs."""

from __future__ import annotations

from drl.spice.rnn import BaseRNN

__all__ = ["RescorlaWagnerRNN"]


class RescorlaWagnerRNN(BaseRNN):
    """The Rescorla-Wagner discovery RNN: a learned module updates the chosen arm's reward value from the
    reward; unchosen values are kept. The logits are the values themselves, so the learned values carry the
    inverse temperature (a distilled ``x[k+1] = a·x[k] + b·c_reward[k]`` has ``a ≈ 1 − α``, ``b ≈ β·α``)."""

    init_values = {"x_value_reward": 0.5}

    def __init__(self, n_actions: int = 2, **kwargs):
        super().__init__(n_actions=n_actions, **kwargs)
        self.submodules_rnn["x_value_reward_chosen"] = self.setup_module(input_size=1)

    def forward(self, inputs, prev_state=None, batch_first=False):
        inputs, ids, logits, timesteps = self.init_forward_pass(inputs, prev_state, batch_first)
        actions, rewards, _, _ = inputs
        for timestep, action, reward in zip(timesteps, actions, rewards, strict=True):
            self.record_signal("c_action", action)
            self.record_signal("c_reward", reward)
            self.record_signal("x_value_reward_chosen", self.state["x_value_reward"])
            chosen = self.call_module("x_value_reward_chosen", "x_value_reward", action=action, inputs=reward)
            self.state["x_value_reward"] = chosen + self.state["x_value_reward"] * (1 - action)
            logits[timestep] = self.state["x_value_reward"]
        return self.post_forward_pass(logits, batch_first), self.get_state()
