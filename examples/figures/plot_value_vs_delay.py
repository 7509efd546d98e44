"""
Cue responses against the reward delay (Masset et al. 2025)
===========================================================

Each neuron's cue response per unit of expected reward against the delay its cue predicts, with the fitted
exponential ``A·γ̂^delay``; and the fitted γ̂ against the true γ.
"""

import numpy as np

import drl
from drl import plots

population = drl.Population.grid(gamma=list(np.linspace(0.5, 0.99, 10)), alpha=0.1, lam=0.9)
run = drl.simulate("masset_multi_delay", population, 1500, seed=0, progress=False)
fig = plots.value_vs_delay(run)
