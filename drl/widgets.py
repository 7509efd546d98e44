"""An ipywidgets explorer of a stored run: pick a trial type, a trial, a time and a colouring parameter; the
value, reward and RPE of that trial and the value at that time across trials update in place."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from drl.plots._common import (
    PARAMETER_LABELS,
    check_parameter,
    describe_recorded,
    new_figure,
    parameter_colors,
    resolve,
    select_type,
    styled,
)
from drl.runs.reading import reward_units
from drl.runs.schema import PARAMETERS

__all__ = ["Explorer", "explore"]


class Explorer:
    """The explorer returned by :func:`explore`.

    Attributes:
      trial_type, trial, time, color_by: the control widgets (Dropdown; SelectionSlider over the type's
        recorded trial numbers, whose ``value`` is a trial number of the run; FloatSlider in s, starting at the
        cue, where the value is the learned prediction; Dropdown of parameters). Setting their ``value``
        updates the figure.
      fig: the matplotlib Figure (panels: value and reward over time, RPE over time, value at ``time`` across
        the type's trials with the chosen trial marked).
      widget: the ipywidgets box (controls, trial label, figure output). Displaying the Explorer shows it.
    """

    def __init__(self, run, trial_type: str | None = None, color_by: str = "tau"):
        check_parameter(color_by)
        self.ds = resolve(run, needs=("value", "rpe", "reward"))  # lazy: one trial or one time is read at a time
        self.units = reward_units(self.ds)
        _, trial_type = select_type(self.ds, trial_type, warn=False)  # the dropdown shows it
        times = self.ds["time"].values
        step = float(np.min(np.diff(times))) if times.size > 1 else 1.0
        self.trial_type = widgets.Dropdown(options=[str(n) for n in self.ds["type"].values], value=trial_type,
                                           description="trial type")
        self.trial = widgets.SelectionSlider(options=[0], value=0, description="trial", continuous_update=False)
        cue_time = {spec["name"]: spec["cue_time"] for spec in self.ds.attrs["task"]["trial_types"]}[trial_type]
        self.time = widgets.FloatSlider(min=float(times[0]), max=float(times[-1]), step=step,
                                        value=float(times[np.argmin(np.abs(times - cue_time))]),
                                        description="time (s)", continuous_update=False)
        self.color_by = widgets.Dropdown(options=list(PARAMETERS), value=color_by, description="colour by")
        self.label = widgets.Label()
        self.output = widgets.Output()
        self._build_figure()
        self._select_type()
        for control, handler in ((self.trial_type, self._select_type), (self.trial, self._draw_trial),
                                 (self.time, self._draw_time), (self.color_by, self._recolor)):
            control.observe(lambda _change, handler=handler: self._refresh(handler), names="value")
        self.widget = widgets.VBox([
            widgets.HBox([self.trial_type, self.color_by]),
            widgets.HBox([self.trial, self.time, self.label]),
            self.output,
        ])
        self._show()

    # ------------------------------------------------------------------ figure
    @styled
    def _build_figure(self):
        n_pred = self.ds.sizes["predictor"]
        t = self.ds["time"].values
        self.fig, (self.ax_value, self.ax_rpe, self.ax_across) = new_figure(3, panel_size=(4.2, 3.1))
        plt.close(self.fig)  # shown through the Output widget only
        (self.reward_line,) = self.ax_value.step(t, np.zeros_like(t), where="mid", color="0.35", lw=1.5,
                                                 label="reward", zorder=3)
        self.value_lines = [self.ax_value.plot(t, np.zeros_like(t), lw=1.2)[0] for _ in range(n_pred)]
        self.rpe_lines = [self.ax_rpe.plot(t, np.zeros_like(t), lw=1.2)[0] for _ in range(n_pred)]
        self.across_lines = [self.ax_across.plot([0], [0], lw=1.0)[0] for _ in range(n_pred)]
        self.time_markers = [ax.axvline(0, color="0.5", ls=":", lw=1) for ax in (self.ax_value, self.ax_rpe)]
        self.trial_marker = self.ax_across.axvline(0, color="0.5", ls=":", lw=1)
        self.ax_value.set(xlabel="time in trial (s)", ylabel=f"value, reward ({self.units})")
        self.ax_rpe.set(xlabel="time in trial (s)", ylabel=f"RPE δ ({self.units})")
        self.ax_rpe.axhline(0, color="0.6", lw=0.8)
        self.ax_across.set(xlabel="trial")
        self.ax_value.legend(loc="upper left", frameon=False)
        self.mappable = mpl.cm.ScalarMappable(cmap="viridis")  # re-normed to the chosen parameter by _recolor
        self.mappable.set_clim(0, 1)
        self.colorbar = self.fig.colorbar(self.mappable, ax=[self.ax_value, self.ax_rpe, self.ax_across])
        self._recolor()

    def _select_type(self):
        self.sub, _ = select_type(self.ds, self.trial_type.value)
        numbers = [int(n) for n in self.sub["trial"].values]
        previous = self.trial.value
        self.trial.options = numbers  # resets the value to the first; keep the nearest to the one shown
        self.trial.value = numbers[int(np.argmin(np.abs(np.asarray(numbers) - previous)))]
        self._draw_trial()
        self._draw_time()

    @styled
    def _draw_trial(self):
        trial_number = int(self.trial.value)
        value = self.sub["value"].sel(trial=trial_number).values
        rpe = self.sub["rpe"].sel(trial=trial_number).values
        for line, v in zip(self.value_lines, value, strict=True):
            line.set_ydata(v)
        for line, d in zip(self.rpe_lines, rpe, strict=True):
            line.set_ydata(d)
        self.reward_line.set_ydata(self.sub["reward"].sel(trial=trial_number).values)
        self.trial_marker.set_xdata([trial_number, trial_number])
        self.label.value = f"{self.trial_type.value}: {describe_recorded(self.sub['trial'].values)}"
        for ax in (self.ax_value, self.ax_rpe):
            ax.relim()
            ax.autoscale_view()
        self.ax_value.set_title(f"{self.trial_type.value}, trial {trial_number}")

    @styled
    def _draw_time(self):
        k = int(np.argmin(np.abs(self.sub["time"].values - self.time.value)))
        t_k = float(self.sub["time"].values[k])
        for marker in self.time_markers:
            marker.set_xdata([t_k, t_k])
        across = self.sub["value"].isel(time=k).values  # [P, N]
        trials = self.sub["trial"].values
        for line, v in zip(self.across_lines, across, strict=True):
            line.set_data(trials, v)
        self.ax_across.relim()
        self.ax_across.autoscale_view()
        self.ax_across.set_ylabel(f"value at t = {t_k:g} s ({self.units})")

    @styled
    def _recolor(self):
        name = self.color_by.value
        colors, mappable = parameter_colors(self.ds, name)
        for lines in (self.value_lines, self.rpe_lines, self.across_lines):
            for line, color in zip(lines, colors, strict=True):
                line.set_color(color)
        if mappable is None:  # the same value for every predictor: a colorbar around it, labelled so
            value = float(self.ds[name].values[0])
            self.mappable.set_norm(mpl.colors.Normalize(value - 0.5 * max(abs(value), 1e-3),
                                                        value + 0.5 * max(abs(value), 1e-3)))
            label = f"{PARAMETER_LABELS[name]} (all {value:.3g})"
        else:
            self.mappable.set_norm(mappable.norm)
            label = PARAMETER_LABELS[name]
        self.colorbar.update_normal(self.mappable)
        self.colorbar.set_label(label)

    # ------------------------------------------------------------------ display
    def _refresh(self, handler):
        handler()
        self._show()

    @styled
    def _show(self):
        from IPython.display import display

        with self.output:
            self.output.clear_output(wait=True)
            display(self.fig)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def explore(run, trial_type: str | None = None, color_by: str = "tau") -> Explorer:
    """Explore a stored run (Dataset, path or run name) in a notebook: trial type, trial slider, time slider and
    colouring parameter; value, reward and RPE of the trial and the value at that time across trials update.

    Needs ``value``, ``rpe`` and ``reward`` recorded. Returns an :class:`Explorer` (display it, or use its
    ``widget``).
    """
    return Explorer(run, trial_type=trial_type, color_by=color_by)
