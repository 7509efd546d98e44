"""Agents that play the bandits one trial at a time: the synthetic Q-learning participant (``AgentQ``), a trained
SPICE network (``AgentNetwork``) or its distilled equations (``SpiceAgent``), for ``create_dataset``,
``plot_session`` and simulations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from drl._validate import in_range
from drl.spice.bandits import n_actions_of, random_source

__all__ = ["AgentNetwork", "AgentQ"]


class AgentNetwork:
    """A trained SPICE network playing as an agent, one trial at a time.

    ``new_sess(participant_id=0)`` starts a session, ``get_choice_probs()`` gives the next choice's probabilities
    and ``update(choice, reward)`` learns from a trial; its state is readable for plots (``x_value_reward``,
    ``x_value_choice``, ``x_learning_rate_reward``; zeros when the model lacks one). ``SpiceEstimator.rnn_agent``
    makes one.

    Parameters
    ----------
    model : BaseRNN
        The trained network.
    use_sindy : bool
        Play with its distilled equations instead of its learned modules.

    See Also
    --------
    plot_session : draws agents playing one session.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> estimator = spice.SpiceEstimator(spice.RescorlaWagnerRNN, spice.RESCORLA_WAGNER_CONFIG, epochs=64)
    >>> estimator = estimator.fit(dataset.xs, dataset.ys)
    >>> player = spice.AgentNetwork(estimator.model_)
    >>> player.new_sess(participant_id=0)
    >>> player.update(0, [1.0, -1.0])  # arm 0 chosen and rewarded; arm 1 not shown
    >>> probabilities = player.get_choice_probs()
    >>> bool(probabilities[0] > 0.5), float(probabilities.sum())
    (True, 1.0)
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


_RATES = ("alpha_reward", "alpha_penalty", "alpha_choice", "forget_rate", "alpha_counterfactual_reward",
          "alpha_counterfactual_penalty")


_BETAS = ("beta_reward", "beta_choice")


@dataclass
class _Params:
    beta_reward: float
    alpha_reward: float
    alpha_penalty: float
    forget_rate: float
    beta_choice: float
    alpha_choice: float
    alpha_counterfactual_reward: float
    alpha_counterfactual_penalty: float


class AgentQ:
    """A Q-learning participant for the bandits (the SPICE tutorials' synthetic agent).

    Choice: ``p = softmax(beta_reward·Q_reward + beta_choice·Q_choice)`` over arms. After choosing ``c`` and seeing
    rewards ``r`` (per arm, −1 where not shown):

    * chosen arm: ``Q_reward[c] += α·(r[c] − Q_reward[c])`` with ``α = alpha_reward`` if ``r[c] > 0.5`` else
      ``alpha_penalty``;
    * unchosen arms with a shown outcome (counterfactual tasks): the same rule with
      ``alpha_counterfactual_reward`` / ``alpha_counterfactual_penalty``;
    * unchosen arms without one: forgetting toward the initial value, ``Q_reward[a] += forget_rate·(0.5 −
      Q_reward[a])``;
    * choice perseverance for every arm: ``Q_choice += alpha_choice·(onehot(c) − Q_choice)``.

    A session starts from ``Q_reward = 0.5``, ``Q_choice = 0``. State for plotting: ``x_value_reward``,
    ``x_value_choice``, ``x_learning_rate_reward`` [n_actions].

    Parameters
    ----------
    n_actions : int
        Arms.
    beta_reward : float
        Inverse temperature of the reward values (≥ 0).
    alpha_reward : float
        Learning rate after a reward, in [0, 1].
    alpha_penalty : float, optional
        Learning rate after no reward (None: ``alpha_reward``).
    forget_rate : float
        Forgetting of unchosen, unshown arms, in [0, 1].
    beta_choice : float
        Weight of choice perseverance.
    alpha_choice : float
        Learning rate of the perseverance values, in [0, 1].
    alpha_counterfactual_reward, alpha_counterfactual_penalty : float
        Learning rates of shown, unchosen arms.
    parameter_variance : float or dict
        With > 0 (one standard deviation for all, or one per parameter), ``new_sess`` draws each parameter from a
        normal around its mean, clipped to its range (rates [0, 1], betas ≥ 0).
    deterministic : bool
        Choose the most probable arm instead of sampling.
    rng : numpy.random.Generator or int, optional
        The random source (a seed, or a generator; default: fresh entropy).

    Raises
    ------
    ValueError
        A parameter out of its range.

    See Also
    --------
    create_dataset : lets it play bandits.
    fit_q_learning : fits this model to choices.

    Examples
    --------
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.5, beta_reward=3.0, rng=0)
    >>> agent.update(0, [1.0, -1.0])  # arm 0 paid
    >>> agent.x_value_reward.tolist()
    [0.75, 0.5]
    >>> bool(agent.get_choice_probs()[0] > 0.5)
    True
    """

    Q_INIT = 0.5

    def __init__(self, n_actions: int = 2, beta_reward: float = 3.0, alpha_reward: float = 0.2,
                 alpha_penalty: float | None = None, forget_rate: float = 0.0, beta_choice: float = 0.0,
                 alpha_choice: float = 0.0, alpha_counterfactual_reward: float = 0.0,
                 alpha_counterfactual_penalty: float = 0.0, parameter_variance=0.0, deterministic: bool = False,
                 rng=None):
        self.n_actions = n_actions_of(n_actions)
        mean = _Params(
            beta_reward=in_range("beta_reward", beta_reward, 0, np.inf),
            alpha_reward=in_range("alpha_reward", alpha_reward, 0, 1),
            alpha_penalty=in_range("alpha_penalty", alpha_reward if alpha_penalty is None or alpha_penalty < 0
                                   else alpha_penalty, 0, 1),
            forget_rate=in_range("forget_rate", forget_rate, 0, 1),
            beta_choice=in_range("beta_choice", beta_choice, 0, np.inf),
            alpha_choice=in_range("alpha_choice", alpha_choice, 0, 1),
            alpha_counterfactual_reward=in_range("alpha_counterfactual_reward", alpha_counterfactual_reward, 0, 1),
            alpha_counterfactual_penalty=in_range("alpha_counterfactual_penalty", alpha_counterfactual_penalty, 0,
                                                  1),
        )
        self.mean_params = mean
        names = list(mean.__dataclass_fields__)
        if isinstance(parameter_variance, dict):
            unknown = sorted(set(parameter_variance) - set(names))
            if unknown:
                raise ValueError(f"unknown parameter(s) in parameter_variance: {unknown}; valid: {names}")
            self.parameter_variance = {n: in_range(f"parameter_variance[{n!r}]", parameter_variance.get(n, 0.0), 0,
                                                   np.inf) for n in names}
        else:
            self.parameter_variance = {n: in_range("parameter_variance", parameter_variance, 0, np.inf)
                                       for n in names}
        self.deterministic = bool(deterministic)
        self.rng = random_source(rng)
        self.params = mean
        self.new_sess()

    def new_sess(self, sample_parameters: bool = True, **_) -> None:
        """Start a session: reset the values; redraw the parameters when ``parameter_variance`` > 0."""
        if sample_parameters and any(v > 0 for v in self.parameter_variance.values()):
            drawn = {}
            for name, m in vars(self.mean_params).items():
                sd = self.parameter_variance[name]
                value = m + self.rng.normal(0, sd) if sd > 0 else m
                drawn[name] = float(np.clip(value, 0, 1 if name in _RATES else np.inf))
            self.params = _Params(**drawn)
        self.state = {
            "x_value_reward": np.full(self.n_actions, self.Q_INIT),
            "x_value_choice": np.zeros(self.n_actions),
            "x_learning_rate_reward": np.zeros(self.n_actions),
        }

    @property
    def x_value_reward(self) -> np.ndarray:
        return self.state["x_value_reward"].copy()

    @property
    def x_value_choice(self) -> np.ndarray:
        return self.state["x_value_choice"].copy()

    @property
    def x_learning_rate_reward(self) -> np.ndarray:
        return self.state["x_learning_rate_reward"].copy()

    @property
    def q(self) -> np.ndarray:
        """The decision variable ``beta_reward·Q_reward + beta_choice·Q_choice`` (logits)."""
        return self.params.beta_reward * self.state["x_value_reward"] + self.params.beta_choice * self.state[
            "x_value_choice"]

    def get_choice_probs(self) -> np.ndarray:
        logits = self.q - self.q.max()
        p = np.exp(logits)
        return p / p.sum()

    def get_choice(self) -> int:
        p = self.get_choice_probs()
        return int(np.argmax(p)) if self.deterministic else int(self.rng.choice(self.n_actions, p=p))

    def update(self, choice: int, reward) -> None:
        """Learn from choosing ``choice`` and seeing ``reward`` (per arm, −1 where not shown)."""
        reward = np.asarray(reward, dtype=np.float64)
        if reward.shape != (self.n_actions,):
            raise ValueError(f"reward must have one entry per arm ({self.n_actions}); got shape {reward.shape}")
        p = self.params
        q = self.state["x_value_reward"]
        chosen = np.arange(self.n_actions) == choice
        shown = reward >= 0
        rate = np.where(chosen, np.where(reward > 0.5, p.alpha_reward, p.alpha_penalty),
                        np.where(reward > 0.5, p.alpha_counterfactual_reward, p.alpha_counterfactual_penalty))
        rate = np.where(shown, rate, 0.0)
        learned = q + rate * (reward - q)
        forgotten = q + p.forget_rate * (self.Q_INIT - q)
        self.state["x_value_reward"] = np.where(chosen | shown, learned, forgotten)
        self.state["x_value_choice"] = self.state["x_value_choice"] + p.alpha_choice * (
            chosen.astype(np.float64) - self.state["x_value_choice"])
        self.state["x_learning_rate_reward"] = rate
