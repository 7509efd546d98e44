"""
The value at one moment of the trial, trial after trial
=======================================================

Each predictor's value at one time of the trial (here 0.5 s after the cue) across the run's trials: how learning
converges, and where optimists and pessimists settle.
"""

import drl
from drl import plots

population = drl.Population.grid(tau=[0.1, 0.5, 0.9], alpha=0.05)
run = drl.simulate("dabney_variable_magnitude", population, 1000, seed=0, progress=False)
task = drl.get_task("dabney_variable_magnitude")
fig = plots.val_at_t(run, task.trial_types[0].cue_time + 0.5)
