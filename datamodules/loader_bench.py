"""Measures the data loader's per-sample work on one core, against its floor and LLaVA's way.

    python -m datamodules.loader_bench --images 300 --repeats 3

writes photo-like 640x480 JPEGs (smooth colour fields, edges and sensor-like noise, so they
decode like photographs rather than flat drawings) and a LLaVA-style JSON, converts them to a
shard with ``python -m datamodules.shards``, then times, in this one process with one torch
thread (as in a loader worker), on the same images:

    whole path   tar read, JPEG decode, resize to 336, normalise, chat template, tokenise
    floor (a)    JPEG decode + resize + crop + normalise alone, from bytes in memory
    LLaVA (b)    PIL open of each file in an image folder, then transformers' CLIPImageProcessor

and prints samples per second for each (best of ``--repeats`` passes, the three taking turns).
The tokenizer is the demo's
Llama-3-style one unless ``--tokenizer`` names another (a local Llama-3.1 folder, say).
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


def write_inputs(folder: Path, count: int, seed: int = 0) -> tuple[Path, Path]:
    """The image folder and a LLaVA JSON describing one conversation per image."""
    images = folder / "images"
    images.mkdir(parents=True)
    rng, pick = np.random.default_rng(seed), random.Random(seed)
    records = []
    for i in range(count):
        (images / f"{i:05d}.jpg").write_bytes(photo_like(rng))
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


def measure(count: int, repeats: int, tokenizer: str | None, folder: Path) -> dict[str, float]:
    images, source = write_inputs(folder, count)
    options = ConvertOptions(format="llava", source="bench", lang="en", image_root=str(images))
    convert_to_shards([str(source)], options, str(folder / "shards"), max_samples=count, progress=False)
    shard = str(next((folder / "shards").glob("*.tar")))
    if tokenizer is None:
        from lightning_mllm.tiny_backbones import ensure_tiny_backbone
        tokenizer = ensure_tiny_backbone("llm")
    hf_processor = CLIPImageProcessor(**CLIP_L_336)
    processor = MultimodalProcessor(AutoTokenizer.from_pretrained(tokenizer), hf_processor, 576, 2048)
    resolved = ResolvedSource("bench", [shard], 1.0, "en")
    files = sorted(images.glob("*.jpg"))
    jpegs = [path.read_bytes() for path in files]
    transform = ImageTransform.from_hf(hf_processor)

    def whole() -> int:
        return sum(1 for raw in read_shard(shard) if prepare(raw, resolved, processor, False))

    def floor() -> int:
        return sum(1 for data in jpegs if transform(Image.open(io.BytesIO(data))) is not None)

    def llava() -> int:
        return sum(1 for path in files
                   if hf_processor(images=Image.open(path).convert("RGB"), return_tensors="pt") is not None)

    return best_rates({"whole": whole, "floor": floor, "llava": llava}, repeats)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m datamodules.loader_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=300, help="photo-like images to time on")
    parser.add_argument("--repeats", type=int, default=5, help="passes per measurement; the best counts")
    parser.add_argument("--tokenizer", help="tokenizer folder or id (default: the demo's tiny Llama-3-style one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as in a DataLoader worker
    with tempfile.TemporaryDirectory(prefix="loader-bench-") as folder:
        rates = measure(args.images, args.repeats, args.tokenizer, Path(folder))
    print(f"per-sample loader work, one core ({platform.processor() or platform.machine()}), "
          f"{args.images} photo-like 640x480 JPEGs, best of {args.repeats}:")
    print(f"  whole path (tar, decode, resize 336, normalise, template, tokenise) {rates['whole']:7.1f} samples/s")
    print(f"  (a) decode + resize + normalise alone                            {rates['floor']:7.1f} images/s")
    print(f"  (b) LLaVA-style: image folder + transformers CLIPImageProcessor  {rates['llava']:7.1f} images/s")
    print(f"  whole / (a) = {rates['whole'] / rates['floor']:.2f}   whole / (b) = {rates['whole'] / rates['llava']:.2f}")
    return rates


if __name__ == "__main__":
    main()
