"""Figures of the referee's controls (:mod:`drl.decode.controls`, :mod:`drl.decode.cue_cells`): split-half reversal
points, cue-cell classes."""

from __future__ import annotations

import numpy as np

from drl.plots._common import new_figure, save_figure, styled

__all__ = ["split_half", "cue_cells"]

CLASS_COLORS = {"pessimistic": "tab:blue", "interpolating": "0.6", "optimistic": "tab:red"}


@styled
def split_half(*results, labels=None, split: int = 0, save=None):
    """The reversal points of one split's two halves against each other, one panel per result of
    :func:`~drl.decode.split_half_reversals` (e.g. a distributional population and a classical-TD one), with
    the split's r and the median r over all splits.

    Parameters
    ----------
    *results : xarray.Dataset
        What :func:`~drl.decode.split_half_reversals` returned, one panel each.
    labels : sequence of str, optional
        The panels' titles (default: "population 1", …).
    split : int
        Which split to draw.
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        No result, labels of another number, or a split out of range.

    Examples
    --------
    >>> import drl
    >>> from drl import decode, plots
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9],
    ...                    alpha=0.05), 2000, seed=0, progress=False)
    >>> halves = decode.split_half_reversals(run, n_splits=20)
    >>> fig = plots.split_half(halves, labels=["distributional"])
    >>> fig.axes[0].get_xlabel()
    'reversal point, half A (µl)'
    """
    if not results:
        raise ValueError("split_half needs at least one result of drl.decode.split_half_reversals")
    labels = list(labels) if labels is not None else [f"population {i + 1}" for i in range(len(results))]
    if len(labels) != len(results):
        raise ValueError(f"labels must name each result ({len(results)}); got {len(labels)}")
    fig, axes = new_figure(len(results), panel_size=(3.8, 3.6))
    for ax, result, label in zip(axes, results, labels, strict=True):
        if not 0 <= split < result.sizes["split"]:
            raise ValueError(f"split must be in [0, {result.sizes['split']}); got {split}")
        a, b = result["reversal_a"].values[split], result["reversal_b"].values[split]
        units = result["reversal_a"].attrs.get("units", "reward units")
        ax.scatter(a, b, s=18, color="k", alpha=0.7)
        finite = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        pad = 0.05 * ((hi - lo) or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.7", lw=1, zorder=0)
        ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad), xlabel=f"reversal point, half A ({units})",
               ylabel=f"half B ({units})", aspect="equal")
        ax.set_title(f"{label}\nr = {result['correlation'].values[split]:.2f} (median over "
                     f"{result.sizes['split']} splits {result.attrs['median_correlation']:.2f})", fontsize="medium")
    save_figure(fig, save)
    return fig


@styled
def cue_cells(classified, parameter: str = "model_tau", save=None):
    """Each neuron's 50 % cue response between its 10 % (0) and 90 % (1) responses, against ``parameter`` (its
    true optimism, where known) or in order, coloured by the class of :func:`~drl.decode.classify_cue_cells`.

    Positions beyond the bulk (a neuron whose 10 % and 90 % responses nearly coincide) are drawn on the axis'
    edge as triangles pointing out.

    Parameters
    ----------
    classified : xarray.Dataset
        What :func:`~drl.decode.classify_cue_cells` returned.
    parameter : str
        A coordinate of the neurons for the x axis (default: a model's true τ, ``model_tau``); the neurons in
        order when it is absent.
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import drl
    >>> from drl import decode, plots
    >>> run = drl.simulate("dabney_variable_probability", drl.Population.grid(tau=[0.2, 0.5, 0.8], alpha=0.05),
    ...                    3000, seed=0, progress=False)
    >>> classified = decode.classify_cue_cells(run)
    >>> fig = plots.cue_cells(classified)
    >>> len(fig.axes) >= 1
    True
    """
    import xarray as xr

    if not isinstance(classified, xr.Dataset) or not {"position", "cell_class"} <= set(classified.variables):
        raise TypeError(f"classified must be the Dataset classify_cue_cells returns (with position and cell_class); "
                        f"got {type(classified).__name__}")
    position = classified["position"].values
    kind = classified["cell_class"].values
    known = parameter in classified.coords
    x = classified[parameter].values if known else np.argsort(np.argsort(position))
    fig, (ax,) = new_figure(1, panel_size=(4.6, 3.6))
    # a neuron whose 10 % and 90 % responses nearly coincide has a position far out: the axis keeps the bulk in
    # view (−0.5 … 1.5 at least) and such neurons sit on its edge as triangles pointing out
    finite = position[np.isfinite(position)]
    lo = min(-0.5, float(np.percentile(finite, 5))) if finite.size else -0.5
    hi = max(1.5, float(np.percentile(finite, 95))) if finite.size else 1.5
    pad = 0.05 * (hi - lo)
    shown = np.clip(position, lo - pad, hi + pad)
    marker = np.where(position < lo - pad, "v", np.where(position > hi + pad, "^", "o"))
    for name, color in CLASS_COLORS.items():
        chosen = kind == name
        ax.scatter([], [], s=22, color=color, label=f"{name} ({int(chosen.sum())})")
        for symbol in ("o", "v", "^"):
            these = chosen & (marker == symbol)
            ax.scatter(x[these], shown[these], s=22, color=color, marker=symbol)
    ax.set_ylim(lo - 2 * pad, hi + 2 * pad)
    ax.axhline(0.5, color="0.5", lw=1, ls="--")
    if known:
        ax.axvline(0.5, color="0.5", lw=1, ls=":")
    attrs = classified.attrs
    ax.set(xlabel="true optimism τ" if known else "neuron (ordered)",
           ylabel=f"{attrs['middle']} response, {attrs['low']} = 0, {attrs['high']} = 1")
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    save_figure(fig, save)
    return fig
