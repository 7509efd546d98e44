"""
Reward timing decoded from a γ population
=========================================

The delay distribution each cue predicts, decoded from the cue responses of a population of discounts (the
inverse of the discrete Laplace transform they compute), with the true reward times marked.
"""

import numpy as np

import drl
from drl import plots

population = drl.Population.grid(gamma=list(np.linspace(0.5, 0.99, 20)), alpha=0.1, lam=0.9)
run = drl.simulate("masset_multi_delay", population, 1500, seed=0, progress=False)
fig = plots.timing(run)
