"""The SPICE tutorials (seeds 000-003), their code cells in order, with only the `spice...` import lines
replaced by `drl.spice` and the data sizes / epochs reduced (marked `# reduced`) so each runs in under a minute.
"""

import pytest

# ---- tutorial 001: Rescorla-Wagner (precoded, then the custom class; save and load)


@pytest.mark.slow
def test_tutorial_001_rescorla_wagner(capsys):
    import numpy as np
    import torch

    np.random.seed(42)
    torch.manual_seed(42)

    from drl.spice import BanditsDrift

    n_actions = 2
    sigma = 0.2

    environment = BanditsDrift(sigma=sigma, n_actions=n_actions)

    import numpy as np
    import matplotlib.pyplot as plt

    n_trials = 100
    reward_probabilities = np.zeros((n_trials, n_actions))

    for index_trials in range(n_trials):
        reward_probabilities[index_trials] = environment.reward_probs
        environment.step(choice=0)

    for index_action in range(n_actions):
        plt.plot(reward_probabilities[..., index_action], label=f'Option {index_action+1}')
    plt.legend()
    plt.xlabel(r'Trial $t$')
    plt.ylabel(r'$p(r)$')
    plt.close()

    from drl.spice import AgentQ, create_dataset

    agent = AgentQ(
        n_actions=n_actions,
        alpha_reward=0.3,
    )

    dataset, _, _ = create_dataset(agent=agent, environment=environment, n_trials=100, n_sessions=100)

    dataset.xs[..., -1] = 0

    from drl.spice import plot_session

    fig, axs = plot_session(agents = {'groundtruth': agent}, experiment=dataset.xs[0])
    plt.close(fig)

    print('Inputs (choice item 1 selected; choice item 2 selected; reward 1; reward 2; session id):')
    print(dataset.xs)
    print('Targets (next choice):')
    print(dataset.ys)

    from drl.spice import SpiceEstimator
    from drl.spice import RescorlaWagnerRNN, RESCOLA_WAGNER_CONFIG

    spice_estimator = SpiceEstimator(
        rnn_class=RescorlaWagnerRNN,
        spice_config=RESCOLA_WAGNER_CONFIG,
        learning_rate=1e-2,
        epochs=300,  # reduced
        verbose=False,
    )

    spice_estimator.fit(dataset.xs, dataset.ys)

    spice_estimator.print_spice_model()

    agents = {'groundtruth': agent, 'rnn': spice_estimator.rnn_agent, 'spice': spice_estimator.spice_agent}

    fig, axs = plot_session(agents, dataset.xs[0])
    plt.close(fig)

    from drl.spice import BaseRNN

    class CustomRNN(BaseRNN):

        init_values = {
            'x_value_reward': 0.5,
        }

        def __init__(
            self,
            n_actions,
            **kwargs,
        ):
            super(CustomRNN, self).__init__(n_actions=n_actions)
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

    from drl.spice import SpiceConfig

    custom_config = SpiceConfig(
        rnn_modules=['x_value_reward_chosen'],
        control_parameters=['c_action', 'c_reward'],
        library_setup={
            'x_value_reward_chosen': ['c_reward'],
        },
        filter_setup={
            'x_value_reward_chosen': ['c_action', 1, True],
        },
    )

    from drl.spice import SpiceEstimator

    custom_spice_estimator = SpiceEstimator(
        rnn_class=CustomRNN,
        spice_config=custom_config,
        learning_rate=1e-2,
        epochs=300,  # reduced
    )

    custom_spice_estimator.fit(dataset.xs, dataset.ys)
    custom_spice_estimator.print_spice_model()

    spice_estimator.save_spice(path_rnn='rnn_model.pkl', path_spice='spice_model.pkl')

    loaded_spice = SpiceEstimator(
        rnn_class=CustomRNN,
        spice_config=custom_config,
    )

    loaded_spice.load_spice(path_rnn='rnn_model.pkl', path_spice='spice_model.pkl')

    # What the tutorial says to expect: x[k+1] ≈ c + 0.7·x[k] + (β·0.3 ≈ 0.9)·c_reward[k].
    out = capsys.readouterr().out
    assert "(x_value_reward_chosen)[k+1] = " in out and "c_reward[k]" in out
    names, coefficients = spice_estimator.spice_agent.get_spice_features()[0]['x_value_reward_chosen']
    coefficient = dict(zip(names, coefficients))
    assert abs(coefficient['x_value_reward_chosen[k]'] - 0.7) < 0.08
    assert 0.6 < coefficient['c_reward[k]'] < 1.2
    p_loaded = loaded_spice.predict(dataset.xs[:3])
    p_saved = spice_estimator.predict(dataset.xs[:3])
    assert np.allclose(p_loaded[0], p_saved[0]) and np.allclose(p_loaded[1], p_saved[1])


# ---- tutorial 000 (quick start)


def test_tutorial_000_quick_start(capsys):
    from drl.spice import SpiceEstimator
    from drl.spice import RescorlaWagnerRNN, RESCOLA_WAGNER_CONFIG
    from drl.spice import BanditsDrift, AgentQ, create_dataset
    import numpy as np

    environment = BanditsDrift(
    sigma=0.2,
    n_actions=2
    )
    agent = AgentQ(
    n_actions=2,
    alpha_reward=0.6,
    alpha_penalty=0.6,
    forget_rate=0.3,
    )
    dataset, _, _ = create_dataset(
    agent=agent,
    environment=environment,
    n_trials=100,  # reduced
    n_sessions=64,  # reduced
    )
    spice_estimator = SpiceEstimator(
    rnn_class=RescorlaWagnerRNN,
    spice_config=RESCOLA_WAGNER_CONFIG,
    hidden_size=8,
    learning_rate=5e-3,
    epochs=16,
    verbose=True
    )
    spice_estimator.fit(dataset.xs, dataset.ys)
    features = spice_estimator.spice_agent.get_spice_features()
    for id, feat in features.items():
        print(f"\nAgent {id}:")
        for model_name, (feat_names, coeffs) in feat.items():
            print(f" {model_name}:")
            for name, coeff in zip(feat_names, coeffs):
                print(f" {name}: {coeff}")
    pred_rnn, pred_spice = spice_estimator.predict(dataset.xs)

    assert len(features) == 64  # one equation per participant (= session here)
    assert pred_rnn.shape == pred_spice.shape == (64, 99, 2)
    assert np.allclose(pred_spice.sum(-1), 1)


# ---- tutorial 3: hard-coded equations


@pytest.mark.slow
def test_tutorial_3_hardcoded_equations():
    import numpy as np
    import torch

    np.random.seed(42)
    torch.manual_seed(42)

    from drl.spice import BanditsDrift, AgentQ, create_dataset

    n_actions = 2
    sigma = 0.2

    environment = BanditsDrift(sigma=sigma, n_actions=n_actions)

    agent = AgentQ(
        n_actions=n_actions,
        alpha_reward=0.3,
        forget_rate=0.2,
    )

    n_trials = 100
    n_sessions = 100

    dataset, _, _ = create_dataset(
        agent=agent,
        environment=environment,
        n_trials=n_trials,
        n_sessions=n_sessions,
    )

    dataset.xs[..., -1] = 0

    from drl.spice import SpiceEstimator
    from drl.spice import LearningRateRNN, LEARNING_RATE_RNN_CONFIG

    spice_estimator = SpiceEstimator(
        rnn_class=LearningRateRNN,
        spice_config=LEARNING_RATE_RNN_CONFIG,
        learning_rate=1e-2,
        epochs=200,  # reduced
    )

    spice_estimator.fit(dataset.xs, dataset.ys)

    spice_estimator.print_spice_model()

    from drl.spice import plot_session
    import matplotlib.pyplot as plt

    agents = {'groundtruth': agent, 'rnn': spice_estimator.rnn_agent, 'spice': spice_estimator.spice_agent}

    fig, axs = plot_session(agents, dataset.xs[0])
    plt.close(fig)

    from drl.spice import BaseRNN
    from drl.spice import SpiceConfig

    CUSTOM_RNN_CONFIG = SpiceConfig(
        rnn_modules=['x_learning_rate_reward', 'x_value_reward_not_chosen'],
        control_parameters=['c_action', 'c_reward', 'c_value_reward'],
        library_setup={
            'x_learning_rate_reward': ['c_reward', 'c_value_reward'],
            'x_value_reward_not_chosen': [],
        },
        filter_setup={
            'x_learning_rate_reward': ['c_action', 1, True],
            'x_value_reward_not_chosen': ['c_action', 0, True],
        },
    )

    class CustomLearningRateRNN(BaseRNN):

        init_values = {
                'x_value_reward': 0.5,
                'x_learning_rate_reward': 0,
        }

        def __init__(
            self,
            n_actions,
            **kwargs,
        ):
            super(CustomLearningRateRNN, self).__init__(n_actions=n_actions)
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

    custom = SpiceEstimator(rnn_class=CustomLearningRateRNN, spice_config=CUSTOM_RNN_CONFIG, epochs=20)
    custom.fit(dataset.xs[:20], dataset.ys[:20])
    assert set(custom.distilled_[0]) == {'x_learning_rate_reward', 'x_value_reward_not_chosen'}
    not_chosen = spice_estimator.distilled_[0]['x_value_reward_not_chosen']
    # forgetting toward 0.5 at rate 0.2: x[k+1] = 0.8·x[k] + const
    assert abs(dict(zip(not_chosen.feature_names, not_chosen.coefficients))['x_value_reward_not_chosen[k]'] - 0.8) < 0.08


# ---- tutorial 5: Weinhardt et al. (2024)


@pytest.mark.slow
def test_tutorial_5_weinhardt2024():
    import numpy as np
    import torch

    np.random.seed(42)
    torch.manual_seed(42)

    from drl.spice import BanditsDrift, AgentQ, create_dataset
    from drl.spice import DatasetRNN

    n_actions = 2
    sigma = 0.2

    environment = BanditsDrift(sigma=sigma, n_actions=n_actions)

    agent = AgentQ(
        n_actions=n_actions,
        alpha_reward=0.3,
        forget_rate=0.2,
        beta_choice=1.,
        alpha_choice=1.,
    )

    n_trials = 100
    n_sessions = 100

    dataset, _, _ = create_dataset(
        agent=agent,
        environment=environment,
        n_trials=n_trials,
        n_sessions=n_sessions,
    )

    dataset.xs[..., -1] = 0

    from drl.spice import SpiceEstimator
    from drl.spice import Weinhardt2024RNN, WEINHARDT_2024_CONFIG

    spice_estimator = SpiceEstimator(
        rnn_class=Weinhardt2024RNN,
        spice_config=WEINHARDT_2024_CONFIG,
        learning_rate=1e-2,
        epochs=150,  # reduced
        n_participants=1,
    )

    spice_estimator.fit(dataset.xs, dataset.ys)

    spice_estimator.print_spice_model()

    from drl.spice import plot_session

    agents = {'groundtruth': agent, 'rnn': spice_estimator.rnn_agent, 'spice': spice_estimator.spice_agent}
    fig, axs = plot_session(agents, dataset.xs[0])

    assert len(axs) == 4 and len(axs[0].get_lines()) >= 3
    assert spice_estimator.get_participant_embeddings().shape == (1, 8)
    assert isinstance(dataset, DatasetRNN)
    assert spice_estimator.report_["nll_spice_test"] < np.log(2) - 0.05
