"""Properties over random inputs (hypothesis): valid task specs simulate reproducibly and round-trip exactly;
invalid specs, run files with a field removed or retyped, corrupted checkpoints and random recordings tables get
only the errors drl promises (ValueError, TypeError, FileNotFoundError, OSError) with a message, never another
exception type, a hang or a signal."""

import io
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import interrupt_a_streamed_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drl
from drl.runs.paths import checkpoint_path
from drl.runs.publishing import interrupted_runs

PROMISED = (ValueError, TypeError, FileNotFoundError, OSError)
# Examples per property: enough to visit every field and kind of junk, few enough for a 2-core CI (~10 s in all);
# DRL_HYPOTHESIS_EXAMPLES=500 searches deeper
FEW = settings(max_examples=int(os.environ.get("DRL_HYPOTHESIS_EXAMPLES", 25)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                 st.text(max_size=12), st.lists(st.integers(-3, 3), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _promised(call):
    """Run ``call``; the only exceptions allowed are the promised ones, each with a message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except PROMISED as error:
        assert str(error).strip(), f"{type(error).__name__} without a message"
        return None


# ------------------------------------------------------------------------------------------------ task specs
@st.composite
def events(draw, duration, cue):
    room = duration - cue
    time = draw(st.floats(0.0, room, allow_nan=False).map(lambda t: round(t, 1)))
    n = draw(st.integers(1, 3))
    magnitudes = tuple(draw(st.lists(st.floats(0.0, 10.0).map(lambda m: round(m, 2)), min_size=n, max_size=n,
                                     unique=True)))
    weights = np.asarray(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)), float)
    probabilities = tuple((weights / weights.sum()).tolist())
    delivery = draw(st.sampled_from([1.0, 0.5, 0.8]))
    return drl.RewardEvent(time, magnitudes=magnitudes, probabilities=probabilities, delivery_probability=delivery)


@st.composite
def tasks(draw):
    duration = draw(st.sampled_from([1.0, 2.0, 3.0]))
    n_types = draw(st.integers(1, 3))
    types = []
    for i in range(n_types):
        cue = draw(st.sampled_from([0.0, 0.2, 0.5]))
        rewards = tuple(draw(st.lists(events(duration, cue), max_size=2)))
        types.append(drl.TrialType(f"type_{i}", cue, rewards))
    return drl.Task("random", duration, 0.1, tuple(types), units=draw(st.sampled_from(["µl", "reward units"])))


@FEW
@given(task=tasks(), seed=st.integers(0, 2**31 - 1))
def test_a_valid_spec_simulates_reproducibly_and_round_trips(task, seed):
    assert drl.Task.from_dict(task.to_dict()) == task
    pop = drl.Population.sample(3, tau=(0.2, 0.8), gamma=[0.8, 1.0], seed=seed % 1000)
    first = drl.simulate(task, pop, 12, seed=seed, progress=False)
    second = drl.simulate(task, pop, 12, seed=seed, progress=False)
    first.attrs.pop("created"), second.attrs.pop("created")
    xr.testing.assert_identical(first, second)
    with tempfile.TemporaryDirectory() as folder:
        back = drl.load(drl.save(first, Path(folder) / "run.nc")).load()
    back.attrs.pop("created", None)
    xr.testing.assert_identical(back.drop_attrs(deep=False), first.drop_attrs(deep=False))


def _paths(data, prefix=()):
    """Every (path, value) in a nested dict/list spec."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield prefix + (key,), value
            yield from _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield prefix + (index,), value
            yield from _paths(value, prefix + (index,))


BASE_SPEC = drl.get_task("sousa_2025").to_dict()
SPEC_PATHS = [path for path, _ in _paths(BASE_SPEC)]


@FEW
@given(path=st.sampled_from(SPEC_PATHS), junk=JUNK, delete=st.booleans())
def test_an_invalid_spec_gets_a_promised_error(path, junk, delete):
    import copy

    spec = copy.deepcopy(BASE_SPEC)
    parent = spec
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = junk
    _promised(lambda: drl.Task.from_dict(spec))


# ------------------------------------------------------------------------------------------------ run files
@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stored")
    run = drl.simulate("lowet_2025", drl.Population.sample(3, tau=(0.2, 0.8), seed=0), 30, progress=False)
    return drl.save(run, folder / "base.nc")


ATTRIBUTES = ["schema", "schema_version", "task_name", "task", "options", "dt", "seed", "n_trials", "created",
              "drl_json_attrs", "drl_complete", "title"]
VARIABLES = ["value", "rpe", "reward", "weights", "trial", "time", "tau", "gamma", "trial_type"]


@FEW
@given(name=st.sampled_from(ATTRIBUTES + VARIABLES), junk=st.one_of(st.integers(-5, 10**9), st.text(max_size=20),
                                                                   st.floats(allow_nan=True)),
       delete=st.booleans())
def test_a_run_file_with_a_field_removed_or_retyped_gets_a_promised_error(stored_run, tmp_path_factory, name, junk,
                                                                          delete):
    path = tmp_path_factory.mktemp("edited") / "run.nc"
    shutil.copy(stored_run, path)
    with netCDF4.Dataset(path, "a") as nc:
        if name in nc.ncattrs():
            nc.delncattr(name) if delete else nc.setncattr(name, junk)
        elif name in nc.variables:
            variable = nc.variables[name]
            if delete and variable.ncattrs():
                variable.delncattr(variable.ncattrs()[0])
            elif variable.dtype != str and np.issubdtype(variable.dtype, np.number) and isinstance(junk, float):
                variable[...] = np.full(variable.shape, junk).astype(variable.dtype, casting="unsafe")
            else:
                variable.setncattr("units", str(junk))

    def read_and_use():
        ds = drl.load(path)
        drl.convergence(ds)
        drl.decode.reward_responses(ds, "variable")

    _promised(read_and_use)


# ------------------------------------------------------------------------------------------------ checkpoints
@pytest.fixture(scope="module")
def interrupted_template(tmp_path_factory):
    """The files of a streamed run interrupted after its second checkpoint (20 of 30 trials)."""
    folder = tmp_path_factory.mktemp("interrupted")
    interrupt_a_streamed_run(folder / "run.nc")
    return folder


@FEW
@given(field=st.sampled_from(["trials_done", "position", "weights", "rng_state", "trials"]),
       junk=st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                      st.lists(st.floats(-2, 2), min_size=1, max_size=6), st.text(max_size=5)),
       drop=st.booleans())
def test_a_corrupted_checkpoint_gets_a_promised_error_and_the_run_stays(interrupted_template, tmp_path_factory,
                                                                        field, junk, drop):
    folder = tmp_path_factory.mktemp("resume")
    for path in interrupted_template.iterdir():
        shutil.copy(path, folder / path.name)
    tmp = next(folder.glob(".run.nc.*.tmp"))
    if field == "trials":
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(junk) if not isinstance(junk, str) else np.array([junk]))
        (folder / (tmp.name + ".trials.npy")).write_bytes(buffer.getvalue())
    else:
        with np.load(checkpoint_path(tmp)) as stored:
            state = dict(stored)
        if drop:
            state.pop(field, None)
        else:
            state[field] = np.asarray(junk) if not isinstance(junk, str) else np.array(junk)
        buffer = io.BytesIO()
        np.savez(buffer, **state)
        checkpoint_path(tmp).write_bytes(buffer.getvalue())
    result = _promised(lambda: drl.resume(folder / "run.nc", progress=False))
    if result is None:  # refused: the interrupted run is still there to resume once repaired
        assert interrupted_runs(folder)["name"].tolist() == ["run"]


# ------------------------------------------------------------------------------------------------ recordings
CELLS = st.one_of(st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True, width=32), st.text(max_size=4),
                  st.none())


@FEW
@given(rows=st.lists(st.tuples(CELLS, CELLS, CELLS), max_size=8),
       columns=st.sampled_from([["neuron", "magnitude", "response"], ["neuron", "delay", "response"],
                                ["cell", "magnitude", "dff"]]),
       as_csv=st.booleans())
def test_a_random_recordings_table_gets_a_promised_error_or_a_form(tmp_path_factory, rows, columns, as_csv):
    table = pd.DataFrame(rows, columns=columns)
    if as_csv:
        path = tmp_path_factory.mktemp("table") / "t.csv"
        table.to_csv(path, index=False)
        table = path
    form = _promised(lambda: drl.responses.responses_from_table(table))
    if form is not None:
        # a neuron without rows in a condition is NaN there (by design); every neuron has a finite value
        values = form["response"].values
        assert not np.isinf(values).any() and np.isfinite(values).any(1).all()


@FEW
@given(content=st.binary(max_size=200))
def test_random_bytes_as_a_recordings_csv_get_a_promised_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("bytes") / "t.csv"
    path.write_bytes(content)
    _promised(lambda: drl.responses.responses_from_table(path))


# ------------------------------------------------------------------------------------------ choice data
def _choices():
    dataset, _, _ = drl.spice.create_dataset(drl.spice.AgentQ(rng=0), drl.spice.BanditsDrift(0.2, rng=0), 12, 3)
    return dataset.xs.numpy(), dataset.ys.numpy()


CHOICE_XS, CHOICE_YS = _choices()
NUMBERS = st.one_of(st.integers(-3, 10**8), st.floats(allow_nan=True, allow_infinity=True, width=32))


@FEW
@given(array=st.sampled_from(["xs", "ys", "probabilities"]), session=st.integers(0, 2), trial=st.integers(0, 10),
       column=st.integers(0, 4), value=NUMBERS)
def test_a_corrupted_choice_entry_gets_a_promised_error_or_an_honest_result(array, session, trial, column, value):
    """One entry of valid choice data (inputs, next choices, predicted probabilities) replaced by any number: the
    fit and the comparison either refuse it with a promised error or return finite scores over real choices."""
    xs, ys, probabilities = CHOICE_XS.copy(), CHOICE_YS.copy(), np.full(CHOICE_YS.shape, 0.5)
    target = {"xs": xs, "ys": ys, "probabilities": probabilities}[array]
    target[session, trial, column % target.shape[-1]] = value
    fitted = _promised(lambda: drl.spice.fit_q_learning(xs, ys, n_restarts=1, max_iter=2))
    if fitted is not None:
        assert np.isfinite(fitted.nll).all() and (fitted.n_choices > 0).all()
    compared = _promised(lambda: drl.spice.compare_models({"m": probabilities}, ys, xs[:, 0, -1]))
    if compared is not None:
        summary = compared.summary
        assert (summary["nll"] >= 0).all() and ((summary["likelihood"] > 0) & (summary["likelihood"] <= 1)).all()


@FEW
@given(rows=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), NUMBERS, NUMBERS), min_size=1, max_size=10))
def test_a_random_choice_table_gets_a_promised_error_or_valid_arrays(rows):
    table = pd.DataFrame(rows, columns=["participant", "trial", "choice", "reward"]).assign(session=0)
    dataset = _promised(lambda: drl.spice.load_choice_table(table))
    if dataset is not None:
        drl.spice.check_choice_arrays(dataset.xs.numpy(), dataset.ys.numpy())  # what it returns obeys the rules
        assert dataset.xs.shape[-1] <= 3 * drl.spice.data.MAX_ACTIONS
