"""The `drl` command as a shell user meets it: exit codes a script can trust, the names `drl ls` prints accepted
everywhere, the paths it prints true, no folder created by a typo, and messages in the shell's own words."""

import subprocess
import sys
from pathlib import Path

import pytest
from test_plots_cli_notebook import _drl

DRL = str(Path(sys.executable).with_name("drl"))


@pytest.fixture
def sweep_runs():
    Path("sw.toml").write_text('out = "lam_alpha"\nshared_seed = true\n[base]\ntask = "hyp_unif"\nn_trials = 30\n'
                               'tau = [0.2, 0.8]\n[grid]\ngamma = [0.8, 1.5]\n')
    r = _drl("sweep", "sw.toml", "--quiet")
    return r


@pytest.mark.slow
def test_a_sweep_with_failed_runs_exits_non_zero_and_its_runs_open_by_the_names_ls_prints(sweep_runs):
    r = sweep_runs
    assert r.returncode == 1, r.stderr  # run 1 (γ = 1.5) failed: a script or a job array must see it
    assert "1 done, 0 skipped, 1 failed" in r.stdout and "1 of 2 runs of sweep 'lam_alpha' failed" in r.stderr
    listed = _drl("ls")
    assert "lam_alpha/run_0000" in listed.stdout
    # a sweep is one line of drl ls (a 1000-run sweep once printed 1000), naming how to open it
    assert [line.split()[0] for line in listed.stdout.splitlines() if "lam_alpha" in line] == ["lam_alpha/"]
    assert "sweep of 1 run(s): drl.sweep.open_sweep('lam_alpha')" in listed.stdout
    r = _drl("info", "lam_alpha/run_0000")
    assert r.returncode == 0 and "exps/lam_alpha/run_0000.nc" in r.stdout, r.stderr
    r = _drl("plot", "lam_alpha/run_0000", "--kind", "val_at_t", "--time", "1.0")
    assert r.returncode == 0 and Path("figs/lam_alpha_run_0000_val_at_t.png").is_file(), r.stderr
    r = _drl("info", "lam_alpha")
    assert r.returncode == 2
    assert "a sweep of 1 stored run(s)" in r.stderr and "drl.sweep.open_sweep('lam_alpha')" in r.stderr
    assert "drl info lam_alpha/run_0000" in r.stderr


def test_printed_paths_are_true_and_typos_create_no_folder(tmp_path):
    assert _drl("run", "hyp_unif", "--trials", "20", "--out", "small", "--quiet").returncode == 0
    r = _drl("plot", "small", "--save", str(tmp_path / "no" / "such" / "b"))
    assert r.returncode == 2 and f"the folder {tmp_path / 'no' / 'such'} does not exist" in r.stderr
    assert not (tmp_path / "no").exists()
    (tmp_path / "out").mkdir()
    r = _drl("plot", "small", "--save", str(tmp_path / "out" / "b"))
    assert r.returncode == 0 and r.stdout.strip() == f"wrote {tmp_path / 'out' / 'b.png'}"
    assert (tmp_path / "out" / "b.png").is_file()
    r = _drl("plot", "small")
    assert r.stdout.strip() == "wrote figs/small_summary.png" and Path("figs/small_summary.png").is_file()
    r = _drl("plot", "small", "--kind", "val_over_t", "--trials", "5", "--save", "movie")
    assert r.stdout.strip() == "wrote figs/movie.gif" and Path("figs/movie.gif").is_file()
    r = _drl("run", "hyp_unif", "--trials", "5", "--out", str(tmp_path / "nowhere" / "dir" / "x"), "--quiet")
    assert r.returncode == 2 and "the folder" in r.stderr and "does not exist" in r.stderr
    assert not (tmp_path / "nowhere").exists()
    assert _drl("run", "hyp_unif", "--trials", "5", "--out", "inside/x", "--quiet").returncode == 2  # ./inside
    assert _drl("run", "hyp_unif", "--trials", "5", "--out", "exps/inside/x", "--quiet").returncode == 0  # exps/…


def test_two_trial_types_get_two_files():
    assert _drl("run", "lowet_2025", "--trials", "60", "--tau", "0.2,0.8", "--alpha", "0.1", "--out", "two",
                "--quiet").returncode == 0
    for trial_type in ("fixed", "variable"):
        assert _drl("plot", "two", "--kind", "val_at_t", "--time", "1.0", "--trial-type", trial_type).returncode == 0
    assert Path("figs/two_val_at_t_fixed.png").is_file() and Path("figs/two_val_at_t_variable.png").is_file()


def test_messages_use_the_shells_words():
    r = _drl("run", "hyp_unif", "--gamma", "0.5,abc", "--out", "x")
    assert r.returncode == 2 and "--gamma 0.5,abc: 'abc' is not a number" in r.stderr
    r = _drl("run", "hyp_unif", "--alpha", "fast", "--out", "x")
    assert "--alpha fast: 'fast' is not a number" in r.stderr
    _drl("run", "hyp_unif", "--trials", "5", "--out", "x", "--quiet")
    r = _drl("run", "hyp_unif", "--trials", "5", "--out", "x", "--quiet")
    assert "pass --overwrite to replace it" in r.stderr and "overwrite=True" not in r.stderr
    r = _drl("resume", "nothing")
    assert "(drl ls lists those that can be)" in r.stderr and "drl.runs.store" not in r.stderr
    r = _drl("plot", "x", "--kind", "heatmap", "--predictors", "7")
    assert "got [7]" in r.stderr and "np.int64" not in r.stderr


def test_a_reader_that_stops_early_is_not_an_error():
    assert _drl("run", "hyp_unif", "--trials", "20", "--out", "piped", "--quiet").returncode == 0
    # `drl info piped | true`: the reader is gone before drl writes
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)
    reader.wait()
    done = subprocess.run([DRL, "info", "piped"], stdout=reader.stdin, stderr=subprocess.PIPE, text=True)
    reader.stdin.close()
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.slow
def test_a_sweep_file_saved_by_notepad_and_a_nan_size_limit():
    Path("bom.toml").write_bytes(b'\xef\xbb\xbfout = "bom"\n[base]\ntask = "hyp_unif"\nn_trials = 10\n[grid]\n'
                                 b'gamma = [0.8]\n')
    r = _drl("sweep", "bom.toml", "--quiet")
    assert r.returncode == 0 and "1 done" in r.stdout, r.stderr
    r = _drl("run", "hyp_unif", "--max-size", "nan", "--out", "x")
    assert r.returncode == 2 and "--max-size must be a finite number of GB > 0; got nan" in r.stderr


@pytest.mark.slow
def test_ctrl_c_in_a_sweep_says_what_was_saved_and_leaves_no_partial_file(tmp_path):
    import re
    import signal
    import time

    Path("sw.toml").write_text('out = "stopped"\n[base]\ntask = "dabney_variable_magnitude"\nn_trials = 3000\n'
                               'tau = [0.1, 0.5, 0.9]\n[grid]\ngamma = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]\n'
                               'alpha = [0.01, 0.02]\n')
    process = subprocess.Popen([DRL, "sweep", "sw.toml", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    folder = Path("exps/stopped")
    deadline = time.time() + 120
    while time.time() < deadline and len(list(folder.glob("run_*.nc"))) < 2 and process.poll() is None:
        time.sleep(0.2)
    if process.poll() is not None:
        pytest.skip("the sweep finished before the interrupt arrived")
    start = time.time()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert time.time() - start < 30
    assert "Traceback" not in err and "Exception ignored" not in err and err.count("\n") == 1, err
    saved = int(re.search(r"sweep stopped: (\d+) of 12 runs were finished and saved", err).group(1))
    assert saved == len(list(folder.glob("run_*.nc"))) >= 2  # the message counts the files there are
    assert not list(folder.glob(".*.tmp"))  # no partial file
    again = _drl("sweep", "sw.toml", "--quiet")
    assert again.returncode == 0 and f"{12 - saved} done, {saved} skipped" in again.stdout
