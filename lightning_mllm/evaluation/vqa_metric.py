"""VQAv2 answer normalisation and soft accuracy, following the rules of the official evaluation.

A prediction earns credit from each human answer it agrees with: held against the other N-1
human answers, it scores min(1, matches / 3), and the N scores are averaged. With ten answers of
which k agree with the prediction that gives 0.3, 0.6, 0.9 and 1.0 for k = 1, 2, 3 and 4 or more.

Normalisation (applied to the prediction and to every human answer):

- newlines and tabs become spaces; the text is lower-cased;
- each punctuation mark of the official list (; / [ ] " { } ( ) = + \\ _ - > < @ ` , ? !) is
  deleted when it touches a space somewhere in the text, or when the text holds a number with a
  thousands comma ("10,000"); otherwise it becomes a space ("black-and-white" -> "black and white");
- a period not followed by a digit is deleted, so "2.5" stays and "yes." becomes "yes";
- number words "none", "zero" ... "ten" become digits, the articles a/an/the are dropped and
  contractions written without their apostrophe get it back ("dont" -> "don't").

Basque answers go through the same steps; the English-only word lists do not touch them.
"""

from __future__ import annotations

import re

_PUNCTUATION = ";/[]\"{}()=+\\_-><@`,?!"
_THOUSANDS_COMMA = re.compile(r"\d,\d")
_PERIOD = re.compile(r"\.(?!\d)")
_NUMBERS = {word: str(value) for value, word in enumerate(
    "zero one two three four five six seven eight nine ten".split())} | {"none": "0"}
_ARTICLES = {"a", "an", "the"}

# The official table maps misspellings of these contractions back to them. Forms whose bare
# spelling is a common word (we'll -> "well", it's -> "its", she'll -> "shell") are left out.
_CONTRACTED = """
ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't hadn't've hasn't
haven't he'd he'd've he's how'd how'll how's i'd've i'm i've isn't it'd it'd've it'll ma'am
mightn't mightn't've might've mustn't must've needn't not've o'clock oughtn't shan't she'd've
she's should've shouldn't shouldn't've somebody'd somebody'd've somebody'll somebody's someone'd
someone'd've someone'll someone's something'd something'd've something'll that's there'd
there'd've there're there's they'd they'd've they'll they're they've 'twas wasn't we'd've we've
weren't what'll what're what's what've when's where'd where's where've who'd who'd've who'll
who's who've why'll why're why's won't would've wouldn't wouldn't've y'all y'all'll y'all'd've
you'd you'd've you'll you're you've
""".split()


def _misspellings(word: str) -> set[str]:
    """Spellings of ``word`` with all, or one, of its apostrophes missing."""
    spellings = {word.replace("'", "")}
    spellings |= {word[:i] + word[i + 1:] for i, char in enumerate(word) if char == "'"}
    return spellings - {word}


_CONTRACTIONS = {spelling: word for word in _CONTRACTED for spelling in _misspellings(word)}


def _strip_punctuation(text: str) -> str:
    delete_all = _THOUSANDS_COMMA.search(text) is not None
    out = text
    for mark in _PUNCTUATION:
        # Decided on the original text, as the official code does: a mark that touches a space
        # once ("x, y") is deleted everywhere rather than splitting words elsewhere.
        touches_space = f"{mark} " in text or f" {mark}" in text
        out = out.replace(mark, "" if delete_all or touches_space else " ")
    return _PERIOD.sub("", out)


def normalize_vqa_answer(text: str) -> str:
    """The VQAv2 normal form of an answer, as described in the module docstring.

    Args:
        text: A predicted or human answer.

    Returns:
        The normalised answer: lower case, words separated by single spaces.
    """
    text = _strip_punctuation(text.replace("\n", " ").replace("\t", " ").strip().lower())
    words = [_NUMBERS.get(word, word) for word in text.split()]
    return " ".join(_CONTRACTIONS.get(word, word) for word in words if word not in _ARTICLES)


def vqa_soft_accuracy(prediction: str, answers: list[str]) -> float:
    """The official VQAv2 accuracy of one prediction against the human answers.

    Args:
        prediction: The model's answer.
        answers: The human answers (ten in VQAv2).

    Returns:
        The mean over answers i of min(1, matches among the other answers / 3), in [0, 1].

    Raises:
        ValueError: If ``answers`` is empty.
    """
    if not answers:
        raise ValueError("vqa_soft_accuracy needs at least one human answer, got none")
    predicted = normalize_vqa_answer(prediction)
    matches = [normalize_vqa_answer(answer) == predicted for answer in answers]
    total = sum(matches)
    # Leave-one-out: human answer i is set aside and the remaining ones vote.
    return sum(min(1.0, (total - held_out) / 3) for held_out in matches) / len(answers)
