"""lightning_mllm: a late-fusion multimodal LLM trainer for low-resource languages, Basque first."""

from lightning_mllm.model import MultimodalLM

__all__ = ["MultimodalLM"]
