"""Figures from runs: each takes a Dataset or a path / run name, returns the Figure (or Animation), and saves to
figs/ when given a name. The static figures of drl_sim (val_at_t, heatmap), its animation (val_over_t), a run
summary, and the population figures of the papers."""

from drl.plots._common import Figure as Figure
from drl.plots.animation import TrialAnimation as TrialAnimation
from drl.plots.animation import val_over_t as val_over_t
from drl.plots.controls import cue_cells as cue_cells
from drl.plots.controls import split_half as split_half
from drl.plots.decoded import distribution as distribution
from drl.plots.delays import joint_map as joint_map
from drl.plots.delays import timing as timing
from drl.plots.delays import value_vs_delay as value_vs_delay
from drl.plots.figures import heatmap as heatmap
from drl.plots.figures import summary as summary
from drl.plots.figures import val_at_t as val_at_t
from drl.plots.recording import psth as psth
from drl.plots.recording import raster as raster
from drl.plots.responses import population_response as population_response
from drl.plots.responses import reward_response as reward_response

__all__ = ["Figure", "TrialAnimation", "cue_cells", "distribution", "heatmap", "joint_map", "population_response",
           "psth", "raster", "reward_response", "split_half", "summary", "timing", "val_at_t", "val_over_t",
           "value_vs_delay"]
