"""Synthetic bilingual scenes: PIL drawings of coloured shapes with English and Basque text.

Every scene places one to three shapes of distinct kinds in distinct horizontal slots
(left, middle, right). Captions and question/answer pairs are generated from the scene, so
each answer depends on the image: a model that ignores the image can only guess (chance is
1/4 for colours and 1/3 for positions, shapes and counts).

The Basque follows standard Basque (batua): the ergative ``-ak`` on the subject of ``du``
("Zer kolore du zirkuluak?"), the absolutive with ``dago`` ("Non dago karratua?"), the
indefinite ``noun adjective bat`` in captions ("zirkulu gorri bat").
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "blue", "green", "yellow")
SLOTS = ("left", "middle", "right")

RGB = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 170, 60), "yellow": (240, 210, 20)}

# Basque forms: stem (indefinite, used with adjectives), absolutive and ergative singular.
EU_SHAPE = {
    "circle": ("zirkulu", "zirkulua", "zirkuluak"),
    "square": ("karratu", "karratua", "karratuak"),
    "triangle": ("triangelu", "triangelua", "triangeluak"),
}
EU_COLOUR = {"red": ("gorri", "gorria"), "blue": ("urdin", "urdina"), "green": ("berde", "berdea"),
             "yellow": ("hori", "horia")}
EN_SLOT = {"left": "on the left", "middle": "in the middle", "right": "on the right"}
EU_SLOT = {"left": "ezkerrean", "middle": "erdian", "right": "eskuinean"}
EN_COUNT = {1: "one", 2: "two", 3: "three"}
EU_COUNT = {1: "bat", 2: "bi", 3: "hiru"}

QUESTION_KINDS = ("colour", "position", "shape", "count")
LANGUAGES = ("en", "eu")


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
    if lang == "en":
        parts = [f"a {s.colour} {s.kind} {EN_SLOT[s.slot]}" for s in scene]
        conj = "and"
    else:
        parts = [f"{EU_SHAPE[s.kind][0]} {EU_COLOUR[s.colour][0]} bat {EU_SLOT[s.slot]}" for s in scene]
        conj = "eta"
    text = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} {conj} {parts[-1]}"
    return text[0].upper() + text[1:] + "."


def question(scene: list[Shape], kind: str, lang: str, rng: random.Random) -> QA:
    """One question of the given kind about a shape or slot that is in the scene."""
    target = rng.choice(scene)
    en = lang == "en"
    if kind == "colour":
        q = f"What colour is the {target.kind}?" if en else f"Zer kolore du {EU_SHAPE[target.kind][2]}?"
        a = target.colour if en else EU_COLOUR[target.colour][1]
    elif kind == "position":
        q = f"Where is the {target.kind}?" if en else f"Non dago {EU_SHAPE[target.kind][1]}?"
        a = EN_SLOT[target.slot] if en else EU_SLOT[target.slot]
    elif kind == "shape":
        q = f"What shape is {EN_SLOT[target.slot]}?" if en else f"Zer forma dago {EU_SLOT[target.slot]}?"
        a = f"a {target.kind}" if en else EU_SHAPE[target.kind][1]
    elif kind == "count":
        q = "How many shapes are there?" if en else "Zenbat forma daude?"
        a = EN_COUNT[len(scene)] if en else EU_COUNT[len(scene)]
    else:
        raise ValueError(f"unknown question kind {kind!r}; expected one of {QUESTION_KINDS}")
    return QA(kind, q, a[0].upper() + a[1:] + ".")


CAPTION_PROMPTS = {"en": "Describe the image briefly.", "eu": "Deskribatu irudia laburki."}


def training_messages(scene: list[Shape], lang: str, rng: random.Random) -> list[dict[str, str]]:
    """A training conversation: a caption request (stage-1 style) or one to three QA turns."""
    if rng.random() < 0.25:
        turns = [(CAPTION_PROMPTS[lang], caption(scene, lang))]
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


def vocabulary_corpus() -> list[str]:
    """Every sentence form the generator can produce, for training the demo tokenizer."""
    rng = random.Random(0)
    lines: list[str] = list(CAPTION_PROMPTS.values())
    for _ in range(400):
        scene = sample_scene(rng)
        for lang in LANGUAGES:
            lines.append(caption(scene, lang))
            lines.extend(f"{qa.question} {qa.answer}" for qa in
                         (question(scene, k, lang, rng) for k in QUESTION_KINDS))
    return lines
