"""Checks and settings shared by the decoders: arrays validated at the boundary, one BLAS thread."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["levels_in_unit_interval", "single_blas_thread", "vector"]


def single_blas_thread():
    """BLAS on one thread for the duration (threadpoolctl; microseconds to enter once the libraries are known). The decoders' linear algebra is
    small (hundreds of rows), where a second BLAS thread gains nothing and, beside a busy process, spin-waits
    for its core: the bootstrap of a distribution decode took 39 s instead of 15 s beside two busy processes
    (measured on the test suite's recording). The caller's setting is restored on exit."""
    return _controller().limit(limits=1, user_api="blas")


@functools.cache
def _controller():
    """threadpoolctl's view of the loaded BLAS libraries: finding them reads the process's memory map (5 ms), so
    it is found once; each limit then costs microseconds."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


# ---------------------------------------------------------------------------------------------- array checks
def vector(name: str, values, *, n: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; got {array[~np.isfinite(array)][:3].tolist()} at "
                         f"{np.flatnonzero(~np.isfinite(array))[:3].tolist()}")
    if n is not None and array.size != n:
        raise ValueError(f"{name} must have the same length as levels ({n}); got {array.size}")
    return array


def levels_in_unit_interval(name: str, values) -> np.ndarray:
    levels = vector(name, values)
    bad = levels[(levels <= 0) | (levels >= 1)]
    if bad.size:
        raise ValueError(f"{name} must be in (0, 1); got {bad[:3].tolist()}")
    return levels


# ---------------------------------------------------------------------------------------------- expectiles
