"""OmegaConf resolvers usable in the YAML configs.

``${tiny_backbone:llm}`` and ``${tiny_backbone:vision}`` build the demo's tiny random backbones
once, save them under the cache folder (``$LIGHTNING_MLLM_CACHE``, default
``~/.cache/lightning_mllm``) and resolve to that folder, which the model then loads with
``from_pretrained`` like any real checkpoint. ``${tiny_vlm:qwen2_vl}`` and ``${tiny_vlm:llava}`` do
the same for a whole tiny vision-language model with its processor (``tiny_vlms.py``).
"""

from __future__ import annotations

from omegaconf import OmegaConf

from lightning_mllm.tiny_backbones import ensure_tiny_backbone
from lightning_mllm.tiny_vlms import ensure_tiny_vlm


def register_resolvers() -> None:
    if OmegaConf.has_resolver("tiny_backbone"):
        return
    # omegaconf 2.4 renamed register_new_resolver; 2.3 only has the old name.
    register = getattr(OmegaConf, "register_resolver", None) or OmegaConf.register_new_resolver
    # ${tiny_backbone:llm,en+eu+gl}: a tiny LLM whose tokenizer also knows Galician.
    register("tiny_backbone", lambda kind, languages=None: ensure_tiny_backbone(kind, languages=languages))
    register("tiny_vlm", lambda kind: ensure_tiny_vlm(kind))
