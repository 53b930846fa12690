"""Answer normalisation for the exact-match accuracy of validation, in the answer's language."""

from __future__ import annotations

import re
import unicodedata

from lightning_mllm.languages import UnknownLanguageError, load_language

_ARTICLES = {"a", "an", "the"}  # the fallback for a language without a file: English articles


def normalize_answer(text: str, lang: str | None = None) -> str:
    """The answer's normal form by its language file's rules (number words as digits, articles
    dropped, the decimal comma where it is the rule); without a known language: lower case,
    punctuation removed, English articles dropped, whitespace collapsed."""
    if lang is not None:
        try:
            return load_language(lang).answers.normalize(text)
        except UnknownLanguageError:
            pass
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(word for word in text.split() if word not in _ARTICLES)


def exact_match(prediction: str, reference: str, lang: str | None = None) -> bool:
    """Whether two answers agree after normalisation in ``lang`` ("bi" and "2" do in Basque)."""
    return normalize_answer(prediction, lang) == normalize_answer(reference, lang)
