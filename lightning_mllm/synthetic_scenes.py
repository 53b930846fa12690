"""Synthetic scenes: PIL drawings of coloured shapes with text in any registry language.

Every scene places one to three shapes of distinct kinds in distinct horizontal slots
(left, middle, right). Captions and question/answer pairs are generated from the scene, so
each answer depends on the image: a model that ignores the image can only guess (chance is
1/4 for colours and 1/3 for positions, shapes and counts).

The words and sentence templates come from the language files (``lightning_mllm.languages``,
key ``synthetic``): a new language is a new file, not a change here. The Basque entry follows
standard Basque (batua): the ergative ``-ak`` on the subject of ``du`` ("Zer kolore du
zirkuluak?"), the absolutive with ``dago`` ("Non dago karratua?"), the indefinite
``noun adjective bat`` in captions ("zirkulu gorri bat").
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from lightning_mllm.languages import SyntheticWords, load_language
from lightning_mllm.languages.synthetic_words import COLOURS, QUESTION_KINDS, SHAPES, SLOTS

RGB = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 170, 60), "yellow": (240, 210, 20)}

# The demo's languages; any language whose file has a ``synthetic`` entry can be generated.
LANGUAGES = ("en", "eu")
__all__ = ["COLOURS", "LANGUAGES", "QA", "QUESTION_KINDS", "RGB", "SHAPES", "SLOTS", "Shape", "caption",
           "caption_prompt", "evaluation_messages", "question", "render_scene", "sample_scene",
           "training_messages", "vocabulary_corpus", "words"]


def words(lang: str) -> SyntheticWords:
    """The synthetic-scene words of ``lang``, from its language file.

    Raises:
        UnknownLanguageError: If there is no file for ``lang``.
        ValueError: If its file has no ``synthetic`` entry.
    """
    language = load_language(lang)
    if language.synthetic is None:
        raise ValueError(f"language {lang!r} ({language.source}) has no 'synthetic' entry, so no synthetic "
                         f"scenes can be written in it; copy the 'synthetic' block of en.yaml and translate it")
    return language.synthetic


@dataclass(frozen=True)
class Shape:
    """One shape of a scene."""

    kind: str
    colour: str
    slot: str


@dataclass(frozen=True)
class QA:
    """A question about a scene with its reference answer."""

    kind: str
    question: str
    answer: str


def sample_scene(rng: random.Random) -> list[Shape]:
    """Draws one to three shapes with distinct kinds and distinct slots."""
    count = rng.randint(1, 3)
    kinds = rng.sample(SHAPES, count)
    slots = sorted(rng.sample(SLOTS, count), key=SLOTS.index)
    return [Shape(kind, rng.choice(COLOURS), slot) for kind, slot in zip(kinds, slots)]


def render_scene(scene: list[Shape], size: int, rng: random.Random) -> Image.Image:
    """Draws the scene on a light grey canvas with a little vertical jitter per shape.

    The jitter stays within a few pixels: the demo's frozen vision tower is random, so shapes
    that drift across patch boundaries are much harder for the tiny model to tell apart.
    """
    image = Image.new("RGB", (size, size), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    half = size // 7
    for shape in scene:
        cx = (2 * SLOTS.index(shape.slot) + 1) * size // 6
        cy = size // 2 + rng.randint(-(size // 24), size // 24)
        box = (cx - half, cy - half, cx + half, cy + half)
        fill = RGB[shape.colour]
        if shape.kind == "circle":
            draw.ellipse(box, fill=fill)
        elif shape.kind == "square":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], fill=fill)
    return image


def caption(scene: list[Shape], lang: str) -> str:
    """A one-sentence description listing every shape with its colour and slot."""
    table = words(lang)
    parts = [table.fill(table.caption_shape, s.kind, s.colour, s.slot, len(scene)) for s in scene]
    text = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} {table.caption_and} {parts[-1]}"
    return text[0].upper() + text[1:] + "."


def question(scene: list[Shape], kind: str, lang: str, rng: random.Random) -> QA:
    """One question of the given kind about a shape or slot that is in the scene."""
    if kind not in QUESTION_KINDS:
        raise ValueError(f"unknown question kind {kind!r}; expected one of {QUESTION_KINDS}")
    target = rng.choice(scene)
    table = words(lang)
    q, a = (table.fill(t, target.kind, target.colour, target.slot, len(scene)) for t in table.questions[kind])
    return QA(kind, q, a[0].upper() + a[1:] + ".")


def caption_prompt(lang: str) -> str:
    """The user turn that asks for a caption in ``lang``."""
    return words(lang).caption_prompt


def training_messages(scene: list[Shape], lang: str, rng: random.Random) -> list[dict[str, str]]:
    """A training conversation: a caption request (stage-1 style) or one to three QA turns."""
    if rng.random() < 0.25:
        turns = [(caption_prompt(lang), caption(scene, lang))]
    else:
        kinds = rng.sample(QUESTION_KINDS, rng.randint(1, 3))
        turns = [(qa.question, qa.answer) for qa in (question(scene, k, lang, rng) for k in kinds)]
    messages = []
    for i, (user, assistant) in enumerate(turns):
        messages.append({"role": "user", "content": f"<image>\n{user}" if i == 0 else user})
        messages.append({"role": "assistant", "content": assistant})
    return messages


def evaluation_messages(scene: list[Shape], lang: str, rng: random.Random) -> tuple[str, list[dict[str, str]]]:
    """A single-turn evaluation question (kinds balanced by the caller's RNG) and its kind."""
    qa = question(scene, rng.choice(QUESTION_KINDS), lang, rng)
    return qa.kind, [{"role": "user", "content": f"<image>\n{qa.question}"},
                     {"role": "assistant", "content": qa.answer}]


def vocabulary_corpus(languages: tuple[str, ...] | list[str] = LANGUAGES) -> list[str]:
    """Every sentence form the generator can produce in ``languages``, for training the demo tokenizer."""
    rng = random.Random(0)
    lines: list[str] = [caption_prompt(lang) for lang in languages]
    for _ in range(400):
        scene = sample_scene(rng)
        for lang in languages:
            lines.append(caption(scene, lang))
            # Each text on its own line, as each starts its own turn in the chat: an answer begins
            # a line there ("Gorria.", not " Gorria."), and byte-level BPE tells the two apart. Trained
            # after a question, answers split into pieces seen nowhere else ("E" + "skuinean").
            for qa in (question(scene, k, lang, rng) for k in QUESTION_KINDS):
                lines.extend((qa.question, qa.answer))
    return lines
