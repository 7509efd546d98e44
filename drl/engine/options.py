"""The options of a run: every setting that changes its numbers (:class:`EngineOptions`), presets, devices.

A run stores its options (``options`` attribute) and :func:`drl.rerun` rebuilds them with
:meth:`EngineOptions.from_stored`, so a stored run always reruns under the settings it was made with.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from drl._validate import boolean, choice
from drl.engine.features import CSC, make_features
from drl.runs.schema import SCHEMA_VERSION, model_convention

__all__ = ["EngineOptions", "PRESETS", "CONVENTION", "RECORDABLE", "resolve_options", "resolve_device",
           "resolve_dtype"]

RULES = ("expectile", "quantile")
UPDATES = ("offline", "online")
BOOTSTRAPS = ("own", "random", "imputed")
KERNELS = ("auto", "compiled", "torch")
#: The model convention of runs made now. 1: drl before textbook TD (schema-1 runs): the arriving reward was
#: discounted, δ_k = g·(r_k + V̂_k) − V_{k−1}, and ``random`` drew a partner uniformly among the *others*.
CONVENTION = model_convention(SCHEMA_VERSION)
RECORDABLE = ("value", "rpe", "reward")

#: Named option sets. ``drl_sim`` reproduces drl_sim's ``sim()`` (DESIGN §3, "The drl_sim convention").
PRESETS = {
    "drl_sim": {
        "rpe_index": "state",
        "trace": "lambda",
        "rate_exponent_dt": True,
        "normalize_trace": True,
        "learn_last_step": False,
        "update": "offline",
    }
}


@dataclass(frozen=True)
class EngineOptions:
    """Every option that changes the numbers of a run.

    Stored in the run's ``options`` attribute, so that :func:`drl.rerun` reproduces the run. :func:`drl.simulate`
    builds it from its keywords (or ``options=``); ``preset`` fills the options of a named model first.

    Parameters
    ----------
    rule : {"expectile", "quantile"}
        The learning rule.
    update : {"offline", "online"}
        Weights updated at the end of a trial, or at every step.
    bootstrap : {"own", "random", "imputed"}
        The value each predictor bootstraps from: its own, a random predictor's, or the imputed distribution's.
    features : dict, optional
        The representation spec (:func:`make_features`; default CSC).
    rpe_index : {"arrival", "state"}
        ``δ_k = r_k + g·V_k − V_{k−1}`` ("arrival") or ``δ_k = r_k + g·V_{k+1} − V_k`` ("state", drl_sim).
    trace : {"gamma_lambda", "lambda"}
        The eligibility decay per second: ρ = (γλ)^dt or ρ = λ^dt.
    rate_exponent_dt : bool
        Use α±^dt as the rate (drl_sim).
    normalize_trace : bool
        Divide each step's update by max(1, Σ_f e_k[f]) (drl_sim).
    learn_last_step : bool
        Learn from the error of the last step (drl_sim: no).
    preset : str, optional
        The named model these options came from.
    convention : {2, 1}
        2: textbook TD, the current model; 1: runs of schema version 1, kept so they rerun exactly (see
        ``CONVENTION``).
    kernel : {"auto", "compiled", "torch"}
        "auto": the compiled trial loop where it applies (on the CPU, ``bootstrap="own"``, or ``"imputed"`` with
        the expectile rule and offline updates or CSC features), the torch kernel otherwise. The two agree to
        float32 rounding; a run stores the one it used, so a rerun reproduces it bit for bit (runs stored without
        it used "torch").

    Raises
    ------
    ValueError
        An unknown value of any option, or a combination the engine does not run.

    See Also
    --------
    drl.simulate : takes these as keywords.

    Examples
    --------
    >>> import drl
    >>> options = drl.EngineOptions(rule="quantile", update="online")
    >>> options.rule, options.trace
    ('quantile', 'gamma_lambda')
    >>> run = drl.simulate("hyp_unif", drl.Population.grid(tau=[0.2, 0.8]), 20, options=options, progress=False)
    >>> run.drl.options["rule"]
    'quantile'
    """

    rule: str = "expectile"
    update: str = "offline"
    bootstrap: str = "own"
    features: dict | None = None
    rpe_index: str = "arrival"
    trace: str = "gamma_lambda"
    rate_exponent_dt: bool = False
    normalize_trace: bool = False
    learn_last_step: bool = True
    preset: str | None = None
    convention: int = CONVENTION
    kernel: str = "auto"

    def __post_init__(self):
        choice("rule", self.rule, RULES)
        choice("update", self.update, UPDATES)
        choice("bootstrap", self.bootstrap, BOOTSTRAPS)
        choice("rpe_index", self.rpe_index, ("arrival", "state"))
        choice("trace", self.trace, ("gamma_lambda", "lambda"))
        choice("kernel", self.kernel, KERNELS)
        if self.preset is not None:
            choice("preset", self.preset, PRESETS)
        for name in ("rate_exponent_dt", "normalize_trace", "learn_last_step"):
            boolean(name, getattr(self, name))
        if isinstance(self.convention, bool) or self.convention not in (1, 2):
            raise ValueError(f"convention must be 1 or 2; got {self.convention!r}")
        object.__setattr__(self, "features", make_features(self.features or "csc").to_dict())

    @classmethod
    def from_stored(cls, stored: dict, schema_version: int) -> EngineOptions:
        """The options of a stored run (its ``options`` attribute); schema-1 runs get ``convention=1``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(stored) - known - {"dtype", "device"})
        if unknown:
            raise ValueError(f"stored options {unknown} are unknown to this drl; upgrade drl")
        options = {k: v for k, v in stored.items() if k in known}
        options.setdefault("convention", model_convention(schema_version))
        options.setdefault("kernel", "torch")  # runs stored before the compiled kernel existed
        return cls(**options)

    def to_dict(self) -> dict:
        return {f.name: dict(v) if isinstance(v := getattr(self, f.name), dict) else v for f in fields(self)}


def resolve_device(device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a torch device; use 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} does not exist here (torch.cuda.is_available() is False); use 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} does not exist here ({torch.cuda.device_count()} CUDA devices)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} does not exist here (torch.backends.mps.is_available() is False); "
                         "use 'cpu'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {device!r} is not supported; use 'cpu' or 'cuda'")
    return dev


def resolve_dtype(dtype) -> torch.dtype:
    table = {"float32": torch.float32, "float64": torch.float64, torch.float32: torch.float32,
             torch.float64: torch.float64}
    if dtype not in table:
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    return table[dtype]


#: simulate()'s defaults of the options that ``options=`` replaces
_SIMULATE_DEFAULTS = {"rule": "expectile", "update": "offline", "features": "csc", "bootstrap": "own", "preset": None,
                      "kernel": "auto"}


def resolve_kernel(options: EngineOptions, device: torch.device) -> EngineOptions:
    """``options`` with ``kernel`` resolved to "compiled" or "torch" for this device (ValueError when
    "compiled" was asked for where it does not apply)."""
    from dataclasses import replace

    applies = device.type == "cpu" and (options.bootstrap == "own" or imputed_compiles(options))
    if options.kernel == "compiled" and not applies:
        raise ValueError(f"kernel='compiled' needs the CPU and bootstrap='own', or bootstrap='imputed' with the "
                         f"expectile rule and offline updates or CSC features; got bootstrap={options.bootstrap!r}, "
                         f"rule={options.rule!r}, update={options.update!r} on {device.type!r} (use kernel='auto')")
    if options.kernel == "auto":
        return replace(options, kernel="compiled" if applies else "torch")
    return options


def imputed_compiles(options: EngineOptions) -> bool:
    """The imputed expectile code runs compiled (:mod:`drl.engine.compiled.imputed`) with offline updates, or CSC
    features (where online equals offline), in the current convention (schema-1 runs drew float32)."""
    csc = isinstance(make_features(options.features if options.features is not None else "csc"), CSC)
    return (options.bootstrap == "imputed" and options.rule == "expectile" and options.convention == CONVENTION
            and (options.update == "offline" or csc))


def resolve_options(options, rule, update, features, bootstrap, preset, kernel="auto") -> EngineOptions:
    """The EngineOptions of a simulate() call: ``options`` itself, or built from the separate arguments (a
    ``preset`` sets its options); both at once is a ValueError naming the arguments."""
    if options is not None:
        if not isinstance(options, EngineOptions):
            raise TypeError(f"options must be a drl.EngineOptions; got {type(options).__name__}")
        passed = {"rule": rule, "update": update, "features": features, "bootstrap": bootstrap, "preset": preset,
                  "kernel": kernel}
        given = [k for k, v in passed.items() if v != _SIMULATE_DEFAULTS[k]]
        if given:
            raise ValueError(f"pass either options= or {', '.join(f'{k}=' for k in given)}, not both")
        return options
    opts = {"rule": rule, "update": update, "bootstrap": bootstrap, "features": make_features(features).to_dict(),
            "kernel": kernel}
    if preset is not None:
        choice("preset", preset, PRESETS)
        opts.update(PRESETS[preset])
        opts["preset"] = preset
    return EngineOptions(**opts)
