"""
A run at a glance
=================

Value, reward prediction error and reward over the time of a trial after learning, and the learning curves, for
every predictor of a run.
"""

import drl
from drl import plots

population = drl.Population.grid(tau=[0.2, 0.5, 0.8], alpha=0.05)
run = drl.simulate("dabney_variable_magnitude", population, 1000, seed=0, progress=False)
fig = plots.summary(run)
