"""Spike counts in a window as Dabney et al. 2020 read them: smoothed twice with a 20-ms kernel on a 1-ms grid.

Dabney et al.'s pipeline (``LoadVarMagData.m`` and ``GEN_dabneys_fit.m`` of the paper's analysis code) builds each
trial's PSTH on a 1-ms grid from 1 s before the trial's first event to 3 s after it: each spike adds the causal
kernel ``k(t) ∝ (1 − e^{−t})·e^{−t/20}`` (t = 0 … 50 ms, summing to 1) from its bin on; the trial's baseline is
that PSTH's mean over the second before the event; the PSTH minus the baseline is convolved with the same kernel
again, centred (MATLAB's ``convn(…, 'same')``), and the response is its mean over the response window.

Both are linear in the spikes, so each is a sum over the trial's spikes of a weight that depends only on the
spike's 1-ms bin relative to the event: :func:`dabney2020_window_rates` evaluates that weight per spike, with no
PSTH. On the 40 neurons of Eshel et al. 2016 it reproduces the paper's ``perCell`` array to 1e-12 spikes/s.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["KERNEL_MS", "PSTH_SPAN_MS", "dabney2020_window_rates", "smoothing_kernel"]

#: the kernel's support (ms): bins 0 … 50 after a spike, 2.5 time constants of 20 ms
KERNEL_MS = 50
#: the PSTH around a trial's first event (ms): spikes outside it are not counted
PSTH_SPAN_MS = (-1000, 3000)


def smoothing_kernel(time_constant_ms: float = 20.0) -> np.ndarray:
    """[51] Dabney et al.'s causal kernel ``(1 − e^{−t})·e^{−t/τ}`` at t = 0 … 50 ms, normalised to sum to 1."""
    t = np.arange(KERNEL_MS + 1, dtype=np.float64)
    kernel = (1 - np.exp(-t)) * np.exp(-t / time_constant_ms)
    return kernel / kernel.sum()


def _bins(offsets_ms: np.ndarray) -> np.ndarray:
    """MATLAB's ``round`` (halves away from zero) of spike offsets in ms; the 1e-6 ms guards offsets computed
    from times in s, whose last bits can put an exact half just below it."""
    return np.sign(offsets_ms) * np.floor(np.abs(offsets_ms) + 0.5 + 1e-6)


@functools.lru_cache(maxsize=16)
def _response_weights(start_ms: int, stop_ms: int, time_constant_ms: float) -> tuple[int, np.ndarray]:
    """(first bin, weights): the mean over bins [start, stop) of the twice-smoothed PSTH that one spike in each bin
    adds, in spikes/s. The centred convolution reads the once-smoothed PSTH 25 ms either side of a bin. Cached:
    every unit and trial of a session reads the same windows."""
    kernel = smoothing_kernel(time_constant_ms)
    half = KERNEL_MS // 2
    first = start_ms - half - KERNEL_MS
    bins = np.arange(first, stop_ms + half + 1)
    once = np.zeros((bins.size, bins.size))  # [spike bin, PSTH bin] = k(t − j)
    lag = bins[None, :] - bins[:, None]
    inside = (lag >= 0) & (lag <= KERNEL_MS)
    once[inside] = kernel[lag[inside]]
    twice = np.zeros_like(once)  # PSTH2(t) = Σ_k k(k)·PSTH1(t − k + 25)
    for k, weight in enumerate(kernel):  # 51 shifted adds
        shift = k - half
        if shift >= 0:
            twice[:, shift:] += weight * once[:, :bins.size - shift]
        else:
            twice[:, :shift] += weight * once[:, -shift:]
    window = (bins >= start_ms) & (bins < stop_ms)
    weights = 1000.0 * twice[:, window].mean(1)
    weights.flags.writeable = False
    return first, weights


def dabney2020_window_rates(spike_times: np.ndarray, anchors: np.ndarray, events: np.ndarray, window, *,
                            twice: bool, time_constant_ms: float = 20.0) -> np.ndarray:
    """[N] one unit's smoothed rate (spikes/s) in a window after each trial's event, as Dabney et al. read it.

    Args:
      spike_times: [S] the unit's sorted spike times (s).
      anchors: [N] each trial's first event (s): its PSTH spans −1 … +3 s around it (spikes outside are not
        counted).
      events: [N] the event the window follows (s); NaN: no window, NaN out.
      window: (start, stop) in s after the event, on whole ms (the grid's bins).
      twice: the response (the PSTH smoothed again, centred) or the baseline (smoothed once).
      time_constant_ms: the kernel's time constant.
    """
    start, stop = (int(round(1000 * w)) for w in window)
    if twice:
        first, table = _response_weights(start, stop, float(time_constant_ms))
    else:  # the once-smoothed PSTH's mean: a spike in bin j adds k(t − j) to bins t ≥ j
        kernel = smoothing_kernel(time_constant_ms)
        first = start - KERNEL_MS
        lag = np.arange(start, stop)[None, :] - np.arange(first, stop)[:, None]
        table = 1000.0 * np.where((lag >= 0) & (lag <= KERNEL_MS), kernel[np.clip(lag, 0, KERNEL_MS)],
                                  0.0).sum(1) / (stop - start)
    out = np.full(anchors.size, np.nan)
    rows = np.flatnonzero(np.isfinite(events))
    from_ = np.searchsorted(spike_times, events[rows] + (first - 1) / 1000.0)
    to = np.searchsorted(spike_times, events[rows] + (first + table.size) / 1000.0)
    counts = to - from_
    trial = np.repeat(rows, counts)
    # the spikes of every window at once: window w's spikes are from_[w], from_[w] + 1, …, to[w] − 1
    index = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(from_, counts)
    spikes = spike_times[index.astype(np.int64)]
    bins = _bins(1000.0 * (spikes - events[trial])).astype(np.int64) - first
    from_anchor = 1000.0 * (spikes - anchors[trial])
    lo, hi = PSTH_SPAN_MS
    counted = (bins >= 0) & (bins < table.size) & (from_anchor > lo) & (from_anchor < hi)
    total = np.bincount(trial[counted], weights=table[bins[counted]], minlength=anchors.size)
    out[rows] = total[rows]
    return out
