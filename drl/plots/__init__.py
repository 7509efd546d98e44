"""Figures from runs: each takes a Dataset or a path / run name, returns the Figure, saves to figs/ if asked."""

from drl.plots.figures import heatmap as heatmap
from drl.plots.figures import summary as summary
from drl.plots.figures import val_at_t as val_at_t

__all__ = ["heatmap", "summary", "val_at_t"]
