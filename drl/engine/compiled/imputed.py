"""The trial loop compiled (numba) for the expectile code's imputed bootstrap (``bootstrap="imputed"``), on the CPU.

With imputation the predictors of a γ group are coupled: at each step whose reward is random, each one bootstraps
from a sample imputed from the whole group's values (:mod:`drl.engine.bootstrap`). So this loop runs trial by trial
over the whole population (predictors in SIMD lanes, as :mod:`drl.engine.compiled.own`), and solves each group's
imputation inside the loop (:func:`drl.engine.compiled.imputation.solve_one`), with the uniform draws made by the run's
torch generator in one call per block: the same numbers, in the same order, as the torch kernel draws trial by
trial, so a run's random state at every checkpoint is the torch kernel's. Results equal the torch kernel's to
float32 rounding (its TD arithmetic sums in another order; tests/test_compiled_imputed.py). One thread: a
trial's work is a few problems of a few dozen numbers, too small to share.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from drl.engine.compiled.imputation import solve_one
from drl.engine.compiled.steps import (
    add_weight_change,
    check_block,
    learn_backwards,
    record_trial,
    td_errors,
    trial_values,
)

__all__ = ["applies", "run_block"]

#: Stop an imputation when max |F| is below this (units of its group's spread), as drl.engine.bootstrap does.
TOLERANCE = 1e-9


def applies(kernel) -> bool:
    """Whether this loop runs a kernel's trials: on the CPU, where its options say the imputation compiles
    (:func:`drl.engine.options.imputed_compiles`, the rule ``kernel="auto"`` resolves by)."""
    from drl.engine.options import imputed_compiles

    return kernel.device.type == "cpu" and imputed_compiles(kernel.opt)


@numba.njit(cache=True, nogil=True)
def _impute_targets(v, target, k, u, u_pos, n_random, s, members, sizes, levels, max_iter, values, z, e):
    """Replace ``target[k]`` [P] with draws, per predictor, from the samples imputed from its γ group's values
    ``v[k]``; ``u`` holds the trial's uniforms as [P, n_random] from ``u_pos`` (column ``s`` is this step's)."""
    for gi in range(members.shape[0]):
        size = sizes[gi]
        if size == 1:
            continue  # alone in its γ group: its own value is the whole code
        lo = np.inf
        hi = -np.inf
        magnitude = 0.0
        total = 0.0
        for j in range(size):
            val = np.float64(v[k, members[gi, j]])
            values[j] = val
            lo = min(lo, val)
            hi = max(hi, val)
            magnitude = max(magnitude, abs(val))
            total += val
        if hi - lo > 1e-6 * max(magnitude, 1.0):  # equal values: nothing to impute
            center = total / size
            spread = max(hi - lo, 1e-12)
            for j in range(size):
                e[j] = (values[j] - center) / spread
                z[j] = 2.0 * e[j]  # the cold start of drl.engine.bootstrap.impute_expectile_samples
            solve_one(levels[gi, :size], e[:size], z[:size], TOLERANCE, max_iter)
            for j in range(size):
                values[j] = z[j] * spread + center
        for j in range(size):
            p = members[gi, j]
            pick = min(int(u[u_pos + p * n_random + s] * size), size - 1)  # a uniform draw of a sample
            target[k, p] = values[pick]


@numba.njit(cache=True, nogil=True)
def _block(weights, x, cue, csc, types, rewards, slots, steps, v_out, d_out, record_v, record_d, discount, rho,
           alpha_pos, alpha_neg, norm_t, use_norm, learn_mask, arrival, random_mask, members, sizes, levels, uniforms,
           max_iter):
    """Trials ``types``/``rewards`` [B], [B, K] on ``weights`` [M, P, F] (in place), every predictor in lanes; V and
    δ at ``steps`` go to row ``slots[i]`` of ``v_out``/``d_out`` [P, rows, K_rec] (−1: not kept). Targets are the own
    values except at the steps of ``random_mask`` [M, K], imputed per group (``members`` [G, N_max] predictors by
    τ, ``sizes`` [G], ``levels`` [G, N_max]) and drawn with ``uniforms`` (the block's, trial after trial)."""
    n_types, n_pred, n_feat = weights.shape
    n_trials, n_steps = rewards.shape
    local = np.empty((n_types, n_feat, n_pred), weights.dtype)  # [M, F, P]: a step is one vector operation
    for mm in range(n_types):
        for p in range(n_pred):
            for f in range(n_feat):
                local[mm, f, p] = weights[mm, p, f]
    v = np.zeros((n_steps + 1, n_pred), weights.dtype)  # row K stays 0: the value after the trial
    target = np.zeros((n_steps + 1, n_pred), weights.dtype)
    d = np.zeros((n_steps, n_pred), weights.dtype)
    learn = np.zeros((n_steps, n_pred), weights.dtype)
    acc = np.zeros(n_pred, weights.dtype)
    max_size = members.shape[1]
    values, z, e = np.empty(max_size), np.empty(max_size), np.empty(max_size)
    zero = acc[0]
    u_pos = 0
    for i in range(n_trials):
        m = types[i]
        c = cue[m]
        w = local[m]
        trial_values(v, w, x, m, c, csc, n_steps, n_feat, n_pred, zero)
        for k in range(n_steps):
            for p in range(n_pred):
                target[k, p] = v[k, p]
        n_random = 0
        for k in range(n_steps):
            n_random += random_mask[m, k]
        s = 0
        for k in range(n_steps):
            if random_mask[m, k]:
                _impute_targets(v, target, k, uniforms, u_pos, n_random, s, members, sizes, levels, max_iter,
                                values, z, e)
                s += 1
        u_pos += n_pred * n_random
        td_errors(learn, d, slots[i] >= 0 and record_d, rewards[i], discount, target, v, arrival, False, n_steps, n_pred,
                zero)
        learn_backwards(learn, acc, learn_mask, norm_t, use_norm, m, 0, alpha_pos, alpha_neg, rho, True, n_steps,
                         n_pred, zero)
        add_weight_change(w, learn, acc, x, m, c, csc, n_steps, n_feat, n_pred, zero)
        if slots[i] >= 0:
            record_trial(v, d, v_out, d_out, record_v, record_d, 0, n_pred, slots[i], steps, False)
    for mm in range(n_types):
        for p in range(n_pred):
            for f in range(n_feat):
                weights[mm, p, f] = local[mm, f, p]
    return 0


def run_block(kernel, weights, types, rewards, slots, steps, v_out, d_out) -> None:
    """One block of trials of an imputed run, in place; the arguments are :func:`drl.engine.compiled.own.run_block`'s.

    The block's uniforms are drawn first, in one call on the run's generator: torch draws a tensor's numbers one
    after another, so these are the numbers the torch kernel draws as [P, S] per trial (S the trial's random
    steps), and the generator ends in the same state."""
    if not applies(kernel):
        raise ValueError(f"compiled_imputed.run_block: this run (bootstrap={kernel.bootstrap.method!r}) does not run "
                         "compiled; the engine runs it with the torch kernel")
    check_block(kernel, weights, types, rewards, slots, steps, v_out, d_out)
    boot = kernel.bootstrap
    w = weights.numpy()
    dtype = w.dtype
    c = kernel.compiled_constants
    groups = boot.compiled_groups
    types = np.ascontiguousarray(types, np.int64)
    per_type = boot.random_mask.sum(1)
    n_draws = int(per_type[types].sum()) * kernel.n_predictors
    uniforms = (torch.rand(n_draws, generator=boot.generator, dtype=torch.float64).numpy() if n_draws
                else np.zeros(1))
    empty = np.zeros((1, 1, 1), dtype)
    _block(w, c["x"], c["cue"], c["csc"], types, np.ascontiguousarray(rewards, dtype),
           np.ascontiguousarray(slots, np.int64), np.ascontiguousarray(steps, np.int64),
           empty if v_out is None else v_out, empty if d_out is None else d_out, v_out is not None, d_out is not None,
           c["discount"], c["rho"], c["alpha_pos"], c["alpha_neg"], c["norm"], c["use_norm"], c["learn_mask"],
           c["arrival"], boot.random_mask, groups["members"], groups["sizes"], groups["levels"], uniforms,
           int(boot.max_iter))
