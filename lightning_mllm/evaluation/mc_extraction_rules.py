"""The patterns ``mc_extraction`` reads a reply with, built for the question's language from its
language file (``lightning_mllm/languages/<code>.yaml``, ``answers``).

English is always read (models reply in English whatever they are asked in), with its own
hand-written statements ("the answer would be B"). The question's language adds its cue words
(``answers.mc_cues``) in two generic shapes that cover Basque as well as Galician, Catalan and
Spanish: the cue before the letter ("Erantzuna B da", "La respuesta correcta es la B") and after it
("B aukera da zuzena", "C é a correcta"), an article allowed before the letter or the option
word (``answers.articles``). ``answers.letter_words`` names the letters that are words of the
language ("a", "o", "y" in Spanish), which count only where a cue or punctuation follows them.
A language without a file is read with the English rules alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lightning_mllm.languages import UnknownLanguageError, load_language
from lightning_mllm.languages.answer_rules import AnswerRules

_ENGLISH = AnswerRules(articles=("a", "an", "the"), letter_words=("a", "i"), mc_cues={
    "answer": ("answer",), "correct": ("correct",), "option": ("option", "choice", "letter"), "is": ("is",),
    "because": ("because", "since"), "or": ("or",), "and": ("and",)})
# The letter keeps its case even though the patterns around it ignore case: case decides
# whether "a"/"A" can be the article.
LETTER = r"(?P<L>(?-i:[A-Za-z]))"
OPEN_LETTER = rf"[\(\[]?{LETTER}(?!\w)"
# English statements: "The answer is B", "the correct option is (D)", "Answer: C", "B is the correct answer".
_ENGLISH_STATEMENTS = (
    (r"\b(?:answer|(?:correct|right|best)\s+(?:answer|option|choice))\b"
     r"(?:\s+(?:is|would\s+be|should\s+be|must\s+be|will\s+be)\b)?\s*[:=\-]?\s*"
     rf"(?:(?:option|choice|letter)\b\s*)?{OPEN_LETTER}"),
    rf"(?<![\w']){LETTER}[\)\].]?\s+(?:is|would\s+be)\s+(?:the\s+)?(?:correct|right|best|answer)\b",
)


def any_word(*words: str) -> str:
    """A regex alternative of whole words, longest first (so "erantzunak" is tried before "erantzuna")."""
    words = tuple(dict.fromkeys(w for w in words if w))
    if not words:
        return r"(?!)"  # matches nothing
    return "(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b"


@dataclass(frozen=True)
class ChoiceRules:
    """The compiled rules for one question language (see the module docstring)."""

    statements: tuple[re.Pattern[str], ...]
    labels: tuple[re.Pattern[str], ...]
    safe_follow: re.Pattern[str]
    safe_after_article: re.Pattern[str]
    alternative: re.Pattern[str]
    letter_words: frozenset[str]
    article_letters: frozenset[str]
    articles: frozenset[str]

    def follows_as_label(self, text: str, end: int, letter: str) -> bool:
        """Whether what follows ``letter`` (ending at ``end``) makes it a label. After a letter
        that is also an article ("A resposta", "a correct answer") a noun cue (answer, option,
        correct) is the article's noun, so only punctuation and the other cues count."""
        pattern = self.safe_after_article if letter.lower() in self.article_letters else self.safe_follow
        return pattern.match(text, end) is not None


def _compile(*patterns: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


def _cue_patterns(rules: AnswerRules) -> tuple[list[str], list[str]]:
    """The statement and label patterns of one language's cue words."""
    cue = rules.mc_cues
    answer, correct, option, is_ = (any_word(*cue.get(k, ())) for k in ("answer", "correct", "option", "is"))
    stem = any_word(*cue.get("answer_stem", ()))
    article = any_word(*(a for a in rules.articles if not a.endswith("'")))
    right = rf"(?:{answer}(?:\s+{correct})?|{stem}\s+{correct}|{correct})"
    before = (rf"\b(?:{right}|{option}\s+{correct})(?:\s+{is_})?\s*[:=\-]?\s*(?:{article}\s+)?"
              rf"(?:{option}\s+)?(?:{article}\s+)?{OPEN_LETTER}")
    after = rf"(?<![\w']){LETTER}[\)\].]?\s+(?:{option}\s+)?(?:{is_}\s+)?(?:{article}\s+)?{right}"
    label = rf"(?<![\w']){LETTER}[\)\].]?\s+(?:{option}|{is_})"
    return [before, after], [label]


def _follow(words: str, or_: str, and_: str) -> re.Pattern[str]:
    """What may follow a letter that could be a word for it to name an option: punctuation, the
    end of the line, one of ``words``, or "or"/"and" and another letter ("A or B" and "A and B"
    make "A" a label; only a capital counts after "and", so "a dog and a cat" keeps its articles)."""
    return re.compile(rf"[ \t]*(?:$|[.,:;!?)\]]|[-\u2013\u2014]\s|{words}|{or_}\s+[\(\[]?[A-Za-z](?!\w)"
                      rf"|{and_}\s+[\(\[]?(?-i:[A-Z])(?!\w))", re.IGNORECASE | re.MULTILINE)


def _build(rules: AnswerRules | None) -> ChoiceRules:
    languages = [_ENGLISH] + ([rules] if rules is not None else [])
    cues = {kind: [w for r in languages for w in r.mc_cues.get(kind, ())] for kind in
            ("answer", "correct", "option", "is", "because", "or", "and")}
    own_statements, own_labels = _cue_patterns(rules) if rules is not None else ([], [])
    option_word = any_word(*cues["option"])
    verbs = any_word(*cues["is"], *cues["because"])
    nouns = any_word(*cues["option"], *cues["answer"], *cues["correct"])
    or_, and_ = any_word(*cues["or"]), any_word(*cues["and"])
    alternative = re.compile(rf"[\)\]]?\s*(?:,|/|{or_}|{and_})\s*(?:{option_word}\s+)?{OPEN_LETTER}", re.IGNORECASE)
    base_labels = [rf"[\(\[]{LETTER}[\)\]]", rf"(?m)^[ \t]*{LETTER}(?=[ \t]*(?:[.,:;)\]!?]|[-\u2013\u2014]\s|$))",
                   rf"\b{option_word}\s+{OPEN_LETTER}"]
    articles = {a.rstrip("'") for r in languages for a in r.articles}
    return ChoiceRules(statements=_compile(*_ENGLISH_STATEMENTS, *own_statements),
                       labels=_compile(*base_labels, *own_labels),
                       safe_follow=_follow(f"{verbs}|{nouns}", or_, and_), safe_after_article=_follow(verbs, or_, and_),
                       alternative=alternative,
                       letter_words=frozenset(w for r in languages for w in r.letter_words),
                       article_letters=frozenset(a for r in languages for a in r.articles if len(a) == 1),
                       articles=frozenset(articles))


def choice_rules(lang: str | None) -> ChoiceRules:
    """The rules replies to a question in ``lang`` are read with (English alone for ``en`` or a
    language without a file)."""
    if lang in (None, "en"):
        return _english()
    try:
        language = load_language(lang)
    except UnknownLanguageError:
        return _english()
    # Compiled once per language file version: an edited or another folder's file is read again.
    key = (lang, str(language.source), language.source.stat().st_mtime_ns if language.source else 0)
    if key not in _COMPILED:
        _COMPILED[key] = _build(language.answers)
    return _COMPILED[key]


_COMPILED: dict[tuple[str, str, int], ChoiceRules] = {}


@lru_cache(maxsize=1)
def _english() -> ChoiceRules:
    return _build(None)
