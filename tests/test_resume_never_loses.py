"""A failed resume never loses the interrupted run, and nothing from its files reaches the compiled kernel
unchecked (a checkpoint of another shape once corrupted memory; a bad trial list once deleted the run)."""

import io

import numpy as np
import pytest
import torch
from conftest import interrupt_a_streamed_run

import drl
from drl import Population
from drl.engine.compiled import own as compiled
from drl.runs.paths import checkpoint_path, trials_path
from drl.runs.publishing import interrupted_runs

RESUMABLE = dict(bootstrap="random", rule="quantile", record_trials=3, block_trials=10)


def _run(**kw):
    return drl.simulate("hyp_unif", Population.sample(3, seed=1), 30, progress=False, **kw)


@pytest.fixture
def interrupted(tmp_path):
    """An interrupted streamed run (stopped after its second checkpoint, 20 of 30 trials) and its files' bytes."""
    interrupt_a_streamed_run(tmp_path / "run.nc")
    return tmp_path / "run.nc", _files(tmp_path)


def _files(folder):
    """{name without the owner/token part: bytes} of the interrupted run's files."""
    out = {}
    for path in sorted(folder.glob(".run.nc.*")):
        kind = path.name.split(".tmp", 1)[1] or ".nc"
        out[kind] = path.read_bytes()
    return out


def _tmp(folder):
    (found,) = [p for p in folder.glob(".run.nc.*.tmp")]
    return found


def _intact(path, before):
    """The interrupted run is still listed as resumable, and (when nothing ran) its files are byte for byte as
    they were."""
    assert interrupted_runs(path.parent)["name"].tolist() == ["run"]
    if before is not None:
        assert _files(path.parent) == before


def _rewrite_checkpoint(folder, **fields):
    tmp = _tmp(folder)
    with np.load(checkpoint_path(tmp)) as stored:
        state = dict(stored)
    state.update(fields)
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    checkpoint_path(tmp).write_bytes(buffer.getvalue())


@pytest.mark.parametrize("field, value, message", [
    ("weights", np.zeros((1, 2, 10), np.float32), r"'weights' must be finite floats of shape \[1, 3, \d+\].*\[1, 2, 10\]"),
    ("weights", np.full((1, 3, 51), np.nan, np.float32), r"'weights' must be finite .*non-finite"),
    ("position", np.int64(10_000_000), r"'position' must be an integer in \[0, \d+\]; found 10000000"),
    ("position", np.int64(2), r"'position' must be 7 \(the trials recorded before trial 20\); found 2"),
    ("trials_done", np.float64(20.0), r"'trials_done' must be an integer in \[0, 30\]; found 20.0"),
    ("trials_done", np.int64(-1), r"'trials_done' must be an integer in \[0, 30\]; found -1"),
    ("rng_state", np.zeros(3, np.float32), r"'rng_state' must be a 1-D uint8 generator state"),
])
def test_a_corrupt_checkpoint_is_refused_by_name_and_kept(interrupted, field, value, message):
    path, _ = interrupted
    _rewrite_checkpoint(path.parent, **{field: value})
    before = _files(path.parent)
    with pytest.raises(ValueError, match=message) as info:
        drl.resume(path, progress=False)
    assert "It was left as it was" in str(info.value)
    _intact(path, before)


@pytest.mark.parametrize("trials, message", [
    (np.arange(0, 30, 3, dtype=np.float64), r"'trials' must be a 1-D array of integer trial numbers; found float64"),
    (np.array([0, 3, 1_000_000_000]), r"'trials' must be increasing trial numbers in \[0, 30\); found 0 … 1000000000"),
    (np.array([6, 3, 0]), r"not increasing"),
])
def test_a_corrupt_trial_list_is_refused_and_the_run_kept(interrupted, trials, message):
    path, _ = interrupted
    buffer = io.BytesIO()
    np.save(buffer, trials)
    trials_path(_tmp(path.parent)).write_bytes(buffer.getvalue())
    before = _files(path.parent)
    with pytest.raises(ValueError, match=message):
        drl.resume(path, progress=False)
    _intact(path, before)


STEPS = [
    # (what fails, where) in the order resume meets them
    ("reading the run", "drl.engine.simulation.xr.open_dataset"),
    ("reading the checkpoint", "drl.engine.simulation.np.load"),
    ("building the task", "drl.engine.simulation.Task.from_dict"),
    ("building the kernel", "drl.engine.simulation.TrialKernel.__init__"),
    ("opening the sink", "drl.engine.simulation.StreamWriter.__init__"),
    ("simulating a trial", "drl.engine.kernel.TrialKernel.trial"),
    ("writing a block", "drl.engine.sinks.StreamWriter.write"),
    ("writing a checkpoint", "drl.engine.sinks.StreamWriter.checkpoint"),
    ("publishing", "drl.engine.sinks.publish"),
]


@pytest.mark.parametrize("step, target", STEPS, ids=[s for s, _ in STEPS])
@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), RuntimeError("a bug"), KeyboardInterrupt])
def test_a_resume_failing_at_any_step_leaves_the_run_resumable(interrupted, monkeypatch, step, target, failure):
    path, before = interrupted

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(target, fail)
    # a read that fails other than by the system (errno) reads as a damaged file: ValueError, the run kept
    with pytest.raises((type(failure), ValueError) if isinstance(failure, Exception) else failure):
        drl.resume(path, progress=False)
    monkeypatch.undo()
    assert not path.exists()
    # before the first block nothing was written: the files are as they were; later, the resume's own progress
    # (a block and its checkpoint) may be in them, and the run is still resumable
    if target.startswith("drl.engine.simulation."):
        _intact(path, before)
    else:
        assert not interrupted_runs(path.parent).empty
    finished = drl.resume(path, progress=False)
    expected = _run(**RESUMABLE)
    np.testing.assert_array_equal(finished["value"].values, expected["value"].values)
    np.testing.assert_array_equal(finished["weights"].values, expected["weights"].values)
    assert not list(path.parent.glob(".*"))


def test_the_compiled_kernel_refuses_what_it_would_index_out_of_bounds():
    from drl.engine.kernel import TrialKernel
    from drl.engine.options import EngineOptions

    task = drl.get_task("hyp_unif")
    pop = Population.sample(6, seed=0)
    kernel = TrialKernel(task, pop, EngineOptions(), torch.device("cpu"), torch.float32, 0)
    m, p, f, k = kernel.n_types, kernel.n_predictors, kernel.n_features, kernel.n_steps
    good = dict(weights=torch.zeros(m, p, f), types=np.zeros(4, np.int64), rewards=np.zeros((4, k), np.float32),
                slots=np.arange(4), steps=np.arange(k), v_out=np.zeros((p, 4, k), np.float32), d_out=None)
    compiled.run_block(kernel, **good)  # the right shapes run
    cases = {
        "weights": dict(weights=torch.zeros(1, 2, 10)),
        "types": dict(types=np.full(4, m, np.int64)),
        "rewards": dict(rewards=np.zeros((4, k + 1), np.float32)),
        "steps": dict(steps=np.arange(k + 1)),
        "v_out": dict(v_out=np.zeros((p + 1, 4, k), np.float32)),
        "slots": dict(slots=np.arange(4) + 1),
    }
    for name, change in cases.items():
        with pytest.raises(ValueError, match=rf"compiled.run_block: {name} must be"):
            compiled.run_block(kernel, **{**good, **change})


def test_a_resume_interrupted_before_its_first_block_says_the_run_is_intact(interrupted, monkeypatch):
    path, before = interrupted

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("drl.engine.simulation.TrialKernel.__init__", interrupt)
    with pytest.raises(KeyboardInterrupt) as info:
        drl.resume(path, progress=False)
    assert "nothing was lost" in "".join(info.value.__notes__) and "drl.resume(" in "".join(info.value.__notes__)
    _intact(path, before)


def test_a_kill_right_after_publishing_leaves_no_second_listing(tmp_path):
    import os

    done = _run(out=tmp_path / "run.nc", **RESUMABLE)
    assert done.sizes["trial"] > 0
    # what a kill between publishing (a hard link) and removing the temporary name leaves: a dead owner's link
    leftover = tmp_path / ".run.nc.999999.abcd1234.tmp"
    os.link(tmp_path / "run.nc", leftover)
    checkpoint_path(leftover).write_bytes(b"")
    assert interrupted_runs(tmp_path).empty  # the published run is not an interrupted one
    assert not leftover.exists() and not checkpoint_path(leftover).exists()
    assert drl.list_runs(tmp_path)["name"].tolist() == ["run"]


def test_a_full_disk_while_streaming_keeps_the_run_resumable(tmp_path, monkeypatch):
    """A full disk after two complete blocks throws nothing away: the run resumes from its last checkpoint and
    ends equal to a run that never failed (issue: "a full disk while streaming throws away the whole run")."""
    import errno

    from drl.engine.sinks import StreamWriter

    original, calls = StreamWriter.write, []

    def write_then_fill_the_disk(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args)

    monkeypatch.setattr(StreamWriter, "write", write_then_fill_the_disk)
    with pytest.raises(OSError, match="No space left on device") as failure:
        _run(out=tmp_path / "full.nc", record_trials=1, block_trials=10, bootstrap="random", rule="quantile")
    assert "nothing was lost" in "".join(getattr(failure.value, "__notes__", []))
    assert len(interrupted_runs(tmp_path)) == 1
    monkeypatch.setattr(StreamWriter, "write", original)
    finished = drl.resume(tmp_path / "full.nc", progress=False)
    whole = _run(record_trials=1, bootstrap="random", rule="quantile")
    np.testing.assert_array_equal(finished["value"].values, whole["value"].values)
    assert not list(tmp_path.glob(".full.nc.*"))
