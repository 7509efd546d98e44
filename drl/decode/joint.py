"""What a cue predicts in time and magnitude together (Sousa et al. 2025): the joint map of reward delay × magnitude
of a τ × γ population, and the reward distribution decoded from the cue responses alone."""

from __future__ import annotations

import numpy as np
import xarray as xr

from drl.decode._checks import vector as _vector
from drl.decode.calibration import calibrated_tau, reversal_from_cue
from drl.decode.cue import values_at_cue
from drl.decode.decoders import decode_reward_timing
from drl.decode.distribution import DecodedDistribution, decode_distribution, density_at
from drl.decode.intervals import reward_response_intervals
from drl.decode.timing import decode_timing
from drl.responses.form import reward_delays
from drl.responses.run import as_form, default_trial_type

__all__ = ["decode_cue_distribution", "decode_joint"]


def decode_joint(run, trial_type: str | None = None, *, times=None, magnitudes=None, ridge: float = 1e-6,
                 learned_fraction: float = 0.5, n_samples: int = 100, min_mass: float = 0.02,
                 source: str = "rpe", cue_response=None, reversal_fit: str | None = None,
                 axis: str | None = None) -> xr.Dataset:
    """The joint map of reward time × magnitude (Sousa et al. 2025).

    A τ × γ model population (the responses know each neuron's τ and γ: a run): for each τ level, the cue values
    (:func:`~drl.decode.cue_values` with ``source``) across γ are decoded into a time profile ``f_τ(t)``
    (:func:`~drl.decode.decode_timing`, unnormalised). The time marginal is the profile of the τ level nearest
    0.5, normalised (reward-weighted timing; exact when magnitude does not depend on time). At each time bin
    holding at least ``min_mass`` of it, ``f_τ(t) / P(t)`` across τ are read as expectiles of the magnitude and
    decoded (:func:`~drl.decode.decode_distribution`); the map is ``P(t)·p(m | t)``.

    Responses without a τ × γ grid (a recording): as Sousa et al. did for their neurons, the map is the delay
    distribution of the cue (:func:`decode_reward_timing`) times the magnitude distribution decoded from the
    neurons' responses to the same cue (:func:`decode_cue_distribution`).

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run of a τ × γ population, or a responses form (a recording).
    trial_type : str, optional
        The cue's trial type (default: the first).
    times : array_like, optional
        The delays decoded on (s; default :func:`default_delay_grid`).
    magnitudes : array_like, optional
        The magnitude grid of the map (reward units; default: 91 points from 0 to 1.5 × the largest expectile the
        profiles imply, or to 1.25 × the largest decoded sample for a recording).
    ridge : float
        The relative ridge of the timing decodes.
    learned_fraction : float
        The last fraction of a run's recorded trials read as learned (0 < f ≤ 1).
    n_samples : int
        Samples imputed per time bin.
    min_mass : float
        The least time-marginal mass a bin needs for its magnitudes to be decoded.
    source : {"rpe", "value"}
        What a run's cue response is (:func:`cue_values`).
    cue_response : array_like, shape [neuron], optional
        A recording's cue responses, each divided by the neuron's gain·γ̂^delay.
    reversal_fit : {"crossing", "hinge", "sign_count", "dabney2020"}, optional
        How a recording's reward responses are read (:func:`reward_responses`).
    axis : {"magnitude", "utility"}, optional
        Where a recording's reversal points are read.

    Returns
    -------
    xarray.Dataset
        ``joint`` [delay, magnitude] (probability per bin), ``time_marginal`` [delay], ``magnitude_marginal``
        [magnitude], and ``samples`` [delay, sample] (NaN where not decoded); attrs ``trial_type``, ``ridge``,
        ``task_name``.

    Raises
    ------
    ValueError
        Responses with neither a τ × γ grid nor cue responses, an unknown trial type.

    See Also
    --------
    drl.plots.joint_map : the figure.

    Examples
    --------
    >>> import numpy as np
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("sousa_2025", drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=list(np.linspace(0.6, 0.97, 8)),
    ...                    alpha=0.1, lam=0.9), 1500, seed=0, progress=False)
    >>> joint = decode.decode_joint(run, "variable")
    >>> bool(np.isclose(float(joint["joint"].sum()), 1.0))
    True
    >>> float(joint["delay"][joint["time_marginal"].argmax()])  # the variable cue's reward comes at 3 s
    3.0
    """
    trial_type = trial_type or default_trial_type(run)
    form = as_form(run, cue_types=[trial_type], learned_fraction=learned_fraction, cue=source)
    if not ("tau" in form.coords and "gamma" in form.coords):
        return _timing_times_magnitude(form, trial_type, times, magnitudes, ridge, n_samples, min_mass, cue_response,
                                       {"reversal_fit": reversal_fit, "axis": axis})
    if cue_response is not None:
        raise ValueError("cue_response= is for responses without true τ and γ; a model population's cue values are "
                         "read from its responses")
    value = values_at_cue(form, trial_type)  # [P]
    tau, gamma = form["tau"].values, form["gamma"].values
    levels = np.unique(np.round(tau, 9))
    if levels.size < 2 or np.unique(gamma).size < 2:
        raise ValueError("decode_joint needs a τ × γ population (at least two τ levels and two γ values); got "
                         f"{levels.size} τ level(s) and {np.unique(gamma).size} γ value(s)")
    if times is None:
        end = form.attrs.get("time_end", max([d for ds in reward_delays(form).values() for d in ds], default=10.0))
        times = np.arange(0, end + 1e-9, 0.5)
    times = _vector("times", times)
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
        density = density_at(decoded.samples, magnitudes)
        joint[j] = time_marginal[j] * density / density.sum()
    joint /= joint.sum()
    out = _joint_dataset(joint, samples, times, magnitudes, form.attrs.get("units", "reward units"))
    out = out.assign_coords(tau_level=levels)
    out.attrs.update(trial_type=trial_type, ridge=float(ridge), task_name=form.attrs["task_name"])
    return out


def _joint_dataset(joint, samples, times, magnitudes, units) -> xr.Dataset:
    return xr.Dataset(
        {
            "joint": (("delay", "magnitude"), joint, {"long_name": "decoded P(delay, magnitude)", "units": "1"}),
            "time_marginal": ("delay", joint.sum(1), {"units": "1"}),
            "magnitude_marginal": ("magnitude", joint.sum(0), {"units": "1"}),
            "samples": (("delay", "sample"), samples, {"units": units}),
        },
        coords={"delay": ("delay", times, {"units": "s"}), "magnitude": ("magnitude", magnitudes, {"units": units})},
    )


def _timing_times_magnitude(form, trial_type, times, magnitudes, ridge, n_samples, min_mass, cue_response, reading):
    """Sousa et al. 2025's map for recorded neurons: the decoded delay distribution of the cue times the
    magnitude distribution decoded from the same cue responses (:func:`decode_cue_distribution`)."""
    if cue_response is None:
        raise ValueError("decode_joint on responses without true τ and γ reads the magnitude from each neuron's "
                         "cue response to this cue: pass cue_response= (divided by the neuron's gain·γ̂^delay), "
                         "see decode_cue_distribution")
    timing = decode_reward_timing(form, trial_type, times=times, ridge=ridge)
    trial_type = timing.attrs["trial_type"]
    decoded = decode_cue_distribution(form, cue_response=cue_response, n_samples=n_samples, **reading)
    if magnitudes is None:
        magnitudes = np.linspace(0, 1.25 * float(decoded.samples.max()), 91)
    magnitudes = _vector("magnitudes", magnitudes)
    time_marginal = timing["probability"].values
    density = density_at(decoded.samples, magnitudes)
    joint = np.outer(time_marginal, density / density.sum())
    joint /= joint.sum()
    samples = np.full((time_marginal.size, n_samples), np.nan)
    samples[time_marginal >= min_mass] = decoded.samples
    out = _joint_dataset(joint, samples, timing["delay"].values, magnitudes, form.attrs.get("units", "reward units"))
    out.attrs.update(trial_type=trial_type, ridge=float(timing.attrs["ridge"]), task_name=form.attrs["task_name"],
                     method="time × magnitude (recording)", true_delays=timing.attrs["true_delays"])
    return out


def decode_cue_distribution(run, trial_type: str | None = None, *, cue_response=None, n_boot: int = 200,
                            seed: int = 0, n_samples: int = 100, intervals: xr.Dataset | None = None,
                            reversal_fit: str | None = None, axis: str | None = None) -> DecodedDistribution:
    """The reward distribution a cue predicts, decoded from the cue responses alone (Sousa et al. 2025, Fig. 4).

    Reversal points and bias-corrected τ̂ come from the reward responses of ``trial_type``
    (:func:`~drl.decode.reward_response_intervals`, with ``n_boot``, ``seed``, ``reversal_fit`` and ``axis``; or
    ``intervals`` when given); the cue responses are mapped to reversal points
    (:func:`~drl.decode.reversal_from_cue`), τ is calibrated against them (:func:`~drl.decode.calibrated_tau`)
    and the pairs are decoded as expectiles.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) or a responses form with single trials (a recording).
    trial_type : str, optional
        The cue's trial type, whose reward is variable.
    cue_response : array_like, shape [neuron], optional
        Each neuron's response at the cue of ``trial_type`` divided by its ``gain·γ̂^delay``. Default where the
        true γ is known (a run): the mean cue response (:func:`~drl.decode.cue_values`) divided by ``γ^delay``;
        a recording's must be given.
    n_boot : int
        Bootstrap replicates of the reward responses, when ``intervals`` is not given.
    seed : int
        Seed of the bootstrap.
    n_samples : int
        Samples imputed.
    intervals : xarray.Dataset, optional
        :func:`reward_response_intervals` of these data, when already computed.
    reversal_fit : {"crossing", "hinge", "sign_count", "dabney2020"}, optional
        How the reward responses are read.
    axis : {"magnitude", "utility"}, optional
        Where the reversal points are read.

    Returns
    -------
    DecodedDistribution
        The decoded distribution (reward units).

    Raises
    ------
    ValueError
        A recording without ``cue_response``, a trial type with more than one reward event, no neuron with a
        calibrated τ in (0, 1).
    TypeError
        ``intervals`` that are not :func:`reward_response_intervals`' Dataset.

    See Also
    --------
    decode_reward_distribution : the decode from the reward responses themselves.

    Examples
    --------
    >>> import numpy as np
    >>> import drl
    >>> from drl import decode
    >>> run = drl.simulate("sousa_2025", drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=list(np.linspace(0.6, 0.97, 8)),
    ...                    alpha=0.1, lam=0.9), 1500, seed=0, progress=False)
    >>> truth = drl.get_task("sousa_2025").reward_distribution("variable")
    >>> decoded = decode.decode_cue_distribution(run, "variable", n_boot=50)
    >>> bool(decode.wasserstein(decoded, truth) < 0.5 * truth.std)
    True
    """
    if intervals is not None:
        if not isinstance(intervals, xr.Dataset) or "tau_hat_corrected" not in intervals:
            raise TypeError("intervals must be the Dataset that reward_response_intervals returned for these data")
        trial_type = intervals.attrs["trial_type"]
    trial_type = trial_type or default_trial_type(run)
    form = as_form(run, reward=True, reward_type=trial_type, cue_types=[trial_type] if trial_type else None)
    if intervals is None:
        intervals = reward_response_intervals(form, trial_type, n_boot=n_boot, seed=seed, reversal_fit=reversal_fit,
                                              axis=axis)
    trial_type = intervals.attrs["trial_type"]
    if cue_response is None:
        if "gamma" not in form.coords:
            raise ValueError("these responses hold one response per condition and no true γ: pass cue_response=, "
                             "each neuron's cue response to this trial type divided by its gain·γ̂^delay")
        delays = reward_delays(form).get(trial_type, [])
        if len(delays) != 1:
            raise ValueError(f"trial type {trial_type!r} has {len(delays)} reward events; the cue decode needs one "
                             "(pass cue_response= to decode another)")
        cue_response = values_at_cue(form, trial_type) / form["gamma"].values ** delays[0]
    cue_response = _vector("cue_response", cue_response, n=intervals["tau_hat"].size)
    reversal = reversal_from_cue(cue_response, intervals["reversal_point"].values)["reversal_point_at_cue"].values
    levels = calibrated_tau(reversal, intervals["tau_hat_corrected"].values, intervals["tau_hat_variance"].values)
    keep = np.isfinite(levels) & (levels > 0) & (levels < 1)
    if keep.sum() == 0:
        raise ValueError("no neuron has a calibrated τ in (0, 1) to decode with")
    return decode_distribution(levels[keep], reversal[keep], n_samples=n_samples)
