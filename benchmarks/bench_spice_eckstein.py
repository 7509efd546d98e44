"""drl.spice on real people: the first 48 participants of Eckstein et al. 2022 (two-armed reversal bandit).

Prints figures; asserts nothing. The authors' protocol: the last 20 % of every session's choices are the test
set; every model is fitted on the first 80 % (drl.spice's estimator holds out the last 10 % of that for early
stopping and the SINDy threshold) and scored on the test tail after running through the whole session.
Models: the three precoded SPICE models (RNN and distilled), each over SEEDS seeds, and per-participant
Q-learning by maximum likelihood (5 parameters: α+, α−, forgetting, β, perseveration κ; and 2: α, β). The table
gives held-out NLL per choice, accuracy, BIC per choice with SPICE's effective parameters (non-zero terms +
β's), paired differences from the 5-parameter Q-learning model with their standard errors, wall times, non-finite predictions,
and how stable the W24 equation terms are across seeds. ``--epochs 256 1024`` shows whether training longer
hurts.

The file is ``../shared/data/eckstein2022_first48.csv`` (columns session, choice, reward, …; one session per
participant, rows in trial order); it is read, never copied.
Run: .venv/bin/python benchmarks/bench_spice_eckstein.py [--seeds 5] [--epochs 256 1024] [--models W24 LR RW]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from drl.spice import (
    LEARNING_RATE_RNN_CONFIG,
    RESCORLA_WAGNER_CONFIG,
    WEINHARDT_2024_CONFIG,
    DatasetRNN,
    LearningRateRNN,
    RescorlaWagnerRNN,
    SpiceEstimator,
    Weinhardt2024RNN,
    compare_models,
    fit_q_learning,
    load_choice_table,
    tail_steps,
    term_stability,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eckstein2022_first48.csv"
MODELS = {"W24": (Weinhardt2024RNN, WEINHARDT_2024_CONFIG), "LR": (LearningRateRNN, LEARNING_RATE_RNN_CONFIG),
          "RW": (RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG)}
TEST_FRACTION = 0.2  # the authors' split


def split(dataset: DatasetRNN):
    """(training dataset: the tail turned into padding, test steps [S, T])."""
    xs, ys = dataset.xs.numpy().copy(), dataset.ys.numpy().copy()
    test = tail_steps(ys, TEST_FRACTION)
    # the inputs of step t carry trial t's choice, the target of step t − 1: from the first test target on,
    # nothing is shown to the fit
    hidden = test | np.concatenate([np.zeros_like(test[:, :1]), test[:, :-1]], axis=1)
    n_actions = ys.shape[-1]
    xs[hidden, :n_actions] = 0
    xs[hidden, n_actions:2 * n_actions] = -1
    ys[hidden] = -1
    train = DatasetRNN(xs, ys)
    train.participants = dataset.participants
    return train, test


def fit_spice(name, train, seed, epochs):
    rnn_class, config = MODELS[name]
    kwargs = {"n_participants": len(train.participants)} if name == "W24" else {}
    estimator = SpiceEstimator(rnn_class, config, epochs=epochs, seed=seed, **kwargs)
    if name != "W24":  # one shared model: every session is the same "participant"
        train = DatasetRNN(train.xs.clone(), train.ys)
        train.xs[..., -1] = 0
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(train)
    return estimator, time.perf_counter() - start, caught


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"{args.data} is not here: nothing to measure")
        return
    dataset = load_choice_table(args.data, participant=None, trial=None)
    train, test = split(dataset)
    xs, ys = dataset.xs.numpy(), dataset.ys.numpy()
    participants = np.asarray(dataset.participants)[xs[:, 0, -1].astype(int)]
    print(f"{len(dataset.participants)} participants, {int((ys.sum(-1) > 0).sum())} choices, "
          f"{int(test.sum())} held out (last {TEST_FRACTION:.0%} of each session)")

    predictions, n_parameters, times, notes = {}, {}, {}, {}
    for label, free in (("Q-learning (5)", None),
                        ("Q-learning (2)", ("beta_reward", "alpha_reward"))):
        start = time.perf_counter()
        kwargs = {} if free is None else {"free": free}
        fit = fit_q_learning(dataset, steps=~test & (ys.sum(-1) > 0), **kwargs)
        times[label] = time.perf_counter() - start
        predictions[label], n_parameters[label] = fit.predict(xs), fit.n_parameters()
        notes[label] = f"converged {int(fit.converged.sum())}/{len(fit.converged)}"
    w24_fits = {}
    for name in args.models:
        for epochs in args.epochs:
            for seed in range(args.seeds):
                estimator, seconds, caught = fit_spice(name, train, seed, epochs)
                xs_model = xs.copy()
                if name != "W24":
                    xs_model[..., -1] = 0
                with warnings.catch_warnings(record=True) as predicted:
                    warnings.simplefilter("always")
                    pred_rnn, pred_spice = estimator.predict(xs_model)
                non_finite = int((~np.isfinite(pred_spice).all(-1) & test).sum())
                for kind, pred in (("RNN", pred_rnn), ("SPICE", pred_spice)):
                    label = f"{name} {kind} e{epochs} s{seed}"
                    predictions[label] = np.nan_to_num(pred, nan=0.5) if kind == "SPICE" else pred
                    times[label] = seconds
                    notes[label] = (f"epochs run {estimator.report_['epochs']}, threshold "
                                    f"{estimator.report_['sindy_threshold']:g}, non-finite {non_finite}, "
                                    f"{len(caught) + len(predicted)} warning(s)")
                    if kind == "SPICE":
                        counts = estimator.n_parameters()
                        n_parameters[label] = counts if name == "W24" else \
                            {pid: counts[0] for pid in dataset.participants}
                if name == "W24":
                    w24_fits.setdefault(epochs, []).append(estimator)
    comparison = compare_models(predictions, ys, participants, n_parameters=n_parameters, steps=test,
                                reference="Q-learning (5)")
    print(f"differences (delta_nll, paired se_delta_nll) are from {comparison.reference!r}; negative: better")
    summary = comparison.summary.assign(seconds=pd.Series(times), note=pd.Series(notes))
    with pd.option_context("display.width", 250, "display.max_colwidth", 80, "display.max_rows", 200):
        print(summary[["nll", "se_delta_nll", "delta_nll", "accuracy", "bic", "n_parameters", "seconds", "note"]]
              .to_string(float_format=lambda v: f"{v:.4f}"))
    for epochs, fits in w24_fits.items():
        if len(fits) > 1:
            print(f"\nW24 equation terms over {len(fits)} seeds ({epochs} epochs):")
            print(term_stability(fits).to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
