"""The built-in task specs: drl_sim's tasks and the tasks of the papers drl reproduces.

Pure data. Each task carries its reference and, in ``notes``, what was chosen where the paper is silent.
"""

from __future__ import annotations

from drl.tasks.events import RewardEvent, TrialType
from drl.tasks.model import Task

DABNEY_MAGNITUDES = (0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0)
DABNEY_PROBABILITIES = (0.06612594, 0.09090909, 0.14847358, 0.15489467, 0.31159175, 0.1509519, 0.07705306)
# drl_sim's `var` task typed 0.150519 for 0.1509519, so its probabilities sum to 0.99956709; drl_sim's sampler
# (argmax of u < cumsum) then gives the missing 0.00043291 to the first magnitude. We keep exactly that
# effective distribution.
_DRL_SIM_VAR_PROBABILITIES = (
    0.06612594 + (1 - 0.99956709),
    0.09090909,
    0.14847358,
    0.15489467,
    0.31159175,
    0.150519,
    0.07705306,
)

_DRL_SIM = "Tiwari (2024), drl_sim (Uchida lab), github.com/siddharth-r-tiwari/drl_sim"
_DRL_SIM_TIMES = (
    "drl_sim placed events at step round(t/dt) - 1 with Python's ties-to-even rounding; drl places the same "
    "nominal times at the nearest step (halves up), so onsets can sit one step later than in drl_sim."
)


def builtin_tasks() -> list[Task]:
    """Fresh instances of every built-in task."""
    return [
        Task(
            name="hyp_unif",
            duration=7.0,
            dt=0.1,
            trial_types=(TrialType("cue", cue_time=2.0, rewards=(RewardEvent(time=4.0, magnitudes=(1.0,)),)),),
            reference=_DRL_SIM,
            notes="drl_sim notebook 'hyp_unif': one cue at 2 s, reward 1 at 6 s. " + _DRL_SIM_TIMES,
        ),
        Task(
            name="hyp_var",
            duration=7.0,
            dt=0.1,
            trial_types=(
                TrialType("cue", cue_time=2.0, rewards=(RewardEvent(time=4.0, magnitudes=(1.0,), sd=0.25),)),
            ),
            reference=_DRL_SIM,
            notes="drl_sim 'hyp_var': a normally distributed reward (mean 1, sd 0.25: drl_sim left mean and sd "
            "to the user) 4 s after the cue. " + _DRL_SIM_TIMES,
        ),
        Task(
            name="var",
            duration=7.0,
            dt=0.1,
            trial_types=(
                TrialType(
                    "cue",
                    cue_time=2.0,
                    rewards=(
                        RewardEvent(time=4.0, magnitudes=DABNEY_MAGNITUDES, probabilities=_DRL_SIM_VAR_PROBABILITIES),
                    ),
                ),
            ),
            reference=_DRL_SIM + "; magnitudes from Dabney et al. (2020) Nature 577:671",
            notes="drl_sim's numbers kept: its 0.150519 is a typo of the paper's 0.1509519 and its probabilities "
            "sum to 0.99956709; drl_sim's sampler gives the remainder to the first magnitude (0.1 µl), so that "
            "probability is 0.06655885 here. Use 'dabney_variable_magnitude' for the paper's numbers. "
            + _DRL_SIM_TIMES,
        ),
        Task(
            name="delay",
            duration=8.0,
            dt=0.5,
            trial_types=tuple(
                TrialType(f"delay_{d:g}s", cue_time=1.0, rewards=(RewardEvent(time=d, magnitudes=(3.0,)),))
                for d in (1.25, 2.5, 4.0, 6.5)
            )
            + (
                TrialType(
                    "two_rewards",
                    cue_time=1.0,
                    rewards=(
                        RewardEvent(time=1.3, magnitudes=(0.0, 3.0), probabilities=(0.5, 0.5)),
                        RewardEvent(time=4.45, magnitudes=(0.0, 3.0), probabilities=(0.5, 0.5)),
                    ),
                ),
                TrialType(
                    "six_chances",
                    cue_time=1.0,
                    rewards=tuple(
                        RewardEvent(time=round(t - 1.0, 2), magnitudes=(0.0, 3.0), probabilities=(5 / 6, 1 / 6))
                        for t in (1.25, 2.3, 3.35, 4.4, 5.45, 6.5)
                    ),
                ),
            ),
            reference=_DRL_SIM + "; the 'Delay' task of Sara Matias' experiments",
            notes="Six equally frequent cues at 1 s: reward 3 at 2.25, 3.5, 5 or 7.5 s; 0 or 3 (p = 1/2 each) at "
            "2.3 and 5.45 s; 0 or 3 (p = 1/6 of 3) at 1.25, 2.3, …, 6.5 s. " + _DRL_SIM_TIMES,
        ),
        Task(
            name="dabney_variable_magnitude",
            units="µl",
            duration=4.0,
            dt=0.1,
            trial_types=(
                TrialType(
                    "variable",
                    cue_time=0.5,
                    rewards=(RewardEvent(time=2.0, magnitudes=DABNEY_MAGNITUDES, probabilities=DABNEY_PROBABILITIES),),
                ),
            ),
            reference="Dabney et al. (2020) A distributional code for value in dopamine-based reinforcement "
            "learning. Nature 577:671-675",
            notes="Magnitudes in µl with the paper's probabilities. The cue at 0.5 s and reward 2 s later are a "
            "timing choice of drl (the decoding concerns the reward response).",
        ),
        Task(
            name="dabney_variable_probability",
            duration=4.0,
            dt=0.1,
            trial_types=tuple(
                TrialType(
                    f"p{int(p * 100)}",
                    cue_time=0.5,
                    rewards=(RewardEvent(time=2.0, magnitudes=(1.0,), delivery_probability=p),),
                )
                for p in (0.1, 0.5, 0.9)
            ),
            reference="Dabney et al. (2020) Nature 577:671-675 (variable-probability task)",
            notes="Three equally frequent cues predicting reward (1 unit) with probability 10, 50 or 90 %, outcome "
            "2 s after the cue.",
        ),
        Task(
            name="masset_multi_delay",
            duration=11.25,
            dt=0.075,
            trial_types=tuple(
                TrialType(f"delay_{d:g}s", cue_time=0.75, rewards=(RewardEvent(time=d, magnitudes=(1.0,)),))
                for d in (0.6, 1.5, 3.75, 9.375)
            ),
            reference="Masset et al. (2025) Multi-timescale reinforcement learning in the brain. Nature",
            notes="Four equally frequent cues, each followed by one fixed reward (1 unit) at 0.6, 1.5, 3.75 or "
            "9.375 s. dt = 0.075 s puts every delay exactly on a step.",
        ),
        Task(
            name="sousa_2025",
            units="µl",
            duration=8.0,
            dt=0.1,
            trial_types=tuple(
                TrialType(f"delay_{d:g}s", cue_time=1.0, rewards=(RewardEvent(time=d, magnitudes=(4.5,)),))
                for d in (0.0, 1.5, 3.0, 6.0)
            )
            + (
                TrialType(
                    "variable",
                    cue_time=1.0,
                    rewards=(
                        RewardEvent(
                            time=3.0,
                            magnitudes=(1.0, 2.75, 4.5, 6.25, 8.0),
                            probabilities=(0.25, 1 / 6, 1 / 6, 1 / 6, 0.25),
                        ),
                    ),
                ),
            ),
            reference="Sousa et al. (2025) A multidimensional distributional map of future reward in dopamine "
            "neurons. Nature",
            notes="4.5 µl at 0, 1.5, 3 or 6 s after the cue; a variable cue pays 1, 2.75, 4.5, 6.25 or 8 µl at 3 s "
            "with probabilities 0.25, 1/6, 1/6, 1/6, 0.25 (the paper's 0.167 is 1/6, so they sum to 1).",
        ),
        Task(
            name="lowet_2025",
            units="µl",
            duration=6.0,
            dt=0.1,
            trial_types=(
                TrialType("nothing", cue_time=1.0, rewards=()),
                TrialType("fixed", cue_time=1.0, rewards=(RewardEvent(time=3.0, magnitudes=(4.0,)),)),
                TrialType(
                    "variable",
                    cue_time=1.0,
                    rewards=(RewardEvent(time=3.0, magnitudes=(2.0, 6.0), probabilities=(0.5, 0.5)),),
                ),
            ),
            reference="Lowet et al. (2025) An opponent striatal circuit for distributional reinforcement learning. "
            "Nature",
            notes="Odour for 1 s then a 2 s trace: the outcome is 3 s after odour onset. Cues predict nothing, "
            "4 µl, or 2 or 6 µl (p = 1/2 each), equally often.",
        ),
    ]


#: The built-in tasks (drl.tasks.registry registers them).
BUILTIN_TASKS = tuple(builtin_tasks())
