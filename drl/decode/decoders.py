"""Population decodes from the responses form: the reward distribution (from reversal points), the reward timing
(from cue responses across γ), the joint time × magnitude map and the distribution a cue predicts.

Each takes a run (read into the form once, :mod:`drl.responses.run`) or any responses form. What a decode pairs
with the responses depends on what the form knows: a model population's true τ and γ (the model's view), or the
τ̂ and γ̂ estimated from the responses (the experimenter's view; ``use`` chooses).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from drl.decode.calibration import calibrated_tau
from drl.decode.cue import responses_at_cue, values_at_cue, weighting_of
from drl.decode.distribution import DecodedDistribution, decode_distribution
from drl.decode.intervals import levels_to_use, reward_response_intervals
from drl.decode.reward import responses_at_reward
from drl.decode.timing import decode_timing, default_delay_grid
from drl.responses.form import pooled, reward_delays
from drl.responses.run import as_form, default_trial_type

__all__ = ["decode_reward_distribution", "decode_reward_timing"]


def decode_reward_distribution(run, trial_type: str | list | None = None, *, event: int = 0,
                               learned_fraction: float = 0.5, use: str | None = None, n_samples: int = 100,
                               responses: xr.Dataset | None = None, smoothing: float | str | None = None,
                               bounds=None) -> DecodedDistribution:
    """Decode the reward distribution of ``trial_type`` from the neurons' reversal points.

    ``use="tau"`` (the default when the responses know each neuron's true τ: a run) pairs the reversal points
    with the true τ (the model's view); ``"tau_hat"`` (the default otherwise: a recording) with the asymmetries
    estimated from the responses (the experimenter's view); ``"tau_calibrated"`` with Sousa et al. 2025's
    bias-corrected, isotonic map of τ̂ on the reversal point (:func:`~drl.decode.calibrated_tau`; ``responses``
    must then come from :func:`~drl.decode.reward_response_intervals`, which is called when they are not given).
    A model learning quantiles is decoded as quantiles, everything else as expectiles. ``responses``: the
    :func:`~drl.decode.reward_responses` of these data when already computed (figures pass theirs;
    ``trial_type``, ``event`` and ``learned_fraction`` are then theirs).

    ``smoothing`` and ``bounds`` go to :func:`~drl.decode.decode_distribution`: a recording's code is noisy, and
    ``smoothing="cv"`` decodes it with a ridge chosen by cross-validation over its neurons instead of fitting
    every (τ̂, reversal point) pair exactly; ``bounds="delivered"`` keeps the samples within the magnitudes the
    responses were recorded at (a recording knows what it delivered).

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) with ``rpe`` and ``reward`` recorded, or a responses form (a recording).
    trial_type : str or list of str, optional
        The trial type whose reward is decoded (a list pools several; default: the first with two magnitudes).
    event : int
        Which reward of the trial type (0: the first).
    learned_fraction : float
        The last fraction of the recorded trials read as learned (0 < f ≤ 1).
    use : {"tau", "tau_hat", "tau_calibrated"}, optional
        The levels paired with the reversal points (default: "tau" for a run, "tau_hat" for a recording).
    n_samples : int
        Samples imputed.
    responses : xarray.Dataset, optional
        These data's :func:`~drl.decode.reward_responses`, when already computed.
    smoothing : float or "cv", optional
        A ridge for a noisy code (see :func:`~drl.decode.decode_distribution`).
    bounds : (float, float) or "delivered", optional
        The samples' range (reward units).

    Returns
    -------
    DecodedDistribution
        Its ``samples`` (reward units), density, and the residual of the code it was decoded from.

    Raises
    ------
    ValueError
        No neuron with a level in (0, 1), an unknown ``bounds`` or ``use``.
    TypeError
        ``responses`` that are not :func:`~drl.decode.reward_responses`' Dataset.

    See Also
    --------
    perfect_code_control : the W1 a perfect code reaches at a recording's noise.

    Examples
    --------
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9],
    ...                    alpha=0.05), 2000, seed=0, progress=False)
    >>> truth = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    >>> decoded = decode.decode_reward_distribution(run)
    >>> bool(decode.wasserstein(decoded, truth) < truth.std)
    True
    """
    if responses is None:
        form = as_form(run, reward_type=trial_type, reward=True, event=event, learned_fraction=learned_fraction)
        use = levels_to_use(form, use)
        responses = (reward_response_intervals(form, trial_type) if use == "tau_calibrated"
                     else responses_at_reward(form, trial_type))
    elif not isinstance(responses, xr.Dataset) or "reversal_point" not in responses:
        raise TypeError("responses must be the Dataset that reward_responses returned for these data")
    else:
        use = levels_to_use(responses, use)
    if use == "tau_calibrated":
        if "tau_hat_corrected" not in responses:
            raise TypeError("use='tau_calibrated' needs responses from reward_response_intervals (the bias-corrected "
                            "τ̂ and its variance)")
        levels = calibrated_tau(responses["reversal_point"].values, responses["tau_hat_corrected"].values,
                                responses["tau_hat_variance"].values)
    else:
        levels = responses[use].values
    keep = np.isfinite(levels) & (levels > 0) & (levels < 1) & np.isfinite(responses["reversal_point"].values)
    if keep.sum() == 0:
        raise ValueError(f"no neuron has a {use} in (0, 1) to decode with")
    kind = "quantile" if responses.attrs.get("rule") == "quantile" else "expectile"
    if isinstance(bounds, str):
        if bounds != "delivered":
            raise ValueError(f"bounds must be (lo, hi), None or 'delivered'; got {bounds!r}")
        magnitudes = responses["magnitude"].values
        bounds = (float(magnitudes.min()), float(magnitudes.max()))
    return decode_distribution(levels[keep], responses["reversal_point"].values[keep], kind=kind,
                               n_samples=n_samples, smoothing=smoothing, bounds=bounds)


def _first_cue_type(form: xr.Dataset) -> str:
    names = form["trial_type"].values[np.isin(form["event"].values, ("cue", "")) & np.isfinite(form["delay"].values)]
    if not names.size:
        raise ValueError("the responses have no cue condition with a delay: timing is decoded from cue responses")
    return str(names[0])


def decode_reward_timing(run, trial_type: str | None = None, *, times=None, ridge: float | str = 1e-6,
                         learned_fraction: float = 0.5, use: str | None = None,
                         weighting: str | None = None) -> xr.Dataset:
    """The distribution of reward delays that the cue of ``trial_type`` predicts.

    :func:`~drl.decode.decode_timing` on the population's cue responses. ``use="gamma"`` (the default when the
    neurons' true γ is known: a run) decodes each neuron's mean cue response (:func:`~drl.decode.cue_values`) with
    its true γ. ``"gamma_hat"`` (the default otherwise: a recording) fits each neuron's γ̂ and gain
    (:func:`~drl.decode.cue_responses`) on the trial types that predict a single delay, divides its response at
    the cue of ``trial_type`` by its gain and, with single trials of a recorded signal (``weighting``), weights
    each neuron by the inverse variance of that mean (Masset et al. 2025). Neurons whose γ̂ reached the fit's
    bounds (≤ 0.001 or ≥ 0.999 per s), or that were not recorded at this cue, carry no timing information and are
    left out (``attrs["left_out"]``).

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) or a responses form (a recording).
    trial_type : str, optional
        The cue's trial type (default: the first cue with a delay).
    times : array_like, optional
        The delays decoded on (s; default :func:`~drl.decode.default_delay_grid` of every reward delay of the
        task or the recording, the grid :func:`drl.plots.timing` draws).
    ridge : float or "gcv"
        The relative ridge, or chosen by generalised cross-validation (:func:`gcv_ridge`).
    learned_fraction : float
        The last fraction of a run's recorded trials read as learned (0 < f ≤ 1).
    use : {"gamma", "gamma_hat"}, optional
        Each neuron's true γ or its fitted γ̂.
    weighting : {"inverse variance", "none"}, optional
        How the neurons are weighted (see :func:`~drl.decode.cue_responses`).

    Returns
    -------
    xarray.Dataset
        :func:`~drl.decode.decode_timing`'s Dataset (``probability`` [delay]), with attrs ``trial_type``,
        ``true_delays`` (the delays the task or the recording gives for that trial type, s), ``left_out``,
        ``use`` and ``weighting``.

    Raises
    ------
    ValueError
        No cue condition with a delay, an unknown trial type or ``use``, ``use="gamma"`` without a true γ.

    See Also
    --------
    compare_timing_decoders : the timing decoded on held-out trials under three discount models.
    drl.plots.timing : the figure.

    Examples
    --------
    >>> import numpy as np
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("masset_multi_delay", drl.Population.grid(gamma=list(np.linspace(0.5, 0.99, 12)),
    ...                    alpha=0.1, lam=0.9), 1200, seed=0, progress=False)
    >>> timing = decode.decode_reward_timing(run, "delay_3.75s")
    >>> timing.attrs["true_delays"], float(timing["delay"][timing["probability"].argmax()])
    ([3.75], 3.5)
    """
    trial_type = trial_type or default_trial_type(run)
    form = as_form(run, cue_types=[trial_type] if use in (None, "gamma") else "each",
                   learned_fraction=learned_fraction)
    use = use or ("gamma" if "gamma" in form.coords else "gamma_hat")
    if use not in ("gamma", "gamma_hat"):
        raise ValueError(f"use must be 'gamma' or 'gamma_hat'; got {use!r}")
    if use == "gamma" and "gamma" not in form.coords:
        raise ValueError("these responses have no true γ (a recording): decode with use='gamma_hat'")
    delays = reward_delays(form)
    trial_type = trial_type or _first_cue_type(form)
    if times is None:  # one grid for every trial type (plots.timing's too)
        times = default_delay_grid([d for ds in delays.values() for d in ds])
    if use == "gamma":
        out = decode_timing(form["gamma"].values, values_at_cue(form, trial_type), times, ridge=ridge)
        out.attrs.update(trial_type=trial_type, true_delays=delays.get(trial_type, []), left_out=0, use=use,
                         weighting="none")
        return out
    # γ̂ and gains from the cues that predict one delay (a cue with several would not read as γ^delay)
    certain = [name for name, ds in delays.items() if len(ds) == 1]
    cue = responses_at_cue(form, certain if np.unique([delays[n][0] for n in certain]).size > 1 else None,
                           weighting=weighting)
    conditions = np.flatnonzero((form["trial_type"].values == trial_type) & np.isin(form["event"].values, ("cue", ""))
                                & np.isfinite(form["delay"].values))
    _, mean, variance, _, _ = pooled(form, conditions, np.zeros(conditions.size))  # one pool: the whole type
    gain, gamma_hat = cue["gain"].values, cue["gamma_hat"].values
    usable = ((gamma_hat > 1e-3) & (gamma_hat < 0.999) & np.isfinite(gain) & (gain != 0)
              & np.isfinite(mean[:, 0]))
    if usable.sum() < 2:
        raise ValueError(f"only {usable.sum()} neuron(s) have a fitted γ̂ inside (0.001, 0.999) per s, a gain and a "
                         f"response at the cue of {trial_type!r}: too few to decode timing")
    values = mean[usable, 0] / gain[usable]
    weights, spread = None, variance[usable, 0]
    if weighting_of(form, weighting) == "inverse variance" and np.all(np.isfinite(spread)) and np.all(spread > 0):
        weights = gain[usable] ** 2 / spread  # the inverse variance of mean / gain
    out = decode_timing(gamma_hat[usable], values, times, ridge=ridge, weights=weights)
    out.attrs.update(trial_type=trial_type, true_delays=delays.get(trial_type, []), left_out=int((~usable).sum()),
                     use=use, weighting="inverse variance" if weights is not None else "none")
    return out


