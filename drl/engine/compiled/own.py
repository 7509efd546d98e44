"""The trial loop compiled (numba), for the CPU and predictors that bootstrap from their own values.

With ``bootstrap="own"`` predictors are independent, so a block of trials is a loop over predictors (in
parallel: chunks of predictors go to threads as they come free, ``drl._parallel``) of a loop over trials,
with each predictor's weights resident in cache and V and δ written straight into the recording. The arithmetic
is the torch kernel's (:mod:`drl.engine.kernel`, DESIGN §3), step by step: values, TD errors (arrival or state
convention), rule factors, the discounted reverse sum of the offline update, or the per-step online update when
features overlap. Results equal the torch path to float32
rounding (tests/test_compiled.py); each predictor is computed by one thread, so they are identical for any
number of threads.
"""

from __future__ import annotations

import numba
import numpy as np

from drl._parallel import run_ranges
from drl.engine.compiled.steps import (
    add_weight_change,
    check_block,
    learn_backwards,
    record_trial,
    rule_factor,
    td_errors,
    trial_values,
)

__all__ = ["run_block"]

LANES = 64  # predictors per group of the vectorised loop (see _lanes)
LANES_RECORDING = 16
#: Below this many predictor-steps per call the loop runs on one thread: handing out ranges and waking a thread
#: costs more than it saves, and beside a busy process a second thread only competes for the free core. Measured
#: on 2 cores, V and δ recorded, 200 trials, median ms on 1 | 2 threads: idle, 20 predictors 0.53 | 0.46, 80
#: 2.0 | 1.3, 160 4.1 | 2.7; beside a busy process 0.84 | 1.28, 2.95 | 3.45, 4.8 | 4.6.
PARALLEL_MIN_WORK = 2e6


@numba.njit(cache=True, fastmath=False, nogil=True)
def _block_online(p_start, p_stop, w, x, cue, csc, types, rewards, slots, steps, v_out, d_out, record_v, record_d,
                  discount, rho, alpha_pos, alpha_neg, norm, use_norm, learn_mask, arrival, discount_reward,
                  expectile):
    """Online updates with overlapping features: trials ``types``/``rewards`` [B], [B, K] for predictors
    ``p_start`` to ``p_stop`` − 1 on weights ``w`` [M, P, F], in place, a weight change per step; V and δ at
    ``steps`` go to row ``slots[i]`` of ``v_out``/``d_out`` [P, rows, K_rec] (−1: not kept). (``cue``, ``csc``
    and ``norm`` are unused here: the argument list is the one both loops share.)"""
    n_types, n_pred, n_feat = w.shape
    n_trials, n_steps = rewards.shape
    n_rec = steps.shape[0]
    for p in range(p_start, p_stop):
        v = np.zeros(n_steps, w.dtype)
        d = np.zeros(n_steps, w.dtype)
        e = np.zeros(n_feat, w.dtype)
        g, r_p, a_pos, a_neg = discount[p], rho[p], alpha_pos[p], alpha_neg[p]
        zero = v[0]  # 0 in the run's dtype (float32 arithmetic stays float32)
        one = np.ones(1, w.dtype)[0]  # a literal 1 would widen float32 arithmetic to float64
        for i in range(n_trials):
            m = types[i]
            r = rewards[i]
            # per-step updates (features overlap): the textbook loop of TrialKernel.online_trial
            for f in range(n_feat):
                e[f] = zero
            if arrival:
                v0 = zero
                for f in range(n_feat):
                    v0 += w[m, p, f] * x[m, 0, f]
                v[0] = v0
                d[0] = g * (r[0] + v0) if discount_reward else r[0] + g * v0
            for j in range(n_steps):
                v_j = zero
                v_next = zero
                for f in range(n_feat):
                    v_j += w[m, p, f] * x[m, j, f]
                if j + 1 < n_steps:
                    for f in range(n_feat):
                        v_next += w[m, p, f] * x[m, j + 1, f]
                trace_sum = zero
                for f in range(n_feat):
                    e[f] = r_p * e[f] + x[m, j, f]
                    trace_sum += e[f]
                if arrival:
                    reward = r[j + 1] if j + 1 < n_steps else zero
                    if discount_reward:
                        delta = g * (reward + v_next) - v_j
                    else:
                        delta = reward + g * v_next - v_j
                    if j + 1 < n_steps:
                        v[j + 1] = v_next
                        d[j + 1] = delta
                else:
                    delta = r[j] + g * v_next - v_j
                    v[j] = v_j
                    d[j] = delta
                u = rule_factor(delta, a_pos, a_neg, expectile, zero) * learn_mask[j]
                if use_norm:
                    u = u / max(one, trace_sum)
                for f in range(n_feat):
                    w[m, p, f] += u * e[f]
            slot = slots[i]
            if slot >= 0:
                for q in range(n_rec):
                    if record_v:
                        v_out[p, slot, q] = v[steps[q]]
                    if record_d:
                        d_out[p, slot, q] = d[steps[q]]
    return 0


@numba.njit(cache=True, fastmath=False, nogil=True)
def _block_lanes(p_start, p_stop, lanes, weights, x, cue, csc, types, rewards, slots, steps, v_out, d_out,
                 record_v, record_d, discount, rho, alpha_pos, alpha_neg, norm_t, use_norm, learn_mask, arrival,
                 discount_reward, expectile):
    """The offline update (and CSC online, which equals it) with predictors in SIMD lanes, for predictors
    ``p_start`` to ``p_stop`` − 1 of ``weights`` [M, P, F] (updated in place), ``lanes`` at a time. A group's
    weights are copied to ``local`` [M, F, lanes] for the block, so that every step is one vector operation over
    the group and no two threads write to the same cache line (``norm_t`` is the trace normaliser as [M, K, P]).
    Each lane does a predictor's scalar arithmetic (no fused operations), so the results do not depend on the
    chunking. Every inner loop runs over the lanes, reads and writes few arrays and has no branch (selects
    only), so that LLVM vectorises it (tests/test_compiled.py checks the generated code)."""
    n_types, n_pred, n_feat = weights.shape
    n_trials, n_steps = rewards.shape
    n_rec = steps.shape[0]
    every_step = n_rec == n_steps
    for q in range(n_rec):
        every_step = every_step and steps[q] == q
    convention_1 = discount_reward and arrival
    for p0 in range(p_start, p_stop, lanes):
        b_n = min(lanes, p_stop - p0)
        local = np.empty((n_types, n_feat, b_n), weights.dtype)
        for mm in range(n_types):
            for b in range(b_n):
                for f in range(n_feat):
                    local[mm, f, b] = weights[mm, p0 + b, f]
        v = np.zeros((n_steps + 1, b_n), weights.dtype)  # row K stays 0: the value after the trial
        d = np.zeros((n_steps, b_n), weights.dtype)
        learn = np.zeros((n_steps, b_n), weights.dtype)
        acc = np.zeros(b_n, weights.dtype)
        g = discount[p0:p0 + b_n]
        r_p = rho[p0:p0 + b_n]
        a_pos = alpha_pos[p0:p0 + b_n]
        a_neg = alpha_neg[p0:p0 + b_n]
        zero = acc[0]
        for i in range(n_trials):
            m = types[i]
            c = cue[m]
            w = local[m]
            slot = slots[i]
            trial_values(v, w, x, m, c, csc, n_steps, n_feat, b_n, zero)
            td_errors(learn, d, slot >= 0 and record_d, rewards[i], g, v, v, arrival, convention_1, n_steps, b_n, zero)
            learn_backwards(learn, acc, learn_mask, norm_t, use_norm, m, p0, a_pos, a_neg, r_p, expectile, n_steps,
                             b_n, zero)
            add_weight_change(w, learn, acc, x, m, c, csc, n_steps, n_feat, b_n, zero)
            if slot >= 0:
                record_trial(v, d, v_out, d_out, record_v, record_d, p0, b_n, slot, steps, every_step)
        for mm in range(n_types):
            for b in range(b_n):
                for f in range(n_feat):
                    weights[mm, p0 + b, f] = local[mm, f, b]
    return 0


def _lanes(n_predictors: int, n_threads: int, recording: bool) -> int:
    """Predictors per group: up to 64 (eight AVX2 vectors of float32: the per-step loop overhead is paid once
    for all of them), 16 when the trial is recorded (each lane writes its own output row, and 64 rows at once
    miss the TLB) unless the population fits in two such groups (then one group: a group of 4 costs nearly what
    one of 16 does; 20 predictors × 200 trials, recorded, 0.3 ms faster a call), fewer when that would leave a
    thread idle, but not under 8. Measured, 1000 predictors × 2000 trials × 71 steps on 2 threads, ms for 8 | 16 |
    32 | 64 lanes: not recorded 325 | 131 | 69 | 57, recorded 602 | 278 | 328 | 480."""
    cap = LANES_RECORDING if recording and n_predictors > 2 * LANES_RECORDING else LANES
    return min(cap, max(8, -(-n_predictors // max(1, n_threads))))


def run_block(kernel, weights, types, rewards, slots, steps, v_out, d_out) -> None:
    """Simulate one block of trials with the compiled loop, in place.

    Args:
      kernel: the run's :class:`drl.engine.kernel.TrialKernel` (its constants; CPU; bootstrap "own": imputed targets run in
        :func:`drl.engine.compiled.imputed.run_block`, the engine chooses).
      weights: [M, P, F] torch tensor on the CPU, updated in place.
      types: [B] int64 trial types; rewards: [B, K] rewards (the kernel's dtype).
      slots: [B] int64, the row of ``v_out``/``d_out`` each trial is recorded in, or −1.
      steps: [K_rec] int64 recorded steps.
      v_out, d_out: [P, rows, K_rec] arrays to record into, or None.
    """
    if kernel.bootstrap.method != "own":
        raise ValueError(f"compiled.run_block runs bootstrap='own'; got {kernel.bootstrap.method!r} (the engine hands "
                         "imputed targets to drl.engine.compiled.imputed.run_block)")
    check_block(kernel, weights, types, rewards, slots, steps, v_out, d_out)
    dtype = weights.numpy().dtype
    w = weights.numpy()
    c = kernel.compiled_constants
    empty = np.zeros((1, 1, 1), dtype)
    args = (c["x"], c["cue"], c["csc"], np.ascontiguousarray(types, np.int64), np.ascontiguousarray(rewards, dtype),
            np.ascontiguousarray(slots, np.int64), np.ascontiguousarray(steps, np.int64),
            empty if v_out is None else v_out, empty if d_out is None else d_out, v_out is not None,
            d_out is not None, c["discount"], c["rho"], c["alpha_pos"], c["alpha_neg"], c["norm"], c["use_norm"],
            c["learn_mask"], c["arrival"], c["discount_reward"], c["expectile"])
    n_pred = w.shape[1]
    in_lanes = not c["online"] or c["csc"]
    # the online loop's step costs ~3 passes over the features: its work is counted in feature-steps
    n_threads = _threads(n_pred * len(types) * rewards.shape[1] * (1 if in_lanes else w.shape[2]))
    # Ranges of predictors go to whichever thread is free next (drl._parallel): beside a busy process the thread
    # that shares a core takes fewer of them instead of making the others wait for it.
    if in_lanes:
        lanes = _lanes(n_pred, n_threads, bool((v_out is not None or d_out is not None) and np.any(slots >= 0)))
        groups = -(-n_pred // lanes)
        # ~8 ranges per thread balance the load; each hand-out costs a Python call (tens of µs)
        run_ranges(_block_lanes, n_pred, lanes * -(-groups // (8 * n_threads)), (lanes, w, *args), n_threads)
        return
    # the online loop takes one predictor at a time: ~8 chunks per thread balance the load at little hand-out cost
    run_ranges(_block_online, n_pred, -(-n_pred // (8 * n_threads)), (w, *args), n_threads)


def _threads(work: int) -> int:
    """Threads for a call of ``work`` predictor-steps: one below ``PARALLEL_MIN_WORK``, else numba's count
    (``NUMBA_NUM_THREADS`` or ``numba.set_num_threads``: the user's thread budget)."""
    return 1 if work < PARALLEL_MIN_WORK else numba.get_num_threads()
