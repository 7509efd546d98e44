"""The expectile imputation's objective, compiled: the decoder's hot loop.

:func:`drl.decode.decode_distribution` polishes samples with L-BFGS-B, which calls the objective and its gradient
hundreds of times per start (600 times for a noisy 40-neuron code). Written in numpy it allocated four [I, N]
arrays a call (44 µs at I = 40, N = 100: a third of a decode); compiled it allocates none.

The arithmetic is numpy's, to the bit: a row's sum is numpy's pairwise summation (eight accumulators, blocks of
128, halves above), a column's sum runs over the rows in order, and every product and quotient is taken in the
same order. The decoded samples are therefore the ones the numpy objective gave (``tests/test_decode.py`` compares
the two on random codes, bit for bit), not merely close: L-BFGS-B's path depends on every bit of the gradient.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["block_sum", "expectile_objective", "pairwise_sum"]

#: numpy's pairwise-summation block (``PW_BLOCKSIZE`` in numpy's ``loops_utils.h``)
BLOCK = 128


@numba.njit(cache=True, fastmath=False, nogil=True)
def block_sum(values: np.ndarray, start: int, n: int) -> float:
    """Σ values[start:start + n] for n ≤ 128 in numpy's order: eight accumulators, then the rest in turn."""
    if n < 8:
        total = 0.0
        for i in range(start, start + n):
            total += values[i]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    i = 8
    while i < n - (n % 8):
        r0 += values[start + i]
        r1 += values[start + i + 1]
        r2 += values[start + i + 2]
        r3 += values[start + i + 3]
        r4 += values[start + i + 4]
        r5 += values[start + i + 5]
        r6 += values[start + i + 6]
        r7 += values[start + i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += values[start + i]
        i += 1
    return total


@numba.njit(cache=True, fastmath=False, nogil=True)
def pairwise_sum(values: np.ndarray, start: int, n: int) -> float:
    """Σ values[start:start + n] in numpy's order (``np.sum`` of a contiguous float64 array, bit for bit).

    Above 128 values numpy sums the two halves (the first a multiple of 8) and adds them; that recursion is
    walked here with an explicit stack (a recursive compiled function cannot be cached by numba: it crashed on
    loading from the cache)."""
    if n <= BLOCK:
        return block_sum(values, start, n)
    frame_start = np.empty(64, np.int64)
    frame_n = np.empty(64, np.int64)
    frame_state = np.zeros(64, np.int64)  # 0: entered, 1: left half summed, 2: both halves summed
    left = np.empty(64)
    top = 0
    frame_start[0], frame_n[0] = start, n
    result = 0.0
    while top >= 0:
        first, count, state = frame_start[top], frame_n[top], frame_state[top]
        half = count // 2
        half -= half % 8
        if state == 0 and count <= BLOCK:
            result = block_sum(values, first, count)
            top -= 1
        elif state == 0:
            frame_state[top] = 1
            top += 1
            frame_start[top], frame_n[top], frame_state[top] = first, half, 0
        elif state == 1:
            left[top] = result
            frame_state[top] = 2
            top += 1
            frame_start[top], frame_n[top], frame_state[top] = first + half, count - half, 0
        else:
            result = left[top] + result
            top -= 1
    return result


@numba.njit(cache=True, fastmath=False, nogil=True)
def expectile_objective(samples: np.ndarray, levels: np.ndarray, values: np.ndarray):
    """``(Σ_i g_i², ∂/∂samples)`` with ``g_i = mean_j |τ_i − 1[z_j < e_i]|·(z_j − e_i)``.

    Args:
      samples: [N] z_j (reward units), float64.
      levels: [I] τ_i in (0, 1), float64.
      values: [I] e_i, the expectiles to match (reward units), float64.

    Returns (loss, gradient [N]): the expectile-loss gradients' squared sum and its gradient in the samples
    (exact almost everywhere: the indicator is piecewise constant).
    """
    n_levels, n_samples = levels.size, samples.size
    weighted = np.empty(n_samples)
    g = np.empty(n_levels)
    weights = np.empty((n_levels, n_samples))
    for i in range(n_levels):
        for j in range(n_samples):
            diff = samples[j] - values[i]
            weight = levels[i] if diff > 0 else 1 - levels[i]
            weights[i, j] = weight
            weighted[j] = weight * diff
        g[i] = pairwise_sum(weighted, 0, n_samples) / n_samples
    squares = g * g
    loss = pairwise_sum(squares, 0, n_levels)
    grad = np.empty(n_samples)
    for j in range(n_samples):
        column = g[0] * weights[0, j]
        for i in range(1, n_levels):
            column += g[i] * weights[i, j]
        grad[j] = 2 * column / n_samples
    return loss, grad
