"""Converts raw instruction data into WebDataset tar shards with a manifest and a rejects list.

    python -m datamodules.shards data/llava_v1_5_mix665k.json --format llava \\
        --image-root data/images --source llava-mix --lang en --output shards/

writes ``shards/llava-mix-en-000000.tar ...``, ``shards/llava-mix-en.rejects.jsonl`` (every record
that could not become a sample, with where it was and why) and, last, the manifest
``shards/llava-mix-en.manifest.json`` (counts, bytes, languages, rejects by reason, shard list):
a folder without the manifest holds an unfinished conversion. Image checks and encoding run in
``--workers`` processes; records keep their input order, so the shards are the same whatever the
number of workers. Each rejects line names the record's place (``file:line`` or ``file:row``),
its own id (or null), the reason and the detail; a record whose id was already written is
rejected as ``duplicate_id``. Errors of a whole input file or of the output folder end the command
with one line naming the file; a conversion that writes no sample exits non-zero.
``--max-image-side N`` stores images longer than N px re-encoded at N (``image_bounds.py``), which
shrinks shards and their decode; the manifest records ``max_image_side`` and ``images_shrunk``.
Output is never continued: a folder already holding the prefix is an error (naming an earlier
``max_image_side`` that differs) unless ``--overwrite`` replaces it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from tqdm import tqdm

from datamodules.extra_formats import (  # flat rows and img2dataset tars (recipes)
    ROW_FORMATS,
    convert_row,
)
from datamodules.image_bounds import bound_image_side, check_max_image_side
from datamodules.raw_formats import (
    FORMATS,
    ConvertOptions,
    InputFileError,
    RawRecord,
    Reject,
    convert,
    read_records,
    record_id,
)
from datamodules.raw_records import MAX_ASPECT_RATIO
from datamodules.tar_sink import TarShardSink
from lightning_mllm.files import atomic_write_json

CHUNK = 64  # records per task sent to a worker process
UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30,
         "kb": 10**3, "mb": 10**6, "gb": 10**9}


@dataclass
class ConversionSummary:
    """What one conversion wrote and rejected."""

    samples: int
    with_image: int
    text_only: int
    bytes: int
    shards: int
    rejected: dict[str, int]
    languages: dict[str, int]
    manifest: str
    rejects: str


def parse_size(text: str) -> int:
    """``512MB``, ``1GiB``, ``250000`` -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in UNITS:
        raise argparse.ArgumentTypeError(f"cannot read size {text!r}; write e.g. 500MB, 1GiB or 250000")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


def _key(source: str, index: int) -> str:
    # WebDataset splits keys at the first dot, so the key keeps only safe characters.
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', source)[:60]}_{index:09d}"


_OPTIONS: ConvertOptions | None = None
_MAX_IMAGE_SIDE: int | None = None


def _init_worker(options: ConvertOptions, max_image_side: int | None = None) -> None:
    global _OPTIONS, _MAX_IMAGE_SIDE
    _OPTIONS, _MAX_IMAGE_SIDE = options, max_image_side


def _bounded(sample: Any) -> bool:
    """Re-encodes the sample's image to ``_MAX_IMAGE_SIDE`` when it is larger; True when it did."""
    if _MAX_IMAGE_SIDE is None or sample.image is None:
        return False
    data, ext, shrunk = bound_image_side(sample.image, sample.image_ext, _MAX_IMAGE_SIDE)
    if shrunk:
        del sample.files[sample.image_ext]
        sample.image, sample.image_ext, sample.files[ext] = data, ext, data
    return shrunk


def _convert_chunk(chunk: list[tuple[int, RawRecord]]) -> list[tuple[int, RawRecord, Any, bool]]:
    """Worker side: a sample (and whether its image was shrunk) or a ``Reject`` per record, in input order."""
    out = []
    for index, raw in chunk:
        try:
            sample = (convert_row if _OPTIONS.format in ROW_FORMATS else convert)(raw, _OPTIONS, index)
            out.append((index, raw, sample, _bounded(sample)))
        except Reject as reject:
            out.append((index, raw, reject, False))
    return out


def _chunks(records: Iterable[RawRecord]) -> Iterator[list[tuple[int, RawRecord]]]:
    numbered = enumerate(records)
    while chunk := list(islice(numbered, CHUNK)):
        yield chunk


def _results(records: Iterable[RawRecord], options: ConvertOptions, workers: int, max_image_side: int | None):
    if workers <= 1:
        _init_worker(options, max_image_side)
        for chunk in _chunks(records):
            yield from _convert_chunk(chunk)
        return
    with multiprocessing.get_context().Pool(workers, _init_worker, (options, max_image_side)) as pool:
        for results in pool.imap(_convert_chunk, _chunks(records), chunksize=4):
            yield from results


def _clear_previous(folder: Path, prefix: str, overwrite: bool, max_image_side: int | None) -> None:
    manifest = folder / f"{prefix}.manifest.json"
    previous = sorted(folder.glob(f"{prefix}-[0-9]*.tar*")) + [
        p for p in (manifest, folder / f"{prefix}.rejects.jsonl") if p.exists()]
    if previous and not overwrite:
        # A conversion is never continued: shards of two image bounds would be mixed under one manifest.
        raise FileExistsError(f"{folder} already holds output for prefix {prefix!r} ({previous[0].name}, ...)"
                              f"{_setting_note(manifest, max_image_side)}; pass --overwrite to replace it "
                              f"or choose another --prefix")
    for path in previous:
        path.unlink()


def _setting_note(manifest: Path, max_image_side: int | None) -> str:
    """Says so when the earlier output was written with another image bound than this run's."""
    try:
        earlier = json.loads(manifest.read_text(encoding="utf-8")).get("max_image_side")
    except (OSError, ValueError, AttributeError):
        return ""
    if earlier == max_image_side:
        return ""
    return f", written with max_image_side={earlier} where this run asks {max_image_side}"


def convert_to_shards(inputs: list[str], options: ConvertOptions, output: str, prefix: str | None = None,
                      max_samples: int = 1000, max_bytes: int = 500 * 10**6, workers: int = 1,
                      overwrite: bool = False, progress: bool = True,
                      max_image_side: int | None = None) -> ConversionSummary:
    """Converts ``inputs`` into shards under ``output``; see the module docstring. With
    ``max_image_side``, images longer than that are stored shrunk to it (``image_bounds.py``)."""
    if options.format not in FORMATS + tuple(ROW_FORMATS):
        raise ValueError(f"unknown format {options.format!r}; expected one of {FORMATS}")
    for path in inputs:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"input file {path} does not exist")
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = prefix or f"{options.source}-{options.lang}"
    _clear_previous(folder, prefix, overwrite, check_max_image_side(max_image_side))
    records = (raw for path in inputs for raw in ROW_FORMATS.get(options.format, read_records)(path, options))
    sink = TarShardSink(folder, prefix, max_samples, max_bytes)
    counts, rejected, languages, shrunk_images = Counter(), Counter(), Counter(), 0
    first_seen: dict[str, str] = {}  # sample id -> where it was written
    rejects_path = folder / f"{prefix}.rejects.jsonl"
    try:
        with open(rejects_path, "w", encoding="utf-8") as rejects:
            for index, raw, result, shrunk in tqdm(_results(records, options, workers, max_image_side),
                                                   desc=f"shards {prefix}",
                                           unit="rec", disable=not progress):
                if not isinstance(result, Reject) and result.record["id"] in first_seen:
                    result = Reject("duplicate_id", f"id {result.record['id']!r} was already written from "
                                                    f"{first_seen[result.record['id']]}")
                if isinstance(result, Reject):
                    rejected[result.reason] += 1
                    rejects.write(json.dumps({"where": raw.where, "id": record_id(raw, options),
                                              "reason": result.reason, "detail": result.detail},
                                             ensure_ascii=False) + "\n")
                    continue
                first_seen[result.record["id"]] = raw.where
                sink.add(_key(options.source, index), result.files)
                counts["image" if result.image is not None else "text"] += 1
                shrunk_images += shrunk
                languages[result.record["lang"]] += 1
    except BaseException:
        sink.abort()
        raise
    shards = sink.close()
    summary = ConversionSummary(
        samples=sum(counts.values()), with_image=counts["image"], text_only=counts["text"],
        bytes=sum(s.bytes for s in shards), shards=len(shards), rejected=dict(sorted(rejected.items())),
        languages=dict(sorted(languages.items())), manifest=str(folder / f"{prefix}.manifest.json"),
        rejects=str(rejects_path))
    manifest = {"source": options.source, "lang": options.lang, "format": options.format, "inputs": inputs,
                **asdict(summary), "rejected_total": sum(rejected.values()),
                "max_image_side": max_image_side, "images_shrunk": shrunk_images,
                "shard_files": [{"path": os.path.basename(s.path), "samples": s.samples, "bytes": s.bytes}
                                for s in shards]}
    atomic_write_json(summary.manifest, manifest)
    return summary


def _image_side(text: str) -> int:
    try:
        return check_max_image_side(int(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> ConversionSummary:
    parser = argparse.ArgumentParser(prog="python -m datamodules.shards", description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", help="input files (.json, .jsonl or .parquet)")
    parser.add_argument("--format", required=True, choices=FORMATS, help="layout of the input records")
    parser.add_argument("--output", required=True, help="folder for shards, manifest and rejects")
    parser.add_argument("--source", required=True, help="source name written into every sample")
    parser.add_argument("--lang", required=True, help="language of records that do not name one (en, eu, ...)")
    parser.add_argument("--image-root", default=".", help="folder that relative image paths start from")
    parser.add_argument("--prefix", help="shard name prefix (default SOURCE-LANG)")
    parser.add_argument("--messages-column", help="Parquet column with the conversation")
    parser.add_argument("--image-column", default="image",
                        help="Parquet column with the image ('' for text-only rows)")
    parser.add_argument("--id-column", default="id", help="column or key with the sample id")
    parser.add_argument("--max-aspect-ratio", type=float, default=MAX_ASPECT_RATIO,
                        help="longest over shortest image side at most; longer images are rejected")
    parser.add_argument("--max-samples", type=int, default=1000, help="samples per shard at most")
    parser.add_argument("--max-bytes", type=parse_size, default=500 * 10**6, help="bytes per shard at most (500MB)")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                        help="processes that check and encode images")
    parser.add_argument("--max-image-side", type=_image_side, default=None,
                        help="store images longer than this (px, long side) re-encoded at this size; "
                             "the manifest records it (default: images kept as they are)")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier output with the same prefix")
    args = parser.parse_args(argv)
    options = ConvertOptions(format=args.format, source=args.source, lang=args.lang, image_root=args.image_root,
                             messages_column=args.messages_column, image_column=args.image_column or None,
                             id_column=args.id_column, max_aspect_ratio=args.max_aspect_ratio)
    try:
        summary = convert_to_shards(args.inputs, options, args.output, args.prefix, args.max_samples,
                                    args.max_bytes, args.workers, args.overwrite, max_image_side=args.max_image_side)
    except (InputFileError, OSError) as error:
        # The message names the file or setting at fault; a traceback would only bury it.
        raise SystemExit(f"error: {error}") from None
    rejected = ", ".join(f"{k}: {v}" for k, v in summary.rejected.items()) or "none"
    print(f"{summary.samples} samples ({summary.with_image} with an image, {summary.text_only} text-only) in "
          f"{summary.shards} shard(s), {summary.bytes / 1e6:.1f} MB; languages {summary.languages}; "
          f"rejected {sum(summary.rejected.values())} ({rejected}), listed in {summary.rejects}; "
          f"manifest {summary.manifest}")
    if summary.samples == 0:
        raise SystemExit(f"error: no record of {args.inputs} became a sample (rejected: {rejected}); "
                         f"see {summary.rejects}")
    return summary


if __name__ == "__main__":
    main()
