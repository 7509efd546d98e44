"""The responses form: every population's responses, simulated or recorded, as one xarray Dataset.

Every analysis in :mod:`drl.decode` reads this form and nothing else. It holds, per neuron (a recorded neuron, or
a model predictor) and condition:

* ``response`` [neuron, condition]: the mean response, baseline-subtracted (the decoders read where a response
  changes sign, so a baseline left in moves every reversal point); NaN where a neuron was not recorded in a
  condition;
* ``trial_response`` [neuron, condition, repeat] (optional): the single-trial responses, NaN-padded. With it, fits
  weight means by their inverse variance, the sign-count reversal point counts trials, and intervals resample
  trials;
* ``trial`` [condition, repeat] (optional, integer, −1 padding): the trial each repeat is. Present when repeat r of
  condition c is **the same trial for every neuron** (a simulated run; neurons recorded together in one
  session): intervals then resample trials shared by all neurons, keeping their correlations;
* per-condition coordinates ``event`` ("cue", "reward", or "" for a response read at either), ``trial_type``
  (a name), ``magnitude`` (reward units: the reward delivered for a reward response, the expected reward for a
  cue response) and ``delay`` (s from the cue to the reward), NaN where a condition has none;
* per-neuron coordinates: anything known of each neuron, e.g. a recording's ``cell_type`` or a model
  predictor's true ``tau``, ``gamma``, ``alpha_pos``, ``alpha_neg``, ``lam``. Analyses use a true parameter when
  the form has it (the model's view) and the parameter estimated from the responses otherwise;
* ``attrs``: ``drl_form = "responses"``, ``task_name``, ``units`` (of magnitude), ``signal``: ``"recorded"`` (a
  measured response, which bends at the reversal point) or ``"model"`` (a model predictor's δ, linear in the reward
  and free of measurement noise), and optionally ``rule`` ("expectile"/"quantile": the model's learning rule) and
  ``reward_delays`` (JSON: every reward delay of each trial type, s).

Sources build it: :func:`responses_form` from arrays, :mod:`drl.responses.table` from a table of responses,
:mod:`drl.responses.spikes` from spike times or a continuous signal and trial events (and NWB files or pynapple
objects through :mod:`drl.responses.nwb`), :mod:`drl.responses.run` from a simulated run.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

__all__ = ["FORM", "SIGNALS", "conditions_of", "estimate_dim", "is_responses_form", "on_estimate_dim", "nan_mean", "pooled",
           "random_halves", "reward_delays", "responses_form"]

FORM = "responses"
SIGNALS = ("recorded", "model")
EVENTS = ("", "cue", "reward")


def is_responses_form(data) -> bool:
    """Whether ``data`` is a Dataset in the responses form.

    Parameters
    ----------
    data : object
        Anything.

    Returns
    -------
    bool
        True for a Dataset made by :func:`responses_form` or any source of :mod:`drl.responses`.

    See Also
    --------
    responses_form : the form from arrays.

    Examples
    --------
    >>> import xarray as xr
    >>> from drl import responses
    >>> responses.is_responses_form(responses.responses_form([[1.0, -1.0]], magnitude=[1.0, 4.0]))
    True
    >>> responses.is_responses_form(xr.Dataset())
    False
    """
    return isinstance(data, xr.Dataset) and data.attrs.get("drl_form") == FORM


def estimate_dim(form: xr.Dataset) -> str:
    """The dimension of per-neuron estimates read from ``form``: ``"predictor"`` for a model's own predictors
    (``signal="model"``, the dimension of the run they came from), ``"neuron"`` for recorded neurons (a measured
    signal, real or simulated as :func:`~drl.responses.recording_from_run` does). The form itself always calls it
    ``neuron``; an estimate names the units for what they are."""
    return "predictor" if form.attrs.get("signal") == "model" else "neuron"


def on_estimate_dim(estimates: xr.Dataset, form: xr.Dataset) -> xr.Dataset:
    """``estimates`` built on the form's ``neuron`` dimension, renamed to :func:`estimate_dim` of ``form``."""
    unit = estimate_dim(form)
    return estimates if unit == "neuron" else estimates.rename({"neuron": unit})


def _per_condition(name: str, values, n_conditions: int, dtype) -> np.ndarray:
    if values is None:
        return np.full(n_conditions, np.nan) if dtype is float else np.full(n_conditions, "", dtype=object)
    array = np.asarray(values, dtype=dtype)
    if array.shape != (n_conditions,):
        raise ValueError(f"{name} must have one entry per condition ({n_conditions}); got shape {array.shape}")
    return array


def responses_form(response, *, magnitude=None, delay=None, trial_type=None, event=None, neuron=None,
                   trial_response=None, trial=None, neuron_coords: dict | None = None, units: str = "reward units",
                   name: str = "recording", signal: str = "recorded", attrs: dict | None = None) -> xr.Dataset:
    """The responses form from arrays (see the module docstring): the one currency of every analysis.

    Parameters
    ----------
    response : array_like, shape [neuron, condition]
        Mean baseline-subtracted responses (any unit: gains differ per neuron); NaN where a neuron was not
        recorded in a condition (each neuron needs at least one response).
    magnitude : array_like, shape [condition], optional
        The reward magnitude of each condition (``units``), NaN where none.
    delay : array_like, shape [condition], optional
        The reward delay after the cue (s), NaN where none.
    trial_type : array_like of str, shape [condition], optional
        Names (e.g. the odour); default "" for all.
    event : array_like of str, shape [condition], optional
        "cue", "reward" or "" (read as either: a table that does not say); default "".
    neuron : array_like, shape [neuron], optional
        Ids (default 0 … N−1).
    trial_response : array_like, shape [neuron, condition, repeat], optional
        Single-trial responses, NaN-padded; ``response`` must be their mean where given.
    trial : array_like of int, shape [condition, repeat], optional
        Trial ids, −1 where a condition has fewer repeats: given when every neuron's repeat r of condition c is
        the same trial (neurons recorded together).
    neuron_coords : dict, optional
        ``{name: [neuron] values}``, e.g. ``{"cell_type": [...]}`` or a model's ``{"tau": [...]}``.
    units : str
        The unit of ``magnitude`` (figure labels).
    name : str
        The recording's name (figure titles).
    signal : {"recorded", "model"}
        A measured response, or a model predictor's δ or value (no measurement noise).
    attrs : dict, optional
        Further attributes (``rule``, ``reward_delays``, the source's settings).

    Returns
    -------
    xarray.Dataset
        ``response`` [neuron, condition] (and ``trial_response`` [neuron, condition, repeat]) with the
        conditions' ``magnitude``, ``delay``, ``trial_type`` and ``event`` coordinates, the neurons' coordinates,
        and ``attrs["drl_form"] = "responses"``.

    Raises
    ------
    ValueError
        ``response`` not 2-D, infinite, or empty for a neuron; neither ``magnitude`` nor ``delay``; a negative
        delay; an unknown ``event``; repeated neuron ids; ``trial_response`` or ``trial`` of another shape, or a
        ``response`` that is not the mean of its trials; a ``neuron_coords`` entry without one value per neuron.

    Examples
    --------
    Three neurons' mean reward responses to two magnitudes:

    >>> import numpy as np
    >>> from drl.responses import responses_form
    >>> form = responses_form(np.array([[-1.0, 2.0], [-0.5, 1.0], [-2.0, 0.5]]), magnitude=[1.0, 8.0],
    ...                       event=["reward", "reward"], units="µl")
    >>> dict(form["response"].sizes)
    {'neuron': 3, 'condition': 2}
    """
    response = np.asarray(response, dtype=np.float64)
    if response.ndim != 2 or 0 in response.shape:
        raise ValueError(f"response must be a non-empty 2-D array [neuron, condition]; got shape {response.shape}")
    n_neurons, n_conditions = response.shape
    if np.any(np.isinf(response)):
        bad = np.argwhere(np.isinf(response))[0]
        raise ValueError(f"response must be finite or NaN (not recorded); neuron index {bad[0]}, condition "
                         f"{bad[1]} is {response[tuple(bad)]}")
    silent = np.flatnonzero(np.isnan(response).all(1))
    if silent.size:
        raise ValueError(f"response must hold at least one number per neuron; neuron index {silent[0]} has none "
                         "(drop neurons that were not recorded)")
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}; got {signal!r}")
    magnitude = _per_condition("magnitude", magnitude, n_conditions, float)
    delay = _per_condition("delay", delay, n_conditions, float)
    if np.all(np.isnan(magnitude)) and np.all(np.isnan(delay)):
        raise ValueError("give magnitude or delay (or both) per condition: the decoders read responses against one")
    if np.any(delay[np.isfinite(delay)] < 0):
        raise ValueError(f"delay must be ≥ 0 s; got {delay[delay < 0][:3].tolist()}")
    trial_type = _per_condition("trial_type", trial_type, n_conditions, object).astype(str)
    event = _per_condition("event", event, n_conditions, object).astype(str)
    unknown = sorted(set(event) - set(EVENTS))
    if unknown:
        raise ValueError(f"event must be 'cue', 'reward' or '' per condition; got {unknown}")
    neuron = np.arange(n_neurons) if neuron is None else np.asarray(neuron)
    if neuron.shape != (n_neurons,) or np.unique(neuron).size != n_neurons:
        raise ValueError(f"neuron must hold {n_neurons} distinct ids; got {neuron[:5].tolist()}")
    data = {"response": (("neuron", "condition"), response,
                         {"long_name": "mean baseline-subtracted response", "units": "recorded units"})}
    if trial_response is not None:
        trials = np.asarray(trial_response, dtype=np.float64)
        if trials.ndim != 3 or trials.shape[:2] != response.shape:
            raise ValueError(f"trial_response must have shape [neuron, condition, repeat] = {response.shape} + "
                             f"(repeats,); got {trials.shape}")
        if np.any(np.isinf(trials)):
            raise ValueError("trial_response must be finite or NaN (no trial)")
        counted = np.isfinite(trials).sum(2)
        with np.errstate(invalid="ignore"):
            if np.any((counted == 0) != np.isnan(response)):
                bad = np.argwhere((counted == 0) != np.isnan(response))[0]
                raise ValueError(f"neuron index {bad[0]}, condition {bad[1]}: response must be NaN exactly where "
                                 "trial_response has no trial")
            mean = np.where(counted > 0, np.nanmean(np.where(counted[..., None] > 0, trials, 0.0), 2), np.nan)
            if not np.allclose(mean, response, rtol=1e-6, atol=1e-9, equal_nan=True):
                raise ValueError("response must be the mean of trial_response over its repeats")
        data["trial_response"] = (("neuron", "condition", "repeat"), trials,
                                  {"long_name": "single-trial response (NaN: no trial)", "units": "recorded units"})
    coords = {"neuron": neuron, "condition": np.arange(n_conditions),
              "trial_type": ("condition", trial_type),
              "event": ("condition", event),
              "magnitude": ("condition", magnitude, {"units": units, "long_name": "reward magnitude"}),
              "delay": ("condition", delay, {"units": "s", "long_name": "reward delay after the cue"})}
    if trial is not None:
        if trial_response is None:
            raise ValueError("trial= names the trial of each repeat of trial_response; give trial_response too")
        trial = np.asarray(trial)
        if trial.shape != data["trial_response"][1].shape[1:] or not np.issubdtype(trial.dtype, np.integer):
            raise ValueError(f"trial must be integers of shape [condition, repeat] = "
                             f"{data['trial_response'][1].shape[1:]}; got {trial.dtype} {trial.shape}")
        coords["trial"] = (("condition", "repeat"), trial, {"long_name": "trial of each repeat (-1: none)"})
    for key, values in (neuron_coords or {}).items():
        values = np.asarray(values)
        if values.shape != (n_neurons,):
            raise ValueError(f"neuron_coords[{key!r}] must have one value per neuron ({n_neurons}); got shape "
                             f"{values.shape}")
        coords[key] = ("neuron", values)
    form = xr.Dataset(data, coords=coords)
    form.attrs.update(attrs or {})
    form.attrs.update(drl_form=FORM, task_name=str(name), units=str(units), signal=signal)
    return form


def conditions_of(form: xr.Dataset, coordinate: str, event: str, trial_types=None) -> np.ndarray:
    """Indices of the form's conditions at ``event`` ("cue" or "reward"; a condition whose event is "" counts as
    either) with a finite ``coordinate`` (magnitude or delay), of ``trial_types`` when given."""
    finite = np.isfinite(form[coordinate].values) & np.isin(form["event"].values, (event, ""))
    if trial_types is not None:
        names = form["trial_type"].values
        unknown = sorted(set(trial_types) - set(names[finite]))
        if unknown:
            raise ValueError(f"trial type(s) {unknown} have no {event} condition with a {coordinate}; the "
                             f"recording's are {sorted(set(names[finite]))}")
        finite &= np.isin(names, list(trial_types))
    return np.flatnonzero(finite)


def random_halves(trials: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each neuron's trials in each condition of ``trials`` [N, C, R] (NaN-padded) split at random into two
    halves, on their own (as if each neuron were recorded in its own session): the two halves' trials, each
    [N, C, R] with the other half's (and the padding) NaN. The first half holds ⌊n/2⌋ of a cell's n trials."""
    present = np.isfinite(trials)
    counts = present.sum(2)
    rank = np.argsort(np.argsort(np.where(present, 0.0, np.inf) + rng.random(trials.shape), axis=2), axis=2)
    first = present & (rank < (counts[:, :, None] // 2))
    return np.where(first, trials, np.nan), np.where(present & ~first, trials, np.nan)


def pooled(form: xr.Dataset, conditions: np.ndarray, key: np.ndarray):
    """The conditions sharing a ``key`` value pooled, per neuron: (key values [K], mean [N, K], variance of the
    mean [N, K] (NaN without single trials or with one), single trials [N, K, R] or None, trial ids [K, R] or
    None). Repeats keep their order within a condition, conditions theirs within a pool."""
    values, which = np.unique(key, return_inverse=True)
    if "trial_response" not in form:
        response = form["response"].values[:, conditions]
        mean = np.stack([nan_mean(response[:, which == k], 1) for k in range(values.size)], 1)
        return values, mean, np.full(mean.shape, np.nan), None, None
    trials = form["trial_response"].values[:, conditions]  # [N, C, R]
    ids = form["trial"].values[conditions] if "trial" in form.coords else None
    parts = [trials[:, which == k].reshape(trials.shape[0], -1) for k in range(values.size)]
    id_parts = [ids[which == k].reshape(-1) for k in range(values.size)] if ids is not None else None
    if id_parts is not None:  # drop the padding of shared trials, so a pool's repeats are its trials
        keep = [p >= 0 for p in id_parts]
        parts = [p[:, k] for p, k in zip(parts, keep, strict=True)]
        id_parts = [p[k] for p, k in zip(id_parts, keep, strict=True)]
    width = max(p.shape[1] for p in parts)
    stacked = np.stack([np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=np.nan) for p in parts], 1)
    trial_ids = None if id_parts is None else np.stack([np.pad(p, (0, width - p.size), constant_values=-1)
                                                        for p in id_parts])
    n = np.isfinite(stacked).sum(2)
    mean = nan_mean(stacked, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        squares = np.where(np.isfinite(stacked), (stacked - mean[..., None]) ** 2, 0.0).sum(2)
        variance = np.where(n > 1, squares / np.maximum(n - 1, 1) / np.maximum(n, 1), np.nan)
    return values, mean, variance, stacked, trial_ids


def nan_mean(values: np.ndarray, axis: int) -> np.ndarray:
    """The mean over ``axis`` of the finite entries, NaN where there are none (without numpy's warning)."""
    n = np.isfinite(values).sum(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(np.isfinite(values), values, 0.0).sum(axis) / np.maximum(n, 1), np.nan)


def reward_delays(form: xr.Dataset) -> dict[str, list[float]]:
    """{trial type: its reward delays (s)}: from the form's ``reward_delays`` attribute (a run's task knows every
    delay, several for a trial type with several rewards), else from its conditions' delays."""
    if "reward_delays" in form.attrs:
        return {str(k): [float(d) for d in v] for k, v in json.loads(form.attrs["reward_delays"]).items()}
    names, delays = form["trial_type"].values, form["delay"].values
    out: dict[str, list[float]] = {}
    for name, delay in zip(names, delays, strict=True):
        if np.isfinite(delay):
            out.setdefault(str(name), [])
            if float(delay) not in out[str(name)]:
                out[str(name)].append(float(delay))
    return {k: sorted(v) for k, v in out.items()}
