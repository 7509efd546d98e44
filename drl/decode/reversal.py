"""Reversal points and asymmetries from responses against the reward: the estimators, on numbers alone.

Each neuron's response r(m) to a reward m is read on an **axis**: the magnitudes themselves, or (``"utility"``,
Dabney et al. 2020) the population's mean response at each magnitude, the empirical utility on which real
dopamine responses are close to linear while they bend in µl. On that axis x, the reversal point c is where the
response changes sign and the asymmetry is ``τ̂ = s+ / (s+ + s−)``, the slopes above and below c. Estimators:

* ``"crossing"``: the zero crossing of the mean (a model's δ, linear and noiseless); slopes by least squares
  through it.
* ``"hinge"``: ``r = s+·(x − c)⁺ + s−·min(x − c, 0)`` by least squares on the single trials (means weighted by
  their trial counts), with s± ≥ 0, so τ̂ ∈ [0, 1].
* ``"sign_count"``: Dabney et al.'s zero crossing: the threshold between magnitudes that leaves the most single
  responses on the right side (positive above it, negative below), placed between its two neighbouring
  magnitudes by how close their counts come to the best; the slopes are least squares through it (single
  trials), kept ≥ 0.
* ``"dabney2020"``: the same crossing with the paper's linear scale factors exactly: slopes by least squares
  through the origin on each side, unconstrained (one of the 40 neurons of Eshel et al. gets τ̂ = 1.02), and
  the paper's caps: a crossing below the first magnitude is put 0.01 above it, one above the last 0.1 below it.

A reversal point at or beyond the axis' ends leaves one side without data, so its slope is not identified;
the expectile code fixes τ there (τ = 0 at the smallest reward, 1 at the largest), and the constrained
estimators return that (the ``"dabney2020"`` estimator does not: it is the paper's).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from drl._validate import frames_to_user

__all__ = ["AXES", "REVERSAL_FITS", "Estimator", "asymmetry", "hinge_fit", "sign_count_reversal", "utility_axis",
           "zero_crossing"]

REVERSAL_FITS = ("crossing", "hinge", "sign_count", "dabney2020")
AXES = ("magnitude", "utility")


def zero_crossing(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per row of y [P, M] over ascending x [M]: the first upward zero crossing of the piecewise-linear curve;
    rows that never cross are extrapolated linearly from their two points nearest zero."""
    below = y[:, :-1] <= 0
    cross = below & (y[:, 1:] > 0)
    has = cross.any(1)
    i = np.where(has, cross.argmax(1), np.where(y[:, 0] > 0, 0, x.size - 2))
    rows = np.arange(y.shape[0])
    y0, y1, x0, x1 = y[rows, i], y[rows, i + 1], x[i], x[i + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(y1 != y0, x0 - y0 * (x1 - x0) / (y1 - y0), 0.5 * (x0 + x1))


def asymmetry(magnitudes: np.ndarray, reversal: np.ndarray, mean: np.ndarray, weights: np.ndarray | None = None):
    """Slopes s+ and s− of lines through each reversal point fitted (least squares, ``weights`` [P, M] per mean:
    trial counts) to the mean responses [P, M] above and below it, and ``tau_hat = s+ / (s+ + s−)``."""
    offset = magnitudes[None, :] - reversal[:, None]
    weights = np.ones_like(offset) if weights is None else weights
    above, below = (offset > 0) & np.isfinite(mean), (offset < 0) & np.isfinite(mean)
    mean = np.nan_to_num(mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope_pos = np.where(above, weights * offset * mean, 0).sum(1) / np.where(above, weights * offset**2, 0).sum(1)
        slope_neg = np.where(below, weights * offset * mean, 0).sum(1) / np.where(below, weights * offset**2, 0).sum(1)
        return slope_pos, slope_neg, slope_pos / (slope_pos + slope_neg)


def hinge_fit(magnitudes, mean, n_grid: int = 2001, *, weights=None, nonnegative: bool = True):
    """Fit a two-slope line that crosses zero at the reversal point to each neuron's mean responses.

    ``r(m) = s+·(m − c)⁺ + s−·min(m − c, 0)`` by least squares over a grid of c spanning the magnitudes: the
    reversal point c with the slopes above (s+) and below (s−) it. The two columns have disjoint support, so for
    each c the slopes are closed-form, and with ``nonnegative`` each is clipped at 0 on its own, which is the exact
    non-negative least squares. A recorded response bends at its reversal point, so the chord between the two
    magnitudes around it crosses zero off the reversal; this fit does not.

    Parameters
    ----------
    magnitudes : array_like, shape [M]
        Reward magnitudes (reward units).
    mean : array_like, shape [P, M]
        Mean responses per neuron and magnitude (any unit); NaN where a neuron was not recorded (left out of its
        row's fit).
    n_grid : int
        Grid points for c.
    weights : array_like, shape [P, M], optional
        The weight of each mean (its trial count: least squares on the single trials).
    nonnegative : bool
        Clip each slope at 0 (the exact non-negative least squares). Unconstrained, rows whose responses never
        change sign get the linear extrapolation of the nearest two points for c.

    Returns
    -------
    c : numpy.ndarray, shape [P]
        Reversal points (reward units); NaN for a row with fewer than two points.
    slope_pos : numpy.ndarray, shape [P]
        Slopes above c (response units per reward unit).
    slope_neg : numpy.ndarray, shape [P]
        Slopes below c.

    Raises
    ------
    ValueError
        ``mean`` or ``weights`` of another shape than [P, M].

    See Also
    --------
    sign_count_reversal : Dabney et al.'s count-based estimator.
    reward_responses : the fit on a run or a recording, with τ̂ = s+ / (s+ + s−).

    Examples
    --------
    >>> import numpy as np
    >>> from drl import decode
    >>> magnitudes = np.array([1.0, 2.0, 4.0, 8.0])
    >>> mean = np.where(magnitudes > 3, 0.5 * (magnitudes - 3), 2.0 * (magnitudes - 3))[None, :]
    >>> c, slope_pos, slope_neg = decode.hinge_fit(magnitudes, mean)
    >>> round(float(c[0]), 2), round(float(slope_pos[0]), 2), round(float(slope_neg[0]), 2)
    (3.0, 0.5, 2.0)
    """
    magnitudes, (mean,) = _per_magnitude(magnitudes, mean=mean)
    present = np.isfinite(mean)
    weight = present * (1.0 if weights is None else np.nan_to_num(np.asarray(weights, np.float64)))
    grid = np.linspace(magnitudes[0], magnitudes[-1], n_grid)
    offset = magnitudes[None, :] - grid[:, None]  # [G, M]
    above, below = np.clip(offset, 0, None), np.clip(offset, None, 0)
    filled = np.where(present, mean, 0.0) * weight
    if np.all(weight == weight[:1]):  # every row weighted alike (shared trials): one norm per c
        norm_above, norm_below = (np.broadcast_to(weight[:1] @ (part**2).T, (weight.shape[0], grid.size))
                                  for part in (above, below))  # [P, G] views of one row
    else:
        norm_above, norm_below = weight @ (above**2).T, weight @ (below**2).T  # [P, G]
    with np.errstate(invalid="ignore", divide="ignore"):
        dot_above, dot_below = filled @ above.T, filled @ below.T
        if nonnegative:  # s+ = dot/norm clipped at 0 explains max(dot, 0)²/norm
            dot_above, dot_below = np.clip(dot_above, 0, None), np.clip(dot_below, 0, None)
        gain_above = np.where(norm_above > 0, dot_above**2 / norm_above, 0.0)
        gain_below = np.where(norm_below > 0, dot_below**2 / norm_below, 0.0)
        best = np.argmax(gain_above + gain_below, 1)  # least squares ⇔ the largest explained sum of squares
        rows = np.arange(mean.shape[0])
        c = grid[best]
        slope_pos = dot_above[rows, best] / norm_above[rows, best]
        slope_neg = dot_below[rows, best] / norm_below[rows, best]
    few = present.sum(1) < 2
    if not nonnegative:
        crosses = (np.where(present, mean, np.inf).min(1) < 0) & (np.where(present, mean, -np.inf).max(1) > 0)
        fallback = np.array([zero_crossing(magnitudes[row], mean[i:i + 1, row])[0] if row.sum() >= 2 else np.nan
                             for i, row in enumerate(present)])
        c = np.where(crosses, c, fallback)
    else:  # a side without data has no slope: 0, and the expectile code sets τ at the ends (tau_from_slopes)
        slope_pos, slope_neg = np.nan_to_num(slope_pos), np.nan_to_num(slope_neg)
    c, slope_pos, slope_neg = (np.where(few, np.nan, v) for v in (c, slope_pos, slope_neg))
    return c, slope_pos, slope_neg


def sign_count_reversal(magnitudes, positive, negative) -> np.ndarray:
    """Dabney et al. 2020's sign-count reversal point.

    The threshold between reward magnitudes that misclassifies the fewest single responses (a reward prediction
    error is negative below the reversal point and positive above it): the midpoint between the magnitudes the best threshold separates (the lowest or highest
    magnitude when all responses are of one sign), averaged over tied thresholds. Robust to a few outlying
    responses, but only as fine as the magnitudes delivered.

    Parameters
    ----------
    magnitudes : array_like, shape [M]
        Ascending reward magnitudes (reward units).
    positive : array_like, shape [P, M]
        Counts of positive single-trial responses per neuron and magnitude.
    negative : array_like, shape [P, M]
        Counts of negative single-trial responses.

    Returns
    -------
    numpy.ndarray, shape [P]
        Reversal points (reward units).

    Raises
    ------
    ValueError
        Magnitudes not ascending, or counts of another shape.

    See Also
    --------
    hinge_fit : the reversal point fitted to the mean responses.
    reward_responses : both estimators on a run or a recording.

    Examples
    --------
    >>> from drl import decode
    >>> magnitudes = [1.0, 2.0, 4.0, 8.0]
    >>> positive = [[1, 2, 9, 10]]  # a neuron inhibited below 3 and excited above it
    >>> negative = [[9, 8, 1, 0]]
    >>> decode.sign_count_reversal(magnitudes, positive, negative).tolist()
    [3.0]
    """
    magnitudes, (positive, negative) = _per_magnitude(magnitudes, positive=positive, negative=negative)
    errors = _misclassified(positive, negative)
    position = np.concatenate([[magnitudes[0]], 0.5 * (magnitudes[1:] + magnitudes[:-1]), [magnitudes[-1]]])
    best = errors == errors.min(1, keepdims=True)
    return (best * position).sum(1) / best.sum(1)


def _per_magnitude(magnitudes, **rows) -> tuple[np.ndarray, list[np.ndarray]]:
    """``magnitudes`` [M] (finite, ascending) and each of ``rows`` as float [P, M], checked: a ValueError or
    TypeError naming the argument (shapes only beyond the magnitudes: these run once per bootstrap replicate)."""
    try:
        magnitudes = np.asarray(magnitudes, np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"magnitudes must be numbers; got {magnitudes!r}") from None
    # non-decreasing: on a utility axis two magnitudes can share a value (isotonic ties, a collapsed axis)
    if magnitudes.ndim != 1 or magnitudes.size < 1 or not np.isfinite(magnitudes).all() \
            or np.any(np.diff(magnitudes) < 0):
        raise ValueError(f"magnitudes must be finite reward magnitudes in ascending order; got "
                         f"{magnitudes.tolist() if magnitudes.size < 20 else magnitudes.shape}")
    checked = []
    for name, values in rows.items():
        try:
            values = np.asarray(values, np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be numbers [predictor, magnitude]; got {type(values).__name__}") from None
        if values.ndim != 2 or values.shape[1] != magnitudes.size:
            raise ValueError(f"{name} must be [predictor, magnitude] with {magnitudes.size} magnitudes; got shape "
                             f"{values.shape}")
        checked.append(values)
    return magnitudes, checked


def _misclassified(positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """[P, M + 1] responses on the wrong side of each threshold k (after the first k magnitudes): positives below
    it plus negatives above it."""
    below = np.concatenate([np.zeros((positive.shape[0], 1)), np.cumsum(positive, 1)], 1)
    above = np.concatenate([np.cumsum(negative[:, ::-1], 1)[:, ::-1], np.zeros((negative.shape[0], 1))], 1)
    return below + above


def sign_count_crossing(axis: np.ndarray, positive: np.ndarray, negative: np.ndarray, *, caps: bool = False):
    """Dabney et al.'s ``EstimateZeroCrossings`` on the axis [M] from sign counts [P, M]: the best threshold (the
    first when several tie; the paper breaks ties with noise of 0.001) placed between the axis values either side
    of it with weights ``1/|Δcount|`` to each neighbouring threshold's count (all on a neighbour that ties).
    Beyond the ends: the end itself, or with ``caps`` the paper's 0.01 above the first and 0.1 below the last."""
    correct = -_misclassified(positive, negative)  # [P, M + 1]: the paper maximises the correct count
    n_rows, n_thresholds = correct.shape
    best = correct.argmax(1)
    rows = np.arange(n_rows)
    inner = np.clip(best, 1, n_thresholds - 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        step_below = 1.0 / np.abs(correct[rows, inner] - correct[rows, inner - 1])
        step_above = 1.0 / np.abs(correct[rows, inner + 1] - correct[rows, inner])
    tied = np.isinf(step_below) | np.isinf(step_above)
    step_below = np.where(tied, np.isinf(step_below), step_below)
    step_above = np.where(tied, np.isinf(step_above), step_above)
    weight_below = step_below / (step_below + step_above)
    # threshold k sits between axis[k − 1] and axis[k]
    crossing = weight_below * axis[inner - 1] + (1 - weight_below) * axis[np.minimum(inner, axis.size - 1)]
    low, high = (axis[0] + 0.01, axis[-1] - 0.1) if caps else (axis[0], axis[-1])
    return np.where(best == 0, low, np.where(best == n_thresholds - 1, high, crossing))


def tau_from_slopes(reversal, slope_pos, slope_neg, lo: float, hi: float) -> np.ndarray:
    """τ̂ = s+ / (s+ + s−), and at a reversal point at or beyond the axis' ends (one side without data) the level
    the expectile code puts there: 0 at the bottom, 1 at the top; NaN where neither slope is positive."""
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = slope_pos / (slope_pos + slope_neg)
    return np.where(reversal >= hi, 1.0, np.where(reversal <= lo, 0.0, tau))


def utility_axis(mean: np.ndarray) -> np.ndarray:
    """[M] the empirical utility of each magnitude (Dabney et al. 2020): the mean over neurons of their mean
    responses [N, M] (neurons not recorded at a magnitude left out), made non-decreasing by isotonic regression
    (pool-adjacent-violators, weighted by the neurons behind each mean) so that it maps back to magnitudes."""
    from sklearn.isotonic import IsotonicRegression

    counted = np.isfinite(mean).sum(0)
    if np.any(counted == 0):
        raise ValueError("the utility axis needs every magnitude recorded in at least one neuron")
    population = np.nansum(mean, 0) / counted
    axis = IsotonicRegression(increasing=True).fit_transform(np.arange(population.size), population,
                                                             sample_weight=counted)
    if np.unique(axis).size < 2:
        warnings.warn("the population's mean response does not grow with the reward magnitude (the utility axis "
                      "collapses to one value): its reversal points say nothing; read the magnitudes themselves "
                      "with axis='magnitude' if that is what you expect", UserWarning, stacklevel=frames_to_user() + 1)
    return axis


@dataclass(frozen=True)
class Estimator:
    """One way of reading reversal points and asymmetries: ``fit`` (see the module docstring) on ``axis`` [M]
    (the magnitudes, or the utility of each), for the ascending ``magnitudes`` [M]."""

    fit: str
    magnitudes: np.ndarray
    axis: np.ndarray
    axis_name: str = "magnitude"

    def to_magnitude(self, values: np.ndarray) -> np.ndarray:
        """Axis values mapped back to magnitudes (linear between magnitudes; a run of equal utilities maps to the
        mean of its magnitudes)."""
        if self.axis_name == "magnitude":
            return values
        knots, where = np.unique(self.axis, return_inverse=True)
        magnitudes = np.bincount(where, weights=self.magnitudes) / np.bincount(where)
        return np.interp(values, knots, magnitudes) if knots.size > 1 else np.full_like(values, magnitudes[0])

    def to_axis(self, magnitudes: np.ndarray) -> np.ndarray:
        """Magnitudes on the axis (linear between magnitudes)."""
        return magnitudes if self.axis_name == "magnitude" else np.interp(magnitudes, self.magnitudes, self.axis)

    def summaries(self, signal: np.ndarray, response: np.ndarray):
        """What the estimators read from single trials [..., M, R] (NaN-padded) of the signal and of the analysed
        response: (signal mean, response mean, trial counts, positive and negative counts of the signal),
        each [..., M]."""
        counts = np.isfinite(signal).sum(-1).astype(np.float64)
        return (nan_mean_last(signal), nan_mean_last(response), counts, (signal > 0).sum(-1).astype(np.float64),
                (signal < 0).sum(-1).astype(np.float64))

    def estimate(self, signal_mean, response_mean, counts=None, positive=None, negative=None):
        """(reversal point in magnitude units, s+, s−, τ̂) [P] from rows of per-magnitude summaries [P, M]:
        the signal's and the analysed response's means, trial counts (weights; None: equal), and the signal's
        positive and negative single-trial counts (for the sign-count estimators). A neuron not recorded at some
        magnitudes is read on those it has: its ends are its own smallest and largest."""
        x = self.axis
        if self.fit == "crossing":
            reversal = zero_crossing(x, signal_mean)
            slope_pos, slope_neg, tau = asymmetry(x, reversal, response_mean)
            return self.to_magnitude(reversal), slope_pos, slope_neg, tau
        present = np.isfinite(response_mean)
        first = np.where(present.any(1), present.argmax(1), 0)
        last = np.where(present.any(1), x.size - 1 - present[:, ::-1].argmax(1), x.size - 1)
        lo, hi = x[first], x[last]  # [P] each neuron's own ends
        if self.fit == "hinge":
            reversal, slope_pos, slope_neg = hinge_fit(x, response_mean, weights=counts)
            reversal = np.clip(reversal, lo, hi)  # beyond a neuron's own magnitudes its data say nothing
            return (self.to_magnitude(reversal), slope_pos, slope_neg,
                    tau_from_slopes(reversal, slope_pos, slope_neg, lo, hi))
        if positive is None or negative is None:
            raise ValueError(f"reversal_fit={self.fit!r} counts single responses of each sign: give the responses "
                             "with single trials (trial_response)")
        paper = self.fit == "dabney2020"
        reversal = np.full(present.shape[0], np.nan)
        patterns, which = np.unique(present, axis=0, return_inverse=True)
        for k, pattern in enumerate(patterns):  # a few patterns: the magnitudes each neuron was recorded at
            rows = np.flatnonzero(which.ravel() == k)
            if pattern.sum() >= 2:
                reversal[rows] = sign_count_crossing(x[pattern], positive[rows][:, pattern],
                                                     negative[rows][:, pattern], caps=paper)
        slope_pos, slope_neg, _ = asymmetry(x, reversal, response_mean, counts)
        if paper:  # the paper's linear scale factors, unconstrained
            with np.errstate(invalid="ignore", divide="ignore"):
                tau = slope_pos / (slope_pos + slope_neg)
            return self.to_magnitude(reversal), slope_pos, slope_neg, tau
        slope_pos, slope_neg = np.clip(np.nan_to_num(slope_pos), 0, None), np.clip(np.nan_to_num(slope_neg), 0, None)
        tau = np.where(np.isfinite(reversal), tau_from_slopes(reversal, slope_pos, slope_neg, lo, hi), np.nan)
        return self.to_magnitude(reversal), slope_pos, slope_neg, tau

    def from_trials(self, signal: np.ndarray, response: np.ndarray):
        """:meth:`estimate` of single trials [P, M, R] of the signal and the analysed response."""
        return self.estimate(*self.summaries(signal, response))


def nan_mean_last(values: np.ndarray) -> np.ndarray:
    """The mean over the last axis of the finite entries, NaN where there are none."""
    n = np.isfinite(values).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(np.isfinite(values), values, 0.0).sum(-1) / np.maximum(n, 1), np.nan)
