"""Where runs and their temporary files live: a run's name to its path, and the files a streamed run leaves beside
its temporary file (checkpoint, recorded trials) while it is written or after it was interrupted."""

from __future__ import annotations

import os
from pathlib import Path

from drl._atomic import process_alive, temporary_owner

__all__ = ["DEFAULT_DIR", "checkpoint_path", "interrupted_temporaries", "resume_hint", "run_path", "trials_path"]

DEFAULT_DIR = Path("exps")


def run_path(path_or_name, directory=DEFAULT_DIR) -> Path:
    """A bare name (no folder) means ``<directory>/<name>.nc``; a path not ending in ``.nc`` gets it (a dot in a
    name, ``alpha0.1``, is part of the name).

    A relative name with a folder, such as ``lam_alpha/run_0000`` (what ``drl ls`` prints for a sweep's runs),
    is found under ``<directory>`` when it exists there and not as a path from the current folder."""
    if not isinstance(path_or_name, str | os.PathLike):
        raise TypeError(f"a run is named by a string or a path; got {path_or_name!r}")
    text = str(path_or_name)
    if not text:
        raise ValueError("run name must not be empty")
    if text.endswith(("/", os.sep)):
        raise ValueError(f"a run is named by a file name, not a folder; got {text!r}")
    if "\0" in text:
        raise ValueError(f"a run name must not contain a NUL byte; got {text!r}")
    p = Path(text)
    if len(p.name) > 200:
        raise ValueError(f"a run name must be at most 200 characters (the file system's limit is 255 for the file "
                         f"and its temporary name); got {len(p.name)}")
    if p.suffix.lower() != ".nc":  # "alpha0.1" is a name with a dot, not a file with suffix ".1"
        if len(p.parts) == 1:
            return Path(directory) / f"{p.name}.nc"
        p = p.with_name(f"{p.name}.nc")
    if not p.is_absolute() and not p.exists() and (Path(directory) / p).is_file():
        return Path(directory) / p
    return p


def checkpoint_path(tmp: Path) -> Path:
    """The checkpoint beside a streamed run's temporary file (present once a block is complete)."""
    return tmp.with_name(tmp.name + ".checkpoint.npz")


def trials_path(tmp: Path) -> Path:
    """The recorded-trial list beside a streamed run's temporary file."""
    return tmp.with_name(tmp.name + ".trials.npy")


def interrupted_temporaries(path: Path) -> list[Path]:
    """Temporary files of interrupted, resumable streamed runs of ``path`` (their processes are gone)."""
    found = []
    for tmp in sorted(path.parent.glob(f".{glob_escape(path.name)}.*.tmp")):
        pid = temporary_owner(tmp)
        if pid is not None and not process_alive(pid) and checkpoint_path(tmp).is_file():
            if path.is_file() and os.path.samefile(tmp, path):
                # killed right after publishing: the temporary name is a second link to the published run, not
                # an interrupted one (it was listed twice and kept a full copy's name forever)
                for leftover in (tmp, checkpoint_path(tmp), trials_path(tmp)):
                    leftover.unlink(missing_ok=True)
                continue
            found.append(tmp)
    return found


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def resume_hint(path) -> str:
    """How to finish an interrupted run, in Python and at the shell."""
    return f"drl.resume({str(path)!r}) (CLI: drl resume {path})"
