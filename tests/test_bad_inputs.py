"""Bad input at the boundaries: one row per case, each asserting the exception type and a message that names
the parameter and the value. The table grows with every boundary validated (docs/guide/development.md, issue #16)."""

import re

import numpy as np
import pytest

import drl
import drl.plots
import drl.spice
import drl.sweep
from drl import Population

TASK = "hyp_unif"


def simulate(**kw):
    return drl.simulate(TASK, Population.sample(2, seed=0), kw.pop("n_trials", 5), progress=False, **kw)


def save_small(tmp_path, **kw):
    return drl.save(simulate(), tmp_path / "x.nc", **kw)


CASES = [
    # (id, call, exception, message regex)
    ("overwrite-str-save", lambda t: save_small(t, overwrite="no"), TypeError, r"overwrite must be True or False; got 'no'"),
    ("overwrite-int-save", lambda t: save_small(t, overwrite=1), TypeError, r"overwrite must be True or False; got 1"),
    ("overwrite-none-save", lambda t: save_small(t, overwrite=None), TypeError, r"overwrite must be True or False; got None"),
    ("overwrite-str-stream", lambda t: simulate(out=t / "s.nc", overwrite="yes"), TypeError,
     r"overwrite must be True or False; got 'yes'"),
    ("overwrite-str-memory", lambda t: simulate(overwrite="no"), TypeError, r"overwrite must be True or False; got 'no'"),
    ("block-trials-negative", lambda t: simulate(block_trials=-1), ValueError, r"block_trials must be an integer >= 1.*-1"),
    ("block-trials-zero", lambda t: simulate(block_trials=0), ValueError, r"block_trials must be an integer >= 1.*got 0"),
    ("block-trials-float", lambda t: simulate(block_trials=2.5), ValueError, r"block_trials .* got 2.5"),
    ("block-trials-bool", lambda t: simulate(block_trials=True), ValueError, r"block_trials .* got True"),
    ("block-trials-str", lambda t: simulate(block_trials="10"), ValueError, r"block_trials .* got '10'"),
    ("record-trials-float", lambda t: simulate(record_trials=2.5), TypeError, r"record_trials must be .*got 2.5"),
    ("record-trials-integral-float", lambda t: simulate(record_trials=3.0), TypeError, r"record_trials .*got 3.0"),
    ("record-trials-bool", lambda t: simulate(record_trials=True), TypeError, r"record_trials .*got True"),
    ("record-trials-str", lambda t: simulate(record_trials="3"), TypeError, r"record_trials .*got '3'"),
    ("record-trials-float-list", lambda t: simulate(record_trials=[1.5, 2.0]), TypeError,
     r"record_trials as trial indices must be a 1-D sequence of integers; got \[1.5, 2.0\]"),
    ("record-trials-2d", lambda t: simulate(record_trials=[[1, 2]]), TypeError, r"record_trials as trial indices .*\[\[1, 2\]\]"),
    ("record-trials-zero-stride", lambda t: simulate(record_trials=0), ValueError, r"record_trials as an int is a stride.*got 0"),
    ("record-trials-out-of-range", lambda t: simulate(record_trials=[0, 9]), ValueError, r"record_trials must be in \[0, 4\]; got 0…9"),
    ("record-trials-empty-slice", lambda t: simulate(record_trials=slice(3, 3)), ValueError, r"record_trials selects no trial"),
    ("options-with-rule", lambda t: simulate(rule="quantile", options=drl.EngineOptions()), ValueError,
     r"pass either options= or rule=, not both"),
    ("options-wrong-type", lambda t: simulate(options={"rule": "quantile"}), TypeError,
     r"options must be a drl.EngineOptions; got dict"),
    ("convention-3", lambda t: drl.EngineOptions(convention=3), ValueError, r"convention must be 1 or 2; got 3"),
    ("convention-bool", lambda t: drl.EngineOptions(convention=True), ValueError, r"convention must be 1 or 2; got True"),
    ("normalize-trace-str", lambda t: drl.EngineOptions(normalize_trace="yes"), TypeError,
     r"normalize_trace must be True or False; got 'yes'"),
    ("bootstrap-unknown", lambda t: simulate(bootstrap="imputation"), ValueError,
     r"unknown bootstrap 'imputation'.*'imputed'"),
    ("save-into-folder", lambda t: drl.save(simulate(), _folder(t), overwrite=True), IsADirectoryError,
     r"dir.nc is a folder"),
    ("return-distribution-gamma", lambda t: drl.get_task("masset_multi_delay").return_distribution("delay_1.5s", 1.5),
     ValueError, r"gamma .*1.5"),
    ("return-distribution-time", lambda t: drl.get_task("masset_multi_delay").return_distribution("delay_1.5s", 0.9,
                                                                                                  time=99.0),
     ValueError, r"time must be within \[0, .*\] s; got 99"),
    ("return-distribution-type", lambda t: drl.get_task("masset_multi_delay").return_distribution("delay_1.6s"),
     ValueError, r"delay_1.6s"),
    ("convergence-tolerance", lambda t: drl.convergence(simulate(), tolerance=0), ValueError, r"tolerance"),
    ("convergence-fraction", lambda t: drl.convergence(simulate(), learned_fraction=1.5), ValueError,
     r"learned_fraction"),
    ("convergence-not-a-run", lambda t: drl.convergence(42), TypeError, r"run must be an xarray.Dataset.*got int"),
    ("cue-values-type", lambda t: drl.decode.cue_values(simulate(), "hyp_unf"), ValueError,
     r"unknown trial type 'hyp_unf'"),
    # task specs given the wrong containers or sizes
    ("trial-type-rewards-none", lambda t: drl.TrialType("a", 0.0, rewards=None), TypeError,
     r"rewards of 'a' must be a tuple of RewardEvent .*got None"),
    ("trial-type-rewards-str", lambda t: drl.TrialType("a", 0.0, rewards="big"), TypeError, r"rewards of 'a' .*got 'big'"),
    ("task-trial-types-none", lambda t: drl.Task("t", 1.0, 0.1, None), TypeError,
     r"trial_types must be a tuple of TrialType .*got None"),
    ("task-trial-types-floats", lambda t: drl.Task("t", 1.0, 0.1, (1.0,)), TypeError,
     r"trial_types\[0\] must be a TrialType .*got float"),
    ("task-dt-absurd", lambda t: drl.Task("t", 10.0, 2e-5, (drl.TrialType("a", 0.0),)), ValueError,
     r"dt = 2e-05 s over duration = 10 s gives 500001 steps .*coarser dt"),
    # seeds: reproducible or refused
    ("schedule-seed-negative", lambda t: drl.get_task(TASK).schedule(5, seed=-1), TypeError,
     r"seed must be an integer >= 0 .*got -1"),
    ("schedule-seed-none", lambda t: drl.get_task(TASK).schedule(5, seed=None), TypeError, r"seed .*got None"),
    ("schedule-seed-float", lambda t: drl.get_task(TASK).schedule(5, seed=1.5), TypeError, r"seed .*got 1.5"),
    ("simulate-seed-negative", lambda t: simulate(seed=-1), TypeError, r"seed must be an integer >= 0 .*got -1"),
    ("simulate-seed-none", lambda t: simulate(seed=None), TypeError, r"seed .*got None"),
    ("simulate-seed-str", lambda t: simulate(seed="0"), TypeError, r"seed .*got '0'"),
    ("simulate-seed-bool", lambda t: simulate(seed=True), TypeError, r"seed .*got True"),
    # simulate's other arguments
    ("n-trials-absurd", lambda t: simulate(n_trials=10**12), drl.RunTooLargeError,
     r"1000000000000 trials .*needs .*TB .*the trial schedule .*record_trials=10"),
    ("record-times-nan", lambda t: simulate(record_times=[float("nan")]), ValueError,
     r"record_times must be finite times in s; got \[nan\]"),
    ("record-times-none-entry", lambda t: simulate(record_times=[None]), ValueError, r"record_times must be finite.*None"),
    ("record-times-str", lambda t: simulate(record_times="1"), TypeError, r"record_times must be times in s .*got '1'"),
    ("record-times-dict", lambda t: simulate(record_times={"a": 1}), TypeError, r"record_times must be times in s"),
    ("record-none", lambda t: simulate(record=None), TypeError, r"record must be a tuple of variable names.*got None"),
    ("progress-str", lambda t: drl.simulate(TASK, Population.sample(2), 3, progress="yes"), TypeError, r"progress must be True, False or None.*'yes'"),
    ("device-mps", lambda t: simulate(device="mps"), ValueError, r"device 'mps' does not exist here"),
    ("task-none", lambda t: drl.simulate(None, Population.sample(2), 3), TypeError,
     r"task must be a drl.Task, a registered task name or a spec file path; got None"),
    ("task-int", lambda t: drl.simulate(3, Population.sample(2), 3), TypeError, r"task must be .*got 3"),
    # populations with non-numeric entries
    ("population-gamma-str-list", lambda t: Population.sample(3, gamma=["a", 0.5]), TypeError,
     r"gamma values must be numbers; got \['a', 0.5\]"),
    ("population-lam-none-list", lambda t: Population.sample(3, lam=[None, 0.5]), TypeError,
     r"lam values must be numbers; got \[None, 0.5\]"),
    ("population-tau-str-range", lambda t: Population.sample(3, tau=("a", 0.9)), TypeError, r"tau values must be numbers"),
    ("population-alpha-str-array", lambda t: Population.sample(3, alpha=np.array(["x", "y", "z"])), TypeError,
     r"alpha values must be numbers"),
    # names that are shown, stored and compared: no control characters, bounded length (issue #32)
    ("task-name-nul", lambda t: drl.Task("n\0l", 1.0, 0.1, (drl.TrialType("a", 0.0),)), ValueError,
     r"task name must not contain control characters; got 'n\\x00l'"),
    ("trial-type-nul", lambda t: drl.TrialType("a\0b", 0.0), ValueError,
     r"trial type name must not contain control characters"),
    ("task-name-long", lambda t: drl.Task("x" * 101, 1.0, 0.1, (drl.TrialType("a", 0.0),)), ValueError,
     r"task name must be at most 100 characters; got 101"),
    ("run-name-folder", lambda t: drl.save(simulate(), "folder/"), ValueError,
     r"a run is named by a file name, not a folder; got 'folder/'"),
    ("run-name-long", lambda t: drl.save(simulate(), "x" * 245), ValueError,
     r"a run name must be at most 200 characters .*got 245"),
    ("run-name-nul", lambda t: drl.save(simulate(), "a\0b"), ValueError, r"must not contain a NUL byte"),
    ("sweep-out-absolute", lambda t: drl.sweep.sweep({"task": TASK, "n_trials": 5}, {"gamma": [0.5]}, out=str(t / "abs"),
                                                     progress=False), ValueError, r"out must be a folder name under exps/"),
    ("sweep-out-parent", lambda t: drl.sweep.sweep({"task": TASK, "n_trials": 5}, {"gamma": [0.5]}, out="../..",
                                                   progress=False), ValueError, r"out must be a folder name under exps/.*'\.\./\.\.'"),
    ("sweep-seed-negative", lambda t: drl.sweep.sweep({"task": TASK, "n_trials": 5, "seed": -1}, {"gamma": [0.5]},
                                                      out="s", progress=False), TypeError, r"base seed must be an integer >= 0.*got -1"),
    ("sweep-seed-float", lambda t: drl.sweep.sweep({"task": TASK, "n_trials": 5, "seed": 1.5}, {"gamma": [0.5]},
                                                   out="s", progress=False), TypeError, r"base seed must be an integer >= 0.*got 1.5"),
    ("fit-discount-grid-1", lambda t: drl.decode.fit_discount([1, 2], [[0.5, 0.25]], n_grid=1), ValueError,
     r"n_grid must be an integer >= 3"),
    ("decode-timing-huge-grid", lambda t: drl.decode.decode_timing([0.5, 0.9], [0.5, 0.6], np.linspace(0, 10, 100_000)),
     ValueError, r"times has 100000 delays: the fit would need a 100002 × 100000 matrix \(74.5 GiB\)"),
    ("val-over-t-fps-inf", lambda t: drl.plots.val_over_t(simulate(), fps=float("inf")), ValueError,
     r"fps must be a finite number > 0; got inf"),
    # files and folders
    ("load-none", lambda t: drl.load(None), TypeError, r"a run is named by a string or a path; got None"),
    ("load-folder", lambda t: drl.load(t), IsADirectoryError, r"is a folder, not a run .*open_sweep"),
    ("save-name-none", lambda t: drl.save(simulate(), None), TypeError, r"a run is named by a string or a path; got None"),
    ("list-runs-missing-folder", lambda t: drl.list_runs(t / "nope"), FileNotFoundError, r"no folder .*nope to list runs"),
    # decoder helpers
    ("expectiles-none", lambda t: drl.decode.expectiles(None, [0.5]), TypeError,
     r"distribution must be a drl.RewardDistribution .*got NoneType"),
    ("decode-distribution-none", lambda t: drl.decode.decode_distribution(None, None), ValueError,
     r"levels must be a non-empty 1-D array"),
    ("fit-discount-none", lambda t: drl.decode.fit_discount(None, None), ValueError, r"delays must be a non-empty 1-D"),
    ("reward-responses-none", lambda t: drl.decode.reward_responses(None), TypeError,
     r"run must be an xarray.Dataset, a path or a run name; got NoneType"),
    # spec files: binary, latin-1, pathologically nested (file and line named)
    ("spec-binary", lambda t: drl.load_task(_write(t / "b.toml", b"\x00\x01\xff\xfe" * 8)), ValueError,
     r"b.toml: a binary file: byte 0xff at line 1"),
    ("spec-latin-1", lambda t: drl.load_task(_write(t / "l.toml", 'name = "x"\nnotes = "caf\xe9"\n'.encode("latin-1"))),
     ValueError, r"l.toml: not UTF-8 text: byte 0xe9 at line 2"),
    ("spec-nested-json", lambda t: drl.load_task(_write(t / "n.json", b"[" * 100_000 + b"]" * 100_000)), ValueError,
     r"n.json: nested too deeply"),
    ("spec-nested-toml", lambda t: drl.load_task(_write(t / "n.toml", b"a = " + b"[" * 5000 + b"]" * 5000)), ValueError,
     r"n.toml: nested too deeply"),
    ("spec-huge", lambda t: drl.load_task(_write(t / "h.json", b" " * (11 * 2**20))), ValueError,
     r"h.json: 11534336 bytes is not a task spec"),
    # drl_sim imports of text, empty, inconsistent or out-of-range files
    ("drl-sim-text", lambda t: drl.import_drl_sim(_write(t / "t.pth", b"hello")), ValueError,
     r"t.pth is not a torch file"),
    ("drl-sim-empty", lambda t: drl.import_drl_sim(_write(t / "e.pth", b"")), ValueError, r"e.pth is empty \(0 bytes\)"),
    ("drl-sim-state-out-of-range", lambda t: drl.import_drl_sim(_drl_sim(t, states=[0, 1, 5, 0, 1])), ValueError,
     r"states must be trial-type indices in \[0, 1\]; got 5 at trial 2"),
    ("drl-sim-state-negative", lambda t: drl.import_drl_sim(_drl_sim(t, states=[0, -1, 1, 0, 1])), ValueError,
     r"got -1 at trial 1"),
    ("drl-sim-states-short", lambda t: drl.import_drl_sim(_drl_sim(t, states=[0, 1])), ValueError,
     r"states has 2 entries for 5 trials"),
    ("drl-sim-V-1d", lambda t: drl.import_drl_sim(_drl_sim(t, V=[0.0, 1.0])), ValueError,
     r"V must be \[predictors, trial types, trials, steps\]; got shape \(2,\)"),
    ("drl-sim-r-shape", lambda t: drl.import_drl_sim(_drl_sim(t, r=np.zeros((2, 5, 3)))), ValueError,
     r"shapes disagree: .*r \(2, 5, 3\) \(expected \[2, 5, 4\]\)"),
    # empty and all-NaN runs
    ("all-nan-run-figure", lambda t: drl.plots.summary(_all_nan()), ValueError,
     r"'value' holds no finite number in its last recorded trial"),
    ("all-nan-run-decode", lambda t: drl.decode.reward_responses(_all_nan()), ValueError,
     r"'rpe' holds no finite number"),
    ("all-nan-run-convergence", lambda t: drl.convergence(_all_nan()), ValueError, r"'value' holds no finite number"),
    ("empty-run-convergence", lambda t: drl.convergence(simulate().isel(trial=slice(0, 0))), ValueError,
     r"this run recorded no trial"),
    ("empty-run-figure", lambda t: drl.plots.heatmap(simulate().isel(trial=slice(0, 0)), [0]), ValueError,
     r"this run recorded no trial"),
    # sweeps: checked before a cluster starts
    ("sweep-out-none", lambda t: drl.sweep.sweep({"task": TASK, "n_trials": 5}, {"seed": [0, 1]}, out=None), TypeError,
     r"out must be the sweep's folder name .*got None"),
    ("sweep-base-task", lambda t: drl.sweep.sweep({"task": "nope", "n_trials": 5}, {"seed": [0]}, out="s",
                                                    directory=t), ValueError,
     r"every run of this sweep is invalid; run 0 \(seed=0\): unknown task 'nope'"),
    ("sweep-base-trials", lambda t: drl.sweep.sweep({"task": TASK, "n_trials": -3}, {"seed": [0]}, out="s",
                                                      directory=t), ValueError, r"n_trials must be an integer >= 1; got -3"),
    ("sweep-grid-values", lambda t: drl.sweep.sweep({"task": TASK, "n_trials": 5}, {"alpha": [1.5, 2.0]}, out="s",
                                                      directory=t), ValueError,
     r"every run .* invalid; run 0 \(alpha=1.5\): alpha must be in \(0, 1\]; got 1.5"),
    ("sweep-rule", lambda t: drl.sweep.sweep({"task": TASK, "n_trials": 5, "rule": "x"}, {"seed": [0]}, out="s",
                                               directory=t), ValueError, r"unknown rule 'x'"),
    # resume
    ("resume-nothing", lambda t: drl.resume(t / "none.nc"), FileNotFoundError, r"no interrupted run of .*none.nc"),
    ("resume-overwrite-str", lambda t: drl.resume(t / "none.nc", overwrite="no"), TypeError,
     r"overwrite must be True or False; got 'no'"),
    # SPICE: configs with None parts, bad data at the door, bad fit settings
    ("spice-config-modules-none", lambda t: drl.spice.SpiceConfig(None, ["c_action"]), TypeError,
     r"rnn_modules must be a list of names; got None"),
    ("spice-config-controls-none", lambda t: drl.spice.SpiceConfig(["x_value_reward"], None), TypeError,
     r"control_parameters must be a list of names; got None"),
    ("spice-config-library-none", lambda t: drl.spice.SpiceConfig(["x_v"], ["c_a"], library_setup=None), TypeError,
     r"library_setup must be a dict .*got None"),
    ("spice-config-filter-none", lambda t: drl.spice.SpiceConfig(["x_v"], ["c_a"], {"x_v": []}, filter_setup=None),
     TypeError, r"filter_setup must be a dict .*got None"),
    ("spice-fit-nan-xs", lambda t: _fit(xs_at=(1, 3, 2, np.nan)), ValueError,
     r"fit_model: xs holds 1 non-finite value\(s\) .*nan at session 1, trial 3, feature 2"),
    ("spice-fit-inf-ys", lambda t: _fit(ys_at=(0, 2, 1, np.inf)), ValueError, r"ys holds .*inf at session 0, trial 2"),
    ("spice-fit-batch-0", lambda t: _fit(batch_size=0), ValueError, r"batch_size must be an integer >= 1; got 0"),
    ("spice-fit-restarts-negative", lambda t: _fit(n_restarts=-1), ValueError, r"n_restarts must be an integer >= 0.*-1"),
    ("spice-fit-learning-rate", lambda t: _fit(learning_rate=0.0), ValueError, r"learning_rate must be in"),
    ("spice-fit-participant-negative", lambda t: _fit(xs_at=(0, 0, -1, -1.0), n_participants=2), ValueError,
     r"participant ids .* must be integers in \[0, 1\]; got -1 at session 0, trial 0"),
    ("spice-fit-participant-too-large", lambda t: _fit(xs_at=(2, 1, -1, 5.0), n_participants=2), ValueError,
     r"got 5 at session 2, trial 1"),
    ("spice-table-empty", lambda t: drl.spice.load_choice_table(_table().iloc[:0]), ValueError, r"the choice table is empty"),
    ("spice-table-string-choices", lambda t: drl.spice.load_choice_table(_table(choice=["a", "b", "a", "b"])), ValueError,
     r"column 'choice' must hold numbers: 'a' in row 0"),
    ("spice-table-inf-reward", lambda t: drl.spice.load_choice_table(_table(reward=[1, np.inf, 0, 1])), ValueError,
     r"column 'reward' must be finite; got inf in rows \[1\]"),
    ("spice-table-one-trial-session", lambda t: drl.spice.load_choice_table(_table().iloc[:1], n_actions=2), ValueError,
     r"sessions need at least two trials"),
    ("spice-table-one-arm", lambda t: drl.spice.load_choice_table(_table(choice=[0, 0, 0, 0])), ValueError,
     r"n_actions must be ≥ 2; got 1 \(inferred from the largest choice; pass n_actions=\)"),
    ("spice-table-none", lambda t: drl.spice.load_choice_table(None), TypeError,
     r"table must be a pandas DataFrame or a CSV path; got NoneType"),
]


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _drl_sim(tmp_path, **changes):
    import torch

    p, m, n, k = 2, 2, 5, 4
    exp = dict(V=torch.zeros(p, m, n, k), deltas=torch.zeros(p, m, n, k - 1), T=torch.zeros(1),
               r=torch.zeros(m, n, k), dt=0.1, states=[0, 1, 1, 0, 1], alpha=0.1, gamma=0.9, lmbda=0.5)
    exp.update({key: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for key, v in changes.items()})
    path = tmp_path / "run.pth"
    torch.save(exp, path)
    return path


def _all_nan():
    ds = drl.simulate("dabney_variable_magnitude", Population.sample(2, seed=0), 6, progress=False)
    ds["value"][:] = np.nan
    ds["rpe"][:] = np.nan
    return ds


def _fit(xs_at=None, ys_at=None, n_participants=0, **kwargs):
    xs = np.zeros((3, 4, 5), np.float32)
    ys = np.zeros((3, 4, 2), np.float32)
    ys[..., 0] = 1
    for array, at in ((xs, xs_at), (ys, ys_at)):
        if at is not None:
            array[at[:3]] = at[3]
    model = drl.spice.RescorlaWagnerRNN(n_participants=n_participants, embedding_size=2 if n_participants else 0)
    return drl.spice.fit_model(model, xs, ys, epochs=1, progress=False, **kwargs)


def _table(**columns):
    import pandas as pd

    table = {"participant": [0] * 4, "session": [0] * 4, "trial": [0, 1, 2, 3], "choice": [0, 1, 0, 1],
             "reward": [1.0, 0.0, 1.0, 0.0]}
    return pd.DataFrame({**table, **columns})



def cli(*argv):
    from drl.cli import main

    return main(list(argv))


CLI_CASES = [
    (["run", "hyp_unif", "--tau", "0.2:0.8", "--out", "x"], "--tau 0.2:0.8 is a uniform range.*--predictors N"),
    (["run", "hyp_unif", "--gamma", "0.5:0.9", "--out", "x"], "--gamma 0.5:0.9 is a uniform range"),
    (["run", "hyp_unif", "--out", "x", "--trials", "0"], "--trials and --record-every must be >= 1; got 0 and 1"),
    (["info", "no_such_run"], "no stored run at exps/no_such_run.nc"),
    (["run", "hyp_unif", "--predictors", "1000", "--trials", "100000", "--out", "x"],
     r"would write 52.9 GB before compression .*more than --max-size 10 GB: .*--record-every N"),
    (["run", "hyp_unif", "--out", "x", "--record-every", "0"], r"--trials and --record-every must be >= 1"),
    (["run", "huge.toml", "--out", "x", "--trials", "20", "--alpha", "1", "--lam", "1", "--quiet"], r"values became non-finite at trial \d+"),
    (["run", "hyp_unif", "--out", "x", "--device", "mps"], r"device 'mps' does not exist here"),
    (["run", "hyp_unif", "--out", "x", "--seed", "-1"], r"seed must be an integer >= 0"),
]


@pytest.mark.parametrize("argv, message", CLI_CASES, ids=[" ".join(c[0][:3]) for c in CLI_CASES])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    drl.Task("huge", 0.5, 0.1, (drl.TrialType("a", 0.0, (drl.RewardEvent(0.2, magnitudes=(2e38,)),
                                                          drl.RewardEvent(0.4, magnitudes=(2e38,)))),)).to_file("huge.toml")
    with pytest.raises(SystemExit) as stop:
        cli(*argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("drl: error: ") and err.count("\n") == 1
    assert re.search(message, err), err
    assert not list(tmp_path.rglob(".*.tmp"))


def _folder(tmp_path):
    folder = tmp_path / "dir.nc"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("call, exception, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(tmp_path, call, exception, message):
    with pytest.raises(exception, match=message):
        call(tmp_path)
    assert not list(tmp_path.glob(".*.tmp"))  # and leaves nothing behind


def test_nothing_was_written_by_refused_calls(tmp_path):
    for case in CASES[:4]:
        with pytest.raises((TypeError, ValueError)):
            case[1](tmp_path)
    assert not (tmp_path / "x.nc").exists() and not (tmp_path / "s.nc").exists()
    assert np.all([not p.name.startswith(".") for p in tmp_path.iterdir()])


def test_cli_internal_error_is_one_line_with_the_way_to_the_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRL_TRACEBACK", raising=False)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(drl, "simulate", broken)
    with pytest.raises(SystemExit) as stop:
        cli("run", "hyp_unif", "--out", "x", "--quiet")
    err = capsys.readouterr().err
    assert stop.value.code == 3 and err.count("\n") == 1
    assert err.startswith("drl: internal error: RuntimeError: a bug") and "DRL_TRACEBACK=1" in err
    monkeypatch.setenv("DRL_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="a bug"):
        cli("run", "hyp_unif", "--out", "x", "--quiet")


def test_a_dot_in_a_run_name_is_part_of_the_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert drl.save(simulate(), "alpha0.1") == tmp_path.joinpath("exps", "alpha0.1.nc").relative_to(tmp_path)
    assert drl.load("alpha0.1").sizes["predictor"] == 2
    assert not (tmp_path / "alpha0.1").exists()  # once written as a bare file beside exps/


def test_non_finite_values_in_the_learned_window_are_not_converged():
    run = simulate(n_trials=40).copy(deep=True)
    run["value"].values[0, -1, 3] = np.nan
    report = drl.convergence(run)
    assert not bool(report["converged"].values[0, 0]) and bool(report["non_finite"].values[0, 0])
    assert not bool(report["non_finite"].values[1, 0])
    from drl.diagnostics.convergence import describe

    assert "NaN or infinite in the learned window" in describe(report)


def test_listing_runs_passes_over_a_fifo(tmp_path):
    import os
    import signal

    (tmp_path / "exps").mkdir()
    drl.save(simulate(), tmp_path / "exps" / "real.nc")
    os.mkfifo(tmp_path / "exps" / "x.nc")  # opening it would wait for a writer forever

    def hung(*_):
        raise TimeoutError("list_runs hung on a FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        assert drl.list_runs(tmp_path / "exps")["name"].tolist() == ["real"]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _equations_file(tmp_path, prefix=b"", **change):
    """A SPICE equations file as save_spice writes it (one participant, one module), with fields changed."""
    import json

    from drl.spice.files import equations_to_json
    from drl.spice.sindy import SindyEquation

    equation = SindyEquation("x_value_reward", ["1", "x_value_reward[k]", "c_reward[k]"], np.array([0.1, 0.8, 0.2]),
                             ["c_reward"], 1, 100)
    data = equations_to_json("RescorlaWagnerRNN", {0: {"x_value_reward": equation}})
    data["equations"]["0"]["x_value_reward"].update(change)
    path = tmp_path / "eq.json"
    path.write_bytes(prefix + json.dumps(data).encode())
    return path


@pytest.mark.parametrize("make, message", [
    (lambda t: _equations_file(t, coefficients=[0.1, float("nan"), 0.2]), r"coefficients must be 3 finite numbers"),
    (lambda t: _equations_file(t, coefficients=[0.1, 0.2]), r"coefficients must be 3 finite numbers"),
    (lambda t: _equations_file(t, exponents=[[0, 0], [-3, 0], [0, 1]]), r"exponents\.1\.0: -3 is less than the minimum of 0"),
    (lambda t: _equations_file(t, exponents=[[0, 0], [10**30, 0], [0, 1]]), r"exponents\.1\.0: 10+ is greater than the maximum of 10"),
    (lambda t: _equations_file(t, degree=-1), r"x_value_reward\.degree: -1 is less than the minimum of 0"),
    (lambda t: _write(t / "empty.json", b""), r"is empty: not a SPICE equations file"),
    (lambda t: _write(t / "text.json", b"hello"), r"neither its JSON nor an old pickle"),
    (lambda t: _write(t / "deep.json", b"{" + b'"a":[' * 100_000), r"not a SPICE equations file written by save_spice"),
])
def test_spice_equation_files_are_checked_field_by_field(tmp_path, make, message):
    from drl.spice.files import read_equations

    with pytest.raises(ValueError, match=message) as info:
        read_equations(make(tmp_path), trust=False)
    assert "trust=True" not in str(info.value)  # never sent to the unsafe switch for a file that is no pickle


def test_a_spice_equations_file_with_a_bom_reads():
    import tempfile
    from pathlib import Path

    from drl.spice.files import read_equations

    with tempfile.TemporaryDirectory() as folder:
        data = read_equations(_equations_file(Path(folder), prefix=b"\xef\xbb\xbf"), trust=False)
    assert data["equations"][0]["x_value_reward"].coefficients.tolist() == [0.1, 0.8, 0.2]


GOOD_TABLE = "neuron,magnitude,response\n0,1,-0.5\n0,4,0.5\n1,1,-0.2\n1,4,0.8\n"


@pytest.mark.parametrize("content, message", [
    (b"", r"t.csv is empty: a recordings table needs a header and rows"),
    (b"neuron,magnitude,response\n0,1,-0.5,9\n0,4\n", r"t.csv: row 0 has 4 fields, the header 3"),
    (bytes(range(256)) * 4, r"t.csv: not UTF-8 text: byte 0x80 at line 2"),
    ("neuron,magnitude,response,note\n0,1,-0.5,caf\xe9\n".encode("latin-1"), r"not UTF-8 text: byte 0xe9 at line 2"),
    (b"neuron,magnitude,response\n\x00,1,2\n", r"a binary file \(a NUL byte at line 2\)"),
    (b"neuron,magnitude,response\n,1,-0.5\n0,4,0.5\n", r"column 'neuron' must name a neuron in every row; row 0 is empty"),
    (b"neuron,magnitude,response\n0,1,-0.5\n0,inf,0.5\n", r"column 'magnitude' must hold finite numbers .*row 1 holds inf"),
    (b"neuron,delay,response\n0,1,-0.5\n0,inf,0.5\n", r"column 'delay' must hold finite numbers .*row 1 holds inf"),
    ((GOOD_TABLE + "0,4,0.5\n").encode(), r"1 row\(s\) repeat another row exactly \(first: row 4, neuron 0\)"),
], ids=["empty", "ragged", "binary", "latin-1", "nul", "neuron-missing", "inf-magnitude", "inf-delay", "duplicated"])
def test_a_bad_recordings_table_is_refused_by_line_and_column(tmp_path, content, message):
    with pytest.raises(ValueError, match=message):
        drl.responses.responses_from_table(_write(tmp_path / "t.csv", content))


@pytest.mark.parametrize("content", [
    GOOD_TABLE.encode(),
    b"\xef\xbb\xbf" + GOOD_TABLE.encode(),  # Excel's "CSV UTF-8"
    GOOD_TABLE.replace(",", ";").encode(),  # a European spreadsheet: semicolons ...
    b"neuron;magnitude;response\n0;1;-0,5\n0;4;0,5\n1;1;-0,2\n1;4;0,8\n",  # ... and decimal commas
], ids=["plain", "bom", "semicolons", "decimal-commas"])
def test_recordings_tables_as_spreadsheets_save_them_read_alike(tmp_path, content):
    form = drl.responses.responses_from_table(_write(tmp_path / "t.csv", content))
    np.testing.assert_allclose(form["response"].values, [[-0.5, 0.5], [-0.2, 0.8]])


def test_neuron_ids_mixing_numbers_and_text_read_as_text():
    import pandas as pd

    table = pd.DataFrame({"neuron": [0, "A", 0, "A"], "magnitude": [1, 1, 4, 4], "response": [-0.5, -0.2, 0.5, 0.8]})
    form = drl.responses.responses_from_table(table)
    assert form["neuron"].values.tolist() == ["0", "A"]


def _edited_run(tmp_path, edit):
    import netCDF4

    path = drl.save(simulate(n_trials=20), tmp_path / "run.nc")
    with netCDF4.Dataset(path, "a") as nc:
        edit(nc)
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda nc: nc.delncattr("n_trials"), r"run.nc: attributes: 'n_trials' is a required property"),
    (lambda nc: nc.delncattr("seed"), r"'seed' is a required property"),
    (lambda nc: nc.setncattr("n_trials", 0), r"run.nc: n_trials: 0 is less than the minimum of 1"),
    (lambda nc: nc.setncattr("dt", -0.1), r"run.nc: dt: -0.1 is less than or equal to the minimum of 0"),
    (lambda nc: nc.setncattr("schema_version", "two"), r"schema_version must be an integer; got 'two'"),
    (lambda nc: nc.setncattr("options", '{"rule": "expectile"}'), r"run.nc: options: 'update' is a required property"),
    (lambda nc: nc.setncattr("options", "[" * 100_000 + "]" * 100_000), r"not JSON \(nested too deeply\)"),
    (lambda nc: nc.setncattr("task", "{oops"), r"attribute drl_json_attrs lists an attribute that is missing or not JSON"),
    (lambda nc: nc.variables["value"].delncattr("units"), r"variable 'value' has no units attribute"),
    (lambda nc: nc.variables["trial"].__setitem__(slice(None), nc.variables["trial"][::-1]),
     r"coordinate 'trial' must increase within \[0, n_trials = 20\); holds 0 … 19 out of order"),
    (lambda nc: nc.setncattr("n_trials", 10), r"coordinate 'trial' must increase within \[0, n_trials = 10\); holds 0 … 19"),
], ids=["no-n_trials", "no-seed", "n_trials-0", "dt-negative", "schema-version-text", "options-incomplete",
        "json-nested", "task-not-json", "no-units", "trials-reversed", "trials-beyond-n_trials"])
def test_a_run_file_with_a_bad_field_is_refused_by_name(tmp_path, edit, message):
    with pytest.raises(ValueError, match=message):
        drl.load(_edited_run(tmp_path, edit))


@pytest.mark.parametrize("content, message", [
    (b"[1, 2]", r"sweep.json: the manifest: \[1, 2\] is not of type 'object'"),
    (b'{"name": "s", "base": {}, "grid": {"gamma": 0.5}, "fingerprint": "x", "n_runs": 1}',
     r"sweep.json: grid.gamma: 0.5 is not of type 'array'"),
    (b"{oops", r"sweep.json is not a sweep manifest \(not JSON"),
], ids=["list", "grid-not-lists", "not-json"])
def test_a_bad_sweep_manifest_is_refused_by_field(tmp_path, content, message):
    folder = tmp_path / "exps" / "s"
    folder.mkdir(parents=True)
    (folder / "sweep.json").write_bytes(content)
    drl.save(simulate(), folder / "run_0000.nc")
    with pytest.raises(ValueError, match=message):
        drl.sweep.open_sweep("s", directory=tmp_path / "exps")


def test_a_bootstrap_too_large_to_hold_is_refused():
    with pytest.raises(ValueError, match=r"n_boot must be at most 100000; got 1000000000"):
        drl.decode.reward_response_intervals(simulate(), n_boot=10**9)


def test_a_huge_spec_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "sparse.toml"
    with open(path, "wb") as f:
        f.truncate(20 * 2**30)  # 20 GiB, sparse: reading it first would take minutes and the memory
    with pytest.raises(ValueError, match=r"sparse.toml: 21474836480 bytes is not a task spec"):
        drl.load_task(path)


def test_an_astronomic_duration_is_refused_not_overflowed():
    # found by tests/test_properties.py at 1000 examples: duration 1e157 s raised OverflowError
    with pytest.raises(ValueError, match=r"gives 1.1e\+158 steps per trial, more than drl handles .*more memory than"):
        drl.Task("x", 1.0983676256208976e157, 0.1, (drl.TrialType("a", 0.0),))
