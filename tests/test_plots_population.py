"""The animation and the population figures: what is drawn, and files only when asked."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from reference_runs import reference_run

import drl
from drl import plots


@pytest.fixture(scope="module")
def dabney():
    return reference_run("dabney_5x2")


@pytest.fixture(scope="module")
def masset():
    return reference_run("masset_gamma8")


def _panels(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def test_val_over_t_frames_data_and_gif(dabney):
    anim = plots.val_over_t(dabney, color_by="tau", facet_by="gamma", trials=slice(0, 49), every=7)
    assert list(anim.trials) == [0, 7, 14, 21, 28, 35, 42, 49]  # trial numbers 0…49, thinned; the last kept
    fig = anim._fig
    value_ax, rpe_ax = _panels(fig)[0], _panels(fig)[2]  # row-major: value panels, then RPE panels
    # reward + 5 predictors + cue and reward markers; 5 predictors + zero line + the two markers
    assert len(value_ax.lines) == 1 + 5 + 2 and len(rpe_ax.lines) == 5 + 1 + 2
    markers = sorted(float(line.get_xdata()[0]) for line in value_ax.lines if line.get_linestyle() in (":", "--")
                     and len(line.get_xdata()) == 2)
    assert markers == [0.5, 2.5]  # the cue and the reward of dabney_variable_magnitude
    anim.update(3)  # frame 3 shows trial 21
    members = np.flatnonzero(dabney["gamma"].values == 0.7)
    assert np.allclose(value_ax.lines[1].get_ydata(), dabney["value"].values[members[0], 21])
    assert np.allclose(rpe_ax.lines[0].get_ydata(), dabney["rpe"].values[members[0], 21])
    assert np.allclose(value_ax.lines[0].get_ydata(), dabney["reward"].values[21])
    assert np.allclose(_colorbars(fig)[0].get_ylim(), [0.1, 0.9])
    assert "value" in value_ax.get_ylabel() and "time in trial (s)" == rpe_ax.get_xlabel()
    assert not Path("figs").exists()  # nothing written unless asked
    assert "<script" in anim._repr_html_()  # inline player in a notebook
    anim = plots.val_over_t(dabney, trials=slice(0, 11), save="movie")
    with Image.open("figs/movie.gif") as gif:
        assert gif.n_frames == 12
    assert sorted(p.name for p in Path("figs").iterdir()) == ["movie.gif"]  # no temporary left


def test_val_over_t_errors(dabney):
    with pytest.raises(ValueError, match="every must be a positive integer; got 0"):
        plots.val_over_t(dabney, every=0)
    with pytest.raises(ValueError, match="selects no trial"):
        plots.val_over_t(dabney, trials=slice(6, 5))
    with pytest.raises(ValueError, match=r"\[900\] was not recorded for this trial type \(600 recorded trials, 0 … 599\)"):
        plots.val_over_t(dabney, trials=[900])
    from matplotlib import animation

    if not animation.writers.is_available("ffmpeg"):
        with pytest.raises(ValueError, match="needs ffmpeg"):
            plots.val_over_t(dabney, trials=slice(0, 2), save="movie.mp4")


def test_reward_response(dabney):
    fig = plots.reward_response(dabney, save="rr")
    response, reversal, decoded = _panels(fig)[:3]
    assert len(response.lines) == 3 * 10 + 1  # means, the fitted line and a reversal marker per predictor; zero
    assert len(reversal.collections[0].get_offsets()) == 10
    legend = [t.get_text() for t in decoded.get_legend().get_texts()]
    assert legend[0].startswith("decoded (") and legend[1] == "true"
    assert legend[2].startswith("area = W1 = ") and legend[2].endswith("µl")
    assert np.allclose(_colorbars(fig)[0].get_ylim(), [0.1, 0.9])
    assert response.get_xlabel() == "reward magnitude (µl)"  # the task's declared unit
    assert Path("figs/rr.png").is_file()


def test_population_response(dabney):
    fig = plots.population_response(dabney)
    assert len(_panels(fig)) == 4 and len(_colorbars(fig)) == 4
    assert [ax.get_xlabel() for ax in _panels(fig)] == ["optimism τ", "γ (per s)"] * 2
    cue = _panels(fig)[0].collections[0].get_offsets()
    assert len(cue) == 10 and np.all(np.asarray(cue)[:, 1] > 0)  # rewards are positive: cue responses too
    with pytest.raises(ValueError, match="has no reward"):
        plots.population_response(drl.simulate("lowet_2025", drl.Population.sample(2), 6, progress=False),
                                  "nothing")


def test_value_vs_delay_and_timing(masset):
    fig = plots.value_vs_delay(masset)
    fit_ax, gamma_ax = _panels(fig)
    assert len(fit_ax.lines) == 2 * 8
    assert np.allclose(_colorbars(fig)[0].get_ylim(), [0.5, 0.99])
    offsets = np.asarray(gamma_ax.collections[0].get_offsets())
    assert np.abs(offsets[:, 0] - offsets[:, 1]).max() < 0.02  # γ̂ against γ
    fig = plots.timing(masset, times=np.arange(0, 12.01, 0.5))
    assert len(_panels(fig)) == 4
    heights = [patch.get_height() for patch in _panels(fig)[0].patches]
    assert np.isclose(sum(heights), 1.0)


def test_joint_map():
    pop = drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=[0.5, 0.7, 0.85, 0.95], alpha=0.05, lam=0.9)
    run = drl.simulate("sousa_2025", pop, 1000, progress=False)
    fig = plots.joint_map(run, "variable", save="joint.pdf")
    mesh = _panels(fig)[0].collections[0]
    assert np.isclose(np.asarray(mesh.get_array()).sum(), 1.0)
    assert Path("figs/joint.pdf").is_file()


def test_figures_follow_the_parameters_that_vary():
    import matplotlib.pyplot as plt

    one_tau = drl.Population.grid(gamma=[0.5, 0.7, 0.8, 0.9, 0.95, 0.99], alpha=0.1, lam=0.9)  # τ = 0.5 for all
    run = drl.simulate("dabney_variable_magnitude", one_tau, 300, progress=False)
    fig = plots.summary(run)
    assert _colorbars(fig)[0].get_ylabel().startswith("δ")  # the heat map's; the lines' is γ's:
    assert any(ax.get_ylabel() == "γ (per s)" for ax in _colorbars(fig))
    fig = plots.population_response(run)
    tau_panel = _panels(fig)[0]
    assert np.ptp(tau_panel.get_xlim()) >= 0.09  # one τ: a column, not an axis squeezed to 0.48-0.52
    assert len(_colorbars(fig)) == 2  # the γ colourings; τ (constant) gets none
    fig = plots.val_at_t(run, 1.0, facet_by="gamma")  # six facets wrap at four per row, sharing y
    panels = _panels(fig)
    assert len(panels) == 6 and len({round(ax.get_position().y0, 3) for ax in panels}) == 2
    assert len({ax.get_ylim() for ax in panels}) == 1
    fig, ax = plt.subplots()
    assert plots.heatmap(run, 2, ax=ax) is fig and "µl" in fig.axes[-1].get_ylabel()
    with pytest.raises(ValueError, match="ax= draws one panel; give one predictor, not 2"):
        plots.heatmap(run, [0, 1], ax=ax)
    plt.close("all")
