"""
The joint map of reward delay and magnitude (Sousa et al. 2025)
===============================================================

A τ × γ population codes when and how much together: the map decoded from its cue responses, with its time and
magnitude marginals.
"""

import numpy as np

import drl
from drl import plots

population = drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=list(np.linspace(0.6, 0.97, 10)), alpha=0.1, lam=0.9)
run = drl.simulate("sousa_2025", population, 2000, seed=0, progress=False)
fig = plots.joint_map(run, "variable")
