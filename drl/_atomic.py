"""Atomic file writes: write beside the target under a hidden name unique to this process and call, then rename.

Every file drl writes goes through here (runs, figures and animations, task specs, sweep manifests, SPICE
models), so a reader never sees half a file and two processes writing the same name never share a temporary
file. The names are ``.<name>.<pid>.<token>.tmp<suffix>``: ``drl.store.clean_stale_temps`` reads the pid back.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["temporary_path", "write_atomic"]


def temporary_path(path, suffix: str = "") -> Path:
    """A hidden temporary name beside ``path``, unique per process and call; ``suffix`` keeps a format's extension
    (writers that choose the format by it, such as ffmpeg)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{suffix}")


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
    finally:
        tmp.unlink(missing_ok=True)
    return path
