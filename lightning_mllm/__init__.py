"""lightning_mllm: a late-fusion multimodal LLM trainer for low-resource languages, Basque first."""

from __future__ import annotations

import importlib
from typing import Any

# The LightningModules load torch, transformers and peft; commands that need none of them
# (human evaluation, reports, recipes' --help) should not pay for that import, so the package
# names are resolved on first use.
_LAZY = {"MultimodalLM": "lightning_mllm.model", "PretrainedVLM": "lightning_mllm.pretrained_vlm"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lightning_mllm' has no attribute {name!r}")
