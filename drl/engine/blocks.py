"""The engine's trial loop: trials drawn (:mod:`drl.tasks.schedule`), simulated (the torch kernel or the compiled
loop) and recorded (:mod:`drl.engine.sinks`) block by block, so memory stays bounded by a block whatever the run
length when the run is streamed to a file. Trials are sequential by nature (each learns from the last), so the
only Python loop is over trials, and only where the loop is not compiled.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from drl.engine.compiled import imputed as compiled_imputed
from drl.engine.compiled import own as compiled
from drl.engine.kernel import TrialKernel, check_finite, flush_denormals, torch_threads
from drl.runs.encoding import TRIAL_CHUNK
from drl.runs.paths import resume_hint

__all__ = ["all_finite", "check_progress", "default_block", "run_blocks", "writes_direct"]

_BLOCK_BYTES = 64e6  # a block's recording buffers (value and rpe) hold about this much
_BLOCK_WORK = 1e8  # predictor-steps per block when trials are written straight into the result (~0.1-1 s)
_SCHEDULE_BYTES = 16e6  # a block's schedule draw holds at most about this much


def default_block(n_predictors: int, n_steps: int, n_trials: int, streamed: bool, direct: bool = False) -> int:
    """Trials per block.

    A run written straight into its result (in memory, CPU, float32) needs no recording buffer, so its blocks are
    sized by work (~1e8 predictor-steps, so the progress bar still moves) and by the schedule draw: every block
    costs a hand-out of work to threads and ends when its last range is done. Beside a busy process, 1000
    predictors × 2000 trials, V and δ recorded, ran 1.8x slower than idle in blocks of 112 trials (64 MB of
    recording) and 1.3x in blocks of 1408 (1e8) or in one block.

    Otherwise blocks hold ~64 MB of recording. A streamed run also checkpoints at least every 5 % of its trials
    (what a resume can lose), and writes whole file chunks: blocks are multiples of the file's trial chunk, so
    HDF5 never decompresses and recompresses a chunk that two blocks share (3-10x slower streams)."""
    if direct and not streamed:
        block = min(int(_BLOCK_WORK // max(1, n_predictors * n_steps)), int(_SCHEDULE_BYTES // (8 + 12 * n_steps)))
        return max(1, min(n_trials, block))
    block = int(_BLOCK_BYTES // max(1, n_predictors * n_steps * 4 * 2))
    if streamed:
        block = min(block, max(100, -(-n_trials // 20)))
        block = max(TRIAL_CHUNK, block - block % TRIAL_CHUNK)
    return max(1, min(n_trials, block))


def all_finite(weights: torch.Tensor) -> bool:
    """Whether every weight is finite (numpy on the CPU: torch's call costs ~0.1 ms, 3 % of a small run)."""
    if weights.device.type == "cpu":
        return bool(np.isfinite(weights.numpy()).all())
    return bool(torch.isfinite(weights).all())


def writes_direct(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether trials are written straight into the result arrays (no block buffer): CPU float32 runs."""
    return device.type == "cpu" and dtype == torch.float32


def check_progress(progress) -> None:
    if progress is not None and not isinstance(progress, bool | np.bool_):
        raise TypeError(f"progress must be True, False or None (automatic); got {progress!r}")


def run_blocks(kernel: TrialKernel, sink, weights: torch.Tensor, *, task, population, n_trials, seed, trials, steps,
         record, schedule, block_trials, start, progress) -> xr.Dataset:
    """The trial loop from trial ``start`` (weights and bootstrap state as of then), block by block, into ``sink``."""
    dev, dtype = kernel.device, kernel.dtype
    p, k = population.n_predictors, task.n_steps
    drawer = task.schedule_blocks(n_trials, seed, start=start) if schedule is None else None
    steps_dev = torch.as_tensor(steps, device=dev)
    all_steps = len(steps) == k
    block_starts = np.arange(start, n_trials, block_trials)
    first_recorded = np.searchsorted(trials, block_starts)  # index into trials of each block's first recorded trial
    last_recorded = np.searchsorted(trials, np.minimum(block_starts + block_trials, n_trials))
    direct = sink.direct_views() if writes_direct(dev, dtype) else None
    if direct is not None:
        v_buf, d_buf = direct  # in-memory CPU run: each trial is written straight into its slot of the result
    else:
        # One reusable block buffer per recorded variable (allocating per block would page-fault every time).
        max_keep = int((last_recorded - first_recorded).max()) if len(block_starts) else 0
        v_buf = torch.empty(p, max_keep, len(steps), dtype=dtype, device=dev) if "value" in record else None
        d_buf = torch.empty(p, max_keep, len(steps), dtype=dtype, device=dev) if "rpe" in record else None

    def run_block(block_start, types, rewards, recorded, first_slot, check_each_trial):
        slot = first_slot
        for i in range(len(types)):
            m = int(types[i])
            w = weights[m]
            v, d = kernel.trial(w, m, rewards[i])
            if check_each_trial:
                check_finite(w, block_start + i, population)
            if recorded[i]:
                if v_buf is not None:
                    v_buf[:, slot] = v if all_steps else v[:, steps_dev]
                if d_buf is not None:
                    d_buf[:, slot] = d if all_steps else d[:, steps_dev]
                slot += 1
        return slot - first_slot

    # the compiled loop for the bootstrap: own targets, or imputed ones (compiled_imputed)
    loop = compiled.run_block if kernel.bootstrap.method == "own" else compiled_imputed.run_block

    def run_block_compiled(types, rewards, recorded, first_slot):
        slots = np.where(recorded, first_slot + np.cumsum(recorded) - 1, -1)
        loop(kernel, weights, types, rewards.numpy(), slots, steps,
             None if v_buf is None else v_buf.numpy(), None if d_buf is None else d_buf.numpy())
        return int(recorded.sum())

    show = progress if progress is not None else p * n_trials * k > 2e8
    from tqdm.auto import tqdm

    # no bar object at all when hidden: building a disabled one costs ~0.1 ms, 4 % of a small call
    bar = tqdm(total=n_trials, initial=start, desc=f"simulate {task.name}", unit="trial") if show else None
    try:
        with torch.no_grad(), flush_denormals(dev), torch_threads(p * k, dev):
            for b, block_start in enumerate(block_starts):
                block_end = min(n_trials, int(block_start) + block_trials)
                if drawer is not None:
                    types, reward_np = drawer.block(int(block_start), block_end)
                    reward = torch.from_numpy(reward_np)
                else:
                    types = schedule.trial_type[block_start:block_end].numpy()
                    reward = schedule.reward[block_start:block_end]
                rewards_dev = reward.to(device=dev, dtype=dtype)
                use_compiled = kernel.opt.kernel == "compiled"
                keep = trials[first_recorded[b]:last_recorded[b]]
                recorded = np.zeros(block_end - block_start, dtype=bool)
                recorded[keep - block_start] = True
                first_slot = int(first_recorded[b]) if direct is not None else 0
                saved = (weights.clone(), kernel.rng_state())
                if use_compiled:
                    n_kept = run_block_compiled(types, rewards_dev, recorded, first_slot)
                else:
                    n_kept = run_block(block_start, types, rewards_dev, recorded, first_slot, check_each_trial=False)
                if not all_finite(weights):
                    # Replay the block trial by trial to name the exact trial (checking every trial costs ~20 %).
                    weights.copy_(saved[0])
                    kernel.set_rng_state(saved[1])
                    run_block(block_start, types, rewards_dev, recorded, first_slot, check_each_trial=True)
                reward_kept = reward[keep - block_start][:, steps].numpy() if "reward" in record else None
                if direct is not None:
                    sink.write(keep, types[keep - block_start], None, None, reward_kept)
                else:
                    sink.write(
                        keep, types[keep - block_start],
                        None if v_buf is None else v_buf[:, :n_kept].cpu().numpy(),
                        None if d_buf is None else d_buf[:, :n_kept].cpu().numpy(),
                        reward_kept,
                    )
                sink.checkpoint(block_end, weights, kernel.rng_state())
                if bar is not None:
                    bar.update(block_end - block_start)
    except BaseException as e:
        # An interrupt, or a failure of the disk (full, an I/O error, a lost mount), keeps the run resumable from
        # its last checkpoint, and a resumed run is never deleted, whatever failed: the interrupted run stays as it
        # was. A fresh run that failed otherwise (values diverged, a bug) leaves no temporary file behind.
        keep = isinstance(e, KeyboardInterrupt | OSError) or getattr(sink, "resumed", False)
        sink.abort(keep_resumable=keep)
        if keep and getattr(sink, "resumable", False):
            e.add_note(f"nothing was lost: the streamed run can be finished from its last complete block: "
                       f"{resume_hint(sink.path)}")
        raise
    finally:
        if bar is not None:
            bar.close()
    return sink.finish(weights.transpose(0, 1).float().cpu().numpy())
