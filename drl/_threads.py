"""One torch thread for work made of many tiny operations.

Tensors of a few hundred numbers gain nothing from intra-op threads, and beside a busy process every operation
waits at a barrier for a thread that is not scheduled: the imputed bootstrap went 9.5 → 6.7 s idle and
31.9 → 8.7 s beside one busy process on 2 cores; a SPICE forward pass, 2.4 s → 0.1 s beside one.
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
