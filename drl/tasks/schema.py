"""The declared schema of a task spec document (TOML or JSON, :meth:`drl.Task.from_dict`), checked with
jsonschema before any field reaches the task's classes.

Why a schema, and this library: a spec arrives as nested tables from a file someone wrote by hand, and what goes
wrong there is structure and type (a magnitude given as text, a list where a number belongs, a 10⁵-deep nesting);
JSON Schema states all of it in one declarative place that documents the format too, and jsonschema (already
drl's validator of stored runs' attributes, ``drl.runs.schema.RUN_ATTRIBUTES``) reports the path of the first
field that fails. The values' meaning (a delay ≥ 0, probabilities summing to 1) stays with the classes, which
check themselves however they are built.
"""

from __future__ import annotations

__all__ = ["TASK_SPEC"]

_NUMBER = {"type": "number"}
_TEXT = {"type": "string"}
_NUMBERS = {"type": "array", "items": _NUMBER, "minItems": 1}

REWARD_EVENT = {
    "type": "object",
    "required": ["time"],
    "additionalProperties": False,
    "properties": {
        "time": _NUMBER,
        "magnitudes": _NUMBERS,
        "probabilities": {"anyOf": [_NUMBERS, {"type": "null"}]},
        "delivery_probability": _NUMBER,
        "jitter": _NUMBER,
        "sd": _NUMBER,
    },
}

TRIAL_TYPE = {
    "type": "object",
    "required": ["name", "cue_time"],
    "additionalProperties": False,
    "properties": {"name": _TEXT, "cue_time": _NUMBER, "rewards": {"type": "array", "items": REWARD_EVENT},
                   "frequency": _NUMBER},
}

#: A task spec: what ``Task.to_dict`` writes and ``Task.from_dict`` reads
TASK_SPEC = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "drl task spec",
    "type": "object",
    "required": ["name", "duration", "dt", "trial_types"],
    "additionalProperties": False,
    "properties": {
        "name": _TEXT,
        "duration": _NUMBER,
        "dt": _NUMBER,
        "trial_types": {"type": "array", "items": TRIAL_TYPE, "minItems": 1},
        "reference": _TEXT,
        "notes": _TEXT,
        "units": _TEXT,
        "utility": {"anyOf": [{"type": "null"}, {"type": "object", "additionalProperties": False,
                                                  "properties": {"kind": _TEXT, "parameter": _NUMBER}}]},
    },
}
