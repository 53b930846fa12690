"""The words and sentence templates a language gives the synthetic scenes.

A scene is made of shapes (``SHAPES``) of colours (``COLOURS``) in horizontal slots (``SLOTS``),
one to three of them (``COUNTS``). A language file names each of them and writes the caption and
the four kinds of question (``QUESTION_KINDS``) as Python format strings over ``{shape}``,
``{colour}``, ``{slot}`` and ``{count}``:

- a word given as a plain string is used as it is (``"What colour is the {shape}?"``);
- a word given as a mapping of forms is indexed by the form's name, which is how case and
  article forms are chosen (Basque ``"Zer kolore du {shape[erg]}?"``, Galician
  ``"Que cor ten {shape[def]}?"``);
- agreement: when a shape has a ``gender`` form and a colour has a form of that name,
  ``{colour[agree]}`` is the colour's form agreeing with the shape (Galician ``vermello`` with
  ``círculo``, ``vermella`` with a feminine noun).

Every template is tried on every shape, colour, slot and count when the file is read, so a
misspelt form name fails at load time with the file and the key, not in the middle of training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

from lightning_mllm.languages.fields import LanguageFileError, mapping, required, text

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "blue", "green", "yellow")
SLOTS = ("left", "middle", "right")
COUNTS = (1, 2, 3)
QUESTION_KINDS = ("colour", "position", "shape", "count")

Word = Union[str, dict[str, str]]


@dataclass(frozen=True)
class SyntheticWords:
    """One language's vocabulary and templates for the synthetic scenes.

    Attributes:
        caption_prompt: The user turn asking for a caption ("Describe the image briefly.").
        shapes: Each shape's word or forms, by ``SHAPES`` name.
        colours: Each colour's word or forms, by ``COLOURS`` name.
        slots: Each slot's phrase ("on the left"), by ``SLOTS`` name.
        counts: The number words for ``COUNTS``, as the answer to "how many shapes".
        caption_shape: The template describing one shape of a caption.
        caption_and: The word joining the last two shapes of a caption ("and").
        questions: Per question kind, the question template and the answer template.
    """

    caption_prompt: str
    shapes: dict[str, Word]
    colours: dict[str, Word]
    slots: dict[str, str]
    counts: dict[int, str]
    caption_shape: str
    caption_and: str
    questions: dict[str, tuple[str, str]]

    @classmethod
    def from_data(cls, data: object, path: Path) -> SyntheticWords:
        """Reads and checks the ``synthetic`` mapping of a language file."""
        data = mapping(data, path, "synthetic")
        known = {"caption_prompt", "shapes", "colours", "slots", "counts", "caption", "questions"}
        if unknown := sorted(set(data) - known):
            raise LanguageFileError(f"{path}: unknown key(s) {['synthetic.' + k for k in unknown]}; "
                                    f"expected some of {sorted(known)}")
        caption = mapping(required(data, path, "caption", "synthetic."), path, "synthetic.caption")
        questions = mapping(required(data, path, "questions", "synthetic."), path, "synthetic.questions")
        words = cls(
            caption_prompt=text(required(data, path, "caption_prompt", "synthetic."), path, "synthetic.caption_prompt"),
            shapes=_named(data, path, "shapes", SHAPES, forms=True),
            colours=_named(data, path, "colours", COLOURS, forms=True),
            slots=_named(data, path, "slots", SLOTS, forms=False),
            counts=_named(data, path, "counts", COUNTS, forms=False),
            caption_shape=text(required(caption, path, "shape", "synthetic.caption."), path, "synthetic.caption.shape"),
            caption_and=text(required(caption, path, "and", "synthetic.caption."), path, "synthetic.caption.and"),
            questions={kind: _question(questions, path, kind) for kind in QUESTION_KINDS},
        )
        words._check_templates(path)
        return words

    def fill(self, template: str, shape: str, colour: str, slot: str, count: int) -> str:
        """``template`` with the words of one shape of a scene and the scene's shape count."""
        shape_word, colour_word = self.shapes[shape], self.colours[colour]
        if isinstance(colour_word, dict) and isinstance(shape_word, dict) and shape_word.get("gender") in colour_word:
            colour_word = {**colour_word, "agree": colour_word[shape_word["gender"]]}
        return template.format(shape=shape_word, colour=colour_word, slot=self.slots[slot], count=self.counts[count])

    def templates(self) -> dict[str, str]:
        """Every template by its key in the language file."""
        out = {"synthetic.caption.shape": self.caption_shape}
        for kind, (question, answer) in self.questions.items():
            out[f"synthetic.questions.{kind}.question"] = question
            out[f"synthetic.questions.{kind}.answer"] = answer
        return out

    def _check_templates(self, path: Path) -> None:
        for key, template in self.templates().items():
            for shape in SHAPES:
                for colour in COLOURS:
                    try:
                        filled = self.fill(template, shape, colour, SLOTS[0], COUNTS[0])
                    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
                        raise LanguageFileError(
                            f"{path}: key '{key}' ({template!r}) cannot be filled for the {colour} {shape}: "
                            f"{type(error).__name__}: {error} (form names are the keys of that word's mapping; "
                            f"{{colour[agree]}} needs a 'gender' form on the shape and that form on the colour)"
                        ) from error
                    if "{" in filled or "}" in filled:
                        raise LanguageFileError(f"{path}: key '{key}' ({template!r}) leaves a placeholder or a "
                                                f"whole mapping of forms in the text: {filled!r}")


def _named(data: dict, path: Path, key: str, names: tuple, forms: bool) -> dict:
    """The mapping ``synthetic.<key>`` with exactly the entries ``names``, each a word (or forms)."""
    table = mapping(required(data, path, key, "synthetic."), path, f"synthetic.{key}")
    # YAML reads "1:" as an integer key and "'1':" as a string one: accept both for counts.
    table = {(int(k) if isinstance(k, str) and k.isdigit() and isinstance(names[0], int) else k): v
             for k, v in table.items()}
    missing = [n for n in names if n not in table]
    extra = [k for k in table if k not in names]
    if missing or extra:
        raise LanguageFileError(f"{path}: key 'synthetic.{key}' must name exactly {list(names)}; "
                                f"missing {missing}, unknown {extra}")
    out = {}
    for name in names:
        value, where = table[name], f"synthetic.{key}.{name}"
        if forms and isinstance(value, dict):
            out[name] = {str(form): text(word, path, f"{where}.{form}") for form, word in value.items()}
        else:
            out[name] = text(value, path, where)
    return out


def _question(questions: dict, path: Path, kind: str) -> tuple[str, str]:
    entry = mapping(required(questions, path, kind, "synthetic.questions."), path, f"synthetic.questions.{kind}")
    prefix = f"synthetic.questions.{kind}."
    return (text(required(entry, path, "question", prefix), path, prefix + "question"),
            text(required(entry, path, "answer", prefix), path, prefix + "answer"))
