"""Readers for the published benchmark files (A-OKVQA Parquet, VQAv2 with its question ids,
WildVision prompts), column names as settings, and MMBench's rotated copies grouped as VLMEvalKit
groups them."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from helpers import MMBENCH_HEADER, b64, write_jsonl, write_tsv

from lightning_mllm.evaluation.formats import load_items
from lightning_mllm.evaluation.items import BenchmarkFileError
from lightning_mllm.evaluation.scoring import score
from lightning_mllm.evaluation.spec import BenchmarkSpec


def _png(colour=(10, 200, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _parquet(path, rows: list[dict]) -> str:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


def _aokvqa_rows() -> list[dict]:
    """Rows shaped like the Hugging Face A-OKVQA Parquet (image as a {bytes, path} struct)."""
    return [{"image": {"bytes": _png(), "path": None}, "question_id": "22jbM6gDxdaMaunuzgrsBB",
             "question": "What is in the motorcyclist's mouth?", "choices": ["toothpick", "food", "popsicle stick", "cigarette"],
             "correct_choice_idx": 3, "direct_answers": ["cigarette"] * 9 + ["pipe"], "difficult_direct_answer": False,
             "rationales": ["He smokes."]},
            {"image": {"bytes": _png((200, 0, 0)), "path": None}, "question_id": "2iZoTkdDnY4Sh9TqQUD4EM",
             "question": "What colour is the sign?", "choices": ["red", "blue", "green", "white"],
             "correct_choice_idx": 0, "direct_answers": ["red"] * 10, "difficult_direct_answer": False,
             "rationales": ["It is red."]}]


def test_aokvqa_parquet_reads_choices_answer_index_and_keeps_direct_answers(tmp_path) -> None:
    path = _parquet(tmp_path / "val.parquet", _aokvqa_rows())
    first, second = load_items("aokvqa", path, "aokvqa", "en")
    assert first.id == "22jbM6gDxdaMaunuzgrsBB" and first.kind == "mc"
    assert first.options == {"A": "toothpick", "B": "food", "C": "popsicle stick", "D": "cigarette"}
    assert (first.answer, second.answer) == ("D", "A")
    assert first.load_image().size == (8, 6)
    assert first.meta["direct_answers"] == ["cigarette"] * 9 + ["pipe"] and first.meta["rationales"] == ["He smokes."]


def test_aokvqa_direct_answers_are_ten_human_answers_for_soft_accuracy(tmp_path) -> None:
    path = _parquet(tmp_path / "val.parquet", _aokvqa_rows())
    first, _ = load_items("aokvqa_direct", path, "aokvqa-da", "en")
    assert first.kind == "vqa" and len(first.answers) == 10
    rows, _ = score([first], {first.key: {"prediction": "pipe", "error": None}})
    assert (rows[0]["metric"], rows[0]["score"]) == ("vqa_soft_accuracy", pytest.approx(0.3))


def test_vqav2_keeps_question_id_as_the_item_id(tmp_path) -> None:
    answers = [{"answer": "2", "answer_confidence": "yes", "answer_id": i + 1} for i in range(10)]
    rows = [{"question_id": 262148000, "question": "How many dogs?", "answers": answers, "image_id": 262148,
             "answer_type": "number", "multiple_choice_answer": "2", "image": {"bytes": _png(), "path": None}},
            {"question_id": 262148001, "question": "Is it sunny?", "answers": [dict(a, answer="yes") for a in answers],
             "image_id": 262148, "answer_type": "yes/no", "multiple_choice_answer": "yes",
             "image": {"bytes": _png(), "path": None}}]
    items = load_items("vqav2", _parquet(tmp_path / "vqav2.parquet", rows), "vqav2", "en")
    assert [item.id for item in items] == ["262148000", "262148001"]
    assert items[0].answers == ["2"] * 10 and items[0].category == "number"
    assert items[0].meta["multiple_choice_answer"] == "2"


def test_wildvision_prompts_with_a_reference_column_chosen_by_setting(tmp_path) -> None:
    rows = [{"question_id": "wv-1", "instruction": "What is funny about this meme?", "image": {"bytes": _png(), "path": None},
             "language": "English", "claude-3-sonnet-20240229": "The cat wears a hat."}]
    path = _parquet(tmp_path / "wv.parquet", rows)
    (plain,) = load_items("wildvision", path, "wildvision", "en")
    assert (plain.id, plain.kind, plain.question, plain.answer) == ("wv-1", "open", "What is funny about this meme?", "")
    (referenced,) = load_items("wildvision", path, "wildvision", "en", columns={"reference": "claude-3-sonnet-20240229"})
    assert referenced.answer == "The cat wears a hat."


def test_column_settings_replace_defaults_and_missing_columns_are_named_as_in_the_file(tmp_path) -> None:
    path = write_jsonl(tmp_path / "q.jsonl", [{"qid": "x1", "query": "Colour?", "labels": ["red", "rot"]}])
    spec = BenchmarkSpec("mine", "en", "vqa", path, columns={"id": "qid", "question": "query", "answers": "labels"})
    (item,) = spec.load()
    assert (item.id, item.question, item.answers) == ("x1", "Colour?", ["red", "rot"])
    with pytest.raises(BenchmarkFileError, match="'prompt_text'"):
        load_items("vqa", path, "mine", "en", columns={"question": "prompt_text", "answers": "labels"})
    with pytest.raises(ValueError, match="fixed columns"):
        load_items("mmbench_tsv", path, "mine", "en", columns={"question": "query"})


def _mmbench_with_copies(tmp_path) -> str:
    image = b64(_png())
    rows = []
    for index, (answer, options) in enumerate([("B", ["cat", "dog", "cow", "pig"]), ("A", ["red", "blue", "", ""])]):
        count = sum(bool(o) for o in options)
        for copy in range(count):  # copy k: options rotated k places, index + k * 1e6
            rotated = options[:count][copy:] + options[:count][:copy]
            letter = "ABCD"[("ABCD".index(answer) - copy) % count]
            rows.append([index + copy * 1_000_000, f"Question {index}", "", *(rotated + [""] * (4 - count)), letter,
                         image if copy == 0 and index == 0 else "0", "attribute" if index == 0 else "colour", "l2"])
    return write_tsv(tmp_path / "MMBench_DEV_EU.tsv", MMBENCH_HEADER, rows)


def test_mmbench_copies_are_grouped_by_index_modulo_a_million_and_not_rotated_again(tmp_path) -> None:
    spec = BenchmarkSpec("mmbench", "eu", "mmbench_tsv", _mmbench_with_copies(tmp_path), circular=True)
    items = spec.load()
    assert len(items) == 6  # the file's 4 + 2 rows, no extra rotations
    assert sorted({item.meta["circular_of"] for item in items}) == ["0", "1"]
    # Question 0 right in every copy; question 1 wrong in its second copy.
    replies = {item.key: item.answer for item in items}
    replies["mmbench/eu/1000001"] = "A" if replies["mmbench/eu/1000001"] == "B" else "B"
    rows, _ = score(items, {key: {"prediction": reply, "error": None} for key, reply in replies.items()})
    (row,) = rows
    assert (row["metric"], row["count"], row["replies"], row["score"]) == ("circular_accuracy", 2, 6, 0.5)
    assert row["categories"] == {"attribute": 1.0, "colour": 0.0}


def test_a_file_without_copies_is_still_rotated_here(tmp_path) -> None:
    rows = [{"id": "q", "question": "Which?", "options": ["a", "b", "c"], "answer": "B"}]
    spec = BenchmarkSpec("quiz", "en", "mc", write_jsonl(tmp_path / "q.jsonl", rows), circular=True)
    assert [item.id for item in spec.load()] == ["q#rot0", "q#rot1", "q#rot2"]


def test_published_files_export_to_generic_records_that_read_back_the_same(tmp_path) -> None:
    from lightning_mllm.evaluation.generic_export import main as export_main

    source = _mmbench_with_copies(tmp_path)
    out = tmp_path / "mmbench-en.jsonl"
    assert export_main(["--format", "mmbench_tsv", "--path", source, "--out", str(out)]) == 6
    original = BenchmarkSpec("mmbench", "en", "mmbench_tsv", source, circular=True).load()
    exported = BenchmarkSpec("mmbench", "en", "mc", str(out), circular=True).load()
    fields = [(i.id, i.question, i.options, i.answer, i.category, i.meta["circular_of"], i.load_image().size)
              for i in original]
    assert fields == [(i.id, i.question, i.options, i.answer, i.category, i.meta["circular_of"], i.load_image().size)
                      for i in exported]
