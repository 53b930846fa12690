"""The user turn each kind of benchmark item is asked with, in the item's own language.

Multiple-choice and short-answer items end with LLaVA-1.5's answer-format instructions (the
formats its MMBench and VQAv2 numbers were measured with); the Basque items carry the same
instruction in Basque, so a Basque benchmark is asked entirely in Basque.
"""

from __future__ import annotations

from lightning_mllm.evaluation.items import BenchItem

MC_INSTRUCTION = {
    "en": "Answer with the option's letter from the given choices directly.",
    "eu": "Erantzun zuzenean emandako aukeretako letrarekin.",
}
VQA_INSTRUCTION = {
    "en": "Answer the question using a single word or phrase.",
    "eu": "Erantzun galderari hitz bakar batekin edo esaldi labur batekin.",
}


def _in_language(table: dict[str, str], lang: str) -> str:
    # Languages without a translated instruction get the English one: better than none.
    return table.get(lang, table["en"])


def user_prompt(item: BenchItem) -> str:
    """The text of the single user turn for ``item`` (the image placeholder is added later)."""
    if item.kind == "mc":
        lines = [item.hint] if item.hint else []
        lines.append(item.question)
        lines += [f"{letter}. {text}" for letter, text in item.options.items()]
        if item.answer_format:
            lines.append(_in_language(MC_INSTRUCTION, item.lang))
        return "\n".join(lines)
    if item.kind == "vqa" and item.answer_format:
        return f"{item.question}\n{_in_language(VQA_INSTRUCTION, item.lang)}"
    return f"{item.hint}\n{item.question}" if item.hint else item.question


def messages(item: BenchItem) -> list[dict[str, str]]:
    """The conversation to generate from: the user turn and an empty assistant turn to answer."""
    return [{"role": "user", "content": user_prompt(item)}, {"role": "assistant", "content": ""}]
