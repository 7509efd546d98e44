"""Decoding a population: what its responses say about the reward distribution and the reward timing.

Three codes, as in the papers, each readable from a stored run or from arrays a user measured:

* optimism τ → reward distribution (Dabney et al. 2020). A predictor's reward response reverses sign at the
  τ-expectile of the reward (its **reversal point**); the reversal points of a τ-diverse population are the
  distribution's expectiles, and :func:`decode_distribution` imputes samples that have them.
* discount γ → reward timing (Masset et al. 2025). The cue response is ``Σ_t γ^t p(t) r̄`` (textbook TD:
  ``δ_cue = r_cue + γ^dt·V_cue``), a discrete Laplace transform of the delay distribution; :func:`decode_timing`
  inverts it (non-negative ridge).
* τ × γ → the joint time × magnitude map (Sousa et al. 2025): :func:`decode_joint`.

Responses are read from the trials after learning (``learned_fraction``: the last half by default). Run-level
functions return xarray Datasets with the predictor parameters as coordinates; distribution decodes return a
:class:`DecodedDistribution`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy import optimize, stats

from drl._validate import in_range
from drl.convergence import warn_if_unconverged
from drl.schema import run_options, trials_of_type
from drl.store import open_run
from drl.tasks import RewardDistribution, Task

__all__ = [
    "DecodedDistribution",
    "cue_responses",
    "cue_values",
    "decode_distribution",
    "decode_joint",
    "decode_run_distribution",
    "decode_timing",
    "expectiles",
    "learned_trials",
    "fit_discount",
    "reward_responses",
    "shuffle_control",
    "wasserstein",
]


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
def expectiles(distribution: RewardDistribution, levels) -> np.ndarray:
    """The τ-expectiles of a discrete distribution, for each τ in ``levels`` (exact, by bisection).

    The τ-expectile e solves ``τ·E[(X−e)⁺] = (1−τ)·E[(e−X)⁺]``; τ = 0.5 gives the mean.
    """
    if not isinstance(distribution, RewardDistribution):
        raise TypeError(f"distribution must be a drl.RewardDistribution (e.g. task.reward_distribution(name)); "
                        f"got {type(distribution).__name__}")
    levels = _levels("levels", levels)
    x, p = np.asarray(distribution.values, float), np.asarray(distribution.probabilities, float)
    lo, hi = np.full(levels.shape, x.min()), np.full(levels.shape, x.max())
    for _ in range(100):  # the balance is monotone in e: bisection to float precision
        e = 0.5 * (lo + hi)
        above = (p * np.clip(x[None, :] - e[:, None], 0, None)).sum(1)
        below = (p * np.clip(e[:, None] - x[None, :], 0, None)).sum(1)
        up = levels * above > (1 - levels) * below
        lo, hi = np.where(up, e, lo), np.where(up, hi, e)
    return 0.5 * (lo + hi)


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
    """

    samples: np.ndarray
    grid: np.ndarray
    density: np.ndarray
    levels: np.ndarray
    values: np.ndarray
    kind: str
    loss: float = field(default=0.0)

    @property
    def mean(self) -> float:
        return float(self.samples.mean())

    @property
    def std(self) -> float:
        return float(self.samples.std())


def _density(samples: np.ndarray, lo: float, hi: float, n_grid: int = 256):
    pad = 3 * 1.06 * float(samples.std()) * samples.size ** -0.2 or 0.05 * (hi - lo)  # three Scott bandwidths
    grid = np.linspace(max(lo, samples.min() - pad), min(hi, samples.max() + pad), n_grid)
    if np.ptp(samples) == 0:
        density = np.exp(-0.5 * ((grid - samples[0]) / (0.01 * (hi - lo or 1))) ** 2)
        return grid, density / np.trapezoid(density, grid)
    return grid, stats.gaussian_kde(samples)(grid)


def decode_distribution(levels, values, *, kind: str = "expectile", n_samples: int = 100, bounds=None,
                        n_starts: int = 3, seed: int = 0) -> DecodedDistribution:
    """Samples of the distribution whose τ-expectiles (or τ-quantiles) are ``values``.

    Expectiles (Dabney et al. 2020's imputation): minimise ``Σ_i g_i(z)²`` over ``n_samples`` samples ``z``,
    where ``g_i`` is the expectile-loss gradient at ``values[i]``; it vanishes exactly when ``values[i]`` is
    the ``levels[i]``-expectile of the samples. L-BFGS-B with the analytic gradient, bounded to ``bounds``
    (default: the range of ``values`` widened by half of it on each side), from ``n_starts`` deterministic
    starts (the code read as quantiles, that spread doubled, a uniform spread); the best is kept.
    Quantiles: the quantile function is interpolated at ``n_samples`` evenly spaced levels.

    Args:
      levels: [I] levels τ_i in (0, 1).
      values: [I] the matching expectiles or quantiles (reward units).
      kind: "expectile" or "quantile".
      n_samples: number of samples to impute.
      bounds: (lo, hi) range of the samples (reward units).
      n_starts: 1 to 3 starting points.
      seed: seed of the tie-breaking jitter of the starts.
    """
    levels = _levels("levels", levels)
    values = _vector("values", values, n=levels.size)
    if kind not in ("expectile", "quantile"):
        raise ValueError(f"kind must be 'expectile' or 'quantile'; got {kind!r}")
    if not isinstance(n_samples, int | np.integer) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer ≥ 2; got {n_samples!r}")
    if not 1 <= n_starts <= 3:
        raise ValueError(f"n_starts must be 1, 2 or 3; got {n_starts!r}")
    order = np.argsort(levels, kind="stable")
    levels, values = levels[order], values[order]
    span = float(np.ptp(values)) or max(abs(float(values.mean())), 1.0)
    if bounds is None:
        bounds = (float(values.min()) - 0.5 * span, float(values.max()) + 0.5 * span)
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ValueError(f"bounds must be (lo, hi) with lo < hi; got {bounds!r}")
    u = (np.arange(n_samples) + 0.5) / n_samples
    as_quantiles = np.interp(u, levels, np.maximum.accumulate(values))
    if kind == "quantile":
        samples = np.clip(as_quantiles, lo, hi)
        grid, density = _density(samples, lo, hi)
        return DecodedDistribution(np.sort(samples), grid, density, levels, values, kind, 0.0)
    center = float(np.interp(0.5, levels, values))
    jitter = np.random.default_rng(seed).normal(0, 1e-6 * span, n_samples)
    starts = [as_quantiles, center + 2 * (as_quantiles - center), np.linspace(lo, hi, n_samples)][:n_starts]
    best = None
    for start in starts:
        x0 = np.clip(start + jitter, lo, hi)
        result = optimize.minimize(_expectile_objective, x0, args=(levels, values), jac=True, method="L-BFGS-B",
                                   bounds=[(lo, hi)] * n_samples, options={"maxiter": 2000, "ftol": 1e-15,
                                                                          "gtol": 1e-12})
        if best is None or result.fun < best.fun:
            best = result
    samples = np.sort(best.x)
    grid, density = _density(samples, lo, hi)
    return DecodedDistribution(samples, grid, density, levels, values, kind, float(best.fun))


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
    return np.array([
        wasserstein(decode_distribution(levels, rng.permutation(values), kind=kind, n_samples=n_samples,
                                        n_starts=1), true)
        for _ in range(n_shuffles)
    ])


# ---------------------------------------------------------------------------------------------- run responses
def learned_trials(ds: xr.Dataset, trial_type: str, learned_fraction: float = 0.5) -> xr.Dataset:
    """The last ``learned_fraction`` of the recorded trials of ``trial_type`` (at least one): "after learning"."""
    in_range("learned_fraction", learned_fraction, 0, 1, lo_open=True)
    sub = trials_of_type(ds, trial_type)
    n = sub.sizes["trial"]
    return sub.isel(trial=slice(n - max(1, int(round(n * learned_fraction))), None))


def _step_index(ds: xr.Dataset, time: float, what: str) -> int:
    t = ds["time"].values
    k = int(np.argmin(np.abs(t - time)))
    if abs(t[k] - time) > 1e-6:
        raise ValueError(f"the {what} time {time:g} s was not recorded (record_times of this run: {t[0]:g} … "
                         f"{t[-1]:g} s, {t.size} times)")
    return k


def _need(ds: xr.Dataset, *names: str) -> None:
    for name in names:
        if name not in ds.data_vars:
            raise ValueError(f"this run did not record {name!r} (recorded: {sorted(ds.data_vars)})")


def _scaled(ds: xr.Dataset, rpe: np.ndarray, response: str) -> np.ndarray:
    """rpe [P, ...] as the response: the RPE itself, or scaled by α+ / α− (Dabney's model dopamine response)."""
    if response == "rpe":
        return rpe
    if response != "scaled":
        raise ValueError(f"response must be 'scaled' or 'rpe'; got {response!r}")
    shape = (-1,) + (1,) * (rpe.ndim - 1)
    return np.where(rpe > 0, ds["alpha_pos"].values.reshape(shape), ds["alpha_neg"].values.reshape(shape)) * rpe


def _parameter_coords(ds: xr.Dataset) -> dict:
    return {name: ("predictor", ds[name].values) for name in ("alpha_pos", "alpha_neg", "tau", "gamma", "lam")}


def reward_responses(run, trial_type: str | None = None, *, event: int = 0, learned_fraction: float = 0.5,
                     response: str = "scaled", resample: bool = False, seed: int = 0) -> xr.Dataset:
    """Each predictor's response to the reward as a function of its magnitude, its reversal point and asymmetry.

    The response is the RPE at the reward step, scaled by α+ or α− (``response="scaled"``, the model dopamine
    response of Dabney et al. 2020) or not (``"rpe"``), averaged over the learned trials that delivered each
    magnitude. The **reversal point** is where the response crosses zero (linear interpolation between
    magnitudes; linear extrapolation from the nearest two when it does not cross). Lines through the reversal
    point fitted above and below it give the slopes s+ and s−, and the estimated asymmetry
    ``tau_hat = s+ / (s+ + s−)``.

    ``resample=True`` estimates each predictor's reversal point and slopes from two independent bootstrap
    resamples (``seed``) of its learned trials, as if each neuron had been recorded in its own session: all
    predictors of a run see the same reward sequence, so without it the trial-to-trial noise they share can
    correlate the two estimates on its own (the confound Dabney et al. 2020 avoid with independent data).

    Returns a Dataset: ``response`` [predictor, magnitude], ``reversal_point``, ``slope_pos``, ``slope_neg``,
    ``tau_hat`` [predictor], ``count`` [magnitude] (trials averaged), with the predictor parameters as coords.
    """
    ds = open_run(run)
    _need(ds, "rpe", "reward")
    task = Task.from_dict(ds.attrs["task"])
    trial_type = trial_type or task.trial_type_names[0]
    warn_if_unconverged(ds, trial_types=[trial_type], learned_fraction=learned_fraction)
    sub = learned_trials(ds, trial_type, learned_fraction)
    spec = task.trial_types[task.trial_type_index(trial_type)]
    if not 0 <= event < len(spec.rewards):
        raise ValueError(f"event must index the {len(spec.rewards)} reward event(s) of {trial_type!r}; got {event}")
    k = _step_index(sub, spec.cue_time + spec.rewards[event].time, "reward")
    delivered = np.round(sub["reward"].isel(time=k).values.astype(np.float64), 6)  # [N]
    magnitudes, which = np.unique(delivered, return_inverse=True)
    if magnitudes.size < 2:
        raise ValueError(f"the learned trials of {trial_type!r} delivered only one reward magnitude "
                         f"({magnitudes.tolist()}); reversal points need rewards of different magnitudes")
    rpe = sub["rpe"].isel(time=k).values.astype(np.float64)  # [P, N]
    onehot = np.eye(magnitudes.size)[which]  # [N, M]
    everywhere = np.ones_like(rpe, dtype=bool)
    if resample:
        # Two independent bootstrap resamples of the learned trials per predictor (as if each neuron were
        # recorded in its own session): reversal points from one, slopes from the other.
        rng = np.random.default_rng(seed)
        rows = np.arange(rpe.shape[0])[:, None]
        rev_mask, slope_mask = np.zeros_like(rpe), np.zeros_like(rpe)
        np.add.at(rev_mask, (rows, rng.integers(0, rpe.shape[1], rpe.shape)), 1.0)
        np.add.at(slope_mask, (rows, rng.integers(0, rpe.shape[1], rpe.shape)), 1.0)
    else:
        rev_mask = slope_mask = everywhere
    count = everywhere @ onehot  # [P, M]

    def mean_per_magnitude(values, mask):
        n = mask @ onehot
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, (values * mask) @ onehot / np.where(n > 0, n, 1), np.nan)

    # The zero crossing is found on the unscaled RPE, which is linear in the magnitude; the scaled response
    # has a kink at the reversal point, so a chord across it would put the crossing off the zero.
    reversal = _zero_crossing(magnitudes, mean_per_magnitude(rpe, rev_mask))
    scaled = _scaled(sub, rpe, response)
    mean = mean_per_magnitude(scaled, everywhere)  # [P, M]
    if resample:
        slope_reversal = _zero_crossing(magnitudes, mean_per_magnitude(rpe, slope_mask))
        slope_mean = mean_per_magnitude(scaled, slope_mask)
    else:
        slope_reversal, slope_mean = reversal, mean
    offset = magnitudes[None, :] - slope_reversal[:, None]
    above, below = (offset > 0) & np.isfinite(slope_mean), (offset < 0) & np.isfinite(slope_mean)
    slope_mean = np.nan_to_num(slope_mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope_pos = (np.where(above, offset * slope_mean, 0).sum(1)) / np.where(above, offset**2, 0).sum(1)
        slope_neg = (np.where(below, offset * slope_mean, 0).sum(1)) / np.where(below, offset**2, 0).sum(1)
        tau_hat = slope_pos / (slope_pos + slope_neg)
    coords = {"predictor": sub["predictor"].values, "magnitude": magnitudes, **_parameter_coords(sub)}
    out = xr.Dataset(
        {
            "response": (("predictor", "magnitude"), mean, {"long_name": f"mean {response} response at the reward",
                                                           "units": "reward units"}),
            "reversal_point": ("predictor", reversal, {"long_name": "magnitude where the response reverses sign",
                                                       "units": "reward units"}),
            "slope_pos": ("predictor", slope_pos, {"units": "1"}),
            "slope_neg": ("predictor", slope_neg, {"units": "1"}),
            "tau_hat": ("predictor", tau_hat, {"long_name": "estimated asymmetry s+ / (s+ + s-)", "units": "1"}),
            "count": ("magnitude", count[0], {"long_name": "learned trials averaged", "units": "1"}),
        },
        coords=coords,
    )
    out["magnitude"].attrs.update(long_name="reward magnitude delivered", units="reward units")
    out.attrs.update(trial_type=trial_type, response=response, learned_fraction=learned_fraction,
                     task_name=ds.attrs["task_name"])
    return out


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


def cue_responses(run, trial_types=None, *, learned_fraction: float = 0.5, response: str = "rpe") -> xr.Dataset:
    """Each predictor's response at the cue of each trial type against the reward delay, and a fitted γ̂.

    The response is the RPE at the cue step (``"rpe"``) or the value there (``"value"``), averaged over learned
    trials and divided by the type's expected reward, so that a converged predictor gives ``γ^delay`` (textbook
    TD: the cue response is the discounted return, amplitude 1) or ``γ^(delay − dt)`` (the value; amplitude
    γ^−dt). The
    exponential ``A·γ^delay`` is fitted per predictor by least squares (a fine grid of γ, refined by a
    parabola), giving ``gamma_hat`` per second. Trial types need exactly one reward event with a positive mean.

    Returns a Dataset: ``response`` [predictor, trial_type], ``delay`` [trial_type] (s), ``gamma_hat``,
    ``amplitude`` [predictor].
    """
    ds = open_run(run)
    if response not in ("rpe", "value"):
        raise ValueError(f"response must be 'rpe' or 'value'; got {response!r}")
    _need(ds, response)
    task = Task.from_dict(ds.attrs["task"])
    warn_if_unconverged(ds, trial_types=trial_types, learned_fraction=learned_fraction)
    names = list(trial_types) if trial_types is not None else [
        t.name for t in task.trial_types if len(t.rewards) == 1]
    delays, columns = [], []
    for name in names:
        spec = task.trial_types[task.trial_type_index(name)]
        if len(spec.rewards) != 1:
            raise ValueError(f"trial type {name!r} has {len(spec.rewards)} reward events; cue_responses needs one")
        mean_reward = task.reward_distribution(name).mean
        if mean_reward <= 0:
            raise ValueError(f"trial type {name!r} has mean reward {mean_reward:g}; the fit needs it positive")
        columns.append(_mean_at_cue(ds, name, spec.cue_time, learned_fraction, response) / mean_reward)
        delays.append(spec.rewards[0].time)
    delays = np.asarray(delays)
    if np.unique(delays).size < 2:
        raise ValueError(f"the trial types {names} have fewer than two distinct reward delays; γ cannot be fitted")
    resp = np.stack(columns, axis=1)  # [P, D]
    gamma_hat, amplitude = fit_discount(delays, resp)
    out = xr.Dataset(
        {
            "response": (("predictor", "trial_type"), resp,
                         {"long_name": f"{response} at the cue per unit of expected reward", "units": "1"}),
            "delay": ("trial_type", delays, {"long_name": "reward delay after the cue", "units": "s"}),
            "gamma_hat": ("predictor", gamma_hat, {"long_name": "fitted discount", "units": "per s"}),
            "amplitude": ("predictor", amplitude, {"units": "1"}),
        },
        coords={"predictor": ds["predictor"].values, "trial_type": names, **_parameter_coords(ds)},
    )
    out.attrs.update(response=response, learned_fraction=learned_fraction, task_name=ds.attrs["task_name"])
    return out


def fit_discount(delays, responses, n_grid: int = 4001):
    """Least-squares fit of ``responses[p] ≈ A_p·γ_p^delays`` (delays in s): returns (γ̂ [P] per s, Â [P]).

    For each γ on a grid over (0, 1] the best A is closed-form; the grid minimum is refined by a parabola
    through its neighbours. Vectorised over predictors.
    """
    delays = _vector("delays", delays)
    responses = np.atleast_2d(np.asarray(responses, dtype=np.float64))
    if responses.shape[1] != delays.size or not np.all(np.isfinite(responses)):
        raise ValueError(f"responses must be finite with shape [P, {delays.size}]; got {responses.shape}")
    grid = np.linspace(1e-3, 1.0, n_grid)
    basis = grid[:, None] ** delays[None, :]  # [G, D]
    norm = (basis**2).sum(1)  # [G]
    proj = responses @ basis.T  # [P, G]
    sse = (responses**2).sum(1, keepdims=True) - proj**2 / norm  # residual with the best A for each γ
    best = np.clip(sse.argmin(1), 1, n_grid - 2)
    rows = np.arange(responses.shape[0])
    s0, s1, s2 = sse[rows, best - 1], sse[rows, best], sse[rows, best + 1]
    curvature = s0 - 2 * s1 + s2
    step = np.where(curvature > 0, 0.5 * (s0 - s2) / np.where(curvature > 0, curvature, 1), 0.0)
    gamma_hat = np.clip(grid[best] + np.clip(step, -1, 1) * (grid[1] - grid[0]), grid[0], 1.0)
    basis_hat = gamma_hat[:, None] ** delays[None, :]
    amplitude = (responses * basis_hat).sum(1) / (basis_hat**2).sum(1)
    return gamma_hat, amplitude


# ---------------------------------------------------------------------------------------------- timing
def decode_timing(gamma, values, times=None, *, ridge: float = 1e-6, normalize: bool = True) -> xr.Dataset:
    """The distribution of reward delays from the values at the cue of a γ-diverse population.

    Solves ``min_p ‖A p − v‖² + ridge·s²·‖p‖²`` subject to ``p ≥ 0``, where ``A[i, t] = γ_i^t`` is the discount
    matrix, ``s`` its largest singular value (so ``ridge`` is scale-free), by NNLS on the stacked system.

    Args:
      gamma: [P] discount per second of each predictor, in (0, 1).
      values: [P] each predictor's prediction at the cue, ∝ Σ_t γ^t p(t): the cue response, or γ^dt·V_cue
        (:func:`cue_values` gives either; a raw V_cue is γ^(t − dt) and would shift the decoded delays by dt).
      times: [T] delays (s) to decode on; default 0 … 10 s in 0.5 s bins.
      ridge: relative regularisation strength (≥ 0). The default 1e-6 suits converged model values; measured
        (noisy) values need more, about the squared relative noise (1e-3 to 1e-2); larger is smoother.
      normalize: divide p by its sum (a probability over ``times``); the sum is kept as ``mass`` (the expected
        reward, when values are in reward units).

    Returns a Dataset with ``probability`` [delay] and attrs ``mass``, ``ridge``, ``residual``.
    """
    gamma = _vector("gamma", gamma)
    bad = gamma[(gamma <= 0) | (gamma >= 1)]
    if bad.size:
        raise ValueError(f"gamma must be in (0, 1) for timing decoding; got {bad[:3].tolist()}")
    values = _vector("values", values, n=gamma.size)
    times = np.arange(0, 10.0 + 1e-9, 0.5) if times is None else _vector("times", times)
    if np.any(times < 0) or np.any(np.diff(times) <= 0):
        raise ValueError("times must be non-negative and increasing")
    in_range("ridge", ridge, 0, np.inf)
    matrix = gamma[:, None] ** times[None, :]  # [P, T]
    scale = np.linalg.norm(matrix, 2)
    stacked = np.vstack([matrix, np.sqrt(ridge) * scale * np.eye(times.size)])
    target = np.concatenate([values, np.zeros(times.size)])
    p, _ = optimize.nnls(stacked, target, maxiter=50 * times.size)
    residual = float(np.linalg.norm(matrix @ p - values))
    mass = float(p.sum())
    prob = p / mass if (normalize and mass > 0) else p
    out = xr.Dataset({"probability": ("delay", prob, {"long_name": "decoded probability of each delay",
                                                      "units": "1" if normalize else "reward units"})},
                     coords={"delay": ("delay", times, {"units": "s", "long_name": "reward delay after the cue"})})
    out.attrs.update(mass=mass, ridge=float(ridge), residual=residual)
    return out


def cue_values(run, trial_type: str, *, learned_fraction: float = 0.5, source: str = "rpe") -> np.ndarray:
    """[P] what each predictor predicts at the cue of ``trial_type``, averaged over learned trials.

    Both sources give the discounted return from the cue, ``Σ_{j ≥ cue} γ^{(j−cue)·dt}·r_j``, the discrete
    Laplace transform that :func:`decode_timing` inverts (kernel γ^delay):

    * ``"rpe"`` (default): the cue response ``δ_cue = r_cue + γ^dt·V_cue`` (textbook TD; the state before the cue
      is the inter-trial state, value 0), a reward at the cue itself included. Runs of schema version 1
      discounted the arriving reward, and their ``δ_cue / γ^dt`` is used.
    * ``"value"``: ``γ^dt·V_cue``, the rewards strictly after the cue step.
    """
    ds = open_run(run)
    if source not in ("rpe", "value"):
        raise ValueError(f"source must be 'rpe' or 'value'; got {source!r}")
    _need(ds, source)
    warn_if_unconverged(ds, trial_types=[trial_type], learned_fraction=learned_fraction)
    task = Task.from_dict(ds.attrs["task"])
    spec = task.trial_types[task.trial_type_index(trial_type)]
    mean = _mean_at_cue(ds, trial_type, spec.cue_time, learned_fraction, source)
    step_discount = ds["gamma"].values ** task.dt
    if source == "value":
        return step_discount * mean
    return mean / step_discount if run_options(ds)["convention"] == 1 else mean


def _mean_at_cue(ds: xr.Dataset, trial_type: str, cue_time: float, learned_fraction: float, variable: str):
    """[P] ``variable`` at the cue step of ``trial_type``, averaged over its learned trials."""
    sub = learned_trials(ds, trial_type, learned_fraction)
    k = _step_index(sub, cue_time, "cue")
    return sub[variable].isel(time=k).values.astype(np.float64).mean(1)


def decode_joint(run, trial_type: str | None = None, *, times=None, magnitudes=None, ridge: float = 1e-6,
                 learned_fraction: float = 0.5, n_samples: int = 100, min_mass: float = 0.02,
                 source: str = "rpe") -> xr.Dataset:
    """The joint map of reward time × magnitude from a τ × γ population (Sousa et al. 2025, model version).

    For each τ level, the cue values (:func:`cue_values` with ``source``) across γ are decoded into a time profile ``f_τ(t)``
    (:func:`decode_timing`, unnormalised). The time marginal is the profile of the τ level nearest 0.5,
    normalised (reward-weighted timing; exact when magnitude does not depend on time). At each time bin
    holding at least ``min_mass`` of it, ``f_τ(t) / P(t)`` across τ are read as expectiles of the magnitude
    and decoded (:func:`decode_distribution`); the map is ``P(t)·p(m | t)``.

    Returns a Dataset: ``joint`` [delay, magnitude] (probability per bin), ``time_marginal`` [delay],
    ``magnitude_marginal`` [magnitude], and ``samples`` [delay, sample] (NaN where not decoded).
    """
    ds = open_run(run)
    trial_type = trial_type or str(ds["type"].values[0])
    value = cue_values(ds, trial_type, learned_fraction=learned_fraction, source=source)  # [P]
    tau, gamma = ds["tau"].values, ds["gamma"].values
    levels = np.unique(np.round(tau, 9))
    if levels.size < 2 or np.unique(gamma).size < 2:
        raise ValueError("decode_joint needs a τ × γ population (at least two τ levels and two γ values); got "
                         f"{levels.size} τ level(s) and {np.unique(gamma).size} γ value(s)")
    times = np.arange(0, ds["time"].values[-1] + 1e-9, 0.5) if times is None else _vector("times", times)
    profiles = []
    for level in levels:  # a handful of τ levels, each one NNLS over its γ's
        members = np.flatnonzero(np.isclose(tau, level))
        if np.unique(gamma[members]).size < 2:
            raise ValueError(f"τ level {level:g} has fewer than two γ values; decode_joint needs a τ × γ grid")
        profiles.append(decode_timing(gamma[members], value[members], times, ridge=ridge,
                                      normalize=False)["probability"].values)
    profiles = np.stack(profiles)  # [L, T]
    middle = profiles[np.argmin(np.abs(levels - 0.5))]
    if middle.sum() <= 0:
        raise ValueError(f"the values at the cue of {trial_type!r} decode to no reward at any time")
    time_marginal = middle / middle.sum()
    if magnitudes is None:  # up to 1.5 × the largest expectile the profiles imply
        magnitudes = np.linspace(0, 1.5 * float(profiles.max() / time_marginal.max()), 91)
    magnitudes = _vector("magnitudes", magnitudes)
    joint = np.zeros((times.size, magnitudes.size))
    samples = np.full((times.size, n_samples), np.nan)
    for j in np.flatnonzero(time_marginal >= min_mass):
        decoded = decode_distribution(levels, profiles[:, j] / time_marginal[j], n_samples=n_samples,
                                      bounds=(magnitudes[0], magnitudes[-1]))
        samples[j] = decoded.samples
        density = _density_at(decoded.samples, magnitudes)
        joint[j] = time_marginal[j] * density / density.sum()
    joint /= joint.sum()
    out = xr.Dataset(
        {
            "joint": (("delay", "magnitude"), joint, {"long_name": "decoded P(delay, magnitude)", "units": "1"}),
            "time_marginal": ("delay", joint.sum(1), {"units": "1"}),
            "magnitude_marginal": ("magnitude", joint.sum(0), {"units": "1"}),
            "samples": (("delay", "sample"), samples, {"units": "reward units"}),
        },
        coords={"delay": ("delay", times, {"units": "s"}),
                "magnitude": ("magnitude", magnitudes, {"units": "reward units"}), "tau_level": levels},
    )
    out.attrs.update(trial_type=trial_type, ridge=float(ridge), task_name=ds.attrs["task_name"])
    return out


def _density_at(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Kernel density of ``samples`` on ``grid`` (half Scott's bandwidth, at least one grid step)."""
    step = float(np.min(np.diff(grid))) if grid.size > 1 else 1.0
    width = max(0.5 * 1.06 * float(samples.std()) * samples.size ** -0.2, step)  # half of Scott: keeps modes
    return np.exp(-0.5 * ((grid[:, None] - samples[None, :]) / width) ** 2).sum(1)


def decode_run_distribution(run, trial_type: str | None = None, *, event: int = 0, learned_fraction: float = 0.5,
                            use: str = "tau", n_samples: int = 100) -> DecodedDistribution:
    """Decode the reward distribution of a run's ``trial_type`` from its predictors' reversal points.

    ``use="tau"`` pairs the reversal points with the predictors' true τ (the model's view); ``"tau_hat"`` with
    the asymmetries estimated from the responses (the experimenter's view). The rule of the run picks
    expectile or quantile decoding.
    """
    ds = open_run(run)
    responses = reward_responses(ds, trial_type, event=event, learned_fraction=learned_fraction)
    if use not in ("tau", "tau_hat"):
        raise ValueError(f"use must be 'tau' or 'tau_hat'; got {use!r}")
    levels = responses[use].values
    keep = np.isfinite(levels) & (levels > 0) & (levels < 1)
    kind = "quantile" if run_options(ds).get("rule") == "quantile" else "expectile"
    return decode_distribution(levels[keep], responses["reversal_point"].values[keep], kind=kind,
                               n_samples=n_samples)
