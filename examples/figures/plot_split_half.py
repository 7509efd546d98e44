"""
Split-half reversal points: a distributional code against its null
==================================================================

The reversal points of two random halves of each neuron's trials, correlated across neurons: a population whose
reversal points differ repeats them; one that shares a single value prediction (classical TD) does not.
"""

import drl
from drl import decode, plots, responses

task = "dabney_variable_magnitude"
diverse = drl.simulate(task, drl.Population.sample(30, tau=(0.1, 0.9), gamma=0.9, lam=0.9, alpha=0.05, seed=3),
                       3000, seed=3, progress=False)
classical = drl.simulate(task, drl.Population.sample(30, tau=0.5, gamma=0.9, lam=0.9, alpha=0.05, seed=4),
                         3000, seed=4, progress=False)
results = [decode.split_half_reversals(responses.responses_from_recording(responses.recording_from_run(run, seed=0)),
                                       n_splits=50)
           for run in (diverse, classical)]
fig = plots.split_half(*results, labels=["τ-diverse", "classical TD (one τ)"])
