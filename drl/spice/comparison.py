"""Comparing models of choice on the same held-out choices: the table the SPICE papers report, with the paired
standard errors a reviewer asks for.

Every model enters as its choice probabilities [sessions, trials, actions] on the same sessions (``ys``'s
layout); the scores are per participant first, then pooled, so that differences between models are paired by
participant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from drl.spice.checks import check_n_parameters, check_next_choices, check_probabilities, scored_steps

__all__ = ["ModelComparison", "compare_models", "term_stability"]


@dataclass
class ModelComparison:
    """Models scored on the same choices (:func:`compare_models`).

    Columns of both tables: ``n_choices``, ``nll`` (nats per choice), ``accuracy`` (the most probable arm was
    chosen), ``likelihood`` (per-trial geometric mean, exp(−nll)), ``n_parameters``, ``aic`` and ``bic`` (2·NLL +
    2k and 2·NLL + k·ln n per participant; the summary gives their sums divided by the choices); the summary adds
    ``delta_nll`` / ``se_delta_nll`` and ``delta_bic`` / ``se_delta_bic``: the mean over participants of each
    model's difference from the reference model and its paired standard error.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per model (pooled over participants).
    per_participant : pandas.DataFrame
        One row per model × participant.
    reference : str
        The model the differences are taken from.

    See Also
    --------
    compare_models : makes one.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> chance = np.full(dataset.ys.shape, 0.5)
    >>> comparison = spice.compare_models({"chance": chance}, dataset.ys, dataset.xs[:, 0, -1])
    >>> round(float(comparison.summary.loc["chance", "nll"]), 4)  # ln 2
    0.6931
    """

    summary: pd.DataFrame
    per_participant: pd.DataFrame
    reference: str = ""

    def __repr__(self) -> str:
        return self.summary.to_string(float_format=lambda v: f"{v:.4g}")


def compare_models(predictions: dict, ys, participants, *, n_parameters: dict | None = None, steps=None,
                   reference: str | None = None) -> ModelComparison:
    """Score models on the same choices: NLL, accuracy, AIC and BIC, and paired differences over participants.

    Parameters
    ----------
    predictions : dict of str to array_like
        {model name: choice probabilities [sessions, trials, actions]} (``SpiceEstimator.predict``'s arrays,
        ``QLearningFit.predict``).
    ys : array_like, shape [sessions, trials, actions]
        The one-hot next choices (padding −1).
    participants : array_like, shape [sessions]
        The participant of each session (ids or indices).
    n_parameters : dict, optional
        {model name: an int, or {participant: int}} for AIC/BIC (``SpiceEstimator.n_parameters()``,
        ``QLearningFit.n_parameters()``); a model without an entry gets NaN there (an RNN has no honest count).
    steps : array_like of bool, shape [sessions, trials], optional
        The choices to score (a time-wise split's held-out tail, :func:`tail_steps`); default all.
    reference : str, optional
        The model every difference is taken from (e.g. the best parametric baseline); default the one with the
        lowest pooled NLL.

    Returns
    -------
    ModelComparison
        ``summary`` (one row per model) and ``per_participant`` tables.

    Raises
    ------
    ValueError
        Predictions of another shape than ``ys``, probabilities that are not, an unknown ``reference``.

    See Also
    --------
    ModelComparison : the columns.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> fit = spice.fit_q_learning(dataset, free=("beta_reward", "alpha_reward"))
    >>> chance = np.full(dataset.ys.shape, 0.5)
    >>> comparison = spice.compare_models({"q-learning": fit.predict(dataset.xs), "chance": chance}, dataset.ys,
    ...                                   dataset.xs[:, 0, -1], n_parameters={"q-learning": fit.n_parameters(),
    ...                                                                       "chance": 0})
    >>> comparison.reference, bool(comparison.summary.loc["chance", "nll"] > comparison.summary.loc["q-learning", "nll"])
    ('q-learning', True)
    """
    if not isinstance(predictions, dict) or not predictions:
        raise TypeError("predictions must be a non-empty dict of model name -> choice probabilities")
    ys = check_next_choices(ys, where="compare_models")
    participants = np.asarray(participants)
    if participants.shape != ys.shape[:1]:
        raise ValueError(f"participants must give one id per session ({ys.shape[0]}); got shape "
                         f"{participants.shape}")
    scored = scored_steps(ys, steps, where="compare_models")
    if reference is not None and reference not in predictions:
        raise ValueError(f"reference {reference!r} is not one of the models {list(predictions)}")
    ids = list(dict.fromkeys(participants.tolist()))
    n_parameters = check_n_parameters(n_parameters, list(predictions), ids)
    chosen = ys.argmax(-1)
    rows = []
    for name, probabilities in predictions.items():
        probabilities = check_probabilities(name, probabilities, ys, scored)
        p_chosen = np.take_along_axis(probabilities, chosen[..., None], -1)[..., 0]
        log_p = np.log(np.clip(p_chosen, 1e-300, None))
        hit = probabilities.argmax(-1) == chosen
        counts = n_parameters.get(name)
        for pid in ids:
            mask = scored & (participants == pid)[:, None]
            n = int(mask.sum())
            if n == 0:
                continue
            k = counts.get(pid, np.nan) if isinstance(counts, dict) else (np.nan if counts is None else counts)
            total = -float(log_p[mask].sum())
            rows.append({"model": name, "participant": pid, "n_choices": n, "nll": total / n,
                         "accuracy": float(hit[mask].mean()), "likelihood": float(np.exp(-total / n)),
                         "n_parameters": float(k), "aic": 2 * total + 2 * k, "bic": 2 * total + k * np.log(n),
                         "_total": total})
    if not rows:
        raise ValueError("no choice to score: every scored step is padding or outside steps")
    table = pd.DataFrame(rows)
    summary = []
    for name, group in table.groupby("model", sort=False):
        n = group.n_choices.sum()
        summary.append({"model": name, "n_choices": int(n), "nll": group._total.sum() / n,
                        "accuracy": float((group.accuracy * group.n_choices).sum() / n),
                        "likelihood": float(np.exp(-group._total.sum() / n)),
                        "n_parameters": group.n_parameters.mean(), "aic": group.aic.sum(skipna=False) / n,
                        "bic": group.bic.sum(skipna=False) / n})
    summary = pd.DataFrame(summary).set_index("model")
    best = summary.nll.idxmin() if reference is None else reference
    wide = {metric: table.pivot(index="participant", columns="model", values=metric) for metric in ("nll", "bic")}
    for metric, frame in wide.items():
        difference = frame.sub(frame[best], axis=0)
        summary[f"delta_{metric}"] = difference.mean()
        summary[f"se_delta_{metric}"] = difference.std(ddof=1) / np.sqrt(difference.count())
    per_participant = table.drop(columns="_total").set_index(["model", "participant"])
    return ModelComparison(summary, per_participant, best)


def term_stability(fits, *, by_participant: bool = False) -> pd.DataFrame:
    """How reproducible each equation term is across fits of the same data (seeds, refits).

    A term to read as a finding has ``reproducible`` near 1.

    Parameters
    ----------
    fits : list of SpiceEstimator or pandas.DataFrame
        Fitted estimators, or their ``equations_`` tables.
    by_participant : bool
        One row per module × feature × participant instead, with ``present`` (fraction of fits),
        ``reproducible`` and ``sign_flip`` (bools) and the coefficient of each fit (columns 0, 1, …): which
        participants' terms not to read.

    Returns
    -------
    pandas.DataFrame
        One row per module × feature: ``present`` (fraction of participant × fit pairs where the term is
        non-zero), ``mean`` and ``sd`` of its non-zero coefficients, ``reproducible`` (fraction of participants for
        whom the term is zero in every fit or non-zero with one sign in every fit), ``sign_flips`` (participants
        whose non-zero coefficients change sign between fits).

    Raises
    ------
    ValueError
        Fewer than two fits, fits of different modules.

    See Also
    --------
    SpiceEstimator : makes the fits.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> estimator = spice.SpiceEstimator(spice.RescorlaWagnerRNN, spice.RESCORLA_WAGNER_CONFIG, epochs=64)
    >>> estimator = estimator.fit(dataset.xs, dataset.ys)
    >>> again = spice.SpiceEstimator(spice.RescorlaWagnerRNN, spice.RESCORLA_WAGNER_CONFIG, epochs=64, seed=1)
    >>> table = spice.term_stability([estimator, again.fit(dataset.xs, dataset.ys)])
    >>> {"present", "reproducible", "sign_flips"} <= set(table.columns), bool(table["reproducible"].between(0, 1).all())
    (True, True)
    """
    tables = [f.equations_ if hasattr(f, "equations_") else f for f in fits]
    if len(tables) < 2:
        raise ValueError(f"term_stability needs at least two fits; got {len(tables)}")
    for i, table in enumerate(tables):
        missing = {"participant", "module", "feature", "coefficient"} - set(getattr(table, "columns", []))
        if missing:
            raise TypeError(f"fits[{i}] is neither a fitted SpiceEstimator nor an equations_ table (lacks "
                            f"{sorted(missing)})")
    long = pd.concat([t.assign(fit=i) for i, t in enumerate(tables)], ignore_index=True)
    wide = long.pivot_table(index=["module", "feature", "participant"], columns="fit", values="coefficient",
                            aggfunc="first")
    if wide.isna().any().any():
        raise ValueError("the fits do not share their participants, modules and features: compare fits of one "
                         "model on one dataset")
    values = wide.to_numpy()
    nonzero = values != 0
    signs = np.sign(values)
    same = (~nonzero).all(1) | (nonzero.all(1) & ((signs == signs[:, :1]).all(1)))
    flips = (signs > 0).any(1) & (signs < 0).any(1)
    if by_participant:
        return pd.concat([pd.DataFrame({"present": nonzero.mean(1), "reproducible": same, "sign_flip": flips},
                                       index=wide.index), wide], axis=1)
    rows = pd.DataFrame({"nonzero": nonzero.mean(1), "same": same, "flips": flips,
                         "coefficient": np.where(nonzero, values, np.nan).tolist()}, index=wide.index)
    out = []
    for (module, feature), group in rows.groupby(level=["module", "feature"], sort=False):
        coefficients = np.asarray(group.coefficient.tolist(), dtype=np.float64)
        out.append({"module": module, "feature": feature, "present": float(group.nonzero.mean()),
                    "mean": float(np.nanmean(coefficients)) if np.isfinite(coefficients).any() else 0.0,
                    "sd": float(np.nanstd(coefficients)) if np.isfinite(coefficients).any() else 0.0,
                    "reproducible": float(group.same.mean()), "sign_flips": int(group.flips.sum())})
    return pd.DataFrame(out).set_index(["module", "feature"])
