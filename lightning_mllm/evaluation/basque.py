"""Basque rules of answer scoring, kept apart so a language registry can take them over as data.

Everything Basque-specific that scoring needs lives here; ``mc_extraction`` and ``vqa_metric``
only combine it with the English rules.

Multiple-choice cue words (``MC_CUES``): the words a Basque reply uses to name its option
("Erantzuna B da", "B aukera da zuzena"). They match whole words only, so "erantzuna" never
ends in the letter A.

Option text (``strip_determiner``): Basque marks definiteness and number with a suffix, so
"pilota gorria" (the red ball) and "pilota gorri bat" (a red ball) differ in their last letters
where English adds or drops "the"/"a". Words of four letters or more lose a final "-ak" or "-a"
(and a doubled "rr" left at the end becomes "r": "txakurra" -> "txakur") before option texts are
compared, on both sides, the way English articles are dropped.

Short answers (``vqa_metric.normalize_basque_answer`` applies these), for items whose language is
``eu``:

- punctuation is handled as in English (the official VQA rules, ``vqa_metric``), except that a
  comma between digits is a decimal comma ("2,5" -> "2.5"), not a thousands separator; a period
  between digits is kept as it is ("10.000" stays "10.000": it is a thousands separator in
  Basque and a decimal point in an English-trained model's reply, and cannot be told apart);
- lower case; cardinal numbers written in words become digits, from 0 to 1000: zero, bat, bi,
  hiru, lau, bost (also "bortz"), sei, zazpi, zortzi, bederatzi, hamar, hamaika, hamabi ...
  hemeretzi, the vigesimal tens hogei (20), hogeita hamar (30), berrogei (40), berrogeita hamar
  (50), hirurogei (60), laurogei (80) with "hogeita bat" (21) ... "laurogeita hemeretzi" (99),
  ehun (100), berrehun ... bederatziehun (200-900) with "ehun eta bat" (101) ..., and mila (1000);
  "-eta" compounds are read written apart or together ("hogeita bat", "hogeitabat"); "bat ere
  ez" and "batere ez" (none) become "0" like English "none";
- forms with a determiner or case suffix are NOT numbers: "bata" (the one), "biak" (both),
  "hirurak" (the three) name things, not counts, so they stay words; the indefinite "bat" after
  a noun ("txakur bat", a dog) does become "1", as English "one dog" becomes "1 dog";
- English articles and contractions are not touched.
"""

from __future__ import annotations

import re

# Words a Basque reply names its option with; each tuple holds the forms of one cue.
MC_CUES = {
    "answer": ("erantzuna", "erantzunak"),   # the answer (absolutive, singular and plural)
    "answer_stem": ("erantzun",),             # only before "zuzena": "erantzun zuzena" (the right answer)
    "correct": ("zuzena",),                   # correct
    "option": ("aukera",),                    # option
    "is": ("da",),                            # is
    "because": ("delako",),                   # because it is
    "or": ("edo",),
    "and": ("eta",),
}

_UNITS = ["zero", "bat", "bi", "hiru", "lau", "bost", "sei", "zazpi", "zortzi", "bederatzi", "hamar", "hamaika",
          "hamabi", "hamahiru", "hamalau", "hamabost", "hamasei", "hamazazpi", "hemezortzi", "hemeretzi"]
_SCORES = {20: "hogei", 40: "berrogei", 60: "hirurogei", 80: "laurogei"}
_HUNDREDS = {1: "ehun", 2: "berrehun", 3: "hirurehun", 4: "laurehun", 5: "bostehun", 6: "seiehun",
             7: "zazpiehun", 8: "zortziehun", 9: "bederatziehun"}
# Spelling variants of a whole number word.
_VARIANTS = {"bost": ("bortz",), "hamabost": ("hamabortz",), "bostehun": ("bortzehun",)}
_NONE = ("bat ere ez", "batere ez")
MAX_NUMBER = 1000
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d)")


def _below_hundred(n: int) -> list[str]:
    """The spellings of 1..99 (several when "-eta" may be written apart or together)."""
    if n < 20:
        return [_UNITS[n]]
    score, rest = 20 * (n // 20), n % 20
    if rest == 0:
        return [_SCORES[score]]
    stem = _SCORES[score] + "ta"  # hogei + ta: "hogeita", the linking form
    return [f"{stem} {_UNITS[rest]}", f"{stem}{_UNITS[rest]}"]


def _spellings(n: int) -> list[str]:
    """Every spelling this module reads for ``n`` in 0..1000."""
    if n == MAX_NUMBER:
        return ["mila"]
    if n < 100:
        return _below_hundred(n)
    hundreds, rest = divmod(n, 100)
    head = _HUNDREDS[hundreds]
    return [head] if rest == 0 else [f"{head} eta {tail}" for tail in _below_hundred(rest)]


def _number_table() -> dict[tuple[str, ...], str]:
    table: dict[tuple[str, ...], str] = {}
    for n in range(MAX_NUMBER + 1):
        for spelling in _spellings(n):
            words = spelling.split()
            table[tuple(words)] = str(n)
            for i, word in enumerate(words):  # "bortz" for "bost" wherever it stands
                for variant in _VARIANTS.get(word, ()):
                    table[tuple(words[:i] + [variant] + words[i + 1:])] = str(n)
    table.update({tuple(phrase.split()): "0" for phrase in _NONE})
    return table


NUMBERS = _number_table()
_LONGEST = max(len(words) for words in NUMBERS)


def number_words_to_digits(words: list[str]) -> list[str]:
    """Replaces every number written in words by its digits, longest spelling first.

    Args:
        words: Lower-case words.

    Returns:
        The words with each number phrase ("hogeita bat") replaced by one digit string ("21").
    """
    out, i = [], 0
    while i < len(words):
        for size in range(min(_LONGEST, len(words) - i), 0, -1):
            digits = NUMBERS.get(tuple(words[i:i + size]))
            if digits is not None:
                out.append(digits)
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return out


def decimal_comma_to_point(text: str) -> str:
    """"2,5" -> "2.5": a comma between digits is the Basque decimal separator."""
    return _DECIMAL_COMMA.sub(".", text)


def strip_determiner(word: str) -> str:
    """A lower-case word without its final determiner ("gorria" -> "gorri", "txakurrak" -> "txakur")."""
    if len(word) < 4:
        return word
    for suffix in ("ak", "a"):
        if word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("rr") else word
