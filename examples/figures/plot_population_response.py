"""
Cue and reward responses across a τ × γ population
==================================================

The prediction error at the cue and at the reward of each predictor after learning, against its optimism τ
(coloured by its discount γ) and against γ.
"""

import drl
from drl import plots

population = drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=[0.7, 0.9, 0.99], alpha=0.05)
run = drl.simulate("dabney_variable_magnitude", population, 2000, seed=0, progress=False)
fig = plots.population_response(run)
