"""The vectorized distributional TD(λ) population engine: :func:`simulate`.

Semantics (DESIGN §3, arrival convention, textbook TD, the default): per predictor p, with per-step discount
g = γ^dt and trace decay ρ = (γλ)^dt,

    V_k = w · x_k                               (x_k the features at step k; V_{−1} = 0, and 0 after the trial)
    δ_k = r_k + g·V̂_k − V_{k−1},  k = 0 … K    (V̂: the bootstrap target, drl.bootstrap; δ_K, leaving the
                                                 trial, is learned from but not recorded)
    e_k = ρ·e_{k−1} + x_k
    Δw  = Σ_{k=1..K} u(δ_k)·e_{k−1},  u = α(δ)·δ (expectile) or α+·[δ>0] − α−·[δ<0] (quantile)

Offline (default): values and errors of a trial from the weights at its start, Δw applied at its end. Then
Δw = Σ_j x_j·G_j with G_j = Σ_{k ≥ j} ρ^{k−j}·u(δ_{k+1}), a discounted reverse sum computed in closed form
(:class:`drl.td.ReverseDiscountedSum`): no loop over predictors or steps; per-predictor γ and λ cost nothing
extra. Online: weights change every step (a loop over steps, needed only when features overlap; with CSC
every feature is active once per trial, online equals offline exactly and the closed form is used).

The only Python loop is over trials, which are sequential by nature (each trial learns from the last).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import asdict, dataclass, fields

import numpy as np
import psutil
import torch
import xarray as xr

from drl._memory import empty_float32
from drl._validate import boolean, choice
from drl.bootstrap import make_bootstrap
from drl.features import CSC, make_features
from drl.population import Population
from drl.schema import SCHEMA_VERSION, build_dataset, model_convention, population_from_dataset
from drl.tasks import Schedule, Task, check_seed, load_task, time_to_step
from drl.td import ReverseDiscountedSum, discounted_cumsum, rule_factor, td_error_arrival, td_error_state

__all__ = ["simulate", "rerun", "EngineOptions", "PRESETS", "RunTooLargeError", "NonFiniteValueError"]

RULES = ("expectile", "quantile")
UPDATES = ("offline", "online")
BOOTSTRAPS = ("own", "random", "imputed")
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


class RunTooLargeError(MemoryError):
    """The recording would not fit in memory; the message gives its size and the options that shrink it."""


class NonFiniteValueError(FloatingPointError):
    """Weights became NaN or infinite; the message names the predictors, their parameters and the trial."""


@dataclass(frozen=True)
class EngineOptions:
    """Every option that changes the numbers of a run (stored in the run's ``options`` attribute).

    rule: "expectile" | "quantile".  update: "offline" | "online".  bootstrap: "own" | "random" | "imputed".
    features: representation spec (dict).  rpe_index: "arrival" (δ_k = r_k + g·V_k − V_{k−1}) or "state"
    (δ_k = r_k + g·V_{k+1} − V_k, drl_sim).  trace: "gamma_lambda" (ρ = (γλ)^dt) or "lambda" (ρ = λ^dt).
    rate_exponent_dt: use α±^dt as the rate (drl_sim).  normalize_trace: divide each step's update by
    max(1, Σ_f e_k[f]) (drl_sim).  learn_last_step: learn from the error of the last step (drl_sim: no).
    convention: 2 (textbook TD, the current model) or 1 (runs of schema version 1, kept so they rerun exactly;
    see :data:`CONVENTION`).
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

    def __post_init__(self):
        choice("rule", self.rule, RULES)
        choice("update", self.update, UPDATES)
        choice("bootstrap", self.bootstrap, BOOTSTRAPS)
        choice("rpe_index", self.rpe_index, ("arrival", "state"))
        choice("trace", self.trace, ("gamma_lambda", "lambda"))
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
        return cls(**options)

    def to_dict(self) -> dict:
        return asdict(self)


def _resolve_device(device) -> torch.device:
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


def _resolve_dtype(dtype) -> torch.dtype:
    table = {"float32": torch.float32, "float64": torch.float64, torch.float32: torch.float32,
             torch.float64: torch.float64}
    if dtype not in table:
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    return table[dtype]


def _select_trials(record_trials, n_trials: int) -> np.ndarray:
    if record_trials is None:
        return np.arange(n_trials)
    if isinstance(record_trials, bool | np.bool_ | float | np.floating | str):
        raise TypeError(f"record_trials must be None, an int stride, a slice or trial indices; got {record_trials!r}")
    if isinstance(record_trials, slice):
        idx = np.arange(n_trials)[record_trials]
    elif isinstance(record_trials, int | np.integer):
        if record_trials < 1:
            raise ValueError(f"record_trials as an int is a stride (every n-th trial) >= 1; got {record_trials}")
        idx = np.arange(0, n_trials, int(record_trials))
        if idx[-1] != n_trials - 1:
            idx = np.append(idx, n_trials - 1)  # always keep the last trial (the learned state)
    else:
        given = np.asarray(record_trials)
        if given.ndim != 1 or given.dtype.kind not in "iu":
            raise TypeError(f"record_trials as trial indices must be a 1-D sequence of integers; got {record_trials!r}")
        idx = np.unique(given.astype(np.int64))
        if idx.size and (idx[0] < 0 or idx[-1] >= n_trials):
            raise ValueError(f"record_trials must be in [0, {n_trials - 1}]; got {idx[0]}…{idx[-1]}")
    if idx.size == 0:
        raise ValueError("record_trials selects no trial")
    return idx


def _select_steps(record_times, task: Task) -> np.ndarray:
    if record_times is None:
        return np.arange(task.n_steps)
    if isinstance(record_times, str | bytes):
        raise TypeError(f"record_times must be times in s (a number or a sequence of numbers); got {record_times!r}")
    try:
        times = np.atleast_1d(np.asarray(record_times, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"record_times must be times in s (numbers); got {record_times!r}") from None
    if not np.all(np.isfinite(times)):
        raise ValueError(f"record_times must be finite times in s; got {record_times!r}")
    bad = (times < -1e-9) | (times > task.duration + 1e-9)
    if np.any(bad):
        raise ValueError(f"record_times must be within [0, {task.duration:g}] s; got {times[bad][0]:g}")
    steps = np.unique(time_to_step(times, task.dt))
    if steps.size == 0:
        raise ValueError("record_times selects no time")
    return steps


def estimate_bytes(n_predictors: int, n_trials: int, n_steps: int, record) -> int:
    """Bytes the recorded variables need in memory (float32)."""
    per_var = {"value": n_predictors * n_trials * n_steps, "rpe": n_predictors * n_trials * n_steps,
               "reward": n_trials * n_steps}
    return 4 * sum(per_var[v] for v in record)


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


class _Kernel:
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
        self.reverse_sum = ReverseDiscountedSum(self.rho, self.n_steps)
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


def _check_finite(w_type: torch.Tensor, trial: int, population: Population):
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


def count_recorded_trials(record_trials, n_trials: int) -> int:
    """How many trials ``record_trials`` keeps of ``n_trials`` (an upper bound), without listing them."""
    if record_trials is None:
        return n_trials
    if isinstance(record_trials, int | np.integer) and not isinstance(record_trials, bool) and record_trials >= 1:
        return -(-n_trials // int(record_trials)) + 1  # every n-th trial, plus the last
    return min(n_trials, len(record_trials) if hasattr(record_trials, "__len__") else n_trials)


def _check_memory(task, population, n_trials, record_trials, record_times, record, out, schedule) -> None:
    """Refuse, before allocating anything, a run whose arrays would not fit in memory (size and way out given).

    Counted: the recording (unless streamed to ``out``), the schedule (trial types and rewards, [N, K] float32,
    drawn whole) and the per-trial bookkeeping. Counted without materialising the trial selection.
    """
    p, k = population.n_predictors, task.n_steps
    n_rec = count_recorded_trials(record_trials, n_trials)
    n_times = k if record_times is None else min(k, np.size(record_times))
    parts = {"the recording": 0 if out is not None else estimate_bytes(p, n_rec, n_times, record),
             "the trial schedule": 0 if schedule is not None else n_trials * (8 + 4 * k),
             "per-trial bookkeeping": n_trials * 17}
    need = sum(parts.values())
    available = psutil.virtual_memory().available
    if need > 0.8 * available:
        shown = ", ".join(f"{name} {_fmt_bytes(size)}" for name, size in parts.items() if size)
        raise RunTooLargeError(
            f"{p} predictors × {n_trials} trials × {k} steps needs {_fmt_bytes(need)} ({shown}), more than the "
            f"{_fmt_bytes(available)} of memory available. Record fewer trials (record_trials=10 keeps every "
            "10th), fewer times (record_times=[...]), fewer variables (record=('value',)), stream to a file with "
            "out='name', or simulate fewer trials per run."
        )


#: simulate()'s defaults of the options that ``options=`` replaces
_SIMULATE_DEFAULTS = {"rule": "expectile", "update": "offline", "features": "csc", "bootstrap": "own", "preset": None}


def _resolve_options(options, rule, update, features, bootstrap, preset) -> EngineOptions:
    if options is not None:
        if not isinstance(options, EngineOptions):
            raise TypeError(f"options must be a drl.EngineOptions; got {type(options).__name__}")
        passed = {"rule": rule, "update": update, "features": features, "bootstrap": bootstrap, "preset": preset}
        given = [k for k, v in passed.items() if v != _SIMULATE_DEFAULTS[k]]
        if given:
            raise ValueError(f"pass either options= or {', '.join(f'{k}=' for k in given)}, not both")
        return options
    opts = {"rule": rule, "update": update, "bootstrap": bootstrap, "features": make_features(features).to_dict()}
    if preset is not None:
        choice("preset", preset, PRESETS)
        opts.update(PRESETS[preset])
        opts["preset"] = preset
    return EngineOptions(**opts)


def simulate(
    task,
    population: Population,
    n_trials: int | None = None,
    *,
    rule: str = "expectile",
    update: str = "offline",
    features="csc",
    bootstrap: str = "own",
    preset: str | None = None,
    record=RECORDABLE,
    record_trials=None,
    record_times=None,
    seed: int = 0,
    device="cpu",
    dtype="float32",
    progress: bool | None = None,
    schedule: Schedule | None = None,
    out=None,
    overwrite: bool = False,
    block_trials: int | None = None,
    options: EngineOptions | None = None,
    _force_step_loop: bool = False,
) -> xr.Dataset:
    """Simulate ``population`` learning ``task`` for ``n_trials`` trials; return the run as a Dataset.

    Args:
      task: a Task, a registered task name, or a ``.toml``/``.json`` spec file.
      population: the predictors (:class:`drl.Population`).
      n_trials: number of trials (≥ 1); may be left out when ``schedule`` is given.
      rule: "expectile" (default) or "quantile".
      update: "offline" (default) or "online".
      features: "csc" (default), "microstimulus", a dict ``{"name": …, options}`` or a representation object.
      bootstrap: "own" (default), "random" (target: the next value of a member of the γ group, drawn per step
        by τ cell; the quantile code's method) or "imputed" (target: a sample of the distribution whose
        expectiles are the group's next values; the expectile code's method). See docs/drl.md, "Bootstrap".
      preset: None or "drl_sim" (reproduces drl_sim's ``sim()``; overrides update and the convention options).
      record: which of "value", "rpe", "reward" to keep (weights at the end are always kept).
      record_trials: None (all), an int stride (every n-th trial, plus the last), a slice, or trial indices.
      record_times: None (all steps) or times in s (snapped to steps).
      seed: seeds the schedule (and the random-bootstrap draws); same seed → identical run.
      device: "cpu" or "cuda".  dtype: "float32" (default) or "float64" (the stored run is float32).
      progress: show a tqdm progress bar over trials (None: only for long runs).
      schedule: a pre-drawn :class:`drl.Schedule` of ``task`` to use instead of drawing one.
      out: stream the run to this file (a bare name goes to ``exps/<name>.nc``) block by block; the
        Dataset returned is then the stored file, opened lazily.
      overwrite: with ``out``, replace an existing file.
      block_trials: trials per block (recording buffer and stream granularity); default sized to ~64 MB.
      options: an :class:`EngineOptions` giving every model option at once (as :func:`rerun` does); then
        ``rule``, ``update``, ``features``, ``bootstrap`` and ``preset`` must be left at their defaults.

    Returns:
      xarray.Dataset with ``value``, ``rpe`` [predictor, trial, time], ``reward`` [trial, time], ``weights``
      [predictor, type, feature] and the coordinates and attributes of the drl run schema (docs/drl.md).

    Raises:
      ValueError / TypeError for bad arguments (naming the argument and the value); RunTooLargeError when the
      recording does not fit in memory; NonFiniteValueError when values diverge.
    """
    task = load_task(task)
    if not isinstance(population, Population):
        raise TypeError(f"population must be a drl.Population; got {type(population).__name__}")
    if schedule is not None:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a drl.Schedule; got {type(schedule).__name__}")
        if schedule.task != task:
            raise ValueError(f"schedule was drawn from task {schedule.task.name!r}, not {task.name!r}")
        if n_trials is not None and n_trials != schedule.n_trials:
            raise ValueError(f"n_trials = {n_trials} disagrees with the schedule's {schedule.n_trials} trials")
        n_trials = schedule.n_trials
    if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1; got {n_trials!r}")
    n_trials = int(n_trials)
    seed = check_seed(seed)
    if progress is not None and not isinstance(progress, bool | np.bool_):
        raise TypeError(f"progress must be True, False or None (automatic); got {progress!r}")
    if isinstance(record, str):
        record = (record,)
    if not isinstance(record, tuple | list):
        raise TypeError(f"record must be a tuple of variable names from {RECORDABLE}; got {record!r}")
    record = tuple(record)
    for name in record:
        choice("record variable", name, RECORDABLE)
    options = _resolve_options(options, rule, update, features, bootstrap, preset)
    overwrite = boolean("overwrite", overwrite)
    if block_trials is not None and (isinstance(block_trials, bool) or not isinstance(block_trials, int | np.integer)
                                     or block_trials < 1):
        raise ValueError(f"block_trials must be an integer >= 1 (trials per recording block); got {block_trials!r}")
    dev = _resolve_device(device)
    torch_dtype = _resolve_dtype(dtype)

    _check_memory(task, population, n_trials, record_trials, record_times, record, out, schedule)
    trials = _select_trials(record_trials, n_trials)
    steps = _select_steps(record_times, task)
    p = population.n_predictors

    if schedule is None:
        schedule = task.schedule(n_trials, seed=seed)
    if options.rule == "expectile" and options.bootstrap == "random" and options.convention >= 2:
        warnings.warn(
            "bootstrap='random' with the expectile rule treats expectiles as samples of the next state's return, "
            "which they are not: the code collapses toward the mean (docs/drl.md, 'Bootstrap'). Use "
            "bootstrap='imputed' for a distributional expectile code, or rule='quantile' with 'random'.",
            UserWarning, stacklevel=2)
    kernel = _Kernel(task, population, options, dev, torch_dtype, seed)
    use_step_loop = options.update == "online" and (not kernel.is_csc or _force_step_loop)
    trial_fn = kernel.online_trial if use_step_loop else kernel.offline_trial

    k = task.n_steps
    if block_trials is None:
        block_trials = max(1, min(n_trials, int(64e6 // max(1, p * k * 4 * 2))))
    rewards_dev = schedule.reward.to(device=dev, dtype=torch_dtype)
    types_np = schedule.trial_type.numpy()
    recorded = np.zeros(n_trials, dtype=bool)
    recorded[trials] = True
    steps_dev = torch.as_tensor(steps, device=dev)
    all_steps = len(steps) == k

    weights = torch.zeros(kernel.n_types, p, kernel.n_features, dtype=torch_dtype, device=dev)
    stored_options = {**options.to_dict(), "dtype": str(torch_dtype).removeprefix("torch."), "device": dev.type}
    sink = _make_sink(out, overwrite, task, population, stored_options, seed, n_trials, trials, types_np, steps, record,
                      kernel)
    direct = sink.direct_views() if dev.type == "cpu" and torch_dtype == torch.float32 else None
    if direct is not None:
        # In-memory CPU run: each trial is written straight into its slot of the result (no block copy).
        v_buf, d_buf = direct
    else:
        # One reusable block buffer per recorded variable (allocating per block would page-fault every time).
        max_keep = max(int(recorded[s:s + block_trials].sum()) for s in range(0, n_trials, block_trials))
        v_buf = torch.empty(p, max_keep, len(steps), dtype=torch_dtype, device=dev) if "value" in record else None
        d_buf = torch.empty(p, max_keep, len(steps), dtype=torch_dtype, device=dev) if "rpe" in record else None
    first_slot = np.concatenate([[0], np.cumsum(recorded)])  # recorded trials before trial n

    def run_block(block_start, block_end, check_each_trial):
        slot = int(first_slot[block_start]) if direct is not None else 0
        for n in range(block_start, block_end):
            m = int(types_np[n])
            w = weights[m]
            v, d = trial_fn(w, m, rewards_dev[n])
            if check_each_trial:
                _check_finite(w, n, population)
            if recorded[n]:
                if v_buf is not None:
                    v_buf[:, slot] = v if all_steps else v[:, steps_dev]
                if d_buf is not None:
                    d_buf[:, slot] = d if all_steps else d[:, steps_dev]
                slot += 1
        return slot

    show = progress if progress is not None else p * n_trials * k > 2e8
    from tqdm.auto import tqdm

    bar = tqdm(total=n_trials, desc=f"simulate {task.name}", unit="trial", disable=not show)
    try:
        with torch.no_grad(), _flush_denormals(dev):
            for block_start in range(0, n_trials, block_trials):
                block_end = min(n_trials, block_start + block_trials)
                saved = (weights.clone(), kernel.rng_state())
                slot = run_block(block_start, block_end, check_each_trial=False)
                if not bool(torch.isfinite(weights).all()):
                    # Replay the block trial by trial to name the exact trial (checking every trial costs ~20 %).
                    weights.copy_(saved[0])
                    kernel.set_rng_state(saved[1])
                    run_block(block_start, block_end, check_each_trial=True)
                keep = np.flatnonzero(recorded[block_start:block_end]) + block_start
                reward_block = schedule.reward[keep][:, steps] if "reward" in record else None
                if direct is not None:
                    sink.write(keep, None, None, None if reward_block is None else reward_block.numpy())
                else:
                    sink.write(
                        keep,
                        None if v_buf is None else v_buf[:, :slot].cpu().numpy(),
                        None if d_buf is None else d_buf[:, :slot].cpu().numpy(),
                        None if reward_block is None else reward_block.numpy(),
                    )
                bar.update(block_end - block_start)
    except BaseException:
        sink.abort()  # a failed or interrupted stream leaves no temporary file behind
        raise
    finally:
        bar.close()
    return sink.finish(weights.transpose(0, 1).float().cpu().numpy())


@contextlib.contextmanager
def _flush_denormals(device):
    """Flush float denormals to zero on the CPU while simulating, then restore torch's default.

    Values that decay towards 0 pass through denormal floats, which x86 CPUs handle ~100× slower; flushing
    them changes results by < 1e-38 and halves the run time.
    """
    if device.type != "cpu":
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


class _MemorySink:
    """Collects recorded blocks into arrays, then builds the Dataset."""

    def __init__(self, meta, n_rec, n_steps, record, p):
        self.meta = meta
        self.value = empty_float32((p, n_rec, n_steps)) if "value" in record else None
        self.rpe = empty_float32((p, n_rec, n_steps)) if "rpe" in record else None
        self.reward = empty_float32((n_rec, n_steps)) if "reward" in record else None
        self.pos = 0

    def direct_views(self):
        """Torch views of the result arrays, for the engine to write trials into directly."""
        return tuple(None if a is None else torch.from_numpy(a) for a in (self.value, self.rpe))

    def write(self, keep, value, rpe, reward):
        sl = slice(self.pos, self.pos + len(keep))
        if self.value is not None and value is not None:
            self.value[:, sl] = value
        if self.rpe is not None and rpe is not None:
            self.rpe[:, sl] = rpe
        if self.reward is not None:
            self.reward[sl] = reward
        self.pos += len(keep)

    def abort(self):
        """Nothing to clean up in memory."""

    def finish(self, weights):
        return build_dataset(**self.meta, value=self.value, rpe=self.rpe, reward=self.reward, weights=weights)


def _make_sink(out, overwrite, task, population, options, seed, n_trials, trials, types_np, steps, record, kernel):
    meta = dict(population=population, task=task, options=options, seed=seed, n_trials=n_trials,
                trials=trials, trial_type=types_np[trials], steps=steps)
    if out is None:
        return _MemorySink(meta, len(trials), len(steps), record, population.n_predictors)
    from drl.store import StreamWriter

    return StreamWriter(out, meta=meta, record=record, n_features=kernel.n_features, overwrite=overwrite)


def rerun(run, *, device=None, out=None, overwrite: bool = False, progress: bool | None = None) -> xr.Dataset:
    """Re-simulate a stored run from its attributes (task, population, options, seed, recording).

    ``run`` is a Dataset or a path / run name. Same seed and device class → an identical Dataset (up to the
    creation time attribute). Runs of schema version 1 (drl before textbook TD) are rerun in their own
    convention (``options.convention = 1``), so the numbers are reproduced.
    """
    from drl.store import open_run

    ds = open_run(run)
    task = Task.from_dict(ds.attrs["task"], source="stored task")
    stored = dict(ds.attrs["options"])
    if "imported_from" in stored:
        raise ValueError(f"this run was imported from drl_sim ({stored['imported_from']}); its trial schedule was not "
                         "saved, so it cannot be rerun")
    dtype = stored.get("dtype", "float32")
    stored_device = stored.get("device", "cpu")
    options = EngineOptions.from_stored(stored, int(ds.attrs["schema_version"]))
    population = population_from_dataset(ds)
    record = [v for v in RECORDABLE if v in ds.data_vars]
    n_trials = int(ds.attrs["n_trials"])
    trials = ds["trial"].values
    steps = np.rint(ds["time"].values / task.dt).astype(np.int64)
    return simulate(
        task, population, n_trials, record=record,
        record_trials=None if len(trials) == n_trials else trials,
        record_times=None if len(steps) == task.n_steps else steps * task.dt,
        seed=int(ds.attrs["seed"]), device=device or stored_device,
        dtype=dtype, progress=progress, out=out, overwrite=overwrite, options=options,
    )

