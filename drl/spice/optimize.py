"""The numerics under the Q-learning baseline: Newton's method on a sum of per-participant losses, and the
linear recurrence that both of its value traces are."""

from __future__ import annotations

import torch

__all__ = ["GRADIENT_TOLERANCE", "STALL", "linear_recurrence", "newton"]

GRADIENT_TOLERANCE = 1e-4  # nats per unit of the free number: a fit is converged below it
STALL = 1e-6  # nats (summed over a participant's choices): a Newton step that gains less leaves the problem done



def newton(losses_of, theta: torch.Tensor, max_iter: int, groups: torch.Tensor | None = None):
    """Minimise each entry of ``losses_of(theta)`` [N] over its own row of ``theta`` [N, K] (independent
    problems): Levenberg–Marquardt Newton steps with the exact K×K Hessian of every problem (K Hessian-vector
    products of the summed loss, whose Hessian is block diagonal), each step kept only
    where it lowers that problem's loss. A problem is done when its gradient vanishes or a step gains less than
    STALL nats (a parameter running into its bound). With ``groups`` [N] (the restarts of one participant share
    a group), a start that lies above its group's best by more than 100× what it gained over the last 10
    iterations is dropped too: it would need thousands more to matter. Returns (theta, losses [N], done [N])."""
    n, k = theta.shape
    damping = torch.full((n,), 1e-3, dtype=theta.dtype)
    eye = torch.eye(k, dtype=theta.dtype)
    done = torch.zeros(n, dtype=torch.bool)
    history = []
    for iteration in range(max_iter):
        with torch.enable_grad():
            theta = theta.detach().requires_grad_(True)
            losses = losses_of(theta)
            (gradient,) = torch.autograd.grad(losses.sum(), theta, create_graph=True)
            hessian = torch.stack([torch.autograd.grad(gradient[:, j].sum(), theta, retain_graph=j < k - 1)[0]
                                   for j in range(k)], dim=1)
        theta, losses, gradient = theta.detach(), losses.detach(), gradient.detach()
        done |= gradient.abs().amax(-1) < GRADIENT_TOLERANCE
        if bool(done.all()):
            break
        # a block that is not positive definite (a saddle, a bound's flat edge) is damped until it is
        system = hessian + damping[:, None, None] * eye
        for _ in range(30):
            _, info = torch.linalg.cholesky_ex(system)
            if not bool((info > 0).any()):
                break
            damping = torch.where(info > 0, damping * 10, damping)
            system = hessian + damping[:, None, None] * eye
        step = torch.linalg.solve(system, gradient[..., None])[..., 0]
        trial = losses_of(theta - step)
        better = (trial < losses) & ~done
        done |= better & (losses - trial < STALL)
        theta = torch.where(better[:, None], theta - step, theta)
        losses = torch.where(better, trial, losses)
        damping = torch.where(better, (damping / 3).clamp(min=1e-9), (damping * 4).clamp(max=1e9))
        done |= damping >= 1e9  # no step helps any more
        history.append(losses)
        if groups is not None and iteration >= 10:
            best = torch.full((int(groups.max()) + 1,), torch.inf, dtype=losses.dtype).scatter_reduce(
                0, groups, losses, "amin")
            done |= losses - best[groups] > 100 * (history[-11] - losses)
    return theta, losses, done


def linear_recurrence(decay: torch.Tensor, drive: torch.Tensor, initial) -> torch.Tensor:
    """x[t + 1] = decay[t]·x[t] + drive[t] for t = 0 … T − 1, along dim 1 of [B, T, ·] tensors: returns x[1 … T].

    A parallel (Hillis–Steele) scan: ⌈log₂ T⌉ rounds of whole-array operations instead of T small ones, which is
    what makes the likelihood of a batch of sessions (and its gradient and Hessian) cheap in torch. Only
    products of decays and sums appear, so it is as stable as the loop.
    """
    steps = decay.shape[1]
    shift = 1
    while shift < steps:
        # compose each step with the one `shift` before it: (a, b)∘(a', b') = (a·a', a·b' + b)
        earlier_decay = torch.cat([torch.ones_like(decay[:, :shift]), decay[:, :-shift]], dim=1)
        earlier_drive = torch.cat([torch.zeros_like(drive[:, :shift]), drive[:, :-shift]], dim=1)
        drive = decay * earlier_drive + drive
        decay = decay * earlier_decay
        shift *= 2
    return decay * initial + drive
