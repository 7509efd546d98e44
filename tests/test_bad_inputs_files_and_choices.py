"""Bad input, second round (issue #44): the cases three independent probes found crashing, hanging or silently
accepted, each refused with a clear error or handled correctly. One row per case in CASES (the exception type and
a message naming the parameter, the file or the value); the cases that need a file, a child process or a number
checked against a slow reference have their own tests below."""

import errno
import os
import subprocess
import sys
import textwrap
import warnings

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import drl
import drl.decode as decode
import drl.spice as spice
from drl import Population, RewardDistribution
from drl.responses import Recording, responses_from_recording


def choices(n_sessions=4, n_trials=30, seed=0):
    dataset, _, _ = spice.create_dataset(spice.AgentQ(rng=seed), spice.BanditsDrift(0.2, rng=seed), n_trials,
                                         n_sessions)
    return dataset.xs.numpy(), dataset.ys.numpy()


XS, YS = choices()


def fit(xs=XS, ys=YS, **kw):
    return spice.fit_q_learning(xs, ys, **{"n_restarts": 1, "max_iter": 3, **kw})


def with_participant(value):
    xs = XS.copy()
    xs[0, :, -1] = value
    return xs


TABLE = pd.DataFrame({"participant": [0] * 4, "session": [0] * 4, "trial": range(4), "choice": [0, 1, 0, 1],
                      "reward": [1.0, 0.0, 1.0, 0.0]})
HALF = np.full(YS.shape, 0.5)
TRIALS = pd.DataFrame({"cue_time": [5.0, 15, 25], "reward_time": [6.5, 16.5, 26.5], "magnitude": [1.0, 2, 3],
                       "trial_type": ["a"] * 3})


def recording(**kw):
    return Recording(TRIALS, **kw)


_REC = recording(spike_times=[np.sort(np.random.default_rng(3).uniform(0, 30, 300))])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _FORM = responses_from_recording(_REC, baseline_window=(-1.0, 0.0))


def _spice_fit(**params):
    return spice.SpiceEstimator(spice.RescorlaWagnerRNN, spice.RESCORLA_WAGNER_CONFIG, epochs=1, n_restarts=0,
                                **params).fit(spice.load_choice_table(TABLE))


CASES = [
    # choice data: one declared check (drl.spice.checks) for every fit, prediction and comparison
    ("fit-trials-differ", lambda t: fit(ys=YS[:, :-1]), ValueError,
     r"fit_q_learning: xs and ys must have the same \[sessions, trials\]; got \(4, 29\) and \(4, 28\)"),
    ("fit-sessions-differ", lambda t: fit(ys=YS[:-1]), ValueError, r"same \[sessions, trials\]; got \(4, 29\) and \(3, 29\)"),
    ("fit-max-iter-0", lambda t: fit(max_iter=0), ValueError, r"max_iter must be an integer >= 1 .*got 0"),
    ("fit-zero-trials", lambda t: fit(XS[:, :0], YS[:, :0]), ValueError, r"xs holds no choice: shape \(4, 0, 5\)"),
    ("fit-no-sessions", lambda t: fit(XS[:0], YS[:0]), ValueError, r"xs holds no choice: shape \(0, 29, 5\)"),
    ("fit-seed-str", lambda t: fit(seed="a"), ValueError, r"seed must be an integer in \[0, 2\*\*63\); got 'a'"),
    ("fit-participant-1e7", lambda t: fit(with_participant(1e7)), ValueError,
     r"participant ids \(xs\[..., -1\]\) reach 10000000 with 4 session\(s\)"),
    ("fit-participant-gap", lambda t: fit(with_participant(3)), ValueError, r"participant\(s\) \[0\] have no choice to fit"),
    ("fit-no-steps", lambda t: fit(steps=np.zeros(YS.shape[:2], bool)), ValueError, r"no choice to use"),
    ("fit-steps-not-bool", lambda t: fit(steps=np.full(YS.shape[:2], 0.5)), ValueError, r"steps must be a boolean array"),
    ("fit-ys-doubled", lambda t: fit(ys=2 * YS), ValueError, r"ys must be one-hot .* session 0, trial 0 is \[0.0, 2.0\]|\[2.0, 0.0\]"),
    ("fit-xs-choice-not-one-hot", lambda t: fit(np.concatenate([XS[..., :2] * 3, XS[..., 2:]], -1)), ValueError,
     r"the choice columns of xs .* must be one-hot"),
    ("fit-participant-changes", lambda t: fit(np.concatenate([XS[:, :, :-1], np.where(np.arange(29) < 5, 0, 1)[None, :, None]
                                                              * np.ones((4, 1, 1))], -1)), ValueError,
     r"session 0's participant index .* takes the values \[0.0, 1.0\]"),
    ("compare-doubled", lambda t: spice.compare_models({"m": 2 * HALF}, YS, np.zeros(4)), ValueError,
     r"predictions\['m'\] must be choice probabilities .*session 0, trial 0 is \[1.0, 1.0\] \(sum 2\)"),
    ("compare-logits", lambda t: spice.compare_models({"m": np.log(HALF) + 3}, YS, np.zeros(4)), ValueError,
     r"predictions\['m'\] must be choice probabilities .*Logits go through a softmax"),
    ("compare-n-parameters-negative", lambda t: spice.compare_models({"m": HALF}, YS, np.zeros(4), n_parameters={"m": -5}),
     ValueError, r"n_parameters\['m'\] must be a whole number of parameters ≥ 0; got -5"),
    ("compare-n-parameters-fraction", lambda t: spice.compare_models({"m": HALF}, YS, np.zeros(4), n_parameters={"m": 2.5}),
     ValueError, r"n_parameters\['m'\] must be a whole number .*got 2.5"),
    ("compare-unknown-participant", lambda t: spice.compare_models({"m": HALF}, YS, np.zeros(4), n_parameters={"m": {7: 2}}),
     ValueError, r"n_parameters\['m'\] names participant\(s\) \[7\] that are not among"),
    ("compare-steps-wrong-shape", lambda t: spice.compare_models({"m": HALF}, YS, np.zeros(4), steps=np.ones(3, bool)),
     ValueError, r"steps must be \[sessions, trials\] = \(4, 29\); got shape \(3,\)"),
    ("fit-restarts-1e9", lambda t: fit(n_restarts=10**9), ValueError, r"n_restarts must be an integer from 1 to 1000"),
    ("create-dataset-too-big", lambda t: spice.create_dataset(spice.AgentQ(rng=0), spice.BanditsDrift(0.2, rng=0),
                                                              10**9, 10**3), MemoryError,
     r"1000 sessions × 1000000000 trials × 2 actions need .* GiB of arrays, more than half the memory available"),
    ("create-dataset-progress-str", lambda t: spice.create_dataset(spice.AgentQ(rng=0), spice.BanditsDrift(0.2, rng=0),
                                                                   5, 2, progress="yes"), TypeError,
     r"progress must be True or False; got 'yes'"),
    ("bandits-counterfactual-str", lambda t: spice.BanditsDrift(0.2, counterfactual="no"), TypeError,
     r"counterfactual must be True or False; got 'no'"),
    # a SpiceEstimator stores its parameters as given (scikit-learn's convention); fit refuses bad ones
    ("spice-hidden-negative", lambda t: _spice_fit(hidden_size=-1), ValueError, r"hidden_size must be an integer ≥ 1"),
    ("spice-hidden-1e9", lambda t: _spice_fit(hidden_size=10**9), ValueError,
     r"hidden_size must be an integer ≥ 1 and ≤ 4096"),
    ("spice-participants-fraction", lambda t: _spice_fit(n_participants=0.5), TypeError,
     r"n_participants must be an integer; got 0.5"),
    ("spice-learning-rate-negative", lambda t: _spice_fit(learning_rate=-1), ValueError,
     r"learning_rate must be in \(0, 10\]"),
    ("spice-patience-str", lambda t: _spice_fit(patience="x"), TypeError, r"patience must be an integer; got 'x'"),
    ("spice-rnn-kwargs-typo", lambda t: _spice_fit(rnn_kwargs={"dropuot": 0.1}), TypeError,
     r"unexpected keyword argument 'dropuot'"),  # BaseRNN swallowed unknown arguments (**kwargs) before
    ("spice-rnn-kwargs-list", lambda t: _spice_fit(rnn_kwargs=["dropout"]), TypeError,
     r"rnn_kwargs must be a dict of rnn_class's arguments or None; got \['dropout'\]"),
    ("agent-negative-variance", lambda t: spice.AgentQ(parameter_variance={"beta_reward": -1}), ValueError,
     r"parameter_variance\['beta_reward'\] must be in \[0, inf\]; got -1"),
    # choice tables: memory bounded by the declared arms, codes that collide, trials that repeat
    ("table-choice-999999", lambda t: spice.load_choice_table(TABLE.assign(choice=[0, 1, 0, 999999])), ValueError,
     r"n_actions must be at most 1024 .*got 1000000 \(inferred from the largest choice, 999999"),
    ("table-n-actions-1e7", lambda t: spice.load_choice_table(TABLE, n_actions=10**7), ValueError,
     r"n_actions must be at most 1024 .*got 10000000"),
    ("table-n-actions-str", lambda t: spice.load_choice_table(TABLE, n_actions="2"), TypeError,
     r"n_actions must be an integer or None; got '2'"),
    ("table-reward-minus-one", lambda t: spice.load_choice_table(TABLE.assign(reward=[1, -1, 0, 1])), ValueError,
     r"column 'reward' holds -1 \(rows \[1\]\), the SPICE layout's code for an outcome not shown"),
    ("table-repeated-trial", lambda t: spice.load_choice_table(TABLE.assign(trial=[0, 1, 1, 2])), ValueError,
     r"trial 1 appears twice in session 0 of participant 0 \(row 2\)"),
    ("table-not-csv", lambda t: spice.load_choice_table(_write(t / "x.csv", b"a,b\n1,2,3,4\n\x00\x01")), ValueError,
     r"x.csv is not a readable CSV choice table|lacks column"),
    ("table-too-big", lambda t: spice.load_choice_table(_sparse(t / "big.csv", 2**31)), ValueError,
     r"big.csv holds 2048.0 MiB, more than a choice table \(CSV\) can \(1024.0 MiB at most\): not read"),
    # decoders
    ("wasserstein-list-truth", lambda t: decode.wasserstein([1, 2], [3]), TypeError,
     r"true must be a drl RewardDistribution .*got list \[3\]"),
    ("fit-discount-one-delay", lambda t: decode.fit_discount([2, 2, 2], np.ones((3, 3))), ValueError,
     r"delays must hold at least two distinct delays .*got \[2.0, 2.0, 2.0\]"),
    ("shuffle-control-zero", lambda t: decode.shuffle_control([0.2, 0.5, 0.8], [1, 2, 3], RewardDistribution([1, 3], [0.5, 0.5]),
                                                             n_shuffles=0), ValueError, r"n_shuffles must be an integer >= 1; got 0"),
    ("decode-samples-1e9", lambda t: decode.decode_distribution([0.2, 0.5, 0.8], [1, 2, 3], n_samples=10**9), ValueError,
     r"n_samples must be an integer from 2 to 100000; got 1000000000"),
    ("splits-1e9", lambda t: decode.predict_signs(_FORM, n_splits=10**9), ValueError,
     r"n_splits must be an integer ≥ 1 and ≤ 10000; got 1000000000"),
    # recordings
    ("psth-empty-window", lambda t: drl.plots.psth(_REC, window=[]), ValueError, r"window must be \(start, stop\) in s; got \[\]"),
    ("psth-dict-baseline", lambda t: drl.plots.psth(_REC, baseline_window={}), ValueError, r"baseline_window must be"),
    ("recording-flat-spikes", lambda t: recording(spike_times=np.sort(np.random.default_rng(0).random(50) * 30)), ValueError,
     r"spike_times must hold one array of spike times per unit .*shape \(50,\): for a single unit pass \[spike_times\]"),
    ("recording-scalar-unit", lambda t: recording(spike_times=[1.0, 2.0]), ValueError,
     r"unit 0's spike times must be a 1-D array; got a single number"),
    ("responses-ms-against-s", lambda t: responses_from_recording(
        Recording(TRIALS.assign(cue_time=TRIALS.cue_time * 1000, reward_time=TRIALS.reward_time * 1000),
                  spike_times=[np.linspace(0.1, 29.0, 300)]), baseline_window=(-1, 0)), ValueError,
     r"no trial's windows meet the spikes: .* \(one of them in ms\?\)"),
    ("responses-unrecorded-unknown", lambda t: responses_from_recording(
        recording(spike_times=[np.linspace(0.1, 29.0, 300)]), baseline_window=(-1, 0), unrecorded="zero"), ValueError,
     r"unrecorded must be 'nan' or 'count'; got 'zero'"),
    ("write-nwb-id-column", lambda t: drl.responses.write_nwb(
        recording(spike_times=[np.linspace(0.1, 29.0, 300)], units=pd.DataFrame({"id": ["u1"]})), t / "u.nwb"), ValueError,
     r"the units table's column\(s\) \['id'\] are names NWB's Units table keeps for itself"),
    ("read-nwb-signal-int", lambda t: drl.responses.read_nwb(t / "x.nwb", signal=3), TypeError,
     r"signal must be the path of a TimeSeries .*got int 3"),
    # runs
    ("initial-weights-other-dims", lambda t: drl.simulate("hyp_var", Population.sample(2, seed=0), 3, progress=False,
                                                          initial_weights=xr.DataArray(np.zeros((2, 1, 51)), dims=("a", "b", "c"))),
     ValueError, r"initial_weights as a DataArray must have the dims \['predictor', 'type', 'feature'\] .*got \['a', 'b', 'c'\]"),
]


def _sparse(path, size: int):
    with open(path, "wb") as file:  # a sparse file: its size without its bytes
        file.truncate(size)
    return path


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("call, exception, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(tmp_path, call, exception, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(exception, match=message):
            call(tmp_path)


def test_a_participant_present_in_every_step_fits_as_before():
    """The new checks refuse nothing valid: a full fit, and a head-only fit with steps, still run and agree with
    a fit of the head alone for every participant."""
    whole = fit()
    head = np.zeros(YS.shape[:2], bool)
    head[:, :15] = True
    assert len(whole.parameters) == 4 and np.isfinite(whole.nll).all()
    assert (fit(steps=head).n_choices == 15).all()


# ------------------------------------------------------------------------ files that are not regular files
FIFO_READERS = textwrap.dedent("""
    import os, sys, drl, drl.spice as spice, drl.responses as responses
    fifo = sys.argv[1]
    est = spice.SpiceEstimator(spice.RescorlaWagnerRNN, spice.RESCORLA_WAGNER_CONFIG)
    calls = {
        "load_choice_table": lambda: spice.load_choice_table(fifo),
        "load_spice": lambda: est.load_spice(path_spice=fifo),
        "load_spice_weights": lambda: est.load_spice(path_rnn=fifo),
        "load_spice_dev_zero": lambda: est.load_spice(path_spice="/dev/zero"),
        "read_nwb": lambda: responses.read_nwb(fifo),
        "read_table": lambda: responses.read_table(fifo),
        "read_commonformat": lambda: responses.read_commonformat(fifo),
        "task_from_file": lambda: drl.Task.from_file(fifo),
        "load_run": lambda: drl.load(fifo),
    }
    for name, call in calls.items():
        try:
            call()
            print(name, "ACCEPTED")
        except Exception as error:
            print(name, type(error).__name__, str(error).replace(chr(10), " "))
""")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_or_a_device_is_refused_at_once_by_every_reader(tmp_path):
    """A FIFO blocked pandas and the equations reader until killed, and /dev/zero ran out of memory: each reader
    now refuses them before reading a byte (in a child process with a time limit, so a regression fails here
    instead of hanging the suite)."""
    fifo = tmp_path / "pipe.nc"
    os.mkfifo(fifo)
    result = subprocess.run([sys.executable, "-c", FIFO_READERS, str(fifo)], capture_output=True, text=True,
                            timeout=120)
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert len(lines) == 9, result.stdout + result.stderr
    for name, outcome in lines.items():
        kind = "a character device" if name == "load_spice_dev_zero" else "a named pipe"
        assert outcome.startswith("ValueError") and kind in outcome, (name, outcome)


def test_drl_ls_skips_a_pipe_and_names_a_run_without_its_dimensions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = drl.simulate("hyp_var", Population.sample(3, seed=0), 20, progress=False)
    drl.save(run, "good")
    xr.open_dataset("exps/good.nc").load().rename({"predictor": "neuron"}).to_netcdf("exps/broken.nc")
    os.mkfifo("exps/pipe.nc")
    with pytest.warns(UserWarning, match=r"broken.nc says it is a drl run but lacks the dimension\(s\) \['predictor'\]"):
        listed = drl.list_runs()
    assert listed["name"].tolist() == ["good"]
    result = subprocess.run([sys.executable, "-m", "drl.cli", "ls"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "good" in result.stdout and "pipe" not in result.stdout
    assert "internal error" not in result.stderr


def test_drl_info_of_a_parameter_without_units_and_a_sweep_file_nested_too_deeply(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    drl.save(drl.simulate("hyp_var", Population.sample(3, seed=0), 20, progress=False), "run")
    with netCDF4.Dataset("exps/run.nc", "a") as nc:
        nc.variables["tau"].delncattr("units")
    info = subprocess.run([sys.executable, "-m", "drl.cli", "info", "run"], capture_output=True, text=True, timeout=120)
    assert info.returncode == 0 and "[no units in the file]" in info.stdout, info.stderr
    (tmp_path / "deep.json").write_text('{"out": "x", "base": ' + "[" * 100000 + "]" * 100000 + ', "grid": {}}')
    sweep = subprocess.run([sys.executable, "-m", "drl.cli", "sweep", "deep.json"], capture_output=True, text=True,
                           timeout=120)
    assert sweep.returncode == 2 and "deep.json: nested too deeply to be a sweep file" in sweep.stderr


@pytest.mark.slow
def test_a_damaged_compressed_block_is_an_error_naming_the_file_at_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = drl.simulate("hyp_var", Population.sample(64, seed=0), 300, progress=False)
    path = drl.save(run, "zipped", compression="zlib")
    size = path.stat().st_size
    with open(path, "r+b") as file:  # past the header, into the compressed blocks
        file.seek(int(size * 0.6))
        file.write(np.random.default_rng(0).bytes(20000))
    result = subprocess.run([sys.executable, "-m", "drl.cli", "plot", "zipped"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2 and "internal error" not in result.stderr
    assert "zipped: its data cannot be read" in result.stderr and "the file is damaged" in result.stderr


# ------------------------------------------------------------------------------------------ recordings
def test_windows_outside_a_units_spikes_are_nan_not_silence():
    """A unit whose spikes stop (lost mid-session) read 0 spikes/s for the later trials; now NaN with a warning
    naming it, while the paper's reading (unrecorded='count') keeps the count, checked against counts by hand."""
    alive = np.sort(np.random.default_rng(1).uniform(0, 30, 300))
    lost = alive[alive < 12]  # its last spike before the second trial's baseline
    rec = recording(spike_times={"alive": alive, "lost": lost})
    with pytest.warns(UserWarning, match=r"1 unit\(s\) have trials outside their spikes .*'lost' \(2\)"):
        form = responses_from_recording(rec, baseline_window=(-1.0, 0.0), baseline="trial")
    rewards = form["event"].values == "reward"
    trials = form["trial_response"].sel(neuron="lost").values[rewards]
    assert np.isfinite(trials[0]).sum() == 1 and np.isnan(trials[1:]).all()  # only the first trial is observed
    counted = responses_from_recording(rec, baseline_window=(-1.0, 0.0), baseline="trial", unrecorded="count")
    by_hand = []
    for cue, reward in zip(TRIALS.cue_time, TRIALS.reward_time, strict=True):
        response = ((lost >= reward + 0.2) & (lost < reward + 0.65)).sum() / 0.45
        base = ((lost >= cue - 1.0) & (lost < cue)).sum() / 1.0
        by_hand.append(response - base)
    got = counted["trial_response"].sel(neuron="lost").values[rewards]
    np.testing.assert_allclose(np.sort(got[np.isfinite(got)]), np.sort(by_hand))
    alive_values = form["trial_response"].sel(neuron="alive").values
    np.testing.assert_array_equal(alive_values, counted["trial_response"].sel(neuron="alive").values)


def test_a_nan_sample_of_a_signal_spoils_no_other_window():
    """One dropped frame of a ΔF/F signal made every later window of its unit NaN; each window is now the mean of
    its samples present, equal to numpy's nanmean over the same samples."""
    timestamps = np.arange(3000) * 0.01
    signal = np.random.default_rng(2).normal(size=(3000, 2))
    signal[500, 0] = np.nan  # 5.0 s: inside the first trial's baseline window
    rec = Recording(TRIALS, signal=signal, timestamps=timestamps)
    form = responses_from_recording(rec, baseline_window=(-1.0, 0.0), baseline="trial")
    assert np.isfinite(form["trial_response"].values[np.isfinite(form["trial_response"].values)]).all()
    rewards = form["event"].values == "reward"
    got = form["trial_response"].values[0][rewards]
    got = got[np.isfinite(got)]
    expected = []
    for cue, reward in zip(TRIALS.cue_time, TRIALS.reward_time, strict=True):
        window = (timestamps >= reward + 0.2) & (timestamps < reward + 0.65)
        base = (timestamps >= cue - 1.0) & (timestamps < cue)
        expected.append(np.nanmean(signal[window, 0]) - np.nanmean(signal[base, 0]))
    np.testing.assert_allclose(np.sort(got), np.sort(expected))


def test_write_nwb_cleans_killed_writers_partial_files_and_names_a_full_disk(tmp_path, monkeypatch):
    rec = recording(spike_times=[np.linspace(0.1, 29.0, 300)])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".m.nwb.{int(dead.stdout)}.0badc0de.tmp.nwb"  # a writer killed midway (72 MB once)
    live = tmp_path / f".other.nwb.{os.getpid()}.0badc0de.tmp.nwb"  # a write still going on
    stale.write_bytes(b"partial")
    live.write_bytes(b"partial")
    drl.responses.write_nwb(rec, tmp_path / "m.nwb")
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "m.nwb"])

    import pynwb

    def full(self, *args, **kwargs):
        raise RuntimeError("Disable slist on flush dest failure failed (file write failed)")

    monkeypatch.setattr(pynwb.NWBHDF5IO, "write", full)
    monkeypatch.setattr("shutil.disk_usage", lambda path: type("U", (), {"free": 1000})())
    with pytest.raises(OSError, match=r"the disk holding .* is full .*m2.nwb was not written") as caught:
        drl.responses.write_nwb(rec, tmp_path / "m2.nwb")
    assert caught.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "m.nwb"])


# ------------------------------------------------------------------------------------------ runs and decodes
def test_initial_weights_are_read_by_their_names_not_their_positions():
    pop = Population.sample(3, seed=0)
    first = drl.simulate("hyp_var", pop, 30, progress=False)
    straight = drl.simulate("hyp_var", pop, 5, progress=False, initial_weights=first.weights)
    turned = drl.simulate("hyp_var", pop, 5, progress=False, initial_weights=first.weights.transpose("feature", "type",
                                                                                                      "predictor"))
    xr.testing.assert_identical(straight.value, turned.value)


@pytest.mark.slow
def test_distribution_intervals_refuse_another_runs_intervals():
    pop = Population.sample(12, tau=(0.1, 0.9), seed=0)
    first = drl.simulate("dabney_variable_magnitude", pop, 300, progress=False, seed=1)
    second = drl.simulate("dabney_variable_magnitude", pop, 300, progress=False, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        intervals = decode.reward_response_intervals(first, n_boot=20)
        own = decode.distribution_intervals(first, intervals=intervals, use="tau")
        assert own.sizes["boot"] == 20
        with pytest.raises(ValueError, match="intervals were computed from another run or responses form"):
            decode.distribution_intervals(second, intervals=intervals, use="tau")


# ------------------------------------------------------------------------------------------ every public name
JUNK = [None, 1, -1, 0.5, np.nan, "x", [], [1, 2], {}, np.zeros((2, 2)), True]
PROMISED = (ValueError, TypeError, FileNotFoundError, IsADirectoryError, FileExistsError, OSError, MemoryError)
LONG_RUNNING = {"reproduce", "sweep", "simulate_phases", "interact", "explorer"}  # each refuses junk elsewhere


def test_every_public_callable_given_junk_raises_a_promised_error(tmp_path, monkeypatch):
    """Every public function and class of drl, drl.decode, drl.responses, drl.plots, drl.spice and drl.sweep, given
    one kind of junk for all its required arguments, either accepts it (result containers) or raises a promised
    error with a message; never an AttributeError, IndexError, KeyError or the like from inside (a probe found
    97 such cases, from Schedule to plots.distribution)."""
    import inspect

    import matplotlib.pyplot as plt

    import drl.plots
    import drl.sweep

    monkeypatch.chdir(tmp_path)
    crashes = []
    for module in (drl, decode, drl.responses, drl.plots, spice, drl.sweep):
        for name in module.__all__:
            obj = getattr(module, name)
            if not callable(obj) or name in LONG_RUNNING or (inspect.isclass(obj) and issubclass(obj, BaseException)):
                continue
            try:
                parameters = inspect.signature(obj).parameters.values()
            except (TypeError, ValueError):
                continue
            required = [p for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                                                       p.POSITIONAL_OR_KEYWORD)]
            if not required:
                continue
            for junk in JUNK:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        obj(*[junk] * len(required))
                except PROMISED as error:
                    if not str(error).strip():
                        crashes.append(f"{module.__name__}.{name}({junk!r}): {type(error).__name__} without a message")
                except Exception as error:  # noqa: BLE001 - what this test looks for
                    crashes.append(f"{module.__name__}.{name}({junk!r}): {type(error).__name__}: {error}")
                finally:
                    plt.close("all")
    assert not crashes, "\n".join(crashes[:20])
