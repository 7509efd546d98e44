"""The compiled trial loop (drl.engine.compiled.own) against the torch kernel; its place in runs (stored, rerun, streamed).

The slow references of tests/test_engine.py check both kernels on every rule × update × features × convention
and the drl_sim preset; here: long float32 runs, recording subsets, thread counts, storage and errors.
"""

import warnings

import numpy as np
import pytest

import drl
from drl import Population

POP = Population.sample(12, tau=(0.1, 0.9), alpha=(0.02, 0.2), gamma=(0.5, 1.0), lam=(0.0, 1.0), seed=3)


def both(task, n_trials, **kw):
    return [drl.simulate(task, POP, n_trials, progress=False, kernel=k, **kw) for k in ("torch", "compiled")]


@pytest.mark.parametrize("features, update", [("csc", "offline"), ("microstimulus", "online"),
                                              ("microstimulus", "offline")])
@pytest.mark.slow
def test_long_float32_runs_agree_to_rounding(features, update):
    torch_run, compiled_run = both("dabney_variable_magnitude", 3000, features=features, update=update)
    scale = float(np.abs(torch_run.value.values).max())
    for name in ("value", "rpe", "weights"):
        np.testing.assert_allclose(compiled_run[name].values, torch_run[name].values, atol=2e-5 * scale, rtol=0)
    assert torch_run.attrs["options"]["kernel"] == "torch" and compiled_run.attrs["options"]["kernel"] == "compiled"


@pytest.mark.slow
def test_float64_quantile_runs_agree_exactly_enough():
    # the quantile rule's step is ±α by the sign of δ: float32 rounding can flip a sign near δ = 0 and the runs
    # then part by α; in float64 they agree to 1e-9 over thousands of trials
    torch_run, compiled_run = both("lowet_2025", 2000, rule="quantile", dtype="float64", update="online",
                                   features="microstimulus")
    np.testing.assert_allclose(compiled_run.value.values, torch_run.value.values, atol=1e-9)


def test_recording_subsets_and_streaming_agree():
    kw = dict(record_trials=7, record_times=[0.0, 1.0, 1.5, 2.5], record=("value", "rpe"), seed=2)
    torch_run, compiled_run = both("lowet_2025", 300, **kw)
    np.testing.assert_allclose(compiled_run.rpe.values, torch_run.rpe.values, atol=1e-5)
    assert compiled_run.sizes["time"] == 4 and "reward" not in compiled_run
    streamed = drl.simulate("lowet_2025", POP, 300, progress=False, out="streamed", block_trials=37, **kw)
    np.testing.assert_array_equal(streamed.value.values, compiled_run.value.values)
    floats64 = drl.simulate("lowet_2025", POP, 300, progress=False, dtype="float64", block_trials=50, **kw)
    np.testing.assert_allclose(floats64.value.values, compiled_run.value.values, atol=1e-4)


def test_identical_for_any_number_of_threads(monkeypatch):
    import numba

    from drl.engine.compiled import own as compiled

    monkeypatch.setattr(compiled, "PARALLEL_MIN_WORK", 0)  # a run this small would otherwise take one thread
    seen = []
    original = compiled._block_lanes

    def spy(start, stop, lanes, *args):
        seen.append((numba.get_num_threads(), start, stop, lanes))  # thread budget, range of predictors, lanes
        return original(start, stop, lanes, *args)

    monkeypatch.setattr(compiled, "_block_lanes", spy)
    before = numba.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            runs.append(drl.simulate("hyp_var", POP, 500, progress=False, seed=1))
            assert numba.get_num_threads() == threads  # the caller's count is left as it was
    finally:
        numba.set_num_threads(before)
    assert sorted(set(seen)) == [(1, 0, 12, 12), (2, 0, 8, 8), (2, 8, 12, 8)]  # 12 lanes on 1 thread; 8 + 4 on 2
    np.testing.assert_array_equal(runs[0].value.values, runs[1].value.values)
    np.testing.assert_array_equal(runs[0].weights.values, runs[1].weights.values)


def test_small_calls_run_on_one_thread():
    import numba

    from drl.engine.compiled import own as compiled

    assert compiled._threads(20 * 200 * 71) == 1  # drl_sim's notebook: a thread barrier would cost more
    assert compiled._threads(int(compiled.PARALLEL_MIN_WORK)) == numba.get_num_threads()


VECTORISED_RULE = """
import re, numba
from drl.engine.compiled import own as compiled
a1, a2, a3, i1 = numba.float32[::1], numba.float32[:, ::1], numba.float32[:, :, ::1], numba.int64[::1]
flag, n = numba.boolean, numba.int64
signature = (n, n, n, a3, a3, i1, flag, i1, a2, i1, i1, a3, a3, flag, flag, a1, a1, a1, a1, a3, flag, a1, flag, flag,
             flag)
fresh = numba.njit(fastmath=False, nogil=True)(compiled._block_lanes.py_func)  # not the cached build
fresh.compile(signature)
ir = next(iter(fresh.inspect_llvm().values()))
print(len(re.findall(r"fcmp ogt <\\d+ x float>", ir)), len(re.findall(r"fcmp olt <\\d+ x float>", ir)))
"""


@pytest.mark.slow
def test_the_learning_rule_compiles_to_vector_code():
    """The lanes loop's point is SIMD: each step one vector operation over a group of predictors. A branch on the
    sign of δ (the rule) kept LLVM from vectorising the trace-sum loop, which then ran 4-5x slower. The
    optimised IR of a fresh build must test the sign of δ on vectors: δ > 0 for both rules, δ < 0 for the
    quantile rule (the scalar build had one vector δ > 0, in a side loop, and no vector δ < 0)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", VECTORISED_RULE], capture_output=True, text=True, check=True)
    greater, less = map(int, out.stdout.split())
    assert greater >= 2 and less >= 1, out.stdout


def test_kernel_is_stored_and_reruns_bit_for_bit():
    run = drl.simulate("hyp_unif", POP, 200, progress=False)
    assert run.attrs["options"]["kernel"] == "compiled"
    again = drl.rerun(drl.load(drl.save(run, "k")))
    np.testing.assert_array_equal(again.value.values, run.value.values)
    old = run.copy()  # a run stored before the compiled kernel: rerun with the torch kernel it was made with
    old.attrs["options"] = {k: v for k, v in run.attrs["options"].items() if k != "kernel"}
    with_torch = drl.simulate("hyp_unif", POP, 200, progress=False, kernel="torch")
    np.testing.assert_array_equal(drl.rerun(old).value.values, with_torch.value.values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        random = drl.simulate("hyp_unif", POP, 20, progress=False, bootstrap="random", rule="quantile")
    assert random.attrs["options"]["kernel"] == "torch"  # "auto" where the compiled loop does not apply


def test_kernel_errors_and_diverging_runs_name_the_trial():
    with pytest.raises(ValueError, match="kernel='compiled' needs the CPU and bootstrap='own'.* got bootstrap='random'"):
        drl.simulate("hyp_unif", POP, 5, kernel="compiled", bootstrap="random", rule="quantile", progress=False)
    with pytest.raises(ValueError, match="unknown kernel 'numba'"):
        drl.simulate("hyp_unif", POP, 5, kernel="numba", progress=False)
    huge = drl.Task("huge", 0.5, 0.1, (drl.TrialType("a", 0.0, (drl.RewardEvent(0.2, magnitudes=(2e38,)),
                                                                drl.RewardEvent(0.4, magnitudes=(2e38,)))),))
    pop = Population.sample(alpha_pos=np.array([1.0, 1e-30, 1.0]), alpha_neg=np.array([1.0, 1e-30, 1.0]), lam=1.0)
    with pytest.raises(drl.NonFiniteValueError, match=r"non-finite at trial 0 for predictor\(s\) #0 .*#2 "):
        drl.simulate(huge, pop, 50, progress=False, kernel="compiled")


def test_block_sizes_and_results_that_do_not_depend_on_them():
    from drl.engine.blocks import default_block
    from drl.runs.encoding import TRIAL_CHUNK

    # written straight into the result: ~1e8 predictor-steps a block (few hand-outs to threads)
    assert default_block(1000, 71, 10_000, streamed=False, direct=True) == 1408
    assert default_block(20, 71, 10**6, streamed=False, direct=True) == int(16e6 // (8 + 12 * 71))  # schedule cap
    # a block buffer (float64, CUDA) or a stream: ~64 MB of recording; streams in whole file chunks
    assert default_block(1000, 71, 10_000, streamed=False, direct=False) == 112
    streamed = default_block(1000, 71, 10_000, streamed=True, direct=True)
    assert streamed % TRIAL_CHUNK == 0 and streamed <= 500
    whole = drl.simulate("hyp_var", POP, 700, progress=False, seed=4)
    for block in (1, 64, 699):
        again = drl.simulate("hyp_var", POP, 700, progress=False, seed=4, block_trials=block)
        np.testing.assert_array_equal(again.value.values, whole.value.values)
        np.testing.assert_array_equal(again.weights.values, whole.weights.values)
