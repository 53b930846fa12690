"""Saves randomly initialised backbones with the paper's shapes, for speed and memory checks.

    python scripts/random_backbones.py --out /tmp/full            # Llama-3.1-8B + CLIP ViT-L/14-336
    python scripts/random_backbones.py --out /tmp/small --size small  # same code path, CPU-sized

Random weights are exact for throughput and memory (DESIGN.md) and need no download. The
tokenizer is the demo's Llama-3-style one: its ids all fall inside Llama-3's 128,256-row vocabulary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The shapes and the saving live in the package, where the bench builds from them too.
from lightning_mllm.random_backbones import SIZES, save_random_backbones  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    args = parser.parse_args()
    llm, vision = save_random_backbones(args.out, args.size)
    print(f"llm: {llm}\nvision: {vision}")


if __name__ == "__main__":
    main()
