"""Stores the random number generators' state in checkpoints, so a resumed run draws what the
uninterrupted run would have (dropout masks, sampling in validation, anything seeded once)."""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch

from datamodules.random_state import state_from_list, state_to_list


class RNGState(L.Callback):
    """Saves and restores the Python, NumPy, torch CPU and CUDA generators of this process.

    The data stream keeps its own generators (in the loader's state); these are the others.
    Under DDP the checkpoint is written by rank 0, so every rank resumes with rank 0's state.
    """

    def state_dict(self) -> dict[str, Any]:
        kind, keys, position, has_gauss, cached = np.random.get_state()
        state = {"python": state_to_list(random.getstate()), "torch": torch.get_rng_state(),
                 "numpy": [kind, keys.tolist(), position, has_gauss, cached]}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        random.setstate(state_from_list(state_dict["python"]))
        kind, keys, position, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
