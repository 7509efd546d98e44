"""How good a decoded distribution is: its Wasserstein distance to the truth, the W1 of references anyone could
guess (the ladder that says what a W1 means), decodes with the code's pairing shuffled (Dabney et al. 2020's
control), and the τ a reversal point implies for a known distribution."""

from __future__ import annotations

import numpy as np
from scipy import stats

from drl._validate import integer
from drl.decode._checks import levels_in_unit_interval as _levels
from drl.decode._checks import vector as _vector
from drl.decode.distribution import DecodedDistribution, decode_distribution, residual_warnings_ignored
from drl.tasks.distributions import RewardDistribution

__all__ = ["implied_tau", "reference_ladder", "shuffle_control", "wasserstein"]


# ---------------------------------------------------------------------------------------------- expectiles
def implied_tau(distribution: RewardDistribution, reversal_point) -> np.ndarray:
    """The level τ whose expectile of ``distribution`` is each reversal point.

    The expectile condition solved for τ: ``τ = E[(c − R)⁺] / E[|c − R|]``; 0 at or below the support, 1 at or
    above it. A recorded reversal point read against the delivered distribution this way is the τ the neuron would
    need for its reversal point to be an exact expectile.

    Parameters
    ----------
    distribution : RewardDistribution
        The reward distribution (reward units).
    reversal_point : array_like, shape [...]
        Reversal points (the distribution's reward units).

    Returns
    -------
    numpy.ndarray, shape [...]
        The implied levels, in [0, 1].

    Raises
    ------
    TypeError
        ``distribution`` is not a RewardDistribution, or ``reversal_point`` is not numbers.

    See Also
    --------
    expectiles : the forward map, τ to expectile.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> truth = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    >>> tau = [0.1, 0.5, 0.9]
    >>> decode.implied_tau(truth, decode.expectiles(truth, tau)).round(6).tolist()
    [0.1, 0.5, 0.9]
    """
    if not isinstance(distribution, RewardDistribution):
        raise TypeError(f"distribution must be a drl RewardDistribution; got {type(distribution).__name__}")
    try:
        np.asarray(reversal_point, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"reversal_point must be numbers (reward units); got {reversal_point!r}") from None
    c = np.asarray(reversal_point, dtype=np.float64)[..., None]
    below = np.sum(distribution.probabilities * np.clip(c - distribution.values, 0, None), -1)
    above = np.sum(distribution.probabilities * np.clip(distribution.values - c, 0, None), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(above <= 0, 1.0, np.where(below <= 0, 0.0, below / (below + above)))


def wasserstein(decoded, true: RewardDistribution) -> float:
    """The Wasserstein-1 distance between decoded samples and the true reward distribution.

    Parameters
    ----------
    decoded : DecodedDistribution or array_like, shape [N]
        A decode, or samples (reward units).
    true : RewardDistribution
        The truth.

    Returns
    -------
    float
        W1 in the distribution's reward units: the mean distance a unit of probability must move.

    Raises
    ------
    TypeError
        ``true`` is not a RewardDistribution.

    See Also
    --------
    reference_ladder : what a W1 means, against references anyone could guess.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> truth = drl.RewardDistribution([0.0, 1.0], [0.5, 0.5])
    >>> decode.wasserstein([0.0, 0.0, 1.0, 1.0], truth)
    0.0
    >>> decode.wasserstein([0.5, 0.5], truth)
    0.5
    """
    if not isinstance(true, RewardDistribution):
        raise TypeError(f"true must be a drl RewardDistribution (e.g. RewardDistribution([1, 2], [0.5, 0.5]) or "
                        f"task.reward_distribution(name)); got {type(true).__name__} {true!r}")
    samples = decoded.samples if isinstance(decoded, DecodedDistribution) else _vector("decoded", decoded)
    return float(stats.wasserstein_distance(samples, true.values, v_weights=true.probabilities))


def shuffle_control(levels, values, true: RewardDistribution, *, n_shuffles: int = 20, seed: int = 0,
                    kind: str = "expectile", n_samples: int = 100) -> np.ndarray:
    """W1 of decodes after shuffling which level goes with which value (Dabney et al. 2020's control).

    A code that carries the distribution decodes well only with its true pairing of levels and values; shuffled, the
    same values decode to something else. The decoded W1 should sit well below these.

    Parameters
    ----------
    levels : array_like, shape [I]
        The levels (τ or quantile levels), each in (0, 1).
    values : array_like, shape [I]
        The code's values (reward units): reversal points, expectiles or quantiles.
    true : RewardDistribution
        The truth the decodes are measured against.
    n_shuffles : int
        Shuffles (≥ 1).
    seed : int
        Seed of the shuffles.
    kind : {"expectile", "quantile"}
        What the values are.
    n_samples : int
        Samples imputed per decode.

    Returns
    -------
    numpy.ndarray, shape [n_shuffles]
        W1 of each shuffled decode to ``true`` (reward units).

    Raises
    ------
    ValueError
        ``n_shuffles`` below 1, levels outside (0, 1) or ``values`` of another length.
    TypeError
        ``true`` is not a RewardDistribution.

    See Also
    --------
    decode_distribution : the decode shuffled here.

    Examples
    --------
    >>> import numpy as np
    >>> import drl
    >>> from drl import decode
    >>> truth = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    >>> tau = np.linspace(0.1, 0.9, 9)
    >>> exact = decode.wasserstein(decode.decode_distribution(tau, decode.expectiles(truth, tau)), truth)
    >>> shuffled = decode.shuffle_control(tau, decode.expectiles(truth, tau), truth, n_shuffles=5)
    >>> bool(exact < shuffled.min())
    True
    """
    if isinstance(n_shuffles, bool) or not isinstance(n_shuffles, int | np.integer) or n_shuffles < 1:
        raise ValueError(f"n_shuffles must be an integer >= 1; got {n_shuffles!r}")
    if not isinstance(true, RewardDistribution):
        raise TypeError(f"true must be a drl RewardDistribution; got {type(true).__name__}")
    levels = _levels("levels", levels)
    values = _vector("values", values, n=levels.size)
    rng = np.random.default_rng(seed)
    with residual_warnings_ignored():  # a shuffled code is inconsistent by design: its residual is the point
        return np.array([
            wasserstein(decode_distribution(levels, rng.permutation(values), kind=kind, n_samples=n_samples,
                                            n_starts=1), true)
            for _ in range(n_shuffles)
        ])


def _w1_to(truth_values, truth_weights, values, weights) -> float:
    return float(stats.wasserstein_distance(truth_values, values, truth_weights, weights))


def reference_ladder(truth, decoded=None, *, decoded_weights=None, n_points: int = 2001) -> dict:
    """W1 distances to the truth of a decoded distribution and of the references a referee compares it with.

    Parameters
    ----------
    truth : RewardDistribution or (values, probabilities)
        The true reward distribution.
    decoded : DecodedDistribution or array_like, optional
        The decoded distribution, or its samples (None: the references only).
    decoded_weights : array_like, optional
        Weights of the decoded samples (default equal).
    n_points : int
        Grid points of the continuous references (uniform, Gaussian).

    Returns
    -------
    dict
        ``{name: W1}`` in the truth's units, for "decoded" (when given), "uniform over the range" (the truth's
        smallest to largest value), "Gaussian with the mean and SD", "mirrored about the mean" (left out for a
        symmetric truth, which is its own mirror: W1 = 0 says nothing), "shifted by SD/2" (W1 = SD/2 exactly)
        and "scaled ×1.5 about the mean" (W1 = E|X − mean| / 2 exactly). A decode that beats the Gaussian and
        the mirror has found the distribution's shape, not only its mean and spread.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> truth = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    >>> ladder = decode.reference_ladder(truth)
    >>> abs(ladder["shifted by SD/2"] - truth.std / 2) < 1e-9
    True
    """
    n_points = integer("n_points", n_points, minimum=3)
    if hasattr(truth, "values") and hasattr(truth, "probabilities"):
        values, probabilities = np.asarray(truth.values, float), np.asarray(truth.probabilities, float)
    else:
        values, probabilities = (np.asarray(part, float) for part in truth)
    if values.shape != probabilities.shape or values.ndim != 1 or values.size == 0:
        raise ValueError("truth must give values and probabilities of the same length")
    if np.any(probabilities < 0) or not np.isclose(probabilities.sum(), 1.0, atol=1e-6):
        raise ValueError(f"truth's probabilities must be ≥ 0 and sum to 1; got sum {probabilities.sum():.6g}")
    mean = float(probabilities @ values)
    sd = float(np.sqrt(probabilities @ (values - mean) ** 2))
    ladder = {}
    if decoded is not None:
        samples = np.asarray(getattr(decoded, "samples", decoded), float).ravel()
        weights = decoded_weights if decoded_weights is None else np.asarray(decoded_weights, float).ravel()
        if samples.size == 0 or not np.all(np.isfinite(samples)):
            raise ValueError("decoded must hold finite samples")
        ladder["decoded"] = _w1_to(values, probabilities, samples, weights)
    grid = np.linspace(values.min(), values.max(), n_points) if np.ptp(values) > 0 else values[:1]
    ladder["uniform over the range"] = _w1_to(values, probabilities, grid, None)
    if sd > 0:
        quantiles = stats.norm.ppf((np.arange(n_points) + 0.5) / n_points, mean, sd)
        ladder["Gaussian with the mean and SD"] = _w1_to(values, probabilities, quantiles, None)
    else:
        ladder["Gaussian with the mean and SD"] = 0.0
    mirrored = _w1_to(values, probabilities, 2 * mean - values, probabilities)
    if mirrored > 1e-9 * max(sd, 1e-300):  # a symmetric truth is its own mirror: no reference (W1 = 0) then
        ladder["mirrored about the mean"] = mirrored
    ladder["shifted by SD/2"] = _w1_to(values, probabilities, values + sd / 2, probabilities)
    ladder["scaled ×1.5 about the mean"] = _w1_to(values, probabilities, mean + 1.5 * (values - mean), probabilities)
    return ladder
