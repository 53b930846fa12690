"""Our multiple-choice answer reading next to VLMEvalKit's, on a table of English and Basque replies.

``vlmevalkit_can_infer`` below is a REFERENCE IMPLEMENTATION written for this test from the logic
of VLMEvalKit's ``vlmeval/utils/matching_util.py`` (``can_infer``, ``can_infer_option``,
``can_infer_text``; open-compass/VLMEvalKit at commit e8e78f05), without its GPT fallback: the
"exact matching" policy its MMBench numbers use when no judge model is configured. It is not our
code and is not used outside this test.

Every row of the table has the letter a careful reader would take (or None). Our reader must get
every row right; where VLMEvalKit's rules read a row differently the row names why, and the test
checks both that the named rows are exactly the rows where the two disagree and prints the share
(``pytest -s`` shows it).
"""

from __future__ import annotations

import re

import pytest

from lightning_mllm.evaluation.mc_extraction import extract_choice

# --- Reference: VLMEvalKit's matching rules (see the module docstring) -------------------------
_VLM_REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
                 "I'm sorry, but without the image provided", "Cannot determine the answer")
_VLM_VERBOSE = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def _vlm_option(answer: str, choices: dict[str, str]) -> str | bool:
    if "Failed to obtain answer via API" in answer:
        return False
    if any(refusal in answer for refusal in _VLM_REFUSALS):
        return "Z"
    answer_mod = answer
    for char in ".()[],:;!*#{}":
        answer_mod = answer_mod.replace(char, " ")
    splits = [x.strip() for x in answer_mod.split()]
    count = sum(letter in splits for letter in choices)
    if count == 1:
        for letter in choices:
            # A lone letter counts only among the last five words.
            if letter in splits and splits.index(letter) > len(splits) - 5:
                return letter
    elif count == 0 and "Z" in splits:
        return "Z"
    match = _VLM_VERBOSE.search(answer)
    if match and match.group(1).upper() in choices:
        return match.group(1).upper()
    return False


def _vlm_text(answer: str, choices: dict[str, str]) -> str | bool:
    answer = answer.lower()
    if len(answer) > 2 * sum(len(str(v)) for v in choices.values()):
        return False
    found = [letter for letter, text in choices.items() if str(text).lower() in answer]
    return found[0] if len(found) == 1 else False


def vlmevalkit_can_infer(answer: str, choices: dict[str, str]) -> str | None:
    """VLMEvalKit's ``can_infer``; its "Z" (refused) and False (no match) both read as None here."""
    found = _vlm_option(str(answer), choices) or _vlm_text(str(answer), choices)
    return None if found in (False, "Z") else found


# --- The table ----------------------------------------------------------------------------------
EN = {"A": "a blue ball", "B": "a red ball", "C": "a green box", "D": "a dog"}
EU = {"A": "pilota urdina", "B": "pilota gorria", "C": "kaxa berdea", "D": "txakurra"}

REASONS = {
    "capitals": "VLMEvalKit reads only capital letters as option labels",
    "last5": "VLMEvalKit takes a lone letter only among the reply's last five words",
    "article": "VLMEvalKit matches option text verbatim, so a changed English article misses",
    "determiner": "VLMEvalKit matches option text verbatim, so a changed Basque determiner (-a, bat) misses",
    "verbose": "VLMEvalKit's 'answer is X' pattern takes the first of two named letters",
}

# (reply, language, the letter a careful reader takes, why VLMEvalKit differs or None)
TABLE = [
    # English: bare letters and brackets.
    ("B", "en", "B", None),
    ("b", "en", "B", "capitals"),
    ("a", "en", "A", "capitals"),
    ("A", "en", "A", None),
    ("A.", "en", "A", None),
    ("(C)", "en", "C", None),
    ("[D]", "en", "D", None),
    ("**B**", "en", "B", None),
    ("D) a dog", "en", "D", None),
    ("B: a red ball", "en", "B", None),
    ("B - a red ball", "en", "B", None),
    # English: the letter after or before the cue.
    ("The answer is B", "en", "B", None),
    ("The answer is B.", "en", "B", None),
    ("Answer: C", "en", "C", None),
    ("Answer: a", "en", "A", "capitals"),
    ("Option D", "en", "D", None),
    ("I think the correct option is (D).", "en", "D", None),
    ("The correct answer is **C**. The box is green.", "en", "C", None),
    ("The ball in the picture is red, so the answer is B.", "en", "B", None),
    ("B is the correct answer.", "en", "B", "last5"),
    ("B, because the ball on the left is red.", "en", "B", "last5"),
    ("I would pick B here", "en", "B", None),
    # English: option text, verbatim and with its article changed.
    ("a red ball", "en", "B", None),
    ("It is a dog.", "en", "D", None),
    ("I can see a green box on the table.", "en", "C", None),
    ("A dog is sitting on the grass.", "en", "D", None),
    ("The red ball.", "en", "B", "article"),
    ("Red ball", "en", "B", "article"),
    ("The green box", "en", "C", "article"),
    # English: hedges.
    ("Probably C.", "en", "C", None),
    ("It could be B, but I'm not sure.", "en", "B", "last5"),
    ("A or B", "en", None, None),
    ("The answer is B or C", "en", None, "verbose"),
    ("Both A and B", "en", None, None),
    ("A and B", "en", None, None),
    ("It looks like a ball, either red or blue.", "en", None, None),
    ("There are two balls, a red ball and a blue ball.", "en", None, None),
    # English: refusals and nothing.
    ("I have no idea.", "en", None, None),
    ("Sorry, I can't help with images of people yet.", "en", None, None),
    ("Cannot determine the answer from the image.", "en", None, None),
    ("I cannot see the image, so I cannot answer.", "en", None, None),
    ("Neither option fits.", "en", None, None),
    ("The answer is E", "en", None, None),
    ("", "en", None, None),
    # Basque: bare letters and brackets.
    ("B", "eu", "B", None),
    ("b", "eu", "B", "capitals"),
    ("a", "eu", "A", "capitals"),
    ("(B)", "eu", "B", None),
    ("C.", "eu", "C", None),
    ("**C**", "eu", "C", None),
    ("D) txakurra", "eu", "D", None),
    # Basque: the letter after or before the cue.
    ("Erantzuna B da.", "eu", "B", None),
    ("Erantzuna A da", "eu", "A", None),
    ("Erantzuna: B", "eu", "B", None),
    ("Erantzuna: (A)", "eu", "A", None),
    ("Erantzun zuzena C da.", "eu", "C", None),
    ("Zuzena: A", "eu", "A", None),
    ("Zuzena B da.", "eu", "B", None),
    ("Aukera zuzena D da.", "eu", "D", None),
    ("Aukera B", "eu", "B", None),
    ("B aukera", "eu", "B", None),
    ("B aukera da zuzena.", "eu", "B", None),
    ("C da.", "eu", "C", None),
    ("Uste dut B dela.", "eu", "B", None),
    ("Nire ustez, erantzun zuzena D da, irudian txakur bat baitago.", "eu", "D", "last5"),
    # Basque: option text, verbatim and with its determiner changed.
    ("pilota gorria", "eu", "B", None),
    ("Kaxa berdea.", "eu", "C", None),
    ("Irudian txakurra dago.", "eu", "D", None),
    ("Pilota gorria da erantzuna.", "eu", "B", None),
    ("Erantzuna pilota gorria da.", "eu", "B", None),
    ("Pilota gorri bat.", "eu", "B", "determiner"),
    ("Txakur bat ikusten da irudian.", "eu", "D", "determiner"),
    ("Pilota urdin bat dago mahai gainean.", "eu", "A", "determiner"),
    # Basque: hedges.
    ("Agian B.", "eu", "B", None),
    ("Ziurrenik C aukera da, baina ez nago ziur.", "eu", "C", "last5"),
    ("B edo C", "eu", None, None),
    ("Erantzuna B edo C da", "eu", None, None),
    ("A eta B", "eu", None, None),
    ("A eta B biak dira zuzenak.", "eu", None, None),
    ("Erantzunak: A eta C", "eu", None, None),
    ("Irudian pilota urdina eta pilota gorria daude.", "eu", None, None),
    ("Ez da pilota gorria, pilota urdina baizik.", "eu", None, None),
    # Basque: refusals and nothing.
    ("Erantzuna", "eu", None, None),
    ("Ez dakit.", "eu", None, None),
    ("Ezin dut irudia ikusi, beraz ezin dut erantzun.", "eu", None, None),
    ("Hori ez dago argi.", "eu", None, None),
    ("Erantzuna E da", "eu", None, None),
]
OPTIONS = {"en": EN, "eu": EU}


def test_the_table_is_large_and_half_basque() -> None:
    assert len(TABLE) >= 80
    basque = sum(lang == "eu" for _, lang, _, _ in TABLE)
    assert basque * 2 >= len(TABLE) - 2, f"{basque} of {len(TABLE)} replies are Basque"
    assert all(reason is None or reason in REASONS for *_, reason in TABLE)


@pytest.mark.parametrize(("reply", "lang", "expected", "reason"), TABLE)
def test_our_reader_gets_every_row(reply: str, lang: str, expected: str | None, reason: str | None) -> None:
    assert extract_choice(reply, OPTIONS[lang], lang) == expected


def test_disagreements_with_vlmevalkit_are_exactly_the_explained_rows() -> None:
    rows = []
    for reply, lang, expected, reason in TABLE:
        ours, theirs = extract_choice(reply, OPTIONS[lang], lang), vlmevalkit_can_infer(reply, dict(OPTIONS[lang]))
        rows.append((reply, lang, expected, ours, theirs, reason))
    disagreements = [row for row in rows if row[3] != row[4]]
    print(f"\nOurs vs VLMEvalKit (exact matching) on {len(rows)} replies: {len(disagreements)} disagree "
          f"({100 * len(disagreements) / len(rows):.1f}%; English "
          f"{sum(r[1] == 'en' for r in disagreements)}, Basque {sum(r[1] == 'eu' for r in disagreements)})")
    for reply, lang, expected, ours, theirs, reason in disagreements:
        print(f"  [{lang}] {reply!r}: ours {ours}, VLMEvalKit {theirs}, expected {expected} -- "
              f"{REASONS.get(reason, 'UNEXPLAINED')}")
    unexplained = [row[0] for row in disagreements if row[5] is None]
    stale = [row[0] for row in rows if row[5] is not None and row[3] == row[4]]
    assert not unexplained, f"disagreements without a reason: {unexplained}"
    assert not stale, f"rows that name a reason but agree: {stale}"
