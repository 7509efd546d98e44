"""Independent ranges of work spread over threads, each range handed to whichever thread is free next.

The compiled loops (:mod:`drl.engine.compiled.own`, :mod:`drl.spice.compiled`) release the GIL, so plain Python threads run
them in parallel. Numba's own ``prange`` splits the range evenly up front under its OpenMP layer (whatever
``numba.parallel_chunksize`` says), so beside a busy process the thread that shares a core sets the pace and the
others wait at the end; handing out small ranges on demand lets that thread simply take fewer. Each range is
computed by exactly one thread, so results do not depend on the number of threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_ranges(kernel: Callable, n_items: int, chunk: int, args: tuple, n_threads: int) -> None:
    """Call ``kernel(start, stop, *args)`` for the ranges [start, stop) of ``chunk`` items that cover
    ``range(n_items)``, on up to ``n_threads`` threads (the caller's among them).

    An exception in any thread (a KeyboardInterrupt in the caller's included) stops the hand-out; the ranges
    already started finish, then the first exception is raised in the caller.
    """
    starts = list(range(0, n_items, max(1, chunk)))
    n_threads = min(n_threads, len(starts))
    if n_threads <= 1:
        for start in starts:
            kernel(start, min(n_items, start + chunk), *args)
        return
    pending = iter(starts)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def work():
        try:
            while not failures:
                with lock:
                    start = next(pending, None)
                if start is None:
                    return
                kernel(start, min(n_items, start + chunk), *args)
        except BaseException as error:  # noqa: BLE001 - handed to the caller below
            failures.append(error)

    helpers = [threading.Thread(target=work, name=f"drl-range-{i}", daemon=True) for i in range(n_threads - 1)]
    for helper in helpers:
        helper.start()
    try:
        work()
    finally:
        for helper in helpers:
            helper.join()
    if failures:
        raise failures[0]
