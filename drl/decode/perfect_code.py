"""How well could these neurons decode at best? The W1 of a perfect distributional code at their noise.

A decoded distribution's W1 distance to the truth mixes two things: how far the neurons are from an expectile code,
and how much their trial-to-trial noise, trial counts and gains blur an expectile code that was perfect. A fixed
target ("W1 ≤ 0.3 SD") cannot tell them apart: 40 real neurons with ~15 trials per magnitude do not reach it even
when they code exact expectiles. :func:`perfect_code_control` measures the second part: it replaces each neuron's
mean responses by those of a neuron that codes the exact τ-expectile of the true distribution (with the neuron's
own τ̂ and slopes), keeps the neuron's own single-trial noise (its residuals, resampled with their counts), and
runs the same estimates and the same decode. A recorded code whose W1 lies within the perfect codes' range is as
good as a distributional code can be at this noise; one far above it (a code whose τ̂ say nothing of the reversal
points) is not.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from drl._validate import integer
from drl.decode.decoders import decode_reward_distribution
from drl.decode.distribution import expectiles, residual_warnings_ignored
from drl.decode.reward import responses_at_reward, reward_reading
from drl.decode.scoring import wasserstein
from drl.responses.form import responses_form
from drl.responses.run import as_form
from drl.tasks.distributions import RewardDistribution

__all__ = ["perfect_code_control"]

#: τ of a perfect code's neuron, from its τ̂, kept inside (0, 1): a τ̂ of 0 or 1 has its expectile at an end of the
#: support, where one side of the hinge has no data
TAU_MARGIN = 0.02


def _resampled(residuals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """[N, M, R] each neuron × magnitude's finite residuals drawn with replacement, as many as it had (NaN after)."""
    finite = np.isfinite(residuals)
    counts = finite.sum(2)  # [N, M]
    # finite values first in each row, so that index k < count draws among them
    order = np.argsort(~finite, axis=2, kind="stable")
    packed = np.take_along_axis(residuals, order, axis=2)
    draws = np.floor(rng.random(residuals.shape) * np.maximum(counts, 1)[..., None]).astype(np.intp)
    out = np.take_along_axis(packed, draws, axis=2)
    out[np.arange(residuals.shape[2])[None, None, :] >= counts[..., None]] = np.nan
    return out


def perfect_code_control(run, truth: RewardDistribution, trial_type: str | list | None = None, *,
                         responses: xr.Dataset | None = None, n_codes: int = 100, seed: int = 0,
                         smoothing: float | str | None = None, bounds=None, progress: bool | None = None
                         ) -> xr.Dataset:
    """The W1 distances to ``truth`` of perfect expectile codes with these neurons' gains, trial counts and noise.

    For each of ``n_codes`` codes, every neuron with an estimate is replaced by a perfect one: its τ is the
    neuron's τ̂ (kept within [0.02, 0.98]), its reversal point the τ-expectile of ``truth`` on the axis the
    responses were read on (the magnitudes, or the empirical utility of each magnitude for a recording), its mean
    response at magnitude m a two-piece line through that point with the neuron's own slopes s+ and s−, and its
    single trials that mean plus the neuron's own residuals at m (its trials minus their mean), drawn with
    replacement, as many as it had. The code is then read and decoded exactly as the real one
    (:func:`~drl.decode.reward_responses` with the same estimator and axis, then
    :func:`~drl.decode.decode_reward_distribution` with ``smoothing`` and ``bounds``).

    Parameters
    ----------
    run : xarray.Dataset or str or path
        The recording's responses form (single-trial responses needed: its noise is what is resampled), or a run.
    truth : drl.RewardDistribution
        The distribution delivered; its values must be magnitudes the responses were recorded at.
    trial_type : str or list of str, optional
        As for :func:`~drl.decode.reward_responses`.
    responses : xarray.Dataset, optional
        The real code's :func:`~drl.decode.reward_responses` (its estimator and axis are reused); computed with
        the defaults when not given.
    n_codes : int
        Perfect codes simulated (each a full estimate and decode, about 0.3 s for 40 neurons).
    seed : int
        Seed of the residuals' resampling.
    smoothing, bounds
        Passed to :func:`~drl.decode.decode_reward_distribution` for every code: decode the real code the same way.
    progress : bool, optional
        A bar over codes (default: when ``n_codes`` > 20).

    Returns
    -------
    xarray.Dataset
        ``w1`` [code] (the truth's units) and ``w1_sd`` [code] (in the truth's SDs); attrs ``median_sd``,
        ``low_sd`` and ``high_sd`` (10th and 90th percentiles, in SDs), ``n_codes``, ``n_neurons``,
        ``trial_type``, ``axis``, ``reversal_fit``.

    Raises
    ------
    ValueError
        No single-trial responses, ``truth`` at a magnitude that was not recorded, or no neuron with an estimate.
    TypeError
        ``truth`` is not a RewardDistribution.

    See Also
    --------
    drl.decode.shuffle_control : the W1 of the same neurons with their τ̂ shuffled (a code that says nothing).
    drl.decode.reference_ladder : the W1 of references anyone could have guessed.

    Examples
    --------
    Spikes of a model population (Poisson, 250 learned trials), read as a recording:

    >>> import drl
    >>> from drl.decode import perfect_code_control
    >>> from drl.responses import recording_from_run, responses_from_recording
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9]),
    ...                    n_trials=500, seed=0)
    >>> form = responses_from_recording(recording_from_run(run, seed=0))
    >>> truth = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    >>> control = perfect_code_control(form, truth, "variable", n_codes=5, progress=False)
    >>> control["w1_sd"].sizes["code"], control.attrs["axis"]
    (5, 'utility')
    """
    from tqdm.auto import tqdm

    if not isinstance(truth, RewardDistribution):
        raise TypeError(f"truth must be a drl RewardDistribution (e.g. task.reward_distribution(name)); got "
                        f"{type(truth).__name__}")
    n_codes = integer("n_codes", n_codes, minimum=1)
    form = as_form(run, reward_type=trial_type, reward=True)
    if responses is None:
        responses = responses_at_reward(form, trial_type)
    elif not isinstance(responses, xr.Dataset) or "tau_hat" not in responses:
        raise TypeError("responses must be the Dataset that reward_responses returned for these data")
    fit, axis_name = responses.attrs["reversal_fit"], responses.attrs["axis"]
    reading = reward_reading(form, trial_type if trial_type is not None else responses.attrs["trial_type"], fit,
                             axis_name)
    if reading.trials is None:
        raise ValueError("perfect_code_control resamples each neuron's single-trial noise: these responses have no "
                         "single trials (trial_response)")
    magnitudes = reading.magnitudes
    where = np.searchsorted(magnitudes, truth.values)
    known = (where < magnitudes.size) & np.isclose(magnitudes[np.minimum(where, magnitudes.size - 1)], truth.values)
    if not known.all():
        raise ValueError(f"truth has values {truth.values[~known].tolist()} that are not magnitudes of these "
                         f"responses ({magnitudes.tolist()})")
    axis = responses["axis"].values if axis_name == "utility" else magnitudes
    code_truth = RewardDistribution(axis[where], truth.probabilities)  # the distribution on the code's axis
    tau, slope_pos, slope_neg = (responses[name].values for name in ("tau_hat", "slope_pos", "slope_neg"))
    usable = np.isfinite(tau) & np.isfinite(slope_pos) & np.isfinite(slope_neg)
    if not usable.any():
        raise ValueError("no neuron has a τ̂ and slopes to build a perfect code from")
    tau = np.clip(tau[usable], TAU_MARGIN, 1 - TAU_MARGIN)
    reversal = expectiles(code_truth, tau)  # [N] on the code's axis
    offset = axis[None, :] - reversal[:, None]
    mean = np.where(offset > 0, slope_pos[usable, None], slope_neg[usable, None]) * offset  # [N, M]
    trials = reading.trials[usable]
    residuals = trials - np.nanmean(trials, 2, keepdims=True)
    recorded = np.isfinite(reading.mean[usable])
    rng = np.random.default_rng(seed)
    w1 = np.full(n_codes, np.nan)
    show = n_codes > 20 if progress is None else bool(progress)
    for c in tqdm(range(n_codes), desc="perfect codes", unit="code", disable=not show):
        single = mean[..., None] + _resampled(residuals, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a magnitude a neuron was not recorded at: NaN
            averaged = np.where(recorded, np.nanmean(single, 2), np.nan)
        code = responses_form(averaged, trial_response=single, magnitude=magnitudes, event=["reward"] * magnitudes.size,
                              trial_type=[reading.trial_type] * magnitudes.size, units=form.attrs.get("units", ""))
        estimated = responses_at_reward(code, reading.trial_type, reversal_fit=fit, axis=axis_name)
        with residual_warnings_ignored():  # a noisy code's misfit: the point of the control, not news
            decoded = decode_reward_distribution(code, reading.trial_type, responses=estimated, smoothing=smoothing,
                                              bounds=bounds)
        w1[c] = wasserstein(decoded, truth)
    in_sd = w1 / truth.std
    low, median, high = np.nanpercentile(in_sd, [10, 50, 90])
    return xr.Dataset(
        {"w1": ("code", w1, {"long_name": "W1 of a perfect code's decode to the truth", "units": str(
            form.attrs.get("units", "reward units"))}),
         "w1_sd": ("code", in_sd, {"long_name": "W1 in the truth's standard deviations", "units": "1"})},
        coords={"code": np.arange(n_codes)},
        attrs={"median_sd": float(median), "low_sd": float(low), "high_sd": float(high), "n_codes": n_codes,
               "n_neurons": int(usable.sum()), "trial_type": reading.trial_type, "axis": axis_name,
               "reversal_fit": fit},
    )
