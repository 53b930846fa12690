"""VQAv2 answer normalisation and leave-one-out soft accuracy."""

from __future__ import annotations

import pytest

from lightning_mllm.evaluation.vqa_metric import normalize_vqa_answer, vqa_soft_accuracy


@pytest.mark.parametrize(("text", "expected"), [
    ("Two", "2"),
    ("none", "0"),
    ("The dog", "dog"),
    ("  A\tcat\n", "cat"),
    ("Yes.", "yes"),
    ("2.5", "2.5"),
    ("2.", "2"),
    ("U.S.A.", "usa"),
    ("10,000", "10000"),
    ("black-and-white", "black and white"),
    ("red, white", "red white"),
    ("Pizza?!", "pizza"),
    ("dont", "don't"),
    ("isnt", "isn't"),
    ("whats", "what's"),
    ("couldnt've", "couldn't've"),
    ("well", "well"),
    ("Bi txakur.", "bi txakur"),
])
def test_normalize_vqa_answer(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text) == expected


@pytest.mark.parametrize(("matches", "expected"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_soft_accuracy_out_of_ten(matches: int, expected: float) -> None:
    # "Two" normalises to "2", so it matches exactly the "2" answers.
    answers = ["2"] * matches + ["3"] * (10 - matches)
    assert vqa_soft_accuracy("Two", answers) == pytest.approx(expected)


def test_soft_accuracy_normalises_answers_too() -> None:
    answers = ["the dog", "Dog", "dog."] + ["cat"] * 7
    assert vqa_soft_accuracy("dog", answers) == pytest.approx(0.9)


def test_soft_accuracy_is_leave_one_out() -> None:
    # Held out "yes": 1 of the others agrees (twice); held out "no": 2 agree -> (1/3 + 1/3 + 2/3) / 3.
    assert vqa_soft_accuracy("yes", ["yes", "yes", "no"]) == pytest.approx(4 / 9)


def test_soft_accuracy_needs_answers() -> None:
    with pytest.raises(ValueError, match="at least one human answer"):
        vqa_soft_accuracy("yes", [])
