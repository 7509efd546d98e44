"""SPICE RNN training speed. Prints figures; asserts nothing.

End-to-end SpiceEstimator fit (training + distillation) on the tutorial-sized data (100 sessions × 100 trials,
1024 epochs) with its held-out NLLs, and the distillation time alone. Milliseconds per training epoch (full
batch, Adam) of the precoded Rescorla-Wagner, learning-rate and Weinhardt-2024 RNNs for 100 sessions × 100
trials and 1000 sessions × 200 trials, through the compiled trial loop and through drl's step-by-step torch path,
idle and beside a busy process; Rescorla-Wagner against a naive reference written here that loops over sessions
(one forward pass per session, the layout drl vectorizes away); and how often a fit needed a restart from
chance.
With ``--autospice PYTHON`` (an interpreter where the SPICE package, PyPI ``autospice`` 0.1.96, is installed:
it needs numpy < 2, pysindy < 2 and scikit-learn < 1.6, so its own environment), both fit the precoded
Rescorla-Wagner, learning-rate and Weinhardt-2024 models on the same 80 training sessions of the same data
(autospice for ``--epochs``, drl for all epochs and with early stopping, patience=100), and the script prints a
table of wall times, held-out NLLs of the RNN and the distilled model (20 other sessions) and the recovered α,
then every distilled equation.
With ``--recovery SEEDS``: α recovered by LearningRateRNN (mean learning rate, β, distilled equation) against
the parametric maximum-likelihood fit of AgentQ's own model on the same data, over SEEDS datasets.
Run: .venv/bin/python benchmarks/bench_spice.py [--autospice /path/to/python [--epochs 1024]] [--recovery 3]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from drl.spice import (
    FORGETTING_CONFIG,
    AgentQ,
    BanditsDrift,
    ChanceLevelWarning,
    ForgettingRNN,
    RescorlaWagnerRNN,
    SpiceEstimator,
    create_dataset,
    distill,
    fit_model,
    nll,
)


def _started_at(beta_start: float):
    """LearningRateRNN with its β initialised at ``beta_start`` (fit builds the network from its class)."""
    from drl.spice import LearningRateRNN

    class Started(LearningRateRNN):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.betas["x_value_reward"].init = beta_start

    Started.__name__ = "LearningRateRNN"
    return Started


def data(n_sessions, n_trials, seed=0):
    dataset, _, _ = create_dataset(AgentQ(alpha_reward=0.3, rng=seed + 1), BanditsDrift(0.2, rng=seed),
                                   n_trials, n_sessions)
    dataset.xs[..., -1] = 0
    return dataset


def per_epoch(dataset, epochs, model_class=RescorlaWagnerRNN, compiled=True):
    """Seconds per epoch of ``fit_model`` on ``model_class`` (its compiled trial loop, or the torch path)."""
    model = model_class()
    model.compiled = compiled
    with warnings.catch_warnings():  # a timing run of a few epochs is expected to end near chance
        warnings.simplefilter("ignore", ChanceLevelWarning)
        result = fit_model(model, dataset.xs, dataset.ys, epochs=epochs, convergence_threshold=0, n_restarts=0,
                           progress=False)
    return result.seconds / result.epochs


def epoch_table(small, large) -> None:
    """Seconds per epoch of the three compared models, compiled and torch path, idle and beside a busy process."""
    from bench_engine import busy_neighbour

    from drl.spice import LearningRateRNN, Weinhardt2024RNN

    models = (RescorlaWagnerRNN, LearningRateRNN, Weinhardt2024RNN)
    for _ in range(2):  # warm-up: numba's cache load and torch's first calls
        per_epoch(data(4, 5), 1, Weinhardt2024RNN)
    print("Milliseconds per training epoch (full batch, Adam): compiled trial loop | torch path | ratio")
    for label, context in (("idle", contextlib.nullcontext), ("beside a busy process", busy_neighbour)):
        with context():
            for name, dataset, epochs in (("100 × 100", small, (60, 10)), ("1000 × 200", large, (6, 2))):
                cells = []
                for model_class in models:
                    compiled = min(per_epoch(dataset, epochs[0], model_class) for _ in range(3))
                    step = per_epoch(dataset, epochs[1], model_class, compiled=False)
                    cells.append(f"{model_class.__name__.removesuffix('RNN')} {1e3 * compiled:6.1f} | "
                                 f"{1e3 * step:6.1f} | {step / compiled:4.1f}×")
                print(f"  {label:<22} {name:<11} " + "   ".join(cells))


def naive_per_epoch(dataset, epochs):
    model = RescorlaWagnerRNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    start = time.perf_counter()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = sum(nll(model(dataset.xs[s:s + 1], batch_first=True)[0], dataset.ys[s:s + 1])
                   for s in range(len(dataset))) / len(dataset)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / epochs


AUTOSPICE_FIT = textwrap.dedent("""
    import contextlib, io, sys, time, numpy as np, torch

    class GRU(torch.nn.GRU):
        # autospice's learning-rate model builds a GRU with no inputs, which this torch refuses; one input that is
        # always 0 computes the same thing (its weights multiply zero and get no gradient)
        def __init__(self, input_size, *args, **kwargs):
            self.no_inputs = input_size == 0
            super().__init__(max(1, input_size), *args, **kwargs)

        def forward(self, x, *args):
            if self.no_inputs:
                x = torch.cat([x, x.new_zeros(*x.shape[:-1], 1)], dim=-1)
            return super().forward(x, *args)

    torch.nn.GRU = GRU
    from spice.estimator import SpiceEstimator
    import spice.precoded as P
    d = np.load(sys.argv[1]); xs, ys, test = d["xs"], d["ys"], d["test"]
    cls, config, kwargs = {"rw": (P.RescorlaWagnerRNN, P.RESCORLA_WAGNER_CONFIG, {}),
                           "lr": (P.LearningRateRNN, P.LEARNING_RATE_RNN_CONFIG, {}),
                           "w24": (P.Weinhardt2024RNN, P.WEINHARDT_2024_CONFIG, {"n_participants": 1})}[sys.argv[2]]
    torch.manual_seed(0); np.random.seed(0)
    train = np.setdiff1d(np.arange(len(xs)), test)
    est = SpiceEstimator(rnn_class=cls, spice_config=config, learning_rate=1e-2, epochs=int(sys.argv[3]),
                         verbose=False, **kwargs)
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter(); est.fit(xs[train], ys[train]); seconds = time.perf_counter() - t0
    # one session at a time: its predict fails on several sessions of a model without participant ids
    pr, ps = zip(*(est.predict(xs[s:s + 1]) for s in test))
    nll = lambda p: float(-np.mean(np.log(np.clip((np.concatenate(p).reshape(ys[test].shape) * ys[test]).sum(-1),
                                                  1e-12, 1))))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        est.print_spice_model()
    for line in printed.getvalue().splitlines():
        if line.startswith("("):
            print("EQUATION " + line)
    print(f"RESULT {seconds:.3f} {nll(pr):.5f} {nll(ps):.5f}")
""")

#: the three models of the side-by-side table: data-generating agent, drl's RNN and config, its autospice name
COMPARED = {
    "rw": ("Rescorla-Wagner", dict(alpha_reward=0.3), "RescorlaWagnerRNN", "RESCORLA_WAGNER_CONFIG", {}),
    "lr": ("learning rate", dict(alpha_reward=0.3, forget_rate=0.2), "LearningRateRNN", "LEARNING_RATE_RNN_CONFIG",
           {}),
    "w24": ("Weinhardt 2024", dict(alpha_reward=0.3, forget_rate=0.2, beta_choice=1.0, alpha_choice=1.0),
            "Weinhardt2024RNN", "WEINHARDT_2024_CONFIG", {"n_participants": 1}),
}


def _held_out_nll(p, ys):
    return float(-np.mean(np.log(np.clip((p * ys).sum(-1), 1e-12, 1))))


def _chosen_value_alpha(terms: dict) -> float | None:
    """α of a distilled chosen-value equation v' = c + (1 − α)·v + b·r (the reward's scale goes into β)."""
    own = [c for f, c in terms.items() if f.startswith("x_value_reward_chosen")]
    return 1 - own[0] if own else None


def compare_with_autospice(python: str, epochs: int = 1024) -> None:
    """Both fit each model on the same 80 sessions (100 × 100 trials drawn once), autospice for ``epochs``,
    drl for all ``epochs`` and with early stopping (patience 100, at most ``epochs``); held-out NLL on the other 20
    sessions, wall time, and the distilled equations."""
    import re

    import drl.spice as spice

    with warnings.catch_warnings():  # warm-up (torch's first calls), so that the first timed fit is not charged
        warnings.simplefilter("ignore")
        warm_up = data(10, 20)
        SpiceEstimator(RescorlaWagnerRNN, spice.RESCORLA_WAGNER_CONFIG, epochs=3).fit(warm_up.xs, warm_up.ys)
    rows = []
    for key, (label, agent_kwargs, rnn_name, config_name, kwargs) in COMPARED.items():
        dataset, _, _ = create_dataset(AgentQ(**agent_kwargs, rng=1), BanditsDrift(0.2, rng=0), 100, 100)
        dataset.xs[..., -1] = 0
        test = np.sort(np.random.default_rng(0).choice(100, 20, replace=False))
        train = np.setdiff1d(np.arange(100), test)
        xs, ys = dataset.xs.numpy(), dataset.ys.numpy()
        with tempfile.TemporaryDirectory() as tmp:
            np.savez(Path(tmp) / "data.npz", xs=xs, ys=ys, test=test)
            (Path(tmp) / "fit.py").write_text(AUTOSPICE_FIT)
            out = subprocess.run([python, str(Path(tmp) / "fit.py"), str(Path(tmp) / "data.npz"), key, str(epochs)],
                                 capture_output=True, text=True, cwd=tmp)
        result = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
        if not result:
            print(f"{label}: autospice run failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        their = [float(v) for v in result[0].split()[1:]]
        their_equations = [x.removeprefix("EQUATION ") for x in out.stdout.splitlines() if x.startswith("EQUATION")]
        chosen = next((e for e in their_equations if e.startswith("(x_value_reward_chosen)")), "")
        their_alpha = {f"{f}[k]": float(c) for c, f in re.findall(r"([+-]?\d+\.\d+) (x_value_reward_chosen)\[k\]",
                                                                  chosen)}
        rows.append((label, "autospice", epochs, *their, _chosen_value_alpha(their_alpha), their_equations))
        for patience in (100, None):
            estimator = SpiceEstimator(getattr(spice, rnn_name), getattr(spice, config_name), epochs=epochs,
                                       learning_rate=1e-2, convergence_threshold=0, patience=patience,
                                       test_fraction=0.1 if patience else 0.0, **kwargs)
            start = time.perf_counter()
            estimator.fit(xs[train], ys[train])
            seconds = time.perf_counter() - start
            pred_rnn, pred_spice = estimator.predict(xs[test])
            eq = estimator.equations_
            eq = eq[eq.coefficient != 0]
            chosen = eq[eq.module == "x_value_reward_chosen"]
            alpha = _chosen_value_alpha(dict(zip(chosen.feature, chosen.coefficient, strict=True)))
            equations = [f"({m}) " + " ".join(f"{c:+.3f} {f}" for f, c in zip(g.feature, g.coefficient, strict=True))
                         for m, g in eq.groupby("module", sort=False)]
            name = f"drl, early stop ({patience})" if patience else "drl, all epochs"
            rows.append((label, name, estimator.training_.epochs, seconds, _held_out_nll(pred_rnn, ys[test]),
                         _held_out_nll(pred_spice, ys[test]), alpha, equations))
    print("\nSide by side, 80 training sessions × 100 trials, held-out NLL on 20 others (nats per choice); α̂ = 1 − "
          "the chosen value's own coefficient (true α 0.3):")
    print(f"{'model':<16} {'fit':<24} {'epochs':>6} {'seconds':>8} {'÷ autospice':>11} {'NLL RNN':>8} "
          f"{'NLL SPICE':>9} {'α̂':>6}")
    reference = {}
    for label, name, n_epochs, seconds, nll_rnn, nll_spice, alpha, _ in rows:
        if name == "autospice":
            reference[label] = seconds
        ratio = seconds / reference[label] if label in reference else float("nan")
        shown = f"{alpha:.3f}" if alpha is not None else "—"
        print(f"{label:<16} {name:<24} {n_epochs:>6} {seconds:>8.1f} {ratio:>11.2f} {nll_rnn:>8.4f} {nll_spice:>9.4f} "
              f"{shown:>6}")
    print("\nDistilled equations:")
    for label, name, *_, equations in rows:
        for line in equations:
            print(f"  {label} / {name}: {line}")


def agent_nll(params, actions, rewards):
    """Mean NLL of the next choices under AgentQ's own model (α, β, forgetting toward 0.5): the parametric
    reference for what the data say about α. actions, rewards: [sessions, trials, arms]."""
    alpha, beta, forget = params
    q = np.full((actions.shape[0], actions.shape[2]), 0.5)
    total, count = 0.0, 0.0
    for t in range(actions.shape[1]):
        a = actions[:, t]
        if t > 0:
            logits = beta * q
            total -= ((logits - np.log(np.exp(logits).sum(1, keepdims=True))) * a).sum()
            count += a.sum()
        reward = (rewards[:, t] * a).sum(1, keepdims=True)
        q = np.where(a > 0, q + alpha * (reward - q), q + forget * (0.5 - q))
    return total / count


def _profile_interval(xs, best, level=3.84):
    """The α values whose profile deviance (β and forgetting re-fitted) stays within ``level`` of the MLE's: the
    95 % likelihood interval, on a grid of 0.005."""
    from scipy import optimize

    n = int((xs[..., :2].sum(-1) > 0).sum())
    inside = []
    for alpha in np.arange(0.15, 0.5, 0.005):
        fit = optimize.minimize(lambda p, a=alpha: agent_nll([a, *p], xs[..., :2], xs[..., 2:4]), best.x[1:],
                                bounds=[(0.1, 20), (0, 1)])
        if 2 * n * (fit.fun - best.fun) < level:
            inside.append(alpha)
    return min(inside), max(inside)


def learning_rate_recovery(seeds: int) -> None:
    """α recovered from AgentQ(α = 0.3, forgetting 0.2, β = 3) data: by the parametric MLE on the same data (with
    its 95 % profile-likelihood interval), and by LearningRateRNN (its mean learning rate on chosen trials, β,
    training NLL, distilled equation) as fitted by default, from a β that starts at 6 instead of 1, and with
    weight decay 1e-4: the network's extra freedom leaves a ridge of equal likelihood along which the learning
    rate trades against β, and where training ends on it depends on the start."""
    from scipy import optimize

    from drl.spice import LEARNING_RATE_RNN_CONFIG

    print("LearningRateRNN on AgentQ(α=0.3, β=3, forget=0.2), 100 sessions × 100 trials, 1024 epochs; mean learning "
          "rate on chosen trials, β, training NLL (nats per choice):")
    variants = (("default", 1.0, 0.0), ("β starts at 6", 6.0, 0.0), ("weight decay 1e-4", 1.0, 1e-4))
    recovered = {name: [] for name, _, _ in variants}
    for seed in range(seeds):
        dataset, _, _ = create_dataset(AgentQ(alpha_reward=0.3, forget_rate=0.2, rng=seed + 1),
                                       BanditsDrift(0.2, rng=seed), 100, 100)
        dataset.xs[..., -1] = 0
        xs = dataset.xs.numpy()
        mle = min((optimize.minimize(agent_nll, x0, args=(xs[..., :2], xs[..., 2:4]),
                                     bounds=[(0.01, 1), (0.1, 20), (0, 1)])
                   for x0 in ([0.3, 3, 0.2], [0.6, 1, 0.5], [0.1, 8, 0.05])), key=lambda r: r.fun)
        low, high = _profile_interval(xs, mle)
        print(f"  seed {seed}: MLE α {mle.x[0]:.3f} (95 % interval {low:.3f}–{high:.3f}) β {mle.x[1]:.2f} forget "
              f"{mle.x[2]:.3f} NLL {mle.fun:.4f}")
        for name, beta_start, weight_decay in variants:
            estimator = SpiceEstimator(_started_at(beta_start), LEARNING_RATE_RNN_CONFIG, learning_rate=1e-2,
                                       epochs=1024, weight_decay=weight_decay, seed=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ChanceLevelWarning)
                estimator.fit(dataset.xs, dataset.ys)
            recorded = estimator.model_.record(dataset.xs)
            rate = np.asarray(recorded["x_learning_rate_reward"])[1:]
            chosen = np.asarray(recorded["c_action"])[:-1].astype(bool)
            with torch.no_grad():
                beta = float(estimator.model_.betas["x_value_reward"]())
            recovered[name].append(rate[chosen].mean() - mle.x[0])
            equation = estimator.equations_
            terms = equation[(equation.module == "x_learning_rate_reward") & (equation.coefficient != 0)]
            print(f"    {name:<18} rate {rate[chosen].mean():.3f} β {beta:.2f} NLL "
                  f"{estimator.training_.train_loss:.4f} | rate equation "
                  + ", ".join(f"{f} {c:+.3f}" for f, c in zip(terms.feature, terms.coefficient, strict=True)))
    print("  mean learning rate − MLE α over seeds: " + ", ".join(
        f"{name} {np.mean(d):+.3f} (range {min(d):+.3f} … {max(d):+.3f})" for name, d in recovered.items()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--autospice", help="python interpreter with the SPICE package (autospice) installed")
    parser.add_argument("--epochs", type=int, default=1024, help="epochs of the --autospice comparison")
    parser.add_argument("--recovery", type=int, default=0, metavar="SEEDS",
                        help="α recovery of LearningRateRNN against the parametric MLE over SEEDS datasets")
    args = parser.parse_args()
    if args.autospice:
        compare_with_autospice(args.autospice, args.epochs)
        return
    if args.recovery:
        learning_rate_recovery(args.recovery)
        return
    small, large = data(100, 100), data(1000, 200)
    epoch_table(small, large)
    fast = per_epoch(small, 100)
    naive = naive_per_epoch(small, 3)
    print(f"Rescorla-Wagner, 100 sessions × 100 trials: {fast:.4f} s per epoch (1024 epochs ≈ {1024 * fast:.1f} s); "
          f"the naive per-session loop {naive:.3f} s per epoch, {naive / fast:.0f}× slower")
    agent = AgentQ(alpha_reward=0.3, forget_rate=0.2, rng=1)
    tutorial, _, _ = create_dataset(agent, BanditsDrift(0.2, rng=0), 100, 100)
    tutorial.xs[..., -1] = 0
    estimator = SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG, epochs=1024, learning_rate=1e-2,
                               convergence_threshold=0, test_fraction=0.2)
    start = time.perf_counter()
    estimator.fit(tutorial.xs, tutorial.ys)
    total = time.perf_counter() - start
    start = time.perf_counter()
    distill(estimator.model_, tutorial.xs, FORGETTING_CONFIG)
    distillation = time.perf_counter() - start
    r = estimator.report_
    print(f"SpiceEstimator(ForgettingRNN) end to end, 100 × 100, 1024 epochs: {total:.1f} s; distillation "
          f"{distillation:.2f} s; held-out NLL RNN {r['nll_rnn_test']:.4f}, SPICE {r['nll_spice_test']:.4f}")
    restarts, losses = [], []
    for seed in range(10):
        result = fit_model(RescorlaWagnerRNN(), small.xs, small.ys, epochs=200, learning_rate=1e-2, seed=seed,
                           progress=False)
        restarts.append(result.restarts)
        losses.append(result.train_loss)
    print(f"10 seeds × 200 epochs: restarts from chance per fit {restarts}; final NLL {min(losses):.3f} … "
          f"{max(losses):.3f} (chance {np.log(2):.3f})")


if __name__ == "__main__":
    main()
