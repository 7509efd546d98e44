"""How a run is encoded in its netCDF4 file: attributes (dicts and lists as JSON strings, listed in
``drl_json_attrs``) and the variables' storage (contiguous and unfiltered by default; zlib or blosc on request)."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

__all__ = ["COMPLETE_ATTR", "COMPRESSIONS", "DEFAULT_COMPRESSION", "JSON_MARK", "TRIAL_CHUNK", "decode_attrs",
           "encode_attrs", "variable_encoding"]

JSON_MARK = "drl_json_attrs"
COMPLETE_ATTR = "drl_complete"  # 0 while a streamed run is being written, 1 once its last block and weights are in
_COMPRESSED = {"value", "rpe", "reward", "weights"}
TRIAL_CHUNK = 64  # trials per compressed chunk of a stored run (streamed runs write whole chunks per block)
#: How the float variables are stored on disk. The default (None) writes them uncompressed and contiguous: no
#: HDF5 filter at all, so every netCDF-4 reader opens the file (h5py without plugins, MATLAB's ``ncread``, R's
#: ncdf4, a stock netCDF-C build) and an xarray round trip works. Measured (benchmarks/bench_storage.py, 568 MB of
#: V and δ, 500 predictors × 2000 trials × 71 steps): None writes in 0.49 s (np.save 1.16 s) and reads in 0.10 s
#: (np.load 0.08 s) for a 568 MB file (8 bytes per predictor-step for V and δ); blosc_zstd level 1 with byte
#: shuffle 1.24 s and 0.62 s for 173 MB, but only readers with the HDF5 blosc plugin open it (netCDF4-python's
#: wheels ship it); zlib level 1 with shuffle, readable everywhere, 4.53 s and 1.42 s for 172 MB (HDF5's filter
#: pipeline runs one chunk at a time on one thread).
COMPRESSIONS = (None, "zlib", "blosc_zstd")
DEFAULT_COMPRESSION = None
#: HDF5's blosc filter fails ("Buffer is uncompressible", an HDF error) on a chunk it cannot shrink, which
#: small chunks (under ~1 KB) always are: chunks under this size are zlib-compressed (they cost nothing).
BLOSC_MIN_CHUNK_BYTES = 1 << 16



def encode_attrs(attrs: dict) -> dict:
    out, encoded = {}, []
    for k, v in attrs.items():
        if isinstance(v, dict | list | tuple | bool) or v is None:
            out[k] = json.dumps(v, sort_keys=True)
            encoded.append(k)
        else:
            out[k] = v
    if encoded:
        out[JSON_MARK] = ",".join(encoded)
    return out


def decode_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    for k in filter(None, str(attrs.pop(JSON_MARK, "")).split(",")):
        attrs[k] = json.loads(attrs[k])
    for k, v in attrs.items():
        if isinstance(v, np.generic):
            attrs[k] = v.item()
    return attrs


def variable_encoding(ds: xr.Dataset, compression: str | None = DEFAULT_COMPRESSION, *,
                      chunked: bool = False, trial_chunk: int = 0) -> dict:
    """How each float variable is laid out: contiguous when uncompressed (fastest to read, no filter), otherwise
    compressed (``COMPRESSIONS``, level 1, byte shuffle) in chunks of trial blocks (and predictor blocks).
    ``chunked``: uncompressed in those chunks, with no filter either (a streamed run grows along ``trial``, which
    needs chunks; zlib there made a stream 2–4× slower than the run in memory plus a save). ``trial_chunk``: the
    trials of a chunk, when not ``TRIAL_CHUNK`` (a stream's recorded trials per block: a chunk written by
    several blocks is read back and written again by each)."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}; got {compression!r}")
    zlib = {"zlib": True, "complevel": 1, "shuffle": True}
    codec = {"blosc_zstd": {"compression": "blosc_zstd", "complevel": 1, "blosc_shuffle": 1}, "zlib": zlib,
             None: {}}[compression]
    enc = {}
    for name in ds.data_vars:
        if name not in _COMPRESSED:
            continue
        if compression is None and not chunked:
            enc[name] = {"dtype": "float32", "contiguous": True}
            continue
        var = ds[name]
        chunks = []
        for dim, size in zip(var.dims, var.shape, strict=True):
            if dim == "trial":
                chunks.append(max(1, min(size, trial_chunk or TRIAL_CHUNK)))
            elif dim == "predictor":
                chunks.append(max(1, min(size, 64)))
            else:
                chunks.append(max(1, size))
        if compression is None:
            enc[name] = {"dtype": "float32", "chunksizes": tuple(chunks)}
            continue
        small = np.prod(chunks) * 4 < BLOSC_MIN_CHUNK_BYTES
        enc[name] = {**(zlib if compression == "blosc_zstd" and small else codec), "dtype": "float32",
                     "chunksizes": tuple(chunks)}
    return enc
