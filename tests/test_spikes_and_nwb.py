"""From spikes to decoded maps: Poisson spikes of a simulated run, written to an NWB file with pynwb, read back
and decoded, must recover what the run's own responses say; pynapple objects read the same; bad files and
windows get clear errors.

Tolerances from the spike noise: at 5 spikes/s baseline, bursts up to 20 spikes/s and 25–150 trials per reward
magnitude, a neuron's mean response in the 0.45 s window has a standard error of ~0.5 spikes/s; its reversal
point then moves by ~0.1 std of the reward distribution (measured over seeds: median |error| 0.06–0.08 std, its
95 % bootstrap interval holding the truth for 90 % of neurons) and γ̂ by ~0.01–0.02 (median; up to ~0.08 for the
fastest-discounting neurons, whose responses at long delays are near zero).
"""

import warnings
from datetime import UTC

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from reference_runs import reference_run
from scipy import stats

import drl
from drl import decode, plots, responses

TAU_20 = list((np.arange(20) + 0.5) / 20)


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def dabney():
    run = reference_run("dabney_tau20_discounted")
    distribution = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    std = float(np.sqrt(np.sum(distribution.probabilities * (distribution.values - distribution.mean) ** 2)))
    return run, std


@pytest.fixture(scope="module")
def masset():
    return reference_run("masset_gamma20_slow"), np.linspace(0.5, 0.97, 20)


def test_an_nwb_round_trip_recovers_the_reversal_points(dabney, tmp_path):
    run, std = dabney
    recording = responses.recording_from_run(run, n_trials=460, n_other_units=3, seed=0)
    path = responses.write_nwb(recording, tmp_path / "session.nwb")
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True"):
        responses.write_nwb(recording, path)
    back = responses.read_nwb(path, magnitude_units="µl")
    assert back.n_units == 23 and back.units.index[0] == "u000"
    assert back.units["cell_type"].tolist().count("other") == 3
    for original, read in zip(recording.spike_times, back.spike_times, strict=True):
        np.testing.assert_array_equal(original, read)
    form = responses.responses_from_recording(back, select="cell_type == 'putative_DA'")
    assert form.sizes["neuron"] == 20 and form.attrs["response_units"] == "spikes/s"
    assert "trial" in form.coords  # recorded together: trials shared by every neuron
    truth = _quiet(decode.reward_responses, run)
    default = decode.reward_responses(form, "variable")  # a real neuron's reading: τ̂ bounded, ordered as τ
    assert np.all((default["tau_hat"].values >= 0) & (default["tau_hat"].values <= 1))
    assert stats.spearmanr(default["tau_hat"].values, TAU_20)[0] > 0.8
    # these spikes are Poisson around the model's hinge in µl: its own reading recovers it
    intervals = decode.reward_response_intervals(form, "variable", n_boot=200, reversal_fit="hinge",
                                                 axis="magnitude")
    assert intervals.attrs["resampling"].startswith("trials within magnitude, shared")
    assert intervals.attrs["n_neurons"] == 20 and intervals["neurons"].values.tolist() == [20] * 7
    error = np.abs(intervals["reversal_point"].values - truth["reversal_point"].values) / std
    assert np.median(error) < 0.1, np.round(error, 3)
    inside = ((truth["reversal_point"].values >= intervals["reversal_point_low"].values)
              & (truth["reversal_point"].values <= intervals["reversal_point_high"].values))
    assert inside.mean() >= 0.8
    # τ̂ orders the neurons as τ does, and the distribution decoded from τ̂ is near the one the run decodes
    assert np.corrcoef(intervals["tau_hat"].values, TAU_20)[0, 1] > 0.8
    decoded = _quiet(decode.decode_reward_distribution, form, responses=intervals)
    true = drl.get_task("dabney_variable_magnitude").reward_distribution("variable")
    assert decode.wasserstein(decoded, true) < 1.5  # the run's own decode (true τ): 0.5 µl


def test_gamma_from_spikes_and_the_timing_decode(masset, tmp_path):
    run, gamma = masset
    recording = responses.recording_from_run(run, n_trials=480, seed=2)  # 120 trials per cue
    form = responses.responses_from_recording(responses.read_nwb(responses.write_nwb(recording, tmp_path / "m.nwb")))
    cue = decode.cue_responses(form)
    assert cue.attrs["weighting"] == "inverse variance" and cue.sizes["trial_type"] == 4
    error = np.abs(cue["gamma_hat"].values - gamma)
    assert np.median(error) < 0.03, np.round(error, 3)
    task = drl.get_task("masset_multi_delay")
    for spec in task.trial_types:
        timing = decode.decode_reward_timing(form, spec.name)
        assert timing.attrs["use"] == "gamma_hat"
        mean_delay = float((timing["probability"] * timing["delay"]).sum())
        assert abs(mean_delay - spec.rewards[0].time) < 0.35 * spec.rewards[0].time + 0.5


def test_pynapple_objects_give_the_same_form(dabney):
    import pynapple as nap

    run, _ = dabney
    recording = responses.recording_from_run(run, n_trials=100, seed=3)
    group = nap.TsGroup({i: nap.Ts(t) for i, t in enumerate(recording.spike_times)}, time_support=nap.IntervalSet(
        0, max(t[-1] for t in recording.spike_times) + 1), metadata={"cell_type": recording.units["cell_type"].values})
    trials = recording.trials
    intervals = nap.IntervalSet(start=trials["cue_time"] - 4.5, end=trials["cue_time"] + 3.0,
                                metadata={c: trials[c].to_numpy() for c in ("cue_time", "reward_time", "magnitude",
                                                                           "trial_type")})
    from_pynapple = responses.recording_from_pynapple(group, intervals)
    assert from_pynapple.units.columns.tolist() == ["cell_type"]
    a = responses.responses_from_recording(from_pynapple)
    b = responses.responses_from_recording(recording)
    np.testing.assert_allclose(a["trial_response"].values, b["trial_response"].values, equal_nan=True)
    # a continuous signal (TsdFrame): the window means of a known signal
    t = np.arange(0, trials["cue_time"].iloc[-1] + 10, 0.01)
    signal = nap.TsdFrame(t=t, d=np.stack([np.sin(t), t], 1), columns=["roi0", "roi1"])
    form = responses.responses_from_recording(responses.recording_from_pynapple(signal, intervals), baseline="trial")
    cue = trials["cue_time"].to_numpy()
    # roi1 is time itself: window mean minus baseline mean = (0.425) − (−2.5) s after subtracting, on every cue
    cue_trials = form["trial_response"].sel(neuron="roi1").values[form["event"].values == "cue"]
    assert np.allclose(cue_trials[np.isfinite(cue_trials)], 0.425 + 2.5, atol=0.011)
    assert len(cue) == 100


def test_partial_conditions_are_used_as_far_as_each_neuron_has_them(dabney):
    run, std = dabney
    recording = responses.recording_from_run(run, n_trials=460, seed=4)
    form = responses.responses_from_recording(recording)
    reward = np.flatnonzero(form["event"].values == "reward")
    trials = form["trial_response"].values.copy()
    trials[:5, reward[-1]] = np.nan  # five neurons never saw the largest reward
    trials[5, reward[:6]] = np.nan  # one neuron saw only the largest: no reversal point
    partial = responses.responses_form(_nanmean(trials), trial_response=trials, event=form["event"].values,
                                       trial_type=form["trial_type"].values, magnitude=form["magnitude"].values,
                                       delay=form["delay"].values, neuron=form["neuron"].values)
    for axis in ("utility", "magnitude"):
        out = decode.reward_responses(partial, "variable", axis=axis)
        assert out["neurons"].values.tolist() == [19] * 6 + [15]
        assert out.attrs["n_neurons"] == 19 and np.isnan(out["reversal_point"].values[5])
        assert np.all(out["reversal_point"].values[:5] <= 10)  # read on their own magnitudes (up to 10 µl)
    # on the magnitude axis a neuron's estimates are its own (the utility axis is the population's)
    full = decode.reward_responses(form, "variable", axis="magnitude")
    others = np.r_[6:20]
    np.testing.assert_allclose(out["reversal_point"].values[others], full["reversal_point"].values[others])
    interval = decode.reward_response_intervals(partial, "variable", n_boot=50)
    assert np.isfinite(interval["reversal_point_low"].values[others]).all()
    assert _quiet(decode.decode_reward_distribution, partial, "variable").samples.size == 100


def _nanmean(trials):
    counted = np.isfinite(trials).sum(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted > 0, np.nan_to_num(trials).sum(2) / counted, np.nan)


def test_psth_and_raster_draw_every_condition_with_the_windows(dabney):
    run, _ = dabney
    recording = responses.recording_from_run(run, n_trials=200, seed=5)
    fig = plots.psth(recording)
    assert len(fig.axes) == 2 and "aligned to the reward" in fig.axes[1].get_title()
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert "response window" in labels and "baseline window" in labels
    assert sum("variable" in label for label in labels) == 1
    fig = plots.psth(recording, ["u000", "u019"], by="magnitude", save="psth")
    assert len(fig.axes) == 4 and sum(len(ax.lines) > 5 for ax in fig.axes) == 4  # 7 magnitudes each
    fig = plots.raster(recording, "u010", save="raster")
    assert fig.axes[0].collections  # the spikes
    import os

    assert os.path.getsize("figs/psth.png") > 10_000 and os.path.getsize("figs/raster.png") > 10_000
    with pytest.raises(ValueError, match=r"no unit\(s\) \['u999'\]"):
        plots.raster(recording, "u999")
    with pytest.raises(ValueError, match="at most 8 neurons"):
        plots.psth(recording, list(recording.units.index))


def test_bad_recordings_and_files_get_clear_errors(dabney, tmp_path):
    run, _ = dabney
    recording = responses.recording_from_run(run, n_trials=40, seed=6)
    trials, spikes = recording.trials[["cue_time", "reward_time", "magnitude", "trial_type"]], recording.spike_times
    cases = [
        (dict(trials=trials.drop(columns="magnitude"), spike_times=spikes), "no column(s) ['magnitude']"),
        (dict(trials=trials.iloc[:0], spike_times=spikes), "no rows"),
        (dict(trials=trials.iloc[::-1], spike_times=spikes), "first events (cue, or the reward of an uncued trial) "
                                                             "must increase"),
        (dict(trials=trials.assign(reward_time=trials.cue_time - 1), spike_times=spikes), "reward comes before its cue"),
        (dict(trials=trials, spike_times=(spikes[0], np.array([]))), "unit 1 has no spikes"),
        (dict(trials=trials, spike_times={"a": spikes[0], "b": np.array([1.0, np.inf])}), "unit 'b' has non-finite"),
        (dict(trials=trials), "give spike_times"),
        (dict(trials=trials.assign(cue_time="x"), spike_times=spikes), "must hold finite numbers"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                           .replace("]", r"\]")):
            responses.Recording(**kwargs)
    with pytest.raises(ValueError, match="overlaps trial 1's baseline window"):
        responses.responses_from_recording(recording, response_window=(0.2, 9.0))
    late_rewards = responses.Recording(trials.assign(reward_time=trials.cue_time + 30), spikes)
    with pytest.raises(ValueError, match="overlaps trial 1's baseline window"):  # a reward after the next cue
        responses.responses_from_recording(late_rewards)
    with pytest.raises(ValueError, match="before the session's clock starts"):
        responses.responses_from_recording(recording, baseline_window=(-40.0, -1.0))
    with pytest.raises(ValueError, match="response_window must be .start, stop. in s with start < stop"):
        responses.responses_from_recording(recording, response_window=(0.6, 0.2))
    with pytest.raises(ValueError, match="select=.* keeps no unit"):
        responses.responses_from_recording(recording, select="cell_type == 'astrocyte'")
    with pytest.raises(ValueError, match="is not a query on the units table"):
        recording.select("no_such_column > 1")
    # files
    with pytest.raises(FileNotFoundError, match="no NWB file at"):
        responses.read_nwb(tmp_path / "missing.nwb")
    (tmp_path / "text.nwb").write_text("not hdf5")
    with pytest.raises(ValueError, match="is not a readable NWB file"):
        responses.read_nwb(tmp_path / "text.nwb")
    path = responses.write_nwb(recording, tmp_path / "ok.nwb")
    with pytest.raises(ValueError, match="has no trials table 'odours'"):
        responses.read_nwb(path, trials="odours")
    with pytest.raises(ValueError, match=r"no column\(s\) \[\"magnitude='volume'\"\]"):
        responses.read_nwb(path, magnitude="volume")
    with pytest.raises(ValueError, match="no TimeSeries at signal="):
        responses.read_nwb(path, signal="processing/ophys/DfOverF")
    with pytest.raises(TypeError, match="IntervalSet .with metadata. or a DataFrame"):
        responses.recording_from_pynapple(None, [1, 2])


def test_a_file_without_units_or_trials_is_named(tmp_path):
    from datetime import datetime

    from pynwb import NWBHDF5IO, NWBFile

    nwbfile = NWBFile(session_description="empty", identifier="x", session_start_time=datetime(2026, 1, 1,
                                                                                               tzinfo=UTC))
    with NWBHDF5IO(tmp_path / "empty.nwb", "w") as io:
        io.write(nwbfile)
    with pytest.raises(ValueError, match="has no trials table 'trials'"):
        responses.read_nwb(tmp_path / "empty.nwb")
    nwbfile = NWBFile(session_description="trials only", identifier="y", session_start_time=datetime(
        2026, 1, 1, tzinfo=UTC))
    for column in ("cue_time", "reward_time", "magnitude", "trial_type"):
        nwbfile.add_trial_column(column, column)
    nwbfile.add_trial(start_time=0.0, stop_time=1.0, cue_time=5.0, reward_time=6.0, magnitude=1.0, trial_type="a")
    with NWBHDF5IO(tmp_path / "trials.nwb", "w") as io:
        io.write(nwbfile)
    with pytest.raises(ValueError, match="has no Units table"):
        responses.read_nwb(tmp_path / "trials.nwb")


def test_sessions_combine_into_one_form_of_all_their_neurons(dabney):
    """Neurons pooled across sessions (one NWB file each): conditions matched, a condition one session lacks left
    NaN for its neurons, each neuron read exactly as in its own session, trials no longer shared."""
    run, _ = dabney
    first = responses.responses_from_recording(responses.recording_from_run(run, n_trials=300, seed=7), name="day1")
    second = responses.responses_from_recording(responses.recording_from_run(run, n_trials=200, seed=8), name="day2")
    largest = int(np.flatnonzero(second["event"].values == "reward")[-1])
    second = second.isel(condition=[c for c in range(second.sizes["condition"]) if c != largest])
    both = responses.combine_sessions([first, second])
    assert both.sizes["neuron"] == 40 and "trial" not in both.coords
    assert both["neuron"].values[0] == "day1/u000" and both["session"].values.tolist() == ["day1"] * 20 + ["day2"] * 20
    assert both.attrs["task_name"] == "day1+day2" and both["cell_type"].values[25] == "putative_DA"
    out = decode.reward_responses(both, "variable", reversal_fit="hinge", axis="magnitude")
    assert out["neurons"].values.tolist() == [40] * 6 + [20]
    # on the magnitude axis each neuron's estimate is its own (the utility axis is the pooled population's)
    alone = [decode.reward_responses(form, "variable", reversal_fit="hinge", axis="magnitude")
             for form in (first, second)]
    step = np.ptp(out["magnitude"].values) / 2000  # the hinge fit's grid over the pooled magnitudes
    np.testing.assert_allclose(out["reversal_point"].values[:20], alone[0]["reversal_point"].values, atol=step)
    np.testing.assert_allclose(out["reversal_point"].values[20:], alone[1]["reversal_point"].values, atol=step)
    intervals = decode.reward_response_intervals(both, "variable", n_boot=20)
    assert intervals.attrs["resampling"] == "single trials per neuron and magnitude"
    with pytest.raises(ValueError, match="distinct session names"):
        responses.combine_sessions([first, first], names=["a", "a"])
    with pytest.raises(ValueError, match="are the same session"):  # would count every neuron twice
        responses.combine_sessions([first, first])
    with pytest.raises(ValueError, match="are the same session"):
        responses.combine_sessions([first, first.copy(deep=True)], names=["a", "b"])
    # a cue is one condition across sessions, whatever each session's mean reward (its magnitude) was
    cues = both["event"].values == "cue"
    assert sorted(both["trial_type"].values[cues].tolist()) == sorted(set(first["trial_type"].values[
        first["event"].values == "cue"].tolist()))
    expected = [(first["magnitude"].values[first["event"].values == "cue"][0] * 300
                 + second["magnitude"].values[second["event"].values == "cue"][0] * 200) / 500]
    assert np.allclose(both["magnitude"].values[cues][:1], expected)
    with pytest.raises(ValueError, match="differ in signal"):
        responses.combine_sessions([first, _quiet(responses.responses_from_run, run, reward=True)])
    with pytest.raises(TypeError, match=r"forms\[1\] is not a responses form"):
        responses.combine_sessions([first, run])


def _omission_session(seed=0, n=60):
    """A lab-style session: CS+ trials rewarded 6 or 12 µl 1.5 s after the cue or omitted (magnitude 0, no reward
    time), and CS− trials without reward (magnitude NaN); units fire more after larger rewards."""
    rng = np.random.default_rng(seed)
    cue = 10.0 * np.arange(1, n + 1)
    kind = np.where(np.arange(n) % 5 == 0, "CS-", "CS+")
    magnitude = np.where(kind == "CS-", np.nan, rng.choice([0.0, 6.0, 12.0], n))
    reward = np.where(magnitude > 0, cue + 1.5, np.nan)
    trials = pd.DataFrame({"cue_time": cue, "reward_time": reward, "magnitude": magnitude, "trial_type": kind})
    spikes = []
    for _ in range(3):
        background = rng.uniform(0, cue[-1] + 5, 2500)
        bursts = [c + 1.5 + rng.uniform(0.2, 0.6, int(m // 2)) for c, m in zip(cue, np.nan_to_num(magnitude),
                                                                                   strict=True)]
        spikes.append(np.sort(np.concatenate([background, *bursts])))
    return responses.Recording(trials, spikes, magnitude_units="µl")


def test_omissions_and_unrewarded_cues_are_read_and_coloured_as_one_condition_each():
    recording = _omission_session()
    form = responses.responses_from_recording(recording)
    reward = form["event"].values == "reward"
    assert sorted(form["magnitude"].values[reward].tolist()) == [0.0, 6.0, 12.0]  # the omission at its delay
    assert np.allclose(form["delay"].values[reward], 1.5)
    assert not np.any(reward & (form["trial_type"].values == "CS-"))  # a cue without reward has no outcome
    omission = form["response"].values[:, reward & (form["magnitude"].values == 0)]
    largest = form["response"].values[:, reward & (form["magnitude"].values == 12)]
    assert np.all(largest > omission)
    for by in ("magnitude", "trial_type"):
        fig = plots.psth(recording, by=by)
        legend = {text.get_text().split(" (")[0]: handle.get_color()
                  for text, handle in zip(fig.axes[1].get_legend().get_texts(), fig.axes[1].get_legend().legend_handles,
                                          strict=True) if not text.get_text().endswith("window")}
        expected = {"magnitude": ["0 µl", "6 µl", "12 µl", "no reward"], "trial_type": ["CS+", "CS-"]}[by]
        assert list(legend) == expected
        colours = [to_hex(c) for c in legend.values()]
        assert len(set(colours)) == len(colours)
        for ax in fig.axes[:2]:  # every line drawn in either panel has its condition's one colour
            assert {to_hex(line.get_color()) for line in ax.get_lines() if len(line.get_xdata()) > 2} <= set(colours)
        drawn_at_reward = {to_hex(line.get_color()) for line in fig.axes[1].get_lines() if len(line.get_xdata()) > 2}
        if by == "magnitude":  # the CS− trials have no reward: not drawn there, and no other line took their colour
            assert to_hex(legend["no reward"]) not in drawn_at_reward and len(drawn_at_reward) == 3
        raster = plots.raster(recording, 0, by=by)
        raster_legend = [t.get_text() for t in raster.axes[1].get_legend().get_texts()
                         if not t.get_text().endswith("window")]
        assert raster_legend == expected


def test_a_trials_table_without_trial_types_reads_as_one(tmp_path):
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.misc import Units  # noqa: F401 (the units table is added below)

    nwbfile = NWBFile(session_description="one cue", identifier="x", session_start_time=pd.Timestamp("2026-01-01",
                                                                                                      tz="UTC"))
    for column in ("cue_time", "reward_time", "magnitude"):
        nwbfile.add_trial_column(column, column)
    for k in range(20):
        nwbfile.add_trial(start_time=10.0 * k + 5, stop_time=10.0 * k + 8, cue_time=10.0 * k + 5,
                          reward_time=10.0 * k + 6.5, magnitude=float(1 + k % 2))
    nwbfile.add_unit(spike_times=np.sort(np.random.default_rng(0).uniform(0, 210, 800)))
    with NWBHDF5IO(tmp_path / "one.nwb", "w") as io:
        io.write(nwbfile)
    recording = responses.read_nwb(tmp_path / "one.nwb")
    assert set(recording.trials["trial_type"]) == {"trial"} and len(recording.trials) == 20
    with pytest.raises(TypeError, match="signal must be the path of a TimeSeries"):
        responses.read_nwb(tmp_path / "one.nwb", signal=3)


def test_the_documented_pynapple_route_reads_what_read_nwb_reads(tmp_path):
    import pynapple as nap
    from pynwb import NWBHDF5IO

    recording = _omission_session(seed=2)
    recording.units["location"] = ["VTA", "VTA", "SNc"]
    path = responses.write_nwb(recording, tmp_path / "s.nwb")
    units = nap.load_file(path)["units"]
    with NWBHDF5IO(path, "r") as io:
        trials = io.read().trials.to_dataframe()
    via_pynapple = responses.recording_from_pynapple(units, trials, magnitude_units="µl")
    via_pynwb = responses.read_nwb(path, magnitude_units="µl")
    assert via_pynapple.units.index.tolist() == via_pynwb.units.index.tolist() == [0, 1, 2]
    assert via_pynapple.units["location"].tolist() == ["VTA", "VTA", "SNc"]
    np.testing.assert_array_equal(*(responses.responses_from_recording(r)["trial_response"].values
                                    for r in (via_pynapple, via_pynwb)))
