"""Benchmark images inside training shards: exact and perceptual matches, reported per pair of
training source and benchmark, optionally dropped from the shards.

    python -m datamodules.contamination --shards "$MLLM_DATA/**/*.tar" \\
        --eval-config configs/eval/paper.yaml --report contamination.json [--drop]

The paper trains on COCO-derived data (VQAv2, A-OKVQA) and evaluates on COCO-based benchmarks, so
an evaluation image can sit in the training mixture. ``exact`` matches decode to the same pixels;
``perceptual`` ones are within ``--max-distance`` bits of phash (a resized or re-encoded copy).
``--drop`` rewrites each affected shard without those samples (under a temporary name, then
renamed) and records the drop in the shard's manifest.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import tarfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import UnidentifiedImageError

from datamodules.image_hashes import Fingerprint, PhashIndex, fingerprint
from datamodules.samples import IMAGE_EXTENSIONS, read_shard
from lightning_mllm.files import atomic_open, atomic_write_json


@dataclass
class BenchImage:
    """One benchmark item's image fingerprint."""

    benchmark: str
    item: str
    print: Fingerprint


@dataclass
class Report:
    """Overlaps per ``(training source, benchmark)`` and the flagged samples."""

    pairs: dict[str, dict[str, int]] = field(default_factory=dict)
    flagged: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def benchmark_images(benchmarks: list[dict[str, Any]]) -> tuple[list[BenchImage], Counter]:
    """Fingerprints of every benchmark item with an image; ``benchmarks`` are paper.yaml entries
    (``name, lang, format, path`` and optional ``image_root``, ``annotations``)."""
    from lightning_mllm.evaluation.formats import load_items

    images, counts = [], Counter()
    for spec in benchmarks:
        name = f"{spec['name']}/{spec['lang']}"
        if not os.path.isfile(spec["path"]):
            counts["benchmark_files_missing"] += 1
            continue
        for item in load_items(spec["format"], spec["path"], spec["name"], spec["lang"], spec.get("image_root"),
                               spec.get("annotations")):
            if item.image is None:
                continue
            try:
                data = item.image if isinstance(item.image, bytes) else Path(item.image).read_bytes()
                images.append(BenchImage(name, item.id, fingerprint(data)))
            except (OSError, UnidentifiedImageError, ValueError):
                counts["benchmark_images_unreadable"] += 1
    counts["benchmark_images"] = len(images)
    return images, counts


def scan(shards: list[str], bench: list[BenchImage], max_distance: int = 6) -> Report:
    """Compares every image of ``shards`` with the benchmark images."""
    exact: dict[str, list[int]] = defaultdict(list)
    index = PhashIndex(max_distance)
    for position, image in enumerate(bench):
        exact[image.print.exact].append(position)
        index.add(image.print.phash)
    report, counts = Report(), Counter()
    for shard in shards:
        for raw in read_shard(shard):
            ext = next((e for e in IMAGE_EXTENSIONS if e in raw), None)
            if ext is None:
                continue
            counts["training_images"] += 1
            try:
                found = fingerprint(raw[ext])
            except (OSError, UnidentifiedImageError, ValueError):
                counts["training_images_unreadable"] += 1
                continue
            source = _source(raw)
            hits = {p: ("exact", 0) for p in exact.get(found.exact, ())}
            for position, distance in index.near(found.phash):
                hits.setdefault(position, ("perceptual", distance))
            for position, (kind, distance) in hits.items():
                pair = report.pairs.setdefault(f"{source} x {bench[position].benchmark}",
                                               {"exact": 0, "perceptual": 0})
                pair[kind] += 1
                report.flagged.append({"shard": shard, "key": raw["__key__"], "source": source, "kind": kind,
                                       "distance": distance, "benchmark": bench[position].benchmark,
                                       "item": bench[position].item})
    report.counts = dict(counts)
    return report


def _source(raw: dict[str, Any]) -> str:
    try:
        record = json.loads(raw["json"])
        return f"{record.get('source', '?')}/{record.get('lang', '?')}"
    except (KeyError, ValueError):
        return "?"


def drop_flagged(report: Report) -> dict[str, int]:
    """Rewrites each shard that holds flagged samples without them; returns samples dropped per shard."""
    by_shard: dict[str, set[str]] = defaultdict(set)
    for hit in report.flagged:
        by_shard[hit["shard"]].add(hit["key"])
    dropped = {}
    for shard, keys in sorted(by_shard.items()):
        dropped[shard] = _rewrite_without(shard, keys)
        _note_in_manifest(shard, dropped[shard])
    return dropped


def _rewrite_without(shard: str, keys: set[str]) -> int:
    dropped = set()
    with tarfile.open(shard) as source, atomic_open(shard) as file, \
            tarfile.open(fileobj=file, mode="w", format=tarfile.USTAR_FORMAT) as target:
        for member in source:
            key = os.path.basename(member.name).split(".", 1)[0]
            if key in keys:
                dropped.add(key)
                continue
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
    return len(dropped)


def _note_in_manifest(shard: str, dropped: int) -> None:
    """Keeps the writer's manifest true: the shard's sample count and bytes, and what was dropped."""
    name = os.path.basename(shard)
    for path in glob.glob(os.path.join(os.path.dirname(shard), "*.manifest.json")):
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
        entries = [e for e in manifest.get("shard_files", []) if e.get("path") == name]
        if not entries:
            continue
        entries[0]["samples"] -= dropped
        entries[0]["bytes"] = os.path.getsize(shard)
        manifest["samples"] = manifest.get("samples", 0) - dropped
        manifest["contamination_dropped"] = manifest.get("contamination_dropped", 0) + dropped
        atomic_write_json(path, manifest)


def _benchmarks(config: str | None, extra: list[str]) -> list[dict[str, Any]]:
    specs = []
    if config:
        from omegaconf import OmegaConf

        specs += OmegaConf.to_container(OmegaConf.load(config), resolve=True).get("benchmarks", [])
    for text in extra:
        parts = text.split(":", 4)
        if len(parts) < 4:
            raise SystemExit(f"--bench {text!r}: write NAME:LANG:FORMAT:PATH[:IMAGE_ROOT]")
        specs.append({"name": parts[0], "lang": parts[1], "format": parts[2], "path": parts[3],
                      "image_root": parts[4] if len(parts) > 4 else None})
    return specs


def main(argv: list[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(prog="python -m datamodules.contamination", description=__doc__.split("\n")[0])
    parser.add_argument("--shards", nargs="+", required=True, help="training shard files or globs (** allowed)")
    parser.add_argument("--eval-config", help="evaluation config whose benchmarks are checked (configs/eval/paper.yaml)")
    parser.add_argument("--bench", action="append", default=[], help="NAME:LANG:FORMAT:PATH[:IMAGE_ROOT] (repeatable)")
    parser.add_argument("--max-distance", type=int, default=6, help="phash bits that may differ in a match (0-7)")
    parser.add_argument("--report", required=True, help="JSON report to write")
    parser.add_argument("--drop", action="store_true", help="rewrite the shards without the flagged samples")
    args = parser.parse_args(argv)
    shards = sorted({p for pattern in args.shards for p in glob.glob(pattern, recursive=True) if p.endswith(".tar")})
    if not shards:
        raise SystemExit(f"--shards {args.shards} matches no .tar file")
    bench, counts = benchmark_images(_benchmarks(args.eval_config, args.bench))
    report = scan(shards, bench, args.max_distance)
    report.counts.update(counts, training_shards=len(shards))
    dropped = drop_flagged(report) if args.drop else {}
    out = {"pairs": report.pairs, "counts": report.counts, "dropped": dropped, "flagged": report.flagged}
    atomic_write_json(args.report, out)
    for pair, found in sorted(report.pairs.items()):
        print(f"{pair}: {found['exact']} exact, {found['perceptual']} perceptual")
    print(f"{len(report.flagged)} overlap(s) in {report.counts.get('training_images', 0)} training images; "
          f"{sum(dropped.values())} sample(s) dropped; report {args.report}")
    return report


if __name__ == "__main__":
    main()
