"""A data card next to each manifest: what the shards hold, what was dropped and why.

``{prefix}.card.json`` (for tools) and ``{prefix}.card.md`` (for people), both written atomically.
Turns and words are counted from the shards' JSON (images are not decoded); tokens per word, when
a tokenizer is given, over the assistant replies of the first ``TOKEN_SAMPLE`` samples.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

from lightning_mllm.files import atomic_write, atomic_write_json

TOKEN_SAMPLE = 2000


def shard_stats(shards: list[str], tokenizer: Any = None) -> dict[str, Any]:
    """Samples, images, question/answer turns and reply words of ``shards``; tokens per word with
    ``tokenizer``."""
    counts, words, tokens, sampled = Counter(), 0, 0, 0
    for shard in shards:
        with tarfile.open(shard) as tar:
            for member in tar:
                ext = member.name.rsplit(".", 1)[-1]
                if ext != "json":
                    counts["images"] += ext in ("jpg", "png", "webp")
                    continue
                record = json.loads(tar.extractfile(member).read())
                replies = [m["content"] for m in record["messages"] if m["role"] == "assistant"]
                counts["samples"] += 1
                counts["turns"] += len(replies)
                reply_words = sum(len(r.split()) for r in replies)
                words += reply_words
                if tokenizer is not None and sampled < TOKEN_SAMPLE:
                    tokens += sum(len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in replies)
                    sampled += 1
                    counts["sampled_words"] += reply_words
    stats = {"samples": counts["samples"], "images": counts["images"], "turns": counts["turns"],
             "turns_per_sample": round(counts["turns"] / max(1, counts["samples"]), 3), "reply_words": words}
    if tokenizer is not None:
        stats["tokens_per_word"] = round(tokens / max(1, counts["sampled_words"]), 3)
        stats["tokens_per_word_samples"] = sampled
    return stats


def write_card(folder: str, prefix: str, card: dict[str, Any]) -> Path:
    """Writes ``{folder}/{prefix}.card.json`` and ``.card.md``; returns the Markdown path."""
    base = Path(folder) / prefix
    atomic_write_json(f"{base}.card.json", card)
    markdown = Path(f"{base}.card.md")
    atomic_write(markdown, card_markdown(card))
    return markdown


def card_markdown(card: dict[str, Any]) -> str:
    """The card as a short Markdown page."""
    recipe, stats = card["recipe"], card["stats"]
    rejected = card.get("rejected") or {}
    lines = [f"# {recipe['name']}", "",
             f"- Hugging Face id: {recipe.get('hf_id') or '(none: local files)'}",
             f"- License: {recipe['license']}", f"- Expected size: {recipe['expected']}",
             f"- Language: {recipe['lang']}; source name: {recipe['source']}",
             f"- Columns: {', '.join(f'{k}={v}' for k, v in card['columns'].items() if v) or '(format defaults)'}",
             f"- Inputs: {', '.join(os.path.basename(p) for p in card['inputs'][:5])}"
             + (f" and {len(card['inputs']) - 5} more" if len(card["inputs"]) > 5 else ""),
             "", "| samples | images | question/answer turns | turns per sample | reply words | tokens per word |",
             "|---|---|---|---|---|---|",
             f"| {stats['samples']} | {stats['images']} | {stats['turns']} | {stats['turns_per_sample']} | "
             f"{stats['reply_words']} | {stats.get('tokens_per_word', 'n/a')} |", "",
             f"Languages: {json.dumps(card.get('languages', {}))}", "",
             f"Rejected: {sum(rejected.values())}" + "".join(f"\n- {k}: {v}" for k, v in rejected.items())]
    if recipe.get("notes"):
        lines += ["", f"Notes: {recipe['notes']}"]
    return "\n".join(lines) + "\n"

