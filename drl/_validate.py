"""Boundary checks shared by the specs: each raises an error that names the parameter and the value."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable


def finite(name: str, value) -> float:
    """Return ``value`` as a float; TypeError if not a number, ValueError if NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            import numpy as np

            if isinstance(value, np.generic) and np.issubdtype(type(value), np.number):
                value = value.item()
            else:
                raise TypeError
        except TypeError:
            raise TypeError(f"{name} must be a number; got {value!r} ({type(value).__name__})") from None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    return value


def in_range(name: str, value, lo: float, hi: float, *, lo_open=False, hi_open=False) -> float:
    """Check ``lo <(=) value <(=) hi``; the error spells the interval, e.g. 'gamma must be in [0, 1]; got 1.2'."""
    value = finite(name, value)
    bad = (value < lo or (lo_open and value == lo)) or (value > hi or (hi_open and value == hi))
    if bad:
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"{name} must be in {interval}; got {value:g}")
    return value


def integer(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int (numpy integers too, never a bool) within [minimum, maximum]; the error names the parameter."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = " and ".join(part for part in (f"≥ {minimum}" if minimum is not None else "",
                                                f"≤ {maximum}" if maximum is not None else "") if part)
        raise ValueError(f"{name} must be an integer {bounds}; got {value}")
    return value


def boolean(name: str, value) -> bool:
    """Check that ``value`` is a bool (numpy's too); a truthy string such as ``"no"`` is a TypeError."""
    import numpy as np

    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def choice(name: str, value, valid: Iterable[str]) -> str:
    """Check that ``value`` is one of ``valid``; the error lists them and suggests the closest."""
    valid = list(valid)
    if value not in valid:
        close = difflib.get_close_matches(str(value), valid, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(repr(v) for v in valid)}.{hint}")
    return value


def check_document(document, schema: dict, source: str, whole: str = "the document") -> None:
    """Check a decoded JSON/TOML document against a declared JSON Schema (``jsonschema``); the ValueError names
    ``source`` and the path of the first field that fails (``run.nc: options: 'update' is a required property``), or
    ``whole`` when the document itself fails."""
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        where = ".".join(str(part) for part in errors[0].absolute_path) or whole
        raise ValueError(f"{source}: {where}: {errors[0].message}")


def label(name: str, value, max_length: int = 100) -> str:
    """A name that is shown, stored and compared (a task, a trial type): a non-empty string of at most
    ``max_length`` characters without control characters (a NUL once made "n\\0l" save as "nl", and two trial
    types "a\\0b" and "a\\0c" both as "a")."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string; got {value!r}")
    bad = [c for c in value if ord(c) < 32 or ord(c) == 127]
    if bad:
        raise ValueError(f"{name} must not contain control characters; got {value!r} (with {bad[0]!r})")
    if len(value) > max_length:
        raise ValueError(f"{name} must be at most {max_length} characters; got {len(value)}")
    return value


def frames_to_user() -> int:
    """How many frames above the calling function the first frame outside the drl package is (1: the caller's own
    caller). A warning raised deep in drl names the user's line with ``stacklevel = frames_to_user() + 1`` from
    the function that calls this (+ 1 more for each helper between it and ``warnings.warn``)."""
    import os
    import sys

    root = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, depth = sys._getframe(2), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(root):
        frame, depth = frame.f_back, depth + 1
    return depth
