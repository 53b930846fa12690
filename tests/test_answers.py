"""Validation's exact match compares answers by the rules of their language."""

from lightning_mllm.answers import exact_match


def test_number_words_match_digits_in_their_language_only():
    assert exact_match("Bi.", "2", "eu") and exact_match("Dúas", "2", "gl")
    assert not exact_match("Bi.", "2", "en")  # "bi" is no English number word


def test_english_and_unknown_languages_drop_english_articles_and_punctuation():
    assert exact_match("A circle.", "circle", "en")
    assert exact_match("The red one!", "red one", "xx")  # no file for "xx": the English fallback
    assert not exact_match("Gorria.", "Urdina.", "eu")
