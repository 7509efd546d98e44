"""
Optimistic and pessimistic cells on the 50 % cue
================================================

Cues predicting a reward with probability 10, 50 and 90 %: a neuron whose value code is the mean answers the
50 % cue midway between the others, an optimist above, a pessimist below. Each recorded cell classified by its
own test, against its true optimism.
"""

import drl
from drl import decode, plots, responses

population = drl.Population.sample(40, tau=(0.1, 0.9), gamma=0.9, lam=0.9, alpha=0.05, seed=1)
run = drl.simulate("dabney_variable_probability", population, 3000, seed=1, progress=False)
form = responses.responses_from_recording(responses.recording_from_run(run, seed=1))
fig = plots.cue_cells(decode.classify_cue_cells(form))
