"""
Prediction errors over trials and time
======================================

The prediction error of chosen predictors at every step of every recorded trial: the error moves from the
reward to the cue as the predictors learn.
"""

import drl
from drl import plots

population = drl.Population.grid(tau=[0.2, 0.8], alpha=0.05)
run = drl.simulate("dabney_variable_magnitude", population, 600, seed=0, progress=False)
fig = plots.heatmap(run, [0, 1])
