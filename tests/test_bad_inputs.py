"""Bad input at the boundaries: one row per case, each asserting the exception type and a message that names
the parameter and the value. The table grows with every boundary validated (docs/drl.md, issue #16)."""

import re

import numpy as np
import pytest

import drl
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
]


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
