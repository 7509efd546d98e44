"""Shared plumbing of the figure functions: resolving a run, colours that match their colorbar, saving."""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure as MatplotlibFigure

from drl._validate import choice
from drl.schema import PARAMETERS, require_values, trials_of_type
from drl.store import open_run

FIG_DIR = Path("figs")
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


def styled(function):
    """Draw inside drl's style without touching the user's matplotlib settings: the style is an
    ``rc_context`` around the call (figure functions, and the methods that redraw a figure later)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(_theme()):
            return function(*args, **kwargs)

    return wrapper


def resolve(run, needs=()):
    """A run Dataset from a Dataset, path or run name, checking that the variables ``needs`` were recorded."""
    ds = open_run(run)
    require_values(ds, *needs)
    return ds


def check_parameter(name: str) -> str:
    return choice("parameter", name, PARAMETERS)


def select_type(ds, trial_type):
    """The trials of ``trial_type`` (a name); the error lists the valid names."""
    if trial_type is None:
        trial_type = str(ds["type"].values[0])
    return trials_of_type(ds, trial_type), trial_type


def select_trials(sub, trials):
    """``trials`` (a slice, an index array or None for all) of a trial-type selection; an empty result is an error."""
    if trials is None:
        return sub
    if isinstance(trials, list) and len(trials) == 2 and all(isinstance(v, int) for v in trials) \
            and trials[1] > trials[0] + 1:
        # drl_sim wrote trials=[5, 30] for the range 5…30; here a list is a set of trials: say which is meant
        raise ValueError(f"trials={trials} would show two trials; for drl_sim's range {trials[0]}…{trials[1]} pass "
                         f"trials=slice({trials[0]}, {trials[1] + 1}); for exactly these two, a tuple "
                         f"({trials[0]}, {trials[1]})")
    if not isinstance(trials, slice):
        trials = np.atleast_1d(np.asarray(trials))
        if trials.dtype.kind not in "iu":
            raise TypeError(f"trials must be a slice or integer indices; got dtype {trials.dtype}")
        n = sub.sizes["trial"]
        bad = trials[(trials < -n) | (trials >= n)]
        if bad.size:
            raise ValueError(f"trials must index this type's {n} recorded trials; got {bad.tolist()}")
    sub = sub.isel(trial=trials)
    if sub.sizes["trial"] == 0:
        raise ValueError(f"trials={trials!r} selects no trial")
    return sub


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


def parameter_styles(ds, color_by: str):
    """(line style per predictor, legend handles) for a second varying parameter with at most four values, so
    that predictors differing only in it do not draw as one line; ([“-”]·P, []) otherwise."""
    n = ds.sizes["predictor"]
    others = [name for name in varying_parameters(ds) if name != color_by and name not in ("alpha_pos", "alpha_neg")]
    if not others or np.unique(ds[others[0]].values).size > len(LINE_STYLES):
        return ["-"] * n, []
    name = others[0]
    values = ds[name].values
    levels = list(np.unique(values))
    styles = [LINE_STYLES[levels.index(v)] for v in values]
    handles = [mpl.lines.Line2D([], [], color="0.3", ls=LINE_STYLES[i], label=f"{PARAMETER_LABELS[name]} = {v:.3g}")
               for i, v in enumerate(levels)]
    return styles, handles


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

    Under the inline backend pyplot shows every open figure when a cell ends, and the cell's result is shown
    too: a figure function on a cell's last line would appear twice. This figure shows itself and leaves
    pyplot, so the end of the cell does not show it again; a figure assigned to a name still appears once
    (pyplot's end-of-cell display comes here too), and ``fig`` on a later line shows it again.
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
    The folder is created."""
    path = Path(save)
    if len(path.parts) == 1:
        path = Path(directory) / path
    if path.suffix.lower() not in suffixes:
        path = path.with_name(path.name + suffixes[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(fig, save, directory=FIG_DIR) -> Path | None:
    """Write ``fig`` to ``figs/<save>`` (PNG unless the name ends in .svg/.pdf/.png); None when not asked."""
    if not save:
        return None
    path = output_path(save, (".png", ".svg", ".pdf"), directory)
    fig.savefig(path, dpi=200)
    return path
