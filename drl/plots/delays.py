"""Figures of a population that codes reward delays: cue responses against the delay and the discount fitted
(Masset et al. 2025), the delays decoded from them, and the joint map of delay and magnitude (Sousa et al. 2025).
Each reads the responses form, a run's or a recording's, and draws the truth when the form carries it."""

from __future__ import annotations

import numpy as np

from drl import decode
from drl.plots._common import (
    new_figure,
    parameter_colorbar,
    parameter_colors,
    save_figure,
    styled,
    value_colors,
)
from drl.responses.run import as_form, model_task, opened, trial_type_to_read, trial_types_with_delay


@styled
def value_vs_delay(run, trial_types=None, color_by: str = "gamma", learned_fraction: float = 0.5, save=None):
    """Masset-style figure: each neuron's cue response against the reward delay, and the fitted discount.

    Left, the cue response (per unit of expected reward) against reward delay for each predictor, with its fitted
    exponential ``A·γ̂^delay`` (:func:`drl.decode.cue_responses`); right, the fitted γ̂ against the true γ (a
    recording: a histogram of γ̂). With a mixed-τ population γ̂ can mislead: an optimistic predictor's cue response
    is its τ-expectile of the reward, not the mean, and where the expectile changes with the delay's distribution
    the fit takes that for discounting. The figure says so when τ varies; fit one τ level at a time to separate
    them.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) with ``rpe`` recorded, or a recording's responses form.
    trial_types : list of str, optional
        The cues read (default: every trial type with one reward event).
    color_by : {"gamma", "tau", "lam", "alpha_pos", "alpha_neg"}
        The predictor parameter that colours the lines.
    learned_fraction : float
        The last fraction of the recorded trials read as learned (0 < f ≤ 1).
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels.

    Raises
    ------
    ValueError
        Fewer than two distinct delays, an unknown trial type or ``color_by``.

    See Also
    --------
    drl.decode.cue_responses : the numbers drawn.
    timing : the delays these responses decode to.

    Examples
    --------
    >>> import numpy as np
    >>> import drl
    >>> from drl import plots
    >>> run = drl.simulate("masset_multi_delay", drl.Population.grid(gamma=list(np.linspace(0.5, 0.99, 8)),
    ...                    alpha=0.1, lam=0.9), 800, seed=0, progress=False)
    >>> fig = plots.value_vs_delay(run)
    >>> [ax.get_xlabel() for ax in fig.axes[:2]]
    ['reward delay after the cue (s)', 'true γ (per s)']
    """
    cue = decode.cue_responses(run, trial_types, learned_fraction=learned_fraction)
    known = "gamma" in cue.coords  # the truth, when the responses are a model's: its γ
    if known:
        colors, mappable = parameter_colors(cue, color_by)
    else:
        colors, mappable = value_colors(cue["gamma_hat"].values)
    fig, axes = new_figure(2, panel_size=(4.4, 3.4))
    delays = cue["delay"].values
    smooth = np.linspace(0, delays.max() * 1.05, 100)
    for p in range(cue["gamma_hat"].size):
        axes[0].plot(delays, cue["response"].values[p], "o", color=colors[p], ms=4)
        fit = cue["amplitude"].values[p] * cue["gamma_hat"].values[p] ** smooth
        axes[0].plot(smooth, fit, "-", color=colors[p], lw=1)
    what = "cue RPE / expected reward" if known else "cue response (per unit expected reward)"
    axes[0].set(xlabel="reward delay after the cue (s)", ylabel=what, title="cue response ('o') and exponential fit")
    if not known:  # no true γ to draw against: the fitted γ̂ as a histogram
        axes[1].hist(cue["gamma_hat"].values, bins=min(20, max(5, cue["gamma_hat"].size // 3)), color="tab:blue",
                     alpha=0.7)
        axes[1].set(xlabel="fitted γ̂ (per s)", ylabel="neurons", title="discount fit")
        fig.colorbar(mappable, ax=axes).set_label("fitted γ̂ (per s)")
        weighting = "inverse-variance weighted" if cue.attrs["weighting"] != "none" else "unweighted"
        fig.suptitle(f"{cue.attrs['task_name']}: {cue['gamma_hat'].size} neurons, {delays.size} delays "
                     f"({weighting} fit)")
        save_figure(fig, save)
        return fig
    gamma = cue["gamma"].values
    axes[1].scatter(gamma, cue["gamma_hat"].values, c=colors, s=30, edgecolors="k", linewidths=0.5, zorder=3)
    lims = [min(gamma.min(), np.nanmin(cue["gamma_hat"].values)) - 0.02, 1.0]
    axes[1].plot(lims, lims, "--", color="0.5", lw=1)
    axes[1].set(xlabel="true γ (per s)", ylabel="fitted γ̂ (per s)", xlim=lims, ylim=lims, title="discount fit")
    parameter_colorbar(fig, mappable, color_by, cue, ax=axes)
    mixed = np.unique(cue["tau"].values).size > 1
    note = "\nτ varies: γ̂ mixes discounting with optimism (see the docstring)" if mixed else ""
    fig.suptitle(f"{cue.attrs['task_name']}: {cue['gamma_hat'].size} predictors, {cue.sizes['trial_type']} "
                 f"delays{note}")
    save_figure(fig, save)
    return fig


@styled
def timing(run, trial_types=None, times=None, ridge: float = 1e-6, learned_fraction: float = 0.5, save=None):
    """The reward delays decoded from the γ population's cue responses, one panel per trial type.

    Each panel draws :func:`drl.decode.decode_reward_timing` of one cue with the true reward times marked. Default
    ``times``: the decoder's own default (:func:`drl.decode.default_delay_grid` of every reward delay: 0.5 s bins
    to 10 s or 1.25 × the latest delay), so the figure shows the very decode ``decode_reward_timing`` returns.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) with ``rpe`` recorded, or a recording's responses form (each trial type
        with a delay gets a panel).
    trial_types : list of str, optional
        The cues drawn (default: every trial type with a reward delay).
    times : array_like, optional
        The delays decoded on (s).
    ridge : float or "gcv"
        The relative ridge of the decode.
    learned_fraction : float
        The last fraction of the recorded trials read as learned (0 < f ≤ 1).
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per trial type.

    Raises
    ------
    ValueError
        No cue with a delay, an unknown trial type.

    See Also
    --------
    drl.decode.decode_reward_timing : the decode drawn.

    Examples
    --------
    >>> import numpy as np
    >>> import drl
    >>> from drl import plots
    >>> run = drl.simulate("masset_multi_delay", drl.Population.grid(gamma=list(np.linspace(0.5, 0.99, 8)),
    ...                    alpha=0.1, lam=0.9), 800, seed=0, progress=False)
    >>> fig = plots.timing(run)
    >>> len([ax for ax in fig.axes if ax.get_visible()])  # the task's four cues
    4
    """
    run = opened(run)  # a path is loaded once, here
    names = list(trial_types) if trial_types is not None else trial_types_with_delay(run)
    if not names:
        raise ValueError("no trial type with a reward to decode the timing of")
    form = as_form(run, cue_types=names, learned_fraction=learned_fraction)
    fig, axes = new_figure(len(names), ncols=min(len(names), 4), panel_size=(3.4, 2.8))
    for ax, name in zip(axes, names, strict=True):
        decoded = decode.decode_reward_timing(form, name, times=times, ridge=ridge, learned_fraction=learned_fraction)
        delay = decoded["delay"].values
        width = np.diff(delay).min() if delay.size > 1 else 1.0
        ax.bar(delay, decoded["probability"].values, width=0.9 * width, color="tab:blue", alpha=0.7,
               label="decoded")
        for i, true_delay in enumerate(decoded.attrs["true_delays"]):
            ax.axvline(true_delay, color="k", ls="--", lw=1, label="true" if i == 0 else None)
        ax.set(xlabel="reward delay after the cue (s)", ylabel="probability", title=name)
    axes[0].legend(frameon=False)
    if "gamma" in form.coords:  # the true discounts, when the responses are a model's
        source = f"{np.unique(form['gamma'].values).size} γ values"
    else:
        source = f"{form.sizes['neuron'] - decoded.attrs['left_out']} neurons' fitted γ̂"
    fig.suptitle(f"{form.attrs['task_name']}: timing decoded from {source} (ridge {ridge:g})")
    save_figure(fig, save)
    return fig


@styled
def joint_map(run, trial_type: str | None = None, times=None, magnitudes=None, ridge: float = 1e-6, save=None,
              cue_response=None):
    """Sousa-style map: the decoded joint distribution of reward delay and magnitude, with its marginals.

    A heat map of :func:`drl.decode.decode_joint` of one cue of a τ × γ population, its time marginal above and
    its magnitude marginal beside it, with the truth marked when the task is known.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run of a τ × γ population (Dataset, path or name), or a recording's responses form (then pass
        ``cue_response``; see :func:`drl.decode.decode_joint`).
    trial_type : str, optional
        The cue (default: the first trial type).
    times : array_like, optional
        The delays decoded on (s).
    magnitudes : array_like, optional
        The magnitude grid (reward units).
    ridge : float
        The relative ridge of the timing decodes.
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png).
    cue_response : array_like, shape [neuron], optional
        A recording's cue responses, each divided by the neuron's gain·γ̂^delay.

    Returns
    -------
    matplotlib.figure.Figure
        The map and its two marginals.

    Raises
    ------
    ValueError
        Responses with neither a τ × γ grid nor ``cue_response``, an unknown trial type.

    See Also
    --------
    drl.decode.decode_joint : the decode drawn.

    Examples
    --------
    >>> import numpy as np
    >>> import drl
    >>> from drl import plots
    >>> run = drl.simulate("sousa_2025", drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=list(np.linspace(0.6, 0.97, 8)),
    ...                    alpha=0.1, lam=0.9), 1500, seed=0, progress=False)
    >>> fig = plots.joint_map(run, "variable")
    >>> len(fig.axes) >= 3
    True
    """
    run = opened(run)  # a path is loaded once, here
    trial_type = trial_type_to_read(run, trial_type)
    form = as_form(run, cue_types=[trial_type] if trial_type is not None else "one reward")
    units = form.attrs.get("units", "reward units")
    joint = decode.decode_joint(form, trial_type, times=times, magnitudes=magnitudes, ridge=ridge,
                                cue_response=cue_response)
    trial_type = joint.attrs["trial_type"]
    fig, axes = new_figure(3, panel_size=(3.9, 3.2))
    delay, magnitude = joint["delay"].values, joint["magnitude"].values
    image = axes[0].pcolormesh(delay, magnitude, joint["joint"].values.T, cmap="magma", shading="nearest")
    axes[0].set(xlabel="reward delay after the cue (s)", ylabel=f"reward magnitude ({units})",
                title="decoded joint map")
    fig.colorbar(image, ax=axes[0]).set_label("probability per bin")
    task = model_task(form)  # the truth, when the responses are a model's
    if task is None:
        true_delays, true = joint.attrs["true_delays"], None
    else:
        spec = task.trial_types[task.trial_type_index(trial_type)]
        true_delays = [event.time for event in spec.rewards]
        true = task.reward_distribution(trial_type) if spec.rewards else None
    axes[1].plot(delay, joint["time_marginal"].values, "-o", ms=3, label="decoded")
    for i, true_delay in enumerate(true_delays):
        axes[1].axvline(true_delay, color="k", ls="--", lw=1, label="true" if i == 0 else None)
    axes[1].set(xlabel="reward delay after the cue (s)", ylabel="probability", title="time marginal")
    axes[1].legend(frameon=False)
    axes[2].plot(magnitude, joint["magnitude_marginal"].values, "-", label="decoded")
    if true is not None:
        bin_width = magnitude[1] - magnitude[0]
        axes[2].vlines(true.values, 0, true.probabilities * joint["magnitude_marginal"].values.max()
                       / true.probabilities.max(), color="k", lw=2, label="true (scaled)")
        axes[2].set_xlim(magnitude[0] - bin_width, magnitude[-1] + bin_width)
    axes[2].set(xlabel=f"reward magnitude ({units})", ylabel="probability per bin", title="magnitude marginal")
    axes[2].legend(frameon=False, loc="best")
    if "tau_level" in joint.dims:  # a model's τ × γ grid
        fig.suptitle(f"{form.attrs['task_name']}: {trial_type}, {joint.sizes['tau_level']} τ levels × "
                     f"{np.unique(form['gamma'].values).size} γ values")
    else:
        fig.suptitle(f"{form.attrs['task_name']}: {trial_type}, {form.sizes['neuron']} neurons (time × magnitude)")
    save_figure(fig, save)
    return fig
