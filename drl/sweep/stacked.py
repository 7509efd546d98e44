"""The runs of a sweep stacked along ``run`` from their headers: the fast path of ``open_sweep``.

``xarray.open_mfdataset`` opened and decoded every file (13 ms each) and then compared every coordinate of every
file with xarray's combine machinery: 33–39 s for 1000 runs. A sweep's runs nearly always share their shape, so
here each file's header (its attributes and its small coordinate variables) is read with h5py's low-level calls
(about 3 ms a file, once: the headers are kept in an index beside the runs), and each data variable becomes one
dask array stacked from a lazy read per file. Where the runs do not
share their variables, dimensions and index coordinates, or a coordinate would decode differently from its raw
HDF5 value, :func:`stack_runs` returns None and ``open_sweep`` combines them with xarray as before (outer join,
NaN padding).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["HEADER_INDEX", "index_headers", "run_headers", "stack_runs"]

#: Global attributes of the netCDF-4 layer (``_NCProperties``, ``_Netcdf4…``, ``_nc3_strict``), which netCDF
#: readers hide
_HIDDEN_PREFIXES = ("_NC", "_Netcdf4", "_nc3")


def _attribute(value: np.ndarray):
    """An HDF5 attribute as netCDF4 (and so xarray) returns it: text as str, a one-element array as its item."""
    if value.dtype.kind in "OS":
        text = _text(value)
        return str(text.ravel()[0]) if text.size == 1 else text
    return value.ravel()[0] if value.size == 1 else value


def _text(raw: np.ndarray) -> np.ndarray:
    """Stored text (bytes, or str objects) as a numpy str array, as xarray decodes it."""
    return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in raw.ravel()],
                    dtype=str).reshape(raw.shape)


def _read_low(object_id, space_args=()) -> np.ndarray:
    """An attribute's or a dataset's values through h5py's low-level calls (a tenth of the high-level API's cost,
    which was most of the time for 1000 files); variable-length strings come back as bytes."""
    values = np.empty(object_id.shape, dtype=object_id.dtype)
    if space_args:  # a dataset: read(memory space, file space, array)
        object_id.read(*space_args, values)
    else:  # an attribute: read(array)
        object_id.read(values)
    return values


def _header(path: str, coordinates: list[str], variables: list[str]):
    """A run file's global attributes, its coordinates' values and its variables' shapes, read with h5py."""
    import h5py

    file_id = h5py.h5f.open(path.encode(), h5py.h5f.ACC_RDONLY)
    try:
        names = []
        try:  # in the order they were written, as netCDF readers list them
            h5py.h5a.iterate(file_id, lambda name, *_: names.append(name), index_type=h5py.h5.INDEX_CRT_ORDER)
        except (KeyError, RuntimeError, ValueError):  # a file that did not track their order
            names.clear()
            h5py.h5a.iterate(file_id, lambda name, *_: names.append(name))
        attrs = {name.decode(): _attribute(_read_low(h5py.h5a.open(file_id, name))) for name in names
                 if not name.decode().startswith(_HIDDEN_PREFIXES)}
        values, shapes = {}, {}
        for name in coordinates:
            if file_id.links.exists(name.encode()):
                raw = _read_low(h5py.h5d.open(file_id, name.encode()), (h5py.h5s.ALL, h5py.h5s.ALL))
                values[name] = _text(raw) if raw.dtype.kind in "OS" else raw
        for name in variables:
            shapes[name] = (h5py.h5d.open(file_id, name.encode()).shape
                            if file_id.links.exists(name.encode()) else None)
    finally:
        file_id.close()
    return attrs, values, shapes


def _read(path: str, name: str) -> np.ndarray:
    """One variable of one run file, at compute time (the stacked array is lazy). h5py, not netCDF4: dask reads
    runs on several threads, and the netCDF-C library is not thread-safe (it crashed the process); h5py holds its
    own lock. Only variables whose stored values are their decoded values come this way (see ``_plain``)."""
    import h5py

    with h5py.File(path, "r") as file:
        return file[name][()]


def _plain(variable: xr.Variable) -> bool:
    """A variable whose values on disk are its values: a number type, no scale or offset, a NaN fill or none."""
    encoding = variable.encoding
    fill = encoding.get("_FillValue")
    return (variable.dtype.kind in "fiub" and encoding.get("dtype", variable.dtype) == variable.dtype
            and "scale_factor" not in encoding and "add_offset" not in encoding
            and (fill is None or (variable.dtype.kind == "f" and np.isnan(fill))))


def _stacked(files: list, name: str, variable: xr.DataArray, token: str):
    """Variable ``name`` of every run as one dask array ``[run, *dims]``, a chunk per run read when computed (one
    graph layer: a delayed object per file cost 1 s of tokenising for 1000 runs)."""
    import dask.array as da

    paths = [os.path.abspath(path) for path in files]  # computed by Dask workers, whose folder may differ

    def block(block_id=None):
        return _read(paths[block_id[0]], name)[np.newaxis]

    chunks = ((1,) * len(paths), *((size,) for size in variable.shape))
    return da.map_blocks(block, chunks=chunks, dtype=variable.dtype, meta=np.empty((0,) * (variable.ndim + 1),
                         dtype=variable.dtype), name=f"sweep-{name}-{token}")


#: The headers of a sweep's run files, kept beside them: a cache keyed by each file's size and modification time
#: (a rewritten run is read again), so that opening a 1000-run sweep reads 1000 small headers once, not each time
HEADER_INDEX = ".run_headers.json"


def _to_json(value):
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    return {"dtype": array.dtype.str, "shape": list(array.shape), "values": array.ravel().tolist(),
            "scalar": not isinstance(value, np.ndarray)}


def _from_json(entry):
    if isinstance(entry, str):
        return entry
    array = np.array(entry["values"], dtype=np.dtype(entry["dtype"])).reshape(entry["shape"])
    return array[()] if entry["scalar"] else array


def _template(path) -> tuple[xr.Dataset, dict]:
    """The first run, opened by xarray (its variables, dimensions, attributes and decoding), and its coordinates'
    decoded values."""
    with xr.open_dataset(path, engine="netcdf4", decode_timedelta=False) as first:
        return first.copy(deep=False), {name: first[name].values for name in first.coords}


def index_headers(files: list) -> None:
    """Bring the folder's header index up to date with ``files`` (a sweep does this as it ends, so that its first
    ``open_sweep`` reads no file's header)."""
    template, first_values = _template(files[0])
    run_headers(files, list(first_values), list(template.data_vars))


def run_headers(files: list, coordinates: list[str], variables: list[str], *,
                skip_unreadable: bool = False) -> list[tuple[dict, dict, dict] | None]:
    """``(attrs, coordinate values, variable shapes)`` of each run file, from the folder's header index where a
    file is unchanged since it was indexed, else read (and the index rewritten atomically; a folder that cannot
    be written to is only slower). A file whose header cannot be read raises OSError naming it, or gives None
    with ``skip_unreadable``."""
    import json

    from drl._atomic import write_atomic

    index_path = Path(files[0]).parent / HEADER_INDEX
    try:
        index = json.loads(index_path.read_text()) if index_path.is_file() else {}
        index = index if isinstance(index, dict) else {}
    except (OSError, ValueError):
        index = {}  # a damaged index is rebuilt from the files, which are the truth
    headers, changed = [], False
    for path in files:
        stat = os.stat(path)
        entry = index.get(Path(path).name)
        try:
            if (entry["size"], entry["mtime_ns"]) != (stat.st_size, stat.st_mtime_ns) or not (
                    set(coordinates) <= set(entry["values"]) and set(variables) <= set(entry["shapes"])):
                raise KeyError
            header = ({k: _from_json(v) for k, v in entry["attrs"].items()},
                      {k: _from_json(entry["values"][k]) for k in coordinates},
                      {k: None if entry["shapes"][k] is None else tuple(entry["shapes"][k]) for k in variables})
        except (KeyError, TypeError, ValueError):
            try:
                header = _header(str(path), coordinates, variables)
            except (OSError, KeyError, ValueError) as error:
                if not skip_unreadable:
                    raise OSError(f"cannot read the header of the run file {path}: {error}") from error
                headers.append(None)
                continue
            index[Path(path).name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                                      "attrs": {k: _to_json(v) for k, v in header[0].items()},
                                      "values": {k: _to_json(v) for k, v in header[1].items()},
                                      "shapes": header[2]}
            changed = True
        headers.append(header)
    if changed:
        with contextlib.suppress(OSError):
            write_atomic(index_path, json.dumps(index))
    return headers


def _drop_conflicts(all_attrs: list[dict]) -> dict:
    """xarray's ``combine_attrs="drop_conflicts"``: each attribute of any run, unless two runs disagree on it."""
    kept, dropped = {}, set()
    for attrs in all_attrs:
        for name, value in attrs.items():
            if name in dropped:
                continue
            if name not in kept:
                kept[name] = value
            elif not _same(kept[name], value):
                del kept[name]
                dropped.add(name)
    return kept


def _same(a, b) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return False


def stack_runs(files: list[str], run_coordinates) -> tuple[xr.Dataset, list[dict]] | None:
    """The runs of ``files`` as one lazy Dataset along a new ``run`` dimension, and each run's raw attributes; None
    when they cannot be stacked this way (different variables, sizes or index coordinates).

    Args:
      files: the run files, in ``run`` order.
      run_coordinates: ``run_coordinates(raw_attrs)`` gives the ``run`` coordinates of one run (its index, its
        swept fields) from its attributes as stored.

    Returns ``(dataset, raw_attrs)``: data variables as dask arrays (one chunk per run); a coordinate equal in
    every run keeps its dimensions, one that differs gains ``run`` (as ``open_mfdataset(coords="different")``);
    the global attributes every run agrees on (``combine_attrs="drop_conflicts"``).
    """
    import dask

    template, first_values = _template(files[0])
    coordinates, data_names = list(first_values), list(template.data_vars)
    headers = run_headers(files, coordinates, data_names)
    attrs0, values0, shapes0 = headers[0]
    for name in coordinates:  # the raw values decode as xarray decodes them (else the slow path decides)
        if name not in values0 or values0[name].dtype.kind != first_values[name].dtype.kind or not np.array_equal(
                values0[name], first_values[name], equal_nan=first_values[name].dtype.kind == "f"):
            return None
    if any(shapes0[name] != template[name].shape or not _plain(template[name].variable) for name in data_names):
        return None
    for _, values, shapes in headers[1:]:
        if shapes != shapes0 or set(values) != set(values0):
            return None
        for name in template.indexes:  # index coordinates must agree: otherwise an outer join pads with NaN
            if not np.array_equal(values[name], values0[name]):
                return None

    token = dask.base.tokenize([(str(path), os.stat(path).st_mtime_ns) for path in files])
    data_vars = {name: (("run", *template[name].dims), _stacked(files, name, template[name], token),
                        template[name].attrs) for name in data_names}
    coords = {}
    for name in coordinates:
        variable = template[name]
        runs = [values[name] for _, values, _ in headers]
        if name in template.indexes or all(np.array_equal(r, runs[0], equal_nan=r.dtype.kind == "f") for r in runs):
            coords[name] = (variable.dims, runs[0], variable.attrs)
        else:
            coords[name] = (("run", *variable.dims), np.stack(runs), variable.attrs)
    raw_attrs = [attrs for attrs, _, _ in headers]
    run_coords = [run_coordinates(attrs) for attrs in raw_attrs]
    for name in run_coords[0]:
        coords[name] = ("run", [c[name] for c in run_coords])
    return xr.Dataset(data_vars, coords, attrs=_drop_conflicts(raw_attrs)), raw_attrs
