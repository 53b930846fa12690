"""Answer normalisation for exact-match accuracy in English and Basque."""

from __future__ import annotations

import re
import unicodedata

_ARTICLES = {"a", "an", "the"}  # English only: Basque marks definiteness with a suffix.


def normalize_answer(text: str) -> str:
    """Lower case, punctuation removed, English articles dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(word for word in text.split() if word not in _ARTICLES)


def exact_match(prediction: str, reference: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(reference)
