"""Pure tensor functions of the TD(λ) model: TD errors, rule factors, discounted sums.

Shapes: P predictors, K steps of a trial. Time index names follow rlax: ``v_t`` is the value at step t,
``v_tm1`` at t−1. Discounts here are **per step** (the engine converts per-second γ, λ to γ^dt, λ^dt).
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "td_error_arrival",
    "td_error_state",
    "rule_factor",
    "ReverseDiscountedSum",
    "discounted_reverse_cumsum",
    "discounted_cumsum",
]


def _check(name: str, x: torch.Tensor, ndim: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions; got shape {tuple(x.shape)}")


def td_error_arrival(r_t: torch.Tensor, v_t: torch.Tensor, v_target_t: torch.Tensor, discount: torch.Tensor,
                     *, discount_reward: bool = False):
    """TD errors indexed by arrival time (textbook TD, DESIGN §3), including the final transition out of the trial.

    ``δ_k = r_k + γ·V̂_k − V_{k−1}`` for k = 0 … K, with ``V_{−1} = 0``, ``V̂_K = 0`` and ``r_K = 0``.

    The reward arriving at step k is not discounted, so an unpredicted reward r gives δ = r for every γ, and
    the fixed point is ``V_k = Σ_{j>k} γ^{j−k−1}·r_j`` (V(cue) = γ^(D−dt)·r for a reward D seconds after the
    cue; the cue response δ_cue = γ^D·r).

    Args:
      r_t: [K] or [P, K] reward at each step.
      v_t: [P, K] value of each step (the predictor's own; gives V_{k−1}).
      v_target_t: [P, K] the value bootstrapped from (own value, another predictor's, or an imputed sample).
      discount: [P] per-step discount γ^dt.
      discount_reward: the convention of drl runs of schema version 1, ``δ_k = γ·(r_k + V̂_k) − V_{k−1}``
        (kept so that old runs can be rerun exactly).
    Returns:
      [P, K+1] errors; entry K is the (unrecorded) error of leaving the trial.
    """
    _check("v_t", v_t, 2)
    zeros = v_t.new_zeros(v_t.shape[0], 1)
    v_tm1 = torch.cat([zeros, v_t], dim=1)
    v_target = torch.cat([v_target_t, zeros], dim=1)
    r = torch.nn.functional.pad(r_t, (0, 1))
    if discount_reward:
        return discount[:, None] * (r + v_target) - v_tm1
    return r + discount[:, None] * v_target - v_tm1


def td_error_state(r_t: torch.Tensor, v_t: torch.Tensor, v_target_t: torch.Tensor, discount: torch.Tensor):
    """TD errors indexed by the state left (drl_sim's convention).

    ``δ_k = r_k + γ·V̂_{k+1} − V_k`` for k = 0 … K−1, with ``V̂_K = 0``.

    Args:
      r_t: [K] or [P, K]; v_t, v_target_t: [P, K]; discount: [P] per step.
    Returns:
      [P, K] errors.
    """
    _check("v_t", v_t, 2)
    v_tp1 = torch.nn.functional.pad(v_target_t[:, 1:], (0, 1))
    return r_t + discount[:, None] * v_tp1 - v_t


def rule_factor(delta: torch.Tensor, alpha_pos: torch.Tensor, alpha_neg: torch.Tensor, rule: str) -> torch.Tensor:
    """Per-step weight-update factor u such that Δw = u·e.

    ``expectile``: u = α(δ)·δ with α = α+ if δ > 0 else α−.
    ``quantile``:  u = α+·[δ > 0] − α−·[δ < 0].

    Args:
      delta: [P, L] errors; alpha_pos, alpha_neg: [P] per-step rates.
    """
    _check("delta", delta, 2)
    a_pos, a_neg = alpha_pos[:, None], alpha_neg[:, None]
    if rule == "expectile":
        return torch.where(delta > 0, a_pos, a_neg) * delta
    if rule == "quantile":
        return torch.where(delta > 0, a_pos, torch.where(delta < 0, -a_neg, torch.zeros_like(delta)))
    raise ValueError(f"unknown rule {rule!r}; valid: 'expectile', 'quantile'")


class ReverseDiscountedSum:
    """``G_j = Σ_{k ≥ j} ρ^{k−j}·u_k`` along the last axis, with a per-predictor discount ρ, without a loop.

    The sum is a lower-triangular Toeplitz product per predictor. Computing it directly costs P·L² and reads a
    [P, L, L] matrix; instead the axis is cut into C chunks of B ≈ √L steps: a [P, B, B] product inside each
    chunk, then a [P, C, C] product carries the chunk totals backwards. Exact for every ρ in [0, 1] (powers are
    taken directly, 0⁰ = 1; no rescaling that could under- or overflow).

    Args:
      discount: [P] per-step discount ρ.
      length: L, the length of the sequences summed.
    """

    def __init__(self, discount: torch.Tensor, length: int):
        _check("discount", discount, 1)
        self.length = int(length)
        self.block = max(1, math.isqrt(self.length - 1) + 1) if self.length > 1 else 1
        self.n_chunks = -(-self.length // self.block)
        rho = discount[:, None]
        b = torch.arange(self.block, device=discount.device, dtype=discount.dtype)
        lag = b[:, None] - b[None, :]  # [B, B], rows k, columns j: k − j
        # within[p, k, j] = ρ^{k−j} for k ≥ j, so that (u @ within)_j = Σ_{k ≥ j} ρ^{k−j} u_k inside a chunk
        self.within = torch.where(lag >= 0, rho[:, :, None] ** lag.clamp(min=0), 0.0)
        c = torch.arange(self.n_chunks, device=discount.device, dtype=discount.dtype)
        clag = c[None, :] - c[:, None]
        rho_block = rho**self.block
        # across[p, c, c'] = (ρ^B)^{c'−c−1} for c' > c: how chunk c' starts reach chunk c's end
        self.across = torch.where(clag >= 1, rho_block[:, :, None] ** (clag - 1).clamp(min=0), 0.0)
        # tail[p, j] = ρ^{B−j}: from the start of the next chunk back to position j of this chunk
        self.tail = rho ** (self.block - b)[None, :]

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        _check("u", u, 2)
        p, length = u.shape
        if length != self.length:
            raise ValueError(f"u must have length {self.length} along its last axis; got shape {tuple(u.shape)}")
        pad = self.n_chunks * self.block - length
        chunks = torch.nn.functional.pad(u, (0, pad)).view(p, self.n_chunks, self.block)
        local = torch.bmm(chunks, self.within)  # [P, C, B]: sums within each chunk
        heads = local[:, :, 0]  # [P, C]: chunk totals seen from each chunk's first position
        carry = torch.bmm(self.across, heads[:, :, None])[:, :, 0]  # [P, C]: G at the start of the next chunk
        out = local + carry[:, :, None] * self.tail[:, None, :]
        return out.reshape(p, -1)[:, :length]


def discounted_reverse_cumsum(u: torch.Tensor, discount: torch.Tensor) -> torch.Tensor:
    """``G_j = Σ_{k ≥ j} ρ^{k−j}·u_k`` for u [P, L] and per-predictor ρ [P] (see :class:`ReverseDiscountedSum`)."""
    return ReverseDiscountedSum(discount, u.shape[-1])(u)


def discounted_cumsum(u: torch.Tensor, discount: torch.Tensor) -> torch.Tensor:
    """``S_j = Σ_{i ≤ j} ρ^{j−i}·u_i`` for u [P, L] and per-predictor ρ [P] (an eligibility trace of u)."""
    return discounted_reverse_cumsum(u.flip(-1), discount).flip(-1)
