"""The user turn each kind of benchmark item is asked with, in the item's own language.

Multiple-choice and short-answer items end with LLaVA-1.5's answer-format instructions (the
formats its MMBench and VQAv2 numbers were measured with); items in another language carry the
same instruction in their language, from its language file (``lightning_mllm/languages``, key
``instructions``), so a Basque benchmark is asked entirely in Basque.
"""

from __future__ import annotations

import warnings

from lightning_mllm.evaluation.items import BenchItem
from lightning_mllm.languages import UnknownLanguageError, load_language

_WARNED: set[tuple[str, str]] = set()


def instruction(kind: str, lang: str) -> str:
    """The answer-format instruction for ``kind`` (``mc`` or ``vqa``) in ``lang``.

    A language without a file, or whose file lacks this instruction, gets the English one (better
    than none), with a warning once per language and kind.
    """
    try:
        text = load_language(lang).instructions.get(kind)
    except UnknownLanguageError:
        text = None
    if text is None:
        if (lang, kind) not in _WARNED:
            _WARNED.add((lang, kind))
            warnings.warn(f"no '{kind}' answer-format instruction for language {lang!r} in lightning_mllm/languages: "
                          f"asking its items in English; add instructions.{kind} to {lang}.yaml", stacklevel=2)
        text = load_language("en").instructions[kind]
    return text


def user_prompt(item: BenchItem) -> str:
    """The text of the single user turn for ``item`` (the image placeholder is added later)."""
    if item.kind == "mc":
        lines = [item.hint] if item.hint else []
        lines.append(item.question)
        lines += [f"{letter}. {text}" for letter, text in item.options.items()]
        if item.answer_format:
            lines.append(instruction("mc", item.lang))
        return "\n".join(lines)
    if item.kind == "vqa" and item.answer_format:
        return f"{item.question}\n{instruction('vqa', item.lang)}"
    return f"{item.hint}\n{item.question}" if item.hint else item.question


def messages(item: BenchItem) -> list[dict[str, str]]:
    """The conversation to generate from: the user turn and an empty assistant turn to answer."""
    return [{"role": "user", "content": user_prompt(item)}, {"role": "assistant", "content": ""}]
