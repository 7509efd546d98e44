"""Population figures (beyond drl_sim): what the population encodes and what decoding gets back from it.

reward_response (Dabney et al. 2020, Figs 2-3), population_response (cue and reward RPE against τ and γ),
value_vs_delay (Masset et al. 2025), timing and joint_map (Sousa et al. 2025), distribution (any decode).
"""

from __future__ import annotations

import numpy as np

from drl import decode
from drl.plots._common import (
    PARAMETER_LABELS,
    new_figure,
    parameter_colors,
    resolve,
    save_figure,
    select_type,
    styled,
)
from drl.schema import learned_trials, run_task, step_index


@styled


def distribution(decoded: decode.DecodedDistribution, true=None, ax=None, save=None, label="decoded"):
    """A decoded distribution (density and samples) against the true one (stems; W1 in the legend)."""
    if ax is None:
        fig, (ax,) = new_figure(1)
    fig = ax.figure
    ax.fill_between(decoded.grid, decoded.density, color="tab:blue", alpha=0.3, lw=0)
    ax.plot(decoded.grid, decoded.density, color="tab:blue", lw=1.5, label=label)
    ax.plot(decoded.samples, np.full(decoded.samples.size, -0.02 * decoded.density.max()), "|", color="tab:blue",
            ms=6, alpha=0.6)
    if true is not None:
        w1 = decode.wasserstein(decoded, true)
        twin = ax.twinx()
        twin.vlines(true.values, 0, true.probabilities, color="k", lw=2)
        twin.plot(true.values, true.probabilities, "o", color="k", ms=4, label="true")
        twin.set_ylim(0, 1.15 * true.probabilities.max())
        twin.set_ylabel("true probability")
        ax.plot([], [], "o-", color="k", ms=4, label=f"true (W1 = {w1:.2f})")
    ax.set(xlabel="reward (reward units)", ylabel="decoded density (per reward unit)")
    ax.set_ylim(bottom=-0.05 * decoded.density.max())
    ax.legend(frameon=False, loc="upper right")
    save_figure(fig, save)
    return fig


@styled


def reward_response(run, trial_type: str | None = None, color_by: str = "tau", learned_fraction: float = 0.5,
                    save=None):
    """Dabney-style figure: the response to each reward magnitude per predictor, with its reversal point;
    reversal points against τ (and the true expectiles); the distribution decoded from them against the truth.
    """
    ds = resolve(run, needs=("rpe", "reward"))
    _, trial_type = select_type(ds, trial_type)
    responses = decode.reward_responses(ds, trial_type, learned_fraction=learned_fraction)
    task = run_task(ds)
    true = task.reward_distribution(trial_type)
    colors, mappable = parameter_colors(ds, color_by)
    fig, axes = new_figure(3, panel_size=(4.3, 3.4))
    magnitudes = responses["magnitude"].values
    for p in range(responses.sizes["predictor"]):
        axes[0].plot(magnitudes, responses["response"].values[p], "-", color=colors[p], lw=1.2)
        axes[0].plot(responses["reversal_point"].values[p], 0, "o", color=colors[p], ms=5, mec="k", mew=0.5)
    axes[0].axhline(0, color="0.6", lw=0.8)
    axes[0].set(xlabel="reward magnitude (reward units)", ylabel="scaled RPE α±·δ at the reward",
                title="response ('o': reversal point)")
    tau = responses["tau"].values
    axes[1].scatter(tau, responses["reversal_point"].values, c=colors, s=30, edgecolors="k", linewidths=0.5,
                    zorder=3, label="reversal point")
    levels = np.linspace(0.01, 0.99, 99)
    axes[1].plot(levels, decode.expectiles(true, levels), "--", color="0.3", lw=1, label="true expectile")
    axes[1].set(xlabel=PARAMETER_LABELS["tau"], ylabel="reversal point (reward units)", title="reversal points")
    axes[1].legend(frameon=False, loc="upper left")
    decoded = decode.decode_run_distribution(ds, responses=responses)
    distribution(decoded, true, ax=axes[2])
    axes[2].set_title("decoded from reversal points")
    fig.colorbar(mappable, ax=axes[:2]).set_label(PARAMETER_LABELS[color_by])
    fig.suptitle(f"{ds.attrs['task_name']}: {trial_type}, {responses.sizes['predictor']} predictors")
    save_figure(fig, save)
    return fig


@styled


def population_response(run, trial_type: str | None = None, learned_fraction: float = 0.5, save=None):
    """RPE at the cue and at the reward of each predictor after learning, against τ (coloured by γ) and against
    γ (coloured by τ): a 2 × 2 grid of scatter plots."""
    ds = resolve(run, needs=("rpe",))
    sub, trial_type = select_type(ds, trial_type)
    task = run_task(ds)
    spec = task.trial_types[task.trial_type_index(trial_type)]
    if not spec.rewards:
        raise ValueError(f"trial type {trial_type!r} has no reward; population_response needs one")
    late = learned_trials(ds, trial_type, learned_fraction)
    t = late["time"].values
    k_cue = step_index(late, spec.cue_time, "cue")
    k_rew = step_index(late, spec.cue_time + spec.rewards[0].time, "reward")
    at = {"cue": late["rpe"].isel(time=k_cue).mean("trial").values,
          "reward": late["rpe"].isel(time=k_rew).mean("trial").values}
    fig, axes = new_figure(4, ncols=2, panel_size=(4.2, 3.1))
    for row, (where, rpe) in enumerate(at.items()):
        for col, (x_name, c_name) in enumerate((("tau", "gamma"), ("gamma", "tau"))):
            ax = axes[2 * row + col]
            colors, mappable = parameter_colors(sub, c_name)
            ax.scatter(sub[x_name].values, rpe, c=colors, s=28, edgecolors="k", linewidths=0.4)
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set(xlabel=PARAMETER_LABELS[x_name], ylabel=f"RPE at the {where} (reward units)")
            fig.colorbar(mappable, ax=ax).set_label(PARAMETER_LABELS[c_name])
    fig.suptitle(f"{ds.attrs['task_name']}: {trial_type}, last {late.sizes['trial']} trials\n"
                 f"(cue at {t[k_cue]:g} s, reward at {t[k_rew]:g} s)")
    save_figure(fig, save)
    return fig


@styled


def value_vs_delay(run, trial_types=None, color_by: str = "gamma", learned_fraction: float = 0.5, save=None):
    """Masset-style figure: cue response (per unit of expected reward) against reward delay for each predictor,
    with its fitted exponential ``A·γ̂^delay``; and the fitted γ̂ against the true γ."""
    ds = resolve(run, needs=("rpe",))
    cue = decode.cue_responses(ds, trial_types, learned_fraction=learned_fraction)
    colors, mappable = parameter_colors(ds, color_by)
    fig, axes = new_figure(2, panel_size=(4.4, 3.4))
    delays = cue["delay"].values
    smooth = np.linspace(0, delays.max() * 1.05, 100)
    for p in range(cue.sizes["predictor"]):
        axes[0].plot(delays, cue["response"].values[p], "o", color=colors[p], ms=4)
        fit = cue["amplitude"].values[p] * cue["gamma_hat"].values[p] ** smooth
        axes[0].plot(smooth, fit, "-", color=colors[p], lw=1)
    axes[0].set(xlabel="reward delay after the cue (s)", ylabel="cue RPE / expected reward",
                title="cue response ('o') and exponential fit")
    gamma = cue["gamma"].values
    axes[1].scatter(gamma, cue["gamma_hat"].values, c=colors, s=30, edgecolors="k", linewidths=0.5, zorder=3)
    lims = [min(gamma.min(), np.nanmin(cue["gamma_hat"].values)) - 0.02, 1.0]
    axes[1].plot(lims, lims, "--", color="0.5", lw=1)
    axes[1].set(xlabel="true γ (per s)", ylabel="fitted γ̂ (per s)", xlim=lims, ylim=lims, title="discount fit")
    fig.colorbar(mappable, ax=axes).set_label(PARAMETER_LABELS[color_by])
    fig.suptitle(f"{ds.attrs['task_name']}: {cue.sizes['predictor']} predictors, {cue.sizes['trial_type']} delays")
    save_figure(fig, save)
    return fig


@styled


def timing(run, trial_types=None, times=None, ridge: float = 1e-6, learned_fraction: float = 0.5, save=None):
    """The delay distribution decoded from the γ population's cue responses, one panel per trial type, with the
    true reward times marked."""
    ds = resolve(run, needs=("rpe",))
    task = run_task(ds)
    names = list(trial_types) if trial_types is not None else [t.name for t in task.trial_types if t.rewards]
    if not names:
        raise ValueError("no trial type with a reward to decode the timing of")
    gamma = ds["gamma"].values
    fig, axes = new_figure(len(names), ncols=min(len(names), 4), panel_size=(3.4, 2.8))
    for ax, name in zip(axes, names, strict=True):
        values = decode.cue_values(ds, name, learned_fraction=learned_fraction)
        decoded = decode.decode_timing(gamma, values, times, ridge=ridge)
        delay = decoded["delay"].values
        width = np.diff(delay).min() if delay.size > 1 else 1.0
        ax.bar(delay, decoded["probability"].values, width=0.9 * width, color="tab:blue", alpha=0.7,
               label="decoded")
        spec = task.trial_types[task.trial_type_index(name)]
        for i, event in enumerate(spec.rewards):
            ax.axvline(event.time, color="k", ls="--", lw=1, label="true" if i == 0 else None)
        ax.set(xlabel="reward delay after the cue (s)", ylabel="probability", title=name)
    axes[0].legend(frameon=False)
    fig.suptitle(f"{ds.attrs['task_name']}: timing decoded from {np.unique(gamma).size} γ values (ridge {ridge:g})")
    save_figure(fig, save)
    return fig


@styled


def joint_map(run, trial_type: str | None = None, times=None, magnitudes=None, ridge: float = 1e-6, save=None):
    """Sousa-style map: decoded P(delay, magnitude) from a τ × γ population as a heat map, with its marginals."""
    ds = resolve(run, needs=("rpe",))
    _, trial_type = select_type(ds, trial_type)
    joint = decode.decode_joint(ds, trial_type, times=times, magnitudes=magnitudes, ridge=ridge)
    fig, axes = new_figure(3, panel_size=(3.9, 3.2))
    delay, magnitude = joint["delay"].values, joint["magnitude"].values
    image = axes[0].pcolormesh(delay, magnitude, joint["joint"].values.T, cmap="magma", shading="nearest")
    axes[0].set(xlabel="reward delay after the cue (s)", ylabel="reward magnitude (reward units)",
                title="decoded joint map")
    fig.colorbar(image, ax=axes[0]).set_label("probability per bin")
    task = run_task(ds)
    spec = task.trial_types[task.trial_type_index(trial_type)]
    axes[1].plot(delay, joint["time_marginal"].values, "-o", ms=3, label="decoded")
    for i, event in enumerate(spec.rewards):
        axes[1].axvline(event.time, color="k", ls="--", lw=1, label="true" if i == 0 else None)
    axes[1].set(xlabel="reward delay after the cue (s)", ylabel="probability", title="time marginal")
    axes[1].legend(frameon=False)
    axes[2].plot(magnitude, joint["magnitude_marginal"].values, "-", label="decoded")
    if spec.rewards:
        true = task.reward_distribution(trial_type)
        bin_width = magnitude[1] - magnitude[0]
        axes[2].vlines(true.values, 0, true.probabilities * joint["magnitude_marginal"].values.max()
                       / true.probabilities.max(), color="k", lw=2, label="true (scaled)")
        axes[2].set_xlim(magnitude[0] - bin_width, magnitude[-1] + bin_width)
    axes[2].set(xlabel="reward magnitude (reward units)", ylabel="probability per bin", title="magnitude marginal")
    axes[2].legend(frameon=False, loc="best")
    fig.suptitle(f"{ds.attrs['task_name']}: {trial_type}, {joint.sizes['tau_level']} τ levels × "
                 f"{np.unique(ds['gamma'].values).size} γ values")
    save_figure(fig, save)
    return fig
