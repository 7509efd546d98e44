"""drl against what a skilled user would write instead, and against this machine's limits. Prints; asserts nothing.

The peers, each checked against drl's output on drl's own schedule before it is timed:
  * JAX: ``jit`` of a ``lax.scan`` over trials, ``vmap`` over predictors, a reverse ``lax.scan`` for the trace sum
    (a benchmark-only dependency: ``pip install -r benchmarks/requirements.txt``; skipped when absent).
  * numpy: a loop over trials, every operation vectorised over predictors.
The model is drl's default: CSC features, offline expectile TD(λ), arrival convention, bootstrap from the
predictor's own values.

The limits, measured in the same run on numba's threads (2 here): writing warm memory, writing fresh memory
(first touch of new pages, what a recorded run's result costs), and float32 FMA throughput. "share" is a
recorded run's bytes of V and δ per second over the fresh-memory write limit, or an unrecorded run's arithmetic
(FLOPS_PER_STEP per predictor-step) over the FMA limit.

The last row is the imputed bootstrap (``bootstrap="imputed"``, 50 predictors in 3 γ groups): the JAX and numpy
peers impute each group's samples by the same Levenberg–Marquardt iteration and draw with drl's uniforms.

Every figure is measured on an idle machine and beside a busy process (one core spinning), in turn.
Ratios "× drl" are peer time ÷ drl time: above 1, drl is faster.

Run: .venv/bin/python benchmarks/bench_peers.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np

import drl

sys.path.insert(0, str(Path(__file__).parent))
from bench_engine import DRL_SIM_TASK, neighbour_switch  # noqa: E402
from bench_engine import best_times as best  # noqa: E402

#: Arithmetic per predictor-step of drl's default update: δ (1 mul, 2 add), α(δ)·δ (1 mul), the trace sum
#: (1 mul, 1 add), the weight change (1 add).
FLOPS_PER_STEP = 7


# ----------------------------------------------------------------------------------------------- the limits
FMA_CHAINS = 128


@numba.njit(parallel=True)
def _fill(out, value):
    n_threads = numba.get_num_threads()
    chunk = -(-out.size // n_threads)
    for t in numba.prange(n_threads):
        for i in range(t * chunk, min(out.size, (t + 1) * chunk)):
            out[i] = value


@numba.njit(fastmath=True)
def _fma_chain(a, b, c, repeats):
    for _ in range(repeats):
        for i in range(a.size):
            a[i] = a[i] * b + c
    return a[0]


@numba.njit(parallel=True)
def _fma(repeats):
    n_threads = numba.get_num_threads()
    total = np.float32(0)
    for _thread in numba.prange(n_threads):
        # 128 independent chains (1 KB, in L1): arithmetic, not memory, is the limit
        total += _fma_chain(np.ones(FMA_CHAINS, np.float32), np.float32(0.999), np.float32(1e-3), repeats)
    return total


def limits(size_bytes=1 << 30):
    """Bytes/s writing warm memory, writing fresh memory, and float32 FLOP/s (an FMA = 2), best of 3."""
    n = size_bytes // 4
    warm = np.empty(n, np.float32)
    _fill(warm, 0.0)
    _fill(warm[:1024], 1.0)
    _fma(1)
    best_warm = best_fresh = best_fma = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        _fill(warm, 1.0)
        best_warm = max(best_warm, size_bytes / (time.perf_counter() - t0))
        fresh = np.empty(n, np.float32)
        t0 = time.perf_counter()
        _fill(fresh, 1.0)
        best_fresh = max(best_fresh, size_bytes / (time.perf_counter() - t0))
        del fresh
        repeats = 1_000_000
        t0 = time.perf_counter()
        _fma(repeats)
        best_fma = max(best_fma, 2 * FMA_CHAINS * repeats * numba.get_num_threads() / (time.perf_counter() - t0))
    return best_warm, best_fresh, best_fma


# ----------------------------------------------------------------------------------------------- the peers
def constants(task, pop):
    dt = task.dt
    gamma, lam = np.asarray(pop.gamma), np.asarray(pop.lam)
    return {"discount": (gamma**dt).astype(np.float32), "rho": ((gamma * lam) ** dt).astype(np.float32),
            "alpha_pos": np.asarray(pop.alpha_pos, np.float32), "alpha_neg": np.asarray(pop.alpha_neg, np.float32),
            "cue": np.asarray(task.cue_steps, np.int64), "n_steps": task.n_steps, "n_types": len(task.trial_types)}


def numpy_peer(task, pop, schedule, record):
    """Trials in a Python loop, predictors vectorised; returns (weights [M, P, K], V, δ [N, P, K] or None)."""
    c = constants(task, pop)
    g, rho, a_pos, a_neg = c["discount"], c["rho"], c["alpha_pos"], c["alpha_neg"]
    k, p = c["n_steps"], len(pop)
    types, rewards = schedule.trial_type.numpy(), schedule.reward.numpy().astype(np.float32)
    w = np.zeros((c["n_types"], p, k), np.float32)
    v_rec = np.empty((len(types), p, k), np.float32) if record else None
    d_rec = np.empty((len(types), p, k), np.float32) if record else None
    v = np.zeros((p, k + 1), np.float32)
    r_next = np.zeros(k, np.float32)
    for i, m in enumerate(types):
        cue = c["cue"][m]
        v[:, :cue] = 0
        v[:, cue:k] = w[m, :, :k - cue]
        r_next[:-1] = rewards[i, 1:]
        learn = r_next + g[:, None] * v[:, 1:] - v[:, :k]  # δ_{j+1}, learned at state j
        if record:
            v_rec[i] = v[:, :k]
            d_rec[i, :, 0] = rewards[i, 0] + g * v[:, 0]
            d_rec[i, :, 1:] = learn[:, :-1]
        u = np.where(learn > 0, a_pos[:, None], a_neg[:, None]) * learn
        acc = np.zeros(p, np.float32)
        for j in range(k - 1, cue - 1, -1):
            acc = u[:, j] + rho * acc
            w[m, :, j - cue] += acc
    return w, v_rec, d_rec


def jax_peer(task, pop, record):
    """A jitted JAX simulation: returns ``run(types, rewards) -> (weights, V, δ)``, V and δ [N, P, K] or None."""
    import jax
    import jax.numpy as jnp

    c = constants(task, pop)
    k = c["n_steps"]
    cues = jnp.asarray(c["cue"])
    steps = jnp.arange(k)

    def one_predictor(w_m, cue, r, g, rho, a_pos, a_neg):
        source = steps - cue
        v = jnp.where(source >= 0, w_m[jnp.clip(source, 0)], 0.0)
        v_next = jnp.concatenate([v[1:], jnp.zeros(1, v.dtype)])
        r_next = jnp.concatenate([r[1:], jnp.zeros(1, r.dtype)])
        learn = r_next + g * v_next - v
        u = jnp.where(learn > 0, a_pos, a_neg) * learn
        _, trace_sum = jax.lax.scan(lambda acc, u_j: (u_j + rho * acc,) * 2, jnp.float32(0), u, reverse=True)
        target = steps + cue
        w_new = w_m + jnp.where(target < k, trace_sum[jnp.clip(target, 0, k - 1)], 0.0)
        d = jnp.concatenate([(r[0] + g * v[0])[None], learn[:-1]])
        return w_new, v, d

    population = jax.vmap(one_predictor, in_axes=(0, None, None, 0, 0, 0, 0))
    params = tuple(jnp.asarray(c[name]) for name in ("discount", "rho", "alpha_pos", "alpha_neg"))

    def trial(w, inputs):
        m, r = inputs
        w_m, v, d = population(w[m], cues[m], r, *params)
        return w.at[m].set(w_m), ((v, d) if record else None)

    @jax.jit
    def run(types, rewards):
        w0 = jnp.zeros((c["n_types"], len(pop), k), jnp.float32)
        w, out = jax.lax.scan(trial, w0, (types, rewards))
        return (w, *out) if record else (w, None, None)

    def call(types, rewards):
        w, v, d = run(types, rewards)
        w.block_until_ready()
        return np.asarray(w), None if v is None else np.asarray(v), None if d is None else np.asarray(d)

    return call


# ------------------------------------------------------------------- the imputed bootstrap (expectile code)
IMPUTE_TOL = 1e-9


def imputation_inputs(task, pop, n_trials, seed):
    """What both imputed peers take beside the schedule: the γ groups (predictors by τ, their levels), the
    random steps (the task's one trial type), drl's iteration cap, and drl's uniform draws [N, P, S] (the run's
    generator, seeded as drl seeds it, so that the peers can be checked against drl draw for draw)."""
    import torch

    if len(task.trial_types) != 1:
        raise ValueError("the imputed peers take a task of one trial type")
    tau, gamma = np.asarray(pop.tau), np.asarray(pop.gamma)
    groups = []
    for value in np.unique(gamma):
        members = np.flatnonzero(gamma == value)
        members = members[np.argsort(tau[members], kind="stable")]
        if members.size > 1:
            groups.append((members, tau[members]))
    random_steps = np.flatnonzero(task.random_reward_steps(task.trial_type_names[0]))
    sizes = np.bincount(np.unique(gamma, return_inverse=True)[1])
    max_iter = 8 if sizes.max() <= 16 else 20  # drl.engine.bootstrap's cap
    generator = torch.Generator().manual_seed(int(seed) + 7919)  # drl.engine.bootstrap's stream
    uniforms = torch.rand(n_trials * len(pop) * random_steps.size, generator=generator, dtype=torch.float64)
    return groups, random_steps, max_iter, uniforms.numpy().reshape(n_trials, len(pop), random_steps.size)


def _lm_numpy(levels, values, max_iter):
    """The Levenberg–Marquardt imputation of drl.engine.bootstrap written in numpy: N samples whose τ-expectiles are
    ``values`` (least squares), from the cold start z = 2·e in units of the spread."""
    n = values.size
    lo, hi = values.min(), values.max()
    if not hi - lo > 1e-6 * max(np.abs(values).max(), 1.0):
        return values
    center, spread = values.mean(), max(hi - lo, 1e-12)
    e = (values - center) / spread

    def residual(z):
        diff = z[None, :] - e[:, None]
        jac = np.where(diff > 0, levels[:, None], 1 - levels[:, None]) / n
        return (jac * diff).sum(1), jac

    z = 2 * e
    f, jac = residual(z)
    cost, damping = f @ f, 1e-3
    active = np.abs(f).max() > IMPUTE_TOL
    for _ in range(max_iter):
        if not active:
            break
        normal = jac.T @ jac
        lhs = normal + damping * (np.diag(np.diag(normal)) + 1e-9 * np.eye(n))
        trial = z + np.linalg.solve(lhs, -jac.T @ f)
        f_new, jac_new = residual(trial)
        cost_new = f_new @ f_new
        stalled = False
        if cost_new < cost:
            stalled = cost - cost_new <= 1e-6 * cost
            z, f, jac, cost, damping = trial, f_new, jac_new, cost_new, max(damping * 0.2, 1e-9)
        else:
            damping *= 10.0
        active = not stalled and np.abs(f).max() > IMPUTE_TOL and damping < 1e8
    return z * spread + center


def numpy_imputed_peer(task, pop, schedule, inputs):
    """Trials in a Python loop, predictors vectorised, one imputation per (random step, γ group); returns
    (weights [M, P, K], None, None)."""
    c = constants(task, pop)
    groups, random_steps, max_iter, uniforms = inputs
    g, rho, a_pos, a_neg = c["discount"], c["rho"], c["alpha_pos"], c["alpha_neg"]
    k, p = c["n_steps"], len(pop)
    rewards = schedule.reward.numpy().astype(np.float32)
    w = np.zeros((1, p, k), np.float32)
    v = np.zeros((p, k + 1), np.float32)
    r_next = np.zeros(k, np.float32)
    cue = c["cue"][0]
    for i in range(len(rewards)):
        v[:, :cue] = 0
        v[:, cue:k] = w[0, :, :k - cue]
        target = v.copy()
        for s, step in enumerate(random_steps):
            for members, levels in groups:
                samples = _lm_numpy(levels, v[members, step].astype(np.float64), max_iter)
                pick = np.minimum((uniforms[i, members, s] * members.size).astype(np.int64), members.size - 1)
                target[members, step] = samples[pick]
        r_next[:-1] = rewards[i, 1:]
        learn = r_next + g[:, None] * target[:, 1:] - v[:, :k]
        u = np.where(learn > 0, a_pos[:, None], a_neg[:, None]) * learn
        acc = np.zeros(p, np.float32)
        for j in range(k - 1, cue - 1, -1):
            acc = u[:, j] + rho * acc
            w[0, :, j - cue] += acc
    return w, None, None


def jax_imputed_peer(task, pop, inputs):
    """The imputed bootstrap in JAX: a ``lax.scan`` over trials; per random step and γ group, the same
    Levenberg–Marquardt imputation (float64, a ``lax.while_loop``, ``jnp.linalg.solve``), then a draw per
    predictor. Returns ``run(rewards, uniforms) -> (weights, None, None)``."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    c = constants(task, pop)
    groups, random_steps, max_iter, _ = inputs
    k, p, cue = c["n_steps"], len(pop), int(c["cue"][0])
    g, rho = jnp.asarray(c["discount"]), jnp.asarray(c["rho"])
    a_pos, a_neg = jnp.asarray(c["alpha_pos"]), jnp.asarray(c["alpha_neg"])
    jgroups = [(jnp.asarray(members), jnp.asarray(levels)) for members, levels in groups]

    def impute(levels, values):
        n = values.shape[0]
        lo, hi = values.min(), values.max()
        center, spread = values.mean(), jnp.maximum(hi - lo, 1e-12)
        e = (values - center) / spread

        def residual(z):
            diff = z[None, :] - e[:, None]
            jac = jnp.where(diff > 0, levels[:, None], 1 - levels[:, None]) / n
            return (jac * diff).sum(1), jac

        def body(state):
            z, f, jac, cost, damping, _, it = state
            normal = jac.T @ jac
            lhs = normal + damping * (jnp.diag(jnp.diag(normal)) + 1e-9 * jnp.eye(n))
            trial = z + jnp.linalg.solve(lhs, -jac.T @ f)
            f_new, jac_new = residual(trial)
            cost_new = f_new @ f_new
            better = cost_new < cost
            stalled = better & (cost - cost_new <= 1e-6 * cost)
            z, f = jnp.where(better, trial, z), jnp.where(better, f_new, f)
            jac, cost = jnp.where(better, jac_new, jac), jnp.where(better, cost_new, cost)
            damping = jnp.where(better, jnp.maximum(damping * 0.2, 1e-9), damping * 10.0)
            active = ~stalled & (jnp.abs(f).max() > IMPUTE_TOL) & (damping < 1e8)
            return z, f, jac, cost, damping, active, it + 1

        z0 = 2 * e
        f0, jac0 = residual(z0)
        state = (z0, f0, jac0, f0 @ f0, jnp.float64(1e-3), jnp.abs(f0).max() > IMPUTE_TOL, 0)
        z = jax.lax.while_loop(lambda st: st[5] & (st[6] < max_iter), body, state)[0]
        solve = hi - lo > 1e-6 * jnp.maximum(jnp.abs(values).max(), 1.0)
        return jnp.where(solve, z * spread + center, values)

    def trial(w, inputs):
        r, u = inputs
        v = jnp.concatenate([jnp.zeros((p, cue), w.dtype), w[:, :k - cue], jnp.zeros((p, 1), w.dtype)], axis=1)
        target = v
        for s, step in enumerate(random_steps):
            for members, levels in jgroups:
                samples = impute(levels, v[members, step].astype(jnp.float64))
                pick = jnp.minimum((u[members, s] * members.size).astype(jnp.int32), members.size - 1)
                target = target.at[members, step].set(samples[pick].astype(w.dtype))
        r_next = jnp.concatenate([r[1:], jnp.zeros(1, r.dtype)])
        learn = r_next + g[:, None] * target[:, 1:] - v[:, :k]
        u_rule = jnp.where(learn > 0, a_pos[:, None], a_neg[:, None]) * learn
        _, trace_sum = jax.lax.scan(lambda acc, u_j: (u_j + rho * acc,) * 2, jnp.zeros(p, jnp.float32),
                                    u_rule.T, reverse=True)
        return w + trace_sum.T[:, cue:], None

    @jax.jit
    def run(rewards, uniforms):
        w, _ = jax.lax.scan(trial, jnp.zeros((p, k - cue), jnp.float32), (rewards, uniforms))
        return w

    def call(rewards, uniforms):
        w = np.asarray(run(rewards, uniforms).block_until_ready())
        return np.concatenate([w, np.zeros((p, cue), np.float32)], axis=1)[None], None, None

    return call


def check(name, peer, ds, record, tolerance=1e-4):
    """The peer's weights (and V, δ) against drl's run: the largest difference over the largest weight."""
    w, v, d = peer
    scale = float(np.abs(ds.weights.values).max()) or 1.0
    n_features = ds.sizes["feature"]  # CSC: K − the earliest cue step; the peers keep K, the rest stay 0
    errors = [np.abs(np.moveaxis(w, 1, 0)[..., :n_features] - ds.weights.values).max() / scale]
    if record:
        errors += [np.abs(np.moveaxis(v, 0, 1) - ds.value.values).max() / scale,
                   np.abs(np.moveaxis(d, 0, 1) - ds.rpe.values).max() / scale]
    if max(errors) > tolerance:
        raise AssertionError(f"{name} disagrees with drl: max relative error {max(errors):.2e}")
    return max(errors)


# ----------------------------------------------------------------------------------------------- the table
def configurations(quick):
    scale = 4 if quick else 1
    return [(20, 200, True), (1000, 2000 // scale, True), (1000, 2000 // scale, False),
            (10000, 500 // scale, True), (10000, 500 // scale, False)]


def measure(task, p, n, record, busy, have_jax):
    """Best times of drl and its peers for one configuration, idle and busy, after checking the peers."""
    pop = drl.Population.sample(p, tau=(0.05, 0.95), gamma=[0.8, 0.9, 0.95], lam=0.9)
    schedule = task.schedule(n, seed=0)
    keep = ("value", "rpe") if record else ()
    ds = drl.simulate(task, pop, schedule=schedule, progress=False, record=keep)
    label = f"{p} × {n} × {task.n_steps}, {'recorded' if record else 'not recorded'}"
    repeats, back_to_back = (10, 5) if p * n < 1e5 else (3, 1)
    times = {"drl": best(lambda: drl.simulate(task, pop, schedule=schedule, progress=False, record=keep), repeats,
                         busy, back_to_back)}
    check("numpy", numpy_peer(task, pop, schedule, record), ds, record)
    times["numpy"] = best(lambda: numpy_peer(task, pop, schedule, record), 3 if p * n < 1e5 else 1, busy)
    if have_jax:
        peer = jax_peer(task, pop, record)
        types, rewards = schedule.trial_type.numpy(), schedule.reward.numpy().astype(np.float32)
        check("JAX", peer(types, rewards), ds, record)
        times["jax"] = best(lambda: peer(types, rewards), repeats, busy, back_to_back)
    print(f"  measured {label}", flush=True)
    return label, p * n * task.n_steps, record, times


def measure_imputed(task, p, n, busy, have_jax):
    """drl's imputed bootstrap against the JAX and numpy peers, after checking both against drl draw for draw.
    The imputation is a least-squares fit stopped after a few iterations, not a smooth function of the values:
    float32 rounding that differs (a sum in another order) can change a fit by its own accuracy, so the check is
    on the weights at 1e-3 of their scale, not 1e-4."""
    pop = drl.Population.sample(p, tau=(0.05, 0.95), gamma=[0.8, 0.9, 0.95], lam=0.9)
    schedule = task.schedule(n, seed=0)

    def run():
        return drl.simulate(task, pop, schedule=schedule, progress=False, record=(), bootstrap="imputed", seed=0)

    ds = run()
    inputs = imputation_inputs(task, pop, n, seed=0)
    label = f"{p} × {n} × {task.n_steps}, imputed"
    times = {"drl": best(run, 3, busy)}
    check("numpy", numpy_imputed_peer(task, pop, schedule, inputs), ds, False, 1e-3)
    times["numpy"] = best(lambda: numpy_imputed_peer(task, pop, schedule, inputs), 1, busy)
    if have_jax:
        peer = jax_imputed_peer(task, pop, inputs)
        rewards = schedule.reward.numpy().astype(np.float32)
        check("JAX", peer(rewards, inputs[3]), ds, False, 1e-3)
        times["jax"] = best(lambda: peer(rewards, inputs[3]), 3, busy)
    print(f"  measured {label}", flush=True)
    return label, p * n * task.n_steps, None, times  # None: no limit applies (the imputation is not FMA-bound)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the trials in the large configurations")
    args = parser.parse_args()
    try:
        import jax  # noqa: F401
        have_jax = True
    except ImportError:
        have_jax = False
        print("JAX is not installed (pip install -r benchmarks/requirements.txt): its column is left empty")
    task = DRL_SIM_TASK
    warm, fresh, fma = limits()
    print(f"limits on {numba.get_num_threads()} threads: write warm memory {warm / 1e9:.1f} GB/s, fresh memory "
          f"{fresh / 1e9:.1f} GB/s, float32 FMA {fma / 1e9:.0f} GFLOP/s")
    with neighbour_switch() as busy:
        rows = [measure(task, p, n, record, busy, have_jax) for p, n, record in configurations(args.quick)]
        rows.append(measure_imputed(task, 50, 1250 if args.quick else 5000, busy, have_jax))
    for on, title in ((False, "idle machine"), (True, "beside a busy process (one core spinning)")):
        print(f"\n{title}")
        print(f"{'configuration':<36} {'drl ps/s':>10} {'drl ms':>9} {'JAX × drl':>10} {'numpy × drl':>12} "
              f"{'share of the limit':>22}")
        for label, steps, record, times in rows:
            t = times["drl"][on]
            share = (f"{steps * 8 / t / fresh:13.0%} of fresh writes" if record else
                     f"{steps * FLOPS_PER_STEP / t / fma:13.0%} of FMA" if record is not None else f"{'-':>13}")
            jax_ratio = f"{times['jax'][on] / t:10.2f}" if "jax" in times else f"{'-':>10}"
            print(f"{label:<36} {steps / t:10.2e} {t * 1e3:9.1f} {jax_ratio} {times['numpy'][on] / t:12.2f} {share}")


if __name__ == "__main__":
    main()
