"""Command line of the human evaluation: ``prepare``, ``serve`` and ``report``.

    python -m lightning_mllm.human_eval prepare --answers base=runs/a/eval ours=runs/b/eval \\
        --out human/ratingset.jsonl [--per-pair 40] [--seed 0] [--langs en,eu] [--benchmarks wildvision]
    python -m lightning_mllm.human_eval serve --set human/ratingset.jsonl --judgments human/judgments.jsonl \\
        [--port 8000] [--host 127.0.0.1]
    python -m lightning_mllm.human_eval report --set human/ratingset.jsonl --judgments human/judgments.jsonl \\
        [--judge-ratings base=runs/a/eval ours=runs/b/eval] --out human/report [--csv] [--strict]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from lightning_mllm.human_eval.answers_io import RatingSetError, check_prompts, load_answers
from lightning_mllm.human_eval.rating_set import build_rating_set, load_rating_set, write_rating_set


def _names(values: Sequence[str] | None) -> list[str] | None:
    # Accepts "en,eu" as well as "en eu".
    names = [name.strip() for value in values or [] for name in value.split(",") if name.strip()]
    return names or None


def prepare(args: argparse.Namespace) -> Any:
    """Builds and writes the rating set; prints what went in and what was left out."""
    models = load_answers(args.answers, _names(args.langs), _names(args.benchmarks))
    check_prompts(models)
    header, items, summary = build_rating_set(models, args.seed, args.per_pair, _names(args.langs))
    path = write_rating_set(args.out, header, items)
    print("\n".join(summary.lines()))
    print(f"wrote {len(items)} items ({summary.per_cell} per pair and language) to {path}")
    return summary


def serve(args: argparse.Namespace) -> Any:
    """Starts the rating web app (blocks until interrupted)."""
    from lightning_mllm.human_eval.app import serve as run_server  # Flask only when serving

    run_server(args.set, args.judgments, args.host, args.port)


def report(args: argparse.Namespace) -> Any:
    """Computes the figures and writes the report files."""
    from lightning_mllm.human_eval.judge_agreement import load_judge_ratings
    from lightning_mllm.human_eval.judgments_store import read_judgments
    from lightning_mllm.human_eval.report import summarise
    from lightning_mllm.human_eval.report_files import write_report

    header, items = load_rating_set(args.set)
    if not Path(args.judgments).is_file():
        raise RatingSetError(f"{args.judgments}: no such judgments file")
    judgments, malformed = read_judgments(args.judgments)
    for line in malformed:
        print(f"warning: {args.judgments}:{line.number}: malformed judgment ({line.reason}), left out", file=sys.stderr)
    ratings = load_judge_ratings(args.judge_ratings, header["models"]) if args.judge_ratings else None
    summary = summarise(header, items, judgments, malformed, ratings)
    paths = write_report(args.out, summary, {"set": args.set, "judgments": args.judgments}, items, judgments, args.csv)
    print("wrote " + ", ".join(str(p) for p in paths))
    if args.strict and (malformed or summary["problems"]["unknown_item"]):
        raise RatingSetError(f"{len(malformed)} malformed lines and {len(summary['problems']['unknown_item'])} "
                             "judgments of unknown items (--strict); see the report's problems section")
    return paths


def parser() -> argparse.ArgumentParser:
    """The argument parser with its three subcommands."""
    top = argparse.ArgumentParser(prog="python -m lightning_mllm.human_eval", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="build a blind pairwise rating set")
    p.add_argument("--answers", nargs="+", required=True, metavar="NAME=PATH",
                   help="evaluation folder or predictions.jsonl per model; NAME defaults to results.json run.name")
    p.add_argument("--out", required=True, help="rating set file to write (JSONL)")
    p.add_argument("--per-pair", type=int, help="items per model pair, split equally over the languages "
                   "(default: as many as the smallest pair and language allows)")
    p.add_argument("--seed", type=int, default=0, help="seed of the item choice, sides and order")
    p.add_argument("--langs", nargs="+", help="languages, e.g. en,eu (default: all found)")
    p.add_argument("--benchmarks", nargs="+", help="open-ended benchmarks to use (default: all)")
    p.set_defaults(run=prepare)
    s = commands.add_parser("serve", help="serve the rating page")
    s.add_argument("--set", required=True, help="rating set from prepare")
    s.add_argument("--judgments", required=True, help="append-only JSONL the judgments go to")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--host", default="127.0.0.1", help="127.0.0.1 keeps it local; 0.0.0.0 opens it to the network")
    s.set_defaults(run=serve)
    r = commands.add_parser("report", help="win rates, ranking, agreement, CSV export")
    r.add_argument("--set", required=True)
    r.add_argument("--judgments", required=True)
    r.add_argument("--judge-ratings", nargs="*", default=[], metavar="NAME=PATH",
                   help="predictions with LLM judge ratings, per model, for the human-judge agreement")
    r.add_argument("--out", required=True, help="report folder")
    r.add_argument("--csv", action="store_true", help="also write ratingset.csv and judgments.csv")
    r.add_argument("--strict", action="store_true",
                   help="exit with an error (after writing the report) when judgment lines are malformed")
    r.set_defaults(run=report)
    return top


def main(args: Sequence[str] | None = None) -> Any:
    """Runs one subcommand; input errors exit with a one-line message naming the file or item."""
    namespace = parser().parse_args(args)
    try:
        return namespace.run(namespace)
    except RatingSetError as err:
        raise SystemExit(f"error: {err}") from err


if __name__ == "__main__":
    main()
