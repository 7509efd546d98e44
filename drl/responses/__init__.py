"""Sources of the responses form: every population's responses, simulated or recorded, in one Dataset.

Layering: a source (a run, a table, spike times or a continuous signal with trial events, an NWB file, pynapple
objects, a lab's MATLAB session files) → the responses form (:mod:`drl.responses.form`) → the analyses of :mod:`drl.decode`, which read the
form alone. ``drl.responses.<name>`` imports on first use.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "is_responses_form": "drl.responses.form",
    "responses_form": "drl.responses.form",
    "combine_sessions": "drl.responses.sessions",
    "responses_from_run": "drl.responses.run",
    "read_table": "drl.responses.table",
    "responses_from_table": "drl.responses.table",
    "Recording": "drl.responses.spikes",
    "responses_from_recording": "drl.responses.recorded",
    "RESPONSE_WINDOW": "drl.responses.spikes",
    "BASELINE_WINDOW": "drl.responses.spikes",
    "read_nwb": "drl.responses.nwb",
    "recording_from_pynapple": "drl.responses.nwb",
    "write_nwb": "drl.responses.nwb",
    "recording_from_run": "drl.responses.synthetic",
    "read_commonformat": "drl.responses.commonformat",
    "TrialCode": "drl.responses.commonformat",
    "ESHEL2016_TRIAL_TYPES": "drl.responses.commonformat",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'drl.responses' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
