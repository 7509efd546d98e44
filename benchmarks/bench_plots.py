"""Figure timings. Prints figures; asserts nothing.

1. val_over_t: a 200-trial GIF of a 25-predictor run, seconds per frame and in total, against a naive
   reference written here that redraws the whole figure for every frame (clear and re-plot, as drl_sim did)
   through matplotlib's generic Pillow writer. drl_sim itself took about 1.1 s of CPU per frame.
2. Each static figure: seconds to draw and save a PNG.
Run: .venv/bin/python benchmarks/bench_plots.py
"""

from __future__ import annotations

import os
import tempfile
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import animation  # noqa: E402

import drl  # noqa: E402
from drl import plots  # noqa: E402


def naive_gif(ds, n_frames: int, path: str) -> float:
    """The reference: every frame clears the axes and plots every line again."""
    value, rpe, reward = ds["value"].values, ds["rpe"].values, ds["reward"].values
    t = ds["time"].values
    fig, (ax_v, ax_d) = plt.subplots(2, 1, figsize=(5.2, 5.4))

    def draw(frame):
        ax_v.clear()
        ax_d.clear()
        ax_v.step(t, reward[frame], where="mid", color="0.35")
        for p in range(value.shape[0]):
            ax_v.plot(t, value[p, frame])
            ax_d.plot(t, rpe[p, frame])
        ax_v.set_title(f"trial {frame}")

    anim = animation.FuncAnimation(fig, draw, frames=n_frames)
    start = time.perf_counter()
    anim.save(path, writer=animation.PillowWriter(fps=10), dpi=100)
    plt.close(fig)
    return time.perf_counter() - start


def main():
    pop = drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9], gamma=[0.5, 0.7, 0.8, 0.9, 0.99], alpha=0.1)
    ds = drl.simulate("dabney_variable_magnitude", pop, 200, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        start = time.perf_counter()
        anim = plots.val_over_t(ds, save="bench")
        total = time.perf_counter() - start
        n = len(anim.trials)
        print(f"val_over_t GIF, 25 predictors, {n} frames: {total:.2f} s in total, {total / n:.4f} s per frame "
              f"(target ≤ 0.1 s; drl_sim about 1.1 s), {os.path.getsize('figs/bench.gif') / 1e6:.1f} MB")
        start = time.perf_counter()
        plots.val_over_t(ds, facet_by="gamma", save="bench_facets")
        faceted = time.perf_counter() - start
        print(f"val_over_t GIF faceted by γ (5 columns × 2 rows): {faceted / n:.4f} s per frame")
        naive_frames = 40
        naive = naive_gif(ds, naive_frames, "naive.gif")
        print(f"naive reference (redraw everything, generic writer): {naive / naive_frames:.4f} s per frame, "
              f"{naive / naive_frames / (total / n):.0f}× slower")

        tau = list((np.arange(20) + 0.5) / 20)
        dabney = drl.simulate("dabney_variable_magnitude", drl.Population.grid(tau=tau, alpha=0.02), 2000,
                              progress=False)
        masset = drl.simulate("masset_multi_delay", drl.Population.grid(gamma=list(np.linspace(0.5, 0.99, 20)),
                                                                      alpha=0.1, lam=0.9), 2000, progress=False)
        sousa = drl.simulate("sousa_2025", drl.Population.grid(tau=[0.1, 0.3, 0.5, 0.7, 0.9],
                                                               gamma=list(1 - np.geomspace(0.6, 0.01, 10)),
                                                               alpha=0.02, lam=0.9), 3000, progress=False)
        figures = {
            "val_at_t": lambda: plots.val_at_t(ds, 2.0, facet_by="gamma", save="f"),
            "heatmap": lambda: plots.heatmap(ds, [0, 12, 24], save="f"),
            "summary": lambda: plots.summary(ds, save="f"),
            "reward_response": lambda: plots.reward_response(dabney, save="f"),
            "population_response": lambda: plots.population_response(ds, save="f"),
            "value_vs_delay": lambda: plots.value_vs_delay(masset, save="f"),
            "timing": lambda: plots.timing(masset, save="f"),
            "joint_map": lambda: plots.joint_map(sousa, "variable", save="f"),
        }
        for name, draw in figures.items():
            start = time.perf_counter()
            plt.close(draw())
            print(f"{name:<20} {time.perf_counter() - start:.2f} s (draw and save PNG at 200 dpi)")


if __name__ == "__main__":
    main()
