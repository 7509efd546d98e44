"""Runs give the same decoded numbers through the responses form as they did before it (every built-in task).

``tests/data/decode_reference.npz`` holds every decoder's numbers on a small τ × γ run of each built-in task,
written by ``tests/decode_reference.py`` with the code before the redesign (commit 4137a18). Every number must
come out again (to float rounding: means are now summed over the form's trials instead of by a matrix
product), and every case that was refused must still be refused with the same error type.
"""

import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)

from decode_reference import all_numbers  # noqa: E402

pytestmark = pytest.mark.slow  # its reference runs take ~25 s to build


@pytest.fixture(scope="module")
def now_and_then():
    before = np.load(os.path.join(HERE, "data", "decode_reference.npz"))
    return all_numbers(), {key: before[key] for key in before.files}


def test_every_decoder_gives_the_numbers_it_gave_before_the_responses_form(now_and_then):
    now, before = now_and_then
    assert len(before) > 700
    errors = sorted(k for k in before if k.endswith("/error"))
    assert {k: str(now.get(k)) for k in errors} == {k: str(before[k]) for k in errors}
    different = []
    for key in sorted(set(before) - set(errors)):
        assert key in now, f"{key} is no longer computed"
        if "/cue_responses_value/" in key and key.rsplit("/", 1)[1] in ("response", "amplitude"):
            continue  # one deliberate change, checked below
        if not np.allclose(now[key], before[key], rtol=1e-9, atol=1e-12, equal_nan=True):
            different.append(f"{key}: {np.nanmax(np.abs(now[key] - before[key]))}")
    assert not different, different


def test_cue_responses_of_the_value_read_the_discounted_return_as_cue_values_does(now_and_then):
    """The one deliberate change: ``cue_responses(response="value")`` reads γ^dt·V_cue, the discounted return
    that ``cue_values(source="value")`` always read (γ^delay per unit reward, amplitude 1), instead of V_cue
    (γ^(delay − dt), amplitude γ^−dt). γ̂ is the same (compared above); response and amplitude are the old ones
    times each predictor's γ^dt."""
    now, before = now_and_then
    keys = [k for k in before if k.endswith("/cue_responses_value/response")]
    assert len(keys) >= 3
    for key in keys:
        amplitude = key.replace("/response", "/amplitude")
        factor = now[amplitude] / before[amplitude]  # γ^dt per predictor
        assert np.all((factor > 0.5) & (factor < 1)), key
        np.testing.assert_allclose(now[key], before[key] * factor[:, None], rtol=1e-9, err_msg=key)
