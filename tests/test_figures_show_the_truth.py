"""Figures that say what the data say: each drawn curve crosses zero at its own marker, decoded and true
distributions compared on one honest axis, no parameter hidden, trial numbers meaning trial numbers, one grid
for a decode and its figure, and the trial type a figure picked named."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from reference_runs import reference_run

import drl
from drl import decode, plots


@pytest.fixture(scope="module")
def two_outcomes():
    """2 or 8 µl at 50/50: every chord between the two magnitudes crosses zero at the mean, 5 µl, while the
    reversal points (the τ-expectiles) spread from about 2.3 to 7.7."""
    return reference_run("two_outcomes")


def _lines(ax, gid):
    return [line for line in ax.lines if line.get_gid() == gid]


def _zero_crossing(x, y):
    """Where the polyline (x, y) crosses zero (its first sign change), by linear interpolation."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = np.asarray(x)[keep], np.asarray(y)[keep]
    zero = np.flatnonzero(y == 0)
    if zero.size:
        return x[zero[0]]
    k = np.flatnonzero(np.sign(y[:-1]) != np.sign(y[1:]))[0]
    return x[k] - y[k] * (x[k + 1] - x[k]) / (y[k + 1] - y[k])


def test_each_drawn_response_crosses_zero_at_its_reversal_marker(two_outcomes):
    fig = plots.reward_response(two_outcomes)
    ax = fig.axes[0]
    curves, markers = _lines(ax, "hinge"), _lines(ax, "reversal")
    assert len(curves) == len(markers) == 5
    crossings = [_zero_crossing(c.get_xdata(), c.get_ydata()) for c in curves]
    marked = [float(m.get_xdata()[0]) for m in markers]
    np.testing.assert_allclose(crossings, marked, atol=1e-9)
    # the reversal points spread (the figure's point); chords would all have crossed at the mean, 5 µl
    assert marked[0] < 3.0 and marked[-1] > 7.0
    responses = decode.reward_responses(two_outcomes)
    chords = [_zero_crossing(responses["magnitude"].values, r) for r in responses["response"].values]
    np.testing.assert_allclose(chords, 5.0, atol=0.15)
    # the measured means lie on the drawn lines (a scaled response is exactly this hinge)
    for curve, measured in zip(curves, _lines(ax, "measured"), strict=True):
        x, y = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
        keep = np.isfinite(x)
        on_line = np.interp(measured.get_xdata(), x[keep], y[keep])
        np.testing.assert_allclose(measured.get_ydata(), on_line, atol=0.05 * np.abs(on_line).max())
    plt.close(fig)


def test_hinge_curves_against_a_hand_computed_response():
    import xarray as xr

    responses = xr.Dataset({"reversal_point": ("predictor", [3.0, 10.0]), "slope_pos": ("predictor", [0.2, 0.5]),
                            "slope_neg": ("predictor", [0.05, 0.1])}, coords={"magnitude": [1.0, 4.0, 8.0]})
    x, y = plots.responses.hinge_curves(responses)
    np.testing.assert_allclose(x[0], [1.0, 3.0, 8.0])
    np.testing.assert_allclose(y[0], [0.05 * (1 - 3), 0.0, 0.2 * (8 - 3)])
    # reversal above every magnitude: no side above it to draw
    assert np.isnan(x[1, 2]) and np.isnan(y[1, 2]) and y[1, 0] == pytest.approx(0.1 * (1 - 10))


def test_decoded_distribution_is_drawn_as_cdfs_whose_gap_is_w1():
    true = drl.RewardDistribution([0.0, 4.0], [0.5, 0.5])
    samples = np.sort(np.concatenate([np.full(48, 0.0), np.full(52, 4.1)]))
    decoded = decode.DecodedDistribution(samples=samples, grid=np.linspace(0, 5, 10), density=np.ones(10),
                                         levels=np.array([0.5]), values=np.array([2.0]), kind="expectile")
    fig = plots.distribution(decoded, true, units="µl")
    ax = fig.axes[0]
    assert len(fig.axes) == 1  # one axis: no twin scale to compare across
    assert ax.get_ylabel() == "cumulative probability"
    dec, tru = _lines(ax, "decoded")[0], _lines(ax, "true")[0]
    # the true CDF steps by each atom's probability: 0.5 at 0 and at 4 (a reflected KDE drew 0.48 vs 0.25)
    x, f = np.asarray(tru.get_xdata()), np.asarray(tru.get_ydata())
    assert f[np.searchsorted(x, 0.0, side="right") - 1] == pytest.approx(0.5)
    assert f[-1] == pytest.approx(1.0)
    assert np.asarray(dec.get_ydata())[-1] == pytest.approx(1.0)
    # the shaded area between the curves is the W1 in the legend
    shade = ax.collections[0].get_paths()[0].vertices
    area = abs(0.5 * np.sum(shade[:-1, 0] * shade[1:, 1] - shade[1:, 0] * shade[:-1, 1]))
    w1 = decode.wasserstein(decoded, true)
    assert area == pytest.approx(w1, rel=1e-6)
    assert f"W1 = {w1:.2f} µl" in [t.get_text() for t in ax.get_legend().get_texts()][-1]
    plt.close(fig)


def test_a_hidden_second_parameter_is_named_and_coinciding_points_stay_visible():
    pop = drl.Population.grid(tau=[0.2, 0.5, 0.8], gamma=list(np.linspace(0.5, 0.99, 7)), alpha=0.1, lam=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drl.ConvergenceWarning)
        run = drl.simulate("dabney_variable_magnitude", pop, 200, progress=False)
        fig = plots.summary(run, color_by="tau")
        assert "γ also varies (7 values" in fig.get_suptitle() and "color_by='gamma'" in fig.get_suptitle()
        assert "facet_by" not in fig.get_suptitle()  # summary takes no facet_by: not offered
        plt.close(fig)
        fig = plots.val_at_t(run, time=0.5, color_by="tau")
        assert "γ also varies" in fig.get_suptitle() and "facet_by='gamma'" in fig.get_suptitle()
        plt.close(fig)
        fig = plots.val_at_t(run, time=0.5, color_by="tau", facet_by="gamma")
        assert fig.get_suptitle() == ""  # every parameter is shown: no note
        plt.close(fig)
        fig = plots.population_response(run)
    from matplotlib.collections import PathCollection

    reward_vs_tau = next(ax for ax in fig.axes if "reward" in ax.get_ylabel() and "τ" in ax.get_xlabel())
    sizes = next(c for c in reward_vs_tau.collections if isinstance(c, PathCollection)).get_sizes()
    assert np.unique(sizes).size == 7  # one size per γ level: coinciding points nest instead of covering
    assert np.all(np.diff(sizes) <= 0)  # drawn largest first, so the small ones stay on top
    plt.close(fig)


@pytest.fixture(scope="module")
def thinned():
    return reference_run("dabney_thinned")


def test_trials_are_trial_numbers_everywhere(thinned):
    fig = plots.val_at_t(thinned, 0.5, trials=[0, 10, 20])
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [0, 10, 20])
    plt.close(fig)
    fig = plots.heatmap(thinned, [0], trials=slice(100, 150))
    mesh = fig.axes[0].collections[0]
    assert mesh.get_array().shape[0] == 6  # trials 100, 110, …, 150: both ends included, as xarray's sel
    plt.close(fig)
    anim = plots.val_over_t(thinned, trials=slice(0, 100), every=50)
    assert list(anim.trials) == [0, 50, 100]
    anim = plots.val_over_t(thinned, trials=slice(0, 40), every=15)  # ≥ 15 trials apart, last kept
    assert list(anim.trials) == [0, 20, 40]
    with pytest.raises(ValueError, match=r"\[5\] was not recorded .*31 recorded trials, 0 … 299 \(every 10th and "
                                         r"the last\)"):
        plots.val_at_t(thinned, 0.5, trials=[0, 10, 5])
    with pytest.raises(ValueError, match="selects no trial: this trial type has 31 recorded trials"):
        plots.val_at_t(thinned, 0.5, trials=slice(1000, 2000))
    with pytest.raises(ValueError, match="takes no step; thin the frames of an animation with every="):
        plots.val_over_t(thinned, trials=slice(0, 100, 20))
    with pytest.raises(TypeError, match="trials must be a slice of trial numbers or integer trial numbers"):
        plots.val_at_t(thinned, 0.5, trials=[0.5])


def test_the_explorer_slides_over_trial_numbers_and_starts_at_the_cue(thinned):
    from drl.widgets import explore

    ex = explore(thinned)
    assert list(ex.trial.options) == list(range(0, 300, 10)) + [299]
    ex.trial.value = 290
    assert "trial 290" in ex.ax_value.get_title()
    np.testing.assert_allclose(ex.value_lines[1].get_ydata(), thinned["value"].sel(trial=290).values[1])
    assert "31 recorded trials, 0 … 299 (every 10th and the last)" in ex.label.value
    assert ex.time.value == pytest.approx(0.5)  # dabney_variable_magnitude's cue, not mid-trial
    plt.close(ex.fig)


def test_timing_figure_and_decoder_use_one_grid_and_an_edge_pile_warns():
    task = drl.Task("late", 16.0, 0.25, (drl.TrialType("late", 0.5, (drl.RewardEvent(14.0, magnitudes=(1.0,)),)),))
    pop = drl.Population.grid(gamma=list(np.linspace(0.6, 0.98, 12)), alpha=0.2, lam=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drl.ConvergenceWarning)
        run = drl.simulate(task, pop, 600, progress=False)
        decoded = decode.decode_reward_timing(run)
        fig = plots.timing(run)
    np.testing.assert_allclose(decoded["delay"].values, decode.default_delay_grid([14.0]))
    assert decoded["delay"].values[-1] == pytest.approx(17.5)  # 1.25 × 14 s: the 14-s delay is inside
    assert decoded["delay"].values[np.argmax(decoded["probability"].values)] == pytest.approx(14.0, abs=0.5)
    bars = fig.axes[0].patches
    np.testing.assert_allclose([b.get_x() + b.get_width() / 2 for b in bars], decoded["delay"].values)
    np.testing.assert_allclose([b.get_height() for b in bars], decoded["probability"].values)
    plt.close(fig)
    with pytest.warns(UserWarning, match=r"pile at the end of the grid \(10 s\).*pass times= reaching further"):
        decode.decode_reward_timing(run, times=np.arange(0, 10.01, 0.5))


def test_a_figure_of_a_multi_type_task_names_the_type_it_drew():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drl.ConvergenceWarning)
        run = drl.simulate("lowet_2025", drl.Population.grid(tau=[0.2, 0.8], alpha=0.1), 40, progress=False)
    with pytest.warns(UserWarning, match=r"trial_type not given: drawing 'nothing', the first of the task's 3 trial "
                                         r"types \['nothing', 'fixed', 'variable'\]; pass trial_type= to choose") as caught:
        fig = plots.val_at_t(run, 1.0)
    assert caught[0].filename == __file__  # points at the user's line, not drl's
    assert "nothing" in fig.axes[0].get_title()
    plt.close(fig)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plt.close(plots.val_at_t(run, 1.0, trial_type="variable"))  # chosen: no warning


def test_reward_distribution_checks_itself():
    assert drl.RewardDistribution([2, 8], [0.5, 0.5]).mean == 5.0  # lists work
    with pytest.raises(ValueError, match=r"probabilities must sum to 1; got \[0.5, 0.6\] \(sum 1.1\)"):
        drl.RewardDistribution([2, 8], [0.5, 0.6])
    with pytest.raises(ValueError, match="probabilities must be in \\[0, 1\\]"):
        drl.RewardDistribution([2, 8], [1.5, -0.5])
    with pytest.raises(ValueError, match="one probability per value; got 2 values and 3 probabilities"):
        drl.RewardDistribution([2, 8], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="values must be finite"):
        drl.RewardDistribution([2, np.nan], [0.5, 0.5])
    with pytest.raises(TypeError, match="values must be numbers; got \\[2, 'x'\\]"):
        drl.RewardDistribution([2, "x"], [0.5, 0.5])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        drl.RewardDistribution([], [])


def test_two_decodes_compare_on_one_axis():
    """plots.distribution(..., ax=) draws a second decode beside the first: its own colour and label, the truth
    once, the x-limits holding both, and rug ticks that stay inside the axes (a tick outside made a 2,361-px-wide
    image with bbox_inches="tight")."""
    import io

    true = drl.RewardDistribution([1.0, 5.0, 20.0], [0.3, 0.5, 0.2])

    def decoded(samples):
        samples = np.sort(np.asarray(samples, float))
        return decode.DecodedDistribution(samples=samples, grid=np.linspace(0, 30, 10), density=np.ones(10),
                                          levels=np.array([0.5]), values=np.array([5.0]), kind="expectile")

    first = decoded(np.linspace(1, 18, 100))
    second = decoded(np.linspace(-40, 60, 100))  # wider: the axis must grow to hold it
    fig = plots.distribution(first, true, units="µl", label="defaults")
    ax = fig.axes[0]
    plots.distribution(second, true, ax=ax, units="µl", label="the paper's procedure")
    decodes, truths = _lines(ax, "decoded"), _lines(ax, "true")
    assert len(decodes) == 2 and len(truths) == 1
    assert decodes[0].get_color() != decodes[1].get_color()
    lo, hi = ax.get_xlim()
    assert lo <= -40 and hi >= 60
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("defaults") for t in labels)
    assert any(t.startswith("the paper's procedure") and "W1 =" in t for t in labels)
    assert all(line.get_clip_on() for line in ax.get_lines())
    plots.distribution(first, true, ax=ax, units="µl", label="third", color="tab:green")
    assert _lines(ax, "decoded")[-1].get_color() == "tab:green"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=100)
    from PIL import Image

    width = Image.open(io.BytesIO(buffer.getvalue())).size[0]
    assert width < 1.3 * fig.get_size_inches()[0] * 100
    plt.close(fig)


def test_a_run_and_its_responses_form_draw_the_same_figure(paper_runs):
    """One path for runs and recordings: reward_response, value_vs_delay, timing and joint_map read the responses
    form (a run is read into one at the entry) and draw the truth the form carries when it is a model's; a run
    and its own form give the same pixels."""
    import matplotlib.pyplot as plt

    from drl.responses import responses_from_run

    dabney, masset, sousa = paper_runs
    pairs = {
        "reward_response": (lambda: plots.reward_response(dabney, "variable"),
                            lambda: plots.reward_response(responses_from_run(dabney, reward=True,
                                                                             reward_type="variable"))),
        "value_vs_delay": (lambda: plots.value_vs_delay(masset),
                           lambda: plots.value_vs_delay(responses_from_run(masset, cue_types="one reward"))),
        "timing": (lambda: plots.timing(masset), lambda: plots.timing(responses_from_run(masset, cue_types="each"))),
        "joint_map": (lambda: plots.joint_map(sousa, "variable"),
                      lambda: plots.joint_map(responses_from_run(sousa, cue_types=["variable"]), "variable")),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 300 trials: unconverged, and it is not the point
        for name, (of_run, of_form) in pairs.items():
            images = []
            for draw in (of_run, of_form):
                fig = draw()
                fig.canvas.draw()
                images.append(np.asarray(fig.canvas.buffer_rgba()).copy())
                plt.close(fig)
            assert images[0].shape == images[1].shape and (images[0] == images[1]).all(), name


def test_only_the_sources_know_a_run_from_a_recording():
    """No module outside drl/responses branches on run against recording: the analyses and figures read the
    responses form, and the form carries the truth when it is a model's (responses.run.model_task)."""
    import ast
    from pathlib import Path

    package = Path(drl.__file__).parent
    found = []
    for path in package.rglob("*.py"):
        if path.parent.name == "responses":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = getattr(node, "id", None) or getattr(node, "attr", None)
            if name == "is_responses_form":
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not found, found
