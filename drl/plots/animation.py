"""val_over_t: value, reward and RPE over the time of a trial, one animation frame per trial.

The figure is drawn once; each frame only sets the y-data of existing lines (no redraw of axes, no new artists),
which is what keeps a frame well under 0.1 s where drl_sim re-plotted everything (about 1 s per frame).
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from tqdm.auto import tqdm

from drl._atomic import temporary_path
from drl.plots._common import (
    FIG_DIR,
    PARAMETER_LABELS,
    check_parameter,
    choose_color_by,
    mark_events,
    new_figure,
    parameter_colorbar,
    parameter_colors,
    parameter_styles,
    prepare_output,
    resolve,
    select_trials,
    select_type,
    styled,
    thin_trials,
)
from drl.runs.reading import reward_units

ANIMATION_FORMATS = (".gif", ".mp4", ".html")  # the first is the default


class TrialAnimation(animation.FuncAnimation):
    """A FuncAnimation that shows itself as an HTML player when it ends a notebook cell.

    :func:`val_over_t` makes one. ``update(frame)`` sets the data of the moving artists and returns them;
    :meth:`to_player_html` is the player a notebook shows.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure animated.
    update : callable
        ``update(frame) -> artists``: draws frame ``frame``.
    trials : array_like of int, shape [frame]
        The run's trial shown by each frame (kept as ``.trials``).
    interval_ms : float
        Milliseconds between frames.

    Raises
    ------
    TypeError
        ``fig`` not a Figure or ``update`` not callable.

    See Also
    --------
    val_over_t : the animation of a run.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from drl import plots
    >>> fig, ax = plt.subplots()
    >>> line, = ax.plot([0, 1], [0, 0])
    >>> movie = plots.TrialAnimation(fig, lambda frame: (line.set_ydata([0, frame]), line)[1:], [0, 10, 20], 100)
    >>> movie.trials.tolist(), movie.figure is fig
    ([0, 10, 20], True)
    >>> plt.close(fig)
    """

    def __init__(self, fig, update, trials, interval_ms):
        from matplotlib.figure import Figure

        if not isinstance(fig, Figure) or not callable(update):
            raise TypeError(f"TrialAnimation takes a matplotlib Figure and an update function (val_over_t makes "
                            f"one); got {type(fig).__name__} and {type(update).__name__}")
        self.trials = np.asarray(trials)
        self.update = update
        super().__init__(fig, update, frames=len(self.trials), interval=interval_ms, blit=False, repeat=True)

    @property
    def figure(self):
        """The animated figure (closed after it was made: pyplot does not show it as a still too)."""
        return self._fig

    def _repr_html_(self):
        return self.to_player_html()

    @styled
    def to_player_html(self, dpi: int = 72, progress: bool | None = None) -> str:
        """A self-contained HTML player (play/pause, step, a slider and the frame's trial number).

        Frames are drawn by blitting (as :meth:`save_gif`) at screen resolution and stored as palette PNGs, which
        keeps the tutorial's 41-frame, 6-panel player at 1.4 MB and 2 s to build (matplotlib's ``to_jshtml``: 4.1 MB
        and 13 s). The HTML is built once per ``dpi`` and reused."""
        cache = self.__dict__.setdefault("_players", {})
        if dpi not in cache:
            frames = []
            for image in self._frames(dpi, progress, "notebook player"):
                buffer = io.BytesIO()
                image.save(buffer, format="PNG", optimize=True)
                frames.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
            cache[dpi] = _player_html(frames, [int(t) for t in self.trials], self._interval)
        return cache[dpi]

    @styled
    def save_gif(self, path, fps: float, dpi: int = 110, progress: bool | None = None, label: str | None = None) -> None:
        """Write a GIF of every frame, looping, ``fps`` frames per second (see ``_frames``)."""
        frames = list(self._frames(dpi, progress, f"GIF {label or Path(path).name}"))
        frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], loop=0, duration=1000.0 / fps)

    def _frames(self, dpi: int, progress: bool | None, label: str):
        """Yield every frame as a palette image, drawn by blitting: the axes, ticks and labels are rendered once;
        each frame redraws only the moving artists onto that background (matplotlib's generic ``save`` redraws
        the whole figure, twice). One palette, chosen on the first frame, serves all: no flicker, no banding
        from frame to frame. A progress bar shows from 30 frames (``progress`` forces it on or off)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from PIL import Image

        fig = self._fig
        self._draw_was_started = True  # rendered here, not by FuncAnimation: tell its "never rendered" warning
        if not isinstance(fig.canvas, FigureCanvasAgg):  # a closed figure keeps only a base canvas
            FigureCanvasAgg(fig)
        old_dpi = fig.get_dpi()
        fig.set_dpi(dpi)
        engine = fig.get_layout_engine()
        moving = self.update(0)
        try:
            fig.canvas.draw()  # the layout is computed once, here, then frozen
            fig.set_layout_engine("none")
            for artist in moving:
                artist.set_animated(True)
            fig.canvas.draw()
            background = fig.canvas.copy_from_bbox(fig.bbox)
            palette = None
            show = progress if progress is not None else len(self.trials) >= 30
            for frame in tqdm(range(len(self.trials)), desc=label, unit="frame", disable=not show):
                fig.canvas.restore_region(background)
                for artist in self.update(frame):
                    fig.draw_artist(artist)
                image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
                if palette is None:
                    palette = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
                yield image.quantize(palette=palette, dither=Image.Dither.NONE)
        finally:
            for artist in moving:
                artist.set_animated(False)
            fig.set_layout_engine(engine)
            fig.set_dpi(old_dpi)
            self.update(0)


# The player: one <img> whose source steps through base64 PNG frames. Plain DOM and no external script, so it
# works in JupyterLab, classic Notebook, VS Code and a saved .html file alike.
_PLAYER = """<div id="{uid}" class="drl-player" style="display:inline-block">
<img alt="animation frame" style="max-width:100%" src="data:image/png;base64,{first}">
<div style="display:flex;align-items:center;gap:6px;font:13px sans-serif">
<button type="button" data-step="-1" title="previous trial">&#9664;&#9664;</button>
<button type="button" data-play title="play / pause">&#9654;</button>
<button type="button" data-step="1" title="next trial">&#9654;&#9654;</button>
<input type="range" min="0" max="{last}" value="0" style="flex:1">
<span data-label>trial {first_trial}</span>
</div></div>
<script>
(function () {{
  const root = document.getElementById("{uid}");
  const frames = {frames};
  const trials = {trials};
  const img = root.querySelector("img"), slider = root.querySelector("input");
  const label = root.querySelector("[data-label]"), play = root.querySelector("[data-play]");
  let current = 0, timer = null;
  function show(k) {{
    current = (k + frames.length) % frames.length;
    img.src = "data:image/png;base64," + frames[current];
    slider.value = current;
    label.textContent = "trial " + trials[current];
  }}
  function stop() {{ clearInterval(timer); timer = null; play.innerHTML = "&#9654;"; }}
  slider.addEventListener("input", function () {{ stop(); show(Number(slider.value)); }});
  root.querySelectorAll("[data-step]").forEach(function (button) {{
    button.addEventListener("click", function () {{ stop(); show(current + Number(button.dataset.step)); }});
  }});
  play.addEventListener("click", function () {{
    if (timer) {{ stop(); return; }}
    timer = setInterval(function () {{ show(current + 1); }}, {interval_ms});
    play.innerHTML = "&#10073;&#10073;";
  }});
}})();
</script>"""


def _player_html(frames: list[str], trials: list[int], interval_ms: float) -> str:
    return _PLAYER.format(uid=f"drl-player-{uuid.uuid4().hex}", first=frames[0], last=len(frames) - 1,
                          first_trial=trials[0], frames=json.dumps(frames), trials=json.dumps(trials),
                          interval_ms=max(1, round(interval_ms)))


def _limits(data: np.ndarray, pad: float = 0.05):
    lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    span = hi - lo
    return lo - pad * span, hi + pad * span


def _check_writer(path) -> None:
    if str(path).lower().endswith(".mp4") and not animation.writers.is_available("ffmpeg"):
        raise ValueError(f"saving {path} needs ffmpeg, which is not installed; save as .gif instead "
                         "(or install ffmpeg)")


def save_animation(anim: animation.Animation, save, fps: float, directory=FIG_DIR, dpi: int = 110) -> Path | None:
    """Write ``anim`` to ``figs/<save>``: GIF (Pillow) unless the name ends in .mp4 (needs ffmpeg) or .html."""
    if not save:
        return None
    path = prepare_output(save, ANIMATION_FORMATS, directory)
    suffix = path.suffix.lower()
    _check_writer(path)
    # Write next to the target, then rename: a reader never sees half a file.
    tmp = temporary_path(path, suffix)  # unique per process: parallel writers of one name never collide
    try:
        if suffix == ".mp4":
            anim.save(tmp, writer=animation.FFMpegWriter(fps=fps), dpi=dpi)
        elif suffix == ".html":
            tmp.write_text(anim.to_player_html(dpi=dpi) if isinstance(anim, TrialAnimation) else anim.to_jshtml(fps=fps))
        else:
            anim.save_gif(tmp, fps=fps, dpi=dpi, label=path.name)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@styled
def val_over_t(run, trial_type: str | None = None, trials=None, color_by: str | None = None,
               facet_by: str | None = None, every: int = 1, fps: float = 10.0, save=None):
    """Animate value, reward and RPE over the time of a trial, one frame per trial of ``trial_type``.

    The cue (dotted) and reward times (dashed) are marked. In a notebook the animation displays as an interactive
    player; its figure is closed so that a notebook does not also show a static copy.

    Parameters
    ----------
    run : xarray.Dataset or str or path
        A run (Dataset, path or name) with ``value``, ``rpe`` and ``reward`` recorded.
    trial_type : str, optional
        The trial type (default: the first).
    trials : slice or list of int, optional
        Trial numbers of the run (xarray ``sel`` semantics): a slice, both ends included, or a list of recorded
        trial numbers of this type (default: all recorded).
    color_by : {"tau", "gamma", "lam", "alpha_pos", "alpha_neg"}, optional
        The parameter colouring the predictors' lines (default: the one that varies most; the colorbar shows its
        range, or a note when it is the same for all).
    facet_by : {"tau", "gamma", "lam", "alpha_pos", "alpha_neg"}, optional
        A parameter giving one column of panels per distinct value (shared y axes).
    every : int
        A frame at most every ``every`` trials of the run (trial numbers: with ``record_trials=10``,
        ``every=100`` shows every 10th recorded trial); the last selected trial is always kept.
    fps : float
        Frames per second of the saved file and of the HTML player.
    save : str or path, optional
        A name writes ``figs/<name>.gif`` (Pillow); ``.mp4`` (needs ffmpeg) or ``.html`` by extension.

    Returns
    -------
    TrialAnimation
        A ``matplotlib.animation.FuncAnimation``; ``.trials`` gives each frame's trial.

    Raises
    ------
    ValueError
        A run without ``value``, ``rpe`` or ``reward``, no recorded trial selected, an unknown parameter.

    See Also
    --------
    val_at_t : the value at one time of the trial across trials, as a still figure.

    Examples
    --------
    >>> import drl
    >>> from drl import plots
    >>> run = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=[0.2, 0.8], alpha=0.1), 300,
    ...                    record_trials=10, seed=0, progress=False)
    >>> movie = plots.val_over_t(run, "variable", every=50)
    >>> movie.trials.tolist()
    [0, 50, 100, 150, 200, 250, 299]
    """
    if not isinstance(every, int | np.integer) or every < 1:
        raise ValueError(f"every must be a positive integer; got {every!r}")
    if isinstance(fps, bool) or not isinstance(fps, int | float | np.number) or not 0 < fps < np.inf:
        raise ValueError(f"fps must be a finite number > 0; got {fps!r}")
    if save:  # before any drawing: the writer exists and the folder does
        _check_writer(save)
        prepare_output(save, ANIMATION_FORMATS)
    ds = resolve(run, needs=("value", "rpe", "reward"))
    units = reward_units(ds)
    sub, trial_type = select_type(ds, trial_type)
    sub = select_trials(sub, trials)
    sub = sub.isel(trial=thin_trials(sub["trial"].values, every))
    value = sub["value"].values  # [P, F, K]
    rpe = sub["rpe"].values
    reward = sub["reward"].values  # [F, K]
    t = sub["time"].values
    color_by = choose_color_by(sub, color_by)
    colors, mappable = parameter_colors(sub, color_by)
    if facet_by is not None:
        check_parameter(facet_by)
    styles, style_handles, note = parameter_styles(sub, color_by, facet_by)
    groups = [(None, np.arange(sub.sizes["predictor"]))]
    if facet_by is not None:
        facet_values = sub[facet_by].values
        groups = [(v, np.flatnonzero(facet_values == v)) for v in np.unique(facet_values)]
    fig, axes = new_figure(2 * len(groups), ncols=len(groups), panel_size=(6.4 if len(groups) == 1 else 4.4, 3.0))
    # new_figure fills row-major: the first row holds the value panels, the second the RPE panels.
    value_axes, rpe_axes = axes[: len(groups)], axes[len(groups):]
    value_lim = _limits(np.concatenate([value.ravel(), reward.ravel()]))
    rpe_lim = _limits(rpe)
    value_lines, rpe_lines, reward_lines = [], [], []
    for column, (facet_value, members) in enumerate(groups):
        v_ax, d_ax = value_axes[column], rpe_axes[column]
        (reward_line,) = v_ax.step(t, reward[0], where="mid", color="0.35", lw=1.5, label="reward", zorder=3)
        reward_lines.append(reward_line)
        for p in members:
            (line,) = v_ax.plot(t, value[p, 0], color=colors[p], ls=styles[p], lw=1.2)
            value_lines.append((line, p))
            (line,) = d_ax.plot(t, rpe[p, 0], color=colors[p], ls=styles[p], lw=1.2)
            rpe_lines.append((line, p))
        v_ax.set(ylim=value_lim, xlim=(t[0], t[-1]))
        d_ax.set(ylim=rpe_lim, xlim=(t[0], t[-1]), xlabel="time in trial (s)")
        d_ax.axhline(0, color="0.6", lw=0.8)
        mark_events(v_ax, ds, trial_type)
        mark_events(d_ax, ds, trial_type)
        if facet_value is not None:
            v_ax.set_title(f"{PARAMETER_LABELS[facet_by]} = {facet_value:.3g}")
    value_axes[0].set_ylabel(f"value, reward ({units})")
    rpe_axes[0].set_ylabel(f"RPE δ ({units})")
    value_axes[0].legend(handles=[reward_lines[0], *style_handles], loc="upper left", frameon=False,
                         fontsize="small")
    parameter_colorbar(fig, mappable, color_by, sub, ax=axes, shrink=0.9)
    fig.suptitle(f"{ds.attrs['task_name']}: {trial_type}" + (f"\n{note}" if note else ""))
    heading = value_axes[-1].text(0.98, 0.95, "", transform=value_axes[-1].transAxes, ha="right", va="top")
    trial_numbers = sub["trial"].values

    def update(frame):
        for line, p in value_lines:
            line.set_ydata(value[p, frame])
        for line, p in rpe_lines:
            line.set_ydata(rpe[p, frame])
        for line in reward_lines:
            line.set_ydata(reward[frame])
        heading.set_text(f"trial {trial_numbers[frame]}")
        return [line for line, _ in value_lines + rpe_lines] + reward_lines + [heading]

    update(0)
    anim = TrialAnimation(fig, update, trial_numbers, interval_ms=1000.0 / fps)
    plt.close(fig)
    save_animation(anim, save, fps)
    return anim
