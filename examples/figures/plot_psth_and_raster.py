"""
Spikes of a recording: PSTH and raster
======================================

A run read as a recording (Poisson spikes whose rate follows each predictor's prediction error), drawn as a
lab draws its neurons: the peri-stimulus time histogram of each neuron by trial type, and one neuron's raster.
"""

import drl
from drl import plots, responses

population = drl.Population.grid(tau=[0.2, 0.8], alpha=0.1)
run = drl.simulate("dabney_variable_magnitude", population, 1000, seed=0, progress=False)
session = responses.recording_from_run(run, n_trials=200, seed=0)
fig = plots.psth(session)

# %%
# One neuron's spikes, trial by trial, sorted by reward size.
fig = plots.raster(session, session.units.index[1], by="magnitude")
