"""Populations of value predictors: per-predictor α+, α−, γ, λ (DESIGN §4).

Each parameter is given as a float (all predictors), a ``(lo, hi)`` tuple (uniform per predictor), a list
(random choice per predictor, as drl_sim), or an explicit array of length P. ``Population.grid`` makes the
Cartesian product of lists. Units: α± per step; γ and λ **per second** (the engine uses γ^dt and λ^dt).
Optimism τ = α+ / (α+ + α−); given ``(tau, alpha)``: α+ = 2ατ, α− = 2α(1−τ), so τ = 0.5 is classic TD.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["Population"]

_RANGES = {
    # name: (lo, hi, lo_open, hi_open)
    "alpha_pos": (0.0, 1.0, True, False),
    "alpha_neg": (0.0, 1.0, True, False),
    "alpha": (0.0, 1.0, True, False),
    "tau": (0.0, 1.0, True, True),
    "gamma": (0.0, 1.0, False, False),
    "lam": (0.0, 1.0, False, False),
}

#: The base learning rate α (per step) and trace λ (per second) of a population when none is given: the
#: converging values (docs/guide/architecture.md, "The cue code at finite α"), the same as ``drl run``'s.
DEFAULT_ALPHA = 0.01
DEFAULT_LAM = 0.95


def _interval(name: str) -> str:
    lo, hi, lo_open, hi_open = _RANGES[name]
    return f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def _check_values(name: str, values: np.ndarray) -> np.ndarray:
    lo, hi, lo_open, hi_open = _RANGES[name]
    if not np.all(np.isfinite(values)):
        bad = values[~np.isfinite(values)][0]
        raise ValueError(f"{name} must be finite; got {bad}")
    bad = (values < lo) | (values > hi) | ((values == lo) & lo_open) | ((values == hi) & hi_open)
    if np.any(bad):
        raise ValueError(f"{name} must be in {_interval(name)}; got {values[bad][0]:g}")
    return values


def _floats(name: str, spec) -> np.ndarray:
    """``spec`` as a float64 array; non-numeric entries (strings, None) are a TypeError naming the parameter."""
    if isinstance(spec, list | tuple) and any(v is None or isinstance(v, str | bool) for v in spec):
        raise TypeError(f"{name} values must be numbers; got {spec!r}")  # numpy would turn None into NaN
    try:
        return np.asarray(spec, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} values must be numbers; got {spec!r}") from None


def _draw(name: str, spec, n: int, rng: np.random.Generator) -> np.ndarray:
    """Per-predictor values of one parameter from a float, (lo, hi), list or array spec."""
    if isinstance(spec, bool | str):
        raise TypeError(f"{name} must be a float, (lo, hi) tuple, list or array; got {spec!r}")
    if isinstance(spec, int | float | np.floating | np.integer):
        return _check_values(name, np.full(n, float(spec)))
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ValueError(f"{name} as a tuple is a (lo, hi) range; got {spec!r}")
        lo, hi = (_check_values(name, _floats(name, [v]))[0] for v in spec)
        if lo > hi:
            raise ValueError(f"{name} range must have lo <= hi; got {spec!r}")
        return rng.uniform(lo, hi, size=n)
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"{name} list must not be empty")
        options = _check_values(name, _floats(name, spec))
        return rng.choice(options, size=n)
    if hasattr(spec, "__len__"):
        arr = _floats(name, spec).reshape(-1)
        if arr.shape[0] != n:
            raise ValueError(f"{name} array must have length n_predictors = {n}; got length {arr.shape[0]}")
        return _check_values(name, arr)
    raise TypeError(f"{name} must be a float, (lo, hi) tuple, list or array; got {type(spec).__name__}")


@dataclass(frozen=True, eq=False)
class Population:
    """P value predictors ("neurons"), each with its own learning rates, discount and trace.

    Build one with :meth:`sample` (random or fixed parameters), :meth:`grid` (Cartesian product) or directly from
    arrays of length P. Arrays are float64, read-only. The optimism ``tau = α+ / (α+ + α−)`` and the base rate
    ``alpha = α+ + α−`` are derived.

    Parameters
    ----------
    alpha_pos : array_like, shape [P]
        Learning rate for positive errors, per step, in (0, 1].
    alpha_neg : array_like, shape [P]
        Learning rate for negative errors, per step, in (0, 1].
    gamma : array_like, shape [P]
        Discount per second, in (0, 1].
    lam : array_like, shape [P]
        Eligibility trace decay per second, in [0, 1].

    Raises
    ------
    ValueError
        Arrays of different lengths, or a value out of its range (the message names the parameter).

    See Also
    --------
    drl.simulate : a population learning a task.

    Examples
    --------
    >>> import drl
    >>> population = drl.Population.grid(tau=[0.2, 0.8], gamma=[0.9, 0.99], alpha=0.05)
    >>> len(population), population.tau.round(3).tolist(), population.gamma.tolist()
    (4, [0.2, 0.2, 0.8, 0.8], [0.9, 0.99, 0.9, 0.99])
    >>> bool(drl.Population.sample(100, tau=(0.1, 0.9), seed=0).tau.min() > 0.1)
    True
    """

    alpha_pos: np.ndarray
    alpha_neg: np.ndarray
    gamma: np.ndarray
    lam: np.ndarray

    def __post_init__(self):
        arrays = {}
        for name in ("alpha_pos", "alpha_neg", "gamma", "lam"):
            value = getattr(self, name)
            arr = np.array(value, dtype=np.float64).reshape(-1) if np.ndim(value) else None
            if arr is None:
                raise TypeError(f"Population.{name} must be an array of per-predictor values; got {value!r}")
            arrays[name] = _check_values(name, arr)
        sizes = {k: v.shape[0] for k, v in arrays.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"population arrays must all have length P; got lengths {sizes}")
        if sizes["alpha_pos"] == 0:
            raise ValueError("a population needs at least one predictor; got P = 0")
        for k, v in arrays.items():
            v.setflags(write=False)
            object.__setattr__(self, k, v)

    # ---------------------------------------------------------------- constructors
    @classmethod
    def sample(
        cls,
        n_predictors: int | None = None,
        *,
        tau=None,
        alpha=None,
        alpha_pos=None,
        alpha_neg=None,
        gamma=1.0,
        lam=DEFAULT_LAM,
        seed: int = 0,
    ) -> Population:
        """A population whose parameters are each a float, a (lo, hi) range, a list or an array.

        Give either ``tau`` (with ``alpha``, default ``DEFAULT_ALPHA`` = 0.01) or ``alpha_pos`` and
        ``alpha_neg``. ``lam`` defaults to ``DEFAULT_LAM`` = 0.95. The defaults are the converging ones
        (as ``drl run``'s): at α 0.1, λ 0 a τ 0.9 cue code sits 32 % above its expectile on Dabney's task
        (docs/guide/architecture.md, "The cue code at finite α"). ``n_predictors`` may be left out when some parameter is an
        explicit array. ``seed`` controls every random draw.
        """
        if tau is not None and (alpha_pos is not None or alpha_neg is not None):
            raise ValueError("give either tau (with alpha) or alpha_pos and alpha_neg, not both")
        if tau is None and (alpha_pos is None) != (alpha_neg is None):
            raise ValueError("alpha_pos and alpha_neg must be given together")
        if tau is None and alpha_pos is None:
            tau = 0.5
        if alpha is not None and alpha_pos is not None:
            raise ValueError("alpha is the base rate that goes with tau; with alpha_pos/alpha_neg leave it out")
        if n_predictors is None:
            lengths = [
                len(v)
                for v in (tau, alpha, alpha_pos, alpha_neg, gamma, lam)
                if v is not None and not isinstance(v, tuple | list | str) and np.ndim(v) == 1
            ]
            if not lengths:
                raise ValueError("n_predictors is required unless a parameter is given as an array")
            n_predictors = lengths[0]
        if isinstance(n_predictors, bool) or not isinstance(n_predictors, int | np.integer) or n_predictors < 1:
            raise ValueError(f"n_predictors must be an integer >= 1; got {n_predictors!r}")
        rng = np.random.default_rng(seed)
        n = int(n_predictors)
        if tau is not None:
            tau_v = _draw("tau", tau, n, rng)
            alpha_v = _draw("alpha", DEFAULT_ALPHA if alpha is None else alpha, n, rng)
            a_pos, a_neg = 2 * alpha_v * tau_v, 2 * alpha_v * (1 - tau_v)
            for name, v in (("alpha_pos", a_pos), ("alpha_neg", a_neg)):
                if np.any(v > 1):
                    i = int(np.argmax(v > 1))
                    raise ValueError(
                        f"{name} = 2·alpha·{'tau' if name == 'alpha_pos' else '(1 - tau)'} must be <= 1; got "
                        f"{v[i]:g} for tau = {tau_v[i]:g}, alpha = {alpha_v[i]:g} (lower alpha)"
                    )
        else:
            a_pos = _draw("alpha_pos", alpha_pos, n, rng)
            a_neg = _draw("alpha_neg", alpha_neg, n, rng)
        return cls(a_pos, a_neg, _draw("gamma", gamma, n, rng), _draw("lam", lam, n, rng))

    @classmethod
    def sample_drl_sim(cls, n_predictors: int, *, tau=None, gamma=1.0, lam=0.0, seed: int = 0) -> Population:
        """Draw learning rates as drl_sim did: for each predictor τ is drawn (``tau``: a float, (lo, hi) range or
        list; default uniform on (0, 1)), α− ~ U(0, 1) and α+ = τ·α−/(1 − τ), α− redrawn while α+ > 1. So τ is
        the predictor's optimism and the rates are drawn, not set by a base rate α (``sample``'s way). The accepted
        α− is uniform on (0, min(1, (1 − τ)/τ)) and is drawn so directly: the same distribution, without a loop.
        ``gamma`` and ``lam`` as in :meth:`sample`; ``seed`` controls every draw.
        """
        if isinstance(n_predictors, bool) or not isinstance(n_predictors, int | np.integer) or n_predictors < 1:
            raise ValueError(f"n_predictors must be an integer >= 1; got {n_predictors!r}")
        rng = np.random.default_rng(seed)
        n = int(n_predictors)
        if tau is None:  # drl_sim's U(0, 1), without the measure-zero ends
            tau_v = np.clip(rng.uniform(0, 1, n), 1e-9, 1 - 1e-9)
        else:
            tau_v = _draw("tau", tau, n, rng)
        if np.any((tau_v <= 0) | (tau_v >= 1)):
            raise ValueError(f"tau must be in (0, 1) for drl_sim's sampler; got {tau_v[(tau_v <= 0) | (tau_v >= 1)][0]:g}")
        # drl_sim redrew α− ~ U(0, 1) until α+ ≤ 1, i.e. until α− ≤ (1 − τ)/τ: the accepted α− is uniform on
        # (0, min(1, (1 − τ)/τ)), drawn here directly (the loop would never end for τ near 1)
        a_neg = rng.uniform(0, 1, n) * np.minimum(1.0, (1 - tau_v) / tau_v)
        a_neg = np.where(a_neg > 0, a_neg, np.finfo(float).tiny)  # U(0, 1) can return exactly 0
        a_pos = np.minimum(tau_v * a_neg / (1 - tau_v), 1.0)  # ≤ 1 up to rounding
        return cls(a_pos, a_neg, _draw("gamma", gamma, n, rng), _draw("lam", lam, n, rng))

    @classmethod
    def grid(cls, *, tau=0.5, alpha=None, gamma=1.0, lam=None, alpha_pos=None, alpha_neg=None) -> Population:
        """The Cartesian product of the given values (deterministic): e.g. 9 τ × 3 γ = 27 predictors.

        Each argument is a float or a list; order is τ (or α+, α−) slowest, then α, γ, λ fastest. Defaults as
        :meth:`sample`: α = 0.01, λ = 0.95 (the converging ones).
        """
        alpha = DEFAULT_ALPHA if alpha is None else alpha
        lam = DEFAULT_LAM if lam is None else lam

        def as_list(name, v):
            values = list(v) if isinstance(v, list | tuple | np.ndarray) else [v]
            if not values:
                raise ValueError(f"{name} list must not be empty")
            return [float(x) for x in values]

        if alpha_pos is not None or alpha_neg is not None:
            if alpha_pos is None or alpha_neg is None:
                raise ValueError("alpha_pos and alpha_neg must be given together")
            rows = itertools.product(
                as_list("alpha_pos", alpha_pos), as_list("alpha_neg", alpha_neg), as_list("gamma", gamma),
                as_list("lam", lam),
            )
            a_pos, a_neg, g, lm = (np.array(c) for c in zip(*rows, strict=True))
            return cls(a_pos, a_neg, g, lm)
        rows = list(itertools.product(as_list("tau", tau), as_list("alpha", alpha), as_list("gamma", gamma),
                                      as_list("lam", lam)))
        t, a, g, lm = (np.array(c) for c in zip(*rows, strict=True))
        _check_values("tau", t)
        _check_values("alpha", a)
        return cls.sample(len(t), tau=t, alpha=a, gamma=g, lam=lm)

    # ---------------------------------------------------------------- derived
    @property
    def n_predictors(self) -> int:
        return int(self.alpha_pos.shape[0])

    def __len__(self) -> int:
        return self.n_predictors

    @property
    def tau(self) -> np.ndarray:
        """Optimism τ = α+ / (α+ + α−), shape [P]."""
        return self.alpha_pos / (self.alpha_pos + self.alpha_neg)

    @property
    def alpha(self) -> np.ndarray:
        """Base rate α = (α+ + α−) / 2, shape [P]."""
        return (self.alpha_pos + self.alpha_neg) / 2

    def __getitem__(self, index) -> Population:
        """A sub-population (index, slice, boolean mask or index array)."""
        idx = np.arange(self.n_predictors)[index]
        idx = np.atleast_1d(idx)
        return Population(self.alpha_pos[idx], self.alpha_neg[idx], self.gamma[idx], self.lam[idx])

    def __eq__(self, other) -> bool:
        if not isinstance(other, Population):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in ("alpha_pos", "alpha_neg", "gamma", "lam")
        )

    def __hash__(self):
        return hash(tuple(getattr(self, k).tobytes() for k in ("alpha_pos", "alpha_neg", "gamma", "lam")))

    def __repr__(self) -> str:
        def rng(v):
            return f"{v.min():.3g}" if v.min() == v.max() else f"{v.min():.3g}–{v.max():.3g}"

        return (
            f"Population(P={self.n_predictors}, tau={rng(self.tau)}, alpha_pos={rng(self.alpha_pos)}, "
            f"alpha_neg={rng(self.alpha_neg)}, gamma={rng(self.gamma)}/s, lam={rng(self.lam)}/s)"
        )
