"""Population figures (beyond drl_sim): what the population encodes and what decoding gets back from it.

reward_response (Dabney et al. 2020, Figs 2-3) and population_response (cue and reward RPE against τ and γ); the
decoded distribution panel is :mod:`drl.plots.decoded`'s, the figures of reward delays :mod:`drl.plots.delays`'.
"""

from __future__ import annotations

import numpy as np

from drl import decode
from drl.diagnostics.cue_code import warn_if_cue_biased
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
    value_colors,
)
from drl.plots.decoded import distribution
from drl.responses.run import as_form, model_task, opened, trial_type_to_read
from drl.runs.reading import learned_trials, reward_units, run_task, step_index


@styled
def reward_response(run, trial_type: str | None = None, color_by: str = "tau", learned_fraction: float = 0.5,
                    save=None):
    """Dabney-style figure: each predictor's response against the reward, its reversal point against τ, and the
    distribution decoded from the reversal points against the truth.

    Predictors that differ only in γ or λ respond alike at the reward (their points overlap): the title says so.
    A recording (the responses form) is drawn from its neurons' responses, with their τ̂.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) with ``rpe`` and ``reward`` recorded, or a recording's responses form.
    trial_type : str, optional
        The trial type whose rewards are read (default: the first with two magnitudes or more).
    color_by : {"tau", "gamma", "lam", "alpha_pos", "alpha_neg"}
        The predictor parameter that colours the response lines.
    learned_fraction : float
        The last fraction of the recorded trials read as learned (0 < f ≤ 1).
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import drl
    >>> from drl import plots
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9],
    ...                    alpha=0.05), 2000, seed=0, progress=False)
    >>> fig = plots.reward_response(run)
    >>> len(fig.axes) >= 3
    True
    """
    run = opened(run)  # a path is loaded once, here
    trial_type = trial_type_to_read(run, trial_type)
    form = as_form(run, reward=True, reward_type=trial_type, learned_fraction=learned_fraction)
    responses = decode.reward_responses(form, trial_type)
    trial_type = responses.attrs.get("trial_type") or trial_type  # a form read without one: the type it chose
    task = model_task(form)  # the truth, when the responses are a model's
    units = form.attrs.get("units", "reward units")
    fig, axes = new_figure(3, panel_size=(4.3, 3.4))
    if task is not None:  # coloured by the parameter, reversal points against the true τ and expectiles
        colors, mappable = parameter_colors(responses, check_parameter(color_by))
        _response_panel(axes[0], responses, colors, units, "scaled RPE α±·δ at the reward")
        axes[1].scatter(responses["tau"].values, responses["reversal_point"].values, c=colors, s=30,
                        edgecolors="k", linewidths=0.5, zorder=3, label="reversal point")
        true = task.reward_distribution(trial_type)
        levels = np.linspace(0.01, 0.99, 99)
        axes[1].plot(levels, decode.expectiles(true, levels), "--", color="0.3", lw=1, label="true expectile")
        axes[1].set(xlabel=PARAMETER_LABELS["tau"], ylabel=f"reversal point ({units})", title="reversal points")
        axes[1].legend(frameon=False, loc="upper left")
    else:  # coloured by the estimated asymmetry τ̂, against which the reversal points are drawn
        true = None
        colors, mappable = value_colors(responses["tau_hat"].values)
        _response_panel(axes[0], responses, colors, units,
                        f"recorded response ({form.attrs.get('response_units', 'recorded units')})")
        axes[1].scatter(responses["tau_hat"].values, responses["reversal_point"].values, c=colors, s=30,
                        edgecolors="k", linewidths=0.5, zorder=3)
        axes[1].set(xlabel="estimated asymmetry τ̂", ylabel=f"reversal point ({units})", title="reversal points")
    decoded = decode.decode_reward_distribution(form, responses=responses)
    distribution(decoded, true, ax=axes[2], units=units)
    n_pred = responses["tau_hat"].size
    if task is not None:
        axes[2].set_title("decoded from reversal points")
        parameter_colorbar(fig, mappable, color_by, responses, ax=axes[:2])
        distinct = len({(round(float(a), 12), round(float(b), 12))
                        for a, b in zip(responses["alpha_pos"].values, responses["alpha_neg"].values, strict=True)})
        shown = "" if distinct == n_pred else f" ({distinct} distinct α+/α−: those differing only in γ or λ overlap)"
        fig.suptitle(f"{form.attrs['task_name']}: {trial_type}, {n_pred} predictors{shown}")
    else:
        axes[2].set_title("decoded from reversal points and τ̂")
        fig.colorbar(mappable, ax=axes[:2]).set_label("estimated asymmetry τ̂")
        fig.suptitle(f"{form.attrs['task_name']}: {responses.attrs['trial_type'] or 'reward'}, {n_pred} neurons")
    save_figure(fig, save)
    return fig


def hinge_curves(responses) -> tuple[np.ndarray, np.ndarray]:
    """The response each predictor's reversal point and slopes describe, as polylines to draw: x [P, 3] (lowest
    magnitude, reversal point, highest magnitude) and y [P, 3] = ``s+·(m − c)⁺ + s−·min(m − c, 0)``.

    This is what a (scaled) response is: two lines meeting at zero at the reversal point c. A chord between the
    measured magnitudes would bend at the magnitudes instead, and cross zero off c (with two outcomes, every
    chord crosses at the mean). A side with no magnitude on it (c outside the range) is not drawn (NaN).
    """
    on_axis = "axis" in responses.coords  # the estimator's axis (the magnitudes, or their utility)
    magnitudes = responses["axis"].values if on_axis else responses["magnitude"].values
    reversal = responses["reversal_point_axis" if on_axis else "reversal_point"].values
    lo, hi = float(magnitudes.min()), float(magnitudes.max())
    x = np.stack([np.full_like(reversal, lo), reversal, np.full_like(reversal, hi)], axis=1)
    slope_pos, slope_neg = responses["slope_pos"].values, responses["slope_neg"].values
    y = np.stack([slope_neg * (lo - reversal), np.zeros_like(reversal), slope_pos * (hi - reversal)], axis=1)
    x[:, 0] = np.where(reversal > lo, x[:, 0], np.nan)
    x[:, 2] = np.where(reversal < hi, x[:, 2], np.nan)
    return x, np.where(np.isfinite(x), y, np.nan)


def _response_panel(ax, responses, colors, units, ylabel):
    """Measured mean responses (dots), the two-piece line they imply through the reversal point, and the
    reversal point ('o', on the zero line where the drawn line crosses it)."""
    utility = responses.attrs.get("axis") == "utility"
    magnitudes = responses["axis" if utility else "magnitude"].values
    reversal = responses["reversal_point_axis" if utility else "reversal_point"].values
    x, y = hinge_curves(responses)
    for p in range(responses["reversal_point"].size):
        ax.plot(magnitudes, responses["response"].values[p], ".", color=colors[p], ms=4, alpha=0.8,
                gid="measured")
        ax.plot(x[p], y[p], "-", color=colors[p], lw=1.1, gid="hinge")
        ax.plot(reversal[p], 0, "o", color=colors[p], ms=5, mec="k", mew=0.5, gid="reversal")
    ax.axhline(0, color="0.6", lw=0.8, zorder=0)
    if utility:  # the magnitudes where they sit on the utility axis
        top = ax.secondary_xaxis("top")
        shown, last = [], -np.inf  # labels closer than 5 % of the axis would overlap
        for position, magnitude in zip(magnitudes, responses["magnitude"].values, strict=True):
            if position - last >= 0.05 * (np.ptp(magnitudes) or 1):
                shown.append((position, f"{magnitude:g}"))
                last = position
        top.set_xticks([p for p, _ in shown], [label for _, label in shown], fontsize="x-small")
        top.set_xlabel(f"reward magnitude ({units})", fontsize="small")
    axis_label = (f"empirical utility: population mean response ({responses['axis'].attrs.get('units', '')})"
                  if utility else f"reward magnitude ({units})")
    ax.set(xlabel=axis_label, ylabel=ylabel, title="response: mean (·), fit (—), reversal (o)")


@styled
def population_response(run, trial_type: str | None = None, learned_fraction: float = 0.5, save=None):
    """RPE at the cue and at the reward of each predictor after learning, against τ (coloured by γ) and against
    γ (coloured by τ): a 2 × 2 grid of scatter plots.

    Marker size falls with the colouring parameter, so that coinciding points show as nested discs of every
    colour.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) with ``rpe`` recorded.
    trial_type : str, optional
        The trial type read (default: the first); it must have a reward.
    learned_fraction : float
        The last fraction of the recorded trials read as learned (0 < f ≤ 1).
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import drl
    >>> from drl import plots
    >>> run = drl.simulate("masset_multi_delay", drl.Population.grid(tau=[0.2, 0.8], gamma=[0.8, 0.95]), 400,
    ...                    seed=0, progress=False)
    >>> fig = plots.population_response(run, "delay_1.5s")
    >>> len(fig.axes) >= 4
    True
    """
    ds = resolve(run, needs=("rpe",))
    units = reward_units(ds)
    sub, trial_type = select_type(ds, trial_type)
    task = run_task(ds)
    spec = task.trial_types[task.trial_type_index(trial_type)]
    if not spec.rewards:
        raise ValueError(f"trial type {trial_type!r} has no reward; population_response needs one")
    warn_if_cue_biased(ds, [trial_type], learned_fraction=learned_fraction, stacklevel=4)
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
            sizes, order = _nested_sizes(sub[c_name].values)
            ax.scatter(x[order], rpe[order], c=colors[order], s=sizes[order], edgecolors="k", linewidths=0.4)
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set(xlabel=PARAMETER_LABELS[x_name], ylabel=f"RPE at the {where} ({units})")
            _readable_limits(ax, x, rpe)
            if mappable is not None:
                fig.colorbar(mappable, ax=ax).set_label(PARAMETER_LABELS[c_name])
    fig.suptitle(f"{ds.attrs['task_name']}: {trial_type}, last {late.sizes['trial']} trials\n"
                 f"(cue at {t[k_cue]:g} s, reward at {t[k_rew]:g} s)")
    save_figure(fig, save)
    return fig


def _nested_sizes(values: np.ndarray):
    """Marker areas per point, largest for the lowest value of the colouring parameter, and the drawing order
    (largest first): points that coincide (the reward response hardly depends on γ) show as nested discs, every
    colour visible, instead of the last level covering the rest."""
    levels, index = np.unique(values, return_inverse=True)
    areas = np.linspace(110.0, 14.0, levels.size) if levels.size > 1 else np.array([30.0])
    sizes = areas[index]
    return sizes, np.argsort(-sizes, kind="stable")


def _readable_limits(ax, x: np.ndarray, y: np.ndarray) -> None:
    """Axis limits that show a constant parameter as one column and float noise as a flat line (autoscaling
    would stretch 6e-7 of rounding over the whole axis)."""
    if np.ptp(x) == 0:
        ax.set_xlim(x[0] - 0.1 * max(abs(x[0]), 0.1), x[0] + 0.1 * max(abs(x[0]), 0.1))
    scale = max(float(np.max(np.abs(y))), 1e-12)
    if np.ptp(y) < 1e-4 * scale:
        centre = float(np.mean(y))
        ax.set_ylim(centre - 0.2 * scale - 1e-3, centre + 0.2 * scale + 1e-3)
