"""Flat rows from each file type, grouped by image deterministically: the same samples from CSV,
JSONL and an Arrow IPC file, the same shards for any worker count, one sample per row without
grouping, a system column kept once, and a path pattern built from the row."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pytest
from data_fixtures import distinct_image, shard_records

from datamodules.column_rows import ColumnError, file_columns, iter_rows, row_files
from datamodules.row_conversations import RowOptions
from datamodules.shards import convert_to_shards

ROWS = [{"img": f"{seed}.jpg", "q": f"Question {k}?", "a": f"Answer {k}", "sys": "Be brief."}
        for k, seed in enumerate([1, 2, 1, 3, 1, 2, 1])]


@pytest.fixture
def folder(tmp_path):
    for seed in (1, 2, 3):
        (tmp_path / f"{seed}.jpg").write_bytes(distinct_image(seed))
    with open(tmp_path / "rows.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    table = pa.Table.from_pylist(ROWS)
    with pa.ipc.new_file(str(tmp_path / "rows.arrow"), table.schema) as writer:
        writer.write_table(table)
    return tmp_path


def _convert(folder, name: str, workers: int = 1, **settings) -> dict:
    settings = {"image_column": "img", "question_column": "q", "answer_column": "a", "system_column": "sys",
                "id_column": "none", **settings}
    options = RowOptions(format="rows", source="t", lang="en", image_root=str(folder), **settings)
    convert_to_shards([str(folder / name)], options, str(folder / f"out-{name}-{workers}"), workers=workers,
                      overwrite=True, progress=False)
    return shard_records(folder / f"out-{name}-{workers}")


def _turns(records: dict) -> list[list[str]]:
    return [[m["content"] for m in r["messages"] if m["role"] == "assistant"] for r in records.values()]


def test_every_file_type_gives_the_same_grouped_conversations(folder):
    expected = [["Answer 0", "Answer 2", "Answer 4"], ["Answer 6"], ["Answer 1", "Answer 5"], ["Answer 3"]]
    for name in ("rows.csv", "rows.jsonl", "rows.arrow"):
        records = _convert(folder, name, max_turns=3)
        assert _turns(records) == expected, name
        first = next(iter(records.values()))["messages"]
        assert [m["role"] for m in first] == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
        assert first[1]["content"] == "<image>\nQuestion 0?"
    assert set(file_columns(str(folder / "rows.arrow"))) == {"img", "q", "a", "sys"}


def test_same_shards_for_any_worker_count_and_one_sample_per_row_without_grouping(folder):
    one = (folder / "out-rows.jsonl-1", _convert(folder, "rows.jsonl", 1))
    two = (folder / "out-rows.jsonl-2", _convert(folder, "rows.jsonl", 2))
    assert one[1] == two[1]
    assert (one[0] / "t-en-000000.tar").read_bytes() == (two[0] / "t-en-000000.tar").read_bytes()
    assert _turns(_convert(folder, "rows.csv", group_by_image=False)) == [[f"Answer {k}"] for k in range(7)]


def test_image_path_pattern_and_missing_column(folder):
    (folder / "ids.jsonl").write_text("".join(json.dumps({"image_id": s, "q": "Q?", "a": "A"}) + "\n" for s in (1, 3)))
    for seed in (1, 3):
        (folder / f"COCO_train2014_{seed:012d}.jpg").write_bytes(distinct_image(seed))
    records = _convert(folder, "ids.jsonl", image_path_pattern="COCO_train2014_{image_id:012d}.jpg", system_column=None)
    assert len(records) == 2 and all(r["has_image"] for r in records.values())
    with pytest.raises(ColumnError, match=r"rows\.csv: column 'question' is missing \(mapped by the setting question_column\)"):
        convert_to_shards([str(folder / "rows.csv")], RowOptions(format="rows", source="t", lang="en"),
                          str(folder / "bad"), progress=False)


def test_split_picks_files_and_rows_say_where_they_are(folder):
    (folder / "data").mkdir()
    for split in ("train", "validation"):
        (folder / "data" / f"{split}-00000-of-00001.jsonl").write_text(json.dumps({"x": split}) + "\n")
    assert [p.rsplit("/", 1)[-1] for p in row_files(str(folder / "data"), "validation")] == [
        "validation-00000-of-00001.jsonl"]
    assert list(iter_rows(str(folder / "rows.csv"), ["q"]))[1][0].endswith("rows.csv:row1")
