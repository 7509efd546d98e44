"""The steps of a trial shared by the compiled loops (:mod:`drl.engine.compiled.own` for predictors that bootstrap from
their own values, :mod:`drl.engine.compiled.imputed` for imputed targets): values, TD errors, rule factors, the offline
update's reverse sum, the weight change, the recording of a trial, and the checks of a block's arrays. numba
inlines each into the loop that calls it; neither loop imports the other.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["add_weight_change", "check_block", "learn_backwards", "record_trial", "rule_factor", "td_error",
           "td_errors", "trial_values"]


@numba.njit(inline="always", cache=True)
def rule_factor(delta, a_pos, a_neg, expectile, zero):
    """u = α(δ)·δ (expectile) or α+·[δ>0] − α−·[δ<0] (quantile), as drl.engine.td.rule_factor, exactly. Written as
    selects between loaded values, not branches: a branch on the sign of δ stops LLVM vectorising the lanes."""
    if expectile:
        return (a_pos if delta > zero else a_neg) * delta
    return (a_pos if delta > zero else zero) - (a_neg if delta < zero else zero)


@numba.njit(inline="always", cache=True)
def td_error(reward, discount, target, previous, discount_reward):
    """δ = r + g·V̂ − V_prev, or g·(r + V̂) − V_prev under convention 1 (drl.engine.td), in the torch kernel's order."""
    if discount_reward:
        return discount * (reward + target) - previous
    return reward + discount * target - previous


@numba.njit(inline="always", cache=True)
def trial_values(v, w, x, m, c, csc, n_steps, n_feat, b_n, zero):
    """V_k = w · x_k into ``v`` [K(+1), lanes] for ``w`` [F, lanes] of a type-m trial (CSC: the weights shifted by
    the cue step ``c``)."""
    if csc:
        for k in range(min(c, n_steps)):
            for b in range(b_n):
                v[k, b] = zero
        for k in range(c, n_steps):
            for b in range(b_n):
                v[k, b] = w[k - c, b]
    else:
        for k in range(n_steps):
            for b in range(b_n):
                v[k, b] = zero
            for f in range(n_feat):
                xf = x[m, k, f]
                if xf != zero:  # + w·0 is exact: skipping it changes nothing
                    for b in range(b_n):
                        v[k, b] += w[f, b] * xf


@numba.njit(inline="always", cache=True)
def td_errors(learn, d, keep, r, g, target, v, arrival, convention_1, n_steps, b_n, zero):
    """The TD errors of a trial with rewards ``r`` [K], values ``v`` and bootstrap targets ``target`` ([K+1,
    lanes], row K zero): ``learn[j]`` the error state j learns from (arrival: δ_{j+1}, state: δ_j) and, if ``keep``,
    ``d`` the recorded errors δ_0 … δ_{K−1}."""
    for j in range(n_steps):
        reward = r[j + 1] if arrival and j + 1 < n_steps else (zero if arrival else r[j])
        for b in range(b_n):
            learn[j, b] = td_error(reward, g[b], target[j + 1, b], v[j, b], convention_1)
    if keep:
        if arrival:
            for b in range(b_n):
                d[0, b] = td_error(r[0], g[b], target[0, b], zero, convention_1)
            for j in range(n_steps - 1):
                for b in range(b_n):
                    d[j + 1, b] = learn[j, b]
        else:
            for j in range(n_steps):
                for b in range(b_n):
                    d[j, b] = learn[j, b]


@numba.njit(inline="always", cache=True)
def learn_backwards(learn, acc, learn_mask, norm_t, use_norm, m, p0, a_pos, a_neg, r_p, expectile, n_steps, b_n,
                     zero):
    """G_j = u(δ_j)·mask_j (/ norm) + ρ·G_{j+1}, backwards, over ``learn`` [K, lanes] in place (the errors in, the
    discounted sums out); ``norm_t`` [M, K, P] is read from predictor ``p0``."""
    for b in range(b_n):
        acc[b] = zero
    for j in range(n_steps - 1, -1, -1):
        mask = learn_mask[j]
        if use_norm:
            for b in range(b_n):
                u = rule_factor(learn[j, b], a_pos[b], a_neg[b], expectile, zero) * mask / norm_t[m, j, p0 + b]
                total = u + r_p[b] * acc[b]
                acc[b] = total
                learn[j, b] = total
        else:
            for b in range(b_n):
                u = rule_factor(learn[j, b], a_pos[b], a_neg[b], expectile, zero) * mask
                total = u + r_p[b] * acc[b]
                acc[b] = total
                learn[j, b] = total


@numba.njit(inline="always", cache=True)
def add_weight_change(w, learn, acc, x, m, c, csc, n_steps, n_feat, b_n, zero):
    """Δw = Σ_j x_j·G_j added to ``w`` [F, lanes] (CSC: G shifted back by the cue step ``c``)."""
    if csc:
        for j in range(c, n_steps):
            for b in range(b_n):
                w[j - c, b] += learn[j, b]
    else:
        for f in range(n_feat):
            for b in range(b_n):
                acc[b] = zero
            for j in range(n_steps):
                xjf = x[m, j, f]
                if xjf != zero:
                    for b in range(b_n):
                        acc[b] += xjf * learn[j, b]
            for b in range(b_n):
                w[f, b] += acc[b]


@numba.njit(inline="always", cache=True)
def record_trial(v, d, v_out, d_out, record_v, record_d, p0, b_n, slot, steps, every_step):
    """Copy a trial's V and δ of the group ([K, lanes]) into rows ``slot`` of ``v_out``/``d_out`` [P, rows, K_rec]."""
    n_rec = steps.shape[0]
    for b in range(b_n):
        if every_step:
            if record_v:
                for q in range(n_rec):
                    v_out[p0 + b, slot, q] = v[q, b]
            if record_d:
                for q in range(n_rec):
                    d_out[p0 + b, slot, q] = d[q, b]
        else:
            if record_v:
                for q in range(n_rec):
                    v_out[p0 + b, slot, q] = v[steps[q], b]
            if record_d:
                for q in range(n_rec):
                    d_out[p0 + b, slot, q] = d[steps[q], b]


def check_block(kernel, weights, types, rewards, slots, steps, v_out, d_out) -> None:
    """Every shape, dtype and index the compiled loops read, checked once per block (O(B), negligible beside the
    loop): numba does not bounds-check, so a weights array of another run's shape once corrupted memory
    (SIGSEGV, glibc "corrupted double-linked list"). Raises ValueError naming the argument."""
    m, p, f, k = kernel.n_types, kernel.n_predictors, kernel.n_features, kernel.n_steps
    dtype = kernel.compiled_constants["discount"].dtype

    def fail(name, expected, found):
        raise ValueError(f"compiled.run_block: {name} must be {expected}; got {found}")

    if tuple(weights.shape) != (m, p, f) or weights.device.type != "cpu" or not weights.is_contiguous():
        fail("weights", f"a contiguous CPU tensor [M={m}, P={p}, F={f}]", f"{list(weights.shape)} on "
             f"{weights.device.type}")
    if weights.numpy().dtype != dtype:
        fail("weights", f"of dtype {dtype}", weights.numpy().dtype)
    types, slots, steps = np.asarray(types), np.asarray(slots), np.asarray(steps)
    if types.ndim != 1 or types.dtype.kind not in "iu" or (types.size and (types.min() < 0 or types.max() >= m)):
        fail("types", f"1-D integer trial types in [0, {m})", f"{types.dtype} {types.shape}")
    if np.shape(rewards) != (types.size, k):
        fail("rewards", f"[B={types.size}, K={k}]", list(np.shape(rewards)))
    if steps.ndim != 1 or steps.dtype.kind not in "iu" or (steps.size and (steps.min() < 0 or steps.max() >= k)):
        fail("steps", f"1-D recorded steps in [0, {k})", f"{steps.dtype} {steps.shape}")
    outputs = [out for out in (v_out, d_out) if out is not None]
    for name, out in (("v_out", v_out), ("d_out", d_out)):
        if out is not None and (out.ndim != 3 or out.shape[0] != p or out.shape[2] != steps.size or out.dtype != dtype
                                or not out.flags.c_contiguous):
            fail(name, f"a C-contiguous {dtype} array [P={p}, rows, {steps.size}]", f"{out.dtype} {list(out.shape)}")
    rows = min((out.shape[1] for out in outputs), default=0)
    if slots.shape != types.shape or slots.dtype.kind not in "iu" or (
            slots.size and (slots.min() < -1 or (outputs and slots.max() >= rows))):
        fail("slots", f"[B={types.size}] rows in [-1, {rows})", f"{slots.dtype} {slots.shape}, up to "
             f"{slots.max() if slots.size else None}")
