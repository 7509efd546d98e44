"""Figures fit for a lab meeting: no panel's labels, ticks or colorbar label run into another panel."""

import itertools
import warnings

import matplotlib.pyplot as plt
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

import drl
from drl import plots


@pytest.fixture(scope="module")
def runs(paper_runs):
    return paper_runs


def _overlaps(fig):
    """Pairs of axes (colorbars included) whose drawn extents, labels and ticks included, overlap by more than a
    pixel each way. A twin axis (same position, e.g. a second y scale) is one panel."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    found = []
    for (i, a), (j, b) in itertools.combinations(enumerate(axes), 2):
        if a.get_position().bounds == b.get_position().bounds:
            continue
        box = a.get_tightbbox(renderer).intersection(a.get_tightbbox(renderer), b.get_tightbbox(renderer))
        if box is not None and box.width > 1 and box.height > 1:
            found.append((i, a.get_label() or a.get_title(), j, b.get_label() or b.get_title()))
    return found


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Animation was deleted")
def test_no_panel_runs_into_another(runs):
    dabney, masset, sousa = runs
    figures = {
        "summary": lambda: plots.summary(dabney),
        "summary (γ only)": lambda: plots.summary(masset),
        "val_at_t": lambda: plots.val_at_t(dabney, 1.0, facet_by="gamma"),
        "val_at_t (4 facets)": lambda: plots.val_at_t(sousa, 1.0, facet_by="gamma"),
        "heatmap": lambda: plots.heatmap(dabney, [0, 1, 2, 3, 4]),
        "reward_response": lambda: plots.reward_response(dabney),
        "population_response": lambda: plots.population_response(sousa),
        "value_vs_delay": lambda: plots.value_vs_delay(masset),
        "timing": lambda: plots.timing(masset),
        "joint_map": lambda: plots.joint_map(sousa),
        "val_over_t": lambda: plots.val_over_t(sousa, trials=slice(0, 3), facet_by="gamma")._fig,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drl.ConvergenceWarning)
        for name, draw in figures.items():
            assert _overlaps(draw()) == [], name
            plt.close("all")


def test_the_overlap_check_sees_a_label_running_into_a_panel():
    fig, (left, right) = plt.subplots(1, 2, figsize=(4, 2))  # no layout engine: nothing makes room
    right.set_ylabel("a long label\nthat reaches\nleftwards", fontsize=20)
    assert _overlaps(fig) != []
    plt.close(fig)
