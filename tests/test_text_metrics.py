"""Reference-based scores for open-ended answers."""

from __future__ import annotations

import pytest

from lightning_mllm.evaluation.text_metrics import corpus_scores, pair_scores


def test_rouge_l_and_token_f1_by_hand() -> None:
    # LCS is "red ball" (or "blue box"): 2 of 4 tokens on both sides; every token is shared.
    scores = pair_scores("red ball, blue box", "Blue box red ball")
    assert scores["rougeL"] == pytest.approx(0.5)
    assert scores["token_f1"] == pytest.approx(1.0)


def test_unequal_lengths_by_hand() -> None:
    # LCS 1 -> P 1/3, R 1/2, F 0.4; overlap 2 -> P 2/3, R 1, F 0.8.
    scores = pair_scores("gorria da pilota", "pilota gorria")
    assert scores["rougeL"] == pytest.approx(0.4)
    assert scores["token_f1"] == pytest.approx(0.8)


def test_tokens_are_unicode_words() -> None:
    # An ASCII-only tokeniser would read both as "abardura".
    assert pair_scores("ñabardura", "abardura")["token_f1"] == 0.0
    assert pair_scores("Ñabardura!", "ñabardura")["rougeL"] == 1.0


def test_identical_strings_score_one() -> None:
    text = "the cat sat on the mat"
    assert pair_scores(text, text)["chrf"] == pytest.approx(1.0)
    assert corpus_scores([text], [text]) == pytest.approx({"chrf": 1.0, "bleu": 1.0, "rougeL": 1.0, "token_f1": 1.0})


def test_corpus_scores_average_pairs() -> None:
    scores = corpus_scores(["red ball, blue box", "gorria da pilota"], ["Blue box red ball", "pilota gorria"])
    assert scores["rougeL"] == pytest.approx((0.5 + 0.4) / 2)
    assert scores["token_f1"] == pytest.approx((1.0 + 0.8) / 2)
    assert 0.0 < scores["chrf"] < 1.0 and 0.0 <= scores["bleu"] < 1.0


def test_unrelated_answer_scores_zero() -> None:
    scores = pair_scores("zzz", "pilota gorria")
    assert scores["rougeL"] == 0.0 and scores["token_f1"] == 0.0


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        corpus_scores(["a", "b"], ["a"])


def test_empty_reference_raises() -> None:
    with pytest.raises(ValueError, match="empty reference"):
        corpus_scores(["a", "b"], ["a", " "])
    with pytest.raises(ValueError, match="empty reference"):
        pair_scores("a", "")
