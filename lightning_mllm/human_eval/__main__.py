"""Command line of the human evaluation: ``prepare``, ``invite``/``revoke``/``raters``, ``serve``, ``report``.

    python -m lightning_mllm.human_eval prepare --answers base=runs/a/eval ours=runs/b/eval \\
        --out human/ratingset.jsonl [--per-pair 40] [--seed 0] [--langs en,eu] [--benchmarks wildvision]
    python -m lightning_mllm.human_eval invite --judgments human/judgments.jsonl --rater Ane \\
        [--url http://HOST:8000/] [--set human/ratingset.jsonl]
    python -m lightning_mllm.human_eval revoke --judgments human/judgments.jsonl --rater Ane
    python -m lightning_mllm.human_eval raters --judgments human/judgments.jsonl
    python -m lightning_mllm.human_eval serve --set human/ratingset.jsonl --judgments human/judgments.jsonl \\
        [--port 8000] [--host 127.0.0.1]
    python -m lightning_mllm.human_eval report --set human/ratingset.jsonl --judgments human/judgments.jsonl \\
        [--judge-ratings base=runs/a/eval ours=runs/b/eval] --out human/report [--csv] [--strict]

Only raters holding an invite link can rate; the rater of a judgment is the link's. Invites are
kept (hashed) beside the judgments file, in ``<judgments stem>.invites.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from lightning_mllm.human_eval.answers_io import RatingSetError, check_prompts, load_answers
from lightning_mllm.human_eval.invites import InviteError, add_invite, invites_path, load_invites, revoke
from lightning_mllm.human_eval.rating_set import build_rating_set, load_rating_set, write_rating_set

DEFAULT_URL = "http://127.0.0.1:8000/"


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


def start_server(args: argparse.Namespace) -> Any:
    """Binds the rating app's waitress server and says where raters reach it; ``run()`` serves."""
    from lightning_mllm.human_eval.app import create_app  # Flask and waitress only when serving
    from lightning_mllm.human_eval.server import RatingServer, is_loopback

    app = create_app(args.set, args.judgments)
    session = app.config["RATING_SESSION"]
    server = RatingServer(app, args.host, args.port)
    active = sorted({i.rater for i in load_invites(session.invites_path) if i.revoked is None})
    print(f"rating {len(session.items)} items; judgments go to {session.judgments_path}; invites in "
          f"{session.invites_path} ({len(active)} active{': ' + ', '.join(active) if active else ''})")
    where = "this machine only; --host 0.0.0.0 opens it to your network" if is_loopback(args.host) else "open to the network"
    print(f"serving with waitress at {server.base_url} ({where})")
    print(f"each rater opens {server.base_url}#invite=<their token>; make a link with: python -m lightning_mllm.human_eval "
          f"invite --judgments {args.judgments} --rater NAME --url {server.base_url}", flush=True)
    if not active:
        print("no active invites yet: nobody can rate until you make one", file=sys.stderr)
    if not is_loopback(args.host):
        print("warning: plain HTTP, so invite links and judgments cross the network unencrypted; serve on a "
              "network you trust, or behind a TLS proxy", file=sys.stderr, flush=True)
    return server


def serve(args: argparse.Namespace) -> Any:
    """Serves the rating web app until interrupted."""
    start_server(args).run()


def invite(args: argparse.Namespace) -> Any:
    """Makes a rater's invite and prints their link (the only time the token is shown)."""
    if args.set:
        load_rating_set(args.set)  # fail now on a wrong path rather than when the rater opens the link
    path = invites_path(args.judgments)
    token = add_invite(path, args.rater)
    print(f"{args.url.rstrip('/')}/#invite={token}")
    print(f"invite for {args.rater.strip()!r} saved (hashed) in {path}. Give this link to them alone; it is shown "
          "only now. A lost link cannot be shown again: revoke it and invite again.", file=sys.stderr)
    return token


def revoke_invite(args: argparse.Namespace) -> Any:
    """Revokes a rater's invite; the judgments they made stay."""
    path = invites_path(args.judgments)
    count = revoke(path, args.rater)
    print(f"revoked {count} invite(s) of {args.rater.strip()!r} in {path}; their judgments stay")
    return count


def raters(args: argparse.Namespace) -> Any:
    """Lists the invites (never their tokens) with each rater's judgment count."""
    from lightning_mllm.human_eval.judgments_store import read_judgments

    invites = load_invites(invites_path(args.judgments))
    judgments, _ = read_judgments(args.judgments)
    counts = Counter(j["rater"].strip() for _, j in judgments)
    rows = [f"{i.rater}\t{'revoked ' + i.revoked if i.revoked else 'active'}\tinvited {i.created}\t"
            f"{counts[i.rater]} judgments" for i in invites]
    rows += [f"{name}\tno invite\t-\t{n} judgments" for name, n in sorted(counts.items())
             if name not in {i.rater for i in invites}]
    print("\n".join(rows) if rows else f"no invites yet in {invites_path(args.judgments)}")
    return rows


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
    """The argument parser with its subcommands."""
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
    i = commands.add_parser("invite", help="make a rater's invite link (shown once, stored hashed)")
    i.add_argument("--judgments", required=True, help="the judgments file the server writes; invites live beside it")
    i.add_argument("--rater", required=True, help="the rater's name: their judgments are saved under it")
    i.add_argument("--url", default=DEFAULT_URL, help=f"the address raters reach the server at (default {DEFAULT_URL})")
    i.add_argument("--set", help="rating set, checked to load (optional)")
    i.set_defaults(run=invite)
    v = commands.add_parser("revoke", help="revoke a rater's invite link (their judgments stay)")
    v.add_argument("--judgments", required=True)
    v.add_argument("--rater", required=True)
    v.set_defaults(run=revoke_invite)
    a = commands.add_parser("raters", help="list invites and judgment counts (never the tokens)")
    a.add_argument("--judgments", required=True)
    a.set_defaults(run=raters)
    s = commands.add_parser("serve", help="serve the rating page (waitress) to invited raters")
    s.add_argument("--set", required=True, help="rating set from prepare")
    s.add_argument("--judgments", required=True, help="append-only JSONL the judgments go to")
    s.add_argument("--port", type=int, default=8000, help="0 picks a free port")
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
    except (RatingSetError, InviteError) as err:
        raise SystemExit(f"error: {err}") from err


if __name__ == "__main__":
    main()
