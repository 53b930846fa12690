"""The contamination check finds a planted exact copy and a resized, re-encoded copy of benchmark
images in training shards, nothing else among 200 distinct images, and drops them on request."""

from __future__ import annotations

import io
import json
from itertools import combinations

import pytest
from data_fixtures import distinct_image, shard_records
from PIL import Image

from datamodules.contamination import main
from datamodules.image_hashes import fingerprint, hamming
from datamodules.raw_formats import ConvertOptions
from datamodules.shards import convert_to_shards


def _reencoded(data: bytes, scale: float, fmt: str, quality: int = 70) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image = image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
        return buffer.getvalue()


def _benchmark(folder, seeds) -> str:
    (folder / "images").mkdir(parents=True)
    lines = []
    for seed in seeds:
        (folder / "images" / f"{seed}.jpg").write_bytes(distinct_image(seed))
        lines.append(json.dumps({"id": f"b{seed}", "question": "What?", "answers": ["x"], "image": f"images/{seed}.jpg"}))
    path = folder / "bench-en.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _training_shards(folder, images: dict[str, bytes]) -> None:
    rows = folder / "rows.jsonl"
    (folder / "img").mkdir(parents=True)
    with open(rows, "w") as file:
        for ident, data in images.items():
            (folder / "img" / ident).write_bytes(data)
            file.write(json.dumps({"id": ident, "image": f"img/{ident}", "messages": [
                {"role": "user", "content": "Describe."}, {"role": "assistant", "content": "A picture."}]}) + "\n")
    options = ConvertOptions(format="messages", source="train", lang="en", image_root=str(folder))
    convert_to_shards([str(rows)], options, str(folder / "shards"), max_samples=64, progress=False)


def test_finds_planted_copies_and_nothing_else_then_drops_them(tmp_path):
    bench = _benchmark(tmp_path / "bench", range(200))
    training = {f"t{seed}": distinct_image(seed) for seed in range(1000, 1200)}
    training["copy_exact"] = _reencoded(distinct_image(5), 1.0, "PNG")  # same pixels, other bytes
    training["copy_resized"] = _reencoded(distinct_image(17), 0.75, "JPEG")
    _training_shards(tmp_path / "train", training)
    shards = str(tmp_path / "train" / "shards" / "*.tar")
    report_path = tmp_path / "report.json"

    report = main(["--shards", shards, "--bench", f"bench:en:vqa:{bench}", "--report", str(report_path)])
    assert report.pairs == {"train/en x bench/en": {"exact": 1, "perceptual": 1}}
    found = {(hit["item"], hit["kind"]) for hit in report.flagged}
    assert found == {("b5", "exact"), ("b17", "perceptual")}
    assert report.counts["training_images"] == 202 and report.counts["benchmark_images"] == 200
    # No two of the 200 distinct benchmark images come near each other either.
    prints = [fingerprint(distinct_image(seed)).phash for seed in range(200)]
    assert min(hamming(a, b) for a, b in combinations(prints, 2)) > 6

    main(["--shards", shards, "--bench", f"bench:en:vqa:{bench}", "--report", str(report_path), "--drop"])
    left = shard_records(tmp_path / "train" / "shards")
    assert len(left) == 200 and not {"copy_exact", "copy_resized"} & set(left)
    manifest = json.loads((tmp_path / "train" / "shards" / "train-en.manifest.json").read_text())
    assert manifest["samples"] == 200 and manifest["contamination_dropped"] == 2
    assert sum(s["samples"] for s in manifest["shard_files"]) == 200
    again = main(["--shards", shards, "--bench", f"bench:en:vqa:{bench}", "--report", str(report_path)])
    assert not again.flagged and json.loads(report_path.read_text())["pairs"] == {}


def test_phash_equals_imagehash_phash():
    imagehash = pytest.importorskip("imagehash")
    for seed in range(40):
        with Image.open(io.BytesIO(distinct_image(seed, size=(96 + seed, 64)))) as image:
            assert fingerprint(distinct_image(seed, size=(96 + seed, 64))).phash == int(str(imagehash.phash(image)), 16)
