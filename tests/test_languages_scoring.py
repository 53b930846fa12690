"""Scoring reads each language's rules from its language file: multiple-choice cue words, articles
and letter words, and the short-answer normal form (yes/no spellings, number words, decimal
comma, articles). Every case here is scored wrongly by the English rules, so each language's
file is what makes it right."""

from __future__ import annotations

import pytest

from lightning_mllm.answers import exact_match
from lightning_mllm.evaluation.mc_extraction import extract_choice
from lightning_mllm.evaluation.vqa_metric import vqa_score
from lightning_mllm.languages import FOLDERS_ENV, available_languages

OPTIONS = {"A": "x", "B": "y", "C": "z", "D": "w"}
FIVE = {"A": "x", "B": "y", "C": "z", "D": "w", "E": "v"}

# (lang, reply, options, the option a reader of that language takes)
CHOICES = [
    ("eu", "Erantzuna B da, ez C.", OPTIONS, "B"),
    ("gl", "A resposta correcta é a opción C, non a B.", OPTIONS, "C"),
    ("gl", "C é a correcta, non D.", OPTIONS, "C"),
    ("ca", "La resposta és la B, no la C.", OPTIONS, "B"),
    ("ca", "L'opció correcta és la D, i no la A.", OPTIONS, "D"),
    ("es", "La respuesta correcta es la B, no la A.", OPTIONS, "B"),
    # "E" is a word (Galician "and", Spanish "and" before i-): a sentence starting with it names no option.
    ("gl", "E tamén hai un cadrado.", FIVE, None),
    ("es", "E incluso hay un círculo.", FIVE, None),
    # An article letter before a cue noun is the article ("A opción C" = the option C).
    ("gl", "A opción C é a correcta, non a D.", OPTIONS, "C"),
    # The question language's articles are dropped from option texts ("o/un cadrado" = "cadrado").
    ("gl", "Vexo o cadrado.", {"A": "un cadrado", "B": "un círculo"}, "A"),
]

# (lang, prediction, human answers)
SHORT_ANSWERS = [
    ("eu", "Bi.", ["2"]),
    ("gl", "Sí.", ["si"]), ("gl", "Dúas", ["2"]), ("gl", "O círculo", ["círculo"]),
    ("ca", "Si", ["sí"]), ("ca", "dues", ["2"]), ("ca", "2,5", ["2.5"]),
    ("es", "Si", ["sí"]), ("es", "Dos.", ["2"]), ("es", "El círculo", ["círculo"]),
]


@pytest.mark.parametrize(("lang", "reply", "options", "expected"), CHOICES)
def test_multiple_choice_replies_are_read_with_the_questions_language(lang, reply, options, expected):
    assert extract_choice(reply, options, lang) == expected
    assert extract_choice(reply, options, "en") != expected  # the English rules alone misread it


@pytest.mark.parametrize(("lang", "prediction", "answers"), SHORT_ANSWERS)
def test_short_answers_are_normalised_by_the_language_file(lang, prediction, answers):
    assert vqa_score(prediction, answers, lang) == (1.0, "exact_match")
    assert vqa_score(prediction, answers, "en")[0] == 0.0
    assert exact_match(prediction, answers[0], lang) and not exact_match(prediction, answers[0], "en")


def test_soft_accuracy_uses_the_language_rules_on_every_answer():
    assert vqa_score("Si", ["sí"] * 4 + ["no"] * 6, "es") == (1.0, "vqa_soft_accuracy")
    assert vqa_score("Non", ["non"] * 2 + ["si"] * 8, "gl")[0] == pytest.approx(0.6)


def test_english_keeps_the_official_rules_and_every_file_has_the_scoring_keys():
    assert vqa_score("Two", ["2"], "en") == (1.0, "exact_match")
    assert extract_choice("A dog is sitting", {"A": "a cat", "B": "a bird"}, "en") is None
    from lightning_mllm.languages import load_language

    for code in ("en", "eu", "gl", "ca", "es"):
        rules = load_language(code).answers
        assert set(rules.yes_no) == {"yes", "no"} and rules.mc_cues, code


def test_a_new_language_needs_only_its_file(tmp_path, monkeypatch):
    (tmp_path / "pt.yaml").write_text(
        "code: pt\nname: Portuguese\nnative_name: Português\n"
        "answers:\n  decimal_comma: true\n  articles: [o, a, os, as, um, uma]\n"
        "  numbers: {um: 1, uma: 1, dois: 2, duas: 2, três: 3}\n"
        '  yes_no: {"yes": [sim], "no": [não, nao]}\n  letter_words: [a, e, o]\n'
        "  mc_cues: {answer: [resposta], correct: [certa, correta], option: [opção], is: [é], or: [ou], and: [e]}\n",
        encoding="utf-8")
    monkeypatch.setenv(FOLDERS_ENV, str(tmp_path))
    assert "pt" in available_languages()
    assert extract_choice("A resposta certa é a B, não a C.", OPTIONS, "pt") == "B"
    assert extract_choice("A resposta certa é a B, não a C.", OPTIONS, "en") is None
    assert vqa_score("Nao.", ["não"], "pt") == (1.0, "exact_match")
    assert vqa_score("Duas", ["2"], "pt") == (1.0, "exact_match")
