"""The explorer, driven by setting its widgets' values (no browser)."""

import matplotlib as mpl
import numpy as np
import pytest

import drl
from drl.widgets import explore


@pytest.fixture
def run():
    pop = drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=[0.7, 0.95], alpha=0.1)
    ds = drl.simulate("lowet_2025", pop, 60, progress=False)
    drl.save(ds, "explore")
    return ds


def test_explorer_follows_its_widgets(run):
    ex = explore("explore", trial_type="variable")
    sub = run.isel(trial=np.flatnonzero(run["trial_type"].values == "variable"))
    assert list(ex.trial.options) == sub["trial"].values.tolist()  # the run's trial numbers
    ex.trial.value = int(sub["trial"][7])
    assert np.allclose(ex.value_lines[4].get_ydata(), sub["value"].values[4, 7])
    assert np.allclose(ex.rpe_lines[2].get_ydata(), sub["rpe"].values[2, 7])
    assert np.allclose(ex.reward_line.get_ydata(), sub["reward"].values[7])
    assert f"trial {int(sub['trial'][7])}" in ex.ax_value.get_title()
    assert ex.trial_marker.get_xdata()[0] == int(sub["trial"][7])

    ex.time.value = 3.0  # the reward time: value there across trials
    k = int(np.argmin(np.abs(run["time"].values - 3.0)))
    assert np.allclose(ex.across_lines[1].get_ydata(), sub["value"].values[1, :, k])
    assert "t = 3 s" in ex.ax_across.get_ylabel()

    ex.trial_type.value = "fixed"
    fixed = run.isel(trial=np.flatnonzero(run["trial_type"].values == "fixed"))
    assert list(ex.trial.options) == fixed["trial"].values.tolist()
    assert abs(ex.trial.value - int(sub["trial"][7])) <= 3  # the nearest fixed trial to the one shown
    assert np.allclose(ex.across_lines[0].get_xdata(), fixed["trial"].values)
    assert np.allclose(ex.value_lines[0].get_ydata(), fixed["value"].sel(trial=ex.trial.value).values[0])

    ex.color_by.value = "gamma"  # predictor 1 has the largest γ (0.95): top of the colormap
    assert np.allclose(ex.value_lines[1].get_color(), mpl.colormaps["viridis"](1.0))
    assert np.allclose(ex.colorbar.ax.get_ylim(), [0.7, 0.95])
    assert "γ" in ex.colorbar.ax.get_ylabel()
    assert ex.widget.children  # a displayable box


def test_explorer_bad_input(run):
    with pytest.raises(ValueError, match="unknown trial type 'fixd'"):
        explore(run, trial_type="fixd")
    no_rpe = drl.simulate("lowet_2025", drl.Population.sample(2), 5, record=("value", "reward"), progress=False)
    with pytest.raises(ValueError, match="did not record 'rpe'"):
        explore(no_rpe)
