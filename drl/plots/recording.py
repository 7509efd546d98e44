"""Figures of a recording session (:class:`drl.responses.Recording`): peri-stimulus time histograms and rasters,
aligned to the cue and to the reward, by condition, with the response and baseline windows shaded."""

from __future__ import annotations

import numpy as np

from drl.plots._common import new_figure, save_figure, styled
from drl.responses.spikes import BASELINE_WINDOW, RESPONSE_WINDOW, Recording, outcome_times
from drl.responses.windows import window_span

__all__ = ["psth", "raster"]

BY = ("trial_type", "magnitude")
ALIGN = ("cue", "reward")
MAX_NEURON_ROWS = 8


def _check(recording, by: str, bin_width: float | None = None) -> None:
    if not isinstance(recording, Recording):
        raise TypeError(f"recording must be a drl.responses.Recording; got {type(recording).__name__}")
    if by not in BY:
        raise ValueError(f"by must be 'trial_type' or 'magnitude'; got {by!r}")
    if bin_width is not None and not (isinstance(bin_width, int | float) and 0 < bin_width <= 1):
        raise ValueError(f"bin_width must be in (0, 1] s; got {bin_width!r}")


def _unit_indices(recording: Recording, neurons) -> np.ndarray:
    if neurons is None:
        return np.arange(recording.n_units)
    wanted = [neurons] if np.isscalar(neurons) else list(neurons)
    unknown = [n for n in wanted if n not in recording.units.index]
    if unknown:
        raise ValueError(f"no unit(s) {unknown[:5]} in this recording; its units are "
                         f"{recording.units.index[:8].tolist()}{' …' if recording.n_units > 8 else ''}")
    return np.flatnonzero(recording.units.index.isin(wanted))


NO_REWARD = "no reward"


def _values(recording: Recording, by: str) -> np.ndarray:
    """[N] each trial's condition: its trial type, or its magnitude ("no reward" where it has none)."""
    values = recording.trials[by].to_numpy()
    if by == "magnitude":
        values = np.array([NO_REWARD if np.isnan(v) else float(v) for v in values], dtype=object)
    return values


def _palette(recording: Recording, by: str) -> dict:
    """{condition: colour}, one colour per condition for every panel (a condition missing from one panel, such
    as a cue without reward at the reward, must not shift the others' colours)."""
    labels = sorted(set(_values(recording, by).tolist()), key=lambda v: (isinstance(v, str), v))
    return dict(zip(labels, _colors(labels), strict=True))


def _groups(recording: Recording, align: str, by: str):
    """(event times [N], the condition of each [N], the conditions in order) of the trials with that event; at
    the reward, an omission (magnitude 0, no reward time) is aligned where its type's reward would have come."""
    trials = recording.trials
    times = trials["cue_time"].to_numpy() if align == "cue" else outcome_times(trials)[0]
    keep = np.isfinite(times)
    values = _values(recording, by)[keep]
    labels = sorted(set(values.tolist()), key=lambda v: (isinstance(v, str), v))
    return times[keep], values, labels


def _rates(recording: Recording, units: np.ndarray, events: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """[unit, trial, bin] firing rate (spikes/s; a signal: its value at the bin centres) around each event."""
    if recording.spike_times is not None:
        grid = events[:, None] + edges[None, :]  # [N, B + 1]
        out = np.empty((units.size, events.size, edges.size - 1))
        for k, u in enumerate(units):
            out[k] = np.diff(np.searchsorted(recording.spike_times[u], grid), axis=1)
        return out / np.diff(edges)
    centres = events[:, None] + 0.5 * (edges[1:] + edges[:-1])[None, :]
    return np.stack([np.interp(centres, recording.timestamps, recording.signal[:, u]) for u in units])


def _shade(ax, align: str, response_window, baseline_window) -> None:
    ax.axvspan(*response_window, color="tab:orange", alpha=0.15, lw=0, label="response window")
    if align == "cue" and baseline_window is not None:
        ax.axvspan(*baseline_window, color="0.5", alpha=0.15, lw=0, label="baseline window")
    ax.axvline(0, color="k", lw=0.8)


def _colors(labels):
    import matplotlib as mpl

    cmap = mpl.colormaps["viridis" if len(labels) > 10 else "tab10"]
    return [cmap(i / max(len(labels) - 1, 1)) if len(labels) > 10 else cmap(i) for i in range(len(labels))]


def _label(by: str, value, units: str) -> str:
    return f"{value:g} {units}" if by == "magnitude" and not isinstance(value, str) else str(value)


@styled
def _windows(window, response_window, baseline_window) -> tuple:
    """The three windows as (start, stop) s, each checked (a ValueError naming it)."""
    return tuple(window_span(name, value) for name, value in (("window", window), ("response_window", response_window),
                                                                ("baseline_window", baseline_window)))


def psth(recording, neurons=None, *, by: str = "trial_type", bin_width: float = 0.1, window=(-1.0, 2.0),
         response_window=RESPONSE_WINDOW, baseline_window=BASELINE_WINDOW, save=None):
    """Peri-stimulus time histograms around the cue (left) and the reward (right), one line per condition.

    The mean rate (spikes/s; of a continuous signal, its mean), with the response window and (at the cue) the
    baseline window shaded. One colour per condition across both panels.

    Parameters
    ----------
    recording : drl.responses.Recording
        Spikes (or a continuous signal) with their trials.
    neurons : unit id or list of unit ids, optional
        One row of panels each (at most 8); None (default) draws the population mean over every unit.
    by : {"trial_type", "magnitude"}
        What makes a condition.
    bin_width : float
        Histogram bin (s).
    window : (float, float)
        The span drawn around each event (s); the cue's reaches back to the baseline window.
    response_window, baseline_window : (float, float)
        Shaded spans (s after the event; before the cue), as in :func:`drl.responses.responses_from_recording`.
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        An unknown unit or ``by``, more than 8 neurons, a bin or window that is not a positive span.

    Examples
    --------
    >>> import drl
    >>> from drl import plots
    >>> from drl.responses import recording_from_run
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.3, 0.7]), 400, seed=0,
    ...                    progress=False)
    >>> fig = plots.psth(recording_from_run(run, seed=0), by="magnitude")
    >>> len(fig.axes) >= 2
    True
    """
    _check(recording, by, bin_width)
    window, response_window, baseline_window = _windows(window, response_window, baseline_window)
    units = _unit_indices(recording, neurons)
    rows = [units] if neurons is None else [np.array([u]) for u in units]
    if len(rows) > MAX_NEURON_ROWS:
        raise ValueError(f"psth draws at most {MAX_NEURON_ROWS} neurons one per row; got {len(rows)} (pass a few ids, "
                         "or neurons=None for the population mean)")
    fig, axes = new_figure(2 * len(rows), ncols=2, panel_size=(4.6, 2.6))
    unit_name = recording.magnitude_units
    palette = _palette(recording, by)
    all_values = _values(recording, by)
    for align_index, align in enumerate(ALIGN):
        events, values, labels = _groups(recording, align, by)
        start = min(window[0], baseline_window[0] - 0.5) if align == "cue" else window[0]
        edges = np.arange(start, window[1] + 1e-9, bin_width)
        centres = 0.5 * (edges[1:] + edges[:-1])
        for row, members in enumerate(rows):
            ax = axes[2 * row + align_index]
            if events.size == 0:
                ax.text(0.5, 0.5, f"no trial with a {align}", ha="center", va="center", transform=ax.transAxes)
                continue
            rate = _rates(recording, members, events, edges).mean(0)  # [N, B], averaged over the row's units
            _shade(ax, align, response_window, baseline_window)
            for label in labels:
                ax.plot(centres, rate[values == label].mean(0), color=palette[label], lw=1.3)
            what = "population" if neurons is None else str(recording.units.index[members[0]])
            ylabel = "rate (spikes/s)" if recording.spike_times is not None else "signal"
            ax.set(xlabel=f"time from {align} (s)", ylabel=ylabel, title=f"{what}, aligned to the {align}")
    # one legend of every condition (with its trials) and both windows, outside the data, beside the first row
    for label, color in palette.items():
        axes[1].plot([], [], color=color, lw=1.3, label=f"{_label(by, label, unit_name)} "
                                                        f"({int(np.sum(all_values == label))})")
    shading = dict(zip(*reversed(axes[0].get_legend_handles_labels()), strict=True))  # {label: handle}
    handles = dict(zip(*reversed(axes[1].get_legend_handles_labels()), strict=True))
    handles = {**{k: v for k, v in shading.items() if k.endswith("window")}, **handles}
    axes[1].legend(list(handles.values()), list(handles), frameon=False, fontsize="x-small", loc="upper left",
                   bbox_to_anchor=(1.02, 1.0), title=by.replace("_", " "), title_fontsize="x-small")
    n = recording.n_units if neurons is None else len(units)
    fig.suptitle(f"{recording.name}: {n} unit{'s' * (n != 1)}, {len(recording.trials)} trials, "
                 f"{bin_width * 1000:g} ms bins")
    save_figure(fig, save)
    return fig


@styled
def raster(recording, neuron, *, by: str = "trial_type", window=(-1.0, 2.0), response_window=RESPONSE_WINDOW,
           baseline_window=BASELINE_WINDOW, save=None):
    """Spike raster of one unit around the cue (left) and the reward (right), one row per trial.

    Rows are grouped and coloured by condition (``by``), with the response window and (at the cue) the baseline
    window shaded.

    Parameters
    ----------
    recording : drl.responses.Recording
        Spike times with their trials (a continuous signal has no raster: draw it with :func:`psth`).
    neuron : unit id
        The unit drawn.
    by : {"trial_type", "magnitude"}
        What makes a condition.
    window, response_window, baseline_window : (float, float)
        As in :func:`psth` (s).
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import drl
    >>> from drl import plots
    >>> from drl.responses import recording_from_run
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.3, 0.7]), 400, seed=0,
    ...                    progress=False)
    >>> recording = recording_from_run(run, seed=0)
    >>> fig = plots.raster(recording, recording.units.index[0])
    >>> len(fig.axes) >= 2
    True
    """
    _check(recording, by)
    if recording.spike_times is None:
        raise ValueError("a raster draws spikes; this recording is a continuous signal (draw it with psth)")
    window, response_window, baseline_window = _windows(window, response_window, baseline_window)
    unit = _unit_indices(recording, neuron)
    if unit.size != 1:
        raise ValueError(f"raster draws one unit; got {neuron!r}")
    spikes = recording.spike_times[int(unit[0])]
    fig, axes = new_figure(2, ncols=2, panel_size=(4.6, 4.0))
    colors = _palette(recording, by)
    for ax, align in zip(axes, ALIGN, strict=True):
        events, values, labels = _groups(recording, align, by)
        start = min(window[0], baseline_window[0] - 0.5) if align == "cue" else window[0]
        _shade(ax, align, response_window, baseline_window)
        order = np.concatenate([np.flatnonzero(values == label) for label in labels]) if labels else np.array([], int)
        lo = np.searchsorted(spikes, events[order] + start)
        hi = np.searchsorted(spikes, events[order] + window[1])
        for row, (trial, a, b) in enumerate(zip(order, lo, hi, strict=True)):
            ax.vlines(spikes[a:b] - events[trial], row + 0.1, row + 0.9, color=colors[values[trial]], lw=0.6)
        ax.set(xlabel=f"time from {align} (s)", ylabel="trial (grouped by condition)", xlim=(start, window[1]),
               ylim=(0, max(order.size, 1)), title=f"aligned to the {align}")
    for label, color in colors.items():
        axes[1].plot([], [], color=color, lw=2, label=_label(by, label, recording.magnitude_units))
    axes[1].legend(frameon=False, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                   title=by.replace("_", " "), title_fontsize="x-small")
    fig.suptitle(f"{recording.name}: unit {recording.units.index[int(unit[0])]}")
    save_figure(fig, save)
    return fig
