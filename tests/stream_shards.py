"""Helpers for the stream tests: small text-only tar shards of chosen sizes and the tiny processor."""

from __future__ import annotations

import json
from pathlib import Path

import webdataset as wds
from transformers import AutoConfig

from lightning_mllm.processor import MultimodalProcessor
from lightning_mllm.vision_tower import image_token_count


def tiny_processor(tiny_paths: dict[str, str]) -> MultimodalProcessor:
    tokens = image_token_count(AutoConfig.from_pretrained(tiny_paths["vision"]), drop_cls=True)
    return MultimodalProcessor.from_pretrained(tiny_paths["llm"], tiny_paths["vision"], tokens, max_length=128)


def text_record(name: str, i: int) -> dict:
    answer = " ".join(["hitz"] * (1 + i % 9))
    return {"messages": [{"role": "user", "content": f"{name} galdera {i}?"},
                         {"role": "assistant", "content": answer}], "lang": "eu"}


def write_text_shards(folder: Path, name: str, sizes: list[int]) -> list[str]:
    """Shards ``{name}-{n}.tar`` holding ``sizes[n]`` text-only samples keyed ``{name}{n}-{i}``;
    returns every key written."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = []
    for shard, size in enumerate(sizes):
        with wds.TarWriter(str(folder / f"{name}-{shard}.tar")) as sink:
            for i in range(size):
                key = f"{name}{shard}-{i:03d}"
                sink.write({"__key__": key, "json": json.dumps(text_record(name, i)).encode()})
                keys.append(key)
    return keys
