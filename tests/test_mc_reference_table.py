"""Our multiple-choice answer reading next to VLMEvalKit's, on a table of English and Basque replies.

``vlmevalkit_can_infer`` (in ``reference_scoring.py``) is a REFERENCE IMPLEMENTATION written from
the logic of VLMEvalKit's ``vlmeval/utils/matching_util.py`` (``can_infer``; commit e8e78f05),
without its GPT fallback: the "exact matching" policy its MMBench numbers use when no judge model is
configured. It is not our code. The table of replies lives there too.

Every row of the table has the letter a careful reader would take (or None). Our reader must get
every row right; where VLMEvalKit's rules read a row differently the row names why, and the test
checks both that the named rows are exactly the rows where the two disagree and prints the share
(``pytest -s`` shows it).
"""

from __future__ import annotations

import pytest
from reference_scoring import OPTIONS, REASONS, TABLE, vlmevalkit_can_infer

from lightning_mllm.evaluation.mc_extraction import extract_choice


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
