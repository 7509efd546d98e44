"""plot_session: what several agents believe and choose over one session of the same choices and rewards."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_session"]

_SIGNALS = (("choice probability", None), ("reward value", "x_value_reward"),
            ("choice value", "x_value_choice"), ("learning rate α", "x_learning_rate_reward"))
_STYLES = {"groundtruth": dict(color="k", lw=2.2, ls="-"), "rnn": dict(color="tab:orange", lw=1.6, ls="--"),
           "spice": dict(color="tab:blue", lw=1.6, ls=":")}


def _replay(agent, experiment: np.ndarray, n_actions: int):
    """Feed the session's choices and rewards to ``agent``; returns each signal [T, A] before each trial."""
    if hasattr(agent, "new_sess"):
        try:
            agent.new_sess(sample_parameters=False, participant_id=int(experiment[0, -1]))
        except TypeError:
            agent.new_sess()
    out = {name: [] for name, _ in _SIGNALS}
    for row in experiment:
        out["choice probability"].append(agent.get_choice_probs())
        for name, attr in _SIGNALS[1:]:
            out[name].append(np.asarray(getattr(agent, attr, np.zeros(n_actions)), dtype=float).reshape(n_actions))
        agent.update(int(np.argmax(row[:n_actions])), np.asarray(row[n_actions:2 * n_actions], dtype=float))
    return {k: np.array(v) for k, v in out.items()}


def plot_session(agents: dict, experiment, save=None):
    """Choice probability, reward value, choice value and learning rate of each agent over one session.

    Lines show arm 1 (a style per agent); ticks at the bottom of the first panel mark the trials where arm 1 was
    chosen, green when rewarded and red when not.

    Parameters
    ----------
    agents : dict of str to agent
        {label: agent} (e.g. ``{"groundtruth": agent, "rnn": est.rnn_agent, "spice": est.spice_agent}``); each
        needs ``new_sess``, ``get_choice_probs``, ``update(choice, reward)``.
    experiment : array_like, shape [trials, features]
        One session's inputs (e.g. ``dataset.xs[0]``).
    save : str or path, optional
        A name writes ``figs/<name>.png`` (see ``drl.plots``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axs : numpy.ndarray of matplotlib.axes.Axes
        The four panels.

    Raises
    ------
    TypeError
        An agent without the three methods.

    See Also
    --------
    SpiceEstimator.rnn_agent, SpiceEstimator.spice_agent : agents of a fit.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> fig, axs = spice.plot_session({"groundtruth": agent}, dataset.xs[0])
    >>> len(axs)
    4
    """
    from drl.plots._common import styled

    return styled(_plot_session)(agents, experiment, save)


def _plot_session(agents: dict, experiment, save=None):
    from drl.plots._common import new_figure, save_figure

    if not isinstance(agents, dict) or not agents:
        raise ValueError("agents must be a non-empty dict of label -> agent")
    experiment = np.asarray(experiment, dtype=float)
    if experiment.ndim != 2:
        raise ValueError(f"experiment must be one session [trials, features]; got shape {experiment.shape}")
    n_actions = next(iter(agents.values())).n_actions
    traces = {label: _replay(agent, experiment, n_actions) for label, agent in agents.items()}
    fig, axs = new_figure(len(_SIGNALS), ncols=1, panel_size=(8.0, 1.9))
    trials = np.arange(1, len(experiment) + 1)
    for ax, (name, _) in zip(axs, _SIGNALS, strict=True):
        for label, trace in traces.items():
            style = _STYLES.get(label, dict(lw=1.4))
            ax.plot(trials, trace[name][:, 0], label=label, **style)
        ax.set_ylabel(name)
    chosen = experiment[:, 0] > 0
    rewarded = experiment[:, n_actions] > 0.5
    axs[0].plot(trials[chosen & rewarded], np.full((chosen & rewarded).sum(), -0.05), "|", color="tab:green", ms=8)
    axs[0].plot(trials[chosen & ~rewarded], np.full((chosen & ~rewarded).sum(), -0.05), "|", color="tab:red", ms=8)
    axs[0].set_ylim(-0.1, 1.05)
    axs[0].set_ylabel("P(arm 1)")
    axs[0].legend(frameon=False, ncols=len(agents), loc="upper right")
    axs[-1].set_xlabel("trial")
    save_figure(fig, save)
    return fig, axs
