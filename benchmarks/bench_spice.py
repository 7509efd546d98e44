"""SPICE RNN training speed. Prints figures; asserts nothing.

End-to-end SpiceEstimator fit (training + distillation) on the tutorial-sized data (100 sessions × 100 trials,
1024 epochs) with its held-out NLLs, and the distillation time alone. Seconds per training epoch of the
precoded Rescorla-Wagner RNN (full batch, Adam) for 100 sessions × 100 trials
and 1000 sessions × 200 trials, against a naive reference written here that loops over sessions (one forward
pass per session, the layout drl vectorizes away); and how often a fit needed a restart from chance.
Run: .venv/bin/python benchmarks/bench_spice.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

from drl.spice import (
    FORGETTING_CONFIG,
    AgentQ,
    BanditsDrift,
    ForgettingRNN,
    RescorlaWagnerRNN,
    SpiceEstimator,
    create_dataset,
    distill,
    fit_model,
    nll,
)


def data(n_sessions, n_trials, seed=0):
    dataset, _, _ = create_dataset(AgentQ(alpha_reward=0.3, rng=seed + 1), BanditsDrift(0.2, rng=seed),
                                   n_trials, n_sessions)
    dataset.xs[..., -1] = 0
    return dataset


def per_epoch(dataset, epochs):
    result = fit_model(RescorlaWagnerRNN(), dataset.xs, dataset.ys, epochs=epochs, convergence_threshold=0,
                       n_restarts=0, progress=False)
    return result.seconds / result.epochs


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


def main():
    small, large = data(100, 100), data(1000, 200)
    fast = per_epoch(small, 100)
    naive = naive_per_epoch(small, 3)
    print(f"100 sessions × 100 trials: {fast:.4f} s per epoch (1024 epochs ≈ {1024 * fast:.0f} s); "
          f"per-session loop {naive:.3f} s per epoch, {naive / fast:.0f}× slower")
    print(f"1000 sessions × 200 trials: {per_epoch(large, 10):.4f} s per epoch")
    agent = AgentQ(alpha_reward=0.3, forget_rate=0.2, rng=1)
    tutorial, _, _ = create_dataset(agent, BanditsDrift(0.2, rng=0), 100, 100)
    tutorial.xs[..., -1] = 0
    estimator = SpiceEstimator(ForgettingRNN, FORGETTING_CONFIG, epochs=1024, learning_rate=1e-2,
                               convergence_threshold=0, test_fraction=0.2)
    start = time.perf_counter()
    estimator.fit(tutorial.xs, tutorial.ys)
    total = time.perf_counter() - start
    start = time.perf_counter()
    distill(estimator.model, tutorial.xs, FORGETTING_CONFIG)
    distillation = time.perf_counter() - start
    r = estimator.report
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
