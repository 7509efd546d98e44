"""The expectile imputation's Levenberg–Marquardt loop, compiled (numba), one problem after another.

The same iteration as the torch definition in :func:`drl.bootstrap.impute_expectile_samples`, which it replaces
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
def _residual(z, levels, e, f, jac):
    """f_i = mean_n |τ_i − [z_n ≤ e_i]|·(z_n − e_i) [N] and its Jacobian in z, stored transposed
    (``jac[n, i]`` = ∂f_i/∂z_n, so the normal equations read rows); returns Σ f²."""
    n = z.shape[0]
    cost = 0.0
    for i in range(n):
        total = 0.0
        for k in range(n):
            diff = z[k] - e[i]
            weight = (levels[i] if diff > 0 else 1.0 - levels[i]) / n
            jac[k, i] = weight
            total += weight * diff
        f[i] = total
        cost += total * total
    return cost


@numba.njit(inline="always", cache=True, fastmath={"reassoc", "contract", "nsz"})
def _cholesky_solve(a, b, out) -> bool:
    """Solve a·x = b for symmetric positive definite a [N, N] (overwritten by its factor); False if not PD."""
    n = a.shape[0]
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s -= a[j, k] * a[j, k]
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        a[j, j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for k in range(j):
                s -= a[i, k] * a[j, k]
            a[i, j] = s / d
    for i in range(n):  # forward: L·y = b
        s = b[i]
        for k in range(i):
            s -= a[i, k] * out[k]
        out[i] = s / a[i, i]
    for i in range(n - 1, -1, -1):  # back: Lᵀ·x = y
        s = out[i]
        for k in range(i + 1, n):
            s -= a[k, i] * out[k]
        out[i] = s / a[i, i]
    return True


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
def impute_lm(levels, e, z, tol, max_iter):
    """Solve each row's expectile conditions in place: ``z`` [B, N] (units of its spread) from its start, for
    levels [B, N] and normalised expectiles e [B, N]. The iteration of ``impute_expectile_samples``."""
    n_problems, n = z.shape
    f = np.empty(n)
    f_new = np.empty(n)
    jac = np.empty((n, n))
    jac_new = np.empty((n, n))
    lhs = np.empty((n, n))
    rhs = np.empty(n)
    step = np.empty(n)
    trial = np.empty(n)
    for b in range(n_problems):
        zb, lv, eb = z[b], levels[b], e[b]
        cost = _residual(zb, lv, eb, f, jac)
        damping = 1e-3
        active = np.abs(f).max() > tol
        for _ in range(max_iter):
            if not active:
                break
            for a in range(n):  # Jᵀ·J + damping·(diag(JᵀJ) + 1e-9), and −Jᵀ·f
                s = 0.0
                for i in range(n):
                    s -= jac[a, i] * f[i]
                rhs[a] = s
                for c in range(a, n):
                    s = 0.0
                    for i in range(n):
                        s += jac[a, i] * jac[c, i]
                    lhs[a, c] = s
                    lhs[c, a] = s
            for a in range(n):
                lhs[a, a] += damping * (lhs[a, a] + 1e-9)
            solved = _cholesky_solve(lhs, rhs, step)
            better = False
            if solved:
                for k in range(n):
                    trial[k] = zb[k] + step[k]
                cost_new = _residual(trial, lv, eb, f_new, jac_new)
                better = cost_new < cost
            stalled = False
            if better:
                stalled = cost - cost_new <= 1e-6 * cost  # at the least-squares minimum: nothing more to gain
                zb[:] = trial
                f[:] = f_new
                jac[:, :] = jac_new
                cost = cost_new
                damping = max(damping * 0.2, 1e-9)
            else:
                damping *= 10.0
            active = (not stalled) and np.abs(f).max() > tol and damping < 1e8
    return z
