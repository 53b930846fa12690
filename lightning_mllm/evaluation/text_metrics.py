"""Reference-based scores for open-ended answers, all in [0, 1], for English and Basque.

chrF++ and BLEU come from sacrebleu (corpus level, divided by 100). ROUGE-L and token F1 are
computed here over lower-cased Unicode word tokens (``\\w+``), so Basque letters and digits are
words and punctuation is not; ROUGE-L is the F-measure of the longest common subsequence and
token F1 is SQuAD's bag-of-words F1, both averaged over the pairs.

Items without a reference have nothing to be scored against: the caller leaves them out, and an
empty reference here is an error rather than a silent zero.
"""

from __future__ import annotations

import re
from collections import Counter

from sacrebleu.metrics import BLEU, CHRF


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, one row of the table at a time."""
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _f_measure(overlap: int, predicted: int, reference: int) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / predicted, overlap / reference
    return 2 * precision * recall / (precision + recall)


def _rouge_l(prediction: list[str], reference: list[str]) -> float:
    if not prediction or not reference:
        # Two token-less texts agree (a punctuation-only answer to a punctuation-only reference).
        return float(prediction == reference)
    return _f_measure(_lcs_length(prediction, reference), len(prediction), len(reference))


def _token_f1(prediction: list[str], reference: list[str]) -> float:
    if not prediction or not reference:
        return float(prediction == reference)
    overlap = sum((Counter(prediction) & Counter(reference)).values())
    return _f_measure(overlap, len(prediction), len(reference))


def _check_references(references: list[str]) -> None:
    empty = [i for i, reference in enumerate(references) if not reference.strip()]
    if empty:
        raise ValueError(f"{len(empty)} empty reference(s), e.g. at index {empty[0]}; "
                         "leave items without a reference out before scoring")


def pair_scores(prediction: str, reference: str) -> dict[str, float]:
    """Scores of one answer against its reference, for the per-item outputs.

    Args:
        prediction: The model's answer.
        reference: The reference answer; must not be empty.

    Returns:
        ``chrf`` (sentence chrF++ / 100), ``rougeL`` (ROUGE-L F-measure) and ``token_f1``.

    Raises:
        ValueError: If the reference is empty.
    """
    _check_references([reference])
    predicted, referenced = _tokens(prediction), _tokens(reference)
    return {"chrf": CHRF(word_order=2).sentence_score(prediction, [reference]).score / 100,
            "rougeL": _rouge_l(predicted, referenced),
            "token_f1": _token_f1(predicted, referenced)}


def corpus_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Scores of a set of answers against their references.

    Args:
        predictions: The model's answers.
        references: One reference per answer, in the same order; none may be empty.

    Returns:
        ``chrf`` (corpus chrF++ / 100), ``bleu`` (corpus BLEU with the 13a tokenizer / 100), and
        the means over pairs of ``rougeL`` (ROUGE-L F-measure) and ``token_f1``.

    Raises:
        ValueError: If the lengths differ, there are no pairs, or a reference is empty.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        raise ValueError("no prediction/reference pairs to score")
    _check_references(references)
    pairs = [(_tokens(p), _tokens(r)) for p, r in zip(predictions, references)]
    return {"chrf": CHRF(word_order=2).corpus_score(predictions, [references]).score / 100,
            "bleu": BLEU(tokenize="13a").corpus_score(predictions, [references]).score / 100,
            "rougeL": sum(_rouge_l(p, r) for p, r in pairs) / len(pairs),
            "token_f1": sum(_token_f1(p, r) for p, r in pairs) / len(pairs)}
