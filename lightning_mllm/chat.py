"""Chats with a trained model about an image, streaming the answer as it is generated.

    python -m lightning_mllm.chat --checkpoint RUN.ckpt --image photo.jpg "Zer dago irudian?"
    python -m lightning_mllm.chat --checkpoint RUN.ckpt --image photo.jpg     # interactive

The checkpoint may be of either model class: the project's ``MultimodalLM`` or an adapted
existing VLM (``lightning_mllm.PretrainedVLM``, ``configs/demo-vlm.yaml``). Without a prompt, prompts are read from standard input one line at a time and the conversation
(with the image attached to its first user turn) is kept across turns. Greedy by default;
``--temperature`` above 0 samples.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import torch

from lightning_mllm.chat_format import SampleError
from lightning_mllm.conversation import Conversation, open_image, stream_answer
from lightning_mllm.evaluation.items import ImageDecodeError
from lightning_mllm.pretrained_vlm import PretrainedVLM
from lightning_mllm.trained_model import load_trained
from lightning_mllm.vlm_chat import stream_vlm_answer


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object of model settings")
    return value


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lightning_mllm.chat", description=__doc__.splitlines()[0])
    parser.add_argument("prompt", nargs="?", help="the question; omit it to chat interactively from stdin")
    parser.add_argument("--checkpoint", required=True, help="a .ckpt written by train.py fit")
    parser.add_argument("--image", help="image file the conversation is about (optional)")
    parser.add_argument("--system", help="system prompt (optional)")
    parser.add_argument("--model", type=_json_object, default=None,
                        help='model settings to override, as JSON, e.g. \'{"llm": "/models/Llama-3.1-8B-Instruct"}\'')
    parser.add_argument("--max_new_tokens", type=int, default=256, help="longest answer in tokens")
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy; above 0: sample")
    parser.add_argument("--top_p", type=float, default=1.0, help="nucleus sampling mass when sampling")
    parser.add_argument("--seed", type=int, default=None, help="seed for sampling")
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cuda, cpu...")
    args = parser.parse_args(argv)
    if args.temperature < 0 or not 0 < args.top_p <= 1:
        parser.error(f"--temperature must be >= 0 and --top_p in (0, 1]; got {args.temperature} and {args.top_p}")
    return args


def _answer(model: Any, conversation: Conversation, question: str, args: argparse.Namespace) -> str:
    try:
        ids = conversation.prompt_ids(question)
    except SampleError as error:
        hint = " (a longer context needs --model '{\"max_length\": N}')" if error.reason == "prompt_too_long" else ""
        raise SystemExit(f"error: {error}{hint}") from None
    # An adapted existing VLM takes its prompt as ids with its own image inputs (vlm_chat.py).
    stream = stream_vlm_answer if isinstance(model, PretrainedVLM) else stream_answer
    answer = stream(model, ids, conversation.pixel_values, lambda text: print(text, end="", flush=True),
                           args.max_new_tokens, args.temperature, args.top_p)
    print(flush=True)
    conversation.add_turn(question, answer)
    return answer


def main(argv: list[str] | None = None) -> Conversation:
    """Runs the command; returns the conversation (its messages hold every turn)."""
    args = _parse(argv)
    try:
        image = open_image(args.image) if args.image else None  # before the slow model load
        model = load_trained(args.checkpoint, args.model, args.device if args.device != "auto"
                             else "cuda" if torch.cuda.is_available() else "cpu")
    except (ImageDecodeError, FileNotFoundError, IsADirectoryError, KeyError) as error:
        raise SystemExit(f"error: {error}") from None
    if args.seed is not None:
        torch.manual_seed(args.seed)
    conversation = Conversation(model.processor, image, args.system)
    if args.prompt is not None:
        _answer(model, conversation, args.prompt, args)
        return conversation
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:
            return conversation
        if line.strip():
            _answer(model, conversation, line.strip(), args)


if __name__ == "__main__":
    main()
