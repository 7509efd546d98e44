"""Shared plumbing of the figure functions: resolving a run, colours that match their colorbar, saving."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure as MatplotlibFigure

from drl._validate import choice
from drl.responses.run import trial_type_to_read
from drl.runs.reading import require_values, trials_of_type
from drl.runs.schema import PARAMETERS
from drl.runs.store import open_run

FIG_DIR = Path("figs")
FIGURE_FORMATS = (".png", ".svg", ".pdf")  # the first is the default
PARAMETER_LABELS = {"tau": "optimism τ", "alpha_pos": "α+ (per step)", "alpha_neg": "α− (per step)",
                    "gamma": "γ (per s)", "lam": "λ (per s)"}
STYLE = {"context": "paper", "style": "ticks", "font_scale": 1.2}


@functools.cache
def _theme() -> dict:
    """The rcParams of drl's figures (what ``sns.set_theme(**STYLE)`` would set), computed once."""
    from cycler import cycler

    rc = dict(sns.axes_style(STYLE["style"]))
    rc.update(sns.plotting_context(STYLE["context"], font_scale=STYLE["font_scale"]))
    rc["axes.prop_cycle"] = cycler(color=sns.color_palette("deep"))
    return rc


@contextlib.contextmanager
def _theme_context():
    """drl's theme for the duration of a call, then the user's values of those keys back, and only those.

    Not ``mpl.rc_context``: that restores *every* rcParam on exit, so when the first figure of a session loads
    the backend inside it (pyplot picks its backend lazily), the backend's own set-up is rolled back too. The
    inline backend of a Jupyter kernel turns interactive mode on as it loads; rolled back, no later figure of
    the session showed (nor the user's own ``plt.hist``)."""
    theme = _theme()
    saved = {key: mpl.rcParams[key] for key in theme}
    try:
        mpl.rcParams.update(theme)
        yield
    finally:
        mpl.rcParams.update(saved)


def styled(function):
    """Draw inside drl's style without touching the user's matplotlib settings: the theme's keys are set around
    the call and restored after it (figure functions, and the methods that redraw a figure later)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with _theme_context():
            return function(*args, **kwargs)

    return wrapper


def resolve(run, needs=()):
    """A run Dataset from a Dataset, path or run name, checking that the variables ``needs`` were recorded."""
    ds = open_run(run)
    require_values(ds, *needs)
    return ds


def check_parameter(name: str) -> str:
    return choice("parameter", name, PARAMETERS)


def select_type(ds, trial_type, *, warn: bool = True):
    """The trials of ``trial_type`` (a name); the error lists the valid names. None takes the task's first type,
    with a warning naming it when the task has several (``warn``: :func:`drl.responses.run.trial_type_to_read`)."""
    trial_type = trial_type_to_read(ds, trial_type, warn=warn)
    return trials_of_type(ds, trial_type), trial_type


def describe_recorded(numbers: np.ndarray) -> str:
    """'600 recorded trials, 0 … 5990 (every 10th)': which trial numbers a selection holds, for messages."""
    if numbers.size == 0:
        return "no recorded trial"
    steps = np.diff(numbers)
    regular = ""
    if steps.size and steps[0] > 1 and np.all(steps[:-1] == steps[0]):  # record_trials=n keeps the last too
        regular = f" (every {int(steps[0])}th{'' if steps[-1] == steps[0] else ' and the last'})"
    return f"{numbers.size} recorded trial{'s' if numbers.size > 1 else ''}, {int(numbers[0])} … {int(numbers[-1])}{regular}"


def _trial_number(name: str, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be a trial number (an integer) or None; got {value!r}")
    return int(value)


def select_trials(sub, trials):
    """``trials`` of a trial-type selection, **by trial number** (the run's ``trial`` coordinate, as xarray's
    ``sel``; not positions among the recorded trials): None for all, a slice of trial numbers (both ends
    included, as ``sel``), or one or more trial numbers, each of which must have been recorded for this type.
    An empty result is an error that says which trials were recorded."""
    if trials is None:
        return sub
    numbers = sub["trial"].values
    if isinstance(trials, list) and len(trials) == 2 and all(isinstance(v, int) for v in trials) \
            and trials[1] > trials[0] + 1:
        # drl_sim wrote trials=[5, 30] for the range 5…30; here a list is a set of trials: say which is meant
        raise ValueError(f"trials={trials} would show two trials; for drl_sim's range {trials[0]}…{trials[1]} pass "
                         f"trials=slice({trials[0]}, {trials[1]}) (trial numbers, both ends included); for exactly "
                         f"these two, a tuple ({trials[0]}, {trials[1]})")
    if isinstance(trials, slice):
        if trials.step is not None:
            raise ValueError(f"trials={trials!r}: a slice of trial numbers takes no step; thin the frames of an "
                             f"animation with every=, or list the trial numbers")
        start, stop = _trial_number("trials.start", trials.start), _trial_number("trials.stop", trials.stop)
        selected = sub.sel(trial=slice(start, stop))
    else:
        wanted = np.atleast_1d(np.asarray(trials))
        if wanted.dtype.kind not in "iu" or wanted.ndim != 1:
            raise TypeError(f"trials must be a slice of trial numbers or integer trial numbers; got {trials!r}")
        missing = wanted[~np.isin(wanted, numbers)]
        if missing.size:
            raise ValueError(f"trials are trial numbers of the run; {missing[:5].tolist()} "
                             f"{'was' if missing.size == 1 else 'were'} not recorded for this trial type "
                             f"({describe_recorded(numbers)})")
        selected = sub.sel(trial=wanted)
    if selected.sizes["trial"] == 0:
        raise ValueError(f"trials={trials!r} selects no trial: this trial type has {describe_recorded(numbers)}")
    return selected


def thin_trials(numbers: np.ndarray, every: int) -> np.ndarray:
    """Positions of the frames among recorded trial ``numbers`` [N]: the first trial, then each recorded trial
    at least ``every`` trials (trial numbers, not recorded positions) after the previous frame; the last trial
    is always kept."""
    keep = [0]
    for i in range(1, numbers.size):  # over frames (hundreds), not a hot path
        if numbers[i] - numbers[keep[-1]] >= every:
            keep.append(i)
    if keep[-1] != numbers.size - 1:
        keep.append(numbers.size - 1)
    return np.asarray(keep)


def varying_parameters(ds) -> list[str]:
    """The predictor parameters that differ between predictors, most distinct values first (τ first on ties)."""
    order = ("tau", "gamma", "lam", "alpha_pos", "alpha_neg")
    counts = {name: np.unique(ds[name].values).size for name in order}
    return sorted([n for n in order if counts[n] > 1], key=lambda n: (-counts[n], order.index(n)))


def choose_color_by(ds, color_by: str | None) -> str:
    """``color_by``, or (None) the parameter that varies most between predictors (τ when none varies)."""
    if color_by is not None:
        return check_parameter(color_by)
    varying = varying_parameters(ds)
    return varying[0] if varying else "tau"


def parameter_colors(ds, parameter: str, cmap="viridis"):
    """(colour per predictor, ScalarMappable) from one normalisation, so lines and colorbar agree.

    When every predictor has the same value there is nothing to colour by: one colour, and None for the
    mappable (callers then draw no colorbar rather than a colorbar spanning float noise).
    """
    values = ds[check_parameter(parameter)].values
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return np.tile(mpl.colors.to_rgba("tab:blue"), (values.size, 1)), None
    norm = mpl.colors.Normalize(vmin=lo, vmax=hi)
    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=mpl.colormaps[cmap])
    return mappable.to_rgba(values), mappable


def parameter_colorbar(fig, mappable, parameter: str, ds, **kwargs):
    """A colorbar for ``parameter``, or (constant parameter) a note in the figure's corner instead."""
    if mappable is not None:
        fig.colorbar(mappable, **kwargs).set_label(PARAMETER_LABELS[parameter])
        return
    value = float(ds[parameter].values[0])
    fig.text(0.995, 0.005, f"all predictors: {PARAMETER_LABELS[parameter]} = {value:.3g}", ha="right",
             va="bottom", fontsize="small", color="0.35")


LINE_STYLES = ("-", "--", ":", "-.")


def parameter_styles(ds, color_by: str, facet_by: str | None = None, facet: bool = True):
    """How predictors that differ in more than the colouring parameter stay apart.

    Returns (line style per predictor, legend handles, note). The first other varying parameter (after
    ``color_by`` and ``facet_by``; α± follow τ and are not counted) sets the line style when it has at most four
    values. Any varying parameter left without a colour, a facet or a line style is named in ``note`` (for the
    figure's title), with the argument that would separate it (``facet``: whether the figure takes
    ``facet_by``): otherwise its predictors draw over each other
    and the figure shows fewer lines than it has, silently.
    """
    n = ds.sizes["predictor"]
    shown = {color_by, facet_by}
    others = [name for name in varying_parameters(ds) if name not in shown and name not in ("alpha_pos", "alpha_neg")]
    styles, handles = ["-"] * n, []
    if others and np.unique(ds[others[0]].values).size <= len(LINE_STYLES):
        name = others.pop(0)
        values = ds[name].values
        levels = list(np.unique(values))
        styles = [LINE_STYLES[levels.index(v)] for v in values]
        handles = [mpl.lines.Line2D([], [], color="0.3", ls=LINE_STYLES[i],
                                    label=f"{PARAMETER_LABELS[name]} = {v:.3g}") for i, v in enumerate(levels)]
    note = "; ".join(f"{PARAMETER_LABELS[name].split(' (')[0]} also varies ({np.unique(ds[name].values).size} "
                     f"values, lines overlap): color_by={name!r}" + (f" or facet_by={name!r}" if facet else "")
                     for name in others)
    return styles, handles, note


def mark_events(ax, ds, trial_type: str) -> None:
    """Dotted line at the cue, dashed lines at the nominal reward times of ``trial_type`` (s)."""
    for spec in ds.attrs["task"]["trial_types"]:
        if spec["name"] != trial_type:
            continue
        ax.axvline(spec["cue_time"], color="0.5", ls=":", lw=1, zorder=0)
        for event in spec.get("rewards", []):
            ax.axvline(spec["cue_time"] + event["time"], color="0.5", ls="--", lw=0.8, zorder=0)


class Figure(MatplotlibFigure):
    """A matplotlib Figure that a notebook shows once.

    Under the inline backend pyplot shows every open figure when a cell ends, and the cell's result is shown too:
    a figure function on a cell's last line would appear twice. This figure shows itself and leaves pyplot, so the
    end of the cell does not show it again; a figure assigned to a name still appears once (pyplot's end-of-cell
    display comes here too), and ``fig`` on a later line shows it again. drl's figure functions return it; it is
    not made by hand.

    Parameters
    ----------
    figsize, dpi, facecolor, edgecolor, linewidth, frameon, subplotpars, tight_layout, constrained_layout, layout
        As :class:`matplotlib.figure.Figure`.
    **kwargs
        As :class:`matplotlib.figure.Figure`.

    See Also
    --------
    TrialAnimation : the animations' counterpart.

    Examples
    --------
    >>> import drl
    >>> from drl import plots
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.2, 0.8], alpha=0.1), 300,
    ...                    seed=0, progress=False)
    >>> fig = plots.val_at_t(run, 1.0)
    >>> isinstance(fig, plots.Figure)
    True
    """

    def _ipython_display_(self):
        from IPython import get_ipython
        from IPython.display import publish_display_data

        shell = get_ipython()
        if shell is None:
            return
        formatters = shell.display_formatter.formatters
        data, metadata = {}, {}
        for mime, formatter in formatters.items():
            out = formatter(self)
            if isinstance(out, tuple):  # (data, metadata), e.g. a retina PNG's size
                out, metadata[mime] = out
            if out is not None:
                data[mime] = out
        publish_display_data(data, metadata)
        if "inline" in mpl.get_backend() and self.canvas.manager is not None:
            plt.close(self)  # shown: pyplot's end-of-cell display must not show it again


def new_figure(n_panels: int = 1, ncols: int | None = None, panel_size=(4.2, 3.2), sharey: bool = False):
    """A constrained-layout figure of ``n_panels`` panels, wrapped at four columns unless ``ncols`` is given."""
    ncols = ncols or min(n_panels, 4)
    nrows = -(-n_panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False,
                             layout="constrained", sharey=sharey, FigureClass=Figure)
    for ax in axes.flat[n_panels:]:
        ax.remove()
    return fig, list(axes.flat[:n_panels])


def output_path(save, suffixes, directory=FIG_DIR) -> Path:
    """Where ``save`` goes: a bare name under ``figs/``; ``suffixes[0]`` appended unless it ends in one of them.
    Nothing is created here (:func:`prepare_output` does that)."""
    path = Path(save)
    if len(path.parts) == 1:
        path = Path(directory) / path
    if path.suffix.lower() not in suffixes:
        path = path.with_name(path.name + suffixes[0])
    return path


def prepare_output(save, suffixes, directory=FIG_DIR) -> Path:
    """:func:`output_path`, with ``figs/`` created for a bare name; a path into a folder that does not exist is
    a FileNotFoundError (a typo must not create folders)."""
    path = output_path(save, suffixes, directory)
    if not path.parent.is_dir():
        if path.parent != Path(directory):
            raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist (drl creates only "
                                    f"{directory}/; create it first, or give a bare name)")
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, save, directory=FIG_DIR) -> Path | None:
    """Write ``fig`` to ``figs/<save>`` (PNG unless the name ends in .svg/.pdf/.png); None when not asked."""
    if not save:
        return None
    path = prepare_output(save, FIGURE_FORMATS, directory)
    fig.savefig(path, dpi=200)
    return path


def value_colors(values):
    """Colours of ``values`` (a quantity estimated from recordings, not a parameter) and the mappable for their
    colorbar."""
    import matplotlib as mpl

    mappable = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(np.nanmin(values), np.nanmax(values)),
                                     cmap="viridis")
    return mappable.to_rgba(np.nan_to_num(values, nan=float(np.nanmean(values)))), mappable
