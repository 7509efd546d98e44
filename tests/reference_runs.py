"""The reference runs the tests share: one catalogue, simulated once and cached on disk for every worker.

A test module asks for a run by name (``reference_run("dabney_tau20")``) instead of simulating its own: runs that
several modules need (the same population and seed in test_controls and test_recordings_that_break_the_model, the
20-τ Dabney population in test_decode and test_recordings) are simulated once. The cache lives in pytest's cache
folder (``.pytest_cache/drl-reference-runs``, git-ignored); xdist workers share it through a file lock, so a run
is simulated by the first worker that needs it while the others wait and read it. A cached run is stored with
drl's own store (atomic) and keyed by its recipe and by the source of everything that makes a run (the engine, the
tasks, the population, the file format): change the engine and every run is simulated again, never read stale.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from filelock import FileLock

import drl

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".pytest_cache" / "drl-reference-runs"
# what a run depends on: a change in any of these files is a new cache key
SOURCES = ("drl/engine", "drl/tasks", "drl/runs", "drl/population.py")
TAU_20 = tuple((np.arange(20) + 0.5) / 20)


@dataclass(frozen=True)
class Recipe:
    """How a reference run is made: ``drl.simulate(task, population, n_trials, seed=seed, **options)``, the
    population ``Population.grid(**population)`` or, with ``sample``, ``Population.sample(sample, **population)``."""

    task: str | drl.Task
    population: dict
    n_trials: int
    seed: int = 0
    sample: int | None = None
    options: dict = field(default_factory=dict)

    def population_object(self) -> drl.Population:
        if self.sample is None:
            return drl.Population.grid(**self.population)
        return drl.Population.sample(self.sample, **self.population)


TWO_OUTCOMES = drl.Task("two_outcomes", 3.0, 0.1, (drl.TrialType("odour", 0.5, (
    drl.RewardEvent(1.5, magnitudes=(2.0, 8.0)),)),), units="µl")

RECIPES = {
    # Dabney et al. 2020: 20 evenly spaced τ, slow learning (test_decode, test_recordings)
    "dabney_tau20": Recipe("dabney_variable_magnitude", dict(tau=list(TAU_20), alpha=0.02, gamma=1.0), 4000, seed=3),
    # the same τ with faster, traced learning (test_intervals)
    "dabney_tau20_traced": Recipe("dabney_variable_magnitude", dict(tau=list(TAU_20), alpha=0.04, gamma=1.0,
                                                                      lam=0.9), 4000, seed=3),
    # the same τ with γ 0.9, long, for spikes and NWB (test_spikes_and_nwb)
    "dabney_tau20_discounted": Recipe("dabney_variable_magnitude", dict(tau=list(TAU_20), gamma=0.9, alpha=0.02,
                                                                          lam=0.95), 6000, seed=1),
    # Masset et al. 2025: 20 evenly spaced γ (test_decode, test_recordings)
    "masset_gamma20": Recipe("masset_multi_delay", dict(gamma=list(np.linspace(0.5, 0.99, 20)), alpha=0.1, lam=0.9),
                             4000, seed=3),
    # 20 γ up to 0.97, slower learning, for spikes and NWB (test_spikes_and_nwb)
    "masset_gamma20_slow": Recipe("masset_multi_delay", dict(gamma=list(np.linspace(0.5, 0.97, 20)), alpha=0.05,
                                                              lam=0.95), 3000, seed=1),
    # 40 γ drawn from (0.5, 0.99), long enough for a held-out discount fit (test_discounting)
    "masset_gamma40_sampled": Recipe("masset_multi_delay", dict(gamma=(0.5, 0.99), tau=0.5, seed=1), 10000, seed=1,
                                     sample=40),
    # Sousa et al. 2025: 9 τ × 12 γ (test_decode)
    "sousa_9x12": Recipe("sousa_2025", dict(tau=list((np.arange(9) + 0.5) / 9),
                                           gamma=list(1 - np.geomspace(0.6, 0.01, 12)), alpha=0.02, lam=0.9), 5000),
    # sampled τ-diverse and one-τ populations for synthetic recordings (test_controls,
    # test_recordings_that_break_the_model): the distributional code and its classical-TD null
    "dabney_sampled_diverse": Recipe("dabney_variable_magnitude", dict(tau=(0.1, 0.9), gamma=0.9, lam=0.9,
                                                                       alpha=0.05, seed=3), 3000, seed=3, sample=30),
    "dabney_sampled_classical": Recipe("dabney_variable_magnitude", dict(tau=0.5, gamma=0.9, lam=0.9, alpha=0.05,
                                                                         seed=4), 3000, seed=4, sample=30),
    "probability_sampled_diverse": Recipe("dabney_variable_probability", dict(tau=(0.1, 0.9), gamma=0.9, lam=0.9,
                                                                              alpha=0.05, seed=1), 3000, seed=1,
                                          sample=40),
    "probability_sampled_classical": Recipe("dabney_variable_probability", dict(tau=0.5, gamma=0.9, lam=0.9,
                                                                                alpha=0.05, seed=2), 3000, seed=2,
                                            sample=80),
    # small runs of the three papers' tasks for the figure tests (conftest.paper_runs)
    "dabney_small": Recipe("dabney_variable_magnitude", dict(tau=[0.2, 0.5, 0.8], gamma=[0.7, 0.95], alpha=0.05),
                           300),
    "masset_small": Recipe("masset_multi_delay", dict(gamma=[0.6, 0.8, 0.9, 0.97], alpha=0.1, lam=0.9), 300),
    "sousa_small": Recipe("sousa_2025", dict(tau=[0.2, 0.5, 0.8], gamma=[0.6, 0.8, 0.9, 0.97], alpha=0.1, lam=0.9),
                          300),
    # the population figures (test_plots_population)
    "dabney_5x2": Recipe("dabney_variable_magnitude", dict(tau=[0.1, 0.3, 0.5, 0.7, 0.9], gamma=[0.7, 0.95],
                                                           alpha=0.05), 600),
    "masset_gamma8": Recipe("masset_multi_delay", dict(gamma=list(np.linspace(0.5, 0.99, 8)), alpha=0.1, lam=0.9),
                            800),
    # 2 or 8 µl at 50/50: chords cross zero at the mean, reversal points spread (test_figures_show_the_truth)
    "two_outcomes": Recipe(TWO_OUTCOMES, dict(tau=[0.1, 0.3, 0.5, 0.7, 0.9], alpha=0.02, lam=0.95), 3000),
    # every 10th trial recorded (test_figures_show_the_truth)
    "dabney_thinned": Recipe("dabney_variable_magnitude", dict(tau=[0.2, 0.8], alpha=0.1), 300,
                             options=dict(record_trials=10)),
}


@cache
def _source_hash() -> str:
    digest = hashlib.sha256()
    for source in SOURCES:
        path = ROOT / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def cache_path(name: str) -> Path:
    """Where the run ``name`` is cached: its name, then a hash of its recipe and of drl's run-making source."""
    recipe = RECIPES[name]
    key = hashlib.sha256(f"{recipe!r}|{_source_hash()}".encode()).hexdigest()[:16]
    return CACHE / f"{name}-{key}.nc"


def simulate(name: str):
    """The run ``name`` simulated now (no cache): the recipe's call, drl's own warnings about it silenced (a
    test asserts what it checks; the reference runs are what they are)."""
    recipe = RECIPES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return drl.simulate(recipe.task, recipe.population_object(), recipe.n_trials, seed=recipe.seed,
                            progress=False, **recipe.options)


def reference_run(name: str):
    """The run ``name`` of :data:`RECIPES`, in memory: read from the cache, or simulated and cached first."""
    if name not in RECIPES:
        raise KeyError(f"no reference run {name!r}; the catalogue has {sorted(RECIPES)}")
    path = cache_path(name)
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not path.exists():
            for stale in CACHE.glob(f"{name}-*.nc"):  # an older recipe or engine
                stale.unlink()
            drl.save(simulate(name), path)
    run = drl.load(path)
    run.load()
    run.close()
    return run
