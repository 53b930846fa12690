"""Measures the data loader's per-sample work on one core, against its floor and LLaVA's way.

    python -m datamodules.loader_bench --images 200 --repeats 3

writes photo-like JPEGs (quality 90: smooth colour fields, hard-edged discs and sensor-like noise,
so they decode like photographs rather than flat drawings) in four size classes,

    coco     640 x 480, COCO-like (VQAv2, A-OKVQA); the benchmark's earlier fixed size
    web      web photos, long side 1000-4000 px (PixMo, CC3M), 4:3, 3:2, 16:9 or 1:1, a third portrait
    small    long side 300-500 px
    mix      the realistic mix: 40% coco, 40% web, 20% small

each with a LLaVA-style JSON converted to a shard with ``python -m datamodules.shards``, then times,
in this one process with one torch thread (as in a loader worker), on the same images:

    whole path   tar read, JPEG decode (reduced where the image is much larger than 336 px),
                 resize to 336, normalise, chat template, tokenise
    floor (a)    that decode + resize + crop + normalise alone, from the shard's bytes in memory
    full (a0)    decode in full + resize + crop + normalise (``reduced_decode`` off)
    LLaVA (b)    PIL open of each file in an image folder, then transformers' CLIPImageProcessor

and prints samples per second for each (best of ``--repeats`` passes, the four taking turns), and
the mean absolute difference (0-255 scale) of the reduced decode's tensors against the full decode's.
``--max-image-side N`` writes the shards with the writer's bound on the long side (LLaVA's way
still reads the original files).
The tokenizer is the demo's Llama-3-style one unless ``--tokenizer`` names another.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import AutoTokenizer, CLIPImageProcessor

from datamodules.raw_formats import ConvertOptions
from datamodules.samples import read_shard
from datamodules.shard_streams import ResolvedSource, prepare
from datamodules.shards import convert_to_shards
from lightning_mllm.image_transform import ImageTransform
from lightning_mllm.processor import MultimodalProcessor

CLIP_L_336 = dict(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
QUESTIONS = ["What is in the picture?", "Describe the colours of the scene.", "Zer dago irudian?"]


def photo_like(rng: np.random.Generator, width: int = 640, height: int = 480) -> bytes:
    """A JPEG (quality 90) with photograph-like content: low-frequency colour, edges, noise."""
    coarse = rng.uniform(0, 255, (height // 32 + 2, width // 32 + 2, 3)).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    y, x = np.mgrid[0:height, 0:width]
    for _ in range(6):  # a few hard-edged objects
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(20, 120)
        field[(x - cx) ** 2 + (y - cy) ** 2 < r * r] *= rng.uniform(0.5, 1.2, 3).astype(np.float32)
    field += rng.normal(0, 8, field.shape).astype(np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(field, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


SIZE_MIX = {"coco": 0.4, "web": 0.4, "small": 0.2}
ASPECTS = (4 / 3, 3 / 2, 16 / 9, 1.0)
CLASSES = {"coco": "640x480", "web": "long side 1000-4000", "small": "long side 300-500",
           "mix": "40% coco, 40% web, 20% small"}


def image_size(kind: str, rng: np.random.Generator) -> tuple[int, int]:
    """(width, height) of one image of size class ``kind`` (see the module docstring)."""
    if kind == "mix":
        kind = str(rng.choice(list(SIZE_MIX), p=list(SIZE_MIX.values())))
    if kind == "coco":
        return 640, 480
    long = int(rng.integers(1000, 4001) if kind == "web" else rng.integers(300, 501))
    short = max(16, round(long / ASPECTS[int(rng.integers(len(ASPECTS)))]))
    return (short, long) if rng.random() < 1 / 3 else (long, short)


def write_inputs(folder: Path, count: int, kind: str = "coco", seed: int = 0) -> tuple[Path, Path]:
    """The image folder and a LLaVA JSON describing one conversation per image."""
    images = folder / "images"
    images.mkdir(parents=True)
    rng, pick = np.random.default_rng(seed), random.Random(seed)
    records = []
    for i in range(count):
        (images / f"{i:05d}.jpg").write_bytes(photo_like(rng, *image_size(kind, rng)))
        records.append({"id": str(i), "image": f"{i:05d}.jpg", "conversations": [
            {"from": "human", "value": f"<image>\n{pick.choice(QUESTIONS)}"},
            {"from": "gpt", "value": " ".join(pick.choice(["a", "red", "house", "etxe", "gorri", "the", "bat"])
                                              for _ in range(pick.randint(8, 40)))}]})
    source = folder / "llava.json"
    source.write_text(json.dumps(records))
    return images, source


def best_rates(runs: dict[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Items per second of each run's fastest pass; the runs take turns pass by pass, so a
    slow spell of the machine hits them all alike rather than whichever ran during it."""
    best = {name: 0.0 for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            items = run()
            best[name] = max(best[name], items / (time.perf_counter() - start))
    return best


def pixel_mad(jpegs: list[bytes], reduced: ImageTransform, full: ImageTransform) -> float:
    """Mean absolute difference (0-255 scale) of the final tensors, reduced decode against full."""
    std = reduced.std  # (0-255 units per normalised unit)
    diffs = [((reduced(Image.open(io.BytesIO(d))) - full(Image.open(io.BytesIO(d)))) * std).abs().mean().item()
             for d in jpegs]
    return float(np.mean(diffs))


def measure(count: int, repeats: int, tokenizer: str, folder: Path, kind: str,
            max_image_side: int | None = None) -> dict[str, float]:
    images, source = write_inputs(folder, count, kind)
    options = ConvertOptions(format="llava", source="bench", lang="en", image_root=str(images))
    convert_to_shards([str(source)], options, str(folder / "shards"), max_samples=count, progress=False,
                      max_bytes=10**12, max_image_side=max_image_side)
    shard = str(next((folder / "shards").glob("*.tar")))
    hf_processor = CLIPImageProcessor(**CLIP_L_336)
    processor = MultimodalProcessor(AutoTokenizer.from_pretrained(tokenizer), hf_processor, 576, 2048)
    resolved = ResolvedSource("bench", [shard], 1.0, "en")
    files = sorted(images.glob("*.jpg"))
    jpegs = [raw["jpg"] for raw in read_shard(shard)]  # as stored (bounded with max_image_side)
    transform, full = ImageTransform.from_hf(hf_processor), ImageTransform.from_hf(hf_processor)
    full.reduced_decode = False

    def whole() -> int:
        return sum(1 for raw in read_shard(shard) if prepare(raw, resolved, processor, False))

    def floor() -> int:
        return sum(1 for data in jpegs if transform(Image.open(io.BytesIO(data))) is not None)

    def full_decode() -> int:
        return sum(1 for data in jpegs if full(Image.open(io.BytesIO(data))) is not None)

    def llava() -> int:
        return sum(1 for path in files
                   if hf_processor(images=Image.open(path).convert("RGB"), return_tensors="pt") is not None)

    rates = best_rates({"whole": whole, "floor": floor, "full": full_decode, "llava": llava}, repeats)
    pixels = [Image.open(io.BytesIO(data)).size for data in jpegs]
    return {**rates, "mad": pixel_mad(jpegs, transform, full), "kib": sum(map(len, jpegs)) / len(jpegs) / 1024,
            "megapixels": float(np.mean([w * h / 1e6 for w, h in pixels]))}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(
        prog="python -m datamodules.loader_bench", description=__doc__.split("\n")[0],
        epilog="size classes: " + "; ".join(f"{k} = {v}" for k, v in CLASSES.items()))
    parser.add_argument("--images", type=int, default=200, help="photo-like images per size class")
    parser.add_argument("--repeats", type=int, default=5, help="passes per measurement; the best counts")
    parser.add_argument("--classes", nargs="+", choices=list(CLASSES), default=list(CLASSES),
                        help="size classes to time (default: all; mix = 40%% coco 640x480, "
                             "40%% web 1000-4000 px, 20%% small 300-500 px)")
    parser.add_argument("--max-image-side", type=int, default=None,
                        help="write the shards with this bound on the long side (the shard writer's option); "
                             "LLaVA (b) still reads the original files")
    parser.add_argument("--tokenizer", help="tokenizer folder or id (default: the demo's tiny Llama-3-style one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as in a DataLoader worker
    tokenizer = args.tokenizer
    if tokenizer is None:
        from lightning_mllm.tiny_backbones import ensure_tiny_backbone
        tokenizer = ensure_tiny_backbone("llm")
    results = {}
    for kind in args.classes:
        with tempfile.TemporaryDirectory(prefix=f"loader-bench-{kind}-") as folder:
            results[kind] = measure(args.images, args.repeats, tokenizer, Path(folder), kind, args.max_image_side)
    print(f"per-sample loader work, one core ({platform.processor() or platform.machine()}), "
          f"{args.images} photo-like JPEGs per class, CLIP ViT-L/14-336, best of {args.repeats}, "
          f"shards written with max_image_side={args.max_image_side}; per second:")
    print("  class (sizes)                           MPix   KiB  whole  (a) floor  (a0) full  (b) LLaVA  "
          "whole/(a)  whole/(b)  MAD")
    for kind, r in results.items():
        print(f"  {kind:5s} ({CLASSES[kind]:30s}) {r['megapixels']:5.2f} {r['kib']:5.0f} {r['whole']:6.1f} "
              f"{r['floor']:10.1f} {r['full']:10.1f} {r['llava']:10.1f} {r['whole'] / r['floor']:10.2f} "
              f"{r['whole'] / r['llava']:10.2f} {r['mad']:5.2f}")
    print("  whole: tar, decode (reduced where much larger than 336), resize, normalise, template, tokenise; "
          "(a) its decode + transform alone; (a0) the same with full decode; (b) image folder + "
          "CLIPImageProcessor; MAD: reduced against full decode, 0-255 scale; MPix and KiB: as stored")
    return results


if __name__ == "__main__":
    main()
