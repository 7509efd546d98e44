"""
A decoded reward distribution against the truth
================================================

The samples imputed from a population's reversal points (the expectiles they are), drawn against the task's
true reward distribution, with the W1 distance between them.
"""

import drl
from drl import decode, plots

population = drl.Population.grid(tau=[0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95], alpha=0.05)
run = drl.simulate("dabney_variable_magnitude", population, 2000, seed=0, progress=False)
truth = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
decoded = decode.decode_reward_distribution(run)
fig = plots.distribution(decoded, truth, units="µl")
print(f"W1 to the truth: {decode.wasserstein(decoded, truth):.2f} µl ({decode.wasserstein(decoded, truth) / truth.std:.2f} SD)")
