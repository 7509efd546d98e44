"""The per-trial update of a population: values, TD errors, the learning rule, the weight change.

:class:`TrialKernel` holds a run's constants on the device (features, per-predictor discounts, trace decays and
rates, the bootstrap) and applies one trial to the weights of its trial type, in place. Semantics (DESIGN §3,
arrival convention, textbook TD, the default): per predictor p, with per-step discount g = γ^dt and trace
decay ρ = (γλ)^dt::

    V_k = w · x_k                               (x_k the features at step k; V_{−1} = 0, and 0 after the trial)
    δ_k = r_k + g·V̂_k − V_{k−1},  k = 0 … K    (V̂: the bootstrap target, drl.engine.bootstrap; δ_K, leaving the
                                                 trial, is learned from but not recorded)
    e_k = ρ·e_{k−1} + x_k
    Δw  = Σ_{k=1..K} u(δ_k)·e_{k−1},  u = α(δ)·δ (expectile) or α+·[δ>0] − α−·[δ<0] (quantile)

Offline (default): values and errors of a trial from the weights at its start, Δw applied at its end. Then
Δw = Σ_j x_j·G_j with G_j = Σ_{k ≥ j} ρ^{k−j}·u(δ_{k+1}), a discounted reverse sum computed in closed form
(:class:`drl.engine.td.ReverseDiscountedSum`): no loop over predictors or steps; per-predictor γ and λ cost nothing
extra. Online: weights change every step (a loop over steps, needed only when features overlap; with CSC
every feature is active once per trial, online equals offline exactly and the closed form is used).
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch

from drl.engine.bootstrap import make_bootstrap
from drl.engine.features import CSC, make_features
from drl.engine.options import EngineOptions
from drl.engine.td import (
    ReverseDiscountedSum,
    discounted_cumsum,
    rule_factor,
    td_error_arrival,
    td_error_state,
)
from drl.population import Population

__all__ = ["TrialKernel", "NonFiniteValueError", "check_finite", "flush_denormals", "torch_threads"]

#: Below this many predictor-steps per trial the torch kernel runs on one thread: its per-trial operations are
#: too small to share, and OpenMP workers spinning at each operation's barrier made a busy machine 10-100×
#: slower (measured: one bmm went from 8 µs to 833 µs with a neighbour process).
SINGLE_THREAD_BELOW = 1_000_000


class NonFiniteValueError(FloatingPointError):
    """Weights became NaN or infinite during a run; the message names the predictors, their parameters and the trial.

    Learning rates too large for the representation (e.g. α near 1 with long eligibility traces) make the values
    diverge; nothing is saved past the last good block of a streamed run.

    See Also
    --------
    drl.simulate : raises it.

    Examples
    --------
    >>> import drl
    >>> issubclass(drl.NonFiniteValueError, FloatingPointError)
    True
    """


class TrialKernel:
    """Per-run constants (features, discounts, rates) on the device, and the per-trial update."""

    def __init__(self, task, population, options: EngineOptions, device, dtype, seed):
        self.task = task
        self.opt = options
        self.dtype = dtype
        self.device = device
        rep = make_features(options.features)
        self.is_csc = isinstance(rep, CSC)
        x = torch.as_tensor(rep.build(task), dtype=dtype, device=device)  # [M, K, F]
        self.x = x
        self.x_t = x.transpose(1, 2).contiguous()  # [M, F, K]
        self.cue_steps = [int(c) for c in task.cue_steps]
        self.n_types, self.n_steps, self.n_features = x.shape
        dt = task.dt

        def per_predictor(values):
            return torch.as_tensor(np.array(values), dtype=torch.float64, device=device)

        gamma, lam = per_predictor(population.gamma), per_predictor(population.lam)
        self.discount = (gamma**dt).to(dtype)  # g = γ^dt per step
        rho = (gamma * lam) ** dt if options.trace == "gamma_lambda" else lam**dt
        self.rho = rho.to(dtype)
        a_pos, a_neg = per_predictor(population.alpha_pos), per_predictor(population.alpha_neg)
        if options.rate_exponent_dt:
            a_pos, a_neg = a_pos**dt, a_neg**dt
        self.alpha_pos, self.alpha_neg = a_pos.to(dtype), a_neg.to(dtype)
        self.n_predictors = population.n_predictors
        self.learn_mask = None
        if options.rpe_index == "state" and not options.learn_last_step:
            self.learn_mask = torch.ones(self.n_steps, dtype=dtype, device=device)
            self.learn_mask[-1] = 0
        self.norm = None
        if options.normalize_trace:
            # Σ_f e_k[f] = Σ_{i ≤ k} ρ^{k−i} Σ_f x_i[f]; the same every trial of a type, so computed once.
            xsum = x.sum(-1)  # [M, K]
            self.norm = torch.stack(
                [discounted_cumsum(xsum[m].expand(self.n_predictors, -1), self.rho).clamp(min=1)
                 for m in range(self.n_types)]
            )  # [M, P, K]
        self.bootstrap = make_bootstrap(options.bootstrap, options.rule, population, task, device, seed,
                                        legacy_partners=options.convention == 1)
        self.discount_reward = options.convention == 1

    @functools.cached_property
    def reverse_sum(self) -> ReverseDiscountedSum:
        """G_j = Σ_{k ≥ j} ρ^{k−j}·u_k per predictor (built on first use: the compiled loop does not need it)."""
        return ReverseDiscountedSum(self.rho, self.n_steps)

    @functools.cached_property
    def compiled_constants(self) -> dict:
        """The constants of :func:`drl.engine.compiled.own.run_block`, as numpy arrays in the run's dtype (built once)."""
        def arr(t):
            return np.ascontiguousarray(t.detach().cpu().numpy())

        dtype = arr(self.discount).dtype
        k = self.n_steps
        return {
            "x": np.zeros((1, 1, 1), dtype) if self.is_csc else arr(self.x),
            "cue": np.asarray(self.cue_steps, dtype=np.int64),
            "csc": self.is_csc,
            "discount": arr(self.discount), "rho": arr(self.rho),
            "alpha_pos": arr(self.alpha_pos), "alpha_neg": arr(self.alpha_neg),
            # [M, K, P]: the lanes loop reads the normaliser of consecutive predictors at one step
            "norm": np.ones((1, 1, 1), dtype) if self.norm is None else arr(self.norm.transpose(1, 2)),
            "use_norm": self.norm is not None,
            "learn_mask": np.ones(k, dtype) if self.learn_mask is None else arr(self.learn_mask),
            "arrival": self.opt.rpe_index == "arrival",
            "discount_reward": self.discount_reward,
            "expectile": self.opt.rule == "expectile",
            "online": self.opt.update == "online",
        }

    @property
    def uses_step_loop(self) -> bool:
        """Online updates need the step loop only when features overlap (CSC online equals offline exactly)."""
        return self.opt.update == "online" and not self.is_csc

    def trial(self, w, m, r):
        """One trial of type ``m`` with rewards ``r`` [K] on the weights ``w`` [P, F] (updated in place).

        Returns the recorded values V and errors δ, each [P, K].
        """
        return self.online_trial(w, m, r) if self.uses_step_loop else self.offline_trial(w, m, r)

    def rng_state(self):
        return self.bootstrap.get_state()

    def set_rng_state(self, state) -> None:
        self.bootstrap.set_state(state)

    # ------------------------------------------------------------------ per-type projections
    def values(self, w: torch.Tensor, m: int) -> torch.Tensor:
        """V [P, K] = w · x_k for trial type m (CSC: a shift, not a product)."""
        if self.is_csc:
            cue = self.cue_steps[m]
            return torch.nn.functional.pad(w[:, : self.n_steps - cue], (cue, 0))
        return w @ self.x_t[m]

    def accumulate(self, w: torch.Tensor, m: int, g: torch.Tensor) -> None:
        """w += Σ_k G_k x_k, in place."""
        if self.is_csc:
            cue = self.cue_steps[m]
            w[:, : self.n_steps - cue] += g[:, cue:]
        else:
            w += g @ self.x[m]

    def errors(self, r, v, m):
        v_target = self.bootstrap.targets(v, m)
        if self.opt.rpe_index == "arrival":
            delta = td_error_arrival(r, v, v_target, self.discount, discount_reward=self.discount_reward)  # [P, K+1]
            return delta[:, :-1], delta[:, 1:]  # recorded δ_0..δ_{K−1}; learning signal of state j: δ_{j+1}
        delta = td_error_state(r, v, v_target, self.discount)
        return delta, delta

    def offline_trial(self, w, m, r):
        v = self.values(w, m)
        recorded, learn = self.errors(r, v, m)
        u = rule_factor(learn, self.alpha_pos, self.alpha_neg, self.opt.rule)
        if self.learn_mask is not None:
            u = u * self.learn_mask
        if self.norm is not None:
            u = u / self.norm[m]
        self.accumulate(w, m, self.reverse_sum(u))
        return v, recorded

    def online_trial(self, w, m, r):
        """One trial with per-step updates (the textbook loop; used when features overlap).

        At each step the error uses the current weights; the recorded V_k is the value that entered δ_k as
        its target (arrival convention) or as its predecessor (state convention).
        """
        x = self.x[m]
        p, k = self.n_predictors, self.n_steps
        v_rec = torch.empty(p, k, dtype=self.dtype, device=self.device)
        d_rec = torch.empty(p, k, dtype=self.dtype, device=self.device)
        e = torch.zeros_like(w)
        g = self.discount
        arrival = self.opt.rpe_index == "arrival"
        zero = torch.zeros(p, dtype=self.dtype, device=self.device)
        boot = self.bootstrap
        partners = boot.draw_partners() if boot.method == "random" else None

        def target(v, step):  # the bootstrap value of step `step`, whose own values are v [P]
            if partners is not None:
                return v[partners[:, step]]
            return boot.step_target(v, m, step)

        def arrival_error(reward, v_target, v_prev):
            if self.discount_reward:
                return g * (reward + v_target) - v_prev
            return reward + g * v_target - v_prev

        if arrival:  # δ_0 = r_0 + g·V̂_0 − V_{−1}, V_{−1} = 0: recorded, nothing to update
            v0 = w @ x[0]
            v_rec[:, 0] = v0
            d_rec[:, 0] = arrival_error(r[0], target(v0, 0), zero)
        for j in range(k):
            v_j = w @ x[j]
            v_next = w @ x[j + 1] if j + 1 < k else zero
            v_target = target(v_next, j + 1) if j + 1 < k else zero
            e = self.rho[:, None] * e + x[j]
            if arrival:
                delta = arrival_error(r[j + 1] if j + 1 < k else 0.0, v_target, v_j)
                if j + 1 < k:
                    v_rec[:, j + 1] = v_next
                    d_rec[:, j + 1] = delta
            else:
                delta = r[j] + g * v_target - v_j
                v_rec[:, j] = v_j
                d_rec[:, j] = delta
            u = rule_factor(delta[:, None], self.alpha_pos, self.alpha_neg, self.opt.rule)[:, 0]
            if self.learn_mask is not None:
                u = u * self.learn_mask[j]
            if self.opt.normalize_trace:
                u = u / e.sum(1).clamp(min=1)
            w += u[:, None] * e
        return v_rec, d_rec


def check_finite(w_type: torch.Tensor, trial: int, population: Population):
    ok = torch.isfinite(w_type).all(dim=1)
    if bool(ok.all()):
        return
    bad = torch.nonzero(~ok).flatten().cpu().numpy()
    shown = ", ".join(
        f"#{i} (alpha_pos={population.alpha_pos[i]:.3g}, alpha_neg={population.alpha_neg[i]:.3g}, "
        f"gamma={population.gamma[i]:.3g}, lam={population.lam[i]:.3g})"
        for i in bad[:5]
    )
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    raise NonFiniteValueError(
        f"values became non-finite at trial {trial} for predictor(s) {shown}{more}; lower their learning rates "
        "or lambda"
    )


def _flush_denormal_enabled() -> bool:
    """Whether torch flushes denormal floats to zero now (torch has no getter: a denormal product tells)."""
    tiny = torch.tensor([1e-39], dtype=torch.float32)
    return bool((tiny * 1.0).item() == 0.0)


@contextlib.contextmanager
def flush_denormals(device):
    """Flush float denormals to zero on the CPU while simulating, then restore the caller's setting.

    Values that decay towards 0 pass through denormal floats, which x86 CPUs handle ~100× slower; flushing
    them changes results by < 1e-38 and halves the run time.
    """
    if device.type != "cpu":
        yield
        return
    before = _flush_denormal_enabled()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


@contextlib.contextmanager
def torch_threads(work_per_trial: int, device):
    """Run the torch kernel on one CPU thread when a trial's work is small, then restore the caller's count."""
    before = torch.get_num_threads()
    wanted = 1 if device.type == "cpu" and work_per_trial < SINGLE_THREAD_BELOW else before
    if wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != before:
            torch.set_num_threads(before)
