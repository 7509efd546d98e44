"""The expectile imputation's Levenberg–Marquardt loop, compiled (numba), one problem after another.

The same iteration as the torch definition in :func:`drl.engine.bootstrap.impute_expectile_samples`, which it replaces
on the CPU: in a run the imputation solves one to a few problems per trial, where torch's ~30 operations per
iteration cost far more in dispatch than in arithmetic (a 50-τ group took ~3 ms a trial). Each problem is
solved alone, in order, so results do not depend on the number of threads. The damped normal equations are
symmetric positive definite and solved by Cholesky; a pivot that is not positive counts as a failed step
(more damping), where torch's LU would have returned a useless one.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always", cache=True, fastmath={"reassoc", "contract", "nsz"})
def _residual(z, levels, e, f, sorted_z, prefix_z):
    """f_i = mean_n |τ_i − [z_n ≤ e_i]|·(z_n − e_i) [N], from the sorted samples' prefix sums (O(N log N));
    returns Σ f²."""
    n = z.shape[0]
    sorted_z[:] = np.sort(z)
    prefix_z[0] = 0.0
    for k in range(n):
        prefix_z[k + 1] = prefix_z[k] + sorted_z[k]
    cost = 0.0
    for i in range(n):
        m = np.searchsorted(sorted_z, e[i], side="right")  # samples at or below e_i weigh 1 − τ_i
        below = prefix_z[m] - m * e[i]
        above = (prefix_z[n] - prefix_z[m]) - (n - m) * e[i]
        f[i] = (levels[i] * above + (1.0 - levels[i]) * below) / n
        cost += f[i] * f[i]
    return cost


@numba.njit(inline="always", cache=True, fastmath={"reassoc", "contract", "nsz"})
def _cholesky_solve(a, b, out) -> bool:
    """Solve a·x = b for symmetric positive definite a [N, N] (overwritten by its factor); False if not PD.
    Column j of the factor is dot products of rows with row j, four rows at a time: four independent sums
    sharing each load of row j (at N = 50, 7 µs against 15 µs one row at a time, the same numbers; a
    right-looking, row-update form took 35 µs: its updates are too short for vector code to pay)."""
    n = a.shape[0]
    for j in range(n):
        row_j = a[j]
        s = row_j[j]
        for k in range(j):
            s -= row_j[k] * row_j[k]
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        row_j[j] = d
        i = j + 1
        while i + 3 < n:
            r0, r1, r2, r3 = a[i], a[i + 1], a[i + 2], a[i + 3]
            s0, s1, s2, s3 = r0[j], r1[j], r2[j], r3[j]
            for k in range(j):
                x = row_j[k]
                s0 -= r0[k] * x
                s1 -= r1[k] * x
                s2 -= r2[k] * x
                s3 -= r3[k] * x
            r0[j] = s0 / d
            r1[j] = s1 / d
            r2[j] = s2 / d
            r3[j] = s3 / d
            i += 4
        while i < n:
            row_i = a[i]
            s = row_i[j]
            for k in range(j):
                s -= row_i[k] * row_j[k]
            row_i[j] = s / d
            i += 1
    for i in range(n):  # forward: L·y = b
        row_i = a[i]
        s = b[i]
        for k in range(i):
            s -= row_i[k] * out[k]
        out[i] = s / row_i[i]
    for i in range(n - 1, -1, -1):  # back: Lᵀ·x = y, by columns of Lᵀ (rows of L, read contiguously)
        out[i] /= a[i, i]
        x = out[i]
        row_i = a[i]
        for k in range(i):
            out[k] -= row_i[k] * x
    return True


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def impute_lm(levels, e, z, tol, max_iter):
    """Solve each row's expectile conditions in place: ``z`` [B, N] (units of its spread) from its start, for
    levels [B, N] and normalised expectiles e [B, N]. The iteration of ``impute_expectile_samples``."""
    for b in range(z.shape[0]):
        solve_one(levels[b], e[b], z[b], tol, max_iter)
    return z


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def solve_one(lv, eb, zb, tol, max_iter):
    """One problem: ``zb`` [N] (units of its spread) solved in place from its start, for levels ``lv`` [N] and
    normalised expectiles ``eb`` [N]; returns the iterations taken.

    The Jacobian is never formed: ∂f_i/∂z_n is τ_i/N when z_n > e_i and (1 − τ_i)/N otherwise, so with the
    conditions sorted by e, entry (a, c) of JᵀJ is three prefix sums over them (of τ², τ(1 − τ), (1 − τ)²) cut at
    the counts of e below z_a and z_c, and Jᵀf two more: O(N²) per iteration instead of O(N³)."""
    n = zb.shape[0]
    f = np.empty(n)
    f_new = np.empty(n)
    lhs = np.empty((n, n))
    rhs = np.empty(n)
    step = np.empty(n)
    trial = np.empty(n)
    sorted_z = np.empty(n)
    prefix_z = np.empty(n + 1)
    below = np.empty(n, dtype=np.int64)
    p_hi = np.empty(n + 1)  # prefix sums over the conditions in e order: τ², τ(1 − τ), (1 − τ)²
    p_mid = np.empty(n + 1)
    p_lo = np.empty(n + 1)
    q_hi = np.empty(n + 1)  # and of τ·f, (1 − τ)·f
    q_lo = np.empty(n + 1)
    low_part = np.empty(n)  # per unknown, J·Jᵀ's two terms at its count of conditions below it
    high_part = np.empty(n)
    order = np.argsort(eb)
    sorted_e = eb[order]
    sorted_tau = lv[order]
    p_hi[0] = p_mid[0] = p_lo[0] = 0.0
    for j in range(n):
        t = sorted_tau[j]
        p_hi[j + 1] = p_hi[j] + t * t
        p_mid[j + 1] = p_mid[j] + t * (1.0 - t)
        p_lo[j + 1] = p_lo[j] + (1.0 - t) * (1.0 - t)
    cost = _residual(zb, lv, eb, f, sorted_z, prefix_z)
    damping = 1e-3
    active = np.abs(f).max() > tol
    scale = 1.0 / (n * n)
    iterations = 0
    for _ in range(max_iter):
        if not active:
            break
        iterations += 1
        for k in range(n):
            below[k] = np.searchsorted(sorted_e, zb[k], side="left")  # conditions with e_i < z_k
        q_hi[0] = q_lo[0] = 0.0
        for j in range(n):
            fj = f[order[j]]
            q_hi[j + 1] = q_hi[j] + sorted_tau[j] * fj
            q_lo[j + 1] = q_lo[j] + (1.0 - sorted_tau[j]) * fj
        for a in range(n):
            ca = below[a]
            rhs[a] = -(q_hi[ca] + q_lo[n] - q_lo[ca]) / n
            low_part[a] = (p_hi[ca] - p_mid[ca]) * scale
            high_part[a] = (p_mid[ca] + p_lo[n] - p_lo[ca]) * scale
        # Jᵀ·J: entry (a, c) is low_part at the smaller count plus high_part at the larger, which is always the
        # smaller of the two sums (their difference is −Σ(2τ − 1)² over the conditions between the counts):
        # a select, not a branch, so the row is vector code
        for a in range(n):
            row = lhs[a]
            la, ha = low_part[a], high_part[a]
            for c in range(n):
                row[c] = min(la + high_part[c], low_part[c] + ha)
        for a in range(n):
            lhs[a, a] += damping * (lhs[a, a] + 1e-9)
        solved = _cholesky_solve(lhs, rhs, step)
        better = False
        cost_new = cost
        if solved:
            for k in range(n):
                trial[k] = zb[k] + step[k]
            cost_new = _residual(trial, lv, eb, f_new, sorted_z, prefix_z)
            better = cost_new < cost
        stalled = False
        if better:
            stalled = cost - cost_new <= 1e-6 * cost  # at the least-squares minimum: nothing more to gain
            zb[:] = trial
            f[:] = f_new
            cost = cost_new
            damping = max(damping * 0.2, 1e-9)
        else:
            damping *= 10.0
        active = (not stalled) and np.abs(f).max() > tol and damping < 1e8
    return iterations
