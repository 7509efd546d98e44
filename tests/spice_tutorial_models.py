"""The SPICE tutorials' custom RNN classes (tutorials 001, 3 and 5), with only the imports changed to drl.spice.

Shared by the test files that train them; the tutorial test itself runs each tutorial's cells as written.
"""

import torch

from drl.spice import BaseRNN


class CustomRNN(BaseRNN):  # tutorial 001 (Rescorla-Wagner), verbatim apart from comments

    init_values = {
        'x_value_reward': 0.5,
    }

    def __init__(
        self,
        n_actions,
        **kwargs,
    ):
        super().__init__(n_actions=n_actions)
        self.submodules_rnn['x_value_reward_chosen'] = self.setup_module(input_size=1)

    def forward(self, inputs, prev_state=None, batch_first=False):
        inputs, ids, logits, timesteps = self.init_forward_pass(inputs, prev_state, batch_first)
        actions, rewards, _, _ = inputs

        for timestep, action, reward in zip(timesteps, actions, rewards):
            self.record_signal('c_action', action)
            self.record_signal('c_reward', reward)
            self.record_signal('x_value_reward_chosen', self.state['x_value_reward'])
            next_value_reward_chosen = self.call_module(
                key_module='x_value_reward_chosen',
                key_state='x_value_reward',
                action=action,
                inputs=reward,
                )
            next_value_reward_not_chosen = self.state['x_value_reward'] * (1-action)
            self.state['x_value_reward'] = next_value_reward_chosen + next_value_reward_not_chosen
            logits[timestep] = self.state['x_value_reward']

        logits = self.post_forward_pass(logits, batch_first)
        return logits, self.get_state()


class CustomLearningRateRNN(BaseRNN):  # tutorial 3 (hard-coded equation, module without inputs)

    init_values = {
            'x_value_reward': 0.5,
            'x_learning_rate_reward': 0,
    }

    def __init__(
        self,
        n_actions,
        **kwargs,
    ):
        super().__init__(n_actions=n_actions)
        self.submodules_rnn['x_learning_rate_reward'] = self.setup_module(input_size=2)
        self.submodules_rnn['x_value_reward_not_chosen'] = self.setup_module(input_size=0)
        self.submodules_eq['x_value_reward_chosen'] = lambda value, inputs: value + inputs[..., 1] * (inputs[..., 0] - value)
        self.betas['x_value_reward'] = self.setup_constant()

    def forward(self, inputs, prev_state=None, batch_first=False):
        inputs, ids, logits, timesteps = self.init_forward_pass(inputs, prev_state, batch_first)
        actions, rewards, _, _ = inputs

        for timestep, action, reward in zip(timesteps, actions, rewards):
            self.record_signal('c_action', action)
            self.record_signal('c_reward', reward)
            self.record_signal('c_value_reward', self.state['x_value_reward'])
            self.record_signal('x_value_reward_not_chosen', self.state['x_value_reward'])
            self.record_signal('x_learning_rate_reward', self.state['x_learning_rate_reward'])
            learning_rate_reward = self.call_module(
                key_module='x_learning_rate_reward',
                key_state='x_learning_rate_reward',
                action=action,
                inputs=(reward, self.state['x_value_reward']),
                activation_rnn=torch.nn.functional.sigmoid,
            )
            next_value_reward_chosen = self.call_module(
                key_module='x_value_reward_chosen',
                key_state='x_value_reward',
                action=action,
                inputs=(reward, learning_rate_reward),
                )
            next_value_reward_not_chosen = self.call_module(
                key_module='x_value_reward_not_chosen',
                key_state='x_value_reward',
                action=1-action,
                inputs=None,
                )
            self.state['x_learning_rate_reward'] = learning_rate_reward
            self.state['x_value_reward'] = next_value_reward_chosen + next_value_reward_not_chosen
            logits[timestep] = self.state['x_value_reward'] * self.betas['x_value_reward']()

        logits = self.post_forward_pass(logits, batch_first)
        return logits, self.get_state()


class WeinhardtRNN(BaseRNN):  # tutorial 5 (participant embeddings, choice perseverance)

    init_values = {
            'x_value_reward': 0.5,
            'x_value_choice': 0.,
            'x_learning_rate_reward': 0.,
        }

    def __init__(self, n_actions, n_participants, **kwargs):
        super().__init__(n_actions=n_actions, embedding_size=8)
        self.participant_embedding = self.setup_embedding(num_embeddings=n_participants, embedding_size=self.embedding_size)
        self.betas['x_value_reward'] = self.setup_constant(embedding_size=self.embedding_size)
        self.betas['x_value_choice'] = self.setup_constant(embedding_size=self.embedding_size)
        self.submodules_rnn['x_learning_rate_reward'] = self.setup_module(input_size=2+self.embedding_size)
        self.submodules_rnn['x_value_reward_not_chosen'] = self.setup_module(input_size=0+self.embedding_size)
        self.submodules_rnn['x_value_choice_chosen'] = self.setup_module(input_size=0+self.embedding_size)
        self.submodules_rnn['x_value_choice_not_chosen'] = self.setup_module(input_size=0+self.embedding_size)
        self.submodules_eq['x_value_reward_chosen'] = lambda value, inputs: value + inputs[..., 1] * (inputs[..., 0] - value)

    def forward(self, inputs, prev_state=None, batch_first=False):
        inputs, ids, logits, timesteps = self.init_forward_pass(inputs, prev_state, batch_first)
        actions, rewards, _, _ = inputs
        participant_id, _ = ids
        participant_embedding = self.participant_embedding(participant_id[:, 0].int())

        for timestep, action, reward in zip(timesteps, actions, rewards):
            learning_rate_reward = self.call_module(
                key_module='x_learning_rate_reward', key_state='x_learning_rate_reward', action=action,
                inputs=(reward, self.state['x_value_reward']), participant_embedding=participant_embedding,
                participant_index=participant_id, activation_rnn=torch.nn.functional.sigmoid)
            next_value_reward_chosen = self.call_module(
                key_module='x_value_reward_chosen', key_state='x_value_reward', action=action,
                inputs=(reward, learning_rate_reward), participant_embedding=participant_embedding,
                participant_index=participant_id)
            next_value_reward_not_chosen = self.call_module(
                key_module='x_value_reward_not_chosen', key_state='x_value_reward', action=1-action, inputs=None,
                participant_embedding=participant_embedding, participant_index=participant_id)
            next_value_choice_chosen = self.call_module(
                key_module='x_value_choice_chosen', key_state='x_value_choice', action=action, inputs=None,
                participant_embedding=participant_embedding, participant_index=participant_id,
                activation_rnn=torch.nn.functional.sigmoid)
            next_value_choice_not_chosen = self.call_module(
                key_module='x_value_choice_not_chosen', key_state='x_value_choice', action=1-action, inputs=None,
                participant_embedding=participant_embedding, participant_index=participant_id,
                activation_rnn=torch.nn.functional.sigmoid)
            self.state['x_learning_rate_reward'] = learning_rate_reward
            self.state['x_value_reward'] = next_value_reward_chosen + next_value_reward_not_chosen
            self.state['x_value_choice'] = next_value_choice_chosen + next_value_choice_not_chosen
            logits[timestep] = self.state['x_value_reward'] * self.betas['x_value_reward'](participant_embedding) + self.state['x_value_choice'] * self.betas['x_value_choice'](participant_embedding)

        logits = self.post_forward_pass(logits, batch_first)
        return logits, self.get_state()


# ---------------------------------------------------------------- helpers
