"""drl._parallel.run_ranges: every range exactly once, on the threads asked for, errors handed to the caller."""

import threading
import time

import pytest

from drl._parallel import run_ranges


@pytest.mark.parametrize("n_items, chunk, n_threads", [(0, 4, 2), (1, 4, 2), (10, 3, 1), (10, 3, 2), (64, 16, 4),
                                                      (65, 16, 2), (7, 100, 3)])
def test_every_range_once(n_items, chunk, n_threads):
    calls = []
    lock = threading.Lock()

    def kernel(start, stop, tag):
        with lock:
            calls.append((start, stop, tag))

    run_ranges(kernel, n_items, chunk, ("x",), n_threads)
    expected = [(s, min(n_items, s + chunk), "x") for s in range(0, n_items, chunk)]
    assert sorted(calls) == expected


def test_slow_thread_takes_fewer_ranges():
    # the range handed out first is held up (a thread sharing its core with a busy process): the other thread
    # takes every other range instead of waiting for it. Decided by events, not by timing: range 0 is released
    # only once the other 19 are done, which a static split (each thread owning half) could never do.
    who, lock = {}, threading.Lock()
    others_done = threading.Event()

    def kernel(start, stop):
        if start == 0:
            assert others_done.wait(timeout=60), "the other ranges waited for the held-up one"
        with lock:
            who[start] = threading.current_thread().name
            if len(who) == 19 and 0 not in who:
                others_done.set()

    run_ranges(kernel, 20, 1, (), 2)
    held_up = who[0]
    assert sum(name == held_up for name in who.values()) == 1
    assert len(set(who.values())) == 2


def test_one_thread_runs_in_the_caller():
    names = set()
    run_ranges(lambda start, stop: names.add(threading.current_thread().name), 10, 2, (), 1)
    assert names == {threading.current_thread().name}


@pytest.mark.parametrize("failing_start", [0, 9])
def test_an_error_in_any_thread_reaches_the_caller_and_stops_the_hand_out(failing_start):
    done = []

    def kernel(start, stop):
        if start == failing_start:
            raise ValueError(f"range {start} failed")
        time.sleep(0.01)
        done.append(start)

    with pytest.raises(ValueError, match=f"range {failing_start} failed"):
        run_ranges(kernel, 200, 1, (), 2)
    assert len(done) < 199  # the remaining ranges were not handed out
    assert not [t for t in threading.enumerate() if t.name.startswith("drl-range")]  # helpers joined
