"""Neurons of several sessions pooled into one responses form, as the papers pool neurons across animals and
days: conditions matched across sessions, a ``session`` coordinate saying where each neuron came from."""

from __future__ import annotations

import numpy as np
import xarray as xr

from drl.responses.form import is_responses_form, responses_form

__all__ = ["combine_sessions"]


def combine_sessions(forms, *, names=None, name: str | None = None) -> xr.Dataset:
    """One form of the neurons of several sessions (each a responses form, e.g. one per NWB file), as the papers
    pool neurons across animals and days.

    Conditions are matched by (event, trial type, magnitude, delay), a cue by (event, trial type, delay) alone (its
    magnitude, the mean reward it predicted, differs between sessions whose rewards vary: the combined cue's is the
    sessions' mean weighted by their trials); a session without a condition leaves its neurons NaN there (the
    analyses use what each neuron has). The same session given twice is refused. Trials are not shared between sessions, so the
    combined form has no ``trial`` coordinate: intervals resample each neuron's own trials. Neuron ids become
    ``"<session>/<id>"`` and a ``session`` coordinate says where each came from; neuron coordinates missing from
    a session are NaN (or "" for text).

    Parameters
    ----------
    forms : sequence of xarray.Dataset
        The sessions' forms (at least one), of one ``signal`` and one magnitude unit.
    names : sequence of str, optional
        A name per session (default: each form's ``task_name``, numbered when they repeat).
    name : str, optional
        The combined form's name (default: the sessions' names joined by "+", up to three; else the first and
        the number of others).

    Returns
    -------
    xarray.Dataset
        One responses form [neuron, condition] with a ``session`` coordinate per neuron.

    Raises
    ------
    TypeError
        A session that is not a responses form.
    ValueError
        No form, sessions of different signals or units, the same session twice, or ``names`` that are not one
        distinct name per session.

    Examples
    --------
    >>> import numpy as np
    >>> from drl.responses import combine_sessions, responses_form
    >>> day1 = responses_form(np.array([[-1.0, 2.0]]), magnitude=[1.0, 8.0], event=["reward"] * 2)
    >>> day2 = responses_form(np.array([[-0.5, 1.0], [0.2, 3.0]]), magnitude=[1.0, 8.0], event=["reward"] * 2)
    >>> pooled = combine_sessions([day1, day2], names=["day1", "day2"])
    >>> pooled["session"].values.tolist()
    ['day1', 'day2', 'day2']
    """
    forms = list(forms)
    if not forms:
        raise ValueError("combine_sessions needs at least one responses form")
    for i, form in enumerate(forms):
        if not is_responses_form(form):
            raise TypeError(f"forms[{i}] is not a responses form (a {type(form).__name__})")
    for key in ("signal", "units"):
        values = {str(f.attrs.get(key)) for f in forms}
        if len(values) > 1:
            raise ValueError(f"the sessions differ in {key}: {sorted(values)}; convert them to one first")
    if names is None:
        names = [str(f.attrs.get("task_name", "session")) for f in forms]
        if len(set(names)) < len(names):
            names = [f"{n}#{i}" for i, n in enumerate(names)]
    names = [str(n) for n in names]
    if len(names) != len(forms) or len(set(names)) < len(names):
        raise ValueError(f"names must give {len(forms)} distinct session names; got {names}")

    for i, form in enumerate(forms):  # the same session twice would count its neurons twice
        for j in range(i):
            other = forms[j]
            if form is other or (form.sizes == other.sizes and np.array_equal(form["neuron"].values,
                                                                             other["neuron"].values)
                                 and np.array_equal(form["response"].values, other["response"].values,
                                                    equal_nan=True)):
                raise ValueError(f"forms[{j}] and forms[{i}] are the same session (the same neurons and "
                                 "responses): combining them would count each neuron twice")

    def keys(form):
        # a cue is matched by its identity (event, trial type, delay): its magnitude is the session's mean reward,
        # which differs between sessions whose rewards vary
        magnitude = np.round(form["magnitude"].values.astype(float), 9)
        magnitude = np.where(form["event"].values.astype(str) == "cue", np.nan, magnitude)
        return list(zip(form["event"].values.astype(str), form["trial_type"].values.astype(str),
                        magnitude.tolist(), np.round(form["delay"].values.astype(float), 6).tolist(), strict=True))

    def same(a, b):  # NaN equals NaN in a condition's key
        return all(x == y or (isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y))
                   for x, y in zip(a, b, strict=True))

    def repeats(form):  # [condition] trials behind each condition's mean (the most of any neuron)
        if "trial" in form.coords:
            return (form["trial"].values >= 0).sum(1)
        if "trial_response" in form:
            return np.isfinite(form["trial_response"].values).sum(2).max(0)
        return np.ones(form.sizes["condition"])

    union: list[tuple] = []
    for form in forms:
        for key in keys(form):
            if not any(same(key, known) for known in union):
                union.append(key)
    cue_magnitude = np.zeros(len(union))
    cue_weight = np.zeros(len(union))
    width = max(f.sizes.get("repeat", 1) for f in forms)
    n_total = sum(f.sizes["neuron"] for f in forms)
    response = np.full((n_total, len(union)), np.nan)
    trials = np.full((n_total, len(union), width), np.nan)
    with_trials = all("trial_response" in f for f in forms)
    coordinates = [c for c in dict.fromkeys(c for f in forms for c in f.coords if f[c].dims == ("neuron",))
                   if c != "neuron"]
    neuron_coords = {c: [] for c in coordinates}
    ids, sessions, start = [], [], 0
    for form, session in zip(forms, names, strict=True):
        n = form.sizes["neuron"]
        columns = [next(j for j, known in enumerate(union) if same(key, known)) for key in keys(form)]
        response[start:start + n, columns] = form["response"].values
        magnitude, weight = form["magnitude"].values.astype(float), repeats(form)
        cue = (form["event"].values.astype(str) == "cue") & np.isfinite(magnitude)
        np.add.at(cue_magnitude, np.asarray(columns)[cue], (magnitude * weight)[cue])
        np.add.at(cue_weight, np.asarray(columns)[cue], weight[cue])
        if with_trials:
            own = form["trial_response"].values
            trials[start:start + n, columns, :own.shape[2]] = own
        for c in coordinates:
            if c in form.coords:
                neuron_coords[c].extend(form[c].values.tolist())
            else:
                text = any(forms[k][c].dtype.kind in "OUS" for k in range(len(forms)) if c in forms[k].coords)
                neuron_coords[c].extend([""] * n if text else [np.nan] * n)
        ids.extend(f"{session}/{neuron}" for neuron in form["neuron"].values)
        sessions.extend([session] * n)
        start += n
    with np.errstate(invalid="ignore", divide="ignore"):  # a cue's magnitude: its sessions' trial-weighted mean
        cue_magnitude = np.where(cue_weight > 0, cue_magnitude / np.where(cue_weight > 0, cue_weight, 1), np.nan)
    union = [(e, t, cue_magnitude[j] if e == "cue" else m, d) for j, (e, t, m, d) in enumerate(union)]
    event, trial_type, magnitude, delay = (np.array(v) for v in zip(*union, strict=True))
    neuron_coords = {c: np.asarray(v) for c, v in neuron_coords.items()}
    neuron_coords["session"] = np.asarray(sessions)
    return responses_form(response, trial_response=trials if with_trials else None, event=event,
                          trial_type=trial_type, magnitude=magnitude.astype(float), delay=delay.astype(float),
                          neuron=np.asarray(ids), neuron_coords=neuron_coords, units=str(forms[0].attrs["units"]),
                          name=name or ("+".join(names) if len(names) <= 3
                                        else f"{names[0]} and {len(names) - 1} more sessions"),
                          signal=str(forms[0].attrs["signal"]),
                          attrs={"sessions": names, **_shared_attrs(forms)})


def _shared_attrs(forms) -> dict:
    """The sources' settings every session shares (response units, windows, baseline, smoothing)."""
    shared = {}
    for key in ("response_units", "response_window", "baseline_window", "baseline", "smoothing"):
        values = [f.attrs.get(key) for f in forms]
        if values[0] is not None and all(str(v) == str(values[0]) for v in values):
            shared[key] = values[0]
    return shared
