"""One benchmark question, whatever file format it came from.

Every loader in ``formats.py`` turns its rows into ``BenchItem`` objects, so answering and
scoring never look at a file format. Images stay encoded (bytes or a path) until a batch is
built: an image that does not decode is then counted against its benchmark, not lost.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from lightning_mllm.image_transform import to_rgb

KINDS = ("mc", "vqa", "open")
# Longest answer generated per kind unless a benchmark sets its own: a letter or a short phrase
# needs few tokens (but some models say "The answer is B." first); open answers need room.
DEFAULT_MAX_NEW_TOKENS = {"mc": 16, "vqa": 16, "open": 384}
LETTERS = "ABCDEFGHIJ"


class BenchmarkFileError(ValueError):
    """A benchmark file (or one of its rows) that cannot be read; the message names the file."""


class ImageDecodeError(ValueError):
    """An item whose image cannot be decoded; the item is scored as wrong and counted."""


@dataclass
class BenchItem:
    """One question of one benchmark in one language.

    Attributes:
        benchmark: Benchmark name as reported (``mmbench``, ``vqav2``...), the same in both languages.
        lang: Language code of the question (``en``, ``eu``).
        id: Identifier unique within the benchmark and language; the English and Basque versions
            of a question share it when the translation kept the ids.
        kind: ``mc`` (multiple choice), ``vqa`` (short answer, soft accuracy) or ``open``.
        question: The question text, without the options.
        options: Multiple choice only: option letter -> option text, in display order.
        answer: The correct letter (``mc``) or the reference answer (``open``, may be empty).
        answers: VQA only: the human answers (ten in VQAv2) used by the soft accuracy.
        hint: Context shown before the question (MMBench's ``hint``), or empty.
        image: Encoded image bytes, a path to an image file, or None for a text-only item.
        category: Sub-category for the breakdown in the report, or empty.
        meta: Anything else from the row that the per-item outputs should carry.
        answer_format: End the prompt with the kind's answer-format instruction ("Answer with the
            option's letter...", "...a single word or phrase"); off for models never taught it.
        max_new_tokens: Longest generated answer; None: the default of the kind (see
            ``answer_length``).
    """

    benchmark: str
    lang: str
    id: str
    kind: str
    question: str
    options: dict[str, str] = field(default_factory=dict)
    answer: str = ""
    answers: list[str] = field(default_factory=list)
    hint: str = ""
    image: bytes | str | None = None
    category: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    answer_format: bool = True
    max_new_tokens: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.benchmark}/{self.lang}/{self.id}: kind {self.kind!r} not in {KINDS}")
        if self.kind == "mc" and self.answer and self.answer not in self.options:
            raise BenchmarkFileError(f"{self.benchmark}/{self.lang}/{self.id}: answer {self.answer!r} is not "
                                     f"one of the options {list(self.options)}")

    @property
    def answer_length(self) -> int:
        """Longest answer generated for this item: its own setting or its kind's default."""
        return self.max_new_tokens or DEFAULT_MAX_NEW_TOKENS[self.kind]

    @property
    def key(self) -> str:
        """Identifies the item across the whole evaluation: benchmark, language and id."""
        return f"{self.benchmark}/{self.lang}/{self.id}"

    def load_image(self) -> Image.Image | None:
        """The RGB image, or None for a text-only item; ``ImageDecodeError`` when it cannot be read."""
        if self.image is None:
            return None
        try:
            source = io.BytesIO(self.image) if isinstance(self.image, bytes) else Path(self.image)
            with Image.open(source) as image:
                # Transparency composited on white, as training and Hugging Face's processors do;
                # a copy, since closing the file closes an image that needed no conversion.
                rgb = to_rgb(image)
                return rgb.copy() if rgb is image else rgb
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as error:
            where = "embedded image" if isinstance(self.image, bytes) else str(self.image)
            raise ImageDecodeError(f"{self.key}: {where} does not decode: {error}") from error


def decode_base64_image(text: str, where: str) -> bytes:
    """Bytes of a base64-encoded image (MMBench TSV, JSONL ``image_base64``); the error names ``where``."""
    try:
        return base64.b64decode(text, validate=False)
    except (ValueError, TypeError) as error:
        raise BenchmarkFileError(f"{where}: the image is not valid base64: {error}") from error
