"""Multiple-choice answer extraction from English and Basque replies."""

from __future__ import annotations

import pytest

from lightning_mllm.evaluation.mc_extraction import extract_choice

EN = {"A": "a blue ball", "B": "a red ball", "C": "a green box", "D": "a dog"}
EU = {"A": "pilota urdina", "B": "pilota gorria", "C": "kaxa berdea", "D": "txakurra"}
ANIMALS = {"A": "a cat", "B": "a bird"}
NESTED = {"A": "red", "B": "red ball"}

CASES = [
    # Bare letters, in any case and wrapping; a bare "A" is the letter.
    ("B", EN, "B"), ("B.", EN, "B"), ("(B)", EN, "B"), ("B)", EN, "B"), ("b", EN, "B"),
    ("A", EN, "A"), ("A.", EN, "A"), ("A)", EN, "A"), ("**C**", EN, "C"),
    # English answer statements and labels.
    ("B: a red ball", EN, "B"),
    ("The answer is B", EN, "B"),
    ("Answer: C", EN, "C"),
    ("Answer: a", EN, "A"),
    ("I think the correct option is (D).", EN, "D"),
    ("B is the correct answer.", EN, "B"),
    ("A dog. The answer is C", EN, "C"),
    # Option text, alone or inside a sentence.
    ("a red ball", EN, "B"),
    ("A Red Ball!", EN, "B"),
    ("I can see a red ball on the table.", EN, "B"),
    ("The answer is a red ball", EN, "B"),
    # The article "A" starting prose is not the letter A.
    ("A dog is sitting on the grass.", EN, "D"),
    ("A dog is sitting on the grass.", ANIMALS, None),
    # The longest option text wins when one contains another, unless both stand alone.
    ("red", NESTED, "A"),
    ("It is a red ball.", NESTED, "B"),
    ("Red, or maybe a red ball", NESTED, None),
    # Ambiguous or out-of-range replies.
    ("A or B", EN, None),
    ("The answer is B or C", EN, None),
    ("I see a red ball and a blue ball", EN, None),
    ("The answer is E", EN, None),
    ("I have no idea.", EN, None),
    ("", EN, None),
    # Basque.
    ("Erantzuna B da", EU, "B"),
    ("Erantzuna A da", EU, "A"),
    ("Erantzuna: B", EU, "B"),
    ("Erantzun zuzena C da.", EU, "C"),
    ("B aukera", EU, "B"),
    ("B aukera da zuzena", EU, "B"),
    ("Zuzena: A", EU, "A"),
    ("pilota gorria", EU, "B"),
    ("Irudian txakurra dago.", EU, "D"),
    ("Erantzuna B edo C da", EU, None),
]


@pytest.mark.parametrize(("reply", "options", "expected"), CASES)
def test_extract_choice(reply: str, options: dict[str, str], expected: str | None) -> None:
    assert extract_choice(reply, options, "eu" if options is EU else "en") == expected


def test_letters_outside_the_options_never_count() -> None:
    assert extract_choice("C", {"A": "yes", "B": "no"}) is None
    assert extract_choice("Answer: C", {"A": "yes", "B": "no", "C": "maybe"}) == "C"


# Every cue word of both languages: it names the letter next to it, and alone (or as the end of a
# longer word) it names nothing. Basque cue words are whole words: "erantzuna" is not "erantzun" + A.
CUES = [
    # English, cue before the letter.
    ("Answer: C", "C"), ("The answer is C", "C"), ("The correct answer is C", "C"), ("The correct option is C", "C"),
    ("The correct choice is C", "C"), ("The right answer is C", "C"), ("The right option: C", "C"),
    ("The right choice is C", "C"), ("The best answer would be C", "C"), ("The best option is C", "C"),
    ("The best choice is C", "C"), ("I pick option C", "C"), ("I pick choice C", "C"), ("I pick letter C", "C"),
    # English, cue after the letter.
    ("C is the correct answer", "C"), ("C is right", "C"), ("C is the best", "C"), ("A is the answer", "A"),
    ("A, because it is red", "A"), ("A since it is red", "A"), ("A or C", None), ("A and C", None),
    ("Both A and C", None),
    # Basque, cue before the letter.
    ("Erantzuna C da", "C"), ("Erantzunak: C", "C"), ("Erantzun zuzena C da", "C"), ("Zuzena: C", "C"),
    ("Aukera zuzena C da", "C"), ("Aukera C", "C"), ("Erantzuna aukera C da", "C"),
    # Basque, cue after the letter.
    ("C aukera", "C"), ("C da", "C"), ("C da erantzuna", "C"), ("C erantzun zuzena da", "C"),
    ("C aukera da zuzena", "C"), ("A da zuzena", "A"), ("A delako", "A"), ("A edo C", None), ("A eta C", None),
    ("Erantzuna A eta C dira", None),
    # Cue words alone name nothing; the final "a" of a Basque cue is not option A.
    ("Erantzuna", None), ("erantzuna.", None), ("Erantzunak", None), ("Erantzun zuzena", None), ("Zuzena", None),
    ("Aukera", None), ("Aukera zuzena", None), ("Da", None), ("Delako", None), ("Answer", None),
    ("The correct answer", None), ("Ezin dut erantzun", None), ("Hau da erantzuna", None),
    ("Pilota handia da erantzuna", None),
]


@pytest.mark.parametrize(("reply", "expected"), CUES)
def test_every_cue_word(reply: str, expected: str | None) -> None:
    # English cues are read whatever the question's language; Basque ones for Basque questions.
    english = CUES.index((reply, expected)) < CUES.index(("Erantzuna C da", "C"))
    for lang in ("en", "eu") if english else ("eu",):
        assert extract_choice(reply, {"A": "x", "B": "y", "C": "z"}, lang) == expected
