"""Sousa et al. 2025's calibration of a recorded population's distributional code (pure functions on arrays).

Recorded asymmetries τ̂ are noisy and biased, and nothing forces them to rise with the reversal point, as the
expectiles of one distribution must. Sousa et al. therefore (1) subtract each τ̂'s estimated bias
(:func:`~drl.decode.reward_response_intervals` gives a bootstrap estimate), (2) fit τ as a non-decreasing
function of the reversal point by isotonic regression, weighting each neuron by ``1 / (1 + var τ̂)``
(:func:`calibrated_tau`), and (3) to decode the distribution a cue predicts, map each neuron's cue response
(divided by its gain and discount, ``gain·γ̂^delay``) to a reversal point with a robust (Huber) linear
regression fitted on the neurons' reward reversal points (:func:`reversal_from_cue`);
:func:`~drl.decode.decode_cue_distribution` combines them. scikit-learn's
``IsotonicRegression`` and ``HuberRegressor`` do the fits, as in the paper's code.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from drl.decode._checks import vector as _vector

__all__ = ["calibrated_tau", "reversal_from_cue"]


def calibrated_tau(reversal_point, tau, tau_variance=None) -> np.ndarray:
    """τ as a non-decreasing function of the reversal point, by weighted isotonic regression (Sousa et al. 2025).

    Parameters
    ----------
    reversal_point : array_like, shape [predictor]
        Reversal points (reward units).
    tau : array_like, shape [predictor]
        Asymmetries, bias-corrected (``tau_hat_corrected``) or not, in [0, 1].
    tau_variance : array_like, shape [predictor], optional
        The variance of each τ (``tau_hat_variance``); weights ``1 / (1 + variance)``. Default: equal weights.

    Returns
    -------
    numpy.ndarray, shape [predictor]
        The fitted τ at each reversal point (ties in the fit are pooled, so a block of neurons can share a
        level). Predictors with a non-finite input get NaN.

    Examples
    --------
    Two neurons out of order are pooled to their mean:

    >>> from drl import decode
    >>> decode.calibrated_tau([1.0, 2.0, 3.0, 4.0], [0.1, 0.5, 0.3, 0.9]).round(2).tolist()
    [0.1, 0.4, 0.4, 0.9]
    """
    from sklearn.isotonic import IsotonicRegression

    reversal_point = np.asarray(reversal_point, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)
    if reversal_point.ndim != 1 or tau.shape != reversal_point.shape:
        raise ValueError(f"reversal_point and tau must be 1-D of one length; got shapes {reversal_point.shape} "
                         f"and {tau.shape}")
    variance = np.zeros_like(tau) if tau_variance is None else np.asarray(tau_variance, dtype=np.float64)
    if variance.shape != tau.shape:
        raise ValueError(f"tau_variance must have the shape of tau {tau.shape}; got {variance.shape}")
    finite = np.isfinite(reversal_point) & np.isfinite(tau) & np.isfinite(variance)
    if np.any(tau[finite] < 0) or np.any(tau[finite] > 1) or np.any(variance[finite] < 0):
        raise ValueError("tau must lie in [0, 1] and tau_variance be ≥ 0")
    if finite.sum() < 2:
        raise ValueError(f"calibrated_tau needs at least two predictors with finite values; got {finite.sum()}")
    fit = IsotonicRegression(increasing=True, y_min=0.0, y_max=1.0)
    fit.fit(reversal_point[finite], tau[finite], sample_weight=1.0 / (1.0 + variance[finite]))
    out = np.full(tau.shape, np.nan)
    out[finite] = fit.predict(reversal_point[finite])
    return out


def reversal_from_cue(cue_response, reversal_point) -> xr.Dataset:
    """Huber regression of the reversal points on the cue responses, and the reversal point each cue response implies.

    Sousa et al. 2025: an optimistic neuron predicts a high expectile of the reward at the cue as well as reversing
    late at the reward, so a neuron's cue response to a variable reward (divided by its gain·γ̂^delay) is a linear
    readout of its reversal point. Huber's loss keeps a few outlying neurons from tilting the line.

    Parameters
    ----------
    cue_response : array_like, shape [neuron]
        Cue responses, each divided by the neuron's gain·γ̂^delay (any unit); at least three distinct.
    reversal_point : array_like, shape [neuron]
        Reversal points at the reward (reward units).

    Returns
    -------
    xarray.Dataset
        ``reversal_point_at_cue`` [neuron] (the line at each cue response), ``outlier`` [neuron] (flagged by the
        Huber fit); attrs ``slope``, ``intercept``, ``scale``, ``pearson_r``.

    Raises
    ------
    ValueError
        Fewer than three distinct cue responses, or arrays of different lengths.

    See Also
    --------
    decode_cue_distribution : the distribution decoded from these reversal points.
    calibrated_tau : the τ paired with them.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import decode
    >>> cue = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    >>> reversal = 0.5 + 1.5 * cue
    >>> reversal[2] += 10  # one outlying neuron
    >>> fit = decode.reversal_from_cue(cue, reversal)
    >>> round(fit.attrs["slope"], 2), fit["outlier"].values.tolist()
    (1.5, [False, False, True, False, False, False])
    """
    from scipy import stats
    from sklearn.linear_model import HuberRegressor

    cue_response = _vector("cue_response", cue_response)
    reversal_point = _vector("reversal_point", reversal_point, n=cue_response.size)
    if cue_response.size < 3 or np.ptp(cue_response) == 0:
        raise ValueError(f"reversal_from_cue needs at least three distinct cue responses; got {cue_response.size} "
                         f"spanning {np.ptp(cue_response):g}")
    fit = HuberRegressor(max_iter=1000).fit(cue_response[:, None], reversal_point)
    out = xr.Dataset({
        "reversal_point_at_cue": ("neuron", fit.predict(cue_response[:, None]),
                                  {"long_name": "reversal point implied by the cue response"}),
        "outlier": ("neuron", fit.outliers_, {"long_name": "beyond the Huber threshold"}),
    })
    out.attrs.update(slope=float(fit.coef_[0]), intercept=float(fit.intercept_), scale=float(fit.scale_),
                     pearson_r=float(stats.pearsonr(cue_response, reversal_point)[0]))
    return out
