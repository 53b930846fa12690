"""Which option a model's reply to a multiple-choice question picks, in English or the question's language.

The English rules always apply; the question's language adds the cue words, articles and
letter words of its language file (``mc_extraction_rules.py``). The examples below are English
and Basque; Galician, Catalan and Spanish replies ("A resposta correcta é a C", "La resposta és
la B", "La respuesta es la B") are read the same way from their files.

Replies come in many shapes ("B", "(B)", "The answer is B", "Erantzuna B da", the option text).
``extract_choice`` tries the rules below in order and stops at the first one that finds a letter.
If that rule finds two different letters the reply is ambiguous and the result is None: a later,
weaker rule is not asked to break the tie.

0. Bare letter: the whole reply is one letter in either case, maybe bracketed or followed by
   ".", ":" or ")": "B", "b", "(B)", "B)", "A.".
1. Answer statements: "The answer is B", "Answer: C", "the correct option is (D)",
   "B is the correct answer", "Erantzuna B da", "Erantzuna: B", "Erantzun zuzena C da.",
   "Zuzena: A", "B aukera da zuzena".
2. Labels: a bracketed letter anywhere ("(B)", "[B]"); a letter that starts a line followed by
   punctuation or the end of the line ("B: a red ball", "B. ..."); "option B", "aukera B",
   "B aukera", "B da".
3. Option text: the reply contains the words of exactly one option, ignoring case, punctuation,
   the English articles a/an/the and the question language's articles and, for Basque questions, the determiner suffixes ("pilota
   gorri bat" names "pilota gorria"; ``basque.strip_determiner``). When one option's text lies inside another's ("red" in
   "red ball"), an occurrence inside an occurrence of the longer text counts for the longer one.
4. Loose letter: a capital letter standing alone anywhere ("I would pick B here").

Letters count only if they are option keys. "A" and "I" are English words (and the language
file's ``letter_words`` are words of the question's language) and a lower-case
letter is usually the article "a", so those count only when followed by punctuation, the end of
the line, a word that marks a label ("is", "da", "aukera", "because"...), "or"/"edo" and another
letter, or "and"/"eta" and a capital letter: "A dog is sitting" does not pick A, while "A", "A."
and "A)" do. A letter followed by ",", "/", "or", "edo", "and" or "eta" and another letter
("B or C", "A eta B", "both A and B") makes the reply ambiguous.

Cue words are whole words in both languages: "erantzuna" (the answer) is a cue, never
"erantzun" followed by the letter "a", so "Pilota gorria da erantzuna." is read by its option
text and a reply that is only "Erantzuna" names no option. The cue words are data in the
language files (``answers.mc_cues``); a language's cues are read only for questions in that
language. Negations ("not B", "B ez") are not understood.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from lightning_mllm.evaluation import basque
from lightning_mllm.evaluation.mc_extraction_rules import ChoiceRules, choice_rules

_BARE = re.compile(r"[\s(\[]*([A-Za-z])[\s)\].:]*")
_MARKUP = re.compile(r"[*`\"\u201c\u201d]")  # markdown emphasis and quotes around a letter
# Case-sensitive on purpose: a lower-case letter alone in prose is the article or a typo.
_LOOSE = (re.compile(r"(?<![\w'])(?P<L>[A-Z])(?![\w'])"),)


def _is_label(text: str, end: int, letter: str, keys: dict[str, str], rules: ChoiceRules) -> bool:
    """Whether ``letter``, ending at ``end`` in ``text``, names an option rather than a word."""
    if letter.upper() not in keys:
        return False
    if letter.isupper() and letter.lower() not in rules.letter_words:
        return True
    return rules.follows_as_label(text, end, letter)


def _pattern_letters(patterns: tuple[re.Pattern[str], ...], text: str, keys: dict[str, str],
                     rules: ChoiceRules) -> set[str]:
    """Upper-case option letters that ``patterns`` find, with "or C"-style alternatives added."""
    found = set()
    for pattern in patterns:
        for match in pattern.finditer(text):
            end = match.end("L")
            if not _is_label(text, end, match.group("L"), keys, rules):
                continue
            found.add(match.group("L").upper())
            # "B or C" / "B edo C" names two options, which makes the reply ambiguous.
            while ((alt := rules.alternative.match(text, end))
                   and _is_label(text, alt.end("L"), alt.group("L"), keys, rules)):
                found.add(alt.group("L").upper())
                end = alt.end("L")
    return found


def _words(text: str, lang: str, rules: ChoiceRules) -> list[str]:
    """The words that option texts are compared by: no articles (English and the question's
    language); Basque without determiners."""
    words = [word for word in re.findall(r"\w+", text.lower()) if word not in rules.articles]
    return [basque.strip_determiner(word) for word in words] if lang == "eu" else words


def _text_letters(text: str, options: dict[str, str], lang: str, rules: ChoiceRules) -> set[str]:
    """Upper-case letters of the options whose words occur in ``text``, longest occurrences first."""
    words = _words(text, lang, rules)
    hits = []  # (first word, end word, letter) of every occurrence of every option text
    for key, option in options.items():
        target = _words(option, lang, rules)
        size = len(target)
        if size:
            hits += [(i, i + size, key.strip().upper()) for i in range(len(words) - size + 1)
                     if words[i:i + size] == target]
    # An occurrence strictly inside a longer option's occurrence belongs to the longer option.
    return {letter for start, end, letter in hits
            if not any(s <= start and end <= e and e - s > end - start for s, e, _ in hits)}


def extract_choice(reply: str, options: dict[str, str], lang: str = "en") -> str | None:
    """The option letter a reply picks, following the rules in the module docstring.

    Args:
        reply: The model's reply, in English or the question's language.
        options: Option letter -> option text, in display order.
        lang: The question's language: its language file's cue words, articles and letter words
            are read besides English ones; ``eu`` compares option texts without Basque determiners.

    Returns:
        The chosen key of ``options`` (as spelled there), or None when the reply names no option
        or names two different options at the strongest rule that finds any.
    """
    keys = {key.strip().upper(): key for key in options}
    reading = choice_rules(lang)
    text = _MARKUP.sub("", unicodedata.normalize("NFKC", reply or "")).strip()
    bare = _BARE.fullmatch(text)
    if bare and bare.group(1).upper() in keys:
        return keys[bare.group(1).upper()]
    rules: list[Callable[[], set[str]]] = [
        lambda: _pattern_letters(reading.statements, text, keys, reading),
        lambda: _pattern_letters(reading.labels, text, keys, reading),
        lambda: _text_letters(text, options, lang, reading),
        lambda: _pattern_letters(_LOOSE, text, keys, reading),
    ]
    for rule in rules:
        found = rule()
        if found:
            return keys[found.pop()] if len(found) == 1 else None
    return None
