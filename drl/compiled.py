"""The trial loop compiled (numba), for the CPU and predictors that bootstrap from their own values.

With ``bootstrap="own"`` predictors are independent, so a block of trials is a loop over predictors (in
parallel, ``prange``) of a loop over trials, with each predictor's weights resident in cache and V and δ
written straight into the recording. The arithmetic is the torch kernel's (:mod:`drl.kernel`, DESIGN §3),
step by step: values, TD errors (arrival or state convention), rule factors, the discounted reverse sum of the
offline update, or the per-step online update when features overlap. Results equal the torch path to float32
rounding (tests/test_compiled.py); each predictor is computed by one thread, so they are identical for any
number of threads.
"""

from __future__ import annotations

import numpy as np

__all__ = ["available", "run_block"]


def available() -> bool:
    """Whether numba can be imported here (the torch path is used otherwise)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


_JIT = None


def _compile():
    """Build the kernel on first use (numba's compilation, cached on disk, happens then and not at import)."""
    global _JIT  # one compiled function per process: a cache, not state that changes results
    if _JIT is not None:
        return _JIT
    import numba

    @numba.njit(inline="always", cache=True)
    def rule_factor(delta, a_pos, a_neg, expectile, zero):
        """u = α(δ)·δ (expectile) or α+·[δ>0] − α−·[δ<0] (quantile), as drl.td.rule_factor."""
        if expectile:
            return (a_pos if delta > 0 else a_neg) * delta
        return a_pos if delta > 0 else (-a_neg if delta < 0 else zero)

    @numba.njit(parallel=True, cache=True, fastmath=False, nogil=True)
    def block(w, x, cue, csc, types, rewards, slots, steps, v_out, d_out, record_v, record_d,
              discount, rho, alpha_pos, alpha_neg, norm, use_norm, learn_mask, arrival, discount_reward,
              expectile, online):
        n_types, n_pred, n_feat = w.shape
        n_trials, n_steps = rewards.shape
        n_rec = steps.shape[0]
        for p in numba.prange(n_pred):
            v = np.zeros(n_steps, w.dtype)
            d = np.zeros(n_steps, w.dtype)
            learn = np.zeros(n_steps, w.dtype)
            e = np.zeros(n_feat, w.dtype)
            g, r_p, a_pos, a_neg = discount[p], rho[p], alpha_pos[p], alpha_neg[p]
            zero = v[0]  # 0 in the run's dtype (float32 arithmetic stays float32)
            one = np.ones(1, w.dtype)[0]  # a literal 1 would widen float32 arithmetic to float64
            for i in range(n_trials):
                m = types[i]
                c = cue[m]
                r = rewards[i]
                if online and not csc:
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
                else:
                    # values from the weights at the trial's start
                    for k in range(n_steps):
                        if csc:
                            v[k] = w[m, p, k - c] if k >= c else zero
                        else:
                            acc = zero
                            for f in range(n_feat):
                                acc += w[m, p, f] * x[m, k, f]
                            v[k] = acc
                    # errors: recorded d[k] and the learning signal learn[j] of state j
                    if arrival:
                        previous = zero
                        for k in range(n_steps + 1):
                            reward = r[k] if k < n_steps else zero
                            target = v[k] if k < n_steps else zero
                            if discount_reward:
                                delta = g * (reward + target) - previous
                            else:
                                delta = reward + g * target - previous
                            if k < n_steps:
                                d[k] = delta
                                previous = v[k]
                            if k > 0:
                                learn[k - 1] = delta
                    else:
                        for k in range(n_steps):
                            following = v[k + 1] if k + 1 < n_steps else zero
                            d[k] = r[k] + g * following - v[k]
                            learn[k] = d[k]
                    # u_j, then G_j = u_j + ρ·G_{j+1} backwards, then Δw = Σ_j x_j·G_j
                    acc = zero
                    for j in range(n_steps - 1, -1, -1):
                        u = rule_factor(learn[j], a_pos, a_neg, expectile, zero) * learn_mask[j]
                        if use_norm:
                            u = u / norm[m, p, j]
                        acc = u + r_p * acc
                        learn[j] = acc
                    if csc:
                        for j in range(c, n_steps):
                            w[m, p, j - c] += learn[j]
                    else:
                        for f in range(n_feat):
                            total = zero
                            for j in range(n_steps):
                                total += x[m, j, f] * learn[j]
                            w[m, p, f] += total
                slot = slots[i]
                if slot >= 0:
                    for q in range(n_rec):
                        if record_v:
                            v_out[p, slot, q] = v[steps[q]]
                        if record_d:
                            d_out[p, slot, q] = d[steps[q]]
        return 0

    _JIT = block
    return block


def run_block(kernel, weights, types, rewards, slots, steps, v_out, d_out) -> None:
    """Simulate one block of trials with the compiled loop, in place.

    Args:
      kernel: the run's :class:`drl.kernel.TrialKernel` (its constants; bootstrap "own", CPU).
      weights: [M, P, F] torch tensor on the CPU, updated in place.
      types: [B] int64 trial types; rewards: [B, K] rewards (the kernel's dtype).
      slots: [B] int64, the row of ``v_out``/``d_out`` each trial is recorded in, or −1.
      steps: [K_rec] int64 recorded steps.
      v_out, d_out: [P, rows, K_rec] arrays to record into, or None.
    """
    block = _compile()
    dtype = weights.numpy().dtype
    w = weights.numpy()
    c = kernel.compiled_constants()
    empty = np.zeros((1, 1, 1), dtype)
    block(w, c["x"], c["cue"], c["csc"], np.ascontiguousarray(types, np.int64), np.ascontiguousarray(rewards, dtype),
          np.ascontiguousarray(slots, np.int64), np.ascontiguousarray(steps, np.int64),
          empty if v_out is None else v_out, empty if d_out is None else d_out, v_out is not None, d_out is not None,
          c["discount"], c["rho"], c["alpha_pos"], c["alpha_neg"], c["norm"], c["use_norm"], c["learn_mask"],
          c["arrival"], c["discount_reward"], c["expectile"], c["online"])
