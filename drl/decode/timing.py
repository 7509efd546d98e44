"""Decoding reward timing from a γ-diverse population (Masset et al. 2025): the discount fit and the inverse
discrete Laplace transform. Pure functions on arrays (discounts, values at the cue, delays in s).
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from scipy import optimize

from drl._validate import frames_to_user, in_range
from drl.decode._checks import single_blas_thread
from drl.decode._checks import vector as _vector

__all__ = ["MAX_DELAYS", "RIDGE_GRID", "decode_timing", "default_delay_grid", "fit_discount", "gcv_ridge",
           "ridge_nnls", "warn_if_at_edge"]


def fit_discount(delays, responses, n_grid: int = 4001, weights=None):
    """Fit an exponential discount ``responses[p] ≈ A_p·γ_p^delays`` per neuron, by least squares.

    For each γ on a grid over (0, 1] the best A is closed-form; the grid minimum is refined by a parabola through
    its neighbours. Vectorised over neurons.

    Parameters
    ----------
    delays : array_like, shape [D]
        Reward delays (s).
    responses : array_like, shape [P, D]
        Responses per neuron and delay (any unit: the gain A absorbs it).
    n_grid : int
        Grid points for γ.
    weights : array_like, shape [P, D], optional
        Non-negative weights (e.g. the inverse variance of each mean response); a weight of 0 leaves a point out.

    Returns
    -------
    gamma_hat : numpy.ndarray, shape [P]
        The fitted discounts (per s).
    amplitude : numpy.ndarray, shape [P]
        The fitted gains A.

    Raises
    ------
    ValueError
        Shapes that do not match, negative or non-finite weights.

    See Also
    --------
    fit_hyperbolic : the hyperbolic alternative ``A / (1 + k·delay)``.
    cue_responses : the fit on a run or a recording.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import decode
    >>> delays = np.array([0.6, 1.5, 3.75, 9.375])
    >>> responses = np.array([2.0 * 0.8 ** delays, 0.5 * 0.95 ** delays])
    >>> gamma_hat, amplitude = decode.fit_discount(delays, responses)
    >>> gamma_hat.round(4).tolist(), amplitude.round(3).tolist()
    ([0.8, 0.95], [2.0, 0.5])
    """
    if isinstance(n_grid, bool) or not isinstance(n_grid, int | np.integer) or n_grid < 3:
        raise ValueError(f"n_grid must be an integer >= 3 (the refinement needs a grid point on each side); "
                         f"got {n_grid!r}")
    delays = _vector("delays", delays)
    if np.unique(delays).size < 2:
        raise ValueError(f"delays must hold at least two distinct delays (a discount is the decay between "
                         f"delays); got {delays.tolist()}")
    responses = np.atleast_2d(np.asarray(responses, dtype=np.float64))
    if responses.shape[1] != delays.size or not np.all(np.isfinite(responses)):
        raise ValueError(f"responses must be finite with shape [P, {delays.size}]; got {responses.shape}")
    if weights is None:
        weights = np.ones_like(responses)
    weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), responses.shape)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or np.any((weights > 0).sum(1) < 2):
        raise ValueError("weights must be finite, ≥ 0, and positive for at least two delays per predictor")
    grid = np.linspace(1e-3, 1.0, n_grid)
    basis = grid[:, None] ** delays[None, :]  # [G, D]
    norm = weights @ (basis**2).T  # [P, G]
    proj = (weights * responses) @ basis.T  # [P, G]
    sse = (weights * responses**2).sum(1, keepdims=True) - proj**2 / norm  # residual with the best A for each γ
    best = np.clip(sse.argmin(1), 1, n_grid - 2)
    rows = np.arange(responses.shape[0])
    s0, s1, s2 = sse[rows, best - 1], sse[rows, best], sse[rows, best + 1]
    curvature = s0 - 2 * s1 + s2
    step = np.where(curvature > 0, 0.5 * (s0 - s2) / np.where(curvature > 0, curvature, 1), 0.0)
    gamma_hat = np.clip(grid[best] + np.clip(step, -1, 1) * (grid[1] - grid[0]), grid[0], 1.0)
    basis_hat = gamma_hat[:, None] ** delays[None, :]
    amplitude = (weights * responses * basis_hat).sum(1) / (weights * basis_hat**2).sum(1)
    return gamma_hat, amplitude


RIDGE_GRID = np.geomspace(1e-12, 1.0, 61)  # the relative ridges generalised cross-validation chooses among


def gcv_ridge(matrix, values) -> float:
    """The relative ridge that generalised cross-validation chooses for a linear decode.

    Golub, Heath & Wahba 1979: for ``values ≈ matrix @ p`` it minimises ``GCV(r) = n·‖(I − H_r) v‖² / (n −
    tr H_r)²`` with the ridge hat matrix ``H_r = U diag(s²/(s² + r·s_max²)) Uᵀ`` over ``RIDGE_GRID``
    (10⁻¹² to 1). It scores the unconstrained ridge fit (the non-negative fit has no closed-form hat matrix);
    measured in ``benchmarks/bench_decode.py``.

    Parameters
    ----------
    matrix : array_like, shape [n, T]
        The decode's kernel (e.g. ``γ_p^delay_t``).
    values : array_like, shape [n]
        The values decoded (e.g. each neuron's cue value).

    Returns
    -------
    float
        The ridge, relative to the largest squared singular value of ``matrix``.

    See Also
    --------
    decode_timing : takes ``ridge="gcv"`` to choose its ridge this way.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import decode
    >>> rng = np.random.default_rng(0)
    >>> gamma = np.linspace(0.5, 0.99, 30)
    >>> matrix = gamma[:, None] ** np.arange(0, 10, 0.5)[None, :]
    >>> clean = matrix[:, 6]  # every neuron's value of one reward at 3 s
    >>> noisy = clean + rng.normal(0, 0.05, clean.size)
    >>> bool(decode.gcv_ridge(matrix, noisy) > decode.gcv_ridge(matrix, clean))  # more noise, more ridge
    True
    """
    u, s, _ = np.linalg.svd(matrix, full_matrices=False)
    n = matrix.shape[0]
    projected = u.T @ values
    outside = float(values @ values - projected @ projected)  # the part of v no p can reach
    best_score, best_ridge = np.inf, float(RIDGE_GRID[0])
    for ridge in RIDGE_GRID:
        shrink = s**2 / (s**2 + ridge * s[0] ** 2)
        residual = outside + float(np.sum(((1 - shrink) * projected) ** 2))
        score = n * residual / (n - shrink.sum()) ** 2
        if score < best_score:
            best_score, best_ridge = score, float(ridge)
    return best_ridge


#: The most delays ``decode_timing`` decodes on (a (P + T) × T system: 5000 delays need ~200 MB)
MAX_DELAYS = 5000


def default_delay_grid(delays) -> np.ndarray:
    """The delays timing is decoded on unless told.

    0.5 s bins from 0 to 10 s, or to 1.25 × the latest of ``delays`` when that is later, so that every delay lies
    inside the grid with a quarter to spare.

    Parameters
    ----------
    delays : array_like
        The task's reward delays (s), each ≥ 0.

    Returns
    -------
    numpy.ndarray, shape [T]
        The grid (s).

    Raises
    ------
    ValueError
        A delay that is negative or not finite.
    TypeError
        ``delays`` that are not numbers.

    See Also
    --------
    decode_timing : decodes on this grid by default.

    Examples
    --------
    >>> from drl import decode
    >>> grid = decode.default_delay_grid([0.6, 1.5, 3.75, 9.375])
    >>> float(grid[0]), float(grid[1]), float(grid[-1])
    (0.0, 0.5, 11.5)
    """
    try:
        delays = np.asarray(delays, np.float64).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"delays must be numbers (s); got {delays!r}") from None
    if not np.isfinite(delays).all() or (delays < 0).any():
        raise ValueError(f"delays must be finite and ≥ 0 s; got {delays[~np.isfinite(delays) | (delays < 0)][:3].tolist()}")
    latest = float(delays.max()) if delays.size else 0.0
    return np.arange(0, max(10.0, 1.25 * latest) + 1e-9, 0.5)


def warn_if_at_edge(delay: np.ndarray, probability: np.ndarray, what: str = "decoded delays") -> None:
    """Warn when the last grid point holds a pile of probability (≥ 5 % and more than its neighbour): the
    distribution was cut off there, and its mean and mode would read the grid's end as the answer."""
    if probability.size > 1 and probability[-1] >= 0.05 and probability[-1] > probability[-2]:
        warnings.warn(f"{probability[-1]:.0%} of the {what} pile at the end of the grid ({delay[-1]:g} s): the "
                      f"true delay may lie beyond it; pass times= reaching further", UserWarning,
                      stacklevel=frames_to_user() + 1)


def ridge_nnls(matrix, values, ridge: float) -> np.ndarray:
    """p ≥ 0 minimising ``‖M p − v‖² + ridge·s²·‖p‖²`` (``s``: M's largest singular value, so ``ridge`` is
    scale-free), by NNLS on the stacked system. ``matrix`` [P, T], ``values`` [P]; returns [T]."""
    n_times = matrix.shape[1]
    scale = np.linalg.norm(matrix, 2)
    stacked = np.vstack([matrix, np.sqrt(ridge) * scale * np.eye(n_times)])
    target = np.concatenate([values, np.zeros(n_times)])
    with single_blas_thread():
        p, _ = optimize.nnls(stacked, target, maxiter=50 * n_times)
    return p


def decode_timing(gamma, values, times=None, *, ridge: float | str = 1e-6, normalize: bool = True,
                  weights=None) -> xr.Dataset:
    """The distribution of reward delays from the values at the cue of a γ-diverse population.

    Solves ``min_p ‖A p − v‖² + ridge·s²·‖p‖²`` subject to ``p ≥ 0``, where ``A[i, t] = γ_i^t`` is the discount
    matrix, ``s`` its largest singular value (so ``ridge`` is scale-free), by NNLS on the stacked system.

    Parameters
    ----------
    gamma : array_like, shape [predictor]
        Each predictor's discount per second, in (0, 1).
    values : array_like, shape [predictor]
        Each predictor's prediction at the cue, ∝ Σ_t γ^t p(t): the cue response, or γ^dt·V_cue
        (:func:`cue_values` gives either; a raw V_cue is γ^(t − dt) and would shift the decoded delays by dt).
    times : array_like, shape [delay], optional
        Delays (s) to decode on; default 0 … 10 s in 0.5 s bins (:func:`default_delay_grid`). A pile of
        probability at the grid's last delay warns: the distribution was cut off.
    ridge : float or "gcv"
        Relative regularisation strength (≥ 0; larger is smoother), or ``"gcv"`` to choose it by generalised
        cross-validation (:func:`gcv_ridge`; the chosen value is in ``attrs["ridge"]``). Measured with 30 γ in
        [0.5, 0.99] (docs/guide/decoding.md): 1e-8 to 1e-6 is best up to 1 % relative noise, and 1e-2 makes W1 3-200x
        worse; only at 5 % noise on a two-delay distribution does ~1e-3 win. The default 1e-6 is a safe middle.
    normalize : bool
        Divide p by its sum (a probability over ``times``); the sum is kept as ``mass`` (the expected reward,
        when values are in reward units).
    weights : array_like, shape [predictor], optional
        ≥ 0, a weight per predictor in the fit, e.g. the inverse variance of a recorded neuron's mean response
        (Masset et al. 2025); default equal weights.

    Returns
    -------
    xarray.Dataset
        ``probability`` [delay]; attrs ``mass``, ``ridge`` (the one used), ``ridge_rule`` ("fixed" or "gcv"),
        ``residual``.

    Examples
    --------
    The exact cue values of one reward of 1 after 3 s, read by 30 discounts:

    >>> import numpy as np
    >>> from drl import decode
    >>> gamma = np.linspace(0.5, 0.99, 30)
    >>> decoded = decode.decode_timing(gamma, gamma ** 3.0)
    >>> float(decoded["delay"].values[decoded["probability"].values.argmax()]), round(decoded.attrs["mass"], 2)
    (3.0, 1.0)
    """
    gamma = _vector("gamma", gamma)
    bad = gamma[(gamma <= 0) | (gamma >= 1)]
    if bad.size:
        raise ValueError(f"gamma must be in (0, 1) for timing decoding; got {bad[:3].tolist()}")
    values = _vector("values", values, n=gamma.size)
    times = default_delay_grid([]) if times is None else _vector("times", times)
    if np.any(times < 0) or np.any(np.diff(times) <= 0):
        raise ValueError("times must be non-negative and increasing")
    if times.size > MAX_DELAYS:  # the ridge system is (P + T) × T: refuse before numpy asks for the memory
        need = (gamma.size + times.size) * times.size * 8
        raise ValueError(f"times has {times.size} delays: the fit would need a {gamma.size + times.size} × "
                         f"{times.size} matrix ({need / 2**30:.1f} GiB); decode on at most {MAX_DELAYS} delays "
                         f"(0.01 s steps reach {MAX_DELAYS / 100:g} s), coarser than the population can resolve "
                         "anyway")
    matrix = gamma[:, None] ** times[None, :]  # [P, T]
    if weights is not None:  # weighted least squares: rows scaled by √w
        weights = _vector("weights", weights, n=gamma.size)
        if np.any(weights < 0) or not np.any(weights > 0):
            raise ValueError("weights must be ≥ 0 with at least one positive")
        root = np.sqrt(weights / weights.max())
        matrix, values = matrix * root[:, None], values * root
    rule = "gcv" if isinstance(ridge, str) and ridge == "gcv" else "fixed"
    if rule == "gcv":
        ridge = gcv_ridge(matrix, values)
    elif isinstance(ridge, str) or not isinstance(ridge, int | float | np.number):
        raise ValueError(f"ridge must be a number ≥ 0 or 'gcv'; got {ridge!r}")
    in_range("ridge", ridge, 0, np.inf)
    p = ridge_nnls(matrix, values, ridge)
    residual = float(np.linalg.norm(matrix @ p - values))
    mass = float(p.sum())
    prob = p / mass if (normalize and mass > 0) else p
    if mass > 0:
        warn_if_at_edge(times, p / mass)
    out = xr.Dataset({"probability": ("delay", prob, {"long_name": "decoded probability of each delay",
                                                      "units": "1" if normalize else "reward units"})},
                     coords={"delay": ("delay", times, {"units": "s", "long_name": "reward delay after the cue"})})
    out.attrs.update(mass=mass, ridge=float(ridge), ridge_rule=rule, residual=residual)
    return out
