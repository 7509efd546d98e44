"""The time grid of a trial (DESIGN §3): step ``k = 0 … K−1`` is at ``t_k = k·dt`` seconds.

A nominal time ``t`` (cue onset, reward delivery) lands on step ``floor(t/dt + 1/2)``: the nearest step, with
exact halves rounded **up** (never Python's ties-to-even), computed with a 1e-9 tolerance so that e.g.
0.3 s at dt = 0.1 s lands on step 3 despite floating point.
"""

from __future__ import annotations

import numpy as np

__all__ = ["time_to_step"]

_STEP_EPS = 1e-9


def time_to_step(t, dt: float):
    """Nearest step of time ``t`` (s) on a grid of spacing ``dt`` (s); halves round up. Works on arrays."""
    return np.floor(np.asarray(t, dtype=np.float64) / dt + 0.5 + _STEP_EPS).astype(np.int64)
