"""Storage: lossless round trips, atomic writes, streaming, rerun, schema checks, drl_sim import."""

import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import torch
import xarray as xr

import drl
from drl import Population
from drl.runs.drl_sim import import_drl_sim
from drl.runs.store import list_runs, load, save


def small_run(**kw):
    pop = Population.sample(5, tau=(0.2, 0.8), gamma=[0.7, 0.9], lam=0.5, seed=1)
    return drl.simulate("lowet_2025", pop, 40, progress=False, **kw)


def without_created(ds):
    ds = ds.copy()
    ds.attrs.pop("created")
    return ds


@pytest.mark.parametrize("rule", ["expectile", "quantile"])
@pytest.mark.parametrize("features", ["csc", "microstimulus"])
@pytest.mark.parametrize("extra", [{}, {"preset": "drl_sim"}, {"bootstrap": "imputed"}, {"update": "online"}])
def test_round_trip_is_identical(rule, features, extra):
    ds = small_run(rule=rule, features=features, **extra)
    path = save(ds, "run")
    assert path == Path("exps/run.nc") and path.is_file()
    back = load("run")
    xr.testing.assert_identical(back.load(), ds)
    assert back.attrs["options"] == ds.attrs["options"] and isinstance(back.attrs["task"], dict)


def test_runs_are_built_as_the_public_constructor_builds_them(monkeypatch):
    """build_dataset assembles the Dataset through xarray's internal constructor (speed); the result must be the
    one xarray's public constructor gives, indexes and all."""
    from drl.runs import schema

    direct = small_run(record_trials=3)
    original = schema._assemble
    monkeypatch.setattr(schema, "_assemble", lambda data, coords, indexes: original(data, coords, indexes, False))
    public = small_run(record_trials=3)
    public.attrs["created"] = direct.attrs["created"]
    xr.testing.assert_identical(direct, public)
    assert set(direct.xindexes) == set(public.xindexes) == {"predictor", "trial", "time", "type", "feature"}
    assert direct.sel(trial=slice(3, 9)).sizes["trial"] == public.sel(trial=slice(3, 9)).sizes["trial"] == 3  # 3, 6, 9
    coords = {"predictor": xr.Variable(("predictor",), np.arange(2))}
    with pytest.raises(ValueError, match="dimension 'predictor' has sizes"):
        original({"value": xr.Variable(("predictor",), np.zeros(3))}, coords, {})


def test_file_is_plain_cf_netcdf_with_units_and_json_attrs():
    save(small_run(), "run")
    with netCDF4.Dataset("exps/run.nc") as nc:
        for name in ("value", "rpe", "reward", "weights", "time", "gamma", "tau"):
            assert nc.variables[name].units and nc.variables[name].long_name
        assert nc.variables["value"].chunking() == "contiguous" and not any(nc.variables["value"].filters().values())
        assert isinstance(nc.task, str) and "lowet_2025" in nc.task
    plain = xr.open_dataset("exps/run.nc")  # any xarray user can read it
    assert plain.value.dims == ("predictor", "trial", "time")


def test_large_chunks_are_blosc_compressed_and_incompressible_ones_fall_back_to_zlib():
    pop = Population.sample(64, tau=(0.2, 0.8), gamma=[0.7, 0.9], lam=0.5, seed=1)
    ds = drl.simulate("lowet_2025", pop, 64, progress=False)
    save(ds, "large", compression="blosc_zstd")
    with netCDF4.Dataset("exps/large.nc") as nc:
        assert nc.dimensions["trial"].isunlimited()
        assert nc.variables["value"].filters()["blosc"] == {"compressor": "blosc_zstd", "shuffle": 1}
    xr.testing.assert_identical(load("large").load(), ds)
    # floats with random exponents and mantissas: blosc cannot shrink them and HDF5 reports an error; the save
    # is written again with zlib, never lost
    bits = np.random.default_rng(0).integers(0, 0x7F7FFFFF, ds.value.shape, dtype=np.int64).astype(np.int32)
    noisy = ds.assign(value=ds.value.copy(data=bits.view(np.float32)))
    save(noisy, "noisy", compression="blosc_zstd")
    with netCDF4.Dataset("exps/noisy.nc") as nc:
        assert nc.variables["value"].filters()["zlib"]
    np.testing.assert_array_equal(load("noisy").value.values, noisy.value.values)


@pytest.mark.parametrize("compression, flag", [("zlib", "zlib"), (None, None)])
def test_portable_compression_is_a_choice(compression, flag):
    """zlib for a third of the size, or nothing; either reads back identically."""
    ds = small_run()
    save(ds, "portable", compression=compression)
    with netCDF4.Dataset("exps/portable.nc") as nc:
        filters = nc.variables["value"].filters()
        assert not filters["blosc"] and (filters["zlib"] and filters["shuffle"] if flag else not filters["zlib"])
    xr.testing.assert_identical(without_created(load("portable").load()), without_created(ds))
    with pytest.raises(ValueError, match=r"compression must be one of .*got 'gzip'"):
        save(ds, "other", compression="gzip")
    assert not Path("exps/other.nc").exists()


PLAIN_H5PY = textwrap.dedent("""
    import sys, h5py
    with h5py.File(sys.argv[1]) as f:
        for name in ("value", "rpe", "reward", "weights"):
            f[name][...]
    print("read")
""")


def test_a_default_saved_run_opens_without_plugins_and_survives_an_xarray_round_trip(tmp_path):
    """A lab shares run files with people who do not have drl: h5py with no HDF5 plugin (as MATLAB's ncread, R's
    ncdf4 and a stock netCDF-C build) reads every variable of a default save, and xarray's own to_netcdf copies it.
    The same reader fails on a blosc file, so the check can fail."""
    pop = Population.sample(64, tau=(0.2, 0.8), gamma=[0.7, 0.9], lam=0.5, seed=1)
    ds = drl.simulate("lowet_2025", pop, 200, progress=False)
    default = save(ds, "default")
    blosc = save(ds, "blosc", compression="blosc_zstd")
    no_plugins = tmp_path / "no_plugins"
    no_plugins.mkdir()
    env = {**__import__("os").environ, "HDF5_PLUGIN_PATH": str(no_plugins)}
    read = [subprocess.run([sys.executable, "-c", PLAIN_H5PY, str(p)], capture_output=True, text=True, env=env)
            for p in (default, blosc)]
    assert read[0].returncode == 0 and read[0].stdout.strip() == "read", read[0].stderr
    assert read[1].returncode != 0 and "plugin" in read[1].stderr
    xr.open_dataset(default).load().to_netcdf(tmp_path / "copy.nc")
    copy = xr.open_dataset(tmp_path / "copy.nc")
    np.testing.assert_array_equal(copy.value.values, ds.value.values)
    # a loaded run saved again (either layout) is written with the default layout, not its file's
    for source in ("default", "blosc"):
        path = save(load(source), f"again_{source}")
        with netCDF4.Dataset(path) as nc:
            assert nc.variables["value"].chunking() == "contiguous"
        np.testing.assert_array_equal(load(path).value.values, ds.value.values)


def test_a_streamed_run_is_portable_and_chunked_by_its_blocks(tmp_path):
    """A streamed run's file had zlib chunks of 64 trials: its blocks (6 recorded trials each here) wrote each
    chunk ~10 times, and the stream took 2.3× the in-memory run plus a save. It now has no filter (as a saved
    run: h5py without plugins reads it) and a chunk per block's recorded trials; zlib is opt-in."""
    pop = drl.Population.sample(20, seed=0)
    ds = drl.simulate("hyp_unif", pop, 120, progress=False, record_trials=2, block_trials=12)
    streamed = drl.simulate("hyp_unif", pop, 120, progress=False, record_trials=2, block_trials=12, out="s")
    xr.testing.assert_equal(streamed.load(), ds)
    with netCDF4.Dataset("exps/s.nc") as nc:
        assert nc.variables["value"].filters()["zlib"] is False
        assert nc.variables["value"].chunking() == [20, 6, ds.sizes["time"]]  # a block's 6 recorded trials
    no_plugins = tmp_path / "no_plugins"
    no_plugins.mkdir()
    env = {**__import__("os").environ, "HDF5_PLUGIN_PATH": str(no_plugins)}
    read = subprocess.run([sys.executable, "-c", PLAIN_H5PY, "exps/s.nc"], capture_output=True, text=True, env=env)
    assert read.returncode == 0 and read.stdout.strip() == "read", read.stderr
    packed = drl.simulate("hyp_unif", pop, 120, progress=False, record_trials=2, block_trials=12, out="z",
                          compression="zlib")
    xr.testing.assert_equal(packed.load(), ds)
    with netCDF4.Dataset("exps/z.nc") as nc:
        assert nc.variables["value"].filters()["zlib"] is True
    with pytest.raises(ValueError, match="compression of a streamed run"):
        drl.simulate("hyp_unif", pop, 10, progress=False, out="b", compression="blosc_zstd")
    with pytest.raises(ValueError, match="applies to a streamed run"):
        drl.simulate("hyp_unif", pop, 10, progress=False, compression="zlib")


def test_load_is_lazy():
    save(small_run(), "run")
    ds = load("run")
    assert not ds["value"].variable._in_memory
    assert float(ds.value.isel(predictor=0, trial=-1, time=20)) == pytest.approx(
        float(small_run().value.isel(predictor=0, trial=-1, time=20)))


def test_existing_file_is_not_overwritten_unless_asked():
    ds = small_run()
    save(ds, "run")
    other = small_run(rule="quantile")
    with pytest.raises(FileExistsError, match="exps/run.nc already exists; pass overwrite=True"):
        save(other, "run")
    xr.testing.assert_identical(load("run").load(), ds)
    save(other, "run", overwrite=True)
    assert load("run").attrs["options"]["rule"] == "quantile"
    with pytest.raises(FileExistsError):
        small_run(out="run")


@pytest.mark.slow
def test_killed_writer_leaves_previous_file_intact(tmp_path):
    original = small_run()
    save(original, "victim")
    script = textwrap.dedent(f"""
        import os, drl
        from drl.runs.store import save
        os.chdir({str(tmp_path)!r})
        ds = drl.simulate("hyp_unif", drl.Population.sample(400, tau=(0.1, 0.9)), 600, progress=False)
        print("ready", flush=True)
        save(ds, "victim", overwrite=True)
        print("saved", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.time() + 30
    while not list(Path("exps").glob(".victim.nc.*.tmp")) and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    xr.testing.assert_identical(load("victim").load(), original)


def test_streamed_run_equals_in_memory_run():
    pop = Population.sample(7, tau=(0.1, 0.9), gamma=[0.8, 0.95], lam=0.3, seed=2)
    kw = dict(progress=False, seed=3)
    memory = drl.simulate("sousa_2025", pop, 90, **kw)
    streamed = drl.simulate("sousa_2025", pop, 90, out="streamed", block_trials=16, **kw)
    assert Path("exps/streamed.nc").is_file() and not list(Path("exps").glob(".*tmp"))
    xr.testing.assert_identical(without_created(streamed.load()), without_created(memory))
    save(memory, "saved")
    xr.testing.assert_identical(without_created(load("saved").load()), without_created(streamed.load()))
    thin = drl.simulate("sousa_2025", pop, 90, out="thin", block_trials=16, record_trials=7,
                        record_times=[1.0, 2.5], **kw)
    xr.testing.assert_identical(
        without_created(thin.load()),
        without_created(drl.simulate("sousa_2025", pop, 90, record_trials=7, record_times=[1.0, 2.5], **kw)),
    )


def test_rerun_reproduces_a_stored_run():
    ds = small_run(features="microstimulus", bootstrap="random", rule="quantile", seed=5, record_trials=3)
    save(ds, "orig")
    again = drl.rerun("orig")
    xr.testing.assert_identical(without_created(again), without_created(ds))
    preset = small_run(preset="drl_sim")
    xr.testing.assert_identical(without_created(drl.rerun(preset)), without_created(preset))


def test_list_runs():
    save(small_run(), "a")
    save(small_run(record_trials=10), "exps/sub/b")
    Path("exps/notes.nc").write_bytes(b"not a netcdf")
    table = list_runs("exps")
    assert list(table.name) == ["a", "sub/b"]
    assert list(table.predictors) == [5, 5] and list(table.trials) == [40, 40]
    assert list(table.recorded_trials) == [40, 5]
    assert (table.size_MB > 0).all() and table.task.eq("lowet_2025").all()


def test_load_errors_name_the_file_and_problem():
    with pytest.raises(FileNotFoundError, match="no stored run at exps/missing.nc"):
        load("missing")
    xr.Dataset({"x": ("a", np.arange(3.0))}).to_netcdf("plain.nc")
    with pytest.raises(ValueError, match="plain.nc is not a drl run"):
        load("plain.nc")
    save(small_run(), "full")
    data = Path("exps/full.nc").read_bytes()
    Path("exps/truncated.nc").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.nc is not a readable netCDF file"):
        load("truncated")
    with netCDF4.Dataset("exps/full.nc", "a") as nc:
        nc.schema_version = 99
    with pytest.raises(ValueError, match="full.nc has schema version 99, newer than this drl reads"):
        load("full")
    with pytest.raises(ValueError, match="not a drl run"):
        save(xr.Dataset(), "bad")


def _drl_sim_file(path, alpha):
    # The layout drl_sim's sim() saved: V [P, types, trials, steps], deltas [..., steps-1], states as numpy ints.
    rng = np.random.default_rng(0)
    p, m, n, k = 3, 2, 5, 6
    exp = {
        "V": torch.rand(p, m, n, k), "deltas": torch.rand(p, m, n, k - 1), "T": torch.arange(0, 0.6, 0.1),
        "r": torch.rand(m, n, k), "dt": 0.1, "states": [np.int64(s) for s in rng.integers(0, m, n)],
        "alpha": alpha, "gamma": torch.rand(p, 1), "lmbda": 0.2,
    }
    torch.save(exp, path)
    return exp


def test_import_drl_sim(tmp_path):
    exp = _drl_sim_file(tmp_path / "var.pth", torch.tensor([[0.3, 0.1], [0.2, 0.2], [0.1, 0.4]]))
    ds = import_drl_sim(tmp_path / "var.pth")
    states = [int(s) for s in exp["states"]]
    for n, s in enumerate(states):
        np.testing.assert_allclose(ds.value.values[:, n], exp["V"][:, s, n].numpy())
        np.testing.assert_allclose(ds.rpe.values[:, n, :-1], exp["deltas"][:, s, n].numpy())
        np.testing.assert_allclose(ds.reward.values[n], exp["r"][s, n].numpy())
    np.testing.assert_allclose(ds.alpha_pos, [0.3, 0.2, 0.1])
    np.testing.assert_allclose(ds.tau, [0.75, 0.5, 0.2])
    assert np.isnan(ds.rpe.values[:, :, -1]).all() and ds.attrs["options"]["preset"] == "drl_sim"
    assert list(ds.trial_type.values) == [f"type_{s}" for s in states]
    save(ds, "imported")  # usable like any run
    xr.testing.assert_identical(load("imported").load(), ds)


class Sneaky:
    def __reduce__(self):
        return (print, ("this would run",))


def test_import_drl_sim_refuses_arbitrary_pickles(tmp_path):
    torch.save({"V": Sneaky()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="cannot be loaded safely"):
        import_drl_sim(tmp_path / "evil.pth")
    torch.save({"V": torch.zeros(1)}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="is not a drl_sim run"):
        import_drl_sim(tmp_path / "partial.pth")


@pytest.mark.parametrize("rule", ["expectile", "quantile"])
@pytest.mark.parametrize("task", [t.name for t in drl.list_tasks()])
def test_every_task_and_rule_is_reproducible_and_round_trips(tmp_path, task, rule):
    pop = drl.Population.sample(3, tau=(0.2, 0.8), gamma=[0.8, 1.0], lam=0.5, seed=1)
    first = drl.simulate(task, pop, 40, rule=rule, seed=5, progress=False)
    second = drl.simulate(task, pop, 40, rule=rule, seed=5, progress=False)
    first.attrs.pop("created"), second.attrs.pop("created")
    xr.testing.assert_identical(first, second)
    back = load(save(first, tmp_path / "run.nc")).load()
    back.attrs.pop("created", None)
    xr.testing.assert_identical(back.drop_attrs(deep=False), first.drop_attrs(deep=False))
    assert {k: v for k, v in back.attrs.items() if k in first.attrs} == first.attrs


@pytest.mark.parametrize("call", ["population_response", "reward_response", "timing", "joint_map",
                                  "decode_reward_distribution", "cue_responses"])
def test_a_public_call_opens_validates_and_parses_a_saved_run_once(tmp_path, monkeypatch, call):
    """Resolved at the public entry (run.drl): before, population_response opened the file through open_run
    three times and validated it three times."""
    import matplotlib

    import drl.runs.reading as reading
    import drl.tasks.model as model
    from drl import decode, plots

    matplotlib.use("Agg")
    task = {"population_response": "masset_multi_delay", "cue_responses": "masset_multi_delay",
            "timing": "masset_multi_delay", "joint_map": "sousa_2025"}.get(call, "dabney_variable_magnitude")
    population = drl.Population.grid(gamma=[0.6, 0.9], tau=[0.3, 0.7], alpha=0.1)
    path = tmp_path / "run.nc"
    drl.save(drl.simulate(task, population, 300, progress=False), path)
    counts = {"open": 0, "validate": 0, "parse": 0}

    def counting(key, function):
        def counted(*args, **kwargs):
            counts[key] += 1
            return function(*args, **kwargs)
        return counted

    monkeypatch.setattr(xr, "open_dataset", counting("open", xr.open_dataset))
    monkeypatch.setattr(reading, "validate_dataset", counting("validate", reading.validate_dataset))
    monkeypatch.setattr(model.Task, "from_dict", classmethod(counting("parse", model.Task.from_dict.__func__)))
    reading.task_from_json.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 300 trials have not converged: the call's warnings are not the point
        if call == "population_response":
            plots.population_response(str(path), trial_type="delay_1.5s")
        elif call == "reward_response":
            plots.reward_response(str(path))
        elif call == "timing":
            plots.timing(str(path))
        elif call == "joint_map":
            plots.joint_map(str(path), "variable")
        elif call == "decode_reward_distribution":
            decode.decode_reward_distribution(str(path))
        else:
            decode.cue_responses(str(path))
    import matplotlib.pyplot as plt

    plt.close("all")
    assert counts == {"open": 1, "validate": 1, "parse": 1}, counts


def test_a_run_read_through_its_accessor_is_freed_at_once(tmp_path):
    """run.drl makes no reference cycle: as an xarray-registered accessor it made every run one, freed (and its
    file closed) by the cyclic collector in whatever thread it ran, a Dask one included, where netCDF-C (not
    thread-safe) crashed the test process once while another file was being opened. Chained use works too."""
    import gc
    import weakref

    path = tmp_path / "run.nc"
    drl.save(drl.simulate("delay", drl.Population.grid(tau=[0.3, 0.7]), 20, progress=False), path)
    assert drl.load(path).drl.task.name == "delay"  # chained: the Dataset lives while its accessor is used
    gc.disable()
    try:
        run = drl.load(path)
        assert run.drl.task.name == "delay" and run.drl.options["rule"] == "expectile"
        assert run.drl.population.n_predictors == 2
        freed = weakref.ref(run)
        del run
        assert freed() is None
    finally:
        gc.enable()
