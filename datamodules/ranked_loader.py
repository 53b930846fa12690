"""A ``StatefulDataLoader`` whose state holds the position of every rank's stream, and says when
an epoch's batches were all taken.

Lightning writes a checkpoint from rank 0 alone, with rank 0's loader state, and every rank loads
that one file: each rank would then resume rank 0's stream, and the ranks would read the same
samples. This loader gathers every rank's state when asked for it (Lightning asks on every rank
when it saves), and each rank restores its own part.

torchdata marks its iterator finished only when it raises ``StopIteration``, but Lightning stops
after ``len(loader)`` batches without asking for one more. A state taken at an epoch's end then
restores as an epoch still under way, whose next batch comes from the worker after the one that
gave the last batch, where the uninterrupted run's fresh ``iter()`` starts at worker 0. (Marking
the state finished instead makes torchdata prefetch from the restored workers before it resets
them, which loses those batches.) So a state taken after ``len(loader)`` batches is saved as the
start of the next epoch: no batch yielded yet, the last one from the last worker.
"""

from __future__ import annotations

from typing import Any

import torch.distributed as dist
from torchdata.stateful_dataloader import StatefulDataLoader

# torchdata 0.11's state keys: the single-process iterator's count, the multi-process snapshot's.
SINGLE_YIELDED = ("_num_yielded", "_sampler_iter_yielded")
SNAPSHOT, SNAPSHOT_STEP, LAST_WORKER, STEPS_SINCE = ("_snapshot", "_snapshot_step", "_last_yielded_worker_id",
                                                     "_steps_since_snapshot")


def _as_next_epoch(state: dict[str, Any], workers: int) -> dict[str, Any]:
    """``state`` (taken after an epoch's last batch) as the state of the next epoch's start."""
    if SNAPSHOT not in state:
        return {**state, **dict.fromkeys(SINGLE_YIELDED, 0)}
    # A copy: the iterator hands out its live snapshot.
    snapshot = {**state[SNAPSHOT], SNAPSHOT_STEP: 0, LAST_WORKER: workers - 1}
    return {**state, SNAPSHOT: snapshot, STEPS_SINCE: 0}


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class RankedStatefulDataLoader(StatefulDataLoader):
    """``StatefulDataLoader`` with ``{"ranks": [state of rank 0, state of rank 1, ...]}`` as state.

    ``state_dict`` is a collective under torch.distributed: every rank must call it (as
    Lightning's checkpoint saving does).
    """

    def _epoch_done(self) -> bool:
        iterator = self._iterator
        try:
            return iterator is not None and iterator._num_yielded >= len(self)
        except TypeError:  # a dataset without a length: only StopIteration ends its epochs
            return False

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self._epoch_done():
            state = _as_next_epoch(state, self.num_workers)
        _, world = _rank_and_world()
        if world == 1:
            return {"ranks": [state]}
        states: list[Any] = [None] * world
        dist.all_gather_object(states, state)
        return {"ranks": states}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "ranks" not in state_dict:  # empty, or written by a plain StatefulDataLoader
            return super().load_state_dict(state_dict)
        rank, world = _rank_and_world()
        saved = len(state_dict["ranks"])
        if saved != world:
            raise RuntimeError(f"the checkpoint's data stream was saved by {saved} process(es) and this run has "
                               f"{world}: the stream can only resume exactly on as many devices (and loader "
                               f"workers) as it was saved with")
        super().load_state_dict(state_dict["ranks"][rank])
