"""A decoded distribution against the true one (any decode, any figure's panel)."""

from __future__ import annotations

import numpy as np

from drl import decode
from drl.plots._common import new_figure, save_figure, styled

__all__ = ["distribution"]


def _step_cdf(values: np.ndarray, weights: np.ndarray, lo: float, hi: float):
    """The cumulative distribution of weighted atoms as a step line from ``lo`` to ``hi``: (x, F(x))."""
    order = np.argsort(values, kind="stable")
    x, cumulative = values[order], np.cumsum(weights[order])
    return np.concatenate([[lo], x, [hi]]), np.concatenate([[0.0], cumulative, [cumulative[-1]]])


@styled
def distribution(decoded: decode.DecodedDistribution, true=None, ax=None, save=None, label="decoded",
                 units: str = "reward units", color=None):
    """A decoded distribution against the true one, as cumulative distributions on one axis.

    CDFs compare honestly where densities do not: an atom is a step of its probability (a density would need a
    smoothing width, doubles an atom at a bound when reflected, and shows mass where no sample is), and the
    shaded area between the two curves *is* the Wasserstein-1 distance given in the legend. The decoded samples
    are the ticks under the curve.

    Several decodes compare on one axis: pass the first's ``ax`` to the next with its own ``label`` and
    ``color`` (default: the axis' next colour); the truth is drawn once, the x-limits grow to hold every curve,
    and the area is shaded for the first decode only.

    Parameters
    ----------
    decoded : drl.decode.DecodedDistribution
        What :func:`drl.decode.decode_distribution` or :func:`drl.decode.decode_reward_distribution` returned.
    true : drl.RewardDistribution, optional
        The truth, drawn once per axes, with the W1 distance in the legend.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes (another decode's, to compare).
    save : str or path, optional
        Also write the figure: a bare name to ``figs/<name>`` (PNG unless it ends in .svg, .pdf or .png).
    label : str
        The decode's legend entry.
    units : str
        The reward's unit, in the axis label and the legend (e.g. ``"µl"``).
    color : matplotlib color, optional
        The decode's colour (default: blue, then the axes' next colour).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        ``decoded`` is not a DecodedDistribution.

    Examples
    --------
    Exact expectiles of Dabney et al.'s distribution at 9 levels, decoded, against the truth:

    >>> import numpy as np
    >>> import drl
    >>> from drl import decode, plots
    >>> truth = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    >>> levels = np.linspace(0.1, 0.9, 9)
    >>> decoded = decode.decode_distribution(levels, decode.expectiles(truth, levels))
    >>> fig = plots.distribution(decoded, truth, units="µl")
    >>> fig.axes[0].get_xlabel()
    'reward (µl)'
    """
    if not isinstance(decoded, decode.DecodedDistribution):
        raise TypeError(f"decoded must be a DecodedDistribution (what decode_distribution and "
                        f"decode_reward_distribution return); got {type(decoded).__name__}")
    if ax is None:
        fig, (ax,) = new_figure(1)
    fig = ax.figure
    samples = np.asarray(decoded.samples, np.float64)
    true_drawn = any(line.get_gid() == "true" for line in ax.get_lines())
    first = not any(line.get_gid() == "decoded" for line in ax.get_lines())
    color = color or ("tab:blue" if first else ax._get_lines.get_next_color())
    points = samples if true is None else np.concatenate([samples, true.values])
    span = float(np.ptp(points)) or 1.0
    lo, hi = float(points.min()) - 0.05 * span, float(points.max()) + 0.05 * span
    if not first:  # keep what is drawn already in view
        old_lo, old_hi = ax.get_xlim()
        lo, hi = min(lo, old_lo), max(hi, old_hi)
    x_dec, f_dec = _step_cdf(samples, np.full(samples.size, 1.0 / samples.size), lo, hi)
    ax.step(x_dec, f_dec, where="post", color=color, lw=1.8, gid="decoded", zorder=3,  # above the truth
            label=f"{label} ({samples.size} samples)")
    # the rug sits under the curve, inside the axes (a tick outside them would widen a tight bounding box)
    ax.plot(samples, np.full(samples.size, -0.03), "|", color=color, ms=6, alpha=0.6, clip_on=True)
    if true is not None:
        w1 = decode.wasserstein(decoded, true)
        x_true, f_true = _step_cdf(true.values, true.probabilities, lo, hi)
        if not true_drawn:
            ax.step(x_true, f_true, where="post", color="k", lw=2.6, alpha=0.55, gid="true", zorder=2, label="true")
        if first:
            grid = np.union1d(x_dec, x_true)
            f_on_dec = f_dec[np.searchsorted(x_dec, grid, side="right") - 1]
            f_on_true = f_true[np.searchsorted(x_true, grid, side="right") - 1]
            ax.fill_between(grid, f_on_dec, f_on_true, step="post", color="tab:red", alpha=0.25, lw=0,
                            label=f"area = W1 = {w1:.2f} {units}")
        else:
            ax.lines[-2].set_label(f"{label} ({samples.size} samples; W1 = {w1:.2f} {units})")
    ax.set(xlabel=f"reward ({units})", ylabel="cumulative probability", xlim=(lo, hi), ylim=(-0.06, 1.04))
    ax.legend(frameon=False, loc="lower right", fontsize="small")
    save_figure(fig, save)
    return fig


