"""Translates English data to Basque with an instruction-tuned LLM, by two-shot prompting.

    python -m lightning_mllm.translate --input data/vqa-en.jsonl --format vqa \\
        --output data/vqa-eu.jsonl --model HiTZ/Latxa-Llama-3.1-70B-Instruct --tensor_parallel 4

Benchmark items (``mc``, ``vqa``, ``open``) are written in the same generic format, which
``lightning_mllm.evaluation.formats.load_items`` reads; conversations (``messages``, ``llava``)
are written as ``messages`` JSONL, which ``python -m datamodules.shards --format messages`` reads,
and ``caption`` records keep their fields and get a ``messages`` conversation too. Every output record has ``lang: "eu"`` and keeps its ``id``. A rerun
with the same arguments continues where the last one stopped. See ``lightning_mllm/translation/``.
"""

from __future__ import annotations

import argparse
import sys

from lightning_mllm.translation.engines import ENGINES, LazyEngine, make_engine
from lightning_mllm.translation.item_fields import FORMATS
from lightning_mllm.translation.journal import JournalError
from lightning_mllm.translation.records import InputError, read_items
from lightning_mllm.translation.runner import RunSummary, translate_items


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lightning_mllm.translate", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="English records (.jsonl, or .json holding a list)")
    parser.add_argument("--format", required=True, choices=FORMATS, help="layout of the input records")
    parser.add_argument("--output", required=True, help="Basque JSONL, appended to (resumable)")
    parser.add_argument("--rejects", help="JSONL of items that failed every attempt (default OUTPUT.rejects.jsonl)")
    parser.add_argument("--model", required=True, help="Hugging Face id or folder of the translator LLM")
    parser.add_argument("--engine", default="auto", choices=ENGINES, help="auto: vLLM when installed and on a GPU")
    parser.add_argument("--batch_size", type=int, default=8, help="items per generate call")
    parser.add_argument("--max_new_tokens", type=int, default=1024, help="longest translation, in tokens")
    parser.add_argument("--retries", type=int, default=2, help="extra attempts for a translation that fails a check")
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16", "float32"))
    parser.add_argument("--device", default="auto", help="transformers engine: auto (all GPUs, else CPU), cuda, cpu")
    parser.add_argument("--tensor_parallel", type=int, default=1, help="vLLM engine: GPUs the model is split over")
    parser.add_argument("--limit", type=int, help="translate only the first LIMIT records (the whole file is checked)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.max_new_tokens < 1 or args.retries < 0 or args.tensor_parallel < 1:
        parser.error("--batch_size, --max_new_tokens and --tensor_parallel must be >= 1, --retries >= 0")
    return args


def main(argv: list[str] | None = None) -> RunSummary:
    """Checks the whole input, then translates what the output and rejects files do not hold yet."""
    args = _parse(argv)
    rejects = args.rejects or f"{args.output}.rejects.jsonl"
    try:
        items = read_items(args.input, args.format, args.limit)  # every record is checked before the model loads
    except InputError as error:
        raise SystemExit(f"error: {error}") from error
    engine = LazyEngine(lambda: make_engine(args.engine, args.model, args.dtype, args.device, args.tensor_parallel,
                                            args.max_new_tokens))
    try:
        summary = translate_items(items, engine, args.output, rejects, args.batch_size, args.retries,
                                  progress=not args.no_progress)
    except JournalError as error:  # a damaged output file: stop with the message, not a traceback
        raise SystemExit(f"error: {error}") from error
    reasons = ", ".join(f"{reason}: {count}" for reason, count in summary.reasons.most_common()) or "none"
    print(f"{summary.items} items: {summary.already_done} already done, {summary.translated} translated, "
          f"{summary.copied} copied (nothing to translate), {summary.rejected} rejected ({reasons}); "
          f"{summary.attempts} prompts in {summary.engine_calls} calls; output {args.output}, rejects {rejects}",
          file=sys.stderr)
    return summary


if __name__ == "__main__":
    main()
