"""A language's rules for comparing short answers: number words, decimal comma, articles, yes/no
spellings, and the words multiple-choice replies name their option with."""

from __future__ import annotations

import re
import unicodedata
from functools import cached_property
from dataclasses import dataclass, field
from pathlib import Path

from lightning_mllm.languages.fields import (
    LanguageFileError,
    mapping,
    optional,
    text,
    words,
)

MC_CUE_KINDS = ("answer", "answer_stem", "correct", "option", "is", "because", "or", "and")
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d)")
_POINT_IN_NUMBER = re.compile(r"(?<=\d)\.(?=\d)")


@dataclass(frozen=True)
class AnswerRules:
    """How answers in one language are brought to a normal form before they are compared.

    Attributes:
        decimal_comma: Whether a comma between digits is the decimal separator ("2,5" = "2.5").
        articles: Words dropped when the answer has other words too ("un círculo" = "círculo");
            an entry ending in an apostrophe ("l'") is an elided article cut off a word's start.
        numbers: Number words and their values ("dúas" -> 2).
        mc_cues: The words a reply names its multiple-choice option with, by kind (``answer``,
            ``correct``, ``option``, ``is``, ``because``, ``or``, ``and``, ``answer_stem``).
        yes_no: The words for yes and for no, each list's first word the normal form its other
            spellings become (Spanish ``yes: [sí, si]``: "Si" = "sí").
        letter_words: Single letters that are words of the language (Spanish "a", "o", "y"): a
            reply's letter that is one of them names an option only where a cue or punctuation
            follows it, as English "A" and "I" do.
    """

    decimal_comma: bool = False
    articles: tuple[str, ...] = ()
    numbers: dict[str, int] = field(default_factory=dict)
    mc_cues: dict[str, tuple[str, ...]] = field(default_factory=dict)
    yes_no: dict[str, tuple[str, ...]] = field(default_factory=dict)
    letter_words: tuple[str, ...] = ()

    @classmethod
    def from_data(cls, data: object, path: Path) -> AnswerRules:
        """Reads the ``answers`` mapping of a language file, checking every value."""
        data = mapping(data, path, "answers")
        known = {"decimal_comma", "articles", "numbers", "mc_cues", "yes_no", "letter_words"}
        if unknown := sorted(set(data) - known):
            raise LanguageFileError(f"{path}: unknown key(s) {['answers.' + k for k in unknown]}; "
                                    f"expected some of {sorted(known)}")
        decimal_comma = optional(data, "decimal_comma", False)
        if not isinstance(decimal_comma, bool):
            raise LanguageFileError(f"{path}: key 'answers.decimal_comma' must be true or false, got {decimal_comma!r}")
        numbers = {}
        for word, value in mapping(optional(data, "numbers", {}), path, "answers.numbers").items():
            text(word, path, f"answers.numbers key {word!r}")
            if not isinstance(value, int) or isinstance(value, bool):
                raise LanguageFileError(f"{path}: key 'answers.numbers.{word}' must be a whole number, got {value!r}")
            numbers[word.lower()] = value
        cues = mapping(optional(data, "mc_cues", {}), path, "answers.mc_cues")
        for kind in cues:
            if kind not in MC_CUE_KINDS:
                raise LanguageFileError(f"{path}: unknown key 'answers.mc_cues.{kind}'; expected {MC_CUE_KINDS}")
        yes_no = mapping(optional(data, "yes_no", {}), path, "answers.yes_no")
        for kind in yes_no:
            if kind not in ("yes", "no"):
                raise LanguageFileError(f"{path}: unknown key 'answers.yes_no.{kind}'; expected 'yes' and 'no'")
        letters = words(optional(data, "letter_words", []), path, "answers.letter_words")
        for letter in letters:
            if len(letter) != 1 or not letter.isalpha():
                raise LanguageFileError(f"{path}: 'answers.letter_words' holds {letter!r}; expected single letters")
        return cls(decimal_comma=decimal_comma,
                   articles=tuple(w.lower().replace("’", "'") for w in words(optional(data, "articles", []), path, "answers.articles")),
                   numbers=numbers,
                   mc_cues={kind: words(value, path, f"answers.mc_cues.{kind}") for kind, value in cues.items()},
                   yes_no={kind: tuple(w.lower() for w in words(value, path, f"answers.yes_no.{kind}"))
                           for kind, value in yes_no.items() if value},
                   letter_words=tuple(sorted({w.lower() for w in letters})))

    @cached_property
    def spellings(self) -> dict[str, str]:
        """Each yes/no word -> its normal form (the first word of its list); built once, since
        ``normalize`` runs for every answer scored."""
        return {word: forms[0] for forms in self.yes_no.values() for word in forms}

    def normalize(self, answer: str) -> str:
        """The normal form of a short answer: lower case, decimal comma read as a point,
        punctuation removed, articles dropped (unless the answer is nothing else) and number
        words written as digits, yes/no words in their normal spelling.

        Args:
            answer: A model's reply or a reference answer.

        Returns:
            The words of the normal form joined by single spaces ("Dúas." -> "2",
            "Un círculo." -> "círculo", "2,5" -> "2.5" where the decimal comma is the rule).
        """
        answer = answer.lower().strip().replace("’", "'")
        if self.decimal_comma:
            answer = _DECIMAL_COMMA.sub(".", answer)
        answer = _POINT_IN_NUMBER.sub("\0", answer)  # keep "2.5" through the punctuation step
        # Punctuation is any Unicode punctuation mark but the apostrophe inside words ("l'esquerra").
        answer = "".join(" " if unicodedata.category(c).startswith("P") and c != "'" else c for c in answer)
        tokens = [self._without_elision(w.strip("'")) for w in answer.replace("\0", ".").split()]
        if len(tokens) > 1:
            tokens = [w for w in tokens if w not in self.articles] or tokens
        return " ".join(self.spellings.get(w, str(self.numbers.get(w, w))) for w in tokens)

    def _without_elision(self, word: str) -> str:
        for article in self.articles:
            if article.endswith("'") and word.startswith(article) and len(word) > len(article):
                return word[len(article):]
        return word
