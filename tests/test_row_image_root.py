"""Flat rows (``datamodules.row_conversations``) read image paths the way every other reader does:
relative to ``image_root`` and never outside it (``raw_images.read_image_file``)."""

from __future__ import annotations

import json
import os

from data_fixtures import distinct_image, shard_records

from datamodules.row_conversations import RowOptions
from datamodules.shards import convert_to_shards


def test_row_image_paths_stay_inside_the_image_root(tmp_path):
    root, outside = tmp_path / "images", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "ok.jpg").write_bytes(distinct_image(1))
    (outside / "secret.jpg").write_bytes(distinct_image(2))
    os.symlink(outside / "secret.jpg", root / "link.jpg")
    paths = ["ok.jpg", "../outside/secret.jpg", str(outside / "secret.jpg"), "link.jpg", "gone.jpg"]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"img": p, "q": f"Q{i}?", "a": "A"}) + "\n"
                                                 for i, p in enumerate(paths)))
    options = RowOptions(format="rows", source="t", lang="en", image_root=str(root), image_column="img",
                         question_column="q", answer_column="a", system_column=None, id_column="none")
    summary = convert_to_shards([str(tmp_path / "rows.jsonl")], options, str(tmp_path / "out"), progress=False)
    assert summary.samples == 1 and summary.with_image == 1
    assert summary.rejected == {"image_outside_root": 3, "missing_image": 1}
    (record,) = shard_records(tmp_path / "out").values()
    assert record["messages"][0]["content"] == "<image>\nQ0?"
