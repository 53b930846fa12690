"""Runs a training recipe: images fetched when asked, rows to shards through the shard writer,
then the data card next to its manifest."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from datamodules.column_rows import require_columns
from datamodules.image_bounds import check_max_image_side
from datamodules.raw_formats import ConvertOptions
from datamodules.recipes.catalog import Recipe
from datamodules.recipes.data_card import shard_stats, write_card
from datamodules.recipes.inputs import input_files
from datamodules.row_conversations import RowOptions
from datamodules.shards import convert_to_shards
from datamodules.url_images import DownloadSettings, download, urls_of

COLUMN_SETTINGS = ("question", "answer", "caption", "choices", "answer_index", "system", "url", "sha256", "image",
                   "id", "messages", "answers", "direct_answers", "reference")
SETTING_FORMAT = "--column {name}=COLUMN"


@dataclass
class PrepareSettings:
    """What the user chose for one ``prepare`` run.

    Args:
        out: Root output folder ($MLLM_DATA for training data, $MLLM_EVAL for evaluation files).
        input: A file or folder to read instead of the Hugging Face cache.
        hf_id: Data set id to look up in the cache instead of the recipe's.
        split: Split to read (None: the recipe's).
        columns: Column overrides, setting -> column (``{"question": "galdera"}``).
        kind: Override of the recipe's row kind (``qa``, ``vqa``, ``mc``, ``caption``, ``messages``).
        images: Download folder of ``datamodules.url_images`` (default ``{out}/images/{source}``).
        image_tars: img2dataset output folder whose images rows name by URL.
        image_root: Folder relative image paths start from (LLaVA's image folder).
        fetch_images: Download the rows' image URLs before converting (the only network use).
        download: Download settings.
        max_turns: Question/answer pairs per conversation at most.
        group_by_image: Rows of one image become one conversation.
        instruction: Text after VQA/multiple-choice questions (None: the language's default).
        workers: Processes that check and encode images.
        max_samples: Samples per shard at most.
        max_image_side: Images longer than this many px on their long side are stored shrunk to it
            (the shard writer's bound, ``datamodules/image_bounds.py``); None keeps them as given.
        tokenizer: Tokenizer folder or id for the card's tokens per word (None: not counted).
        overwrite: Replace earlier output of the recipe.
        limit: Evaluation recipes: keep the first ``limit`` rows.
    """

    out: str
    input: str | None = None
    hf_id: str | None = None
    split: str | None = None
    columns: dict[str, str | None] = field(default_factory=dict)
    kind: str | None = None
    images: str | None = None
    image_tars: str | None = None
    image_root: str | None = None
    fetch_images: bool = False
    download: DownloadSettings = field(default_factory=DownloadSettings)
    max_turns: int = 8
    group_by_image: bool = True
    instruction: str | None = None
    workers: int = 1
    max_samples: int = 1000
    max_image_side: int | None = None
    tokenizer: str | None = None
    overwrite: bool = False
    limit: int | None = None

    def __post_init__(self) -> None:
        # Checked here, not only by the shard writer, so a bad bound fails before any image is downloaded.
        check_max_image_side(self.max_image_side)


def columns_of(recipe: Recipe, settings: PrepareSettings) -> dict[str, str | None]:
    """The recipe's columns with the user's overrides; an unknown setting name fails."""
    unknown = sorted(set(settings.columns) - set(COLUMN_SETTINGS))
    if unknown:
        raise ValueError(f"--column {unknown[0]}=...: unknown setting; known: {', '.join(COLUMN_SETTINGS)}")
    return {**recipe.columns, **settings.columns}


def prepare_shards(recipe: Recipe, settings: PrepareSettings, progress: bool = True) -> dict[str, Any]:
    """Converts one training recipe's data to ``{out}/{recipe.name}/`` shards; returns its card."""
    files = input_files(recipe, settings.input, settings.hf_id, settings.split or recipe.split)
    columns = columns_of(recipe, settings)
    options = _options(recipe, settings, columns)
    if isinstance(options, RowOptions) and options.format == "rows":
        for path in files:  # fail before writing anything, naming the file, column and setting
            require_columns(path, options.needed_columns())
    if columns.get("url") and not (settings.fetch_images or settings.images or settings.image_tars):
        raise ValueError(f"recipe {recipe.name} names its images by URL (column {columns['url']!r}): pass "
                         f"--fetch-images to download them, --images (a datamodules.url_images folder) or "
                         f"--image-tars (img2dataset output)")
    downloads = None
    if settings.fetch_images and columns.get("url"):
        summary = download(urls_of(files, columns["url"], columns.get("sha256"), _setting("url"), _setting("sha256")),
                           options.image_folder, settings.download)
        downloads = asdict(summary)
    folder = os.path.join(settings.out, recipe.name)
    summary = convert_to_shards(files, options, folder, recipe.name, settings.max_samples, workers=settings.workers,
                                overwrite=settings.overwrite, progress=progress,
                                max_image_side=settings.max_image_side)
    shards = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                    if f.startswith(f"{recipe.name}-") and f.endswith(".tar"))
    card = {"recipe": asdict(recipe), "columns": columns, "inputs": files, "manifest": summary.manifest,
            "stats": shard_stats(shards, _tokenizer(settings.tokenizer)), "rejected": summary.rejected,
            "languages": summary.languages, "downloads": downloads,
            "settings": {"max_turns": settings.max_turns, "group_by_image": settings.group_by_image,
                         "max_image_side": settings.max_image_side,
                         "kind": options.kind if isinstance(options, RowOptions) else recipe.kind}}
    card["card"] = str(write_card(folder, recipe.name, card))
    return card


def _setting(name: str) -> str:
    return SETTING_FORMAT.format(name=name)


def _options(recipe: Recipe, settings: PrepareSettings, columns: dict[str, str | None]) -> ConvertOptions:
    if recipe.format == "llava":
        image_root = settings.image_root or os.path.dirname(os.path.abspath(settings.input or "."))
        return ConvertOptions(format="llava", source=recipe.source, lang=recipe.lang, image_root=image_root)
    images = settings.images
    if images is None and settings.fetch_images:
        images = os.path.join(settings.out, "images", recipe.source)
    return RowOptions(
        format=recipe.format, source=recipe.source, lang=recipe.lang, image_root=settings.image_root or ".",
        kind=settings.kind or recipe.kind, messages_column=columns.get("messages"),
        image_column=columns.get("image") or "", id_column=columns.get("id") or "id",
        question_column=columns.get("question"), answer_column=columns.get("answer"),
        caption_column=columns.get("caption"), choices_column=columns.get("choices"),
        answer_index_column=columns.get("answer_index"), system_column=columns.get("system"),
        url_column=columns.get("url"), sha256_column=columns.get("sha256"), image_folder=images,
        image_tars=settings.image_tars, instruction=settings.instruction, group_by_image=settings.group_by_image,
        max_turns=settings.max_turns, setting_format=SETTING_FORMAT)


def _tokenizer(name: str | None):
    if name is None:
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name)
