"""Short-answer (VQA) scoring in any language of the registry, following the official VQA evaluation.

Which metric an item gets depends on how many human answers it has:

- ten answers (VQAv2, A-OKVQA's direct answers): the official soft accuracy. Each human answer is
  set aside in turn and the prediction scores min(1, matches among the other nine / 3); the ten
  scores are averaged, so k agreeing answers give 0.3, 0.6, 0.9 and 1.0 for k = 1, 2, 3, >= 4.
  The formula assumes ten answers: with one answer a right prediction would score 0.
- any other number: exact match after normalisation (1 when the prediction equals one of the
  answers), as lmms-eval scores single-answer sets.

Normalisation, English (and any language without a language file), in the reference's order:

1. the prediction goes through the EvalAI answer processor, as LLaVA and the VQA challenge
   server do before scoring: lower case; "," and "?" deleted; "'s" split off as " 's"; then
   steps 2 and 3;
2. punctuation (``; / [ ] " { } ( ) = + \\ _ - > < @ ` , ? !``): when the text holds a number with
   a thousands comma ("10,000") or the mark touches a space somewhere in the text, the mark is
   deleted, otherwise it becomes a space ("black-and-white" -> "black and white"); then a period
   not followed by a digit is deleted ("2.5" stays, "yes." -> "yes");
3. lower case, the number words none/zero ... ten become digits, the articles a/an/the are dropped,
   and the official table's contractions written without apostrophe get it back ("dont" -> "don't").

For soft accuracy the official evaluation then runs steps 2-3 again on the prediction and on the
human answers, but only when the answers are not all the same text; exact match applies the whole
processor to both sides.

Basque (``lang="eu"``), on the prediction and on every human answer alike
(``lightning_mllm.evaluation.basque`` holds the word lists): lower case; a comma between digits
is a decimal comma ("2,5" -> "2.5"); punctuation as in step 2; numbers written in words up to
1000 become digits ("bi" = "2", "hogeita bat" = "21", "ehun" = "100"); no articles or
contractions are touched.

Every other language with a file (``lightning_mllm/languages/<code>.yaml``: Galician, Catalan,
Spanish...), on the prediction and on every human answer alike, by its file's ``answers`` rules
(``AnswerRules.normalize``): lower case; the decimal comma where the file says so; punctuation
removed (an apostrophe inside a word kept); the file's articles dropped when the answer has other
words; its number words as digits; its yes/no spellings as one ("Si" = "sí" in Spanish). A new
language needs only its file.
"""

from __future__ import annotations

import re

from lightning_mllm.evaluation import basque
from lightning_mllm.languages import UnknownLanguageError, load_language
from lightning_mllm.languages.answer_rules import AnswerRules

VQA_ANSWERS = 10  # human answers per question that the soft accuracy is defined for
SOFT, EXACT = "vqa_soft_accuracy", "exact_match"

_PUNCTUATION = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?",
                "!"]
_THOUSANDS_COMMA = re.compile(r"\d,\d")
_PERIOD = re.compile(r"\.(?!\d)")
# The official code passes re.UNICODE (32) where ``sub`` takes its count: at most 32 periods go.
_PERIOD_LIMIT = 32
_NUMBERS = {word: str(value) for value, word in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"])} | {"none": "0"}
_ARTICLES = {"a", "an", "the"}
# The official table's misspelling -> contraction pairs that can match: its keys with capitals
# ("Im", "Ive", "Id've") never do, since the words are lower-cased before the lookup.
_CONTRACTIONS = dict(pair.split(">") for pair in ["aint>ain't", "arent>aren't", "cant>can't", "couldve>could've", "couldnt>couldn't", "couldn'tve>couldn't've", "couldnt've>couldn't've", "didnt>didn't", "doesnt>doesn't", "dont>don't", "hadnt>hadn't", "hadnt've>hadn't've", "hadn'tve>hadn't've", "hasnt>hasn't", "havent>haven't", "hed>he'd", "hed've>he'd've", "he'dve>he'd've", "hes>he's", "howd>how'd", "howll>how'll", "hows>how's", "isnt>isn't", "itd>it'd", "itd've>it'd've", "it'dve>it'd've", "itll>it'll", "let's>let's", "maam>ma'am", "mightnt>mightn't", "mightnt've>mightn't've", "mightn'tve>mightn't've", "mightve>might've", "mustnt>mustn't", "mustve>must've", "neednt>needn't", "notve>not've", "oclock>o'clock", "oughtnt>oughtn't", "ow's'at>'ow's'at", "'ows'at>'ow's'at", "'ow'sat>'ow's'at", "shant>shan't", "shed've>she'd've", "she'dve>she'd've", "she's>she's", "shouldve>should've", "shouldnt>shouldn't", "shouldnt've>shouldn't've", "shouldn'tve>shouldn't've", "somebody'd>somebodyd", "somebodyd've>somebody'd've", "somebody'dve>somebody'd've", "somebodyll>somebody'll", "somebodys>somebody's", "someoned>someone'd", "someoned've>someone'd've", "someone'dve>someone'd've", "someonell>someone'll", "someones>someone's", "somethingd>something'd", "somethingd've>something'd've", "something'dve>something'd've", "somethingll>something'll", "thats>that's", "thered>there'd", "thered've>there'd've", "there'dve>there'd've", "therere>there're", "theres>there's", "theyd>they'd", "theyd've>they'd've", "they'dve>they'd've", "theyll>they'll", "theyre>they're", "theyve>they've", "twas>'twas", "wasnt>wasn't", "wed've>we'd've", "we'dve>we'd've", "weve>we've", "werent>weren't", "whatll>what'll", "whatre>what're", "whats>what's", "whatve>what've", "whens>when's", "whered>where'd", "wheres>where's", "whereve>where've", "whod>who'd", "whod've>who'd've", "who'dve>who'd've", "wholl>who'll", "whos>who's", "whove>who've", "whyll>why'll", "whyre>why're", "whys>why's", "wont>won't", "wouldve>would've", "wouldnt>wouldn't", "wouldnt've>wouldn't've", "wouldn'tve>wouldn't've", "yall>y'all", "yall'll>y'all'll", "y'allll>y'all'll", "yall'd've>y'all'd've", "y'alld've>y'all'd've", "y'all'dve>y'all'd've", "youd>you'd", "youd've>you'd've", "you'dve>you'd've", "youll>you'll", "youre>you're", "youve>you've"])


def process_punctuation(text: str) -> str:
    """Step 2 of the module docstring (the official ``processPunctuation``)."""
    delete_all = _THOUSANDS_COMMA.search(text) is not None
    out = text
    for mark in _PUNCTUATION:
        # Decided on the original text: a mark that touches a space once ("x, y") is deleted
        # everywhere rather than splitting words elsewhere.
        touches_space = f"{mark} " in text or f" {mark}" in text
        out = out.replace(mark, "" if delete_all or touches_space else " ")
    return _PERIOD.sub("", out, count=_PERIOD_LIMIT)


def process_digit_article(text: str) -> str:
    """Step 3 of the module docstring (the official ``processDigitArticle``)."""
    words = [_NUMBERS.get(word, word) for word in text.lower().split()]
    return " ".join(_CONTRACTIONS.get(word, word) for word in words if word not in _ARTICLES)


def _strip_space(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def evalai_answer(text: str) -> str:
    """Step 1 of the module docstring: the EvalAI answer processor applied to a prediction."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    return process_digit_article(process_punctuation(_strip_space(text)))


def normalize_basque_answer(text: str) -> str:
    """The Basque normal form of an answer (see the module docstring)."""
    text = basque.decimal_comma_to_point(_strip_space(text).lower())
    return " ".join(basque.number_words_to_digits(process_punctuation(text).split()))


def language_rules(lang: str | None) -> AnswerRules | None:
    """The answer rules of ``lang``'s language file; None for English, Basque (their own rules
    above) and a language without a file (scored by the English rules)."""
    if lang in (None, "en", "eu"):
        return None
    try:
        return load_language(lang).answers
    except UnknownLanguageError:
        return None


def _own_normaliser(lang: str | None):
    """The normaliser applied alike to prediction and answers, or None for the English rules."""
    if lang == "eu":
        return normalize_basque_answer
    rules = language_rules(lang)
    return None if rules is None else (lambda text: rules.normalize(_strip_space(text)))


def normalize_vqa_answer(text: str, lang: str = "en") -> str:
    """The normal form exact match compares: the EvalAI processor, the Basque rules for ``eu``,
    or the language file's rules for another language that has one."""
    normalise = _own_normaliser(lang)
    return evalai_answer(text) if normalise is None else normalise(text)


def vqa_soft_accuracy(prediction: str, answers: list[str], lang: str = "en") -> float:
    """The official VQA accuracy of one prediction against ten human answers.

    Args:
        prediction: The model's answer.
        answers: The human answers; the formula is defined for ten (``VQA_ANSWERS``).
        lang: The item's language; ``eu`` uses the Basque normalisation, another language with
            a file its file's rules, the rest the English (official) rules.

    Returns:
        The mean over answers i of min(1, matches among the other answers / 3), in [0, 1].

    Raises:
        ValueError: If ``answers`` is empty.
    """
    if not answers:
        raise ValueError("vqa_soft_accuracy needs at least one human answer, got none")
    normalise = _own_normaliser(lang)
    if normalise is not None:
        predicted, humans = normalise(prediction), [normalise(a) for a in answers]
    else:
        predicted, humans = evalai_answer(prediction), [_strip_space(a) for a in answers]
        # The official code normalises the human answers only when they disagree, because VQAv2's
        # are stored normalised already. A file whose ten identical answers are not ("Red" x 10)
        # would then never match: normalise them too where that changes them, which leaves
        # already-normal answers, and so the official scores, exactly as they were.
        normal = [process_digit_article(process_punctuation(a)) for a in humans]
        if len(set(humans)) > 1 or normal != humans:
            humans = normal
            predicted = process_digit_article(process_punctuation(predicted))
    matches = [human == predicted for human in humans]
    total = sum(matches)
    # Leave-one-out: human answer i is set aside and the remaining ones vote.
    return sum(min(1.0, (total - held_out) / 3) for held_out in matches) / len(humans)


def vqa_exact_match(prediction: str, answers: list[str], lang: str = "en") -> float:
    """1.0 when the normalised prediction equals one of the normalised answers, else 0.0."""
    if not answers:
        raise ValueError("vqa_exact_match needs at least one answer, got none")
    predicted = normalize_vqa_answer(prediction, lang)
    return float(any(normalize_vqa_answer(answer, lang) == predicted for answer in answers))


def vqa_score(prediction: str, answers: list[str], lang: str = "en") -> tuple[float, str]:
    """The item's score and the metric used: soft accuracy with ten answers, exact match otherwise."""
    if len(answers) == VQA_ANSWERS:
        return vqa_soft_accuracy(prediction, answers, lang), SOFT
    return vqa_exact_match(prediction, answers, lang), EXACT
