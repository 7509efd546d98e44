"""The ``drl`` command: list tasks, run a simulation, describe a stored run, draw its figures.

Errors print one line (``drl: error: …``) and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from drl._commands import (
    PLOT_KINDS,
    cmd_info,
    cmd_ls,
    cmd_plot,
    cmd_reproduce,
    cmd_resume,
    cmd_run,
    cmd_sweep,
    cmd_tasks,
)


def _for_the_shell(message: str) -> str:
    """An error of the Python API, worded for the command line: the flags and commands in place of the
    keyword arguments and functions (``overwrite=True`` is ``--overwrite``; ``drl.resume(...)`` is
    ``drl resume``; ``drl.runs.publishing.interrupted_runs(...)`` is ``drl ls``)."""
    message = re.sub(r"(pass|with) overwrite=True", r"\1 --overwrite", message)
    message = re.sub(r"drl\.runs\.publishing\.interrupted_runs\([^)]*\)", "drl ls", message)
    message = re.sub(r"drl\.resume\(([^)]*)\) \(CLI: drl resume[^)]*\)",
                     lambda m: f"drl resume {m.group(1).strip(chr(39))}", message)
    return message.replace("drl.resume(", "drl resume (")



KINDS = list(PLOT_KINDS)
REPRODUCIBLE = ("dabney2020", "eshel2016", "masset2025", "sousa2025")  # drl.reproduce.PAPERS (kept literal: `drl --help` must not import drl)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drl", description="Distributional TD(λ) populations on "
                                     "classical-conditioning tasks: simulate, store, plot.")
    from drl import __version__

    parser.add_argument("--version", action="version", version=f"drl {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("tasks", help="list the built-in tasks with their references").set_defaults(func=cmd_tasks)

    run = sub.add_parser("run", help="simulate a task and save the run to exps/",
                         description="Simulate TASK (a built-in name or a .toml/.json spec) and save it. Parameter "
                         "values: 0.9 (all), 0.2:0.8 (uniform range), 0.5,0.8 (list: a grid axis, or random "
                         "choice with --predictors).")
    run.add_argument("task", help="built-in task name or spec file")
    run.add_argument("--out", required=True, help="run name (exps/NAME.nc) or path")
    run.add_argument("--predictors", type=int, help="number of predictors (random draws); default: grid of lists")
    run.add_argument("--tau", help="optimism τ in (0, 1)")
    run.add_argument("--tau-grid", type=int, help="N evenly spaced τ levels (grid)")
    # Defaults chosen for the demo (tests/test_model.py checks it against exact expectiles): pessimistic
    # predictors learn upward at α+ = 2ατ, slowly, so α small and λ high; docs/guide/diagnostics.md ("ConvergenceWarning")
    # tables the trials each built-in task needs at 9 τ levels (6,000 to 48,000).
    run.add_argument("--alpha", default="0.01", help="base learning rate α per step (default 0.01)")
    run.add_argument("--gamma", default="1.0", help="discount γ per second (default 1)")
    run.add_argument("--lam", default="0.95", help="trace decay λ per second (default 0.95)")
    run.add_argument("--trials", type=int, default=6000, help="number of trials (default 6000)")
    run.add_argument("--record-every", type=int, default=1,
                     help="keep every N-th trial (and the last) in the stored run (default 1: all)")
    run.add_argument("--seed", type=int, default=0, help="seed of the schedule and random draws (default 0)")
    run.add_argument("--rule", default="expectile", choices=["expectile", "quantile"])
    run.add_argument("--update", default="offline", choices=["offline", "online"])
    run.add_argument("--features", default="csc", choices=["csc", "microstimulus"])
    run.add_argument("--bootstrap", default="own", choices=["own", "random", "imputed"],
                     help="own (default), random (quantile code) or imputed (distributional expectile code)")
    run.add_argument("--preset", choices=["drl_sim"], help="reproduce drl_sim's conventions")
    run.add_argument("--device", default="cpu", help="cpu or cuda")
    run.add_argument("--overwrite", action="store_true", help="replace an existing run of that name")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--max-size", type=float, default=10.0,
                     help="refuse runs that would write more than this many GB (default 10)")
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser("sweep", help="run a parameter sweep described in a TOML/JSON file on Dask",
                           description="FILE holds out = NAME, a [base] run configuration and a [grid] of "
                           "field = [values] (docs/guide/sweeps.md); optional shared_seed and vectorize. Runs go "
                           "to exps/NAME/run_<i>.nc; a sweep run again skips what is done.")
    sweep.add_argument("file", help="sweep file (.toml or .json)")
    sweep.add_argument("--overwrite", action="store_true", help="redo runs whose file exists")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="a running Dask scheduler to send the runs to (tcp://host:8786, e.g. a SLURMCluster's "
                            "scheduler_address); default: a local cluster of the CPUs this job was given")
    sweep.add_argument("--no-worker-timeout", type=float, default=300.0, metavar="SECONDS",
                       help="stop (saying what was saved) after this long with no worker connected (default 300)")
    sweep.set_defaults(func=cmd_sweep)

    resume = sub.add_parser("resume", help="finish a streamed run that was killed or interrupted",
                            description="Continue RUN from its last complete block; the result is identical to "
                            "an uninterrupted run. `drl ls` lists interrupted runs.")
    resume.add_argument("run", help="run name or path")
    resume.add_argument("--overwrite", action="store_true", help="replace a finished run of that name")
    resume.add_argument("--quiet", action="store_true", help="no progress bar")
    resume.set_defaults(func=cmd_resume)

    ls = sub.add_parser("ls", help="list the stored runs (and interrupted ones) with their task and size")
    ls.add_argument("folder", nargs="?", default="exps", help="folder of runs (default exps)")
    ls.set_defaults(func=cmd_ls)

    info = sub.add_parser("info", help="describe a stored run (dimensions, parameters, task, size)")
    info.add_argument("run", help="run name or path")
    info.set_defaults(func=cmd_info)

    plot = sub.add_parser("plot", help="draw a figure of a stored run into figs/")
    plot.add_argument("run", help="run name or path")
    plot.add_argument("--kind", default="summary", choices=KINDS,
                      help="figure to draw (default summary); val_over_t writes an animated GIF")
    plot.add_argument("--trial-type", help="trial type name (default: the first)")
    plot.add_argument("--time", type=float, help="time in s (val_at_t)")
    plot.add_argument("--color-by", help="parameter colouring the lines (default: the one that varies most; "
                      "tau for reward_response)")
    plot.add_argument("--facet-by", help="parameter giving one panel per value (val_at_t)")
    plot.add_argument("--predictors", type=int, nargs="+", help="predictor indices (heatmap)")
    plot.add_argument("--trials", type=int, help="animate the run's trials numbered below N (val_over_t)")
    plot.add_argument("--every", type=int, default=1, help="a frame at most every EVERY trials of the run "
                      "(trial numbers, val_over_t)")
    plot.add_argument("--save", help="figure name under figs/, or a path into an existing folder (default "
                      "RUN_KIND, or RUN_KIND_TRIALTYPE with --trial-type)")
    plot.set_defaults(func=cmd_plot)

    reproduce = sub.add_parser("reproduce", help="reproduce a paper's analyses: figures into figs/PAPER/, a table "
                               "of checks against the truth or the paper (exit status 1 if one fails)")
    reproduce.add_argument("paper", choices=REPRODUCIBLE, help="the paper")
    reproduce.add_argument("--quick", action="store_true", help="a reduced version (seconds, not minutes)")
    reproduce.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    reproduce.add_argument("--figs", default="figs", help="folder for the figures (default figs)")
    reproduce.add_argument("--data", default=None, help="eshel2016: the folder of the lab's session files (the "
                           "recorded neurons)")
    reproduce.add_argument("--quiet", action="store_true", help="no progress bar")
    reproduce.set_defaults(func=cmd_reproduce)
    return parser


def main(argv=None) -> int:
    from drl._atomic import describe_os_error

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        args.func(args)
        sys.stdout.flush()  # here, so that a closed pipe (drl info | head) is caught below
    except BrokenPipeError:
        # the reader stopped reading (head, less): nothing is wrong; point stdout at devnull so that the
        # interpreter's last flush at exit does not report it either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, OSError, MemoryError, ArithmeticError) as e:
        # OSError: missing, existing, unwritable, disk full; ArithmeticError: a run whose values diverged
        if isinstance(e, OSError) and e.filename:  # the system's words ([Errno 13] …) said as what to do
            message = describe_os_error(e)
        else:
            message = e.strerror if isinstance(e, OSError) and e.strerror else e
        parser.exit(2, f"drl: error: {_for_the_shell(str(message))}\n")
    except KeyboardInterrupt as e:
        resumable = getattr(args, "out", None) or getattr(args, "run", None)
        notes = getattr(e, "__notes__", [])
        if any("drl.resume(" in note for note in notes):
            parser.exit(130, f"drl: interrupted; nothing was lost. Finish the run with: drl resume {resumable}\n")
        if notes:  # what was done before the interrupt, and the way on (a sweep's finished runs)
            parser.exit(130, f"drl: interrupted; {notes[-1]}\n")
        parser.exit(130, "drl: interrupted (nothing was published; no temporary file is left)\n")
    except RuntimeError as e:
        if "NetCDF" not in str(e) and "HDF" not in str(e):
            if os.environ.get("DRL_TRACEBACK"):
                raise
            parser.exit(3, f"drl: internal error: RuntimeError: {e} (a bug: please report it; set DRL_TRACEBACK=1 "
                           "to see the traceback)\n")
        # netCDF/HDF5 found a damaged block while reading (the header was fine): the file, not drl
        which = getattr(args, "run", None) or getattr(args, "file", None) or "a run file"
        parser.exit(2, f"drl: error: {which}: its data cannot be read ({e}): the file is damaged (a corrupt "
                       "compressed block); restore it from a copy or simulate it again\n")
    except Exception as e:  # a bug of drl's: still one line, with the way to see more
        if os.environ.get("DRL_TRACEBACK"):
            raise
        parser.exit(3, f"drl: internal error: {type(e).__name__}: {e} (a bug: please report it; set "
                       "DRL_TRACEBACK=1 to see the traceback)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
