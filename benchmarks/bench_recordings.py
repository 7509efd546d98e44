"""From an NWB file to decoded numbers: seconds per step for a recording session. Prints figures; asserts nothing.

A session of ``--units`` units (5 spikes/s baseline, bursts to 20 spikes/s) over ``--trials`` trials of the
Sousa et al. 2025 task (four delays and a variable reward), simulated from a τ × γ run
(:func:`drl.responses.recording_from_run`), written with pynwb, then timed step by step: reading the file
(:func:`drl.responses.read_nwb`), the responses form (rates in the response and baseline windows of every unit and
trial), reward responses with 200 bootstrap replicates, γ̂ per unit, and the timing decode. Beside it, the peer a
user writes without drl: pynwb to read, then for each unit and trial a numpy mask counting spikes in each window
(checked against drl's form first).

Run: .venv/bin/python benchmarks/bench_recordings.py [--units 100] [--trials 500]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np

import drl
from drl import decode, responses


def peer_rates(path: str) -> np.ndarray:
    """[unit, trial] baseline-subtracted cue-window rates, the way a user writes it with pynwb and numpy."""
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        trials = nwbfile.trials.to_dataframe()
        spikes = [np.asarray(nwbfile.units.spike_times_index[i]) for i in range(len(nwbfile.units))]
    cue = trials["cue_time"].to_numpy()
    out = np.empty((len(spikes), cue.size))
    base = np.empty_like(out)
    for u, times in enumerate(spikes):
        for i, c in enumerate(cue):
            out[u, i] = np.sum((times >= c + 0.2) & (times < c + 0.65)) / 0.45
            base[u, i] = np.sum((times >= c - 4.0) & (times < c - 1.0)) / 3.0
    return out - base.mean(1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--trials", type=int, default=500)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    n_tau = 5
    gammas = np.linspace(0.5, 0.97, max(2, args.units // n_tau))
    population = drl.Population.grid(tau=list(np.linspace(0.1, 0.9, n_tau)), gamma=list(gammas), alpha=0.05, lam=0.95)
    run = drl.simulate("sousa_2025", population, max(2 * args.trials, 1000), seed=0, progress=False)
    recording = responses.recording_from_run(run, n_trials=args.trials, seed=0)
    n_spikes = sum(t.size for t in recording.spike_times)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "session.nwb")
        start = time.perf_counter()
        responses.write_nwb(recording, path)
        steps = {"write_nwb": time.perf_counter() - start}
        size = os.path.getsize(path)
        start = time.perf_counter()
        back = responses.read_nwb(path)
        steps["read_nwb"] = time.perf_counter() - start
        start = time.perf_counter()
        form = responses.responses_from_recording(back)
        steps["responses_from_recording"] = time.perf_counter() - start
        start = time.perf_counter()
        decode.reward_response_intervals(form, "variable", n_boot=200)
        steps["reward_response_intervals (200 boot)"] = time.perf_counter() - start
        start = time.perf_counter()
        decode.cue_responses(form)
        steps["cue_responses (γ̂ per unit)"] = time.perf_counter() - start
        start = time.perf_counter()
        decode.decode_reward_timing(form, "variable")
        steps["decode_reward_timing"] = time.perf_counter() - start
        start = time.perf_counter()
        peer = peer_rates(path)
        peer_seconds = time.perf_counter() - start
    cue = form["event"].values == "cue"
    ours = np.full(peer.shape, np.nan)
    for c in np.flatnonzero(cue):  # the form's cue trials back in trial order, to check the peer
        ids = form["trial"].values[c]
        ours[:, ids[ids >= 0]] = form["trial_response"].values[:, c, ids >= 0]
    agree = np.allclose(ours, peer)
    total = sum(steps.values()) - steps["write_nwb"]
    print(f"{recording.n_units} units × {args.trials} trials, {n_spikes:,} spikes, NWB file {size / 2**20:.1f} MiB")
    print("| step | s |\n| --- | --- |")
    for name, seconds in steps.items():
        print(f"| {name} | {seconds:.3f} |")
    print(f"| read + form + decodes (no write) | {total:.3f} |")
    read_and_form = steps["read_nwb"] + steps["responses_from_recording"]
    print(f"\npeer (pynwb + a numpy mask per unit and trial, cue window only): {peer_seconds:.3f} s; drl's read + "
          f"form (cue and reward windows): {read_and_form:.3f} s = {peer_seconds / read_and_form:.1f}× faster; "
          f"same rates: {agree}")


if __name__ == "__main__":
    main()
