"""Files drl reads: a regular file of a size its reader can hold, checked before the first byte is read.

A named pipe (FIFO) blocks a reader until someone writes to it, and a device such as ``/dev/zero`` never ends:
both once hung or exhausted memory in readers that trusted a path. Every reader of a user's file (run files,
task and sweep files, choice tables, recordings, SPICE models) opens it through :func:`readable_file`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["readable_file"]

_KINDS = {stat.S_ISFIFO: "a named pipe (FIFO)", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
          stat.S_ISSOCK: "a socket"}


def readable_file(path, what: str, *, max_bytes: int | None = None) -> Path:
    """``path`` as a Path once it is known to be a regular file (links followed) of at most ``max_bytes``.

    Args:
      path: a str or os.PathLike.
      what: what the file should be, for the messages ("choice table", "SPICE equations file").
      max_bytes: the most its reader accepts (None: no limit).

    Raises FileNotFoundError (no such file), IsADirectoryError (a folder), ValueError (a pipe, a device or a
    socket; or larger than ``max_bytes``), TypeError (not a path).
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"the {what} is named by a path; got {type(path).__name__}")
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"no {what} at {path}") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the {what} {path}: {error}") from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path} is a folder, not a {what}")
    for test, kind in _KINDS.items():
        if test(mode):
            raise ValueError(f"{path} is {kind}, not a {what}: drl reads regular files only (a pipe or a device "
                             "would block or never end); copy its contents to a file")
    if max_bytes is not None:
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(f"{path} holds {size / 2**20:.1f} MiB, more than a {what} can ({max_bytes / 2**20:.1f} "
                             "MiB at most): not read")
    return path
