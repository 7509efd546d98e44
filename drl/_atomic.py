"""Atomic file writes: write beside the target under a hidden name unique to this process and call, then rename.

Every file drl writes goes through here (runs, figures and animations, task specs, sweep manifests, SPICE
models), so a reader never sees half a file and two processes writing the same name never share a temporary
file. The names are ``.<name>.<pid>.<token>.tmp<suffix>``: ``drl.runs.publishing.clean_stale_temps`` reads the pid back.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

__all__ = ["describe_os_error", "process_alive", "remove_dead_temporaries", "temporaries", "temporary_owner", "temporary_path", "write_atomic"]

#: The system errors a user can act on, in words (the rest keep the system's own text)
_REASONS = {
    errno.ENOSPC: "the disk is full: free some space, or write elsewhere",
    errno.EDQUOT: "the disk quota is used up: free some space, or write elsewhere",
    errno.EACCES: "permission denied: this folder or file is not writable (or readable) for you; choose another, "
                  "or change its permissions",
    errno.EPERM: "operation not permitted here: choose another folder",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EIO: "an input/output error of the disk or the network drive: check it, then retry",
}


def describe_os_error(error: OSError, path=None) -> str:
    """A system error as a sentence a user can act on, naming the file: ``cannot write exps/run.nc: the disk is
    full: …`` (not ``[Errno 28] No space left on device``)."""
    where = path if path is not None else error.filename
    reason = _REASONS.get(error.errno, error.strerror or str(error))
    return f"{where}: {reason}" if where else reason


def temporary_path(path, suffix: str = "") -> Path:
    """A hidden temporary name beside ``path``, unique per process and call; ``suffix`` keeps a format's extension
    (writers that choose the format by it, such as ffmpeg)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{suffix}")


def temporary_owner(tmp: Path) -> int | None:
    """The pid in a temporary name ``.<name>.<pid>.<token>.tmp`` (or ``….tmp.nwb``: a writer that needs its
    format's extension); None for any other name."""
    name = tmp.name
    if not name.endswith(".tmp"):
        stem, dot, suffix = name.rpartition(".")
        if not dot or not stem.endswith(".tmp") or not suffix.isalnum():
            return None
        name = stem
    parts = name.rsplit(".", 3)  # [".name.nc", pid, token, "tmp"]
    return int(parts[1]) if len(parts) == 4 and parts[1].isdigit() and parts[3] == "tmp" else None


def temporaries(folder) -> list[Path]:
    """The temporary files in ``folder`` named as :func:`temporary_path` names them (runs, NWB files)."""
    folder = Path(folder)
    return [tmp for pattern in (".*.tmp", ".*.tmp.nwb") for tmp in folder.glob(pattern)
            if temporary_owner(tmp) is not None]


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (0: a temporary file its process released, e.g. a run left to resume)."""
    if pid == 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_dead_temporaries(folder, suffix: str = "", keep=None) -> list[Path]:
    """Remove the temporary files ending in ``suffix`` (``".tmp.nwb"``; "" for all) in ``folder`` whose processes
    are gone (a writer killed midway), except those ``keep(path)`` holds on to (a resumable run:
    :func:`drl.runs.publishing.clean_stale_temps`); returns them."""
    removed = []
    for tmp in temporaries(folder):
        if tmp.name.endswith(suffix) and not process_alive(temporary_owner(tmp)) and not (keep and keep(tmp)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def write_atomic(path, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; the temporary file is removed on any failure."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as error:
        if error.errno not in _REASONS:
            raise
        raise type(error)(error.errno, f"cannot write {describe_os_error(error, path)}") from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # a read-only folder: nothing was created there to remove
            pass
    return path
