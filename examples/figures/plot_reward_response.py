"""
Reward responses and reversal points (Dabney et al. 2020)
=========================================================

Each predictor's response to the reward against its size, the reversal point where it changes sign against the
predictor's optimism τ, and the reward distribution decoded from the reversal points against the truth.
"""

import drl
from drl import plots

population = drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9], alpha=0.05)
run = drl.simulate("dabney_variable_magnitude", population, 2000, seed=0, progress=False)
fig = plots.reward_response(run)
