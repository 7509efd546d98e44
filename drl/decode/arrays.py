"""Decoders on arrays: what a population's responses say about the reward distribution and timing.

Pure functions on numbers a user has, simulated or measured (reversal points, values at the cue, discounts); no
run or file involved. :mod:`drl.decode.runs` reads those numbers out of a run and calls these.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy import optimize, stats

from drl._validate import in_range
from drl.distributions import RewardDistribution, expectiles

__all__ = ["DecodedDistribution", "decode_distribution", "decode_timing", "default_delay_grid", "expectiles", "fit_discount", "gcv_ridge", "implied_tau",
           "shuffle_control", "wasserstein"]


def single_blas_thread():
    """BLAS on one thread for the duration (threadpoolctl; 0.3 ms to enter). The decoders' linear algebra is
    small (hundreds of rows), where a second BLAS thread gains nothing and, beside a busy process, spin-waits
    for its core: the bootstrap of a distribution decode took 39 s instead of 15 s beside two busy processes
    (measured on the test suite's recording). The caller's setting is restored on exit."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------------------------------------- array checks
def _vector(name: str, values, *, n: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; got {array[~np.isfinite(array)][:3].tolist()} at "
                         f"{np.flatnonzero(~np.isfinite(array))[:3].tolist()}")
    if n is not None and array.size != n:
        raise ValueError(f"{name} must have the same length as levels ({n}); got {array.size}")
    return array


def _levels(name: str, values) -> np.ndarray:
    levels = _vector(name, values)
    bad = levels[(levels <= 0) | (levels >= 1)]
    if bad.size:
        raise ValueError(f"{name} must be in (0, 1); got {bad[:3].tolist()}")
    return levels


# ---------------------------------------------------------------------------------------------- expectiles
def implied_tau(distribution: RewardDistribution, reversal_point) -> np.ndarray:
    """The level τ whose expectile of ``distribution`` is each reversal point: ``τ = E[(c − R)⁺] / E[|c − R|]``
    (the expectile condition solved for τ); 0 at or below the support, 1 at or above it."""
    c = np.asarray(reversal_point, dtype=np.float64)[..., None]
    below = np.sum(distribution.probabilities * np.clip(c - distribution.values, 0, None), -1)
    above = np.sum(distribution.probabilities * np.clip(distribution.values - c, 0, None), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(above <= 0, 1.0, np.where(below <= 0, 0.0, below / (below + above)))


def _expectile_objective(samples, levels, values):
    """Σ_i g_i² with g_i = mean_j |τ_i − 1[z_j < e_i]|·(z_j − e_i), the expectile-loss gradient at e_i, and its
    gradient in the samples (the indicator is piecewise constant, so it is exact almost everywhere)."""
    diff = samples[None, :] - values[:, None]  # [I, N]
    weight = np.where(diff > 0, levels[:, None], 1 - levels[:, None])
    g = (weight * diff).mean(1)  # [I]
    loss = float(np.sum(g**2))
    grad = 2 * (g[:, None] * weight).sum(0) / samples.size
    return loss, grad


@dataclass(frozen=True)
class DecodedDistribution:
    """A reward distribution decoded from a population code.

    Attributes:
      samples: [N] imputed samples (reward units), sorted.
      grid, density: [G] reward values and a Gaussian kernel density estimate of the samples there (per reward
        unit).
      levels, values: the code decoded from (τ or quantile levels and the matching expectiles/quantiles).
      kind: "expectile" or "quantile".
      loss: final value of the imputation objective (0 for quantiles).
      residual: [I] the samples' own τ-expectiles (or τ-quantiles) minus ``values`` (reward units): how well
        the decode reproduces the code it was decoded from (noise in the code leaves some; a support cut by
        the bounds leaves more at the levels next to it).
      bounds: (lo, hi) the samples were kept in.
    """

    samples: np.ndarray
    grid: np.ndarray
    density: np.ndarray
    levels: np.ndarray
    values: np.ndarray
    kind: str
    loss: float = field(default=0.0)
    residual: np.ndarray | None = field(default=None)
    bounds: tuple | None = field(default=None)

    @property
    def mean(self) -> float:
        return float(self.samples.mean())

    @property
    def std(self) -> float:
        return float(self.samples.std())


def _density(samples: np.ndarray, lo: float, hi: float, n_grid: int = 256):
    """A kernel density of ``samples`` on [lo, hi]: Gaussian KDE reflected at the bounds, so no density falls
    outside the support (below 0 for rewards) and none is lost at its edges."""
    pad = 3 * 1.06 * float(samples.std()) * samples.size ** -0.2 or 0.05 * (hi - lo)  # three Scott bandwidths
    grid = np.linspace(max(lo, samples.min() - pad), min(hi, samples.max() + pad), n_grid)
    if np.ptp(samples) == 0:
        density = np.exp(-0.5 * ((grid - samples[0]) / (0.01 * (hi - lo or 1))) ** 2)
        return grid, density / np.trapezoid(density, grid)
    kde = stats.gaussian_kde(samples)
    density = kde(grid)
    if np.isfinite(lo):
        density = density + kde(2 * lo - grid)
    if np.isfinite(hi):
        density = density + kde(2 * hi - grid)
    return grid, density


def _convex_start(levels, values, lo: float, hi: float, n_samples: int, smoothing: float, n_grid: int = 200):
    """Samples from the distribution on a grid over [lo, hi] that best has the expectiles ``values``.

    On a fixed grid the expectile conditions are linear in the probabilities w: ``Σ_g w_g·h_i(x_g) = 0`` with
    ``h_i(x) = |τ_i − 1[x < e_i]|·(x − e_i)``. Minimising ``‖H w‖² + smoothing·s²·‖w‖²`` over the simplex (s:
    the largest |h|) is a convex problem with one minimum, solved by NNLS with the sum-to-one row weighted
    heavily; the ridge picks the most spread-out of the many exact solutions. The quantile function of w at
    ``n_samples`` even levels gives the samples, which the sample-space objective then polishes.
    """
    grid = np.linspace(lo, hi, n_grid)
    diff = grid[None, :] - values[:, None]  # [I, G]
    h = np.where(diff > 0, levels[:, None], 1 - levels[:, None]) * diff
    scale = float(np.abs(h).max()) or 1.0
    heavy = 10.0 * scale
    matrix = np.vstack([h, np.sqrt(smoothing) * scale * np.eye(n_grid), np.full((1, n_grid), heavy)])
    target = np.zeros(matrix.shape[0])
    target[-1] = heavy
    w, _ = optimize.nnls(matrix, target, maxiter=50 * n_grid)
    edges = np.concatenate([[lo], 0.5 * (grid[1:] + grid[:-1]), [hi]])  # each grid point owns a cell
    cdf = np.concatenate([[0.0], np.cumsum(w / w.sum())])
    return np.interp((np.arange(n_samples) + 0.5) / n_samples, cdf, edges)


MAX_STARTS = 6  # three convex starts (smoothing 1e-6, 1e-2, 1e-4), the quantile reading, its spread doubled, uniform
#: ``decode_distribution`` warns when its samples miss the code they were decoded from by more than this fraction
#: of the values' range (measured: 0.02 % for exact expectiles, 1 % at 2 % noise on Dabney's distribution)
RESIDUAL_WARNING = 0.03


def decode_distribution(levels, values, *, kind: str = "expectile", n_samples: int = 100, bounds=None,
                        n_starts: int = 4, seed: int = 0) -> DecodedDistribution:
    """Samples of the distribution whose τ-expectiles (or τ-quantiles) are ``values``.

    Expectiles (Dabney et al. 2020's imputation): minimise ``Σ_i g_i(z)²`` over ``n_samples`` samples ``z``,
    where ``g_i`` is the expectile-loss gradient at ``values[i]``; it vanishes exactly when ``values[i]`` is
    the ``levels[i]``-expectile of the samples. The objective has many local minima in the samples, so the
    first starts come from a convex problem (the same conditions on a grid of probabilities, which has one
    minimum; see ``benchmarks/bench_decode.py``): each start is polished by L-BFGS-B with the analytic gradient,
    bounded to ``bounds``, and the lowest objective is kept. Measured on six distribution shapes × 10/20/40
    predictors, exact and 2 %-noisy expectiles, this reaches the objective of a 30-restart random search in
    every case, at a quarter of its time or less, and a lower W1 than it in most.
    Quantiles: the quantile function is interpolated at ``n_samples`` evenly spaced levels.

    Args:
      levels: [I] levels τ_i in (0, 1).
      values: [I] the matching expectiles or quantiles (reward units).
      kind: "expectile" or "quantile".
      n_samples: number of samples to impute.
      bounds: (lo, hi) range of the samples (reward units): the support, when known. Default: the range of
        ``values`` widened by half of it on each side, and not below 0 when every value is ≥ 0 (rewards); where
        the outermost level's expectile then falls short of its value (a heavy tail the bound cuts), that bound
        is widened (doubling, up to four times) as long as the fit improves. The density is a kernel estimate
        reflected at the final bounds. The residual per level is in ``residual``; above 3 % of the values'
        range it warns.
      n_starts: 1 to 6 starting points, in this order: convex with smoothing 1e-6, 1e-2 and 1e-4, the code read
        as quantiles, that spread doubled, a uniform spread. The default 4 reached the best objective of all six
        in every benchmark case.
      seed: seed of the tie-breaking jitter of the starts.
    """
    levels = _levels("levels", levels)
    values = _vector("values", values, n=levels.size)
    if kind not in ("expectile", "quantile"):
        raise ValueError(f"kind must be 'expectile' or 'quantile'; got {kind!r}")
    if not isinstance(n_samples, int | np.integer) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer ≥ 2; got {n_samples!r}")
    if not isinstance(n_starts, int | np.integer) or not 1 <= n_starts <= MAX_STARTS:
        raise ValueError(f"n_starts must be an integer from 1 to {MAX_STARTS}; got {n_starts!r}")
    order = np.argsort(levels, kind="stable")
    levels, values = levels[order], values[order]
    span = float(np.ptp(values)) or max(abs(float(values.mean())), 1.0)
    user_bounds = bounds is not None
    floor = 0.0 if values.min() >= 0 else -np.inf  # rewards: the support starts at 0
    if bounds is None:
        bounds = (max(float(values.min()) - 0.5 * span, floor), float(values.max()) + 0.5 * span)
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ValueError(f"bounds must be (lo, hi) with lo < hi; got {bounds!r}")
    u = (np.arange(n_samples) + 0.5) / n_samples
    as_quantiles = np.interp(u, levels, np.maximum.accumulate(values))
    if kind == "quantile":
        samples = np.sort(np.clip(as_quantiles, lo, hi))
        grid, density = _density(samples, lo, hi)
        residual = np.quantile(samples, levels) - values
        return DecodedDistribution(samples, grid, density, levels, values, kind, 0.0, residual, (lo, hi))
    samples, loss = _impute(levels, values, lo, hi, n_samples, n_starts, seed, as_quantiles, span)
    residual = _own_expectiles(samples, levels) - values
    if not user_bounds:
        # A heavy tail needs samples beyond the default bounds: where the outermost level's expectile falls short
        # of its value while the samples press against that bound (a noisy code that misses elsewhere does not),
        # widen the bound (doubling) as long as the fit improves and the level still falls short. Bounds given
        # are the support and stay.
        near = 0.02 * span
        top = residual[-1] < -0.005 * span and samples[-1] >= hi - near
        bottom = residual[0] > 0.005 * span and lo > floor and samples[0] <= lo + near
        for _ in range(4):
            if not (top or bottom):
                break
            wider_lo = max(floor, values.min() - 2 * (values.min() - lo)) if bottom else lo
            wider_hi = values.max() + 2 * (hi - values.max()) if top else hi
            trial, trial_loss = _impute(levels, values, wider_lo, wider_hi, n_samples, n_starts, seed, as_quantiles,
                                        span)
            trial_residual = _own_expectiles(trial, levels) - values
            if np.abs(trial_residual).max() >= np.abs(residual).max():
                break
            samples, loss, residual, lo, hi = trial, trial_loss, trial_residual, wider_lo, wider_hi
            top = top and residual[-1] < -0.005 * span
            bottom = bottom and residual[0] > 0.005 * span and lo > floor
    worst = float(np.abs(residual).max())
    if worst > RESIDUAL_WARNING * span:
        level = float(levels[np.abs(residual).argmax()])
        warnings.warn(f"the decoded distribution misses the code it was decoded from by up to {worst:.3g} (at τ = "
                      f"{level:.3g}; {100 * worst / span:.0f} % of the values' range): the values are not a "
                      f"consistent set of expectiles (noise), or bounds=({lo:g}, {hi:g}) cut the support (see "
                      "DecodedDistribution.residual)", UserWarning, stacklevel=2)
    grid, density = _density(samples, lo, hi)
    return DecodedDistribution(samples, grid, density, levels, values, kind, loss, residual, (lo, hi))


@contextlib.contextmanager
def residual_warnings_ignored():
    """Silence :func:`decode_distribution`'s residual warning for codes that are inconsistent on purpose
    (shuffled, or resampled for a bootstrap), whose misfit is reported another way."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="the decoded distribution misses the code", category=UserWarning)
        yield


def _own_expectiles(samples: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The τ-expectiles of equally weighted samples, for each level."""
    return expectiles(RewardDistribution(samples, np.full(samples.size, 1.0 / samples.size)), levels)


def _impute(levels, values, lo: float, hi: float, n_samples: int, n_starts: int, seed: int, as_quantiles, span):
    """The best of ``n_starts`` L-BFGS-B polishes of the expectile objective in [lo, hi]: (sorted samples, loss)."""
    center = float(np.interp(0.5, levels, values))
    jitter = np.random.default_rng(seed).normal(0, 1e-6 * span, n_samples)
    starts = [
        lambda: _convex_start(levels, values, lo, hi, n_samples, 1e-6),
        lambda: _convex_start(levels, values, lo, hi, n_samples, 1e-2),
        lambda: _convex_start(levels, values, lo, hi, n_samples, 1e-4),
        lambda: as_quantiles,
        lambda: center + 2 * (as_quantiles - center),
        lambda: np.linspace(lo, hi, n_samples),
    ][:n_starts]
    solved = (1e-12 * span) ** 2  # an objective this small is zero to float rounding: no later start can beat it
    best = None
    with single_blas_thread():
        for start in starts:
            x0 = np.clip(start() + jitter, lo, hi)
            result = optimize.minimize(_expectile_objective, x0, args=(levels, values), jac=True, method="L-BFGS-B",
                                       bounds=[(lo, hi)] * n_samples, options={"maxiter": 2000, "ftol": 1e-15,
                                                                              "gtol": 1e-12})
            if best is None or result.fun < best.fun:
                best = result
            if best.fun <= solved:
                break
    return np.sort(best.x), float(best.fun)


def wasserstein(decoded, true: RewardDistribution) -> float:
    """Wasserstein-1 distance (reward units) between decoded samples (or a DecodedDistribution) and the truth."""
    samples = decoded.samples if isinstance(decoded, DecodedDistribution) else _vector("decoded", decoded)
    return float(stats.wasserstein_distance(samples, true.values, v_weights=true.probabilities))


def shuffle_control(levels, values, true: RewardDistribution, *, n_shuffles: int = 20, seed: int = 0,
                    kind: str = "expectile", n_samples: int = 100) -> np.ndarray:
    """W1 of decodes after shuffling which level goes with which value (Dabney et al. 2020's control).

    A code that carries the distribution decodes well only with the true pairing. Returns [n_shuffles] W1.
    """
    levels = _levels("levels", levels)
    values = _vector("values", values, n=levels.size)
    rng = np.random.default_rng(seed)
    with residual_warnings_ignored():  # a shuffled code is inconsistent by design: its residual is the point
        return np.array([
            wasserstein(decode_distribution(levels, rng.permutation(values), kind=kind, n_samples=n_samples,
                                            n_starts=1), true)
            for _ in range(n_shuffles)
        ])


def _zero_crossing(x: np.ndarray, y: np.ndarray) -> np.ndarray:
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


def fit_discount(delays, responses, n_grid: int = 4001, weights=None):
    """Least-squares fit of ``responses[p] ≈ A_p·γ_p^delays`` (delays in s): returns (γ̂ [P] per s, Â [P]).

    For each γ on a grid over (0, 1] the best A is closed-form; the grid minimum is refined by a parabola
    through its neighbours. Vectorised over predictors. ``weights`` [P, D] (≥ 0; e.g. the inverse variance of
    each mean response) make it a weighted fit; a weight of 0 leaves a point out.
    """
    if isinstance(n_grid, bool) or not isinstance(n_grid, int | np.integer) or n_grid < 3:
        raise ValueError(f"n_grid must be an integer >= 3 (the refinement needs a grid point on each side); "
                         f"got {n_grid!r}")
    delays = _vector("delays", delays)
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
    """The relative ridge that minimises generalised cross-validation (Golub, Heath & Wahba 1979) for
    ``values ≈ matrix @ p``: ``GCV(r) = n·‖(I − H_r) v‖² / (n − tr H_r)²`` with the ridge hat matrix
    ``H_r = U diag(s²/(s² + r·s_max²)) Uᵀ``, over :data:`RIDGE_GRID`. It scores the unconstrained ridge fit
    (the non-negative fit has no closed-form hat matrix); measured in ``benchmarks/bench_decode.py``."""
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
    """The delays (s) timing is decoded on unless told: 0.5 s bins from 0 to 10 s or to 1.25 × the latest of
    ``delays``, whichever is later, so that every delay lies inside the grid with a quarter to spare."""
    delays = np.asarray(delays, np.float64).ravel()
    latest = float(delays.max()) if delays.size else 0.0
    return np.arange(0, max(10.0, 1.25 * latest) + 1e-9, 0.5)


def warn_if_at_edge(delay: np.ndarray, probability: np.ndarray, what: str = "decoded delays") -> None:
    """Warn when the last grid point holds a pile of probability (≥ 5 % and more than its neighbour): the
    distribution was cut off there, and its mean and mode would read the grid's end as the answer."""
    if probability.size > 1 and probability[-1] >= 0.05 and probability[-1] > probability[-2]:
        warnings.warn(f"{probability[-1]:.0%} of the {what} pile at the end of the grid ({delay[-1]:g} s): the "
                      f"true delay may lie beyond it; pass times= reaching further", UserWarning, stacklevel=3)


def decode_timing(gamma, values, times=None, *, ridge: float | str = 1e-6, normalize: bool = True,
                  weights=None) -> xr.Dataset:
    """The distribution of reward delays from the values at the cue of a γ-diverse population.

    Solves ``min_p ‖A p − v‖² + ridge·s²·‖p‖²`` subject to ``p ≥ 0``, where ``A[i, t] = γ_i^t`` is the discount
    matrix, ``s`` its largest singular value (so ``ridge`` is scale-free), by NNLS on the stacked system.

    Args:
      gamma: [P] discount per second of each predictor, in (0, 1).
      values: [P] each predictor's prediction at the cue, ∝ Σ_t γ^t p(t): the cue response, or γ^dt·V_cue
        (:func:`cue_values` gives either; a raw V_cue is γ^(t − dt) and would shift the decoded delays by dt).
      times: [T] delays (s) to decode on; default 0 … 10 s in 0.5 s bins (:func:`default_delay_grid`). A pile
        of probability at the grid's last delay warns: the distribution was cut off.
      ridge: relative regularisation strength (≥ 0; larger is smoother), or ``"gcv"`` to choose it by
        generalised cross-validation (:func:`gcv_ridge`; the chosen value is in ``attrs["ridge"]``). Measured with
        30 γ in [0.5, 0.99] (docs/drl.md): 1e-8 to 1e-6 is best up to 1 % relative noise, and 1e-2 makes W1
        3-200x worse; only at 5 % noise on a two-delay distribution does ~1e-3 win. The default 1e-6 is a safe
        middle.
      normalize: divide p by its sum (a probability over ``times``); the sum is kept as ``mass`` (the expected
        reward, when values are in reward units).
      weights: [P] ≥ 0, a weight per predictor in the fit, e.g. the inverse variance of a recorded neuron's
        mean response (Masset et al. 2025); default equal weights.

    Returns a Dataset with ``probability`` [delay] and attrs ``mass``, ``ridge`` (the one used), ``ridge_rule``
    ("fixed" or "gcv"), ``residual``.
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
    scale = np.linalg.norm(matrix, 2)
    stacked = np.vstack([matrix, np.sqrt(ridge) * scale * np.eye(times.size)])
    target = np.concatenate([values, np.zeros(times.size)])
    with single_blas_thread():
        p, _ = optimize.nnls(stacked, target, maxiter=50 * times.size)
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


def _density_at(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Kernel density of ``samples`` on ``grid`` (half Scott's bandwidth, at least one grid step)."""
    step = float(np.min(np.diff(grid))) if grid.size > 1 else 1.0
    width = max(0.5 * 1.06 * float(samples.std()) * samples.size ** -0.2, step)  # half of Scott: keeps modes
    return np.exp(-0.5 * ((grid[:, None] - samples[None, :]) / width) ** 2).sum(1)
