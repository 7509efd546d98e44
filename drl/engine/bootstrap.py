"""Bootstrap targets of a population: what each predictor's TD error uses as the value of the next state.

Three methods (DESIGN §3; which is valid with which rule is tabled in docs/guide/architecture.md, "Bootstrap"):

* ``own``: each predictor bootstraps from its own next value. Exact when what follows a state is certain, or
  for the mean (τ = 0.5); for other τ it treats the future return as if it were its own τ-statistic.
* ``random``: each predictor bootstraps from the next value of a member of its γ group, drawn per step with
  probability equal to the width of that member's **τ cell** (levels split at midpoints between neighbouring
  τ; the predictor itself included). This samples the quantile function the group encodes, so it is the
  distributional target for the **quantile** code. For the expectile code it treats expectiles as samples,
  which they are not: the code collapses toward the mean (a ``UserWarning`` says so).
* ``imputed``: for the **expectile** code, per step and γ group, N samples are imputed whose τ-expectiles are
  the group's N next values (Rowland et al. 2019; Dabney et al. 2020), and each predictor bootstraps from one
  of them, drawn uniformly per step. For the quantile code the imputation is the cell draw of ``random``.

The imputation (:func:`impute_expectile_samples`) is a Levenberg–Marquardt solve for every step and γ group of a
trial (8 iterations from a cold start, 20 for groups of more than 16; compiled on the CPU, no scipy call), only
at the steps whose reward is random. On the CPU a whole imputed run is one compiled loop
(:mod:`drl.engine.compiled.imputed`, which reads ``Bootstrap.compiled_groups``); this class's torch methods are the
torch kernel's (CUDA, the quantile code, schema-1 runs) and the definition the compiled loop is tested against.
"""

from __future__ import annotations

import numpy as np
import torch

from drl._threads import one_torch_thread

__all__ = ["impute_expectile_samples", "Bootstrap", "make_bootstrap"]


def _expectile_residual(samples, levels, values):
    """F_i = mean_n |τ_i − [z_n ≤ e_i]|·(z_n − e_i) [B, N] and its Jacobian in z [B, N, N]."""
    diff = samples[:, None, :] - values[:, :, None]
    weight = torch.where(diff > 0, levels[:, :, None], 1 - levels[:, :, None])
    jac = weight / samples.shape[1]
    return (jac * diff).sum(-1), jac


def impute_expectile_samples(levels: torch.Tensor, values: torch.Tensor, init: torch.Tensor | None = None, *,
                             tol: float = 1e-9, max_iter: int = 20, compiled: bool = True) -> torch.Tensor:
    """N equally weighted samples whose τ-expectiles are ``values`` (least squares, batched).

    Solves ``F(z) = 0`` with ``F_i = (1/N)·Σ_n |τ_i − [z_n ≤ e_i]|·(z_n − e_i)``, the expectile-loss gradient
    at ``e_i`` (zero exactly when ``e_i`` is the τ_i-expectile of the samples), by Levenberg–Marquardt on all
    problems at once, in units of each problem's spread. Learned values are noisy and need not be the
    expectiles of any N equally weighted samples, so this is a least-squares fit; measured on 1 %-noisy
    expectiles of atomic distributions, the fitted samples' expectiles stay within about twice the noise.
    (An exact solve on a fixed support, linear in the probabilities, was tried and rejected: it amplifies 1 %
    noise about 15-fold, because valid expectile sets near atomic distributions are thin.)

    Args:
      levels: [B, N] τ in (0, 1).  values: [B, N] the expectiles (reward units).
      init: [B, N] starting samples; default the values spread twice as wide around their mean.
      tol: stop a problem when max |F| < tol (units of its spread).  max_iter: iterations at most.
      compiled: on the CPU, run the iteration compiled (:mod:`drl.engine.compiled.imputation`), one problem at a time;
        False runs it in torch, batched (the definition; CUDA always does).
    Returns:
      [B, N] samples (float64).
    """
    lv, ev = levels.double(), values.double()
    lo, hi = ev.amin(1, keepdim=True), ev.amax(1, keepdim=True)
    center = ev.mean(1, keepdim=True)
    spread = (hi - lo).clamp(min=1e-12)
    e = (ev - center) / spread
    z = 2.0 * e if init is None else (init.double() - center) / spread
    if compiled and e.device.type == "cpu":
        from drl.engine.compiled.imputation import impute_lm

        solved = impute_lm(np.ascontiguousarray(lv.numpy()), np.ascontiguousarray(e.numpy()),
                           np.array(z.numpy(), dtype=np.float64, order="C"), float(tol), int(max_iter))
        return torch.from_numpy(solved) * spread + center
    eye = torch.eye(e.shape[1], dtype=torch.float64, device=e.device)
    f, jac = _expectile_residual(z, lv, e)
    cost = (f**2).sum(1)
    damping = torch.full_like(cost, 1e-3)
    active = f.abs().amax(1) > tol
    for _ in range(max_iter):
        if not bool(active.any()):
            break
        jt = jac.transpose(1, 2)
        normal = jt @ jac
        diag = torch.diagonal(normal, dim1=1, dim2=2)
        lhs = normal + damping[:, None, None] * (torch.diag_embed(diag) + 1e-9 * eye)
        step = torch.linalg.solve(lhs, -(jt @ f[:, :, None]))[:, :, 0]
        trial = torch.where(active[:, None], z + step, z)
        f_new, jac_new = _expectile_residual(trial, lv, e)
        cost_new = (f_new**2).sum(1)
        better = active & (cost_new < cost)
        stalled = better & (cost - cost_new <= 1e-6 * cost)  # at the least-squares minimum: nothing more to gain
        z = torch.where(better[:, None], trial, z)
        f = torch.where(better[:, None], f_new, f)
        jac = torch.where(better[:, None, None], jac_new, jac)
        cost = torch.where(better, cost_new, cost)
        damping = torch.where(better, (damping * 0.2).clamp(min=1e-9), damping * 10.0)
        active = active & ~stalled & (f.abs().amax(1) > tol) & (damping < 1e8)
    return z * spread + center


class Bootstrap:
    """The bootstrap targets of one run: groups of equal γ, their τ cells, and the draws.

    Args:
      method: "own", "random" or "imputed".  rule: "expectile" or "quantile".
      tau, gamma: [P] per-predictor optimism and discount (numpy).
      n_steps: steps of a trial.
      seed: seeds the draws (a torch generator apart from the schedule's).
      random_steps: [M, K] bool per trial type, the steps whose reward is random (``Task.random_reward_steps``);
        ``imputed`` draws targets there only. None: every step.
      legacy_partners: schema-1 runs drew a uniform partner among the *other* members of the γ group.
    """

    def __init__(self, method: str, rule: str, tau, gamma, n_steps: int, device, seed: int,
                 *, random_steps=None, legacy_partners: bool = False):
        self.method = method
        self.device = device
        self.n_steps = n_steps
        # [M, K] steps whose reward is random; elsewhere "imputed" uses the own value (exact, see module doc).
        # The mask answers the online loop's per-step question on the host; the indices serve whole trials.
        self.random_mask = None if random_steps is None else np.atleast_2d(np.asarray(random_steps, dtype=bool))
        self.random_steps = None if random_steps is None else [
            torch.as_tensor(np.flatnonzero(row), device=device) for row in self.random_mask]
        tau, gamma = np.asarray(tau, np.float64), np.asarray(gamma, np.float64)
        self.n_predictors = tau.size
        self.imputing = method == "imputed" and rule == "expectile"
        self.legacy = legacy_partners
        self.generator = None
        if method == "own":
            return
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed) + 7919)  # a stream apart from the schedule's
        # Order predictors by (γ group, τ); `order[j]` is the predictor at sorted position j.
        groups, group_of = np.unique(gamma, return_inverse=True)
        # schema-1 runs ordered members by index, not τ (kept so that they rerun exactly)
        order = np.argsort(group_of, kind="stable") if legacy_partners else np.lexsort((tau, group_of))
        sizes = np.bincount(group_of, minlength=groups.size)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        position = np.empty(self.n_predictors, dtype=np.int64)  # rank of each predictor within its group
        position[order] = np.arange(self.n_predictors) - starts[group_of[order]]
        as_t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
        self.order, self.group_of = as_t(order), as_t(group_of)
        self.group_start, self.group_size = as_t(starts[group_of]), as_t(sizes[group_of])
        self.group_pos = as_t(position)
        # τ cells: a group's sorted levels split at the midpoints between neighbours; a draw u ~ U(0, 1)
        # shifted by the group index falls in exactly one member's cell of the concatenated boundaries.
        bounds = []
        for g in range(groups.size):
            levels = tau[order[starts[g]:starts[g] + sizes[g]]]
            bounds.append(g + np.append(0.5 * (levels[1:] + levels[:-1]), 1.0))
        self.cell_bounds = torch.as_tensor(np.concatenate(bounds), device=device, dtype=torch.float64)
        if self.imputing:
            # Groups of equal size are imputed together: per size, [groups, size] predictor slots by τ.
            self.classes = []
            for size in np.unique(sizes):
                members = np.flatnonzero(sizes == size)
                slots = np.stack([order[starts[g]:starts[g] + size] for g in members])
                in_class = np.flatnonzero(np.isin(group_of, members))
                row_of = np.searchsorted(members, group_of[in_class])  # group row within the class
                self.classes.append((as_t(slots), torch.as_tensor(tau[slots], device=device, dtype=torch.float64),
                                     as_t(in_class), as_t(row_of)))
            # The same groups as arrays for the compiled loop (drl.engine.compiled.imputed): [G, N_max] predictors by τ
            # (−1 beyond a group's size), [G] sizes, [G, N_max] levels.
            members = np.full((groups.size, sizes.max()), -1, dtype=np.int64)
            group_levels = np.full((groups.size, sizes.max()), 0.5)
            for g in range(groups.size):
                members[g, :sizes[g]] = order[starts[g]:starts[g] + sizes[g]]
                group_levels[g, :sizes[g]] = tau[members[g, :sizes[g]]]
            self.compiled_groups = {"members": members, "sizes": sizes.astype(np.int64), "levels": group_levels}
            # Iterations from a cold start (benchmarks/bench_bootstrap.py): at N ≤ 16 eight reach the accuracy of a
            # scipy solve; at N = 50 eight leave 14 % error per problem and twenty about 6 %.
            self.max_iter = 8 if sizes.max() <= 16 else 20

    # ------------------------------------------------------------------ state (for exact replays)
    def get_state(self):
        return None if self.generator is None else self.generator.get_state()

    def set_state(self, state) -> None:
        if state is not None:
            self.generator.set_state(state)

    # ------------------------------------------------------------------ draws
    def _uniform(self, n_steps: int) -> torch.Tensor:
        dtype = torch.float32 if self.legacy else torch.float64  # schema-1 runs drew float32
        return torch.rand(self.n_predictors, n_steps, generator=self.generator, device=self.device, dtype=dtype)

    def draw_partners(self, n_steps: int | None = None) -> torch.Tensor:
        """[P, K] index of the predictor each one bootstraps from at each step (``random``)."""
        u = self._uniform(self.n_steps if n_steps is None else n_steps)
        if self.legacy:  # schema 1: uniform among the others of the group
            others = (self.group_size - 1).clamp(min=1)[:, None]
            offset = (u * others).long().clamp(max=others - 1)
            pos = self.group_start[:, None] + (self.group_pos[:, None] + 1 + offset) % self.group_size[:, None]
            return self.order[pos]
        sorted_pos = torch.searchsorted(self.cell_bounds, self.group_of[:, None] + u, right=True)
        return self.order[sorted_pos.clamp(max=self.n_predictors - 1)]

    def imputed_targets(self, v: torch.Tensor) -> torch.Tensor:
        """[P, S] a draw, per predictor and step, from samples imputed from its group's values v [P, S]."""
        n_steps = v.shape[1]
        u = self._uniform(n_steps)
        out = v.clone()
        for slots, levels, in_class, row_of in self.classes:
            size = slots.shape[1]
            if size == 1:
                continue  # alone in its γ group: its own value is the whole code
            values = v.double()[slots].transpose(1, 2).reshape(-1, size)  # [G·S, N]
            lv = levels[:, None, :].expand(-1, n_steps, -1).reshape(-1, size)
            spread = values.amax(1) - values.amin(1)
            solve = spread > 1e-6 * values.abs().amax(1).clamp(min=1.0)  # equal values: nothing to impute
            if not bool(solve.any()):
                continue
            with one_torch_thread():
                samples = impute_expectile_samples(lv[solve], values[solve], max_iter=self.max_iter)
            table = values.clone()
            table[solve] = samples
            rows = row_of[:, None] * n_steps + torch.arange(n_steps, device=v.device)[None, :]  # [P_c, S]
            pick = (u[in_class] * size).long().clamp(max=size - 1)  # [P_c, S]: a uniform draw of a sample
            out[in_class] = table[rows].gather(2, pick[:, :, None])[:, :, 0].to(v.dtype)
        return out

    # ------------------------------------------------------------------ targets
    def _draw(self, v: torch.Tensor) -> torch.Tensor:
        """[P, S] distributional targets for the values v [P, S]: imputed samples or τ-cell partners."""
        if self.imputing:
            return self.imputed_targets(v)
        return torch.gather(v, 0, self.draw_partners(v.shape[1]))

    def targets(self, v: torch.Tensor, m: int = 0) -> torch.Tensor:
        """[P, K] the value each predictor bootstraps from at each step of a type-m trial with values v [P, K]."""
        if self.method == "own":
            return v
        if self.method == "random" or self.random_steps is None:
            return self._draw(v)
        steps = self.random_steps[m]  # imputed: only where the reward is random
        if steps.numel() == 0:
            return v
        out = v.clone()
        out[:, steps] = self._draw(v[:, steps])
        return out

    def step_target(self, v_next: torch.Tensor, m: int = 0, step: int = 0) -> torch.Tensor:
        """[P] the value each predictor bootstraps from when ``v_next`` [P] is the value of ``step`` (online)."""
        if self.method == "own":
            return v_next
        if self.method == "imputed" and self.random_mask is not None and not self.random_mask[m, step]:
            return v_next
        return self._draw(v_next[:, None])[:, 0]


def make_bootstrap(method: str, rule: str, population, task, device, seed: int, *,
                   legacy_partners: bool = False) -> Bootstrap:
    """The :class:`Bootstrap` of a population (its τ and γ) on a task (which steps have random rewards)."""
    # which steps have a random reward: needed by the distributional targets only (~0.1 ms a call to find)
    random_steps = None if method == "own" else np.stack([task.random_reward_steps(name)
                                                          for name in task.trial_type_names])
    return Bootstrap(method, rule, population.tau, population.gamma, task.n_steps, device, seed,
                     random_steps=random_steps, legacy_partners=legacy_partners)
