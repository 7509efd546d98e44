"""The precoded SPICE RNNs' forward and backward pass compiled (numba): training without a graph per step.

A precoded model (Rescorla-Wagner, forgetting, learning-rate, Weinhardt 2024) is a few gated modules
(:class:`drl.spice.rnn.RNNModule`) wired by fixed equations, and every (session, arm) lane evolves on its own:
the arms meet only in the softmax of the loss. Step by step in torch, an epoch is ~100 trials × ~100 tiny
operations, each recorded by autograd and replayed backwards. Here the whole trial loop is one autograd node:
the forward pass is a compiled loop over trials for each session (in parallel), and the backward pass is
back-propagation through time written out by hand, recomputing each step's hidden layers from the stored
states. The torch path (:meth:`BaseRNN.call_module`) stays the definition: tests/test_spice_compiled.py checks
logits, final states and every parameter's gradient against it, for each model, to float32 rounding.

One wiring covers the four models (slots of the packed weights, each a gated module ``m = x₀ + z·(n − x₀)``
on inputs ``x = [x₀, x₁, x₂]``, unused inputs 0):

- slot 0, chosen value learned (``chosen="learned"``): ``v' = c·m₀([v, r])``;
- slot 1, learning rate (``chosen="rpe"``): ``l' = c·σ(m₁([l, r, v]))``, ``v' = c·(v + l'·(r − v))``;
- slot 2, unchosen value learned (``not_chosen="learned"``): ``+ (1 − c)·m₂([v])``, else ``+ (1 − c)·v``;
- slots 3, 4, choice value (``choice=True``): ``q' = c·σ(m₃([q])) + (1 − c)·σ(m₄([q]))``;
- logits ``β_v·v' + β_q·q'`` (β per session: a participant's).

c is the one-hot choice and r the reward of the arm. A participant embedding enters a module as a per-session
bias of its hidden layer (computed in torch, which carries its gradient back to the embedding).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

__all__ = ["SLOTS", "sequence_logits"]

#: the packed slot of each module key
SLOTS = {"x_value_reward_chosen": 0, "x_learning_rate_reward": 1, "x_value_reward_not_chosen": 2,
         "x_value_choice_chosen": 3, "x_value_choice_not_chosen": 4}
_N_SLOTS = 5
_N_INPUTS = 3  # x₀ (the state) and up to two inputs


@numba.njit(inline="always", cache=True)
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@numba.njit(inline="always", cache=True)
def _module(w1, bias, w2, b2, x0, x1, x2, h):
    """Gated module forward: fills the hidden layer ``h`` [H]; returns (m, z, n)."""
    gate = b2[0]
    target = b2[1]
    for j in range(h.shape[0]):
        # tanh through one exp: a fifth faster than libm tanh here, within 1e-16 of it
        hj = 1.0 - 2.0 / (1.0 + math.exp(2.0 * (w1[j, 0] * x0 + w1[j, 1] * x1 + w1[j, 2] * x2 + bias[j])))
        h[j] = hj
        gate += w2[0, j] * hj
        target += w2[1, j] * hj
    z = _sigmoid(gate)
    return x0 + z * (target - x0), z, target


@numba.njit(inline="always", cache=True)
def _module_backward(w1, w2, x0, x1, x2, h, z, target, dm, dw1, dbias, dw2, db2):
    """Gated module backward for the adjoint ``dm`` of its output: accumulates the weight gradients; returns the
    adjoints of (x₀, x₁, x₂)."""
    dgate = dm * (target - x0) * z * (1.0 - z)
    dtarget = dm * z
    db2[0] += dgate
    db2[1] += dtarget
    dx0 = dm * (1.0 - z)
    dx1 = 0.0
    dx2 = 0.0
    for j in range(h.shape[0]):
        hj = h[j]
        dw2[0, j] += dgate * hj
        dw2[1, j] += dtarget * hj
        dpre = (dgate * w2[0, j] + dtarget * w2[1, j]) * (1.0 - hj * hj)
        dw1[j, 0] += dpre * x0
        dw1[j, 1] += dpre * x1
        dw1[j, 2] += dpre * x2
        dbias[j] += dpre
        dx0 += dpre * w1[j, 0]
        dx1 += dpre * w1[j, 1]
        dx2 += dpre * w1[j, 2]
    return dx0, dx1, dx2


@numba.njit(inline="always", cache=True)
def _slot(k, b, w1, bias, w2, b2, x0, x1, x2, hs, zs, ns):
    """Module of slot ``k`` for session ``b``: its output; hidden layer, gate and target kept in hs, zs, ns."""
    m, z, target = _module(w1[k], bias[k, b], w2[k], b2[k], x0, x1, x2, hs[k])
    zs[k] = z
    ns[k] = target
    return m


@numba.njit(inline="always", cache=True)
def _scratch(hidden):
    """A thread's per-step buffers: hidden layers [slots, H], gates, targets and outputs [slots]."""
    return np.zeros((_N_SLOTS, hidden)), np.zeros(_N_SLOTS), np.zeros(_N_SLOTS), np.zeros(_N_SLOTS)


@numba.njit(inline="always", cache=True)
def _step(c, r, b, v, q, lr, w1, bias, w2, b2, rpe, nc_learned, choice, hs, zs, ns, ms):
    """One trial of one lane (choice c, reward r) from states (v, q, lr): returns (v', q', l'); each module's
    hidden layer, gate, target and output go to hs [slots, H], zs, ns, ms [slots]."""
    l_next = 0.0
    if rpe:
        ms[1] = _slot(1, b, w1, bias, w2, b2, lr, r, v, hs, zs, ns)
        l_next = c * _sigmoid(ms[1])
        v_next = c * (v + l_next * (r - v))
    else:
        ms[0] = _slot(0, b, w1, bias, w2, b2, v, r, 0.0, hs, zs, ns)
        v_next = c * ms[0]
    if nc_learned:
        ms[2] = _slot(2, b, w1, bias, w2, b2, v, 0.0, 0.0, hs, zs, ns)
        v_next += (1.0 - c) * ms[2]
    else:
        v_next += (1.0 - c) * v
    q_next = 0.0
    if choice:
        ms[3] = _slot(3, b, w1, bias, w2, b2, q, 0.0, 0.0, hs, zs, ns)
        ms[4] = _slot(4, b, w1, bias, w2, b2, q, 0.0, 0.0, hs, zs, ns)
        q_next = c * _sigmoid(ms[3]) + (1.0 - c) * _sigmoid(ms[4])
    return v_next, q_next, l_next


@numba.njit(parallel=True, cache=True, nogil=True)
def _forward(actions, rewards, v0, q0, l0, w1, bias, w2, b2, beta_v, beta_q, rpe, nc_learned, choice,
             logits, states):
    """Logits [T, B, A] and the states before every trial and after the last, ``states`` [3, T + 1, B, A]
    (value, choice value, learning rate)."""
    n_trials, n_sessions, n_actions = actions.shape
    for b in numba.prange(n_sessions):
        hs, zs, ns, ms = _scratch(w1.shape[1])
        for a in range(n_actions):
            v, q, lr = float(v0[b, a]), float(q0[b, a]), float(l0[b, a])
            for t in range(n_trials):
                states[0, t, b, a] = v
                states[1, t, b, a] = q
                states[2, t, b, a] = lr
                v, q, lr = _step(actions[t, b, a], rewards[t, b, a], b, v, q, lr, w1, bias, w2, b2, rpe,
                                 nc_learned, choice, hs, zs, ns, ms)
                logits[t, b, a] = beta_v[b] * v + beta_q[b] * q
            states[0, n_trials, b, a] = v
            states[1, n_trials, b, a] = q
            states[2, n_trials, b, a] = lr


@numba.njit(parallel=True, cache=True, nogil=True)
def _backward(actions, rewards, states, w1, bias, w2, b2, beta_v, beta_q, rpe, nc_learned, choice, dlogits,
              dw1, dbias, dw2, db2, dbeta_v, dbeta_q):
    """Back-propagation through time of ``dlogits`` [T, B, A]: per-session weight gradients ``dw1`` [B, slots, H,
    3], ``dw2`` [B, slots, 2, H], ``db2`` [B, slots, 2], ``dbias`` [slots, B, H], ``dbeta_v``/``dbeta_q`` [B]
    (zeroed by the caller), each session's sums in a fixed order (the same for any number of threads)."""
    n_trials, n_sessions, n_actions = actions.shape
    for b in numba.prange(n_sessions):
        hs, zs, ns, ms = _scratch(w1.shape[1])
        for a in range(n_actions):
            dv_next = 0.0  # adjoints of the states after trial t, carried back from later trials
            dq_next = 0.0
            dl_next = 0.0
            for t in range(n_trials - 1, -1, -1):
                v, q, lr = states[0, t, b, a], states[1, t, b, a], states[2, t, b, a]
                c = actions[t, b, a]
                r = rewards[t, b, a]
                v_next, q_next, l_next = _step(c, r, b, v, q, lr, w1, bias, w2, b2, rpe, nc_learned, choice, hs,
                                               zs, ns, ms)
                g = dlogits[t, b, a]
                dbeta_v[b] += g * v_next
                dbeta_q[b] += g * q_next
                gv = dv_next + beta_v[b] * g
                gq = dq_next + beta_q[b] * g
                dv = 0.0
                dq = 0.0
                dl = 0.0
                if rpe:
                    # v' = c·(v + l'·(r − v)) with l' = c·σ(m₁([l, r, v]))
                    dv += gv * c * (1.0 - l_next)
                    dl_total = dl_next + gv * c * (r - v)
                    s = _sigmoid(ms[1])
                    dm = dl_total * c * s * (1.0 - s)
                    dx0, dx1, dx2 = _module_backward(w1[1], w2[1], lr, r, v, hs[1], zs[1], ns[1], dm, dw1[b, 1],
                                                     dbias[1, b], dw2[b, 1], db2[b, 1])
                    dl += dx0
                    dv += dx2
                else:
                    dx0, dx1, dx2 = _module_backward(w1[0], w2[0], v, r, 0.0, hs[0], zs[0], ns[0], gv * c,
                                                     dw1[b, 0], dbias[0, b], dw2[b, 0], db2[b, 0])
                    dv += dx0
                if nc_learned:
                    dx0, dx1, dx2 = _module_backward(w1[2], w2[2], v, 0.0, 0.0, hs[2], zs[2], ns[2], gv * (1.0 - c),
                                                     dw1[b, 2], dbias[2, b], dw2[b, 2], db2[b, 2])
                    dv += dx0
                else:
                    dv += gv * (1.0 - c)
                if choice:
                    s = _sigmoid(ms[3])
                    dx0, dx1, dx2 = _module_backward(w1[3], w2[3], q, 0.0, 0.0, hs[3], zs[3], ns[3],
                                                     gq * c * s * (1.0 - s), dw1[b, 3], dbias[3, b], dw2[b, 3],
                                                     db2[b, 3])
                    dq += dx0
                    s = _sigmoid(ms[4])
                    dx0, dx1, dx2 = _module_backward(w1[4], w2[4], q, 0.0, 0.0, hs[4], zs[4], ns[4],
                                                     gq * (1.0 - c) * s * (1.0 - s), dw1[b, 4], dbias[4, b],
                                                     dw2[b, 4], db2[b, 4])
                    dq += dx0
                dv_next, dq_next, dl_next = dv, dq, dl


def _chunk(n_sessions: int) -> int:
    """Sessions per chunk of the parallel loop (~8 per thread). Under numba's OpenMP layer the chunks are still
    split evenly between threads up front, so beside a busy process the thread that shares a core sets the pace.
    Handing ranges out on demand from Python threads (:mod:`drl._parallel`, as the engine's loop does) was
    measured and is slower here: these loops compiled without ``parallel=True`` ran 2.3x slower per thread
    (1000 sessions × 200 trials, Rescorla-Wagner: 225 against 94 ms per epoch on one thread)."""
    return max(1, n_sessions // (8 * numba.get_num_threads()))


class _Sequence(torch.autograd.Function):
    """The whole trial loop as one autograd node (see the module docstring)."""

    @staticmethod
    def forward(ctx, w1, bias, w2, b2, beta_v, beta_q, actions, rewards, v0, q0, l0, wiring):
        rpe, nc_learned, choice = wiring
        arrays = [np.ascontiguousarray(x.detach().numpy(), dtype=np.float64)
                  for x in (actions, rewards, v0, q0, l0, w1, bias, w2, b2, beta_v, beta_q)]
        n_trials, n_sessions, n_actions = actions.shape
        logits = np.empty((n_trials, n_sessions, n_actions))
        states = np.empty((3, n_trials + 1, n_sessions, n_actions))
        with numba.parallel_chunksize(_chunk(n_sessions)):
            _forward(*arrays, rpe, nc_learned, choice, logits, states)
        ctx.arrays = arrays
        ctx.states = states
        ctx.wiring = wiring
        final = torch.from_numpy(states[:, -1].astype(np.float32))
        ctx.mark_non_differentiable(final)
        return torch.from_numpy(logits.astype(np.float32)), final

    @staticmethod
    def backward(ctx, dlogits, _dfinal):
        actions, rewards, v0, q0, l0, w1, bias, w2, b2, beta_v, beta_q = ctx.arrays
        n_sessions = actions.shape[1]
        dw1 = np.zeros((n_sessions, *w1.shape))
        dbias = np.zeros_like(bias)
        dw2 = np.zeros((n_sessions, *w2.shape))
        db2 = np.zeros((n_sessions, *b2.shape))
        dbeta_v = np.zeros_like(beta_v)
        dbeta_q = np.zeros_like(beta_q)
        with numba.parallel_chunksize(_chunk(n_sessions)):
            _backward(actions, rewards, ctx.states, w1, bias, w2, b2, beta_v, beta_q, *ctx.wiring,
                      np.ascontiguousarray(dlogits.numpy(), dtype=np.float64), dw1, dbias, dw2, db2, dbeta_v,
                      dbeta_q)
        grads = (dw1.sum(0), dbias, dw2.sum(0), db2.sum(0), dbeta_v, dbeta_q)
        return (*(torch.from_numpy(g.astype(np.float32)) for g in grads), None, None, None, None, None, None)


def sequence_logits(modules: dict, actions: torch.Tensor, rewards: torch.Tensor, initial: tuple,
                    beta_v: torch.Tensor, beta_q: torch.Tensor, embedding: torch.Tensor | None,
                    wiring: tuple[bool, bool, bool]):
    """Logits of every trial and the final states of a precoded wiring, differentiable in the modules'
    weights, the β's and the embedding.

    Args:
      modules: {module key: RNNModule} (keys from ``SLOTS``); a module's inputs are [explicit inputs...,
        embedding...], as :meth:`BaseRNN.call_module` builds them.
      actions, rewards: [T, B, A] one-hot choices and rewards.
      initial: (value, choice value, learning rate), each [B, A].
      beta_v, beta_q: [B] inverse temperatures of the values and the choice values.
      embedding: [B, E] participant embedding, or None.
      wiring: (rpe, not_chosen learned, choice) flags (module docstring).

    Returns: logits [T, B, A] (float32) and the final states [3, B, A] (value, choice value, learning rate;
    not differentiable).
    """
    n_sessions = actions.shape[1]
    hidden = max(m.hidden.out_features for m in modules.values())
    w1 = [torch.zeros(hidden, _N_INPUTS)] * _N_SLOTS
    bias = [torch.zeros(n_sessions, hidden)] * _N_SLOTS
    w2 = [torch.zeros(2, hidden)] * _N_SLOTS
    b2 = [torch.zeros(2)] * _N_SLOTS
    for key, module in modules.items():
        slot = SLOTS[key]
        explicit = 1 + module.input_size - (0 if embedding is None else embedding.shape[1])
        weight, pad = module.hidden.weight, hidden - module.hidden.out_features
        w1[slot] = torch.nn.functional.pad(weight[:, :explicit], (0, _N_INPUTS - explicit, 0, pad))
        slot_bias = module.hidden.bias.expand(n_sessions, -1)
        if embedding is not None:
            slot_bias = torch.addmm(module.hidden.bias, embedding, weight[:, explicit:].t())
        bias[slot] = torch.nn.functional.pad(slot_bias, (0, pad))
        w2[slot] = torch.nn.functional.pad(module.head.weight, (0, pad))
        b2[slot] = module.head.bias
    return _Sequence.apply(torch.stack(w1), torch.stack(bias), torch.stack(w2), torch.stack(b2),
                           beta_v.expand(n_sessions), beta_q.expand(n_sessions), actions, rewards, *initial, wiring)
