"""Static figures of a run: val_at_t, heatmap, summary. Each returns the Figure and saves when asked."""

from __future__ import annotations

import numpy as np

from drl.plots._common import (
    PARAMETER_LABELS,
    check_parameter,
    choose_color_by,
    mark_events,
    new_figure,
    parameter_colorbar,
    parameter_colors,
    parameter_styles,
    resolve,
    save_figure,
    select_trials,
    select_type,
    styled,
)
from drl.runs.reading import reward_units


def _time_index(ds, time: float) -> int:
    t = ds["time"].values
    if not (t[0] - 1e-9 <= time <= t[-1] + 1e-9):
        raise ValueError(f"time must be within the recorded times [{t[0]:g}, {t[-1]:g}] s; got {time:g}")
    return int(np.argmin(np.abs(t - time)))


@styled
def val_at_t(run, time: float, trial_type: str | None = None, color_by: str | None = None,
             facet_by: str | None = None, trials=None, ax=None, save=None):
    """Value at ``time`` (s) across the trials of ``trial_type``: one line per predictor, one panel per value of
    ``facet_by`` (drl_sim's "diversify" of two parameters; panels share their y axis and wrap at four per row).

    Without facets, a second varying parameter with up to four values sets the line style.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) with ``value`` recorded.
    time : float
        The time in the trial (s), snapped to its step.
    trial_type : str, optional
        The trial type's name (default: the first).
    color_by : {"tau", "gamma", "lam", "alpha_pos", "alpha_neg"}, optional
        The parameter that colours the lines (default: the one that varies most).
    facet_by : {"tau", "gamma", "lam", "alpha_pos", "alpha_neg"}, optional
        A parameter giving one panel per distinct value.
    trials : slice or list of int, optional
        Trial numbers of the run (xarray ``sel`` semantics): a slice, both ends included, or a list of recorded
        trial numbers of this type.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes (no facets).
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png), a path
        where it says.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import drl
    >>> from drl import plots
    >>> run = drl.simulate("hyp_unif", drl.Population.grid(tau=[0.2, 0.8], gamma=[0.8, 0.95]), 200, seed=0,
    ...                    progress=False)
    >>> fig = plots.val_at_t(run, 3.0, facet_by="gamma")
    >>> len(fig.axes) >= 2
    True
    """
    ds = resolve(run, needs=("value",))
    units = reward_units(ds)
    sub, trial_type = select_type(ds, trial_type)
    sub = select_trials(sub, trials)
    k = _time_index(sub, time)
    color_by = choose_color_by(sub, color_by)
    colors, mappable = parameter_colors(sub, color_by)
    if facet_by is not None:
        check_parameter(facet_by)
    styles, style_handles, note = parameter_styles(sub, color_by, facet_by)
    groups = [(None, np.arange(sub.sizes["predictor"]))]
    if facet_by is not None:
        facet_values = sub[facet_by].values
        groups = [(v, np.flatnonzero(facet_values == v)) for v in np.unique(facet_values)]
    if ax is not None:
        if len(groups) > 1:
            raise ValueError("ax= draws one panel; leave it out when facet_by gives several")
        fig, axes = ax.figure, [ax]
    else:
        fig, axes = new_figure(len(groups), sharey=True)
    values = sub["value"].isel(time=k).values  # [P, N]
    trial_numbers = sub["trial"].values
    for axis, (facet_value, members) in zip(axes, groups, strict=True):
        for p in members:
            axis.plot(trial_numbers, values[p], color=colors[p], ls=styles[p], lw=1.2)
        axis.set_xlabel("trial")
        spec = axis.get_subplotspec()
        if spec is None or spec.is_first_col():  # shared y: the label once per row
            axis.set_ylabel(f"value at t = {sub['time'].values[k]:g} s ({units})")
        title = f"{trial_type}" + ("" if facet_value is None else f", {PARAMETER_LABELS[facet_by]} = {facet_value:.3g}")
        axis.set_title(f"{title} (n = {len(members)})")
    if style_handles:
        axes[0].legend(handles=style_handles, frameon=False, fontsize="small")
    if note and ax is None:
        fig.suptitle(note, fontsize="small", color="0.3")
    parameter_colorbar(fig, mappable, color_by, sub, ax=axes)
    save_figure(fig, save)
    return fig


@styled
def heatmap(run, predictors, trial_type: str | None = None, trials=None, ax=None, save=None):
    """RPE over trials × time of ``trial_type``, one panel per predictor, one colour scale centred on 0.

    Titles give each predictor's parameters; dotted and dashed lines mark the cue and the reward times.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) with ``rpe`` recorded.
    predictors : int or list of int
        Predictor indices, one panel each (with ``ax``: one predictor, drawn into that axes).
    trial_type : str, optional
        The trial type's name (default: the first).
    trials : slice or list of int, optional
        Trial numbers of the run (xarray ``sel``: a slice includes both ends), as in :func:`val_at_t`.
    ax : matplotlib.axes.Axes, optional
        Draw one predictor's heat map into this axes.
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png), a path
        where it says.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        ``predictors`` are not integers.
    ValueError
        A predictor index outside the run, or an unknown trial type.

    Examples
    --------
    >>> import drl
    >>> from drl import plots
    >>> run = drl.simulate("hyp_unif", drl.Population.grid(tau=[0.2, 0.8]), 200, seed=0, progress=False)
    >>> fig = plots.heatmap(run, [0, 1], trials=slice(0, 100))
    >>> len(fig.axes) >= 2
    True
    """
    ds = resolve(run, needs=("rpe",))
    units = reward_units(ds)
    sub, trial_type = select_type(ds, trial_type)
    sub = select_trials(sub, trials)
    predictors = np.atleast_1d(predictors)
    if predictors.dtype.kind not in "iu":
        raise TypeError(f"predictors must be predictor indices (integers); got {predictors.tolist()!r}")
    predictors = [int(p) for p in predictors]  # plain ints: messages and titles read 7, not np.int64(7)
    n_pred = sub.sizes["predictor"]
    bad = [p for p in predictors if not 0 <= p < n_pred]
    if bad or not predictors:
        raise ValueError(f"predictors must be indices in [0, {n_pred - 1}]; got {bad or predictors}")
    rpe = sub["rpe"].isel(predictor=predictors).values  # [n, N, K]
    limit = float(np.nanmax(np.abs(rpe))) or 1.0
    if ax is not None:
        if len(predictors) != 1:
            raise ValueError(f"ax= draws one panel; give one predictor, not {len(predictors)}")
        fig, axes = ax.figure, [ax]
    else:
        fig, axes = new_figure(len(predictors), ncols=min(len(predictors), 3))
    t = sub["time"].values
    trial_numbers = sub["trial"].values
    image = None
    for axis, p, data in zip(axes, predictors, rpe, strict=True):
        image = axis.pcolormesh(t, trial_numbers, data, cmap="RdBu_r", vmin=-limit, vmax=limit, shading="nearest")
        q = sub.isel(predictor=int(p))
        axis.set_title(f"#{int(p)}: τ={float(q.tau):.2f}, γ={float(q.gamma):.2f}/s, λ={float(q.lam):.2f}/s",
                       fontsize=10)
        axis.set_xlabel("time in trial (s)")
        axis.set_ylabel("trial")
        mark_events(axis, ds, trial_type)
    cbar = fig.colorbar(image, ax=axes)
    cbar.set_label(f"RPE δ ({units}), {trial_type}")
    save_figure(fig, save)
    return fig


@styled
def summary(run, trial_type: str | None = None, color_by: str | None = None, save=None):
    """A panel grid of a run: value at the cue over trials, value and RPE over time after learning, and the RPE
    heatmap of the median predictor.

    Lines are coloured by ``color_by``; a second varying parameter with up to four values sets the line style,
    so that predictors differing only in it stay apart. Cue (dotted) and reward times (dashed) are marked.
    ``make demo`` draws it.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) with ``value`` and ``rpe`` recorded.
    trial_type : str, optional
        The trial type's name (default: the first).
    color_by : {"tau", "gamma", "lam", "alpha_pos", "alpha_neg"}, optional
        The predictor parameter that colours the lines (default: the one that varies most).
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png), a path
        where it says.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import drl
    >>> from drl import plots
    >>> run = drl.simulate("hyp_unif", drl.Population.grid(tau=[0.2, 0.5, 0.8]), 200, seed=0, progress=False)
    >>> fig = plots.summary(run)
    >>> fig.axes[0].get_xlabel()
    'trial'
    """
    ds = resolve(run, needs=("value", "rpe"))
    units = reward_units(ds)
    sub, trial_type = select_type(ds, trial_type)
    task_cue = {t["name"]: t["cue_time"] for t in ds.attrs["task"]["trial_types"]}
    cue_time = task_cue.get(trial_type, float(sub["time"].values[0]))
    k_cue = _time_index(sub, cue_time)
    color_by = choose_color_by(sub, color_by)
    colors, mappable = parameter_colors(sub, color_by)
    styles, style_handles, note = parameter_styles(sub, color_by, facet=False)
    fig, axes = new_figure(4, ncols=2, panel_size=(4.6, 3.3))
    t = sub["time"].values
    late = sub.isel(trial=slice(max(0, int(sub.sizes["trial"] * 0.9)), None))
    value_cue = sub["value"].isel(time=k_cue).values
    v_late = late["value"].mean("trial").values
    d_late = late["rpe"].mean("trial").values
    for p in range(sub.sizes["predictor"]):
        axes[0].plot(sub["trial"].values, value_cue[p], color=colors[p], ls=styles[p], lw=1)
        axes[1].plot(t, v_late[p], color=colors[p], ls=styles[p], lw=1)
        axes[2].plot(t, d_late[p], color=colors[p], ls=styles[p], lw=1)
    axes[0].set(xlabel="trial", ylabel=f"value at cue ({t[k_cue]:g} s)", title="learning")
    axes[1].set(xlabel="time in trial (s)", ylabel=f"value ({units})", title="value, last 10 % of trials")
    axes[2].set(xlabel="time in trial (s)", ylabel=f"RPE δ ({units})", title="RPE, last 10 % of trials")
    for axis in axes[1:3]:
        mark_events(axis, ds, trial_type)
    if style_handles:
        axes[0].legend(handles=style_handles, frameon=False, fontsize="small")
    axes[2].axhline(0, color="0.6", lw=0.8)
    median = int(np.argsort(sub[color_by].values)[sub.sizes["predictor"] // 2])
    rpe = sub["rpe"].isel(predictor=median).values
    limit = float(np.nanmax(np.abs(rpe))) or 1.0
    image = axes[3].pcolormesh(t, sub["trial"].values, rpe, cmap="RdBu_r", vmin=-limit, vmax=limit,
                               shading="nearest")
    q = sub.isel(predictor=median)
    axes[3].set(xlabel="time in trial (s)", ylabel="trial",
                title=f"RPE of #{median} (τ={float(q.tau):.2f}, γ={float(q.gamma):.2f}/s)")
    fig.colorbar(image, ax=axes[3]).set_label(f"δ ({units})")
    parameter_colorbar(fig, mappable, color_by, sub, ax=axes[:2])  # lines of panels 1-3
    fig.suptitle(f"{ds.attrs['task_name']}: {trial_type}, {sub.sizes['predictor']} predictors, "
                 f"{ds.attrs['n_trials']} trials ({ds.attrs['options']['rule']})" + (f"\n{note}" if note else ""))
    save_figure(fig, save)
    return fig
