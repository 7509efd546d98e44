"""Nothing is lost: concurrent saves, files appearing mid-run, killed and interrupted writes, a full disk."""

import multiprocessing
import os
import subprocess
import sys

import numpy as np
import pytest

import drl
from drl import Population
from drl.engine.sinks import StreamWriter
from drl.runs.publishing import clean_stale_temps


def small_run(**kw):
    return drl.simulate("hyp_unif", Population.sample(3, seed=1), 30, progress=False, **kw)


def _save_after_barrier(barrier, ds, path, queue):
    barrier.wait()  # both processes publish at the same moment
    try:
        drl.save(ds, path)
        queue.put(("saved", int(ds.attrs["seed"])))
    except FileExistsError as e:
        queue.put(("refused", str(e)))


@pytest.mark.slow
def test_concurrent_saves_of_one_name_exactly_one_wins(tmp_path):
    ctx = multiprocessing.get_context("fork")  # the children only write netCDF (the runs are made here)
    runs = [small_run(seed=1), small_run(seed=2)]
    for attempt in range(4):
        path = tmp_path / f"race_{attempt}.nc"
        barrier, queue = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_save_after_barrier, args=(barrier, ds, path, queue)) for ds in runs]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        outcomes = sorted(queue.get(timeout=5) for _ in range(2))
        assert [o[0] for o in outcomes] == ["refused", "saved"], outcomes
        assert str(path) in outcomes[0][1] and "overwrite=True" in outcomes[0][1]
        assert drl.load(path).attrs["seed"] == outcomes[1][1]  # the winner's run, whole
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_file_appearing_under_the_name_mid_stream_is_kept_and_so_is_the_run(tmp_path, monkeypatch):
    out = tmp_path / "long.nc"
    other = small_run(seed=7)
    original = StreamWriter.write

    def write_then_someone_saves(self, *args):
        original(self, *args)
        if not out.exists():
            drl.save(other, out)  # another process publishes under the same name while this run streams

    monkeypatch.setattr(StreamWriter, "write", write_then_someone_saves)
    with pytest.raises(FileExistsError, match=r"appeared while this run was being simulated.*kept as .*unsaved"):
        small_run(out=out, block_trials=10, seed=3)
    assert drl.load(out).attrs["seed"] == 7  # the newcomer is untouched
    kept = list(tmp_path.glob("long.unsaved-*.nc"))
    assert len(kept) == 1
    expected = small_run(seed=3)
    np.testing.assert_array_equal(drl.load(kept[0]).value.values, expected.value.values)  # nothing lost
    assert not list(tmp_path.glob(".*.tmp"))


def _assert_same_run(a, b):
    for name in ("value", "rpe", "reward", "weights"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    np.testing.assert_array_equal(a["trial"].values, b["trial"].values)
    np.testing.assert_array_equal(a["trial_type"].values, b["trial_type"].values)
    attrs_a, attrs_b = dict(a.attrs), dict(b.attrs)
    attrs_a.pop("created"), attrs_b.pop("created")
    assert attrs_a == attrs_b


RESUMABLE = dict(bootstrap="random", rule="quantile", record_trials=3, block_trials=10)  # random state matters


def test_an_interrupted_stream_resumes_to_the_uninterrupted_run(tmp_path, monkeypatch):
    original = StreamWriter.checkpoint
    calls = []

    def checkpoint_then_interrupt(self, *args):
        original(self, *args)
        calls.append(1)
        if len(calls) == 2:
            (tmp_path / "partial.nc").write_bytes(self.tmp.read_bytes())  # the temporary file as it stands
            raise KeyboardInterrupt

    monkeypatch.setattr(StreamWriter, "checkpoint", checkpoint_then_interrupt)
    with pytest.raises(KeyboardInterrupt) as info:
        small_run(out=tmp_path / "run.nc", **RESUMABLE)
    monkeypatch.undo()
    assert "drl.resume(" in "".join(getattr(info.value, "__notes__", []))
    assert not (tmp_path / "run.nc").exists()
    table = drl.runs.publishing.interrupted_runs(tmp_path)
    assert table[["name", "trials_done", "n_trials"]].values.tolist() == [["run", 20, 30]]
    # the partial file never passes for a run; its name points at the way out
    with pytest.raises(ValueError, match=r"partial.nc is an incomplete streamed run \(7 recorded trials"):
        drl.load(tmp_path / "partial.nc")
    with pytest.raises(FileNotFoundError, match=r"interrupted; finish it with drl.resume"):
        drl.load(tmp_path / "run.nc")
    with pytest.raises(FileExistsError, match=r"interrupted run .* can be resumed.*overwrite=True"):
        small_run(out=tmp_path / "run.nc", **RESUMABLE)
    drl.save(small_run(), tmp_path / "other.nc")  # cleaning stale temporary files keeps a resumable run
    resumed = drl.resume(tmp_path / "run.nc", progress=False)
    _assert_same_run(resumed, small_run(**RESUMABLE))
    assert not list(tmp_path.glob(".*")) and drl.runs.publishing.interrupted_runs(tmp_path).empty
    with pytest.raises(FileNotFoundError, match="no interrupted run"):
        drl.resume(tmp_path / "run.nc")


@pytest.mark.slow
def test_a_killed_stream_resumes_in_another_process(tmp_path):
    # SIGKILL mid-run (after two complete blocks, in the middle of the third): the real fault.
    out = tmp_path / "killed.nc"
    code = ("import os, signal, drl\n"
            "from drl.engine.sinks import StreamWriter\n"
            "original, calls = StreamWriter.write, []\n"
            "def write(self, *a):\n"
            "    calls.append(1)\n"
            "    if len(calls) == 3: os.kill(os.getpid(), signal.SIGKILL)\n"
            "    original(self, *a)\n"
            "StreamWriter.write = write\n"
            "drl.simulate('hyp_unif', drl.Population.sample(3, seed=1), 30, progress=False, "
            f"out={str(out)!r}, bootstrap='random', rule='quantile', record_trials=3, block_trials=10)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert done.returncode == -9, done.stderr.decode()
    assert drl.runs.publishing.interrupted_runs(tmp_path)["trials_done"].tolist() == [20]
    _assert_same_run(drl.resume(out, progress=False), small_run(**RESUMABLE))


@pytest.mark.slow
def test_the_cli_resumes_a_run_interrupted_with_ctrl_c(tmp_path):
    import signal
    import time

    drl_cli = [sys.executable, "-m", "drl.cli"]
    args = ["run", "hyp_unif", "--tau-grid", "3", "--trials", "400000", "--record-every", "100", "--seed", "2"]
    for _attempt in range(3):  # on a loaded machine the run can end before the interrupt lands: try again
        proc = subprocess.Popen([*drl_cli, *args, "--out", "run", "--overwrite"], cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while (proc.poll() is None and not list((tmp_path / "exps").glob(".run.nc.*.checkpoint.npz"))
               and time.monotonic() < deadline):
            time.sleep(0.01)  # the first block is complete once its checkpoint exists
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            break
    else:
        pytest.skip("the run finished before the interrupt arrived, three times")
    assert proc.returncode == 130 and "drl resume run" in err and "Traceback" not in err, err
    listed = subprocess.run([*drl_cli, "ls"], cwd=tmp_path, capture_output=True, text=True)
    assert "run" in listed.stdout and "interrupted after" in listed.stdout and "drl resume run" in listed.stdout
    resumed = subprocess.run([*drl_cli, "resume", "run", "--quiet"], cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0 and "(resumed)" in resumed.stdout, resumed.stderr
    whole = subprocess.run([*drl_cli, *args, "--out", "whole", "--quiet"], cwd=tmp_path, capture_output=True)
    assert whole.returncode == 0
    _assert_same_run(drl.load(tmp_path / "exps" / "run.nc"), drl.load(tmp_path / "exps" / "whole.nc"))


def test_a_discarded_interrupted_run_and_a_failed_stream_leave_nothing(tmp_path, monkeypatch):
    original = StreamWriter.checkpoint

    def interrupt(self, *args):
        original(self, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(StreamWriter, "checkpoint", interrupt)
    with pytest.raises(KeyboardInterrupt):
        small_run(out=tmp_path / "run.nc", block_trials=10)
    monkeypatch.undo()
    small_run(out=tmp_path / "run.nc", overwrite=True)  # discards the interrupted run, starts again
    assert not list(tmp_path.glob(".*"))
    calls = []

    def fail_later(self, *args):
        original(self, *args)
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a failure that is not an interrupt")

    monkeypatch.setattr(StreamWriter, "checkpoint", fail_later)
    with pytest.raises(RuntimeError, match="not an interrupt"):
        small_run(out=tmp_path / "bad.nc", block_trials=10)
    assert not list(tmp_path.glob(".*")) and not (tmp_path / "bad.nc").exists()


def test_schedules_are_drawn_block_by_block_with_the_numbers_of_a_whole_draw(monkeypatch):
    from drl.tasks.schedule import ScheduleDrawer

    jittered = drl.Task("jittered", 3.0, 0.1, (
        drl.TrialType("a", 0.5, (drl.RewardEvent(1.0, magnitudes=(1.0, 3.0), probabilities=(0.3, 0.7), sd=0.2,
                                                 jitter=0.4, delivery_probability=0.8),
                                 drl.RewardEvent(1.0, magnitudes=(2.0,))), frequency=0.4),
        drl.TrialType("b", 0.0, (drl.RewardEvent(2.0, magnitudes=(4.0,), jitter=0.25),), frequency=0.6)),
        utility=drl.Utility("power", 0.5))
    for task in [*drl.list_tasks(), jittered]:
        whole = task.schedule(103, seed=5)
        assert_matches_reference(task, whole, 103, 5)
        for block, start in ((1, 0), (7, 0), (50, 40), (103, 0)):
            drawer = ScheduleDrawer(task, 103, 5, start=start)
            parts = [drawer.block(s, min(103, s + block)) for s in range(start, 103, block)]
            np.testing.assert_array_equal(np.concatenate([t for t, _ in parts]), whole.trial_type.numpy()[start:])
            np.testing.assert_array_equal(np.concatenate([r for _, r in parts]), whole.reward.numpy()[start:])
    with pytest.raises(ValueError, match="blocks are drawn in order"):
        ScheduleDrawer(task, 10, 0).block(5, 10)
    # a streamed run never draws the whole schedule (memory stays one block)
    monkeypatch.setattr(drl.Task, "schedule", lambda *a, **k: pytest.fail("whole schedule drawn"))
    small_run(record_trials=10, block_trials=7)


def assert_matches_reference(task, schedule, n_trials, seed):
    """drl's original whole-schedule draw (every event draws for every trial, in this order), written out."""
    from drl.tasks.timegrid import time_to_step

    rng = np.random.default_rng(seed)
    types = rng.choice(len(task.trial_types), size=n_trials, p=task.frequencies)
    reward = np.zeros((n_trials, task.n_steps))
    for m, ttype in enumerate(task.trial_types):
        trials = np.flatnonzero(types == m)
        for ev in ttype.rewards:
            mag = rng.choice(np.asarray(ev.magnitudes), size=n_trials, p=np.asarray(ev.probabilities))
            noise = rng.standard_normal(n_trials) * ev.sd
            delivered = rng.random(n_trials) < ev.delivery_probability
            offset = rng.uniform(-ev.jitter, ev.jitter, size=n_trials) if ev.jitter > 0 else np.zeros(n_trials)
            value = np.where(delivered, mag + noise, 0.0)
            if task.utility is not None:
                value = np.where(delivered, task.utility(value), 0.0)
            step = np.clip(time_to_step(ttype.cue_time + ev.time + offset, task.dt), 0, task.n_steps - 1)
            np.add.at(reward, (trials, step[trials]), value[trials])
    np.testing.assert_array_equal(schedule.trial_type.numpy(), types)
    np.testing.assert_array_equal(schedule.reward.numpy(), reward.astype(np.float32))


def test_temp_files_of_dead_processes_are_removed_by_the_next_save(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".killed.nc.{dead.pid}.0badc0de.tmp"
    live = tmp_path / f".streaming.nc.{os.getpid()}.12345678.tmp"
    stale.write_bytes(b"half a run")
    live.write_bytes(b"a run being written")
    drl.save(small_run(), tmp_path / "next.nc")
    assert not stale.exists() and live.exists()
    assert clean_stale_temps(tmp_path / "missing") == []


@pytest.mark.slow
def test_a_killed_save_in_another_process_is_cleaned_up(tmp_path):
    # SIGKILL cannot be caught: the temp file stays until the next save into the folder removes it.
    code = ("import os, drl, drl.runs.store as s\n"
            "ds = drl.simulate('hyp_unif', drl.Population.sample(3), 30, progress=False)\n"
            "s.publish = lambda *a: os._exit(9)\n"  # die between writing the temp file and publishing it
            f"drl.save(ds, {str(tmp_path / 'killed.nc')!r})\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert done.returncode == 9
    assert len(list(tmp_path.glob(".killed.nc.*.tmp"))) == 1 and not (tmp_path / "killed.nc").exists()
    drl.save(small_run(), tmp_path / "other.nc")
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    # lazy: HDF5 keeps the descriptor of the failed file open (truncated to nothing), which would make it busy
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_says_so_and_frees_the_space(small_disk):
    varied = Population.sample(40, tau=(0.1, 0.9), gamma=(0.5, 1.0), seed=0)  # 3.3 MB compressed
    big = drl.simulate("hyp_unif", varied, 400, progress=False)
    with pytest.raises(OSError, match=r"the disk holding .*disk is full .*big.nc was not written"):
        drl.save(big, small_disk / "big.nc")
    assert not list(small_disk.iterdir())  # the temporary file is gone, the space is free
    with pytest.raises(OSError, match=r"disk is full") as failure:  # its first block already: nothing to keep
        drl.simulate("hyp_unif", varied, 400, progress=False, out=small_disk / "streamed.nc", block_trials=400)
    assert "resumable" not in str(failure.value) and not list(small_disk.iterdir())
    drl.save(small_run(), small_disk / "small.nc")  # and the disk is usable again
    (small_disk / "small.nc").unlink()
    # a run stops before the block its disk cannot hold: its complete blocks are kept, resumable; free space
    # (here: a larger disk) and resume it
    subprocess.run(["mount", "-o", "remount,size=3m", str(small_disk)], check=True)
    with pytest.raises(OSError, match=r"disk is full.*kept, resumable from its last complete block") as failure:
        drl.simulate("hyp_unif", varied, 400, progress=False, out=small_disk / "streamed.nc", block_trials=50)
    assert "nothing was lost" in "".join(getattr(failure.value, "__notes__", []))
    assert len(drl.runs.publishing.interrupted_runs(small_disk)) == 1
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    finished = drl.resume(small_disk / "streamed.nc", progress=False)
    whole = drl.simulate("hyp_unif", varied, 400, progress=False)
    np.testing.assert_array_equal(finished["value"].values, whole["value"].values)


@pytest.mark.slow
def test_cli_reports_a_full_disk_in_one_line(small_disk):
    done = subprocess.run([sys.executable, "-m", "drl.cli", "run", "hyp_unif", "--predictors", "40", "--tau", "0.1:0.9",
                           "--gamma", "0.5:1", "--trials", "400", "--out", str(small_disk / "cli.nc"), "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("drl: error: the disk holding") and done.stderr.count("\n") == 1


def test_every_writer_uses_unique_temporary_names(tmp_path):
    from drl._atomic import temporary_path, write_atomic

    a, b = temporary_path(tmp_path / "movie.gif", ".gif"), temporary_path(tmp_path / "movie.gif", ".gif")
    assert a != b and a.name.startswith(".movie.gif.") and f".{os.getpid()}." in a.name and a.suffix == ".gif"
    assert write_atomic(tmp_path / "spec.json", "{}").read_text() == "{}"
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path, b"x")  # a failed write leaves nothing behind
    assert not list(tmp_path.glob(".*.tmp*"))


def test_unwritable_folders_and_full_disks_are_said_in_words(tmp_path, monkeypatch, capsys):
    """No raw errno text: a read-only folder or a full disk names the file and what to do (issue: "drl resume and
    save_spice in a read-only folder print raw errno messages; save_spice on a full disk: basic_ios::clear")."""
    import errno
    from pathlib import Path

    from drl import cli
    from drl._atomic import write_atomic

    def refuse(self, data, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_bytes", refuse)
    with pytest.raises(PermissionError, match=r"cannot write .*spec.json: permission denied: this folder") as failure:
        write_atomic(tmp_path / "spec.json", b"{}")
    assert failure.value.errno == errno.EACCES and not list(tmp_path.iterdir())

    def fill(self, data, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", fill)
    from drl.spice.files import save_weights

    with pytest.raises(OSError, match=r"cannot write .*weights.pt: the disk is full: free some space"):
        save_weights(tmp_path / "weights.pt", {"state_dict": {}})
    monkeypatch.undo()
    # the command line: an error of the system with a file name, in words
    monkeypatch.chdir(tmp_path)
    def unreadable(args):
        raise PermissionError(errno.EACCES, "Permission denied", "exps/x.nc")

    monkeypatch.setattr(cli, "cmd_tasks", unreadable)
    with pytest.raises(SystemExit) as code:
        cli.main(["tasks"])
    err = capsys.readouterr().err
    assert code.value.code == 2 and err.startswith("drl: error: exps/x.nc: permission denied") and "Errno" not in err
