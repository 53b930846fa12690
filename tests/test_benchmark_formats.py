"""Benchmark file formats: every format loads field by field; bad files fail naming file, row and field."""

from __future__ import annotations

import csv
import io
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from helpers import MMBENCH_HEADER, b64, write_jsonl, write_tsv

from lightning_mllm.evaluation.formats import _READERS, DEFAULT_COLUMNS, FORMATS, GENERIC_KIND, load_items
from lightning_mllm.evaluation.items import BenchmarkFileError, ImageDecodeError

NOT_AN_IMAGE = b"these bytes are not an image"


def _png(colour=(200, 30, 30), size=(8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _noise_png(side: int = 256) -> bytes:
    """A PNG whose base64 is longer than the csv module's default field limit (128 KiB)."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_every_listed_format_reaches_a_reader_and_an_unknown_one_fails(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    for format in FORMATS:  # limit=0 dispatches to the format's reader without reading a row
        assert load_items(format, str(empty), "b", "en", limit=0) == [], format
    # No reader is unreachable, and every format with column defaults maps to a generic kind.
    assert set(_READERS) == set(FORMATS)
    assert set(DEFAULT_COLUMNS) == set(GENERIC_KIND) <= set(FORMATS)
    with pytest.raises(ValueError, match="unknown benchmark format"):
        load_items("mmbench", "x.tsv", "mmbench", "en")


def test_mmbench_tsv(tmp_path):
    big = _noise_png()
    rows = [
        ["10", "What colour is the square?", "A red square on white.", "red", "blue", "green", "nan", "A",
         b64(big), "color", "attribute"],
        ["11", 'Is "this"\ta square?\nAnswer yes or no.', "nan", "yes", "no", "", "", "B", "10", "shape", "nan"],
        ["12", "Which shape?", "", "circle", "square", "nan", "nan", "", b64(_png((0, 0, 255))), "", ""],
    ]
    limit_before = csv.field_size_limit()
    path = write_tsv(tmp_path / "mmbench_dev_en.tsv", MMBENCH_HEADER, rows)
    items = load_items("mmbench_tsv", path, "mmbench", "eu")
    assert csv.field_size_limit() == limit_before
    assert [item.id for item in items] == ["10", "11", "12"]
    first, second, third = items
    assert (first.benchmark, first.lang, first.kind) == ("mmbench", "eu", "mc")
    assert first.question == "What colour is the square?"
    assert first.hint == "A red square on white."
    assert first.options == {"A": "red", "B": "blue", "C": "green"}
    assert first.answer == "A" and first.category == "color"
    assert first.image == big and first.meta == {"l2-category": "attribute"}
    assert first.load_image().size == (256, 256)
    assert second.question == 'Is "this"\ta square?\nAnswer yes or no.'
    assert second.hint == "" and second.options == {"A": "yes", "B": "no"} and second.answer == "B"
    assert second.image == big  # "10" refers to the row with index 10
    assert third.answer == "" and third.options == {"A": "circle", "B": "square"}
    assert third.load_image().getpixel((0, 0)) == (0, 0, 255)
    assert [item.id for item in load_items("mmbench_tsv", path, "mmbench", "eu", limit=2)] == ["10", "11"]


def test_mmbench_tsv_missing_columns_are_all_named(tmp_path):
    header = ["index", "question", "hint", "A", "C", "image"]
    path = write_tsv(tmp_path / "short.tsv", header, [["1", "Q?", "", "x", "y", b64(_png())]])
    with pytest.raises(BenchmarkFileError) as error:
        load_items("mmbench_tsv", path, "mmbench", "en")
    message = str(error.value)
    assert "short.tsv" in message and "'B'" in message and "'answer'" in message


def test_mmbench_tsv_reference_to_a_missing_row(tmp_path):
    rows = [["1", "Q?", "", "x", "y", "", "", "A", "99", "", ""]]
    path = write_tsv(tmp_path / "ref.tsv", MMBENCH_HEADER, rows)
    with pytest.raises(BenchmarkFileError, match=r"ref\.tsv row 0: field 'image': refers to index 99"):
        load_items("mmbench_tsv", path, "mmbench", "en")


@pytest.mark.parametrize("image_layout", ["struct", "bytes"])
def test_mmstar_parquet(tmp_path, image_layout):
    images = [_png((10, 200, 10)), _png((0, 0, 0)), NOT_AN_IMAGE]
    column = [{"bytes": data, "path": None} for data in images] if image_layout == "struct" else images
    table = pa.table({
        "index": [0, 1, 2],
        "question": ["Which shape is shown?\nOptions: A: a square, red and small, B: a circle, C: a triangle, "
                     "D: a line",
                     "Is it dark?\nOptions: A: Yes, B: No",
                     "How many?\nOptions: A: 1, B: 2, C: 3"],
        "image": column,
        "answer": ["A", "B", "C"],
        "category": ["coarse perception", "fine-grained perception", "math"],
        "l2_category": ["shape", "colour", "counting"],
        "meta_info": [{"source": "seedbench"}, {"source": "mmbench"}, {"source": "mathvista"}],
    })
    path = tmp_path / "mmstar.parquet"
    pq.write_table(table, path)
    items = load_items("mmstar_parquet", str(path), "mmstar", "en")
    assert [item.id for item in items] == ["0", "1", "2"]
    first = items[0]
    assert first.question == "Which shape is shown?"
    assert first.options == {"A": "a square, red and small", "B": "a circle", "C": "a triangle", "D": "a line"}
    assert first.answer == "A" and first.category == "coarse perception" and first.kind == "mc"
    assert first.meta == {"l2_category": "shape", "meta_info": {"source": "seedbench"}}
    assert first.image == images[0] and first.load_image().getpixel((0, 0)) == (10, 200, 10)
    assert items[1].options == {"A": "Yes", "B": "No"} and items[1].answer == "B"
    assert items[2].options == {"A": "1", "B": "2", "C": "3"}
    with pytest.raises(ImageDecodeError, match="mmstar/en/2"):  # a broken image loads; decoding fails
        items[2].load_image()


def test_mmstar_question_without_options_names_the_row(tmp_path):
    table = pa.table({"index": [0, 1], "question": ["Q?\nOptions: A: x, B: y", "What is this?"],
                      "image": [_png(), _png()], "answer": ["A", "A"]})
    path = tmp_path / "mmstar.parquet"
    pq.write_table(table, path)
    with pytest.raises(BenchmarkFileError, match=r"mmstar\.parquet row 1: field 'question': no options"):
        load_items("mmstar_parquet", str(path), "mmstar", "en")


def _aokvqa_file(tmp_path):
    records = [
        {"question_id": "q1", "image_id": 42, "question": "What is red?", "choices": ["box", "ball", "cat", "car"],
         "correct_choice_idx": 2, "direct_answers": ["cat"] * 10, "split": "val"},
        {"question_id": "q2", "image_id": 7, "image": "extra/seven.png", "question": "Why?",
         "choices": ["a", "b", "c", "d"], "correct_choice_idx": 0, "direct_answers": ["a"], "split": "val"},
        {"question_id": "q3", "image_id": 5, "question": "Where?", "choices": ["here", "there", "up", "down"],
         "direct_answers": [], "split": "test"},
    ]
    path = tmp_path / "aokvqa_v1p0_val.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return str(path)


def test_aokvqa_json(tmp_path):
    root = tmp_path / "val2017"
    (root / "extra").mkdir(parents=True)
    (root / "000000000042.jpg").write_bytes(_png())
    items = load_items("aokvqa_json", _aokvqa_file(tmp_path), "aokvqa", "eu", image_root=str(root))
    first, second, third = items
    assert [item.id for item in items] == ["q1", "q2", "q3"]
    assert first.kind == "mc" and first.lang == "eu" and first.question == "What is red?"
    assert first.options == {"A": "box", "B": "ball", "C": "cat", "D": "car"} and first.answer == "C"
    assert first.image == str(root / "000000000042.jpg") and first.load_image().size == (8, 6)
    assert first.meta == {"image_id": 42, "direct_answers": ["cat"] * 10, "split": "val"}
    assert second.image == str(root / "extra" / "seven.png") and second.answer == "A"
    assert third.answer == "" and third.image == str(root / "000000000005.jpg")
    with pytest.raises(ImageDecodeError, match="000000000005.jpg"):  # kept as a path; fails when decoded
        third.load_image()


def test_aokvqa_without_image_root_says_to_pass_it(tmp_path):
    path = _aokvqa_file(tmp_path)
    with pytest.raises(BenchmarkFileError) as error:
        load_items("aokvqa_json", path, "aokvqa", "en")
    assert path in str(error.value) and "pass image_root" in str(error.value)


def test_vqav2_official(tmp_path):
    root = tmp_path / "val2014"
    root.mkdir()
    (root / "COCO_val2014_000000000007.jpg").write_bytes(_png())
    (root / "000000000008.jpg").write_bytes(_png())
    questions = {"data_subtype": "val2014", "questions": [
        {"question_id": 70, "image_id": 7, "question": "How many dogs?"},
        {"question_id": 80, "image_id": 8, "question": "Is it sunny?"},
    ]}
    human = ["2"] * 7 + ["3", "two", "2"]
    annotations = {"annotations": [
        {"question_id": 80, "image_id": 8, "answers": [{"answer": "yes", "answer_id": i} for i in range(10)],
         "multiple_choice_answer": "yes", "answer_type": "yes/no", "question_type": "is it"},
        {"question_id": 70, "image_id": 7, "answers": [{"answer": a, "answer_id": i} for i, a in enumerate(human)],
         "multiple_choice_answer": "2", "answer_type": "number", "question_type": "how many"},
    ]}
    (tmp_path / "questions.json").write_text(json.dumps(questions))
    (tmp_path / "annotations.json").write_text(json.dumps(annotations))
    items = load_items("vqav2_official", str(tmp_path / "questions.json"), "vqav2", "en", image_root=str(root),
                       annotations=str(tmp_path / "annotations.json"))
    first, second = items
    assert (first.id, first.kind, first.question) == ("70", "vqa", "How many dogs?")
    assert first.answers == human and first.category == "number"
    assert first.image == str(root / "COCO_val2014_000000000007.jpg")
    assert first.meta == {"image_id": 7, "multiple_choice_answer": "2", "question_type": "how many"}
    assert second.answers == ["yes"] * 10 and second.category == "yes/no"
    assert second.image == str(root / "000000000008.jpg") and second.load_image().size == (8, 6)


def test_generic_mc_jsonl(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(_png())
    records = [
        {"id": 5, "image": "img/a.png", "question": "Colour?", "options": ["red", "blue"], "answer": "A",
         "hint": "Look closely.", "category": "colour", "source": "handmade"},
        {"image_base64": b64(NOT_AN_IMAGE), "question": "Shape?", "options": {"B": "round", "A": "square"},
         "answer": "round"},
        {"question": "Two plus two?", "options": ["3", "4", "5"], "answer": 1},
    ]
    path = write_jsonl(tmp_path / "mc.jsonl", records)
    first, second, third = load_items("mc", path, "basque_culture", "eu")
    assert (first.id, first.question, first.hint, first.category) == ("5", "Colour?", "Look closely.", "colour")
    assert first.options == {"A": "red", "B": "blue"} and first.answer == "A"
    assert first.image == str(tmp_path / "img" / "a.png") and first.meta == {"source": "handmade"}
    assert (second.id, second.options, second.answer) == ("1", {"A": "square", "B": "round"}, "B")
    assert second.image == NOT_AN_IMAGE
    with pytest.raises(ImageDecodeError, match="embedded image"):
        second.load_image()
    assert (third.id, third.answer, third.image, third.hint) == ("2", "B", None, "")
    assert third.load_image() is None


def test_generic_vqa_json_with_image_root(tmp_path):
    root = tmp_path / "pictures"
    root.mkdir()
    records = [{"id": "v1", "image": "x.png", "question": "What animal?", "answers": ["dog", "puppy"]},
               {"id": "v2", "question": "Capital of Euskadi?", "answer": "Vitoria-Gasteiz"}]
    path = tmp_path / "vqa.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    first, second = load_items("vqa", str(path), "textvqa", "en", image_root=str(root))
    assert (first.kind, first.answers, first.image) == ("vqa", ["dog", "puppy"], str(root / "x.png"))
    assert (second.answers, second.image) == (["Vitoria-Gasteiz"], None)


def test_generic_open_jsonl(tmp_path):
    records = [{"id": "o1", "prompt": "Describe the image.", "reference": "A red square."},
               {"id": "o2", "question": "Tell a story."}]
    first, second = load_items("open", write_jsonl(tmp_path / "open.jsonl", records), "chat", "eu")
    assert (first.kind, first.question, first.answer) == ("open", "Describe the image.", "A red square.")
    assert (second.question, second.answer) == ("Tell a story.", "")


def test_generic_vqa_parquet_with_image_structs(tmp_path):
    table = pa.table({
        "id": ["p1", "p2"],
        "image": [{"bytes": _png((1, 2, 3)), "path": None}, {"bytes": None, "path": "images/p2.jpg"}],
        "question": ["Colour?", "Count?"],
        "answers": [["dark"], ["3", "three"]],
    })
    path = tmp_path / "vqa.parquet"
    pq.write_table(table, path)
    first, second = load_items("vqa", str(path), "vqa_eu", "eu", limit=5)
    assert first.load_image().getpixel((0, 0)) == (1, 2, 3) and first.answers == ["dark"]
    assert second.image == str(tmp_path / "images" / "p2.jpg") and second.answers == ["3", "three"]


def test_jsonl_line_that_is_not_json_names_its_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    good = json.dumps({"question": "Q?", "answers": ["a"]})
    path.write_text(f"{good}\n\n{{'question': oops\n{good}\n", encoding="utf-8")
    with pytest.raises(BenchmarkFileError, match=r"broken\.jsonl:3: not valid JSON"):
        load_items("vqa", str(path), "vqa", "en")


def test_mc_answer_not_among_options_names_the_row(tmp_path):
    records = [{"question": "Q?", "options": ["x", "y"], "answer": "A"},
               {"question": "Q2?", "options": ["x", "y"], "answer": "z"}]
    path = write_jsonl(tmp_path / "mc.jsonl", records)
    with pytest.raises(BenchmarkFileError, match=r"mc\.jsonl:2: field 'answer': 'z' is not one of the options"):
        load_items("mc", path, "mc", "en")


def test_missing_keys_are_all_named(tmp_path):
    path = write_jsonl(tmp_path / "mc.jsonl", [{"id": "a", "answer": "A"}])
    with pytest.raises(BenchmarkFileError, match=r"mc\.jsonl:1: missing required key\(s\) 'question', 'options'"):
        load_items("mc", path, "mc", "en")


def test_repeated_ids_and_empty_files_fail(tmp_path):
    path = write_jsonl(tmp_path / "open.jsonl", [{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}])
    with pytest.raises(BenchmarkFileError, match="id 'a' appears more than once"):
        load_items("open", path, "open", "en")
    assert len(load_items("open", path, "open", "en", limit=1)) == 1
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(BenchmarkFileError, match="no items"):
        load_items("open", str(tmp_path / "empty.jsonl"), "open", "en")


def test_benchmark_images_are_made_rgb_as_training_makes_them(tmp_path):
    from lightning_mllm.evaluation.items import BenchItem
    from lightning_mllm.image_transform import to_rgb

    # A half-transparent red square: Hugging Face's processors and training composite it on white.
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 128))
    path = tmp_path / "a.png"
    rgba.save(path)
    plain = tmp_path / "b.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(plain)
    item = BenchItem(benchmark="b", lang="en", id="1", kind="vqa", question="q", image=str(path))
    loaded = item.load_image()
    assert loaded.mode == "RGB" and loaded.getpixel((0, 0)) == to_rgb(rgba).getpixel((0, 0)) == (255, 127, 127)
    # An image that needs no conversion stays readable after its file is closed.
    other = BenchItem(benchmark="b", lang="en", id="2", kind="vqa", question="q", image=plain.read_bytes())
    assert other.load_image().getpixel((3, 3)) == (10, 20, 30)
