"""Reading a sweep back fast: ``open_sweep`` stacks runs of one shape from their headers (and a header index
beside the files) instead of xarray's combine, and must give what xarray's ``open_mfdataset`` gives, which is
written here as the reference; runs of different shapes still go through xarray (outer join)."""

import json
import os

import numpy as np
import pytest
import xarray as xr

from drl.sweep import open_sweep, sweep, sweep_coordinate, sweep_run
from drl.sweep.results import _combined_by_xarray
from drl.sweep.stacked import HEADER_INDEX, stack_runs

pytestmark = pytest.mark.slow  # a Dask cluster of worker processes

BASE = {"task": "lowet_2025", "n_trials": 40, "tau": [0.2, 0.8], "gamma": 0.9, "seed": 3}


def by_xarray(out):
    """open_sweep as it was: every file through open_mfdataset, in run order."""
    from drl.runs.encoding import decode_attrs

    files = sorted(str(p) for p in (os.path.join("exps", out, f) for f in os.listdir(f"exps/{out}"))
                   if os.path.basename(p).startswith("run_"))
    fields = list(json.load(open(f"exps/{out}/sweep.json"))["grid"])

    def coordinates(raw):
        config = decode_attrs(raw)["sweep_config"]
        return {"run": int(raw["sweep_index"]),
                **{sweep_coordinate(f): json.dumps(config[f]) if isinstance(config[f], list) else config[f]
                   for f in fields}}

    combined, _, _ = _combined_by_xarray(files, coordinates)
    return combined.isel(run=np.argsort(combined["run"].values))


@pytest.mark.parametrize("grid", [{"tau": [[0.1, 0.5], [0.3, 0.9]], "alpha": [0.05, 0.2]},  # coords differ by run
                                  {"seed": [1, 2, 3]},  # trial types and rewards differ by run
                                  {"alpha": [0.05, 0.1, 0.2]}])  # only the learning differs
def test_runs_of_one_shape_are_stacked_as_xarray_combines_them(client, grid):
    sweep(BASE, grid, out="s", client=client, progress=False)
    assert os.path.isfile(f"exps/s/{HEADER_INDEX}")  # written by the sweep as it ended
    fast, reference = open_sweep("s"), by_xarray("s")
    assert stack_runs(sorted(f"exps/s/{f}" for f in os.listdir("exps/s") if f.startswith("run_")),
                      lambda raw: {"run": int(raw["sweep_index"])}) is not None  # the fast path was taken
    xr.testing.assert_identical(fast.drop_attrs(), reference.drop_attrs())
    assert list(fast.attrs)[:-3] == [k for k in reference.attrs if k != "drl_json_attrs"]  # in their order
    assert {k: v for k, v in fast.attrs.items() if k not in ("sweep_fields", "runs", "run_files")} \
        == {k: v for k, v in reference.attrs.items() if k != "drl_json_attrs"}
    for name in fast.variables:  # every variable's own attributes (units, long names)
        assert fast[name].attrs == reference[name].attrs, name
    for run in range(fast.sizes["run"]):  # each run's slice of the stack is its own file
        xr.testing.assert_equal(sweep_run(fast.assign_attrs(run_files={}), run).load(), sweep_run(fast, run).load())
    # the header index read back gives the same Dataset, and a damaged index is rebuilt from the files
    xr.testing.assert_identical(open_sweep("s").drop_attrs(), fast.drop_attrs())
    with open(f"exps/s/{HEADER_INDEX}", "w") as index:
        index.write('{"run_0000.nc": {"size": ')
    xr.testing.assert_identical(open_sweep("s").drop_attrs(), fast.drop_attrs())
    assert open_sweep("s").attrs["runs"] == fast.attrs["runs"]


def test_a_rewritten_run_is_read_again_not_taken_from_the_index(client):
    sweep(BASE, {"alpha": [0.05, 0.2]}, out="s", client=client, progress=False)
    before = open_sweep("s")["value"].values
    # the second run replaced by the first's file under its own name (as a re-run would replace it)
    os.replace("exps/s/run_0000.nc", "exps/s/run_0001.nc")
    os.utime("exps/s/run_0001.nc", ns=(1, 1))
    after = open_sweep("s")
    assert after.sizes["run"] == 1 and int(after["run"][0]) == 0  # the file says run 0, whatever its name
    np.testing.assert_array_equal(after["value"].values[0], before[0])


def test_runs_of_different_shapes_are_padded_by_xarray(client):
    sweep(BASE, {"n_trials": [30, 40]}, out="s", client=client, progress=False)
    files = sorted(f"exps/s/{f}" for f in os.listdir("exps/s") if f.startswith("run_"))
    assert stack_runs(files, lambda raw: {"run": int(raw["sweep_index"])}) is None  # not stackable: xarray joins
    combined = open_sweep("s")
    assert combined.sizes["trial"] == 40 and bool(np.isnan(combined["reward"].isel(run=0, trial=-1)).all())
    xr.testing.assert_identical(combined.drop_attrs(), by_xarray("s").drop_attrs())
