"""Shared plumbing of the figure functions: resolving a run, colours that match their colorbar, saving."""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

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


def parameter_colors(ds, parameter: str, cmap="viridis"):
    """(colour per predictor, ScalarMappable) from one normalisation, so lines and colorbar agree."""
    values = ds[check_parameter(parameter)].values
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        lo, hi = lo - 0.5 * max(abs(lo), 1e-3), hi + 0.5 * max(abs(hi), 1e-3)
    norm = mpl.colors.Normalize(vmin=lo, vmax=hi)
    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=mpl.colormaps[cmap])
    return mappable.to_rgba(values), mappable


def new_figure(n_panels: int = 1, ncols: int | None = None, panel_size=(4.2, 3.2)):
    ncols = ncols or n_panels
    nrows = -(-n_panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False,
                             layout="constrained")
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
