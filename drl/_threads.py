"""One torch thread for work made of many tiny operations.

Tensors of a few hundred numbers gain nothing from intra-op threads, and beside a busy process every operation
waits at a barrier for a thread that is not scheduled: measured on 2 cores beside one busy process, an epoch of
a SPICE RNN's step-by-step torch path took 37 ms on one thread and 72 ms on two (docs/guide/spice_reference.md, ``fit_model``).
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["one_torch_thread"]


@contextlib.contextmanager
def one_torch_thread():
    """Run the block on one torch thread, then restore the caller's setting (also after an error)."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
