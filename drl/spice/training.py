"""Training a SPICE RNN: negative log-likelihood of the next choice, Adam, with restarts from chance.

All sessions of a batch go through the model at once (the forward pass loops over trials only). A fit whose
loss stays at chance (ln n_actions per choice: the model ignores the rewards) is restarted from fresh weights;
if it still ends there, a ``ChanceLevelWarning`` gives the loss and the chance level.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import torch

from drl._threads import one_torch_thread
from drl._validate import choice, in_range
from drl.spice.checks import check_choice_arrays
from drl.spice.losses import ChanceLevelWarning, TrainingResult, nll, tail_steps

__all__ = ["fit_model"]


def _split(n_sessions: int, test_fraction: float, rng: np.random.Generator):
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1); got {test_fraction!r}")
    order = rng.permutation(n_sessions)
    n_test = int(round(n_sessions * test_fraction))
    if test_fraction > 0 and (n_test == 0 or n_test == n_sessions):
        raise ValueError(f"test_fraction={test_fraction} leaves no session for training or testing "
                         f"({n_sessions} sessions)")
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return int(value)


def fit_model(model, xs, ys, *, epochs: int = 1024, learning_rate: float = 1e-2, batch_size: int | None = None,
              convergence_threshold: float = 1e-7, test_fraction: float = 0.0, n_restarts: int = 3,
              chance_margin: float = 0.02, patience: int | None = None, min_delta: float = 1e-4,
              weight_decay: float = 0.0, validation: str = "sessions", seed: int = 0,
              progress: bool = True) -> TrainingResult:
    """Fit a SPICE network to predict the next choices by Adam on the negative log-likelihood.

    Training runs on one torch thread (restored afterwards): a step is ~100 tiny operations, so a second thread
    gains nothing idle and halves the speed beside a busy process.

    Parameters
    ----------
    model : BaseRNN
        The network (trained in place).
    xs, ys : array_like or torch.Tensor, shape [sessions, trials, ·]
        Inputs and next choices (SPICE layout).
    epochs : int
        Maximum passes over the training sessions.
    learning_rate : float
        Adam's step size.
    batch_size : int, optional
        Sessions per step (default: all at once).
    convergence_threshold : float
        Stop when the training loss changes less than this over an epoch (mean of the last 10 changes).
    test_fraction : float
        What is held out for the test loss: a fraction of the sessions (chosen with ``seed``) or of each
        session's last choices (``validation``).
    n_restarts : int
        Fresh starts allowed when a fit sits at chance: loss > ln A − ``chance_margin`` and improving by less than
        0.002 over the second half of the first tenth of the epochs (at least 20), or still above that at the end.
    chance_margin : float
        How far below chance (nats per choice) a fit must get.
    patience : int, optional
        Early stopping (needs ``test_fraction`` > 0): stop when the held-out loss has not improved by
        ``min_delta`` for this many epochs, and keep the weights of its best epoch. None: train for ``epochs``.
    min_delta : float
        The improvement of the held-out loss (nats per choice) that resets ``patience``.
    weight_decay : float
        Adam's L2 penalty on every parameter (autospice's ``l2_weight_decay``, 1e-4 there).
    validation : {"sessions", "tail"}
        Hold out whole sessions, or the last ``test_fraction`` of every session's choices (:func:`tail_steps`,
        the SPICE papers' split: every participant's embedding trains on its earlier choices).
    seed : int
        Seeds the split, the batches and every start's weights (torch's global state is left alone).
    progress : bool
        A progress bar over epochs.

    Returns
    -------
    TrainingResult
        The losses and the history of the kept start.

    Raises
    ------
    ValueError
        Arrays the model cannot use (:func:`check_choice_arrays`), an option out of range.

    Warns
    -----
    ChanceLevelWarning
        The fit ended near chance.

    See Also
    --------
    SpiceEstimator : trains and distils in one call.

    Examples
    --------
    >>> import numpy as np
    >>> from drl import spice
    >>> agent = spice.AgentQ(alpha_reward=0.3, beta_reward=3.0, rng=np.random.default_rng(0))
    >>> dataset, experiments, parameters = spice.create_dataset(agent, spice.BanditsDrift(0.2, rng=np.random.default_rng(1)),
    ...                                                         60, 8)
    >>> network = spice.RescorlaWagnerRNN()
    >>> result = spice.fit_model(network, dataset.xs, dataset.ys, epochs=64, progress=False)
    >>> bool(result.train_loss < result.chance)
    True
    """
    xs = torch.as_tensor(np.asarray(xs, dtype=np.float32))
    ys = torch.as_tensor(np.asarray(ys, dtype=np.float32))
    if xs.ndim != 3 or ys.ndim != 3 or xs.shape[:2] != ys.shape[:2]:
        raise ValueError(f"xs and ys must be [sessions, trials, ·] with matching sessions and trials; got "
                         f"{tuple(xs.shape)} and {tuple(ys.shape)}")
    check_choice_arrays(xs.numpy(), ys.numpy(), n_actions=model.n_actions, n_participants=model.n_participants,
                        where="fit_model")
    _positive_int("epochs", epochs)
    if batch_size is not None:
        _positive_int("batch_size", batch_size)
    if isinstance(n_restarts, bool) or not isinstance(n_restarts, int | np.integer) or n_restarts < 0:
        raise ValueError(f"n_restarts must be an integer >= 0 (fresh starts after a fit stuck at chance); got "
                         f"{n_restarts!r}")
    in_range("learning_rate", learning_rate, 0, np.inf, lo_open=True)
    in_range("test_fraction", test_fraction, 0, 1, hi_open=True)
    if patience is not None:
        _positive_int("patience", patience)
        if not test_fraction > 0:
            raise ValueError(f"patience={patience} stops on the held-out loss: it needs test_fraction > 0; got "
                             f"test_fraction={test_fraction!r}")
    in_range("min_delta", min_delta, 0, np.inf)
    in_range("weight_decay", weight_decay, 0, np.inf, hi_open=True)
    choice("validation", validation, ("sessions", "tail"))
    rng = np.random.default_rng(seed)
    if validation == "tail":
        held = torch.as_tensor(tail_steps(ys.numpy(), test_fraction))
        if test_fraction > 0 and not (ys.sum(-1) > 0).logical_and(~held).any():
            raise ValueError(f"test_fraction={test_fraction} with validation='tail' leaves no choice for training")
        test_steps = held.numpy() if test_fraction > 0 else None
        train, test = np.arange(xs.shape[0]), (np.flatnonzero(held.any(1).numpy()) if test_fraction > 0 else
                                              np.arange(0))
    else:
        train, test = _split(xs.shape[0], test_fraction, rng)
        test_steps = None
        if len(test):
            test_steps = np.zeros(ys.shape[:2], dtype=bool)
            test_steps[test] = (ys[test].sum(-1) > 0).numpy()
    with one_torch_thread():
        result = _fit(model, xs, ys, train, test, test_steps if validation == "tail" else None, epochs, learning_rate,
                      batch_size, convergence_threshold, n_restarts, chance_margin, patience, min_delta, weight_decay,
                      seed, rng, progress)
    result.validation, result.test_steps, result.min_delta = validation, test_steps, min_delta
    return result


def _masked(ys: torch.Tensor, steps) -> torch.Tensor:
    """``ys`` with the targets outside ``steps`` [S, T] set to padding (−1: no loss)."""
    return torch.where(torch.as_tensor(steps)[..., None], ys, torch.full_like(ys, -1.0))


def _fit(model, xs, ys, train, test, tail, epochs, learning_rate, batch_size, convergence_threshold, n_restarts,
         chance_margin, patience, min_delta, weight_decay, seed, rng, progress) -> TrainingResult:
    from tqdm.auto import tqdm

    chance = math.log(model.n_actions)
    start_time = time.perf_counter()
    best = None
    attempts = 0
    for attempt in range(n_restarts + 1):
        attempts += 1
        model.reset_parameters(seed=seed + 7919 * attempt)
        if tail is not None:  # every session trains on its head; the held-out tail rides on the same inputs
            train_xs, train_ys = xs, _masked(ys, ~tail)
            held_out = (xs, _masked(ys, tail)) if patience is not None else None
        else:
            train_xs, train_ys = xs[train], ys[train]
            held_out = (xs[test], ys[test]) if patience is not None else None
        held_out_history = []
        loss, history, converged, stuck = _train(model, train_xs, train_ys, epochs, learning_rate, batch_size,
                                                 convergence_threshold, chance - chance_margin, rng,
                                                 tqdm, progress, attempt, held_out, patience, min_delta,
                                                 held_out_history, weight_decay)
        if best is None or loss < best[0]:
            best = (loss, history, converged, {k: v.clone() for k, v in model.state_dict().items()},
                    held_out_history)
        if not stuck and loss < chance - chance_margin:
            break
    loss, history, converged, weights, held_out_history = best
    model.load_state_dict(weights)
    if loss > chance - chance_margin:
        warnings.warn(f"the fit ended near chance: training NLL {loss:.4f} nats per choice vs chance "
                      f"ln {model.n_actions} = {chance:.4f} after {attempts} start(s); the model ignores the "
                      "outcomes. Try a larger learning_rate, more epochs or another seed.",
                      ChanceLevelWarning, stacklevel=2)
    test_loss = None
    if len(test):
        model.eval()
        with torch.no_grad():
            logits, _ = model(xs[test], batch_first=True)
            test_loss = float(nll(logits, ys[test] if tail is None else _masked(ys, tail)[test]))
        model.train()
    return TrainingResult(float(loss), test_loss, history, attempts - 1, len(history), converged,
                          time.perf_counter() - start_time, chance, test, held_out_history)


def _has_dropout(model) -> bool:
    return any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in model.modules())


def _train(model, xs, ys, epochs, learning_rate, batch_size, convergence_threshold, near_chance, rng, tqdm, progress,
           attempt, held_out=None, patience=None, min_delta=0.0, held_out_history=None, weight_decay=0.0):
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    n = xs.shape[0]
    batch_size = n if batch_size is None else int(batch_size)
    history, changes = [], []
    converged = False
    # Early stopping: the held-out sessions ride along in the epoch's first forward pass (the cost of a step is
    # its number of operations, not its batch size), their loss kept out of the gradient; with dropout they
    # get a pass of their own in eval mode.
    joint = held_out is not None and not _has_dropout(model)
    # a held-out tail shares the training inputs: with every session in one batch, that batch's logits score it
    same_inputs = joint and held_out[0] is xs
    if same_inputs and batch_size < n:
        joint = False
    best_held_out, best_weights, since_best = np.inf, None, 0
    desc = "training" if attempt == 0 else f"training (restart {attempt})"
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        order = rng.permutation(n) if batch_size < n else np.arange(n)
        total = 0.0
        held_out_loss = None
        if held_out is not None and not joint:
            model.eval()
            with torch.no_grad():
                held_out_loss = float(nll(model(held_out[0], batch_first=True)[0], held_out[1]))
            model.train()
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            optimizer.zero_grad()
            if same_inputs and start == 0:
                logits, _ = model(xs[idx], batch_first=True)
                held_out_loss = float(nll(logits.detach(), held_out[1]))
            elif joint and start == 0:
                logits, _ = model(torch.cat([xs[idx], held_out[0]]), batch_first=True)
                logits, held_out_logits = logits[:len(idx)], logits[len(idx):]
                held_out_loss = float(nll(held_out_logits.detach(), held_out[1]))
            else:
                logits, _ = model(xs[idx], batch_first=True)
            loss = nll(logits, ys[idx])
            if held_out_loss is not None and start == 0:
                held_out_history.append(held_out_loss)
                # the weights the held-out loss was measured on, before this epoch's steps
                if held_out_loss < best_held_out - min_delta:
                    best_held_out, since_best = held_out_loss, 0
                    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    since_best += 1
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / n)
        if len(history) > 1:
            changes.append(abs(history[-1] - history[-2]))
        if progress and epoch % 16 == 0:
            bar.set_postfix(loss=f"{history[-1]:.4f}")
        if len(changes) >= 10 and np.mean(changes[-10:]) < convergence_threshold:
            converged = True
            break
        if patience is not None and since_best >= patience:
            converged = True
            break
        check = max(20, epochs // 10)
        if epoch + 1 == check and history[-1] > near_chance and history[check // 2] - history[-1] < 2e-3:
            bar.close()
            return history[-1], history, False, True  # flat at chance: restart early
    bar.close()
    if best_weights is not None:
        model.load_state_dict(best_weights)
    with torch.no_grad():
        logits, _ = model(xs, batch_first=True)
        final = float(nll(logits, ys))
    return final, history, converged, final > near_chance
