"""Checks and settings shared by the decoders: arrays validated at the boundary, one BLAS thread."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["MAX_SAMPLES", "MAX_SPLITS", "levels_in_unit_interval", "single_blas_thread", "source_fingerprint", "vector"]


#: The most decoded samples of a distribution (the decode's cost grows with them; 100 already read a W1 to 1 %)
MAX_SAMPLES = 100_000
#: The most splits (or neuron resamples) of a control: each is a full estimate; 10⁴ already take hours
MAX_SPLITS = 10_000


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


def source_fingerprint(data) -> str | None:
    """A short hash that tells one run or responses form from another, for results computed from it (bootstrap
    replicates) that a later call takes back: its identifying attributes, sizes and the small variables that
    differ between sources (a run's parameters, a form's responses). None for a path or name (not read here)."""
    import hashlib

    import xarray as xr

    if not isinstance(data, xr.Dataset):
        return None
    digest = hashlib.blake2b(digest_size=8)
    for key in ("created", "seed", "n_trials", "task_name", "name", "signal"):
        digest.update(repr(data.attrs.get(key)).encode())
    digest.update(repr(sorted(data.sizes.items())).encode())
    for name in ("tau", "alpha_pos", "alpha_neg", "gamma", "lam", "magnitude", "response", "trial_response"):
        if name in data.variables and data[name].size <= 10**7:
            digest.update(np.ascontiguousarray(data[name].values).tobytes())
    return digest.hexdigest()


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
