"""The checks every translation passes before it is written, and the English detector they use.

A translation is accepted only when, in this order:
    structure    its tags are exactly the item's tags (``segments.parse``);
    empty        no part is empty;
    placeholder  every part keeps the same placeholders (``<image>`` and any other ``<name>``),
                 as many times, as its source part;
    length       every part of at least ``MIN_CHARS_FOR_RATIO`` source characters is between
                 ``LENGTH_RATIO`` times its source's length (Basque runs about as long as English;
                 a much shorter part was cut or skipped, a much longer one loops, as greedy
                 decoding sometimes does);
    english      it does not look English (``english_score``): the whole text, and every part of
                 at least ``MIN_WORDS_PER_PART`` words on its own, so one English turn cannot hide
                 among Basque ones;
    untranslated no short part (an option, a one-word answer) is left as its English source: a
                 part identical to its source (ignoring case and punctuation) fails when it holds
                 an English function word ("A cup") or is a common English short answer
                 (``ENGLISH_ANSWER_WORDS``: yes/no, numbers, colours, directions); a name such as
                 "Paris" may stay as it is. An item whose every part is left as it was fails too;
    options      two different options do not become the same text, and no option gains an
                 option letter it did not have ("A) Katilu bat", "Katilu bat (B)"): either would
                 change which letter a reply picks.

The English detector is a heuristic, not a language identifier: it counts words from a short list
of very common English function words (and "image", "picture", "photo", frequent in these data)
against words from a list of common Basque words or with a common Basque case or verb suffix
(-aren, -ean, -etan, -ko, -tzen, -rik, ...; only words of at least 5 letters, as short English
words end in "-ak" or "-ko" too). A text counts as English when it has at least ``MIN_WORDS``
words, at least two English function words making ``ENGLISH_SHARE`` of its words or more, and more
English than Basque hits. English prose is about half function words and fluent Basque has almost
none, so the rule separates whole sentences clearly; a Basque sentence quoting an English name or
title passes, and texts of a word or three (VQA answers) are not judged at all.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from lightning_mllm.translation.segments import Segment, TranslationRejected, parse

# Angle-bracket tokens such as <image>; HTML-like tags in text are expected to survive too.
PLACEHOLDER = re.compile(r"<[A-Za-z_][\w-]*>")
LENGTH_RATIO = (0.3, 3.0)
MIN_CHARS_FOR_RATIO = 20
MIN_WORDS = 4
MIN_WORDS_PER_PART = 8
ENGLISH_SHARE = 0.15
ENGLISH_WORDS = frozenset(
    ["the", "a", "an", "is", "are", "was", "were", "be", "been", "being", "of", "and", "to", "in", "on", "at", "by", "for", "from", "with", "without", "what", "which", "who", "whom", "whose", "how", "why", "where", "when", "this", "that", "these", "those", "there", "here", "it", "its", "they", "them", "their", "he", "she", "his", "her", "you", "your", "we", "our", "do", "does", "did", "has", "have", "had", "can", "could", "would", "should", "will", "not", "no", "yes", "or", "as", "than", "then", "if", "into", "about", "image", "picture", "photo"])
BASQUE_WORDS = frozenset(
    ["eta", "da", "dira", "dago", "daude", "zen", "ziren", "bat", "batzuk", "bi", "ez", "bai", "zer", "zein", "zenbat", "nola", "non", "noiz", "zergatik", "nor", "du", "dute", "dauka", "ditu", "zuen", "hau", "hori", "hura", "hauek", "horiek", "honetan", "horretan", "irudi", "irudia", "irudian", "irudiko", "argazkia", "argazkian", "argazkiko", "edo", "ere", "baina", "oso", "ari", "izan", "egin", "dela", "den", "al", "beste", "gainean", "ondoan", "artean", "barruan", "atzean", "aurrean", "baten", "batean", "gisa", "bezala"])
BASQUE_SUFFIXES = ("aren", "arekin", "ean", "etan", "etako", "eko", "ko", "tzen", "tzeko", "tuta", "rik", "tik",
                   "ak", "ek", "ari", "ei")
MIN_SUFFIX_WORD = 5
ENGLISH_ANSWER_WORDS = frozenset(
    ["yes", "no", "none", "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "twenty", "red", "blue", "green", "yellow", "black", "white", "brown", "orange", "pink", "purple", "gray", "grey", "left", "right", "up", "down", "top", "bottom", "front", "back", "inside", "outside", "day", "night", "man", "woman", "boy", "girl", "dog", "cat"])
# An option label at the start or end of an option's text: "A)", "(B)", "C.", "D:", "[E]".
_OPTION_LABEL = re.compile(r"^\s*[\(\[]?[A-J][\)\].:](?:\s|$)|(?:^|\s)[\(\[][A-J][\)\]]\s*$")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class LanguageScore:
    """Word counts of a text for the English detector.

    Attributes:
        words: All words (runs of letters).
        english: Words in ``ENGLISH_WORDS``.
        basque: Words in ``BASQUE_WORDS`` or with a Basque suffix.
    """

    words: int
    english: int
    basque: int

    @property
    def looks_english(self) -> bool:
        """The detector's verdict (see the module docstring for the rule)."""
        return (self.words >= MIN_WORDS and self.english >= 2 and self.english >= ENGLISH_SHARE * self.words
                and self.english > self.basque)


def english_score(text: str) -> LanguageScore:
    """Counts the English and Basque marker words of ``text`` (placeholders are not words)."""
    words = [word.lower() for word in _WORD.findall(PLACEHOLDER.sub(" ", text))]
    english = sum(word in ENGLISH_WORDS for word in words)
    basque = sum(word in BASQUE_WORDS or (len(word) >= MIN_SUFFIX_WORD and word not in ENGLISH_WORDS
                                          and word.endswith(BASQUE_SUFFIXES)) for word in words)
    return LanguageScore(len(words), english, basque)


def check_translation(segments: list[Segment], output: str) -> list[str]:
    """The translated text of every segment, once the reply passes every check.

    Args:
        segments: The item's segments (English).
        output: The translator's reply.

    Returns:
        One translated text per segment.

    Raises:
        TranslationRejected: With the reason of the first check that fails.
    """
    texts = parse(output, [segment.tag for segment in segments])
    for segment, text in zip(segments, texts):
        _check_part(segment, text)
    for text in ["\n".join(texts)] + [text for text in texts if len(_WORD.findall(text)) >= MIN_WORDS_PER_PART]:
        score = english_score(text)
        if score.looks_english:
            raise TranslationRejected("english", f"{score.english} of {score.words} words are English function "
                                                 f"words (Basque markers: {score.basque}): {text[:80]!r}")
    _check_untranslated(segments, texts)
    _check_options(segments, texts)
    return texts


def _check_part(segment: Segment, text: str) -> None:
    if not text:
        raise TranslationRejected("empty", f"[{segment.tag}] is empty")
    source, target = Counter(PLACEHOLDER.findall(segment.text)), Counter(PLACEHOLDER.findall(text))
    if source != target:
        raise TranslationRejected("placeholder", f"[{segment.tag}] has placeholders {dict(target)}, "
                                                 f"the source {dict(source)}")
    length = len(PLACEHOLDER.sub("", segment.text).strip())
    if length >= MIN_CHARS_FOR_RATIO:
        ratio = len(PLACEHOLDER.sub("", text).strip()) / length
        if not LENGTH_RATIO[0] <= ratio <= LENGTH_RATIO[1]:
            raise TranslationRejected("length", f"[{segment.tag}] is {ratio:.2f} times as long as its source "
                                                f"(accepted {LENGTH_RATIO[0]}-{LENGTH_RATIO[1]})")


def _plain(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(PLACEHOLDER.sub(" ", text))]


def _left_in_english(source: str, text: str) -> bool:
    words = _plain(text)
    if not words or words != _plain(source):
        return False
    return any(word in ENGLISH_WORDS for word in words) or (len(words) == 1 and words[0] in ENGLISH_ANSWER_WORDS)


def _check_untranslated(segments: list[Segment], texts: list[str]) -> None:
    for segment, text in zip(segments, texts):
        if len(_WORD.findall(text)) < MIN_WORDS_PER_PART and _left_in_english(segment.text, text):
            raise TranslationRejected("untranslated", f"[{segment.tag}] is left in English: {text[:60]!r}")
    if all(_plain(segment.text) == _plain(text) for segment, text in zip(segments, texts)):
        raise TranslationRejected("untranslated", "every part is identical to its English source")


def _check_options(segments: list[Segment], texts: list[str]) -> None:
    options = [(segment, text) for segment, text in zip(segments, texts) if segment.tag.startswith("OPTION ")]
    seen: dict[str, tuple[str, str]] = {}
    for segment, text in options:
        if _OPTION_LABEL.search(text) and not _OPTION_LABEL.search(segment.text):
            raise TranslationRejected("options", f"[{segment.tag}] gained an option letter: {text[:60]!r}")
        key = " ".join(_plain(text))
        if key in seen and seen[key][1] != " ".join(_plain(segment.text)):
            raise TranslationRejected("options", f"[{seen[key][0]}] and [{segment.tag}] both became {text[:60]!r}")
        seen[key] = (segment.tag, " ".join(_plain(segment.text)))
