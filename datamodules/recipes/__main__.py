"""``python -m datamodules.recipes list | show NAME | prepare NAME --out DIR [...]``."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from datamodules.recipes.catalog import RECIPES, recipe
from datamodules.recipes.prepare import COLUMN_SETTINGS, PrepareSettings
from datamodules.url_images import DownloadSettings


def _column(text: str) -> tuple[str, str | None]:
    name, sep, column = text.partition("=")
    if not sep or name not in COLUMN_SETTINGS:
        raise argparse.ArgumentTypeError(f"--column takes SETTING=COLUMN with SETTING one of {', '.join(COLUMN_SETTINGS)}"
                                         f" (an empty COLUMN turns it off), got {text!r}")
    return name, column or None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m datamodules.recipes", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the recipes, their ids, sizes and licenses")
    commands.add_parser("show", help="one recipe in full").add_argument("name")
    prepare = commands.add_parser("prepare", help="convert one recipe's data")
    prepare.add_argument("name")
    prepare.add_argument("--out", default=os.environ.get("MLLM_DATA"),
                         help="output root (default $MLLM_DATA; use $MLLM_EVAL for *-eval-* recipes)")
    prepare.add_argument("--input", help="file or folder to read instead of the Hugging Face cache")
    prepare.add_argument("--hf-id", help="data set id to look up in the cache instead of the recipe's")
    prepare.add_argument("--split", help="split to read (default: the recipe's)")
    prepare.add_argument("--column", action="append", type=_column, default=[], metavar="SETTING=COLUMN",
                         help="map a setting to a column (repeatable), e.g. --column question=galdera")
    prepare.add_argument("--kind", help="override the row kind (qa, vqa, mc, caption, messages)")
    prepare.add_argument("--images", help="download folder of the rows' image URLs (datamodules.url_images)")
    prepare.add_argument("--image-tars", help="img2dataset output holding the rows' image URLs")
    prepare.add_argument("--image-root", help="folder relative image paths start from")
    prepare.add_argument("--fetch-images", action="store_true", help="download missing image URLs first")
    prepare.add_argument("--download-workers", type=int, default=16, help="downloads in flight")
    prepare.add_argument("--timeout", type=float, default=10.0, help="seconds per download try")
    prepare.add_argument("--retries", type=int, default=3, help="retries after a timeout or 5xx")
    prepare.add_argument("--max-side", type=int, help="shrink downloaded images to this longer side")
    prepare.add_argument("--max-turns", type=int, default=8, help="question/answer pairs per conversation")
    prepare.add_argument("--no-group", action="store_true", help="one sample per row, not per image")
    prepare.add_argument("--instruction", help="text after VQA/multiple-choice questions")
    prepare.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                         help="processes that check and encode images")
    prepare.add_argument("--max-samples", type=int, default=1000, help="samples per shard")
    prepare.add_argument("--max-image-side", type=int, metavar="PX",
                         help="training recipes: store images longer than PX on their long side shrunk to it "
                              "(the shard writer's bound; the manifest records it); default: as given")
    prepare.add_argument("--tokenizer", help="tokenizer for the card's tokens per word")
    prepare.add_argument("--limit", type=int, help="evaluation recipes: first N rows only")
    prepare.add_argument("--overwrite", action="store_true", help="replace earlier output")
    return parser


def settings_of(args: argparse.Namespace) -> PrepareSettings:
    """The ``prepare`` command's settings."""
    if not args.out:
        raise SystemExit("prepare needs --out (or $MLLM_DATA set)")
    download = DownloadSettings(workers=args.download_workers, timeout=args.timeout, retries=args.retries,
                                max_side=args.max_side)
    return PrepareSettings(out=args.out, input=args.input, hf_id=args.hf_id, split=args.split,
                           columns=dict(args.column), kind=args.kind, images=args.images, image_tars=args.image_tars,
                           image_root=args.image_root, fetch_images=args.fetch_images, download=download,
                           max_turns=args.max_turns, group_by_image=not args.no_group, instruction=args.instruction,
                           workers=args.workers, max_samples=args.max_samples,
                           max_image_side=args.max_image_side, tokenizer=args.tokenizer,
                           overwrite=args.overwrite, limit=args.limit)


def main(argv: list[str] | None = None) -> Any:
    args = _parser().parse_args(argv)
    if args.command == "list":
        for r in RECIPES:
            print(f"{r.name:22s} {r.lang}  {r.format:11s} {str(r.hf_id or '(--input)'):42s} {r.expected}  [{r.license}]")
        return RECIPES
    if args.command == "show":
        chosen = recipe(args.name)
        print(json.dumps(chosen.__dict__, indent=2, ensure_ascii=False))
        return chosen
    chosen, settings = recipe(args.name), settings_of(args)
    if chosen.format == "eval":
        if settings.max_image_side is not None:
            # Benchmark images are written as files the evaluator reads whole; a bound would change them silently.
            raise SystemExit(f"--max-image-side applies to training recipes only; {chosen.name} is an evaluation set")
        from datamodules.recipes.eval_sets import write_eval_set

        card = write_eval_set(chosen, settings)
    else:
        from datamodules.recipes.prepare import prepare_shards

        card = prepare_shards(chosen, settings)
    stats = card["stats"]
    print(f"{chosen.name}: {stats['samples']} samples ({stats['images']} images), rejected "
          f"{sum(card['rejected'].values())} {card['rejected'] or ''}; card {card['card']}")
    return card


if __name__ == "__main__":
    main()
