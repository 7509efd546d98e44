"""Distillation: each learned RNN module is replaced by a sparse equation fitted with PySINDy.

For a module ``x_m`` the samples are the recorded state before (``x_m[k]``) and after (``x_m[k+1]``) each step,
with the module's control signals ``c_...[k]``, kept where the filter conditions hold (e.g. only the chosen
action's entries). The library is a polynomial in the state (``degree``, with a constant) plus a linear term
per control (binary controls would make ``c`` and ``c²`` identical columns), and the regression is
sequentially thresholded least squares (STLSQ). One equation per module and participant.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pysindy as ps
import torch

from drl._threads import one_torch_thread
from drl.spice.config import SpiceConfig

__all__ = ["SindyEquation", "default_library", "distill"]


@dataclass
class SindyEquation:
    """A fitted equation ``x[k+1] = Σ coefficient·feature`` of one module and participant.

    Every feature is a monomial of the module's state and its controls, so the equation evaluates and saves without
    the library that found it.

    Parameters
    ----------
    module : str
        The module (``x_...``).
    feature_names : list of str
        The tutorials' names (``1``, ``x_m[k]``, ``x_m[k]^2``, ``c_reward[k]``, ``x_m[k] c_reward[k]``).
    coefficients : numpy.ndarray, shape [n_features]
        One per feature (zeros included: SINDy's sparsity is part of the result).
    controls : list of str
        The controls, in the order of ``exponents``' columns 1….
    degree : int
        The highest power of the state.
    n_samples : int
        Transitions fitted on.
    exponents : numpy.ndarray, shape [n_features, 1 + n_controls], optional
        The power of ``x_m[k]`` (column 0) and of each control in each feature.
    output_range : (float, float), optional
        The range of the module's next values it was fitted to, which its outputs are kept in (None: unbounded).

    See Also
    --------
    distill : fits them.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> estimator = spice.SpiceEstimator(spice.RescorlaWagnerRNN, spice.RESCORLA_WAGNER_CONFIG, epochs=64)
    >>> estimator = estimator.fit(dataset.xs, dataset.ys)
    >>> equation = estimator.distilled_[0]["x_value_reward_chosen"]
    >>> equation.module, equation.feature_names
    ('x_value_reward_chosen', ['1', 'x_value_reward_chosen[k]', 'c_reward[k]'])
    """

    module: str
    feature_names: list
    coefficients: np.ndarray
    controls: list
    degree: int
    n_samples: int
    exponents: np.ndarray | None = None
    output_range: tuple | None = None

    def __post_init__(self):
        where = f"SindyEquation of module {self.module!r}"
        coefficients = np.asarray(self.coefficients, dtype=np.float64)
        if coefficients.shape != (len(self.feature_names),) or not np.all(np.isfinite(coefficients)):
            raise ValueError(f"{where}: coefficients must be {len(self.feature_names)} finite numbers (one per "
                             f"feature); got {coefficients.tolist()}")
        self.coefficients = coefficients
        if isinstance(self.degree, bool) or not isinstance(self.degree, int | np.integer) or not 0 <= self.degree <= 10:
            raise ValueError(f"{where}: degree must be an integer in [0, 10]; got {self.degree!r}")
        if self.exponents is not None:
            exponents = np.asarray(self.exponents, dtype=np.float64)
            if exponents.size != len(self.feature_names) * (1 + len(self.controls)) or not np.all(
                    (exponents == np.round(exponents)) & (exponents >= 0) & (exponents <= 10)):
                raise ValueError(f"{where}: exponents must be {len(self.feature_names)} × {1 + len(self.controls)} "
                                 f"integers in [0, 10] (a monomial's powers); got {exponents.ravel()[:8].tolist()}")
        if self.exponents is None:  # drl's default library (files written before libraries were composable)
            rows = [[p] + [0] * len(self.controls) for p in range(self.degree + 1)]
            rows += [[0] + [int(i == j) for i in range(len(self.controls))] for j in range(len(self.controls))]
            self.exponents = np.asarray(rows, dtype=np.int64)
        self.exponents = np.asarray(self.exponents, dtype=np.int64).reshape(len(self.feature_names),
                                                                            1 + len(self.controls))
        if self.output_range is not None:
            low, high = (float(v) for v in self.output_range)
            if not (np.isfinite(low) and np.isfinite(high) and low <= high):
                raise ValueError(f"{where}: output_range must be two finite numbers, low <= high; got "
                                 f"{list(self.output_range)}")
            self.output_range = (low, high)

    def features(self, value: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """[N, n_features] for values [N] and controls [N, n_controls] (same order as ``feature_names``)."""
        inputs = np.concatenate([np.asarray(value)[:, None], np.asarray(controls).reshape(len(value), -1)], axis=1)
        return np.prod(inputs[:, None, :] ** self.exponents[None, :, :], axis=2)

    def __call__(self, value: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        controls = inputs[..., :len(self.controls)]
        shape = value.shape
        n = value.numel()
        feats = self.features(value.detach().cpu().numpy().reshape(n).astype(np.float64),
                              controls.detach().cpu().numpy().reshape(n, len(self.controls)).astype(np.float64))
        out = feats @ self.coefficients
        if self.output_range is not None:
            out = np.clip(out, *self.output_range)
        return torch.as_tensor(out.reshape(shape), dtype=value.dtype)

    def __str__(self) -> str:
        terms = [f"{c:.3f} {n}" for c, n in zip(self.coefficients, self.feature_names, strict=True) if c != 0]
        return f"({self.module})[k+1] = " + (" + ".join(terms) if terms else "0")


def default_library(degree: int, n_controls: int):
    """drl's SINDy library over [state, controls…]: a polynomial of ``degree`` in the state (with a constant)
    plus each control linearly (pysindy's ``GeneralizedLibrary``)."""
    libraries = [ps.PolynomialLibrary(degree=degree, include_bias=True)]
    inputs = [[0]]
    if n_controls:
        libraries.append(ps.PolynomialLibrary(degree=1, include_bias=False))
        inputs.append(list(range(1, 1 + n_controls)))
    return ps.GeneralizedLibrary(libraries, inputs_per_library=inputs)


def _monomials(names: list[str], inputs: list[str], library) -> np.ndarray:
    """[n_features, n_inputs] exponents parsed from a library's feature names (``1``, ``a``, ``a^2``, ``a b``)."""
    index = {name: i for i, name in enumerate(inputs)}
    rows = []
    for name in names:
        row = [0] * len(inputs)
        for factor in ([] if name.strip() == "1" else name.split(" ")):
            base, _, power = factor.partition("^")
            if base not in index or (power and not power.isdigit()):
                raise ValueError(f"feature {name!r} of {type(library).__name__} is not a monomial of {inputs}: drl "
                                 "evaluates and saves distilled equations as polynomials (use polynomial libraries)")
            row[index[base]] += int(power or 1)
        rows.append(row)
    return np.asarray(rows, dtype=np.int64)


def _display(exponents: np.ndarray, inputs: list[str]) -> list[str]:
    names = []
    for row in exponents:
        factors = [f"{inputs[i]}[k]" + (f"^{p}" if p > 1 else "") for i, p in enumerate(row) if p > 0]
        names.append(" ".join(factors) if factors else "1")
    return names


def _samples(recorded: dict, module: str, config: SpiceConfig, sessions: np.ndarray, steps: np.ndarray):
    """(x [N], x_next [N], controls [N, C]) of ``module`` for ``sessions``, filtered, over the transitions
    ``steps`` [sessions, trials] allows."""
    if module not in recorded:
        raise ValueError(f"the model did not record {module!r} (recorded: {sorted(recorded)}); call "
                         f"record_signal({module!r}, state) in its forward pass")
    state = recorded[module][:, sessions]  # [T, B, A]
    x, x_next = state[:-1], state[1:]
    keep = np.broadcast_to(steps[sessions].T[:x.shape[0], :, None], x.shape).copy()
    controls = config.controls(module)
    for signal, value, remove in config.conditions(module):
        if signal not in recorded:
            raise ValueError(f"filter signal {signal!r} of {module!r} was not recorded (recorded: "
                             f"{sorted(recorded)})")
        keep &= np.isclose(recorded[signal][:-1, sessions], float(value))
        if remove and signal in controls:
            controls.remove(signal)
    for c in controls:
        if c not in recorded:
            raise ValueError(f"control {c!r} of {module!r} was not recorded (recorded: {sorted(recorded)})")
    u = np.stack([recorded[c][:-1, sessions][keep] for c in controls], axis=1) if controls else \
        np.zeros((int(keep.sum()), 0))
    return x[keep], x_next[keep], u, controls


def distill(model, xs, config: SpiceConfig, *, degree: int = 1, threshold: float = 0.05, participants=None,
            optimizer=None, feature_library=None, steps=None, recorded: dict | None = None) -> dict:
    """Fit one sparse equation per module and participant from the network's recorded signals.

    The regression is pysindy's composition: a feature library over the inputs ``[x_m[k], controls…]`` and a sparse
    optimizer fit ``x_m[k+1] ≈ Θ(x_m[k], controls)·ξ``. The equations are installed in ``model.submodules_sindy``.

    Parameters
    ----------
    model : BaseRNN
        The trained network.
    xs : array_like, shape [sessions, trials, features]
        The inputs its signals are recorded on.
    config : SpiceConfig
        The modules to distil and their controls.
    degree : int
        Polynomial degree in the module's state of the default library (1 or 2 typically).
    threshold : float
        The default optimizer, ``STLSQ(threshold)``, drops coefficients smaller than this (0.05 keeps true
        coefficients of 0.1).
    participants : list of int, optional
        Participant indices to distil (default: every index in ``xs``).
    optimizer : pysindy optimizer, optional
        Any pysindy optimizer (``ps.SR3(...)``, ``ps.STLSQ(alpha=...)``); a fresh clone per equation.
    feature_library : pysindy library, optional
        A library over [state, controls…] (e.g. ``ps.PolynomialLibrary(degree=2)`` for interactions); a fresh
        clone per equation. Its features must be monomials; names come from it.
    steps : array_like of bool, shape [sessions, trials], optional
        The transitions to learn from (step t: the update by trial t's choice and outcome); default every step
        with a choice. Padded steps of ragged sessions are never used. Pass the training steps of a time-wise split
        so that the held-out choices stay unseen.
    recorded : dict, optional
        ``model.record(xs)`` when already at hand (distilling at several thresholds records once).

    Returns
    -------
    dict
        ``{participant: {module: SindyEquation}}``.

    Raises
    ------
    ValueError
        A module or control the network does not record, a library whose features are not monomials.

    See Also
    --------
    SpiceEstimator : trains and distils, choosing the threshold on held-out choices.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> estimator = spice.SpiceEstimator(spice.RescorlaWagnerRNN, spice.RESCORLA_WAGNER_CONFIG, epochs=64)
    >>> estimator = estimator.fit(dataset.xs, dataset.ys)
    >>> equations = spice.distill(estimator.model_, dataset.xs, spice.RESCORLA_WAGNER_CONFIG, threshold=0.05)
    >>> sorted(equations[0])
    ['x_value_reward_chosen']
    """
    from sklearn.base import clone

    if not hasattr(model, "submodules_rnn") or not callable(model):
        raise TypeError(f"distill takes a trained drl.spice model (a BaseRNN); got {type(model).__name__}")
    if not isinstance(config, SpiceConfig):
        raise TypeError(f"config must be a SpiceConfig; got {type(config).__name__}")
    unknown = [m for m in config.rnn_modules if m not in model.submodules_rnn]
    if unknown:
        raise ValueError(f"config names module(s) {unknown} that {type(model).__name__} lacks; its learned "
                         f"modules: {sorted(model.submodules_rnn)}")
    if optimizer is not None and not (hasattr(optimizer, "fit") and hasattr(optimizer, "get_params")):
        raise TypeError(f"optimizer must be a pysindy optimizer (e.g. ps.STLSQ(threshold=0.05)); got {optimizer!r}")
    if feature_library is not None and not isinstance(feature_library, ps.feature_library.base.BaseFeatureLibrary):
        raise TypeError(f"feature_library must be a pysindy feature library; got {feature_library!r}")
    xs = np.asarray(xs, dtype=np.float32)
    if recorded is None:
        with one_torch_thread():
            recorded = model.record(xs)
    chosen = xs[..., :model.n_actions].sum(-1) > 0
    if steps is None:
        steps = chosen
    else:
        steps = np.asarray(steps, dtype=bool)
        if steps.shape != xs.shape[:2]:
            raise ValueError(f"steps must be [sessions, trials] = {xs.shape[:2]}; got shape {steps.shape}")
        steps = steps & chosen
    ids = xs[:, 0, -1].astype(int)
    participants = np.unique(ids) if participants is None else np.atleast_1d(participants)
    equations: dict[int, dict[str, SindyEquation]] = {}
    for pid in participants:
        sessions = np.flatnonzero(ids == pid)
        if sessions.size == 0:
            raise ValueError(f"no session of participant {pid} in xs")
        equations[int(pid)] = {}
        for module in config.rnn_modules:
            x, x_next, u, controls = _samples(recorded, module, config, sessions, steps)
            if x.size < 2:
                raise ValueError(f"module {module!r} has {x.size} sample(s) for participant {pid} after filtering")
            inputs = [module, *controls]
            library = clone(feature_library) if feature_library is not None else default_library(degree,
                                                                                                    len(controls))
            fitter = clone(optimizer) if optimizer is not None else ps.STLSQ(threshold=threshold)
            z = np.concatenate([x[:, None], u], axis=1).astype(np.float64)
            theta = library.fit(z).transform(z)
            with warnings.catch_warnings():
                # an equation that the threshold empties is a result (the module is constant 0, shown as such by
                # print_spice_model and equations_), not a problem: pysindy warned once per participant and module
                warnings.filterwarnings("ignore", "Sparsity parameter is too big", UserWarning)
                fitter.fit(np.asarray(theta), x_next[:, None].astype(np.float64))
            coefficients = np.asarray(fitter.coef_, dtype=np.float64).reshape(-1)
            exponents = _monomials(library.get_feature_names(input_features=inputs), inputs, library)
            if coefficients.size != len(exponents):
                raise RuntimeError(f"SINDy returned {coefficients.size} coefficients for {len(exponents)} features")
            # the outputs stay in the range of the next values the equation was fitted to: a state equation
            # fitted on a session's first 80 % and run on its tail compounds any excess (a value decaying at
            # a coefficient > 1 grew without bound over the held-out choices of Eckstein et al. 2022)
            equations[int(pid)][module] = SindyEquation(module, _display(exponents, inputs), coefficients, controls,
                                                        int(exponents[:, 0].max()), int(x.size), exponents,
                                                        (float(x_next.min()), float(x_next.max())))
    install(model, equations)
    return equations


def install(model, equations: dict) -> None:
    """Put ``{participant: {module: SindyEquation}}`` into ``model.submodules_sindy`` (used when ``use_sindy``)."""
    modules = next(iter(equations.values()))
    model.submodules_sindy = {m: _ByParticipant(m, equations) for m in modules}


class _ByParticipant:
    """Routes each session to its participant's equation (participant 0's when the id has none).

    Every participant's equation of one module comes from the same library, so the features are computed once
    for the whole batch and each row takes its participant's coefficients (one pass, not one per participant:
    48 participants made a prediction 20× slower)."""

    def __init__(self, module: str, equations: dict):
        self.module, self.equations = module, equations
        first = next(iter(equations.values()))[module]
        same = all(np.array_equal(eq[module].exponents, first.exponents) and eq[module].controls == first.controls
                   for eq in equations.values())
        self._table = None
        if same and all(isinstance(pid, int | np.integer) and pid >= 0 for pid in equations):
            table = np.tile(first.coefficients, (max(equations) + 1, 1))
            bounds = np.tile(first.output_range or (-np.inf, np.inf), (max(equations) + 1, 1))
            for pid, eq in equations.items():
                table[pid] = eq[module].coefficients
                bounds[pid] = eq[module].output_range or (-np.inf, np.inf)
            self._table, self._bounds, self._first = table, bounds, first

    def __call__(self, value, inputs, participant_index=None):
        if participant_index is None or len(self.equations) == 1:
            return next(iter(self.equations.values()))[self.module](value, inputs)
        ids = participant_index.reshape(-1).cpu().numpy()
        if self._table is not None:
            eq = self._first
            n = value.numel()
            features = eq.features(value.detach().cpu().numpy().reshape(n).astype(np.float64),
                                   inputs[..., :len(eq.controls)].detach().cpu().numpy().reshape(
                                       n, len(eq.controls)).astype(np.float64)).reshape(*value.shape, -1)
            rows = np.where(ids < len(self._table), ids, next(iter(self.equations)))
            out = (features * self._table[rows][:, None, :]).sum(-1)
            out = np.clip(out, self._bounds[rows, :1], self._bounds[rows, 1:])
            return torch.as_tensor(out, dtype=value.dtype)
        out = torch.empty_like(value)
        for pid in np.unique(ids):
            rows = np.flatnonzero(ids == pid)
            eq = self.equations.get(int(pid), next(iter(self.equations.values())))[self.module]
            out[rows] = eq(value[rows], inputs[rows])
        return out
