"""What each ``drl`` subcommand does (:mod:`drl.cli` parses the command line and reports errors): every handler
takes the parsed arguments and imports drl only when it runs, so ``drl --help`` stays instant."""

from __future__ import annotations

import sys

__all__ = ["ANIMATED_KINDS", "PLOT_KINDS", "cmd_info", "cmd_ls", "cmd_plot", "cmd_reproduce", "cmd_resume", "cmd_run",
           "cmd_sweep", "cmd_tasks"]


def _floats(text: str, option: str):
    """'0.9' → 0.9; '0.2:0.8' → (0.2, 0.8) uniform range; '0.5,0.8,0.95' → list (a grid axis). A value that is
    not a number is an error naming ``option`` and the value."""

    def number(part: str) -> float:
        try:
            return float(part)
        except ValueError:
            raise ValueError(f"{option} {text}: {part!r} is not a number (give 0.9, a range 0.2:0.8 or a list "
                             "0.5,0.8)") from None

    if ":" in text:
        lo, hi = text.split(":", 1)
        return (number(lo), number(hi))
    if "," in text:
        return [number(v) for v in text.split(",") if v]
    return number(text)


def cmd_tasks(args):
    import drl

    for task in drl.list_tasks():
        names = ", ".join(task.trial_type_names)
        print(f"{task.name:<30} {task.duration:g} s, dt {task.dt:g} s, trial types: {names}")
        print(f"{'':<30} {task.reference}")


def _population(args):
    """The population of ``drl run``'s options, through the sweep's configuration (one translator of options
    into a Population, with the same defaults as a sweep's and ``drl.simulate``'s)."""
    import numpy as np

    from drl.sweep.configs import population_of_config, run_config

    tau = _floats(args.tau, "--tau") if args.tau is not None else None
    if args.tau_grid is not None and args.tau is not None:
        raise ValueError("give --tau or --tau-grid, not both")
    if args.tau_grid is not None and args.tau_grid < 1:
        raise ValueError(f"--tau-grid must be >= 1 (the number of τ levels); got {args.tau_grid}")
    if args.tau_grid:
        tau = list(np.linspace(0.5 / args.tau_grid, 1 - 0.5 / args.tau_grid, args.tau_grid))
    gamma, lam, alpha = _floats(args.gamma, "--gamma"), _floats(args.lam, "--lam"), _floats(args.alpha, "--alpha")
    if args.predictors is None:
        ranges = [name for name, v in (("tau", tau), ("gamma", gamma), ("lam", lam), ("alpha", alpha))
                  if isinstance(v, tuple)]
        if ranges:
            raise ValueError(f"--{ranges[0]} {getattr(args, ranges[0])} is a uniform range, which draws one value per "
                             "predictor: give --predictors N, or a list (0.2,0.5,0.8) for a grid axis")
    else:
        listed = {k: v for k, v in (("tau", tau), ("gamma", gamma), ("lam", lam)) if isinstance(v, list)}
        if listed:
            print(f"note: with --predictors, {', '.join(listed)} list(s) are drawn at random per predictor")
    # without --predictors, lists are grid axes (the population is their Cartesian product); with it, draws
    given = {"tau": tau, "alpha": alpha, "gamma": gamma, "lam": lam}
    config = run_config({"task": args.task, "n_trials": args.trials, "seed": args.seed, "predictors": args.predictors,
                         **{name: value for name, value in given.items() if value is not None}})
    return population_of_config(config)


def cmd_run(args):
    import drl
    from drl.engine.options import RECORDABLE
    from drl.engine.sinks import count_recorded_trials, estimate_bytes

    task = drl.load_task(args.task)
    pop = _population(args)
    if not 0 < args.max_size < float("inf"):
        raise ValueError(f"--max-size must be a finite number of GB > 0; got {args.max_size}")
    if args.trials < 1 or args.record_every < 1:
        raise ValueError(f"--trials and --record-every must be >= 1; got {args.trials} and {args.record_every}")
    n_recorded = count_recorded_trials(None if args.record_every == 1 else args.record_every, args.trials)
    size = estimate_bytes(len(pop), n_recorded, task.n_steps, RECORDABLE)
    if size > args.max_size * 2**30:
        raise ValueError(f"this run would write {size / 2**30:.1f} GB before compression ({len(pop)} predictors × "
                         f"{n_recorded} recorded trials × {task.n_steps} steps), more than --max-size "
                         f"{args.max_size:g} GB: keep fewer trials (--record-every N) or raise --max-size")
    if not args.quiet:
        print(f"writing up to {size / 2**20:.1f} MB (before compression) to {args.out}")
    ds = drl.simulate(task, pop, args.trials, rule=args.rule, update=args.update, features=args.features,
                      bootstrap=args.bootstrap, preset=args.preset, seed=args.seed, out=args.out,
                      record_trials=None if args.record_every == 1 else args.record_every,
                      overwrite=args.overwrite, progress=not args.quiet, device=args.device)
    print(f"saved {ds.encoding.get('source', args.out)}: {task.name}, {len(pop)} predictors, {args.trials} trials")


_SWEEP_KEYS = {"out", "base", "grid", "shared_seed", "vectorize"}


def _read_sweep_file(path: str) -> dict:
    """A sweep file (TOML or JSON): ``out``, ``[base]`` and ``[grid]`` tables, optional ``shared_seed`` and
    ``vectorize``; errors name the file and the key."""
    import json
    import tomllib

    from drl._files import readable_file

    file = readable_file(path, "sweep file", max_bytes=2**20)
    try:
        text = file.read_text(encoding="utf-8-sig")  # a BOM (Notepad's UTF-8) is not part of the TOML/JSON
        spec = json.loads(text) if file.suffix.lower() == ".json" else tomllib.loads(text)
    except UnicodeDecodeError:
        raise ValueError(f"{file}: not UTF-8 text") from None
    except RecursionError:
        raise ValueError(f"{file}: nested too deeply to be a sweep file (out, [base] and [grid] are flat tables)"
                         ) from None
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{file}: {e}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{file}: a sweep file is a table with out, [base] and [grid]")
    unknown = sorted(set(spec) - _SWEEP_KEYS)
    missing = sorted({"out", "base", "grid"} - set(spec))
    if unknown or missing:
        raise ValueError(f"{file}: " + "; ".join(filter(None, [
            f"unknown key(s) {unknown} (valid: {sorted(_SWEEP_KEYS)})" if unknown else "",
            f"missing key(s) {missing}" if missing else ""])))
    return spec


def cmd_sweep(args):
    from drl.sweep import sweep

    spec = _read_sweep_file(args.file)
    table = sweep(spec["base"], spec["grid"], out=spec["out"], overwrite=args.overwrite, progress=not args.quiet,
                  shared_seed=spec.get("shared_seed", False), vectorize=spec.get("vectorize", True),
                  client=args.scheduler, no_worker_timeout=args.no_worker_timeout)
    failed = int((table["status"] == "failed").sum())
    if failed:  # a script or a job array must see it: not a success
        print(f"drl: error: {failed} of {len(table)} runs of sweep {spec['out']!r} failed (listed above)",
              file=sys.stderr)
        raise SystemExit(1)


def cmd_resume(args):
    import drl

    ds = drl.resume(args.run, overwrite=args.overwrite, progress=not args.quiet)
    print(f"saved {ds.encoding.get('source', args.run)}: {ds.attrs['task_name']}, {ds.sizes['predictor']} "
          f"predictors, {ds.attrs['n_trials']} trials (resumed)")


def cmd_reproduce(args):
    from drl.reproduce import reproduce

    result = reproduce(args.paper, directory=args.figs, quick=args.quick, progress=not args.quiet, seed=args.seed,
                       data=args.data)
    print(result)
    if not result.passed:
        sys.exit(1)


def _span(values) -> str:
    """A column of a sweep's runs in one cell: its value, or its range."""
    return f"{values.min()}" if values.nunique() == 1 else f"{values.min()}–{values.max()}"


def cmd_ls(args):
    from pathlib import Path

    from drl.runs.publishing import interrupted_runs
    from drl.runs.store import list_runs

    runs = list_runs(args.folder)
    if runs.empty:
        print(f"no runs in {args.folder}/")
    else:
        # a sweep's runs are one line (a 1000-run sweep once printed 1000): its folder holds sweep.json
        folder_of = runs["name"].map(lambda name: Path(name).parts[0] if len(Path(name).parts) > 1 else "")
        in_sweep = folder_of.map(lambda folder: bool(folder) and (Path(args.folder) / folder / "sweep.json").is_file())
        print(f"{'name':<28} {'task':<28} {'predictors':>10} {'trials':>9} {'recorded':>9} {'MB':>9}  created")
        for row in runs[~in_sweep].itertuples():
            print(f"{row.name:<28} {row.task:<28} {row.predictors:>10} {row.trials:>9} {row.recorded_trials:>9} "
                  f"{row.size_MB:>9.2f}  {row.created}")
        for folder, group in runs[in_sweep].groupby(folder_of[in_sweep], sort=True):
            tasks = ", ".join(sorted(set(group["task"])))
            print(f"{folder + '/':<28} {tasks[:28]:<28} {_span(group['predictors']):>10} {_span(group['trials']):>9} "
                  f"{_span(group['recorded_trials']):>9} {group['size_MB'].sum():>9.2f}  sweep of {len(group)} run(s): "
                  f"drl.sweep.open_sweep({folder!r}), or drl info {group['name'].iloc[0]}")
    for row in interrupted_runs(args.folder).itertuples():
        where = (f"after {row.trials_done} of {row.n_trials} trials" if row.trials_done >= 0
                 else "(its checkpoint is damaged: resuming says how)")
        print(f"{row.name:<28} interrupted {where}: drl resume {row.name}")


def cmd_info(args):
    import numpy as np

    from drl.diagnostics.convergence import convergence, describe
    from drl.runs.paths import run_path
    from drl.runs.reading import run_options
    from drl.runs.store import open_run

    ds = open_run(args.run)
    path = run_path(args.run)
    print(f"run        {path} ({path.stat().st_size / 1e6:.2f} MB)")
    print(f"task       {ds.attrs['task_name']}: {ds.attrs['task'].get('reference', '')}")
    print(f"dims       {dict(ds.sizes)}")
    print(f"variables  {', '.join(sorted(ds.data_vars))}")
    print(f"trials     {ds.attrs['n_trials']} simulated, {ds.sizes['trial']} recorded")
    opts = ds.attrs["options"]
    print(f"options    rule={opts['rule']} update={opts['update']} bootstrap={opts['bootstrap']} "
          f"features={opts['features']['name']} preset={opts.get('preset')} seed={ds.attrs['seed']}")
    for name in ("tau", "alpha_pos", "alpha_neg", "gamma", "lam"):
        v = ds[name].values
        print(f"{name:<10} {v.min():.3g} … {v.max():.3g} ({len(np.unique(v))} distinct) "
              f"[{ds[name].attrs.get('units', 'no units in the file')}]")
    print(f"created    {ds.attrs.get('created', 'unknown')} with drl {ds.attrs.get('drl_version', 'unknown')} "
          f"(schema {ds.attrs['schema_version']}, "
          f"model convention {run_options(ds)['convention']})")
    if "value" in ds.data_vars or "rpe" in ds.data_vars:
        report = convergence(ds)
        n_bad = int((~report["converged"].values).any(1).sum())
        if n_bad == 0:
            worst = float(np.nanmax(report["relative_drift"].values)) if np.isfinite(report["relative_drift"].values).any() else 0.0
            print(f"converged  yes: no predictor's {report.attrs['variable']} drifts or wanders across the learned "
                  f"window by more than both {100 * report.attrs['tolerance']:g} % of its own scale and its noise "
                  f"(largest drift {100 * worst:.1f} %)")
        else:
            print(f"converged  NO: {n_bad} of {report.sizes['predictor']} predictors still moving: {describe(report)}")


def _val_at_t(plots, args, name):
    if args.time is None:
        raise ValueError("--time is required for --kind val_at_t")
    plots.val_at_t(args.run, args.time, trial_type=args.trial_type, color_by=args.color_by, facet_by=args.facet_by,
                   save=name)


def _val_over_t(plots, args, name):
    if args.trials is not None and args.trials < 1:
        raise ValueError(f"--trials must be >= 1; got {args.trials}")
    trials = None if args.trials is None else slice(0, args.trials - 1)  # trial numbers below N
    plots.val_over_t(args.run, trial_type=args.trial_type, trials=trials, color_by=args.color_by,
                     facet_by=args.facet_by, every=args.every, save=name)


#: The figure kinds of ``drl plot``: each draws ``args.run`` through drl.plots into ``name`` (a new kind is an
#: entry here and its name in --kind's choices, not a branch of _cmd_plot). Kept free of imports: ``drl --help``
#: lists the kinds without importing matplotlib.
PLOT_KINDS = {
    "summary": lambda plots, args, name: plots.summary(args.run, trial_type=args.trial_type,
                                                      color_by=args.color_by, save=name),
    "val_at_t": _val_at_t,
    "heatmap": lambda plots, args, name: plots.heatmap(args.run, args.predictors or [0], trial_type=args.trial_type,
                                                      save=name),
    "val_over_t": _val_over_t,
    "reward_response": lambda plots, args, name: plots.reward_response(
        args.run, trial_type=args.trial_type, color_by=args.color_by or "tau", save=name),
    "population_response": lambda plots, args, name: plots.population_response(
        args.run, trial_type=args.trial_type, save=name),
    "value_vs_delay": lambda plots, args, name: plots.value_vs_delay(args.run, save=name),
    "timing": lambda plots, args, name: plots.timing(args.run, save=name),
    "joint_map": lambda plots, args, name: plots.joint_map(args.run, trial_type=args.trial_type, save=name),
}
#: The kinds that write an animation (its formats), the others a figure
ANIMATED_KINDS = ("val_over_t",)


def cmd_plot(args):
    import matplotlib

    matplotlib.use("Agg")
    from drl import plots
    from drl.plots._common import FIGURE_FORMATS, output_path
    from drl.plots.animation import ANIMATION_FORMATS

    # the default name carries the trial type when one is given: two types' figures must not overwrite each other
    default = f"{args.run.replace('/', '_')}_{args.kind}" + (f"_{args.trial_type}" if args.trial_type else "")
    name = args.save or default
    PLOT_KINDS[args.kind](plots, args, name)
    print(f"wrote {output_path(name, ANIMATION_FORMATS if args.kind in ANIMATED_KINDS else FIGURE_FORMATS)}")
