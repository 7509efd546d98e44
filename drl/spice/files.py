"""The files of a SPICE model: its distilled equations (JSON, under a declared schema) and its RNN weights
(torch's zip format, read with ``weights_only``: no code runs), written atomically and read with checks that
name the file and the field.
"""

from __future__ import annotations

import io
import json
import pickle
import secrets
from pathlib import Path

import numpy as np
import torch

from drl._atomic import write_atomic
from drl._files import readable_file
from drl._validate import check_document
from drl.runs.publishing import clean_stale_temps
from drl.spice.sindy import SindyEquation

__all__ = ["CONSTANTS", "EQUATIONS_SCHEMA", "MAX_EQUATIONS_BYTES", "MAX_WEIGHTS_BYTES", "equations_to_json",
           "load_model", "read_equations", "read_weights", "save_model", "save_weights", "upgrade_constants"]

_FORMAT = "drl.spice.equations"
#: The largest equations file read: a model's equations are kilobytes (1000 participants × 5 modules ≈ 5 MiB)
MAX_EQUATIONS_BYTES = 64 * 2**20
_NAMES = {"type": "array", "items": {"type": "string"}}
#: What ``save_spice`` writes for the equations: checked before any coefficient reaches a model
EQUATIONS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "drl SPICE equations",
    "type": "object",
    "required": ["format", "rnn_class", "equations"],
    "properties": {
        "format": {"const": _FORMAT},
        "version": {"type": "integer"},
        "rnn_class": {"type": "string"},
        "pair": {"type": "string"},
        "equations": {
            "type": "object", "minProperties": 1, "propertyNames": {"pattern": "^[0-9]+$"},
            "additionalProperties": {  # participant id → {module: equation}
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["module", "feature_names", "coefficients", "controls", "degree", "n_samples"],
                    "properties": {
                        "module": {"type": "string"}, "feature_names": _NAMES, "controls": _NAMES,
                        "coefficients": {"type": "array", "items": {"type": "number"}},
                        "degree": {"type": "integer", "minimum": 0, "maximum": 10},
                        "n_samples": {"type": "integer", "minimum": 0},
                        "exponents": {"type": ["array", "null"], "items": {
                            "type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 10}}},
                        "output_range": {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 2,
                                         "maxItems": 2},
                    },
                },
            },
        },
    },
}


def equations_to_json(rnn_class: str, equations: dict) -> dict:
    """``{participant: {module: SindyEquation}}`` as plain JSON data (no pickle)."""
    return {"format": _FORMAT, "version": 1, "rnn_class": rnn_class, "equations": {
        str(pid): {m: {"module": eq.module, "feature_names": list(eq.feature_names),
                       "coefficients": [float(c) for c in eq.coefficients], "controls": list(eq.controls),
                       "degree": int(eq.degree), "n_samples": int(eq.n_samples),
                       "exponents": eq.exponents.tolist(),
                       "output_range": None if eq.output_range is None else [float(v) for v in eq.output_range]}
                   for m, eq in modules.items()}
        for pid, modules in equations.items()}}


def read_equations(path: Path, trust: bool) -> dict:
    """``{"rnn_class": …, "equations": {participant: {module: SindyEquation}}}`` from a file save_spice wrote."""
    raw = readable_file(path, "SPICE equations file", max_bytes=MAX_EQUATIONS_BYTES).read_bytes()
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM (Notepad) is not part of the JSON
    if not raw.strip():
        raise ValueError(f"{path} is empty: not a SPICE equations file (save_spice writes JSON)")
    if raw[:1] == b"\x80":  # the PROTO opcode every pickle since protocol 2 starts with
        if not trust:
            raise ValueError(f"{path} is a pickle (written by an older drl, or not by drl): unpickling can run "
                             "arbitrary code. Load it with load_spice(..., trust=True) only if you trust its source; "
                             "save_spice then rewrites it as JSON")
        return pickle.loads(raw)  # noqa: S301 - explicitly trusted by the caller
    if raw.lstrip()[:1] != b"{":
        raise ValueError(f"{path} is not a SPICE equations file written by save_spice (neither its JSON nor an old "
                         "pickle)")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{path} is not a SPICE equations file written by save_spice ({e})") from None
    try:
        check_document(data, EQUATIONS_SCHEMA, "", "the document")
    except ValueError as e:
        raise ValueError(f"{path} is not a SPICE equations file written by save_spice ({str(e).removeprefix(': ')})"
                         ) from None
    try:
        equations = {int(pid): {m: SindyEquation(e["module"], list(e["feature_names"]),
                                                 np.asarray(e["coefficients"], dtype=np.float64), list(e["controls"]),
                                                 int(e["degree"]), int(e["n_samples"]), e.get("exponents"),
                                                 e.get("output_range"))
                                    for m, e in modules.items()}
                     for pid, modules in data["equations"].items()}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise ValueError(f"{path} is not a SPICE equations file written by save_spice ({e})") from None
    return {"rnn_class": data.get("rnn_class"), "equations": equations, "pair": data.get("pair")}


#: The most a SPICE weights file may declare (a deflated archive once unpacked 510 kB into 512 MB)
MAX_WEIGHTS_BYTES = 64 * 2**20


def read_weights(path: Path) -> dict:
    """A weights file save_spice wrote (``torch.load(weights_only=True)``: no code runs), checked: a state dict of
    finite tensors. A ValueError names the file and what is wrong."""
    import zipfile

    readable_file(path, "SPICE weights file")
    if zipfile.is_zipfile(path):  # torch.save writes a zip archive: its declared sizes are known before reading
        with zipfile.ZipFile(path) as archive:
            declared = sum(member.file_size for member in archive.infolist())
        if declared > MAX_WEIGHTS_BYTES:
            raise ValueError(f"{path} declares {declared / 2**20:.0f} MiB of contents ({path.stat().st_size / 2**10:.0f} "
                             f"kiB on disk), more than a SPICE model's weights ({MAX_WEIGHTS_BYTES / 2**20:.0f} MiB at "
                             "most): not read")
    try:
        data = torch.load(path, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch's unpickler fails in many ways (KeyError, EOFError, ...)
        if isinstance(e, OSError) and e.errno is not None:
            raise  # the system's error (permission, a full disk): the file may be fine
        raise ValueError(f"{path} is not a weights file written by save_spice (torch.load: {str(e)[:120]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("state_dict"), dict) or not data["state_dict"]:
        raise ValueError(f"{path} is not a weights file written by save_spice (no state_dict of parameters)")
    for name, value in data["state_dict"].items():
        if not isinstance(value, torch.Tensor) or not bool(torch.isfinite(value).all()):
            raise ValueError(f"{path}: parameter {name!r} is not a finite tensor")
    return data


def save_weights(path, obj) -> None:
    """``torch.save`` into memory, then written atomically beside ``path``: a full disk or a read-only folder is
    the system's ``OSError`` naming the file (torch writing a file itself said ``basic_ios::clear: iostream
    error``)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, buffer.getvalue())

def save_model(rnn_name: str, model, distilled, path_rnn=None, path_spice=None) -> None:
    """Write a SPICE model's weights (``model``'s state, to ``path_rnn``) and/or its distilled equations (to
    ``path_spice``), atomically, the two files paired by one random token."""
    # the two files carry one token: a save killed between them leaves new weights beside old equations,
    # which load_model then refuses instead of loading them as one model
    pair = secrets.token_hex(8)
    for path in (path_rnn, path_spice):
        if path is not None:
            clean_stale_temps(Path(path).parent)  # temporary files of saves killed before
    if path_rnn is not None:
        save_weights(path_rnn, {"rnn_class": rnn_name, "constants": CONSTANTS, "state_dict": model.state_dict(),
                                "pair": pair})
    if path_spice is not None:
        write_atomic(path_spice, json.dumps(equations_to_json(rnn_name, distilled) | {"pair": pair}, indent=1))


def load_model(rnn_name: str, model, path_rnn=None, path_spice=None, trust: bool = False):
    """Read what :func:`save_model` wrote: the weights into ``model`` (checked to be of its structure), and the
    distilled equations returned (None without ``path_spice``; their modules checked to be ``model``'s)."""
    weights = read_weights(Path(path_rnn)) if path_rnn is not None else None
    equations = read_equations(Path(path_spice), trust) if path_spice is not None else None
    if weights is not None and equations is not None and weights.get("pair") != equations.get("pair") \
            and weights.get("pair") is not None and equations.get("pair") is not None:
        raise ValueError(f"{path_rnn} and {path_spice} were written by different save_spice calls (one save "
                         "interrupted between its two files?): they are not one model; save both again")
    if weights is not None:
        _check_structure(rnn_name, model, weights, path_rnn)
        model.load_state_dict(upgrade_constants(model, weights, path_rnn))
    if equations is None:
        return None
    modules = set(next(iter(equations["equations"].values())))
    if not modules <= set(model.submodules_rnn):
        raise ValueError(f"{path_spice} was saved for {equations.get('rnn_class')!r}, whose distilled modules "
                         f"{sorted(modules)} are not all modules of {rnn_name} ({sorted(model.submodules_rnn)})")
    return equations["equations"]


def _check_structure(rnn_name: str, model, data, path) -> None:
    """Weights load into a model of the same structure (same parameter names and shapes), whatever the
    class is called: tutorial 001 loads a precoded model's file into its own copy of that class."""
    saved = {k: tuple(v.shape) for k, v in data["state_dict"].items()}
    here = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if saved != here:
        differ = sorted(set(saved) ^ set(here)) or sorted(k for k in saved if saved[k] != here[k])
        raise ValueError(f"{path} was saved for {data.get('rnn_class')!r}, whose parameters differ from "
                         f"{rnn_name}'s (e.g. {differ[:4]})")


CONSTANTS = "softplus"  # how a weights file stores β: the free parameter under softplus (files before: β itself)


def upgrade_constants(model, data: dict, path) -> dict:
    """The state dict of a weights file, with the β of a file written before β ≥ 0 was enforced (stored as β
    itself) converted to the free parameter; a β < 0 or per-participant β of such a file cannot be, and is
    refused."""
    state = dict(data["state_dict"])
    if data.get("constants") == CONSTANTS:
        return state
    for name, constant in model.betas.items():
        if not constant.non_negative:
            continue
        if constant.embedding_size:
            raise ValueError(f"{path} was saved before drl kept inverse temperatures ≥ 0, and its per-participant "
                             f"beta {name!r} cannot be converted: refit the model")
        key = f"betas.{name}.value"
        value = float(state[key])
        if value <= 0:
            raise ValueError(f"{path} holds beta {name!r} = {value:.4g} ≤ 0, saved before drl kept inverse "
                             "temperatures ≥ 0 (its module learned mirror-image values): refit the model")
        state[key] = torch.tensor(constant._raw(value), dtype=state[key].dtype)
    return state
