"""SpiceEstimator: train a SPICE RNN on choice data, then distil its modules into sparse equations.

scikit-learn style: ``fit(xs, ys)``, ``predict(xs)``; the trained network and its distilled version are also
agents (``rnn_agent``, ``spice_agent``) that can play a session for ``plot_session``.
"""

from __future__ import annotations

import json
import secrets
import warnings
from pathlib import Path

import numpy as np
import torch

from drl._atomic import write_atomic
from drl._validate import boolean
from drl.spice.data import check_choice_arrays
from drl.spice.files import equations_to_json, read_equations, read_weights, save_weights
from drl.spice.sindy import SpiceConfig, distill, install
from drl.spice.training import fit_model, nll
from drl.store import clean_stale_temps

__all__ = ["AgentNetwork", "SpiceEstimator"]


class AgentNetwork:
    """A trained BaseRNN playing as an agent, one trial at a time (``use_sindy``: its distilled equations).

    ``new_sess(participant_id=0)``, ``get_choice_probs()``, ``update(choice, reward)``; state for plots:
    ``x_value_reward``, ``x_value_choice``, ``x_learning_rate_reward`` (zeros when the model lacks one).
    """

    def __init__(self, model, use_sindy: bool = False):
        self.model, self.use_sindy = model, use_sindy
        self.n_actions = model.n_actions
        self.new_sess()

    def new_sess(self, participant_id: int = 0, **_) -> None:
        self.participant_id = int(participant_id)
        self._state = None
        self._logits = np.zeros(self.n_actions)
        self._values = {k: np.full(self.n_actions, float(v)) for k, v in self.model.init_values.items()}

    def get_choice_probs(self) -> np.ndarray:
        p = np.exp(self._logits - self._logits.max())
        return p / p.sum()

    def update(self, choice: int, reward) -> None:
        x = np.zeros((1, 1, 2 * self.n_actions + 1), dtype=np.float32)
        x[0, 0, choice] = 1
        x[0, 0, self.n_actions:2 * self.n_actions] = reward
        x[0, 0, -1] = self.participant_id
        with self.model.sindy(self.use_sindy):
            logits, state = self.model(torch.as_tensor(x), prev_state=self._state, batch_first=True)
        self._state = {k: v.detach() for k, v in state.items()}
        self._logits = logits[0, -1].numpy().astype(np.float64)
        self._values = {k: v[0].numpy().astype(np.float64) for k, v in self._state.items()}

    def _value(self, name):
        return self._values.get(name, np.zeros(self.n_actions)).copy()

    @property
    def x_value_reward(self):
        return self._value("x_value_reward")

    @property
    def x_value_choice(self):
        return self._value("x_value_choice")

    @property
    def x_learning_rate_reward(self):
        return self._value("x_learning_rate_reward")


class _SpiceAgent(AgentNetwork):
    def __init__(self, estimator):
        super().__init__(estimator.model, use_sindy=True)
        self._estimator = estimator

    def get_spice_features(self) -> dict:
        """{participant: {module: (feature names, coefficients)}} of the distilled equations."""
        return {pid: {m: (list(eq.feature_names), eq.coefficients.copy()) for m, eq in modules.items()}
                for pid, modules in self._estimator.equations.items()}


class SpiceEstimator:
    """Fit a SPICE model: train ``rnn_class`` on choices, then distil the modules of ``spice_config``.

    Args:
      rnn_class: a BaseRNN subclass (precoded or custom).
      spice_config: a :class:`SpiceConfig`.
      n_actions, n_participants: passed to ``rnn_class``.
      hidden_size: units of each learned module.
      learning_rate, epochs, batch_size, convergence_threshold, n_restarts: training (``fit_model``).
      test_fraction: sessions held out to report the held-out NLL of the RNN and of the distilled model.
      patience: None (default) trains for ``epochs``; an int stops early on the held-out sessions' loss
        (``fit_model``): 3-13× faster at the same held-out NLL, but the likelihood is flat along the α–β ridge,
        so the epoch the held-out sessions choose can leave the equations less settled (docs/drl.md, measured).
        The reported held-out NLL is then a validation figure.
      weight_decay: L2 penalty of Adam (``fit_model``; autospice's ``l2_weight_decay``), 0 by default.
      sindy_degree, sindy_threshold: the distillation (``distill``).
      spice_participant_id: distil only this participant (None: all).
      seed: training seed. verbose: progress bars and a report.
    """

    def __init__(self, rnn_class, spice_config: SpiceConfig, n_actions: int = 2, n_participants: int = 0,
                 hidden_size: int = 8, learning_rate: float = 1e-2, epochs: int = 1024, batch_size=None,
                 convergence_threshold: float = 1e-7, n_restarts: int = 3, test_fraction: float = 0.1,
                 patience: int | None = None, weight_decay: float = 0.0, sindy_degree: int = 1,
                 sindy_threshold: float = 0.05, spice_participant_id=None, seed: int = 0, verbose: bool = False,
                 **rnn_kwargs):
        if not isinstance(spice_config, SpiceConfig):
            raise TypeError(f"spice_config must be a SpiceConfig; got {type(spice_config).__name__}")
        self.rnn_class, self.spice_config = rnn_class, spice_config
        self.n_actions, self.n_participants = n_actions, n_participants
        self.learning_rate, self.epochs, self.batch_size = learning_rate, epochs, batch_size
        self.convergence_threshold, self.n_restarts, self.test_fraction = convergence_threshold, n_restarts, \
            test_fraction
        self.patience, self.weight_decay = patience, weight_decay
        self.sindy_degree, self.sindy_threshold = sindy_degree, sindy_threshold
        self.spice_participant_id, self.seed, self.verbose = spice_participant_id, seed, verbose
        self.model = rnn_class(n_actions=n_actions, n_participants=n_participants, hidden_size=hidden_size,
                               **rnn_kwargs)
        unknown = [m for m in spice_config.rnn_modules if m not in self.model.submodules_rnn]
        if unknown:
            raise ValueError(f"spice_config names module(s) {unknown} that {rnn_class.__name__} lacks; its learned "
                             f"modules: {sorted(self.model.submodules_rnn)}")
        self.equations = None
        self.training = None
        self.report = {}

    # ------------------------------------------------------------------ fitting
    def fit(self, xs, ys):
        """Train the RNN, then distil it. Returns self; ``report`` holds the NLLs (nats per choice)."""
        xs = np.asarray(xs, dtype=np.float32)
        ys = np.asarray(ys, dtype=np.float32)
        if self.verbose:
            print("Training the RNN...")
        test_fraction = self.test_fraction if len(xs) >= 10 else 0.0
        if self.patience is not None and test_fraction == 0:
            raise ValueError(f"patience={self.patience} stops on the held-out sessions' loss, but none are held out: "
                             f"test_fraction={self.test_fraction} with {len(xs)} sessions (fewer than 10 are never "
                             "split); set patience=None or hold sessions out")
        self.training = fit_model(self.model, xs, ys, epochs=self.epochs, learning_rate=self.learning_rate,
                                  batch_size=self.batch_size, convergence_threshold=self.convergence_threshold,
                                  test_fraction=test_fraction, n_restarts=self.n_restarts,
                                  patience=self.patience, weight_decay=self.weight_decay, seed=self.seed,
                                  progress=self.verbose)
        self.equations = distill(self.model, xs, self.spice_config, degree=self.sindy_degree,
                                 threshold=self.sindy_threshold, participants=self.spice_participant_id)
        held_out = self.training.test_sessions if len(self.training.test_sessions) else np.arange(len(xs))
        self.report = {
            "nll_rnn_train": self.training.train_loss,
            "nll_rnn_test": self._nll(xs[held_out], ys[held_out], use_sindy=False),
            "nll_spice_test": self._nll(xs[held_out], ys[held_out], use_sindy=True),
            "held_out_sessions": len(self.training.test_sessions),
            "epochs": self.training.epochs,
            "restarts": self.training.restarts,
        }
        if self.verbose:
            r = self.report
            print(f"NLL per choice, held out: RNN {r['nll_rnn_test']:.4f}, SPICE {r['nll_spice_test']:.4f} "
                  f"(chance {np.log(self.n_actions):.4f})")
        return self

    def _logits(self, xs, use_sindy: bool) -> torch.Tensor:
        with self.model.sindy(use_sindy):
            logits, _ = self.model(torch.as_tensor(xs), batch_first=True)
        return logits

    def _nll(self, xs, ys, use_sindy):
        return float(nll(self._logits(xs, use_sindy), torch.as_tensor(ys)))

    def _check_fitted(self):
        if self.equations is None:
            raise ValueError("this SpiceEstimator is not fitted yet: call fit(xs, ys) or load_spice(...) first")

    # ------------------------------------------------------------------ using the fit
    def predict(self, xs):
        """Choice probabilities ``(pred_rnn, pred_spice)``, each [sessions, trials, n_actions], for any number of
        sessions and participants."""
        self._check_fitted()
        xs = np.asarray(xs, dtype=np.float32)
        if xs.ndim == 2:
            xs = xs[None]
        check_choice_arrays(xs, n_participants=self.model.n_participants, where="predict")
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
        return AgentNetwork(self.model, use_sindy=False)

    @property
    def spice_agent(self) -> _SpiceAgent:
        self._check_fitted()
        return _SpiceAgent(self)

    @property
    def equations_(self):
        """The distilled equations as a tidy ``pandas.DataFrame``: one row per participant × module × feature,
        columns ``participant``, ``module``, ``feature`` (the tutorials' names), ``coefficient``, ``n_samples``
        (zeros included: SINDy's sparsity is part of the result)."""
        import pandas as pd

        self._check_fitted()
        rows = [{"participant": pid, "module": module, "feature": name, "coefficient": float(coefficient),
                 "n_samples": eq.n_samples}
                for pid, modules in self.equations.items() for module, eq in modules.items()
                for name, coefficient in zip(eq.feature_names, eq.coefficients, strict=True)]
        return pd.DataFrame(rows, columns=["participant", "module", "feature", "coefficient", "n_samples"])

    def print_spice_model(self, participant_id: int | None = None) -> None:
        """Print the distilled equations (of ``participant_id``; default the first) and the scaling constants."""
        self._check_fitted()
        pid = next(iter(self.equations)) if participant_id is None else int(participant_id)
        if pid not in self.equations:
            raise ValueError(f"no equations for participant {pid}; distilled: {sorted(self.equations)}")
        print("SPICE modules:")
        for eq in self.equations[pid].values():
            print(eq)
        with torch.no_grad():
            for name, beta in self.model.betas.items():
                if beta.embedding_size:
                    emb = self.get_participant_embeddings()
                    value = float(beta(emb[pid:pid + 1]).reshape(-1)[0]) if emb is not None else float("nan")
                else:
                    value = float(beta())
                print(f"beta({name}) = {value:.4f}")
        if self.report:
            print(f"held-out NLL per choice: RNN {self.report['nll_rnn_test']:.4f}, SPICE "
                  f"{self.report['nll_spice_test']:.4f}")

    def get_participant_embeddings(self):
        """[n_participants, embedding_size] embeddings, or None when the model has none."""
        embedding = getattr(self.model, "participant_embedding", None)
        if embedding is None:
            return None
        with torch.no_grad():
            return embedding(torch.arange(max(1, self.n_participants)))

    # ------------------------------------------------------------------ files
    def save_spice(self, path_rnn=None, path_spice=None) -> None:
        """Save the RNN weights (``path_rnn``) and/or the distilled equations (``path_spice``), atomically."""
        if path_rnn is None and path_spice is None:
            raise ValueError("give path_rnn, path_spice or both")
        # the two files carry one token: a save killed between them leaves new weights beside old equations,
        # which load_spice then refuses instead of loading them as one model
        pair = secrets.token_hex(8)
        if path_spice is not None:
            self._check_fitted()
        for path in (path_rnn, path_spice):
            if path is not None:
                clean_stale_temps(Path(path).parent)  # temporary files of saves killed before
        if path_rnn is not None:
            save_weights(path_rnn, {"rnn_class": self.rnn_class.__name__, "constants": CONSTANTS,
                                          "state_dict": self.model.state_dict(), "pair": pair})
        if path_spice is not None:
            document = equations_to_json(self.rnn_class.__name__, self.equations) | {"pair": pair}
            write_atomic(path_spice, json.dumps(document, indent=1))

    def load_spice(self, path_rnn=None, path_spice=None, *, trust: bool = False):
        """Load what ``save_spice`` wrote; files saved for another RNN class are refused.

        Neither file is unpickled: the weights load with ``torch.load(weights_only=True)`` and the equations are
        JSON. An equations file written by an older drl is a pickle, which can run arbitrary code when loaded;
        it is refused unless ``trust=True`` (only for files from a source you trust).
        """
        if path_rnn is None and path_spice is None:
            raise ValueError("give path_rnn, path_spice or both")
        trust = boolean("trust", trust)
        weights = read_weights(Path(path_rnn)) if path_rnn is not None else None
        equations = read_equations(Path(path_spice), trust) if path_spice is not None else None
        if weights is not None and equations is not None and weights.get("pair") != equations.get("pair") \
                and weights.get("pair") is not None and equations.get("pair") is not None:
            raise ValueError(f"{path_rnn} and {path_spice} were written by different save_spice calls (one save "
                             "interrupted between its two files?): they are not one model; save both again")
        if weights is not None:
            self._check_structure(weights, path_rnn)
            self.model.load_state_dict(_upgrade_constants(self.model, weights, path_rnn))
        if equations is not None:
            data = equations
            modules = set(next(iter(data["equations"].values())))
            if not modules <= set(self.model.submodules_rnn):
                raise ValueError(f"{path_spice} was saved for {data.get('rnn_class')!r}, whose distilled modules "
                                 f"{sorted(modules)} are not all modules of {self.rnn_class.__name__} "
                                 f"({sorted(self.model.submodules_rnn)})")
            self.equations = data["equations"]
            install(self.model, self.equations)
        return self

    def _check_structure(self, data, path):
        """Weights load into a model of the same structure (same parameter names and shapes), whatever the
        class is called: tutorial 001 loads a precoded model's file into its own copy of that class."""
        saved = {k: tuple(v.shape) for k, v in data["state_dict"].items()}
        here = {k: tuple(v.shape) for k, v in self.model.state_dict().items()}
        if saved != here:
            differ = sorted(set(saved) ^ set(here)) or sorted(k for k in saved if saved[k] != here[k])
            raise ValueError(f"{path} was saved for {data.get('rnn_class')!r}, whose parameters differ from "
                             f"{self.rnn_class.__name__}'s (e.g. {differ[:4]})")


CONSTANTS = "softplus"  # how a weights file stores β: the free parameter under softplus (files before: β itself)


def _upgrade_constants(model, data: dict, path) -> dict:
    """The state dict of a weights file, with the β of a file written before β ≥ 0 was enforced (stored as β
    itself) converted to the free parameter; a β < 0 or per-participant β of such a file cannot be, and is
    refused."""
    state = dict(data["state_dict"])
    if data.get("constants") == CONSTANTS:
        return state
    for name, constant in model.betas.items():
        if not constant.non_negative:
            continue
        if constant.embedding_size:
            raise ValueError(f"{path} was saved before drl kept inverse temperatures ≥ 0, and its per-participant "
                             f"beta {name!r} cannot be converted: refit the model")
        key = f"betas.{name}.value"
        value = float(state[key])
        if value <= 0:
            raise ValueError(f"{path} holds beta {name!r} = {value:.4g} ≤ 0, saved before drl kept inverse "
                             "temperatures ≥ 0 (its module learned mirror-image values): refit the model")
        state[key] = torch.tensor(constant._raw(value), dtype=state[key].dtype)
    return state
