import subprocess
import sys
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest

import drl
from drl import plots

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run():
    pop = drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=[0.7, 0.95], alpha=0.1)
    ds = drl.simulate("lowet_2025", pop, 60, progress=False)
    drl.save(ds, "small")
    return ds


def test_val_at_t_lines_panels_colorbar(run):
    fig = plots.val_at_t("small", 1.0, trial_type="variable", color_by="tau", facet_by="gamma", save="vat")
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2 and all(len(ax.lines) == 3 for ax in panels)
    assert "value at t = 1 s" in panels[0].get_ylabel() and panels[0].get_xlabel() == "trial"
    cbar = fig.axes[-1]
    assert "τ" in cbar.get_ylabel()
    assert np.allclose(cbar.get_ylim(), [0.2, 0.8])
    line = panels[0].lines[2]  # τ = 0.8 → top of the colormap
    assert np.allclose(line.get_color(), mpl.colormaps["viridis"](1.0))
    assert np.allclose(panels[0].lines[0].get_color(), mpl.colormaps["viridis"](0.0))  # τ = 0.2 → bottom
    n_trials = int((run.trial_type == "variable").sum())
    assert len(panels[0].lines[0].get_xdata()) == n_trials
    assert Path("figs/vat.png").is_file()


def test_heatmap_symmetric_and_nothing_written_unless_asked(run):
    fig = plots.heatmap(run, [0, 5], trial_type="fixed")
    meshes = [ax.collections[0] for ax in fig.axes if ax.collections and ax.get_label() != "<colorbar>"]
    assert len(meshes) == 2
    lo, hi = meshes[0].get_clim()
    assert lo == -hi and hi > 0
    assert "τ=0.20" in fig.axes[0].get_title()
    assert not Path("figs").exists()


def test_figure_errors(run):
    with pytest.raises(ValueError, match="unknown trial type 'fixd'.*Did you mean 'fixed'"):
        plots.val_at_t(run, 1.0, trial_type="fixd")
    with pytest.raises(ValueError, match="unknown parameter 'taus'"):
        plots.val_at_t(run, 1.0, color_by="taus")
    with pytest.raises(ValueError, match=r"time must be within the recorded times \[0, 6\] s; got 9"):
        plots.val_at_t(run, 9.0)
    with pytest.raises(ValueError, match=r"predictors must be indices in \[0, 5\]"):
        plots.heatmap(run, [7])
    no_rpe = drl.simulate("lowet_2025", drl.Population.sample(2), 5, record=("value",), progress=False)
    with pytest.raises(ValueError, match="did not record 'rpe'"):
        plots.heatmap(no_rpe, [0])


def test_summary_figure(run):
    fig = plots.summary("small", save="summary.svg")
    assert Path("figs/summary.svg").is_file()
    assert "lowet_2025" in fig.get_suptitle()
    assert len(fig.axes[0].lines) == 6


def _drl(*args):
    """``drl ARGS`` in this process (cli.main; a subprocess would only add the start-up time)."""
    import contextlib
    import io
    from types import SimpleNamespace

    from drl import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as stop:
            code = stop.code
    return SimpleNamespace(returncode=code or 0, stdout=out.getvalue(), stderr=err.getvalue())


def test_the_drl_command_is_installed():
    exe = Path(sys.executable).with_name("drl")
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("drl ")


def test_cli_round_trip():
    r = _drl("run", "hyp_unif", "--tau", "0.2:0.8", "--predictors", "6", "--trials", "40", "--out", "cli", "--quiet")
    assert r.returncode == 0, r.stderr
    assert Path("exps/cli.nc").is_file()
    r = _drl("info", "cli")
    assert r.returncode == 0 and "hyp_unif" in r.stdout and "'predictor': 6" in r.stdout
    r = _drl("plot", "cli", "--kind", "val_at_t", "--time", "2.0")
    assert r.returncode == 0 and Path("figs/cli_val_at_t.png").is_file()
    r = _drl("plot", "cli", "--kind", "val_over_t", "--trials", "6", "--save", "anim")
    assert r.returncode == 0 and Path("figs/anim.gif").is_file(), r.stderr
    r = _drl("plot", "cli", "--kind", "reward_response")  # hyp_unif pays one magnitude: nothing to reverse
    assert r.returncode == 2 and "reversal points need rewards of different magnitudes" in r.stderr
    assert "Traceback" not in r.stderr
    r = _drl("run", "hyp_unif", "--trials", "5", "--out", "cli", "--quiet")
    assert r.returncode == 2 and r.stderr.startswith("drl: error: exps/cli.nc already exists")
    assert "Traceback" not in r.stderr
    r = _drl("run", "hyp_unif", "--gamma", "1.5", "--trials", "5", "--out", "bad", "--quiet")
    assert r.returncode == 2 and "gamma must be in [0, 1]; got 1.5" in r.stderr
    assert _drl("tasks").stdout.count("Nature") >= 3


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_as_a_user_sees_it(tmp_path, monkeypatch):
    """sim.ipynb in a kernel started as a user's (no MPLBACKEND, no magic): every cell that draws shows an image
    (or the player / explorer), and no cell prints a warning or an error a newcomer would have to judge."""
    import nbformat
    from conftest import execute_notebook

    nb = nbformat.read(ROOT / "sim.ipynb", as_version=4)
    for cell in nb.cells:  # a copy, run fresh: outputs a user's JupyterLab saved do not matter
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    Path("exps").mkdir()
    nb = execute_notebook(nb, timeout=60, cwd=tmp_path)  # 60 s a cell (the slowest takes 18 s): execute_notebook
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    drawn = 0
    for cell in code:
        figures = cell.source.count("plots.") - cell.source.count("from drl import plots") \
            - cell.source.count("plots.val_over_t")
        shown = [out for out in cell.outputs if out.get("output_type") in ("display_data", "execute_result")]
        pngs = sum("image/png" in out.get("data", {}) for out in shown)
        assert pngs >= figures, f"a figure cell shows {pngs} of its {figures} figures:\n{cell.source}"
        drawn += pngs
        if "val_over_t" in cell.source:
            assert any('class="drl-player"' in out.get("data", {}).get("text/html", "") for out in shown), cell.source
        if "explore(" in cell.source:
            assert any("application/vnd.jupyter.widget-view+json" in out.get("data", {}) for out in shown)
        noise = [out.get("text", "") for out in cell.outputs if out.get("name") == "stderr"]
        assert not any("Warning" in text or "Error" in text or "killing" in text for text in noise), \
            f"the tutorial shows a newcomer {noise} for:\n{cell.source}"
    assert drawn >= 7  # val_at_t, heatmap, summary, reward_response, value_vs_delay, timing, joint_map
    assert Path("figs/tutorial_summary.png").is_file() and Path("exps/tutorial.nc").is_file()
    assert Path("figs/tutorial_val_over_t.gif").is_file() and Path("figs/tutorial_joint_map.png").is_file()


@pytest.mark.slow
def test_cli_sweep_from_a_file_and_its_errors():
    Path("sw.toml").write_text('out = "from_file"\nshared_seed = true\n[base]\ntask = "hyp_unif"\nn_trials = 30\n'
                               'tau = [0.2, 0.8]\n[grid]\ngamma = [0.8, 0.95]\n')
    r = _drl("sweep", "sw.toml", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "2 done, 0 skipped, 0 failed" in r.stdout
    assert sorted(p.name for p in Path("exps/from_file").glob("run_*.nc")) == ["run_0000.nc", "run_0001.nc"]
    Path("bad.toml").write_text('out = "x"\n[base]\ntask = "hyp_unif"\n[grids]\ngamma = [0.8]\n')
    r = _drl("sweep", "bad.toml")
    assert r.returncode == 2 and "bad.toml: unknown key(s) ['grids']" in r.stderr and "missing key(s) ['grid']" in r.stderr
    r = _drl("sweep", "missing.toml")
    assert r.returncode == 2 and "no sweep file at missing.toml" in r.stderr


def test_cli_conflicting_flags_and_suggestions():
    r = _drl("run", "hyp_unif", "--tau-grid", "5", "--tau", "0.3", "--out", "x")
    assert r.returncode == 2 and "give --tau or --tau-grid, not both" in r.stderr
    r = _drl("run", "dabney", "--out", "x")
    assert r.returncode == 2 and "'dabney_variable_magnitude', 'dabney_variable_probability'" in r.stderr
    r = _drl()
    assert r.returncode == 0 and "usage: drl" in r.stdout
    r = _drl("ls")
    assert r.returncode == 2 and "no folder exps to list runs from" in r.stderr
    _drl("run", "hyp_unif", "--trials", "20", "--out", "listed", "--quiet")
    r = _drl("ls")
    assert r.returncode == 0 and "listed" in r.stdout and "hyp_unif" in r.stdout
