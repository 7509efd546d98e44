"""The declared rules of choice data, checked at every boundary that takes it (fits, predictions, comparisons).

The SPICE layout: ``xs`` [sessions, trials, features] with features = one-hot choice (A), reward per arm (A, −1
where the outcome was not shown) and the participant index (last); ``ys`` [sessions, trials, A] the one-hot next
choice, or −1 in every column for a padded step. A check that fails raises a ValueError naming the array, the
rule, and the first session and trial that break it. Every function here is pure and reads its inputs only.
"""

from __future__ import annotations

import numpy as np
import torch

from drl._validate import boolean, choice, in_range, integer
from drl.spice.config import SpiceConfig

__all__ = ["check_choice_arrays", "check_n_parameters", "check_next_choices", "check_probabilities", "scored_steps",
           "sindy_thresholds", "check_estimator_parameters"]

#: How far a row of predicted probabilities may sum from 1 (float32 softmax outputs are within 1e-6)
PROBABILITY_TOLERANCE = 1e-3


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i[0]) for i in np.nonzero(mask))


def _choice_array(name: str, array, where: str) -> np.ndarray:
    """``array`` as float64 once it is 3-D, holds a session and a trial, and is finite (padding is −1)."""
    try:
        values = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {name} must be an array of numbers ({error})") from None
    if values.ndim != 3:
        raise ValueError(f"{where}: {name} must be [sessions, trials, ·]; got shape {values.shape}")
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"{where}: {name} holds no choice: shape {values.shape} (at least one session of at "
                         "least one trial)")
    bad = ~np.isfinite(values)
    if bad.any():
        session, trial, feature = _first(bad)
        raise ValueError(f"{where}: {name} holds {int(bad.sum())} non-finite value(s) (NaN or inf), first "
                         f"{values[session, trial, feature]} at session {session}, trial {trial}, feature "
                         f"{feature}; padding is -1 (load_choice_table pads correctly)")
    return values


def _one_hot_or_padding(y: np.ndarray, where: str) -> None:
    padding = (y == -1).all(-1)
    one_hot = np.isin(y, (0.0, 1.0)).all(-1) & (y.sum(-1) == 1)
    odd = ~(padding | one_hot)
    if odd.any():
        session, trial = _first(odd)
        raise ValueError(f"{where}: ys must be one-hot (one 1, the rest 0) or padding (-1 in every column); "
                         f"session {session}, trial {trial} is {y[session, trial].tolist()}")


def check_next_choices(ys, *, where: str = "data") -> np.ndarray:
    """``ys`` [sessions, trials, actions] as float64 once its rows are the next choices: finite, at least one
    session and trial, each row one-hot or padding (−1 in every column). Raises ValueError naming the session and
    the trial (the ``ys`` half of :func:`check_choice_arrays`, for callers without inputs: ``compare_models``)."""
    y = _choice_array("ys", ys, where)
    _one_hot_or_padding(y, where)
    return y


def check_choice_arrays(xs, ys=None, *, n_actions: int | None = None, n_participants: int = 0,
                        where: str = "data") -> None:
    """Refuse choice data a fit or prediction cannot use, naming the array, the rule, the session and the trial.

    Parameters
    ----------
    xs : array_like, shape [sessions, trials, features]
        Inputs (features ≥ 2·actions + 1; the last is the participant index).
    ys : array_like, shape [sessions, trials, actions], optional
        Next choices (a prediction has none).
    n_actions : int, optional
        The actions the model was built for (None: taken from ``ys``, or from ``xs`` as (features − 1) / 2).
    n_participants : int
        The model's participants (0: any index ≥ 0).
    where : str
        The caller, at the start of each message ("fit_q_learning: ...").

    Returns
    -------
    None
        The arrays are usable.

    Raises
    ------
    ValueError
        An array is not 3-D, holds NaN or inf, ``xs`` and ``ys`` disagree on sessions or trials, has no session
        or no trial, ``ys`` has a row that is neither one-hot nor padding (−1 in every column), a choice in ``xs``
        is not one-hot (or all 0 on a padded step), or a participant index is not an integer in range or changes
        within a session.

    See Also
    --------
    load_choice_table : choices from a table, checked.

    Examples
    --------
    >>> import numpy as np
    >>> from drl.spice import check_choice_arrays
    >>> xs = np.zeros((1, 2, 5), np.float32); xs[0, :, 0] = 1
    >>> ys = np.array([[[1.0, 0.0], [0.5, 0.5]]], np.float32)
    >>> check_choice_arrays(xs, ys, where="demo")
    Traceback (most recent call last):
    ...
    ValueError: demo: ys must be one-hot (one 1, the rest 0) or padding (-1 in every column); session 0, trial 1 is [0.5, 0.5]
    """
    if xs is None:
        raise TypeError(f"{where}: xs must be an array [sessions, trials, features]; got None")
    arrays = {name: _choice_array(name, array, where) for name, array in (("xs", xs), ("ys", ys))
              if array is not None}
    x = arrays["xs"]
    y = arrays.get("ys")
    if y is not None and x.shape[:2] != y.shape[:2]:
        raise ValueError(f"{where}: xs and ys must have the same [sessions, trials]; got {x.shape[:2]} and "
                         f"{y.shape[:2]}")
    if y is not None and n_actions is not None and y.shape[-1] != n_actions:
        raise ValueError(f"{where}: ys has {y.shape[-1]} actions but the model was built for n_actions={n_actions}")
    actions = n_actions if n_actions is not None else (y.shape[-1] if y is not None else (x.shape[-1] - 1) // 2)
    if actions < 2 or x.shape[-1] < 2 * actions + 1:
        raise ValueError(f"{where}: xs has {x.shape[-1]} features; with {actions} actions it needs at least "
                         f"{2 * actions + 1} (choice one-hot, reward per arm, participant index)")
    if y is not None:
        _one_hot_or_padding(y, where)
    chosen = x[..., :actions]
    odd = ~(np.isin(chosen, (0.0, 1.0)).all(-1) & (chosen.sum(-1) <= 1))
    if odd.any():
        session, trial = _first(odd)
        raise ValueError(f"{where}: the choice columns of xs (the first {actions}) must be one-hot (all 0 on a "
                         f"padded step); session {session}, trial {trial} is {chosen[session, trial].tolist()}")
    ids = x[..., -1]
    odd = (ids != np.round(ids)) | (ids < 0) | ((ids >= n_participants) if n_participants else False)
    if odd.any():
        session, trial = _first(odd)
        allowed = f"integers in [0, {n_participants - 1}]" if n_participants else "integers >= 0"
        raise ValueError(f"{where}: participant ids (xs[..., -1]) must be {allowed}; got {ids[session, trial]:g} "
                         f"at session {session}, trial {trial}")
    changes = (ids != ids[:, :1]).any(1)
    if changes.any():
        session = int(np.flatnonzero(changes)[0])
        raise ValueError(f"{where}: a session belongs to one participant, but session {session}'s participant index "
                         f"(xs[{session}, :, -1]) takes the values {np.unique(ids[session]).tolist()[:5]}")


def scored_steps(ys, steps=None, *, where: str = "data") -> np.ndarray:
    """[sessions, trials] bool: the steps with a choice (not padding) that ``steps`` (same shape, bool) keeps.

    Raises ValueError when ``steps`` has another shape or is not boolean (or 0/1), or when no step is left."""
    y = np.asarray(ys, dtype=np.float64)
    scored = y.sum(-1) > 0
    if steps is not None:
        mask = np.asarray(steps)
        if mask.dtype != bool:
            if mask.dtype.kind not in "iuf" or not np.isin(mask, (0, 1)).all():
                raise ValueError(f"{where}: steps must be a boolean array [sessions, trials] (or 0/1); got dtype "
                                 f"{mask.dtype}")
            mask = mask.astype(bool)
        if mask.shape != scored.shape:
            raise ValueError(f"{where}: steps must be [sessions, trials] = {scored.shape}; got shape {mask.shape}")
        scored = scored & mask
    if not scored.any():
        raise ValueError(f"{where}: no choice to use: every step is padding or left out by steps")
    return scored


def check_probabilities(name: str, probabilities, ys, scored: np.ndarray, *, where: str = "compare_models"
                        ) -> np.ndarray:
    """``probabilities`` [sessions, trials, actions] as float64, once every scored row is a probability vector:
    finite, in [0, 1], summing to 1 (within ``PROBABILITY_TOLERANCE``). Logits or scaled values are refused.

    Raises ValueError naming the model, the session, the trial and the row."""
    values = np.asarray(probabilities, dtype=np.float64)
    shape = np.shape(ys)
    if values.shape != shape:
        raise ValueError(f"{where}: predictions[{name!r}] has shape {values.shape}; ys has {shape}")
    rows = values[scored]
    bad_rows = ~(np.isfinite(rows).all(-1) & (rows >= 0).all(-1) & (rows <= 1).all(-1)
                 & (np.abs(rows.sum(-1) - 1) <= PROBABILITY_TOLERANCE))
    if bad_rows.any():
        positions = np.argwhere(scored)[bad_rows]
        session, trial = (int(v) for v in positions[0])
        row = values[session, trial]
        raise ValueError(f"{where}: predictions[{name!r}] must be choice probabilities (each in [0, 1], summing to "
                         f"1 over actions); session {session}, trial {trial} is {np.round(row, 6).tolist()} (sum "
                         f"{row.sum():.6g}); {int(bad_rows.sum())} scored step(s) affected. Logits go through a "
                         "softmax first")
    return values


def check_n_parameters(n_parameters, models, participants, *, where: str = "compare_models") -> dict:
    """``{model: count or {participant: count}}`` checked: known models, known participants, counts integers ≥ 0.

    Raises ValueError (TypeError for a value that is not a count or a dict) naming the model and the entry."""
    if n_parameters is None:
        return {}
    if not isinstance(n_parameters, dict):
        raise TypeError(f"{where}: n_parameters must be a dict of model name -> count (or -> {{participant: count}})"
                        f"; got {type(n_parameters).__name__}")
    unknown = sorted(set(n_parameters) - set(models), key=str)
    if unknown:
        raise ValueError(f"{where}: n_parameters names model(s) {unknown} without predictions; models: {list(models)}")
    known = set(participants)

    def count(value, label):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
                or not np.isfinite(value) or value < 0 or value != int(value):
            raise ValueError(f"{where}: n_parameters[{label}] must be a whole number of parameters ≥ 0; got {value!r}")
        return int(value)

    checked = {}
    for model, value in n_parameters.items():
        if isinstance(value, dict):
            strangers = [p for p in value if p not in known]
            if strangers:
                raise ValueError(f"{where}: n_parameters[{model!r}] names participant(s) {strangers[:5]} that are not "
                                 f"among the sessions' participants {sorted(known, key=str)[:10]}")
            checked[model] = {p: count(v, f"{model!r}][{p!r}") for p, v in value.items()}
        else:
            checked[model] = count(value, repr(model))
    return checked


def sindy_thresholds(value) -> tuple:
    """The SINDy thresholds to try, sorted: one number or a sequence of them, each finite and ≥ 0."""
    values = (value,) if isinstance(value, int | float | np.floating) and not isinstance(value, bool) else value
    try:
        values = tuple(sorted(float(v) for v in values))
    except (TypeError, ValueError):
        raise TypeError(f"sindy_threshold must be a number or a sequence of numbers; got {value!r}") from None
    if not values or not all(np.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"sindy_threshold must be finite numbers >= 0; got {value!r}")
    return values


def check_estimator_parameters(estimator) -> None:
    """Validate every parameter of a SpiceEstimator (scikit-learn's convention: at ``fit``, not in the constructor, so that
    ``set_params`` and ``clone`` see them as given)."""
    if not isinstance(estimator.spice_config, SpiceConfig):
        raise TypeError(f"spice_config must be a SpiceConfig; got {type(estimator.spice_config).__name__}")
    if not (isinstance(estimator.rnn_class, type) and issubclass(estimator.rnn_class, torch.nn.Module)):
        raise TypeError(f"rnn_class must be a drl.spice model class (a BaseRNN subclass); got {estimator.rnn_class!r}")
    in_range("learning_rate", estimator.learning_rate, 0, 10, lo_open=True)
    in_range("convergence_threshold", estimator.convergence_threshold, 0, np.inf)
    in_range("test_fraction", estimator.test_fraction, 0, 1, hi_open=True)
    in_range("weight_decay", estimator.weight_decay, 0, np.inf)
    integer("epochs", estimator.epochs, minimum=1, maximum=10**7)
    integer("n_restarts", estimator.n_restarts, minimum=0, maximum=1000)
    integer("sindy_degree", estimator.sindy_degree, minimum=1, maximum=10)
    integer("seed", estimator.seed, minimum=0)
    if estimator.batch_size is not None:
        integer("batch_size", estimator.batch_size, minimum=1)
    boolean("verbose", estimator.verbose)
    choice("validation", estimator.validation, ("tail", "sessions"))
    if not (estimator.patience is None or (isinstance(estimator.patience, str) and estimator.patience == "auto")):
        integer("patience", estimator.patience, minimum=1)
    if estimator.rnn_kwargs is not None and not isinstance(estimator.rnn_kwargs, dict):
        raise TypeError(f"rnn_kwargs must be a dict of rnn_class's arguments or None; got {estimator.rnn_kwargs!r}")
    sindy_thresholds(estimator.sindy_threshold)
