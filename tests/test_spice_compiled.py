"""drl.spice.compiled: the precoded models' compiled trial loop equals their step-by-step torch definition.

The torch path (``BaseRNN.call_module``, autograd) is the reference: logits, final states and the gradient of a
loss with respect to every parameter must agree to float32 rounding, for each precoded wiring, with participant
embeddings, padded sessions and a given starting state.
"""

import numba
import numpy as np
import pytest
import torch

from drl.spice import (
    AgentQ,
    BanditsDrift,
    ForgettingRNN,
    LearningRateRNN,
    RescorlaWagnerRNN,
    Weinhardt2024RNN,
    create_dataset,
    fit_model,
    nll,
)

MODELS = [(RescorlaWagnerRNN, {}), (ForgettingRNN, {}), (LearningRateRNN, {}),
          (Weinhardt2024RNN, {"n_participants": 3})]


@pytest.fixture(scope="module")
def choices():
    """24 sessions × 40 trials of a forgetting agent with choice perseveration; three participants; the last
    session padded after trial 25 as load_choice_table pads (no choice, reward −1, target −1)."""
    dataset, _, _ = create_dataset(AgentQ(alpha_reward=0.3, forget_rate=0.2, beta_choice=1.0, alpha_choice=1.0,
                                          rng=1), BanditsDrift(0.2, rng=0), 40, 24)
    xs, ys = dataset.xs.clone(), dataset.ys.clone()
    xs[..., -1] = (torch.arange(24) % 3).float()[:, None]
    xs[-1, 25:, :2] = 0
    xs[-1, 25:, 2:4] = -1
    ys[-1, 25:] = -1
    return xs, ys


def _run(model, xs, ys, compiled, prev_state=None):
    model.compiled = compiled
    model.zero_grad()
    logits, state = model(xs, prev_state=prev_state, batch_first=True)
    # a loss that weighs every trial and arm differently, so no gradient can cancel by symmetry
    weights = torch.linspace(0.5, 1.5, logits.numel()).reshape(logits.shape)
    (nll(logits, ys) + (weights * logits).mean()).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), {k: v.detach() for k, v in state.items()}, grads


@pytest.mark.parametrize("cls, kwargs", MODELS, ids=lambda x: getattr(x, "__name__", ""))
def test_the_compiled_loop_equals_the_torch_path(cls, kwargs, choices):
    xs, ys = choices
    model = cls(**kwargs)
    model.reset_parameters(seed=3)
    assert model._use_compiled(None)
    torch_logits, torch_state, torch_grads = _run(model, xs, ys, compiled=False)
    logits, state, grads = _run(model, xs, ys, compiled=True)
    np.testing.assert_allclose(logits, torch_logits, rtol=1e-5, atol=1e-6)
    assert state.keys() == torch_state.keys()
    for key in state:
        np.testing.assert_allclose(state[key], torch_state[key], rtol=1e-5, atol=1e-6, err_msg=key)
    # every parameter the torch path trains gets the same gradient (none is left out or invented)
    assert grads.keys() == torch_grads.keys() == {n for n, _ in model.named_parameters()}
    for name, grad in grads.items():
        scale = float(torch_grads[name].abs().max())
        assert scale > 0, name
        np.testing.assert_allclose(grad, torch_grads[name], rtol=1e-4, atol=1e-5 * scale, err_msg=name)


@pytest.mark.parametrize("cls, kwargs", MODELS[1:3], ids=lambda x: getattr(x, "__name__", ""))
def test_a_given_starting_state_is_used(cls, kwargs, choices):
    xs, ys = choices
    model = cls(**kwargs)
    model.reset_parameters(seed=4)
    prev_state = {k: torch.rand(xs.shape[0], 2, generator=torch.Generator().manual_seed(i))
                  for i, k in enumerate(model.init_values)}
    torch_logits, _, torch_grads = _run(model, xs, ys, compiled=False, prev_state=prev_state)
    logits, _, grads = _run(model, xs, ys, compiled=True, prev_state=prev_state)
    np.testing.assert_allclose(logits, torch_logits, rtol=1e-5, atol=1e-6)
    fresh, _, _ = _run(model, xs, ys, compiled=True)
    assert not torch.allclose(fresh[:, 0], logits[:, 0])  # the first trial's values start elsewhere
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, torch_grads[name], rtol=1e-4, atol=1e-5 * float(grad.abs().max()))


def test_results_do_not_depend_on_the_thread_count(choices):
    xs, ys = choices
    model = Weinhardt2024RNN(n_participants=3)
    model.reset_parameters(seed=5)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _run(model, xs, ys, compiled=True)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = _run(model, xs, ys, compiled=True)
    finally:
        numba.set_num_threads(threads)
    assert torch.equal(one[0], many[0])
    for name in one[2]:
        assert torch.equal(one[2][name], many[2][name]), name


def test_the_torch_path_runs_where_the_compiled_loop_does_not_apply(choices):
    xs, ys = choices
    model = LearningRateRNN()
    assert model._use_compiled(None)
    model.compiled = False
    assert not model._use_compiled(None)
    model.compiled = True
    # recording (for distillation) and distilled equations go through call_module
    model.recording = True
    assert not model._use_compiled(None)
    model.recording = False
    model.use_sindy = True
    assert not model._use_compiled(None)
    model.use_sindy = False
    # a state that needs gradients
    assert not model._use_compiled({"x_value_reward": torch.zeros(2, 2, requires_grad=True)})
    # dropout in training (active), but not in evaluation
    dropped = LearningRateRNN(dropout=0.25)
    assert not dropped._use_compiled(None)
    dropped.eval()
    assert dropped._use_compiled(None)
    # a model whose modules were changed is no longer the precoded wiring
    changed = RescorlaWagnerRNN()
    changed.submodules_eq["x_value_reward_chosen"] = lambda value, inputs: value
    assert not changed._use_compiled(None)
    custom = ForgettingRNN()
    custom.submodules_rnn["x_value_reward_not_chosen"] = torch.nn.Identity()
    assert not custom._use_compiled(None)


def test_training_through_the_compiled_loop_follows_the_torch_path(choices):
    """Eight Adam epochs from the same start on either path end at the same weights and loss (the gradients agree
    to rounding, so the trajectories do too over a short fit)."""
    xs, ys = choices
    fits = {}
    for compiled in (False, True):
        model = LearningRateRNN()
        model.compiled = compiled
        result = fit_model(model, xs, ys, epochs=8, n_restarts=0, convergence_threshold=0, progress=False)
        fits[compiled] = (result.history, {k: v.clone() for k, v in model.state_dict().items()})
    np.testing.assert_allclose(fits[True][0], fits[False][0], rtol=1e-5)
    for key, value in fits[False][1].items():
        np.testing.assert_allclose(fits[True][1][key], value, rtol=1e-3, atol=1e-5, err_msg=key)
