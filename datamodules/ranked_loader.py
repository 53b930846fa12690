"""A ``StatefulDataLoader`` whose state holds the position of every rank's stream.

Lightning writes a checkpoint from rank 0 alone, with rank 0's loader state, and every rank loads
that one file: each rank would then resume rank 0's stream, and the ranks would read the same
samples. This loader gathers every rank's state when asked for it (Lightning asks on every rank
when it saves), and each rank restores its own part.
"""

from __future__ import annotations

from typing import Any

import torch.distributed as dist
from torchdata.stateful_dataloader import StatefulDataLoader


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class RankedStatefulDataLoader(StatefulDataLoader):
    """``StatefulDataLoader`` with ``{"ranks": [state of rank 0, state of rank 1, ...]}`` as state.

    ``state_dict`` is a collective under torch.distributed: every rank must call it (as
    Lightning's checkpoint saving does).
    """

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
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
