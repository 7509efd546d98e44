"""
A trial's values as learning goes on (animation)
================================================

Value, reward and prediction error over the time of a trial, one frame per trial of the run: the prediction error
moves from the reward to the cue, and the optimists' values rise above the pessimists'.
"""

import matplotlib.pyplot as plt

import drl
from drl import plots

population = drl.Population.grid(tau=[0.1, 0.5, 0.9], alpha=0.05)
run = drl.simulate("dabney_variable_magnitude", population, 600, seed=0, record_trials=10, progress=False)
movie = plots.val_over_t(run, "variable", every=50)

# %%
# In a notebook the animation shows itself as a player. Its figure is closed once made (so that a notebook does
# not also show a still copy); handing it back to pyplot lets this page show the same player.
plt.figure(movie.figure)
