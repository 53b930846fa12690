"""Which option a model's reply to a multiple-choice question picks, in English or Basque.

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
   the English articles a/an/the and, for Basque questions, the determiner suffixes ("pilota
   gorri bat" names "pilota gorria"; ``basque.strip_determiner``). When one option's text lies inside another's ("red" in
   "red ball"), an occurrence inside an occurrence of the longer text counts for the longer one.
4. Loose letter: a capital letter standing alone anywhere ("I would pick B here").

Letters count only if they are option keys. "A" and "I" are English words and a lower-case
letter is usually the article "a", so those count only when followed by punctuation, the end of
the line, a word that marks a label ("is", "da", "aukera", "because"...), "or"/"edo" and another
letter, or "and"/"eta" and a capital letter: "A dog is sitting" does not pick A, while "A", "A."
and "A)" do. A letter followed by ",", "/", "or", "edo", "and" or "eta" and another letter
("B or C", "A eta B", "both A and B") makes the reply ambiguous.

Cue words are whole words in both languages: "erantzuna" (the answer) is a cue, never
"erantzun" followed by the letter "a", so "Pilota gorria da erantzuna." is read by its option
text and a reply that is only "Erantzuna" names no option. The Basque cue words are data in
``basque.MC_CUES``. Negations ("not B", "B ez") are not understood.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from lightning_mllm.evaluation import basque


def _any(*words: str) -> str:
    """A regex alternative of whole words, longest first (so "erantzunak" is tried before "erantzuna")."""
    return "(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b"


_EU = basque.MC_CUES
_EU_ANSWER = _any(*_EU["answer"])
_EU_CORRECT = _any(*_EU["correct"])
_EU_OPTION = _any(*_EU["option"])
_EU_IS = _any(*_EU["is"])
_EU_RIGHT_ANSWER = rf"(?:{_EU_ANSWER}|{_any(*_EU['answer_stem'])}\s+{_EU_CORRECT}|{_EU_CORRECT})"
_OPTION_WORD = _any("option", "choice", "letter", *_EU["option"])

# The letter keeps its case even though the patterns around it ignore case: case decides
# whether "a"/"A" can be the article.
_LETTER = r"(?P<L>(?-i:[A-Za-z]))"
_OPEN_LETTER = rf"[\(\[]?{_LETTER}(?!\w)"
_LABEL_WORDS = _any("is", "because", "since", *_EU["is"], *_EU["option"], *_EU["answer"], *_EU["correct"],
                    *_EU["because"])
_OR = _any("or", *_EU["or"])
_AND = _any("and", *_EU["and"])
_CONJUNCTION = rf"(?:,|/|{_OR}|{_AND})"
# "A or B" and "A and B" / "A eta B" make "A" a label; only a capital counts after "and", so
# "a dog and a cat" keeps its articles.
_SAFE_FOLLOW = re.compile(
    rf"[ \t]*(?:$|[.,:;!?)\]]|[-\u2013\u2014]\s|{_LABEL_WORDS}|{_OR}\s+[\(\[]?[A-Za-z](?!\w)"
    rf"|{_AND}\s+[\(\[]?(?-i:[A-Z])(?!\w))",
    re.IGNORECASE | re.MULTILINE)
_ALTERNATIVE = re.compile(rf"[\)\]]?\s*{_CONJUNCTION}\s*(?:{_OPTION_WORD}\s+)?{_OPEN_LETTER}", re.IGNORECASE)
_BARE = re.compile(r"[\s(\[]*([A-Za-z])[\s)\].:]*")
_MARKUP = re.compile(r"[*`\"\u201c\u201d]")  # markdown emphasis and quotes around a letter
_ARTICLES = {"a", "an", "the"}


def _compile(*patterns: str) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


_STATEMENTS = _compile(
    # "The answer is B", "the correct option is (D)", "Answer: C", "best choice would be option B".
    r"\b(?:answer|(?:correct|right|best)\s+(?:answer|option|choice))\b"
    r"(?:\s+(?:is|would\s+be|should\s+be|must\s+be|will\s+be)\b)?\s*[:=\-]?\s*"
    rf"(?:(?:option|choice|letter)\b\s*)?{_OPEN_LETTER}",
    # "B is the correct answer", "(C) is right".
    rf"(?<![\w']){_LETTER}[\)\].]?\s+(?:is|would\s+be)\s+(?:the\s+)?(?:correct|right|best|answer)\b",
    # Basque puts the cue before the letter ("Erantzuna B da", "Erantzun zuzena: C", "Zuzena: A")...
    rf"\b(?:{_EU_RIGHT_ANSWER}|{_EU_OPTION}\s+{_EU_CORRECT})(?:\s+{_EU_IS})?\s*[:=\-]?\s*(?:{_EU_OPTION}\s+)?"
    + _OPEN_LETTER,
    # ...or after it ("B aukera da zuzena", "B da erantzuna", "C erantzun zuzena da").
    rf"(?<![\w']){_LETTER}[\)\].]?\s+(?:{_EU_OPTION}\s+)?(?:{_EU_IS}\s+)?{_EU_RIGHT_ANSWER}",
)
_LABELS = _compile(
    rf"[\(\[]{_LETTER}[\)\]]",
    rf"(?m)^[ \t]*{_LETTER}(?=[ \t]*(?:[.,:;)\]!?]|[-\u2013\u2014]\s|$))",
    rf"\b{_OPTION_WORD}\s+{_OPEN_LETTER}",
    rf"(?<![\w']){_LETTER}[\)\].]?\s+(?:{_EU_OPTION}|{_EU_IS})",
)
# Case-sensitive on purpose: a lower-case letter alone in prose is the article or a typo.
_LOOSE = [re.compile(r"(?<![\w'])(?P<L>[A-Z])(?![\w'])")]


def _is_label(text: str, end: int, letter: str, keys: dict[str, str]) -> bool:
    """Whether ``letter``, ending at ``end`` in ``text``, names an option rather than a word."""
    if letter.upper() not in keys:
        return False
    if letter.isupper() and letter not in "AI":
        return True
    return _SAFE_FOLLOW.match(text, end) is not None


def _pattern_letters(patterns: list[re.Pattern[str]], text: str, keys: dict[str, str]) -> set[str]:
    """Upper-case option letters that ``patterns`` find, with "or C"-style alternatives added."""
    found = set()
    for pattern in patterns:
        for match in pattern.finditer(text):
            end = match.end("L")
            if not _is_label(text, end, match.group("L"), keys):
                continue
            found.add(match.group("L").upper())
            # "B or C" / "B edo C" names two options, which makes the reply ambiguous.
            while (alt := _ALTERNATIVE.match(text, end)) and _is_label(text, alt.end("L"), alt.group("L"), keys):
                found.add(alt.group("L").upper())
                end = alt.end("L")
    return found


def _words(text: str, lang: str) -> list[str]:
    """The words that option texts are compared by: no English articles; Basque without determiners."""
    words = [word for word in re.findall(r"\w+", text.lower()) if word not in _ARTICLES]
    return [basque.strip_determiner(word) for word in words] if lang == "eu" else words


def _text_letters(text: str, options: dict[str, str], lang: str) -> set[str]:
    """Upper-case letters of the options whose words occur in ``text``, longest occurrences first."""
    words = _words(text, lang)
    hits = []  # (first word, end word, letter) of every occurrence of every option text
    for key, option in options.items():
        target = _words(option, lang)
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
        reply: The model's reply, in English or Basque.
        options: Option letter -> option text, in display order.
        lang: The question's language; ``eu`` compares option texts without Basque determiners.

    Returns:
        The chosen key of ``options`` (as spelled there), or None when the reply names no option
        or names two different options at the strongest rule that finds any.
    """
    keys = {key.strip().upper(): key for key in options}
    text = _MARKUP.sub("", unicodedata.normalize("NFKC", reply or "")).strip()
    bare = _BARE.fullmatch(text)
    if bare and bare.group(1).upper() in keys:
        return keys[bare.group(1).upper()]
    rules: list[Callable[[], set[str]]] = [
        lambda: _pattern_letters(_STATEMENTS, text, keys),
        lambda: _pattern_letters(_LABELS, text, keys),
        lambda: _text_letters(text, options, lang),
        lambda: _pattern_letters(_LOOSE, text, keys),
    ]
    for rule in rules:
        found = rule()
        if found:
            return keys[found.pop()] if len(found) == 1 else None
    return None
