"""The bad-input battery (issue 14): every kind of bad input, through the shard writer and the sample
decoder, with its exact outcome: a named reject reason (and the record's place and id in the
rejects file), a counted skip naming the shard and key, an error naming the file, key or setting,
or, for kinds that can be made right, the right pixels. No kind may crash or pass silently.

Writer kinds run one bad record next to a good one through ``convert_to_shards``; decoder kinds
write one raw sample into a tar (as a shard from elsewhere could hold it) and run it through
``prepare``, the stream's own per-sample step, whose ``SampleError`` the streams count by reason.
The streaming reader's kinds (shard files, manifests, mixture settings) have their own section at
the end, built with the same helpers (``bad_input_kinds.py``).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import torch
from bad_input_kinds import (bomb_png, grey16_png, image_bytes, messages, rgba_png, turns,
                             write_shard)
from PIL import Image
from transformers import AutoConfig

from datamodules.raw_formats import ConvertOptions
from datamodules.raw_records import REJECT_REASONS
from datamodules.samples import read_shard
from datamodules.shard_streams import ResolvedSource, prepare
from datamodules.shards import convert_to_shards, main
from lightning_mllm.chat_format import SampleError
from lightning_mllm.image_transform import to_rgb
from lightning_mllm.processor import MultimodalProcessor
from lightning_mllm.vision_tower import image_token_count

GOOD = {"id": "good", "image": "ok.jpg", "conversations": turns()}
LONG = " ".join(["hitz"] * 200)  # far over the decoder's 128-token max_length


# ------------------------------------------------------------------------------ the shard writer
# kind -> (format, the bad record (a dict, or a raw line of bytes for JSONL), the reject reason)
WRITER_REJECTS = {
    "line not JSON": ("llava", b"{not json", "bad_json"),
    "record not an object": ("llava", ["a", "list"], "bad_json"),
    "conversation string not JSON": ("messages", {"id": "x", "messages": "[{oops"}, "bad_json"),
    "line not UTF-8 (Latin-1)": ("llava", '{"id": "x", "conversations": [{"from": "human", "value": "Iruñea?"}, '
                                          '{"from": "gpt", "value": "Bai."}]}'.encode("latin-1"), "not_utf8"),
    "empty conversation": ("llava", {"id": "x", "conversations": []}, "empty_conversation"),
    "no conversation key": ("llava", {"id": "x", "question": "?"}, "empty_conversation"),
    "text: no instruction": ("text", {"id": "x", "output": "Bai."}, "empty_conversation"),
    "turn not an object": ("llava", {"id": "x", "conversations": ["hi", "ho"]}, "bad_conversation"),
    "unknown role": ("messages", {"id": "x", "messages": [{"role": "narrator", "content": "?"},
                                                          {"role": "assistant", "content": "!"}]},
                     "bad_conversation"),
    "assistant speaks first": ("llava", {"id": "x", "conversations": turns()[::-1]}, "assistant_first"),
    "assistant first after system": ("messages", {"id": "x", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Kaixo!"},
        {"role": "user", "content": "Kaixo"}, {"role": "assistant", "content": "Zer moduz?"}]}, "assistant_first"),
    "no assistant turn": ("llava", {"id": "x", "conversations": turns()[:1]}, "no_assistant_turn"),
    "text: empty output": ("text", {"id": "x", "instruction": "Idatzi.", "output": " "}, "no_assistant_turn"),
    "image tag in assistant turn": ("llava", {"id": "x", "image": "ok.jpg",
                                              "conversations": turns("Q?", "<image> A.")}, "image_tag_mismatch"),
    "two image tags": ("llava", {"id": "x", "image": "ok.jpg", "conversations": turns("<image><image>Q?")},
                       "image_tag_mismatch"),
    "image file missing": ("llava", {"id": "x", "image": "gone.jpg", "conversations": turns()}, "missing_image"),
    "image tag without image": ("llava", {"id": "x", "conversations": turns()}, "missing_image"),
    "several images": ("llava", {"id": "x", "image": ["ok.jpg", "ok.jpg"], "conversations": turns()},
                       "multiple_images"),
    "path climbs out of the root": ("llava", {"id": "x", "image": "../outside/secret.jpg", "conversations": turns()},
                                    "image_outside_root"),
    "path to /etc/passwd": ("llava", {"id": "x", "image": "../../../../../../etc/passwd", "conversations": turns()},
                            "image_outside_root"),
    "absolute path outside": ("llava", {"id": "x", "image": "{outside}/secret.jpg", "conversations": turns()},
                              "image_outside_root"),
    "symlink out of the root": ("llava", {"id": "x", "image": "link.jpg", "conversations": turns()},
                                "image_outside_root"),
    "truncated image": ("llava", {"id": "x", "image": "broken.jpg", "conversations": turns()}, "undecodable_image"),
    "not an image": ("llava", {"id": "x", "image": "notes.jpg", "conversations": turns()}, "undecodable_image"),
    "base64 not base64": ("messages", {"id": "x", "messages": messages(), "image_base64": "@@@"},
                          "undecodable_image"),
    "decompression bomb": ("llava", {"id": "x", "image": "bomb.png", "conversations": turns()}, "image_too_large"),
    "4 x 3000 strip": ("llava", {"id": "x", "image": "strip.png", "conversations": turns()}, "extreme_aspect_ratio"),
    "duplicate id": ("llava", {"id": "good", "image": "ok.jpg", "conversations": turns(answer="Again.")},
                     "duplicate_id"),
}


@pytest.fixture()
def image_root(tmp_path):
    """Images for the writer kinds, and a file outside the root that must never be read."""
    root, outside = tmp_path / "images", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(image_bytes())  # a valid image: reading it would accept it
    (root / "link.jpg").symlink_to(outside / "secret.jpg")
    (root / "ok.jpg").write_bytes(image_bytes())
    (root / "broken.jpg").write_bytes(image_bytes()[:60])
    (root / "notes.jpg").write_bytes(b"these are notes, not a picture")
    (root / "bomb.png").write_bytes(bomb_png())
    (root / "strip.png").write_bytes(image_bytes((3000, 4), "PNG"))
    return root


def _record_line(record, outside: str) -> bytes:
    if isinstance(record, bytes):
        return record
    return json.dumps(record).replace("{outside}", outside).encode("utf-8")


@pytest.mark.parametrize("kind", sorted(WRITER_REJECTS))
def test_writer_rejects_each_kind_with_its_reason(kind, image_root, tmp_path):
    fmt, bad, reason = WRITER_REJECTS[kind]
    good = GOOD if fmt != "text" else {"id": "good", "instruction": "Idatzi.", "output": "Bai."}
    if fmt == "messages":
        good = {"id": "good", "image": "ok.jpg", "messages": messages()}
    source = tmp_path / "in.jsonl"
    source.write_bytes(_record_line(good, "") + b"\n" + _record_line(bad, str(tmp_path / "outside")) + b"\n")
    options = ConvertOptions(format=fmt, source="battery", lang="eu", image_root=str(image_root))
    summary = convert_to_shards([str(source)], options, str(tmp_path / "out"), progress=False)
    assert (summary.samples, summary.rejected) == (1, {reason: 1})
    [line] = [json.loads(x) for x in open(summary.rejects, encoding="utf-8")]
    assert (line["where"], line["reason"]) == (f"{source}:2", reason)
    # The rejects file names the record's own id next to its place, when it has one.
    assert line["id"] == (bad.get("id") if isinstance(bad, dict) else None)
    if "outside" in kind or "symlink" in kind or "passwd" in kind:
        assert "--image-root" in line["detail"]


def test_a_non_utf8_jsonl_line_is_rejected_not_stored_with_replacement_characters(tmp_path):
    source = tmp_path / "in.jsonl"
    line = {"id": "x", "conversations": turns("Non dago Iruñea?", "Nafarroan.")}
    source.write_bytes(json.dumps(line, ensure_ascii=False).encode("latin-1") + b"\n"
                       + json.dumps(line, ensure_ascii=False).replace('"x"', '"y"').encode("utf-8") + b"\n")
    options = ConvertOptions(format="llava", source="battery", lang="eu")
    summary = convert_to_shards([str(source)], options, str(tmp_path / "out"), progress=False)
    assert (summary.samples, summary.rejected) == (1, {"not_utf8": 1})
    [raw] = list(read_shard(str(tmp_path / "out" / "battery-eu-000000.tar")))
    assert "Iruñea" in raw["json"].decode("utf-8") and "\ufffd" not in raw["json"].decode("utf-8")


# kind -> (command-line arguments after the input, what to write as input, what the one-line error names)
def _cli_error_cases(tmp_path):
    good = json.dumps({"id": "a", "conversations": turns("Q?", "A.")})
    text = {"id": "t", "instruction": "Idatzi.", "output": "Bai."}
    return {
        ".json not UTF-8": ("in.json", "[" + good.replace("Q?", "Iruñea?") + "]", "latin-1", ["--format", "llava"],
                            r"in\.json: byte \d+ .* is not UTF-8"),
        ".json not JSON": ("in.json", "[{", "utf-8", ["--format", "llava"], r"in\.json is not valid JSON"),
        ".json not a list": ("in.json", good, "utf-8", ["--format", "llava"], r"in\.json holds a JSON dict"),
        "input missing": (None, None, None, ["--format", "llava"], r"input file .*gone\.jsonl does not exist"),
        "nothing converts": ("in.jsonl", json.dumps({"id": "z", "conversations": []}), "utf-8", ["--format", "llava"],
                             r"no record of .* became a sample \(rejected: empty_conversation: 1\); see .*rejects"),
        "text row": ("in.jsonl", json.dumps(text), "utf-8", ["--format", "text"], None),
    }


@pytest.mark.parametrize("kind", [".json not UTF-8", ".json not JSON", ".json not a list", "input missing",
                                  "nothing converts"])
def test_writer_file_errors_end_in_one_line_naming_the_file(kind, tmp_path):
    name, content, encoding, args, message = _cli_error_cases(tmp_path)[kind]
    path = tmp_path / (name or "gone.jsonl")
    if content is not None:
        path.write_bytes(content.encode(encoding))
    with pytest.raises(SystemExit) as caught:
        main([str(path), *args, "--source", "s", "--lang", "eu", "--output", str(tmp_path / "o"), "--workers", "1"])
    assert isinstance(caught.value.code, str) and "\n" not in caught.value.code  # non-zero, one line
    assert caught.value.code.startswith("error: ")
    assert re.search(message, caught.value.code), caught.value.code


def test_writing_over_earlier_output_needs_overwrite(tmp_path):
    name, content, encoding, args, _ = _cli_error_cases(tmp_path)["text row"]
    (tmp_path / name).write_text(content)
    argv = [str(tmp_path / name), *args, "--source", "s", "--lang", "eu", "--output", str(tmp_path / "o"),
            "--workers", "1"]
    assert main(argv).samples == 1
    with pytest.raises(SystemExit, match=r"^error: .*/o already holds output for prefix 's-eu'.*--overwrite"):
        main(argv)


@pytest.mark.parametrize("kind", ["image column renamed", "conversation column renamed"])
def test_parquet_columns_that_do_not_match_the_settings_are_an_error(kind, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    columns = {"id": ["p0"], "conversations": [json.dumps(turns())], "picture": [image_bytes()]}
    if kind == "conversation column renamed":
        columns["dialog"] = columns.pop("conversations")
    path = tmp_path / "train.parquet"
    pq.write_table(pa.table(columns), path)
    setting = "--image-column" if kind == "image column renamed" else "--messages-column"
    with pytest.raises(SystemExit) as caught:
        main([str(path), "--format", "parquet", "--source", "s", "--lang", "eu", "--output", str(tmp_path / "o"),
              "--workers", "1"])
    assert str(path) in caught.value.code and setting in caught.value.code
    if kind == "image column renamed":
        assert "no image column 'image'" in caught.value.code and "'picture'" in caught.value.code
        # Naming the column converts the row with its image.
        summary = main([str(path), "--format", "parquet", "--source", "s", "--lang", "eu", "--workers", "1",
                        "--output", str(tmp_path / "o"), "--image-column", "picture", "--overwrite"])
        assert (summary.samples, summary.with_image) == (1, 1)


# ------------------------------------------------------------------------------ sample decoding
@pytest.fixture(scope="module")
def processor(tiny_paths):
    tokens = image_token_count(AutoConfig.from_pretrained(tiny_paths["vision"]), True)
    return MultimodalProcessor.from_pretrained(tiny_paths["llm"], tiny_paths["vision"], tokens, max_length=128,
                                               image_aspect="pad")


def _json(record) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


OK_RECORD = {"id": "s1", "messages": messages()}
# kind -> (the sample's files, the skip reason)
DECODER_SKIPS = {
    "no json file": ({"jpg": image_bytes()}, "missing_json"),
    "json not JSON": ({"json": b"{nope"}, "bad_json"),
    "json not UTF-8": ({"json": '{"messages": "Iruñea"}'.encode("latin-1")}, "bad_json"),
    "json not an object": ({"json": b"[1, 2]"}, "bad_json"),
    "two images": ({"json": _json(OK_RECORD), "jpg": image_bytes(), "png": image_bytes(fmt="PNG")}, "image_mismatch"),
    "image not an image": ({"json": _json(OK_RECORD), "jpg": b"not a picture"}, "bad_image"),
    "truncated image": ({"json": _json(OK_RECORD), "jpg": image_bytes()[:60]}, "bad_image"),
    "decompression bomb": ({"json": _json(OK_RECORD), "png": bomb_png()}, "image_too_large"),
    "messages not a list": ({"json": _json({"id": "s1", "messages": "hi"})}, "bad_messages"),
    "unknown role": ({"json": _json({"id": "s1", "messages": [{"role": "robot", "content": "x"}]})}, "bad_messages"),
    "no assistant turn": ({"json": _json({"id": "s1", "messages": messages()[:1]}), "jpg": image_bytes()},
                          "no_assistant_turn"),
    "assistant speaks first": ({"json": _json({"id": "s1", "messages": messages()[::-1]}), "jpg": image_bytes()},
                               "assistant_first"),
    "image tag without image": ({"json": _json(OK_RECORD)}, "image_mismatch"),
    "image tag in assistant turn": ({"json": _json({"id": "s1", "messages": messages("Q?", "<image>")}),
                                     "jpg": image_bytes()}, "image_mismatch"),
    "image past max_length": ({"json": _json({"id": "s1", "messages": messages(LONG + " <image>", "A.")}),
                               "jpg": image_bytes()}, "image_beyond_max_length"),
    "reply past max_length": ({"json": _json({"id": "s1", "messages": messages(LONG, "A.")})},
                              "no_labels_after_truncation"),
    "prompt past max_length": ({"json": _json({"id": "s1", "messages": [*messages("Q?", "A."), *messages(LONG, "B.")]})},
                               "prompt_too_long"),
}


@pytest.mark.parametrize("kind", sorted(DECODER_SKIPS))
def test_decoder_skips_each_kind_naming_shard_and_key(kind, processor, tmp_path):
    files, reason = DECODER_SKIPS[kind]
    shard = write_shard(tmp_path / "other-000000.tar", [("k0", files)])
    [raw] = list(read_shard(shard))
    source = ResolvedSource("elsewhere", [shard], 1.0, "eu")
    with pytest.raises(SampleError) as caught:
        prepare(raw, source, processor, with_prompt=True)
    assert caught.value.reason == reason
    assert f"{shard}:k0" in str(caught.value)  # counted under its reason, naming shard and key


@pytest.mark.parametrize("kind", ["transparent PNG", "16-bit grey PNG", "4 x 3000 strip"])
def test_decoder_makes_odd_images_right(kind, processor, tmp_path):
    data = {"transparent PNG": rgba_png(), "16-bit grey PNG": grey16_png(),
            "4 x 3000 strip": image_bytes((3000, 4), "PNG")}[kind]
    shard = write_shard(tmp_path / "other-000000.tar", [("k0", {"json": _json(OK_RECORD), "png": data})])
    [raw] = list(read_shard(shard))
    sample = prepare(raw, ResolvedSource("elsewhere", [shard], 1.0, "eu"), processor, with_prompt=False)
    pixels = sample["pixel_values"]
    reference = processor.image_processor(images=to_rgb(Image.open(io.BytesIO(data))),
                                          return_tensors="pt")["pixel_values"][0]
    # The strip goes through the bounded path (padded a little, shrunk, then padded to the square),
    # which matches the full-size square up to the resampling at its edges.
    torch.testing.assert_close(pixels, reference, rtol=0, atol=0.05 if kind == "4 x 3000 strip" else 1e-4)
    white = (1 - torch.tensor(processor.image_processor.image_mean)) / torch.tensor(processor.image_processor.image_std)
    if kind == "transparent PNG":  # the transparent top is white, the rest red
        torch.testing.assert_close(pixels[:, pixels.shape[1] // 2 - 8, pixels.shape[2] // 2], white, atol=0.05, rtol=0)
    if kind == "16-bit grey PNG":  # a ramp, not all white
        assert pixels[0].min() < -1.0 and pixels[0].max() > 1.5


# ------------------------------------------------------------------------------ the streaming reader
# Kinds that concern reading shard files and mixing sources (0-byte or truncated shards, manifest
# counts, mixture weights) belong here, built with bad_input_kinds.write_shard and run through the
# datamodule: one parametrised case per kind, asserting its counted skip or its error.


def _reasons_raised(files: list[str], exception: str) -> set[str]:
    root = Path(__file__).parent.parent
    text = "".join((root / name).read_text() for name in files)
    return set(re.findall(exception + r'\("(\w+)"', text))


def test_every_writer_and_decoder_reason_has_a_kind():
    """A reason added to the writer or the decoder without a battery kind fails here."""
    writer = _reasons_raised(["datamodules/raw_formats.py", "datamodules/raw_images.py", "datamodules/raw_readers.py",
                              "datamodules/shards.py"], "Reject")
    assert writer == set(REJECT_REASONS) == {reason for _, _, reason in WRITER_REJECTS.values()}
    decoder = _reasons_raised(["datamodules/samples.py", "lightning_mllm/chat_format.py"], "SampleError")
    assert decoder == {reason for _, reason in DECODER_SKIPS.values()}
