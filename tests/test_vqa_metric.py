"""Short-answer scoring: the official VQA accuracy (held against the reference port in
``reference_scoring.py``), exact match for sets without ten answers, and the Basque normalisation."""

from __future__ import annotations

import pytest
from reference_scoring import TEN, _ref_evalai, reference_vqa_accuracy

from lightning_mllm.evaluation.items import BenchItem
from lightning_mllm.evaluation.scoring import score
from lightning_mllm.evaluation.vqa_metric import (
    EXACT,
    SOFT,
    evalai_answer,
    normalize_vqa_answer,
    vqa_exact_match,
    vqa_score,
    vqa_soft_accuracy,
)


@pytest.mark.parametrize(("prediction", "answers"), TEN)
def test_ten_answers_score_as_the_official_evaluation(prediction: str, answers: list[str]) -> None:
    assert vqa_soft_accuracy(prediction, answers) == pytest.approx(reference_vqa_accuracy(prediction, answers))
    assert vqa_score(prediction, answers) == (pytest.approx(reference_vqa_accuracy(prediction, answers)), SOFT)


def test_ten_identical_answers_not_stored_normalised_still_match():
    # The one departure from the official code: it normalises human answers only when they
    # disagree (VQAv2 stores them normalised), so ten "Left"s never matched "left" (0.0 there).
    # A file that is not pre-normalised must not score every right answer 0.
    assert reference_vqa_accuracy("left", ["Left"] * 10) == 0.0
    assert vqa_soft_accuracy("left", ["Left"] * 10) == vqa_soft_accuracy("Red.", ["Red"] * 10) == 1.0
    assert vqa_soft_accuracy("right", ["Left"] * 10) == 0.0


@pytest.mark.parametrize(("matches", "expected"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_soft_accuracy_out_of_ten(matches: int, expected: float) -> None:
    answers = ["2"] * matches + ["3"] * (10 - matches)
    assert vqa_soft_accuracy("Two", answers) == pytest.approx(expected)


@pytest.mark.parametrize(("prediction", "answers", "expected"), [
    ("Dog.", ["dog"], 1.0), ("the dog", ["dog"], 1.0), ("Two", ["2"], 1.0), ("cat", ["dog"], 0.0),
    ("yes", ["yes", "no", "maybe"], 1.0), ("2", ["two", "three"], 1.0),
])
def test_fewer_than_ten_answers_are_exact_match(prediction: str, answers: list[str], expected: float) -> None:
    # The soft formula would give a right single answer 0 (no other human to agree with it).
    assert vqa_score(prediction, answers) == (expected, EXACT)
    assert vqa_soft_accuracy("dog", ["dog"]) == 0.0


@pytest.mark.parametrize(("text", "expected"), [
    ("Two", "2"), ("The dog", "dog"), ("Yes.", "yes"), ("2.5", "2.5"), ("U.S.A.", "usa"), ("10,000", "10000"),
    ("black-and-white", "black and white"), ("dont", "don't"), ("Im", "im"), ("well", "well"),
])
def test_english_normal_form_is_the_evalai_processor(text: str, expected: str) -> None:
    assert evalai_answer(text) == normalize_vqa_answer(text) == _ref_evalai(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Bi", "2"), ("bi txakur.", "2 txakur"), ("Hamabi", "12"), ("hemeretzi", "19"), ("hogei", "20"),
    ("hogeita bat", "21"), ("hogeitabat", "21"), ("hogeita hamar", "30"), ("berrogei", "40"),
    ("berrogeita hamar", "50"), ("hirurogei", "60"), ("hirurogeita hamabost", "75"), ("laurogei", "80"),
    ("laurogeita hemeretzi", "99"), ("ehun", "100"), ("ehun eta bat", "101"), ("berrehun eta hogeita bost", "225"),
    ("mila", "1000"), ("bortz", "5"), ("bat ere ez", "0"), ("Zero", "0"),
    ("2,5", "2.5"), ("2,5 metro", "2.5 metro"), ("gorria, urdina", "gorria urdina"), ("Bai!", "bai"),
    ("txuri-beltza", "txuri beltza"), ("10.000", "10.000"),
    # Determined forms name things, not counts.
    ("bata", "bata"), ("biak", "biak"), ("hirurak", "hirurak"),
])
def test_basque_normal_form(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text, "eu") == expected


def test_basque_number_words_and_digits_are_the_same_answer() -> None:
    assert vqa_exact_match("bi", ["2"], "eu") == vqa_exact_match("2", ["bi"], "eu") == 1.0
    assert vqa_soft_accuracy("hogeita bat", ["21"] * 3 + ["hogei"] * 7, "eu") == pytest.approx(0.9)
    # The English rules would read the decimal comma as a thousands comma: "2,5" -> "25".
    assert vqa_exact_match("2,5", ["2.5"], "eu") == 1.0 and vqa_exact_match("2,5", ["2.5"], "en") == 0.0


def test_results_say_which_metric_was_used() -> None:
    items = [BenchItem("v", "en", "1", "vqa", "Q?", answers=["dog"] * 10),
             BenchItem("v", "en", "2", "vqa", "Q?", answers=["cat"]),
             BenchItem("s", "eu", "1", "vqa", "Q?", answers=["bi"])]
    answers = {"v/en/1": "dog", "v/en/2": "Cat.", "s/eu/1": "2"}
    rows, records = score(items, {k: {"prediction": v, "error": None} for k, v in answers.items()})
    by = {r["benchmark"]: r for r in rows}
    assert [r["metric"] for r in records] == [SOFT, EXACT, EXACT]
    assert (by["v"]["metric"], by["v"]["soft_items"], by["v"]["exact_items"]) == (f"{SOFT}+{EXACT}", 1, 1)
    assert (by["s"]["metric"], by["s"]["score"]) == (EXACT, 1.0)


def test_soft_accuracy_needs_answers() -> None:
    with pytest.raises(ValueError, match="at least one human answer"):
        vqa_soft_accuracy("yes", [])
