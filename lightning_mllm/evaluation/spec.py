"""Which benchmark files an evaluation reads: one ``BenchmarkSpec`` per benchmark and language."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from lightning_mllm.evaluation.circular import copy_groups, rotations
from lightning_mllm.evaluation.formats import FORMATS, load_items
from lightning_mllm.evaluation.items import BenchItem


@dataclass
class BenchmarkSpec:
    """One benchmark file in one language.

    Args:
        name: Benchmark name in the report; the English and Basque versions share it.
        lang: Language of the file (``en``, ``eu``).
        format: File format, one of ``lightning_mllm.evaluation.formats.FORMATS``.
        path: The file (a local path: nothing is downloaded).
        image_root: Folder that relative image paths (or COCO ids) resolve against.
        annotations: VQAv2's annotations file (format ``vqav2_official`` only).
        circular: Multiple choice only: MMBench's circular evaluation. A file that holds rotated
            copies (MMBench's TSVs: index + k * 1e6) is grouped by ``index % 1_000_000``; any
            other file is rotated here, one copy per option.
        limit: Keep only the first N items (quick checks).
        max_new_tokens: Longest generated answer; default by kind (mc 16, vqa 16, open 384).
        answer_format: End multiple-choice and short-answer prompts with LLaVA-1.5's answer-format
            instruction (in the item's language); turn off for models never trained with it.
        columns: Our field -> the file's column (``id``, ``question``, ``options``, ``answer``,
            ``answers``, ``reference``, ``image``, ``category``...), replacing single entries of the
            format's defaults (``formats.DEFAULT_COLUMNS``: e.g. ``vqav2`` reads ``id`` from
            ``question_id``); generic and published formats only.
    """

    name: str
    lang: str
    format: str
    path: str
    image_root: str | None = None
    annotations: str | None = None
    circular: bool = False
    limit: int | None = None
    max_new_tokens: int | None = None
    answer_format: bool = True
    columns: dict[str, str] | None = None

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"benchmark {self.name}/{self.lang}: format {self.format!r} is not one of {FORMATS}")

    def load(self) -> list[BenchItem]:
        """The items of the file, expanded to every option rotation when ``circular``."""
        items = load_items(self.format, self.path, self.name, self.lang, image_root=self.image_root,
                           annotations=self.annotations, limit=self.limit, columns=self.columns)
        if not self.answer_format or self.max_new_tokens:
            items = [replace(item, answer_format=self.answer_format, max_new_tokens=self.max_new_tokens)
                     for item in items]
        if self.circular:
            if any(item.kind != "mc" for item in items):
                raise ValueError(f"benchmark {self.name}/{self.lang}: circular evaluation needs multiple-choice items")
            copies = copy_groups(items)
            items = copies if copies is not None else [rotated for item in items for rotated in rotations(item)]
        return items


def benchmarks_from(source: list[BenchmarkSpec] | str, only: list[str] | None = None) -> list[BenchmarkSpec]:
    """The specs themselves, or the ``benchmarks`` list of an evaluation config file.

    A path lets ``train.py test`` and ``callbacks.BenchmarkEval`` reuse the list that
    ``python -m lightning_mllm.evaluate --config <file>`` reads (``configs/eval/*.yaml``) instead
    of repeating it; ``only`` keeps the named benchmarks (every language of each).
    """
    if isinstance(source, str):
        try:
            entries = (yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}).get("benchmarks")
        except (OSError, yaml.YAMLError, AttributeError) as error:
            raise ValueError(f"benchmarks: cannot read the evaluation config {source!r}: {error}") from error
        if not isinstance(entries, list):
            raise ValueError(f"benchmarks: {source} has no `benchmarks:` list")
        specs = [BenchmarkSpec(**entry) for entry in entries]
    else:
        specs = list(source)
    if only is not None:
        unknown = sorted(set(only) - {spec.name for spec in specs})
        if unknown:
            raise ValueError(f"benchmarks: {unknown} not among {sorted({s.name for s in specs})}")
        specs = [spec for spec in specs if spec.name in only]
    return specs


def load_benchmarks(specs: list[BenchmarkSpec]) -> list[BenchItem]:
    """Every item of every spec; two specs for the same benchmark and language are an error."""
    seen: set[tuple[str, str]] = set()
    items: list[BenchItem] = []
    for spec in specs:
        if (spec.name, spec.lang) in seen:
            raise ValueError(f"benchmark {spec.name}/{spec.lang} is listed twice")
        seen.add((spec.name, spec.lang))
        items += spec.load()
    return items
