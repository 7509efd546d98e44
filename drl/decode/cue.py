"""Per-neuron estimates at the cue: the cue response against the reward delay and the fitted discount γ̂ (Masset
et al. 2025), from the responses form alone.

A cue response per unit of expected reward is ``A·γ^delay`` (textbook TD: the discounted return from the cue);
fitting it per neuron gives γ̂ and the gain A. Measured responses carry trial noise, so their means are weighted
by their inverse variance; a model predictor's trials differ only by learning, so its fit is unweighted
(``weighting`` chooses either).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr

from drl._validate import frames_to_user
from drl.decode.timing import fit_discount
from drl.responses.form import conditions_of, on_estimate_dim, pooled
from drl.responses.run import as_form

__all__ = ["cue_responses", "cue_values"]

WEIGHTINGS = ("inverse variance", "none")


def weighting_of(form: xr.Dataset, weighting: str | None) -> str:
    """The weighting of a discount fit: as asked, else "inverse variance" for a recorded signal and "none" for a
    model's."""
    if weighting is None:
        return "none" if form.attrs.get("signal") == "model" else "inverse variance"
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be 'inverse variance' or 'none'; got {weighting!r}")
    return weighting


def inverse_variance(variance: np.ndarray, present: np.ndarray) -> np.ndarray | None:
    """Weights 1/variance of the means [N, K] that are ``present`` (0 for those that are not), or None when a
    present mean has no variance (a single trial, or no single trials); a zero variance (identical trials) gets
    the largest finite weight."""
    if not np.all(np.isfinite(variance[present])):
        return None
    positive = present & (variance > 0)
    weights = np.where(positive, 1.0 / np.where(positive, variance, 1.0), np.inf)
    largest = np.max(weights[positive]) if positive.any() else 1.0
    return np.where(present, np.where(positive, weights, largest), 0.0)


def fit_rows(delays: np.ndarray, mean: np.ndarray, weights: np.ndarray | None):
    """:func:`fit_discount` per neuron on the delays it has (NaN means left out); neurons with fewer than two get
    NaN. Returns (γ̂ [N], A [N], delays used [N])."""
    present = np.isfinite(mean)
    unweighted = weights is None and present.all()  # the plain least squares, as fit_discount does it
    weights = np.where(present, 1.0 if weights is None else weights, 0.0)
    enough = (weights > 0).sum(1) >= 2
    gamma_hat, amplitude = np.full(mean.shape[0], np.nan), np.full(mean.shape[0], np.nan)
    if enough.any():
        g, a = fit_discount(delays, np.where(present, mean, 0.0)[enough], weights=None if unweighted else
                            weights[enough])
        gamma_hat[enough], amplitude[enough] = g, a
    return gamma_hat, amplitude, (weights > 0).sum(1)


def cue_keys(form: xr.Dataset, trial_types):
    """The form's cue conditions with a delay (of ``trial_types``) grouped by (trial type, delay): (conditions
    [C], the group of each [C], labels [K], delays [K], expected reward of each group [K] (a cue condition's
    magnitude; 1 for a condition whose event the form does not say))."""
    conditions = conditions_of(form, "delay", "cue", None if trial_types is None else list(trial_types))
    names, delays = form["trial_type"].values[conditions], form["delay"].values[conditions]
    keys = list(dict.fromkeys(zip(names, delays, strict=True)))
    key_index = np.array([keys.index(k) for k in zip(names, delays, strict=True)])
    expected = np.ones(len(keys))
    for k, (name, _) in enumerate(keys):
        members = conditions[key_index == k]
        cue_members = members[form["event"].values[members] == "cue"]
        if cue_members.size:
            reward = float(np.mean(form["magnitude"].values[cue_members]))
            if not reward > 0:
                raise ValueError(f"trial type {str(name)!r} has mean reward {reward:g}; the fit needs it positive")
            expected[k] = reward
    labels = [str(name) for name, _ in keys]
    if len(set(labels)) < len(labels):  # one name at several delays (or no names): label by delay as well
        labels = [f"{name} ({delay:g} s)".strip() for name, delay in keys]
    return conditions, key_index, labels, np.array([d for _, d in keys]), expected


def cue_groups(form: xr.Dataset, trial_types):
    """The form's cue conditions with a delay (of ``trial_types``), per (trial type, delay), each divided by its
    expected reward (:func:`cue_keys`): (labels [K], delays [K], mean [N, K], variance of the mean [N, K])."""
    conditions, key_index, labels, delays, expected = cue_keys(form, trial_types)
    _, mean, variance, _, _ = pooled(form, conditions, key_index)
    return labels, delays, mean / expected, variance / expected**2


def cue_responses(run, trial_types=None, *, learned_fraction: float = 0.5, response: str = "rpe",
                  weighting: str | None = None) -> xr.Dataset:
    """Each neuron's response at the cue of each trial type against the reward delay, and a fitted discount γ̂.

    Each response is divided by the cue's expected reward, so that a converged model predictor gives ``γ^delay``
    (amplitude 1). The exponential ``A·γ^delay`` is fitted per neuron by least squares (a fine grid of γ, refined
    by a parabola), giving ``gamma_hat`` per second and the gain ``amplitude``. A neuron recorded at fewer than two
    delays gets NaN.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (its predictors' δ at the cue, ``response="rpe"``, or ``γ^dt·V_cue``, ``"value"``, on the learned
        trials) or any responses form (its cue conditions with a delay; conditions of one trial type and delay
        pooled).
    trial_types : list of str, optional
        The trial types read (default for a run: those with exactly one reward event; for a form: every cue
        condition with a delay). At least two distinct delays.
    learned_fraction : float
        The last fraction of a run's recorded trials read as learned (0 < f ≤ 1).
    response : {"rpe", "value"}
        What a run's cue response is.
    weighting : {"inverse variance", "none"}, optional
        Weight each mean by the inverse of its variance (the default for recorded responses with single trials,
        Masset et al. 2025) or not (the default for a model's).

    Returns
    -------
    xarray.Dataset
        ``response`` [predictor, trial_type] (``neuron`` for recorded neurons; per unit of expected reward),
        ``delay`` [trial_type] (s), ``gamma_hat`` (per s), ``amplitude`` (= ``gain``) and ``delays_used``
        [predictor], with the neurons' coordinates; attrs ``response``, ``weighting``, ``task_name``,
        ``n_neurons``.

    Raises
    ------
    ValueError
        Fewer than two distinct delays, an unknown trial type, ``response`` or ``weighting``.

    Warns
    -----
    UserWarning
        γ fitted on a population whose τ varies (an optimist's cue response is its τ-expectile of the discounted
        return, not its mean).

    See Also
    --------
    decode_reward_timing : the delay distribution these responses code.
    compare_discount_models : exponential against hyperbolic discounting, held out.
    drl.plots.value_vs_delay : the figure.

    Examples
    --------
    >>> import numpy as np
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("masset_multi_delay", drl.Population.grid(gamma=[0.6, 0.9], alpha=0.1, lam=0.9), 600,
    ...                    seed=0, progress=False)
    >>> cue = decode.cue_responses(run)
    >>> cue["delay"].values.tolist()
    [0.6, 1.5, 3.75, 9.375]
    >>> bool(np.allclose(cue["gamma_hat"].values, [0.6, 0.9], atol=0.01))
    True
    """
    form = as_form(run, cue_types="one reward" if trial_types is None else list(trial_types),
                   learned_fraction=learned_fraction, cue=response)
    return responses_at_cue(form, trial_types, weighting=weighting)


def responses_at_cue(form: xr.Dataset, trial_types=None, *, weighting: str | None = None) -> xr.Dataset:
    """:func:`cue_responses` of a responses form."""
    weighting = weighting_of(form, weighting)
    labels, delays, mean, variance = cue_groups(form, trial_types)
    if np.unique(delays).size < 2:
        raise ValueError(f"the cue responses read ({labels}) have {np.unique(delays).size} distinct reward "
                         "delay(s); γ cannot be fitted from fewer than two")
    weights = inverse_variance(variance, np.isfinite(mean)) if weighting == "inverse variance" else None
    gamma_hat, amplitude, used = fit_rows(delays, mean, weights)
    _warn_about_the_fit(form, labels)
    neuron_coords = {name: ("neuron", form[name].values) for name in form.coords
                     if form[name].dims == ("neuron",) and name != "neuron"}
    out = xr.Dataset(
        {
            "response": (("neuron", "trial_type"), mean,
                         {"long_name": "cue response per unit of expected reward", "units": "1"}),
            "delay": ("trial_type", delays, {"long_name": "reward delay after the cue", "units": "s"}),
            "gamma_hat": ("neuron", gamma_hat, {"long_name": "fitted discount", "units": "per s"}),
            "amplitude": ("neuron", amplitude, {"long_name": "fitted gain A of A·γ̂^delay", "units": "1"}),
            "gain": ("neuron", amplitude, {"long_name": "fitted gain A of A·γ̂^delay", "units": "1"}),
            "delays_used": ("neuron", used, {"long_name": "delays the neuron's fit rests on", "units": "1"}),
        },
        coords={"neuron": form["neuron"].values, "trial_type": labels, **neuron_coords},
    )
    out.attrs.update(response=form.attrs.get("cue_signal", "recorded"), task_name=form.attrs["task_name"],
                     weighting=weighting if weights is not None else "none",
                     n_neurons=int(np.isfinite(gamma_hat).sum()))
    if "learned_fraction" in form.attrs:
        out.attrs["learned_fraction"] = form.attrs["learned_fraction"]
    return on_estimate_dim(out, form)  # "predictor" for a model's own


def _warn_about_the_fit(form: xr.Dataset, labels) -> None:
    """What the form knows about its predictors that makes γ̂ only an approximation of γ."""
    level = frames_to_user() + 1
    random_reward = sorted(set(json.loads(form.attrs.get("random_reward", "[]"))) & set(labels))
    levels = np.unique(np.round(form["tau"].values, 9)) if "tau" in form.coords else np.array([])
    if levels.size > 1 and random_reward:  # a certain reward's τ-expectile is the reward itself: no mixing
        warnings.warn(f"τ varies across this population ({levels.size} levels): an optimistic predictor's cue "
                      "response is its τ-expectile of the reward, not the mean, so γ̂ mixes discounting with "
                      "optimism (a true γ of 0.6 can read anywhere in 0.55-1.0); fit one τ level at a time, e.g. "
                      f"cue_responses(run.isel(predictor=run.tau.values == level)) (random rewards in "
                      f"{random_reward})", UserWarning, stacklevel=level)
    features = form.attrs.get("features", "csc")
    if features != "csc":
        warnings.warn(f"{features} features overlap, so a cue response is only approximately γ^delay per unit reward "
                      "and γ̂ only approximates γ (γ̂ equals γ with CSC features; docs/guide/architecture.md, 'The cue code at "
                      "finite α')", UserWarning, stacklevel=level)


def cue_values(run, trial_type: str, *, learned_fraction: float = 0.5, source: str = "rpe") -> np.ndarray:
    """What each neuron predicts at the cue of ``trial_type``: its mean cue response.

    For a run, both sources give the discounted return from the cue, ``Σ_{j ≥ cue} γ^{(j−cue)·dt}·r_j``, the
    discrete Laplace transform that :func:`~drl.decode.decode_timing` inverts (kernel γ^delay), averaged over
    the learned trials:

    * ``"rpe"`` (default): the cue response ``δ_cue = r_cue + γ^dt·V_cue`` (textbook TD; the state before the cue
      is the inter-trial state, value 0), a reward at the cue itself included. Runs of schema version 1
      discounted the arriving reward, and their ``δ_cue / γ^dt`` is used.
    * ``"value"``: ``γ^dt·V_cue``, the rewards strictly after the cue step.

    A responses form: the mean of its cue conditions of ``trial_type`` (NaN for a neuron not recorded there).

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) or a responses form.
    trial_type : str
        The trial type whose cue is read.
    learned_fraction : float
        The last fraction of a run's recorded trials read as learned (0 < f ≤ 1).
    source : {"rpe", "value"}
        What a run's cue response is.

    Returns
    -------
    numpy.ndarray, shape [P]
        The mean cue response of each neuron (reward units for a run).

    Raises
    ------
    ValueError
        An unknown trial type or ``source``.

    See Also
    --------
    decode_timing : the delays these values code.
    cue_responses : the same responses per unit of expected reward, with a fitted γ̂.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("masset_multi_delay", drl.Population.grid(gamma=[0.5, 0.9], alpha=0.2, lam=0.9), 600,
    ...                    seed=0, progress=False)
    >>> values = decode.cue_values(run, "delay_1.5s")
    >>> [round(float(v), 2) for v in values]  # γ^1.5 of a reward of 1
    [0.35, 0.85]
    """
    form = as_form(run, cue_types=[trial_type], learned_fraction=learned_fraction, cue=source)
    return values_at_cue(form, trial_type)


def values_at_cue(form: xr.Dataset, trial_type: str) -> np.ndarray:
    """[N] the mean response of each neuron over the cue conditions of ``trial_type`` (any delay)."""
    conditions = np.flatnonzero((form["trial_type"].values == str(trial_type))
                                & np.isin(form["event"].values, ("cue", "")))
    if not conditions.size:
        raise ValueError(f"the responses hold no cue condition of trial type {trial_type!r}; they have "
                         f"{sorted(set(form['trial_type'].values))}")
    return pooled(form, conditions, np.zeros(conditions.size))[1][:, 0]
