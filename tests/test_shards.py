"""The shard writer: every input format converts; every bad record is rejected with its reason."""

from __future__ import annotations

import base64
import io
import json
import tarfile

import pytest
from PIL import Image

from datamodules.raw_formats import ConvertOptions
from datamodules.samples import decode_sample, read_shard
from datamodules.shards import convert_to_shards, main, parse_size


def _image_bytes(fmt: str = "JPEG", colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 16), colour).save(buffer, format=fmt)
    return buffer.getvalue()


def _turns(question: str, answer: str) -> list[dict[str, str]]:
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


def _samples(folder, prefix):
    out = []
    for shard in sorted(folder.glob(f"{prefix}-*.tar")):
        out.extend(decode_sample(raw) for raw in read_shard(str(shard)))
    return out


def _rejects(summary) -> list[dict]:
    with open(summary.rejects, encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def test_llava_json_with_each_bad_kind(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "ok.jpg").write_bytes(_image_bytes())
    (images / "broken.jpg").write_bytes(_image_bytes()[:40])
    (images / "odd.bmp").write_bytes(_image_bytes("BMP"))
    records = [
        {"id": "a", "image": "ok.jpg", "conversations": _turns("<image>\nWhat is it?", "A red box.")},
        {"id": "b", "image": "odd.bmp", "conversations": _turns("Colour?", "Red.")},  # no tag: one is added
        {"id": "c", "conversations": _turns("Say hi.", "Hi.")},  # text-only
        {"id": "d", "image": "gone.jpg", "conversations": _turns("<image>\nX?", "Y.")},
        {"id": "e", "image": "broken.jpg", "conversations": _turns("<image>\nX?", "Y.")},
        {"id": "f", "image": "ok.jpg", "conversations": []},
        {"id": "g", "image": "ok.jpg", "conversations": [{"from": "human", "value": "<image>\nOnly a question"}]},
        "not an object",
    ]
    source = tmp_path / "llava.json"
    source.write_text(json.dumps(records))
    options = ConvertOptions(format="llava", source="llava-test", lang="eu", image_root=str(images))
    summary = convert_to_shards([str(source)], options, str(tmp_path / "out"), progress=False)

    assert (summary.samples, summary.with_image, summary.text_only) == (3, 2, 1)
    assert summary.rejected == {"bad_json": 1, "empty_conversation": 1, "missing_image": 1,
                                "no_assistant_turn": 1, "undecodable_image": 1}
    assert [r["where"] for r in _rejects(summary)] == [f"{source}:{i}" for i in (3, 4, 5, 6, 7)]
    samples = _samples(tmp_path / "out", "llava-test-eu")
    assert [s["record"]["id"] for s in samples] == ["a", "b", "c"]
    assert samples[0]["record"]["messages"] == [{"role": "user", "content": "<image>\nWhat is it?"},
                                                {"role": "assistant", "content": "A red box."}]
    assert samples[1]["record"]["messages"][0]["content"] == "<image>\nColour?"
    assert samples[1]["image"].format == "PNG"  # BMP re-encoded losslessly
    assert samples[2]["image"] is None
    assert all(s["record"]["lang"] == "eu" and s["record"]["source"] == "llava-test" for s in samples)
    manifest = json.loads((tmp_path / "out" / "llava-test-eu.manifest.json").read_text())
    assert manifest["samples"] == 3 and manifest["rejected_total"] == 5
    assert manifest["languages"] == {"eu": 3}


def test_jsonl_messages_with_base64_path_and_bad_json(tmp_path):
    (tmp_path / "ok.png").write_bytes(_image_bytes("PNG"))
    inline = base64.b64encode(_image_bytes()).decode()
    messages = [{"role": "user", "content": "<image>\nZer da?"}, {"role": "assistant", "content": "Kutxa."}]
    lines = [
        json.dumps({"messages": messages, "image_base64": inline, "lang": "eu"}),
        json.dumps({"messages": messages, "image": "ok.png"}),
        "{not json",
        json.dumps({"messages": messages, "image_base64": "@@@"}),
        json.dumps({"messages": messages}),  # an <image> tag without an image
        "",
        json.dumps({"messages": [{"role": "user", "content": "Kaixo"}, {"role": "assistant", "content": "Kaixo!"}]}),
    ]
    source = tmp_path / "data.jsonl"
    source.write_text("\n".join(lines) + "\n")
    options = ConvertOptions(format="messages", source="gen", lang="en", image_root=str(tmp_path))
    summary = convert_to_shards([str(source)], options, str(tmp_path / "out"), progress=False)
    assert (summary.samples, summary.with_image, summary.text_only) == (3, 2, 1)
    assert summary.rejected == {"bad_json": 1, "missing_image": 1, "undecodable_image": 1}
    assert [r["where"] for r in _rejects(summary)] == [f"{source}:{n}" for n in (3, 4, 5)]
    assert summary.languages == {"en": 2, "eu": 1}
    samples = _samples(tmp_path / "out", "gen-en")
    assert samples[0]["image"].format == "JPEG" and samples[1]["image"].format == "PNG"


def test_parquet_with_image_struct_and_configured_columns(tmp_path):
    # pyarrow is in requirements.txt; the lent GPU machine may lack it (Parquet input only needs it).
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = {
        "qid": ["p0", "p1", "p2", "p3"],
        "dialog": [json.dumps(_turns("<image>\nKolorea?", "Gorria.")), json.dumps(_turns("Kolorea?", "Urdina.")),
                   json.dumps(_turns("<image>\nX?", "Y.")), json.dumps([])],
        "picture": [{"bytes": _image_bytes(), "path": None}, {"bytes": _image_bytes("PNG"), "path": None},
                    {"bytes": b"garbage", "path": None}, {"bytes": _image_bytes(), "path": None}],
    }
    source = tmp_path / "train-00000.parquet"
    pq.write_table(pa.table(rows), source)
    options = ConvertOptions(format="parquet", source="pq", lang="eu", messages_column="dialog",
                             image_column="picture", id_column="qid")
    summary = convert_to_shards([str(source)], options, str(tmp_path / "out"), progress=False)
    assert summary.samples == 2 and summary.with_image == 2
    assert summary.rejected == {"empty_conversation": 1, "undecodable_image": 1}
    assert [r["where"] for r in _rejects(summary)] == [f"{source}:row2", f"{source}:row3"]
    assert [s["record"]["id"] for s in _samples(tmp_path / "out", "pq-eu")] == ["p0", "p1"]


def test_text_only_instructions(tmp_path):
    lines = [{"instruction": "Itzuli ingelesera:", "input": "Kaixo", "output": "Hello"},
             {"instruction": "Idatzi olerki bat.", "output": ""},
             {"messages": [{"role": "system", "content": "Laguntzailea zara."},
                           {"role": "user", "content": "Zer ordu da?"}, {"role": "assistant", "content": "Ez dakit."}]},
             {"messages": [{"role": "narrator", "content": "?"}, {"role": "assistant", "content": "!"}]}]
    source = tmp_path / "text.jsonl"
    source.write_text("\n".join(json.dumps(x) for x in lines))
    options = ConvertOptions(format="text", source="alpaca", lang="eu")
    summary = convert_to_shards([str(source)], options, str(tmp_path / "out"), progress=False)
    assert (summary.samples, summary.text_only) == (2, 2)
    assert summary.rejected == {"bad_conversation": 1, "no_assistant_turn": 1}
    first = _samples(tmp_path / "out", "alpaca-eu")[0]["record"]["messages"]
    assert first == [{"role": "user", "content": "Itzuli ingelesera:\n\nKaixo"}, {"role": "assistant", "content": "Hello"}]


def test_shards_are_bounded_and_identical_for_any_worker_count(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    records = []
    for i in range(150):
        (images / f"{i}.jpg").write_bytes(_image_bytes(colour=(i, 100, 200)))
        records.append({"id": str(i), "image": f"{i}.jpg", "conversations": _turns("<image>\nQ?", f"A{i}.")})
    source = tmp_path / "many.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in records))
    options = ConvertOptions(format="llava", source="many", lang="en", image_root=str(images))
    one = convert_to_shards([str(source)], options, str(tmp_path / "one"), max_samples=40, progress=False)
    two = convert_to_shards([str(source)], options, str(tmp_path / "two"), max_samples=40, workers=2, progress=False)
    names = sorted(p.name for p in (tmp_path / "one").glob("*.tar"))
    assert one.shards == two.shards == len(names) == 4
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    small = convert_to_shards([str(source)], options, str(tmp_path / "small"), max_bytes=30000, progress=False)
    sizes = [p.stat().st_size for p in (tmp_path / "small").glob("*.tar")]
    assert small.samples == 150 and small.shards == len(sizes) > 4
    assert max(sizes) <= 30000
    with tarfile.open(tmp_path / "one" / names[0]) as tar:
        assert len(tar.getnames()) == 80  # json + jpg for 40 samples


def test_cli_refuses_to_mix_with_earlier_output(tmp_path, capsys):
    source = tmp_path / "t.jsonl"
    source.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n")
    args = [str(source), "--format", "text", "--source", "t", "--lang", "eu", "--output", str(tmp_path / "o"),
            "--workers", "1"]
    assert main(args).samples == 1
    assert "1 samples" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="^error: .* already holds output .*--overwrite"):
        main(args)  # one line naming the folder, not a traceback
    assert main(args + ["--overwrite"]).samples == 1
    assert parse_size("1GiB") == 2**30 and parse_size("500MB") == 500 * 10**6
