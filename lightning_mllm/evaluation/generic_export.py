"""Writes any benchmark file the evaluation reads as generic JSONL, the translation command's input.

    python -m lightning_mllm.evaluation.generic_export --format mmbench_tsv \\
        --path eval/mmbench/MMBench_DEV_EN.tsv --out eval/mmbench/mmbench-en.jsonl
    python -m lightning_mllm.translate --input eval/mmbench/mmbench-en.jsonl --format mc \\
        --output eval/mmbench/mmbench-eu.jsonl --model <translator>

Published formats (MMBench TSV, MMStar and A-OKVQA Parquet, VQAv2...) become the generic ``mc``,
``vqa`` or ``open`` records of ``formats.py`` with the same ids (so MMBench's rotated copies keep
their ``index + k * 1e6`` ids and are still grouped after translation), the category and hint, and
the image as a path or as ``image_base64``. ``configs/eval/paper.yaml`` reads the translated files
with ``format: mc`` / ``vqa`` / ``open``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
from typing import Any

from lightning_mllm.evaluation.formats import FORMATS, load_items
from lightning_mllm.evaluation.items import BenchItem
from lightning_mllm.files import atomic_write


def generic_record(item: BenchItem) -> dict[str, Any]:
    """The generic record of one item (``formats.py``'s ``mc``/``vqa``/``open`` keys)."""
    record: dict[str, Any] = {"id": item.id, "question": item.question}
    if item.hint:
        record["hint"] = item.hint
    if item.category:
        record["category"] = item.category
    if item.kind == "mc":
        record.update(options=item.options, answer=item.answer)
    elif item.kind == "vqa":
        record["answers"] = item.answers
    elif item.answer:
        record["reference"] = item.answer
    if isinstance(item.image, bytes):
        record["image_base64"] = base64.b64encode(item.image).decode("ascii")
    elif item.image is not None:
        record["image"] = os.path.abspath(item.image)
    return record


def export(format: str, path: str, out: str, lang: str = "en", image_root: str | None = None,
           annotations: str | None = None, columns: dict[str, str] | None = None) -> int:
    """Writes the items of ``path`` to ``out`` (JSONL, atomically); returns how many."""
    items = load_items(format, path, "export", lang, image_root=image_root, annotations=annotations, columns=columns)
    atomic_write(out, "".join(json.dumps(generic_record(item), ensure_ascii=False) + "\n" for item in items))
    return len(items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", required=True, choices=FORMATS, help="format of --path")
    parser.add_argument("--path", required=True, help="the benchmark file")
    parser.add_argument("--out", required=True, help="generic JSONL to write")
    parser.add_argument("--lang", default="en", help="language of the file")
    parser.add_argument("--image_root", help="folder of images named by path or COCO id")
    parser.add_argument("--annotations", help="vqav2_official: the annotations JSON")
    parser.add_argument("--columns", type=json.loads, help='JSON: our field -> the file\'s column, e.g. {"id": "qid"}')
    args = parser.parse_args(argv)
    count = export(args.format, args.path, args.out, args.lang, args.image_root, args.annotations, args.columns)
    print(f"{count} items written to {args.out}")
    return count


if __name__ == "__main__":
    main()
