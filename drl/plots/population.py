"""Population figures (beyond drl_sim): what the population encodes and what decoding gets back from it.

reward_response (Dabney et al. 2020, Figs 2-3), population_response (cue and reward RPE against τ and γ),
value_vs_delay (Masset et al. 2025), timing and joint_map (Sousa et al. 2025), distribution (any decode).
"""

from __future__ import annotations

import numpy as np

from drl import decode
from drl.plots._common import (
    PARAMETER_LABELS,
    check_parameter,
    new_figure,
    parameter_colorbar,
    parameter_colors,
    resolve,
    save_figure,
    select_type,
    styled,
)
from drl.schema import learned_trials, reward_units, run_task, step_index


@styled
def distribution(decoded: decode.DecodedDistribution, true=None, ax=None, save=None, label="decoded",
                 units: str = "reward units"):
    """A decoded distribution (density and samples) against the true one (stems; W1 in the legend)."""
    if ax is None:
        fig, (ax,) = new_figure(1)
    fig = ax.figure
    w1 = decode.wasserstein(decoded, true) if true is not None else None
    ax.fill_between(decoded.grid, decoded.density, color="tab:blue", alpha=0.3, lw=0)
    ax.plot(decoded.grid, decoded.density, color="tab:blue", lw=1.5,
            label=label if w1 is None else f"{label} (W1 to the truth {w1:.2f} {units})")
    ax.plot(decoded.samples, np.full(decoded.samples.size, -0.02 * decoded.density.max()), "|", color="tab:blue",
            ms=6, alpha=0.6)
    if true is not None:
        twin = ax.twinx()
        twin.vlines(true.values, 0, true.probabilities, color="k", lw=2)
        twin.plot(true.values, true.probabilities, "o", color="k", ms=4)
        # headroom above the tallest stem and density for the legend, which then covers no data
        twin.set_ylim(0, 1.5 * true.probabilities.max())
        twin.set_ylabel("true probability")
        ax.plot([], [], "o-", color="k", ms=4, label="true")
    ax.set(xlabel=f"reward ({units})", ylabel=f"decoded density (per {units.removesuffix('s')})")
    ax.set_ylim(-0.05 * decoded.density.max(), 1.5 * decoded.density.max())
    ax.legend(frameon=False, loc="upper left", fontsize="small")
    save_figure(fig, save)
    return fig


@styled
def reward_response(run, trial_type: str | None = None, color_by: str = "tau", learned_fraction: float = 0.5,
                    save=None):
    """Dabney-style figure: the response to each reward magnitude per predictor, with its reversal point;
    reversal points against τ (and the true expectiles); the distribution decoded from them against the truth.
    Predictors that differ only in γ or λ respond alike at the reward (their points overlap): the title says so.
    """
    if decode.is_responses_form(run):
        return _recorded_reward_response(run, trial_type, save)
    ds = resolve(run, needs=("rpe", "reward"))
    units = reward_units(ds)
    _, trial_type = select_type(ds, trial_type)
    responses = decode.reward_responses(ds, trial_type, learned_fraction=learned_fraction)
    task = run_task(ds)
    true = task.reward_distribution(trial_type)
    colors, mappable = parameter_colors(ds, check_parameter(color_by))
    fig, axes = new_figure(3, panel_size=(4.3, 3.4))
    _response_panel(axes[0], responses, colors, units, "scaled RPE α±·δ at the reward")
    tau = responses["tau"].values
    axes[1].scatter(tau, responses["reversal_point"].values, c=colors, s=30, edgecolors="k", linewidths=0.5,
                    zorder=3, label="reversal point")
    levels = np.linspace(0.01, 0.99, 99)
    axes[1].plot(levels, decode.expectiles(true, levels), "--", color="0.3", lw=1, label="true expectile")
    axes[1].set(xlabel=PARAMETER_LABELS["tau"], ylabel=f"reversal point ({units})", title="reversal points")
    axes[1].legend(frameon=False, loc="upper left")
    decoded = decode.decode_run_distribution(ds, responses=responses)
    distribution(decoded, true, ax=axes[2], units=units)
    axes[2].set_title("decoded from reversal points")
    parameter_colorbar(fig, mappable, color_by, ds, ax=axes[:2])
    n_pred = responses.sizes["predictor"]
    distinct = len({(round(float(a), 12), round(float(b), 12))
                    for a, b in zip(ds["alpha_pos"].values, ds["alpha_neg"].values, strict=True)})
    shown = "" if distinct == n_pred else f" ({distinct} distinct α+/α−: those differing only in γ or λ overlap)"
    fig.suptitle(f"{ds.attrs['task_name']}: {trial_type}, {n_pred} predictors{shown}")
    save_figure(fig, save)
    return fig


def _response_panel(ax, responses, colors, units, ylabel):
    magnitudes = responses["magnitude"].values
    for p in range(responses.sizes["predictor"]):
        ax.plot(magnitudes, responses["response"].values[p], "-", color=colors[p], lw=1.2)
        ax.plot(responses["reversal_point"].values[p], 0, "o", color=colors[p], ms=5, mec="k", mew=0.5)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set(xlabel=f"reward magnitude ({units})", ylabel=ylabel, title="response ('o': reversal point)")


def _value_colors(values):
    """Colours of ``values`` (a quantity estimated from recordings, not a parameter) and the mappable for their
    colorbar."""
    import matplotlib as mpl

    mappable = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(np.nanmin(values), np.nanmax(values)),
                                     cmap="viridis")
    return mappable.to_rgba(np.nan_to_num(values, nan=float(np.nanmean(values)))), mappable


def _recorded_reward_response(form, trial_type, save):
    """reward_response for a recording: responses coloured by the estimated asymmetry τ̂, reversal points
    against τ̂, and the distribution decoded from them (no truth to compare with)."""
    responses = decode.reward_responses(form, trial_type)
    units = form.attrs.get("units", "reward units")
    tau_hat = responses["tau_hat"].values
    colors, mappable = _value_colors(tau_hat)
    fig, axes = new_figure(3, panel_size=(4.3, 3.4))
    _response_panel(axes[0], responses, colors, units, "recorded response")
    axes[1].scatter(tau_hat, responses["reversal_point"].values, c=colors, s=30, edgecolors="k", linewidths=0.5,
                    zorder=3)
    axes[1].set(xlabel="estimated asymmetry τ̂", ylabel=f"reversal point ({units})", title="reversal points")
    decoded = decode.decode_run_distribution(form, responses=responses)
    distribution(decoded, ax=axes[2], units=units)
    axes[2].set_title("decoded from reversal points and τ̂")
    fig.colorbar(mappable, ax=axes[:2]).set_label("estimated asymmetry τ̂")
    fig.suptitle(f"{form.attrs['task_name']}: {responses.attrs['trial_type'] or 'reward'}, "
                 f"{responses.sizes['predictor']} neurons")
    save_figure(fig, save)
    return fig


@styled
def population_response(run, trial_type: str | None = None, learned_fraction: float = 0.5, save=None):
    """RPE at the cue and at the reward of each predictor after learning, against τ (coloured by γ) and against
    γ (coloured by τ): a 2 × 2 grid of scatter plots."""
    ds = resolve(run, needs=("rpe",))
    units = reward_units(ds)
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
            x = sub[x_name].values
            ax.scatter(x, rpe, c=colors, s=28, edgecolors="k", linewidths=0.4)
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set(xlabel=PARAMETER_LABELS[x_name], ylabel=f"RPE at the {where} ({units})")
            _readable_limits(ax, x, rpe)
            if mappable is not None:
                fig.colorbar(mappable, ax=ax).set_label(PARAMETER_LABELS[c_name])
    fig.suptitle(f"{ds.attrs['task_name']}: {trial_type}, last {late.sizes['trial']} trials\n"
                 f"(cue at {t[k_cue]:g} s, reward at {t[k_rew]:g} s)")
    save_figure(fig, save)
    return fig


def _readable_limits(ax, x: np.ndarray, y: np.ndarray) -> None:
    """Axis limits that show a constant parameter as one column and float noise as a flat line (autoscaling
    would stretch 6e-7 of rounding over the whole axis)."""
    if np.ptp(x) == 0:
        ax.set_xlim(x[0] - 0.1 * max(abs(x[0]), 0.1), x[0] + 0.1 * max(abs(x[0]), 0.1))
    scale = max(float(np.max(np.abs(y))), 1e-12)
    if np.ptp(y) < 1e-4 * scale:
        centre = float(np.mean(y))
        ax.set_ylim(centre - 0.2 * scale - 1e-3, centre + 0.2 * scale + 1e-3)


@styled
def value_vs_delay(run, trial_types=None, color_by: str = "gamma", learned_fraction: float = 0.5, save=None):
    """Masset-style figure: cue response (per unit of expected reward) against reward delay for each predictor,
    with its fitted exponential ``A·γ̂^delay``; and the fitted γ̂ against the true γ.

    With a mixed-τ population γ̂ can mislead: an optimistic predictor's cue response is its τ-expectile of the
    reward, not the mean, and where the expectile changes with the delay's distribution the fit takes that for
    discounting. The figure says so when τ varies; fit one τ level at a time to separate them."""
    recorded = decode.is_responses_form(run)
    ds = run if recorded else resolve(run, needs=("rpe",))
    cue = decode.cue_responses(ds, trial_types, learned_fraction=learned_fraction)
    if recorded:
        colors, mappable = _value_colors(cue["gamma_hat"].values)
    else:
        colors, mappable = parameter_colors(ds, color_by)
    fig, axes = new_figure(2, panel_size=(4.4, 3.4))
    delays = cue["delay"].values
    smooth = np.linspace(0, delays.max() * 1.05, 100)
    for p in range(cue.sizes["predictor"]):
        axes[0].plot(delays, cue["response"].values[p], "o", color=colors[p], ms=4)
        fit = cue["amplitude"].values[p] * cue["gamma_hat"].values[p] ** smooth
        axes[0].plot(smooth, fit, "-", color=colors[p], lw=1)
    what = "cue response / fitted gain" if recorded else "cue RPE / expected reward"
    axes[0].set(xlabel="reward delay after the cue (s)", ylabel=what, title="cue response ('o') and exponential fit")
    if recorded:
        axes[1].hist(cue["gamma_hat"].values, bins=min(20, max(5, cue.sizes["predictor"] // 3)), color="tab:blue",
                     alpha=0.7)
        axes[1].set(xlabel="fitted γ̂ (per s)", ylabel="neurons", title="discount fit")
        fig.colorbar(mappable, ax=axes).set_label("fitted γ̂ (per s)")
        weighting = "inverse-variance weighted" if cue.attrs["weighting"] != "none" else "unweighted"
        fig.suptitle(f"{ds.attrs['task_name']}: {cue.sizes['predictor']} neurons, {delays.size} delays "
                     f"({weighting} fit)")
        save_figure(fig, save)
        return fig
    gamma = cue["gamma"].values
    axes[1].scatter(gamma, cue["gamma_hat"].values, c=colors, s=30, edgecolors="k", linewidths=0.5, zorder=3)
    lims = [min(gamma.min(), np.nanmin(cue["gamma_hat"].values)) - 0.02, 1.0]
    axes[1].plot(lims, lims, "--", color="0.5", lw=1)
    axes[1].set(xlabel="true γ (per s)", ylabel="fitted γ̂ (per s)", xlim=lims, ylim=lims, title="discount fit")
    parameter_colorbar(fig, mappable, color_by, ds, ax=axes)
    mixed = np.unique(ds["tau"].values).size > 1
    note = "\nτ varies: γ̂ mixes discounting with optimism (see the docstring)" if mixed else ""
    fig.suptitle(f"{ds.attrs['task_name']}: {cue.sizes['predictor']} predictors, {cue.sizes['trial_type']} "
                 f"delays{note}")
    save_figure(fig, save)
    return fig


@styled
def timing(run, trial_types=None, times=None, ridge: float = 1e-6, learned_fraction: float = 0.5, save=None):
    """The delay distribution decoded from the γ population's cue responses (:func:`drl.decode.decode_run_timing`),
    one panel per trial type, with the true reward times marked. Default ``times``: 0.5 s bins from 0 to 10 s or
    to 1.25 × the latest reward delay, whichever is later (Masset's 9.375 s no longer sits in the edge bin).
    ``run`` may be a recording in the responses form (each trial type with a delay gets a panel)."""
    recorded = decode.is_responses_form(run)
    ds = run if recorded else resolve(run, needs=("rpe",))
    if recorded:
        with_delay = np.isfinite(ds["delay"].values)
        names = list(trial_types) if trial_types is not None else list(dict.fromkeys(
            ds["trial_type"].values[with_delay]))
        latest = float(ds["delay"].values[with_delay].max()) if with_delay.any() else 0.0
    else:
        task = run_task(ds)
        names = list(trial_types) if trial_types is not None else [t.name for t in task.trial_types if t.rewards]
        latest = max((e.time for n in names for e in task.trial_types[task.trial_type_index(n)].rewards), default=0)
    if not names:
        raise ValueError("no trial type with a reward to decode the timing of")
    if times is None:  # every reward delay of these types inside the grid, with a margin of a quarter
        times = np.arange(0, max(10.0, 1.25 * latest) + 1e-9, 0.5)
    fig, axes = new_figure(len(names), ncols=min(len(names), 4), panel_size=(3.4, 2.8))
    for ax, name in zip(axes, names, strict=True):
        decoded = decode.decode_run_timing(ds, name, times=times, ridge=ridge, learned_fraction=learned_fraction)
        delay = decoded["delay"].values
        width = np.diff(delay).min() if delay.size > 1 else 1.0
        ax.bar(delay, decoded["probability"].values, width=0.9 * width, color="tab:blue", alpha=0.7,
               label="decoded")
        for i, true_delay in enumerate(decoded.attrs["true_delays"]):
            ax.axvline(true_delay, color="k", ls="--", lw=1, label="true" if i == 0 else None)
        ax.set(xlabel="reward delay after the cue (s)", ylabel="probability", title=name)
    axes[0].legend(frameon=False)
    if recorded:
        source = f"{ds.sizes['neuron'] - decoded.attrs['left_out']} neurons' fitted γ̂"
    else:
        source = f"{np.unique(ds['gamma'].values).size} γ values"
    fig.suptitle(f"{ds.attrs['task_name']}: timing decoded from {source} (ridge {ridge:g})")
    save_figure(fig, save)
    return fig


@styled
def joint_map(run, trial_type: str | None = None, times=None, magnitudes=None, ridge: float = 1e-6, save=None,
              cue_response=None):
    """Sousa-style map: decoded P(delay, magnitude) from a τ × γ population as a heat map, with its marginals.
    ``run`` may be a recording in the responses form; pass ``cue_response`` then (see
    :func:`drl.decode.decode_joint`)."""
    recorded = decode.is_responses_form(run)
    ds = run if recorded else resolve(run, needs=("rpe",))
    if recorded:
        units = ds.attrs.get("units", "reward units")
    else:
        units = reward_units(ds)
        _, trial_type = select_type(ds, trial_type)
    joint = decode.decode_joint(ds, trial_type, times=times, magnitudes=magnitudes, ridge=ridge,
                                cue_response=cue_response)
    trial_type = joint.attrs["trial_type"]
    fig, axes = new_figure(3, panel_size=(3.9, 3.2))
    delay, magnitude = joint["delay"].values, joint["magnitude"].values
    image = axes[0].pcolormesh(delay, magnitude, joint["joint"].values.T, cmap="magma", shading="nearest")
    axes[0].set(xlabel="reward delay after the cue (s)", ylabel=f"reward magnitude ({units})",
                title="decoded joint map")
    fig.colorbar(image, ax=axes[0]).set_label("probability per bin")
    if recorded:
        true_delays, true = joint.attrs["true_delays"], None
    else:
        task = run_task(ds)
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
    if recorded:
        fig.suptitle(f"{ds.attrs['task_name']}: {trial_type}, {ds.sizes['neuron']} neurons (time × magnitude)")
    else:
        fig.suptitle(f"{ds.attrs['task_name']}: {trial_type}, {joint.sizes['tau_level']} τ levels × "
                     f"{np.unique(ds['gamma'].values).size} γ values")
    save_figure(fig, save)
    return fig
