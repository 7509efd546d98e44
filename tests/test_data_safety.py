"""Nothing is lost: concurrent saves, files appearing mid-run, killed and interrupted writes, a full disk."""

import multiprocessing
import os
import subprocess
import sys

import numpy as np
import pytest

import drl
from drl import Population
from drl.store import StreamWriter, clean_stale_temps


def small_run(**kw):
    return drl.simulate("hyp_unif", Population.sample(3, seed=1), 30, progress=False, **kw)


def _save_after_barrier(barrier, ds, path, queue):
    barrier.wait()  # both processes publish at the same moment
    try:
        drl.save(ds, path)
        queue.put(("saved", int(ds.attrs["seed"])))
    except FileExistsError as e:
        queue.put(("refused", str(e)))


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


def test_an_interrupted_stream_leaves_no_temp_and_a_partial_file_is_refused(tmp_path, monkeypatch):
    original = StreamWriter.write
    calls = []

    def write_then_interrupt(self, *args):
        original(self, *args)
        calls.append(1)
        if len(calls) == 2:
            (tmp_path / "partial.nc").write_bytes(self.tmp.read_bytes())  # what a kill would leave
            raise KeyboardInterrupt

    monkeypatch.setattr(StreamWriter, "write", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        small_run(out=tmp_path / "run.nc", block_trials=10)
    assert not list(tmp_path.glob(".*.tmp")) and not (tmp_path / "run.nc").exists()
    with pytest.raises(ValueError, match=r"partial.nc is an incomplete streamed run \(20 recorded trials"):
        drl.load(tmp_path / "partial.nc")


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


def test_a_killed_save_in_another_process_is_cleaned_up(tmp_path):
    # SIGKILL cannot be caught: the temp file stays until the next save into the folder removes it.
    code = ("import os, drl, drl.store as s\n"
            "ds = drl.simulate('hyp_unif', drl.Population.sample(3), 30, progress=False)\n"
            "s._commit = lambda *a: os._exit(9)\n"  # die between writing the temp file and publishing it
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
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_says_so_and_frees_the_space(small_disk):
    varied = Population.sample(40, tau=(0.1, 0.9), gamma=(0.5, 1.0), seed=0)  # 3.3 MB compressed
    big = drl.simulate("hyp_unif", varied, 400, progress=False)
    with pytest.raises(OSError, match=r"the disk holding .*disk is full .*big.nc was not written"):
        drl.save(big, small_disk / "big.nc")
    assert not list(small_disk.iterdir())  # the temporary file is gone, the space is free
    with pytest.raises(OSError, match=r"disk is full"):
        drl.simulate("hyp_unif", varied, 400, progress=False, out=small_disk / "streamed.nc", block_trials=50)
    assert not list(small_disk.iterdir())
    drl.save(small_run(), small_disk / "small.nc")  # and the disk is usable again


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
