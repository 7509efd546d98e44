"""Sousa et al. 2025, "A multidimensional distributional map of future reward in dopamine neurons", Nature, with
drl.

What is simulated: the paper's task (4.5 µl at 0, 1.5, 3 or 6 s after four cues; a variable cue paying 1–8 µl
at 3 s), learned by a population whose optimism τ and discount γ both differ across neurons. Analysed:

* the model itself (a τ × γ grid): the joint map of reward time × magnitude decoded from the cue values, and the
  reward distribution decoded from cue responses alone, checked against the task's exact distributions;
* a recording made from a γ-diverse population (Poisson spikes): reward timing decoded from held-out trials,
  against a decoder given one γ for every neuron.

* the time manipulation (the shortest or the longest delay's cue withdrawn mid-session, :func:`drl.simulate_phases`)
  on a fixed-γ population and on one whose discounts adapt to the delays the task predicts
  (:func:`drl.adapted_gamma`): γ̂ fitted on the same delays before and after. The paper measured Δγ̂ > 0 without
  the shortest delay and < 0 without the longest; the adaptive model reproduces those signs, the fixed-γ model is
  the null that does not move.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from scipy import stats

from drl.reproduce.recorded import gamma_diverse_recordings
from drl.reproduce.result import Check, write_figures

TASK = "sousa_2025"
PAPER = "Sousa et al. 2025"
LEARNING_TRIALS = 10_000
#: The task as the authors' analysis code states it (MargaSousa/Multidimensional_dopamine_RL:
#: Extended_data_Fig7d_e_f.py ``cue_times``, Fig4_get_bias_variance_taus.py ``amount`` and ``probability``)
AUTHORS_DELAYS = (0.0, 1.5, 3.0, 6.0)
AUTHORS_AMOUNTS = (1.0, 2.75, 4.5, 6.25, 8.0)
AUTHORS_PROBABILITIES = (0.25, 0.167, 0.167, 0.167, 0.25)
#: The τ × γ model learns for longer: its most pessimistic predictors (τ ≈ 0.05) move their values up by a
#: rate α·τ, and at 10,000 trials still drifted 12 % in the learned window of the 6 s cue.
MODEL_TRIALS = 30_000
#: The authors' count: their analysis code keeps at most 50 rewarded trials of each delay cue per neuron before the
#: time manipulation (Parse_data_neurons.py: ``responses_cue`` [neuron, delay, 50], filled up to each neuron's
#: count), so the recorded-data claim is checked a second time at 50 trials per cue, an upper bound of theirs.
PAPER_TRIALS_PER_CUE = 50
PAPER_NEURONS = 40


def sizes(quick: bool) -> dict:
    paper = {"paper_trials_per_cue": PAPER_TRIALS_PER_CUE, "paper_neurons": PAPER_NEURONS}
    if quick:
        return {"tau_levels": 7, "gamma_levels": 8, "neurons": 40, "recorded_trials": 2500, "splits": 10, "boot": 100,
                **paper}
    return {"tau_levels": 9, "gamma_levels": 12, "neurons": 40, "recorded_trials": 2500, "splits": 40, "boot": 200,
            **paper}


def stages(quick: bool, seed: int):
    import drl
    from drl import decode

    size = sizes(quick)

    def model(r):
        tau = (np.arange(size["tau_levels"]) + 0.5) / size["tau_levels"]
        gamma = 1 - np.geomspace(0.6, 0.01, size["gamma_levels"])
        pop = drl.Population.grid(tau=list(tau), gamma=list(gamma))
        r["run"] = drl.simulate(TASK, pop, MODEL_TRIALS, progress=False, seed=seed, record_trials=10)
        r["joint"] = {name: decode.decode_joint(r["run"], name) for name in ("variable", "delay_6s")}
        r["cue_decoded"] = decode.decode_cue_distribution(r["run"], "variable", seed=seed)
        r["reward_decoded"] = decode.decode_reward_distribution(r["run"], "variable")

    def recording(r):
        r.update(gamma_diverse_recordings(TASK, size, seed, LEARNING_TRIALS, record_trials=2, approximate=True))
        r["paper_count"] += " (the authors' code: at most 50 per delay cue and neuron)"

    def manipulation(r):
        # the paper's time manipulation (its code: "one of the delays was removed"), as phases: the shortest or the
        # longest delay's cue withdrawn after learning, a fixed-γ population (τ = 0.5)
        gamma = np.linspace(0.5, 0.99, size["gamma_levels"])
        pop = drl.Population.grid(gamma=list(gamma), tau=0.5)
        task = drl.get_task(TASK)
        r["manipulation"], r["adaptive"] = {}, {}
        for label, removed in (("shortest", "delay_0s"), ("longest", "delay_6s")):
            types = tuple(dataclasses.replace(t, frequency=0.0) if t.name == removed else t for t in task.trial_types)
            after = dataclasses.replace(task, name=f"{TASK}_without_{removed}", trial_types=types)
            kept = [t.name for t in types if t.frequency > 0 and t.name.startswith("delay_")]
            # the fixed-γ model, and one whose discounts adapt to the delays the task now predicts
            for key, second in (("manipulation", drl.Phase(after, LEARNING_TRIALS)),
                                ("adaptive", drl.Phase(after, LEARNING_TRIALS, drl.adapted_gamma(pop, after, task)))):
                before_run, after_run = drl.simulate_phases([(task, LEARNING_TRIALS), second], pop, seed=seed,
                                                            record_trials=4)
                r[key][label] = tuple(decode.cue_responses(run, trial_types=kept)["gamma_hat"].values
                                      for run in (before_run, after_run))

    def controls(r):
        single = [f"delay_{d:g}s" for d in (1.5, 3.0, 6.0)]  # delay 0: the cue response holds the reward itself
        for prefix in [p for p in ("", "paper_") if f"{p}form" in r]:
            r[f"{prefix}decoders"] = decode.compare_timing_decoders(r[f"{prefix}form"], trial_types=single,
                                                                    n_splits=size["splits"], n_boot=size["boot"],
                                                                    seed=seed)

    return [("simulate and decode the model", model), ("simulate the recording (spikes)", recording),
            ("the time manipulation", manipulation), ("the controls", controls)]


def _w1(values, weights, truth_values, truth_weights=None) -> float:
    return float(stats.wasserstein_distance(values, truth_values, weights, truth_weights))


def checks(r) -> list[Check]:
    import drl
    from drl import decode

    task = drl.get_task(TASK)
    truth = task.reward_distribution("variable")
    fixed = [t for t in task.trial_types if t.name != "variable"]
    delays = tuple(float(t.rewards[0].time) for t in fixed)
    mismatch = max(float(np.max(np.abs(np.subtract(delays, AUTHORS_DELAYS)))),
                   float(np.max(np.abs(truth.values - np.array(AUTHORS_AMOUNTS)))),
                   float(np.max(np.abs(truth.probabilities - np.array(AUTHORS_PROBABILITIES)))))
    out = [Check("the task against the authors' code: largest difference (delays s, amounts µl, probabilities)",
                 mismatch, "0", "≤ 0.001 (their 0.167 is 1/6)", len(delays) == 4 and mismatch <= 0.001,
                 "Sousa et al.'s analysis code: cue_times, amount, probability",
                     rejects="a task spec that differs from the authors' code (a delay, amount or probability)")]
    joint = r["joint"]["variable"]
    time_w1 = _w1(joint["delay"].values, joint["time_marginal"].values, [3.0])
    out.append(Check("joint map, variable cue: W1 of the time marginal to 3 s (s)", time_w1, "0: exact",
                     "≤ 0.5 s (one bin)", time_w1 <= 0.5, "the task: the variable reward comes at 3 s",
                     rejects="a population with one γ (no time axis)"))
    magnitude_w1 = _w1(joint["magnitude"].values, joint["magnitude_marginal"].values, truth.values,
                       truth.probabilities) / truth.std
    out.append(Check("joint map, variable cue: W1 of the magnitude marginal (in SD)", magnitude_w1, "0: exact",
                     "≤ 0.25", magnitude_w1 <= 0.25, "the task's 1–8 µl distribution",
                     rejects="a population with one τ (no magnitude axis)"))
    fixed = r["joint"]["delay_6s"]
    fixed_time = _w1(fixed["delay"].values, fixed["time_marginal"].values, [6.0])
    fixed_magnitude = _w1(fixed["magnitude"].values, fixed["magnitude_marginal"].values, [4.5])
    out.append(Check("joint map, 6 s cue: W1 of the time marginal to 6 s (s)", fixed_time, "0: exact",
                     f"≤ 0.75 s, and the magnitude's to 4.5 µl ≤ 0.2 µl ({fixed_magnitude:.2f})",
                     fixed_time <= 0.75 and fixed_magnitude <= 0.2, "the task: 4.5 µl at 6 s",
                     rejects="a population with one γ or one τ"))
    cue_w1 = decode.wasserstein(r["cue_decoded"], truth) / truth.std
    reward_w1 = decode.wasserstein(r["reward_decoded"], truth) / truth.std
    out.append(Check("distribution decoded from cue responses alone: W1 (in SD)", cue_w1, "0: exact",
                     f"≤ 0.25, within 0.1 of the reward responses' decode ({reward_w1:.2f})",
                     cue_w1 <= 0.25 and cue_w1 - reward_w1 <= 0.1,
                     f"{PAPER}: the cue response carries the distribution the reward response reveals",
                     rejects="cue responses that do not follow the reversal points (shuffled across neurons)"))
    out.append(_decoder_row(r, ""))
    if "paper_decoders" in r:
        out.append(_decoder_row(r, "paper_"))
    shift = max(float(np.max(np.abs(after - before))) for before, after in r["manipulation"].values())
    out.append(Check("time manipulation (shortest or longest delay withdrawn): |Δγ̂| of a fixed-γ model (max)", shift,
                     "0: the model's γ is fixed", "≤ 0.01 (the null the paper's Δγ̂ rejects)", shift <= 0.01,
                     f"{PAPER}, Fig. 5g (the authors' code: γ fitted on the same delays before and after)",
                     rejects="a model whose γ moves (the adaptive one below fails it)"))
    moved = {label: float(np.median(after - before)) for label, (before, after) in r["adaptive"].items()}
    out.append(Check("time manipulation, discounts adapted to the delays (drl.adapted_gamma): median Δγ̂ without the "
                     "shortest delay", moved["shortest"], "> 0 (the paper)",
                     f"> 0.005, and < −0.005 without the longest ({moved['longest']:+.3f})",
                     moved["shortest"] > 0.005 and moved["longest"] < -0.005,
                     f"{PAPER}, Fig. 5g: Δγ̂ > 0 without the shortest delay, < 0 without the longest",
                     rejects="the fixed-γ model (Δγ̂ = 0 both ways); an adaptation of the wrong sign"))
    return out


#: Over the reproduction's seeds 0–7 at the authors' count (50 per cue, 40 neurons) one shared γ's W1 was 1.07–1.61
#: times the per-neuron decoder's, p 0.3–0.8: the held-out claim does not hold at that count (nor at 150 neurons:
#: 1.4–1.8, p ≥ 0.17 over 3 seeds). With three delays (1.5, 3, 6 s) and 50 trials each, a neuron's held-out γ̂ is
#: too noisy to beat the population's one γ.
PAPER_COUNT_SEEDS = "held at 0 of 8 seeds (ratio 1.07–1.61, p 0.3–0.8)"


def _decoder_row(r, prefix: str) -> Check:
    """Held-out time decoding against one shared γ, on the full recording (``prefix`` "") or at the authors'
    count ("paper_", reported: it does not hold there reliably)."""
    paper = prefix == "paper_"
    decoders = r[f"{prefix}decoders"]
    mean = decoders["mean_w1"].to_series()
    ratio = mean["average exponential"] / mean["exponential"]
    return Check("time decoded from held-out trials: W1 with one shared γ / with each neuron's γ̂"
                 + (", at the authors' count" if paper else ""), ratio, "> 1",
                 f"> 2; each neuron's γ̂ gives {mean['exponential']:.2f} s (p = "
                 f"{decoders.attrs['p_value']['exponential vs average exponential']:.1g} < 0.05)"
                 + (f"; {PAPER_COUNT_SEEDS}" if paper else ""),
                 ratio > 2 and decoders.attrs["p_value"]["exponential vs average exponential"] < 0.05,
                 f"{PAPER}: reward time is decodable from held-out trials of γ-diverse neurons",
                 rejects="a population without diverse discounts (one γ)", count=r.get(f"{prefix}count", ""),
                 required=not paper)


def figures(r, folder: Path) -> list[Path]:
    import drl
    from drl import plots

    truth = drl.get_task(TASK).reward_distribution("variable")
    return write_figures(folder, {
        "joint_map": lambda p: plots.joint_map(r["run"], "variable", save=p),
        "cue_distribution": lambda p: plots.distribution(r["cue_decoded"], truth, save=p, label="decoded from the cue",
                                                         units="µl"),
    })
