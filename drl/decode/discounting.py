"""Which discount function do the neurons follow, and which decodes timing best? (Masset et al. 2025's controls.)

* :func:`fit_hyperbolic`: ``A / (1 + k·delay)`` per neuron, the alternative to :func:`~drl.decode.fit_discount`'s
  ``A·γ^delay``.
* :func:`compare_discount_models`: the two fitted per neuron on one half of the trials and scored on the other,
  over many splits, with a paired test across neurons.
* :func:`compare_timing_decoders`: the delay distribution of each cue decoded from held-out trials under each
  model (per-neuron exponential, per-neuron hyperbolic, and one exponential shared by every neuron: the
  population-average γ̂), scored by W1 to the cue's true delay, tested by a bootstrap over the neurons (the
  replication unit; re-splits of the same trials are not replications).

Both comparisons split each neuron's trials at each cue at random into halves (as if each neuron were recorded in
its own session): models are fitted to the first half's mean responses and judged on the second's.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats

from drl._validate import integer
from drl.decode._checks import MAX_SPLITS
from drl.decode._checks import vector as _vector
from drl.decode.cue import cue_keys
from drl.decode.timing import default_delay_grid, fit_discount, ridge_nnls
from drl.responses.form import nan_mean, on_estimate_dim, pooled, random_halves
from drl.responses.run import as_form

__all__ = ["fit_hyperbolic", "compare_discount_models", "compare_timing_decoders"]

DISCOUNT_MODELS = ("exponential", "hyperbolic")
DECODERS = ("exponential", "hyperbolic", "average exponential")
K_RANGE = (1e-3, 1e2)  # hyperbolic k searched over this range (per s), log-spaced


def fit_hyperbolic(delays, responses, n_grid: int = 4001, weights=None):
    """Fit a hyperbolic discount ``responses[p] ≈ A_p / (1 + k_p·delays)`` per neuron, by least squares.

    For each k on a log grid over ``K_RANGE`` (10⁻³ to 10² per s) the best A is closed-form; the grid minimum
    is refined by a parabola in log k.

    Parameters
    ----------
    delays : array_like, shape [D]
        Reward delays (s).
    responses : array_like, shape [P, D]
        Responses per neuron and delay (any unit: the gain A absorbs it).
    n_grid : int
        Grid points for k.
    weights : array_like, shape [P, D], optional
        Non-negative weights (e.g. the inverse variance of each mean); a weight of 0 leaves a point out.

    Returns
    -------
    k_hat : numpy.ndarray, shape [P]
        The fitted hyperbolic rates (per s).
    amplitude : numpy.ndarray, shape [P]
        The fitted gains A.

    Raises
    ------
    ValueError
        ``responses`` not finite with shape [P, D], or weights of another shape.

    See Also
    --------
    fit_discount : the exponential alternative.
    compare_discount_models : the two compared on held-out trials.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import decode
    >>> delays = np.array([0.6, 1.5, 3.75, 9.375])
    >>> k_hat, amplitude = decode.fit_hyperbolic(delays, 2.0 / (1 + 0.4 * delays)[None, :])
    >>> round(float(k_hat[0]), 3), round(float(amplitude[0]), 3)
    (0.4, 2.0)
    """
    n_grid = integer("n_grid", n_grid, minimum=3)
    delays = _vector("delays", delays)
    responses = np.atleast_2d(np.asarray(responses, dtype=np.float64))
    if responses.shape[1] != delays.size or not np.all(np.isfinite(responses)):
        raise ValueError(f"responses must be finite with shape [P, {delays.size}]; got {responses.shape}")
    weights = np.ones_like(responses) if weights is None else np.broadcast_to(
        np.asarray(weights, dtype=np.float64), responses.shape)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or np.any((weights > 0).sum(1) < 2):
        raise ValueError("weights must be finite, ≥ 0, and positive for at least two delays per predictor")
    log_k = np.linspace(np.log(K_RANGE[0]), np.log(K_RANGE[1]), n_grid)
    basis = 1.0 / (1.0 + np.exp(log_k)[:, None] * delays[None, :])  # [G, D]
    norm = weights @ (basis**2).T
    proj = (weights * responses) @ basis.T
    sse = (weights * responses**2).sum(1, keepdims=True) - proj**2 / norm
    best = np.clip(sse.argmin(1), 1, n_grid - 2)
    rows = np.arange(responses.shape[0])
    s0, s1, s2 = sse[rows, best - 1], sse[rows, best], sse[rows, best + 1]
    curvature = s0 - 2 * s1 + s2
    step = np.where(curvature > 0, 0.5 * (s0 - s2) / np.where(curvature > 0, curvature, 1), 0.0)
    k_hat = np.exp(np.clip(log_k[best] + np.clip(step, -1, 1) * (log_k[1] - log_k[0]), log_k[0], log_k[-1]))
    basis_hat = 1.0 / (1.0 + k_hat[:, None] * delays[None, :])
    amplitude = (weights * responses * basis_hat).sum(1) / (weights * basis_hat**2).sum(1)
    return k_hat, amplitude


def _cue_trials(form: xr.Dataset, trial_types):
    """(labels, delays [D], single trials [N, D, R]) of the cue conditions per (trial type, delay), per unit of
    expected reward (:func:`~drl.decode.cue_responses`' normalisation)."""
    if "trial_response" not in form:
        raise ValueError("the discount comparisons need single-trial responses (the form's trial_response); this "
                         "form has means only")
    conditions, key_index, labels, delays, expected = cue_keys(form, trial_types)
    if np.unique(delays).size < 3:
        raise ValueError(f"the cues read ({labels}) have {np.unique(delays).size} distinct delays: comparing two "
                         "two-parameter discount functions needs at least 3")
    trials = pooled(form, conditions, key_index)[3]
    return labels, delays, trials / expected[None, :, None]


def _halves(trials: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """The means [N, D] of a random halving of each neuron's trials at each cue (:func:`random_halves`)."""
    first, second = random_halves(trials, rng)
    return nan_mean(first, 2), nan_mean(second, 2)


def _basis(model: str, rates: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """[N, D] the discount of each rate (γ per s, or hyperbolic k per s) at each delay (s)."""
    if model == "exponential":
        return rates[:, None] ** delays
    return 1.0 / (1.0 + rates[:, None] * delays)


def _fit(model: str, delays, means):
    """(parameters [N], gains [N], predictions [N, D]) of a discount model fitted to each row of ``means``
    (NaN rows: NaN)."""
    ok = np.all(np.isfinite(means), 1)
    parameter, gain = np.full(means.shape[0], np.nan), np.full(means.shape[0], np.nan)
    prediction = np.full(means.shape, np.nan)
    if ok.any():
        fit = fit_discount if model == "exponential" else fit_hyperbolic
        parameter[ok], gain[ok] = fit(delays, means[ok])
        prediction[ok] = gain[ok, None] * _basis(model, parameter[ok], delays)
    return parameter, gain, prediction


def compare_discount_models(run, trial_types=None, *, n_splits: int = 20, learned_fraction: float = 0.5,
                            seed: int = 0) -> xr.Dataset:
    """Exponential against hyperbolic discounting of each neuron's cue responses, held out (Masset et al. 2025).

    ``A·γ^delay`` against ``A / (1 + k·delay)``. For each of ``n_splits`` random halvings of each neuron's trials
    at each cue (the cues that predict one delay, at least 3 distinct delays), both models are fitted to the first
    half's means and scored by their squared error on the second half's, in units of the neuron's response scale
    (its mean absolute response). Both have two parameters, so held-out error compares them fairly. The p-value is
    a test over neurons.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) or a responses form with single trials (a recording).
    trial_types : list of str, optional
        The cues read (default: every cue that predicts one delay).
    n_splits : int
        Random halvings (≥ 1).
    learned_fraction : float
        The last fraction of a run's recorded trials read as learned (0 < f ≤ 1).
    seed : int
        Seed of the halvings.

    Returns
    -------
    xarray.Dataset
        On ``neuron`` (``predictor`` for a model's own): ``error_exponential``, ``error_hyperbolic`` (held-out
        mean squared error, averaged over splits), ``preferred`` ("exponential" or "hyperbolic"), ``gamma_hat``,
        ``k_hat`` (per s, fitted on all trials); attrs ``fraction_exponential`` (neurons preferring it),
        ``wilcoxon_p`` (two-sided signed-rank test of the paired held-out errors across neurons),
        ``median_log_ratio`` (median of log(hyperbolic error / exponential error): above 0, the exponential
        predicts better), ``delays``, ``trial_types``, ``n_splits``.

    Raises
    ------
    ValueError
        Fewer than three distinct delays, ``n_splits`` below 1, no single trials.

    See Also
    --------
    compare_timing_decoders : the timing each model decodes.
    fit_discount, fit_hyperbolic : the two fits.

    Examples
    --------
    >>> import numpy as np
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("masset_multi_delay", drl.Population.grid(gamma=list(np.linspace(0.5, 0.99, 12)),
    ...                    alpha=0.1, lam=0.9), 1200, seed=0, progress=False)
    >>> models = decode.compare_discount_models(run, n_splits=5)
    >>> models.attrs["fraction_exponential"]
    1.0
    """
    n_splits = integer("n_splits", n_splits, minimum=1, maximum=MAX_SPLITS)
    form = as_form(run, cue_types="one reward" if trial_types is None else list(trial_types),
                   learned_fraction=learned_fraction)
    labels, delays, trials = _cue_trials(form, trial_types)
    rng = np.random.default_rng(seed)
    scale = np.nanmean(np.abs(nan_mean(trials, 2)), 1)
    scale = np.where(scale > 0, scale, 1.0)
    errors = {model: np.zeros(trials.shape[0]) for model in DISCOUNT_MODELS}
    for _ in range(n_splits):
        train, test = _halves(trials, rng)
        for model in DISCOUNT_MODELS:
            errors[model] += np.mean(((_fit(model, delays, train)[2] - test) / scale[:, None]) ** 2, 1) / n_splits
    means = nan_mean(trials, 2)
    gamma_hat, k_hat = _fit("exponential", delays, means)[0], _fit("hyperbolic", delays, means)[0]
    exp_err, hyp_err = errors["exponential"], errors["hyperbolic"]
    both = np.isfinite(exp_err) & np.isfinite(hyp_err)
    difference = exp_err[both] - hyp_err[both]
    wilcoxon_p = float(stats.wilcoxon(difference).pvalue) if both.sum() >= 2 and np.any(difference != 0) else 1.0
    neuron_coords = {name: ("neuron", form[name].values) for name in form.coords
                     if form[name].dims == ("neuron",) and name != "neuron"}
    out = xr.Dataset(
        {
            "error_exponential": ("neuron", exp_err, {"long_name": "held-out squared error, exponential",
                                                      "units": "1"}),
            "error_hyperbolic": ("neuron", hyp_err, {"long_name": "held-out squared error, hyperbolic", "units": "1"}),
            "preferred": ("neuron", np.where(exp_err <= hyp_err, "exponential", "hyperbolic")),
            "gamma_hat": ("neuron", gamma_hat, {"units": "per s"}),
            "k_hat": ("neuron", k_hat, {"units": "per s"}),
        },
        coords={"neuron": form["neuron"].values, **neuron_coords},
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(hyp_err[both] / exp_err[both])
    out.attrs.update(fraction_exponential=float(np.mean(exp_err[both] <= hyp_err[both])) if both.any() else np.nan,
                     wilcoxon_p=wilcoxon_p, median_log_ratio=float(np.median(log_ratio)) if both.any() else np.nan,
                     delays=[float(d) for d in delays], trial_types=list(labels), n_splits=n_splits)
    return on_estimate_dim(out, form)


def _decode_w1(fits, delays, test, times, ridge, members=None) -> np.ndarray:
    """[decoder, cue] W1 (s) of each cue's held-out means ``test`` [N, D] decoded under each decoder, with the
    neurons ``members`` (indices, repeats allowed: a resample of the population; default every neuron)."""
    members = np.arange(test.shape[0]) if members is None else members
    out = np.full((len(DECODERS), delays.size), np.nan)
    for d, decoder in enumerate(DECODERS):
        model = "hyperbolic" if decoder == "hyperbolic" else "exponential"
        parameter, gain, _ = (values[members] for values in fits[model])
        held_out = test[members]
        usable = np.isfinite(gain) & (gain != 0) & np.all(np.isfinite(held_out), 1)
        if model == "exponential":
            usable &= (parameter > 1e-3) & (parameter < 0.999)
        if usable.sum() < 2:
            continue
        rate = np.full(usable.sum(), np.median(parameter[usable])) if decoder == "average exponential" \
            else parameter[usable]
        basis = _basis(model, rate, times)
        for c in range(delays.size):
            p = ridge_nnls(basis, held_out[usable, c] / gain[usable], ridge)
            if p.sum() > 0:
                out[d, c] = float(p @ np.abs(times - delays[c]) / p.sum())
    return out


def compare_timing_decoders(run, trial_types=None, *, n_splits: int = 20, times=None, ridge: float = 1e-6,
                            learned_fraction: float = 0.5, n_boot: int = 200, seed: int = 0) -> xr.Dataset:
    """Reward timing decoded from held-out trials under three models of the neurons' discounting (Masset et al. 2025).

    Each neuron's own exponential (γ̂), its own hyperbolic (k̂), and one exponential for every neuron (the
    population's median γ̂, "average exponential": a population without diverse discounts). For each split (as
    :func:`compare_discount_models`), every neuron's model and gain are fitted on the first half of its trials at
    the cues that predict one delay; then each cue's second-half mean responses, divided by the gains, are
    decoded on ``times`` (non-negative ridge regression on the model's basis, ``ridge`` relative as in
    :func:`~drl.decode.decode_timing`) and scored by W1 to the cue's true delay (s).

    **p-values replicate over neurons.** A decode is of the whole population, and re-splits of the same trials are
    not independent replications (a signed-rank test over n splits gives p = 2/2ⁿ whatever the effect). So each
    comparison is tested by a bootstrap over the neurons: ``n_boot`` times, the population is resampled with
    replacement (a new population of as many neurons) and one random split of the trials is drawn, every decoder
    decodes with the resampled neurons, and the difference of their mean W1 is kept; the two-sided p is twice the
    smaller tail of those differences around 0 (at least 2/(n_boot + 1)).

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) or a responses form with single trials (a recording).
    trial_types : list of str, optional
        The cues read (default: every cue that predicts one delay).
    n_splits : int
        Random halvings (≥ 1).
    times : array_like, optional
        The delays decoded on (s; default :func:`default_delay_grid` of the cues' delays).
    ridge : float
        The relative ridge of every decode.
    learned_fraction : float
        The last fraction of a run's recorded trials read as learned (0 < f ≤ 1).
    n_boot : int
        Bootstrap resamples of the neurons for the p-values.
    seed : int
        Seed of the halvings and the bootstrap.

    Returns
    -------
    xarray.Dataset
        ``w1`` [decoder, split, cue] and ``mean_w1`` [decoder] (s, over splits and cues), ``difference_boot``
        [comparison, boot] (the exponential decoder's mean W1 minus the other's, s); attrs ``best`` (the decoder
        with the lowest mean W1), ``p_value`` {"exponential vs hyperbolic", "exponential vs average
        exponential"} (the bootstrap over neurons), ``difference_interval`` (95 % percentile intervals of the same,
        s), ``replication`` ("neurons"), ``n_boot``, ``delays``, ``trial_types``, ``ridge``.

    Raises
    ------
    ValueError
        Fewer than three distinct delays, ``n_splits`` below 1, no single trials.

    See Also
    --------
    compare_discount_models : the models' held-out fits to the responses themselves.
    decode_reward_timing : one decode of one cue.

    Examples
    --------
    >>> import numpy as np
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("masset_multi_delay", drl.Population.grid(gamma=list(np.linspace(0.5, 0.99, 12)),
    ...                    alpha=0.1, lam=0.9), 1200, seed=0, progress=False)
    >>> decoders = decode.compare_timing_decoders(run, n_splits=3, n_boot=50)
    >>> decoders.attrs["best"], decoders["decoder"].values.tolist()
    ('exponential', ['exponential', 'hyperbolic', 'average exponential'])
    """
    n_splits = integer("n_splits", n_splits, minimum=2, maximum=MAX_SPLITS)
    n_boot = integer("n_boot", n_boot, minimum=20, maximum=MAX_SPLITS)
    form = as_form(run, cue_types="one reward" if trial_types is None else list(trial_types),
                   learned_fraction=learned_fraction)
    labels, delays, trials = _cue_trials(form, trial_types)
    times = default_delay_grid(delays) if times is None else _vector("times", times)
    rng = np.random.default_rng(seed)
    w1 = np.full((len(DECODERS), n_splits, delays.size), np.nan)
    for s in range(n_splits):
        train, test = _halves(trials, rng)
        fits = {model: _fit(model, delays, train) for model in DISCOUNT_MODELS}
        w1[:, s] = _decode_w1(fits, delays, test, times, ridge)
    per_split = np.nanmean(w1, 2)  # [decoder, split]
    mean_w1 = np.nanmean(per_split, 1)
    comparisons = ("exponential vs hyperbolic", "exponential vs average exponential")
    difference = np.full((len(comparisons), n_boot), np.nan)
    n_neurons = trials.shape[0]
    resampling = np.random.default_rng([seed, 1])  # its own stream: the test does not depend on n_splits
    for b in range(n_boot):  # a new population (neurons resampled) on new trials (one split)
        members = resampling.integers(0, n_neurons, n_neurons)
        train, test = _halves(trials[members], resampling)
        fits = {model: _fit(model, delays, train) for model in DISCOUNT_MODELS}
        scores = np.nanmean(_decode_w1(fits, delays, test, times, ridge), 1)  # [decoder]
        difference[:, b] = scores[0] - scores[1:]

    def two_sided(values):
        values = values[np.isfinite(values)]
        if values.size == 0:
            return 1.0
        tail = min(np.sum(values >= 0), np.sum(values <= 0))
        return float(min(1.0, 2 * (tail + 1) / (values.size + 1)))

    out = xr.Dataset(
        {"w1": (("decoder", "split", "cue"), w1, {"long_name": "W1 of the decoded delays to the true delay",
                                                  "units": "s"}),
         "mean_w1": ("decoder", mean_w1, {"units": "s"}),
         "difference_boot": (("comparison", "boot"), difference, {
             "long_name": "mean W1 of the exponential decoder minus the other's, neurons resampled", "units": "s"})},
        coords={"decoder": list(DECODERS), "split": np.arange(n_splits), "cue": list(labels),
                "delay": ("cue", delays, {"units": "s"}), "comparison": list(comparisons)},
    )
    with np.errstate(invalid="ignore"):
        intervals = {name: [float(q) for q in np.nanpercentile(difference[i], [2.5, 97.5])]
                     for i, name in enumerate(comparisons)}
    out.attrs.update(best=DECODERS[int(np.nanargmin(mean_w1))],
                     p_value={name: two_sided(difference[i]) for i, name in enumerate(comparisons)},
                     difference_interval=intervals, replication="neurons", n_boot=n_boot,
                     delays=[float(d) for d in delays], trial_types=list(labels), ridge=float(ridge))
    return out
