"""The backbone folders a bench measures: random ones of a named size or of given configs, or
existing folders, saved once under the cache and then reused."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoTokenizer

from lightning_mllm.benchmarking.runtime import progress
from lightning_mllm.random_backbones import SIZES, save_backbones
from lightning_mllm.tiny_backbones import DEFAULT_CACHE, ensure_tiny_backbone, save_folder_once

# Part of the cache folder names: bump it when the random backbones change.
RANDOM_VERSION = 1


@dataclass(frozen=True)
class Backbones:
    """Folders of the LLM (with its tokenizer, when it has one) and of the vision tower, and the
    ids the workload needs from them."""

    llm: str
    vision: str
    pad_token_id: int
    special_ids: tuple[int, ...]


def _saved_once(target: Path, llm_shape: dict[str, Any], vision_shape: dict[str, Any]) -> Path:
    if not target.is_dir():
        progress(f"saving random backbones to {target} (once; an 8B model takes about a minute on a GPU, "
                 "many minutes on a CPU)")
    return save_folder_once(target, lambda folder: save_backbones(folder, llm_shape, vision_shape))


def _random_folders(size: str, llm_json: str | None, vision_json: str | None, cache: Path) -> tuple[str, str]:
    base_llm, base_vision = SIZES["small" if size == "tiny" else size]
    llm_shape = {**base_llm, **json.loads(llm_json or "{}")}
    vision_shape = {**base_vision, **json.loads(vision_json or "{}")}
    if llm_json or vision_json:
        digest = hashlib.sha1(json.dumps([llm_shape, vision_shape], sort_keys=True).encode()).hexdigest()[:10]
        name = f"random-custom-{digest}-v{RANDOM_VERSION}"
    else:
        name = f"random-{size}-v{RANDOM_VERSION}"
    target = _saved_once(cache / name, llm_shape, vision_shape)
    return str(target / "llm"), str(target / "vision")


def _ids(llm: str) -> tuple[int, tuple[int, ...]]:
    """Padding id and special ids, from the tokenizer in the LLM folder or else its config."""
    config = AutoConfig.from_pretrained(llm)
    config_ids = [getattr(config, name, None) for name in ("bos_token_id", "eos_token_id", "pad_token_id")]
    flat = [i for value in config_ids for i in (value if isinstance(value, list) else [value]) if i is not None]
    try:
        tokenizer = AutoTokenizer.from_pretrained(llm)
    except (OSError, ValueError, TypeError):
        tokenizer = None
    special = set(flat) | set(getattr(tokenizer, "all_special_ids", []) or [])
    # Chat-format tokens (header markers, Llama-3's reserved ids) are added special tokens.
    special |= {i for i, token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items()
                if getattr(token, "special", False)}
    pad = getattr(tokenizer, "pad_token_id", None)
    pad = pad if pad is not None else (flat[-1] if flat else 0)
    return pad, tuple(sorted(special))


def resolve_backbones(size: str, llm: str | None = None, vision: str | None = None, llm_config: str | None = None,
                      vision_config: str | None = None, cache_dir: str | None = None) -> Backbones:
    """The folders to measure.

    Args:
        size: ``full`` (Llama-3.1-8B + CLIP ViT-L/14-336), ``small`` (the same code path, CPU-sized)
            or ``tiny`` (the demo's tiny backbones).
        llm: An existing LLM folder (or hub id); with ``vision``, overrides ``size``.
        vision: An existing vision tower folder (or hub id).
        llm_config: JSON of ``LlamaConfig`` arguments laid over the size's (``small``'s for tiny).
        vision_config: JSON of ``CLIPVisionConfig`` arguments laid over the size's.
        cache_dir: Where random folders are saved (default ``$LIGHTNING_MLLM_CACHE``).
    """
    cache = Path(cache_dir) if cache_dir else DEFAULT_CACHE
    if bool(llm) != bool(vision):
        raise ValueError("--llm and --vision go together")
    if llm and (llm_config or vision_config):
        raise ValueError("give either folders (--llm/--vision) or configs (--llm_config/--vision_config)")
    if not llm and size == "tiny" and not (llm_config or vision_config):
        progress("tiny backbones (built once under the cache, about 10 s)")
        llm, vision = ensure_tiny_backbone("llm", cache), ensure_tiny_backbone("vision", cache)
    elif not llm:
        llm, vision = _random_folders(size, llm_config, vision_config, cache)
    pad, special = _ids(llm)
    return Backbones(llm=llm, vision=vision, pad_token_id=pad, special_ids=special)
