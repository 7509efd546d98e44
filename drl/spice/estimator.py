"""SpiceEstimator: train a SPICE RNN on choice data, then distil its modules into sparse equations.

scikit-learn style: ``fit(xs, ys)``, ``predict(xs)``; the trained network and its distilled version are also
agents (``rnn_agent``, ``spice_agent``) that can play a session for ``plot_session``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator

from drl._threads import one_torch_thread
from drl._validate import boolean
from drl.spice.agents import AgentNetwork, SpiceAgent
from drl.spice.checks import check_choice_arrays, check_estimator_parameters, sindy_thresholds
from drl.spice.config import SpiceConfig
from drl.spice.data import choice_data
from drl.spice.files import load_model, save_model
from drl.spice.losses import nll
from drl.spice.sindy import distill, install
from drl.spice.training import fit_model

__all__ = ["PATIENCE", "SINDY_THRESHOLDS", "SpiceEstimator"]

PATIENCE = 64
SINDY_THRESHOLDS = (0.02, 0.05, 0.1)


class SpiceEstimator(BaseEstimator):
    """Fit a SPICE model: train ``rnn_class`` on choices, then distil the modules of ``spice_config``.

    A scikit-learn estimator: the constructor only stores its parameters (``get_params``, ``set_params`` and
    ``sklearn.base.clone`` work, and a grid search can vary any of them); they are checked, and the network built,
    when ``fit`` (or ``load_spice``) runs. What is learned ends in ``_``: ``model_`` (the trained network),
    ``distilled_`` ({participant index: {module: equation}}), ``equations_`` (the same as a table), ``betas_``,
    ``sindy_threshold_`` (the threshold chosen), ``report_``, ``training_`` and ``participant_ids_``.

    Parameters
    ----------
    rnn_class : type
        A BaseRNN subclass (precoded or custom).
    spice_config : SpiceConfig
        The modules to distil and their inputs.
    n_actions, n_participants : int
        Passed to ``rnn_class``.
    hidden_size : int
        Units of each learned module (1 to 4096).
    learning_rate : float
        Adam's step size (``fit_model``).
    epochs : int
        Maximum passes over the training sessions.
    batch_size : int, optional
        Sessions per step (default: all at once).
    convergence_threshold : float
        Stop when the training loss changes less than this over an epoch.
    n_restarts : int
        Fresh starts allowed when a fit sits at chance.
    test_fraction : float
        What is held out (``fit_model``). By default (``validation="tail"``) the last 10 % of every session's
        choices, so every participant trains; ``"sessions"`` holds out whole sessions (only with 10 or more). The
        held-out choices stop training (``patience``) and choose the SINDy threshold, so the reported held-out NLL
        is a validation figure: for a test, keep a part of your data out of ``fit``.
    validation : {"tail", "sessions"}
    patience : int, "auto" or None
        Early stopping on the held-out loss (``fit_model``): "auto" (default) stops after PATIENCE epochs without
        improvement when something is held out, so that a larger ``epochs`` does not overfit; an int sets the
        epochs; None trains for ``epochs``.
    weight_decay : float
        L2 penalty of Adam (``fit_model``; autospice's ``l2_weight_decay``), 0 by default.
    sindy_degree : int
        The distillation's polynomial degree (``distill``).
    sindy_threshold : float or sequence of float
        The STLSQ threshold, or several (default SINDY_THRESHOLDS): each is distilled and the one whose equations
        predict the held-out choices best is kept (the sparser on ties) as ``sindy_threshold_``; ``report_``
        gives each one's NLL.
    spice_participant_id : int, optional
        Distil only this participant (None: all).
    seed : int
        Training seed.
    verbose : bool
        Progress bars and a report.
    rnn_kwargs : dict, optional
        Further arguments of ``rnn_class`` (e.g. ``{"dropout": 0.1}``, ``{"embedding_size": 8}``).
    **more_rnn_kwargs
        The same passed as keyword arguments of the constructor: still works, with a DeprecationWarning.

    See Also
    --------
    fit_model : the training.
    distill : the distillation.
    compare_models : scores the fit beside baselines.

    Examples
    --------
    >>> from sklearn.base import clone
    >>> from drl.spice import RESCORLA_WAGNER_CONFIG, RescorlaWagnerRNN, SpiceEstimator
    >>> estimator = SpiceEstimator(RescorlaWagnerRNN, RESCORLA_WAGNER_CONFIG, epochs=64)
    >>> estimator.set_params(epochs=32).get_params()["epochs"]
    32
    >>> clone(estimator).epochs, hasattr(estimator, "model_")  # nothing is learned before fit
    (32, False)
    """

    def __init__(self, rnn_class, spice_config: SpiceConfig, n_actions: int = 2, n_participants: int = 0,
                 hidden_size: int = 8, learning_rate: float = 1e-2, epochs: int = 1024, batch_size=None,
                 convergence_threshold: float = 1e-7, n_restarts: int = 3, test_fraction: float = 0.1,
                 validation: str = "tail", patience: int | str | None = "auto", weight_decay: float = 0.0,
                 sindy_degree: int = 1, sindy_threshold=SINDY_THRESHOLDS, spice_participant_id=None, seed: int = 0,
                 verbose: bool = False, rnn_kwargs: dict | None = None, **more_rnn_kwargs):
        self.rnn_class, self.spice_config = rnn_class, spice_config
        self.n_actions, self.n_participants, self.hidden_size = n_actions, n_participants, hidden_size
        self.learning_rate, self.epochs, self.batch_size = learning_rate, epochs, batch_size
        self.convergence_threshold, self.n_restarts = convergence_threshold, n_restarts
        self.test_fraction, self.validation = test_fraction, validation
        self.patience, self.weight_decay = patience, weight_decay
        self.sindy_degree, self.sindy_threshold = sindy_degree, sindy_threshold
        self.spice_participant_id, self.seed, self.verbose = spice_participant_id, seed, verbose
        if more_rnn_kwargs:  # the constructor's old **rnn_kwargs: kept working, one parameter now (clone needs it)
            warnings.warn(f"pass the arguments of rnn_class as rnn_kwargs={more_rnn_kwargs!r}: keyword arguments of "
                          "SpiceEstimator itself are its parameters", DeprecationWarning, stacklevel=2)
            rnn_kwargs = {**(rnn_kwargs or {}), **more_rnn_kwargs}
        self.rnn_kwargs = rnn_kwargs

    def _build(self) -> None:
        """A fresh, untrained ``model_`` from the parameters (checked first)."""
        check_estimator_parameters(self)
        model = self.rnn_class(n_actions=self.n_actions, n_participants=self.n_participants,
                               hidden_size=self.hidden_size, **(self.rnn_kwargs or {}))
        unknown = [m for m in self.spice_config.rnn_modules if m not in model.submodules_rnn]
        if unknown:
            raise ValueError(f"spice_config names module(s) {unknown} that {self.rnn_class.__name__} lacks; its "
                             f"learned modules: {sorted(model.submodules_rnn)}")
        self.model_ = model
        self.participant_ids_ = list(range(max(1, self.n_participants)))

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "distilled_")

    def _deprecated(self, old: str, new: str):
        warnings.warn(f"SpiceEstimator.{old} is now {new} (scikit-learn's convention: what fit learns ends in _)",
                      DeprecationWarning, stacklevel=3)
        try:
            return getattr(self, new)
        except AttributeError:
            raise AttributeError(f"SpiceEstimator.{new} (formerly {old}) exists after fit or load_spice") from None

    model = property(lambda self: self._deprecated("model", "model_"))
    equations = property(lambda self: self._deprecated("equations", "distilled_"))
    report = property(lambda self: self._deprecated("report", "report_"))
    training = property(lambda self: self._deprecated("training", "training_"))
    participant_ids = property(lambda self: self._deprecated("participant_ids", "participant_ids_"))

    # ------------------------------------------------------------------ fitting
    def fit(self, xs, ys=None):
        """Train the RNN, then distil it. ``xs`` and ``ys`` are arrays, or ``xs`` is a :class:`DatasetRNN`
        (``load_choice_table``'s, whose participant ids then key ``equations_`` and ``betas_``). Returns self;
        ``report`` holds the NLLs (nats per choice), the epochs run and the epoch kept, and the SINDy threshold
        chosen (with each threshold's held-out NLL of the distilled model)."""
        with one_torch_thread():  # tiny tensors: a second thread only waits at barriers (drl/_threads.py)
            data = choice_data(xs, ys)
            self._build()  # every fit starts from a fresh network (scikit-learn's convention)
            for name in ("distilled_", "sindy_threshold_", "report_", "training_"):
                self.__dict__.pop(name, None)
            return self._fit(*data)

    def _fit(self, xs, ys, ids):
        thresholds = sindy_thresholds(self.sindy_threshold)
        if ids is not None:
            if len(ids) > max(1, self.n_participants):
                raise ValueError(f"the dataset has {len(ids)} participants but the estimator was built for "
                                 f"n_participants={self.n_participants}")
            self.participant_ids_ = list(ids) + list(range(len(ids), max(1, self.n_participants)))
        if self.verbose:
            print("Training the RNN...")
        test_fraction = self.test_fraction if (self.validation == "tail" or len(xs) >= 10) else 0.0
        if self.patience not in (None, "auto") and test_fraction == 0:
            raise ValueError(f"patience={self.patience} stops on the held-out loss, but nothing is held out: "
                             f"test_fraction={self.test_fraction} with {len(xs)} sessions (fewer than 10 are never "
                             "split by sessions); set patience=None or hold choices out")
        patience = (PATIENCE if test_fraction > 0 else None) if self.patience == "auto" else self.patience
        self.training_ = fit_model(self.model_, xs, ys, epochs=self.epochs, learning_rate=self.learning_rate,
                                  batch_size=self.batch_size, convergence_threshold=self.convergence_threshold,
                                  test_fraction=test_fraction, n_restarts=self.n_restarts, patience=patience,
                                  weight_decay=self.weight_decay, validation=self.validation, seed=self.seed,
                                  progress=self.verbose)
        chosen = ys.sum(-1) > 0
        held = self.training_.test_steps
        # distil from the steps the RNN was trained on: the held-out choices (and the inputs that carry them,
        # step t + 1 for a target at t) stay unseen
        if held is None:
            train_steps = chosen.copy()
        else:
            after_held = np.zeros_like(held)
            after_held[:, 1:] = held[:, :-1]
            train_steps = chosen & ~held & ~after_held
        scored = held if held is not None else chosen
        report = {"sindy_thresholds": {}}
        best = None
        recorded = self.model_.record(xs)  # the RNN's signals, the same for every threshold
        for threshold in thresholds:
            equations = distill(self.model_, xs, self.spice_config, degree=self.sindy_degree, threshold=threshold,
                                participants=self.spice_participant_id, steps=train_steps, recorded=recorded)
            score = self._nll(xs, ys, use_sindy=True, steps=scored)
            report["sindy_thresholds"][threshold] = score
            # a sparser equation wins ties (within 1e-4 nats per choice): the thresholds go up
            if best is None or score < best[0] - 1e-4 or not np.isfinite(best[0]):
                best = (score, threshold, equations)
        nll_spice, self.sindy_threshold_, self.distilled_ = best
        install(self.model_, self.distilled_)
        self.report_ = report | {
            "nll_rnn_train": self.training_.train_loss,
            "nll_rnn_test": self._nll(xs, ys, use_sindy=False, steps=scored),
            "nll_spice_test": nll_spice,
            "sindy_threshold": self.sindy_threshold_,
            "validation": self.validation if held is not None else None,
            "held_out_choices": int(scored.sum()) if held is not None else 0,
            "held_out_sessions": len(self.training_.test_sessions),
            "epochs": self.training_.epochs,
            "epoch": self.training_.best_epoch,
            "restarts": self.training_.restarts,
        }
        if self.verbose:
            r = self.report_
            print(f"NLL per choice, held out: RNN {r['nll_rnn_test']:.4f}, SPICE {r['nll_spice_test']:.4f} "
                  f"(chance {np.log(self.n_actions):.4f}; SINDy threshold {self.sindy_threshold_:g})")
        return self

    def _logits(self, xs, use_sindy: bool) -> torch.Tensor:
        with self.model_.sindy(use_sindy), one_torch_thread():
            logits, _ = self.model_(torch.as_tensor(xs), batch_first=True)
        return logits

    def _nll(self, xs, ys, use_sindy, steps=None):
        ys = torch.as_tensor(ys)
        if steps is not None:
            ys = torch.where(torch.as_tensor(steps)[..., None], ys, torch.full_like(ys, -1.0))
        return float(nll(self._logits(xs, use_sindy), ys))

    def _check_fitted(self):
        if not hasattr(self, "distilled_"):
            raise ValueError("this SpiceEstimator is not fitted yet: call fit(xs, ys) or load_spice(...) first")

    def _check_model(self):
        if not hasattr(self, "model_"):
            raise ValueError("this SpiceEstimator has no network yet: call fit(xs, ys) or load_spice(...) first")

    # ------------------------------------------------------------------ using the fit
    def predict(self, xs):
        """Choice probabilities ``(pred_rnn, pred_spice)``, each [sessions, trials, n_actions], for any number of
        sessions and participants."""
        self._check_fitted()
        xs = np.asarray(xs, dtype=np.float32)
        if xs.ndim == 2:
            xs = xs[None]
        check_choice_arrays(xs, n_participants=self.model_.n_participants, where="predict")
        participants = xs[:, 0, -1]
        xs = torch.as_tensor(xs)
        pred_rnn, pred_spice = (torch.softmax(self._logits(xs, use_sindy), -1).numpy() for use_sindy in (False, True))
        for name, pred in (("RNN", pred_rnn), ("SPICE", pred_spice)):
            bad = ~np.isfinite(pred).all(-1)
            if bad.any():
                session, step = (int(i) for i in np.argwhere(bad)[0])
                warnings.warn(f"the {name} model predicts a non-finite choice probability for {int(bad.sum())} "
                              f"trial(s), first for participant {int(participants[session])} (session {session}) "
                              f"at trial {step}: its state ran away (print_spice_model() shows the equations)",
                              RuntimeWarning, stacklevel=2)
        return pred_rnn, pred_spice

    @property
    def rnn_agent(self) -> AgentNetwork:
        """The trained network as an agent that plays sessions (``plot_session``)."""
        self._check_model()
        return AgentNetwork(self.model_, use_sindy=False)

    @property
    def spice_agent(self) -> SpiceAgent:
        """The distilled equations as an agent that plays sessions (``plot_session``)."""
        self._check_fitted()
        return SpiceAgent(self)

    @property
    def equations_(self):
        """The distilled equations as a tidy ``pandas.DataFrame``: one row per participant × module × feature,
        columns ``participant`` (the dataset's id when fitted on a DatasetRNN, else the index), ``module``,
        ``feature`` (the tutorials' names), ``coefficient``, ``n_samples`` (zeros included: SINDy's sparsity is
        part of the result)."""
        import pandas as pd

        self._check_fitted()
        rows = [{"participant": self._id_of(index), "module": module, "feature": name,
                 "coefficient": float(coefficient), "n_samples": eq.n_samples}
                for index, modules in self.distilled_.items() for module, eq in modules.items()
                for name, coefficient in zip(eq.feature_names, eq.coefficients, strict=True)]
        return pd.DataFrame(rows, columns=["participant", "module", "feature", "coefficient", "n_samples"])

    @property
    def betas_(self):
        """The inverse temperatures as a ``pandas.DataFrame``: one row per participant, one column per β (the
        state it scales), indexed by participant id."""
        import pandas as pd

        self._check_model()
        indices = sorted(self.distilled_) if hasattr(self, "distilled_") else \
            list(range(max(1, self.n_participants)))
        return pd.DataFrame({name: [self._beta(name, i) for i in indices] for name in self.model_.betas},
                            index=pd.Index([self._id_of(i) for i in indices], name="participant"))

    def n_parameters(self) -> dict:
        """{participant id: parameters of its distilled model}: the non-zero equation terms plus the β's (the
        effective count of the SPICE papers' AIC/BIC)."""
        self._check_fitted()
        return {self._id_of(index): int(sum(np.count_nonzero(eq.coefficients) for eq in modules.values()))
                + len(self.model_.betas) for index, modules in self.distilled_.items()}

    def _id_of(self, index: int):
        ids = getattr(self, "participant_ids_", [])
        return ids[index] if index < len(ids) else index

    def _index_of(self, participant_id) -> int:
        ids = getattr(self, "participant_ids_", [])
        if participant_id in ids:
            return ids.index(participant_id)
        raise ValueError(f"no participant {participant_id!r}; participants: {ids[:10]}"
                         + (" …" if len(ids) > 10 else ""))

    def _beta(self, name: str, index: int) -> float:
        beta = self.model_.betas[name]
        with torch.no_grad():
            if beta.embedding_size:
                emb = self.get_participant_embeddings()
                return float(beta(emb[index:index + 1]).reshape(-1)[0]) if emb is not None else float("nan")
            return float(beta())

    def print_spice_model(self, participant_id=None) -> None:
        """Print the distilled equations of ``participant_id`` (the dataset's id; default the first) and its β's."""
        self._check_fitted()
        index = next(iter(self.distilled_)) if participant_id is None else self._index_of(participant_id)
        if index not in self.distilled_:
            raise ValueError(f"no equations for participant {participant_id!r}; distilled: "
                             f"{[self._id_of(i) for i in sorted(self.distilled_)]}")
        print(f"SPICE modules (participant {self._id_of(index)!r}):")
        for eq in self.distilled_[index].values():
            print(eq)
        for name in self.model_.betas:
            print(f"beta({name}) = {self._beta(name, index):.4f}")
        if getattr(self, "report_", None):
            print(f"held-out NLL per choice: RNN {self.report_['nll_rnn_test']:.4f}, SPICE "
                  f"{self.report_['nll_spice_test']:.4f}")

    def get_participant_embeddings(self):
        """[n_participants, embedding_size] embeddings, or None when the model has none."""
        self._check_model()
        embedding = getattr(self.model_, "participant_embedding", None)
        if embedding is None:
            return None
        with torch.no_grad():
            return embedding(torch.arange(max(1, self.n_participants)))

    # ------------------------------------------------------------------ files
    def save_spice(self, path_rnn=None, path_spice=None) -> None:
        """Save the RNN weights (``path_rnn``) and/or the distilled equations (``path_spice``), atomically; the
        two files carry one token, so a save killed between them is refused when loaded, not taken as one model."""
        if path_rnn is None and path_spice is None:
            raise ValueError("give path_rnn, path_spice or both")
        if path_spice is not None:
            self._check_fitted()
        if path_rnn is not None:
            self._check_model()
        save_model(self.rnn_class.__name__, self.model_ if path_rnn is not None else None,
                   self.distilled_ if path_spice is not None else None, path_rnn, path_spice)

    def load_spice(self, path_rnn=None, path_spice=None, *, trust: bool = False):
        """Load what ``save_spice`` wrote; files saved for another RNN class are refused.

        Neither file is unpickled: the weights load with ``torch.load(weights_only=True)`` and the equations are
        JSON. An equations file written by an older drl is a pickle, which can run arbitrary code when loaded;
        it is refused unless ``trust=True`` (only for files from a source you trust).
        """
        if path_rnn is None and path_spice is None:
            raise ValueError("give path_rnn, path_spice or both")
        trust = boolean("trust", trust)
        if not hasattr(self, "model_"):  # an estimator never fitted: its network, from its parameters
            self._build()
        distilled = load_model(self.rnn_class.__name__, self.model_, path_rnn, path_spice, trust)
        if distilled is not None:
            self.distilled_ = distilled
            install(self.model_, self.distilled_)
        return self
